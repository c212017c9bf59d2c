//! CSRF protection for cookie sessions: the token is an HMAC of the session
//! id, sent in a readable cookie and echoed in the `X-CSRF-Token` header.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use uuid::Uuid;

pub const HEADER: &str = "x-csrf-token";

pub fn token(key: &[u8], session: Uuid) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        // HMAC accepts keys of any length.
        Err(_) => return String::new(),
    };
    mac.update(b"csrf:");
    mac.update(session.as_bytes());
    super::tokens::sha256_hex(&format!("{:?}", mac.finalize().into_bytes()))
}

pub fn verify(key: &[u8], session: Uuid, presented: &str) -> bool {
    let expected = token(key, session);
    !expected.is_empty() && expected.as_bytes().ct_eq(presented.as_bytes()).into()
}
