//! The password policy: length bounds and a breached-common list.

use std::collections::HashSet;
use std::sync::OnceLock;

pub const MIN_LEN: usize = 12;
pub const MAX_LEN: usize = 128;

/// Why a password was refused. Each variant has a stable code for the API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordPolicyError {
    #[error("password must be at least {MIN_LEN} characters")]
    TooShort,
    #[error("password must be at most {MAX_LEN} characters")]
    TooLong,
    #[error("password is on a list of commonly breached passwords")]
    Common,
    #[error("password must not contain the account's email name")]
    ContainsEmail,
}

impl PasswordPolicyError {
    pub fn code(&self) -> &'static str {
        match self {
            PasswordPolicyError::TooShort => "password_too_short",
            PasswordPolicyError::TooLong => "password_too_long",
            PasswordPolicyError::Common => "password_common",
            PasswordPolicyError::ContainsEmail => "password_contains_email",
        }
    }
}

fn common_passwords() -> &'static HashSet<&'static str> {
    static LIST: OnceLock<HashSet<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| {
        include_str!("common_passwords.txt")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect()
    })
}

/// Check a new password against the policy. `email` is the account's email,
/// whose local part must not appear in the password.
pub fn check(password: &str, email: &str) -> Result<(), PasswordPolicyError> {
    let chars = password.chars().count();
    if chars < MIN_LEN {
        return Err(PasswordPolicyError::TooShort);
    }
    if chars > MAX_LEN {
        return Err(PasswordPolicyError::TooLong);
    }
    let lower = password.to_lowercase();
    if common_passwords().contains(lower.as_str()) {
        return Err(PasswordPolicyError::Common);
    }
    let local = email.split('@').next().unwrap_or("").to_lowercase();
    if local.len() >= 4 && lower.contains(&local) {
        return Err(PasswordPolicyError::ContainsEmail);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_long_uncommon_password() {
        assert_eq!(
            check("correct horse battery staple", "ann@example.com"),
            Ok(())
        );
    }

    #[test]
    fn refuses_short_long_common_and_email_passwords() {
        assert_eq!(check("short", "a@b.c"), Err(PasswordPolicyError::TooShort));
        assert_eq!(
            check(&"x".repeat(MAX_LEN + 1), "a@b.c"),
            Err(PasswordPolicyError::TooLong)
        );
        assert_eq!(
            check("PasswordPassword", "a@b.c"),
            Err(PasswordPolicyError::Common)
        );
        assert_eq!(
            check("my-name-is-annabel-2026", "annabel@example.com"),
            Err(PasswordPolicyError::ContainsEmail)
        );
    }

    #[test]
    fn common_list_is_loaded_and_lowercase() {
        let list = common_passwords();
        assert!(list.len() >= 300, "list has {} entries", list.len());
        assert!(list.iter().all(|p| *p == p.to_lowercase()));
        assert!(list.iter().filter(|p| p.len() >= MIN_LEN).count() >= 40);
    }
}
