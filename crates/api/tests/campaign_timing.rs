//! When a campaign dials: windows that recur by an iCalendar rule (RRULE),
//! and callbacks an agent keeps for themselves, set in the contact's local
//! time and dialed for that agent alone (progressive and power dialing,
//! with a sipp carrier and two registered sipp agents).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use common::Ctx;
use common::campaign::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

/// The windows of a recurring schedule (all day on the rule's dates),
/// recurring from `start_at`.
fn recurring(rule: &str, start_at: &str) -> Value {
    json!({"schedule": {"start_at": start_at,
        "windows": [{"rrule": rule, "start": "00:00:00", "end": "23:59:59"}]}})
}

async fn patch_settings(c: &Ctx, id: &str, settings: Value) {
    let r = c
        .app
        .call(
            reqwest::Method::PATCH,
            &c.path(&format!("/campaigns/{id}")),
            Some(&c.owner),
            Some(json!({"settings": settings})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
}

#[tokio::test]
async fn a_recurring_schedule_lets_the_campaign_dial_on_its_dates_only() {
    // Tuesday 2 June 2026, noon in San Francisco.
    let c = tenant_at(NOON_SF).await;
    let list = import(&c, "Cards", "First Name,Phone\nZero,+14152000000\n").await;

    // A rule needs its first date, and must be a rule of days.
    let r = c
        .app
        .post(
            &c.path("/campaigns"),
            &c.owner,
            json!({"name": "Bad", "mode": "preview", "settings": {"schedule": {"windows": [
                {"rrule": "FREQ=WEEKLY;BYDAY=MO", "start": "09:00:00", "end": "17:00:00"},
                {"rrule": "FREQ=HOURLY", "start": "09:00:00", "end": "17:00:00"}]}}}),
        )
        .await;
    assert_eq!(
        common::field_errors(&r),
        common::pairs(&[("settings.schedule.start_at", "invalid")])
    );
    let r = c
        .app
        .post(
            &c.path("/campaigns"),
            &c.owner,
            json!({"name": "Bad", "mode": "preview",
                   "settings": recurring("FREQ=HOURLY", "2026-06-01T12:00:00Z")}),
        )
        .await;
    assert_eq!(
        common::field_errors(&r),
        common::pairs(&[("settings.schedule.windows[0].rrule", "invalid")])
    );

    // Mondays and Wednesdays: not today.
    let id = campaign(
        &c,
        "Cards",
        "preview",
        recurring("FREQ=WEEKLY;BYDAY=MO,WE", "2026-06-01T12:00:00Z"),
        &list,
    )
    .await;
    start_campaign(&c, &id).await;
    let ann = c
        .app
        .member(&c.t, &c.owner, "ann@example.com", "agent")
        .await;
    log_in(&c, &ann, &id).await;
    let next = format!("/campaigns/{id}/preview/next");
    let r = c.app.post(&c.path(&next), &ann, json!({})).await;
    assert_eq!(r.code(), "outside_schedule", "{r:?}");

    // Tuesdays of every other week from 26 May: 26 May and 9 June, not today.
    patch_settings(
        &c,
        &id,
        recurring("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU", "2026-05-26T12:00:00Z"),
    )
    .await;
    let r = c.app.post(&c.path(&next), &ann, json!({})).await;
    assert_eq!(r.code(), "outside_schedule", "{r:?}");

    // The same rule from today: open. What stops Ann now is her phone.
    patch_settings(
        &c,
        &id,
        recurring("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU", "2026-06-02T12:00:00Z"),
    )
    .await;
    let r = c.app.post(&c.path(&next), &ann, json!({})).await;
    assert_eq!(r.code(), "no_phone", "{r:?}");
}

/// The campaign's lead (there is one).
async fn the_lead(c: &Ctx, id: &str) -> Value {
    let l = c
        .app
        .get(&c.path(&format!("/campaigns/{id}/leads")), &c.owner)
        .await;
    l.body["items"][0].clone()
}

async fn attempts(c: &Ctx, id: &str) -> Vec<Value> {
    let a = c
        .app
        .get(&c.path(&format!("/campaigns/{id}/attempts")), &c.owner)
        .await;
    a.body["items"].as_array().unwrap().clone()
}

/// The agent ends their wrap-up with `body` (a disposition and its
/// callback).
async fn finish_wrap_up(c: &Ctx, agent: &str, token: &str, body: Value) {
    let r = c
        .app
        .post(
            &c.path(&format!("/agents/{agent}/wrap-up/finish")),
            token,
            body,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
}

/// How many times the agent's history shows them on a call.
async fn calls_taken(c: &Ctx, agent: &str) -> usize {
    let h = c
        .app
        .get(
            &c.path(&format!("/agents/{agent}/history?limit=100")),
            &c.owner,
        )
        .await;
    h.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["state"] == "on_call")
        .count()
}

/// Waits until the agent's history shows them in `state` `times` times.
async fn in_state_times(c: &Ctx, agent: &str, state: &str, times: usize) {
    let path = c.path(&format!("/agents/{agent}/history?limit=100"));
    let what = format!("{agent} {state} {times} times");
    common::wait_for(&c.app, &path, &c.owner, &what, |h| {
        h["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["state"] == state)
            .count()
            >= times
    })
    .await;
}

async fn put(c: &Ctx, path: &str, token: &str, body: Value) -> omnivox_testkit::Resp {
    c.app.call(Method::PUT, path, Some(token), Some(body)).await
}

async fn set_state(c: &Ctx, token: &str, body: Value) {
    let r = c.app.post(&c.path("/agents/me/state"), token, body).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
}

/// How the wait for Ann ends.
#[derive(Clone, Copy, PartialEq)]
enum Ending {
    /// She is back: the callback is dialed for her.
    AnnReturns,
    /// A supervisor hands it to Bob, who gets it.
    HandedToBob,
    /// Nobody does: the campaign releases it to anyone after a while, and
    /// Bob gets it.
    Released,
}

/// A person answers, talks to Ann and hangs up; Ann keeps a callback for
/// herself at a time of the contact's day (San Francisco) and takes a
/// break. When it comes due Bob is free, and it waits for Ann (without
/// keeping a new lead from Bob); then `ending`.
async fn a_kept_callback_waits_for_its_agent(mode: &str, ending: Ending) {
    let c = tenant_at(NOON_SF).await;
    let work = tempfile::tempdir().unwrap();
    let (_carrier, carrier_dir) = carrier(&c, work.path(), 10).await;
    common::prompt(&c, "safe-harbor").await;
    for body in [
        json!({"code": "call_back", "label": "Call back", "category": "callback",
               "effect": "callback"}),
        json!({"code": "sale", "label": "Sale", "category": "sale", "effect": "sale"}),
    ] {
        let r = c
            .app
            .post(&c.path("/disposition-codes"), &c.owner, body)
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    }
    let r = c
        .app
        .post(
            &c.path("/reason-codes"),
            &c.owner,
            json!({"code": "break", "label": "Break"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let list = import(&c, "Kept", "First Name,Phone\nZero,+14152000000\n").await;
    let mut settings = json!({"ring_timeout_s": 15, "dial_ratio": 1.0,
        "safe_harbor_prompt": "safe-harbor", "hopper_size": 1});
    if ending == Ending::Released {
        // Long enough for the checks that it waits for Ann first.
        settings["callback_release_after_s"] = json!(12);
    }
    let id = campaign(&c, "Kept", mode, settings, &list).await;
    let (ann, ann_token, _ann_phone) = agent_phone(&c, "ann@example.com", "ann", work.path()).await;
    let (bob, bob_token, _bob_phone) = agent_phone(&c, "bob@example.com", "bob", work.path()).await;
    // Power dialing is automated: it needs the contact's consent.
    consent_all(&c).await;
    start_campaign(&c, &id).await;
    log_in(&c, &ann_token, &id).await;

    // Ann talks to the customer, who hangs up: Ann is in wrap-up.
    in_state_times(&c, &ann, "wrap_up", 1).await;
    log_in(&c, &bob_token, &id).await;

    // Call back in a few seconds, by the contact's clock (Pacific daylight
    // time in June: UTC-7).
    let due: DateTime<Utc> = (c.app.clock_now() + TimeDelta::seconds(4))
        .with_nanosecond(0)
        .unwrap();
    let local = (due - TimeDelta::hours(7)).naive_utc();
    finish_wrap_up(
        &c,
        &ann,
        &ann_token,
        json!({"disposition": "call_back", "callback_for": "agent",
               "callback_local": local.format("%Y-%m-%dT%H:%M:%S").to_string()}),
    )
    .await;
    set_state(
        &c,
        &ann_token,
        json!({"state": "not_ready", "reason": "break"}),
    )
    .await;
    let lead = the_lead(&c, &id).await;
    assert_eq!(lead["status"], "waiting", "{lead}");
    assert_eq!(
        lead["next_at"],
        due.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "{lead}"
    );
    assert_eq!(lead["callback_agent"], ann.as_str(), "{lead}");
    let contact = lead["contact_id"].as_str().unwrap().to_owned();

    // Due, back in the hopper, and Bob is free: nobody dials it for him.
    common::wait_for(
        &c.app,
        &c.path(&format!("/campaigns/{id}/leads")),
        &c.owner,
        "the callback back in the hopper",
        |l| l["items"][0]["status"] == "queued",
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(attempts(&c, &id).await.len(), 1, "not dialed for Bob");
    assert_eq!(the_lead(&c, &id).await["status"], "queued");

    // A new lead: the kept callback fills the one-lead hopper, but takes no
    // one else's room. Bob gets the new lead.
    let up = c
        .upload(&list, b"First Name,Phone\nSix,+14152000006\n".to_vec())
        .await;
    let done = c
        .run(up.body["import"]["id"].as_str().unwrap(), json!({}))
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    consent_all(&c).await;
    in_state_times(&c, &bob, "on_call", 1).await;

    let handover = c.path(&format!("/campaigns/{id}/leads/{contact}/callback_agent"));
    match ending {
        Ending::AnnReturns => {
            // Ann is back: the callback is dialed for her.
            set_state(&c, &ann_token, json!({"state": "available"})).await;
            in_state_times(&c, &ann, "on_call", 2).await;
            assert_eq!(calls_taken(&c, &bob).await, 1, "the new lead only");
        }
        Ending::HandedToBob => {
            let r = put(&c, &handover, &bob_token, json!({"callback_agent": bob})).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "agents cannot: {r:?}");
            let r = put(&c, &handover, &c.owner, json!({})).await;
            assert_eq!(
                common::field_errors(&r),
                common::pairs(&[("callback_agent", "required")])
            );
            let r = put(
                &c,
                &handover,
                &c.owner,
                json!({"callback_agent": uuid::Uuid::nil()}),
            )
            .await;
            assert_eq!(
                common::field_errors(&r),
                common::pairs(&[("callback_agent", "unknown_agent")])
            );
            let other = c.path(&format!(
                "/campaigns/{id}/leads/{}/callback_agent",
                uuid::Uuid::nil()
            ));
            let r = put(&c, &other, &c.owner, json!({"callback_agent": null})).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");
            let lead = c
                .app
                .get(
                    &c.path(&format!("/campaigns/{id}/leads?status=queued")),
                    &c.owner,
                )
                .await;
            assert_eq!(lead.body["items"][0]["contact_id"], contact.as_str());
            assert_eq!(
                lead.body["items"][0]["callback_agent"],
                ann.as_str(),
                "unchanged"
            );

            // Bob finishes his call's wrap-up and gets Ann's callback.
            in_state_times(&c, &bob, "wrap_up", 1).await;
            let r = put(&c, &handover, &c.owner, json!({"callback_agent": bob})).await;
            assert_eq!(r.status, StatusCode::OK, "{r:?}");
            assert_eq!(r.body["callback_agent"], bob.as_str(), "{r:?}");
            finish_wrap_up(&c, &bob, &bob_token, json!({"disposition": "sale"})).await;
            in_state_times(&c, &bob, "on_call", 2).await;
            assert_eq!(calls_taken(&c, &ann).await, 1, "Ann is still away");
            let r = put(&c, &handover, &c.owner, json!({"callback_agent": null})).await;
            assert_eq!(r.code(), "not_a_kept_callback", "being dialed: {r:?}");
        }
        Ending::Released => {
            // Bob is on the new lead's call; the callback, still Ann's, is
            // released to anyone and waits for the next free agent.
            common::wait_for(
                &c.app,
                &c.path(&format!("/campaigns/{id}/leads?status=queued")),
                &c.owner,
                "the callback released to anyone",
                |l| {
                    l["items"].as_array().is_some_and(|items| {
                        items.iter().any(|i| {
                            i["contact_id"] == contact.as_str() && i["callback_agent"].is_null()
                        })
                    })
                },
            )
            .await;
            assert_eq!(calls_taken(&c, &bob).await, 1, "the new lead only so far");
            in_state_times(&c, &bob, "wrap_up", 1).await;
            finish_wrap_up(&c, &bob, &bob_token, json!({"disposition": "sale"})).await;
            in_state_times(&c, &bob, "on_call", 2).await;
            assert_eq!(calls_taken(&c, &ann).await, 1, "Ann is still away");
        }
    }
    assert_eq!(attempts(&c, &id).await.len(), 3);
    let dialed = dialed(&carrier_dir);
    assert_eq!(dialed["+14152000000"].len(), 2, "{dialed:?}");
    assert_eq!(dialed["+14152000006"].len(), 1, "{dialed:?}");
}

#[tokio::test]
async fn a_kept_callback_waits_for_its_agent_progressive() {
    if omnivox_testkit::sipp_available() {
        a_kept_callback_waits_for_its_agent("progressive", Ending::AnnReturns).await;
    }
}

#[tokio::test]
async fn a_supervisor_hands_a_kept_callback_to_another_agent() {
    if omnivox_testkit::sipp_available() {
        a_kept_callback_waits_for_its_agent("progressive", Ending::HandedToBob).await;
    }
}

#[tokio::test]
async fn an_unclaimed_kept_callback_is_released_to_anyone() {
    if omnivox_testkit::sipp_available() {
        a_kept_callback_waits_for_its_agent("progressive", Ending::Released).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kept_callback_waits_for_its_agent_power() {
    if omnivox_testkit::sipp_available() {
        a_kept_callback_waits_for_its_agent("power", Ending::AnnReturns).await;
    }
}
