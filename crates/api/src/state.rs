//! The shared state every handler sees.

use crate::auth::cache::AuthCache;
use crate::auth::password::Hasher;
use crate::auth::tokens::TokenKeys;
use crate::config::Config;
use crate::middleware::rate_limit::Limiters;
use omnivox_store::Store;
use omnivox_store::seal::Sealer;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Arc<Config>,
    pub store: Store,
    /// Seals and opens the secrets kept in the database.
    pub sealer: Sealer,
    pub keys: TokenKeys,
    pub hasher: Hasher,
    pub cache: AuthCache,
    pub limiters: Limiters,
    /// Set on shutdown: new work is refused with 503 while requests drain.
    pub draining: AtomicBool,
    /// Wakes the import worker when a job is queued.
    pub import_wakeup: tokio::sync::Notify,
    /// DNC lists per tenant and loaded national registries.
    pub compliance: crate::compliance::ComplianceCache,
    /// Fires on shutdown: long-lived responses (event streams) end with it.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// Every state change, per tenant, for live views and integrations.
    pub events: omnivox_events::EventBus,
    /// The SIP endpoint, when enabled.
    pub sip: Option<Arc<omnivox_sip::SipServer>>,
    /// Call recordings' files (`<data_dir>/recordings`).
    pub recordings: omnivox_media::record::LocalStore,
    /// Voicemail messages' files (`<data_dir>/voicemail`), apart from call
    /// recordings so their retention and permissions never mix.
    pub voicemail: omnivox_media::record::LocalStore,
    /// The tenants' ACDs: agent states (`crate::agents`).
    pub agents: crate::agents::AgentService,
    /// The time campaigns dial by (see `crate::dialer::Clock`).
    pub clock: crate::dialer::Clock,
    /// The campaigns' live lines (`crate::dialer::runner`).
    pub runner: crate::dialer::runner::Runner,
    /// Decoded audio of stored prompts, for calls.
    pub prompt_audio: crate::routes::prompts::PromptAudio,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(
        config: Arc<Config>,
        store: Store,
        sealer: Sealer,
        signing_key: &[u8],
        sip: Option<Arc<omnivox_sip::SipServer>>,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> anyhow::Result<Self> {
        let recordings = omnivox_media::record::LocalStore::new(recordings_dir(&config))
            .map_err(|e| anyhow::anyhow!("recordings directory: {e}"))?;
        let voicemail = omnivox_media::record::LocalStore::new(voicemail_dir(&config))
            .map_err(|e| anyhow::anyhow!("voicemail directory: {e}"))?;
        let hasher = Hasher::new(config.auth.argon2_memory_kib, config.auth.argon2_iterations)
            .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        Ok(Self(Arc::new(Inner {
            keys: TokenKeys::new(signing_key),
            hasher,
            cache: AuthCache::new(Duration::from_millis(config.auth.cache_ttl_ms)),
            limiters: Limiters::new(&config.rate_limit),
            draining: AtomicBool::new(false),
            import_wakeup: tokio::sync::Notify::new(),
            compliance: crate::compliance::ComplianceCache::default(),
            shutdown,
            events: omnivox_events::EventBus::default(),
            sip,
            recordings,
            voicemail,
            clock: crate::dialer::Clock::default(),
            runner: crate::dialer::runner::Runner::default(),
            prompt_audio: crate::routes::prompts::PromptAudio::default(),
            agents: crate::agents::AgentService::default(),
            config,
            store,
            sealer,
        })))
    }
}

/// Where call recordings are stored.
pub fn recordings_dir(config: &Config) -> std::path::PathBuf {
    config.storage.data_dir.join("recordings")
}

/// Where voicemail messages are stored.
pub fn voicemail_dir(config: &Config) -> std::path::PathBuf {
    config.storage.data_dir.join("voicemail")
}
