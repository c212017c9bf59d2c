//! Inbound calls to a DID routed to a queue, end to end with real peers: a
//! sipp carrier calls, Omnivox answers and queues the caller, the ACD
//! offers the call to registered sipp agents (one busy, one who never
//! answers, one not ready, one who takes it), the agent hangs up, wraps up
//! with a disposition; the CDR and the agent's history tell the story.
//! And a DID routed to an IVR flow: the caller's digit picks the queue, and
//! the live call's flow trace equals the simulation's for that digit.
//! And voicemail: a queue nobody staffs and a flow's voicemail node take
//! the caller's message (stored, listenable, notified with a signature).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::campaign::{agent_phone_with, dialed};
use common::{Ctx, Signed, next_signed, prompt, signed_endpoint};
use omnivox_testkit::{free_udp_port, sipp_available, sipp_uac, sipp_uas};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

const DID: &str = "+14153400100";
/// The caller's number (a fictional one: never dialled back).
const CALLER: &str = "+14155550123";

/// A tenant whose carrier trunk accepts calls from 127.0.0.1, a work dir
/// for the sipp peers, and the port the carrier calls from.
async fn carrier_tenant() -> (Ctx, tempfile::TempDir, u16) {
    let c = common::setup().await;
    let port = free_udp_port();
    inbound_trunk(&c, port).await;
    (c, tempfile::tempdir().unwrap(), port)
}

/// The tenant's carrier trunk to 127.0.0.1:`port`, accepting calls from
/// 127.0.0.1.
async fn inbound_trunk(c: &Ctx, port: u16) {
    let r = c
        .app
        .post(
            &c.path("/trunks"),
            &c.owner,
            json!({"name": "carrier", "host": "127.0.0.1", "port": port,
                   "allowed_sources": ["127.0.0.1"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
}

/// A queue and the DID routed to it.
async fn queue_with_did(c: &Ctx, body: Value) -> String {
    let r = c.app.post(&c.path("/queues"), &c.owner, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let queue = r.body["id"].as_str().unwrap().to_owned();
    let r = c
        .app
        .post(
            &c.path("/dids"),
            &c.owner,
            json!({"number": DID, "target_kind": "queue", "target_queue_id": queue}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    queue
}

async fn set_state(c: &Ctx, token: &str, body: Value) {
    let r = c.app.post(&c.path("/agents/me/state"), token, body).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
}

/// The agent's live state (`{"state": ..., "call_id": ...}`).
async fn agent_state(c: &Ctx, user: &str) -> Value {
    let r = c.app.get(&c.path("/agents"), &c.owner).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["user"]["id"] == user)
        .map(|a| a["state"].clone())
        .unwrap_or_else(|| panic!("agent {user} listed: {}", r.body))
}

/// The sipp carrier calls the DID from 127.0.0.1:`port` and stays on the
/// line until Omnivox hangs up (after the agent does).
async fn call_the_did(c: &Ctx, port: u16, work: &std::path::Path) {
    call_the_did_with(c, port, work, "uac_queue_caller.xml", CALLER).await;
}

/// [`call_the_did`] with the SIP tests' `scenario`, calling from `from`.
async fn call_the_did_with(c: &Ctx, port: u16, work: &std::path::Path, scenario: &str, from: &str) {
    let caller = dial_the_did(c, port, work, scenario, from);
    caller_done(caller).await;
}

/// The sipp carrier starts calling the DID with `scenario` from `from`.
fn dial_the_did(
    c: &Ctx,
    port: u16,
    work: &std::path::Path,
    scenario: &str,
    from: &str,
) -> tokio::process::Child {
    let dir = work.join("caller");
    std::fs::create_dir_all(&dir).unwrap();
    sipp_uac(
        scenario,
        c.app.sip_addr.unwrap(),
        port,
        &DID[1..],
        from,
        &dir,
    )
}

/// Waits for the carrier's call to end as its scenario expects.
async fn caller_done(caller: tokio::process::Child) {
    let out = tokio::time::timeout(Duration::from_secs(90), caller.wait_with_output())
        .await
        .expect("the caller's call ends")
        .unwrap();
    assert!(
        out.status.success(),
        "the caller was answered, connected and hung up on: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An agent whose phone answers by number (`uas_by_number.xml`: users
/// ending in 7 answer), logged in to `queue` and available: (id, phone).
async fn available_agent(
    c: &Ctx,
    work: &std::path::Path,
    email: &str,
    user: &str,
    queue: &str,
) -> (String, tokio::process::Child) {
    let (id, token, phone) = agent_phone_with(c, email, user, work, "uas_by_number.xml").await;
    set_state(c, &token, json!({"state": "available", "queues": [queue]})).await;
    (id, phone)
}

/// The agent's state once it is wrap-up (or after 5 s, whatever it is).
async fn wrap_up_of(c: &Ctx, user: &str) -> Value {
    let mut state = agent_state(c, user).await;
    for _ in 0..100 {
        if state["state"] == "wrap_up" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        state = agent_state(c, user).await;
    }
    state
}

#[tokio::test]
async fn a_caller_to_a_queue_reaches_the_agent_who_answers() {
    if !sipp_available() {
        return;
    }
    let (c, work, carrier_port) = carrier_tenant().await;
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
            &c.path("/reason-codes"),
            &c.owner,
            json!({"code": "break", "label": "Break", "paid": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    // The organization records on demand; this queue records its calls.
    let queue = queue_with_did(
        &c,
        json!({"name": "support", "offer_timeout_s": 5, "recording": "all",
               "wrap_up": {"seconds": 300, "disposition_required": true}}),
    )
    .await;
    let r = c
        .app
        .patch(
            &c.path(&format!("/queues/{queue}")),
            &c.owner,
            json!({"recording": "sometimes"}),
        )
        .await;
    assert_eq!(
        common::field_errors(&r),
        common::pairs(&[("recording", "invalid_policy")])
    );
    // One missed offer is enough to take an agent out of rotation here.
    let r = c
        .app
        .call(
            reqwest::Method::PUT,
            &c.path("/acd-settings"),
            Some(&c.owner),
            Some(json!({"max_missed_offers": 1, "inbound_first": true,
                "keep_available_per_queue": 0, "outbound_wrap_up_seconds": 60,
                "outbound_disposition_required": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    // The phones answer by the last digit of their user name (the
    // carrier scenario): 1 busy, 2 rings until cancelled, 7 answers,
    // says "Hello?" and hangs up after 6 s.
    let mut agents = Vec::new();
    for user in ["4001", "4002", "4017", "4007"] {
        let (id, token, phone) = agent_phone_with(
            &c,
            &format!("a{user}@example.com"),
            user,
            work.path(),
            "uas_by_number.xml",
        )
        .await;
        // Logged in one after the other: the longest idle is offered first.
        set_state(&c, &token, json!({"state": "available", "queues": [queue]})).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        agents.push((user, id, token, phone));
    }
    let id_of = |user: &str| agents.iter().find(|a| a.0 == user).unwrap().1.clone();
    let token_of = |user: &str| agents.iter().find(|a| a.0 == user).unwrap().2.clone();
    // 4017 goes on a break: never offered.
    set_state(
        &c,
        &token_of("4017"),
        json!({"state": "not_ready", "reason": "break"}),
    )
    .await;

    call_the_did(&c, carrier_port, work.path()).await;

    // Each phone's INVITEs: busy and ringing agents were offered once, the
    // agent on a break never.
    let offered = |user: &str| dialed(&work.path().join(user)).len();
    assert_eq!(offered("4001"), 1, "the busy agent");
    assert_eq!(offered("4002"), 1, "the agent who never answers");
    assert_eq!(offered("4017"), 0, "a not-ready agent is never offered");
    assert_eq!(offered("4007"), 1, "the agent who answers");

    // The agent who talked is in wrap-up for the call.
    let taker = id_of("4007");
    let state = wrap_up_of(&c, &taker).await;
    assert_eq!(state["state"], "wrap_up", "{state}");
    let call = state["call_id"].as_str().unwrap().to_owned();
    let r = c
        .app
        .post(
            &c.path(&format!("/agents/{taker}/wrap-up/finish")),
            &token_of("4007"),
            json!({"disposition": "resolved"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(agent_state(&c, &taker).await["state"], "available");

    // The call record: the DID, the agent, the offers, audio both ways.
    let mut cdr = c.app.get(&c.path(&format!("/cdrs/{call}")), &c.owner).await;
    for _ in 0..100 {
        if cdr.status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        cdr = c.app.get(&c.path(&format!("/cdrs/{call}")), &c.owner).await;
    }
    assert_eq!(cdr.status, StatusCode::OK, "{cdr:?}");
    let cdr = cdr.body;
    assert_eq!(cdr["did"], DID, "{cdr}");
    assert_eq!(cdr["direction"], "inbound", "{cdr}");
    assert_eq!(cdr["agent_id"], taker.as_str(), "{cdr}");
    assert_eq!(cdr["cause"], "normal", "{cdr}");
    assert!(cdr["talk_ms"].as_i64().unwrap() > 1_000, "{cdr}");
    let legs = cdr["legs"].as_array().unwrap();
    let leg_of = |agent: &str| {
        legs.iter()
            .find(|l| l["agent_id"] == agent)
            .unwrap_or_else(|| panic!("a leg to {agent}: {cdr}"))
    };
    assert_eq!(leg_of(&id_of("4001"))["cause"], "busy", "{cdr}");
    assert_eq!(leg_of(&id_of("4001"))["sip_code"], 486, "{cdr}");
    assert!(leg_of(&id_of("4002"))["answered_at"].is_null(), "{cdr}");
    let talked = leg_of(&taker);
    assert!(!talked["answered_at"].is_null(), "{cdr}");
    assert!(!talked["quality"].is_null(), "audio from the agent: {cdr}");
    let caller_leg = legs.iter().find(|l| l["leg"] == "a").unwrap();
    assert!(
        !caller_leg["quality"].is_null(),
        "audio from the caller: {cdr}"
    );
    assert!(
        !legs.iter().any(|l| l["agent_id"] == id_of("4017").as_str()),
        "{cdr}"
    );
    // Recorded by the queue's policy.
    common::wait_for(
        &c.app,
        &c.path(&format!("/recordings?call_id={call}")),
        &c.owner,
        "the queue call's recording",
        |r| r["items"].as_array().unwrap().len() == 1,
    )
    .await;

    // The taker's history: offered, on the call, wrap-up, available again.
    let h = c
        .app
        .get(&c.path(&format!("/agents/{taker}/history")), &c.owner)
        .await;
    assert_eq!(h.status, StatusCode::OK, "{h:?}");
    let states: Vec<&str> = h.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    let tail: Vec<&str> = states.iter().rev().take(4).rev().copied().collect();
    assert_eq!(
        tail,
        ["reserved", "on_call", "wrap_up", "available"],
        "{states:?}"
    );
    // The busy agent missed an offer, the one who rang out too: with the
    // organization's limit of one miss, both are out of rotation.
    for user in ["4001", "4002"] {
        let s = agent_state(&c, &id_of(user)).await;
        assert_eq!(s["state"], "not_ready", "{user}: {s}");
        assert_eq!(s["reason"], "missed_offers", "{user}: {s}");
    }

    // The call's handle time (talk and wrap-up: seconds, not the assumed
    // 180) feeds the queue's estimates, and a restart keeps it.
    let stats = c.path(&format!("/queues/{queue}/stats"));
    let aht = c.app.get(&stats, &c.owner).await.body["aht_s"].clone();
    let secs = aht.as_i64().unwrap();
    assert!((1..60).contains(&secs), "measured: {aht}");
    let c = Ctx {
        app: c.app.restart().await,
        ..c
    };
    assert_eq!(c.app.get(&stats, &c.owner).await.body["aht_s"], aht);
}

#[tokio::test]
async fn a_queue_without_agents_overflows_to_the_next_queue() {
    if !sipp_available() {
        return;
    }
    let (c, work, carrier_port) = carrier_tenant().await;
    let r = c
        .app
        .post(&c.path("/queues"), &c.owner, json!({"name": "second line"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let second = r.body["id"].as_str().unwrap().to_owned();
    queue_with_did(
        &c,
        json!({"name": "first line", "overflow": [
            {"when": "no_agent_logged_in", "to": "queue", "queue_id": second}]}),
    )
    .await;
    // Nobody is logged in to the first line; the only agent serves the
    // second one.
    let (agent, _phone) = available_agent(&c, work.path(), "b@example.com", "5007", &second).await;

    call_the_did(&c, carrier_port, work.path()).await;
    assert_eq!(dialed(&work.path().join("5007")).len(), 1);
    let state = wrap_up_of(&c, &agent).await;
    assert_eq!(
        state["state"], "wrap_up",
        "the overflowed call reached the agent: {state}"
    );
}

/// The tenant's live events of `kinds` (SSE), each event's JSON sent on
/// as it comes.
async fn events(c: &Ctx, kinds: &str) -> tokio::sync::mpsc::UnboundedReceiver<Value> {
    let mut stream = c
        .app
        .client
        .get(c.app.url(&c.path(&format!("/events?kinds={kinds}"))))
        .bearer_auth(&c.owner)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut text = String::new();
        while let Ok(Some(chunk)) = stream.chunk().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = text.find("\n\n") {
                let event: String = text.drain(..end + 2).collect();
                for data in event.lines().filter_map(|l| l.strip_prefix("data:")) {
                    if let Ok(v) = serde_json::from_str::<Value>(data.trim()) {
                        let _ = tx.send(v);
                    }
                }
            }
        }
    });
    rx
}

/// The next event of `kind` within 30 s.
async fn next_event(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Value>, kind: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let event = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no {kind} event within 30 s"))
            .expect("the event stream ended");
        if event["kind"] == kind {
            return event;
        }
    }
}

#[tokio::test]
async fn a_waiting_caller_hears_their_place_and_the_queue_music_at_its_priority() {
    if !sipp_available() {
        return;
    }
    let (c, work, carrier_port) = carrier_tenant().await;
    prompt(&c, "hold-jazz").await;
    prompt(&c, "thanks-for-waiting").await;
    let queue = queue_with_did(
        &c,
        json!({"name": "support", "priority": 30,
               "announcements": {"position": true, "ewt": true, "every_seconds": 15},
               "music_prompt": "hold-jazz", "comfort_prompt": "thanks-for-waiting"}),
    )
    .await;
    // The only agent is logged in to the queue but on a break: the caller
    // waits (with an estimate, someone is staffed).
    let r = c
        .app
        .post(
            &c.path("/reason-codes"),
            &c.owner,
            json!({"code": "break", "label": "Break", "paid": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let (agent, token, _phone) = agent_phone_with(
        &c,
        "w@example.com",
        "6007",
        work.path(),
        "uas_by_number.xml",
    )
    .await;
    set_state(&c, &token, json!({"state": "available", "queues": [queue]})).await;
    set_state(&c, &token, json!({"state": "not_ready", "reason": "break"})).await;
    let mut rx = events(&c, "call.answered,call.prompt").await;

    let caller = dial_the_did(
        &c,
        carrier_port,
        work.path(),
        "uac_queue_caller.xml",
        CALLER,
    );
    let answered = next_event(&mut rx, "call.answered").await;
    let call = answered["data"]["call_id"].as_str().unwrap().to_owned();

    // In line (once the controller has queued the answered call) at the
    // queue's priority, first, with an estimate.
    let stats_path = c.path(&format!("/queues/{queue}/stats"));
    let mut stats = c.app.get(&stats_path, &c.owner).await;
    for _ in 0..200 {
        if stats.body["calls"][0].is_object() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        stats = c.app.get(&stats_path, &c.owner).await;
    }
    assert_eq!(stats.status, StatusCode::OK, "{stats:?}");
    let waiting = &stats.body["calls"][0];
    assert_eq!(waiting["call_id"], call.as_str(), "{}", stats.body);
    assert_eq!(waiting["priority"], 30, "{}", stats.body);
    assert_eq!(waiting["position"], 1, "{}", stats.body);
    assert!(waiting["ewt_s"].as_i64().is_some(), "{}", stats.body);

    // The announcement (place, wait, then the comfort prompt) plays to its
    // end: a prompt from the announcements' tag range, not a flow's.
    let ended = next_event(&mut rx, "call.prompt").await;
    assert_eq!(ended["data"]["call_id"], call.as_str(), "{ended}");
    assert_eq!(ended["data"]["reason"]["kind"], "finished", "{ended}");
    assert!(
        ended["data"]["tag"].as_u64().unwrap() >= 1 << 63,
        "an announcement: {ended}"
    );

    // Back from the break, the agent takes the call (says hello, hangs up).
    set_state(&c, &token, json!({"state": "available"})).await;
    caller_done(caller).await;
    assert_eq!(dialed(&work.path().join("6007")).len(), 1);
    let state = wrap_up_of(&c, &agent).await;
    assert_eq!(state["state"], "wrap_up", "{state}");
    assert_eq!(state["call_id"], call.as_str(), "{state}");
}

/// A queue named `sales`, the flow `definition` published, and the DID
/// routed to the flow: (flow id, queue id).
async fn flow_to_sales(c: &Ctx, definition: Value) -> (String, String) {
    let r = c
        .app
        .post(&c.path("/queues"), &c.owner, json!({"name": "sales"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let sales = r.body["id"].as_str().unwrap().to_owned();
    let r = c
        .app
        .post(
            &c.path("/flows"),
            &c.owner,
            json!({"name": "front door", "definition": definition}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let flow = r.body["id"].as_str().unwrap().to_owned();
    common::publish_on_did(c, &flow, DID).await;
    (flow, sales)
}

/// The one run of `flow` by `call`, and a simulation of the flow with
/// the caller's `inputs`.
async fn run_and_simulation(c: &Ctx, flow: &str, call: &str, inputs: Value) -> (Value, Value) {
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
    let sim = c
        .app
        .post(
            &c.path(&format!("/flows/{flow}/simulate")),
            &c.owner,
            json!({"caller": CALLER, "called": DID, "script": {"inputs": inputs}}),
        )
        .await;
    assert_eq!(sim.status, StatusCode::OK, "{sim:?}");
    (items[0].clone(), sim.body)
}

#[tokio::test]
async fn a_caller_in_a_flow_presses_1_for_sales_like_the_simulation_says() {
    if !sipp_available() {
        return;
    }
    let (c, work, carrier_port) = carrier_tenant().await;
    prompt(&c, "main-menu").await;
    // The menu is 1 s of tone; the caller presses 1 after 1.5 s, while the
    // menu waits for a digit.
    let (flow, sales) = flow_to_sales(
        &c,
        json!({
            "start": "menu",
            "nodes": [
                {"id": "menu", "type": "menu", "prompt": "main-menu", "timeout_ms": 4000,
                 "retries": 1, "options": {"1": "sales", "2": "bye"}},
                {"id": "sales", "type": "route", "target": {"type": "queue", "queue": "sales"}},
                {"id": "bye", "type": "hangup"}
            ]
        }),
    )
    .await;
    let (agent, _phone) = available_agent(&c, work.path(), "s@example.com", "6007", &sales).await;

    call_the_did_with(&c, carrier_port, work.path(), "uac_flow_caller.xml", CALLER).await;

    // The digit took the caller to sales, where the agent talked to them.
    assert_eq!(dialed(&work.path().join("6007")).len(), 1);
    let state = wrap_up_of(&c, &agent).await;
    assert_eq!(state["state"], "wrap_up", "{state}");
    let call = state["call_id"].as_str().unwrap().to_owned();

    // The live call's run of the flow, and the simulation of a caller
    // pressing 1: the same trace.
    let (run, sim) = run_and_simulation(&c, &flow, &call, json!([{"digits": "1"}])).await;
    assert_eq!(run["outcome"], "route", "{run}");
    assert_eq!(run["version"], 1, "{run}");
    assert_eq!(
        run["trace"]["outcome"],
        json!({"route": {"type": "queue", "queue": "sales"}}),
        "{run}"
    );
    assert_eq!(run["trace"], sim, "live trace equals the simulation");
}

#[tokio::test]
async fn a_silent_caller_hears_the_spoken_welcome_and_takes_the_fallback() {
    if !sipp_available() {
        return;
    }
    let (c, work, carrier_port) = carrier_tenant().await;
    prompt(&c, "main-menu").await;
    // Spoken by espeak-ng, then a menu nobody answers: two tries of 1 s
    // each, and no branch for it, so the flow's fallback route is taken.
    let (flow, sales) = flow_to_sales(
        &c,
        json!({
            "start": "welcome",
            "fallback": {"type": "queue", "queue": "sales"},
            "nodes": [
                {"id": "welcome", "type": "say", "text": "Welcome to {{called}}.", "next": "menu"},
                {"id": "menu", "type": "menu", "prompt": "main-menu", "timeout_ms": 1000,
                 "retries": 1, "options": {"1": "bye"}},
                {"id": "bye", "type": "hangup"}
            ]
        }),
    )
    .await;
    let (agent, _phone) = available_agent(&c, work.path(), "f@example.com", "6107", &sales).await;

    call_the_did(&c, carrier_port, work.path()).await;

    assert_eq!(dialed(&work.path().join("6107")).len(), 1);
    let state = wrap_up_of(&c, &agent).await;
    assert_eq!(state["state"], "wrap_up", "{state}");
    let call = state["call_id"].as_str().unwrap().to_owned();
    let (run, sim) = run_and_simulation(&c, &flow, &call, json!([])).await;
    assert_eq!(
        run["trace"]["spoken"],
        json!([format!("Welcome to {DID}.")]),
        "{run}"
    );
    assert!(
        run["fallback_reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{run}"
    );
    assert_eq!(run["trace"], sim, "live trace equals the simulation");
}

#[tokio::test]
async fn a_caller_nobody_can_take_is_called_back_when_an_agent_logs_in() {
    if !sipp_available() {
        return;
    }
    let (c, work, carrier_port) = carrier_tenant().await;
    let queue = queue_with_did(
        &c,
        json!({"name": "callbacks", "callback_in_queue": true, "overflow": [
            {"when": "no_agent_logged_in", "to": "callback"}]}),
    )
    .await;
    // The agent's phone answers (7); the agent is not logged in yet.
    let (agent, token, _phone) = agent_phone_with(
        &c,
        "cb@example.com",
        "7007",
        work.path(),
        "uas_by_number.xml",
    )
    .await;
    // The caller is told they will be called back and Omnivox hangs up.
    let customer = "+14153409997";
    call_the_did_with(
        &c,
        carrier_port,
        work.path(),
        "uac_queue_caller.xml",
        customer,
    )
    .await;
    assert_eq!(dialed(&work.path().join("7007")).len(), 0);

    // The carrier now answers calls to the customer (7: "Hello?", then
    // the customer hangs up after 6 s).
    let carrier_dir = work.path().join("carrier");
    std::fs::create_dir_all(&carrier_dir).unwrap();
    let _carrier = sipp_uas("uas_by_number.xml", carrier_port, 1, &carrier_dir);
    set_state(&c, &token, json!({"state": "available", "queues": [queue]})).await;

    // The agent is rung first, then the customer is dialled back from the
    // DID they called.
    let mut calls_back = dialed(&carrier_dir);
    // Generous waits: a slow machine speaks the confirmation slowly.
    for _ in 0..600 {
        if !calls_back.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        calls_back = dialed(&carrier_dir);
    }
    assert_eq!(
        dialed(&work.path().join("7007")).len(),
        1,
        "the agent was rung"
    );
    let to_customer = calls_back
        .get(customer)
        .unwrap_or_else(|| panic!("the customer was called back: {calls_back:?}"));
    assert_eq!(to_customer.len(), 1, "{calls_back:?}");
    assert!(
        to_customer[0].contains(&DID[1..]),
        "from the DID: {calls_back:?}"
    );

    // The customer hangs up: the agent wraps up the callback.
    let mut state = agent_state(&c, &agent).await;
    for _ in 0..600 {
        if state["state"] == "wrap_up" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        state = agent_state(&c, &agent).await;
    }
    assert_eq!(state["state"], "wrap_up", "{state}");
    let h = c
        .app
        .get(&c.path(&format!("/agents/{agent}/history")), &c.owner)
        .await;
    let states: Vec<&str> = h.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    let tail: Vec<&str> = states.iter().rev().take(3).rev().copied().collect();
    assert_eq!(tail, ["reserved", "on_call", "wrap_up"], "{states:?}");
    // The customer was reached at the first attempt.
    let callbacks = c.path(&format!("/queues/{queue}/callbacks"));
    let r = common::wait_for(&c.app, &callbacks, &c.owner, "the callback done", |b| {
        b["items"][0]["status"] == "done"
    })
    .await;
    assert_eq!(r["items"][0]["attempts"], 1, "{r}");
}

#[tokio::test]
async fn a_callback_asked_for_by_key_survives_a_restart_and_is_retried_then_given_up() {
    if !sipp_available() {
        return;
    }
    // Retries one second apart, three attempts (the default).
    let app = omnivox_testkit::spawn_app_with(|c| c.inbound.callback_retry_secs = 1).await;
    let (t, owner) = app.owner().await;
    let c = Ctx { app, t, owner };
    let carrier_port = free_udp_port();
    inbound_trunk(&c, carrier_port).await;
    let work = tempfile::tempdir().unwrap();
    let queue = queue_with_did(
        &c,
        json!({"name": "callbacks", "callback_in_queue": true, "wrap_up": {"seconds": 0}}),
    )
    .await;
    // Nobody is logged in; the caller presses 1 (SIP INFO) after 1.5 s:
    // told they will be called back, and Omnivox hangs up.
    let customer = "+14153409991";
    call_the_did_with(
        &c,
        carrier_port,
        work.path(),
        "uac_flow_caller.xml",
        customer,
    )
    .await;
    let callbacks = c.path(&format!("/queues/{queue}/callbacks"));
    let r = c.app.get(&callbacks, &c.owner).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let kept = &r.body["items"][0];
    assert_eq!(kept["status"], "waiting", "{}", r.body);
    assert_eq!(kept["number"], customer, "{}", r.body);
    assert_eq!(kept["caller_id"], DID, "{}", r.body);
    assert_eq!(kept["attempts"], 0, "{}", r.body);

    // The server restarts; the callback is still there.
    let c = Ctx {
        app: c.app.restart().await,
        ..c
    };
    // The carrier answers calls to the customer: busy (the number ends in
    // 1). The agent's phone answers (7), and the agent logs in.
    let carrier_dir = work.path().join("carrier");
    std::fs::create_dir_all(&carrier_dir).unwrap();
    let _carrier = sipp_uas("uas_by_number.xml", carrier_port, 10, &carrier_dir);
    let (_agent, token, _phone) = agent_phone_with(
        &c,
        "again@example.com",
        "8007",
        work.path(),
        "uas_by_number.xml",
    )
    .await;
    set_state(&c, &token, json!({"state": "available", "queues": [queue]})).await;

    // Rung, busy, back in line a second later, three times; then given up.
    let r = common::wait_for(&c.app, &callbacks, &c.owner, "the callback given up", |b| {
        b["items"][0]["status"] == "failed"
    })
    .await;
    let failed = &r["items"][0];
    assert_eq!(failed["attempts"], 3, "{r}");
    assert_eq!(failed["last_cause"], "busy", "{r}");
    let rung: usize = dialed(&work.path().join("8007"))
        .values()
        .map(Vec::len)
        .sum();
    assert_eq!(rung, 3, "the agent was rung for each attempt");
    let calls_back = dialed(&carrier_dir);
    assert_eq!(
        calls_back.get(customer).map(Vec::len),
        Some(3),
        "{calls_back:?}"
    );
}

/// A voicemail box: its id.
async fn voicemail_box(c: &Ctx, body: Value) -> String {
    let r = c
        .app
        .post(&c.path("/voicemail/boxes"), &c.owner, body)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    r.body["id"].as_str().unwrap().to_owned()
}

/// The box's messages, once there is one (the row is written as the call
/// ends).
async fn messages_of(c: &Ctx, mailbox: &str) -> Vec<Value> {
    for _ in 0..300 {
        let r = c
            .app
            .get(
                &c.path(&format!("/voicemail/messages?box_id={mailbox}")),
                &c.owner,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        let items = r.body["items"].as_array().unwrap().clone();
        if !items.is_empty() {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no message in box {mailbox}");
}

/// The box's one message, checked: from the caller to the DID, recorded
/// for a length within `ms`, its audio intact.
async fn the_message(c: &Ctx, mailbox: &str, ms: std::ops::RangeInclusive<i64>) -> Value {
    let mut items = messages_of(c, mailbox).await;
    assert_eq!(items.len(), 1, "{items:?}");
    let m = items.remove(0);
    assert_eq!(m["caller"], CALLER, "{m}");
    assert_eq!(m["called"], DID, "{m}");
    let length = m["duration_ms"].as_i64().unwrap();
    assert!(ms.contains(&length), "recorded for {length} ms: {m}");
    assert_message_audio(c, &m).await;
    m
}

/// The box's URL was told of message `m`, signed with `secret`: the
/// notification's body.
async fn notified(
    received: &mut tokio::sync::mpsc::UnboundedReceiver<Signed>,
    secret: &str,
    mailbox: &str,
    m: &Value,
) -> Value {
    let body = next_signed(received, secret, 15).await;
    assert_eq!(body["event"], "voicemail.message");
    assert_eq!(body["box"]["id"], mailbox);
    assert_eq!(body["message"]["id"], m["id"]);
    body
}

/// The message's audio: a mono 8 kHz WAV whose bytes are the listed size
/// and sha256, with the caller's speech in it.
async fn assert_message_audio(c: &Ctx, m: &Value) {
    use sha2::Digest;
    let url = c.app.url(&c.path(&format!(
        "/voicemail/messages/{}/audio",
        m["id"].as_str().unwrap()
    )));
    let r = c
        .app
        .client
        .get(url)
        .bearer_auth(&c.owner)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let wav = r.bytes().await.unwrap();
    assert_eq!(wav.len() as i64, m["size_bytes"].as_i64().unwrap());
    let sha: String = sha2::Sha256::digest(&wav)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(sha, m["sha256"].as_str().unwrap());
    assert_eq!(&wav[22..24], &[1, 0], "mono");
    assert_eq!(&wav[24..28], &8_000u32.to_le_bytes(), "8 kHz");
    let loudest = wav[44..]
        .chunks_exact(2)
        .map(|s| i16::from_le_bytes([s[0], s[1]]).unsigned_abs())
        .max()
        .unwrap();
    assert!(
        loudest > 2_000,
        "the caller's speech was recorded: {loudest}"
    );
}

#[tokio::test]
async fn a_queue_nobody_staffs_takes_a_message_and_notifies_the_box() {
    if !sipp_available() {
        return;
    }
    let (c, work, carrier_port) = carrier_tenant().await;
    prompt(&c, "support-greeting").await;
    let queue = queue_with_did(&c, json!({"name": "support"})).await;
    let (hook, mut received) =
        signed_endpoint(|_| async { (StatusCode::NO_CONTENT, String::new()) }).await;
    let secret = "a-notification-secret";
    let mailbox = voicemail_box(
        &c,
        json!({"name": "support messages", "owner": {"kind": "queue", "id": queue},
               "greeting_prompt": "support-greeting", "max_message_seconds": 30,
               "notify_url": hook, "notify_secret": secret}),
    )
    .await;
    let r = c
        .app
        .patch(
            &c.path(&format!("/queues/{queue}")),
            &c.owner,
            json!({"overflow": [{"when": "no_agent_logged_in", "to": "voicemail",
                                 "mailbox_id": mailbox}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");

    // Nobody is logged in: the caller hears the greeting and the beep,
    // talks, and hangs up.
    call_the_did_with(
        &c,
        carrier_port,
        work.path(),
        "uac_voicemail_hangup.xml",
        CALLER,
    )
    .await;

    // Recorded until the hangup.
    let m = the_message(&c, &mailbox, 2_000..=9_000).await;
    assert_eq!(m["heard"], false);

    // The box's URL was told, with a signature over the timestamp and body.
    let body = notified(&mut received, secret, &mailbox, &m).await;
    assert_eq!(body["message"]["caller"], CALLER);
    assert!(!body.to_string().contains(secret), "the secret is not sent");
}

#[tokio::test]
async fn a_flow_voicemail_node_takes_a_message_ended_with_the_pound_key() {
    if !sipp_available() {
        return;
    }
    let (c, work, carrier_port) = carrier_tenant().await;
    prompt(&c, "after-hours").await;
    // The flow's box belongs to the flow: the draft first, then the box,
    // then the flow can be published.
    let definition = json!({
        "start": "vm",
        "nodes": [{"id": "vm", "type": "voicemail", "mailbox": "after hours",
                   "greeting": "after-hours"}]
    });
    let r = c
        .app
        .post(
            &c.path("/flows"),
            &c.owner,
            json!({"name": "night", "definition": definition}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let flow = r.body["id"].as_str().unwrap().to_owned();
    let problems = r.body["problems"].to_string();
    assert!(problems.contains("unknown_mailbox"), "{problems}");
    let publish = format!("/flows/{flow}/publish");
    let r = c.app.post(&c.path(&publish), &c.owner, json!({})).await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no such box yet: {r:?}"
    );
    let mailbox = voicemail_box(
        &c,
        json!({"name": "after hours", "owner": {"kind": "flow", "id": flow}}),
    )
    .await;
    common::publish_on_did(&c, &flow, DID).await;

    // The caller talks, presses #, hears the goodbye and is hung up on.
    call_the_did_with(
        &c,
        carrier_port,
        work.path(),
        "uac_voicemail_pound.xml",
        CALLER,
    )
    .await;

    // Recorded until the key.
    let m = the_message(&c, &mailbox, 2_000..=9_000).await;
    let call = m["call_id"].as_str().unwrap();
    let (run, sim) = run_and_simulation(&c, &flow, call, json!([])).await;
    assert_eq!(run["outcome"], "voicemail", "{run}");
    assert_eq!(run["trace"], sim, "live trace equals the simulation");
}

#[tokio::test]
async fn a_flow_webhook_is_signed_and_its_answer_delay_or_garbage_picks_the_branch() {
    if !sipp_available() {
        return;
    }
    let (c, work, carrier_port) = carrier_tenant().await;
    let secret = "a-flow-webhook-secret";
    let r = c
        .app
        .call(
            reqwest::Method::PUT,
            &c.path("/flow-secrets/crm"),
            Some(&c.owner),
            Some(json!({ "secret": secret })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    // The first request is answered with a choice and a variable, the
    // second too late, the third with garbage.
    let (url, mut received) = signed_endpoint(|n| async move {
        let reply = match n {
            0 => r#"{"variables": {"tier": "gold"}, "next": "gold"}"#,
            1 => {
                tokio::time::sleep(Duration::from_secs(3)).await;
                "{}"
            }
            _ => "<html>not json</html>",
        };
        (StatusCode::OK, reply.to_owned())
    })
    .await;
    let (flow, _) = flow_to_sales(
        &c,
        json!({
            "start": "w",
            "nodes": [
                {"id": "w", "type": "webhook", "url": url, "secret": "crm", "timeout_ms": 1000,
                 "next": "plain", "choices": ["gold"], "error": "broken", "timeout": "slow"},
                {"id": "plain", "type": "hangup"},
                {"id": "gold", "type": "hangup"},
                {"id": "broken", "type": "hangup"},
                {"id": "slow", "type": "hangup"}
            ]
        }),
    )
    .await;

    for (branch, fixture) in [
        (
            "gold",
            json!({"reply": {"body": {"variables": {"tier": "gold"}, "next": "gold"}}}),
        ),
        ("slow", json!("timeout")),
        (
            "broken",
            json!({"reply": {"body": "<html>not json</html>"}}),
        ),
    ] {
        // The caller waits on the line; the branch's hangup node ends it.
        call_the_did(&c, carrier_port, work.path()).await;

        // The request was signed with the tenant's secret.
        let sent = next_signed(&mut received, secret, 10).await;
        assert_eq!(sent["caller"], CALLER);
        assert_eq!(sent["node"], "w");

        // The live run took the branch a simulation with that answer takes.
        let runs = c
            .app
            .get(&c.path(&format!("/flows/{flow}/runs?limit=1")), &c.owner)
            .await;
        let run = &runs.body["items"][0];
        assert_eq!(run["outcome"], "hangup", "{run}");
        let nodes = &run["trace"]["nodes"];
        assert_eq!(nodes, &json!(["w", branch]), "{run}");
        let sim = c
            .app
            .post(
                &c.path(&format!("/flows/{flow}/simulate")),
                &c.owner,
                json!({"caller": CALLER, "called": DID,
                       "script": {"webhooks": {"w": [fixture]}}}),
            )
            .await;
        assert_eq!(sim.status, StatusCode::OK, "{sim:?}");
        assert_eq!(&sim.body["nodes"], nodes);
        assert_eq!(sim.body["outcome"], run["trace"]["outcome"]);
        assert_eq!(
            sim.body["variables"]["tier"], run["trace"]["variables"]["tier"],
            "{run}"
        );
    }
}

#[tokio::test]
async fn a_flow_record_node_keeps_the_message_in_the_flows_box_and_goes_on() {
    if !sipp_available() {
        return;
    }
    let (c, work, carrier_port) = carrier_tenant().await;
    prompt(&c, "leave-it").await;
    // Hello, the record node's prompt and beep, the caller's message into
    // the flow's own box, then a branch on the message's id.
    let definition = json!({
        "start": "hello",
        "nodes": [
            {"id": "hello", "type": "say", "text": "Hello.", "next": "rec"},
            {"id": "rec", "type": "record", "prompt": "leave-it", "variable": "msg",
             "max_seconds": 20, "next": "check"},
            {"id": "check", "type": "condition",
             "if": {"kind": "variable", "name": "msg", "op": "ne", "value": ""},
             "then": "saved", "else": "nothing"},
            {"id": "saved", "type": "say",
             "text": "Your message of {{msg_ms}} milliseconds is saved.", "next": "bye"},
            {"id": "nothing", "type": "say", "text": "Nothing was recorded.", "next": "bye"},
            {"id": "bye", "type": "hangup"}
        ]
    });
    let r = c
        .app
        .post(
            &c.path("/flows"),
            &c.owner,
            json!({"name": "messages", "definition": definition}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let flow = r.body["id"].as_str().unwrap().to_owned();
    let problems = r.body["problems"].to_string();
    assert!(problems.contains("no_mailbox"), "{problems}");
    let (hook, mut received) =
        signed_endpoint(|_| async { (StatusCode::NO_CONTENT, String::new()) }).await;
    let secret = "a-record-node-secret";
    let mailbox = voicemail_box(
        &c,
        json!({"name": "recorded", "owner": {"kind": "flow", "id": flow},
               "notify_url": hook, "notify_secret": secret}),
    )
    .await;
    common::publish_on_did(&c, &flow, DID).await;

    // The caller talks, presses # and hears the flow go on to its end.
    call_the_did_with(
        &c,
        carrier_port,
        work.path(),
        "uac_voicemail_pound.xml",
        CALLER,
    )
    .await;

    // The message is the flow box's, like any voicemail message.
    // Recorded until the key.
    let m = the_message(&c, &mailbox, 1_000..=9_000).await;
    notified(&mut received, secret, &mailbox, &m).await;
    let ms = m["duration_ms"].as_i64().unwrap();

    // The run: `msg` is the message's id, and the flow went on past the
    // record node.
    let id = m["id"].as_str().unwrap();
    let call = m["call_id"].as_str().unwrap();
    let (run, sim) =
        run_and_simulation(&c, &flow, call, json!([{"recording": {"seconds": 5}}])).await;
    assert_eq!(run["outcome"], "hangup", "{run}");
    let trace = &run["trace"];
    assert_eq!(trace["variables"]["msg"], id, "{run}");
    assert_eq!(trace["variables"]["msg_ms"], ms.to_string(), "{run}");
    assert_eq!(
        trace["nodes"],
        json!(["hello", "rec", "check", "saved", "bye"]),
        "{run}"
    );
    assert_eq!(
        trace["spoken"][1],
        format!("Your message of {ms} milliseconds is saved."),
        "{run}"
    );
    // The simulation's recording has its own id and length; with those,
    // the traces are the same.
    let live = trace
        .to_string()
        .replace(id, "sim-recording-1")
        .replace(&ms.to_string(), "5000");
    let live: Value = serde_json::from_str(&live).unwrap();
    assert_eq!(live, sim, "live trace equals the simulation");
}

#[tokio::test]
async fn a_flow_routed_to_a_busy_agent_leaves_the_message_in_the_agents_box() {
    if !sipp_available() {
        return;
    }
    let (c, work, carrier_port) = carrier_tenant().await;
    // The agent's phone is busy (its user ends in 1).
    let (agent, _token, _phone) = agent_phone_with(
        &c,
        "busy@example.com",
        "9001",
        work.path(),
        "uas_by_number.xml",
    )
    .await;
    let mailbox = voicemail_box(
        &c,
        json!({"name": "Busy's box", "owner": {"kind": "agent", "id": agent}}),
    )
    .await;
    let definition = json!({
        "start": "to_agent",
        "nodes": [{"id": "to_agent", "type": "route",
                   "target": {"type": "agent", "agent": "busy@example.com"}}]
    });
    let r = c
        .app
        .post(
            &c.path("/flows"),
            &c.owner,
            json!({"name": "direct", "definition": definition}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let flow = r.body["id"].as_str().unwrap().to_owned();
    common::publish_on_did(&c, &flow, DID).await;

    // Busy: the caller hears the agent's greeting, talks, presses # and is
    // hung up on after the goodbye.
    call_the_did_with(
        &c,
        carrier_port,
        work.path(),
        "uac_voicemail_pound.xml",
        CALLER,
    )
    .await;
    assert_eq!(
        dialed(&work.path().join("9001")).len(),
        1,
        "the agent was rung"
    );
    the_message(&c, &mailbox, 1_000..=9_000).await;
}
