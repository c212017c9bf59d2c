//! Supervisor monitoring through the HTTP API with a real sipp carrier:
//! a bridged call between two numbers gets a supervisor (a third number
//! through the same trunk), its mode is switched and it is hung up; the
//! permission, tenant, state and input checks answer 403/404/409/422.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use omnivox_testkit::{TestApp, sipp_uas_loop, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

fn number(n: &str) -> Value {
    json!({ "kind": "number", "number": n })
}

/// Waits until `check` holds for the call (`None`: it is gone).
async fn wait_call(
    app: &TestApp,
    t: &str,
    token: &str,
    id: &str,
    what: &str,
    check: impl Fn(Option<&Value>) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let r = app
            .get(&format!("/api/v1/tenants/{t}/calls/{id}"), token)
            .await;
        let body = (r.status == StatusCode::OK).then_some(&r.body);
        if check(body) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "call {id}: {what} not reached: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn monitor_leg(call: Option<&Value>) -> Option<&Value> {
    call?["legs"]
        .as_array()?
        .iter()
        .find(|l| l["leg"] == "monitor")
}

#[tokio::test]
async fn supervisors_monitor_a_bridged_call_through_the_api() {
    if !omnivox_testkit::sipp_available() {
        return;
    }
    let app = spawn_app().await;
    let (t, owner, t2, owner2) = app.two_tenants().await;
    let supervisor = app
        .member(&t, &owner, "sup@example.com", "supervisor")
        .await;
    let agent = app.member(&t, &owner, "agent@example.com", "agent").await;
    let port = omnivox_testkit::free_udp_port();
    let work = tempfile::tempdir().unwrap();
    // Three calls reach the carrier: customer, second party, supervisor.
    let mut carrier = sipp_uas_loop(port, 3, work.path());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let trunk = app
        .post(
            &format!("/api/v1/tenants/{t}/trunks"),
            &owner,
            json!({ "name": "carrier", "host": "127.0.0.1", "port": port,
                    "allowed_sources": ["192.0.2.10"], "max_channels": 5, "max_cps": 5 }),
        )
        .await;
    assert_eq!(trunk.status, StatusCode::CREATED, "{trunk:?}");
    let r = app
        .post(
            &format!("/api/v1/tenants/{t}/calls"),
            &owner,
            json!({ "first": number("+14155550100"), "second": number("+14155550101"),
                    "caller_id": "+14155550199", "ring_timeout_secs": 10 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let id = r.body["id"].as_str().unwrap().to_owned();
    wait_call(&app, &t, &owner, &id, "bridged", |c| {
        c.is_some_and(|c| c["state"] == "bridged")
    })
    .await;
    let path = format!("/api/v1/tenants/{t}/calls/{id}/monitor");
    let start = json!({ "to": number("+14155550102"), "mode": "listen" });

    // Agents never monitor; other tenants' calls do not exist; bad modes
    // and bad bodies are refused.
    let r = app.post(&path, &agent, start.clone()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    let r = app
        .post(
            &format!("/api/v1/tenants/{t2}/calls/{id}/monitor"),
            &owner2,
            start.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");
    let r = app
        .post(
            &path,
            &supervisor,
            json!({ "to": number("+14155550102"), "mode": "spy" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
    assert_eq!(r.code(), "invalid_monitor_mode");
    let r = app
        .post(&path, &supervisor, json!({ "mode": "listen" }))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");
    let r = app
        .call(
            Method::PUT,
            &path,
            Some(&supervisor),
            Some(json!({ "mode": "listen" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "no supervisor yet: {r:?}");

    // Not bridged (on hold): 409.
    let held = app
        .post(
            &format!("/api/v1/tenants/{t}/calls/{id}/hold"),
            &owner,
            json!({ "leg": "a" }),
        )
        .await;
    assert_eq!(held.body["state"], "on_hold", "{held:?}");
    let r = app.post(&path, &supervisor, start.clone()).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{r:?}");
    let resumed = app
        .post(
            &format!("/api/v1/tenants/{t}/calls/{id}/resume"),
            &owner,
            json!({ "leg": "a" }),
        )
        .await;
    assert_eq!(resumed.body["state"], "bridged", "{resumed:?}");

    // The supervisor is dialled: 202 with the leg.
    let r = app.post(&path, &supervisor, start.clone()).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
    assert_eq!(r.body["mode"], "listen");
    assert_eq!(r.body["call_id"], json!(id));
    assert_eq!(r.body["leg"]["leg"], "monitor");
    assert_eq!(r.body["leg"]["direction"], "outbound");
    assert_eq!(r.body["leg"]["party"], "+14155550102");
    // One supervisor at a time.
    let r = app.post(&path, &owner, start.clone()).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{r:?}");
    wait_call(&app, &t, &supervisor, &id, "supervisor answered", |c| {
        monitor_leg(c).is_some_and(|l| l["state"] == "answered")
    })
    .await;

    // Switch modes.
    for mode in ["whisper", "barge", "listen"] {
        let r = app
            .call(
                Method::PUT,
                &path,
                Some(&supervisor),
                Some(json!({ "mode": mode })),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        assert_eq!(r.body["mode"], mode);
        assert_eq!(r.body["leg"]["state"], "answered");
    }
    let r = app
        .call(
            Method::PUT,
            &path,
            Some(&supervisor),
            Some(json!({ "mode": "shout" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
    let r = app
        .call(
            Method::PUT,
            &path,
            Some(&agent),
            Some(json!({ "mode": "barge" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    let r = app.delete(&path, &agent).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    let call = app
        .get(&format!("/api/v1/tenants/{t}/calls/{id}"), &owner)
        .await;
    assert_eq!(call.body["state"], "bridged", "{call:?}");

    // Hang the supervisor up: the call goes on.
    let r = app.delete(&path, &supervisor).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    wait_call(&app, &t, &owner, &id, "supervisor gone", |c| {
        c.is_some_and(|c| c["state"] == "bridged") && monitor_leg(c).is_none()
    })
    .await;
    let r = app.delete(&path, &supervisor).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{r:?}");

    let hang = app
        .post(
            &format!("/api/v1/tenants/{t}/calls/{id}/hangup"),
            &owner,
            json!({}),
        )
        .await;
    assert_eq!(hang.status, StatusCode::NO_CONTENT, "{hang:?}");
    wait_call(&app, &t, &owner, &id, "ended", |c| c.is_none()).await;
    let out = tokio::time::timeout(Duration::from_secs(20), carrier.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(out.success(), "the carrier's sipp failed");

    // The CDR lists the supervisor's leg; the actions are audited.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let cdr = loop {
        let r = app
            .get(&format!("/api/v1/tenants/{t}/cdrs/{id}"), &owner)
            .await;
        if r.status == StatusCode::OK && r.body["state"] == "ended" {
            break r.body;
        }
        assert!(tokio::time::Instant::now() < deadline, "no CDR: {r:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let legs = cdr["legs"].as_array().unwrap();
    assert_eq!(legs.len(), 3, "{cdr}");
    assert!(legs.iter().any(|l| l["leg"] == "monitor"), "{cdr}");
    let audit = app.get(&format!("/api/v1/tenants/{t}/audit"), &owner).await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for a in [
        "call.monitor_started",
        "call.monitor_mode_changed",
        "call.monitor_stopped",
    ] {
        assert!(actions.contains(&a), "{a} not audited: {actions:?}");
    }
}
