//! Supervisor monitor legs: listen / whisper / barge on a bridged call.

use super::*;
use CallAction as Act;
use HangupCause as C;
use LegEvent as E;
use LegId::{A, B, Consult, Monitor};
use MonitorMode::{Barge, Listen, Whisper};

fn on(leg: LegId, event: LegEvent) -> CallEvent {
    CallEvent::Leg { leg, event }
}

#[track_caller]
fn ok(call: &mut Call, event: CallEvent) -> CallTransition {
    let before = call.state();
    let t = call
        .apply(event)
        .unwrap_or_else(|e| panic!("{event:?}: {e}"));
    assert_eq!(t.from, before);
    assert_eq!(t.to, call.state());
    t
}

#[track_caller]
fn refused(call: &mut Call, event: CallEvent) {
    let before = call.clone();
    assert!(call.apply(event).is_err(), "{event:?} accepted");
    assert_eq!(*call, before, "{event:?} refused but changed the call");
}

fn state(call: &Call, id: LegId) -> LegState {
    call.leg(id).map(Leg::state).expect("leg")
}

/// Inbound call from a trunk (A) answered by the agent (B).
fn bridged() -> Call {
    let mut call = Call::inbound();
    ok(&mut call, on(A, E::Invite));
    ok(&mut call, on(B, E::Invite));
    ok(&mut call, on(B, E::Answer));
    assert_eq!(call.state(), CallState::Bridged);
    call
}

/// A bridged call with the supervisor's leg answered in `mode`.
fn monitored(mode: MonitorMode) -> Call {
    let mut call = bridged();
    let t = ok(&mut call, CallEvent::MonitorStart { mode });
    assert_eq!(t.actions, [Act::Dial { leg: Monitor }]);
    assert_eq!(
        t.legs,
        [LegChange {
            leg: Monitor,
            from: LegState::Idle,
            to: LegState::Dialing
        }]
    );
    assert_eq!(t.to, CallState::Bridged);
    assert_eq!(call.monitor_mode(), Some(mode));
    let t = ok(
        &mut call,
        on(
            Monitor,
            E::Provisional {
                code: 180,
                has_sdp: false,
            },
        ),
    );
    // Nothing is relayed to the call's parties while the supervisor rings.
    assert!(t.actions.is_empty(), "{:?}", t.actions);
    let t = ok(&mut call, on(Monitor, E::Answer));
    assert_eq!(t.actions, [Act::Mix { mode }]);
    assert_eq!(t.to, CallState::Bridged);
    call
}

#[test]
fn answered_supervisor_is_mixed_in_with_its_mode() {
    for mode in MonitorMode::ALL {
        let call = monitored(mode);
        assert_eq!(state(&call, Monitor), LegState::Answered);
        assert_eq!(state(&call, A), LegState::Answered);
        assert_eq!(state(&call, B), LegState::Answered);
    }
}

#[test]
fn mode_changes_only_remix() {
    let mut call = monitored(Listen);
    let t = ok(&mut call, CallEvent::MonitorMode { mode: Whisper });
    assert_eq!(t.actions, [Act::Mix { mode: Whisper }]);
    assert!(t.legs.is_empty());
    assert_eq!(call.monitor_mode(), Some(Whisper));
    let t = ok(&mut call, CallEvent::MonitorMode { mode: Barge });
    assert_eq!(t.actions, [Act::Mix { mode: Barge }]);
    // The same mode again changes nothing.
    let t = ok(&mut call, CallEvent::MonitorMode { mode: Barge });
    assert!(t.actions.is_empty());
}

#[test]
fn mode_change_while_ringing_applies_at_answer() {
    let mut call = bridged();
    ok(&mut call, CallEvent::MonitorStart { mode: Listen });
    let t = ok(&mut call, CallEvent::MonitorMode { mode: Barge });
    assert!(t.actions.is_empty(), "not mixed before the answer");
    let t = ok(&mut call, on(Monitor, E::Answer));
    assert_eq!(t.actions, [Act::Mix { mode: Barge }]);
}

#[test]
fn supervisor_hanging_up_leaves_the_call_up() {
    let mut call = monitored(Barge);
    let t = ok(&mut call, on(Monitor, E::Hangup { cause: C::Normal }));
    assert_eq!(t.actions, [Act::Unmix]);
    assert_eq!(t.to, CallState::Bridged);
    assert_eq!(state(&call, A), LegState::Answered);
    assert_eq!(state(&call, B), LegState::Answered);
    assert_eq!(call.monitor_mode(), None);
    // A new supervisor may come in afterwards.
    let t = ok(&mut call, CallEvent::MonitorStart { mode: Whisper });
    assert_eq!(t.actions, [Act::Dial { leg: Monitor }]);
}

#[test]
fn supervisor_not_answering_leaves_the_call_up() {
    let mut call = bridged();
    ok(&mut call, CallEvent::MonitorStart { mode: Listen });
    let t = ok(&mut call, on(Monitor, E::Failure { sip_code: 486 }));
    assert!(t.actions.is_empty(), "{:?}", t.actions);
    assert_eq!(t.to, CallState::Bridged);
    assert_eq!(
        state(&call, Monitor),
        LegState::Ended(Hangup::from_sip(486))
    );
    assert_eq!(call.monitor_mode(), None);
    // A ring timeout: the leg is cancelled, the call stays.
    ok(&mut call, CallEvent::MonitorStart { mode: Listen });
    ok(
        &mut call,
        on(
            Monitor,
            E::Timeout {
                kind: TimeoutKind::NoAnswer,
            },
        ),
    );
    assert!(matches!(state(&call, Monitor), LegState::Cancelling { .. }));
    assert_eq!(call.state(), CallState::Bridged);
}

#[test]
fn monitor_stop_byes_an_answered_supervisor_and_cancels_a_ringing_one() {
    let mut call = monitored(Whisper);
    let t = ok(&mut call, CallEvent::MonitorStop);
    assert_eq!(
        t.actions,
        [
            Act::End {
                leg: Monitor,
                hangup: Hangup::new(C::Normal),
                method: EndMethod::Bye
            },
            Act::Unmix
        ]
    );
    assert_eq!(t.to, CallState::Bridged);
    refused(&mut call, CallEvent::MonitorStop);
    refused(&mut call, CallEvent::MonitorMode { mode: Listen });

    ok(&mut call, CallEvent::MonitorStart { mode: Listen });
    let t = ok(&mut call, CallEvent::MonitorStop);
    assert_eq!(
        t.actions,
        [Act::End {
            leg: Monitor,
            hangup: Hangup::new(C::Cancelled),
            method: EndMethod::Cancel
        }]
    );
    // Waiting for the 487: no second supervisor, no second stop.
    refused(&mut call, CallEvent::MonitorStart { mode: Listen });
    refused(&mut call, CallEvent::MonitorStop);
    ok(&mut call, on(Monitor, E::Failure { sip_code: 487 }));
    assert!(state(&call, Monitor).is_ended());
    ok(&mut call, CallEvent::MonitorStart { mode: Listen });
}

#[test]
fn the_call_ending_hangs_up_the_supervisor() {
    // The customer hangs up: agent and supervisor get BYEs.
    let mut call = monitored(Listen);
    let t = ok(&mut call, on(A, E::Hangup { cause: C::Normal }));
    assert_eq!(t.to, CallState::Ended(Hangup::new(C::Normal)));
    assert!(t.actions.contains(&Act::End {
        leg: Monitor,
        hangup: Hangup::new(C::Normal),
        method: EndMethod::Bye
    }));
    assert!(!t.actions.contains(&Act::Unmix));
    assert!(state(&call, Monitor).is_ended());
    assert_eq!(call.monitor_mode(), None);

    // An API hangup while the supervisor still rings: CANCEL.
    let mut call = bridged();
    ok(&mut call, CallEvent::MonitorStart { mode: Barge });
    let t = ok(
        &mut call,
        CallEvent::Hangup {
            cause: C::SystemShutdown,
        },
    );
    assert!(t.actions.contains(&Act::End {
        leg: Monitor,
        hangup: Hangup::new(C::SystemShutdown),
        method: EndMethod::Cancel
    }));
    // Events of the ended call's supervisor are still applied to the leg
    // but ask for nothing.
    let t = ok(&mut call, on(Monitor, E::Failure { sip_code: 487 }));
    assert!(t.actions.is_empty());
}

#[test]
fn only_one_supervisor_and_only_on_a_bridged_call() {
    let mut call = monitored(Listen);
    refused(&mut call, CallEvent::MonitorStart { mode: Barge });

    // Not bridged yet.
    let mut ringing = Call::inbound();
    ok(&mut ringing, on(A, E::Invite));
    ok(&mut ringing, on(B, E::Invite));
    refused(&mut ringing, CallEvent::MonitorStart { mode: Listen });
    refused(&mut ringing, CallEvent::MonitorMode { mode: Listen });
    refused(&mut ringing, CallEvent::MonitorStop);

    // On hold, or during a transfer.
    let mut held = bridged();
    ok(&mut held, on(A, E::Hold));
    assert_eq!(held.state(), CallState::OnHold);
    refused(&mut held, CallEvent::MonitorStart { mode: Listen });
    let mut consulting = bridged();
    ok(&mut consulting, CallEvent::ConsultStart { transferor: B });
    refused(&mut consulting, CallEvent::MonitorStart { mode: Listen });

    // Ended.
    let mut ended = monitored(Barge);
    ok(&mut ended, CallEvent::Hangup { cause: C::Normal });
    refused(&mut ended, CallEvent::MonitorStart { mode: Listen });
    refused(&mut ended, CallEvent::MonitorMode { mode: Listen });
    refused(&mut ended, CallEvent::MonitorStop);
}

#[test]
fn no_transfer_while_monitored_and_the_monitor_leg_never_transfers() {
    let mut call = monitored(Whisper);
    refused(&mut call, CallEvent::BlindTransfer { leaving: B });
    refused(&mut call, CallEvent::ConsultStart { transferor: A });
    refused(&mut call, CallEvent::BlindTransfer { leaving: Monitor });
    refused(
        &mut call,
        CallEvent::ConsultStart {
            transferor: Monitor,
        },
    );
    ok(&mut call, CallEvent::MonitorStop);
    assert!(state(&call, Monitor).is_ended());
    // Once the supervisor left, transfers work again.
    let t = ok(&mut call, CallEvent::BlindTransfer { leaving: B });
    assert!(t.actions.contains(&Act::Dial { leg: B }));
}

#[test]
fn supervisor_hold_does_not_touch_the_parties() {
    let mut call = monitored(Barge);
    let t = ok(&mut call, on(Monitor, E::Hold));
    assert!(t.actions.is_empty());
    assert_eq!(call.state(), CallState::Bridged);
    assert_eq!(state(&call, A), LegState::Answered);
}

#[test]
fn serde_forms() {
    let event = CallEvent::MonitorStart { mode: Whisper };
    let json = serde_json::to_value(event).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"type": "monitor_start", "mode": "whisper"})
    );
    assert_eq!(serde_json::from_value::<CallEvent>(json).unwrap(), event);
    assert_eq!(
        serde_json::to_value(Act::Mix { mode: Barge }).unwrap(),
        serde_json::json!({"type": "mix", "mode": "barge"})
    );
    assert_eq!(
        serde_json::to_value(Monitor).unwrap(),
        serde_json::json!("monitor")
    );
    for m in MonitorMode::ALL {
        assert_eq!(serde_json::to_value(m).unwrap(), m.as_str());
    }
    assert!(serde_json::from_value::<MonitorMode>(serde_json::json!("spy")).is_err());
}

/// A tiny deterministic LCG (Knuth's MMIX constants).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize]
    }
}

#[test]
fn random_monitor_sequences_keep_the_rules() {
    let mut rng = Lcg(7);
    let mut mixed = 0;
    for _ in 0..2_000 {
        let mut call = bridged();
        let mut ended = None;
        for _ in 0..40 {
            let mode = rng.pick(&MonitorMode::ALL);
            let event = match rng.next() % 12 {
                0 => CallEvent::MonitorStart { mode },
                1 => CallEvent::MonitorMode { mode },
                2 => CallEvent::MonitorStop,
                3 => CallEvent::BlindTransfer {
                    leaving: rng.pick(&[A, B]),
                },
                4 => on(rng.pick(&[A, B, Consult]), E::Hangup { cause: C::Normal }),
                5 => on(Monitor, E::Answer),
                6 => on(Monitor, E::Hangup { cause: C::Normal }),
                7 => on(Monitor, E::Failure { sip_code: 486 }),
                8 => on(
                    Monitor,
                    E::Timeout {
                        kind: TimeoutKind::NoAnswer,
                    },
                ),
                9 => on(Monitor, E::Failure { sip_code: 487 }),
                10 => on(rng.pick(&[A, B]), E::Answer),
                _ => on(
                    Monitor,
                    E::Provisional {
                        code: 180,
                        has_sdp: false,
                    },
                ),
            };
            let before = call.clone();
            match call.apply(event) {
                Ok(t) => {
                    if t.actions.iter().any(|a| matches!(a, Act::Mix { .. })) {
                        mixed += 1;
                        // Only an answered supervisor on a live call is mixed.
                        assert_eq!(state(&call, Monitor), LegState::Answered);
                        assert!(!call.state().is_ended());
                    }
                    // Monitor events never end or change A and B.
                    if matches!(
                        event,
                        CallEvent::MonitorStart { .. }
                            | CallEvent::MonitorMode { .. }
                            | CallEvent::MonitorStop
                            | CallEvent::Leg { leg: Monitor, .. }
                    ) {
                        assert_eq!(call.leg(A), before.leg(A), "{event:?}");
                        assert_eq!(call.leg(B), before.leg(B), "{event:?}");
                        assert_eq!(call.state().is_ended(), before.state().is_ended());
                    }
                }
                Err(_) => assert_eq!(call, before, "{event:?} failed but changed the call"),
            }
            let live_monitor = call.leg(Monitor).is_some_and(|m| !m.is_ended());
            if call.monitor_mode().is_some() {
                assert!(live_monitor, "a mode without a live supervisor");
            }
            match ended {
                Some(end) => assert_eq!(call.state(), end),
                None if call.state().is_ended() => {
                    ended = Some(call.state());
                    if let Some(m) = call.leg(Monitor) {
                        assert!(
                            matches!(m.state(), LegState::Ended(_) | LegState::Cancelling { .. }),
                            "supervisor {} in an ended call",
                            m.state()
                        );
                    }
                    assert_eq!(call.monitor_mode(), None);
                }
                None => {}
            }
        }
    }
    assert!(mixed > 100, "{mixed}");
}
