//! Calls through the HTTP API with real SIP peers: a trunk and an
//! originated call placed, held, resumed and hung up through
//! `/api/v1/tenants/{t}/calls`, its CDR read back, its events streamed,
//! and other tenants and agents kept out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use omnivox_testkit::{TestApp, sipp_uas_loop, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

async fn call_state(app: &TestApp, t: &str, token: &str, id: &str) -> Option<String> {
    let r = app
        .get(&format!("/api/v1/tenants/{t}/calls/{id}"), token)
        .await;
    (r.status == StatusCode::OK).then(|| r.body["state"].as_str().unwrap().to_owned())
}

async fn wait_state(app: &TestApp, t: &str, token: &str, id: &str, want: Option<&str>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let s = call_state(app, t, token, id).await;
        if s.as_deref() == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "call {id} is {s:?}, wanted {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn number(n: &str) -> Value {
    json!({ "kind": "number", "number": n })
}

#[tokio::test]
async fn originate_control_hang_up_and_read_the_cdr() {
    if !omnivox_testkit::sipp_available() {
        return;
    }
    let app = spawn_app().await;
    let (t, owner, t2, owner2) = app.two_tenants().await;
    let (t2, owner2) = (t2.as_str(), owner2.as_str());
    let port = omnivox_testkit::free_udp_port();
    let work = tempfile::tempdir().unwrap();
    // Two calls reach the carrier: the customer, then the second party.
    let mut carrier = sipp_uas_loop(port, 2, work.path());
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
    let trunk_id = trunk.body["id"].as_str().unwrap().to_owned();
    let trunks = app
        .get(&format!("/api/v1/tenants/{t}/trunks"), &owner)
        .await;
    assert_eq!(trunks.body[0]["status"]["active_channels"], 0, "{trunks:?}");

    // The toll-fraud guard refuses premium numbers before anything is sent.
    let premium = app
        .post(
            &format!("/api/v1/tenants/{t}/calls"),
            &owner,
            json!({ "first": number("+19005550100"), "second": number("+14155550101") }),
        )
        .await;
    assert_eq!(premium.status, StatusCode::FORBIDDEN, "{premium:?}");
    assert_eq!(premium.code(), "dial_policy");

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
    wait_state(&app, &t, &owner, &id, Some("bridged")).await;

    // Another tenant sees nothing and controls nothing.
    let theirs = app
        .get(&format!("/api/v1/tenants/{t2}/calls"), owner2)
        .await;
    assert_eq!(theirs.body["items"], json!([]));
    for path in [
        format!("/api/v1/tenants/{t2}/calls/{id}"),
        format!("/api/v1/tenants/{t2}/cdrs/{id}"),
    ] {
        assert_eq!(app.get(&path, owner2).await.status, StatusCode::NOT_FOUND);
    }
    let hang = app
        .post(
            &format!("/api/v1/tenants/{t2}/calls/{id}/hangup"),
            owner2,
            json!({}),
        )
        .await;
    assert_eq!(hang.status, StatusCode::NOT_FOUND);
    let cross = app
        .get(&format!("/api/v1/tenants/{t}/calls/{id}"), owner2)
        .await;
    assert!(matches!(
        cross.status,
        StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
    ));

    let listed = app.get(&format!("/api/v1/tenants/{t}/calls"), &owner).await;
    assert_eq!(listed.body["items"][0]["id"], json!(id));
    assert_eq!(listed.body["items"][0]["legs"].as_array().unwrap().len(), 2);
    let trunks = app
        .get(&format!("/api/v1/tenants/{t}/trunks/{trunk_id}"), &owner)
        .await;
    assert_eq!(trunks.body["status"]["active_channels"], 2);

    let held = app
        .post(
            &format!("/api/v1/tenants/{t}/calls/{id}/hold"),
            &owner,
            json!({ "leg": "a" }),
        )
        .await;
    assert_eq!(held.status, StatusCode::OK, "{held:?}");
    assert_eq!(held.body["state"], "on_hold");
    let again = app
        .post(
            &format!("/api/v1/tenants/{t}/calls/{id}/hold"),
            &owner,
            json!({ "leg": "a" }),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let resumed = app
        .post(
            &format!("/api/v1/tenants/{t}/calls/{id}/resume"),
            &owner,
            json!({ "leg": "a" }),
        )
        .await;
    assert_eq!(resumed.body["state"], "bridged");
    let dtmf = app
        .post(
            &format!("/api/v1/tenants/{t}/calls/{id}/dtmf"),
            &owner,
            json!({ "leg": "b", "digits": "42" }),
        )
        .await;
    assert_eq!(dtmf.status, StatusCode::OK, "{dtmf:?}");
    let bad = app
        .post(
            &format!("/api/v1/tenants/{t}/calls/{id}/hold"),
            &owner,
            json!({ "leg": "x" }),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    let hang = app
        .post(
            &format!("/api/v1/tenants/{t}/calls/{id}/hangup"),
            &owner,
            json!({}),
        )
        .await;
    assert_eq!(hang.status, StatusCode::NO_CONTENT, "{hang:?}");
    wait_state(&app, &t, &owner, &id, None).await;
    let out = tokio::time::timeout(Duration::from_secs(20), carrier.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(out.success(), "the carrier's sipp failed");

    // The CDR is written (asynchronously) and closed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let cdr = loop {
        let r = app
            .get(&format!("/api/v1/tenants/{t}/cdrs/{id}"), &owner)
            .await;
        if r.status == StatusCode::OK && r.body["state"] == "ended" {
            break r.body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no closed CDR: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(cdr["cause"], "normal", "{cdr}");
    assert_eq!(cdr["trunk_id"], json!(trunk_id));
    assert!(cdr["talk_ms"].as_i64().unwrap() > 0, "{cdr}");
    assert_eq!(cdr["legs"].as_array().unwrap().len(), 2, "{cdr}");
    let csv = app
        .client
        .get(app.url(&format!("/api/v1/tenants/{t}/cdrs/export.csv")))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.contains(&id) && csv.contains("normal"), "{csv}");

    // The calls' events and the control actions are on record.
    let audit = app.get(&format!("/api/v1/tenants/{t}/audit"), &owner).await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for a in [
        "call.originated",
        "call.held",
        "call.resumed",
        "call.hung_up",
    ] {
        assert!(actions.contains(&a), "{a} not audited: {actions:?}");
    }
}

#[tokio::test]
async fn agents_control_only_their_own_calls() {
    let app = spawn_app().await;
    let (t, owner) = app.owner().await;
    let agent = app.member(&t, &owner, "agent@example.com", "agent").await;
    let viewer = app.member(&t, &owner, "viewer@example.com", "viewer").await;
    let body = json!({ "first": number("+14155550100"), "second": number("+14155550101") });
    let r = app
        .post(&format!("/api/v1/tenants/{t}/calls"), &agent, body.clone())
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    let r = app
        .post(&format!("/api/v1/tenants/{t}/calls"), &viewer, body)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .get(&format!("/api/v1/tenants/{t}/calls"), &viewer)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.get(&format!("/api/v1/tenants/{t}/calls"), &agent).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app
        .post(
            &format!("/api/v1/tenants/{t}/calls/{}/hangup", uuid::Uuid::now_v7()),
            &owner,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Unknown fields and malformed endpoints are refused.
    let r = app
        .post(
            &format!("/api/v1/tenants/{t}/calls"),
            &owner,
            json!({ "first": { "kind": "pstn", "number": "1" }, "second": number("+14155550101") }),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");
    let r = app
        .post(
            &format!("/api/v1/tenants/{t}/calls"),
            &owner,
            json!({ "first": number("12"), "second": number("+14155550101") }),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");
}
