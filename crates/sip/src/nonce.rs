//! Stateless digest nonces: a timestamp and a random salt, signed with
//! HMAC-SHA-256 over the realm and the client's address. The server keeps no
//! state; a nonce older than its lifetime is *stale* (the client gets a new
//! challenge with `stale=true`), a tampered one or one issued for another
//! realm or address is *invalid*.
//!
//! Wire form: base64url (no padding) of `ts (8, big endian) | salt (8) |
//! mac (16)`, 43 characters.

use crate::error::SipError;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::IpAddr;
use subtle::ConstantTimeEq;

const TS_LEN: usize = 8;
const SALT_LEN: usize = 8;
const MAC_LEN: usize = 16;
const RAW_LEN: usize = TS_LEN + SALT_LEN + MAC_LEN;
/// Tolerated clock difference between nodes that share a key.
const FUTURE_SKEW_SECS: u64 = 30;

/// How a presented nonce checks out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NonceState {
    /// Ours, for this realm and address, within its lifetime.
    Fresh,
    /// Ours but older than the lifetime.
    Stale,
    /// Not ours, tampered with, or for another realm/address.
    Invalid,
}

/// Issues and checks nonces.
pub(crate) struct NonceSigner {
    key: Vec<u8>,
    ttl_secs: u64,
}

impl NonceSigner {
    /// A signer with `secret`, or a fresh random key when `None`.
    pub(crate) fn new(secret: Option<&[u8]>, ttl_secs: u64) -> Result<Self, SipError> {
        let key = match secret {
            Some(s) => s.to_vec(),
            None => {
                let mut k = vec![0u8; 32];
                crate::error::random_bytes(&mut k)?;
                k
            }
        };
        Ok(Self { key, ttl_secs })
    }

    /// A new nonce for `realm` and the client at `ip`, issued at `now_unix`.
    pub(crate) fn issue(&self, realm: &str, ip: IpAddr, now_unix: u64) -> Result<String, SipError> {
        let mut raw = [0u8; RAW_LEN];
        raw[..TS_LEN].copy_from_slice(&now_unix.to_be_bytes());
        crate::error::random_bytes(&mut raw[TS_LEN..TS_LEN + SALT_LEN])?;
        let mac = self.mac(&raw[..TS_LEN + SALT_LEN], realm, ip);
        raw[TS_LEN + SALT_LEN..].copy_from_slice(&mac);
        Ok(URL_SAFE_NO_PAD.encode(raw))
    }

    /// Checks `nonce` for `realm` and `ip` at `now_unix`.
    pub(crate) fn check(&self, nonce: &str, realm: &str, ip: IpAddr, now_unix: u64) -> NonceState {
        if nonce.len() != 43 {
            return NonceState::Invalid;
        }
        let Ok(raw) = URL_SAFE_NO_PAD.decode(nonce) else {
            return NonceState::Invalid;
        };
        if raw.len() != RAW_LEN {
            return NonceState::Invalid;
        }
        let want = self.mac(&raw[..TS_LEN + SALT_LEN], realm, ip);
        if !bool::from(want.ct_eq(&raw[TS_LEN + SALT_LEN..])) {
            return NonceState::Invalid;
        }
        let mut ts = [0u8; TS_LEN];
        ts.copy_from_slice(&raw[..TS_LEN]);
        let issued = u64::from_be_bytes(ts);
        if issued > now_unix.saturating_add(FUTURE_SKEW_SECS) {
            return NonceState::Invalid;
        }
        if now_unix.saturating_sub(issued) > self.ttl_secs {
            NonceState::Stale
        } else {
            NonceState::Fresh
        }
    }

    fn mac(&self, head: &[u8], realm: &str, ip: IpAddr) -> [u8; MAC_LEN] {
        let mut out = [0u8; MAC_LEN];
        // HMAC accepts keys of any length; the error arm cannot happen.
        let Ok(mut m) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return out;
        };
        m.update(head);
        m.update(&(realm.len() as u64).to_be_bytes());
        m.update(realm.to_ascii_lowercase().as_bytes());
        match ip {
            IpAddr::V4(v4) => m.update(&v4.octets()),
            IpAddr::V6(v6) => m.update(&v6.octets()),
        }
        let full = m.finalize().into_bytes();
        out.copy_from_slice(&full[..MAC_LEN]);
        out
    }
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));

    fn signer() -> NonceSigner {
        NonceSigner::new(Some(b"0123456789abcdef0123"), 300).unwrap()
    }

    #[test]
    fn fresh_then_stale() {
        let s = signer();
        let n = s.issue("acme.omnivox", IP, 1_000_000).unwrap();
        assert_eq!(n.len(), 43);
        assert_eq!(
            s.check(&n, "acme.omnivox", IP, 1_000_000),
            NonceState::Fresh
        );
        assert_eq!(
            s.check(&n, "ACME.omnivox", IP, 1_000_300),
            NonceState::Fresh
        );
        assert_eq!(
            s.check(&n, "acme.omnivox", IP, 1_000_301),
            NonceState::Stale
        );
    }

    #[test]
    fn bound_to_realm_address_and_key() {
        let s = signer();
        let n = s.issue("acme.omnivox", IP, 1_000_000).unwrap();
        assert_eq!(
            s.check(&n, "globex.omnivox", IP, 1_000_000),
            NonceState::Invalid
        );
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        assert_eq!(
            s.check(&n, "acme.omnivox", other, 1_000_000),
            NonceState::Invalid
        );
        let s2 = NonceSigner::new(Some(b"another-key-of-16+bytes"), 300).unwrap();
        assert_eq!(
            s2.check(&n, "acme.omnivox", IP, 1_000_000),
            NonceState::Invalid
        );
    }

    #[test]
    fn tampering_is_detected() {
        let s = signer();
        let n = s.issue("acme.omnivox", IP, 1_000_000).unwrap();
        // Flip every position in turn: none may still verify.
        for i in 0..n.len() {
            let mut bytes = n.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let t = String::from_utf8(bytes).unwrap();
            assert_eq!(
                s.check(&t, "acme.omnivox", IP, 1_000_000),
                NonceState::Invalid,
                "{i}"
            );
        }
        // Moving the timestamp forward breaks the MAC too.
        let mut raw = URL_SAFE_NO_PAD.decode(&n).unwrap();
        raw[7] ^= 1;
        let t = URL_SAFE_NO_PAD.encode(&raw);
        assert_eq!(
            s.check(&t, "acme.omnivox", IP, 1_000_000),
            NonceState::Invalid
        );
        for junk in [
            "",
            "x",
            "not base64 at all!!",
            &"A".repeat(43),
            &"é".repeat(22),
        ] {
            assert_eq!(
                s.check(junk, "acme.omnivox", IP, 1_000_000),
                NonceState::Invalid
            );
        }
    }

    #[test]
    fn future_nonces_are_invalid() {
        let s = signer();
        let n = s.issue("acme.omnivox", IP, 2_000_000).unwrap();
        assert_eq!(
            s.check(&n, "acme.omnivox", IP, 1_000_000),
            NonceState::Invalid
        );
    }

    #[test]
    fn nonces_are_unique() {
        let s = signer();
        let a = s.issue("r", IP, 5).unwrap();
        let b = s.issue("r", IP, 5).unwrap();
        assert_ne!(a, b);
    }
}
