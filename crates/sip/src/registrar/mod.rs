//! The registrar: bindings per agent, tenant-isolated, queryable and
//! published as events.

mod bindings;
pub(crate) mod register;

use crate::config::RegistrarConfig;
use crate::directory::{AccountOwner, SipAccount};
pub use bindings::Binding;
pub(crate) use bindings::{AorBindings, ContactEntry, ContactSpec, RegisterError, RegisterRequest};
use omnivox_domain::{TenantId, UserId};
use serde::Serialize;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime};
use tokio::sync::broadcast;

const SHARDS: usize = 16;

/// Transport a phone registered over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum SipTransport {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
}

/// What happened to a binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationEventKind {
    /// A new contact was registered.
    Registered,
    /// An existing contact re-registered (expiry extended).
    Refreshed,
    /// The contact was removed: `Expires: 0`, `Contact: *`, replaced by the
    /// same device's new contact, evicted, or removed by the application.
    Unregistered,
    /// The contact was not refreshed in time.
    Expired,
}

/// A change of registration state, published on [`Registrar::subscribe`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RegistrationEvent {
    /// What happened.
    pub kind: RegistrationEventKind,
    /// Tenant of the agent.
    pub tenant_id: TenantId,
    /// The agent.
    pub agent_id: UserId,
    /// User part of the address of record.
    pub user: String,
    /// Domain of the address of record.
    pub domain: String,
    /// The binding as it is (or was, for removals).
    pub binding: Binding,
}

/// All live bindings of one agent.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Registration {
    /// Tenant of the agent.
    pub tenant_id: TenantId,
    /// The agent.
    pub agent_id: UserId,
    /// User part of the address of record.
    pub user: String,
    /// Domain of the address of record.
    pub domain: String,
    /// Live bindings, oldest first.
    pub bindings: Vec<Binding>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct AorKey {
    tenant: TenantId,
    user: String,
}

#[derive(Debug)]
struct AorRecord {
    agent_id: UserId,
    domain: String,
    bindings: AorBindings,
}

struct Inner {
    shards: Box<[Mutex<HashMap<AorKey, AorRecord>>]>,
    events: broadcast::Sender<RegistrationEvent>,
    rules: RegistrarConfig,
}

/// Handle to the registration state (cheap to clone). Keyed by tenant and
/// user, so equal user names in different tenants never meet.
#[derive(Clone)]
pub struct Registrar {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Registrar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registrar")
            .field("bindings", &self.binding_count())
            .finish()
    }
}

impl Registrar {
    pub(crate) fn new(rules: RegistrarConfig) -> Self {
        let (events, _) = broadcast::channel(rules.event_capacity.max(1));
        let shards = (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect();
        Self {
            inner: Arc::new(Inner {
                shards,
                events,
                rules,
            }),
        }
    }

    fn shard(&self, key: &AorKey) -> MutexGuard<'_, HashMap<AorKey, AorRecord>> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        let m = &self.inner.shards[(h.finish() as usize) % SHARDS];
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registration events from now on. A receiver that falls behind by more
    /// than `registrar.event_capacity` events gets `Lagged` and should
    /// re-read the state with [`Registrar::registrations`].
    pub fn subscribe(&self) -> broadcast::Receiver<RegistrationEvent> {
        self.inner.events.subscribe()
    }

    /// Live bindings of `user` in `tenant_id`, oldest first.
    pub fn bindings(&self, tenant_id: TenantId, user: &str) -> Vec<Binding> {
        let key = AorKey {
            tenant: tenant_id,
            user: user.to_string(),
        };
        let now = Instant::now();
        self.shard(&key)
            .get(&key)
            .map(|r| {
                r.bindings
                    .current(now)
                    .into_iter()
                    .map(|(b, _)| b)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The agent registered (or once registered) as `user` in `tenant_id`.
    pub fn agent_of(&self, tenant_id: TenantId, user: &str) -> Option<UserId> {
        let key = AorKey {
            tenant: tenant_id,
            user: user.to_string(),
        };
        self.shard(&key).get(&key).map(|r| r.agent_id)
    }

    /// Every agent of `tenant_id` with at least one live binding.
    pub fn registrations(&self, tenant_id: TenantId) -> Vec<Registration> {
        let now = Instant::now();
        let mut out = Vec::new();
        for shard in self.inner.shards.iter() {
            let map = shard.lock().unwrap_or_else(|p| p.into_inner());
            for (key, rec) in map.iter().filter(|(k, _)| k.tenant == tenant_id) {
                let bindings: Vec<Binding> = rec
                    .bindings
                    .current(now)
                    .into_iter()
                    .map(|(b, _)| b)
                    .collect();
                if !bindings.is_empty() {
                    out.push(Registration {
                        tenant_id,
                        agent_id: rec.agent_id,
                        user: key.user.clone(),
                        domain: rec.domain.clone(),
                        bindings,
                    });
                }
            }
        }
        out.sort_by(|a, b| a.user.cmp(&b.user));
        out
    }

    /// Removes all bindings of `user` in `tenant_id` (agent deleted, SIP
    /// password changed); returns how many were removed.
    pub fn unregister_all(&self, tenant_id: TenantId, user: &str) -> usize {
        let key = AorKey {
            tenant: tenant_id,
            user: user.to_string(),
        };
        let mut map = self.shard(&key);
        let Some(rec) = map.remove(&key) else {
            return 0;
        };
        let n = rec.bindings.bindings.len();
        for b in rec.bindings.bindings {
            self.publish(
                &key,
                rec.agent_id,
                &rec.domain,
                RegistrationEventKind::Unregistered,
                b.binding,
            );
        }
        n
    }

    /// Number of live bindings across all tenants.
    pub fn binding_count(&self) -> usize {
        self.inner
            .shards
            .iter()
            .map(|s| {
                s.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .values()
                    .map(|r| r.bindings.bindings.len())
                    .sum::<usize>()
            })
            .sum()
    }

    /// Applies an authenticated REGISTER of `account`; returns the live
    /// bindings with their remaining seconds for the 200 response.
    pub(crate) fn apply(
        &self,
        account: &SipAccount,
        req: &RegisterRequest,
        now: Instant,
        wall: SystemTime,
    ) -> Result<Vec<(Binding, u32)>, RegisterError> {
        let AccountOwner::Agent(agent_id) = account.owner else {
            return Err(RegisterError::BadRequest(
                "trunk credentials cannot register",
            ));
        };
        let key = AorKey {
            tenant: account.tenant_id,
            user: account.user.clone(),
        };
        let mut map = self.shard(&key);
        let rec = map.entry(key.clone()).or_insert_with(|| AorRecord {
            agent_id,
            domain: account.domain.clone(),
            bindings: AorBindings::default(),
        });
        rec.agent_id = agent_id;
        rec.domain.clone_from(&account.domain);
        let result = rec.bindings.apply(req, &self.inner.rules, now, wall);
        let current = rec.bindings.current(now);
        let (agent, domain) = (rec.agent_id, rec.domain.clone());
        if rec.bindings.bindings.is_empty() {
            map.remove(&key);
        }
        let changes = result?;
        for c in changes {
            self.publish(&key, agent, &domain, c.kind, c.binding);
        }
        Ok(current)
    }

    /// Removes expired bindings, publishing `Expired`; returns how many.
    pub(crate) fn sweep(&self, now: Instant) -> usize {
        let mut n = 0;
        for shard in self.inner.shards.iter() {
            let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
            let mut empty = Vec::new();
            for (key, rec) in map.iter_mut() {
                for b in rec.bindings.sweep(now) {
                    n += 1;
                    self.publish(
                        key,
                        rec.agent_id,
                        &rec.domain,
                        RegistrationEventKind::Expired,
                        b,
                    );
                }
                if rec.bindings.bindings.is_empty() {
                    empty.push(key.clone());
                }
            }
            for key in empty {
                map.remove(&key);
            }
        }
        n
    }

    fn publish(
        &self,
        key: &AorKey,
        agent_id: UserId,
        domain: &str,
        kind: RegistrationEventKind,
        binding: Binding,
    ) {
        tracing::debug!(
            tenant_id = %key.tenant,
            user = %key.user,
            contact = %binding.contact,
            ?kind,
            "registration change"
        );
        // No subscriber is fine: the state stays queryable.
        let _ = self.inner.events.send(RegistrationEvent {
            kind,
            tenant_id: key.tenant,
            agent_id,
            user: key.user.clone(),
            domain: domain.to_string(),
            binding,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn contact(port: u16) -> ContactEntry {
        ContactEntry {
            uri: format!("sip:alice@127.0.0.1:{port}"),
            key: format!("sip:alice@127.0.0.1:{port}"),
            host_ip: Some([127, 0, 0, 1].into()),
            port: Some(port),
            expires: None,
            q: None,
            instance: None,
            reg_id: None,
        }
    }

    fn register(port: u16, expires: u32, cseq: u32) -> RegisterRequest {
        RegisterRequest {
            contacts: ContactSpec::List(vec![contact(port)]),
            expires_header: Some(expires),
            call_id: format!("c{port}"),
            cseq,
            source: addr(port),
            transport: SipTransport::Udp,
            user_agent: None,
        }
    }

    fn addr(port: u16) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn tenants_are_isolated_and_events_carry_the_tenant() {
        let reg = Registrar::new(RegistrarConfig::default());
        let mut events = reg.subscribe();
        let acme =
            SipAccount::with_password(TenantId::new(), UserId::new(), "alice", "acme.omnivox", "a");
        let globex = SipAccount::with_password(
            TenantId::new(),
            UserId::new(),
            "alice",
            "globex.omnivox",
            "b",
        );
        let (now, wall) = (Instant::now(), SystemTime::now());
        reg.apply(&acme, &register(5070, 600, 1), now, wall)
            .unwrap();
        reg.apply(&globex, &register(5080, 600, 1), now, wall)
            .unwrap();
        assert_eq!(
            reg.bindings(acme.tenant_id, "alice")[0].contact,
            "sip:alice@127.0.0.1:5070"
        );
        assert_eq!(
            reg.bindings(globex.tenant_id, "alice")[0].contact,
            "sip:alice@127.0.0.1:5080"
        );
        assert_eq!(reg.registrations(acme.tenant_id).len(), 1);
        assert_eq!(reg.registrations(acme.tenant_id)[0].domain, "acme.omnivox");
        let e = events.try_recv().unwrap();
        assert_eq!(
            (e.kind, e.tenant_id, AccountOwner::Agent(e.agent_id)),
            (
                RegistrationEventKind::Registered,
                acme.tenant_id,
                acme.owner
            )
        );
        let e = events.try_recv().unwrap();
        assert_eq!(e.tenant_id, globex.tenant_id);
        // Unregistering one tenant's alice leaves the other alone.
        assert_eq!(reg.unregister_all(acme.tenant_id, "alice"), 1);
        assert!(reg.bindings(acme.tenant_id, "alice").is_empty());
        assert_eq!(reg.bindings(globex.tenant_id, "alice").len(), 1);
        assert_eq!(
            events.try_recv().unwrap().kind,
            RegistrationEventKind::Unregistered
        );
    }

    #[test]
    fn sweep_publishes_expired_and_forgets_empty_records() {
        let reg = Registrar::new(RegistrarConfig::default());
        let mut events = reg.subscribe();
        let acct =
            SipAccount::with_password(TenantId::new(), UserId::new(), "bob", "acme.omnivox", "x");
        let (now, wall) = (Instant::now(), SystemTime::now());
        reg.apply(&acct, &register(5090, 60, 1), now, wall).unwrap();
        assert_eq!(
            events.try_recv().unwrap().kind,
            RegistrationEventKind::Registered
        );
        assert_eq!(reg.sweep(now + Duration::from_secs(59)), 0);
        assert_eq!(reg.sweep(now + Duration::from_secs(61)), 1);
        let e = events.try_recv().unwrap();
        assert_eq!(
            (e.kind, e.user.as_str()),
            (RegistrationEventKind::Expired, "bob")
        );
        assert_eq!(reg.binding_count(), 0);
    }

    #[test]
    fn a_refused_register_changes_nothing() {
        let reg = Registrar::new(RegistrarConfig::default());
        let acct =
            SipAccount::with_password(TenantId::new(), UserId::new(), "bob", "acme.omnivox", "x");
        let (now, wall) = (Instant::now(), SystemTime::now());
        let err = reg
            .apply(&acct, &register(5090, 10, 1), now, wall)
            .unwrap_err();
        assert_eq!(err, RegisterError::IntervalTooBrief(60));
        assert_eq!(reg.binding_count(), 0);
    }
}
