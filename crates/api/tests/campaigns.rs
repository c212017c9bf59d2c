//! Campaigns over HTTP: validation of every setting, the lifecycle with its
//! refusals, roles and tenants, the hopper filled through the compliance
//! engine at an injected time (allow, defer to the window's start, deny
//! with reasons), list priority, and dial locks/attempts surviving a
//! restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{DateTime, Utc};
use common::{Ctx, numbered_rows};
use omnivox_domain::TenantId;
use omnivox_store::campaigns::lead;
use omnivox_store::{Scoped, Store};
use omnivox_testkit::spawn_app_at;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Tuesday 2 June 2026, 12:00 in San Francisco (UTC-7): inside every window.
const NOON_SF: &str = "2026-06-02T19:00:00Z";
/// The same day, 07:00 in San Francisco: before the 08:00 federal window.
const SEVEN_SF: &str = "2026-06-02T14:00:00Z";

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

/// Set up one tenant whose dialer clock reads `now`; with `two`, a second
/// tenant too (returned as its id and owner token).
async fn ctx_at(now: &str, two: bool) -> (Ctx, Option<(String, String)>) {
    let app = spawn_app_at(at(now)).await;
    if two {
        let (t, owner, t2, owner2) = app.two_tenants().await;
        (Ctx { app, t, owner }, Some((t2, owner2)))
    } else {
        let (t, owner) = app.owner().await;
        (Ctx { app, t, owner }, None)
    }
}

/// Campaign steps on top of the shared contact helpers.
trait Campaigns {
    async fn import_list(&self, name: &str, rows: Vec<u8>) -> String;
    async fn campaign(&self, name: &str, mode: &str, settings: Value) -> String;
    async fn act(&self, c: &str, action: &str) -> omnivox_testkit::Resp;
    async fn attach(&self, c: &str, list: &str, body: Value);
    async fn stats(&self, c: &str) -> Value;
    async fn leads(&self, c: &str, status: &str) -> Vec<Value>;
}

impl Campaigns for Ctx {
    /// A list with `rows` imported.
    async fn import_list(&self, name: &str, rows: Vec<u8>) -> String {
        let list = self.list(name).await;
        let up = self.upload(&list, rows).await;
        assert_eq!(up.status, StatusCode::CREATED, "{up:?}");
        let done = self
            .run(up.body["import"]["id"].as_str().unwrap(), json!({}))
            .await;
        assert_eq!(done["status"], "completed", "{done}");
        list
    }

    async fn campaign(&self, name: &str, mode: &str, settings: Value) -> String {
        let r = self
            .app
            .post(
                &self.path("/campaigns"),
                &self.owner,
                json!({"name": name, "mode": mode, "settings": settings}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        assert_eq!(r.body["status"], "draft");
        r.body["id"].as_str().unwrap().to_owned()
    }

    async fn act(&self, c: &str, action: &str) -> omnivox_testkit::Resp {
        self.app
            .post(
                &self.path(&format!("/campaigns/{c}/{action}")),
                &self.owner,
                json!({}),
            )
            .await
    }

    async fn attach(&self, c: &str, list: &str, body: Value) {
        let r = self
            .app
            .call(
                reqwest::Method::PUT,
                &self.path(&format!("/campaigns/{c}/lists/{list}")),
                Some(&self.owner),
                Some(body),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
    }

    async fn stats(&self, c: &str) -> Value {
        let r = self
            .app
            .get(&self.path(&format!("/campaigns/{c}/stats")), &self.owner)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        r.body
    }

    async fn leads(&self, c: &str, status: &str) -> Vec<Value> {
        let r = self
            .app
            .get(
                &self.path(&format!("/campaigns/{c}/leads?status={status}&limit=200")),
                &self.owner,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        r.body["items"].as_array().unwrap().clone()
    }
}

fn field_names(r: &omnivox_testkit::Resp) -> Vec<String> {
    r.body["error"]["details"]["fields"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn settings_are_validated_whole_and_the_lifecycle_refuses_wrong_moves() {
    let (c, _) = ctx_at(NOON_SF, false).await;
    let bad = c
        .app
        .post(
            &c.path("/campaigns"),
            &c.owner,
            json!({"name": "Spring", "mode": "predictive", "settings": {
                "ring_timeout_s": 12,
                "max_abandon_pct": 4.0,
                "caller_id": {"kind": "fixed", "number": "12"},
                "amd": {"enabled": true, "on_machine": {"action": "leave_prompt", "prompt": "nope"},
                        "max_analysis_ms": 600, "after_greeting_silence_ms": 800}
            }}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{bad:?}");
    let fields = field_names(&bad);
    for f in [
        "settings.amd",
        "settings.ring_timeout_s",
        "settings.max_abandon_pct",
        "settings.caller_id.number",
        "settings.safe_harbor_prompt",
        "settings",
    ] {
        assert!(fields.contains(&f.to_owned()), "{f} missing in {fields:?}");
    }
    let typo = c
        .app
        .post(
            &c.path("/campaigns"),
            &c.owner,
            json!({"name": "Spring", "mode": "progressive", "settings": {"ring_timout_s": 30}}),
        )
        .await;
    assert_eq!(typo.status, StatusCode::BAD_REQUEST);
    assert!(
        typo.body["error"]["details"]["fields"][0]["message"]
            .as_str()
            .unwrap()
            .contains("ring_timout_s"),
        "{typo:?}"
    );
    let mode = c
        .app
        .post(
            &c.path("/campaigns"),
            &c.owner,
            json!({"name": "Spring", "mode": "robocall"}),
        )
        .await;
    assert_eq!(field_names(&mode), ["mode"]);
    // Nothing half-made survived the refusals.
    let all = c.app.get(&c.path("/campaigns"), &c.owner).await;
    assert_eq!(all.body["items"].as_array().unwrap().len(), 0);

    let id = c
        .campaign("Spring", "progressive", json!({"hopper_size": 5}))
        .await;
    let dup = c
        .app
        .post(
            &c.path("/campaigns"),
            &c.owner,
            json!({"name": "Spring", "mode": "preview"}),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert_eq!(dup.code(), "campaign_name_taken");

    // Starting needs a list; pausing a draft is not a move.
    let r = c.act(&id, "start").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
    assert_eq!(r.code(), "campaign_without_lists");
    let r = c.act(&id, "pause").await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.code(), "invalid_transition");

    let list = c.import_list("Spring leads", numbered_rows(12)).await;
    c.attach(&id, &list, json!({})).await;
    let r = c.act(&id, "start").await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["status"], "running");
    // The first hopper is filled at start: 5 of the 12, compliance-checked.
    let s = c.stats(&id).await;
    assert_eq!(s["hopper_depth"], 5, "{s}");
    assert_eq!(s["leads"]["new"], 7, "{s}");
    let hopper = c
        .app
        .get(&c.path(&format!("/campaigns/{id}/hopper")), &c.owner)
        .await;
    assert_eq!(hopper.body["items"].as_array().unwrap().len(), 5);

    // The mode is fixed once started; settings still change (and are checked).
    let r = c
        .app
        .patch(
            &c.path(&format!("/campaigns/{id}")),
            &c.owner,
            json!({"mode": "power"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{r:?}");
    let r = c
        .app
        .patch(
            &c.path(&format!("/campaigns/{id}")),
            &c.owner,
            json!({"settings": {"hopper_size": 8, "ring_timeout_s": 5}}),
        )
        .await;
    assert_eq!(field_names(&r), ["settings.ring_timeout_s"]);
    let r = c
        .app
        .patch(
            &c.path(&format!("/campaigns/{id}")),
            &c.owner,
            json!({"settings": {"hopper_size": 8}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["settings"]["hopper_size"], 8);
    assert_eq!(
        r.body["settings"]["ring_timeout_s"], 25,
        "defaults filled in"
    );

    assert_eq!(c.act(&id, "pause").await.body["status"], "paused");
    assert_eq!(c.act(&id, "pause").await.status, StatusCode::CONFLICT);
    assert_eq!(c.act(&id, "resume").await.body["status"], "running");
    assert_eq!(
        c.act(&id, "archive").await.status,
        StatusCode::CONFLICT,
        "a running campaign is stopped before it is archived"
    );
    assert_eq!(c.act(&id, "stop").await.body["status"], "completed");
    assert_eq!(
        c.app
            .delete(&c.path(&format!("/campaigns/{id}")), &c.owner)
            .await
            .status,
        StatusCode::CONFLICT,
        "only drafts are deleted"
    );
    assert_eq!(c.act(&id, "archive").await.body["status"], "archived");
    assert_eq!(c.act(&id, "start").await.status, StatusCode::CONFLICT);
    let r = c
        .app
        .patch(
            &c.path(&format!("/campaigns/{id}")),
            &c.owner,
            json!({"description": "late"}),
        )
        .await;
    assert_eq!(r.code(), "campaign_archived");

    // Every change is in the audit log, in order.
    let audit = c.app.get(&c.path("/audit?limit=200"), &c.owner).await;
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| a.starts_with("campaign."))
        .collect();
    for a in [
        "campaign.created",
        "campaign.list_attached",
        "campaign.running",
        "campaign.updated",
        "campaign.paused",
        "campaign.completed",
        "campaign.archived",
    ] {
        assert!(actions.contains(&a), "{a} not audited: {actions:?}");
    }

    // A power campaign with its safe-harbor prompt starts; a draft that
    // never dialed can be deleted.
    let wav = omnivox_testkit::sine_wav(8_000, 1, 440.0, 0.5);
    let r = omnivox_testkit::read(
        c.app
            .client
            .post(c.app.url(&c.path("/prompts?name=harbor")))
            .bearer_auth(&c.owner)
            .header("content-type", "audio/wav")
            .body(wav)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let p = c
        .campaign("Power", "power", json!({"safe_harbor_prompt": "harbor"}))
        .await;
    c.attach(&p, &list, json!({})).await;
    let r = c.act(&p, "start").await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["status"], "running", "{r:?}");
    let d = c.campaign("Scratch", "progressive", json!({})).await;
    let r = c
        .app
        .delete(&c.path(&format!("/campaigns/{d}")), &c.owner)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn roles_and_tenants_are_enforced() {
    let (c, other) = ctx_at(NOON_SF, true).await;
    let other = other.unwrap();
    let id = c.campaign("Mine", "progressive", json!({})).await;
    let agent = c
        .app
        .member(&c.t, &c.owner, "agent@example.com", "agent")
        .await;
    let analyst = c
        .app
        .member(&c.t, &c.owner, "analyst@example.com", "analyst")
        .await;
    let r = c
        .app
        .post(
            &c.path("/campaigns"),
            &agent,
            json!({"name": "X", "mode": "preview"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        c.app.get(&c.path("/campaigns"), &agent).await.status,
        StatusCode::FORBIDDEN
    );
    let r = c
        .app
        .get(&c.path(&format!("/campaigns/{id}")), &analyst)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = c
        .app
        .post(
            &c.path(&format!("/campaigns/{id}/start")),
            &analyst,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Another tenant sees nothing of it and cannot attach its lists.
    let r = c
        .app
        .get(
            &format!("/api/v1/tenants/{}/campaigns/{id}", other.0),
            &other.1,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = c
        .app
        .get(&format!("/api/v1/tenants/{}/campaigns/{id}", c.t), &other.1)
        .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "not a member: nothing is disclosed"
    );
    let theirs = c
        .app
        .post(
            &format!("/api/v1/tenants/{}/lists", other.0),
            &other.1,
            json!({"name": "Theirs", "default_region": "US"}),
        )
        .await;
    let r = c
        .app
        .call(
            reqwest::Method::PUT,
            &c.path(&format!(
                "/campaigns/{id}/lists/{}",
                theirs.body["id"].as_str().unwrap()
            )),
            Some(&c.owner),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");
}

#[tokio::test]
async fn the_hopper_defers_to_the_window_and_denies_with_reasons() {
    let (c, _) = ctx_at(SEVEN_SF, false).await;
    let list = c.import_list("Morning", numbered_rows(6)).await;
    let dnc = c
        .app
        .post(
            &c.path("/dnc"),
            &c.owner,
            json!({"pattern": "+14152000003", "reason": "asked"}),
        )
        .await;
    assert_eq!(dnc.status, StatusCode::CREATED, "{dnc:?}");
    let id = c.campaign("Early", "progressive", json!({})).await;
    c.attach(&id, &list, json!({})).await;
    assert_eq!(c.act(&id, "start").await.status, StatusCode::OK);

    // 07:00 local: nobody may be called; everyone waits for 08:00 (15:00Z),
    // except the DNC number, which is denied for good.
    let s = c.stats(&id).await;
    assert_eq!(s["hopper_depth"], 0, "{s}");
    assert_eq!(s["leads"]["deferred"], 5, "{s}");
    assert_eq!(s["leads"]["denied"], 1, "{s}");
    for l in c.leads(&id, "deferred").await {
        assert_eq!(l["next_at"], "2026-06-02T15:00:00Z", "{l}");
        assert_eq!(l["reasons"][0]["code"], "calling_window", "{l}");
    }
    let denied = c.leads(&id, "denied").await;
    assert_eq!(
        denied[0]["reasons"][0]["code"], "dnc_internal",
        "{denied:?}"
    );

    // A second fill does not look at deferred leads before their time.
    let r = c
        .app
        .post(
            &c.path(&format!("/campaigns/{id}/hopper/fill")),
            &c.owner,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["checked"], 0, "{r:?}");
}

#[tokio::test]
async fn lists_of_higher_priority_go_first_and_weights_mix_equal_ones() {
    let (c, _) = ctx_at(NOON_SF, false).await;
    let a = c.import_list("A", numbered_rows(4)).await;
    let b_rows = {
        let mut csv = String::from("First Name,Phone\n");
        for i in 0..20 {
            csv.push_str(&format!("B{i},+1415{:07}\n", 3_000_000 + i));
        }
        csv.into_bytes()
    };
    let b = c.import_list("B", b_rows).await;
    let id = c
        .campaign("Prio", "progressive", json!({"hopper_size": 6}))
        .await;
    c.attach(&id, &a, json!({"priority": 0})).await;
    c.attach(&id, &b, json!({"priority": 1})).await;
    assert_eq!(c.act(&id, "start").await.status, StatusCode::OK);
    let queued = c.leads(&id, "queued").await;
    let from_a = queued.iter().filter(|l| l["list_id"] == a.as_str()).count();
    assert_eq!(
        from_a, 4,
        "all of the first list before the second: {queued:?}"
    );
    assert_eq!(queued.len(), 6);
}

#[tokio::test]
async fn the_hopper_takes_leads_in_the_order_of_a_custom_field() {
    let (c, _) = ctx_at(NOON_SF, false).await;
    let r = c
        .app
        .post(
            &c.path("/custom-fields"),
            &c.owner,
            json!({"key": "score", "label": "Score", "kind": "number"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    // Numbers must sort as numbers (9 before 30 before 120), and a contact
    // without a score comes last either way.
    let list = c
        .import_list(
            "Scored",
            b"First Name,Phone,Score\nNine,+14152000001,9\nNone,+14152000002,\n\
              Big,+14152000003,120\nThirty,+14152000004,30\nTwo,+14152000005,2\n"
                .to_vec(),
        )
        .await;
    let bad = c
        .app
        .post(
            &c.path("/campaigns"),
            &c.owner,
            json!({"name": "Bad", "mode": "progressive",
                   "settings": {"lead_order": {"by": "custom_field", "field": "nope"}}}),
        )
        .await;
    assert_eq!(
        common::field_errors(&bad),
        common::pairs(&[("settings.lead_order.field", "unknown_field")])
    );
    let names = async |id: &str| -> Vec<String> {
        let mut out = Vec::new();
        for l in c.leads(id, "queued").await {
            let contact = c
                .app
                .get(
                    &c.path(&format!("/contacts/{}", l["contact_id"].as_str().unwrap())),
                    &c.owner,
                )
                .await;
            out.push(contact.body["first_name"].as_str().unwrap().to_owned());
        }
        out.sort();
        out
    };
    for (descending, size, want) in [
        (true, 3, vec!["Big", "Nine", "Thirty"]),
        (false, 2, vec!["Nine", "Two"]),
        (false, 4, vec!["Big", "Nine", "Thirty", "Two"]),
    ] {
        let id = c
            .campaign(
                &format!("By score {descending} {size}"),
                "progressive",
                json!({"hopper_size": size,
                       "lead_order": {"by": "custom_field", "field": "score",
                                      "descending": descending}}),
            )
            .await;
        c.attach(&id, &list, json!({})).await;
        assert_eq!(c.act(&id, "start").await.status, StatusCode::OK);
        assert_eq!(
            names(&id).await,
            want,
            "descending {descending}, {size} leads"
        );
    }
}

#[tokio::test]
async fn a_number_is_dialed_once_at_a_time_and_a_crash_loses_no_attempt() {
    let (c, _) = ctx_at(NOON_SF, false).await;
    let list = c.import_list("Shared", numbered_rows(3)).await;
    let one = c
        .campaign("One", "progressive", json!({"hopper_size": 3}))
        .await;
    let two = c
        .campaign("Two", "progressive", json!({"hopper_size": 3}))
        .await;
    for id in [&one, &two] {
        c.attach(id, &list, json!({})).await;
        assert_eq!(c.act(id, "start").await.status, StatusCode::OK);
    }
    let lead = c.leads(&one, "queued").await[0].clone();
    let contact: Uuid = lead["contact_id"].as_str().unwrap().parse().unwrap();
    let phone = c
        .app
        .get(&c.path(&format!("/contacts/{contact}")), &c.owner)
        .await
        .body["phones"][0]["e164"]
        .as_str()
        .unwrap()
        .to_owned();

    // The dialer's step, against the same database the server uses.
    let store = Store::connect(&c.app.config.database).await.unwrap();
    let tenant = TenantId(c.t.parse().unwrap());
    let s = Scoped::new(store.writer(), tenant);
    let (one_id, two_id): (Uuid, Uuid) = (one.parse().unwrap(), two.parse().unwrap());
    let first = s
        .begin_attempt(one_id, contact, &phone, lead::QUEUED)
        .await
        .unwrap();
    let first = first.expect("the number is free");
    assert!(
        s.begin_attempt(two_id, contact, &phone, lead::QUEUED)
            .await
            .unwrap()
            .is_none(),
        "another campaign may not dial the number while it rings"
    );
    assert!(
        s.begin_attempt(one_id, contact, &phone, lead::QUEUED)
            .await
            .unwrap()
            .is_none(),
        "the lead left the hopper"
    );
    assert_eq!(c.stats(&one).await["in_flight"], 1);
    store.close().await;

    // The process dies with the call up; the next start settles it.
    let c = Ctx {
        app: c.app.restart().await,
        ..c
    };
    let attempts = c
        .app
        .get(&c.path(&format!("/campaigns/{one}/attempts")), &c.owner)
        .await;
    let a = &attempts.body["items"][0];
    assert_eq!(a["id"], first.id.to_string());
    assert_eq!(a["status"], "interrupted", "{attempts:?}");
    assert_eq!(a["outcome"], "interrupted");
    let lead = c
        .leads(&one, "waiting")
        .await
        .into_iter()
        .find(|l| l["contact_id"] == contact.to_string())
        .expect("the lead waits for its retry");
    assert_eq!(lead["attempts"], 1, "the interrupted attempt counts");
    let next: DateTime<Utc> = lead["next_at"].as_str().unwrap().parse().unwrap();
    let last: DateTime<Utc> = lead["last_attempt_at"].as_str().unwrap().parse().unwrap();
    assert!(next - last >= chrono::TimeDelta::minutes(9), "{lead}");
    assert_eq!(c.stats(&one).await["in_flight"], 0);

    // The lock went with the settled attempt: campaign two may dial now.
    let store = Store::connect(&c.app.config.database).await.unwrap();
    let s = Scoped::new(store.writer(), tenant);
    assert!(s.dial_lock(&phone).await.unwrap().is_none());
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.get_lead(two_id, contact).await.unwrap().status != "queued" {
        assert!(Instant::now() < deadline, "lead never queued in two");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = s
        .begin_attempt(two_id, contact, &phone, lead::QUEUED)
        .await
        .unwrap();
    assert!(second.is_some());
    store.close().await;
}
