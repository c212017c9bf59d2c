//! Argon2id password hashing, with the cost from the config.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

#[derive(Clone)]
pub struct Hasher {
    params: Params,
    /// A real hash of a random password: verifying against it when the user
    /// does not exist costs the same time as a real check.
    dummy: String,
}

impl Hasher {
    pub fn new(memory_kib: u32, iterations: u32) -> Result<Self, argon2::Error> {
        let params = Params::new(memory_kib, iterations, 1, None)?;
        let mut h = Self {
            params,
            dummy: String::new(),
        };
        h.dummy = h
            .hash(&super::tokens::random_token(24))
            .map_err(|_| argon2::Error::AlgorithmInvalid)?;
        Ok(h)
    }

    fn argon(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    pub fn hash(&self, password: &str) -> Result<String, argon2::password_hash::Error> {
        let salt = SaltString::generate(&mut OsRng);
        Ok(self
            .argon()
            .hash_password(password.as_bytes(), &salt)?
            .to_string())
    }

    /// Verify; a malformed stored hash is a failed check, never a panic.
    pub fn verify(&self, password: &str, stored: &str) -> bool {
        match PasswordHash::new(stored) {
            Ok(parsed) => self
                .argon()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        }
    }

    /// Spend the time of one verification without a user to check against.
    pub fn verify_dummy(&self, password: &str) {
        let _ = self.verify(password, &self.dummy);
    }

    /// Hash on the blocking pool: argon2 takes tens of milliseconds.
    pub async fn hash_blocking(&self, password: String) -> Result<String, crate::ApiError> {
        let h = self.clone();
        tokio::task::spawn_blocking(move || h.hash(&password))
            .await
            .map_err(crate::ApiError::internal)?
            .map_err(crate::ApiError::internal)
    }

    pub async fn verify_blocking(&self, password: String, stored: Option<String>) -> bool {
        let h = self.clone();
        tokio::task::spawn_blocking(move || match stored {
            Some(s) => h.verify(&password, &s),
            None => {
                h.verify_dummy(&password);
                false
            }
        })
        .await
        .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let h = Hasher::new(64, 1).unwrap();
        let stored = h.hash("correct horse battery staple").unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(h.verify("correct horse battery staple", &stored));
        assert!(!h.verify("correct horse battery stapler", &stored));
        assert!(!h.verify("x", "not a hash"));
    }
}
