//! Agents and dispositions over HTTP: the state machine through the ACD
//! (log in, not ready with a reason, back, log out), the history in order
//! with timestamps, `agent.state` events on the tenant's WebSocket stream,
//! who may change whose state, tenant isolation, profile validation, reason
//! and disposition code CRUD with duplicates and soft deletes, and the
//! rebuild after a restart (a stored not-ready survives; an agent stored on
//! a call comes back in wrap-up, which a disposition or the timer ends).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use omnivox_domain::{TenantId, UserId};
use omnivox_store::agents::NewAgentState;
use omnivox_store::{Scoped, Store};
use omnivox_testkit::{Resp, TestApp, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};
use uuid::Uuid;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> Resp {
    app.call(Method::PUT, path, Some(token), Some(body)).await
}

async fn set_state(app: &TestApp, t: &str, token: &str, user: &str, body: Value) -> Resp {
    app.post(
        &format!("/api/v1/tenants/{t}/agents/{user}/state"),
        token,
        body,
    )
    .await
}

/// The user id of the member with `email`, from the agents list.
async fn user_id(app: &TestApp, t: &str, token: &str, email: &str) -> String {
    let r = app
        .get(&format!("/api/v1/tenants/{t}/agents?limit=200"), token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["user"]["email"] == email)
        .unwrap_or_else(|| panic!("{email} not listed: {r:?}"))["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The agents list entry of `user`.
async fn agent_entry(app: &TestApp, t: &str, token: &str, user: &str) -> Value {
    let r = app
        .get(&format!("/api/v1/tenants/{t}/agents?limit=200"), token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["user"]["id"] == user)
        .cloned()
        .unwrap_or_else(|| panic!("{user} not listed: {r:?}"))
}

async fn history(app: &TestApp, t: &str, token: &str, user: &str, query: &str) -> Resp {
    app.get(
        &format!("/api/v1/tenants/{t}/agents/{user}/history{query}"),
        token,
    )
    .await
}

fn states_of(page: &Value) -> Vec<(String, Option<String>)> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["state"].as_str().unwrap().to_owned(),
                h["reason"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn st(s: &str, reason: Option<&str>) -> (String, Option<String>) {
    (s.to_owned(), reason.map(str::to_owned))
}

async fn audit_actions(app: &TestApp, t: &str, token: &str) -> Vec<String> {
    let audit = app
        .get(&format!("/api/v1/tenants/{t}/audit?limit=200"), token)
        .await;
    assert_eq!(audit.status, StatusCode::OK, "{audit:?}");
    audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str().map(str::to_owned))
        .collect()
}

async fn reason_code(app: &TestApp, t: &str, token: &str, code: &str) -> Resp {
    app.post(
        &format!("/api/v1/tenants/{t}/reason-codes"),
        token,
        json!({ "code": code, "label": format!("Label {code}"), "paid": code == "break" }),
    )
    .await
}

async fn disposition(app: &TestApp, t: &str, token: &str, body: Value) -> Resp {
    app.post(
        &format!("/api/v1/tenants/{t}/disposition-codes"),
        token,
        body,
    )
    .await
}

async fn ws_connect(app: &TestApp, t: &str, token: &str) -> Ws {
    let url = format!(
        "ws://{}/api/v1/tenants/{t}/events/ws?kinds=agent.",
        app.addr
    );
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (ws, resp) = tokio::time::timeout(Duration::from_secs(10), connect_async(req))
        .await
        .expect("handshake within 10 s")
        .expect("WebSocket handshake");
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    ws
}

/// The next JSON text frame (control frames skipped), within 10 s.
async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("no frame within 10 s")
            .expect("socket closed")
            .expect("socket error");
        match msg {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame: {other:?}"),
        }
    }
}

/// Append a stored state for `user` directly, as the call layer would have
/// (used to put an agent on a call before a restart).
async fn store_state(app: &TestApp, t: &str, user: &str, state: &str, call: Option<Uuid>) {
    let store = Store::connect(&app.config.database).await.unwrap();
    Scoped::new(store.writer(), TenantId::from(Uuid::parse_str(t).unwrap()))
        .record_agent_states(vec![NewAgentState {
            user: UserId(Uuid::parse_str(user).unwrap()),
            state: state.to_owned(),
            reason: None,
            call_id: call,
            disposition: None,
            campaigns: None,
            at: omnivox_store::now(),
        }])
        .await
        .unwrap();
    store.close().await;
}

// ---------------------------------------------------------------- tests --

#[tokio::test]
async fn state_machine_through_the_api_with_history_and_events() {
    let app = spawn_app().await;
    let (t, owner) = app.owner().await;
    let agent = app.member(&t, &owner, "agent@example.com", "agent").await;
    let agent_id = user_id(&app, &t, &owner, "agent@example.com").await;
    assert_eq!(
        reason_code(&app, &t, &owner, "break").await.status,
        StatusCode::CREATED
    );
    let mut ws = ws_connect(&app, &t, &owner).await;

    // Never logged in: listed as logged out.
    let e = agent_entry(&app, &t, &owner, &agent_id).await;
    assert_eq!(e["state"]["state"], "logged_out", "{e}");
    assert_eq!(e["profile"], Value::Null);

    let steps = [
        (json!({"state": "available"}), "available", None),
        (
            json!({"state": "not_ready", "reason": "break"}),
            "not_ready",
            Some("break"),
        ),
        (json!({"state": "available"}), "available", None),
        (json!({"state": "logged_out"}), "logged_out", None),
    ];
    let mut prev = "logged_out";
    for (body, want, reason) in &steps {
        let r = set_state(&app, &t, &agent, "me", body.clone()).await;
        assert_eq!(r.status, StatusCode::OK, "{body} -> {r:?}");
        assert_eq!(r.body["state"], *want, "{r:?}");
        assert_eq!(r.body["reason"], json!(reason), "{r:?}");
        assert_eq!(r.body["user_id"], agent_id.as_str());
        if *want != "logged_out" {
            let e = agent_entry(&app, &t, &owner, &agent_id).await;
            assert_eq!(e["state"]["state"], *want, "{e}");
        }
        // The event on the bus.
        let ev = next_json(&mut ws).await;
        assert_eq!(ev["type"], "event", "{ev}");
        assert_eq!(ev["kind"], "agent.state", "{ev}");
        assert_eq!(ev["tenant"], t.as_str(), "{ev}");
        assert_eq!(ev["subject"], agent_id.as_str(), "{ev}");
        assert_eq!(ev["data"]["user_id"], agent_id.as_str(), "{ev}");
        assert_eq!(ev["data"]["state"], *want, "{ev}");
        assert_eq!(ev["data"]["from"], prev, "{ev}");
        assert_eq!(ev["data"]["reason"], json!(reason), "{ev}");
        prev = want;
    }

    // Invalid transitions are 409 with the ACD's message; nothing changes.
    let r = set_state(&app, &t, &agent, "me", json!({"state": "logged_out"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{r:?}");
    assert_eq!(r.code(), "invalid_transition");
    let r = set_state(
        &app,
        &t,
        &agent,
        "me",
        json!({"state": "not_ready", "reason": "break"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{r:?}");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid in state LoggedOut"),
        "{r:?}"
    );
    assert_eq!(
        set_state(&app, &t, &agent, "me", json!({"state": "available"}))
            .await
            .status,
        StatusCode::OK
    );
    next_json(&mut ws).await;
    let r = set_state(&app, &t, &agent, "me", json!({"state": "available"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{r:?}");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`ready` is not valid in state Available"),
        "{r:?}"
    );
    // Bad bodies.
    let r = set_state(&app, &t, &agent, "me", json!({"state": "on_call"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");
    let r = set_state(
        &app,
        &t,
        &agent,
        "me",
        json!({"state": "available", "reason": "break"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");

    // History: oldest first, with timestamps, paged, filterable by time.
    let h = history(&app, &t, &agent, "me", "").await;
    assert_eq!(h.status, StatusCode::OK, "{h:?}");
    assert_eq!(
        states_of(&h.body),
        vec![
            st("available", None),
            st("not_ready", Some("break")),
            st("available", None),
            st("logged_out", None),
            st("available", None),
        ]
    );
    let ats: Vec<DateTime<Utc>> = h.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["at"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(ats.windows(2).all(|w| w[0] <= w[1]), "{ats:?}");
    let p1 = history(&app, &t, &owner, &agent_id, "?limit=2").await;
    assert_eq!(p1.status, StatusCode::OK, "{p1:?}");
    assert_eq!(p1.body["items"].as_array().unwrap().len(), 2);
    let cursor = p1.body["next_cursor"].as_str().unwrap().to_owned();
    let p2 = history(
        &app,
        &t,
        &owner,
        &agent_id,
        &format!("?limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(
        states_of(&p2.body),
        vec![st("available", None), st("logged_out", None)]
    );
    let from = h.body["items"][1]["at"].as_str().unwrap().to_owned();
    let to = h.body["items"][3]["at"].as_str().unwrap().to_owned();
    let q = format!(
        "?from={}&to={}",
        from.replace('+', "%2B"),
        to.replace('+', "%2B")
    );
    let window = history(&app, &t, &owner, &agent_id, &q).await;
    assert_eq!(window.status, StatusCode::OK, "{window:?}");
    let got = states_of(&window.body);
    assert_eq!(
        got.first(),
        Some(&st("not_ready", Some("break"))),
        "{window:?}"
    );
    assert!(
        !got.contains(&st("logged_out", None)),
        "to is exclusive: {window:?}"
    );
    let r = history(
        &app,
        &t,
        &owner,
        &agent_id,
        &format!(
            "?from={}&to={}",
            to.replace('+', "%2B"),
            from.replace('+', "%2B")
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");
    let r = history(&app, &t, &owner, &agent_id, "?cursor=garbage!").await;
    assert_eq!(r.code(), "invalid_cursor", "{r:?}");
}

#[tokio::test]
async fn who_may_change_whose_state_and_tenant_isolation() {
    let app = spawn_app().await;
    let (a, owner_a, b, owner_b) = app.two_tenants().await;
    let alice = app.member(&a, &owner_a, "alice@example.com", "agent").await;
    let _bob = app.member(&a, &owner_a, "bob@example.com", "agent").await;
    let sup = app
        .member(&a, &owner_a, "sup@example.com", "supervisor")
        .await;
    let viewer = app
        .member(&a, &owner_a, "viewer@example.com", "viewer")
        .await;
    let _analyst = app
        .member(&a, &owner_a, "analyst@example.com", "analyst")
        .await;
    let _carol = app.member(&b, &owner_b, "carol@example.com", "agent").await;
    let bob_id = user_id(&app, &a, &owner_a, "bob@example.com").await;
    let analyst_id = user_id(&app, &a, &owner_a, "analyst@example.com").await;
    let carol_id = user_id(&app, &b, &owner_b, "carol@example.com").await;
    let avail = json!({"state": "available"});

    // An agent changing another agent's state: 403; their own: fine.
    let r = set_state(&app, &a, &alice, &bob_id, avail.clone()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    assert_eq!(
        set_state(&app, &a, &alice, "me", avail.clone())
            .await
            .status,
        StatusCode::OK
    );
    // Agents may not list agents or read others' history, but may read their own.
    assert_eq!(
        app.get(&format!("/api/v1/tenants/{a}/agents"), &alice)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        history(&app, &a, &alice, &bob_id, "").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        history(&app, &a, &alice, "me", "").await.status,
        StatusCode::OK
    );
    // A supervisor changes anyone's.
    let r = set_state(&app, &a, &sup, &bob_id, avail.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["state"], "available");
    // A viewer: 403 for their own state, the list, codes and profiles.
    let r = set_state(&app, &a, &viewer, "me", avail.clone()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    for path in ["agents", "reason-codes", "disposition-codes"] {
        let r = app
            .get(&format!("/api/v1/tenants/{a}/{path}"), &viewer)
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {r:?}");
    }
    let r = put(
        &app,
        &format!("/api/v1/tenants/{a}/agents/{bob_id}/profile"),
        &viewer,
        json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    // An agent may read the codes (to pick one) but not write them.
    assert_eq!(
        app.get(&format!("/api/v1/tenants/{a}/reason-codes"), &alice)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        reason_code(&app, &a, &alice, "lunch").await.status,
        StatusCode::FORBIDDEN
    );
    // A role that cannot work as an agent cannot be made available.
    let r = set_state(&app, &a, &sup, &analyst_id, avail.clone()).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
    assert_eq!(r.code(), "not_an_agent");

    // Another tenant's agent is 404 everywhere, even for the owner.
    let r = set_state(&app, &a, &owner_a, &carol_id, avail.clone()).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");
    let r = put(
        &app,
        &format!("/api/v1/tenants/{a}/agents/{carol_id}/profile"),
        &owner_a,
        json!({"skills": {"es": 5}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");
    assert_eq!(
        history(&app, &a, &owner_a, &carol_id, "").await.status,
        StatusCode::NOT_FOUND
    );
    let r = app
        .post(
            &format!("/api/v1/tenants/{a}/agents/{carol_id}/wrap-up/finish"),
            &owner_a,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");
    // And tenant B's lists do not show tenant A's agents or codes.
    assert_eq!(
        reason_code(&app, &a, &owner_a, "break").await.status,
        StatusCode::CREATED
    );
    let r = app
        .get(&format!("/api/v1/tenants/{b}/reason-codes"), &owner_b)
        .await;
    assert_eq!(r.body["items"], json!([]), "{r:?}");
    let r = app
        .get(&format!("/api/v1/tenants/{b}/agents"), &owner_b)
        .await;
    assert!(
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["user"]["id"] != bob_id.as_str())
    );
    // Tenant A's reason code is unknown in tenant B.
    let carol = app.token("carol@example.com").await;
    assert_eq!(
        set_state(&app, &b, &carol, "me", avail.clone())
            .await
            .status,
        StatusCode::OK
    );
    let r = set_state(
        &app,
        &b,
        &carol,
        "me",
        json!({"state": "not_ready", "reason": "break"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
    assert_eq!(r.code(), "unknown_reason");
}

#[tokio::test]
async fn profile_and_reason_validation() {
    let app = spawn_app().await;
    let (t, owner) = app.owner().await;
    let agent = app.member(&t, &owner, "agent@example.com", "agent").await;
    let id = user_id(&app, &t, &owner, "agent@example.com").await;
    let path = format!("/api/v1/tenants/{t}/agents/{id}/profile");

    for bad in [11, 0, -3, 300] {
        let r = put(
            &app,
            &path,
            &owner,
            json!({"skills": {"billing": 4, "spanish": bad}}),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {r:?}");
        assert_eq!(r.code(), "invalid_skill_level");
        let msg = r.body["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains("spanish") && msg.contains(&bad.to_string()),
            "{msg}"
        );
    }
    let r = put(&app, &path, &owner, json!({"skills": {"Bad Name": 3}})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");
    let r = put(&app, &path, &owner, json!({"wrap_up_seconds": 99999})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");
    let r = put(&app, &path, &owner, json!({"skils": {}})).await;
    assert_eq!(r.code(), "unknown_field", "{r:?}");
    // Nothing was stored by the refused requests.
    assert_eq!(
        agent_entry(&app, &t, &owner, &id).await["profile"],
        Value::Null
    );

    let r = put(&app, &path, &owner, json!({"skills": {"spanish": 10, "billing": 1}, "wrap_up_seconds": 45, "disposition_required": true})).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["skills"], json!({"billing": 1, "spanish": 10}));
    let e = agent_entry(&app, &t, &owner, &id).await;
    assert_eq!(e["profile"]["wrap_up_seconds"], 45, "{e}");
    assert_eq!(e["profile"]["disposition_required"], true, "{e}");
    assert_eq!(e["profile"]["max_missed_offers"], 3, "{e}");
    // Replaced, not merged; `me` works for a supervisor's own profile.
    let r = put(&app, &path, &owner, json!({"skills": {"french": 2}})).await;
    assert_eq!(r.body["skills"], json!({"french": 2}), "{r:?}");
    let r = put(
        &app,
        &format!("/api/v1/tenants/{t}/agents/me/profile"),
        &owner,
        json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    // Agents cannot set profiles, not even their own.
    let r = put(
        &app,
        &format!("/api/v1/tenants/{t}/agents/me/profile"),
        &agent,
        json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    let actions = audit_actions(&app, &t, &owner).await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "agent.profile_updated")
            .count(),
        3,
        "{actions:?}"
    );

    // not_ready needs an active reason code of the tenant.
    assert_eq!(
        set_state(&app, &t, &agent, "me", json!({"state": "available"}))
            .await
            .status,
        StatusCode::OK
    );
    let r = set_state(&app, &t, &agent, "me", json!({"state": "not_ready"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
    let r = set_state(
        &app,
        &t,
        &agent,
        "me",
        json!({"state": "not_ready", "reason": "nap"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
    assert_eq!(r.code(), "unknown_reason");
    let lunch = reason_code(&app, &t, &owner, "lunch").await;
    let lunch_id = lunch.body["id"].as_str().unwrap().to_owned();
    let r = app
        .patch(
            &format!("/api/v1/tenants/{t}/reason-codes/{lunch_id}"),
            &owner,
            json!({"active": false}),
        )
        .await;
    assert_eq!(r.body["active"], false, "{r:?}");
    let r = set_state(
        &app,
        &t,
        &agent,
        "me",
        json!({"state": "not_ready", "reason": "lunch"}),
    )
    .await;
    assert_eq!(
        r.code(),
        "unknown_reason",
        "inactive codes are refused: {r:?}"
    );
    app.patch(
        &format!("/api/v1/tenants/{t}/reason-codes/{lunch_id}"),
        &owner,
        json!({"active": true}),
    )
    .await;
    let r = set_state(
        &app,
        &t,
        &agent,
        "me",
        json!({"state": "not_ready", "reason": "lunch"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    // Not in wrap-up: finishing it is 409.
    let r = app
        .post(
            &format!("/api/v1/tenants/{t}/agents/me/wrap-up/finish"),
            &agent,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{r:?}");
    assert_eq!(r.code(), "not_in_wrap_up");
}

#[tokio::test]
async fn reason_and_disposition_code_crud() {
    let app = spawn_app().await;
    let (t, owner) = app.owner().await;
    let sup = app
        .member(&t, &owner, "sup@example.com", "supervisor")
        .await;
    let base = format!("/api/v1/tenants/{t}/disposition-codes");

    let sale = disposition(
        &app,
        &t,
        &sup,
        json!({"code": "sale", "label": "Sale", "category": "sale", "effect": "sale"}),
    )
    .await;
    assert_eq!(sale.status, StatusCode::CREATED, "{sale:?}");
    assert_eq!(sale.body["active"], true);
    let dup = disposition(
        &app,
        &t,
        &sup,
        json!({"code": "sale", "label": "Again", "category": "other", "effect": "final"}),
    )
    .await;
    assert_eq!(dup.status, StatusCode::CONFLICT, "{dup:?}");
    assert_eq!(dup.code(), "disposition_code_taken");
    // recycle needs a delay; others refuse one; enums are checked.
    let r = disposition(
        &app,
        &t,
        &sup,
        json!({"code": "na", "label": "No answer", "category": "no_contact", "effect": "recycle"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");
    let r = disposition(&app, &t, &sup, json!({"code": "x", "label": "X", "category": "other", "effect": "final", "delay_seconds": 5})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");
    let r = disposition(
        &app,
        &t,
        &sup,
        json!({"code": "x", "label": "X", "category": "weird", "effect": "final"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");
    let r = disposition(
        &app,
        &t,
        &sup,
        json!({"code": "Bad Code", "label": "X", "category": "other", "effect": "final"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");
    let na = disposition(&app, &t, &sup, json!({"code": "na", "label": "No answer", "category": "no_contact", "effect": "recycle", "delay_seconds": 3600})).await;
    assert_eq!(na.status, StatusCode::CREATED, "{na:?}");
    assert_eq!(na.body["delay_seconds"], 3600);
    let na_id = na.body["id"].as_str().unwrap().to_owned();

    let list = app.get(&base, &sup).await;
    let codes: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec!["sale", "na"], "{list:?}");
    assert_eq!(
        app.get(&format!("{base}/{na_id}"), &sup).await.body["label"],
        "No answer"
    );

    // Update: the delay is kept while recycle, dropped when the effect moves.
    let r = app
        .patch(
            &format!("{base}/{na_id}"),
            &sup,
            json!({"label": "No answer (retry)"}),
        )
        .await;
    assert_eq!(r.body["delay_seconds"], 3600, "{r:?}");
    let r = app
        .patch(&format!("{base}/{na_id}"), &sup, json!({"effect": "final"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["delay_seconds"], Value::Null);
    assert_eq!(r.body["label"], "No answer (retry)");
    let r = app
        .patch(
            &format!("{base}/{na_id}"),
            &sup,
            json!({"effect": "recycle"}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "recycle again needs a delay: {r:?}"
    );

    // Unused codes are deleted.
    assert_eq!(
        app.delete(&format!("{base}/{na_id}"), &sup).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&format!("{base}/{na_id}"), &sup).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete(&format!("{base}/{na_id}"), &sup).await.status,
        StatusCode::NOT_FOUND
    );

    // Reason codes: the same rules.
    let rb = format!("/api/v1/tenants/{t}/reason-codes");
    let brk = reason_code(&app, &t, &sup, "break").await;
    assert_eq!(brk.status, StatusCode::CREATED, "{brk:?}");
    assert_eq!(brk.body["paid"], true);
    let dup = reason_code(&app, &t, &sup, "break").await;
    assert_eq!(dup.status, StatusCode::CONFLICT, "{dup:?}");
    assert_eq!(dup.code(), "reason_code_taken");
    let id = brk.body["id"].as_str().unwrap().to_owned();
    let r = app
        .patch(
            &format!("{rb}/{id}"),
            &sup,
            json!({"label": "Short break", "paid": false}),
        )
        .await;
    assert_eq!(
        (r.body["label"].as_str(), r.body["paid"].as_bool()),
        (Some("Short break"), Some(false)),
        "{r:?}"
    );
    let r = app
        .patch(&format!("{rb}/{id}"), &sup, json!({"code": "other"}))
        .await;
    assert_eq!(r.code(), "unknown_field", "the code is fixed: {r:?}");
    assert_eq!(
        app.delete(&format!("{rb}/{id}"), &sup).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&format!("{rb}/{id}"), &sup).await.status,
        StatusCode::NOT_FOUND
    );

    let actions = audit_actions(&app, &t, &owner).await;
    for a in [
        "disposition_code.created",
        "disposition_code.updated",
        "disposition_code.deleted",
        "reason_code.created",
        "reason_code.updated",
        "reason_code.deleted",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} missing from {actions:?}"
        );
    }
}

#[tokio::test]
async fn restart_rebuilds_states_and_wrap_up_ends_with_a_disposition() {
    let app = spawn_app().await;
    let (t, owner) = app.owner().await;
    let ann = app.member(&t, &owner, "ann@example.com", "agent").await;
    let _ben = app.member(&t, &owner, "ben@example.com", "agent").await;
    let _cat = app.member(&t, &owner, "cat@example.com", "agent").await;
    let ann_id = user_id(&app, &t, &owner, "ann@example.com").await;
    let ben_id = user_id(&app, &t, &owner, "ben@example.com").await;
    let cat_id = user_id(&app, &t, &owner, "cat@example.com").await;
    reason_code(&app, &t, &owner, "break").await;
    for (code, category, effect) in [("sale", "sale", "sale"), ("cb", "callback", "callback")] {
        let r = disposition(
            &app,
            &t,
            &owner,
            json!({"code": code, "label": code, "category": category, "effect": effect}),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    }
    // Ben needs a disposition after calls; Cat's wrap-up is a 1 s timer.
    let r = put(
        &app,
        &format!("/api/v1/tenants/{t}/agents/{ben_id}/profile"),
        &owner,
        json!({"wrap_up_seconds": 600, "disposition_required": true}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let r = put(
        &app,
        &format!("/api/v1/tenants/{t}/agents/{cat_id}/profile"),
        &owner,
        json!({"wrap_up_seconds": 1}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        set_state(&app, &t, &ann, "me", json!({"state": "available"}))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        set_state(
            &app,
            &t,
            &ann,
            "me",
            json!({"state": "not_ready", "reason": "break"})
        )
        .await
        .status,
        StatusCode::OK
    );
    // Ben and Cat were on calls when the server went down.
    let (ben_call, cat_call) = (Uuid::now_v7(), Uuid::now_v7());
    for (id, call) in [(&ben_id, ben_call), (&cat_id, cat_call)] {
        store_state(&app, &t, id, "available", None).await;
        store_state(&app, &t, id, "on_call", Some(call)).await;
    }

    let app = app.restart().await;
    let owner = app.token("owner@example.com").await;
    let ann = app.token("ann@example.com").await;
    let ben = app.token("ben@example.com").await;
    let mut ws = ws_connect(&app, &t, &owner).await;

    // Ann's not-ready survived; Ben and Cat are in wrap-up for their calls.
    let e = agent_entry(&app, &t, &owner, &ann_id).await;
    assert_eq!(
        (e["state"]["state"].as_str(), e["state"]["reason"].as_str()),
        (Some("not_ready"), Some("break")),
        "{e}"
    );
    let e = agent_entry(&app, &t, &owner, &ben_id).await;
    assert_eq!(e["state"]["state"], "wrap_up", "{e}");
    assert_eq!(e["state"]["call_id"], ben_call.to_string());
    assert_eq!(e["state"]["disposition_required"], true);
    // The corrections are history and events too.
    let mut seen = Vec::new();
    for _ in 0..2 {
        let ev = next_json(&mut ws).await;
        assert_eq!(ev["kind"], "agent.state", "{ev}");
        assert_eq!(ev["data"]["from"], "on_call", "{ev}");
        assert_eq!(ev["data"]["state"], "wrap_up", "{ev}");
        seen.push(ev["subject"].as_str().unwrap().to_owned());
    }
    seen.sort();
    let mut want = vec![ben_id.clone(), cat_id.clone()];
    want.sort();
    assert_eq!(seen, want);

    // Cat's timed wrap-up ends by itself (the tick), as an event.
    let ev = next_json(&mut ws).await;
    assert_eq!(
        (
            ev["subject"].as_str(),
            ev["data"]["from"].as_str(),
            ev["data"]["state"].as_str()
        ),
        (Some(cat_id.as_str()), Some("wrap_up"), Some("available")),
        "{ev}"
    );
    assert_eq!(
        agent_entry(&app, &t, &owner, &cat_id).await["state"]["state"],
        "available"
    );

    // Ben's needs a known disposition; a callback needs its time.
    let fin = format!("/api/v1/tenants/{t}/agents/me/wrap-up/finish");
    let r = app.post(&fin, &ben, json!({})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
    assert_eq!(r.code(), "disposition_required");
    let r = set_state(&app, &t, &ben, "me", json!({"state": "available"})).await;
    assert_eq!(r.code(), "disposition_required", "{r:?}");
    let r = app.post(&fin, &ben, json!({"disposition": "nope"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
    assert_eq!(r.code(), "unknown_disposition");
    let r = app.post(&fin, &ben, json!({"disposition": "cb"})).await;
    assert_eq!(r.code(), "callback_time_required", "{r:?}");
    let r = app
        .post(
            &fin,
            &ben,
            json!({"disposition": "sale", "callback_at": "2030-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");
    let r = app
        .post(
            &fin,
            &ben,
            json!({"disposition": "sale", "callback_for": "agent"}),
        )
        .await;
    assert_eq!(
        common::field_errors(&r),
        common::pairs(&[("callback_for", "not_allowed")])
    );
    let r = app
        .post(
            &fin,
            &ben,
            json!({"disposition": "cb", "callback_at": "2030-01-01T00:00:00Z",
                   "callback_local": "2030-01-01T09:00:00"}),
        )
        .await;
    assert_eq!(
        common::field_errors(&r),
        common::pairs(&[("callback_local", "not_allowed")])
    );
    let r = app
        .post(
            &fin,
            &ben,
            json!({"disposition": "cb", "callback_at": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(r.code(), "callback_in_past", "{r:?}");
    // A local time needs a campaign call's contact (this call is not one).
    let r = app
        .post(
            &fin,
            &ben,
            json!({"disposition": "cb", "callback_local": "2030-01-01T09:00:00"}),
        )
        .await;
    assert_eq!(
        common::field_errors(&r),
        common::pairs(&[("callback_local", "not_campaign_call")])
    );
    // Ann (an agent) cannot finish Ben's wrap-up.
    let r = app
        .post(
            &format!("/api/v1/tenants/{t}/agents/{ben_id}/wrap-up/finish"),
            &ann,
            json!({"disposition": "sale"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    let r = app.post(&fin, &ben, json!({"disposition": "sale"})).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["state"], "available");
    let ev = next_json(&mut ws).await;
    assert_eq!(ev["subject"], ben_id.as_str(), "{ev}");
    assert_eq!(ev["data"]["disposition"], "sale", "{ev}");
    assert_eq!(
        ev["data"]["disposition_details"]["call_id"],
        ben_call.to_string(),
        "{ev}"
    );

    let h = history(&app, &t, &owner, &ben_id, "").await;
    let items = h.body["items"].as_array().unwrap();
    let tail: Vec<(&str, Option<&str>, Option<&str>)> = items
        .iter()
        .map(|i| {
            (
                i["state"].as_str().unwrap(),
                i["call_id"].as_str(),
                i["disposition"].as_str(),
            )
        })
        .collect();
    let call = ben_call.to_string();
    assert_eq!(
        tail,
        vec![
            ("available", None, None),
            ("on_call", Some(call.as_str()), None),
            ("wrap_up", Some(call.as_str()), None),
            ("available", None, Some("sale")),
        ],
        "{h:?}"
    );

    // Codes in use are deactivated, not deleted.
    let list = app
        .get(&format!("/api/v1/tenants/{t}/disposition-codes"), &owner)
        .await;
    let sale_id = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["code"] == "sale")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .delete(
            &format!("/api/v1/tenants/{t}/disposition-codes/{sale_id}"),
            &owner,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["active"], false);
    assert_eq!(
        app.get(
            &format!("/api/v1/tenants/{t}/disposition-codes/{sale_id}"),
            &owner
        )
        .await
        .body["active"],
        false
    );
    let list = app
        .get(&format!("/api/v1/tenants/{t}/reason-codes"), &owner)
        .await;
    let break_id = list.body["items"][0]["id"].as_str().unwrap().to_owned();
    let r = app
        .delete(
            &format!("/api/v1/tenants/{t}/reason-codes/{break_id}"),
            &owner,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["active"], false);
    // Ann stays in her break; going back to it after leaving is refused now.
    assert_eq!(
        set_state(&app, &t, &ann, "me", json!({"state": "available"}))
            .await
            .status,
        StatusCode::OK
    );
    let r = set_state(
        &app,
        &t,
        &ann,
        "me",
        json!({"state": "not_ready", "reason": "break"}),
    )
    .await;
    assert_eq!(r.code(), "unknown_reason", "{r:?}");
    let actions = audit_actions(&app, &t, &owner).await;
    assert!(
        actions.iter().any(|a| a == "disposition_code.deactivated"),
        "{actions:?}"
    );
    assert!(
        actions.iter().any(|a| a == "reason_code.deactivated"),
        "{actions:?}"
    );
}
