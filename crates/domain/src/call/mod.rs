//! Pure call and leg state machines for the B2BUA call actors.
//!
//! A [`Call`] owns two legs, `A` and `B` (plus a third, `Consult`, during an
//! attended transfer). `A` is the leg that started the call: the inbound leg
//! from a trunk, or the first leg Omnivox dialled (the customer for the
//! dialer, the agent for click-to-call). The actor feeds [`CallEvent`]s in and
//! gets a [`CallTransition`] back: the old and new [`CallState`], every leg
//! state change the event caused, and the [`CallAction`]s it must perform.
//! The machine decides, the actor does the IO: a leg the machine changes (say
//! it ends leg B because A hung up) is already in its new state when
//! [`Call::apply`] returns, and the actor must not report that change back.
//! What the actor does or sees on its own (it sent an INVITE, a 180 arrived,
//! a timer fired) it reports as `CallEvent::Leg`.
//!
//! Rules:
//! - A hangup, failure or timeout that ends `A` or `B` ends the call; the
//!   other legs end with it (BYE if answered, CANCEL if an outbound INVITE is
//!   pending, a final response if an inbound INVITE is pending, relaying the
//!   SIP code where that makes sense; see [`Hangup::relay_code`]).
//! - A 18x on one leg is relayed to the other when that one is an unanswered
//!   inbound leg; if the other is answered, it gets ringback (or the early
//!   media). An answer on one leg answers a pending inbound peer and bridges.
//! - Blind transfer: the leaving leg ends `transferred`, a new outbound leg
//!   takes its slot and is dialled; its answer bridges, its failure ends the
//!   call.
//! - Attended transfer: the kept leg is held and a consult leg is dialled
//!   for the transferor. Complete: the transferor ends `transferred`, the
//!   consult leg takes its slot, the kept leg is resumed and bridged. Cancel
//!   (or the consult leg failing or hanging up): the consult leg ends and the
//!   kept leg is resumed and bridged back to the transferor. A hangup of the
//!   kept leg or the transferor during the consult ends the whole call.
//! - Supervisor monitoring: on a bridged call `MonitorStart` dials a fourth
//!   leg, `Monitor`, to the supervisor; when it answers the actor mixes it
//!   into the call with the role of its [`MonitorMode`] (`Mix`), and
//!   `MonitorMode` changes that role (`Mix` again, no re-INVITE). The
//!   supervisor hanging up (or `MonitorStop`) ends only the monitor leg and
//!   the call's two parties go back to a plain bridge (`Unmix`); the call
//!   ending ends the monitor leg with it. One monitor leg at a time, and no
//!   transfer while one is live.
//! - Offers (queues): with A answered and B idle or ended, `Offer` dials B
//!   (an agent). While the offer rings, A keeps what it hears (no ringback
//!   is relayed). B answering bridges the two and the offer is over; B
//!   failing, timing out or being withdrawn (`CancelOffer`) ends B only,
//!   and the call waits for the next offer.
//! - Once the call is Ended it stays Ended; events for legs still on their
//!   way out (a 487 after our CANCEL) are still applied to those legs.

mod cause;
mod leg;

pub use cause::{Hangup, HangupCause, UnknownHangupCause};
pub use leg::{
    Direction, EndMethod, InvalidTransition, Leg, LegEvent, LegState, TimeoutKind, Transition,
};

use serde::{Deserialize, Serialize};

/// Which leg of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LegId {
    A,
    B,
    /// The consult leg of an attended transfer.
    Consult,
    /// A supervisor listening, whispering or barging in.
    Monitor,
}

/// How a supervisor's monitor leg takes part in the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MonitorMode {
    /// Hears the customer and the agent; heard by nobody.
    Listen,
    /// Hears both; heard by the agent only (coaching).
    Whisper,
    /// Hears both; heard by both (a three-way call).
    Barge,
}

impl MonitorMode {
    pub const ALL: [MonitorMode; 3] = [
        MonitorMode::Listen,
        MonitorMode::Whisper,
        MonitorMode::Barge,
    ];

    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            MonitorMode::Listen => "listen",
            MonitorMode::Whisper => "whisper",
            MonitorMode::Barge => "barge",
        }
    }
}

impl LegId {
    /// The other one of `A` and `B` (`Consult` and `Monitor` have no
    /// fixed peer).
    fn other(self) -> LegId {
        match self {
            LegId::A => LegId::B,
            LegId::B | LegId::Consult | LegId::Monitor => LegId::A,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransferKind {
    Blind,
    Attended,
}

/// The state of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CallState {
    /// Being set up; nothing rings yet.
    Originating,
    /// A leg rings.
    Ringing,
    /// A leg has early media.
    EarlyMedia,
    /// Both legs answered and connected.
    Bridged,
    /// Both legs answered, one of them held.
    OnHold,
    /// A transfer is under way.
    Transferring { kind: TransferKind },
    /// Terminal.
    Ended(Hangup),
}

impl CallState {
    /// The stable snake_case name of the state (without its data).
    pub fn name(&self) -> &'static str {
        match self {
            CallState::Originating => "originating",
            CallState::Ringing => "ringing",
            CallState::EarlyMedia => "early_media",
            CallState::Bridged => "bridged",
            CallState::OnHold => "on_hold",
            CallState::Transferring { .. } => "transferring",
            CallState::Ended(_) => "ended",
        }
    }

    pub fn is_ended(&self) -> bool {
        matches!(self, CallState::Ended(_))
    }
}

/// Something that happened to a call, or a request for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CallEvent {
    /// Something happened on a leg (SIP traffic, a timer, or the actor's own
    /// move such as sending the INVITE).
    Leg { leg: LegId, event: LegEvent },
    /// Hang up the whole call (API, shutdown): every leg ends with `cause`.
    Hangup { cause: HangupCause },
    /// `leaving` (A or B) leaves; a new leg is dialled in its place.
    BlindTransfer { leaving: LegId },
    /// `transferor` (A or B) consults a third party; the other leg is held.
    ConsultStart { transferor: LegId },
    /// Connect the kept leg to the answered consult leg; the transferor leaves.
    ConsultComplete,
    /// Drop the consult leg and reconnect the kept leg to the transferor.
    ConsultCancel,
    /// Dial a supervisor into a bridged call (the `Monitor` leg).
    MonitorStart { mode: MonitorMode },
    /// Change how the supervisor takes part (no signalling, only the mix).
    MonitorMode { mode: MonitorMode },
    /// Hang up the supervisor's leg; the call goes on.
    MonitorStop,
    /// Ring B for the answered, waiting A (a queue's offer to an agent).
    Offer,
    /// Withdraw the ringing offer; A keeps waiting.
    CancelOffer,
}

/// IO the actor must perform. The legs are already in their new states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CallAction {
    /// Send this provisional response on `leg` (an unanswered inbound leg),
    /// relaying the peer's 18x (and its SDP, when `has_sdp`).
    Provisional {
        leg: LegId,
        code: u16,
        has_sdp: bool,
    },
    /// Send 200 OK on `leg` (an inbound leg) because its peer answered.
    Answer { leg: LegId },
    /// Play ringback to `leg` (answered, waiting for its peer); starting it
    /// twice is harmless. Any bridge involving `leg` stops it.
    PlayRingback { leg: LegId },
    /// Connect the early media of `from` to `to` (answered).
    EarlyMedia { from: LegId, to: LegId },
    /// Connect the media of two answered legs (stopping any ringback).
    Bridge { a: LegId, b: LegId },
    /// Put `leg` on hold (re-INVITE `sendonly`/`inactive`).
    Hold { leg: LegId },
    /// Take `leg` off hold.
    Resume { leg: LegId },
    /// Send the INVITE for the new outbound `leg` (transfer target, consult).
    Dial { leg: LegId },
    /// The consult leg now is leg `leg` (A or B) of the call.
    ConsultReplaces { leg: LegId },
    /// End `leg` the way `method` says; it ended (or will end) with `hangup`.
    End {
        leg: LegId,
        hangup: Hangup,
        method: EndMethod,
    },
    /// Mix the answered monitor leg into the call (A, B and the supervisor)
    /// with the role of `mode`; replaces any earlier mix.
    Mix { mode: MonitorMode },
    /// The monitor leg left: back to a plain bridge of A and B.
    Unmix,
}

/// One leg's state change caused by an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LegChange {
    pub leg: LegId,
    pub from: LegState,
    pub to: LegState,
}

/// The outcome of [`Call::apply`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CallTransition {
    pub from: CallState,
    pub to: CallState,
    /// Every leg state change, in order (no-ops left out).
    pub legs: Vec<LegChange>,
    pub actions: Vec<CallAction>,
}

/// An event the call cannot take in its state. The call is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("leg {leg:?}: {source}")]
    Leg {
        leg: LegId,
        #[source]
        source: InvalidTransition,
    },
    #[error("{event:?} is not valid while the call is {}", state.name())]
    Invalid { state: CallState, event: CallEvent },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transfer {
    Blind,
    Attended { transferor: LegId },
}

/// A call over two legs (three during an attended transfer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    state: CallState,
    a: Leg,
    b: Leg,
    consult: Option<Leg>,
    transfer: Option<Transfer>,
    /// The supervisor's leg (kept once ended, until the next one).
    monitor: Option<Leg>,
    /// The mode of the live monitor leg.
    monitor_mode: Option<MonitorMode>,
    /// B rings as an offer: its failure ends B only.
    offering: bool,
    ended: Option<Hangup>,
}

/// What one `apply` produces, accumulated by the helpers.
#[derive(Default)]
struct Out {
    legs: Vec<LegChange>,
    actions: Vec<CallAction>,
}

impl Out {
    fn change(&mut self, leg: LegId, t: Transition<LegState>) {
        if !t.is_noop() {
            self.legs.push(LegChange {
                leg,
                from: t.from,
                to: t.to,
            });
        }
    }
}

impl Call {
    /// A call whose legs are both Idle; the actor reports the first INVITE
    /// (sent or received) as `Leg { leg: A, event: Invite }`.
    pub fn new(a: Direction, b: Direction) -> Self {
        Call {
            state: CallState::Originating,
            a: Leg::new(a),
            b: Leg::new(b),
            consult: None,
            transfer: None,
            monitor: None,
            monitor_mode: None,
            offering: false,
            ended: None,
        }
    }

    /// A call from a trunk or phone: A inbound, B outbound.
    pub fn inbound() -> Self {
        Self::new(Direction::Inbound, Direction::Outbound)
    }

    /// A call Omnivox originates: both legs outbound.
    pub fn outbound() -> Self {
        Self::new(Direction::Outbound, Direction::Outbound)
    }

    pub fn state(&self) -> CallState {
        self.state
    }

    /// The leg in a slot (`Consult` and `Monitor` only while one exists).
    pub fn leg(&self, id: LegId) -> Option<&Leg> {
        match id {
            LegId::A => Some(&self.a),
            LegId::B => Some(&self.b),
            LegId::Consult => self.consult.as_ref(),
            LegId::Monitor => self.monitor.as_ref(),
        }
    }

    fn leg_mut(&mut self, id: LegId) -> Option<&mut Leg> {
        match id {
            LegId::A => Some(&mut self.a),
            LegId::B => Some(&mut self.b),
            LegId::Consult => self.consult.as_mut(),
            LegId::Monitor => self.monitor.as_mut(),
        }
    }

    /// B rings as an offer (answered A waits for it).
    pub fn offering(&self) -> bool {
        self.offering
    }

    /// The mode of the live monitor leg, if there is one.
    pub fn monitor_mode(&self) -> Option<MonitorMode> {
        self.monitor_mode
    }

    /// A monitor leg that has not ended (dialling, answered, or waiting
    /// for the answer to our CANCEL).
    fn monitor_live(&self) -> bool {
        self.monitor.is_some_and(|m| !m.is_ended())
    }

    /// Applies `event`; on error nothing changes.
    pub fn apply(&mut self, event: CallEvent) -> Result<CallTransition, CallError> {
        let from = self.state;
        let invalid = CallError::Invalid { state: from, event };
        let mut out = Out::default();
        match event {
            CallEvent::Leg { leg, event } => self.on_leg(leg, event, &mut out).ok_or(invalid)??,
            _ if self.ended.is_some() => return Err(invalid),
            CallEvent::Hangup { cause } => {
                let hangup = Hangup::new(cause);
                self.ended = Some(hangup);
                for id in ALL_LEGS {
                    self.terminate(id, hangup, &mut out);
                }
                self.monitor_mode = None;
            }
            CallEvent::BlindTransfer { leaving } => {
                let kept = self.transfer_allowed(leaving).ok_or(invalid)?;
                self.terminate(leaving, Hangup::new(HangupCause::Transferred), &mut out);
                *self.slot(leaving) = Leg::outbound();
                self.dial(leaving, &mut out);
                if self.slot(kept).state() == LegState::Held {
                    self.hold(kept, false, &mut out);
                }
                self.transfer = Some(Transfer::Blind);
            }
            CallEvent::ConsultStart { transferor } => {
                let kept = self.transfer_allowed(transferor).ok_or(invalid)?;
                if self.consult.is_some_and(|c| !c.is_ended()) {
                    return Err(invalid);
                }
                self.hold(kept, true, &mut out);
                self.consult = Some(Leg::outbound());
                self.dial(LegId::Consult, &mut out);
                self.transfer = Some(Transfer::Attended { transferor });
            }
            CallEvent::ConsultComplete => {
                let (Some(Transfer::Attended { transferor }), Some(consult)) =
                    (self.transfer, self.consult)
                else {
                    return Err(invalid);
                };
                if consult.state() != LegState::Answered {
                    return Err(invalid);
                }
                let kept = transferor.other();
                self.terminate(transferor, Hangup::new(HangupCause::Transferred), &mut out);
                *self.slot(transferor) = consult;
                self.consult = None;
                out.actions
                    .push(CallAction::ConsultReplaces { leg: transferor });
                self.hold(kept, false, &mut out);
                out.actions.push(CallAction::Bridge {
                    a: LegId::A,
                    b: LegId::B,
                });
                self.transfer = None;
            }
            CallEvent::ConsultCancel => {
                let (Some(Transfer::Attended { transferor }), Some(consult)) =
                    (self.transfer, self.consult)
                else {
                    return Err(invalid);
                };
                let cause = if consult.state().is_answered() {
                    HangupCause::Normal
                } else {
                    HangupCause::Cancelled
                };
                self.terminate(LegId::Consult, Hangup::new(cause), &mut out);
                self.reconnect(transferor, &mut out);
            }
            CallEvent::MonitorStart { mode } => {
                if self.state != CallState::Bridged || self.monitor_live() {
                    return Err(invalid);
                }
                self.monitor = Some(Leg::outbound());
                self.monitor_mode = Some(mode);
                self.dial(LegId::Monitor, &mut out);
            }
            CallEvent::MonitorMode { mode } => {
                let Some(monitor) = self.monitor.filter(|m| !m.is_ended()) else {
                    return Err(invalid);
                };
                if matches!(monitor.state(), LegState::Cancelling { .. }) {
                    return Err(invalid);
                }
                if self.monitor_mode != Some(mode) {
                    self.monitor_mode = Some(mode);
                    if monitor.state().is_answered() {
                        out.actions.push(CallAction::Mix { mode });
                    }
                }
            }
            CallEvent::MonitorStop => {
                let Some(monitor) = self.monitor.filter(|m| !m.is_ended()) else {
                    return Err(invalid);
                };
                if matches!(monitor.state(), LegState::Cancelling { .. }) {
                    return Err(invalid);
                }
                let answered = monitor.state().is_answered();
                let cause = if answered {
                    HangupCause::Normal
                } else {
                    HangupCause::Cancelled
                };
                self.terminate(LegId::Monitor, Hangup::new(cause), &mut out);
                self.monitor_mode = None;
                if answered {
                    out.actions.push(CallAction::Unmix);
                }
            }
            CallEvent::Offer => {
                let b = self.b.state();
                if self.offering
                    || self.transfer.is_some()
                    || !self.a.state().is_answered()
                    || !(b == LegState::Idle || b.is_ended())
                {
                    return Err(invalid);
                }
                self.b = Leg::outbound();
                self.offering = true;
                self.dial(LegId::B, &mut out);
            }
            CallEvent::CancelOffer => {
                if !self.offering || !self.b.state().is_pending() {
                    return Err(invalid);
                }
                // B (outbound) goes Cancelling; its final response ends the
                // offer.
                self.terminate(LegId::B, Hangup::new(HangupCause::Cancelled), &mut out);
            }
        }
        self.state = self.derive();
        Ok(CallTransition {
            from,
            to: self.state,
            legs: out.legs,
            actions: out.actions,
        })
    }

    /// `None`: no such leg.
    fn on_leg(
        &mut self,
        id: LegId,
        event: LegEvent,
        out: &mut Out,
    ) -> Option<Result<(), CallError>> {
        let t = match self.leg_mut(id)?.apply(event) {
            Ok(t) => t,
            Err(source) => return Some(Err(CallError::Leg { leg: id, source })),
        };
        out.change(id, t);
        if let (LegState::Cancelling { .. }, LegEvent::Answer, LegState::Ended(hangup)) =
            (t.from, event, t.to)
        {
            // The 200 OK crossed our CANCEL.
            out.actions.push(CallAction::End {
                leg: id,
                hangup,
                method: EndMethod::Bye,
            });
        }
        if self.ended.is_some() || t.is_noop() {
            return Some(Ok(()));
        }
        if id == LegId::Monitor {
            self.on_monitor(t, out);
            return Some(Ok(()));
        }
        if id == LegId::B && self.offering {
            match t.to {
                // The waiting caller keeps hearing what it hears.
                LegState::Ringing | LegState::EarlyMedia => return Some(Ok(())),
                // A failed offer: the caller waits for the next one.
                LegState::Ended(_) => {
                    self.offering = false;
                    return Some(Ok(()));
                }
                LegState::Answered => self.offering = false,
                _ => {}
            }
        }
        let peer = match (id, self.transfer) {
            (LegId::Consult, Some(Transfer::Attended { transferor })) => transferor,
            (LegId::Consult, _) => return Some(Ok(())),
            (id, _) => id.other(),
        };
        match t.to {
            LegState::Ended(_) if id == LegId::Consult => {
                self.reconnect(peer, out);
            }
            LegState::Ended(hangup) => {
                self.ended = Some(hangup);
                self.monitor_mode = None;
                for other in ALL_LEGS {
                    if other == id {
                        continue;
                    }
                    let relayed = match self.leg(other).map(|l| (l.direction(), l.state())) {
                        Some((Direction::Outbound, s)) if s.is_pending() => {
                            Hangup::new(HangupCause::Cancelled)
                        }
                        Some((_, s)) if s.is_answered() => Hangup::new(hangup.cause),
                        _ => hangup,
                    };
                    self.terminate(other, relayed, out);
                }
            }
            LegState::Ringing | LegState::EarlyMedia => {
                let has_sdp = t.to == LegState::EarlyMedia;
                let code = match event {
                    LegEvent::Provisional { code, .. } => code,
                    _ => 180,
                };
                let peer_leg = self.slot(peer);
                if peer_leg.direction() == Direction::Inbound && peer_leg.state().is_pending() {
                    let relayed = peer_leg.apply(LegEvent::Provisional { code, has_sdp });
                    if let Ok(rt) = relayed
                        && !rt.is_noop()
                    {
                        out.change(peer, rt);
                        out.actions.push(CallAction::Provisional {
                            leg: peer,
                            code,
                            has_sdp,
                        });
                    }
                } else if peer_leg.state().is_answered() {
                    out.actions.push(if has_sdp {
                        CallAction::EarlyMedia { from: id, to: peer }
                    } else {
                        CallAction::PlayRingback { leg: peer }
                    });
                }
            }
            LegState::Answered if !t.from.is_answered() => {
                let peer_leg = self.slot(peer);
                if peer_leg.direction() == Direction::Inbound
                    && peer_leg.state().is_pending()
                    && let Ok(rt) = peer_leg.apply(LegEvent::Answer)
                {
                    out.change(peer, rt);
                    out.actions.push(CallAction::Answer { leg: peer });
                }
                if self.slot(peer).state().is_answered() {
                    out.actions.push(CallAction::Bridge { a: peer, b: id });
                    if self.transfer == Some(Transfer::Blind) {
                        self.transfer = None;
                    }
                }
            }
            _ => {}
        }
        Some(Ok(()))
    }

    /// The monitor leg changed: mixed in once answered; when it ends the
    /// call goes back to a plain bridge. The call itself is untouched.
    fn on_monitor(&mut self, t: Transition<LegState>, out: &mut Out) {
        match t.to {
            LegState::Answered if !t.from.is_answered() => {
                if let Some(mode) = self.monitor_mode {
                    out.actions.push(CallAction::Mix { mode });
                }
            }
            LegState::Ended(_) => {
                self.monitor_mode = None;
                if t.from.is_answered() {
                    out.actions.push(CallAction::Unmix);
                }
            }
            _ => {}
        }
    }

    /// Leg A or B (only ever called with one of those).
    fn slot(&mut self, id: LegId) -> &mut Leg {
        if id == LegId::B {
            &mut self.b
        } else {
            &mut self.a
        }
    }

    /// A transfer by `leaving` needs a live call with both A and B answered
    /// and no other transfer; returns the kept leg.
    fn transfer_allowed(&self, leaving: LegId) -> Option<LegId> {
        let ok = self.ended.is_none()
            && self.transfer.is_none()
            && matches!(leaving, LegId::A | LegId::B)
            && !self.monitor_live()
            && self.a.state().is_answered()
            && self.b.state().is_answered();
        ok.then(|| leaving.other())
    }

    fn terminate(&mut self, id: LegId, hangup: Hangup, out: &mut Out) {
        let Some(leg) = self.leg_mut(id) else {
            return;
        };
        let from = leg.state();
        let method = leg.terminate(hangup);
        let to = leg.state();
        out.change(id, Transition { from, to });
        if let Some(method) = method {
            let hangup = match to {
                LegState::Ended(h) => h,
                _ => hangup,
            };
            out.actions.push(CallAction::End {
                leg: id,
                hangup,
                method,
            });
        }
    }

    fn dial(&mut self, id: LegId, out: &mut Out) {
        if let Some(leg) = self.leg_mut(id)
            && let Ok(t) = leg.apply(LegEvent::Invite)
        {
            out.change(id, t);
            out.actions.push(CallAction::Dial { leg: id });
        }
    }

    /// Holds (or resumes) `id` when that changes anything.
    fn hold(&mut self, id: LegId, hold: bool, out: &mut Out) {
        let event = if hold {
            LegEvent::Hold
        } else {
            LegEvent::Resume
        };
        if let Ok(t) = self.slot(id).apply(event)
            && !t.is_noop()
        {
            out.change(id, t);
            out.actions.push(if hold {
                CallAction::Hold { leg: id }
            } else {
                CallAction::Resume { leg: id }
            });
        }
    }

    /// Ends an attended transfer without completing it: the kept leg is
    /// resumed and bridged back to `transferor`.
    fn reconnect(&mut self, transferor: LegId, out: &mut Out) {
        let kept = transferor.other();
        self.hold(kept, false, out);
        out.actions.push(CallAction::Bridge {
            a: kept,
            b: transferor,
        });
        self.transfer = None;
    }

    fn derive(&self) -> CallState {
        if let Some(hangup) = self.ended {
            return CallState::Ended(hangup);
        }
        match self.transfer {
            Some(Transfer::Blind) => {
                return CallState::Transferring {
                    kind: TransferKind::Blind,
                };
            }
            Some(Transfer::Attended { .. }) => {
                return CallState::Transferring {
                    kind: TransferKind::Attended,
                };
            }
            None => {}
        }
        let (a, b) = (self.a.state(), self.b.state());
        let either = |s: LegState| a == s || b == s;
        if a.is_answered() && b.is_answered() {
            if either(LegState::Held) {
                CallState::OnHold
            } else {
                CallState::Bridged
            }
        } else if either(LegState::EarlyMedia) {
            CallState::EarlyMedia
        } else if either(LegState::Ringing) {
            CallState::Ringing
        } else {
            CallState::Originating
        }
    }
}

/// Every leg slot, in the order legs are ended.
const ALL_LEGS: [LegId; 4] = [LegId::A, LegId::B, LegId::Consult, LegId::Monitor];

#[cfg(test)]
mod tests;

#[cfg(test)]
mod monitor_tests;

#[cfg(test)]
mod offer_tests;
