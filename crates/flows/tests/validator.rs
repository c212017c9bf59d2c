//! Validator cases, parse errors, versions and diffs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use omnivox_flows::validate::FLOW_LEVEL;
use omnivox_flows::{Flow, FlowVersions, Problem, ProblemKind, VersionError, diff, validate};
use serde_json::json;

use common::*;

fn problems(f: serde_json::Value, prompts: &BTreeSet<String>) -> Vec<Problem> {
    validate(&flow(f), prompts)
}

fn has(ps: &[Problem], node: &str, pred: impl Fn(&ProblemKind) -> bool) -> bool {
    ps.iter().any(|p| p.node == node && pred(&p.kind))
}

fn none() -> BTreeSet<String> {
    BTreeSet::new()
}

#[test]
fn the_main_fixture_is_valid() {
    assert_eq!(validate(&main_flow(), &prompts()), vec![]);
}

#[test]
fn missing_prompts_are_reported_per_node() {
    let mut known = prompts();
    known.remove("invalid");
    known.remove("goodbye");
    let ps = validate(&main_flow(), &known);
    assert_eq!(
        ps,
        vec![
            Problem {
                node: "menu".into(),
                kind: ProblemKind::MissingPrompt {
                    prompt: "invalid".into()
                }
            },
            Problem {
                node: "bye".into(),
                kind: ProblemKind::MissingPrompt {
                    prompt: "goodbye".into()
                }
            },
        ]
    );
    assert_eq!(
        ps[0].to_string(),
        "node `menu`: prompt `invalid` does not exist"
    );
}

#[test]
fn missing_start_is_reported_with_its_id() {
    let ps = problems(
        json!({"start": "nope", "nodes": [{"id": "a", "type": "hangup"}]}),
        &none(),
    );
    assert_eq!(
        ps,
        vec![Problem {
            node: "nope".into(),
            kind: ProblemKind::MissingStart
        }]
    );
}

#[test]
fn dangling_unreachable_duplicate_and_loop_all_at_once() {
    let ps = problems(
        json!({"start": "a", "nodes": [
            {"id": "a", "type": "set", "variable": "x", "value": "1", "next": "b"},
            {"id": "b", "type": "condition", "if": {"kind": "variable", "name": "x", "op": "eq", "value": "1"},
             "then": "a", "else": "ghost"},
            {"id": "island", "type": "hangup"},
            {"id": "island", "type": "hangup"},
            {"id": "m", "type": "menu", "prompt": "p", "options": {"1": "m2", "2": "nowhere"}},
            {"id": "m2", "type": "say", "text": "again", "next": "m"}
        ]}),
        &["p".to_string()].into_iter().collect(),
    );
    assert!(has(&ps, "b", |k| *k
        == ProblemKind::DanglingEdge {
            edge: "else".into(),
            target: "ghost".into()
        }));
    assert!(has(&ps, "m", |k| *k
        == ProblemKind::DanglingEdge {
            edge: "option:2".into(),
            target: "nowhere".into()
        }));
    assert!(has(&ps, "island", |k| *k == ProblemKind::DuplicateNode));
    assert!(has(&ps, "island", |k| *k == ProblemKind::Unreachable));
    assert!(has(&ps, "m", |k| *k == ProblemKind::Unreachable));
    assert!(has(&ps, "m2", |k| *k == ProblemKind::Unreachable));
    assert!(has(&ps, "a", |k| *k
        == ProblemKind::InputlessLoop {
            cycle: vec!["a".into(), "b".into()]
        }));
    // The menu loop m -> m2 -> m waits for the caller: not a spinning loop.
    assert!(!ps.iter().any(|p| matches!(&p.kind, ProblemKind::InputlessLoop { cycle } if cycle.contains(&"m".to_string()))));
    assert_eq!(ps.len(), 7, "{ps:#?}");
}

#[test]
fn self_loop_and_fire_and_forget_webhook_loops_are_flagged() {
    let ps = problems(
        json!({"start": "p", "nodes": [
            {"id": "p", "type": "play", "prompt": "hold", "next": "p"},
            {"id": "w", "type": "webhook", "url": "https://x.example", "secret": "s", "wait": false, "next": "s"},
            {"id": "s", "type": "say", "text": "hi", "next": "w"},
            {"id": "ww", "type": "webhook", "url": "https://x.example", "secret": "s", "next": "ss"},
            {"id": "ss", "type": "say", "text": "hi", "next": "ww"}
        ]}),
        &["hold".to_string()].into_iter().collect(),
    );
    assert!(has(&ps, "p", |k| *k
        == ProblemKind::InputlessLoop {
            cycle: vec!["p".into()]
        }));
    assert!(has(&ps, "s", |k| *k
        == ProblemKind::InputlessLoop {
            cycle: vec!["s".into(), "w".into()]
        }));
    // A waiting webhook holds the loop.
    assert!(!ps.iter().any(|p| matches!(&p.kind, ProblemKind::InputlessLoop { cycle } if cycle.contains(&"ww".to_string()))));
}

#[test]
fn bad_config_values_are_all_reported() {
    let f: Flow = serde_json::from_value(json!({"start": "g", "fallback": {"type": "queue", "queue": ""}, "nodes": [
        {"id": "g", "type": "gather", "variable": "bad name", "min_digits": 5, "max_digits": 3,
         "terminator": "x", "first_digit_timeout_ms": 0, "retries": 50, "next": "m"},
        {"id": "m", "type": "menu", "prompt": "p", "options": {"12": "w", "*": "w"}},
        {"id": "w", "type": "webhook", "url": "ftp://x", "secret": "", "timeout_ms": 0, "next": "c"},
        {"id": "c", "type": "condition", "if": {"kind": "caller_prefix", "prefixes": ["1212"]}, "then": "s", "else": "s"},
        {"id": "s", "type": "say", "text": "Hi {{name", "next": "r"},
        {"id": "r", "type": "route", "target": {"type": "external", "number": "555"}}
    ]}))
    .unwrap();
    let ps = validate(&f, &["p".to_string()].into_iter().collect::<BTreeSet<_>>());
    let bad: Vec<(String, String)> = ps
        .iter()
        .filter_map(|p| match &p.kind {
            ProblemKind::BadConfig { field, .. } => Some((p.node.clone(), field.clone())),
            _ => None,
        })
        .collect();
    let expect = [
        (FLOW_LEVEL, "fallback"),
        ("g", "min_digits"),
        ("g", "terminator"),
        ("g", "first_digit_timeout_ms"),
        ("g", "retries"),
        ("g", "variable"),
        ("m", "options.12"),
        ("w", "url"),
        ("w", "secret"),
        ("w", "timeout_ms"),
        ("c", "if.prefixes"),
        ("s", "text"),
        ("r", "target"),
    ];
    for (node, field) in expect {
        assert!(
            bad.contains(&(node.to_string(), field.to_string())),
            "missing {node}.{field} in {bad:?}"
        );
    }
    assert_eq!(bad.len(), expect.len(), "{bad:?}");
    assert!(ps.iter().all(|p| !p.to_string().is_empty()));
}

#[test]
fn business_hours_windows_must_open_before_closing() {
    let ps = problems(
        json!({"start": "c", "nodes": [
            {"id": "c", "type": "condition", "if": {"kind": "business_hours", "time_zone": "Europe/Paris",
             "weekly": [{"days": [], "open": "18:00", "close": "09:00"}]}, "then": "h", "else": "h"},
            {"id": "h", "type": "hangup"}
        ]}),
        &none(),
    );
    assert!(has(
        &ps,
        "c",
        |k| matches!(k, ProblemKind::BadConfig { field, .. } if field == "if.weekly.days")
    ));
    assert!(has(
        &ps,
        "c",
        |k| matches!(k, ProblemKind::BadConfig { reason, .. } if reason.contains("18:00-09:00"))
    ));
}

#[test]
fn invalid_json_gives_clear_errors() {
    let unknown = Flow::from_json(
        r#"{"start": "a", "nodes": [{"id": "a", "type": "play", "prompt": "x", "nxt": "b"}]}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(
        unknown.contains("node `a`") && unknown.contains("unknown field `nxt`"),
        "{unknown}"
    );
    let no_id = Flow::from_json(r#"{"start": "a", "nodes": [{"type": "hangup"}]}"#)
        .unwrap_err()
        .to_string();
    assert!(no_id.contains("missing its `id`"), "{no_id}");
    let bad_type = Flow::from_json(r#"{"start": "a", "nodes": [{"id": "a", "type": "teleport"}]}"#)
        .unwrap_err()
        .to_string();
    assert!(
        bad_type.contains("node `a`") && bad_type.contains("teleport"),
        "{bad_type}"
    );
    let tz = Flow::from_json(
        r#"{"start": "c", "nodes": [{"id": "c", "type": "condition", "then": "c", "else": "c",
            "if": {"kind": "time_of_day", "time_zone": "Moon/Base", "from": "09:00", "to": "10:00"}}]}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(tz.contains("Moon/Base"), "{tz}");
    let time = Flow::from_json(
        r#"{"start": "c", "nodes": [{"id": "c", "type": "condition", "then": "c", "else": "c",
            "if": {"kind": "time_of_day", "time_zone": "UTC", "from": "9am", "to": "10:00"}}]}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(time.contains("9am"), "{time}");
    let top = Flow::from_json(r#"{"start": "a", "nodes": [], "version": 2}"#)
        .unwrap_err()
        .to_string();
    assert!(top.contains("unknown field `version`"), "{top}");
    let syntax = Flow::from_json("{\"start\": \"a\",\n \"nodes\": [,]}").unwrap_err();
    let omnivox_flows::FlowError::Json { line, .. } = syntax;
    assert_eq!(line, 2);
}

#[test]
fn flows_round_trip_through_json() {
    let f = main_flow();
    let again = Flow::from_json(&f.to_json().unwrap()).unwrap();
    assert_eq!(*f, again);
}

#[test]
fn publish_rollback_and_diff() {
    let t0 = open_time();
    let mut versions = FlowVersions::new();
    assert_eq!(versions.publish(&prompts(), t0), Err(VersionError::NoDraft));

    let v1 = (*main_flow()).clone();
    versions.save_draft(v1.clone());
    assert_eq!(versions.publish(&prompts(), t0), Ok(1));
    assert!(versions.draft().is_none());

    // An invalid draft is refused and stays a draft; v1 stays published.
    let mut broken = v1.clone();
    broken.start = "missing".into();
    versions.save_draft(broken);
    let Err(VersionError::Invalid(ps)) = versions.publish(&prompts(), t0) else {
        panic!()
    };
    assert!(ps.iter().any(|p| p.kind == ProblemKind::MissingStart));
    assert!(versions.draft().is_some());
    assert_eq!(versions.published().map(|v| v.number), Some(1));

    // v2: menu option 1 now goes to the operator, a new node, a changed prompt, one removed.
    let mut v2: Flow = serde_json::from_value(serde_json::to_value(&v1).unwrap()).unwrap();
    v2.nodes.retain(|n| n.id != "vip");
    let mut value = serde_json::to_value(&v2).unwrap();
    for node in value["nodes"].as_array_mut().unwrap() {
        match node["id"].as_str().unwrap() {
            "menu" => node["options"]["1"] = json!("operator"),
            "notice" => node["prompt"] = json!("goodbye"),
            "lookup" => node["choices"] = json!(["thanks"]),
            _ => {}
        }
    }
    value["nodes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "thanks", "type": "hangup"}));
    let v2: Flow = serde_json::from_value(value).unwrap();
    versions.save_draft(v2.clone());
    assert_eq!(versions.publish(&prompts(), t0), Ok(2));
    assert_eq!(versions.published().map(|v| v.number), Some(2));

    let d = diff(&v1, &v2);
    assert_eq!(d.added, ["thanks"]);
    assert_eq!(d.removed, ["vip"]);
    assert_eq!(d.changed.len(), 1);
    assert_eq!(
        (d.changed[0].node.as_str(), d.changed[0].fields.as_slice()),
        ("notice", &["prompt".to_string()][..])
    );
    let edges: Vec<(&str, &str, Option<&str>, Option<&str>)> = d
        .edges
        .iter()
        .map(|e| {
            (
                e.node.as_str(),
                e.edge.as_str(),
                e.before.as_deref(),
                e.after.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        edges,
        [
            ("lookup", "choice:thanks", None, Some("thanks")),
            ("lookup", "choice:vip", Some("vip"), None),
            ("menu", "option:1", Some("sales"), Some("operator")),
        ]
    );
    assert!(diff(&v2, &v2).is_empty());

    versions.rollback(1, t0).unwrap();
    assert_eq!(versions.published().map(|v| &v.flow), Some(&v1));
    assert_eq!(
        versions.rollback(1, t0),
        Err(VersionError::AlreadyPublished(1))
    );
    assert_eq!(
        versions.rollback(9, t0),
        Err(VersionError::UnknownVersion(9))
    );
    assert_eq!(
        versions
            .history()
            .iter()
            .map(|h| (h.version, h.rollback))
            .collect::<Vec<_>>(),
        [(1, false), (2, false), (1, true)]
    );
    versions.edit_from(2).unwrap();
    assert_eq!(versions.draft(), Some(&v2));
}
