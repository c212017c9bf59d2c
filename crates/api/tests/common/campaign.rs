//! Campaign set-up for the live dialer tests: a server on a chosen clock,
//! the sipp carrier answering by dialed number with its trunk, imported
//! lists, campaigns, and agents with registered sipp phones.

use super::Ctx;
use chrono::{DateTime, Utc};
use omnivox_testkit::{Resp, TestApp, free_udp_port, sipp_register, sipp_uas, spawn_app_at};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Tuesday 2 June 2026, 12:00 in San Francisco: inside every window.
pub const NOON_SF: &str = "2026-06-02T19:00:00Z";

pub async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> Resp {
    app.call(Method::PUT, path, Some(token), Some(body)).await
}

/// A server whose dialer clock reads `at` (RFC 3339), with its owner.
pub async fn tenant_at(at: &str) -> Ctx {
    let app = spawn_app_at(at.parse::<DateTime<Utc>>().unwrap()).await;
    let (t, owner) = app.owner().await;
    Ctx { app, t, owner }
}

/// The sipp carrier answering by dialed number, and the tenant's trunk to
/// it; the carrier's logs go to `<work>/carrier`.
pub async fn carrier(
    c: &Ctx,
    work: &std::path::Path,
    calls: u32,
) -> (tokio::process::Child, std::path::PathBuf) {
    let port = free_udp_port();
    let dir = work.join("carrier");
    std::fs::create_dir_all(&dir).unwrap();
    let sipp = sipp_uas("uas_by_number.xml", port, calls, &dir);
    let trunk = c
        .app
        .post(
            &c.path("/trunks"),
            &c.owner,
            json!({"name": "carrier", "host": "127.0.0.1", "port": port,
                   "allowed_sources": ["192.0.2.10"], "max_channels": 30, "max_cps": 30}),
        )
        .await;
    assert_eq!(trunk.status, StatusCode::CREATED, "{trunk:?}");
    (sipp, dir)
}

/// A list named `name` holding the contacts of `csv`, imported.
pub async fn import(c: &Ctx, name: &str, csv: &str) -> String {
    let list = c.list(name).await;
    let up = c.upload(&list, csv.as_bytes().to_vec()).await;
    let done = c
        .run(up.body["import"]["id"].as_str().unwrap(), json!({}))
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    list
}

/// A campaign dialing `list`.
pub async fn campaign(c: &Ctx, name: &str, mode: &str, settings: Value, list: &str) -> String {
    let camp = c
        .app
        .post(
            &c.path("/campaigns"),
            &c.owner,
            json!({"name": name, "mode": mode, "settings": settings}),
        )
        .await;
    assert_eq!(camp.status, StatusCode::CREATED, "{camp:?}");
    let id = camp.body["id"].as_str().unwrap().to_owned();
    let r = put(
        &c.app,
        &c.path(&format!("/campaigns/{id}/lists/{list}")),
        &c.owner,
        json!({}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    id
}

/// An agent member with a registered sipp phone answering on its own port.
pub async fn agent_phone(
    c: &Ctx,
    email: &str,
    sip_user: &str,
    work: &std::path::Path,
) -> (String, String, tokio::process::Child) {
    agent_phone_with(c, email, sip_user, work, "uas_loop.xml").await
}

/// [`agent_phone`] whose phone runs the SIP tests' scenario `scenario`
/// (logging into `<work>/<sip_user>`).
pub async fn agent_phone_with(
    c: &Ctx,
    email: &str,
    sip_user: &str,
    work: &std::path::Path,
    scenario: &str,
) -> (String, String, tokio::process::Child) {
    let token = c.app.member(&c.t, &c.owner, email, "agent").await;
    let id = c.app.get("/api/v1/me", &token).await.body["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = put(
        &c.app,
        &c.path(&format!("/members/{id}/sip")),
        &c.owner,
        json!({"username": sip_user, "password": "phone secret 12345"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let domain = r.body["domain"].as_str().unwrap().to_owned();
    let port = free_udp_port();
    let sip = c.app.sip_addr.unwrap();
    assert_eq!(
        sipp_register(sip, &domain, sip_user, "phone secret 12345", Some(port)).await,
        0,
        "{sip_user} registers"
    );
    let dir = work.join(sip_user);
    std::fs::create_dir_all(&dir).unwrap();
    let phone = sipp_uas(scenario, port, 100, &dir);
    (id, token, phone)
}

/// Each number the carrier saw, with the caller ID of every call to it
/// (from its log).
pub fn dialed(work: &std::path::Path) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(work).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.ends_with("_logs.log") {
            continue;
        }
        for line in std::fs::read_to_string(e.path()).unwrap().lines() {
            if let Some(rest) = line.strip_prefix("DIALED ") {
                let mut words = rest.split(' ');
                let number = words.next().unwrap();
                let caller = words.skip_while(|w| *w != "FROM").nth(1).unwrap();
                out.entry(format!("+{}", number.trim_start_matches('+')))
                    .or_insert_with(Vec::new)
                    .push(format!("+{caller}"));
            }
        }
    }
    out
}

/// Start campaign `id` (it must be startable).
pub async fn start_campaign(c: &Ctx, id: &str) {
    let r = c
        .app
        .post(
            &c.path(&format!("/campaigns/{id}/start")),
            &c.owner,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
}

/// The agent of `token` goes available, logged into `campaign`.
pub async fn log_in(c: &Ctx, token: &str, campaign: &str) {
    let r = c
        .app
        .post(
            &c.path("/agents/me/state"),
            token,
            json!({"state": "available", "campaigns": [campaign]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
}

/// Automated dialing needs consent: every contact of the tenant gives it
/// in writing.
pub async fn consent_all(c: &Ctx) {
    for contact in all_items(c, "/contacts").await {
        let id = contact["id"].as_str().unwrap();
        let r = c
            .app
            .post(
                &c.path(&format!("/contacts/{id}/consent")),
                &c.owner,
                json!({"channel": "voice", "kind": "consent", "method": "written",
                       "evidence": "web form"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    }
}

/// Every item of a paginated list.
pub async fn all_items(c: &Ctx, path: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let r = c
            .app
            .get(&c.path(&format!("{path}{sep}limit=100{cursor}")), &c.owner)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        out.extend(r.body["items"].as_array().unwrap().iter().cloned());
        match r.body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return out,
        }
    }
}
