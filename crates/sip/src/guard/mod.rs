//! Protection against hostile traffic: per-source rate limits, fail2ban-like
//! throttling and bans after authentication failures, scanner user agents,
//! TCP connection limits. Trusted networks bypass limits and bans.

mod scanner;
mod sources;

use crate::config::GuardConfig;
use crate::stats::Counters;
use omnivox_domain::trunk::SourceNet;
use scanner::ScannerList;
pub(crate) use sources::Admit;
use sources::{FailureOutcome, SourcePolicy, Sources};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    trusted: Vec<SourceNet>,
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
                .filter_map(|n| n.trim().parse::<SourceNet>().ok())
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
