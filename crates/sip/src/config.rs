//! Typed configuration of the SIP server.
//!
//! Every section has documented defaults (`#[serde(default)]`), so an empty
//! section in a config file is valid. Durations are whole seconds (or
//! milliseconds where named `_ms`), which keeps the file format obvious.

use crate::digest::DigestAlgorithm;
use crate::error::SipError;
use omnivox_domain::trunk::SourceNet;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// Configuration of [`crate::SipServer`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SipConfig {
    /// Address for both UDP and TCP. Port 0 picks free ports (tests); the
    /// server reports the real ones. Default `127.0.0.1:5060`.
    pub bind: SocketAddr,
    /// Listen on UDP. Default true.
    pub udp: bool,
    /// Listen on TCP. Default true.
    pub tcp: bool,
    /// Value of the `Server` header in responses. Default `Omnivox/<version>`.
    pub server_name: String,
    /// Size and connection limits.
    pub limits: LimitsConfig,
    /// Rate limits, bans and scanner detection.
    pub guard: GuardConfig,
    /// Digest authentication.
    pub auth: AuthConfig,
    /// Registrar expiry rules.
    pub registrar: RegistrarConfig,
    /// Graceful shutdown.
    pub shutdown: ShutdownConfig,
    /// Calls (B2BUA).
    pub calls: CallsConfig,
    /// The media engine every call's RTP goes through.
    pub media: SipMediaConfig,
}

impl Default for SipConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 5060)),
            udp: true,
            tcp: true,
            server_name: format!("Omnivox/{}", env!("CARGO_PKG_VERSION")),
            limits: LimitsConfig::default(),
            guard: GuardConfig::default(),
            auth: AuthConfig::default(),
            registrar: RegistrarConfig::default(),
            shutdown: ShutdownConfig::default(),
            calls: CallsConfig::default(),
            media: SipMediaConfig::default(),
        }
    }
}

impl SipConfig {
    /// Checks that the values are consistent; [`crate::SipServer::bind`]
    /// calls it.
    pub fn validate(&self) -> Result<(), SipError> {
        let err = |m: &str| Err(SipError::Config(m.to_string()));
        if !self.udp && !self.tcp {
            return err("at least one of udp and tcp must be enabled");
        }
        if self.server_name.trim().is_empty() || self.server_name.contains(['\r', '\n']) {
            return err("server_name must be a non-empty single line");
        }
        if self.limits.max_message_bytes < 1024 {
            return err("limits.max_message_bytes must be at least 1024");
        }
        if self.limits.max_pending_requests == 0 {
            return err("limits.max_pending_requests must be at least 1");
        }
        if self.limits.max_headers == 0 {
            return err("limits.max_headers must be at least 1");
        }
        if self.auth.algorithms.is_empty() {
            return err("auth.algorithms must name at least one algorithm");
        }
        if self.calls.max_calls == 0 {
            return err("calls.max_calls must be at least 1");
        }
        if !(5..=300).contains(&self.calls.ring_timeout_secs) {
            return err("calls.ring_timeout_secs must be 5-300");
        }
        let m = &self.media;
        if m.port_min == 0 || u32::from(m.port_min) + 1 > u32::from(m.port_max) {
            return err("media: need 0 < port_min < port_max (an RTP/RTCP pair at least)");
        }
        if m.ip.is_some_and(|ip| ip.is_unspecified()) {
            return err("media.ip must be a concrete address (it goes into the SDP)");
        }
        if self.auth.nonce_ttl_secs == 0 {
            return err("auth.nonce_ttl_secs must be positive");
        }
        if let Some(secret) = &self.auth.nonce_secret
            && secret.0.len() < 16
        {
            return err("auth.nonce_secret must be at least 16 characters");
        }
        let r = &self.registrar;
        if r.min_expires_secs == 0
            || r.min_expires_secs > r.default_expires_secs
            || r.default_expires_secs > r.max_expires_secs
        {
            return err("registrar: need 0 < min_expires <= default_expires <= max_expires");
        }
        if r.max_contacts_per_aor == 0 {
            return err("registrar.max_contacts_per_aor must be at least 1");
        }
        if r.sweep_interval_ms == 0 {
            return err("registrar.sweep_interval_ms must be positive");
        }
        let g = &self.guard;
        if g.rate_limit_per_sec > 0 && g.rate_limit_burst == 0 {
            return err("guard.rate_limit_burst must be positive when rate limiting is on");
        }
        if g.ban_after_failures > 0 && g.throttle_after_failures > g.ban_after_failures {
            return err("guard.throttle_after_failures must not exceed ban_after_failures");
        }
        for net in &g.trusted_networks {
            if net.trim().parse::<SourceNet>().is_err() {
                return Err(SipError::Config(format!(
                    "guard.trusted_networks: {net:?} is not an address or CIDR network"
                )));
            }
        }
        Ok(())
    }
}

/// Size and connection limits of the message-entry path.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest accepted message (headers and body). Larger ones get 513 when a
    /// response can be built, else are dropped. Default 32768.
    pub max_message_bytes: usize,
    /// Most header lines in one message; more is a 400. Default 128.
    pub max_headers: usize,
    /// Most simultaneous TCP connections. Default 4096.
    pub tcp_max_connections: usize,
    /// Most simultaneous TCP connections from one source address. Default 32.
    pub tcp_max_connections_per_ip: u32,
    /// A TCP connection without any byte for this long is closed. Default 300.
    pub tcp_idle_timeout_secs: u64,
    /// A started TCP message must be complete within this time (slow-loris
    /// protection). Default 10.
    pub tcp_message_timeout_secs: u64,
    /// Most requests handled at once (e.g. REGISTERs waiting on a slow
    /// directory); beyond it new requests get 503 with Retry-After at once.
    /// Default 1024.
    pub max_pending_requests: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 32 * 1024,
            max_headers: 128,
            tcp_max_connections: 4096,
            tcp_max_connections_per_ip: 32,
            tcp_idle_timeout_secs: 300,
            tcp_message_timeout_secs: 10,
            max_pending_requests: 1024,
        }
    }
}

/// Rate limits, fail2ban-like bans and scanner detection.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GuardConfig {
    /// Messages per second allowed from one source address (token bucket);
    /// 0 turns rate limiting off. Default 100.
    pub rate_limit_per_sec: u32,
    /// Bucket size of the rate limit. Default 200.
    pub rate_limit_burst: u32,
    /// Authentication failures are counted over this window. Default 600.
    pub auth_failure_window_secs: u64,
    /// After this many failures in the window, a source's next authentication
    /// attempt within `throttle_delay_secs` of its last failure is refused
    /// with 503 and Retry-After (and counts as a failure). 0 = off. Default 3.
    pub throttle_after_failures: u32,
    /// See `throttle_after_failures`. Default 5.
    pub throttle_delay_secs: u64,
    /// After this many failures in the window the source is banned: all its
    /// traffic is dropped silently. 0 = never. Default 10.
    pub ban_after_failures: u32,
    /// How long a ban lasts. Default 900.
    pub ban_duration_secs: u64,
    /// User-Agent substrings (case-insensitive) dropped silently, in addition
    /// to the built-in list of known scanners.
    pub extra_scanner_user_agents: Vec<String>,
    /// Addresses or CIDR networks (e.g. a carrier's or the load balancer's)
    /// that are never rate limited, throttled or banned.
    pub trusted_networks: Vec<String>,
    /// Most source addresses tracked at once (memory bound). Default 100000.
    pub max_tracked_sources: usize,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self {
            rate_limit_per_sec: 100,
            rate_limit_burst: 200,
            auth_failure_window_secs: 600,
            throttle_after_failures: 3,
            throttle_delay_secs: 5,
            ban_after_failures: 10,
            ban_duration_secs: 900,
            extra_scanner_user_agents: Vec::new(),
            trusted_networks: Vec::new(),
            max_tracked_sources: 100_000,
        }
    }
}

/// Digest authentication (RFC 7616 / RFC 8760).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Challenges offered, one `WWW-Authenticate` header each, most preferred
    /// first (RFC 8760 §2.4). Default `["SHA-256", "MD5"]`. Put `MD5` first
    /// for legacy phones that only read the first challenge (sipp 3.6 is one).
    pub algorithms: Vec<DigestAlgorithm>,
    /// Nonce lifetime; an older nonce with a correct response gets a new
    /// challenge with `stale=true`. Default 300.
    pub nonce_ttl_secs: u64,
    /// Key that signs nonces. Nodes behind one address must share it; when
    /// unset a random key is made at start (nonces then die with a restart,
    /// which only costs phones one extra challenge).
    pub nonce_secret: Option<Secret>,
    /// Refuse digest responses without `qop=auth` (RFC 2069 style). Default
    /// true.
    pub require_qop: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            algorithms: vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5],
            nonce_ttl_secs: 300,
            nonce_secret: None,
            require_qop: true,
        }
    }
}

/// Registrar expiry rules.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistrarConfig {
    /// Shorter non-zero expiries get 423 Interval Too Brief. Default 60.
    pub min_expires_secs: u32,
    /// Longer expiries are shortened to this. Default 3600.
    pub max_expires_secs: u32,
    /// Expiry when the REGISTER names none. Default 3600.
    pub default_expires_secs: u32,
    /// Most contacts per agent; registering one more evicts the oldest.
    /// Default 10.
    pub max_contacts_per_aor: usize,
    /// How often expired bindings are swept. Default 1000.
    pub sweep_interval_ms: u64,
    /// Capacity of the registration event channel. Default 1024.
    pub event_capacity: usize,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        Self {
            min_expires_secs: 60,
            max_expires_secs: 3600,
            default_expires_secs: 3600,
            max_contacts_per_aor: 10,
            sweep_interval_ms: 1000,
            event_capacity: 1024,
        }
    }
}

/// Graceful shutdown.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShutdownConfig {
    /// `Retry-After` sent with the 503 that answers new requests while the
    /// server drains. Default 30.
    pub retry_after_secs: u32,
    /// Longest wait for in-flight work (and, later, live calls) before the
    /// sockets close. Default 30.
    pub grace_secs: u64,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self {
            retry_after_secs: 30,
            grace_secs: 30,
        }
    }
}

/// Calls through the B2BUA.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallsConfig {
    /// Most live calls on this node; more are refused (503). Default 10000.
    pub max_calls: usize,
    /// How long an outbound leg may ring before it is cancelled
    /// (`no_answer`). Default 60.
    pub ring_timeout_secs: u32,
    /// Interval of the OPTIONS health check of each trunk (0: off).
    /// Default 30.
    pub trunk_check_secs: u64,
}

impl Default for CallsConfig {
    fn default() -> Self {
        Self {
            max_calls: 10_000,
            ring_timeout_secs: 60,
            trunk_check_secs: 30,
        }
    }
}

/// The media engine (`[media]`): where every call's RTP is anchored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SipMediaConfig {
    /// Address the RTP sockets bind to and our SDP advertises. Default: the
    /// SIP bind address (which must then not be `0.0.0.0`).
    pub ip: Option<IpAddr>,
    /// RTP port range; each leg takes an even port and the odd one above it
    /// (RTCP). Ports another process holds are skipped. Default 20000-29999.
    pub port_min: u16,
    /// Upper end of the RTP port range (inclusive).
    pub port_max: u16,
    /// Seconds without RTP from an answered, unheld leg before the call is
    /// hung up with `media_timeout` (0: never). Default 30.
    pub rtp_timeout_secs: u64,
    /// WAV file played to a held party, looping (any rate, mono or
    /// stereo). Default: none, a generated soft chime is played instead.
    pub hold_music: Option<PathBuf>,
}

impl Default for SipMediaConfig {
    fn default() -> Self {
        Self {
            ip: None,
            port_min: 20_000,
            port_max: 29_999,
            rtp_timeout_secs: 30,
            hold_music: None,
        }
    }
}

/// A secret string: redacted in `Debug`, plain in the config file.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        SipConfig::default().validate().unwrap();
    }

    #[test]
    fn inconsistent_expiry_is_rejected() {
        let mut c = SipConfig::default();
        c.registrar.min_expires_secs = 7200;
        assert!(c.validate().is_err());
    }

    #[test]
    fn bad_trusted_network_is_rejected() {
        let mut c = SipConfig::default();
        c.guard.trusted_networks = vec!["10.0.0.0/33".into()];
        assert!(c.validate().is_err());
        c.guard.trusted_networks = vec!["10.0.0.0/8".into(), "2001:db8::/32".into()];
        c.validate().unwrap();
    }

    #[test]
    fn secrets_are_redacted() {
        let mut c = SipConfig::default();
        c.auth.nonce_secret = Some(Secret("super-secret-value-123".into()));
        assert!(!format!("{c:?}").contains("super-secret"));
    }
}
