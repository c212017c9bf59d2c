//! A campaign survives `kill -9` of the real binary mid-call: the attempt
//! that was ringing is settled as interrupted at the next start (counted,
//! its lock released, its lead parked for the retry delay), and the number
//! is not dialed again: the carrier sees it exactly once.
//!
//! The server runs under libfaketime at 12:00 in San Francisco on a
//! Tuesday, so the calling window is open whatever the real time is.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{OWNER, faketime_available, sign_in, start_at, wait_ready, write_config};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

const NOON_SF: &str = "2026-06-02 19:00:00";
/// The restarted server's clock: a few minutes later.
const AFTER_CRASH: &str = "2026-06-02 19:05:00";

struct Api {
    client: Client,
    base: String,
    token: String,
    t: String,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut r = self
            .client
            .request(
                method,
                format!("{}/api/v1/tenants/{}{path}", self.base, self.t),
            )
            .bearer_auth(&self.token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        let (s, v) = self.call(reqwest::Method::GET, path, None).await;
        assert_eq!(s, StatusCode::OK, "{path}: {v}");
        v
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let (s, v) = self.call(method, path, Some(body)).await;
        assert!(s.is_success(), "{path}: {s} {v}");
        v
    }

    async fn sign_in(client: &Client, base: &str) -> Self {
        let (token, t) = sign_in(client, base).await;
        Self {
            client: client.clone(),
            base: base.to_owned(),
            token,
            t,
        }
    }
}

/// Lines of the carrier's log naming `number`.
fn times_dialed(dir: &std::path::Path, number: &str) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with("_logs.log"))
        .map(|e| {
            std::fs::read_to_string(e.path())
                .unwrap()
                .lines()
                .filter(|l| l.starts_with(&format!("DIALED {number} ")))
                .count()
        })
        .sum()
}

#[tokio::test]
async fn a_killed_server_neither_loses_nor_repeats_a_campaign_dial() {
    if !omnivox_testkit::sipp_available() || !faketime_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (http, sip, carrier, phone) = (
        omnivox_testkit::free_udp_port(),
        omnivox_testkit::free_udp_port(),
        omnivox_testkit::free_udp_port(),
        omnivox_testkit::free_udp_port(),
    );
    let config = write_config(dir.path(), http, sip);
    let base = format!("http://127.0.0.1:{http}");
    let client = Client::new();
    let carrier_dir = dir.path().join("carrier");
    std::fs::create_dir_all(&carrier_dir).unwrap();
    // Numbers ending in 2 ring and are never answered.
    let _carrier = omnivox_testkit::sipp_uas("uas_by_number.xml", carrier, 10, &carrier_dir);

    let mut server = start_at(&config, Some(NOON_SF));
    wait_ready(&client, &base).await;
    let api = Api::sign_in(&client, &base).await;
    api.send(
        reqwest::Method::POST,
        "/trunks",
        json!({"name": "carrier", "host": "127.0.0.1", "port": carrier}),
    )
    .await;

    // The owner works as the agent, with a registered sipp phone.
    let me = api
        .client
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(me["user"]["email"], OWNER);
    let owner = me["user"]["id"].as_str().unwrap().to_owned();
    let creds = api
        .send(
            reqwest::Method::PUT,
            &format!("/members/{owner}/sip"),
            json!({"username": "olga", "password": "phone secret 12345"}),
        )
        .await;
    let domain = creds["domain"].as_str().unwrap();
    let sip_addr = format!("127.0.0.1:{sip}").parse().unwrap();
    assert_eq!(
        omnivox_testkit::sipp_register(sip_addr, domain, "olga", "phone secret 12345", Some(phone))
            .await,
        0
    );
    let phone_dir = dir.path().join("phone");
    std::fs::create_dir_all(&phone_dir).unwrap();
    let mut phone_uas = omnivox_testkit::sipp_uas("uas_loop.xml", phone, 10, &phone_dir);

    let list = api
        .send(
            reqwest::Method::POST,
            "/lists",
            json!({"name": "Crash", "default_region": "US"}),
        )
        .await;
    let list = list["id"].as_str().unwrap().to_owned();
    let up: Value = api
        .client
        .post(format!(
            "{base}/api/v1/tenants/{}/lists/{list}/imports?file_name=crash.csv",
            api.t
        ))
        .bearer_auth(&api.token)
        .header("content-type", "text/csv")
        .body("First Name,Phone\nRing,+14152000002\nTalk,+14152000000\n")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let import = up["import"]["id"].as_str().expect("import id").to_owned();
    api.send(
        reqwest::Method::POST,
        &format!("/imports/{import}/start"),
        json!({}),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while api.get(&format!("/imports/{import}")).await["status"] != "completed" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "import never completed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let contact = api.get("/contacts?phone=%2B14152000002").await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let camp = api
        .send(
            reqwest::Method::POST,
            "/campaigns",
            json!({"name": "Crash", "mode": "progressive", "settings": {"ring_timeout_s": 60}}),
        )
        .await;
    let id = camp["id"].as_str().unwrap().to_owned();
    api.send(
        reqwest::Method::PUT,
        &format!("/campaigns/{id}/lists/{list}"),
        json!({}),
    )
    .await;
    api.send(
        reqwest::Method::POST,
        &format!("/agents/{owner}/state"),
        json!({"state": "available", "campaigns": [id]}),
    )
    .await;
    api.send(
        reqwest::Method::POST,
        &format!("/campaigns/{id}/start"),
        json!({}),
    )
    .await;

    // Wait for the call to ring at the carrier, then kill the server.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let attempt = loop {
        let a = api.get(&format!("/campaigns/{id}/attempts")).await;
        let first = a["items"][0].clone();
        if first["status"] == "dialing"
            && !first["call_id"].is_null()
            && times_dialed(&carrier_dir, "14152000002") == 1
        {
            break first;
        }
        assert!(tokio::time::Instant::now() < deadline, "never dialed: {a}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    server.start_kill().unwrap(); // SIGKILL: no shutdown code runs
    server.wait().await.unwrap();

    let _server = start_at(&config, Some(AFTER_CRASH));
    wait_ready(&client, &base).await;
    let api = Api::sign_in(&client, &base).await;
    let attempts = api.get(&format!("/campaigns/{id}/attempts")).await;
    let settled = attempts["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == attempt["id"])
        .expect("the attempt is kept");
    assert_eq!(settled["phone"], "+14152000002");
    assert_eq!(settled["status"], "interrupted", "{attempts}");
    let stats = api.get(&format!("/campaigns/{id}/stats")).await;
    assert_eq!(stats["status"], "running", "{stats}");
    let leads = api
        .get(&format!("/campaigns/{id}/leads?status=waiting"))
        .await;
    let lead = &leads["items"][0];
    assert_eq!(lead["contact_id"], contact.as_str());
    assert_eq!(
        lead["attempts"], 1,
        "the interrupted attempt counts: {lead}"
    );
    assert_eq!(lead["last_outcome"], "interrupted");

    // The agent's login (with its campaign) survived the restart; the
    // phone registers again as phones do (registrations live in memory).
    // The runner goes on with the next
    // lead, which is answered and connected, and does not call the
    // interrupted number again before its retry time.
    phone_uas.kill().await.unwrap();
    assert_eq!(
        omnivox_testkit::sipp_register(sip_addr, domain, "olga", "phone secret 12345", Some(phone))
            .await,
        0
    );
    let _phone_uas = omnivox_testkit::sipp_uas("uas_loop.xml", phone, 10, &phone_dir);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let a = api.get(&format!("/campaigns/{id}/attempts")).await;
        let done = a["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["phone"] == "+14152000000" && x["status"] == "finished");
        if let Some(done) = done {
            assert_eq!(done["outcome"], "normal", "{a}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "next lead not dialed: {a}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(times_dialed(&carrier_dir, "14152000000"), 1);
    assert_eq!(times_dialed(&carrier_dir, "14152000002"), 1);
    let attempts = api.get(&format!("/campaigns/{id}/attempts")).await;
    assert_eq!(attempts["items"].as_array().unwrap().len(), 2, "{attempts}");
}
