//! Power and agentless campaigns dialing for real, with answering-machine
//! detection on the answered calls. The sipp carrier answers by dialed
//! number: ending in 7, a person ("Hello?" then silence, as RTP); in 4, a
//! recorder's long greeting; in 1, busy. Checked: machines are told from
//! people by their audio, a person is connected to the one ready agent,
//! a second person answering meanwhile hears the safe-harbor message after
//! the 2-second grace and is booked as abandoned (which blocks a redial
//! for 72 hours in UK mode), and an agentless campaign plays its message to
//! the person and ends the call itself. A predictive campaign paces from
//! the live book of agents and calls.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::campaign::*;
use common::{Ctx, prompt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

async fn start(c: &Ctx, id: &str) {
    consent_all(c).await;
    start_campaign(c, id).await;
}

/// One stored attempt.
#[derive(Clone, Debug)]
struct Attempt {
    outcome: String,
    /// From the attempt's start to its end.
    secs: f64,
    call_id: String,
}

/// Wait for the campaign to complete, finishing every agent's wrap-up
/// meanwhile; returns its attempts by number, oldest first.
async fn run_to_completion(c: &Ctx, id: &str) -> BTreeMap<String, Vec<Attempt>> {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let agents = c.app.get(&c.path("/agents?limit=50"), &c.owner).await;
        for a in agents.body["items"].as_array().unwrap() {
            if a["state"]["state"] == "wrap_up" {
                let user = a["user"]["id"].as_str().unwrap();
                let r = c
                    .app
                    .post(
                        &c.path(&format!("/agents/{user}/wrap-up/finish")),
                        &c.owner,
                        json!({"disposition": "not_interested"}),
                    )
                    .await;
                assert_eq!(r.status, StatusCode::OK, "{r:?}");
            }
        }
        let s = c
            .app
            .get(&c.path(&format!("/campaigns/{id}/stats")), &c.owner)
            .await
            .body;
        if s["status"] == "completed" {
            break;
        }
        assert!(Instant::now() < deadline, "campaign still running: {s}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut out: BTreeMap<String, Vec<Attempt>> = BTreeMap::new();
    for a in all_items(c, &format!("/campaigns/{id}/attempts"))
        .await
        .iter()
        .rev()
    {
        assert_eq!(a["status"], "finished", "{a}");
        let secs = |k: &str| {
            chrono::DateTime::parse_from_rfc3339(a[k].as_str().unwrap())
                .unwrap()
                .timestamp_millis() as f64
                / 1000.0
        };
        out.entry(a["phone"].as_str().unwrap().to_owned())
            .or_default()
            .push(Attempt {
                outcome: a["outcome"].as_str().unwrap().to_owned(),
                secs: secs("ended_at") - secs("started_at"),
                call_id: a["call_id"].as_str().unwrap().to_owned(),
            });
    }
    out
}

/// An agent `name` with a registered sipp phone, available and logged
/// into `campaign`; the phone answers while the returned child lives.
async fn logged_in_agent(
    c: &Ctx,
    name: &str,
    work: &std::path::Path,
    campaign: &str,
) -> tokio::process::Child {
    let (_, token, phone) = agent_phone(c, &format!("{name}@example.com"), name, work).await;
    log_in(c, &token, campaign).await;
    phone
}

async fn disposition_codes(c: &Ctx) {
    let r = c
        .app
        .post(
            &c.path("/disposition-codes"),
            &c.owner,
            json!({"code": "not_interested", "label": "Not interested",
                   "category": "contact", "effect": "final"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn power_dialing_with_amd_connects_people_and_drops_with_safe_harbor() {
    if !omnivox_testkit::sipp_available() {
        return;
    }
    let c = tenant_at(NOON_SF).await;
    let work = tempfile::tempdir().unwrap();
    let (_carrier, _dir) = carrier(&c, work.path(), 20).await;
    prompt(&c, "safe-harbor").await;
    disposition_codes(&c).await;
    // Two people first: with one agent and three lines the first tick
    // dials both, and one of them must wait.
    let list = import(
        &c,
        "Power",
        "First Name,Phone\nPat,+14153000007\nSam,+14153000017\nRec,+14153000004\nBusy,+14153000001\n",
    )
    .await;
    let id = campaign(
        &c,
        "Power",
        "power",
        json!({
            "ring_timeout_s": 15,
            "dial_ratio": 3.0,
            "uk_mode": true,
            "amd": {"enabled": true, "on_machine": {"action": "hangup"}},
            "safe_harbor_prompt": "safe-harbor",
            "max_attempts_total": 1,
        }),
        &list,
    )
    .await;
    let _ann = logged_in_agent(&c, "ann", work.path(), &id).await;
    start(&c, &id).await;
    let attempts = run_to_completion(&c, &id).await;

    let outcome = |n: &str| attempts[n][0].outcome.as_str();
    assert_eq!(outcome("+14153000004"), "machine", "{attempts:?}");
    assert_eq!(outcome("+14153000001"), "busy", "{attempts:?}");
    let people = [outcome("+14153000007"), outcome("+14153000017")];
    assert!(
        people.contains(&"normal") && people.contains(&"abandoned"),
        "one person talks to Ann, the other is dropped: {attempts:?}"
    );
    // The dropped person waited the grace, heard the 1-second message, and
    // Omnivox hung up well before the person would have (6 s).
    let dropped = ["+14153000007", "+14153000017"]
        .into_iter()
        .find(|n| outcome(n) == "abandoned")
        .unwrap();
    let len = attempts[dropped][0].secs;
    assert!((3.0..6.0).contains(&len), "dropped call lasted {len} s");
    // The recorder was hung up on after the verdict, before its greeting
    // (7 s) was over.
    let len = attempts["+14153000004"][0].secs;
    assert!(len < 6.0, "machine call lasted {len} s");

    let s = c
        .app
        .get(&c.path(&format!("/campaigns/{id}/stats")), &c.owner)
        .await
        .body;
    assert_eq!(s["last_24h"]["answered"], 2, "{s}");
    assert_eq!(s["last_24h"]["abandoned"], 1, "{s}");
    assert_eq!(s["last_24h"]["abandon_rate"], 50.0, "{s}");

    // UK mode: the dropped number may not be called again for 72 hours.
    let contact = c
        .contacts(&format!("phone={}", dropped.replace('+', "%2B")))
        .await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let d = c
        .app
        .post(
            &c.path(&format!("/contacts/{contact}/decide")),
            &c.owner,
            json!({"campaign": {"automated": true, "uk_mode": true}}),
        )
        .await;
    assert_eq!(d.status, StatusCode::OK, "{d:?}");
    assert_eq!(d.body["outcome"], "defer", "{d:?}");
    let reasons = d.body["reasons"].to_string();
    assert!(reasons.contains("abandon"), "{reasons}");
}

/// An agentless campaign over the leads of `csv`, its message "broadcast",
/// with the AMD settings `amd`, run to completion; its attempts.
async fn agentless_run(csv: &str, amd: Value) -> BTreeMap<String, Vec<Attempt>> {
    let c = tenant_at(NOON_SF).await;
    let work = tempfile::tempdir().unwrap();
    let (_carrier, _dir) = carrier(&c, work.path(), 20).await;
    prompt(&c, "broadcast").await;
    let list = import(&c, "Broadcast", csv).await;
    let id = campaign(
        &c,
        "Broadcast",
        "agentless",
        json!({
            "ring_timeout_s": 15,
            "amd": amd,
            "agentless_prompt": "broadcast",
            "max_attempts_total": 1,
        }),
        &list,
    )
    .await;
    start(&c, &id).await;
    run_to_completion(&c, &id).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn agentless_campaign_plays_its_message_to_people() {
    if !omnivox_testkit::sipp_available() {
        return;
    }
    let attempts = agentless_run(
        "First Name,Phone\nPat,+14153100007\nRec,+14153100004\n",
        json!({"enabled": true, "on_machine": {"action": "hangup"}}),
    )
    .await;
    let Attempt {
        outcome, secs: len, ..
    } = attempts["+14153100007"][0].clone();
    assert_eq!(outcome, "normal", "{attempts:?}");
    // Answer, the verdict (~1.2 s), the 1-second message, then our BYE:
    // well before the person's own hang-up at 6 s.
    assert!(len < 5.0, "the message call lasted {len} s");
    assert_eq!(
        attempts["+14153100004"][0].outcome, "machine",
        "{attempts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_campaigns_amd_thresholds_reach_its_calls() {
    if !omnivox_testkit::sipp_available() {
        return;
    }
    // The same person as above ("Hello?", about 0.6 s of voice), judged by
    // a campaign that calls any greeting over 300 ms a machine.
    let attempts = agentless_run(
        "First Name,Phone\nPat,+14153200007\n",
        json!({"enabled": true, "on_machine": {"action": "hangup"}, "greeting_ms": 300}),
    )
    .await;
    assert_eq!(
        attempts["+14153200007"][0].outcome, "machine",
        "{attempts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn predictive_campaign_paces_from_the_live_book() {
    if !omnivox_testkit::sipp_available() {
        return;
    }
    let c = tenant_at(NOON_SF).await;
    let work = tempfile::tempdir().unwrap();
    let (_carrier, _dir) = carrier(&c, work.path(), 20).await;
    prompt(&c, "safe-harbor").await;
    disposition_codes(&c).await;
    let list = import(
        &c,
        "Predictive",
        "First Name,Phone\nPat,+14153200007\nBusy,+14153200001\nSam,+14153200017\n",
    )
    .await;
    let id = campaign(
        &c,
        "Predictive",
        "predictive",
        json!({"ring_timeout_s": 15, "safe_harbor_prompt": "safe-harbor",
               "max_attempts_total": 1}),
        &list,
    )
    .await;
    let _ann = logged_in_agent(&c, "ann", work.path(), &id).await;
    start(&c, &id).await;
    let attempts = run_to_completion(&c, &id).await;
    assert_eq!(attempts.len(), 3, "every lead dialed once: {attempts:?}");
    assert_eq!(attempts["+14153200001"][0].outcome, "busy", "{attempts:?}");
    // Without AMD the answers count as people; the policy's own
    // abandonment model decides how hard it dials, but somebody talks to
    // Ann and nobody is left without an outcome.
    let people: Vec<&str> = ["+14153200007", "+14153200017"]
        .iter()
        .map(|n| attempts[*n][0].outcome.as_str())
        .collect();
    assert!(people.contains(&"normal"), "{attempts:?}");
    assert!(
        people.iter().all(|o| *o == "normal" || *o == "abandoned"),
        "{attempts:?}"
    );
    let s = c
        .app
        .get(&c.path(&format!("/campaigns/{id}/stats")), &c.owner)
        .await
        .body;
    let abandoned = people.iter().filter(|o| **o == "abandoned").count();
    assert_eq!(s["last_24h"]["abandoned"], abandoned, "{s}");
}

/// The carrier's behaviour by last digit, without the slow ones (4, 7):
/// people talking 1.5 s, busy, ringing until the timeout, invalid.
const DIGITS: [u8; 10] = [0, 1, 2, 3, 5, 6, 8, 9, 0, 5];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn predictive_campaign_of_two_hundred_leads_books_every_call() {
    if !omnivox_testkit::sipp_available() {
        return;
    }
    let c = tenant_at(NOON_SF).await;
    let work = tempfile::tempdir().unwrap();
    let (_carrier, carrier_dir) = carrier(&c, work.path(), 1_000).await;
    prompt(&c, "safe-harbor").await;
    disposition_codes(&c).await;
    let mut csv = String::from("First Name,Phone\n");
    for i in 0..200 {
        csv.push_str(&format!("Lead {i},+1415340{i:03}{}\n", DIGITS[i % 10]));
    }
    let list = import(&c, "Two hundred", &csv).await;
    let id = campaign(
        &c,
        "Two hundred",
        "predictive",
        json!({"ring_timeout_s": 15, "safe_harbor_prompt": "safe-harbor",
               "max_attempts_total": 2, "hopper_size": 50,
               "retry": [{"on": "busy", "after_s": 1}, {"on": "no_answer", "after_s": null},
                         {"on": "abandoned", "after_s": null}]}),
        &list,
    )
    .await;
    let mut phones = Vec::new();
    for n in 0..5 {
        phones.push(logged_in_agent(&c, &format!("agent{n}"), work.path(), &id).await);
    }
    start(&c, &id).await;
    let attempts = run_to_completion(&c, &id).await;

    // Every lead went as its number behaves, and no more often.
    assert_eq!(attempts.len(), 200);
    let mut booked = BTreeMap::<&str, usize>::new();
    for (number, tries) in &attempts {
        let outcomes: Vec<&str> = tries.iter().map(|a| a.outcome.as_str()).collect();
        match number.as_bytes()[number.len() - 1] - b'0' {
            1 => assert_eq!(outcomes, ["busy", "busy"], "{number}"),
            2 => assert_eq!(outcomes, ["no_answer"], "{number}"),
            3 => assert_eq!(outcomes, ["invalid_number"], "{number}"),
            _ => assert!(
                outcomes == ["normal"] || outcomes == ["abandoned"],
                "{number}: {outcomes:?}"
            ),
        }
        for o in outcomes {
            *booked.entry(o).or_default() += 1;
        }
    }
    let seen = dialed(&carrier_dir);
    for (number, tries) in &attempts {
        assert_eq!(
            seen.get(number).map(Vec::len),
            Some(tries.len()),
            "{number}: the carrier saw it as often as attempts were stored"
        );
    }

    // The books match the call records: a conversation had an agent, an
    // abandoned call was never bridged to one (an agent's phone may have
    // been ringing when the person hung up).
    // The CDR writer closes records in batches, a moment after the calls.
    let deadline = Instant::now() + Duration::from_secs(30);
    let cdrs: BTreeMap<String, Value> = loop {
        let cdrs: BTreeMap<String, Value> = all_items(&c, "/cdrs")
            .await
            .into_iter()
            .map(|r| (r["id"].as_str().unwrap().to_owned(), r))
            .collect();
        let open = attempts
            .values()
            .flatten()
            .filter(|a| cdrs.get(&a.call_id).is_none_or(|r| r["state"] == "live"))
            .count();
        if open == 0 {
            break cdrs;
        }
        assert!(Instant::now() < deadline, "{open} call records still open");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for a in attempts.values().flatten() {
        let cdr = &cdrs[&a.call_id];
        match a.outcome.as_str() {
            "normal" => {
                assert!(!cdr["agent_id"].is_null(), "{cdr}");
                assert!(!cdr["talk_ms"].is_null(), "{cdr}");
            }
            // Answered and never connected: dropped after the grace, or
            // the person hung up while waiting (counted too).
            "abandoned" => {
                assert!(cdr["talk_ms"].is_null(), "{cdr}");
                assert_eq!(cdr["cause"], "normal", "{cdr}");
            }
            other => assert_eq!(cdr["cause"], other, "{cdr}"),
        }
    }
    let s = c
        .app
        .get(&c.path(&format!("/campaigns/{id}/stats")), &c.owner)
        .await
        .body;
    let count = |o: &str| booked.get(o).copied().unwrap_or(0);
    assert_eq!(s["last_24h"]["abandoned"], count("abandoned"), "{s}");
    assert_eq!(
        s["last_24h"]["answered"],
        count("normal") + count("abandoned"),
        "{s}"
    );
    assert_eq!(s["leads"]["done"], 200, "{s}");
    eprintln!(
        "200 leads: {booked:?}, abandon rate {} %",
        s["last_24h"]["abandon_rate"]
    );
}
