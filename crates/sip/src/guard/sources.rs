//! Per-source state: token-bucket rate limit, authentication failures,
//! throttling and bans, TCP connection counts.
//!
//! Sharded by address (no global lock on the per-packet path); IPv6 sources
//! are grouped by /64, since one host owns a whole /64. Memory is bounded by
//! `max_tracked`: idle entries are pruned by the sweeper, and a full shard
//! evicts an entry that carries nothing worth keeping (no failures, ban or
//! connection).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

const SHARDS: usize = 64;

/// Limits applied per source.
#[derive(Clone, Debug)]
pub(crate) struct SourcePolicy {
    /// Tokens per second; 0 disables rate limiting.
    pub rate_per_sec: f64,
    pub burst: f64,
    pub failure_window: Duration,
    /// 0 disables throttling.
    pub throttle_after: u32,
    pub throttle_delay: Duration,
    /// 0 disables bans.
    pub ban_after: u32,
    pub ban_duration: Duration,
    pub max_tracked: usize,
}

/// Verdict for one incoming packet or connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    Pass,
    Banned,
    RateLimited,
}

/// What recording an authentication failure led to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FailureOutcome {
    Counted,
    Banned,
}

#[derive(Debug)]
struct SourceState {
    tokens: f64,
    last_refill: Instant,
    failures: u32,
    window_start: Instant,
    last_failure: Option<Instant>,
    banned_until: Option<Instant>,
    tcp_conns: u32,
}

impl SourceState {
    fn new(now: Instant, burst: f64) -> Self {
        Self {
            tokens: burst,
            last_refill: now,
            failures: 0,
            window_start: now,
            last_failure: None,
            banned_until: None,
            tcp_conns: 0,
        }
    }

    /// Nothing here that pruning would lose.
    fn is_disposable(&self, now: Instant, policy: &SourcePolicy) -> bool {
        let window_over = now.saturating_duration_since(self.window_start) > policy.failure_window;
        self.banned_until.is_none() && self.tcp_conns == 0 && (self.failures == 0 || window_over)
    }
}

/// The sharded per-source table.
#[derive(Debug)]
pub(crate) struct Sources {
    shards: Box<[Mutex<HashMap<IpAddr, SourceState>>]>,
    policy: SourcePolicy,
    per_shard_cap: usize,
    active_bans: AtomicUsize,
}

/// Sources are keyed by IPv4 address or IPv6 /64 (IPv4-mapped IPv6 as IPv4).
pub(crate) fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut seg = v6.segments();
                seg[4..].fill(0);
                IpAddr::V6(seg.into())
            }
        },
    }
}

impl Sources {
    pub(crate) fn new(policy: SourcePolicy) -> Self {
        let per_shard_cap = policy.max_tracked.div_ceil(SHARDS).max(1);
        let shards = (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect();
        Self {
            shards,
            policy,
            per_shard_cap,
            active_bans: AtomicUsize::new(0),
        }
    }

    fn shard(&self, key: &IpAddr) -> MutexGuard<'_, HashMap<IpAddr, SourceState>> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        let i = (h.finish() as usize) % SHARDS;
        let m = &self.shards[i];
        m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Gets or (capacity permitting) creates the entry for `key`.
    fn entry<'a>(
        &self,
        map: &'a mut HashMap<IpAddr, SourceState>,
        key: IpAddr,
        now: Instant,
    ) -> Option<&'a mut SourceState> {
        if !map.contains_key(&key) && map.len() >= self.per_shard_cap {
            map.retain(|_, s| !s.is_disposable(now, &self.policy) || s.tokens < self.policy.burst);
            if map.len() >= self.per_shard_cap {
                let victim = map
                    .iter()
                    .find(|(_, s)| s.is_disposable(now, &self.policy))
                    .map(|(k, _)| *k);
                match victim {
                    Some(v) => {
                        map.remove(&v);
                    }
                    None => return None,
                }
            }
        }
        Some(
            map.entry(key)
                .or_insert_with(|| SourceState::new(now, self.policy.burst)),
        )
    }

    /// Lifts an expired ban; true while `s` is banned.
    fn check_ban(&self, s: &mut SourceState, now: Instant) -> bool {
        match s.banned_until {
            Some(until) if now < until => true,
            Some(_) => {
                s.banned_until = None;
                self.active_bans.fetch_sub(1, Ordering::Relaxed);
                false
            }
            None => false,
        }
    }

    /// Decides on one packet (or connection) from `ip`.
    pub(crate) fn admit(&self, ip: IpAddr, now: Instant) -> Admit {
        let rate_on = self.policy.rate_per_sec > 0.0;
        if !rate_on && self.active_bans.load(Ordering::Relaxed) == 0 {
            return Admit::Pass;
        }
        let key = source_key(ip);
        let mut map = self.shard(&key);
        if !rate_on {
            return match map.get_mut(&key) {
                Some(s) => {
                    if self.check_ban(s, now) {
                        Admit::Banned
                    } else {
                        Admit::Pass
                    }
                }
                None => Admit::Pass,
            };
        }
        let Some(s) = self.entry(&mut map, key, now) else {
            return Admit::Pass;
        };
        if self.check_ban(s, now) {
            return Admit::Banned;
        }
        let elapsed = now.saturating_duration_since(s.last_refill).as_secs_f64();
        s.tokens = (s.tokens + elapsed * self.policy.rate_per_sec).min(self.policy.burst);
        s.last_refill = now;
        if s.tokens >= 1.0 {
            s.tokens -= 1.0;
            Admit::Pass
        } else {
            Admit::RateLimited
        }
    }

    /// True while `ip` is banned (does not touch the rate limit).
    pub(crate) fn is_banned(&self, ip: IpAddr, now: Instant) -> bool {
        if self.active_bans.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let key = source_key(ip);
        let map = self.shard(&key);
        map.get(&key)
            .is_some_and(|s| s.banned_until.is_some_and(|until| now < until))
    }

    /// `Err(retry_after_secs)` while `ip` is throttled after repeated
    /// authentication failures.
    pub(crate) fn auth_gate(&self, ip: IpAddr, now: Instant) -> Result<(), u32> {
        if self.policy.throttle_after == 0 {
            return Ok(());
        }
        let key = source_key(ip);
        let map = self.shard(&key);
        let Some(s) = map.get(&key) else {
            return Ok(());
        };
        let in_window = now.saturating_duration_since(s.window_start) <= self.policy.failure_window;
        match s.last_failure {
            Some(last) if in_window && s.failures >= self.policy.throttle_after => {
                let since = now.saturating_duration_since(last);
                if since < self.policy.throttle_delay {
                    let left = self.policy.throttle_delay - since;
                    Err(u32::try_from(left.as_secs().max(1)).unwrap_or(u32::MAX))
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// Records an authentication failure from `ip`.
    pub(crate) fn auth_failure(&self, ip: IpAddr, now: Instant) -> FailureOutcome {
        let key = source_key(ip);
        let mut map = self.shard(&key);
        let Some(s) = self.entry(&mut map, key, now) else {
            return FailureOutcome::Counted;
        };
        if now.saturating_duration_since(s.window_start) > self.policy.failure_window {
            s.failures = 0;
            s.window_start = now;
        }
        s.failures = s.failures.saturating_add(1);
        s.last_failure = Some(now);
        if self.policy.ban_after > 0 && s.failures >= self.policy.ban_after {
            if s.banned_until.is_none() {
                self.active_bans.fetch_add(1, Ordering::Relaxed);
            }
            s.banned_until = Some(now + self.policy.ban_duration);
            s.failures = 0;
            s.window_start = now;
            return FailureOutcome::Banned;
        }
        FailureOutcome::Counted
    }

    /// Counts a new TCP connection from `ip`; false when it would exceed
    /// `max_per_ip`.
    pub(crate) fn tcp_open(&self, ip: IpAddr, max_per_ip: u32, now: Instant) -> bool {
        let key = source_key(ip);
        let mut map = self.shard(&key);
        let Some(s) = self.entry(&mut map, key, now) else {
            return false;
        };
        if s.tcp_conns >= max_per_ip {
            return false;
        }
        s.tcp_conns += 1;
        true
    }

    /// Counts a closed TCP connection from `ip`.
    pub(crate) fn tcp_close(&self, ip: IpAddr) {
        let key = source_key(ip);
        let mut map = self.shard(&key);
        if let Some(s) = map.get_mut(&key) {
            s.tcp_conns = s.tcp_conns.saturating_sub(1);
        }
    }

    /// Drops idle entries and lifts expired bans.
    pub(crate) fn prune(&self, now: Instant) {
        for shard in self.shards.iter() {
            let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
            map.retain(|_, s| {
                self.check_ban(s, now);
                let refill_done = self.policy.rate_per_sec <= 0.0
                    || s.tokens
                        + now.saturating_duration_since(s.last_refill).as_secs_f64()
                            * self.policy.rate_per_sec
                        >= self.policy.burst;
                !(s.is_disposable(now, &self.policy) && refill_done)
            });
        }
    }

    /// Number of tracked sources.
    #[cfg(test)]
    pub(crate) fn tracked(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> SourcePolicy {
        SourcePolicy {
            rate_per_sec: 10.0,
            burst: 5.0,
            failure_window: Duration::from_secs(60),
            throttle_after: 2,
            throttle_delay: Duration::from_secs(5),
            ban_after: 4,
            ban_duration: Duration::from_secs(100),
            max_tracked: 1000,
        }
    }

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    #[test]
    fn token_bucket() {
        let s = Sources::new(policy());
        let t0 = Instant::now();
        for _ in 0..5 {
            assert_eq!(s.admit(IP, t0), Admit::Pass);
        }
        assert_eq!(s.admit(IP, t0), Admit::RateLimited);
        // 10/s refill: after 100 ms one more token.
        assert_eq!(s.admit(IP, t0 + Duration::from_millis(100)), Admit::Pass);
        assert_eq!(
            s.admit(IP, t0 + Duration::from_millis(100)),
            Admit::RateLimited
        );
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(s.admit(other, t0), Admit::Pass);
    }

    #[test]
    fn throttle_then_ban_then_expiry() {
        let s = Sources::new(policy());
        let t0 = Instant::now();
        assert_eq!(s.auth_gate(IP, t0), Ok(()));
        assert_eq!(s.auth_failure(IP, t0), FailureOutcome::Counted);
        assert_eq!(s.auth_gate(IP, t0), Ok(()));
        assert_eq!(s.auth_failure(IP, t0), FailureOutcome::Counted);
        // Two failures: throttled for 5 s after the last one.
        assert_eq!(s.auth_gate(IP, t0 + Duration::from_secs(1)), Err(4));
        assert_eq!(s.auth_gate(IP, t0 + Duration::from_secs(6)), Ok(()));
        assert_eq!(s.auth_failure(IP, t0), FailureOutcome::Counted);
        assert_eq!(s.auth_failure(IP, t0), FailureOutcome::Banned);
        assert_eq!(s.admit(IP, t0 + Duration::from_secs(1)), Admit::Banned);
        assert_eq!(s.admit(IP, t0 + Duration::from_secs(99)), Admit::Banned);
        let after = t0 + Duration::from_secs(101);
        assert_eq!(s.admit(IP, after), Admit::Pass);
        assert_eq!(s.active_bans.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn failures_outside_the_window_reset() {
        let s = Sources::new(policy());
        let t0 = Instant::now();
        for i in 0..3 {
            let at = t0 + Duration::from_secs(61 * i);
            assert_eq!(s.auth_failure(IP, at), FailureOutcome::Counted);
        }
    }

    #[test]
    fn ipv6_groups_by_64_and_mapped_v4_is_v4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        assert_eq!(source_key(a), source_key(b));
        let m: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(source_key(m), IP);
    }

    #[test]
    fn bans_work_without_rate_limiting_and_prune_frees_memory() {
        let mut p = policy();
        p.rate_per_sec = 0.0;
        let s = Sources::new(p);
        let t0 = Instant::now();
        assert_eq!(s.admit(IP, t0), Admit::Pass);
        assert_eq!(s.tracked(), 0, "no state without a reason");
        for _ in 0..4 {
            s.auth_failure(IP, t0);
        }
        assert_eq!(s.admit(IP, t0), Admit::Banned);
        s.prune(t0 + Duration::from_secs(50));
        assert_eq!(s.tracked(), 1, "a ban survives pruning");
        s.prune(t0 + Duration::from_secs(200));
        assert_eq!(s.tracked(), 0);
    }

    #[test]
    fn table_is_bounded() {
        let mut p = policy();
        p.max_tracked = 64;
        let s = Sources::new(p);
        let t0 = Instant::now();
        for i in 0..10_000u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            s.admit(ip, t0);
        }
        assert!(s.tracked() <= 64 + SHARDS);
    }

    #[test]
    fn tcp_connection_limit() {
        let s = Sources::new(policy());
        let t0 = Instant::now();
        assert!(s.tcp_open(IP, 2, t0));
        assert!(s.tcp_open(IP, 2, t0));
        assert!(!s.tcp_open(IP, 2, t0));
        s.tcp_close(IP);
        assert!(s.tcp_open(IP, 2, t0));
    }
}
