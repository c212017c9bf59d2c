//! Crash safety of calls: the real binary is killed with SIGKILL while a
//! call is live, then started again. The call's record must be closed as
//! `system_shutdown` and no ghost call may be left in the API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{get, sign_in, start, wait_ready, write_config};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

#[tokio::test]
async fn a_killed_server_closes_its_live_calls_on_restart() {
    if !omnivox_testkit::sipp_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (http, sip, carrier) = (
        omnivox_testkit::free_udp_port(),
        omnivox_testkit::free_udp_port(),
        omnivox_testkit::free_udp_port(),
    );
    let config = write_config(dir.path(), http, sip);
    let base = format!("http://127.0.0.1:{http}");
    let client = reqwest::Client::new();

    // A carrier that rings (183) and never answers.
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../sip/tests/sipp/uas_ring_cancel.xml"
    );
    let _sipp = Command::new("sipp")
        .args(["-sf", scenario, "-m", "1", "-timeout", "60s", "-nostdin"])
        .args(["-i", "127.0.0.1", "-t", "u1", "-p", &carrier.to_string()])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let mut server = start(&config);
    wait_ready(&client, &base).await;
    let (token, t) = sign_in(&client, &base).await;
    let r = client
        .post(format!("{base}/api/v1/tenants/{t}/trunks"))
        .bearer_auth(&token)
        .json(&json!({ "name": "carrier", "host": "127.0.0.1", "port": carrier }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r: Value = client
        .post(format!("{base}/api/v1/tenants/{t}/calls"))
        .bearer_auth(&token)
        .json(&json!({
            "first": { "kind": "number", "number": "+14155550100" },
            "second": { "kind": "number", "number": "+14155550101" },
            "ring_timeout_secs": 120
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = r["id"].as_str().expect("call id").to_owned();

    // Ringing, and its live record is written.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, call) = get(
            &client,
            format!("{base}/api/v1/tenants/{t}/calls/{id}"),
            &token,
        )
        .await;
        let (_, cdr) = get(
            &client,
            format!("{base}/api/v1/tenants/{t}/cdrs/{id}"),
            &token,
        )
        .await;
        if call["state"] == "early_media" && cdr["state"] == "live" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{call} {cdr}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    server.start_kill().unwrap(); // SIGKILL: no shutdown code runs
    server.wait().await.unwrap();

    let _server = start(&config);
    wait_ready(&client, &base).await;
    let (token, t2) = sign_in(&client, &base).await;
    assert_eq!(t, t2);
    let (_, calls) = get(&client, format!("{base}/api/v1/tenants/{t}/calls"), &token).await;
    assert_eq!(calls["items"], json!([]), "no ghost calls");
    let (status, _) = get(
        &client,
        format!("{base}/api/v1/tenants/{t}/calls/{id}"),
        &token,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, cdr) = get(
        &client,
        format!("{base}/api/v1/tenants/{t}/cdrs/{id}"),
        &token,
    )
    .await;
    assert_eq!(cdr["state"], "ended", "{cdr}");
    assert_eq!(cdr["cause"], "system_shutdown", "{cdr}");
    assert!(cdr["ended_at"].is_string(), "{cdr}");
}
