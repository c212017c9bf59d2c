//! The RTP relay: legs, sessions, latching, forwarding, transcoding,
//! continuity, playback, analysis, recording, mixing, DTMF and timeouts.
//!
//! # How a call actor uses it
//!
//! ```no_run
//! # use omnivox_media::relay::*;
//! # use omnivox_media::codec::{Codec, Negotiated};
//! # async fn demo(peer_a: std::net::SocketAddr, peer_b: std::net::SocketAddr) -> Result<(), RelayError> {
//! let engine = MediaEngine::new(MediaConfig::default())?;
//! let (events_tx, mut events) = tokio::sync::mpsc::channel(64);
//! let session = engine.session(events_tx)?;            // one per call
//! let a = session.open_leg(LegOptions::default()).await?; // a.local_rtp() goes into our SDP
//! let b = session.open_leg(LegOptions::default()).await?;
//! session.set_remote(a.id(), RemoteMedia::new(peer_a, Negotiated::new(Codec::Pcmu, Some(101)))).await?;
//! session.set_remote(b.id(), RemoteMedia::new(peer_b, Negotiated::new(Codec::Pcma, None))).await?;
//! session.bridge(a.id(), b.id()).await?;               // PCMU <-> PCMA transcoded
//! while let Some(ev) = events.recv().await {
//!     if let MediaEvent::Timeout { .. } = ev { break } // hang up: media_timeout
//! }
//! # Ok(()) }
//! ```
//!
//! # Design
//!
//! * **One task per session.** A session (a call) owns its legs' sockets
//!   and all their state in a single tokio task; nothing is shared with
//!   other sessions, so packets cannot cross calls and the packet path
//!   takes no lock. The [`Session`] handle talks to the task over a bounded
//!   command channel with oneshot replies (control plane only).
//! * **Hot path.** The task polls its legs' RTP and RTCP sockets
//!   round-robin (`poll_recv_from` into one receive buffer per session),
//!   parses the header in place ([`crate::rtp::RtpPacket`]), checks the
//!   source (latching) and payload type, accounts statistics, and writes
//!   the outgoing packet into one send buffer per session: a fresh 12-byte
//!   header (the receiving leg's SSRC/sequence/timestamp line) plus the
//!   payload, copied or transcoded through a 256-byte table. Sends use
//!   `try_send_to`: a full socket buffer drops the packet (counted) rather
//!   than queueing stale audio. Audio is decoded to [`crate::Frame`]s only
//!   for legs that are analysed, recorded or mixed. No allocation per
//!   packet.
//! * **Clocks.** A 20 ms media clock runs only while a leg plays a source,
//!   sends DTMF or is mixed; a housekeeping tick (a quarter of the RTP
//!   timeout, 50 ms..1 s) checks timeouts, sends RTCP, emits periodic
//!   quality and flushes events.
//! * **Latching.** The first valid packet (negotiated payload type) from
//!   the SDP address, or from any address when the leg allows NAT
//!   latching, latches the leg; afterwards other sources are dropped and
//!   counted as spoofed until the next [`Session::set_remote`].
//! * **Continuity.** Each leg has one outgoing SSRC for its lifetime.
//!   When what it hears changes source (bridged party, prompt, DTMF, mix)
//!   the sequence and timestamp offsets are re-anchored so its stream stays
//!   one line (timestamps advance with wall time across the gap) and the
//!   marker bit flags the switch.
//! * **Events** go out on the caller's bounded channel with `try_send`;
//!   when it is full they wait in a small queue flushed on housekeeping, so
//!   a slow call actor never stalls the packet path.

mod command;
mod events;
mod leg;
mod mixing;
mod packet;
mod stream;
mod task;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use thiserror::Error;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};

use crate::codec::{CodecError, Negotiated};
use crate::ports::{PortError, PortPool};
use crate::quality::QualityReport;
use crate::rfc4733::DtmfError;
use crate::{Channel, Detection, Frame, FrameAnalyzer, FrameSource};

use command::Command;
pub use mixing::{FrameMixer, MixMatrix, SumMixer};

/// Errors of the relay's control plane.
#[derive(Debug, Error)]
pub enum RelayError {
    #[error(transparent)]
    Ports(#[from] PortError),
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error(transparent)]
    Dtmf(#[from] DtmfError),
    #[error("socket setup: {0}")]
    Io(#[from] std::io::Error),
    #[error("invalid media config: {0}")]
    Config(&'static str),
    #[error("no tokio runtime to run the session on")]
    NoRuntime,
    #[error("leg {0} is not in this session")]
    UnknownLeg(LegId),
    #[error("leg {0} has no telephone-event payload type negotiated")]
    NoTelephoneEvent(LegId),
    #[error("a leg cannot be bridged to itself")]
    SameLeg,
    #[error("the session has ended")]
    SessionClosed,
}

/// Engine-wide settings.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// Address the RTP sockets bind to and our SDP advertises.
    pub ip: IpAddr,
    /// RTP port range (pairs: even RTP, odd RTCP).
    pub port_min: u16,
    pub port_max: u16,
    /// Silence from a receiving leg after which [`MediaEvent::Timeout`] fires
    /// (`None`: never).
    pub rtp_timeout: Option<Duration>,
    /// Period of [`MediaEvent::Quality`] reports (zero: only the final one).
    pub quality_interval: Duration,
    /// Period of our RTCP reports to each leg.
    pub rtcp_interval: Duration,
    /// RTCP CNAME.
    pub cname: String,
    /// Capacity of each session's command channel.
    pub command_capacity: usize,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port_min: 20_000,
            port_max: 30_000,
            rtp_timeout: Some(Duration::from_secs(30)),
            quality_interval: Duration::from_secs(10),
            rtcp_interval: Duration::from_secs(5),
            cname: "omnivox".into(),
            command_capacity: 32,
        }
    }
}

/// Identifies a leg; unique within the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegId(pub u64);

impl fmt::Display for LegId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "leg-{}", self.0)
    }
}

/// An opened leg: where its peer must send (our SDP's `c=`/`m=` lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leg {
    id: LegId,
    local_rtp: SocketAddr,
}

impl Leg {
    pub fn id(&self) -> LegId {
        self.id
    }
    pub fn local_rtp(&self) -> SocketAddr {
        self.local_rtp
    }
    pub fn local_rtcp(&self) -> SocketAddr {
        SocketAddr::new(self.local_rtp.ip(), self.local_rtp.port() + 1)
    }
}

/// Per-leg choices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegOptions {
    /// Latch on the first valid packet from any source (peer behind NAT);
    /// when false, only the SDP address latches.
    pub latch_any_source: bool,
    /// Overrides [`MediaConfig::rtp_timeout`] for this leg.
    pub rtp_timeout: Option<Duration>,
    /// Pass RFC 4733 events this leg sends on to the legs hearing it
    /// (when they negotiated telephone-event). They are reported as
    /// [`MediaEvent::Dtmf`] either way.
    pub forward_dtmf: bool,
}

impl Default for LegOptions {
    fn default() -> Self {
        Self {
            latch_any_source: true,
            rtp_timeout: None,
            forward_dtmf: true,
        }
    }
}

/// The peer's media direction as its SDP states it (RFC 3264).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    /// We may send to a peer that receives.
    pub fn peer_receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }
    /// The RTP timeout only runs on a full-duplex leg: hold (either side's
    /// sendonly/recvonly, or inactive) suspends it.
    pub fn timeout_applies(self) -> bool {
        self == Direction::SendRecv
    }
}

/// What the peer's SDP says: where it receives and what it negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteMedia {
    pub rtp: SocketAddr,
    /// `a=rtcp` address; RTP port + 1 when absent.
    pub rtcp: Option<SocketAddr>,
    pub negotiated: Negotiated,
    pub direction: Direction,
}

impl RemoteMedia {
    pub fn new(rtp: SocketAddr, negotiated: Negotiated) -> Self {
        Self {
            rtp,
            rtcp: None,
            negotiated,
            direction: Direction::SendRecv,
        }
    }
    pub fn with_direction(mut self, direction: Direction) -> Self {
        self.direction = direction;
        self
    }
    fn rtcp_addr(&self) -> SocketAddr {
        self.rtcp
            .unwrap_or_else(|| SocketAddr::new(self.rtp.ip(), self.rtp.port().wrapping_add(1)))
    }
}

/// Playback choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlayOptions {
    /// A digit from the leg (RFC 4733 or in band) stops the playback.
    pub stop_on_dtmf: bool,
    /// The caller's name for this playback, echoed in its
    /// [`MediaEvent::PlayEnded`] so an end is never taken for a later
    /// playback's.
    pub tag: u64,
}

/// Why a playback ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayEnd {
    /// The source ran out.
    Finished,
    /// The leg sent this digit and the playback stops on DTMF.
    Dtmf(char),
    /// [`Session::stop_play`], a new `play` on the leg, or the leg closed.
    Stopped,
}

/// How a digit reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfVia {
    Rfc4733,
    InBand,
}

/// What the session tells its call actor.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaEvent {
    /// The leg latched onto this source.
    Latched { leg: LegId, source: SocketAddr },
    /// A digit from the leg.
    Dtmf {
        leg: LegId,
        digit: char,
        duration_ms: u32,
        via: DtmfVia,
    },
    /// An analyzer's finding other than a digit (AMD verdict).
    Detection { leg: LegId, detection: Detection },
    /// A playback on the leg ended; `tag` is its [`PlayOptions::tag`].
    PlayEnded {
        leg: LegId,
        reason: PlayEnd,
        tag: u64,
    },
    /// A digit queued with [`Session::send_dtmf`] has been sent.
    DtmfSent { leg: LegId, digit: char },
    /// No RTP from the leg for its timeout: hang up with `media_timeout`.
    Timeout { leg: LegId },
    /// Periodic quality of the leg; `last` when the leg or session closed.
    /// Boxed: each call's event channel holds 32 of these up front.
    Quality {
        leg: LegId,
        report: Box<QualityReport>,
        last: bool,
    },
}

/// The recorder's side of recording: gets each recorded leg's decoded
/// incoming audio, 20 ms at a time, on the session task. It must not block
/// (buffer and write elsewhere).
pub trait RecordSink: Send {
    fn push(&mut self, ch: Channel, frame: &Frame);
}

/// Counters and quality of one leg.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LegStats {
    pub latched: Option<SocketAddr>,
    /// RTP packets accepted from the peer.
    pub received: u64,
    /// RTP packets sent to the peer.
    pub sent: u64,
    pub dropped_malformed: u64,
    pub dropped_unknown_pt: u64,
    pub dropped_spoofed: u64,
    /// Packets that arrived before the peer's SDP was known.
    pub dropped_not_ready: u64,
    /// Sends that failed (socket buffer full, unreachable).
    pub send_errors: u64,
    pub rtcp_received: u64,
    pub rtcp_dropped: u64,
    pub quality: QualityReport,
}

struct EngineInner {
    config: Arc<MediaConfig>,
    ports: PortPool,
    runtime: Option<Handle>,
    next_id: AtomicU64,
}

/// The media engine: a port pool and the configuration; makes sessions.
#[derive(Clone)]
pub struct MediaEngine {
    inner: Arc<EngineInner>,
}

impl MediaEngine {
    /// Sessions run on the runtime current when [`Self::session`] is called.
    pub fn new(config: MediaConfig) -> Result<Self, RelayError> {
        Self::build(config, None)
    }

    /// Sessions run on `runtime` (e.g. a dedicated media runtime).
    pub fn with_runtime(config: MediaConfig, runtime: Handle) -> Result<Self, RelayError> {
        Self::build(config, Some(runtime))
    }

    fn build(config: MediaConfig, runtime: Option<Handle>) -> Result<Self, RelayError> {
        if config.rtp_timeout.is_some_and(|t| t.is_zero()) {
            return Err(RelayError::Config("rtp_timeout must be positive (or none)"));
        }
        if config.rtcp_interval.is_zero() {
            return Err(RelayError::Config("rtcp_interval must be positive"));
        }
        let ports = PortPool::new(config.ip, config.port_min, config.port_max)?;
        Ok(Self {
            inner: Arc::new(EngineInner {
                config: Arc::new(config),
                ports,
                runtime,
                next_id: AtomicU64::new(1),
            }),
        })
    }

    pub fn config(&self) -> &MediaConfig {
        &self.inner.config
    }

    /// The port pool (to watch usage).
    pub fn ports(&self) -> &PortPool {
        &self.inner.ports
    }

    /// Start a session (one per call) reporting on `events`.
    pub fn session(&self, events: mpsc::Sender<MediaEvent>) -> Result<Session, RelayError> {
        let handle = match &self.inner.runtime {
            Some(h) => h.clone(),
            None => Handle::try_current().map_err(|_| RelayError::NoRuntime)?,
        };
        let (tx, rx) = mpsc::channel(self.inner.config.command_capacity.max(1));
        let task = task::SessionTask::new(self.inner.config.clone(), rx, events);
        handle.spawn(task.run());
        Ok(Session {
            tx,
            engine: self.inner.clone(),
        })
    }
}

/// Handle to a session; clone it freely. The session ends (final quality
/// events, ports released) when every handle is dropped or on [`Self::close`].
#[derive(Clone)]
pub struct Session {
    tx: mpsc::Sender<Command>,
    engine: Arc<EngineInner>,
}

type Reply<T> = oneshot::Sender<Result<T, RelayError>>;

impl Session {
    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, RelayError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| RelayError::SessionClosed)?;
        rx.await.map_err(|_| RelayError::SessionClosed)?
    }

    /// Bind a port pair and add a leg.
    pub async fn open_leg(&self, options: LegOptions) -> Result<Leg, RelayError> {
        let pair = self.engine.ports.allocate()?;
        let id = LegId(self.engine.next_id.fetch_add(1, Ordering::Relaxed));
        let local_rtp = pair.rtp_addr();
        self.call(|reply| Command::AddLeg {
            id,
            pair: Box::new(pair),
            options,
            reply,
        })
        .await?;
        Ok(Leg { id, local_rtp })
    }

    /// The peer's SDP (first answer or a re-INVITE): address, codec,
    /// direction. Allows the leg to latch again.
    pub async fn set_remote(&self, leg: LegId, remote: RemoteMedia) -> Result<(), RelayError> {
        remote.negotiated.validate()?;
        self.call(|reply| Command::SetRemote {
            leg,
            remote: Box::new(remote),
            reply,
        })
        .await
    }

    /// Each leg hears the other (payload passthrough, or transcoding).
    pub async fn bridge(&self, a: LegId, b: LegId) -> Result<(), RelayError> {
        if a == b {
            return Err(RelayError::SameLeg);
        }
        self.call(|reply| Command::Bridge { a, b, reply }).await
    }

    /// The leg and whoever it was bridged to stop hearing each other.
    pub async fn unbridge(&self, leg: LegId) -> Result<(), RelayError> {
        self.call(|reply| Command::Unbridge { leg, reply }).await
    }

    /// Play `source` to the leg instead of what it hears, until it ends.
    pub async fn play(
        &self,
        leg: LegId,
        source: Box<dyn FrameSource>,
        options: PlayOptions,
    ) -> Result<(), RelayError> {
        self.call(|reply| Command::Play {
            leg,
            source,
            options,
            reply,
        })
        .await
    }

    pub async fn stop_play(&self, leg: LegId) -> Result<(), RelayError> {
        self.call(|reply| Command::StopPlay { leg, reply }).await
    }

    /// Feed the leg's decoded incoming audio to `analyzer`.
    pub async fn analyze(
        &self,
        leg: LegId,
        analyzer: Box<dyn FrameAnalyzer>,
    ) -> Result<(), RelayError> {
        self.call(|reply| Command::Analyze {
            leg,
            analyzer,
            reply,
        })
        .await
    }

    /// Remove every analyzer of the leg.
    pub async fn stop_analyze(&self, leg: LegId) -> Result<(), RelayError> {
        self.call(|reply| Command::StopAnalyze { leg, reply }).await
    }

    /// Record: each listed leg's incoming audio goes to `sink` on its
    /// channel. Replaces a running recording (its sink is dropped).
    pub async fn record(
        &self,
        sink: Box<dyn RecordSink>,
        channels: Vec<(LegId, Channel)>,
    ) -> Result<(), RelayError> {
        self.call(|reply| Command::Record {
            sink,
            channels,
            reply,
        })
        .await
    }

    /// Stop recording; hands the sink back so the recorder can finish it.
    pub async fn stop_record(&self) -> Result<Option<Box<dyn RecordSink>>, RelayError> {
        self.call(|reply| Command::StopRecord { reply }).await
    }

    /// Send a digit to the leg as RFC 4733 events (queued behind digits
    /// still being sent). The leg must have negotiated telephone-event.
    pub async fn send_dtmf(
        &self,
        leg: LegId,
        digit: char,
        duration: Duration,
    ) -> Result<(), RelayError> {
        crate::rfc4733::event_code(digit)?;
        let duration_ms = u32::try_from(duration.as_millis()).unwrap_or(u32::MAX);
        self.call(|reply| Command::SendDtmf {
            leg,
            digit,
            duration_ms,
            reply,
        })
        .await
    }

    /// Mixed mode: each listener hears the sum of its sources. Legs in the
    /// matrix leave their bridges. Replaces a previous matrix.
    pub async fn mix(&self, matrix: MixMatrix) -> Result<(), RelayError> {
        self.mix_with(matrix, Box::new(SumMixer)).await
    }

    /// [`Self::mix`] with another mixing step.
    pub async fn mix_with(
        &self,
        matrix: MixMatrix,
        mixer: Box<dyn FrameMixer>,
    ) -> Result<(), RelayError> {
        self.call(|reply| Command::Mix {
            matrix,
            mixer,
            reply,
        })
        .await
    }

    /// Leave mixed mode (legs stay unbridged until bridged again).
    pub async fn unmix(&self) -> Result<(), RelayError> {
        self.call(|reply| Command::Unmix { reply }).await
    }

    /// Counters and current quality of a leg.
    pub async fn stats(&self, leg: LegId) -> Result<LegStats, RelayError> {
        self.call(|reply| Command::Stats { leg, reply }).await
    }

    /// Close one leg (final quality event, port pair released).
    pub async fn close_leg(&self, leg: LegId) -> Result<(), RelayError> {
        self.call(|reply| Command::CloseLeg { leg, reply }).await
    }

    /// End the session now (final quality for each leg); other handles get
    /// [`RelayError::SessionClosed`].
    pub async fn close(&self) -> Result<(), RelayError> {
        self.call(|reply| Command::Close { reply }).await
    }
}
