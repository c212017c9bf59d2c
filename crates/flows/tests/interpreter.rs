//! Interpreter paths through every node type, driven step by step as the call actor does.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{TimeZone, Utc};
use omnivox_flows::webhook::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use omnivox_flows::{
    Action, Input, Interpreter, Outcome, Recording, RouteTarget, TraceEvent, WebhookFailure,
    WebhookResponse,
};
use serde_json::json;

use common::*;

fn queue(q: &str) -> RouteTarget {
    RouteTarget::Queue { queue: q.into() }
}

fn header<'a>(action: &'a Action, name: &str) -> &'a str {
    let Action::Webhook { request, .. } = action else {
        panic!("not a webhook: {action:?}")
    };
    request
        .headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap()
}

fn reply(body: &str) -> Input {
    Input::WebhookResponse(WebhookResponse {
        status: 200,
        body: body.into(),
    })
}

/// Steps through greet/notice/lookup and returns the webhook action.
fn to_webhook(it: &mut Interpreter) -> Action {
    let say = it.step(Input::Start);
    assert_eq!(
        say,
        Action::Say {
            text: "Hello +12125550100, welcome to Omnivox.".into(),
            voice: Some("en-us".into())
        }
    );
    assert_eq!(it.step(Input::Played), Action::Play("notice".into()));
    let hook = it.step(Input::Played);
    assert!(
        matches!(hook, Action::Webhook { wait: true, .. }),
        "{hook:?}"
    );
    hook
}

#[test]
fn after_hours_goes_to_voicemail() {
    // Saturday 14 March 2026, noon in New York.
    let now = Utc.with_ymd_and_hms(2026, 3, 14, 16, 0, 0).unwrap();
    let mut it = Interpreter::new(main_flow(), ctx_at(now));
    let action = it.step(Input::Start);
    assert_eq!(
        action,
        Action::Voicemail {
            mailbox: "after-hours".into(),
            greeting: Some("closed".into())
        }
    );
    assert!(it.is_finished());
    assert_eq!(
        it.trace().outcome,
        Some(Outcome::Voicemail {
            mailbox: "after-hours".into()
        })
    );
    assert_eq!(it.trace().nodes, ["hours", "closed"]);
    // A finished call keeps answering with its final action.
    assert_eq!(it.step(Input::Played), action);
}

#[test]
fn holiday_is_closed_even_in_working_hours() {
    let christmas_noon = Utc.with_ymd_and_hms(2026, 12, 25, 17, 0, 0).unwrap();
    let mut it = Interpreter::new(main_flow(), ctx_at(christmas_noon));
    assert!(matches!(it.step(Input::Start), Action::Voicemail { .. }));
    let day_before = Utc.with_ymd_and_hms(2026, 12, 24, 17, 0, 0).unwrap();
    let mut it = Interpreter::new(main_flow(), ctx_at(day_before));
    assert!(matches!(it.step(Input::Start), Action::Say { .. }));
}

#[test]
fn business_hours_condition_follows_dst() {
    // 13:30 UTC is 08:30 EST before the change (closed) and 09:30 EDT after it (open).
    let before = Utc.with_ymd_and_hms(2026, 3, 6, 13, 30, 0).unwrap();
    let after = Utc.with_ymd_and_hms(2026, 3, 9, 13, 30, 0).unwrap();
    let mut it = Interpreter::new(main_flow(), ctx_at(before));
    assert!(matches!(it.step(Input::Start), Action::Voicemail { .. }));
    let mut it = Interpreter::new(main_flow(), ctx_at(after));
    assert!(matches!(it.step(Input::Start), Action::Say { .. }));
}

#[test]
fn webhook_is_signed_and_its_reply_chooses_the_next_node() {
    let mut it = Interpreter::new(main_flow(), ctx_at(open_time()));
    let hook = to_webhook(&mut it);
    let Action::Webhook { request, .. } = &hook else {
        unreachable!()
    };
    assert_eq!(request.url, "https://crm.example/ivr");
    assert_eq!(request.method, "POST");
    assert_eq!(request.timeout_ms, 2000);
    let ts = header(&hook, TIMESTAMP_HEADER);
    assert_eq!(ts, open_time().timestamp().to_string());
    let sig = header(&hook, SIGNATURE_HEADER);
    let now = open_time().timestamp();
    assert_eq!(
        webhook::verify(SECRET, ts, &request.body, sig, now, 300),
        Ok(())
    );
    assert!(webhook::verify(b"wrong", ts, &request.body, sig, now, 300).is_err());
    let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(body["caller"], "+12125550100");
    assert_eq!(body["node"], "lookup");
    assert_eq!(body["variables"]["brand"], "Omnivox");

    let action = it.step(reply(r#"{"variables": {"tier": "gold"}, "next": "vip"}"#));
    assert_eq!(
        action,
        Action::Route(RouteTarget::Agent {
            agent: "alice".into()
        })
    );
    assert_eq!(
        it.trace().variables.get("tier").map(String::as_str),
        Some("gold")
    );
    assert_eq!(it.variables().get("tier").map(String::as_str), Some("gold"));
}

#[test]
fn webhook_garbage_timeout_and_foreign_choice_take_the_error_branch() {
    let inputs = [
        reply("<html>502 Bad Gateway"),
        Input::WebhookResponse(WebhookResponse {
            status: 500,
            body: String::new(),
        }),
        Input::WebhookFailed(WebhookFailure::Timeout),
        Input::WebhookFailed(WebhookFailure::Transport("connection refused".into())),
        reply(r#"{"next": "sales"}"#),
    ];
    for input in inputs {
        let mut it = Interpreter::new(main_flow(), ctx_at(open_time()));
        to_webhook(&mut it);
        let action = it.step(input.clone());
        assert!(
            matches!(&action, Action::CollectDigits(c) if c.prompts == ["main-menu"]),
            "{input:?} -> {action:?}"
        );
        assert!(it.trace().events.contains(&TraceEvent::Branch {
            node: "lookup".into(),
            edge: "error".into()
        }));
        assert!(
            it.trace()
                .events
                .iter()
                .any(|e| matches!(e, TraceEvent::Error { node, .. } if node == "lookup"))
        );
    }
}

#[test]
fn webhook_without_branches_falls_back_to_a_safe_route() {
    let f = json!({"start": "hook", "nodes": [
        {"id": "hook", "type": "webhook", "url": "https://x.example/", "secret": "crm", "next": "done"},
        {"id": "done", "type": "hangup"}
    ]});
    // No fallback anywhere: the documented default queue.
    let mut it = Interpreter::new(flow(f.clone()), ctx_at(open_time()));
    assert!(matches!(it.step(Input::Start), Action::Webhook { .. }));
    assert_eq!(
        it.step(reply("not json")),
        Action::Route(queue(omnivox_flows::DEFAULT_FALLBACK_QUEUE))
    );
    assert!(
        it.trace()
            .fallback_reason
            .as_deref()
            .unwrap()
            .contains("webhook failed")
    );
    // The tenant's fallback from the context.
    let mut ctx = ctx_at(open_time());
    ctx.fallback = Some(queue("tenant-operators"));
    let mut it = Interpreter::new(flow(f.clone()), ctx.clone());
    it.step(Input::Start);
    assert_eq!(
        it.step(Input::WebhookFailed(WebhookFailure::Timeout)),
        Action::Route(queue("tenant-operators"))
    );
    // The flow's own fallback wins over the context's.
    let mut with_own = f;
    with_own["fallback"] = json!({"type": "external", "number": "+442079460000"});
    let mut it = Interpreter::new(flow(with_own), ctx);
    it.step(Input::Start);
    assert_eq!(
        it.step(Input::WebhookFailed(WebhookFailure::Timeout)),
        Action::Route(RouteTarget::External {
            number: "+442079460000".into()
        })
    );
}

#[test]
fn missing_secret_takes_the_error_branch_without_sending() {
    let mut ctx = ctx_at(open_time());
    ctx.secrets.clear();
    let mut it = Interpreter::new(main_flow(), ctx);
    it.step(Input::Start);
    it.step(Input::Played);
    let action = it.step(Input::Played);
    assert!(matches!(action, Action::CollectDigits(_)), "{action:?}");
    assert!(!it.trace().events.iter().any(|e| matches!(
        e,
        TraceEvent::Action {
            action: Action::Webhook { .. }
        }
    )));
}

#[test]
fn menu_retries_invalid_input_then_accepts_a_choice() {
    let mut it = Interpreter::new(main_flow(), ctx_at(open_time()));
    to_webhook(&mut it);
    let Action::CollectDigits(c) = it.step(reply("")) else {
        panic!()
    };
    assert_eq!((c.min_digits, c.max_digits), (1, 1));
    let Action::CollectDigits(retry) = it.step(Input::Digits("7".into())) else {
        panic!()
    };
    assert_eq!(retry.prompts, ["invalid", "main-menu"]);
    let Action::CollectDigits(_) = it.step(Input::Timeout) else {
        panic!()
    };
    assert_eq!(
        it.step(Input::Digits("1".into())),
        Action::Route(queue("sales"))
    );
    assert!(it.trace().events.contains(&TraceEvent::Branch {
        node: "menu".into(),
        edge: "option:1".into()
    }));
    assert_eq!(it.trace().outcome, Some(Outcome::Route(queue("sales"))));
}

#[test]
fn menu_exhausted_by_silence_takes_the_timeout_branch() {
    let mut it = Interpreter::new(main_flow(), ctx_at(open_time()));
    to_webhook(&mut it);
    it.step(reply(""));
    assert!(matches!(it.step(Input::Timeout), Action::CollectDigits(_)));
    assert!(matches!(
        it.step(Input::Digits(String::new())),
        Action::CollectDigits(_)
    ));
    assert_eq!(it.step(Input::Timeout), Action::Route(queue("operator")));
    assert!(it.trace().events.contains(&TraceEvent::Branch {
        node: "menu".into(),
        edge: "timeout".into()
    }));
}

#[test]
fn menu_without_branches_falls_back_after_retries() {
    let f = flow(json!({"start": "m", "nodes": [
        {"id": "m", "type": "menu", "prompt": "p", "options": {"1": "end"}, "retries": 1},
        {"id": "end", "type": "hangup"}
    ]}));
    let mut it = Interpreter::new(f, ctx_at(open_time()));
    it.step(Input::Start);
    assert!(matches!(
        it.step(Input::Digits("5".into())),
        Action::CollectDigits(_)
    ));
    assert_eq!(
        it.step(Input::Digits("6".into())),
        Action::Route(queue("default"))
    );
}

#[test]
fn gather_validates_length_and_terminator_then_sets_variables() {
    let mut it = Interpreter::new(main_flow(), ctx_at(open_time()));
    to_webhook(&mut it);
    it.step(reply(""));
    let Action::CollectDigits(c) = it.step(Input::Digits("2".into())) else {
        panic!()
    };
    assert_eq!(c.prompts, ["enter-account"]);
    assert_eq!(
        (c.min_digits, c.max_digits, c.terminator),
        (4, 8, Some('#'))
    );
    // Too short: one retry.
    let Action::CollectDigits(_) = it.step(Input::Digits("12#".into())) else {
        panic!()
    };
    // Valid, starting with 9: priority is set and the call routes to sales.
    assert_eq!(
        it.step(Input::Digits("98765#".into())),
        Action::Route(queue("sales"))
    );
    let vars = &it.trace().variables;
    assert_eq!(vars.get("account").map(String::as_str), Some("98765"));
    assert_eq!(vars.get("priority").map(String::as_str), Some("high-98765"));
    assert_eq!(
        it.trace().nodes,
        [
            "hours", "greet", "notice", "lookup", "menu", "account", "check", "priority", "sales"
        ]
    );
}

#[test]
fn gather_exhausted_takes_the_invalid_branch() {
    let mut it = Interpreter::new(main_flow(), ctx_at(open_time()));
    to_webhook(&mut it);
    it.step(reply(""));
    it.step(Input::Digits("2".into()));
    it.step(Input::Digits("12".into()));
    assert_eq!(
        it.step(Input::Digits("1234567890".into())),
        Action::Route(queue("operator"))
    );
}

#[test]
fn record_survey_and_hangup_with_a_prompt() {
    let mut it = Interpreter::new(main_flow(), ctx_at(open_time()));
    to_webhook(&mut it);
    it.step(reply(""));
    it.step(Input::Digits("2".into()));
    let action = it.step(Input::Digits("12345".into()));
    assert_eq!(
        action,
        Action::Record {
            prompt: Some("leave-message".into()),
            max_seconds: 60,
            beep: true
        }
    );
    let Action::CollectDigits(c) = it.step(Input::Recorded(Recording {
        id: "rec-7".into(),
        duration_ms: 4200,
    })) else {
        panic!()
    };
    assert_eq!(c.prompts, ["rate-us"]);
    // 8 is out of the 1..=5 range: retried.
    assert!(matches!(
        it.step(Input::Digits("8".into())),
        Action::CollectDigits(_)
    ));
    assert_eq!(
        it.step(Input::Digits("4".into())),
        Action::Play("goodbye".into())
    );
    assert_eq!(it.step(Input::Played), Action::Hangup);
    let t = it.trace();
    assert_eq!(t.outcome, Some(Outcome::Hangup));
    assert_eq!(t.survey.get("satisfaction").map(String::as_str), Some("4"));
    assert_eq!(t.variables.get("csat").map(String::as_str), Some("4"));
    assert_eq!(t.variables.get("msg").map(String::as_str), Some("rec-7"));
    assert_eq!(t.variables.get("msg_ms").map(String::as_str), Some("4200"));
    assert!(t.prompts.ends_with(&[
        "leave-message".into(),
        "rate-us".into(),
        "rate-us".into(),
        "goodbye".into()
    ]));
}

#[test]
fn unanswered_survey_goes_on_unanswered() {
    let mut it = Interpreter::new(main_flow(), ctx_at(open_time()));
    to_webhook(&mut it);
    it.step(reply(""));
    assert!(matches!(
        it.step(Input::Digits("9".into())),
        Action::CollectDigits(_)
    ));
    it.step(Input::Timeout);
    assert_eq!(it.step(Input::Timeout), Action::Play("goodbye".into()));
    assert!(it.trace().survey.is_empty());
}

#[test]
fn caller_hangup_ends_the_flow_anywhere() {
    let mut it = Interpreter::new(main_flow(), ctx_at(open_time()));
    to_webhook(&mut it);
    it.step(reply(""));
    assert_eq!(it.step(Input::CallerHangup), Action::Hangup);
    assert_eq!(it.trace().outcome, Some(Outcome::CallerHangup));
    assert!(it.is_finished());
}

#[test]
fn runaway_loop_is_stopped_by_the_step_budget() {
    let f = flow(json!({"start": "a", "nodes": [
        {"id": "a", "type": "set", "variable": "n", "value": "{{n}}1", "next": "b"},
        {"id": "b", "type": "condition", "if": {"kind": "variable", "name": "n", "op": "exists"}, "then": "a", "else": "end"},
        {"id": "end", "type": "hangup"}
    ]}));
    let mut it = Interpreter::new(f, ctx_at(open_time()));
    assert_eq!(it.step(Input::Start), Action::Route(queue("default")));
    assert!(
        it.trace()
            .fallback_reason
            .as_deref()
            .unwrap()
            .contains("budget")
    );
    assert_eq!(it.trace().nodes.len(), 256);
}

#[test]
fn per_call_budget_stops_a_loop_through_input_nodes() {
    let f = flow(json!({"start": "m", "nodes": [
        {"id": "m", "type": "menu", "prompt": "p", "options": {"1": "m"}},
        {"id": "end", "type": "hangup"}
    ]}));
    let mut ctx = ctx_at(open_time());
    ctx.budget.per_call = 10;
    let mut it = Interpreter::new(f, ctx);
    let mut action = it.step(Input::Start);
    let mut steps = 0;
    while !action.is_terminal() {
        action = it.step(Input::Digits("1".into()));
        steps += 1;
        assert!(steps < 100);
    }
    assert_eq!(action, Action::Route(queue("default")));
    assert_eq!(steps, 10);
}

#[test]
fn routes_conditions_and_fire_and_forget_webhooks() {
    let f = flow(json!({"start": "notify", "nodes": [
        {"id": "notify", "type": "webhook", "url": "https://x.example/n", "secret": "crm", "wait": false, "next": "uk"},
        {"id": "uk", "type": "condition", "if": {"kind": "caller_country", "countries": ["gb"]}, "then": "ext", "else": "nyc"},
        {"id": "nyc", "type": "condition", "if": {"kind": "caller_prefix", "prefixes": ["+1212", "+1646"]}, "then": "night", "else": "ext"},
        {"id": "night", "type": "condition",
         "if": {"kind": "time_of_day", "time_zone": "America/New_York", "from": "20:00", "to": "08:00"},
         "then": "other", "else": "ext"},
        {"id": "other", "type": "route", "target": {"type": "flow", "flow": "night-flow"}},
        {"id": "ext", "type": "route", "target": {"type": "external", "number": "+442079460000"}}
    ]}));
    // 03:00 UTC = 23:00 EDT: a NYC caller at night goes to the night flow.
    let night = Utc.with_ymd_and_hms(2026, 3, 11, 3, 0, 0).unwrap();
    let mut it = Interpreter::new(f.clone(), ctx_at(night));
    assert!(matches!(
        it.step(Input::Start),
        Action::Webhook { wait: false, .. }
    ));
    assert_eq!(
        it.step(Input::Sent),
        Action::Route(RouteTarget::Flow {
            flow: "night-flow".into()
        })
    );
    assert_eq!(it.trace().nodes, ["notify", "uk", "nyc", "night", "other"]);
    // By day the same caller goes to the external number.
    let mut it = Interpreter::new(f.clone(), ctx_at(open_time()));
    it.step(Input::Start);
    assert_eq!(
        it.step(Input::Sent),
        Action::Route(RouteTarget::External {
            number: "+442079460000".into()
        })
    );
    // A caller from GB goes there directly.
    let mut ctx = ctx_at(night);
    ctx.caller_country = Some("GB".into());
    let mut it = Interpreter::new(f, ctx);
    it.step(Input::Start);
    assert_eq!(
        it.step(Input::Sent),
        Action::Route(RouteTarget::External {
            number: "+442079460000".into()
        })
    );
    assert_eq!(it.trace().nodes, ["notify", "uk", "ext"]);
}

#[test]
fn dangling_edge_at_runtime_falls_back() {
    let f = flow(
        json!({"start": "p", "nodes": [{"id": "p", "type": "play", "prompt": "x", "next": "gone"}]}),
    );
    let mut it = Interpreter::new(f, ctx_at(open_time()));
    assert_eq!(it.step(Input::Start), Action::Play("x".into()));
    assert_eq!(it.step(Input::Played), Action::Route(queue("default")));
    assert!(
        it.trace()
            .fallback_reason
            .as_deref()
            .unwrap()
            .contains("gone")
    );
}
