//! Flow runs over HTTP (the stored traces of live calls: newest first, a
//! call filter, pages, tenant isolation, roles) and publish resolving a
//! flow's route targets against the tenant's queues, members and flows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{Duration, TimeZone, Utc};
use common::pairs;
use omnivox_domain::TenantId;
use omnivox_store::flow_runs::NewFlowRun;
use omnivox_store::{Scoped, Store};
use omnivox_testkit::{TestApp, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

async fn create_flow(app: &TestApp, t: &str, token: &str, name: &str, definition: Value) -> String {
    let r = app
        .post(
            &format!("/api/v1/tenants/{t}/flows"),
            token,
            json!({ "name": name, "definition": definition }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    r.body["id"].as_str().unwrap().to_owned()
}

fn hangup() -> Value {
    json!({"start": "bye", "nodes": [{"id": "bye", "type": "hangup"}]})
}

async fn publish(app: &TestApp, t: &str, token: &str, flow: &str) -> omnivox_testkit::Resp {
    app.post(
        &format!("/api/v1/tenants/{t}/flows/{flow}/publish"),
        token,
        json!({}),
    )
    .await
}

/// (node, problem) of each problem in a list.
fn kinds(problems: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = problems
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["node"].as_str().unwrap().to_owned(),
                p["problem"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

fn ids(r: &omnivox_testkit::Resp) -> Vec<String> {
    r.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {r:?}"))
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn runs_are_listed_newest_first_by_call_and_page_within_the_tenant() {
    let app = spawn_app().await;
    let (a, owner_a, b, owner_b) = app.two_tenants().await;
    let flow = create_flow(&app, &a, &owner_a, "main", hangup()).await;
    let p = publish(&app, &a, &owner_a, &flow).await;
    assert_eq!(p.status, StatusCode::CREATED, "{p:?}");
    // A real trace, as the interpreter writes it for this flow.
    let sim = app
        .post(
            &format!("/api/v1/tenants/{a}/flows/{flow}/simulate"),
            &owner_a,
            json!({"caller": "+15551230001", "called": "+15557650002"}),
        )
        .await;
    assert_eq!(sim.status, StatusCode::OK, "{sim:?}");
    let trace = sim.body.clone();
    assert_eq!(trace["nodes"], json!(["bye"]), "{trace}");

    // Runs are recorded by the live call path; the test writes them through
    // the same store call.
    let store = Store::connect(&app.config.database).await.unwrap();
    let sa = Scoped::new(store.writer(), TenantId(a.parse().unwrap()));
    let base = Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap();
    let (call_x, call_y) = (Uuid::now_v7(), Uuid::now_v7());
    let mut recorded = Vec::new();
    for (call, secs, outcome) in [
        (call_x, 0, "hangup"),
        (call_y, 60, "route"),
        (call_x, 30, "caller_hangup"),
    ] {
        let started_at = base + Duration::seconds(secs);
        let row = sa
            .record_flow_run(NewFlowRun {
                call_id: call,
                flow_id: flow.parse().unwrap(),
                version: 1,
                outcome: outcome.into(),
                fallback_reason: (outcome == "route").then(|| "no input".to_owned()),
                trace: trace.to_string(),
                started_at,
                ended_at: started_at + Duration::seconds(12),
            })
            .await
            .unwrap();
        recorded.push(row.id.to_string());
    }
    let runs = format!("/api/v1/tenants/{a}/flows/{flow}/runs");

    // Newest start first, every field as stored, the trace as an object.
    let r = app.get(&runs, &owner_a).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        ids(&r),
        [
            recorded[1].as_str(),
            recorded[2].as_str(),
            recorded[0].as_str()
        ],
        "{r:?}"
    );
    assert_eq!(r.body["next_cursor"], Value::Null);
    let newest = &r.body["items"][0];
    assert_eq!(newest["call_id"], call_y.to_string());
    assert_eq!(newest["flow_id"], flow);
    assert_eq!(newest["version"], 1);
    assert_eq!(newest["outcome"], "route");
    assert_eq!(newest["fallback_reason"], "no input");
    assert_eq!(newest["trace"], trace);
    assert!(newest["trace"].is_object());
    assert_eq!(newest["started_at"], "2026-11-21T09:01:00Z");
    assert_eq!(newest["ended_at"], "2026-11-21T09:01:12Z");
    assert_eq!(r.body["items"][2]["fallback_reason"], Value::Null);

    // One call's runs.
    let r = app.get(&format!("{runs}?call_id={call_x}"), &owner_a).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(ids(&r), [recorded[2].as_str(), recorded[0].as_str()]);
    let r = app
        .get(&format!("{runs}?call_id={}", Uuid::now_v7()), &owner_a)
        .await;
    assert_eq!(r.body["items"], json!([]), "{r:?}");
    let r = app.get(&format!("{runs}?call_id=nope"), &owner_a).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");

    // Pages of two, then the rest.
    let first = app.get(&format!("{runs}?limit=2"), &owner_a).await;
    assert_eq!(ids(&first), [recorded[1].as_str(), recorded[2].as_str()]);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let second = app
        .get(&format!("{runs}?limit=2&cursor={cursor}"), &owner_a)
        .await;
    assert_eq!(second.status, StatusCode::OK, "{second:?}");
    assert_eq!(ids(&second), [recorded[0].as_str()]);
    assert_eq!(second.body["next_cursor"], Value::Null);
    let bad = app.get(&format!("{runs}?cursor=!!"), &owner_a).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{bad:?}");
    assert_eq!(bad.code(), "invalid_cursor");

    // Another of A's flows has no runs; a flow A does not have is 404.
    let other = create_flow(&app, &a, &owner_a, "other", hangup()).await;
    let r = app
        .get(&format!("/api/v1/tenants/{a}/flows/{other}/runs"), &owner_a)
        .await;
    assert_eq!(r.body["items"], json!([]), "{r:?}");
    // Paging another flow from this flow's run is refused.
    let r = app
        .get(
            &format!("/api/v1/tenants/{a}/flows/{other}/runs?cursor={cursor}"),
            &owner_a,
        )
        .await;
    assert_eq!(r.code(), "invalid_cursor", "{r:?}");
    let r = app
        .get(
            &format!("/api/v1/tenants/{a}/flows/{}/runs", Uuid::now_v7()),
            &owner_a,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");

    // Tenant B cannot read A's runs, through its own path or A's.
    let r = app
        .get(&format!("/api/v1/tenants/{b}/flows/{flow}/runs"), &owner_b)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");
    let r = app.get(&runs, &owner_b).await;
    assert!(
        matches!(r.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
        "{r:?}"
    );

    // A viewer lacks TelephonyRead; a supervisor has it.
    let viewer = app
        .member(&a, &owner_a, "viewer@example.com", "viewer")
        .await;
    let r = app.get(&runs, &viewer).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    let sup = app
        .member(&a, &owner_a, "sup@example.com", "supervisor")
        .await;
    let r = app.get(&runs, &sup).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(ids(&r).len(), 3);

    // Deleting the flow deletes its runs.
    let del = app
        .delete(&format!("/api/v1/tenants/{a}/flows/{flow}"), &owner_a)
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT, "{del:?}");
    let left = sa
        .list_flow_runs(
            flow.parse().unwrap(),
            None,
            &omnivox_store::PageRequest::first(10),
        )
        .await
        .unwrap();
    assert!(left.items.is_empty());
}

/// A flow with a route of each kind (a condition per branch, no prompts)
/// and a fallback.
fn routes(queue: &str, agent: &str, number: &str, flow: &str, fallback: &str) -> Value {
    let test = |n: &str| json!({"kind": "variable", "name": "branch", "op": "eq", "value": n});
    json!({
        "start": "c1",
        "fallback": {"type": "queue", "queue": fallback},
        "nodes": [
            {"id": "c1", "type": "condition", "if": test("1"), "then": "to_queue", "else": "c2"},
            {"id": "c2", "type": "condition", "if": test("2"), "then": "to_agent", "else": "c3"},
            {"id": "c3", "type": "condition", "if": test("3"), "then": "to_number", "else": "to_flow"},
            {"id": "to_queue", "type": "route", "target": {"type": "queue", "queue": queue}},
            {"id": "to_agent", "type": "route", "target": {"type": "agent", "agent": agent}},
            {"id": "to_number", "type": "route", "target": {"type": "external", "number": number}},
            {"id": "to_flow", "type": "route", "target": {"type": "flow", "flow": flow}}
        ]
    })
}

#[tokio::test]
async fn publish_refuses_route_targets_the_tenant_cannot_resolve() {
    let app = spawn_app().await;
    let (t, owner, b, owner_b) = app.two_tenants().await;
    let queue = app
        .post(
            &format!("/api/v1/tenants/{t}/queues"),
            &owner,
            json!({"name": "sales"}),
        )
        .await;
    assert_eq!(queue.status, StatusCode::CREATED, "{queue:?}");
    let queue_id = queue.body["id"].as_str().unwrap().to_owned();
    let other_queue = app
        .post(
            &format!("/api/v1/tenants/{b}/queues"),
            &owner_b,
            json!({"name": "overflow"}),
        )
        .await;
    let other_queue_id = other_queue.body["id"].as_str().unwrap().to_owned();
    app.member(&t, &owner, "agent@example.com", "agent").await;
    let members = app
        .get(&format!("/api/v1/tenants/{t}/members?limit=200"), &owner)
        .await;
    let agent_id = members.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"]["email"] == "agent@example.com")
        .unwrap()["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sub = create_flow(&app, &t, &owner, "sub", hangup()).await;

    // Every target wrong: a missing queue, a non-member, a number with no
    // country, an unpublished flow, and another tenant's queue (by id) as
    // the fallback. The draft is saved with the problems shown.
    let bad = routes(
        "support",
        "stranger@example.com",
        "+999123456789",
        "sub",
        &other_queue_id,
    );
    let r = app
        .post(
            &format!("/api/v1/tenants/{t}/flows"),
            &owner,
            json!({"name": "main", "definition": bad}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let main = r.body["id"].as_str().unwrap().to_owned();
    let expected = pairs(&[
        ("(flow)", "unknown_queue"),
        ("to_queue", "unknown_queue"),
        ("to_agent", "unknown_agent"),
        ("to_number", "invalid_number"),
        ("to_flow", "flow_not_published"),
    ]);
    assert_eq!(kinds(&r.body["problems"]), expected, "{r:?}");
    let q = r.body["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["node"] == "to_queue")
        .unwrap();
    assert_eq!(q["field"], "target");
    assert_eq!(q["target"], json!({"type": "queue", "queue": "support"}));
    assert!(q["message"].as_str().unwrap().contains("support"), "{q}");

    // Publish is refused with each node id; nothing is published.
    let p = publish(&app, &t, &owner, &main).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{p:?}");
    assert_eq!(p.code(), "flow_invalid");
    assert_eq!(kinds(&p.body["error"]["details"]["problems"]), expected);
    assert!(
        p.body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("the draft has 5 problem(s)"),
        "{p:?}"
    );
    let got = app
        .get(&format!("/api/v1/tenants/{t}/flows/{main}"), &owner)
        .await;
    assert_eq!(got.body["published_version"], Value::Null, "{got:?}");

    // A flow name the tenant does not have is unknown, not unpublished.
    let d = app
        .call(
            Method::PUT,
            &format!("/api/v1/tenants/{t}/flows/{main}/draft"),
            Some(&owner),
            Some(json!({"definition": routes(
                "sales", "agent@example.com", "+14155550100", "nowhere", "sales")})),
        )
        .await;
    assert_eq!(d.status, StatusCode::OK, "{d:?}");
    assert_eq!(
        kinds(&d.body["problems"]),
        pairs(&[("to_flow", "unknown_flow")])
    );
    let p = publish(&app, &t, &owner, &main).await;
    assert_eq!(
        kinds(&p.body["error"]["details"]["problems"]),
        pairs(&[("to_flow", "unknown_flow")]),
        "{p:?}"
    );

    // By name: the queue, the member's email, the flow once published.
    let p = publish(&app, &t, &owner, &sub).await;
    assert_eq!(p.status, StatusCode::CREATED, "{p:?}");
    let d = app
        .call(
            Method::PUT,
            &format!("/api/v1/tenants/{t}/flows/{main}/draft"),
            Some(&owner),
            Some(json!({"definition": routes(
                "sales", "Agent@Example.com", "+14155550100", "sub", "sales")})),
        )
        .await;
    assert_eq!(d.body["problems"], json!([]), "{d:?}");
    let p = publish(&app, &t, &owner, &main).await;
    assert_eq!(p.status, StatusCode::CREATED, "{p:?}");
    assert_eq!(p.body["version"], 1);

    // By id: the queue, the member's user id, the flow.
    let d = app
        .call(
            Method::PUT,
            &format!("/api/v1/tenants/{t}/flows/{main}/draft"),
            Some(&owner),
            Some(json!({"definition": routes(
                &queue_id, &agent_id, "+14155550100", &sub, &queue_id)})),
        )
        .await;
    assert_eq!(d.body["problems"], json!([]), "{d:?}");
    let p = publish(&app, &t, &owner, &main).await;
    assert_eq!(p.status, StatusCode::CREATED, "{p:?}");
    assert_eq!(p.body["version"], 2);

    // Tenant B names A's queue by id: unknown there.
    let r = app
        .post(
            &format!("/api/v1/tenants/{b}/flows"),
            &owner_b,
            json!({"name": "b", "definition": {
                "start": "q",
                "nodes": [{"id": "q", "type": "route",
                           "target": {"type": "queue", "queue": queue_id}}]
            }}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(kinds(&r.body["problems"]), pairs(&[("q", "unknown_queue")]));
    let id_b = r.body["id"].as_str().unwrap().to_owned();
    let p = publish(&app, &b, &owner_b, &id_b).await;
    assert_eq!(p.code(), "flow_invalid", "{p:?}");
}
