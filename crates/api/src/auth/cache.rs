//! Short-lived caches for the per-request auth path, so an authenticated read
//! costs no database round trip for the caller's identity and role.
//!
//! Entries expire after `auth.cache_ttl_ms`; writes on this node evict the
//! entries they change at once. The map is sharded so concurrent requests do
//! not contend on one lock.

use omnivox_domain::{ApiKeyId, Role, SessionId, TenantId, UserId};
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::RwLock;
use std::time::{Duration, Instant};

const SHARDS: usize = 16;
const MAX_PER_SHARD: usize = 8192;

pub struct TtlCache<K, V> {
    shards: Vec<RwLock<HashMap<K, (V, Instant)>>>,
    hasher: RandomState,
    ttl: Duration,
}

impl<K: Hash + Eq + Clone, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            ttl,
        }
    }

    fn shard(&self, k: &K) -> &RwLock<HashMap<K, (V, Instant)>> {
        &self.shards[(self.hasher.hash_one(k) as usize) % SHARDS]
    }

    pub fn get(&self, k: &K) -> Option<V> {
        let shard = self.shard(k).read().ok()?;
        let (v, at) = shard.get(k)?;
        (at.elapsed() < self.ttl).then(|| v.clone())
    }

    pub fn insert(&self, k: K, v: V) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut shard) = self.shard(&k).write() {
            if shard.len() >= MAX_PER_SHARD {
                let ttl = self.ttl;
                shard.retain(|_, (_, at)| at.elapsed() < ttl);
                if shard.len() >= MAX_PER_SHARD {
                    shard.clear();
                }
            }
            shard.insert(k, (v, Instant::now()));
        }
    }

    pub fn remove(&self, k: &K) {
        if let Ok(mut shard) = self.shard(k).write() {
            shard.remove(k);
        }
    }

    pub fn remove_where(&self, mut f: impl FnMut(&K, &V) -> bool) {
        for s in &self.shards {
            if let Ok(mut shard) = s.write() {
                shard.retain(|k, (v, _)| !f(k, v));
            }
        }
    }
}

/// What the auth path needs to know about a session.
#[derive(Clone, Debug)]
pub struct SessionState {
    pub user: UserId,
    pub live: bool,
}

/// What the auth path needs to know about a user.
#[derive(Clone, Debug)]
pub struct UserState {
    pub email: String,
    pub is_superadmin: bool,
    pub totp_enabled: bool,
}

/// What the auth path needs to know about an API key.
#[derive(Clone, Debug)]
pub struct ApiKeyState {
    pub id: ApiKeyId,
    pub tenant: TenantId,
    pub role: Role,
    pub usable: bool,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

pub struct AuthCache {
    pub sessions: TtlCache<SessionId, SessionState>,
    pub users: TtlCache<UserId, UserState>,
    pub roles: TtlCache<(TenantId, UserId), Option<Role>>,
    /// Tenant settings: read by the 2FA rule on every tenant request.
    pub tenants: TtlCache<TenantId, omnivox_store::tenants::Tenant>,
    pub api_keys: TtlCache<String, ApiKeyState>,
    /// Last time each API key's `last_used_at` was written.
    pub key_touched: TtlCache<ApiKeyId, ()>,
}

impl AuthCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            sessions: TtlCache::new(ttl),
            users: TtlCache::new(ttl),
            roles: TtlCache::new(ttl),
            tenants: TtlCache::new(ttl),
            api_keys: TtlCache::new(ttl),
            key_touched: TtlCache::new(Duration::from_secs(60)),
        }
    }

    /// Forget everything about a user (password change, 2FA change, lock).
    pub fn forget_user(&self, user: UserId) {
        self.users.remove(&user);
        self.sessions.remove_where(|_, s| s.user == user);
        self.roles.remove_where(|(_, u), _| *u == user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_can_be_evicted() {
        let c: TtlCache<u32, &str> = TtlCache::new(Duration::from_millis(30));
        c.insert(1, "a");
        assert_eq!(c.get(&1), Some("a"));
        c.remove(&1);
        assert_eq!(c.get(&1), None);
        c.insert(2, "b");
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(c.get(&2), None, "entry outlived its ttl");
    }

    #[test]
    fn zero_ttl_caches_nothing() {
        let c: TtlCache<u32, u32> = TtlCache::new(Duration::ZERO);
        c.insert(1, 1);
        assert_eq!(c.get(&1), None);
    }
}
