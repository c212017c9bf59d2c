//! One SIP leg (one INVITE dialog) of a call, as a pure state machine.
//!
//! ```text
//! Idle --Invite--> Dialing --18x--> Ringing --18x+SDP--> EarlyMedia
//!                     |  \--18x+SDP-----------------------^   |
//!                     +--Answer (from any of the three)--> Answered <--Hold/Resume--> Held
//!                     +--Cancel (outbound)--> Cancelling --final response/timeout--> Ended
//!                     +--Failure / Cancel (inbound) / timeout---------------------> Ended
//! Answered/Held --Hangup / media timeout--> Ended
//! ```
//!
//! Events are facts the call actor observed or did on its own initiative
//! (sent or received). Idempotent no-ops (`from == to`), for retransmissions
//! and repeated requests:
//! - `Invite` while Dialing, Ringing or EarlyMedia (a retransmitted INVITE);
//! - any `Provisional` while EarlyMedia or Cancelling, `100 Trying` in any
//!   pre-answer state, and a 18x without SDP while Ringing (a 180 after a 183
//!   with SDP keeps the early media: the far end's media carries the ringback);
//! - `Answer` while Answered (a retransmitted 200 OK);
//! - `Hold` while Held and `Resume` while Answered;
//! - `Cancel` while Cancelling (a retransmitted CANCEL).
//!
//! Ended is terminal: every event there is an [`InvalidTransition`].

use super::cause::{Hangup, HangupCause};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which side sent the INVITE: an inbound leg is a UAS for us (a carrier or a
/// phone called Omnivox), an outbound leg a UAC (Omnivox dialled out).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
}

/// The state of one leg.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LegState {
    /// Created, no INVITE yet.
    Idle,
    /// INVITE sent (outbound) or received (inbound), no ringing yet.
    Dialing,
    /// 18x without SDP: the callee is alerted.
    Ringing,
    /// 18x with SDP: early media flows (announcements, carrier ringback).
    EarlyMedia,
    /// 200 OK: the dialog is confirmed.
    Answered,
    /// On hold (re-INVITE with `sendonly`/`inactive` took effect).
    Held,
    /// Outbound only: CANCEL sent, waiting for the INVITE's final response.
    /// `cause` is what the leg will end with (unless a different failure
    /// crosses the CANCEL).
    Cancelling { cause: HangupCause },
    /// Terminal.
    Ended(Hangup),
}

impl LegState {
    /// Answered or Held: a confirmed dialog.
    pub fn is_answered(&self) -> bool {
        matches!(self, LegState::Answered | LegState::Held)
    }

    /// Dialing, Ringing or EarlyMedia: an INVITE waiting for its final response
    /// (Cancelling is not included: the leg is already on its way out).
    pub fn is_pending(&self) -> bool {
        matches!(
            self,
            LegState::Dialing | LegState::Ringing | LegState::EarlyMedia
        )
    }

    pub fn is_ended(&self) -> bool {
        matches!(self, LegState::Ended(_))
    }

    /// The stable snake_case name of the state (without its data).
    pub fn name(&self) -> &'static str {
        match self {
            LegState::Idle => "idle",
            LegState::Dialing => "dialing",
            LegState::Ringing => "ringing",
            LegState::EarlyMedia => "early_media",
            LegState::Answered => "answered",
            LegState::Held => "held",
            LegState::Cancelling { .. } => "cancelling",
            LegState::Ended(_) => "ended",
        }
    }
}

impl fmt::Display for LegState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which timer fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimeoutKind {
    /// Nothing rang: no 18x or final response within the setup window
    /// (Q.850 18, "no user responding"). Valid while Dialing; ends the leg
    /// `unavailable`.
    Ring,
    /// It rang (or not) for the whole ring timeout without an answer (Q.850
    /// 19). Valid before the answer; ends the leg `no_answer`.
    NoAnswer,
    /// No RTP for too long on an answered leg; ends it `media_timeout`.
    Media,
}

/// Something that happened on a leg.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum LegEvent {
    /// The INVITE was sent (outbound) or received (inbound).
    Invite,
    /// A provisional response (1xx) was received (outbound) or sent (inbound).
    Provisional { code: u16, has_sdp: bool },
    /// The 200 OK to the INVITE was received or sent.
    Answer,
    /// The leg is on hold now (the re-INVITE's 200 OK, either direction).
    Hold,
    /// The leg is off hold now.
    Resume,
    /// The INVITE is being abandoned: CANCEL sent (outbound) or received
    /// (inbound, the leg ends at once with 487).
    Cancel,
    /// BYE sent or received on an answered leg.
    Hangup { cause: HangupCause },
    /// A final failure response (300..=699) to the INVITE was received or sent.
    Failure { sip_code: u16 },
    /// A timer fired.
    Timeout { kind: TimeoutKind },
}

impl LegEvent {
    /// The stable snake_case name of the event (without its data).
    pub fn name(&self) -> &'static str {
        match self {
            LegEvent::Invite => "invite",
            LegEvent::Provisional { .. } => "provisional",
            LegEvent::Answer => "answer",
            LegEvent::Hold => "hold",
            LegEvent::Resume => "resume",
            LegEvent::Cancel => "cancel",
            LegEvent::Hangup { .. } => "hangup",
            LegEvent::Failure { .. } => "failure",
            LegEvent::Timeout { .. } => "timeout",
        }
    }
}

impl fmt::Display for LegEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LegEvent::Provisional { code, has_sdp } => {
                write!(
                    f,
                    "provisional {code}{}",
                    if *has_sdp { " with SDP" } else { "" }
                )
            }
            LegEvent::Hangup { cause } => write!(f, "hangup ({cause})"),
            LegEvent::Failure { sip_code } => write!(f, "failure {sip_code}"),
            LegEvent::Timeout { kind } => write!(f, "timeout ({kind:?})"),
            other => f.write_str(other.name()),
        }
    }
}

/// A state change (`from == to` for an idempotent no-op).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Transition<S> {
    pub from: S,
    pub to: S,
}

impl<S: PartialEq> Transition<S> {
    /// True when nothing changed (a retransmission or a repeated request).
    pub fn is_noop(&self) -> bool {
        self.from == self.to
    }
}

/// An event that is not valid in the leg's state (or carries an impossible
/// SIP code). The leg is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{event} is not valid on a leg that is {state}")]
pub struct InvalidTransition {
    pub state: LegState,
    pub event: LegEvent,
}

/// One leg: its direction and its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Leg {
    direction: Direction,
    state: LegState,
}

/// How the actor must end a leg that the call machine ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndMethod {
    /// Send BYE (the leg was answered, or a 200 OK crossed our CANCEL: ACK it
    /// first).
    Bye,
    /// Send CANCEL (an outbound INVITE is pending).
    Cancel,
    /// Send this final response to the pending inbound INVITE.
    Respond { code: u16 },
}

impl Leg {
    pub fn new(direction: Direction) -> Self {
        Leg {
            direction,
            state: LegState::Idle,
        }
    }

    pub fn inbound() -> Self {
        Self::new(Direction::Inbound)
    }

    pub fn outbound() -> Self {
        Self::new(Direction::Outbound)
    }

    pub fn direction(&self) -> Direction {
        self.direction
    }

    pub fn state(&self) -> LegState {
        self.state
    }

    pub fn is_ended(&self) -> bool {
        self.state.is_ended()
    }

    /// Applies `event`; on error the leg is unchanged.
    pub fn apply(&mut self, event: LegEvent) -> Result<Transition<LegState>, InvalidTransition> {
        let from = self.state;
        let to = self
            .next(event)
            .ok_or(InvalidTransition { state: from, event })?;
        self.state = to;
        Ok(Transition { from, to })
    }

    fn next(&self, event: LegEvent) -> Option<LegState> {
        use LegState as S;
        let state = self.state;
        let outbound = self.direction == Direction::Outbound;
        Some(match (state, event) {
            (S::Ended(_), _) => return None,

            (S::Idle, LegEvent::Invite) => S::Dialing,
            (S::Dialing | S::Ringing | S::EarlyMedia, LegEvent::Invite) => state,

            (_, LegEvent::Provisional { code, .. }) if !(100..=199).contains(&code) => return None,
            (
                S::Dialing | S::Ringing | S::EarlyMedia | S::Cancelling { .. },
                LegEvent::Provisional { code: 100, .. },
            ) => state,
            (S::Dialing | S::Ringing, LegEvent::Provisional { has_sdp: true, .. }) => S::EarlyMedia,
            (S::Dialing | S::Ringing, LegEvent::Provisional { has_sdp: false, .. }) => S::Ringing,
            (S::EarlyMedia | S::Cancelling { .. }, LegEvent::Provisional { .. }) => state,

            (S::Dialing | S::Ringing | S::EarlyMedia, LegEvent::Answer) => S::Answered,
            (S::Answered, LegEvent::Answer) => state,
            // A 200 OK crossed our CANCEL: the leg ends; the actor ACKs and BYEs it.
            (S::Cancelling { cause }, LegEvent::Answer) => S::Ended(Hangup::new(cause)),

            (S::Answered | S::Held, LegEvent::Hold) => S::Held,
            (S::Answered | S::Held, LegEvent::Resume) => S::Answered,

            (S::Idle, LegEvent::Cancel) => S::Ended(Hangup::new(HangupCause::Cancelled)),
            (S::Dialing | S::Ringing | S::EarlyMedia, LegEvent::Cancel) if outbound => {
                S::Cancelling {
                    cause: HangupCause::Cancelled,
                }
            }
            (S::Dialing | S::Ringing | S::EarlyMedia, LegEvent::Cancel) => S::Ended(Hangup {
                cause: HangupCause::Cancelled,
                sip_code: Some(487),
            }),
            (S::Cancelling { .. }, LegEvent::Cancel) => state,

            (S::Answered | S::Held, LegEvent::Hangup { cause }) => S::Ended(Hangup::new(cause)),

            (_, LegEvent::Failure { sip_code }) if !(300..=699).contains(&sip_code) => return None,
            (S::Dialing | S::Ringing | S::EarlyMedia, LegEvent::Failure { sip_code }) => {
                S::Ended(Hangup::from_sip(sip_code))
            }
            (S::Cancelling { cause }, LegEvent::Failure { sip_code: 487 }) => S::Ended(Hangup {
                cause,
                sip_code: Some(487),
            }),
            (S::Cancelling { .. }, LegEvent::Failure { sip_code }) => {
                S::Ended(Hangup::from_sip(sip_code))
            }

            (
                S::Dialing,
                LegEvent::Timeout {
                    kind: TimeoutKind::Ring,
                },
            ) => self.give_up(HangupCause::Unavailable),
            (
                S::Dialing | S::Ringing | S::EarlyMedia,
                LegEvent::Timeout {
                    kind: TimeoutKind::NoAnswer,
                },
            ) => self.give_up(HangupCause::NoAnswer),
            (
                S::Answered | S::Held,
                LegEvent::Timeout {
                    kind: TimeoutKind::Media,
                },
            ) => S::Ended(Hangup::new(HangupCause::MediaTimeout)),
            // No final response to our CANCEL: stop waiting.
            (S::Cancelling { cause }, LegEvent::Timeout { .. }) => S::Ended(Hangup::new(cause)),

            _ => return None,
        })
    }

    /// A pre-answer timer fired: an outbound leg sends CANCEL, an inbound one
    /// answers the INVITE with a final response and ends.
    fn give_up(&self, cause: HangupCause) -> LegState {
        match self.direction {
            Direction::Outbound => LegState::Cancelling { cause },
            Direction::Inbound => LegState::Ended(Hangup {
                cause,
                sip_code: Some(cause.to_sip()),
            }),
        }
    }

    /// Ends the leg on the call machine's decision, whatever its state, and
    /// says how the actor must do it (`None`: nothing to send). An outbound
    /// pending leg goes to Cancelling (it ends when the INVITE's final
    /// response arrives); every other leg ends at once.
    pub(super) fn terminate(&mut self, hangup: Hangup) -> Option<EndMethod> {
        let (state, method) = match self.state {
            LegState::Ended(_) | LegState::Cancelling { .. } => return None,
            LegState::Idle => (LegState::Ended(Hangup::new(hangup.cause)), None),
            LegState::Answered | LegState::Held => (
                LegState::Ended(Hangup::new(hangup.cause)),
                Some(EndMethod::Bye),
            ),
            LegState::Dialing | LegState::Ringing | LegState::EarlyMedia => match self.direction {
                Direction::Outbound => (
                    LegState::Cancelling {
                        cause: hangup.cause,
                    },
                    Some(EndMethod::Cancel),
                ),
                Direction::Inbound => {
                    let code = hangup.relay_code();
                    (
                        LegState::Ended(Hangup {
                            cause: hangup.cause,
                            sip_code: Some(code),
                        }),
                        Some(EndMethod::Respond { code }),
                    )
                }
            },
        };
        self.state = state;
        method
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LegEvent as E;
    use LegState as S;

    fn prov(code: u16, has_sdp: bool) -> LegEvent {
        E::Provisional { code, has_sdp }
    }

    fn run(leg: &mut Leg, events: &[LegEvent]) -> LegState {
        for &ev in events {
            leg.apply(ev).unwrap_or_else(|e| panic!("{e}"));
        }
        leg.state()
    }

    /// Every state, reached on an outbound and an inbound leg.
    fn states() -> Vec<(Leg, &'static str)> {
        let mut out = Vec::new();
        for dir in [Direction::Outbound, Direction::Inbound] {
            let paths: &[&[LegEvent]] = &[
                &[],
                &[E::Invite],
                &[E::Invite, prov(180, false)],
                &[E::Invite, prov(183, true)],
                &[E::Invite, E::Answer],
                &[E::Invite, E::Answer, E::Hold],
                &[
                    E::Invite,
                    E::Answer,
                    E::Hangup {
                        cause: HangupCause::Normal,
                    },
                ],
            ];
            for path in paths {
                let mut leg = Leg::new(dir);
                run(&mut leg, path);
                out.push((leg, leg.state().name()));
            }
        }
        let mut cancelling = Leg::outbound();
        run(&mut cancelling, &[E::Invite, E::Cancel]);
        out.push((cancelling, "cancelling"));
        out
    }

    #[test]
    fn answered_call_ending_normally() {
        let mut leg = Leg::outbound();
        let t = leg.apply(E::Invite).unwrap();
        assert_eq!(
            t,
            Transition {
                from: S::Idle,
                to: S::Dialing
            }
        );
        assert_eq!(leg.apply(prov(100, false)).unwrap().to, S::Dialing);
        assert_eq!(leg.apply(prov(180, false)).unwrap().to, S::Ringing);
        assert_eq!(leg.apply(E::Answer).unwrap().to, S::Answered);
        let t = leg
            .apply(E::Hangup {
                cause: HangupCause::Normal,
            })
            .unwrap();
        assert_eq!(t.from, S::Answered);
        assert_eq!(t.to, S::Ended(Hangup::new(HangupCause::Normal)));
        assert!(leg.is_ended());
    }

    #[test]
    fn busy_and_other_failures_keep_the_sip_code() {
        for pre in [
            &[E::Invite][..],
            &[E::Invite, prov(180, false)],
            &[E::Invite, prov(183, true)],
        ] {
            let mut leg = Leg::outbound();
            run(&mut leg, pre);
            assert_eq!(
                leg.apply(E::Failure { sip_code: 486 }).unwrap().to,
                S::Ended(Hangup {
                    cause: HangupCause::Busy,
                    sip_code: Some(486)
                })
            );
        }
        let mut leg = Leg::inbound();
        let end = run(&mut leg, &[E::Invite, E::Failure { sip_code: 404 }]);
        assert_eq!(end, S::Ended(Hangup::from_sip(404)));
    }

    #[test]
    fn no_answer_timeout_cancels_outbound_then_ends_on_487() {
        let mut leg = Leg::outbound();
        run(&mut leg, &[E::Invite, prov(180, false)]);
        let t = leg
            .apply(E::Timeout {
                kind: TimeoutKind::NoAnswer,
            })
            .unwrap();
        assert_eq!(
            t.to,
            S::Cancelling {
                cause: HangupCause::NoAnswer
            }
        );
        let t = leg.apply(E::Failure { sip_code: 487 }).unwrap();
        assert_eq!(
            t.to,
            S::Ended(Hangup {
                cause: HangupCause::NoAnswer,
                sip_code: Some(487)
            })
        );
    }

    #[test]
    fn timeouts_on_inbound_legs_end_at_once_with_a_response_code() {
        let mut leg = Leg::inbound();
        run(&mut leg, &[E::Invite, prov(180, false)]);
        assert_eq!(
            leg.apply(E::Timeout {
                kind: TimeoutKind::NoAnswer
            })
            .unwrap()
            .to,
            S::Ended(Hangup {
                cause: HangupCause::NoAnswer,
                sip_code: Some(480)
            })
        );
        let mut leg = Leg::outbound();
        run(&mut leg, &[E::Invite]);
        assert_eq!(
            leg.apply(E::Timeout {
                kind: TimeoutKind::Ring
            })
            .unwrap()
            .to,
            S::Cancelling {
                cause: HangupCause::Unavailable
            }
        );
        // No answer to the CANCEL either: give up.
        assert_eq!(
            leg.apply(E::Timeout {
                kind: TimeoutKind::Ring
            })
            .unwrap()
            .to,
            S::Ended(Hangup::new(HangupCause::Unavailable))
        );
    }

    #[test]
    fn cancel_during_ringing() {
        let mut out = Leg::outbound();
        run(&mut out, &[E::Invite, prov(180, false)]);
        assert_eq!(
            out.apply(E::Cancel).unwrap().to,
            S::Cancelling {
                cause: HangupCause::Cancelled
            }
        );
        assert!(
            out.apply(E::Cancel).unwrap().is_noop(),
            "retransmitted CANCEL"
        );
        assert!(out.apply(prov(180, false)).unwrap().is_noop());
        assert_eq!(
            out.apply(E::Failure { sip_code: 487 }).unwrap().to,
            S::Ended(Hangup {
                cause: HangupCause::Cancelled,
                sip_code: Some(487)
            })
        );

        let mut inb = Leg::inbound();
        run(&mut inb, &[E::Invite, prov(180, false)]);
        assert_eq!(
            inb.apply(E::Cancel).unwrap().to,
            S::Ended(Hangup {
                cause: HangupCause::Cancelled,
                sip_code: Some(487)
            })
        );
    }

    #[test]
    fn answer_crossing_cancel_ends_the_leg() {
        let mut leg = Leg::outbound();
        run(&mut leg, &[E::Invite, E::Cancel]);
        let t = leg.apply(E::Answer).unwrap();
        assert_eq!(t.to, S::Ended(Hangup::new(HangupCause::Cancelled)));
    }

    #[test]
    fn a_failure_crossing_cancel_wins_over_the_cancel() {
        let mut leg = Leg::outbound();
        run(&mut leg, &[E::Invite, E::Cancel]);
        assert_eq!(
            leg.apply(E::Failure { sip_code: 486 }).unwrap().to,
            S::Ended(Hangup::from_sip(486))
        );
    }

    #[test]
    fn early_media_then_answer() {
        let mut leg = Leg::outbound();
        run(&mut leg, &[E::Invite, prov(180, false)]);
        assert_eq!(leg.apply(prov(183, true)).unwrap().to, S::EarlyMedia);
        // A 180 after early media keeps it.
        assert!(leg.apply(prov(180, false)).unwrap().is_noop());
        assert!(leg.apply(prov(183, true)).unwrap().is_noop());
        assert_eq!(leg.apply(E::Answer).unwrap().to, S::Answered);
        // 180 with SDP straight from Dialing is early media too.
        let mut leg = Leg::outbound();
        assert_eq!(run(&mut leg, &[E::Invite, prov(180, true)]), S::EarlyMedia);
    }

    #[test]
    fn hold_and_resume() {
        let mut leg = Leg::inbound();
        run(&mut leg, &[E::Invite, E::Answer]);
        assert_eq!(leg.apply(E::Hold).unwrap().to, S::Held);
        assert!(leg.apply(E::Hold).unwrap().is_noop());
        assert_eq!(leg.apply(E::Resume).unwrap().to, S::Answered);
        assert!(leg.apply(E::Resume).unwrap().is_noop());
        run(&mut leg, &[E::Hold]);
        assert_eq!(
            leg.apply(E::Timeout {
                kind: TimeoutKind::Media
            })
            .unwrap()
            .to,
            S::Ended(Hangup::new(HangupCause::MediaTimeout))
        );
    }

    #[test]
    fn idempotent_retransmissions() {
        let mut leg = Leg::inbound();
        run(&mut leg, &[E::Invite]);
        assert!(leg.apply(E::Invite).unwrap().is_noop());
        run(&mut leg, &[prov(180, false)]);
        assert!(leg.apply(prov(180, false)).unwrap().is_noop());
        assert!(leg.apply(prov(100, false)).unwrap().is_noop());
        assert!(leg.apply(E::Invite).unwrap().is_noop());
        run(&mut leg, &[E::Answer]);
        assert!(leg.apply(E::Answer).unwrap().is_noop());
    }

    #[test]
    fn idle_leg_can_be_cancelled() {
        let mut leg = Leg::outbound();
        assert_eq!(
            leg.apply(E::Cancel).unwrap().to,
            S::Ended(Hangup::new(HangupCause::Cancelled))
        );
    }

    /// Each invalid class: (state name, event) pairs that must fail and leave
    /// the leg unchanged.
    #[test]
    fn invalid_transitions_are_errors() {
        let every_event = [
            E::Invite,
            prov(180, false),
            prov(183, true),
            E::Answer,
            E::Hold,
            E::Resume,
            E::Cancel,
            E::Hangup {
                cause: HangupCause::Normal,
            },
            E::Failure { sip_code: 486 },
            E::Timeout {
                kind: TimeoutKind::Ring,
            },
            E::Timeout {
                kind: TimeoutKind::NoAnswer,
            },
            E::Timeout {
                kind: TimeoutKind::Media,
            },
        ];
        let invalid: &[(&str, &[LegEvent])] = &[
            // Anything after the end (e.g. Answer after Ended).
            ("ended", &every_event),
            // Nothing but Invite or Cancel before the INVITE.
            (
                "idle",
                &[
                    prov(180, false),
                    E::Answer,
                    E::Hold,
                    E::Resume,
                    E::Hangup {
                        cause: HangupCause::Normal,
                    },
                    E::Failure { sip_code: 486 },
                    E::Timeout {
                        kind: TimeoutKind::NoAnswer,
                    },
                    E::Timeout {
                        kind: TimeoutKind::Media,
                    },
                ],
            ),
            // Hold, BYE and media timeouts before the answer.
            (
                "dialing",
                &[
                    E::Hold,
                    E::Resume,
                    E::Hangup {
                        cause: HangupCause::Normal,
                    },
                    E::Timeout {
                        kind: TimeoutKind::Media,
                    },
                ],
            ),
            // A ring timeout once it rings is stale.
            (
                "ringing",
                &[
                    E::Timeout {
                        kind: TimeoutKind::Ring,
                    },
                    E::Hold,
                ],
            ),
            (
                "early_media",
                &[
                    E::Timeout {
                        kind: TimeoutKind::Ring,
                    },
                    E::Resume,
                ],
            ),
            // CANCEL, a failure, a provisional or a re-INVITE after the answer.
            (
                "answered",
                &[
                    E::Invite,
                    prov(180, false),
                    E::Cancel,
                    E::Failure { sip_code: 488 },
                    E::Timeout {
                        kind: TimeoutKind::NoAnswer,
                    },
                ],
            ),
            ("held", &[E::Answer, E::Cancel, E::Invite, prov(183, true)]),
            // Cancelling: no BYE, hold or new INVITE.
            (
                "cancelling",
                &[
                    E::Invite,
                    E::Hold,
                    E::Resume,
                    E::Hangup {
                        cause: HangupCause::Normal,
                    },
                ],
            ),
        ];
        let mut covered = std::collections::BTreeSet::new();
        for (leg, name) in states() {
            for (state, events) in invalid {
                if *state != name {
                    continue;
                }
                covered.insert(name);
                for &ev in *events {
                    let mut l = leg;
                    let err = l.apply(ev).unwrap_err();
                    assert_eq!(
                        err,
                        InvalidTransition {
                            state: leg.state(),
                            event: ev
                        }
                    );
                    assert_eq!(l, leg, "{name} + {ev} changed the leg");
                }
            }
        }
        assert_eq!(
            covered.len(),
            invalid.len(),
            "a state in the table was never reached"
        );
    }

    #[test]
    fn impossible_codes_are_errors() {
        let mut leg = Leg::outbound();
        run(&mut leg, &[E::Invite]);
        for ev in [
            prov(200, false),
            prov(99, false),
            E::Failure { sip_code: 200 },
            E::Failure { sip_code: 180 },
            E::Failure { sip_code: 700 },
        ] {
            assert!(leg.apply(ev).is_err(), "{ev}");
            assert_eq!(leg.state(), S::Dialing);
        }
    }

    #[test]
    fn serde_forms() {
        assert_eq!(
            serde_json::to_value(S::Ringing).unwrap(),
            serde_json::json!({"state": "ringing"})
        );
        assert_eq!(
            serde_json::to_value(S::Ended(Hangup::from_sip(486))).unwrap(),
            serde_json::json!({"state": "ended", "cause": "busy", "sip_code": 486})
        );
        assert_eq!(
            serde_json::to_value(S::Cancelling {
                cause: HangupCause::NoAnswer
            })
            .unwrap(),
            serde_json::json!({"state": "cancelling", "cause": "no_answer"})
        );
        let ev = E::Timeout {
            kind: TimeoutKind::NoAnswer,
        };
        let json = serde_json::to_value(ev).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"event": "timeout", "kind": "no_answer"})
        );
        assert_eq!(serde_json::from_value::<LegEvent>(json).unwrap(), ev);
        let back: LegState = serde_json::from_value(
            serde_json::json!({"state": "ended", "cause": "normal", "sip_code": null}),
        )
        .unwrap();
        assert_eq!(back, S::Ended(Hangup::new(HangupCause::Normal)));
    }
}
