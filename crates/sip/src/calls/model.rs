//! The call layer's public types: trunks, DID routes, what a call is made
//! of, snapshots and updates, call records, and the seams to the rest of
//! Omnivox ([`CallDirectory`], [`CallRecorder`]).

use crate::config::Secret;
use crate::directory::DirectoryError;
use crate::registrar::SipTransport;
use chrono::{DateTime, Utc};
use omnivox_domain::call::{CallState, Direction, Hangup, LegChange, LegId, LegState, MonitorMode};
use omnivox_domain::trunk::SourceNet;
pub use omnivox_domain::trunk::{CallerIdMode, NumberFormat};
use omnivox_domain::{TenantId, UserId};
pub use omnivox_media::amd::AmdConfig;
use serde::Serialize;
use std::future::Future;
use std::pin::Pin;
use uuid::Uuid;

/// Inbound digest credentials of a trunk (HA1 hashes with the tenant's
/// SIP domain as realm).
#[derive(Clone, PartialEq, Eq)]
pub struct TrunkCredentials {
    /// The user name the carrier authenticates with.
    pub username: String,
    /// MD5(username:realm:password).
    pub ha1_md5: String,
    /// SHA-256(username:realm:password).
    pub ha1_sha256: String,
}

impl std::fmt::Debug for TrunkCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrunkCredentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A carrier trunk as the call layer uses it.
#[derive(Clone, Debug)]
pub struct Trunk {
    /// Stable id (CDRs and events name it).
    pub id: Uuid,
    /// Owner.
    pub tenant_id: TenantId,
    /// Human name.
    pub name: String,
    /// Carrier host name or address.
    pub host: String,
    /// Carrier port.
    pub port: u16,
    /// Transport towards the carrier.
    pub transport: SipTransport,
    /// Outbound digest user, when the carrier challenges.
    pub username: Option<String>,
    /// Outbound digest password.
    pub password: Option<Secret>,
    /// From user part when the caller ID goes in PAI (the account number).
    pub from_user: Option<String>,
    /// From host; the carrier host when absent.
    pub from_domain: Option<String>,
    /// Where the caller ID goes.
    pub caller_id: CallerIdMode,
    /// How numbers are written.
    pub number_format: NumberFormat,
    /// Digits put in front of the dialled number.
    pub tech_prefix: String,
    /// Most simultaneous calls through this trunk.
    pub max_channels: u32,
    /// Most new calls per second through this trunk.
    pub max_cps: u32,
    /// Failover order (lower first).
    pub priority: i32,
    /// Sources allowed to send calls in on this trunk.
    pub allowed_sources: Vec<TrunkSource>,
    /// Digest credentials a carrier may use instead of a known source.
    pub inbound: Option<TrunkCredentials>,
}

/// A source allowed to send calls in on a trunk: an address or network,
/// optionally with a port (`203.0.113.7`, `203.0.113.0/24`,
/// `203.0.113.7:5060`, `[2001:db8::7]:5060`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrunkSource {
    net: SourceNet,
    port: Option<u16>,
}

impl TrunkSource {
    /// Parses one of the forms above; `None` if invalid.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if let Ok(addr) = s.parse::<std::net::SocketAddr>() {
            return Some(Self {
                net: addr.ip().to_string().parse().ok()?,
                port: Some(addr.port()),
            });
        }
        Some(Self {
            net: s.parse().ok()?,
            port: None,
        })
    }

    /// True when `source` is covered.
    pub fn matches(&self, source: std::net::SocketAddr) -> bool {
        self.net.contains(source.ip()) && self.port.is_none_or(|p| p == source.port())
    }
}

impl From<SourceNet> for TrunkSource {
    fn from(net: SourceNet) -> Self {
        Self { net, port: None }
    }
}

/// What a DID routes to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DidTarget {
    /// Ring this agent's registered phone.
    Agent {
        /// The agent.
        agent_id: UserId,
    },
    /// Forward to an outside number through the tenant's trunks.
    Number {
        /// E.164 number.
        number: String,
    },
    /// Answered by Omnivox and queued for the tenant's agents (ACD).
    Queue {
        /// The queue.
        queue_id: Uuid,
    },
    /// Answered by Omnivox and run through the flow's published version.
    Flow {
        /// The IVR flow.
        flow_id: Uuid,
    },
}

/// What Omnivox answers a call for itself (instead of dialling a party):
/// the application then drives the call with offers and prompts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Application {
    /// Wait in a queue for an agent (the caller hears music).
    Queue {
        /// The queue.
        queue_id: Uuid,
    },
    /// An IVR flow: prompts ([`super::CallCommand::Play`]), digits, then a
    /// route (an offer, music while queued, or a hangup). The caller hears
    /// silence until the first prompt.
    Flow {
        /// The flow (its published version runs).
        flow_id: Uuid,
    },
}

/// Longest time a caller answered for an [`Application`] stays without an
/// agent before Omnivox hangs up (the queue's own maximum wait is normally
/// far shorter).
pub const APPLICATION_LIMIT: std::time::Duration = std::time::Duration::from_secs(4 * 3600);

/// A DID and where it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DidRoute {
    /// The owner of the number.
    pub tenant_id: TenantId,
    /// The number, E.164.
    pub number: String,
    /// The destination.
    pub target: DidTarget,
}

/// One party of a call Omnivox places.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Endpoint {
    /// An agent's registered phone.
    Agent {
        /// The agent.
        agent_id: UserId,
    },
    /// An outside number (E.164), dialled through the tenant's trunks.
    Number {
        /// E.164 number.
        number: String,
    },
}

/// A call to place: `first` is dialled, and once it answers `second` is.
/// Customer first (the dialer): `first` is the number. Agent first
/// (click-to-call, preview): `first` is the agent.
#[derive(Clone, Debug)]
pub struct Originate {
    /// Owner of the call.
    pub tenant_id: TenantId,
    /// Dialled first (leg A).
    pub first: Endpoint,
    /// Dialled when `first` answers (leg B). `None` parks the answered
    /// call: leg A hears silence until [`super::CallCommand::Connect`]
    /// names its second party or [`super::CallCommand::Announce`] plays it
    /// a message (the dialer's power, predictive and agentless lines). A
    /// call parked for [`PARK_LIMIT`] is hung up.
    pub second: Option<Endpoint>,
    /// Caller ID shown to outside numbers (E.164).
    pub caller_id: Option<String>,
    /// Ring timeout per leg; the configured default when `None`.
    pub ring_timeout_secs: Option<u32>,
    /// Answering-machine detection on leg A from its answer: the verdict
    /// is published as [`super::CallNotice::Amd`], and `second` is dialled
    /// only after a human (or unsure) verdict; after a machine verdict the
    /// call stays parked for the caller to hang up or leave a message.
    pub amd: Option<AmdConfig>,
    /// Outside numbers of this call go out through this trunk of the
    /// tenant only (a campaign's trunk); `None`: any of the tenant's trunks,
    /// in order, with failover.
    pub trunk_id: Option<Uuid>,
    /// This call's recording policy instead of the tenant's (a campaign's
    /// own); `None`: the tenant's.
    pub recording: Option<RecordingPolicy>,
}

/// Longest time an answered call waits parked for a second party or a
/// message before it is hung up.
pub const PARK_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Who answered, as answering-machine detection judged it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AmdOutcome {
    /// A person: connect them.
    Human,
    /// A recorder, a carrier message or a fax.
    Machine,
    /// Nothing conclusive in time: treated like a person.
    Unsure,
}

impl AmdOutcome {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            AmdOutcome::Human => "human",
            AmdOutcome::Machine => "machine",
            AmdOutcome::Unsure => "unsure",
        }
    }
}

/// Why a refusal of the dial policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialRefusal {
    /// Stable code (`premium_rate`, `international_not_allowed`, ...).
    pub code: String,
    /// Human text.
    pub message: String,
}

/// A leg as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct LegSnapshot {
    /// Slot.
    pub leg: LegId,
    /// Inbound (a UAS leg) or outbound (a UAC leg).
    pub direction: Direction,
    /// State.
    pub state: LegState,
    /// The other party: a number or `agent:<user>`.
    pub party: String,
    /// The agent on this leg.
    pub agent_id: Option<UserId>,
    /// The trunk this leg uses.
    pub trunk_id: Option<Uuid>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// First 18x.
    pub ringing_at: Option<DateTime<Utc>>,
    /// 200 OK.
    pub answered_at: Option<DateTime<Utc>>,
}

/// A live call as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct CallSnapshot {
    /// Call id.
    pub id: Uuid,
    /// Owner.
    pub tenant_id: TenantId,
    /// `inbound` (from a trunk or phone) or `outbound` (originated).
    pub direction: CallDirection,
    /// State.
    pub state: CallState,
    /// Calling party (number or `agent:<user>`).
    pub from: String,
    /// Called party.
    pub to: String,
    /// The DID it came in on.
    pub did: Option<String>,
    /// The agent of the call (the first one when several took part).
    pub agent_id: Option<UserId>,
    /// The trunk used (the last one when several).
    pub trunk_id: Option<Uuid>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When both parties were first connected.
    pub answered_at: Option<DateTime<Utc>>,
    /// Every live leg.
    pub legs: Vec<LegSnapshot>,
    /// How the supervisor on the `monitor` leg takes part, while one is
    /// dialled or connected.
    pub monitor: Option<MonitorMode>,
}

/// Direction of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallDirection {
    /// Came in from a trunk or a phone.
    Inbound,
    /// Placed by Omnivox (API, dialer).
    Outbound,
}

impl CallDirection {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            CallDirection::Inbound => "inbound",
            CallDirection::Outbound => "outbound",
        }
    }
}

/// A call changed state (published for every transition).
#[derive(Clone, Debug, Serialize)]
pub struct CallUpdate {
    /// State before.
    pub from: CallState,
    /// State after.
    pub to: CallState,
    /// Leg changes, in order.
    pub legs: Vec<LegChange>,
    /// The call after the change.
    pub call: CallSnapshot,
}

/// One leg's record, written when the call ends.
#[derive(Clone, Debug, Serialize)]
pub struct LegRecord {
    /// Slot the leg had (`a`, `b`, `consult`, `monitor`).
    pub leg: LegId,
    /// Order of the leg within the call (0 for the first).
    pub seq: u32,
    /// Inbound or outbound.
    pub direction: Direction,
    /// The other party.
    pub party: String,
    /// Trunk used.
    pub trunk_id: Option<Uuid>,
    /// Agent on the leg.
    pub agent_id: Option<UserId>,
    /// Timestamps.
    pub started_at: DateTime<Utc>,
    /// First 18x.
    pub ringing_at: Option<DateTime<Utc>>,
    /// 200 OK.
    pub answered_at: Option<DateTime<Utc>>,
    /// End.
    pub ended_at: DateTime<Utc>,
    /// How it ended.
    pub hangup: Hangup,
    /// Its media quality over the call (none when no RTP came from it).
    pub quality: Option<LegQuality>,
}

/// A leg's media quality over its life: the media engine's last report
/// (receive side, with what RTCP told about the other direction).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LegQuality {
    /// RTP packets received from the leg and sent to it.
    pub packets_received: u64,
    /// RTP packets sent to the leg.
    pub packets_sent: u64,
    /// Packets lost on the way to us, and as a percentage (the worse of the
    /// two directions when RTCP reported the other one).
    pub packets_lost: i64,
    /// Loss in percent.
    pub loss_percent: f64,
    /// Interarrival jitter (RFC 3550).
    pub jitter_ms: f64,
    /// Round trip from RTCP, when the peer sent reports.
    pub rtt_ms: Option<f64>,
    /// E-model (ITU-T G.107) rating and the MOS it maps to.
    pub r_factor: f64,
    /// Mean opinion score (1-4.5).
    pub mos: f64,
}

impl LegQuality {
    /// The report as a record; `None` when the leg never sent RTP (a
    /// rating of nothing would read as perfect).
    pub(crate) fn from_report(r: &omnivox_media::quality::QualityReport) -> Option<Self> {
        (r.packets_received > 0).then(|| Self {
            packets_received: r.packets_received,
            packets_sent: r.packets_sent,
            packets_lost: r.packets_lost,
            loss_percent: r.loss_percent.max(r.remote_loss_percent.unwrap_or(0.0)),
            jitter_ms: r.jitter_ms,
            rtt_ms: r.rtt_ms,
            r_factor: r.r_factor,
            mos: r.mos,
        })
    }
}

/// A finished call.
#[derive(Clone, Debug, Serialize)]
pub struct CallRecord {
    /// The call at its end (state Ended).
    pub call: CallSnapshot,
    /// First 18x on any leg.
    pub ringing_at: Option<DateTime<Utc>>,
    /// End.
    pub ended_at: DateTime<Utc>,
    /// How it ended.
    pub hangup: Hangup,
    /// Parties the call was transferred to, in order.
    pub transfer_chain: Vec<String>,
    /// Every leg that took part.
    pub legs: Vec<LegRecord>,
}

/// Boxed future used by the object-safe seams.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the call layer looks up DIDs and dialing rules.
pub trait CallDirectory: Send + Sync + 'static {
    /// The route of `number` (E.164), whichever tenant owns it.
    fn did_route<'a>(
        &'a self,
        number: &'a str,
    ) -> BoxFuture<'a, Result<Option<DidRoute>, DirectoryError>>;

    /// Whether `tenant` may dial `number` (E.164): the toll-fraud guard.
    fn check_dial<'a>(
        &'a self,
        tenant: TenantId,
        number: &'a str,
    ) -> BoxFuture<'a, Result<Result<(), DialRefusal>, DirectoryError>>;

    /// The SIP user name of an agent (to find the agent's registrations).
    fn agent_user<'a>(
        &'a self,
        tenant: TenantId,
        agent: UserId,
    ) -> BoxFuture<'a, Result<Option<String>, DirectoryError>>;

    /// When `tenant`'s calls are recorded (asked once per call, at bridge).
    fn recording_policy(
        &self,
        tenant: TenantId,
    ) -> BoxFuture<'_, Result<RecordingPolicy, DirectoryError>>;
}

/// When a tenant's calls are recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingPolicy {
    /// Every call, from the moment its parties are bridged.
    All,
    /// Never: start requests are refused.
    None,
    /// Only when asked (`CallCommand::StartRecording`).
    #[default]
    OnDemand,
}

/// A call leg that was recorded, and on which side of the stereo file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RecordedLeg {
    /// The leg's slot when it was recorded.
    pub leg: LegId,
    /// `customer` (left) or `agent` (right).
    pub channel: RecordedChannel,
}

/// A side of a stereo recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordedChannel {
    /// Left.
    Customer,
    /// Right.
    Agent,
}

/// The storage key of a call's recording: the call id is part of it, so a
/// file a crash left without its row still names its call.
pub fn recording_key(
    tenant: TenantId,
    call: Uuid,
    recording: Uuid,
) -> Result<omnivox_media::record::RecordingKey, omnivox_media::record::RecordError> {
    omnivox_media::record::RecordingKey::new(tenant.0.to_string(), format!("{call}_{recording}"))
}

/// The call and recording ids in a key made by [`recording_key`].
pub fn parse_recording_key(
    key: &omnivox_media::record::RecordingKey,
) -> Option<(TenantId, Uuid, Uuid)> {
    let tenant = key.tenant().parse().ok().map(TenantId)?;
    let (call, rec) = key.recording().split_once('_')?;
    Some((tenant, call.parse().ok()?, rec.parse().ok()?))
}

/// A recording that ended (stopped, or its call ended): the file is
/// complete in the recording store under `meta.key`.
#[derive(Clone, Debug)]
pub struct FinishedRecording {
    /// The recording's id (the row's id).
    pub id: Uuid,
    /// The call it belongs to.
    pub call_id: Uuid,
    /// Owner.
    pub tenant_id: TenantId,
    /// When recording started.
    pub started_at: DateTime<Utc>,
    /// Legs recorded (every leg that was on the call while recording).
    pub legs: Vec<RecordedLeg>,
    /// Length, size, sha256, paused spans and the storage key.
    pub meta: omnivox_media::record::RecordingMeta,
}

/// A caller's message ([`super::CallCommand::RecordMessage`]): a mono
/// 16-bit 8 kHz WAV in the message store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecordedMessage {
    /// The message's id (part of its key).
    pub id: Uuid,
    /// The key's tenant part and recording part (`<call>_<id>`), joined by
    /// `/`.
    pub storage_key: String,
    /// Length of the audio.
    pub duration_ms: u64,
    /// How much of it the caller spoke (20 ms frames above the speech
    /// threshold): 0 for a caller who hung up at the beep.
    pub voiced_ms: u64,
    /// Size of the file.
    pub size_bytes: u64,
    /// sha256 of the file (hex).
    pub sha256: String,
}

/// Where call records go. Both calls must return at once (queue the work):
/// they run on the call's own task.
pub trait CallRecorder: Send + Sync + 'static {
    /// A call began (so it can be closed as `system_shutdown` after a crash).
    fn started(&self, call: &CallSnapshot);
    /// A call ended.
    fn ended(&self, record: CallRecord);
    /// A recording of a call was finished (stopped or the call ended).
    fn recording_finished(&self, recording: FinishedRecording);
}

/// Error of a call command.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No such live call in this tenant.
    #[error("no such call")]
    NotFound,
    /// The call cannot do that in its state.
    #[error("{0}")]
    Conflict(String),
    /// Bad argument.
    #[error("{0}")]
    Invalid(String),
    /// The dial policy forbids the number.
    #[error("{}", .0.message)]
    Forbidden(DialRefusal),
    /// Too many calls, or the node is draining.
    #[error("{0}")]
    Unavailable(String),
}
