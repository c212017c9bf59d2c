//! The typed configuration: an optional TOML file, then `OMNIVOX__SECTION__KEY`
//! environment variables on top. Secrets are wrapped in [`Secret`], which
//! never prints its value.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use omnivox_store::DbConfig;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::str::FromStr;

/// A value that must not reach logs: `Debug` and `Display` print `[redacted]`.
#[derive(Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub http: HttpConfig,
    pub metrics: MetricsConfig,
    pub database: DbConfig,
    pub auth: AuthConfig,
    pub rate_limit: RateLimitConfig,
    pub log: LogConfig,
    pub bootstrap: BootstrapConfig,
    pub storage: StorageConfig,
    pub imports: ImportConfig,
    pub sip: SipSection,
    pub inbound: InboundConfig,
}

/// Inbound calls: `[inbound]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct InboundConfig {
    /// Calls placed for one callback in queue before it is given up
    /// (a customer who does not answer, or is busy, is tried again).
    pub callback_attempts: u32,
    /// How long a callback whose customer was not reached waits before it
    /// goes back in line (at the end of it).
    pub callback_retry_secs: u64,
    /// Let flow webhooks and voicemail notifications reach loopback and
    /// private addresses (a tenant's URL could otherwise probe Omnivox's
    /// own network). Off by default.
    pub private_webhooks: bool,
    /// Wait before a failed voicemail notification is sent again, doubled
    /// for each further attempt (up to an hour) until a day has passed.
    pub voicemail_notify_retry_secs: u64,
}

impl Default for InboundConfig {
    fn default() -> Self {
        Self {
            callback_attempts: 3,
            callback_retry_secs: 300,
            private_webhooks: false,
            voicemail_notify_retry_secs: 10,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipSection {
    /// Run the SIP endpoint (registrar for agent phones).
    pub enabled: bool,
    /// A tenant's SIP domain is `<tenant slug>.<domain_suffix>`; phones
    /// register as `sip:<user>@acme-sales.omnivox`.
    pub domain_suffix: String,
    /// The endpoint itself: `[sip.server]` (bind address, limits, guard,
    /// digest algorithms, registrar expiry).
    pub server: omnivox_sip::SipConfig,
}

impl Default for SipSection {
    fn default() -> Self {
        Self {
            enabled: true,
            domain_suffix: "omnivox".into(),
            server: omnivox_sip::SipConfig::default(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Where uploaded files, DNC registries (and later recordings) live.
    pub data_dir: std::path::PathBuf,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            data_dir: "omnivox-data".into(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImportConfig {
    /// Largest CSV (or DNC registry) upload, in bytes.
    pub max_upload_bytes: u64,
    /// Rows per committed batch: a batch lands whole or not at all.
    pub batch_rows: usize,
    /// A batch also closes once its rows hold this many bytes of the file's
    /// text, so that wide rows do not multiply the memory of a batch.
    pub batch_bytes: usize,
}

impl Default for ImportConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: 4 * 1024 * 1024 * 1024,
            batch_rows: 10_000,
            batch_bytes: 2 * 1024 * 1024,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub bind: SocketAddr,
    /// The address people reach Omnivox at (used in the setup link).
    pub public_url: String,
    /// Largest accepted request body, in bytes.
    pub body_limit_bytes: usize,
    /// How long in-flight requests get to finish on shutdown, in seconds.
    pub shutdown_grace_secs: u64,
    /// Reverse proxies (addresses or networks) whose `X-Forwarded-For` names
    /// the client. Empty: the header is ignored and the TCP peer is the
    /// client, so nobody can choose the address rate limits, lockouts and
    /// the audit log see.
    pub trusted_proxies: Vec<ProxyNet>,
}

/// A trusted proxy: one address (`10.0.0.5`, `::1`) or a network
/// (`10.0.0.0/8`), written as a string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxyNet(ipnet::IpNet);

impl ProxyNet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip.to_canonical())
    }
}

impl FromStr for ProxyNet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        s.parse::<ipnet::IpNet>()
            .map(|n| n.trunc())
            .or_else(|_| s.parse::<IpAddr>().map(ipnet::IpNet::from))
            .map(Self)
            .map_err(|_| {
                format!("`{s}` is not an address or a network like 10.0.0.0/8 (trusted proxies)")
            })
    }
}

impl fmt::Display for ProxyNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for ProxyNet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ProxyNet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: "http://127.0.0.1:8080".into(),
            body_limit_bytes: 1024 * 1024,
            shutdown_grace_secs: 20,
            trusted_proxies: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub enabled: bool,
    pub bind: SocketAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            bind: SocketAddr::from(([127, 0, 0, 1], 9090)),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Key that signs access tokens. When unset, a random key is generated on
    /// first start and kept in the database, so every node shares it.
    pub token_secret: Option<Secret>,
    /// Key that seals secrets kept in the database (trunk passwords, TOTP
    /// seeds, webhook keys): at least 32 characters. When unset, a random
    /// key is generated on first start into `master.key` in the data
    /// directory; a cluster's nodes must share one (set it here).
    pub master_key: Option<Secret>,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    /// Consecutive failed sign-ins that lock an account.
    pub lockout_threshold: i32,
    pub lockout_secs: u64,
    /// Failed sign-ins from one address within `ip_window_secs` that lock it.
    pub ip_lockout_threshold: i32,
    pub ip_window_secs: u64,
    /// Mark cookies `Secure` (keep on unless testing over plain HTTP on a
    /// non-localhost name).
    pub cookie_secure: bool,
    /// Argon2id cost: memory in KiB and iterations (OWASP: 19456 KiB, 2).
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    /// How long a cached role, session or API key check stays valid, in ms.
    /// Changes made on this node take effect at once; on other nodes within
    /// this time.
    pub cache_ttl_ms: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            token_secret: None,
            master_key: None,
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            lockout_threshold: 5,
            lockout_secs: 15 * 60,
            ip_lockout_threshold: 50,
            ip_window_secs: 15 * 60,
            cookie_secure: true,
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            cache_ttl_ms: 5_000,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    pub enabled: bool,
    /// Requests per second per source address, and the burst above it.
    pub per_ip_per_sec: u32,
    pub per_ip_burst: u32,
    /// Requests per second per user or API key, and the burst above it.
    pub per_principal_per_sec: u32,
    pub per_principal_burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            per_ip_per_sec: 500,
            per_ip_burst: 1000,
            per_principal_per_sec: 50,
            per_principal_burst: 200,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter, e.g. `info` or `omnivox=debug,info`.
    pub level: String,
    /// `auto` (pretty on a terminal, JSON otherwise), `json` or `pretty`.
    pub format: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: "auto".into(),
        }
    }
}

/// Unattended first run: when the database has no user yet and these are
/// set, the first tenant and its owner are created at start-up.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BootstrapConfig {
    pub owner_email: Option<String>,
    #[serde(skip_serializing)]
    pub owner_password: Option<Secret>,
    pub tenant_name: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Load(#[from] Box<figment::Error>),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Defaults, then the TOML file (if given), then `OMNIVOX__*` variables.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Invalid(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            fig = fig.merge(Toml::file(path));
        }
        fig = fig.merge(Env::prefixed("OMNIVOX__").split("__"));
        let cfg: Config = fig.extract().map_err(Box::new)?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        let url = &self.database.url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return bad("database.url must start with sqlite: or postgres://");
        }
        if let Some(s) = &self.auth.token_secret
            && s.expose().len() < 32
        {
            return bad("auth.token_secret must be at least 32 characters");
        }
        if let Some(s) = &self.auth.master_key
            && s.expose().len() < omnivox_store::seal::MIN_KEY_LEN
        {
            return bad("auth.master_key must be at least 32 characters");
        }
        if self.auth.access_token_ttl_secs == 0 || self.auth.refresh_token_ttl_secs == 0 {
            return bad("token lifetimes must be positive");
        }
        if self.auth.lockout_threshold < 1 || self.auth.ip_lockout_threshold < 1 {
            return bad("lockout thresholds must be at least 1");
        }
        if self.auth.argon2_memory_kib < 8 || self.auth.argon2_iterations < 1 {
            return bad("argon2 cost too low (memory_kib >= 8, iterations >= 1)");
        }
        if !(1..=10).contains(&self.inbound.callback_attempts) {
            return bad("inbound.callback_attempts must be 1 to 10");
        }
        if !(1..=3600).contains(&self.inbound.voicemail_notify_retry_secs) {
            return bad("inbound.voicemail_notify_retry_secs must be 1 to 3600");
        }
        if self.http.body_limit_bytes < 1024 {
            return bad("http.body_limit_bytes must be at least 1024");
        }
        if self.rate_limit.enabled
            && (self.rate_limit.per_ip_per_sec == 0 || self.rate_limit.per_principal_per_sec == 0)
        {
            return bad("rate limits must be positive (or set rate_limit.enabled = false)");
        }
        if self.imports.batch_rows == 0 || self.imports.batch_rows > 50_000 {
            return bad("imports.batch_rows must be 1 to 50000");
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.imports.batch_bytes) {
            return bad("imports.batch_bytes must be 1024 to 67108864");
        }
        if self.sip.domain_suffix.is_empty()
            || !self
                .sip
                .domain_suffix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        {
            return bad("sip.domain_suffix must be lowercase letters, digits, dots and dashes");
        }
        if !matches!(self.log.format.as_str(), "auto" | "json" | "pretty") {
            return bad("log.format must be auto, json or pretty");
        }
        let b = &self.bootstrap;
        if b.owner_email.is_some() != b.owner_password.is_some() {
            return bad("bootstrap.owner_email and bootstrap.owner_password go together");
        }
        Ok(())
    }
}

/// The documented example printed by `omnivox default-config`.
pub const DEFAULT_CONFIG_TOML: &str = include_str!("default-config.toml");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_in_debug() {
        let mut c = Config::default();
        c.auth.token_secret = Some(Secret::new("a-very-secret-signing-key-of-32+chars"));
        c.bootstrap.owner_password = Some(Secret::new("hunter2hunter2"));
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("a-very-secret"), "{dbg}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("[redacted]"));
    }

    #[test]
    fn default_config_file_parses_to_the_defaults() {
        let cfg: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(DEFAULT_CONFIG_TOML))
            .extract()
            .unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.http.bind, HttpConfig::default().bind);
        assert_eq!(cfg.database.url, DbConfig::default().url);
        assert_eq!(
            cfg.auth.lockout_threshold,
            AuthConfig::default().lockout_threshold
        );
    }

    #[test]
    fn trusted_proxies_are_addresses_or_networks() {
        let load = |list: &str| {
            Figment::from(Serialized::defaults(Config::default()))
                .merge(Toml::string(&format!("[http]\ntrusted_proxies = {list}\n")))
                .extract::<Config>()
                .map_err(|e| e.to_string())
        };
        let cfg = load(r#"["10.1.2.3/8", "127.0.0.1", " fd00::/8 "]"#).unwrap();
        let nets = &cfg.http.trusted_proxies;
        let shown: Vec<String> = nets.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["10.0.0.0/8", "127.0.0.1/32", "fd00::/8"]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(nets[0].contains(ip("10.200.0.1")));
        assert!(!nets[0].contains(ip("11.0.0.1")));
        assert!(nets[1].contains(ip("::ffff:127.0.0.1")));
        assert!(!nets[1].contains(ip("::1")));
        assert!(nets[2].contains(ip("fd12::1")));
        for bad in ["localhost", "10.0.0.0/33", "", "10.0.0.1, 10.0.0.2", "*"] {
            let e = load(&format!("[\"{bad}\"]")).unwrap_err();
            assert!(
                e.contains("trusted proxies") && e.contains(bad),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        let r: Result<Config, _> = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string("[http]\nbindd = \"127.0.0.1:1\"\n"))
            .extract();
        assert!(r.is_err());
    }

    #[test]
    fn validation_names_the_bad_setting() {
        let mut c = Config::default();
        c.database.url = "mysql://x".into();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("database.url"), "{e}");
        for bytes in [0, 1023, 64 * 1024 * 1024 + 1] {
            let mut c = Config::default();
            c.imports.batch_bytes = bytes;
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains("imports.batch_bytes"), "{bytes}: {e}");
        }
    }
}
