//! B2BUA call actors and the call-control surface.
//!
//! Every call is one task (the actor) that owns a pure
//! [`omnivox_domain::call::Call`] state machine and up to three legs (A, B,
//! and a consult leg during an attended transfer). Each leg is an rsipstack
//! INVITE dialog: a server dialog for a leg that called in, a client dialog
//! for a leg Omnivox dialled. Everything that happens to a leg (a dialog
//! state, the end of an INVITE transaction, a timer, an API command) reaches
//! the actor as one message on one channel; the actor feeds the machine and
//! performs the actions it returns. No lock is held across an await and no
//! state is shared between calls except the registry of live calls.
//!
//! Media: every call's RTP is anchored in the media engine
//! (`omnivox-media`). The actor owns one media session per call and one
//! media leg per call leg; each peer sees only Omnivox's description
//! ([`sdp`]) with our address and port for its leg, never the other
//! party's. `Bridge` and `EarlyMedia` connect legs inside the engine (so
//! transfers need no re-INVITE of the party that stays), `Hold` plays hold
//! music to the held leg, `PlayRingback` plays ringback ([`tones`]).
//!
//! Recording: `CallCommand::{Start,Stop,Pause,Resume}Recording` (and the
//! tenant's `all` policy, at the first bridge) record A and B into a
//! stereo WAV in the `RecordingStore` of the hooks (customer left, agent
//! right); the finished recording's metadata goes to
//! [`CallRecorder::recording_finished`](model::CallRecorder). The relay
//! feeds a writer thread per recording (see the actor's `recording`
//! module).

pub(crate) mod actor;
pub(crate) mod dialog_router;
pub(crate) mod health;
pub(crate) mod inbound;
pub mod memory;
pub mod model;
pub(crate) mod sdp;
pub(crate) mod tones;
pub(crate) mod trunks;
pub(crate) mod util;

use crate::RecordingPolicy;
use crate::config::CallsConfig;
use crate::registrar::Registrar;
use crate::stats::Counters;
pub use actor::LegMediaStats;
use actor::{Command, Msg};
use model::{
    AmdOutcome, Application, CallDirectory, CallError, CallRecorder, CallSnapshot, CallUpdate,
    Endpoint, Originate, RecordedMessage, Trunk,
};
use omnivox_domain::TenantId;
use omnivox_domain::call::{HangupCause, LegId, MonitorMode};
use omnivox_media::prompt::Prompt;
use rsipstack::dialog::dialog_layer::DialogLayer;
use serde::Serialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use trunks::TrunkTable;
use uuid::Uuid;

/// Something that happened on a call: a state change, or a DTMF digit.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CallNotice {
    /// The call changed state.
    Update(Box<CallUpdate>),
    /// A DTMF digit arrived on a leg (SIP INFO, RFC 4733 or in band).
    Dtmf {
        /// Owner.
        tenant_id: TenantId,
        /// The call.
        call_id: Uuid,
        /// The leg it came from.
        leg: LegId,
        /// `0-9`, `*`, `#`, `A-D`.
        digit: char,
    },
    /// Answering-machine detection judged leg A (an originated call with
    /// `amd`). After a machine verdict a second notice may follow with
    /// `beep_ms` set: the recorder's beep ended then, a message can start.
    Amd {
        /// Owner.
        tenant_id: TenantId,
        /// The call.
        call_id: Uuid,
        /// Who answered.
        outcome: AmdOutcome,
        /// The rule that decided (`human_short_greeting_then_silence`,
        /// `long_greeting`, `beep`, ...).
        reason: &'static str,
        /// Audio analysed from the answer to the decision (ms).
        decision_ms: u32,
        /// When the beep ended, from the answer (ms).
        beep_ms: Option<u32>,
    },
    /// Omnivox answered an inbound call for an application (a DID routed
    /// to a queue or a flow): the caller waits, hearing music, for
    /// [`CallCommand::Offer`], a prompt, or a hangup.
    Answered {
        /// Owner.
        tenant_id: TenantId,
        /// The call.
        call_id: Uuid,
        /// What the call is for.
        application: Application,
        /// The caller's number (E.164 when it parsed).
        caller: String,
        /// The DID dialled.
        did: Option<String>,
    },
    /// An offer ([`CallCommand::Offer`]) is over: the party answered and is
    /// bridged, or it failed, timed out or was withdrawn (`answered` false,
    /// the caller waits on).
    OfferEnded {
        /// Owner.
        tenant_id: TenantId,
        /// The call.
        call_id: Uuid,
        /// Who was offered the call.
        to: Endpoint,
        /// Answered and bridged.
        answered: bool,
        /// Why it failed.
        cause: Option<HangupCause>,
    },
    /// A prompt of [`CallCommand::Play`] ended.
    PromptEnded {
        /// Owner.
        tenant_id: TenantId,
        /// The call.
        call_id: Uuid,
        /// The playback's tag.
        tag: u64,
        /// Why it ended.
        reason: PromptEnd,
    },
    /// A message of [`CallCommand::RecordMessage`] is complete in the
    /// message store: stopped, or the caller hung up.
    MessageRecorded {
        /// Owner.
        tenant_id: TenantId,
        /// The call.
        call_id: Uuid,
        /// The recording's tag.
        tag: u64,
        /// The file and what is in it.
        message: RecordedMessage,
    },
    /// A trunk's OPTIONS health check changed its state.
    TrunkHealth {
        /// Owner of the trunk.
        tenant_id: TenantId,
        /// The trunk.
        trunk_id: Uuid,
        /// Reachable now.
        up: bool,
    },
}

/// Why a prompt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "digit", rename_all = "snake_case")]
pub enum PromptEnd {
    /// It played to the end.
    Finished,
    /// The caller pressed this digit (barge-in).
    Digit(char),
    /// Stopped, replaced, or the leg closed.
    Stopped,
}

impl From<omnivox_media::relay::PlayEnd> for PromptEnd {
    fn from(end: omnivox_media::relay::PlayEnd) -> Self {
        use omnivox_media::relay::PlayEnd;
        match end {
            PlayEnd::Finished => PromptEnd::Finished,
            PlayEnd::Dtmf(d) => PromptEnd::Digit(d),
            PlayEnd::Stopped => PromptEnd::Stopped,
        }
    }
}

impl CallNotice {
    /// The tenant the notice belongs to.
    pub fn tenant_id(&self) -> TenantId {
        match self {
            CallNotice::Update(u) => u.call.tenant_id,
            CallNotice::Dtmf { tenant_id, .. }
            | CallNotice::Amd { tenant_id, .. }
            | CallNotice::Answered { tenant_id, .. }
            | CallNotice::OfferEnded { tenant_id, .. }
            | CallNotice::PromptEnded { tenant_id, .. }
            | CallNotice::MessageRecorded { tenant_id, .. }
            | CallNotice::TrunkHealth { tenant_id, .. } => *tenant_id,
        }
    }
}

/// An operation on a live call (the API's call control).
#[derive(Clone, Debug)]
pub enum CallCommand {
    /// End the call.
    Hangup,
    /// Put a leg on hold (re-INVITE `sendonly`, hold music to it).
    Hold {
        /// The leg to hold.
        leg: LegId,
    },
    /// Take a leg off hold.
    Resume {
        /// The held leg.
        leg: LegId,
    },
    /// `leaving` leaves; `to` is dialled in its place.
    BlindTransfer {
        /// A or B.
        leaving: LegId,
        /// The new party.
        to: Endpoint,
    },
    /// `transferor` consults `to`; the other party is held meanwhile.
    ConsultStart {
        /// A or B.
        transferor: LegId,
        /// The party consulted.
        to: Endpoint,
    },
    /// Connect the held party to the consulted one; the transferor leaves.
    ConsultComplete,
    /// Drop the consult leg and go back to the held party.
    ConsultCancel,
    /// Send DTMF digits on a leg (RFC 4733 when the leg negotiated
    /// telephone-event, SIP INFO otherwise).
    Dtmf {
        /// The leg to send to.
        leg: LegId,
        /// `0-9*#A-D`, at most 32.
        digits: String,
    },
    /// Start recording the call (stereo WAV: customer left, agent right).
    /// Refused when the tenant's policy is `none` or it already records.
    StartRecording,
    /// Finish the recording (its metadata goes to the call recorder).
    StopRecording,
    /// Write silence instead of the parties' audio (card numbers read out).
    PauseRecording,
    /// Capture the audio again.
    ResumeRecording,
    /// Use `policy` for this call instead of the tenant's (the queue a
    /// caller waits in records all, none or on demand). Applied at the
    /// bridge, or at once when the call is bridged already.
    RecordingPolicy {
        /// All, none or on demand.
        policy: RecordingPolicy,
    },
    /// Dial a supervisor into the bridged call (the `monitor` leg); once it
    /// answers it is mixed in as `mode` says. Refused while another
    /// supervisor's leg is live.
    Monitor {
        /// The supervisor (a registered phone or a number via a trunk).
        to: Endpoint,
        /// Listen, whisper or barge.
        mode: MonitorMode,
    },
    /// Dial `to` as leg B of a parked call (leg A answered, no second
    /// party dialled yet): the dialer found the answered customer an agent.
    Connect {
        /// The second party.
        to: Endpoint,
    },
    /// Play `prompt` once to leg A of a parked call, then hang up: the
    /// safe-harbor message, a voice broadcast, a message left on a
    /// recorder. With `after_beep` the message waits for the recorder's
    /// beep (answering-machine detection must run on the call), or for the
    /// detector to stop listening for one.
    Announce {
        /// 8 kHz mono audio.
        prompt: Prompt,
        /// Wait for the beep first.
        after_beep: bool,
    },
    /// Ring `to` for a caller Omnivox answered (see
    /// [`CallNotice::Answered`]); the caller keeps hearing music until `to`
    /// answers and is bridged. An offer still ringing is withdrawn first.
    /// The outcome comes as [`CallNotice::OfferEnded`].
    Offer {
        /// The agent (or number) offered the call.
        to: Endpoint,
        /// How long it may ring.
        ring_timeout_secs: u32,
    },
    /// Withdraw the ringing offer, if there is one (no error otherwise).
    CancelOffer,
    /// Play `prompt` to a caller Omnivox answered (music stops; a prompt
    /// still playing is cut off). Refused once the caller is connected.
    /// Its end comes as [`CallNotice::PromptEnded`] with `tag`.
    Play {
        /// The audio.
        prompt: Prompt,
        /// The caller's name for this playback (not 0).
        tag: u64,
        /// A digit from the caller (RFC 4733 or in band) stops it.
        barge_in: bool,
    },
    /// Stop the prompt playing to the caller, if one is (no error
    /// otherwise; music is not stopped).
    StopPlay,
    /// Music to a caller Omnivox answered (a flow's caller queued, a
    /// queue's announcement over), looped until something else plays.
    Music {
        /// The queue's own music; `None`: the engine's hold music.
        music: Option<Prompt>,
    },
    /// Record a message from a caller Omnivox answered (a voicemail):
    /// leg A alone, a mono WAV in the message store, until
    /// [`CallCommand::StopMessage`] or the caller hangs up; then
    /// [`CallNotice::MessageRecorded`] with `tag`. Refused while the call
    /// is recorded, and when no message store is configured.
    RecordMessage {
        /// The caller's name for this message (not 0).
        tag: u64,
    },
    /// Finish the message being recorded, if one is (no error otherwise).
    StopMessage,
    /// Switch the supervisor's mode (only the mix changes, no re-INVITE).
    MonitorMode {
        /// The new mode.
        mode: MonitorMode,
    },
    /// Hang up the supervisor's leg; the call goes on.
    MonitorStop,
}

/// Health and load of one trunk.
#[derive(Clone, Debug, Serialize)]
pub struct TrunkStatus {
    /// Trunk id.
    pub id: Uuid,
    /// The last OPTIONS check succeeded (true until a check fails).
    pub up: bool,
    /// Calls on it now.
    pub active_channels: u32,
    /// Most simultaneous calls.
    pub max_channels: u32,
    /// Most new calls per second.
    pub max_cps: u32,
}

pub(crate) struct LiveCall {
    pub tenant: TenantId,
    pub tx: mpsc::UnboundedSender<Msg>,
    pub snapshot: Arc<Mutex<CallSnapshot>>,
}

/// State shared by every call.
pub(crate) struct CallsInner {
    pub config: CallsConfig,
    pub dialogs: Arc<DialogLayer>,
    /// Every leg's dialog states, to the actor that owns the leg.
    pub dialog_states: dialog_router::DialogRouter,
    pub trunks: TrunkTable,
    pub registrar: Registrar,
    pub directory: Arc<dyn CallDirectory>,
    pub recorder: Arc<dyn CallRecorder>,
    /// Where recordings are written; `None`: calls cannot be recorded.
    pub recordings: Option<Arc<dyn omnivox_media::record::RecordingStore>>,
    /// Where callers' messages are written; `None`: none are taken.
    pub messages: Option<Arc<dyn omnivox_media::record::RecordingStore>>,
    pub live: Mutex<HashMap<Uuid, LiveCall>>,
    pub notices: broadcast::Sender<CallNotice>,
    /// Our address for Contact headers and SDP origins.
    pub local: SocketAddr,
    /// The media engine: one session per call, one leg per call leg.
    pub media: omnivox_media::relay::MediaEngine,
    /// Ringback and hold music.
    pub tones: tones::Tones,
    pub drain: TaskTracker,
    pub draining: Arc<AtomicBool>,
    pub stop: CancellationToken,
    pub counters: Arc<Counters>,
}

impl CallsInner {
    pub(crate) fn lock_live(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, LiveCall>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Handle to the call layer (cheap to clone).
#[derive(Clone)]
pub struct CallService {
    pub(crate) inner: Arc<CallsInner>,
}

impl std::fmt::Debug for CallService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallService")
            .field("live", &self.inner.lock_live().len())
            .finish()
    }
}

impl CallService {
    /// Places a call: `first` now, `second` once `first` answers.
    pub async fn originate(&self, req: Originate) -> Result<CallSnapshot, CallError> {
        actor::originate(self.inner.clone(), req).await
    }

    /// The tenant's live calls, oldest first.
    pub fn list(&self, tenant: TenantId) -> Vec<CallSnapshot> {
        let mut out: Vec<CallSnapshot> = self
            .inner
            .lock_live()
            .values()
            .filter(|c| c.tenant == tenant)
            .map(|c| c.snapshot.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .collect();
        out.sort_by_key(|c| (c.started_at, c.id));
        out
    }

    /// One live call of the tenant.
    pub fn get(&self, tenant: TenantId, id: Uuid) -> Option<CallSnapshot> {
        let live = self.inner.lock_live();
        live.get(&id)
            .filter(|c| c.tenant == tenant)
            .map(|c| c.snapshot.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }

    /// Runs `command` on a live call of `tenant`.
    pub async fn command(
        &self,
        tenant: TenantId,
        id: Uuid,
        command: CallCommand,
    ) -> Result<(), CallError> {
        let tx = {
            let live = self.inner.lock_live();
            live.get(&id)
                .filter(|c| c.tenant == tenant)
                .map(|c| c.tx.clone())
                .ok_or(CallError::NotFound)?
        };
        let (reply, rx) = oneshot::channel();
        tx.send(Msg::Command(Command { command, reply }))
            .map_err(|_| CallError::NotFound)?;
        rx.await.map_err(|_| CallError::NotFound)?
    }

    /// Media counters of each leg of a live call of `tenant` (packets
    /// relayed, drops, latching, quality).
    pub async fn media_stats(
        &self,
        tenant: TenantId,
        id: Uuid,
    ) -> Result<Vec<LegMediaStats>, CallError> {
        let tx = {
            let live = self.inner.lock_live();
            live.get(&id)
                .filter(|c| c.tenant == tenant)
                .map(|c| c.tx.clone())
                .ok_or(CallError::NotFound)?
        };
        let (reply, rx) = oneshot::channel();
        tx.send(Msg::MediaStats { reply })
            .map_err(|_| CallError::NotFound)?;
        rx.await.map_err(|_| CallError::NotFound)
    }

    /// Calls notices from now on (all tenants; filter by
    /// [`CallNotice::tenant_id`]).
    pub fn subscribe(&self) -> broadcast::Receiver<CallNotice> {
        self.inner.notices.subscribe()
    }

    /// Replaces the trunk table (every tenant's enabled trunks).
    pub fn set_trunks(&self, trunks: Vec<Trunk>) {
        self.inner.trunks.set(trunks);
    }

    /// Health and load of the tenant's trunks.
    pub fn trunk_status(&self, tenant: TenantId) -> Vec<TrunkStatus> {
        self.inner
            .trunks
            .for_tenant(tenant)
            .iter()
            .map(|e| TrunkStatus {
                id: e.trunk.id,
                up: e.is_up(),
                active_channels: e.active(),
                max_channels: e.trunk.max_channels,
                max_cps: e.trunk.max_cps,
            })
            .collect()
    }

    /// SIP dialogs the node keeps (two per bridged call; a dialog that
    /// ended is dropped once its last transaction is done).
    pub fn dialog_count(&self) -> usize {
        self.inner.dialogs.len()
    }

    /// RTP port pairs the media engine has handed out (two per bridged
    /// call; zero once every call has ended).
    pub fn media_ports_in_use(&self) -> usize {
        self.inner.media.ports().in_use()
    }

    /// Number of live calls on this node.
    pub fn live_count(&self) -> usize {
        self.inner.lock_live().len()
    }

    /// Hangs up every live call with `cause` (used at shutdown).
    pub fn hangup_all(&self, cause: HangupCause) {
        for call in self.inner.lock_live().values() {
            let _ = call.tx.send(Msg::HangupAll(cause));
        }
    }
}
