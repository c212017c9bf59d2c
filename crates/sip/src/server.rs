//! The server handle: binds the sockets, wires the rsipstack endpoint, the
//! entry path, the router and the registrar, and drains on shutdown.

use crate::auth::Authenticator;
use crate::calls::memory::{MemoryCallDirectory, MemoryRecorder};
use crate::calls::model::{CallDirectory, CallRecorder};
use crate::calls::trunks::TrunkTable;
use crate::calls::{CallService, CallsInner};
use crate::config::SipConfig;
use crate::directory::Directory;
use crate::error::{SipError, stack_error};
use crate::guard::Guard;
use crate::nonce::NonceSigner;
use crate::registrar::Registrar;
use crate::router::{self, Shared};
use crate::stats::{Counters, SipStats};
use crate::transport::{tcp, udp};
use rsipstack::EndpointBuilder;
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::sip::Method;
use rsipstack::transport::TransportLayer;
use rsipstack::transport::udp::UdpConnection;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;

/// The media engine of `media`: RTP on `media.ip`, or on the SIP address.
fn media_engine(
    media: &crate::config::SipMediaConfig,
    sip: SocketAddr,
) -> Result<omnivox_media::relay::MediaEngine, SipError> {
    let ip = media.ip.unwrap_or(sip.ip());
    if ip.is_unspecified() {
        return Err(SipError::Config(
            "media.ip must be set when the SIP bind address is a wildcard".into(),
        ));
    }
    let config = omnivox_media::relay::MediaConfig {
        ip,
        port_min: media.port_min,
        port_max: media.port_max,
        // 0: no timeout.
        rtp_timeout: (media.rtp_timeout_secs > 0)
            .then(|| Duration::from_secs(media.rtp_timeout_secs)),
        ..Default::default()
    };
    omnivox_media::relay::MediaEngine::new(config)
        .map_err(|e| SipError::Config(format!("media: {e}")))
}

/// A running SIP endpoint with its registrar.
///
/// Lifecycle: [`SipServer::bind`] binds UDP and TCP and starts serving. When
/// the `shutdown` token given to `bind` is cancelled the server *drains*:
/// new requests get `503 Service Unavailable` with `Retry-After`, while work
/// holding a [`DrainGuard`] (live calls, later) finishes, for at most
/// `shutdown.grace_secs`. Then the sockets close and [`SipServer::wait`]
/// returns. Dropping the handle stops the server at once.
pub struct SipServer {
    shared: Arc<Shared>,
    udp_addr: Option<SocketAddr>,
    tcp_addr: Option<SocketAddr>,
    stop: CancellationToken,
    tasks: TaskTracker,
    drain: TaskTracker,
    counters: Arc<Counters>,
}

/// The call layer's seams to the rest of the application.
pub struct CallHooks {
    /// DIDs, dial policy, agents' SIP user names.
    pub directory: Arc<dyn CallDirectory>,
    /// Where call records (and finished recordings' metadata) go.
    pub recorder: Arc<dyn CallRecorder>,
    /// Where call recordings are written; `None` disables recording.
    pub recordings: Option<Arc<dyn omnivox_media::record::RecordingStore>>,
    /// Where callers' messages (voicemail) are written; `None`: no
    /// messages are taken.
    pub messages: Option<Arc<dyn omnivox_media::record::RecordingStore>>,
}

/// Keeps a draining server from closing (up to its grace period). Call
/// actors will hold one per live call.
#[derive(Debug)]
pub struct DrainGuard {
    _token: TaskTrackerToken,
}

impl std::fmt::Debug for SipServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SipServer")
            .field("udp_addr", &self.udp_addr)
            .field("tcp_addr", &self.tcp_addr)
            .field("draining", &self.is_draining())
            .finish()
    }
}

impl SipServer {
    /// Validates `config`, binds the sockets and starts serving.
    ///
    /// `directory` supplies the agents' credentials; `shutdown` starts the
    /// drain (pass a child of the application's token).
    pub async fn bind<D: Directory>(
        config: SipConfig,
        directory: D,
        shutdown: CancellationToken,
    ) -> Result<Self, SipError> {
        let hooks = CallHooks {
            directory: Arc::new(MemoryCallDirectory::new()),
            recorder: Arc::new(MemoryRecorder::new()),
            recordings: None,
            messages: None,
        };
        Self::bind_with(config, directory, hooks, shutdown).await
    }

    /// Like [`Self::bind`], with the call layer's seams: where DIDs and the
    /// dial policy are looked up and where call records go.
    pub async fn bind_with<D: Directory>(
        config: SipConfig,
        directory: D,
        hooks: CallHooks,
        shutdown: CancellationToken,
    ) -> Result<Self, SipError> {
        config.validate()?;
        let config = Arc::new(config);
        let counters = Arc::new(Counters::default());
        let guard = Arc::new(Guard::new(&config.guard, counters.clone()));
        let signer = NonceSigner::new(
            config.auth.nonce_secret.as_ref().map(|s| s.0.as_bytes()),
            config.auth.nonce_ttl_secs,
        )?;
        let auth = Authenticator::new(
            signer,
            config.auth.algorithms.clone(),
            config.auth.require_qop,
            Arc::new(directory),
        );
        let registrar = Registrar::new(config.registrar.clone());

        let udp_socket = match config.udp {
            true => Some(Arc::new(bind_udp(config.bind).await?)),
            false => None,
        };
        let udp_addr = udp_socket.as_ref().and_then(|s| s.local_addr().ok());
        let tcp_listener = match config.tcp {
            true => Some(bind_tcp(config.bind, udp_addr).await?),
            false => None,
        };
        let tcp_addr = tcp_listener.as_ref().and_then(|l| l.local_addr().ok());

        let stop = CancellationToken::new();
        let transport_layer = TransportLayer::new(stop.child_token());
        let udp_conn = match &udp_socket {
            Some(s) => {
                let shim = Arc::new(udp::SendOnlySocket(s.clone()));
                let conn = UdpConnection::from_socket(shim, None, Some(stop.child_token()))
                    .await
                    .map_err(stack_error)?;
                transport_layer.add_transport(conn.clone().into());
                Some(conn)
            }
            None => None,
        };
        let endpoint = EndpointBuilder::new()
            .with_user_agent(&config.server_name)
            .with_transport_layer(transport_layer)
            .with_cancel_token(stop.child_token())
            .with_allows(vec![
                Method::Invite,
                Method::Ack,
                Method::Cancel,
                Method::Bye,
                Method::Options,
                Method::Register,
                Method::Info,
                Method::Refer,
                Method::Notify,
                Method::Update,
            ])
            .build();
        let incoming = endpoint.incoming_transactions().map_err(stack_error)?;
        let inner = endpoint.inner.clone();
        let draining = Arc::new(AtomicBool::new(false));
        let drain = TaskTracker::new();
        let local = udp_addr.or(tcp_addr).unwrap_or(config.bind);
        let media = media_engine(&config.media, local)?;
        let tones = crate::calls::tones::Tones::load(config.media.hold_music.as_deref())?;
        let calls = CallService {
            inner: Arc::new(CallsInner {
                config: config.calls.clone(),
                dialogs: Arc::new(DialogLayer::new(inner.clone())),
                dialog_states: crate::calls::dialog_router::DialogRouter::start(),
                trunks: TrunkTable::default(),
                registrar: registrar.clone(),
                directory: hooks.directory,
                recorder: hooks.recorder,
                recordings: hooks.recordings,
                messages: hooks.messages,
                live: Mutex::new(HashMap::new()),
                notices: broadcast::channel(4096).0,
                local,
                media,
                tones,
                drain: drain.clone(),
                draining: draining.clone(),
                stop: stop.clone(),
                counters: counters.clone(),
            }),
        };

        let shared = Arc::new(Shared {
            config: config.clone(),
            guard,
            auth,
            registrar,
            calls,
            draining,
            local_addrs: udp_addr.into_iter().chain(tcp_addr).collect(),
            stop: stop.clone(),
        });
        let tasks = TaskTracker::new();

        tasks.spawn(async move { endpoint.serve().await });
        if let (Some(socket), Some(conn)) = (udp_socket, udp_conn) {
            tasks.spawn(udp::serve(
                socket,
                conn,
                inner.clone(),
                shared.clone(),
                stop.clone(),
            ));
        }
        if let Some(listener) = tcp_listener {
            tasks.spawn(tcp::serve(
                listener,
                inner.clone(),
                shared.clone(),
                stop.clone(),
                tasks.clone(),
            ));
        }
        tasks.spawn(router::run(
            shared.clone(),
            incoming,
            stop.clone(),
            tasks.clone(),
            drain.clone(),
        ));
        tasks.spawn(sweeper(shared.clone(), stop.clone()));
        tasks.spawn(crate::calls::health::run(shared.calls.inner.clone()));
        tasks.spawn(supervise_shutdown(
            shared.clone(),
            shutdown,
            stop.clone(),
            drain.clone(),
        ));
        tracing::info!(?udp_addr, ?tcp_addr, "SIP server listening");
        Ok(Self {
            shared,
            udp_addr,
            tcp_addr,
            stop,
            tasks,
            drain,
            counters,
        })
    }

    /// The bound UDP address, if UDP is enabled.
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp_addr
    }

    /// The bound TCP address, if TCP is enabled.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// The registrar (registration state and events).
    pub fn registrar(&self) -> &Registrar {
        &self.shared.registrar
    }

    /// The call layer: originate, list, control calls; trunks.
    pub fn calls(&self) -> &CallService {
        &self.shared.calls
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> SipStats {
        self.counters.snapshot()
    }

    /// True once shutdown started (new requests get 503).
    pub fn is_draining(&self) -> bool {
        self.shared.draining.load(Ordering::Acquire)
    }

    /// Holds off the end of a drain until dropped (or the grace period ends).
    pub fn drain_guard(&self) -> DrainGuard {
        DrainGuard {
            _token: self.drain.token(),
        }
    }

    /// Waits until the server has stopped (after a drain, or [`Self::abort`]).
    pub async fn wait(&self) {
        self.stop.cancelled().await;
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// Stops at once, without draining.
    pub fn abort(&self) {
        self.stop.cancel();
    }
}

impl Drop for SipServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn bind_udp(addr: SocketAddr) -> Result<UdpSocket, SipError> {
    UdpSocket::bind(addr)
        .await
        .map_err(|source| SipError::Bind {
            transport: "UDP",
            addr,
            source,
        })
}

/// Binds TCP on `addr`; with port 0, first tries the UDP port so both
/// transports share one port number.
async fn bind_tcp(addr: SocketAddr, udp: Option<SocketAddr>) -> Result<TcpListener, SipError> {
    if addr.port() == 0
        && let Some(u) = udp
        && let Ok(l) = TcpListener::bind(SocketAddr::new(addr.ip(), u.port())).await
    {
        return Ok(l);
    }
    TcpListener::bind(addr)
        .await
        .map_err(|source| SipError::Bind {
            transport: "TCP",
            addr,
            source,
        })
}

/// Expires bindings and prunes the guard's table.
async fn sweeper(shared: Arc<Shared>, stop: CancellationToken) {
    let period = Duration::from_millis(shared.config.registrar.sweep_interval_ms);
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = Instant::now();
        shared.registrar.sweep(now);
        shared.guard.prune(now);
    }
}

/// On `shutdown`: drain, wait for drain guards up to the grace period, stop.
async fn supervise_shutdown(
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    stop: CancellationToken,
    drain: TaskTracker,
) {
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = stop.cancelled() => return,
    }
    shared.draining.store(true, Ordering::Release);
    tracing::info!("SIP server draining");
    drain.close();
    let grace = Duration::from_secs(shared.config.shutdown.grace_secs);
    if tokio::time::timeout(grace, drain.wait()).await.is_err() {
        tracing::warn!("SIP drain grace period over; closing with work in flight");
    }
    stop.cancel();
    tracing::info!("SIP server stopped");
}
