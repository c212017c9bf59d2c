//! `Application::build` binds the sockets (port 0 in tests) and prepares
//! everything; `run_until_stopped` serves until the shutdown token fires.

use crate::auth::tokens::random_token;
use crate::config::Config;
use crate::routes::{self, setup::FirstRun};
use crate::state::AppState;
use anyhow::Context;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use omnivox_store::{Store, idempotency, seal};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub struct Application {
    http: TcpListener,
    metrics: Option<TcpListener>,
    state: AppState,
    first_run: FirstRun,
    shutdown: CancellationToken,
    /// Tells the CDR writer to flush and stop (after the SIP server).
    cdr_done: CancellationToken,
    cdr_writer: Option<tokio::task::JoinHandle<()>>,
}

/// Start-up choices that are not configuration.
#[derive(Clone, Copy, Debug)]
pub struct BuildOptions {
    /// Apply pending migrations (`--skip-migrate` turns this off).
    pub migrate: bool,
    /// Moves the dialer's clock (tests; the server leaves it at zero).
    pub clock_offset: chrono::TimeDelta,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            migrate: true,
            clock_offset: chrono::TimeDelta::zero(),
        }
    }
}

impl Application {
    pub async fn build(config: Config, opts: BuildOptions) -> anyhow::Result<Self> {
        let config = Arc::new(config);
        let store = Store::connect(&config.database)
            .await
            .context("connecting to the database")?;
        if opts.migrate {
            store.migrate().await.context("running migrations")?;
        } else {
            let pending = store.pending_migrations().await?;
            anyhow::ensure!(
                pending == 0,
                "{pending} migration(s) pending; run `omnivox migrate` or start without --skip-migrate"
            );
        }
        let sealer = crate::master_key::load(&config, &store).await?;
        let key = match &config.auth.token_secret {
            Some(s) => s.expose().to_owned(),
            None => seal::token_signing_key(store.writer(), &sealer, || random_token(48)).await?,
        };
        let shutdown = CancellationToken::new();
        let cdr_done = CancellationToken::new();
        let mut cdr_writer = None;
        // Recordings a crash cut short are made valid and listed before any
        // call can start (see `crate::recordings`).
        let recordings =
            omnivox_media::record::LocalStore::new(crate::state::recordings_dir(&config))
                .context("recordings directory")?;
        let repaired = crate::recordings::repair_orphans(&store, &recordings).await?;
        if repaired > 0 {
            tracing::warn!(repaired, "recordings cut by the last run repaired");
        }
        // Voicemail files a crash left without their row, likewise before
        // any call (see `crate::routes::voicemail::repair`).
        let messages = omnivox_media::record::LocalStore::new(crate::state::voicemail_dir(&config))
            .context("voicemail directory")?;
        let removed = crate::routes::voicemail::repair::repair_orphans(&store, &messages).await?;
        if removed > 0 {
            tracing::warn!(
                removed,
                "voicemail files left without a row by the last run removed"
            );
        }
        let sip = if config.sip.enabled {
            use crate::sip::calls;
            // Calls a crash left live are closed before new ones can start.
            calls::close_orphans(&store).await?;
            let directory = crate::sip::StoreDirectory {
                store: store.clone(),
                suffix: config.sip.domain_suffix.clone(),
                sealer: sealer.clone(),
            };
            let (recorder, writer) = calls::StoreRecorder::new(store.clone(), cdr_done.clone());
            cdr_writer = Some(tokio::spawn(writer));
            let hooks = omnivox_sip::CallHooks {
                directory: Arc::new(calls::StoreCallDirectory::new(store.clone())),
                recorder: Arc::new(recorder),
                recordings: Some(Arc::new(recordings)),
                messages: Some(Arc::new(
                    omnivox_media::record::LocalStore::new(crate::state::voicemail_dir(&config))
                        .context("voicemail directory")?,
                )),
            };
            let server = omnivox_sip::SipServer::bind_with(
                config.sip.server.clone(),
                directory,
                hooks,
                shutdown.child_token(),
            )
            .await
            .with_context(|| format!("binding SIP to {}", config.sip.server.bind))?;
            calls::reload_trunks(&store, &sealer, server.calls()).await?;
            Some(Arc::new(server))
        } else {
            None
        };
        let state = AppState::new(
            config.clone(),
            store,
            sealer,
            key.as_bytes(),
            sip,
            shutdown.clone(),
        )?;
        state.clock.set_offset(opts.clock_offset);
        let first_run = routes::setup::prepare_first_run(&state).await?;
        // Dial attempts a crash left open are settled before any campaign runs.
        crate::dialer::recover(&state).await?;

        let http = TcpListener::bind(config.http.bind)
            .await
            .with_context(|| format!("binding HTTP to {}", config.http.bind))?;
        let metrics = if config.metrics.enabled {
            Some(
                TcpListener::bind(config.metrics.bind)
                    .await
                    .with_context(|| format!("binding metrics to {}", config.metrics.bind))?,
            )
        } else {
            None
        };
        Ok(Self {
            http,
            metrics,
            state,
            first_run,
            shutdown,
            cdr_done,
            cdr_writer,
        })
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http
            .local_addr()
            .unwrap_or_else(|_| self.state.config.http.bind)
    }

    /// The SIP endpoint's UDP address, when SIP is enabled.
    pub fn sip_udp_addr(&self) -> Option<SocketAddr> {
        self.state.sip.as_ref().and_then(|s| s.udp_addr())
    }

    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The one-time first-run token, when the database has no user yet.
    pub fn setup_token(&self) -> Option<&str> {
        match &self.first_run {
            FirstRun::Token(t) => Some(t),
            _ => None,
        }
    }

    pub fn first_run(&self) -> &FirstRun {
        &self.first_run
    }

    /// Cancel this token to stop the server gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Self {
            http,
            metrics,
            state,
            shutdown,
            cdr_done,
            cdr_writer,
            ..
        } = self;
        if let Some(listener) = metrics {
            let handle = prometheus();
            let router = axum::Router::new().route(
                "/metrics",
                axum::routing::get(move || {
                    let h = handle.clone();
                    async move { h.render() }
                }),
            );
            let token = shutdown.clone();
            tokio::spawn(async move {
                let served = axum::serve(listener, router)
                    .with_graceful_shutdown(token.cancelled_owned())
                    .await;
                if let Err(e) = served {
                    tracing::error!(error = %e, "metrics listener failed");
                }
            });
        }
        tokio::spawn(housekeeping(state.clone(), shutdown.clone()));
        tokio::spawn(crate::dialer::supervise(state.clone(), shutdown.clone()));
        tokio::spawn(crate::dialer::runner::watch(
            state.clone(),
            shutdown.clone(),
        ));
        tokio::spawn(crate::recordings::retention_task(
            state.clone(),
            shutdown.clone(),
        ));
        tokio::spawn(crate::inbound::voicemail::notify_task(
            state.clone(),
            shutdown.clone(),
        ));
        let importer = tokio::spawn(crate::imports::worker::run(state.clone(), shutdown.clone()));
        tokio::spawn(crate::agents::tick_task(state.clone(), shutdown.clone()));
        crate::inbound::start(&state, shutdown.clone());
        if let Some(sip) = &state.sip {
            tokio::spawn(crate::sip::forward_registrations(
                sip.clone(),
                state.events.clone(),
                shutdown.clone(),
            ));
            tokio::spawn(crate::sip::calls::forward_notices(
                sip.calls().clone(),
                state.events.clone(),
                shutdown.clone(),
            ));
        }

        let grace = Duration::from_secs(state.config.http.shutdown_grace_secs);
        let app = routes::router(state.clone());
        let signal = {
            let token = shutdown.clone();
            let state = state.clone();
            async move {
                token.cancelled().await;
                state.draining.store(true, Ordering::Relaxed);
                tracing::info!("shutting down: refusing new requests, draining");
            }
        };
        let server = axum::serve(
            http,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(signal);
        tokio::select! {
            r = server => r.context("HTTP server")?,
            _ = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!("grace period over; closing remaining connections");
            }
        }
        // An import stops after its current batch; it resumes at next start.
        if tokio::time::timeout(grace, importer).await.is_err() {
            tracing::warn!("import worker still busy after the grace period");
        }
        // Live calls end with the SIP server's drain (their records are
        // queued); then the CDR writer flushes and stops.
        if let Some(sip) = &state.sip {
            let sip_grace = Duration::from_secs(state.config.sip.server.shutdown.grace_secs + 5);
            if tokio::time::timeout(sip_grace, sip.wait()).await.is_err() {
                tracing::warn!("SIP server still busy after its grace period");
            }
        }
        cdr_done.cancel();
        if let Some(writer) = cdr_writer
            && tokio::time::timeout(grace, writer).await.is_err()
        {
            tracing::warn!("call records still being written after the grace period");
        }
        state.store.clone().close().await;
        Ok(())
    }
}

/// The process-wide Prometheus recorder (installed once).
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ])
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (several apps in one
            // test process); this handle still renders its own registry.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Periodic upkeep: forget quiet rate-limit keys, purge old idempotency keys.
async fn housekeeping(state: AppState, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {
                state.limiters.shrink();
                let cutoff = omnivox_store::now() - chrono::Duration::hours(24);
                if let Err(e) = idempotency::purge_before(state.store.writer(), cutoff).await {
                    tracing::warn!(error = %e, "purging idempotency keys");
                }
            }
        }
    }
}
