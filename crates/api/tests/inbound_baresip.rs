//! The inbound headline, end to end with real peers and only the HTTP API:
//! a sipp carrier calls a DID, a published flow answers, plays a menu and
//! takes the caller's 1 to a queue; the agent's phone, a real softphone
//! (baresip) registered through Omnivox's SIP server with digest, is offered
//! the call and answers by itself; audio flows both ways; the agent hangs up
//! (baresip's own BYE, asked for through its control interface) and Omnivox
//! hangs up on the caller; the agent wraps up with a disposition; the CDR,
//! the agent's state history and the flow run's trace tell the story.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../sip/tests/common/baresip.rs"]
mod baresip;
mod common;

use baresip::{Baresip, baresip_digest_algorithms, skip_without_baresip};
use common::{Ctx, prompt, wait_for};
use omnivox_testkit::{free_udp_port, sipp_available, sipp_uac, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const DID: &str = "+14153400200";
/// The caller's number (a fictional one: never dialled back).
const CALLER: &str = "+14155550142";
const SIP_USER: &str = "agent-baresip";
/// No spaces: baresip's accounts file would cut the password there.
const SIP_PASSWORD: &str = "baresip-phone-secret-2468";

/// The agent's live state (`{"state": ..., "call_id": ...}`) once `ok`
/// holds for it (60 s at most).
async fn agent_state_when(c: &Ctx, user: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let list = wait_for(&c.app, &c.path("/agents"), &c.owner, what, |body| {
        state_in(body, user).is_some_and(|s| ok(&s))
    })
    .await;
    state_in(&list, user).unwrap()
}

fn state_in(agents: &Value, user: &str) -> Option<Value> {
    agents["items"]
        .as_array()?
        .iter()
        .find(|a| a["user"]["id"] == user)
        .map(|a| a["state"].clone())
}

#[tokio::test]
async fn a_carrier_call_through_the_menu_reaches_a_baresip_agent_who_hangs_up_and_wraps_up() {
    if skip_without_baresip() || !sipp_available() {
        return;
    }
    // baresip answers only the digest algorithms its libre knows (MD5 alone
    // before 3.11): the SIP server offers those.
    let app = spawn_app_with(|c| c.sip.server.auth.algorithms = baresip_digest_algorithms()).await;
    let (t, owner) = app.owner().await;
    let c = Ctx { app, t, owner };
    let sip = c.app.sip_addr.expect("the SIP server is on");
    let work = tempfile::tempdir().unwrap();

    // The carrier's trunk: calls from 127.0.0.1 are the carrier's.
    let carrier_port = free_udp_port();
    let r = c
        .app
        .post(
            &c.path("/trunks"),
            &c.owner,
            json!({"name": "carrier", "host": "127.0.0.1", "port": carrier_port,
                   "allowed_sources": ["127.0.0.1"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let r = c
        .app
        .post(
            &c.path("/disposition-codes"),
            &c.owner,
            json!({"code": "resolved", "label": "Resolved", "category": "contact", "effect": "final"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let r = c
        .app
        .post(
            &c.path("/queues"),
            &c.owner,
            json!({"name": "sales", "offer_timeout_s": 20,
                   "wrap_up": {"seconds": 600, "disposition_required": true}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let queue = r.body["id"].as_str().unwrap().to_owned();

    // The flow: the menu (1 s of tone) waits for a digit; 1 is sales.
    prompt(&c, "main-menu").await;
    let r = c
        .app
        .post(
            &c.path("/flows"),
            &c.owner,
            json!({"name": "front door", "definition": {
                "start": "menu",
                "nodes": [
                    {"id": "menu", "type": "menu", "prompt": "main-menu", "timeout_ms": 4000,
                     "retries": 1, "options": {"1": "sales", "2": "bye"}},
                    {"id": "sales", "type": "route", "target": {"type": "queue", "queue": "sales"}},
                    {"id": "bye", "type": "hangup"}
                ]
            }}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let flow = r.body["id"].as_str().unwrap().to_owned();
    common::publish_on_did(&c, &flow, DID).await;

    // The agent, their SIP account, and baresip registering with it.
    let token = c
        .app
        .member(&c.t, &c.owner, "agent@example.com", "agent")
        .await;
    let agent = c.app.get("/api/v1/me", &token).await.body["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = c
        .app
        .call(
            reqwest::Method::PUT,
            &c.path(&format!("/members/{agent}/sip")),
            Some(&c.owner),
            Some(json!({"username": SIP_USER, "password": SIP_PASSWORD})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let domain = r.body["domain"].as_str().unwrap().to_owned();
    let mut phone = Baresip::start(SIP_USER, &domain, SIP_PASSWORD, sip).await;
    // baresip sees the 200 to its digest-authenticated REGISTER, and the
    // API lists the phone.
    phone.wait_for("200 OK (Omnivox", 60).await;
    assert!(phone.log().contains("Authorization: Digest"));
    let phone_port = phone.port;
    let phone_at = format!("127.0.0.1:{phone_port}");
    let regs = wait_for(
        &c.app,
        &c.path("/sip/registrations"),
        &c.owner,
        "baresip registered",
        |regs| {
            regs.as_array().is_some_and(|r| {
                r.iter()
                    .any(|r| r["username"] == SIP_USER && r["contacts"][0]["target"] == phone_at)
            })
        },
    )
    .await;
    let reg = regs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["username"] == SIP_USER)
        .unwrap();
    assert_eq!(reg["user_id"], agent.as_str(), "{regs}");
    assert_eq!(reg["domain"], domain.as_str(), "{regs}");
    assert!(
        reg["contacts"][0]["user_agent"]
            .as_str()
            .is_some_and(|ua| ua.starts_with("baresip v")),
        "{regs}"
    );

    let r = c
        .app
        .post(
            &c.path("/agents/me/state"),
            &token,
            json!({"state": "available", "queues": [queue]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");

    // The carrier calls: answered by the flow, the caller presses 1 after
    // 1.5 s of the menu, talks (7 s of speech), and stays on the line until
    // Omnivox hangs up (sipp fails the call without that BYE).
    let caller_dir = work.path().join("caller");
    std::fs::create_dir_all(&caller_dir).unwrap();
    let caller = sipp_uac(
        "uac_flow_caller.xml",
        sip,
        carrier_port,
        &DID[1..],
        CALLER,
        &caller_dir,
    );

    // The queue offers the call to baresip, which answers by itself.
    phone.wait_for("Call established", 60).await;
    let on_call = agent_state_when(&c, &agent, "the agent on the call", |s| {
        s["state"] == "on_call"
    })
    .await;
    let call = on_call["call_id"].as_str().unwrap().to_owned();

    // Audio both ways as the phone measures it: its tone goes out and the
    // caller's speech comes in through Omnivox, in a call up for 2 s or
    // more (so the talk time is over a second).
    let deadline = Instant::now() + Duration::from_secs(60);
    while !phone
        .audio_status()
        .iter()
        .any(|s| s.tx_bps > 0 && s.rx_bps > 0 && s.age >= Duration::from_secs(2))
    {
        assert!(
            Instant::now() < deadline,
            "no audio both ways at the phone within 60 s:\n{}",
            phone.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The agent hangs up: baresip sends its BYE, Omnivox hangs up on the
    // caller, whose scenario ends with that BYE.
    phone.hangup().await;
    let from_phone = format!("UDP 127.0.0.1:{phone_port} -> {sip}\nBYE sip:");
    phone.wait_for(&from_phone, 30).await;
    let out = tokio::time::timeout(Duration::from_secs(90), caller.wait_with_output())
        .await
        .expect("the caller's call ends")
        .unwrap();
    assert!(
        out.status.success(),
        "the caller was answered, reached the agent and got Omnivox's BYE: {}\n--- baresip ---\n{}",
        String::from_utf8_lossy(&out.stderr),
        phone.log()
    );
    let caller_trace = std::fs::read_dir(&caller_dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with("_messages.log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect::<String>();
    assert!(
        caller_trace.contains("BYE sip:carrier@"),
        "the caller got a BYE:\n{caller_trace}"
    );
    // The phone hung up; Omnivox never sent it a BYE.
    let phone_log = phone.stop().await;
    let to_phone = format!("-> 127.0.0.1:{phone_port}\nBYE sip:");
    assert!(!phone_log.contains(&to_phone), "{phone_log}");
    assert_eq!(
        phone_log.matches("Call established").count(),
        1,
        "{phone_log}"
    );

    // Wrap-up for this call; it needs a disposition, then the agent is
    // available again.
    let wrap = agent_state_when(&c, &agent, "the agent in wrap-up", |s| {
        s["state"] == "wrap_up"
    })
    .await;
    assert_eq!(wrap["call_id"], call.as_str(), "{wrap}");
    assert_eq!(wrap["disposition_required"], true, "{wrap}");
    let finish = c.path(&format!("/agents/{agent}/wrap-up/finish"));
    let r = c.app.post(&finish, &token, json!({})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
    assert_eq!(r.code(), "disposition_required", "{r:?}");
    let r = c
        .app
        .post(&finish, &token, json!({"disposition": "resolved"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["state"], "available", "{r:?}");
    let now = agent_state_when(&c, &agent, "the agent available", |s| {
        s["state"] == "available"
    })
    .await;
    assert!(now["call_id"].is_null(), "{now}");

    // The call record.
    let cdr = wait_for(
        &c.app,
        &c.path(&format!("/cdrs/{call}")),
        &c.owner,
        "the ended call's record",
        |cdr| cdr["state"] == "ended",
    )
    .await;
    assert_eq!(cdr["did"], DID, "{cdr}");
    assert_eq!(cdr["direction"], "inbound", "{cdr}");
    assert_eq!(cdr["from_number"], CALLER, "{cdr}");
    assert_eq!(cdr["agent_id"], agent.as_str(), "{cdr}");
    assert_eq!(cdr["cause"], "normal", "{cdr}");
    assert!(cdr["talk_ms"].as_i64().unwrap() > 1_000, "{cdr}");
    assert_eq!(cdr["transfer_chain"], json!([]), "{cdr}");
    let legs = cdr["legs"].as_array().unwrap();
    assert_eq!(legs.len(), 2, "the caller and the one agent offered: {cdr}");
    let caller_leg = legs.iter().find(|l| l["leg"] == "a").unwrap();
    let agent_leg = legs.iter().find(|l| l["leg"] == "b").unwrap();
    assert_eq!(caller_leg["direction"], "inbound", "{cdr}");
    assert!(!caller_leg["trunk_id"].is_null(), "{cdr}");
    assert!(caller_leg["agent_id"].is_null(), "{cdr}");
    assert_eq!(agent_leg["direction"], "outbound", "{cdr}");
    assert_eq!(agent_leg["agent_id"], agent.as_str(), "{cdr}");
    assert!(!agent_leg["answered_at"].is_null(), "{cdr}");
    for leg in [caller_leg, agent_leg] {
        assert_eq!(leg["cause"], "normal", "{cdr}");
        // A quality is kept only for a leg whose RTP reached Omnivox.
        assert!(
            leg["quality"]["mos"].as_f64().is_some_and(|m| m > 1.0),
            "audio from the {} leg: {cdr}",
            leg["leg"]
        );
    }
    // The agent's history: offered, on the call, wrap-up, available with
    // the disposition.
    let h = c
        .app
        .get(&c.path(&format!("/agents/{agent}/history")), &c.owner)
        .await;
    assert_eq!(h.status, StatusCode::OK, "{h:?}");
    let items = h.body["items"].as_array().unwrap();
    let states: Vec<&str> = items.iter().map(|s| s["state"].as_str().unwrap()).collect();
    assert!(states.len() >= 4, "{states:?}");
    let tail = &items[items.len() - 4..];
    assert_eq!(
        tail.iter()
            .map(|s| s["state"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["reserved", "on_call", "wrap_up", "available"],
        "{states:?}"
    );
    for item in &tail[..3] {
        assert_eq!(item["call_id"], call.as_str(), "{item}");
    }
    assert_eq!(tail[3]["disposition"], "resolved", "{}", h.body);

    // The flow's run for the call: the menu, the caller's 1, the route to
    // the queue.
    let runs = c
        .app
        .get(
            &c.path(&format!("/flows/{flow}/runs?call_id={call}")),
            &c.owner,
        )
        .await;
    assert_eq!(runs.status, StatusCode::OK, "{runs:?}");
    let items = runs.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", runs.body);
    let run = &items[0];
    assert_eq!(run["outcome"], "route", "{run}");
    let trace = &run["trace"];
    assert_eq!(trace["nodes"], json!(["menu", "sales"]), "{run}");
    assert_eq!(trace["prompts"], json!(["main-menu"]), "{run}");
    let events = trace["events"].as_array().unwrap();
    let digits = json!({"event": "input", "input": {"digits": "1"}});
    let branch = json!({"event": "branch", "node": "menu", "edge": "option:1"});
    let at = |e: &Value| events.iter().position(|x| x == e);
    assert!(
        matches!((at(&digits), at(&branch)), (Some(d), Some(b)) if d < b),
        "the caller's 1 took the menu's option 1: {run}"
    );
    assert_eq!(
        trace["outcome"],
        json!({"route": {"type": "queue", "queue": "sales"}}),
        "{run}"
    );
}
