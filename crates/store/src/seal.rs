//! Secrets at rest. Values the application must read back in clear (a
//! trunk's outbound digest password, the SIP digest HA1s of phones and
//! inbound trunks, TOTP seeds, the HMAC keys of flow webhooks and voicemail
//! notifications, the token-signing key) are kept
//! sealed: ChaCha20-Poly1305 under a key derived from a master key that
//! lives outside the database (`auth.master_key`, or `master.key` in the data
//! directory). A copy of the database alone (a backup, a replica, a
//! `pg_dump`) then reveals none of them.
//!
//! A sealed value is text: `sealed:v1:` and the base64 of a random 96-bit
//! nonce, the ciphertext and the tag. The column it belongs to is bound in
//! as associated data, so a value copied into another column does not open.
//! Columns holding a [`Sealed`] cannot be read without a [`Sealer`]: the type
//! has no accessor for its text.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};
use sea_orm::ConnectionTrait;
use sea_orm::DeriveValueType;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};

use crate::Result;
use crate::settings;

/// The prefix of every sealed value (format version 1).
pub const PREFIX: &str = "sealed:v1:";
/// Master key material must be at least this long (bytes).
pub const MIN_KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;
/// A setting sealed with the master key when it is first used, so a start
/// with another key fails at once instead of at the first secret read.
const KEY_CHECK: &str = "master_key_check";
const KEY_CHECK_TEXT: &str = "omnivox master key check";

/// Which column a sealed value belongs to; bound into the seal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    TrunkPassword,
    TrunkInboundHa1Md5,
    TrunkInboundHa1Sha256,
    SipHa1Md5,
    SipHa1Sha256,
    TotpSecret,
    FlowSecret,
    NotifySecret,
    TokenSigningKey,
    KeyCheck,
}

impl Field {
    /// `table.column` (a setting: `system_settings.<key>`), bound into the
    /// seal as associated data.
    pub fn name(self) -> &'static str {
        match self {
            Field::TrunkPassword => "trunks.password",
            Field::TrunkInboundHa1Md5 => "trunks.inbound_ha1_md5",
            Field::TrunkInboundHa1Sha256 => "trunks.inbound_ha1_sha256",
            Field::SipHa1Md5 => "sip_accounts.ha1_md5",
            Field::SipHa1Sha256 => "sip_accounts.ha1_sha256",
            Field::TotpSecret => "users.totp_secret",
            Field::FlowSecret => "flow_secrets.secret",
            Field::NotifySecret => "voicemail_boxes.notify_secret",
            Field::TokenSigningKey => "system_settings.token_signing_key",
            Field::KeyCheck => "system_settings.master_key_check",
        }
    }

    fn aad(self) -> Aad<&'static [u8]> {
        Aad::from(self.name().as_bytes())
    }
}

/// A sealed secret as stored. `Debug` shows nothing of it and there is no
/// accessor: [`Sealer::open`] is the only way to its value.
#[derive(Clone, PartialEq, Eq, DeriveValueType)]
pub struct Sealed(String);

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[sealed]")
    }
}

/// A value as read from storage by other means (it opens only if it was
/// sealed with the same key for the same column).
impl From<String> for Sealed {
    fn from(stored: String) -> Self {
        Self(stored)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("the master key must be at least {MIN_KEY_LEN} bytes")]
    ShortKey,
    #[error("{0} holds a value that is not sealed")]
    NotSealed(&'static str),
    #[error("{0} holds a malformed sealed value")]
    Malformed(&'static str),
    #[error("{0} does not open with this master key (another key, or the value was altered)")]
    WrongKey(&'static str),
    #[error("no randomness for a nonce")]
    Random,
}

impl From<SealError> for crate::StoreError {
    fn from(e: SealError) -> Self {
        crate::StoreError::Corrupt(e.to_string())
    }
}

/// Seals and opens secrets with the key derived from the master key.
#[derive(Clone)]
pub struct Sealer {
    key: Arc<LessSafeKey>,
    rng: SystemRandom,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

impl Sealer {
    /// Derive the sealing key (HKDF-SHA256) from master key material.
    pub fn new(master: &[u8]) -> Result<Self, SealError> {
        if master.len() < MIN_KEY_LEN {
            return Err(SealError::ShortKey);
        }
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"omnivox seal v1").extract(master);
        let okm = prk
            .expand(&[b"secrets at rest"], &CHACHA20_POLY1305)
            .map_err(|_| SealError::ShortKey)?;
        let key: UnboundKey = okm.into();
        Ok(Self {
            key: Arc::new(LessSafeKey::new(key)),
            rng: SystemRandom::new(),
        })
    }

    pub fn seal(&self, field: Field, plain: &str) -> Result<Sealed, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| SealError::Random)?;
        let mut buf = Vec::with_capacity(NONCE_LEN + plain.len() + TAG_LEN);
        buf.extend_from_slice(&nonce);
        buf.extend_from_slice(plain.as_bytes());
        let nonce = Nonce::assume_unique_for_key(nonce);
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce, field.aad(), &mut buf[NONCE_LEN..])
            .map_err(|_| SealError::Random)?;
        buf.extend_from_slice(tag.as_ref());
        Ok(Sealed(format!("{PREFIX}{}", B64.encode(buf))))
    }

    pub fn open(&self, field: Field, sealed: &Sealed) -> Result<String, SealError> {
        let name = field.name();
        let text = sealed
            .0
            .strip_prefix(PREFIX)
            .ok_or(SealError::NotSealed(name))?;
        let raw = B64.decode(text).map_err(|_| SealError::Malformed(name))?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(SealError::Malformed(name));
        }
        let (nonce, body) = raw.split_at(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Malformed(name))?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, field.aad(), &mut body)
            .map_err(|_| SealError::WrongKey(name))?;
        String::from_utf8(plain.to_vec()).map_err(|_| SealError::Malformed(name))
    }

    /// Open an optional column.
    pub fn open_opt(
        &self,
        field: Field,
        sealed: Option<&Sealed>,
    ) -> Result<Option<String>, SealError> {
        sealed.map(|s| self.open(field, s)).transpose()
    }

    /// Seal an optional value.
    pub fn seal_opt(&self, field: Field, plain: Option<&str>) -> Result<Option<Sealed>, SealError> {
        plain.map(|p| self.seal(field, p)).transpose()
    }
}

/// Whether this database already holds secrets sealed with some master key.
pub async fn has_key_check(conn: &impl ConnectionTrait) -> Result<bool> {
    Ok(settings::get(conn, KEY_CHECK).await?.is_some())
}

/// Check that `sealer` opens this database's secrets; the first start
/// records a check value for the next ones.
pub async fn verify_key(conn: &impl ConnectionTrait, sealer: &Sealer) -> Result<()> {
    let fresh = sealer.seal(Field::KeyCheck, KEY_CHECK_TEXT)?;
    let stored = settings::get_or_insert(conn, KEY_CHECK, &fresh.0).await?;
    match sealer.open(Field::KeyCheck, &Sealed(stored))? {
        t if t == KEY_CHECK_TEXT => Ok(()),
        _ => Err(SealError::WrongKey(Field::KeyCheck.name()).into()),
    }
}

/// The token-signing key, generated with `generate` and stored sealed on
/// first use. Every node sharing the database reads the same key.
pub async fn token_signing_key(
    conn: &impl ConnectionTrait,
    sealer: &Sealer,
    generate: impl FnOnce() -> String,
) -> Result<String> {
    let fresh = sealer.seal(Field::TokenSigningKey, &generate())?;
    let stored = settings::get_or_insert(conn, settings::TOKEN_SIGNING_KEY, &fresh.0).await?;
    Ok(sealer.open(Field::TokenSigningKey, &Sealed(stored))?)
}

/// The columns (and the one setting) sealed since they exist; an older
/// version kept them in clear.
const SEALED: [Field; 9] = [
    Field::TrunkPassword,
    Field::TrunkInboundHa1Md5,
    Field::TrunkInboundHa1Sha256,
    Field::SipHa1Md5,
    Field::SipHa1Sha256,
    Field::TotpSecret,
    Field::FlowSecret,
    Field::NotifySecret,
    Field::TokenSigningKey,
];

/// Seal every secret an older version stored in clear; returns how many
/// rows changed. Each update names the old value, so two nodes doing it at
/// once cannot seal a value twice (rows that shared a clear value share
/// its sealed one).
pub async fn seal_plaintext(conn: &impl ConnectionTrait, sealer: &Sealer) -> Result<u64> {
    let mut n = 0;
    for field in SEALED {
        let (table, column) = field.name().split_once('.').unwrap_or_default();
        let (column, setting) = match table {
            "system_settings" => ("value", Some(column)),
            _ => (column, None),
        };
        let (table, col) = (Alias::new(table), Alias::new(column));
        let mut clear = Expr::col(col.clone())
            .is_not_null()
            .and(Expr::col(col.clone()).not_like(format!("{PREFIX}%")));
        if let Some(key) = setting {
            clear = clear.and(Expr::col(Alias::new("key")).eq(key));
        }
        let select = Query::select()
            .distinct()
            .column(col.clone())
            .from(table.clone())
            .and_where(clear.clone())
            .to_owned();
        for row in conn.query_all(&select).await? {
            let old: String = row.try_get("", column)?;
            let update = Query::update()
                .table(table.clone())
                .value(col.clone(), sealer.seal(field, &old)?.0)
                .and_where(clear.clone())
                .and_where(Expr::col(col.clone()).eq(old))
                .to_owned();
            n += conn.execute(&update).await?.rows_affected();
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn sealer(byte: u8) -> Sealer {
        Sealer::new(&[byte; 32]).unwrap()
    }

    #[test]
    fn round_trip_hides_the_value_and_differs_each_time() {
        let s = sealer(1);
        let a = s.seal(Field::TrunkPassword, "hunter2-carrier").unwrap();
        let b = s.seal(Field::TrunkPassword, "hunter2-carrier").unwrap();
        assert!(a.0.starts_with(PREFIX));
        assert!(!a.0.contains("hunter2"));
        assert_ne!(a, b, "a fresh nonce each time");
        assert_eq!(s.open(Field::TrunkPassword, &a).unwrap(), "hunter2-carrier");
        assert_eq!(s.open(Field::TrunkPassword, &b).unwrap(), "hunter2-carrier");
        assert_eq!(format!("{a:?}"), "[sealed]");
    }

    #[test]
    fn another_key_another_column_or_an_altered_value_do_not_open() {
        let s = sealer(1);
        let v = s.seal(Field::TotpSecret, "JBSWY3DPEHPK3PXP").unwrap();
        assert_eq!(
            sealer(2).open(Field::TotpSecret, &v),
            Err(SealError::WrongKey("users.totp_secret"))
        );
        assert_eq!(
            s.open(Field::FlowSecret, &v),
            Err(SealError::WrongKey("flow_secrets.secret"))
        );
        let mut raw = B64.decode(v.0.strip_prefix(PREFIX).unwrap()).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        let altered = Sealed(format!("{PREFIX}{}", B64.encode(raw)));
        assert!(matches!(
            s.open(Field::TotpSecret, &altered),
            Err(SealError::WrongKey(_))
        ));
        assert_eq!(
            s.open(Field::TotpSecret, &Sealed("JBSWY3DPEHPK3PXP".into())),
            Err(SealError::NotSealed("users.totp_secret"))
        );
        assert_eq!(
            s.open(Field::TotpSecret, &Sealed(format!("{PREFIX}abc"))),
            Err(SealError::Malformed("users.totp_secret"))
        );
        assert_eq!(
            s.open(Field::TotpSecret, &Sealed(format!("{PREFIX}!!"))),
            Err(SealError::Malformed("users.totp_secret"))
        );
    }

    #[test]
    fn short_master_keys_are_refused() {
        assert_eq!(Sealer::new(&[7; 31]).err(), Some(SealError::ShortKey));
        assert!(Sealer::new(&[7; 32]).is_ok());
    }
}
