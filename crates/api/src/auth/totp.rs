//! TOTP (RFC 6238) second factor and recovery codes.

use totp_rs::{Algorithm, Builder, Secret, Totp};

const ISSUER: &str = "Omnivox";

fn totp(secret_b32: &str, account: &str) -> Option<Totp> {
    let secret = Secret::try_from_base32(secret_b32).ok()?;
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret)
        .with_issuer(Some(ISSUER))
        .with_account_name(account)
        .build()
        .ok()
}

/// A new random base32 secret (160 bits).
pub fn new_secret() -> String {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    let mut b = [0u8; 20];
    OsRng.fill_bytes(&mut b);
    Secret::new(Box::new(b)).to_base32()
}

/// The `otpauth://` URL an authenticator app scans.
pub fn otpauth_url(secret_b32: &str, account: &str) -> Option<String> {
    totp(secret_b32, account).and_then(|t| t.to_url().ok())
}

/// Check a 6-digit code, allowing one step of clock skew either way.
pub fn check(secret_b32: &str, account: &str, code: &str) -> bool {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    totp(secret_b32, account)
        .and_then(|t| t.check_current(code))
        .is_some()
}

/// The current code (used by tests and the CLI, as an authenticator would).
pub fn current_code(secret_b32: &str) -> Option<String> {
    totp(secret_b32, "x").map(|t| t.generate_current().to_string())
}

/// Ten one-time recovery codes, formatted `xxxx-xxxx-xxxx`.
pub fn recovery_codes() -> Vec<String> {
    (0..10)
        .map(|_| {
            let t = super::tokens::random_token(9)
                .to_lowercase()
                .replace(['-', '_'], "x");
            format!("{}-{}-{}", &t[0..4], &t[4..8], &t[8..12])
        })
        .collect()
}

/// Recovery codes are compared without dashes, spaces or case.
pub fn normalize_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_check_and_wrong_codes_do_not() {
        let s = new_secret();
        let code = current_code(&s).unwrap();
        assert!(check(&s, "a@b.c", &code));
        let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
        assert!(!check(&s, "a@b.c", &wrong));
        assert!(!check(&s, "a@b.c", "12345"));
        assert!(
            otpauth_url(&s, "a@b.c")
                .unwrap()
                .starts_with("otpauth://totp/")
        );
    }

    #[test]
    fn recovery_codes_are_distinct_and_normalize() {
        let codes = recovery_codes();
        assert_eq!(codes.len(), 10);
        let set: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(set.len(), 10);
        assert_eq!(normalize_recovery_code("AbCd-eFgh 1234"), "abcdefgh1234");
    }
}
