//! Protection against hostile traffic: per-source rate limits, fail2ban-like
//! throttling and bans after authentication failures, scanner user agents,
//! TCP connection limits. Trusted networks bypass limits and bans.

mod scanner;
mod sources;

use crate::config::GuardConfig;
use crate::stats::Counters;
use scanner::ScannerList;
pub(crate) use sources::Admit;
use sources::{FailureOutcome, SourcePolicy, Sources};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An address or CIDR network (`10.0.0.0/8`, `2001:db8::/32`, `192.0.2.7`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Parses `a.b.c.d`, `a.b.c.d/n` or the IPv6 forms; `None` if invalid.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (s.parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Self { addr, prefix })
    }

    /// True when `ip` is inside the network (IPv4-mapped IPv6 counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// Result of the pre-authentication check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AuthGate {
    Allowed,
    /// Too many recent failures: answer 503 with this Retry-After.
    Throttled(u32),
}

/// The guard shared by all transports and the registrar.
#[derive(Debug)]
pub(crate) struct Guard {
    sources: Sources,
    scanners: ScannerList,
    trusted: Vec<IpNet>,
    pub(crate) counters: Arc<Counters>,
}

impl Guard {
    pub(crate) fn new(cfg: &GuardConfig, counters: Arc<Counters>) -> Self {
        let policy = SourcePolicy {
            rate_per_sec: f64::from(cfg.rate_limit_per_sec),
            burst: f64::from(cfg.rate_limit_burst),
            failure_window: Duration::from_secs(cfg.auth_failure_window_secs),
            throttle_after: cfg.throttle_after_failures,
            throttle_delay: Duration::from_secs(cfg.throttle_delay_secs),
            ban_after: cfg.ban_after_failures,
            ban_duration: Duration::from_secs(cfg.ban_duration_secs),
            max_tracked: cfg.max_tracked_sources,
        };
        Self {
            sources: Sources::new(policy),
            scanners: ScannerList::new(&cfg.extra_scanner_user_agents),
            trusted: cfg
                .trusted_networks
                .iter()
                .filter_map(|n| IpNet::parse(n))
                .collect(),
            counters,
        }
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|n| n.contains(ip))
    }

    /// Per-packet admission: bans and the rate limit.
    pub(crate) fn admit(&self, ip: IpAddr, now: Instant) -> Admit {
        if self.is_trusted(ip) {
            return Admit::Pass;
        }
        self.sources.admit(ip, now)
    }

    /// True while `ip` is banned.
    pub(crate) fn is_banned(&self, ip: IpAddr, now: Instant) -> bool {
        !self.is_trusted(ip) && self.sources.is_banned(ip, now)
    }

    /// True when the raw User-Agent belongs to a known scanner.
    pub(crate) fn is_scanner(&self, user_agent: &[u8]) -> bool {
        self.scanners.is_scanner(user_agent)
    }

    /// Called before credentials are checked.
    pub(crate) fn auth_gate(&self, ip: IpAddr, now: Instant) -> AuthGate {
        if self.is_trusted(ip) {
            return AuthGate::Allowed;
        }
        match self.sources.auth_gate(ip, now) {
            Ok(()) => AuthGate::Allowed,
            Err(secs) => {
                Counters::inc(&self.counters.auth_throttled);
                // A source that keeps trying while throttled is counted too.
                self.record_failure(ip, now);
                AuthGate::Throttled(secs)
            }
        }
    }

    /// Records a failed authentication.
    pub(crate) fn auth_failed(&self, ip: IpAddr, now: Instant) {
        Counters::inc(&self.counters.auth_failures);
        if !self.is_trusted(ip) {
            self.record_failure(ip, now);
        }
    }

    fn record_failure(&self, ip: IpAddr, now: Instant) {
        if self.sources.auth_failure(ip, now) == FailureOutcome::Banned {
            Counters::inc(&self.counters.bans);
            tracing::warn!(source = %ip, "SIP source banned after repeated authentication failures");
        }
    }

    /// Accounts a new TCP connection; false when over the per-source limit or
    /// banned.
    pub(crate) fn tcp_open(&self, ip: IpAddr, max_per_ip: u32, now: Instant) -> bool {
        if self.is_trusted(ip) {
            return true;
        }
        if self.sources.admit(ip, now) == Admit::Banned {
            return false;
        }
        self.sources.tcp_open(ip, max_per_ip, now)
    }

    /// Accounts a closed TCP connection (pairs with a successful `tcp_open`).
    pub(crate) fn tcp_close(&self, ip: IpAddr) {
        if !self.is_trusted(ip) {
            self.sources.tcp_close(ip);
        }
    }

    /// Housekeeping from the sweeper.
    pub(crate) fn prune(&self, now: Instant) {
        self.sources.prune(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_matching() {
        let n = IpNet::parse("10.1.0.0/16").unwrap();
        assert!(n.contains("10.1.200.3".parse().unwrap()));
        assert!(!n.contains("10.2.0.1".parse().unwrap()));
        assert!(n.contains("::ffff:10.1.0.9".parse().unwrap()));
        let all = IpNet::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("203.0.113.9".parse().unwrap()));
        let v6 = IpNet::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:ffff::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        let host = IpNet::parse("192.0.2.7").unwrap();
        assert!(host.contains("192.0.2.7".parse().unwrap()));
        assert!(!host.contains("192.0.2.8".parse().unwrap()));
        for bad in [
            "",
            "10.0.0.0/",
            "10.0.0.0/33",
            "::/129",
            "example.com",
            "1.2.3.4/x",
        ] {
            assert!(IpNet::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn trusted_sources_are_never_banned() {
        let cfg = GuardConfig {
            trusted_networks: vec!["192.0.2.0/24".into()],
            ban_after_failures: 1,
            ..GuardConfig::default()
        };
        let g = Guard::new(&cfg, Arc::default());
        let now = Instant::now();
        let trusted: IpAddr = "192.0.2.9".parse().unwrap();
        let other: IpAddr = "198.51.100.1".parse().unwrap();
        g.auth_failed(trusted, now);
        g.auth_failed(other, now);
        assert_eq!(g.admit(trusted, now), Admit::Pass);
        assert_eq!(g.admit(other, now), Admit::Banned);
        assert_eq!(g.counters.snapshot().bans, 1);
        assert_eq!(g.counters.snapshot().auth_failures, 2);
    }
}
