//! One call: the actor task, its legs, and the IO for the machine's actions.
//!
//! `mod.rs` holds the actor's state, the machine's actions, the run loop and
//! the entry points; [`legs`] dials and ends legs, [`events`] reacts to what
//! the legs do, [`commands`] runs API commands, [`start`] begins calls,
//! [`media`] drives the call's media session (SDP, bridging, tones, media
//! events), [`monitor`] mixes a supervisor's leg into the call.

mod application;
mod commands;
mod events;
mod legs;
mod media;
mod monitor;
mod park;
mod recording;
mod start;

pub(crate) use start::{InboundCall, InboundTarget, check_endpoint, originate, start_inbound};

use super::dialog_router::RouteGuard;
use super::model::{
    CallDirection, CallError, CallRecord, CallSnapshot, CallUpdate, Endpoint, LegQuality,
    LegRecord, LegSnapshot, NumberFormat, Originate,
};
use super::sdp::{Direction as SdpDirection, LocalMedia, Origin, RemoteSdp, negotiate};
use super::trunks::{ChannelPermit, TrunkEntry};
use super::util::{format_number, normalize_number, sip_uri};
use super::{CallCommand, CallNotice, CallsInner, LiveCall};
use crate::RecordingPolicy;
use crate::registrar::SipTransport;
use crate::stats::Counters;
use chrono::{DateTime, Utc};
use omnivox_domain::call::{
    Call, CallAction, CallEvent, CallState, Direction, EndMethod, Hangup, HangupCause, LegEvent,
    LegId, LegState, MonitorMode, TimeoutKind,
};
use omnivox_domain::{TenantId, UserId};
use omnivox_media::codec::{Codec, Negotiated};
use omnivox_media::quality::QualityReport;
use omnivox_media::relay::{
    Leg as MediaLeg, LegId as MediaLegId, LegOptions, LegStats, MediaEvent, Session,
};
use rsipstack::dialog::authenticate::Credential;
use rsipstack::dialog::dialog::{DialogState, TerminatedReason, TransactionHandle};
use rsipstack::dialog::invitation::InviteOption;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::{ContentType, Header, Request, StatusCode, Transport};
use rsipstack::transport::SipAddr;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Longest wait for the answer to a re-INVITE or INFO we send.
const IN_DIALOG_TIMEOUT: Duration = Duration::from_secs(8);
/// How long a rejected inbound dialog stays for its ACK.
const REJECTED_DIALOG_LINGER: Duration = Duration::from_secs(5);
/// Longest wait for the final response after our CANCEL.
const CANCEL_GRACE: Duration = Duration::from_secs(34);

/// An API command with its reply channel.
pub(crate) struct Command {
    pub command: CallCommand,
    pub reply: oneshot::Sender<Result<(), CallError>>,
}

/// Everything the actor reacts to.
pub(crate) enum Msg {
    Command(Command),
    /// A dialog state of the leg numbered `seq`.
    Dialog {
        seq: u32,
        state: Box<DialogState>,
    },
    /// The INVITE transaction of an outbound leg ended.
    InviteDone {
        seq: u32,
        outcome: InviteOutcome,
    },
    HangupAll(HangupCause),
    /// The media counters of each leg (tests, diagnostics).
    MediaStats {
        reply: oneshot::Sender<Vec<LegMediaStats>>,
    },
}

/// Media counters of one leg of a live call.
#[derive(Clone, Debug)]
pub struct LegMediaStats {
    /// The leg's slot.
    pub leg: LegId,
    /// Our RTP address for the leg (what its peer was told).
    pub local_rtp: std::net::SocketAddr,
    /// The codec negotiated with the leg, once known.
    pub codec: Option<Codec>,
    /// Packets, drops, latching and quality.
    pub stats: LegStats,
}

pub(crate) enum InviteOutcome {
    Answered(Vec<u8>),
    Failed(u16),
}

/// What a leg is connected to.
#[derive(Clone, Debug)]
enum Party {
    /// A leg that called in (a trunk or a phone).
    Caller,
    Agent {
        agent_id: UserId,
    },
    Number {
        number: String,
        /// Trunks left to try, in order.
        trunks: Vec<Arc<TrunkEntry>>,
    },
}

/// What the media engine plays to a leg on the actor's behalf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tone {
    Ringback,
    Hold,
    /// An application's own music (a queue's), instead of hold music.
    Music,
}

struct LegIo {
    seq: u32,
    dialog: Option<InviteDialog>,
    /// Routes the dialog's states to this actor while the leg is kept.
    _route: Option<RouteGuard>,
    direction: Direction,
    party: Party,
    label: String,
    agent_id: Option<UserId>,
    trunk_id: Option<Uuid>,
    _permit: Option<ChannelPermit>,
    origin: Origin,
    /// The leg's media in the engine (our RTP address for this leg).
    media: MediaLeg,
    /// The peer's last description and what it negotiated.
    remote: Option<RemoteSdp>,
    negotiated: Option<Negotiated>,
    /// The direction of our last description (sendonly while we hold it).
    sent_dir: SdpDirection,
    /// Our last description to the leg.
    shown_body: Option<Vec<u8>>,
    /// A tone the engine plays to the leg.
    tone: Option<Tone>,
    /// An in-band DTMF detector watches the leg (no telephone-event).
    in_band: bool,
    /// Our 2xx carried an offer: the answer comes with the ACK.
    ack_answer: bool,
    started: DateTime<Utc>,
    ringing: Option<DateTime<Utc>>,
    answered: Option<DateTime<Utc>>,
    ring_deadline: Option<Instant>,
    cancel_deadline: Option<Instant>,
    /// The offer to send (outbound legs, kept for failover).
    offer: Vec<u8>,
}

pub(crate) struct Actor {
    inner: Arc<CallsInner>,
    id: Uuid,
    tenant: TenantId,
    call: Call,
    /// Boxed: a call uses two of the four slots at most times.
    slots: [Option<Box<LegIo>>; 4],
    rx: mpsc::UnboundedReceiver<Msg>,
    tx: mpsc::UnboundedSender<Msg>,
    /// The call's media session and its events.
    media: Session,
    media_rx: mpsc::Receiver<MediaEvent>,
    snapshot: Arc<Mutex<CallSnapshot>>,
    /// Who to dial for the next `Dial` action and for B after A answers.
    pending: [Option<Endpoint>; 4],
    caller_id: Option<String>,
    /// Outside numbers go out through this trunk only (a campaign's).
    only_trunk: Option<Uuid>,
    ring_timeout: Duration,
    next_seq: u32,
    records: Vec<LegRecord>,
    /// The media leg of each record (same order), for its final quality.
    record_media: Vec<MediaLegId>,
    /// The latest quality report of each media leg.
    quality: HashMap<MediaLegId, QualityReport>,
    transfer_chain: Vec<String>,
    ringing_at: Option<DateTime<Utc>>,
    max_forwards: u8,
    /// The recording in progress.
    recording: Option<recording::ActiveRecording>,
    /// The tenant's recording policy was applied (at the first bridge).
    policy_checked: bool,
    /// The recording policy of this call's campaign or queue, over the
    /// tenant's.
    recording_policy: Option<RecordingPolicy>,
    /// Answering-machine detection on leg A.
    amd: park::Amd,
    /// A message for leg A before the call ends.
    announcement: Option<park::Announcement>,
    /// Leg A answered with nobody to talk to: hung up at this instant.
    park_deadline: Option<Instant>,
    /// Omnivox answered the caller for this (a queue).
    application: Option<super::model::Application>,
    /// Who the ringing offer is for.
    offered: Option<Endpoint>,
    /// The offer that waits for the previous one to end.
    next_offer: Option<(Endpoint, Duration)>,
}

fn slot_index(leg: LegId) -> usize {
    match leg {
        LegId::A => 0,
        LegId::B => 1,
        LegId::Consult => 2,
        LegId::Monitor => 3,
    }
}

const SLOTS: [LegId; 4] = [LegId::A, LegId::B, LegId::Consult, LegId::Monitor];

/// Capacity of a call's media event channel (the engine queues beyond it).
const MEDIA_EVENTS: usize = 64;

fn content_type_sdp() -> Header {
    Header::ContentType(ContentType::new("application/sdp"))
}

/// The SIP code a terminated dialog stands for.
fn terminated_code(reason: &TerminatedReason) -> Option<u16> {
    match reason {
        TerminatedReason::Timeout => Some(408),
        TerminatedReason::UacCancel => Some(487),
        TerminatedReason::UacBusy | TerminatedReason::UasBusy => Some(486),
        TerminatedReason::UasDecline => Some(603),
        TerminatedReason::ProxyAuthRequired => Some(407),
        TerminatedReason::ProxyError(c)
        | TerminatedReason::UacOther(c)
        | TerminatedReason::UasOther(c) => Some(c.code()),
        TerminatedReason::UacBye | TerminatedReason::UasBye => None,
    }
}

/// Failures after which the next trunk is tried (RFC 3261 §16.7 style:
/// the carrier failed, not the number).
fn fails_over(code: u16) -> bool {
    code == 408 || (500..=599).contains(&code)
}

impl Actor {
    /// A new actor with its media session; `Err` when the engine cannot
    /// start one.
    fn new(
        inner: Arc<CallsInner>,
        tenant: TenantId,
        direction: CallDirection,
        call: Call,
        ring_timeout: Duration,
    ) -> Result<Self, CallError> {
        let (media_tx, media_rx) = mpsc::channel(MEDIA_EVENTS);
        let media = inner.media.session(media_tx).map_err(|e| {
            tracing::warn!(error = %e, "no media session");
            CallError::Unavailable("no media session".into())
        })?;
        let (tx, rx) = mpsc::unbounded_channel();
        let id = Uuid::now_v7();
        let snapshot = Arc::new(Mutex::new(CallSnapshot {
            id,
            tenant_id: tenant,
            direction,
            state: call.state(),
            from: String::new(),
            to: String::new(),
            did: None,
            agent_id: None,
            trunk_id: None,
            started_at: Utc::now(),
            answered_at: None,
            legs: Vec::new(),
            monitor: None,
        }));
        Ok(Self {
            inner,
            id,
            tenant,
            call,
            slots: [None, None, None, None],
            rx,
            tx,
            media,
            media_rx,
            snapshot,
            pending: [None, None, None, None],
            caller_id: None,
            only_trunk: None,
            ring_timeout,
            next_seq: 0,
            records: Vec::new(),
            record_media: Vec::new(),
            quality: HashMap::new(),
            transfer_chain: Vec::new(),
            ringing_at: None,
            max_forwards: 70,
            recording: None,
            policy_checked: false,
            recording_policy: None,
            amd: park::Amd::Off,
            announcement: None,
            park_deadline: None,
            application: None,
            offered: None,
            next_offer: None,
        })
    }

    fn register(&self) {
        self.inner.lock_live().insert(
            self.id,
            LiveCall {
                tenant: self.tenant,
                tx: self.tx.clone(),
                snapshot: self.snapshot.clone(),
            },
        );
    }

    fn slot(&self, leg: LegId) -> Option<&LegIo> {
        self.slots[slot_index(leg)].as_deref()
    }

    fn slot_mut(&mut self, leg: LegId) -> Option<&mut LegIo> {
        self.slots[slot_index(leg)].as_deref_mut()
    }

    fn find_seq(&self, seq: u32) -> Option<LegId> {
        SLOTS
            .into_iter()
            .find(|l| self.slot(*l).is_some_and(|io| io.seq == seq))
    }

    /// A leg with its media leg open; `Err` (503) when no RTP port is free.
    async fn new_leg(
        &mut self,
        direction: Direction,
        party: Party,
        label: String,
        options: LegOptions,
    ) -> Result<LegIo, u16> {
        let media = self.media.open_leg(options).await.map_err(|e| {
            tracing::warn!(call = %self.id, error = %e, "no media leg");
            503u16
        })?;
        let seq = self.next_seq;
        self.next_seq += 1;
        let session = u64::from(seq) + (self.id.as_u128() as u64 & 0xffff_ffff) * 16;
        Ok(LegIo {
            seq,
            dialog: None,
            _route: None,
            direction,
            party,
            label,
            agent_id: None,
            trunk_id: None,
            _permit: None,
            origin: Origin::new(session, self.inner.local.ip()),
            media,
            remote: None,
            negotiated: None,
            sent_dir: SdpDirection::SendRecv,
            shown_body: None,
            tone: None,
            in_band: false,
            ack_answer: false,
            started: Utc::now(),
            ringing: None,
            answered: None,
            ring_deadline: None,
            cancel_deadline: None,
            offer: Vec::new(),
        })
    }

    /// Routes the states of `dialog` to this actor as those of the leg
    /// numbered `seq`, until the guard is dropped.
    fn route_dialog(&self, dialog: &InviteDialog, seq: u32) -> RouteGuard {
        self.inner
            .dialog_states
            .register(&dialog.id(), self.tx.clone(), seq)
    }

    // ----- the machine -----------------------------------------------------

    /// Feeds the machine and performs what it asks.
    async fn apply(&mut self, event: CallEvent) -> Result<(), CallError> {
        let monitor_before = self.call.monitor_mode();
        let t = match self.call.apply(event) {
            Ok(t) => {
                tracing::debug!(call = %self.id, ?event, actions = ?t.actions, "call event");
                t
            }
            Err(e) => {
                tracing::debug!(call = %self.id, error = %e, "call event refused");
                return Err(CallError::Conflict(e.to_string()));
            }
        };
        for change in &t.legs {
            if change.to.is_answered()
                && let Some(io) = self.slot_mut(change.leg)
                && io.answered.is_none()
            {
                io.answered = Some(Utc::now());
            }
        }
        for action in &t.actions {
            self.perform(*action).await;
        }
        self.note_offer(&t.legs);
        let snapshot = self.refresh_snapshot();
        let monitor_changed = self.call.monitor_mode() != monitor_before;
        if t.from != t.to || !t.legs.is_empty() || monitor_changed {
            self.publish(CallUpdate {
                from: t.from,
                to: t.to,
                legs: t.legs,
                call: snapshot,
            });
        }
        Ok(())
    }

    async fn perform(&mut self, action: CallAction) {
        match action {
            CallAction::Provisional { leg, has_sdp, .. } => {
                // 180 without a body; 183 with our answer, the caller then
                // hears the other leg's early media through the engine.
                let body = if has_sdp { self.answer_body(leg) } else { None };
                if body.is_some()
                    && let Some(early) = self.early_peer(leg)
                {
                    self.bridge_media(leg, early).await;
                }
                if let Some(d) = self.slot(leg).and_then(|io| io.dialog.clone()) {
                    let headers = body.as_ref().map(|_| vec![content_type_sdp()]);
                    // rsipstack picks the code from the body.
                    if let Err(e) = d.ringing(headers, body) {
                        tracing::debug!(call = %self.id, error = %e, "provisional not sent");
                    }
                }
            }
            CallAction::Answer { leg } => {
                // Our answer, or our offer when the INVITE had none.
                let body = match self.answer_body(leg) {
                    Some(b) => Some(b),
                    None => self.offer_in_answer(leg, other_leg(leg)),
                };
                if let Some(d) = self.slot(leg).and_then(|io| io.dialog.clone()) {
                    let headers = body.as_ref().map(|_| vec![content_type_sdp()]);
                    if let Err(e) = d.accept(headers, body) {
                        tracing::debug!(call = %self.id, error = %e, "200 OK not sent");
                    }
                }
            }
            // Media meets inside the engine: no re-INVITE of either party,
            // whoever they talked to before (transfers, consults).
            CallAction::Bridge { a, b } => {
                self.bridge_media(a, b).await;
                self.on_bridged().await;
            }
            CallAction::EarlyMedia { from, to } => self.bridge_media(from, to).await,
            CallAction::PlayRingback { leg } => self.play_tone(leg, Tone::Ringback).await,
            CallAction::Hold { leg } => self.hold_leg(leg).await,
            CallAction::Resume { leg } => self.resume_leg(leg).await,
            CallAction::Dial { leg } => {
                let Some(target) = self.pending[slot_index(leg)].take() else {
                    tracing::error!(call = %self.id, ?leg, "dial without a target");
                    return;
                };
                let talks_to = match leg {
                    // The consult leg talks to the transferor; a blind
                    // transfer's new leg to the party that stays.
                    LegId::Consult => self.transferor().unwrap_or(LegId::B),
                    other => other_leg(other),
                };
                let codec = self.codec_of(talks_to);
                if leg != LegId::Monitor && !self.call.offering() {
                    self.transfer_chain.push(endpoint_label(&target));
                }
                if let Err(code) = self.dial(leg, target, codec).await {
                    self.feed_leg(leg, LegEvent::Failure { sip_code: code })
                        .await;
                }
            }
            CallAction::ConsultReplaces { leg } => {
                let consult = self.slots[slot_index(LegId::Consult)].take();
                self.slots[slot_index(leg)] = consult;
            }
            CallAction::End {
                leg,
                hangup,
                method,
            } => self.end_leg(leg, hangup, method),
            CallAction::Mix { mode } => self.mix_monitor(mode).await,
            CallAction::Unmix => self.unmix_monitor().await,
        }
    }

    fn transferor(&self) -> Option<LegId> {
        // During an attended transfer the transferor is the leg not held.
        [LegId::A, LegId::B].into_iter().find(|l| {
            self.call
                .leg(*l)
                .is_some_and(|leg| leg.state() == LegState::Answered)
        })
    }

    /// Applies a leg event; an event the machine refuses is logged only.
    async fn feed_leg(&mut self, leg: LegId, event: LegEvent) {
        let _ = Box::pin(self.apply(CallEvent::Leg { leg, event })).await;
    }

    async fn reinvite(&mut self, leg: LegId, body: Vec<u8>) -> bool {
        let Some(dialog) = self.slot(leg).and_then(|io| io.dialog.clone()) else {
            return false;
        };
        let sent = tokio::time::timeout(
            IN_DIALOG_TIMEOUT,
            dialog.reinvite(Some(vec![content_type_sdp()]), Some(body)),
        )
        .await;
        match sent {
            Ok(Ok(Some(resp)))
                if resp.status_code.kind() == rsipstack::sip::StatusCodeKind::Successful =>
            {
                if let Err(e) = self.take_remote(leg, &resp.body).await {
                    tracing::info!(call = %self.id, ?leg, error = %e, "re-INVITE answer unusable");
                }
                true
            }
            other => {
                let code = match other {
                    Ok(Ok(Some(r))) => Some(r.status_code.code()),
                    _ => None,
                };
                tracing::info!(call = %self.id, ?leg, ?code, "re-INVITE not accepted");
                false
            }
        }
    }
}

impl Actor {
    fn refresh_snapshot(&self) -> CallSnapshot {
        let mut snap = self.snapshot.lock().unwrap_or_else(|p| p.into_inner());
        snap.state = self.call.state();
        snap.monitor = self.call.monitor_mode();
        snap.legs = SLOTS
            .into_iter()
            .filter_map(|l| {
                let io = self.slot(l)?;
                let state = self.call.leg(l)?.state();
                Some(LegSnapshot {
                    leg: l,
                    direction: io.direction,
                    state,
                    party: io.label.clone(),
                    agent_id: io.agent_id,
                    trunk_id: io.trunk_id,
                    started_at: io.started,
                    ringing_at: io.ringing,
                    answered_at: io.answered,
                })
            })
            .collect();
        // The supervisor is neither the call's agent nor on its trunk.
        let ids: Vec<_> = snap
            .legs
            .iter()
            // On a call Omnivox answered, agents are offered it one by one:
            // only the one who answered is the call's agent.
            .filter(|l| {
                l.leg != LegId::Monitor && (self.application.is_none() || l.answered_at.is_some())
            })
            .map(|l| (l.agent_id, l.trunk_id))
            .collect();
        for (agent, trunk) in ids {
            if snap.agent_id.is_none() {
                snap.agent_id = agent;
            }
            if trunk.is_some() {
                snap.trunk_id = trunk;
            }
        }
        if snap.answered_at.is_none() && self.call.state() == CallState::Bridged {
            snap.answered_at = Some(Utc::now());
        }
        snap.clone()
    }

    fn publish(&self, update: CallUpdate) {
        self.publish_notice(CallNotice::Update(Box::new(update)));
    }

    fn publish_notice(&self, notice: CallNotice) {
        let _ = self.inner.notices.send(notice);
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.slots
            .iter()
            .flatten()
            .filter_map(|io| match (io.cancel_deadline, io.ring_deadline) {
                (Some(c), _) => Some(c),
                (None, r) => r,
            })
            .chain(self.park_timer())
            .min()
    }

    async fn on_deadline(&mut self, now: Instant) {
        if self.park_timer().is_some_and(|d| d <= now) {
            self.on_park_timer(now).await;
        }
        for leg in SLOTS {
            let Some(io) = self.slot(leg) else { continue };
            if io.cancel_deadline.is_some_and(|d| d <= now) {
                // No final response after our CANCEL: count it as 487.
                self.feed_leg(leg, LegEvent::Failure { sip_code: 487 })
                    .await;
                if let Some(LegState::Ended(h)) = self.call.leg(leg).map(|l| l.state()) {
                    self.finish_leg(leg, h);
                } else {
                    self.finish_leg(leg, Hangup::new(HangupCause::Cancelled));
                }
            } else if io.ring_deadline.is_some_and(|d| d <= now) {
                if let Some(io) = self.slot_mut(leg) {
                    io.ring_deadline = None;
                }
                self.feed_leg(
                    leg,
                    LegEvent::Timeout {
                        kind: TimeoutKind::NoAnswer,
                    },
                )
                .await;
                // The machine moved the leg to Cancelling; the CANCEL is ours.
                if let Some(LegState::Cancelling { cause }) = self.call.leg(leg).map(|l| l.state())
                {
                    self.end_leg(leg, Hangup::new(cause), EndMethod::Cancel);
                }
            }
        }
    }

    fn done(&self) -> bool {
        self.call.state().is_ended() && self.slots.iter().all(Option::is_none)
    }

    /// Runs until the call has ended and every leg is closed.
    ///
    /// Each handler's future is boxed: inline, the largest of them would
    /// sit in this task for the whole call (9 kB of a held call's memory),
    /// while a box costs one allocation per message.
    async fn run(mut self) {
        let stop = self.inner.stop.clone();
        let _drain = self.inner.drain.token();
        loop {
            self.release_ended_legs();
            if self.done() {
                break;
            }
            if self.next_offer.is_some() {
                Box::pin(self.start_next_offer()).await;
            }
            let deadline = self.next_deadline();
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                msg = self.rx.recv() => match msg {
                    Some(msg) => Box::pin(self.on_msg(msg)).await,
                    None => break,
                },
                Some(event) = self.media_rx.recv() => Box::pin(self.on_media(event)).await,
                _ = sleep => Box::pin(self.on_deadline(Instant::now())).await,
                _ = stop.cancelled() => {
                    let hangup = CallEvent::Hangup { cause: HangupCause::SystemShutdown };
                    let _ = Box::pin(self.apply(hangup)).await;
                    break;
                }
            }
        }
        Box::pin(self.close()).await;
    }

    /// Legs the machine has ended (told of a failure, or ended by a
    /// hangup) leave their slots, except those still waiting for the final
    /// response to our CANCEL.
    fn release_ended_legs(&mut self) {
        let mut released = false;
        for leg in SLOTS {
            let Some(io) = self.slot(leg) else { continue };
            match self.call.leg(leg).map(|l| l.state()) {
                Some(LegState::Ended(h)) if io.cancel_deadline.is_none() => self.finish_leg(leg, h),
                None => self.finish_leg(leg, Hangup::new(HangupCause::Normal)),
                _ => continue,
            }
            released = true;
        }
        // A leg that left a live call (a supervisor, a consult) leaves the
        // snapshot too.
        if released && !self.call.state().is_ended() {
            self.refresh_snapshot();
        }
    }

    async fn on_msg(&mut self, msg: Msg) {
        match msg {
            Msg::Command(Command { command, reply }) => {
                let r = self.run_command(command).await;
                let _ = reply.send(r);
            }
            Msg::Dialog { seq, state } => self.on_dialog(seq, *state).await,
            Msg::InviteDone { seq, outcome } => {
                let answered_a = self
                    .call
                    .leg(LegId::A)
                    .is_some_and(|l| l.state().is_answered());
                self.on_invite_done(seq, outcome).await;
                // Originated call: once A answers, dial B (or detect,
                // or park).
                let now_a = self
                    .call
                    .leg(LegId::A)
                    .is_some_and(|l| l.state().is_answered());
                if !answered_a && now_a {
                    self.on_first_answer().await;
                }
            }
            Msg::HangupAll(cause) => {
                let _ = self.apply(CallEvent::Hangup { cause }).await;
            }
            Msg::MediaStats { reply } => {
                let stats = self.media_stats().await;
                let _ = reply.send(stats);
            }
        }
    }

    async fn dial_second(&mut self) {
        let Some(target) = self.pending[slot_index(LegId::B)].take() else {
            return;
        };
        let codec = self.codec_of(LegId::A);
        let r = self.dial(LegId::B, target, codec).await;
        self.feed_leg(LegId::B, LegEvent::Invite).await;
        if let Err(code) = r {
            self.feed_leg(LegId::B, LegEvent::Failure { sip_code: code })
                .await;
        }
    }

    /// Ends the media session (every port is released) and writes the
    /// call's record.
    async fn close(mut self) {
        for leg in SLOTS {
            if self.slot(leg).is_some() {
                let h = match self.call.leg(leg).map(|l| l.state()) {
                    Some(LegState::Ended(h)) => h,
                    _ => Hangup::new(HangupCause::SystemShutdown),
                };
                self.finish_leg(leg, h);
            }
        }
        let hangup = match self.call.state() {
            CallState::Ended(h) => h,
            _ => Hangup::new(HangupCause::SystemShutdown),
        };
        self.inner.lock_live().remove(&self.id);
        self.finish_recording().await;
        self.close_media().await;
        for (record, media) in self.records.iter_mut().zip(&self.record_media) {
            record.quality = self.quality.get(media).and_then(LegQuality::from_report);
        }
        let call = self.refresh_snapshot();
        self.records.sort_by_key(|r| r.seq);
        self.inner.recorder.ended(CallRecord {
            call,
            ringing_at: self.ringing_at,
            ended_at: Utc::now(),
            hangup,
            transfer_chain: std::mem::take(&mut self.transfer_chain),
            legs: std::mem::take(&mut self.records),
        });
    }
}

fn other_leg(leg: LegId) -> LegId {
    match leg {
        LegId::A => LegId::B,
        LegId::B | LegId::Consult | LegId::Monitor => LegId::A,
    }
}

fn endpoint_label(e: &Endpoint) -> String {
    match e {
        Endpoint::Agent { agent_id } => format!("agent:{agent_id}"),
        Endpoint::Number { number } => number.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::events::parse_dtmf_info;
    use super::*;

    fn info(ct: &str, body: &str) -> Request {
        let text = format!(
            "INFO sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\n\
             From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c\r\nCSeq: 2 INFO\r\n\
             Content-Type: {ct}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        Request::try_from(text.as_str()).unwrap()
    }

    #[test]
    fn dtmf_info_bodies() {
        assert_eq!(
            parse_dtmf_info(&info(
                "application/dtmf-relay",
                "Signal=5\r\nDuration=160\r\n"
            )),
            Some('5')
        );
        assert_eq!(
            parse_dtmf_info(&info("application/dtmf-relay", "Signal= #\r\n")),
            Some('#')
        );
        assert_eq!(parse_dtmf_info(&info("application/dtmf", "a")), Some('A'));
        assert_eq!(parse_dtmf_info(&info("application/dtmf", "55")), None);
        assert_eq!(
            parse_dtmf_info(&info("application/dtmf-relay", "Signal=x")),
            None
        );
        assert_eq!(parse_dtmf_info(&info("text/plain", "5")), None);
    }

    #[test]
    fn failover_codes() {
        assert!(fails_over(503) && fails_over(500) && fails_over(408));
        assert!(!fails_over(486) && !fails_over(404) && !fails_over(603));
    }
}
