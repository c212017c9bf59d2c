//! The trunk table: every tenant's carriers with their live limits
//! (channels in use, calls per second) and health.
//!
//! The configuration is replaced as a whole when trunks change
//! ([`TrunkTable::set`]); the live state of a trunk (channels in use, its
//! token bucket, up or down) is kept across replacements by id, so editing a
//! trunk never forgets the calls already on it.

use super::model::Trunk;
use omnivox_domain::TenantId;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;
use uuid::Uuid;

/// Live state of one trunk.
#[derive(Debug)]
pub(crate) struct TrunkState {
    active: AtomicU32,
    up: AtomicBool,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl TrunkState {
    fn new(now: Instant) -> Self {
        Self {
            active: AtomicU32::new(0),
            up: AtomicBool::new(true),
            bucket: Mutex::new(Bucket {
                tokens: f64::MAX,
                at: now,
            }),
        }
    }
}

/// A trunk with its live state.
#[derive(Debug)]
pub(crate) struct TrunkEntry {
    pub trunk: Trunk,
    pub state: Arc<TrunkState>,
}

impl TrunkEntry {
    /// Channels in use.
    pub(crate) fn active(&self) -> u32 {
        self.state.active.load(Ordering::Relaxed)
    }

    /// The last health check's verdict (up until a check fails).
    pub(crate) fn is_up(&self) -> bool {
        self.state.up.load(Ordering::Relaxed)
    }

    /// Records a health check; true when the state changed.
    pub(crate) fn set_up(&self, up: bool) -> bool {
        self.state.up.swap(up, Ordering::Relaxed) != up
    }
}

/// Why a trunk cannot take a call now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Busy {
    Down,
    Channels,
    Rate,
}

impl Busy {
    pub(crate) fn text(self) -> &'static str {
        match self {
            Busy::Down => "trunk down",
            Busy::Channels => "trunk channel limit reached",
            Busy::Rate => "trunk calls-per-second limit reached",
        }
    }
}

/// A channel taken on a trunk; given back when dropped.
#[derive(Debug)]
pub(crate) struct ChannelPermit {
    state: Arc<TrunkState>,
}

impl Drop for ChannelPermit {
    fn drop(&mut self) {
        self.state.active.fetch_sub(1, Ordering::Relaxed);
    }
}

impl TrunkEntry {
    /// Takes a channel and a calls-per-second token, or says why not.
    pub(crate) fn try_take(&self, now: Instant) -> Result<ChannelPermit, Busy> {
        if !self.is_up() {
            return Err(Busy::Down);
        }
        let max = self.trunk.max_channels;
        let taken = self
            .state
            .active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            });
        if taken.is_err() {
            return Err(Busy::Channels);
        }
        let permit = ChannelPermit {
            state: self.state.clone(),
        };
        let rate = f64::from(self.trunk.max_cps.max(1));
        let mut b = self.state.bucket.lock().unwrap_or_else(|p| p.into_inner());
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens.min(rate) + elapsed * rate).min(rate);
        b.at = now;
        if b.tokens < 1.0 {
            return Err(Busy::Rate); // the permit drops and gives the channel back
        }
        b.tokens -= 1.0;
        Ok(permit)
    }
}

/// Every tenant's trunks.
#[derive(Debug, Default)]
pub(crate) struct TrunkTable {
    entries: RwLock<Arc<Vec<Arc<TrunkEntry>>>>,
}

impl TrunkTable {
    /// Replaces the configuration, keeping live state by trunk id.
    pub(crate) fn set(&self, trunks: Vec<Trunk>) {
        let now = Instant::now();
        let mut guard = self.entries.write().unwrap_or_else(|p| p.into_inner());
        let old: HashMap<Uuid, Arc<TrunkState>> = guard
            .iter()
            .map(|e| (e.trunk.id, e.state.clone()))
            .collect();
        let mut entries: Vec<Arc<TrunkEntry>> = trunks
            .into_iter()
            .map(|trunk| {
                let state = old
                    .get(&trunk.id)
                    .cloned()
                    .unwrap_or_else(|| Arc::new(TrunkState::new(now)));
                Arc::new(TrunkEntry { trunk, state })
            })
            .collect();
        entries.sort_by_key(|e| (e.trunk.priority, e.trunk.name.clone()));
        *guard = Arc::new(entries);
    }

    pub(crate) fn all(&self) -> Arc<Vec<Arc<TrunkEntry>>> {
        self.entries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The tenant's trunks in failover order.
    pub(crate) fn for_tenant(&self, tenant: TenantId) -> Vec<Arc<TrunkEntry>> {
        self.all()
            .iter()
            .filter(|e| e.trunk.tenant_id == tenant)
            .cloned()
            .collect()
    }

    /// Trunks whose allowed sources include `source` (several tenants may
    /// share a carrier; the DID then picks the tenant).
    pub(crate) fn by_source(&self, source: SocketAddr) -> Vec<Arc<TrunkEntry>> {
        self.all()
            .iter()
            .filter(|e| e.trunk.allowed_sources.iter().any(|n| n.matches(source)))
            .cloned()
            .collect()
    }

    pub(crate) fn get(&self, id: Uuid) -> Option<Arc<TrunkEntry>> {
        self.all().iter().find(|e| e.trunk.id == id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::model::TrunkSource;
    use crate::calls::model::{CallerIdMode, NumberFormat};
    use crate::registrar::SipTransport;
    use std::time::Duration;

    fn trunk(tenant: TenantId, name: &str, priority: i32, channels: u32, cps: u32) -> Trunk {
        Trunk {
            id: Uuid::now_v7(),
            tenant_id: tenant,
            name: name.into(),
            host: "127.0.0.1".into(),
            port: 5080,
            transport: SipTransport::Udp,
            username: None,
            password: None,
            from_user: None,
            from_domain: None,
            caller_id: CallerIdMode::From,
            number_format: NumberFormat::E164Plus,
            tech_prefix: String::new(),
            max_channels: channels,
            max_cps: cps,
            priority,
            allowed_sources: vec![
                TrunkSource::parse("10.1.0.0/16").unwrap(),
                TrunkSource::parse("127.0.0.1:5090").unwrap(),
            ],
            inbound: None,
        }
    }

    #[test]
    fn channels_are_limited_and_given_back() {
        let t = TenantId::new();
        let table = TrunkTable::default();
        table.set(vec![trunk(t, "a", 1, 2, 100)]);
        let e = &table.for_tenant(t)[0];
        let now = Instant::now();
        let p1 = e.try_take(now).unwrap();
        let _p2 = e.try_take(now).unwrap();
        assert_eq!(e.try_take(now).unwrap_err(), Busy::Channels);
        drop(p1);
        assert_eq!(e.active(), 1);
        e.try_take(now).unwrap();
    }

    #[test]
    fn calls_per_second_are_limited() {
        let t = TenantId::new();
        let table = TrunkTable::default();
        table.set(vec![trunk(t, "a", 1, 100, 3)]);
        let e = &table.for_tenant(t)[0];
        let now = Instant::now();
        let permits: Vec<_> = (0..3).map(|_| e.try_take(now).unwrap()).collect();
        assert_eq!(e.try_take(now).unwrap_err(), Busy::Rate);
        assert_eq!(e.active(), 3, "a refused call holds no channel");
        let later = now + Duration::from_millis(400);
        e.try_take(later).unwrap();
        drop(permits);
    }

    #[test]
    fn order_sources_and_state_survive_reload() {
        let (t1, t2) = (TenantId::new(), TenantId::new());
        let table = TrunkTable::default();
        let second = trunk(t1, "second", 2, 5, 5);
        let first = trunk(t1, "first", 1, 5, 5);
        let other = trunk(t2, "other", 0, 5, 5);
        table.set(vec![second.clone(), first.clone(), other]);
        let names: Vec<_> = table
            .for_tenant(t1)
            .iter()
            .map(|e| e.trunk.name.clone())
            .collect();
        assert_eq!(names, ["first", "second"]);
        assert_eq!(table.by_source("10.1.2.3:5060".parse().unwrap()).len(), 3);
        assert!(table.by_source("10.2.0.1:5060".parse().unwrap()).is_empty());
        assert_eq!(table.by_source("127.0.0.1:5090".parse().unwrap()).len(), 3);
        assert!(
            table
                .by_source("127.0.0.1:5091".parse().unwrap())
                .is_empty()
        );
        let _p = table
            .get(first.id)
            .unwrap()
            .try_take(Instant::now())
            .unwrap();
        table.get(first.id).unwrap().set_up(false);
        table.set(vec![first.clone()]);
        let e = table.get(first.id).unwrap();
        assert_eq!(e.active(), 1);
        assert!(!e.is_up());
        assert!(table.get(second.id).is_none());
    }
}
