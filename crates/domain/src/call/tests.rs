use super::*;
use CallAction as Act;
use HangupCause as C;
use LegEvent as E;
use LegId::{A, B, Consult};

fn on(leg: LegId, event: LegEvent) -> CallEvent {
    CallEvent::Leg { leg, event }
}

fn prov(code: u16, has_sdp: bool) -> LegEvent {
    E::Provisional { code, has_sdp }
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
fn actions(call: &mut Call, event: CallEvent) -> Vec<CallAction> {
    ok(call, event).actions
}

#[track_caller]
fn leg_state(call: &Call, id: LegId) -> LegState {
    call.leg(id)
        .map(Leg::state)
        .unwrap_or_else(|| panic!("no leg {id:?}"))
}

fn end(leg: LegId, hangup: Hangup, method: EndMethod) -> CallAction {
    Act::End {
        leg,
        hangup,
        method,
    }
}

/// Inbound call from a trunk, A ringing, B (the agent) ringing.
fn inbound_ringing() -> Call {
    let mut call = Call::inbound();
    ok(&mut call, on(A, E::Invite));
    ok(&mut call, on(B, E::Invite));
    assert_eq!(call.state(), CallState::Originating);
    let t = ok(&mut call, on(B, prov(180, false)));
    assert_eq!(t.to, CallState::Ringing);
    assert_eq!(
        t.actions,
        [Act::Provisional {
            leg: A,
            code: 180,
            has_sdp: false
        }]
    );
    assert_eq!(
        t.legs,
        [
            LegChange {
                leg: B,
                from: LegState::Dialing,
                to: LegState::Ringing
            },
            LegChange {
                leg: A,
                from: LegState::Dialing,
                to: LegState::Ringing
            },
        ]
    );
    call
}

fn inbound_bridged() -> Call {
    let mut call = inbound_ringing();
    let t = ok(&mut call, on(B, E::Answer));
    assert_eq!(t.to, CallState::Bridged);
    assert_eq!(
        t.actions,
        [Act::Answer { leg: A }, Act::Bridge { a: A, b: B }]
    );
    assert_eq!(leg_state(&call, A), LegState::Answered);
    call
}

/// Agent first (click-to-call): A is the agent, answered; B (the customer)
/// dialled.
fn agent_first_dialing_customer() -> Call {
    let mut call = Call::outbound();
    ok(&mut call, on(A, E::Invite));
    assert!(actions(&mut call, on(A, prov(180, false))).is_empty());
    assert_eq!(call.state(), CallState::Ringing);
    assert!(actions(&mut call, on(A, E::Answer)).is_empty());
    assert_eq!(call.state(), CallState::Originating);
    ok(&mut call, on(B, E::Invite));
    call
}

#[test]
fn answered_call_ending_normally() {
    let mut call = inbound_bridged();
    let t = ok(&mut call, on(A, E::Hangup { cause: C::Normal }));
    assert_eq!(t.to, CallState::Ended(Hangup::new(C::Normal)));
    assert_eq!(t.actions, [end(B, Hangup::new(C::Normal), EndMethod::Bye)]);
    assert_eq!(leg_state(&call, B), LegState::Ended(Hangup::new(C::Normal)));
}

#[test]
fn agent_hangs_up_first() {
    let mut call = inbound_bridged();
    let t = ok(&mut call, on(B, E::Hangup { cause: C::Normal }));
    assert_eq!(t.actions, [end(A, Hangup::new(C::Normal), EndMethod::Bye)]);
}

#[test]
fn busy_is_relayed_to_the_inbound_leg() {
    let mut call = inbound_ringing();
    let t = ok(&mut call, on(B, E::Failure { sip_code: 486 }));
    let busy = Hangup::from_sip(486);
    assert_eq!(t.to, CallState::Ended(busy));
    assert_eq!(t.actions, [end(A, busy, EndMethod::Respond { code: 486 })]);
    assert_eq!(leg_state(&call, A), LegState::Ended(busy));
}

#[test]
fn busy_customer_hangs_up_the_answered_agent() {
    let mut call = agent_first_dialing_customer();
    let t = ok(&mut call, on(B, E::Failure { sip_code: 486 }));
    assert_eq!(t.to, CallState::Ended(Hangup::from_sip(486)));
    assert_eq!(t.actions, [end(A, Hangup::new(C::Busy), EndMethod::Bye)]);
}

#[test]
fn no_answer_timeout() {
    let mut call = agent_first_dialing_customer();
    assert_eq!(
        actions(&mut call, on(B, prov(180, false))),
        [Act::PlayRingback { leg: A }]
    );
    assert_eq!(call.state(), CallState::Ringing);
    let t = ok(
        &mut call,
        on(
            B,
            E::Timeout {
                kind: TimeoutKind::NoAnswer,
            },
        ),
    );
    assert!(
        t.actions.is_empty(),
        "the actor sends the CANCEL it decided on"
    );
    assert_eq!(
        leg_state(&call, B),
        LegState::Cancelling { cause: C::NoAnswer }
    );
    let t = ok(&mut call, on(B, E::Failure { sip_code: 487 }));
    let no_answer = Hangup {
        cause: C::NoAnswer,
        sip_code: Some(487),
    };
    assert_eq!(t.to, CallState::Ended(no_answer));
    assert_eq!(
        t.actions,
        [end(A, Hangup::new(C::NoAnswer), EndMethod::Bye)]
    );
}

#[test]
fn no_answer_on_inbound_call_answers_the_caller_with_480() {
    let mut call = inbound_ringing();
    ok(
        &mut call,
        on(
            B,
            E::Timeout {
                kind: TimeoutKind::NoAnswer,
            },
        ),
    );
    let t = ok(&mut call, on(B, E::Failure { sip_code: 487 }));
    let relayed = Hangup {
        cause: C::NoAnswer,
        sip_code: Some(480),
    };
    assert_eq!(
        t.actions,
        [end(A, relayed, EndMethod::Respond { code: 480 })]
    );
}

#[test]
fn cancel_during_ringing() {
    let mut call = inbound_ringing();
    let t = ok(&mut call, on(A, E::Cancel));
    let cancelled = Hangup {
        cause: C::Cancelled,
        sip_code: Some(487),
    };
    assert_eq!(t.to, CallState::Ended(cancelled));
    assert_eq!(
        t.actions,
        [end(B, Hangup::new(C::Cancelled), EndMethod::Cancel)]
    );
    assert_eq!(
        leg_state(&call, B),
        LegState::Cancelling {
            cause: C::Cancelled
        }
    );
    // The agent's 487 still lands on its leg; the call stays ended.
    let t = ok(&mut call, on(B, E::Failure { sip_code: 487 }));
    assert_eq!(t.to, CallState::Ended(cancelled));
    assert!(t.actions.is_empty());
    assert!(call.leg(B).unwrap().is_ended());
}

#[test]
fn answer_crossing_our_cancel_is_acked_and_byed() {
    let mut call = inbound_ringing();
    ok(&mut call, on(A, E::Cancel));
    let t = ok(&mut call, on(B, E::Answer));
    assert_eq!(
        t.actions,
        [end(B, Hangup::new(C::Cancelled), EndMethod::Bye)]
    );
    assert!(call.state().is_ended());
}

#[test]
fn early_media_then_answer() {
    let mut call = Call::inbound();
    ok(&mut call, on(A, E::Invite));
    ok(&mut call, on(B, E::Invite));
    let t = ok(&mut call, on(B, prov(183, true)));
    assert_eq!(t.to, CallState::EarlyMedia);
    assert_eq!(
        t.actions,
        [Act::Provisional {
            leg: A,
            code: 183,
            has_sdp: true
        }]
    );
    // A 180 after the 183 changes nothing.
    let t = ok(&mut call, on(B, prov(180, false)));
    assert!(t.actions.is_empty() && t.legs.is_empty());
    let t = ok(&mut call, on(B, E::Answer));
    assert_eq!(t.to, CallState::Bridged);
    assert_eq!(
        t.actions,
        [Act::Answer { leg: A }, Act::Bridge { a: A, b: B }]
    );
}

#[test]
fn early_media_to_an_answered_agent() {
    let mut call = agent_first_dialing_customer();
    assert_eq!(
        actions(&mut call, on(B, prov(183, true))),
        [Act::EarlyMedia { from: B, to: A }]
    );
    assert_eq!(call.state(), CallState::EarlyMedia);
    assert_eq!(
        actions(&mut call, on(B, E::Answer)),
        [Act::Bridge { a: A, b: B }]
    );
    assert_eq!(call.state(), CallState::Bridged);
}

#[test]
fn hold_and_resume() {
    let mut call = inbound_bridged();
    let t = ok(&mut call, on(A, E::Hold));
    assert_eq!(t.to, CallState::OnHold);
    assert!(t.actions.is_empty());
    assert_eq!(ok(&mut call, on(A, E::Hold)).legs, [], "no-op");
    assert_eq!(ok(&mut call, on(A, E::Resume)).to, CallState::Bridged);
}

#[test]
fn blind_transfer() {
    let mut call = inbound_bridged();
    ok(&mut call, on(A, E::Hold));
    let t = ok(&mut call, CallEvent::BlindTransfer { leaving: B });
    assert_eq!(
        t.to,
        CallState::Transferring {
            kind: TransferKind::Blind
        }
    );
    assert_eq!(
        t.actions,
        [
            end(B, Hangup::new(C::Transferred), EndMethod::Bye),
            Act::Dial { leg: B },
            Act::Resume { leg: A },
        ]
    );
    assert_eq!(leg_state(&call, B), LegState::Dialing);
    assert_eq!(
        actions(&mut call, on(B, prov(180, false))),
        [Act::PlayRingback { leg: A }]
    );
    let t = ok(&mut call, on(B, E::Answer));
    assert_eq!(t.to, CallState::Bridged);
    assert_eq!(t.actions, [Act::Bridge { a: A, b: B }]);
}

#[test]
fn blind_transfer_to_a_busy_target_ends_the_call() {
    let mut call = inbound_bridged();
    ok(&mut call, CallEvent::BlindTransfer { leaving: B });
    let t = ok(&mut call, on(B, E::Failure { sip_code: 486 }));
    assert_eq!(t.to, CallState::Ended(Hangup::from_sip(486)));
    assert_eq!(t.actions, [end(A, Hangup::new(C::Busy), EndMethod::Bye)]);
}

fn consulting() -> Call {
    let mut call = inbound_bridged();
    let t = ok(&mut call, CallEvent::ConsultStart { transferor: B });
    assert_eq!(
        t.to,
        CallState::Transferring {
            kind: TransferKind::Attended
        }
    );
    assert_eq!(
        t.actions,
        [Act::Hold { leg: A }, Act::Dial { leg: Consult }]
    );
    assert_eq!(leg_state(&call, A), LegState::Held);
    assert_eq!(
        actions(&mut call, on(Consult, prov(180, false))),
        [Act::PlayRingback { leg: B }]
    );
    call
}

#[test]
fn attended_transfer_complete() {
    let mut call = consulting();
    assert!(matches!(
        call.apply(CallEvent::ConsultComplete),
        Err(CallError::Invalid { .. })
    ));
    assert_eq!(
        actions(&mut call, on(Consult, E::Answer)),
        [Act::Bridge { a: B, b: Consult }]
    );
    let t = ok(&mut call, CallEvent::ConsultComplete);
    assert_eq!(t.to, CallState::Bridged);
    assert_eq!(
        t.actions,
        [
            end(B, Hangup::new(C::Transferred), EndMethod::Bye),
            Act::ConsultReplaces { leg: B },
            Act::Resume { leg: A },
            Act::Bridge { a: A, b: B },
        ]
    );
    assert!(call.leg(Consult).is_none());
    assert_eq!(leg_state(&call, B), LegState::Answered);
    assert_eq!(leg_state(&call, A), LegState::Answered);
    // The former consult leg now is B: its BYE ends the call.
    let t = ok(&mut call, on(B, E::Hangup { cause: C::Normal }));
    assert_eq!(t.actions, [end(A, Hangup::new(C::Normal), EndMethod::Bye)]);
}

#[test]
fn attended_transfer_cancel_after_answer() {
    let mut call = consulting();
    ok(&mut call, on(Consult, E::Answer));
    let t = ok(&mut call, CallEvent::ConsultCancel);
    assert_eq!(t.to, CallState::Bridged);
    assert_eq!(
        t.actions,
        [
            end(Consult, Hangup::new(C::Normal), EndMethod::Bye),
            Act::Resume { leg: A },
            Act::Bridge { a: A, b: B },
        ]
    );
}

#[test]
fn attended_transfer_cancel_while_ringing() {
    let mut call = consulting();
    let t = ok(&mut call, CallEvent::ConsultCancel);
    assert_eq!(t.to, CallState::Bridged);
    assert_eq!(
        t.actions[0],
        end(Consult, Hangup::new(C::Cancelled), EndMethod::Cancel)
    );
    // Its 487 arrives later and changes nothing else.
    let t = ok(&mut call, on(Consult, E::Failure { sip_code: 487 }));
    assert!(t.actions.is_empty());
    assert_eq!(t.to, CallState::Bridged);
    // A new consult may start once the old one has ended.
    ok(&mut call, CallEvent::ConsultStart { transferor: B });
}

#[test]
fn consult_target_busy_reconnects() {
    let mut call = consulting();
    let t = ok(&mut call, on(Consult, E::Failure { sip_code: 486 }));
    assert_eq!(t.to, CallState::Bridged);
    assert_eq!(
        t.actions,
        [Act::Resume { leg: A }, Act::Bridge { a: A, b: B }]
    );
}

#[test]
fn kept_party_hanging_up_during_consult_ends_everything() {
    let mut call = consulting();
    ok(&mut call, on(Consult, E::Answer));
    let t = ok(&mut call, on(A, E::Hangup { cause: C::Normal }));
    assert_eq!(t.to, CallState::Ended(Hangup::new(C::Normal)));
    assert_eq!(
        t.actions,
        [
            end(B, Hangup::new(C::Normal), EndMethod::Bye),
            end(Consult, Hangup::new(C::Normal), EndMethod::Bye),
        ]
    );
}

#[test]
fn api_hangup_ends_every_leg_with_the_cause() {
    let mut call = inbound_ringing();
    let t = ok(
        &mut call,
        CallEvent::Hangup {
            cause: C::SystemShutdown,
        },
    );
    assert_eq!(t.to, CallState::Ended(Hangup::new(C::SystemShutdown)));
    assert_eq!(
        t.actions,
        [
            end(
                A,
                Hangup {
                    cause: C::SystemShutdown,
                    sip_code: Some(503)
                },
                EndMethod::Respond { code: 503 }
            ),
            end(B, Hangup::new(C::SystemShutdown), EndMethod::Cancel),
        ]
    );
}

#[test]
fn inbound_caller_giving_up_before_routing() {
    let mut call = Call::inbound();
    ok(&mut call, on(A, E::Invite));
    let t = ok(&mut call, on(A, E::Cancel));
    assert!(t.to.is_ended());
    assert!(t.actions.is_empty(), "B was never dialled");
    assert!(call.leg(B).unwrap().is_ended());
}

#[test]
fn invalid_events_are_errors_and_change_nothing() {
    let ringing = inbound_ringing();
    let bridged = inbound_bridged();
    let consulting = consulting();
    let mut ended = inbound_bridged();
    ok(&mut ended, on(A, E::Hangup { cause: C::Normal }));

    let cases: &[(&Call, CallEvent)] = &[
        // Leg transitions the leg refuses.
        (&ringing, on(B, E::Hold)),
        (&bridged, on(B, E::Cancel)),
        (&ended, on(A, E::Answer)),
        (&ended, on(B, E::Hangup { cause: C::Normal })),
        // No consult leg.
        (&bridged, on(Consult, E::Answer)),
        // Call-level requests after the end.
        (&ended, CallEvent::Hangup { cause: C::Normal }),
        (&ended, CallEvent::BlindTransfer { leaving: B }),
        (&ended, CallEvent::ConsultStart { transferor: B }),
        // Transfers before both legs answered.
        (&ringing, CallEvent::BlindTransfer { leaving: B }),
        (&ringing, CallEvent::ConsultStart { transferor: A }),
        // Transfer of the consult slot.
        (&bridged, CallEvent::BlindTransfer { leaving: Consult }),
        (
            &bridged,
            CallEvent::ConsultStart {
                transferor: Consult,
            },
        ),
        // Consult requests without a consult.
        (&bridged, CallEvent::ConsultComplete),
        (&bridged, CallEvent::ConsultCancel),
        // A second transfer during one.
        (&consulting, CallEvent::BlindTransfer { leaving: B }),
        (&consulting, CallEvent::ConsultStart { transferor: B }),
        // Completing before the consult answered.
        (&consulting, CallEvent::ConsultComplete),
    ];
    for (call, event) in cases {
        let mut c = (*call).clone();
        let err = c.apply(*event).unwrap_err();
        assert_eq!(&c, *call, "{event:?} changed the call");
        match (event, err) {
            (CallEvent::Leg { leg, .. }, CallError::Leg { leg: l, .. }) => assert_eq!(*leg, l),
            (_, CallError::Invalid { state, event: e }) => {
                assert_eq!(state, call.state());
                assert_eq!(e, *event);
            }
            (_, err) => panic!("{event:?}: unexpected {err:?}"),
        }
        let _ = err.to_string();
    }
}

#[test]
fn serde_forms() {
    assert_eq!(
        serde_json::to_value(CallState::Transferring {
            kind: TransferKind::Attended
        })
        .unwrap(),
        serde_json::json!({"state": "transferring", "kind": "attended"})
    );
    let action = end(A, Hangup::from_sip(486), EndMethod::Respond { code: 486 });
    assert_eq!(
        serde_json::to_value(action).unwrap(),
        serde_json::json!({
            "type": "end", "leg": "a",
            "hangup": {"cause": "busy", "sip_code": 486},
            "method": {"respond": {"code": 486}}
        })
    );
    let event = on(Consult, prov(183, true));
    let json = serde_json::to_value(event).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"type": "leg", "leg": "consult",
            "event": {"event": "provisional", "code": 183, "has_sdp": true}})
    );
    assert_eq!(serde_json::from_value::<CallEvent>(json).unwrap(), event);
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

fn random_leg_event(rng: &mut Lcg) -> LegEvent {
    let codes = [
        0, 99, 100, 180, 181, 183, 200, 302, 404, 408, 480, 486, 487, 503, 603, 700,
    ];
    match rng.next() % 9 {
        0 => E::Invite,
        1 => E::Provisional {
            code: rng.pick(&codes),
            has_sdp: rng.next().is_multiple_of(2),
        },
        2 => E::Answer,
        3 => E::Hold,
        4 => E::Resume,
        5 => E::Cancel,
        6 => E::Hangup {
            cause: rng.pick(&HangupCause::ALL),
        },
        7 => E::Failure {
            sip_code: rng.pick(&codes),
        },
        _ => E::Timeout {
            kind: rng.pick(&[TimeoutKind::Ring, TimeoutKind::NoAnswer, TimeoutKind::Media]),
        },
    }
}

#[test]
fn random_leg_sequences_never_panic_and_ended_is_terminal() {
    let mut rng = Lcg(0x5eed);
    for run in 0..2_000u32 {
        let mut leg = if run.is_multiple_of(2) {
            Leg::outbound()
        } else {
            Leg::inbound()
        };
        let mut ended = None;
        for _ in 0..40 {
            let before = leg;
            let ev = random_leg_event(&mut rng);
            match leg.apply(ev) {
                Ok(t) => {
                    assert_eq!(t.from, before.state());
                    assert_eq!(t.to, leg.state());
                }
                Err(_) => assert_eq!(leg, before),
            }
            if let Some(end) = ended {
                assert_eq!(leg.state(), end, "left Ended on {ev}");
            } else if leg.is_ended() {
                ended = Some(leg.state());
            }
        }
    }
}

#[test]
fn random_call_sequences_never_panic_and_ended_is_terminal() {
    let mut rng = Lcg(42);
    let mut reached_ended = 0;
    let mut reached_bridged = 0;
    for run in 0..3_000u32 {
        let mut call = if run.is_multiple_of(2) {
            Call::inbound()
        } else {
            Call::outbound()
        };
        let mut ended = None;
        for step in 0..60 {
            // Bias the start towards a live call so transfers get exercised.
            let event = if step < 2 {
                on([A, B][step], E::Invite)
            } else {
                match rng.next() % 10 {
                    0 => CallEvent::Hangup {
                        cause: rng.pick(&HangupCause::ALL),
                    },
                    1 => CallEvent::BlindTransfer {
                        leaving: rng.pick(&[A, B, Consult]),
                    },
                    2 => CallEvent::ConsultStart {
                        transferor: rng.pick(&[A, B, Consult]),
                    },
                    3 => rng.pick(&[CallEvent::ConsultComplete, CallEvent::ConsultCancel]),
                    _ => on(rng.pick(&[A, B, Consult]), random_leg_event(&mut rng)),
                }
            };
            let before = call.clone();
            match call.apply(event) {
                Ok(t) => {
                    assert_eq!(t.from, before.state());
                    assert_eq!(t.to, call.state());
                }
                Err(_) => assert_eq!(call, before, "{event:?} failed but changed the call"),
            }
            if call.state() == CallState::Bridged {
                reached_bridged += 1;
            }
            match ended {
                Some(end) => assert_eq!(call.state(), end, "left Ended on {event:?}"),
                None if call.state().is_ended() => {
                    ended = Some(call.state());
                    reached_ended += 1;
                }
                None => {
                    // A live call never has an ended A or B leg.
                    assert!(!call.leg(A).unwrap().is_ended(), "{event:?}");
                    assert!(!call.leg(B).unwrap().is_ended(), "{event:?}");
                }
            }
            if call.state().is_ended() {
                // Every leg is ended or on its way out.
                for id in [A, B, Consult] {
                    if let Some(leg) = call.leg(id) {
                        assert!(
                            matches!(
                                leg.state(),
                                LegState::Ended(_) | LegState::Cancelling { .. }
                            ),
                            "{id:?} is {} in an ended call",
                            leg.state()
                        );
                    }
                }
            }
        }
    }
    assert!(reached_ended > 1_000, "{reached_ended}");
    assert!(reached_bridged > 100, "{reached_bridged}");
}
