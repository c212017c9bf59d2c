//! Simulation traces, and the requirement that a simulation equals a live call driven with
//! the same input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use omnivox_flows::{
    Action, Input, Interpreter, Outcome, Recording, RouteTarget, Script, Trace, TraceEvent,
    WebhookResponse, simulate,
};
use serde_json::json;

use common::*;

fn script(v: serde_json::Value) -> Script {
    serde_json::from_value(v).unwrap()
}

#[test]
fn simulation_trace_equals_a_live_call_with_the_same_input() {
    let s = script(json!({
        "inputs": [{"digits": "2"}, {"digits": "12345#"}, {"recording": {"seconds": 3}}, {"digits": "4"}],
        "webhooks": {"lookup": [{"reply": {"body": {"variables": {"tier": "silver"}}}}]}
    }));
    let simulated = simulate(main_flow(), ctx_at(open_time()), &s);

    // The call actor's side of the same call, answering each action as it happens.
    let mut live = Interpreter::new(main_flow(), ctx_at(open_time()));
    let answers = [
        Input::Played,
        Input::Played,
        Input::WebhookResponse(WebhookResponse {
            status: 200,
            body: r#"{"variables":{"tier":"silver"}}"#.into(),
        }),
        Input::Digits("2".into()),
        Input::Digits("12345#".into()),
        Input::Recorded(Recording {
            id: "sim-recording-1".into(),
            duration_ms: 3000,
        }),
        Input::Digits("4".into()),
        Input::Played,
    ];
    let mut action = live.step(Input::Start);
    for answer in answers {
        assert!(!action.is_terminal());
        action = live.step(answer);
    }
    assert_eq!(action, Action::Hangup);
    assert_eq!(simulated, live.into_trace());

    assert_eq!(
        simulated.nodes,
        [
            "hours", "greet", "notice", "lookup", "menu", "account", "check", "record", "survey",
            "bye"
        ]
    );
    assert_eq!(
        simulated.prompts,
        [
            "notice",
            "main-menu",
            "enter-account",
            "leave-message",
            "rate-us",
            "goodbye"
        ]
    );
    assert_eq!(
        simulated.spoken,
        ["Hello +12125550100, welcome to Omnivox."]
    );
    assert_eq!(
        simulated.variables.get("tier").map(String::as_str),
        Some("silver")
    );
    assert_eq!(
        simulated.variables.get("account").map(String::as_str),
        Some("12345")
    );
    assert_eq!(
        simulated.variables.get("msg").map(String::as_str),
        Some("sim-recording-1")
    );
    assert_eq!(
        simulated.survey.get("satisfaction").map(String::as_str),
        Some("4")
    );
    assert_eq!(simulated.outcome, Some(Outcome::Hangup));
}

#[test]
fn webhook_garbage_fixture_and_a_silent_caller_end_at_the_operator() {
    let s =
        script(json!({"webhooks": {"lookup": [{"reply": {"status": 200, "body": "<html>oops"}}]}}));
    let t = simulate(main_flow(), ctx_at(open_time()), &s);
    assert!(t.events.contains(&TraceEvent::Branch {
        node: "lookup".into(),
        edge: "error".into()
    }));
    // Inputs ran out: the caller is silent, the menu retries twice, then times out.
    assert_eq!(
        t.prompts,
        [
            "notice",
            "main-menu",
            "invalid",
            "main-menu",
            "invalid",
            "main-menu"
        ]
    );
    assert_eq!(
        t.outcome,
        Some(Outcome::Route(RouteTarget::Queue {
            queue: "operator".into()
        }))
    );
    assert_eq!(t.fallback_reason, None);
}

#[test]
fn missing_webhook_fixture_is_a_timeout_and_vip_choice_routes_to_agent() {
    let t = simulate(
        main_flow(),
        ctx_at(open_time()),
        &script(json!({"inputs": [{"digits": "1"}]})),
    );
    assert!(t.events.iter().any(|e| matches!(e, TraceEvent::Error { node, message } if node == "lookup" && message.contains("timed out"))));
    assert_eq!(
        t.outcome,
        Some(Outcome::Route(RouteTarget::Queue {
            queue: "sales".into()
        }))
    );

    let s = script(json!({"webhooks": {"lookup": [{"reply": {"body": {"next": "vip"}}}]}}));
    let t = simulate(main_flow(), ctx_at(open_time()), &s);
    assert_eq!(
        t.outcome,
        Some(Outcome::Route(RouteTarget::Agent {
            agent: "alice".into()
        }))
    );
}

#[test]
fn caller_hangup_in_the_script_ends_the_trace() {
    let s = script(
        json!({"inputs": ["hangup"], "webhooks": {"lookup": [{"error": "connection refused"}]}}),
    );
    let t = simulate(main_flow(), ctx_at(open_time()), &s);
    assert_eq!(t.outcome, Some(Outcome::CallerHangup));
    assert_eq!(t.nodes.last().map(String::as_str), Some("menu"));
    assert!(t.events.iter().any(
        |e| matches!(e, TraceEvent::Error { message, .. } if message == "connection refused")
    ));
}

#[test]
fn a_runaway_flow_still_ends_in_a_route() {
    let f = flow(json!({"start": "m", "nodes": [
        {"id": "m", "type": "menu", "prompt": "p", "options": {"1": "x"}, "timeout": "m"},
        {"id": "x", "type": "hangup"}
    ]}));
    // Silence forever: the timeout branch loops back; the per-call budget ends it.
    let t = simulate(f, ctx_at(open_time()), &Script::default());
    assert_eq!(
        t.outcome,
        Some(Outcome::Route(RouteTarget::Queue {
            queue: "default".into()
        }))
    );
    assert!(t.fallback_reason.as_deref().unwrap().contains("budget"));
}

#[test]
fn scripts_reject_unknown_fields_and_traces_serialize() {
    assert!(serde_json::from_value::<Script>(json!({"input": []})).is_err());
    assert!(serde_json::from_value::<Script>(json!({"inputs": [{"press": "1"}]})).is_err());
    let t = simulate(
        main_flow(),
        ctx_at(open_time()),
        &script(json!({"inputs": [{"digits": "1"}]})),
    );
    let text = serde_json::to_string(&t).unwrap();
    let back: Trace = serde_json::from_str(&text).unwrap();
    assert_eq!(back, t);
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        value["outcome"],
        json!({"route": {"type": "queue", "queue": "sales"}})
    );
    assert_eq!(
        value["events"][0],
        json!({"event": "input", "input": "start"})
    );
}
