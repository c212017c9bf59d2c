//! The credentials seam: where the registrar reads agents' SIP accounts.

use crate::digest::{DigestAlgorithm, ha1};
use omnivox_domain::{TenantId, UserId};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

/// Whose credentials an account holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountOwner {
    /// An agent's phone: may register and place calls.
    Agent(UserId),
    /// A carrier trunk's inbound credentials: may send calls in on that
    /// trunk (to its tenant's DIDs), never register.
    Trunk(uuid::Uuid),
}

/// One SIP identity (an agent's phone, or a trunk's inbound credentials).
/// The domain selects the tenant: `alice` at `acme.omnivox` and `alice` at
/// `globex.omnivox` are different accounts.
///
/// Only HA1 hashes are kept (see [`crate::ha1`]), computed with the realm
/// equal to `domain`; the password itself is never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SipAccount {
    /// The tenant the identity belongs to.
    pub tenant_id: TenantId,
    /// The agent (a user with the agent role) or the trunk.
    pub owner: AccountOwner,
    /// User part of the address of record (`alice`), case-sensitive.
    pub user: String,
    /// SIP domain of the tenant (`acme.omnivox`), lower case.
    pub domain: String,
    /// MD5(user:domain:password), lower-case hex.
    pub ha1_md5: String,
    /// SHA-256(user:domain:password), lower-case hex.
    pub ha1_sha256: String,
}

impl SipAccount {
    /// An account with both HA1 hashes computed from `password` (for
    /// provisioning and tests; the password is not kept).
    pub fn with_password(
        tenant_id: TenantId,
        agent_id: UserId,
        user: &str,
        domain: &str,
        password: &str,
    ) -> Self {
        let domain = domain.to_ascii_lowercase();
        Self {
            tenant_id,
            owner: AccountOwner::Agent(agent_id),
            user: user.to_string(),
            ha1_md5: ha1(DigestAlgorithm::Md5, user, &domain, password),
            ha1_sha256: ha1(DigestAlgorithm::Sha256, user, &domain, password),
            domain,
        }
    }

    /// Inbound credentials of a carrier trunk (HA1s computed from
    /// `password`, which is not kept).
    pub fn for_trunk(
        tenant_id: TenantId,
        trunk_id: uuid::Uuid,
        user: &str,
        domain: &str,
        password: &str,
    ) -> Self {
        Self {
            owner: AccountOwner::Trunk(trunk_id),
            ..Self::with_password(tenant_id, UserId(uuid::Uuid::nil()), user, domain, password)
        }
    }

    /// The stored HA1 for `algorithm`.
    pub(crate) fn ha1(&self, algorithm: DigestAlgorithm) -> &str {
        match algorithm {
            DigestAlgorithm::Md5 => &self.ha1_md5,
            DigestAlgorithm::Sha256 => &self.ha1_sha256,
        }
    }
}

impl fmt::Debug for SipAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SipAccount")
            .field("tenant_id", &self.tenant_id)
            .field("owner", &self.owner)
            .field("user", &self.user)
            .field("domain", &self.domain)
            .field("ha1_md5", &"<redacted>")
            .field("ha1_sha256", &"<redacted>")
            .finish()
    }
}

/// The directory could not answer (database down, timeout). The registrar
/// answers 503 with Retry-After and does not count it against the phone.
#[derive(Debug, thiserror::Error)]
#[error("SIP directory unavailable: {0}")]
pub struct DirectoryError(pub String);

/// Where the server looks up SIP accounts. The implementation behind the
/// store (with a cache) comes with the API wiring; [`MemoryDirectory`] serves
/// tests and embedding.
///
/// `domain` is lower case; `user` is as the phone sent it. Return `Ok(None)`
/// for an unknown domain or user (the phone then gets 403 after its
/// authenticated attempt, like for a wrong password, so accounts cannot be
/// enumerated), and `Err` only when the answer is unknown.
pub trait Directory: Send + Sync + 'static {
    /// Looks up the account `user` at `domain`.
    fn lookup(
        &self,
        domain: &str,
        user: &str,
    ) -> impl Future<Output = Result<Option<SipAccount>, DirectoryError>> + Send;
}

impl<D: Directory> Directory for Arc<D> {
    fn lookup(
        &self,
        domain: &str,
        user: &str,
    ) -> impl Future<Output = Result<Option<SipAccount>, DirectoryError>> + Send {
        (**self).lookup(domain, user)
    }
}

/// Object-safe form of [`Directory`] used inside the server.
pub(crate) trait DynDirectory: Send + Sync {
    fn lookup_dyn<'a>(
        &'a self,
        domain: &'a str,
        user: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Option<SipAccount>, DirectoryError>> + Send + 'a>>;
}

impl<D: Directory> DynDirectory for D {
    fn lookup_dyn<'a>(
        &'a self,
        domain: &'a str,
        user: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Option<SipAccount>, DirectoryError>> + Send + 'a>> {
        Box::pin(self.lookup(domain, user))
    }
}

/// An in-memory [`Directory`].
#[derive(Debug, Default)]
pub struct MemoryDirectory {
    accounts: RwLock<HashMap<(String, String), SipAccount>>,
}

impl MemoryDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces `account` (keyed by lower-cased domain and user).
    pub fn insert(&self, account: SipAccount) {
        let key = (account.domain.to_ascii_lowercase(), account.user.clone());
        if let Ok(mut map) = self.accounts.write() {
            map.insert(key, account);
        }
    }

    /// Removes the account `user` at `domain`; true if it existed.
    pub fn remove(&self, domain: &str, user: &str) -> bool {
        let key = (domain.to_ascii_lowercase(), user.to_string());
        self.accounts
            .write()
            .map(|mut m| m.remove(&key).is_some())
            .unwrap_or(false)
    }
}

impl Directory for MemoryDirectory {
    async fn lookup(&self, domain: &str, user: &str) -> Result<Option<SipAccount>, DirectoryError> {
        let key = (domain.to_ascii_lowercase(), user.to_string());
        self.accounts
            .read()
            .map(|m| m.get(&key).cloned())
            .map_err(|_| DirectoryError("directory lock poisoned".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn same_user_in_two_tenants() {
        let d = MemoryDirectory::new();
        let (t1, t2) = (TenantId::new(), TenantId::new());
        d.insert(SipAccount::with_password(
            t1,
            UserId::new(),
            "alice",
            "acme.omnivox",
            "a",
        ));
        d.insert(SipAccount::with_password(
            t2,
            UserId::new(),
            "alice",
            "Globex.Omnivox",
            "b",
        ));
        let a = d.lookup("acme.omnivox", "alice").await.unwrap().unwrap();
        let b = d.lookup("globex.omnivox", "alice").await.unwrap().unwrap();
        assert_eq!((a.tenant_id, b.tenant_id), (t1, t2));
        assert_ne!(a.ha1_md5, b.ha1_md5);
        assert!(d.lookup("acme.omnivox", "Alice").await.unwrap().is_none());
        assert!(!format!("{a:?}").contains(&a.ha1_md5));
        assert!(d.remove("ACME.omnivox", "alice"));
        assert!(d.lookup("acme.omnivox", "alice").await.unwrap().is_none());
    }
}
