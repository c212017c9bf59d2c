//! Offers: a queued caller (A, answered by Omnivox) offered to agents (B).

use super::*;
use CallAction as Act;
use LegEvent as E;
use LegId::{A, B};

fn on(leg: LegId, event: LegEvent) -> CallEvent {
    CallEvent::Leg { leg, event }
}

#[track_caller]
fn ok(call: &mut Call, event: CallEvent) -> CallTransition {
    call.apply(event)
        .unwrap_or_else(|e| panic!("{event:?}: {e}"))
}

/// An inbound caller Omnivox answered itself: A answered, B idle.
fn waiting() -> Call {
    let mut call = Call::inbound();
    ok(&mut call, on(A, E::Invite));
    let t = ok(&mut call, on(A, E::Answer));
    assert!(t.actions.is_empty(), "nobody to bridge yet: {t:?}");
    assert_eq!(call.leg(B).unwrap().state(), LegState::Idle);
    call
}

fn ringing_offer(call: &mut Call) {
    let t = ok(call, CallEvent::Offer);
    assert_eq!(t.actions, [Act::Dial { leg: B }]);
    assert!(call.offering());
    let t = ok(
        call,
        on(
            B,
            E::Provisional {
                code: 180,
                has_sdp: false,
            },
        ),
    );
    assert!(
        t.actions.is_empty(),
        "no ringback replaces the caller's music: {:?}",
        t.actions
    );
}

#[test]
fn an_offer_that_fails_leaves_the_caller_waiting_for_the_next() {
    let mut call = waiting();
    ringing_offer(&mut call);
    let t = ok(&mut call, on(B, E::Failure { sip_code: 486 }));
    assert!(t.actions.is_empty(), "{:?}", t.actions);
    assert!(!call.state().is_ended());
    assert!(!call.offering());
    assert_eq!(call.leg(A).unwrap().state(), LegState::Answered);
    // The next agent.
    ringing_offer(&mut call);
    let t = ok(&mut call, on(B, E::Answer));
    assert_eq!(t.actions, [Act::Bridge { a: A, b: B }]);
    assert_eq!(call.state(), CallState::Bridged);
    assert!(!call.offering());
    // Once connected, the agent hanging up ends the call.
    ok(
        &mut call,
        on(
            B,
            E::Hangup {
                cause: HangupCause::Normal,
            },
        ),
    );
    assert!(call.state().is_ended());
}

#[test]
fn a_withdrawn_offer_is_cancelled_and_the_caller_keeps_waiting() {
    let mut call = waiting();
    ringing_offer(&mut call);
    let t = ok(&mut call, CallEvent::CancelOffer);
    assert!(matches!(
        t.actions[..],
        [Act::End {
            leg: B,
            method: EndMethod::Cancel,
            ..
        }]
    ));
    // A second offer waits until B is gone.
    assert!(call.apply(CallEvent::Offer).is_err());
    ok(&mut call, on(B, E::Failure { sip_code: 487 }));
    assert!(!call.state().is_ended());
    ringing_offer(&mut call);
}

#[test]
fn a_ring_timeout_on_the_offer_does_not_end_the_call() {
    let mut call = waiting();
    ringing_offer(&mut call);
    ok(
        &mut call,
        on(
            B,
            E::Timeout {
                kind: TimeoutKind::NoAnswer,
            },
        ),
    );
    ok(&mut call, on(B, E::Failure { sip_code: 487 }));
    assert!(!call.state().is_ended());
    assert!(!call.offering());
}

#[test]
fn the_caller_hanging_up_cancels_the_offer() {
    let mut call = waiting();
    ringing_offer(&mut call);
    let t = ok(
        &mut call,
        on(
            A,
            E::Hangup {
                cause: HangupCause::Normal,
            },
        ),
    );
    assert!(call.state().is_ended());
    assert!(t.actions.iter().any(|a| matches!(
        a,
        Act::End {
            leg: B,
            method: EndMethod::Cancel,
            ..
        }
    )));
}

#[test]
fn offers_need_a_waiting_answered_caller() {
    // A still ringing: nothing to offer.
    let mut call = Call::inbound();
    ok(&mut call, on(A, E::Invite));
    assert!(call.apply(CallEvent::Offer).is_err());
    // A bridged call is not offered again.
    let mut call = waiting();
    ringing_offer(&mut call);
    assert!(call.apply(CallEvent::Offer).is_err(), "one offer at a time");
    ok(&mut call, on(B, E::Answer));
    assert!(call.apply(CallEvent::Offer).is_err());
    assert!(call.apply(CallEvent::CancelOffer).is_err());
}
