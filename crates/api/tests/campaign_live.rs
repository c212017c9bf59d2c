//! A progressive campaign dialing for real: a sipp carrier whose answer
//! depends on the dialed number (answer and talk, busy, no answer, invalid
//! number, a long "voicemail" greeting), two registered sipp agent phones
//! answering, the runner connecting each answered customer to a ready
//! agent. Checked: every attempt's outcome and SIP code, retries by the
//! campaign's rules, the agents' state history, the decisions stored, the
//! campaign completing on its own, and that the carrier saw each number
//! exactly as often as the store counts attempts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Ctx;
use common::campaign::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The disposition an agent gives a call to `phone`.
fn disposition_for(phone: &str) -> &'static str {
    match phone {
        "+14152000000" => "sale",
        "+14152000005" => "do_not_call",
        _ => "not_interested",
    }
}

/// Play the agents' part after each call: whoever is in wrap-up gives the
/// call's disposition (the campaign's attempt tells the number). Returns
/// the dispositions given, by number.
async fn agent_desk(
    c: &Ctx,
    campaign: &str,
    agents: &[(String, String)],
    given: &mut BTreeMap<String, String>,
) {
    let list = c.app.get(&c.path("/agents?limit=50"), &c.owner).await;
    for a in list.body["items"].as_array().unwrap() {
        if a["state"]["state"] != "wrap_up" {
            continue;
        }
        let user = a["user"]["id"].as_str().unwrap();
        let Some((_, token)) = agents.iter().find(|(u, _)| u == user) else {
            continue;
        };
        let call = a["state"]["call_id"].as_str().unwrap();
        let attempts = c
            .app
            .get(
                &c.path(&format!("/campaigns/{campaign}/attempts?limit=200")),
                &c.owner,
            )
            .await;
        let Some(attempt) = attempts.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["call_id"] == call)
        else {
            continue;
        };
        let phone = attempt["phone"].as_str().unwrap().to_owned();
        let code = disposition_for(&phone);
        let r = c
            .app
            .post(
                &c.path(&format!("/agents/{user}/wrap-up/finish")),
                token,
                json!({"disposition": code}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        given.insert(phone, code.to_owned());
    }
}

#[tokio::test]
async fn a_progressive_campaign_dials_real_calls_to_completion() {
    if !omnivox_testkit::sipp_available() {
        return;
    }
    let c = tenant_at(NOON_SF).await;
    let work = tempfile::tempdir().unwrap();

    let (_carrier, carrier_dir) = carrier(&c, work.path(), 100).await;

    // A number of the tenant in the leads' area code, for local presence.
    let did = c
        .app
        .post(
            &c.path("/dids"),
            &c.owner,
            json!({"number": "+14155550123", "target_kind": "number",
                   "target_number": "+14155550100"}),
        )
        .await;
    assert_eq!(did.status, StatusCode::CREATED, "{did:?}");

    // Leads ending in 0..=5: person, busy, no answer, invalid, voicemail, person.
    let mut csv = String::from("First Name,Phone\n");
    for i in 0..6 {
        csv.push_str(&format!("Lead{i},+1415200000{i}\n"));
    }
    let list = import(&c, "Live", &csv).await;
    let id = campaign(
        &c,
        "Live",
        "progressive",
        json!({
            "ring_timeout_s": 15,
            "caller_id": {"kind": "local_presence", "fallback": "+12125550199"},
            "max_attempts_total": 2,
            "retry": [{"on": "busy", "after_s": 1}, {"on": "no_answer", "after_s": null}]
        }),
        &list,
    )
    .await;

    for (code, category, effect) in [
        ("sale", "sale", "sale"),
        ("not_interested", "contact", "final"),
        ("do_not_call", "dnc", "dnc"),
    ] {
        let r = c
            .app
            .post(
                &c.path("/disposition-codes"),
                &c.owner,
                json!({"code": code, "label": code, "category": category, "effect": effect}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    }
    let (ann, ann_token, _ann_phone) = agent_phone(&c, "ann@example.com", "ann", work.path()).await;
    let (bob, bob_token, _bob_phone) = agent_phone(&c, "bob@example.com", "bob", work.path()).await;
    for token in [&ann_token, &bob_token] {
        log_in(&c, token, &id).await;
    }

    start_campaign(&c, &id).await;

    // The campaign completes on its own once every lead is done; the
    // agents disposition each conversation meanwhile.
    let agents = [
        (ann.clone(), ann_token.clone()),
        (bob.clone(), bob_token.clone()),
    ];
    let mut given = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        agent_desk(&c, &id, &agents, &mut given).await;
        let s = c
            .app
            .get(&c.path(&format!("/campaigns/{id}/stats")), &c.owner)
            .await
            .body;
        if s["status"] == "completed" {
            assert_eq!(s["leads"]["done"], 6, "{s}");
            break;
        }
        assert!(Instant::now() < deadline, "campaign still {s}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Each lead's attempts and outcomes.
    let attempts = c
        .app
        .get(
            &c.path(&format!("/campaigns/{id}/attempts?limit=200")),
            &c.owner,
        )
        .await
        .body["items"]
        .as_array()
        .unwrap()
        .clone();
    let mut by_number: BTreeMap<String, Vec<(String, Value)>> = BTreeMap::new();
    for a in attempts.iter().rev() {
        assert_eq!(a["status"], "finished", "{a}");
        assert!(!a["call_id"].is_null(), "{a}");
        by_number
            .entry(a["phone"].as_str().unwrap().to_owned())
            .or_default()
            .push((
                a["outcome"].as_str().unwrap().to_owned(),
                a["sip_code"].clone(),
            ));
    }
    let outcomes =
        |n: &str| -> Vec<String> { by_number[n].iter().map(|(o, _)| o.clone()).collect() };
    assert_eq!(outcomes("+14152000000"), ["normal"], "{by_number:?}");
    assert_eq!(
        outcomes("+14152000001"),
        ["busy", "busy"],
        "busy is retried once (max 2 attempts): {by_number:?}"
    );
    assert_eq!(by_number["+14152000001"][0].1, 486);
    assert_eq!(
        outcomes("+14152000002"),
        ["no_answer"],
        "not retried by rule"
    );
    assert_eq!(outcomes("+14152000003"), ["invalid_number"]);
    assert_eq!(by_number["+14152000003"][0].1, 404);
    assert_eq!(outcomes("+14152000004"), ["normal"], "no AMD: a person");
    assert_eq!(outcomes("+14152000005"), ["normal"]);

    // Dispositions are on the attempts; do-not-call reached the ledger.
    assert_eq!(given.len(), 3, "{given:?}");
    for a in &attempts {
        let phone = a["phone"].as_str().unwrap();
        if a["outcome"] == "normal" {
            assert_eq!(a["disposition"], disposition_for(phone), "{a}");
        } else {
            assert!(a["disposition"].is_null(), "{a}");
        }
    }
    let dnc_contact = c.contacts("phone=%2B14152000005").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let d = c
        .app
        .post(
            &c.path(&format!("/contacts/{dnc_contact}/decide")),
            &c.owner,
            json!({"at": NOON_SF}),
        )
        .await;
    assert_eq!(d.body["outcome"], "deny", "{d:?}");

    // Abandonment books: three people answered, none was abandoned.
    let s = c
        .app
        .get(&c.path(&format!("/campaigns/{id}/stats")), &c.owner)
        .await
        .body;
    assert_eq!(s["last_24h"]["answered"], 3, "{s}");
    assert_eq!(s["last_24h"]["abandoned"], 0, "{s}");
    assert_eq!(s["last_30d"]["dials"], 7, "{s}");
    let logged_in: u64 = s["agents"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(
        logged_in, 2,
        "both agents are logged into the campaign: {s}"
    );
    assert_eq!(s["in_flight"], 0, "{s}");
    assert_eq!(s["dial_level"], 0.0, "{s}");

    // The carrier saw every number exactly as often as attempts were
    // stored, each from the tenant's San Francisco number.
    let seen = dialed(&carrier_dir);
    for (n, a) in &by_number {
        assert_eq!(
            seen.get(n).map(Vec::len),
            Some(a.len()),
            "{n}: carrier {seen:?}"
        );
        assert!(
            seen[n].iter().all(|c| c == "+14155550123"),
            "{n}: local presence: {seen:?}"
        );
    }

    // Every dial had a stored, acted-on decision.
    let contacts = c.contacts("limit=50").await;
    for contact in &contacts {
        let cid = contact["id"].as_str().unwrap();
        let d = c
            .app
            .get(&c.path(&format!("/contacts/{cid}/decisions")), &c.owner)
            .await;
        assert_eq!(d.status, StatusCode::OK, "{d:?}");
        let phone = contact["phones"][0]["e164"].as_str().unwrap();
        let allowed = d.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["outcome"] == "allow" && x["campaign_id"] == id.as_str())
            .count();
        assert_eq!(allowed, by_number[phone].len(), "{phone}: {d:?}");
    }

    // The agents went on call and through wrap-up back to available.
    let mut talked = 0;
    for user in [&ann, &bob] {
        let h = c
            .app
            .get(
                &c.path(&format!("/agents/{user}/history?limit=200")),
                &c.owner,
            )
            .await;
        assert_eq!(h.status, StatusCode::OK, "{h:?}");
        let states: Vec<&str> = h.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["state"].as_str().unwrap())
            .collect();
        talked += states.iter().filter(|s| **s == "on_call").count();
        assert!(!states.contains(&"reserved"), "{states:?}");
    }
    assert_eq!(talked, 3, "three answered calls were connected to agents");
}

#[tokio::test]
async fn a_preview_agent_reads_skips_and_dials_cards() {
    if !omnivox_testkit::sipp_available() {
        return;
    }
    let c = tenant_at(NOON_SF).await;
    let work = tempfile::tempdir().unwrap();
    let (_carrier, carrier_dir) = carrier(&c, work.path(), 10).await;
    let list = import(
        &c,
        "Cards",
        "First Name,Phone\nZero,+14152000000\nFive,+14152000005\nSix,+14152000006\n",
    )
    .await;
    let r = c
        .app
        .post(
            &c.path("/disposition-codes"),
            &c.owner,
            json!({"code": "sale", "label": "Sale", "category": "sale", "effect": "sale"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let id = campaign(&c, "Cards", "preview", json!({}), &list).await;
    let (ann, ann_token, _ann_phone) = agent_phone(&c, "ann@example.com", "ann", work.path()).await;
    let (_bob, bob_token, _bob_phone) =
        agent_phone(&c, "bob@example.com", "bob", work.path()).await;
    let cy_token = c
        .app
        .member(&c.t, &c.owner, "cy@example.com", "agent")
        .await;
    let path = |p: &str| c.path(&format!("/campaigns/{id}/preview{p}"));

    // Not started: no cards.
    let r = c.app.post(&path("/next"), &ann_token, json!({})).await;
    assert_eq!(r.code(), "campaign_not_running", "{r:?}");
    start_campaign(&c, &id).await;
    // Not logged into the campaign: no cards either.
    let r = c.app.post(&path("/next"), &ann_token, json!({})).await;
    assert_eq!(r.code(), "agent_not_available", "{r:?}");
    for token in [&ann_token, &bob_token, &cy_token] {
        log_in(&c, token, &id).await;
    }

    let phone_of = |card: &omnivox_testkit::Resp| {
        card.body["contact"]["phones"][0]["e164"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // Cy has no registered phone: no card (the agent's phone rings first).
    let r = c.app.post(&path("/next"), &cy_token, json!({})).await;
    assert_eq!(r.code(), "no_phone", "{r:?}");
    let first = c.app.post(&path("/next"), &ann_token, json!({})).await;
    assert_eq!(first.status, StatusCode::OK, "{first:?}");
    assert_eq!(first.body["lead"]["status"], "previewing");
    assert_eq!(phone_of(&first), "+14152000000");
    let again = c.app.post(&path("/next"), &ann_token, json!({})).await;
    assert_eq!(phone_of(&again), "+14152000000", "the same card until used");
    let bobs = c.app.post(&path("/next"), &bob_token, json!({})).await;
    assert_eq!(
        phone_of(&bobs),
        "+14152000005",
        "another agent, another card"
    );
    let zero = first.body["lead"]["contact_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = c
        .app
        .post(&path(&format!("/{zero}/dial")), &bob_token, json!({}))
        .await;
    assert_eq!(r.code(), "not_your_card", "{r:?}");

    // Ann skips hers (it goes to the back) and dials the next one.
    let r = c
        .app
        .post(&path(&format!("/{zero}/skip")), &ann_token, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    let next = c.app.post(&path("/next"), &ann_token, json!({})).await;
    assert_eq!(phone_of(&next), "+14152000006");
    let six = next.body["lead"]["contact_id"].as_str().unwrap().to_owned();
    let r = c
        .app
        .post(&path(&format!("/{six}/dial")), &ann_token, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
    let call = r.body["call_id"].as_str().unwrap().to_owned();

    // The agent's phone rang first, then the customer; the customer hangs
    // up after talking; Ann gives the disposition in wrap-up.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let a = c
            .app
            .get(
                &c.path(&format!("/agents/{ann}/history?limit=50")),
                &c.owner,
            )
            .await;
        let states: Vec<&str> = a.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["state"].as_str().unwrap())
            .collect();
        if states.contains(&"wrap_up") {
            assert!(states.contains(&"on_call"), "{states:?}");
            break;
        }
        assert!(Instant::now() < deadline, "no wrap-up: {states:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r = c
        .app
        .post(
            &c.path(&format!("/agents/{ann}/wrap-up/finish")),
            &ann_token,
            json!({"disposition": "sale"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let attempts = c
        .app
        .get(&c.path(&format!("/campaigns/{id}/attempts")), &c.owner)
        .await;
    let a = &attempts.body["items"][0];
    assert_eq!(attempts.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(a["call_id"], call.as_str());
    assert_eq!(a["outcome"], "normal", "{a}");
    assert_eq!(a["disposition"], "sale", "{a}");
    let leads = c
        .app
        .get(&c.path(&format!("/campaigns/{id}/leads")), &c.owner)
        .await;
    let status_of = |cid: &str| {
        leads.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["contact_id"] == cid)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status_of(&six), "done");
    assert_eq!(status_of(&zero), "queued", "skipped, back in the hopper");
    assert_eq!(
        dialed(&carrier_dir).len(),
        1,
        "only the dialed card reached the carrier"
    );
}

#[tokio::test]
async fn a_lead_queued_before_nine_pm_is_not_dialed_after() {
    if !omnivox_testkit::sipp_available() {
        return;
    }
    // 20:59:50 in San Francisco: the hopper takes the lead, but by the time
    // an agent is ready the window has closed.
    let c = tenant_at("2026-06-03T03:59:50Z").await;
    let work = tempfile::tempdir().unwrap();
    let (_carrier, carrier_dir) = carrier(&c, work.path(), 10).await;
    let list = import(&c, "Late", "First Name,Phone\nLate,+14152000000\n").await;
    let id = campaign(&c, "Late", "progressive", json!({}), &list).await;
    start_campaign(&c, &id).await;
    let s = c
        .app
        .get(&c.path(&format!("/campaigns/{id}/stats")), &c.owner)
        .await;
    assert_eq!(s.body["hopper_depth"], 1, "queued before 21:00: {s:?}");

    let nine_pm: chrono::DateTime<chrono::Utc> = "2026-06-03T04:00:00Z".parse().unwrap();
    while c.app.clock_now() < nine_pm {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_ann, ann_token, _phone) = agent_phone(&c, "ann@example.com", "ann", work.path()).await;
    log_in(&c, &ann_token, &id).await;

    // The check right before dialing defers it to 08:00 local.
    let deadline = Instant::now() + Duration::from_secs(15);
    let lead = loop {
        let l = c
            .app
            .get(&c.path(&format!("/campaigns/{id}/leads")), &c.owner)
            .await;
        let lead = l.body["items"][0].clone();
        if lead["status"] == "deferred" {
            break lead;
        }
        assert!(Instant::now() < deadline, "still {lead}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(lead["next_at"], "2026-06-03T15:00:00Z", "{lead}");
    assert_eq!(lead["reasons"][0]["code"], "calling_window", "{lead}");
    let attempts = c
        .app
        .get(&c.path(&format!("/campaigns/{id}/attempts")), &c.owner)
        .await;
    assert_eq!(attempts.body["items"], json!([]), "nothing dialed");
    assert!(dialed(&carrier_dir).is_empty());
}

/// Run a progressive campaign with `settings` over one person's number,
/// with its own agent `name`, until its call ends; returns the call's id
/// and the agent's phone.
async fn one_conversation(
    c: &Ctx,
    work: &std::path::Path,
    name: &str,
    settings: Value,
) -> (String, tokio::process::Child) {
    let list = import(c, name, "First Name,Phone\nZero,+14152000000\n").await;
    let id = campaign(c, name, "progressive", settings, &list).await;
    let (_, token, phone) = agent_phone(c, &format!("{name}@example.com"), name, work).await;
    start_campaign(c, &id).await;
    log_in(c, &token, &id).await;
    let attempts = common::wait_for(
        &c.app,
        &c.path(&format!("/campaigns/{id}/attempts")),
        &c.owner,
        "the attempt's end",
        |a| a["items"][0]["status"] == "finished",
    )
    .await;
    assert_eq!(attempts["items"][0]["outcome"], "normal", "{attempts}");
    let call = attempts["items"][0]["call_id"].as_str().unwrap().to_owned();
    (call, phone)
}

#[tokio::test]
async fn a_campaigns_recording_policy_overrides_the_tenants() {
    if !omnivox_testkit::sipp_available() {
        return;
    }
    let c = tenant_at(NOON_SF).await;
    let work = tempfile::tempdir().unwrap();
    let (_carrier, _dir) = carrier(&c, work.path(), 10).await;
    let recordings = async |call: &str| {
        c.app
            .get(&c.path(&format!("/recordings?call_id={call}")), &c.owner)
            .await
            .body["items"]
            .as_array()
            .unwrap()
            .len()
    };

    // The tenant records on demand; this campaign records every call.
    let (call, _ann) = one_conversation(&c, work.path(), "ann", json!({"recording": "all"})).await;
    common::wait_for(
        &c.app,
        &c.path(&format!("/recordings?call_id={call}")),
        &c.owner,
        "the campaign call's recording",
        |r| r["items"].as_array().unwrap().len() == 1,
    )
    .await;

    // The tenant records everything; this campaign never records.
    let r = put(
        &c.app,
        &c.path("/recording-settings"),
        &c.owner,
        json!({"recording": "all", "recording_retention_days": 30}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let (call, _bob) = one_conversation(&c, work.path(), "bob", json!({"recording": "none"})).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        recordings(&call).await,
        0,
        "a `none` campaign records nothing"
    );
}
