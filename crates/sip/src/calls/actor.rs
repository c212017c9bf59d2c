//! One call: the actor task, its legs, and the IO for the machine's actions.

use super::model::{
    CallDirection, CallError, CallRecord, CallSnapshot, CallUpdate, Endpoint, LegRecord,
    LegSnapshot, NumberFormat, Originate,
};
use super::sdp::{self, Direction as SdpDirection, Origin};
use super::trunks::{ChannelPermit, TrunkEntry};
use super::util::{format_number, normalize_number, sip_uri};
use super::{CallCommand, CallNotice, CallsInner, LiveCall};
use crate::registrar::SipTransport;
use crate::stats::Counters;
use chrono::{DateTime, Utc};
use omnivox_domain::call::{
    Call, CallAction, CallEvent, CallState, Direction, EndMethod, Hangup, HangupCause, LegEvent,
    LegId, LegState, TimeoutKind,
};
use omnivox_domain::{TenantId, UserId};
use rsipstack::dialog::authenticate::Credential;
use rsipstack::dialog::dialog::{DialogState, TerminatedReason, TransactionHandle};
use rsipstack::dialog::invitation::InviteOption;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::{ContentType, Header, Request, StatusCode, Transport};
use rsipstack::transport::SipAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Longest wait for the answer to a re-INVITE or INFO we send.
const IN_DIALOG_TIMEOUT: Duration = Duration::from_secs(8);
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

/// A session description received from a leg, with an id that changes only
/// when its media (c= and m= lines) change.
#[derive(Clone, Debug)]
struct Sdp {
    id: u64,
    key: String,
    body: Vec<u8>,
}

struct LegIo {
    seq: u32,
    dialog: Option<InviteDialog>,
    direction: Direction,
    party: Party,
    label: String,
    agent_id: Option<UserId>,
    trunk_id: Option<Uuid>,
    _permit: Option<ChannelPermit>,
    origin: Origin,
    remote: Option<Sdp>,
    /// Id of the peer description this leg has now, and what we sent it.
    shown: Option<u64>,
    shown_body: Option<Vec<u8>>,
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
    slots: [Option<LegIo>; 3],
    rx: mpsc::UnboundedReceiver<Msg>,
    tx: mpsc::UnboundedSender<Msg>,
    snapshot: Arc<Mutex<CallSnapshot>>,
    /// Who to dial for the next `Dial` action and for B after A answers.
    pending: [Option<Endpoint>; 3],
    caller_id: Option<String>,
    ring_timeout: Duration,
    next_seq: u32,
    next_sdp: u64,
    records: Vec<LegRecord>,
    transfer_chain: Vec<String>,
    ringing_at: Option<DateTime<Utc>>,
    max_forwards: u8,
}

fn slot_index(leg: LegId) -> usize {
    match leg {
        LegId::A => 0,
        LegId::B => 1,
        LegId::Consult => 2,
    }
}

const SLOTS: [LegId; 3] = [LegId::A, LegId::B, LegId::Consult];

fn media_key(body: &[u8]) -> String {
    std::str::from_utf8(body)
        .map(|t| {
            t.lines()
                .filter(|l| l.starts_with("c=") || l.starts_with("m="))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

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
    fn new(
        inner: Arc<CallsInner>,
        tenant: TenantId,
        direction: CallDirection,
        call: Call,
        ring_timeout: Duration,
    ) -> Self {
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
        }));
        Self {
            inner,
            id,
            tenant,
            call,
            slots: [None, None, None],
            rx,
            tx,
            snapshot,
            pending: [None, None, None],
            caller_id: None,
            ring_timeout,
            next_seq: 0,
            next_sdp: 0,
            records: Vec::new(),
            transfer_chain: Vec::new(),
            ringing_at: None,
            max_forwards: 70,
        }
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
        self.slots[slot_index(leg)].as_ref()
    }

    fn slot_mut(&mut self, leg: LegId) -> Option<&mut LegIo> {
        self.slots[slot_index(leg)].as_mut()
    }

    fn find_seq(&self, seq: u32) -> Option<LegId> {
        SLOTS
            .into_iter()
            .find(|l| self.slot(*l).is_some_and(|io| io.seq == seq))
    }

    fn new_leg(&mut self, direction: Direction, party: Party, label: String) -> LegIo {
        let seq = self.next_seq;
        self.next_seq += 1;
        let session = u64::from(seq) + (self.id.as_u128() as u64 & 0xffff_ffff) * 16;
        LegIo {
            seq,
            dialog: None,
            direction,
            party,
            label,
            agent_id: None,
            trunk_id: None,
            _permit: None,
            origin: Origin::new(session, self.inner.local.ip()),
            remote: None,
            shown: None,
            shown_body: None,
            started: Utc::now(),
            ringing: None,
            answered: None,
            ring_deadline: None,
            cancel_deadline: None,
            offer: Vec::new(),
        }
    }

    fn remember_sdp(&mut self, leg: LegId, body: &[u8]) {
        if body.is_empty() {
            return;
        }
        let key = media_key(body);
        let next = self.next_sdp + 1;
        let Some(io) = self.slot_mut(leg) else { return };
        match &mut io.remote {
            Some(s) if s.key == key => s.body = body.to_vec(),
            _ => {
                io.remote = Some(Sdp {
                    id: next,
                    key,
                    body: body.to_vec(),
                });
                self.next_sdp = next;
            }
        }
    }

    /// Spawns the task that tags the dialog's states with the leg's number.
    fn watch_dialog(&self, seq: u32, mut states: mpsc::UnboundedReceiver<DialogState>) {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            while let Some(state) = states.recv().await {
                if tx
                    .send(Msg::Dialog {
                        seq,
                        state: Box::new(state),
                    })
                    .is_err()
                {
                    break;
                }
            }
        });
    }

    // ----- the machine -----------------------------------------------------

    /// Feeds the machine and performs what it asks.
    async fn apply(&mut self, event: CallEvent) -> Result<(), CallError> {
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
        self.publish(CallUpdate {
            from: t.from,
            to: t.to,
            legs: t.legs,
            call: self.refresh_snapshot(),
        });
        Ok(())
    }

    async fn perform(&mut self, action: CallAction) {
        match action {
            CallAction::Provisional { leg, code, has_sdp } => {
                let body = if has_sdp {
                    self.peer_body_for(leg)
                } else {
                    None
                };
                if let Some(d) = self.slot(leg).and_then(|io| io.dialog.clone()) {
                    let headers = body.as_ref().map(|_| vec![content_type_sdp()]);
                    // 180 without a body, 183 with the peer's early media.
                    let _ = code;
                    if let Err(e) = d.ringing(headers, body) {
                        tracing::debug!(call = %self.id, error = %e, "provisional not sent");
                    }
                }
            }
            CallAction::Answer { leg } => {
                let body = self.peer_body_for(leg);
                if let Some(d) = self.slot(leg).and_then(|io| io.dialog.clone()) {
                    let headers = body.as_ref().map(|_| vec![content_type_sdp()]);
                    if let Err(e) = d.accept(headers, body) {
                        tracing::debug!(call = %self.id, error = %e, "200 OK not sent");
                    }
                }
            }
            CallAction::Bridge { a, b } => {
                self.sync_media(a, b).await;
                self.sync_media(b, a).await;
            }
            CallAction::Hold { leg } => {
                self.reinvite_own(leg, SdpDirection::SendOnly).await;
            }
            CallAction::Resume { leg } => {
                // Resume straight onto the party the leg will be bridged
                // with (after a transfer that is a new one), so the Bridge
                // that follows has nothing left to do.
                let peer = other_leg(leg);
                if self.slot(peer).is_some_and(|io| io.remote.is_some()) {
                    let shown = self.slot(leg).and_then(|io| io.shown);
                    let peer_sdp = self
                        .slot(peer)
                        .and_then(|io| io.remote.as_ref().map(|s| s.id));
                    if shown != peer_sdp {
                        self.sync_media(leg, peer).await;
                        return;
                    }
                }
                self.reinvite_own(leg, SdpDirection::SendRecv).await;
            }
            CallAction::Dial { leg } => {
                let Some(target) = self.pending[slot_index(leg)].take() else {
                    tracing::error!(call = %self.id, ?leg, "dial without a target");
                    return;
                };
                let offer_from = match leg {
                    // The consult leg talks to the transferor; a blind
                    // transfer's new leg to the party that stays.
                    LegId::Consult => self.transferor().unwrap_or(LegId::B),
                    other => other_leg(other),
                };
                let offer = self.slot(offer_from).and_then(|io| io.remote.clone());
                self.transfer_chain.push(endpoint_label(&target));
                if let Err(code) = self.dial(leg, target, offer).await {
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
            CallAction::PlayRingback { .. } | CallAction::EarlyMedia { .. } => {
                // Media arrives with the media engine; the caller hears its
                // own ringback (or the carrier's early media) meanwhile.
            }
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

    /// The peer's description rewritten for `leg` (noting that `leg` has it).
    fn peer_body_for(&mut self, leg: LegId) -> Option<Vec<u8>> {
        let peer = match leg {
            LegId::Consult => self.transferor()?,
            l => {
                let other = other_leg(l);
                if self.slot(LegId::Consult).is_some()
                    && self.call.leg(other).map(|x| x.state()) == Some(LegState::Held)
                {
                    LegId::Consult
                } else {
                    other
                }
            }
        };
        let sdp = self.slot(peer)?.remote.clone()?;
        let io = self.slot_mut(leg)?;
        let body = io.origin.rewrite(&sdp.body, None);
        io.shown = Some(sdp.id);
        io.shown_body = Some(body.clone());
        Some(body)
    }

    /// Gives `leg` the current description of `peer` when it has an older
    /// one (re-INVITE), so their media meet.
    async fn sync_media(&mut self, leg: LegId, peer: LegId) {
        let Some(sdp) = self.slot(peer).and_then(|io| io.remote.clone()) else {
            return;
        };
        let Some(io) = self.slot_mut(leg) else { return };
        if io.shown == Some(sdp.id) {
            return;
        }
        let body = io.origin.rewrite(&sdp.body, Some(SdpDirection::SendRecv));
        io.shown = Some(sdp.id);
        io.shown_body = Some(body.clone());
        self.reinvite(leg, body).await;
    }

    /// Re-INVITEs `leg` with what it was last sent, in `direction`.
    async fn reinvite_own(&mut self, leg: LegId, direction: SdpDirection) {
        let Some(io) = self.slot_mut(leg) else { return };
        let Some(last) = io.shown_body.clone() else {
            return;
        };
        let body = io.origin.rewrite(&last, Some(direction));
        io.shown_body = Some(body.clone());
        self.reinvite(leg, body).await;
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
                let answer = resp.body.clone();
                self.remember_sdp(leg, &answer);
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

    // ----- legs --------------------------------------------------------------

    /// Sends the INVITE of an outbound leg in `leg`'s slot. On an immediate
    /// failure returns the SIP code to report.
    async fn dial(&mut self, leg: LegId, target: Endpoint, offer: Option<Sdp>) -> Result<(), u16> {
        let (party, label, agent_id) = match &target {
            Endpoint::Agent { agent_id } => (
                Party::Agent {
                    agent_id: *agent_id,
                },
                format!("agent:{agent_id}"),
                Some(*agent_id),
            ),
            Endpoint::Number { number } => (
                Party::Number {
                    number: number.clone(),
                    trunks: self.inner.trunks.for_tenant(self.tenant),
                },
                number.clone(),
                None,
            ),
        };
        let mut io = self.new_leg(Direction::Outbound, party, label);
        io.agent_id = agent_id;
        io.offer = match &offer {
            Some(sdp) => io.origin.rewrite(&sdp.body, Some(SdpDirection::SendRecv)),
            None => io.origin.placeholder(),
        };
        io.shown = offer.map(|s| s.id);
        io.shown_body = Some(io.offer.clone());
        io.ring_deadline = Some(Instant::now() + self.ring_timeout);
        self.slots[slot_index(leg)] = Some(io);
        self.send_invite(leg).await
    }

    /// Sends (or re-sends on the next trunk) the INVITE of `leg`.
    async fn send_invite(&mut self, leg: LegId) -> Result<(), u16> {
        let Some(io) = self.slot_mut(leg) else {
            return Err(500);
        };
        io.dialog = None;
        io._permit = None;
        let party = io.party.clone();
        let offer = io.offer.clone();
        let (opt, permit, trunk_id) = match party {
            Party::Caller => return Err(500),
            Party::Agent { agent_id } => (self.agent_invite(agent_id, offer).await?, None, None),
            Party::Number { number, trunks } => {
                let (opt, permit, trunk_id, rest) = self.trunk_invite(&number, trunks, offer)?;
                if let Some(Party::Number { trunks, .. }) =
                    self.slot_mut(leg).map(|io| &mut io.party)
                {
                    *trunks = rest;
                }
                (opt, Some(permit), Some(trunk_id))
            }
        };
        let (state_tx, state_rx) = mpsc::unbounded_channel();
        let (dialog, handle) = match self.inner.dialogs.do_invite_async(opt, state_tx) {
            Ok(x) => x,
            Err(e) => {
                tracing::info!(call = %self.id, error = %e, "INVITE not sent");
                return Err(503);
            }
        };
        let seq = {
            let Some(io) = self.slot_mut(leg) else {
                return Err(500);
            };
            io.dialog = Some(dialog);
            io._permit = permit;
            if trunk_id.is_some() {
                io.trunk_id = trunk_id;
            }
            io.seq
        };
        self.watch_dialog(seq, state_rx);
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let outcome = match handle.await {
                Ok(Ok((_, Some(resp)))) if resp.status_code.code() < 300 => {
                    InviteOutcome::Answered(resp.body)
                }
                Ok(Ok((_, Some(resp)))) => InviteOutcome::Failed(resp.status_code.code()),
                Ok(Ok((_, None))) => InviteOutcome::Failed(408),
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "INVITE failed");
                    InviteOutcome::Failed(503)
                }
                Err(_) => InviteOutcome::Failed(500),
            };
            let _ = tx.send(Msg::InviteDone { seq, outcome });
        });
        Ok(())
    }

    fn contact_uri(&self, user: &str) -> rsipstack::sip::Uri {
        sip_uri(user, &self.inner.local.to_string()).unwrap_or_default()
    }

    async fn agent_invite(&self, agent: UserId, offer: Vec<u8>) -> Result<InviteOption, u16> {
        let user = match self.inner.directory.agent_user(self.tenant, agent).await {
            Ok(Some(u)) => u,
            Ok(None) => return Err(404),
            Err(e) => {
                tracing::warn!(error = %e, "agent lookup failed");
                return Err(503);
            }
        };
        // The most recently registered contact of the agent.
        let Some(binding) = self
            .inner
            .registrar
            .bindings(self.tenant, &user)
            .into_iter()
            .max_by_key(|b| b.registered_at)
        else {
            return Err(480);
        };
        let callee = rsipstack::sip::Uri::try_from(binding.contact.as_str()).map_err(|_| 480u16)?;
        let transport = match binding.transport {
            SipTransport::Udp => Transport::Udp,
            SipTransport::Tcp => Transport::Tcp,
        };
        let caller_user = self.caller_id.clone().unwrap_or_else(|| "omnivox".into());
        Ok(InviteOption {
            caller: self.contact_uri(&caller_user),
            callee,
            destination: Some(SipAddr {
                r#type: Some(transport),
                addr: binding.target.into(),
            }),
            content_type: Some("application/sdp".into()),
            offer: Some(offer),
            contact: self.contact_uri("omnivox"),
            headers: Some(vec![self.max_forwards_header()]),
            ..Default::default()
        })
    }

    #[allow(clippy::type_complexity)]
    fn trunk_invite(
        &self,
        number: &str,
        trunks: Vec<Arc<TrunkEntry>>,
        offer: Vec<u8>,
    ) -> Result<(InviteOption, ChannelPermit, Uuid, Vec<Arc<TrunkEntry>>), u16> {
        let now = Instant::now();
        let mut rest = trunks.into_iter();
        let mut last_busy = None;
        for entry in rest.by_ref() {
            let permit = match entry.try_take(now) {
                Ok(p) => p,
                Err(busy) => {
                    tracing::info!(call = %self.id, trunk = %entry.trunk.name, reason = busy.text(), "trunk skipped");
                    last_busy = Some(busy);
                    continue;
                }
            };
            let t = &entry.trunk;
            let dialled = format!(
                "{}{}",
                t.tech_prefix,
                format_number(t.number_format, number)
            );
            let hostport = format!("{}:{}", t.host, t.port);
            let Ok(callee) = sip_uri(&dialled, &hostport) else {
                continue;
            };
            let cid = self.caller_id.clone();
            let cid_formatted = cid.as_deref().map(|c| format_number(t.number_format, c));
            let from_host = t.from_domain.clone().unwrap_or_else(|| t.host.clone());
            let from_user = match t.caller_id {
                super::model::CallerIdMode::Pai => t.from_user.clone(),
                _ => cid_formatted.clone().or_else(|| t.from_user.clone()),
            }
            .unwrap_or_else(|| "anonymous".into());
            let mut headers = vec![self.max_forwards_header()];
            if matches!(
                t.caller_id,
                super::model::CallerIdMode::Pai | super::model::CallerIdMode::Both
            ) && let Some(c) = &cid
            {
                let pai = format!(
                    "<sip:{}@{}>",
                    format_number(NumberFormat::E164Plus, c),
                    from_host
                );
                headers.push(Header::Other("P-Asserted-Identity".into(), pai));
            }
            let credential = t.username.as_ref().map(|u| Credential {
                username: u.clone(),
                password: t.password.as_ref().map(|p| p.0.clone()).unwrap_or_default(),
                realm: None,
                auth_username: None,
            });
            let transport = match t.transport {
                SipTransport::Udp => Transport::Udp,
                SipTransport::Tcp => Transport::Tcp,
            };
            let destination = SipAddr {
                r#type: Some(transport),
                addr: rsipstack::sip::HostWithPort::try_from(hostport.as_str())
                    .map_err(|_| 500u16)?,
            };
            let opt = InviteOption {
                caller: sip_uri(&from_user, &from_host).map_err(|_| 500u16)?,
                callee,
                destination: Some(destination),
                content_type: Some("application/sdp".into()),
                offer: Some(offer),
                contact: self.contact_uri("omnivox"),
                credential,
                headers: Some(headers),
                ..Default::default()
            };
            let id = t.id;
            return Ok((opt, permit, id, rest.collect()));
        }
        // No trunk could take the call: never sent; congestion.
        tracing::info!(call = %self.id, reason = last_busy.map(|b| b.text()).unwrap_or("no trunk"), "outbound call not placed");
        Err(503)
    }

    fn max_forwards_header(&self) -> Header {
        Header::MaxForwards(rsipstack::sip::MaxForwards::from(u32::from(
            self.max_forwards.saturating_sub(1),
        )))
    }

    /// Ends the IO of `leg` as the machine said.
    fn end_leg(&mut self, leg: LegId, hangup: Hangup, method: EndMethod) {
        let Some(io) = self.slot_mut(leg) else { return };
        let dialog = io.dialog.clone();
        match method {
            EndMethod::Cancel => {
                io.cancel_deadline = Some(Instant::now() + CANCEL_GRACE);
                io.ring_deadline = None;
                if let Some(d) = dialog {
                    let call = self.id;
                    tokio::spawn(async move {
                        if let Err(e) = d.cancel().await {
                            tracing::info!(%call, error = %e, "CANCEL failed");
                        }
                    });
                }
                // The leg stays until its INVITE's final response.
                return;
            }
            EndMethod::Respond { code } => {
                if let Some(d) = &dialog {
                    let code = StatusCode::from(code);
                    let _ = d.reject(Some(code), None);
                }
            }
            EndMethod::Bye => {
                if let Some(d) = dialog.clone() {
                    tokio::spawn(async move {
                        let _ = d.bye().await;
                    });
                }
            }
        }
        self.finish_leg(leg, hangup);
    }

    /// Records a leg that has ended and frees its slot.
    fn finish_leg(&mut self, leg: LegId, hangup: Hangup) {
        let Some(io) = self.slots[slot_index(leg)].take() else {
            return;
        };
        if let Some(d) = &io.dialog {
            let dialogs = self.inner.dialogs.clone();
            let d = d.clone();
            // Give the BYE or final response time to be retransmitted.
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(32)).await;
                dialogs.remove_dialog(&d.id());
            });
        }
        self.records.push(LegRecord {
            leg,
            seq: io.seq,
            direction: io.direction,
            party: io.label,
            trunk_id: io.trunk_id,
            agent_id: io.agent_id,
            started_at: io.started,
            ringing_at: io.ringing,
            answered_at: io.answered,
            ended_at: Utc::now(),
            hangup,
        });
    }

    // ----- events from the legs ------------------------------------------------

    async fn on_dialog(&mut self, seq: u32, state: DialogState) {
        let Some(leg) = self.find_seq(seq) else {
            // A leg already finished: answer what still needs an answer.
            respond_stale(state).await;
            return;
        };
        let Some(io) = self.slot(leg) else { return };
        let inbound = io.direction == Direction::Inbound;
        let answered = io.answered.is_some();
        match state {
            DialogState::Early(_, resp) if !inbound => {
                let code = resp.status_code.code();
                let has_sdp = !resp.body.is_empty();
                self.remember_sdp(leg, &resp.body);
                let now = Utc::now();
                if let Some(io) = self.slot_mut(leg)
                    && io.ringing.is_none()
                {
                    io.ringing = Some(now);
                }
                self.ringing_at.get_or_insert(now);
                self.feed_leg(leg, LegEvent::Provisional { code, has_sdp })
                    .await;
            }
            DialogState::Terminated(_, reason) => {
                let code = terminated_code(&reason);
                match (inbound, answered, code) {
                    // An inbound INVITE the caller gave up on.
                    (true, false, Some(487)) => self.feed_leg(leg, LegEvent::Cancel).await,
                    // The final response of an outbound INVITE comes with
                    // InviteDone; a BYE on an answered leg ends it here.
                    (_, true, None) | (true, _, None) => {
                        self.feed_leg(
                            leg,
                            LegEvent::Hangup {
                                cause: HangupCause::Normal,
                            },
                        )
                        .await
                    }
                    _ => {}
                }
            }
            DialogState::Updated(_, req, handle) => self.on_reinvite(leg, req, handle).await,
            DialogState::Info(_, req, handle) => self.on_info(leg, req, handle).await,
            DialogState::Refer(_, req, handle) => self.on_refer(leg, req, handle).await,
            DialogState::Options(_, _, handle) => {
                let _ = handle.reply(StatusCode::OK).await;
            }
            DialogState::Notify(_, _, handle) | DialogState::Message(_, _, handle) => {
                let _ = handle.reply(StatusCode::OK).await;
            }
            DialogState::Publish(_, _, handle) => {
                let _ = handle.reply(StatusCode::MethodNotAllowed).await;
            }
            _ => {}
        }
    }

    async fn on_invite_done(&mut self, seq: u32, outcome: InviteOutcome) {
        let Some(leg) = self.find_seq(seq) else {
            return;
        };
        let cancelling = self
            .slot(leg)
            .is_some_and(|io| io.cancel_deadline.is_some());
        match outcome {
            InviteOutcome::Answered(body) => {
                self.remember_sdp(leg, &body);
                if let Some(io) = self.slot_mut(leg) {
                    io.ring_deadline = None;
                }
                self.feed_leg(leg, LegEvent::Answer).await;
            }
            InviteOutcome::Failed(code) => {
                let can_retry = !cancelling
                    && fails_over(code)
                    && matches!(
                        self.slot(leg).map(|io| &io.party),
                        Some(Party::Number { trunks, .. }) if !trunks.is_empty()
                    );
                if can_retry {
                    tracing::info!(call = %self.id, code, "trunk failed; trying the next one");
                    if self.send_invite(leg).await.is_ok() {
                        return;
                    }
                }
                let code = if cancelling { 487 } else { code };
                self.feed_leg(leg, LegEvent::Failure { sip_code: code })
                    .await;
                // A leg still in its slot after a failure has ended.
                if let Some(LegState::Ended(h)) = self.call.leg(leg).map(|l| l.state()) {
                    if self.slot(leg).is_some_and(|io| io.seq == seq) {
                        self.finish_leg(leg, h);
                    }
                } else if self.call.leg(leg).is_none() && self.slot(leg).is_some() {
                    self.finish_leg(leg, Hangup::from_sip(code));
                }
            }
        }
    }

    /// A re-INVITE (or UPDATE) from `leg`: pass its description to the
    /// other party and answer with theirs.
    async fn on_reinvite(&mut self, leg: LegId, req: Request, handle: TransactionHandle) {
        let body = req.body.clone();
        if body.is_empty() {
            // An offerless re-INVITE: offer what the leg has now.
            let own = self.slot(leg).and_then(|io| io.shown_body.clone());
            let headers = own.as_ref().map(|_| vec![content_type_sdp()]);
            let _ = handle.respond(StatusCode::OK, headers, own).await;
            return;
        }
        let hold = sdp::is_hold(&body);
        self.remember_sdp(leg, &body);
        let peer = other_leg(leg);
        let peer_answered = self.call.leg(peer).is_some_and(|l| l.state().is_answered());
        let mut answer = None;
        if peer_answered && let Some(sdp) = self.slot(leg).and_then(|io| io.remote.clone()) {
            let direction = if hold {
                SdpDirection::SendOnly
            } else {
                SdpDirection::SendRecv
            };
            if let Some(io) = self.slot_mut(peer) {
                let out = io.origin.rewrite(&sdp.body, Some(direction));
                io.shown = Some(sdp.id);
                io.shown_body = Some(out.clone());
                if self.reinvite(peer, out).await {
                    answer = self.slot(peer).and_then(|io| io.remote.clone());
                }
            }
        }
        let reply = match answer {
            Some(sdp) => self.slot_mut(leg).map(|io| {
                let dir = hold.then_some(SdpDirection::RecvOnly);
                let out = io.origin.rewrite(&sdp.body, dir);
                io.shown = Some(sdp.id);
                io.shown_body = Some(out.clone());
                out
            }),
            None => self.slot_mut(leg).and_then(|io| {
                let last = io.shown_body.clone()?;
                let dir = if hold {
                    SdpDirection::RecvOnly
                } else {
                    SdpDirection::SendRecv
                };
                let out = io.origin.rewrite(&last, Some(dir));
                io.shown_body = Some(out.clone());
                Some(out)
            }),
        };
        let headers = reply.as_ref().map(|_| vec![content_type_sdp()]);
        let _ = handle.respond(StatusCode::OK, headers, reply).await;
        if peer_answered {
            let event = if hold {
                LegEvent::Hold
            } else {
                LegEvent::Resume
            };
            let state = self.call.leg(peer).map(|l| l.state());
            let changes = matches!(
                (hold, state),
                (true, Some(LegState::Answered)) | (false, Some(LegState::Held))
            );
            if changes {
                self.feed_leg(peer, event).await;
            }
        }
    }

    /// SIP INFO: DTMF digits become notices and are relayed to the peer.
    async fn on_info(&mut self, leg: LegId, req: Request, handle: TransactionHandle) {
        let digit = parse_dtmf_info(&req);
        let _ = handle.reply(StatusCode::OK).await;
        let Some(digit) = digit else { return };
        self.publish_notice(CallNotice::Dtmf {
            tenant_id: self.tenant,
            call_id: self.id,
            leg,
            digit,
        });
        let peer = other_leg(leg);
        if let Some(d) = self.slot(peer).and_then(|io| io.dialog.clone()) {
            tokio::spawn(send_dtmf(d, digit.to_string()));
        }
    }

    /// REFER from a phone: a blind transfer of the other party to the
    /// Refer-To target; the referrer leaves.
    async fn on_refer(&mut self, leg: LegId, req: Request, handle: TransactionHandle) {
        let target = req
            .headers
            .iter()
            .find_map(|h| match h {
                Header::ReferTo(r) => Some(r.value().to_string()),
                _ => None,
            })
            .and_then(|v| self.refer_target(&v));
        let Some(to) = target else {
            let _ = handle.reply(StatusCode::BadRequest).await;
            return;
        };
        let _ = handle.reply(StatusCode::Accepted).await;
        // The 202 goes out from the dialog's own task; give it a head start
        // so the NOTIFY does not overtake it. The subscription ends at once:
        // the referrer leaves the call with the BYE that follows.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let dialog = self.slot(leg).and_then(|io| io.dialog.clone());
        if let Some(d) = dialog {
            let _ = tokio::time::timeout(
                IN_DIALOG_TIMEOUT,
                d.notify_refer(StatusCode::Trying, "terminated;reason=noresource"),
            )
            .await;
        }
        let result = self
            .run_command(CallCommand::BlindTransfer { leaving: leg, to })
            .await;
        if let Err(e) = result {
            tracing::info!(call = %self.id, error = %e, "REFER not performed");
        }
    }

    /// The Refer-To URI's user as a transfer target: an agent of this
    /// tenant registered under that name, else a phone number.
    fn refer_target(&self, value: &str) -> Option<Endpoint> {
        let inner = value.trim().trim_start_matches('<');
        let inner = inner.split(['>', '?', ';']).next()?;
        let uri = rsipstack::sip::Uri::try_from(inner).ok()?;
        let user = uri.user()?.to_string();
        if let Some(agent_id) = self.inner.registrar.agent_of(self.tenant, &user) {
            return Some(Endpoint::Agent { agent_id });
        }
        normalize_number(&user).map(|number| Endpoint::Number { number })
    }

    // ----- commands ------------------------------------------------------------------

    async fn run_command(&mut self, command: CallCommand) -> Result<(), CallError> {
        match command {
            CallCommand::Hangup => {
                self.apply(CallEvent::Hangup {
                    cause: HangupCause::Normal,
                })
                .await
            }
            CallCommand::Hold { leg } => {
                self.require_state(leg, LegState::Answered)?;
                self.reinvite_own(leg, SdpDirection::SendOnly).await;
                self.apply(CallEvent::Leg {
                    leg,
                    event: LegEvent::Hold,
                })
                .await
            }
            CallCommand::Resume { leg } => {
                self.require_state(leg, LegState::Held)?;
                self.reinvite_own(leg, SdpDirection::SendRecv).await;
                self.apply(CallEvent::Leg {
                    leg,
                    event: LegEvent::Resume,
                })
                .await
            }
            CallCommand::BlindTransfer { leaving, to } => {
                self.check_endpoint(&to).await?;
                self.pending[slot_index(leaving)] = Some(to);
                let r = self.apply(CallEvent::BlindTransfer { leaving }).await;
                if r.is_err() {
                    self.pending[slot_index(leaving)] = None;
                }
                r
            }
            CallCommand::ConsultStart { transferor, to } => {
                self.check_endpoint(&to).await?;
                self.pending[slot_index(LegId::Consult)] = Some(to);
                let r = self.apply(CallEvent::ConsultStart { transferor }).await;
                if r.is_err() {
                    self.pending[slot_index(LegId::Consult)] = None;
                }
                r
            }
            CallCommand::ConsultComplete => self.apply(CallEvent::ConsultComplete).await,
            CallCommand::ConsultCancel => self.apply(CallEvent::ConsultCancel).await,
            CallCommand::Dtmf { leg, digits } => {
                let valid = !digits.is_empty()
                    && digits.len() <= 32
                    && digits
                        .chars()
                        .all(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D'));
                if !valid {
                    return Err(CallError::Invalid(
                        "digits must be 1-32 of 0-9 * # A-D".into(),
                    ));
                }
                self.require_answered(leg)?;
                let Some(d) = self.slot(leg).and_then(|io| io.dialog.clone()) else {
                    return Err(CallError::Conflict("the leg has no dialog".into()));
                };
                send_dtmf(d, digits).await;
                Ok(())
            }
        }
    }

    fn require_state(&self, leg: LegId, want: LegState) -> Result<(), CallError> {
        match self.call.leg(leg).map(|l| l.state()) {
            Some(s) if s == want => Ok(()),
            Some(s) => Err(CallError::Conflict(format!(
                "leg {leg:?} is {s}, not {want}"
            ))),
            None => Err(CallError::Conflict(format!("no leg {leg:?}"))),
        }
    }

    fn require_answered(&self, leg: LegId) -> Result<(), CallError> {
        match self.call.leg(leg).map(|l| l.state()) {
            Some(s) if s.is_answered() => Ok(()),
            _ => Err(CallError::Conflict(format!("leg {leg:?} is not answered"))),
        }
    }

    async fn check_endpoint(&self, to: &Endpoint) -> Result<(), CallError> {
        check_endpoint(&self.inner, self.tenant, to).await
    }

    // ----- snapshots, notices, the end ---------------------------------------------------

    fn refresh_snapshot(&self) -> CallSnapshot {
        let mut snap = self.snapshot.lock().unwrap_or_else(|p| p.into_inner());
        snap.state = self.call.state();
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
        let ids: Vec<_> = snap.legs.iter().map(|l| (l.agent_id, l.trunk_id)).collect();
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
            .min()
    }

    async fn on_deadline(&mut self, now: Instant) {
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
    async fn run(mut self) {
        let stop = self.inner.stop.clone();
        let _drain = self.inner.drain.token();
        loop {
            self.release_ended_legs();
            if self.done() {
                break;
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
                    Some(msg) => self.on_msg(msg).await,
                    None => break,
                },
                _ = sleep => self.on_deadline(Instant::now()).await,
                _ = stop.cancelled() => {
                    let _ = self.apply(CallEvent::Hangup { cause: HangupCause::SystemShutdown }).await;
                    break;
                }
            }
        }
        self.close();
    }

    /// Legs the machine has ended (told of a failure, or ended by a
    /// hangup) leave their slots, except those still waiting for the final
    /// response to our CANCEL.
    fn release_ended_legs(&mut self) {
        for leg in SLOTS {
            let Some(io) = self.slot(leg) else { continue };
            match self.call.leg(leg).map(|l| l.state()) {
                Some(LegState::Ended(h)) if io.cancel_deadline.is_none() => self.finish_leg(leg, h),
                None => self.finish_leg(leg, Hangup::new(HangupCause::Normal)),
                _ => {}
            }
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
                // Originated call: once A answers, dial B.
                let now_a = self
                    .call
                    .leg(LegId::A)
                    .is_some_and(|l| l.state().is_answered());
                if !answered_a && now_a {
                    self.dial_second().await;
                }
            }
            Msg::HangupAll(cause) => {
                let _ = self.apply(CallEvent::Hangup { cause }).await;
            }
        }
    }

    async fn dial_second(&mut self) {
        let Some(target) = self.pending[slot_index(LegId::B)].take() else {
            return;
        };
        let offer = self.slot(LegId::A).and_then(|io| io.remote.clone());
        let r = self.dial(LegId::B, target, offer).await;
        self.feed_leg(LegId::B, LegEvent::Invite).await;
        if let Err(code) = r {
            self.feed_leg(LegId::B, LegEvent::Failure { sip_code: code })
                .await;
        }
    }

    fn close(mut self) {
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
        LegId::B | LegId::Consult => LegId::A,
    }
}

fn endpoint_label(e: &Endpoint) -> String {
    match e {
        Endpoint::Agent { agent_id } => format!("agent:{agent_id}"),
        Endpoint::Number { number } => number.clone(),
    }
}

/// Answers in-dialog requests of a leg that has already left the call.
async fn respond_stale(state: DialogState) {
    match state {
        DialogState::Updated(_, _, h)
        | DialogState::Info(_, _, h)
        | DialogState::Refer(_, _, h)
        | DialogState::Notify(_, _, h)
        | DialogState::Message(_, _, h)
        | DialogState::Options(_, _, h)
        | DialogState::Publish(_, _, h) => {
            let _ = h.reply(StatusCode::CallTransactionDoesNotExist).await;
        }
        _ => {}
    }
}

/// The digit of an INFO with `application/dtmf-relay` (`Signal=5`) or
/// `application/dtmf` (`5`).
fn parse_dtmf_info(req: &Request) -> Option<char> {
    let ct = req.headers.iter().find_map(|h| match h {
        Header::ContentType(c) => Some(c.value().to_ascii_lowercase()),
        _ => None,
    })?;
    let text = std::str::from_utf8(&req.body).ok()?;
    let raw = if ct.starts_with("application/dtmf-relay") {
        text.lines()
            .find_map(|l| {
                let (k, v) = l.split_once('=')?;
                k.trim().eq_ignore_ascii_case("signal").then(|| v.trim())
            })?
            .to_string()
    } else if ct.starts_with("application/dtmf") {
        text.trim().to_string()
    } else {
        return None;
    };
    let mut chars = raw.chars();
    let c = chars.next()?.to_ascii_uppercase();
    let valid =
        chars.next().is_none() && (c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D'));
    valid.then_some(c)
}

/// Sends each digit as an INFO (`application/dtmf-relay`, 160 ms).
async fn send_dtmf(dialog: InviteDialog, digits: String) {
    for c in digits.chars() {
        let body = format!("Signal={c}\r\nDuration=160\r\n").into_bytes();
        let headers = vec![Header::ContentType(ContentType::new(
            "application/dtmf-relay",
        ))];
        let r =
            tokio::time::timeout(IN_DIALOG_TIMEOUT, dialog.info(Some(headers), Some(body))).await;
        if !matches!(r, Ok(Ok(Some(_)))) {
            tracing::info!("DTMF INFO not answered");
            return;
        }
    }
}

/// Checks that `to` can be dialled by `tenant` (dial policy for numbers).
pub(crate) async fn check_endpoint(
    inner: &CallsInner,
    tenant: TenantId,
    to: &Endpoint,
) -> Result<(), CallError> {
    match to {
        Endpoint::Number { number } => {
            if normalize_number(number).as_deref() != Some(number.as_str()) {
                return Err(CallError::Invalid(format!(
                    "`{number}` is not an E.164 number"
                )));
            }
            match inner.directory.check_dial(tenant, number).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(refusal)) => Err(CallError::Forbidden(refusal)),
                Err(e) => Err(CallError::Unavailable(e.to_string())),
            }
        }
        Endpoint::Agent { agent_id } => match inner.directory.agent_user(tenant, *agent_id).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(CallError::Invalid(
                "the agent has no SIP account in this tenant".into(),
            )),
            Err(e) => Err(CallError::Unavailable(e.to_string())),
        },
    }
}

fn refuse_when_full(inner: &CallsInner) -> Result<(), CallError> {
    if inner.draining.load(Ordering::Acquire) {
        return Err(CallError::Unavailable("the node is shutting down".into()));
    }
    if inner.lock_live().len() >= inner.config.max_calls {
        return Err(CallError::Unavailable("too many calls".into()));
    }
    Ok(())
}

/// Starts an originated call (API, dialer).
pub(crate) async fn originate(
    inner: Arc<CallsInner>,
    req: Originate,
) -> Result<CallSnapshot, CallError> {
    refuse_when_full(&inner)?;
    check_endpoint(&inner, req.tenant_id, &req.first).await?;
    check_endpoint(&inner, req.tenant_id, &req.second).await?;
    if let Some(c) = &req.caller_id
        && normalize_number(c).as_deref() != Some(c.as_str())
    {
        return Err(CallError::Invalid("caller_id must be E.164".into()));
    }
    let ring = req
        .ring_timeout_secs
        .unwrap_or(inner.config.ring_timeout_secs)
        .clamp(5, 300);
    let mut actor = Actor::new(
        inner.clone(),
        req.tenant_id,
        CallDirection::Outbound,
        Call::outbound(),
        Duration::from_secs(u64::from(ring)),
    );
    actor.caller_id = req.caller_id.clone();
    {
        let mut snap = actor.snapshot.lock().unwrap_or_else(|p| p.into_inner());
        snap.from = endpoint_label(&req.first);
        snap.to = endpoint_label(&req.second);
    }
    actor.pending[slot_index(LegId::B)] = Some(req.second.clone());
    actor.register();
    inner.recorder.started(&actor.refresh_snapshot());
    let dialled = actor.dial(LegId::A, req.first, None).await;
    actor.feed_leg(LegId::A, LegEvent::Invite).await;
    if let Err(code) = dialled {
        actor
            .feed_leg(LegId::A, LegEvent::Failure { sip_code: code })
            .await;
    }
    let snapshot = actor.refresh_snapshot();
    Counters::inc(&inner.counters.calls_started);
    tokio::spawn(actor.run());
    Ok(snapshot)
}

/// What an inbound INVITE was routed to.
pub(crate) struct InboundCall {
    pub tenant: TenantId,
    pub from: String,
    pub to: String,
    pub did: Option<String>,
    pub target: Endpoint,
    pub caller_id: Option<String>,
    pub trunk_id: Option<Uuid>,
    pub caller_agent: Option<UserId>,
    pub max_forwards: u8,
}

/// Starts the actor of an inbound call whose server dialog exists.
pub(crate) async fn start_inbound(
    inner: Arc<CallsInner>,
    route: InboundCall,
    dialog: InviteDialog,
    states: mpsc::UnboundedReceiver<DialogState>,
    offer: Vec<u8>,
) {
    let ring = inner.config.ring_timeout_secs;
    let mut actor = Actor::new(
        inner.clone(),
        route.tenant,
        CallDirection::Inbound,
        Call::inbound(),
        Duration::from_secs(u64::from(ring)),
    );
    actor.caller_id = route.caller_id.clone();
    actor.max_forwards = route.max_forwards;
    {
        let mut snap = actor.snapshot.lock().unwrap_or_else(|p| p.into_inner());
        snap.from = route.from.clone();
        snap.to = route.to.clone();
        snap.did = route.did.clone();
    }
    let mut a = actor.new_leg(Direction::Inbound, Party::Caller, route.from.clone());
    a.dialog = Some(dialog);
    a.trunk_id = route.trunk_id;
    a.agent_id = route.caller_agent;
    let seq = a.seq;
    actor.slots[0] = Some(a);
    actor.remember_sdp(LegId::A, &offer);
    actor.watch_dialog(seq, states);
    actor.register();
    inner.recorder.started(&actor.refresh_snapshot());
    actor.feed_leg(LegId::A, LegEvent::Invite).await;
    let offer = actor.slot(LegId::A).and_then(|io| io.remote.clone());
    let dialled = actor.dial(LegId::B, route.target, offer).await;
    actor.feed_leg(LegId::B, LegEvent::Invite).await;
    if let Err(code) = dialled {
        actor
            .feed_leg(LegId::B, LegEvent::Failure { sip_code: code })
            .await;
    }
    Counters::inc(&inner.counters.calls_started);
    tokio::spawn(actor.run());
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn media_key_ignores_origin() {
        let a = b"v=0\r\no=x 1 1 IN IP4 1.1.1.1\r\nc=IN IP4 1.1.1.1\r\nm=audio 4000 RTP/AVP 0\r\n";
        let b = b"v=0\r\no=x 1 2 IN IP4 1.1.1.1\r\nc=IN IP4 1.1.1.1\r\nm=audio 4000 RTP/AVP 0\r\n";
        let c = b"v=0\r\no=x 1 2 IN IP4 1.1.1.1\r\nc=IN IP4 1.1.1.1\r\nm=audio 4002 RTP/AVP 0\r\n";
        assert_eq!(media_key(a), media_key(b));
        assert_ne!(media_key(a), media_key(c));
    }
}
