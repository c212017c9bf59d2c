//! ACD queues over HTTP: CRUD with every validation problem reported at
//! once by field, overflow targets that must exist in the tenant (not a
//! deleted queue, not another tenant's, not itself), audit rows, tenant
//! isolation, permissions, agents logging in to queues (with the queue's
//! skills), the live statistics from the ACD, and a restart that brings the
//! queues and the agents' queue logins back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{field_errors, pairs};
use omnivox_testkit::{Resp, TestApp, read, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn upload_prompt(app: &TestApp, t: &str, token: &str, name: &str) {
    let r = read(
        app.client
            .post(app.url(&format!("/api/v1/tenants/{t}/prompts?name={name}")))
            .bearer_auth(token)
            .header("content-type", "audio/wav")
            .body(omnivox_testkit::sine_wav(8_000, 1, 440.0, 0.5))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
}

async fn create_flow(app: &TestApp, t: &str, token: &str, name: &str) -> String {
    let r = app
        .post(
            &format!("/api/v1/tenants/{t}/flows"),
            token,
            json!({
                "name": name,
                "definition": {
                    "start": "bye",
                    "nodes": [{"id": "bye", "type": "hangup"}]
                }
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    r.body["id"].as_str().unwrap().to_owned()
}

fn queues_path(t: &str) -> String {
    format!("/api/v1/tenants/{t}/queues")
}

fn queue_path(t: &str, q: &str) -> String {
    format!("/api/v1/tenants/{t}/queues/{q}")
}

async fn create_queue(app: &TestApp, t: &str, token: &str, body: Value) -> String {
    let r = app.post(&queues_path(t), token, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    r.body["id"].as_str().unwrap().to_owned()
}

async fn audit(app: &TestApp, t: &str, token: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/api/v1/tenants/{t}/audit?limit=200"), token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    r.body["items"].as_array().unwrap().clone()
}

fn actions_on(audit: &[Value], target: &str) -> Vec<String> {
    let mut a: Vec<String> = audit
        .iter()
        .filter(|e| e["target_id"] == target)
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    a.sort();
    a
}

async fn user_id(app: &TestApp, t: &str, token: &str, email: &str) -> String {
    let r = app
        .get(&format!("/api/v1/tenants/{t}/agents?limit=200"), token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["user"]["email"] == email)
        .unwrap()["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn set_state(app: &TestApp, t: &str, token: &str, body: Value) -> Resp {
    app.post(&format!("/api/v1/tenants/{t}/agents/me/state"), token, body)
        .await
}

async fn stats(app: &TestApp, t: &str, token: &str, q: &str) -> Value {
    let r = app.get(&format!("{}/stats", queue_path(t, q)), token).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    r.body
}

fn staffing(s: &Value) -> (u64, u64, u64) {
    (
        s["staffed"].as_u64().unwrap(),
        s["available"].as_u64().unwrap(),
        s["waiting"].as_u64().unwrap(),
    )
}

#[tokio::test]
async fn crud_round_trip_validation_overflow_targets_and_audit() {
    let app = spawn_app().await;
    let (t, owner) = app.owner().await;
    upload_prompt(&app, &t, &owner, "hold-music").await;
    upload_prompt(&app, &t, &owner, "comfort").await;
    let flow = create_flow(&app, &t, &owner, "after-hours").await;
    let spill = create_queue(&app, &t, &owner, json!({"name": "spill"})).await;

    let full = json!({
        "name": "support",
        "description": "first line",
        "strategy": "skill_weighted",
        "required_skills": [{"skill": "es", "min_level": 3, "weight": 2}],
        "priority": 10,
        "offer_timeout_s": 20,
        "max_wait_s": 600,
        "wrap_up": {"seconds": 45, "disposition_required": true},
        "overflow": [
            {"when": "waited_at_least", "seconds": 120, "to": "queue", "queue_id": spill},
            {"when": "no_agent_logged_in", "to": "flow", "flow_id": flow},
            {"when": "waiting_above", "calls": 20, "to": "callback"}
        ],
        "announcements": {"position": true, "ewt": true, "every_seconds": 60},
        "music_prompt": "hold-music",
        "comfort_prompt": "comfort",
        "callback_in_queue": true
    });
    let r = app.post(&queues_path(&t), &owner, full.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let q = r.body["id"].as_str().unwrap().to_owned();
    for (k, v) in full.as_object().unwrap() {
        assert_eq!(&r.body[k], v, "field {k} in {}", r.body);
    }
    // Read back, single and listed.
    let got = app.get(&queue_path(&t, &q), &owner).await;
    assert_eq!(got.status, StatusCode::OK, "{got:?}");
    assert_eq!(got.body, r.body);
    let list = app.get(&queues_path(&t), &owner).await;
    assert_eq!(list.status, StatusCode::OK, "{list:?}");
    let names: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["spill", "support"]);
    // Defaults of a minimal queue.
    let spill_body = app.get(&queue_path(&t, &spill), &owner).await.body;
    assert_eq!(spill_body["strategy"], "longest_idle");
    assert_eq!(spill_body["offer_timeout_s"], 15);
    assert_eq!(spill_body["max_wait_s"], Value::Null);
    assert_eq!(
        spill_body["wrap_up"],
        json!({"seconds": 30, "disposition_required": false})
    );

    // A patch changes what it names, `null` clears, the rest stays.
    let r = app
        .patch(
            &queue_path(&t, &q),
            &owner,
            json!({"offer_timeout_s": 30, "music_prompt": null, "max_wait_s": null}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["offer_timeout_s"], 30);
    assert_eq!(r.body["music_prompt"], Value::Null);
    assert_eq!(r.body["max_wait_s"], Value::Null);
    assert_eq!(r.body["comfort_prompt"], "comfort");
    assert_eq!(r.body["overflow"], full["overflow"]);

    // Duplicate name.
    let r = app
        .post(&queues_path(&t), &owner, json!({"name": "support"}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{r:?}");
    assert_eq!(r.code(), "queue_name_taken");

    // Every problem at once, by field; nothing stored or audited.
    let before = audit(&app, &t, &owner).await.len();
    let r = app
        .post(
            &queues_path(&t),
            &owner,
            json!({
                "name": " padded",
                "required_skills": [
                    {"skill": "es", "min_level": 11},
                    {"skill": "es"},
                    {"skill": "Bad Skill", "weight": 0}
                ],
                "priority": 500,
                "offer_timeout_s": 3,
                "max_wait_s": 100,
                "wrap_up": {"seconds": 4000},
                "overflow": [
                    {"when": "waited_at_least", "to": "queue", "queue_id": uuid::Uuid::now_v7()},
                    {"when": "waited_at_least", "seconds": 200, "to": "flow"},
                    {"when": "no_agent_logged_in", "calls": 3, "to": "callback"},
                    {"when": "waiting_above", "calls": 5, "to": "flow",
                     "flow_id": uuid::Uuid::now_v7(), "queue_id": spill},
                    {"when": "no_agent_logged_in", "to": "voicemail"},
                    {"when": "no_agent_logged_in", "to": "voicemail",
                     "mailbox_id": uuid::Uuid::now_v7()},
                    {"when": "no_agent_logged_in", "to": "callback",
                     "mailbox_id": uuid::Uuid::now_v7()}
                ],
                "announcements": {"position": true},
                "music_prompt": "no-such-prompt"
            }),
        )
        .await;
    assert_eq!(
        field_errors(&r),
        pairs(&[
            ("name", "invalid_name"),
            ("required_skills[0].min_level", "out_of_range"),
            ("required_skills[1].skill", "duplicate_skill"),
            ("required_skills[2].skill", "invalid_skill"),
            ("required_skills[2].weight", "out_of_range"),
            ("priority", "out_of_range"),
            ("offer_timeout_s", "out_of_range"),
            ("wrap_up.seconds", "out_of_range"),
            ("announcements.every_seconds", "required"),
            ("music_prompt", "unknown_prompt"),
            ("overflow[0].seconds", "required"),
            ("overflow[0].queue_id", "unknown_queue"),
            ("overflow[1].seconds", "after_max_wait"),
            ("overflow[1].flow_id", "required"),
            ("overflow[2].calls", "not_allowed"),
            ("overflow[2].to", "callback_disabled"),
            ("overflow[3].queue_id", "not_allowed"),
            ("overflow[3].flow_id", "unknown_flow"),
            ("overflow[4].mailbox_id", "required"),
            ("overflow[5].mailbox_id", "unknown_mailbox"),
            ("overflow[6].mailbox_id", "not_allowed"),
            ("overflow[6].to", "callback_disabled"),
        ]),
        "{r:?}"
    );
    assert_eq!(audit(&app, &t, &owner).await.len(), before);
    // The offer timeout's bounds are inclusive.
    for (v, ok) in [(4, false), (5, true), (120, true), (121, false)] {
        let r = app
            .patch(
                &queue_path(&t, &spill),
                &owner,
                json!({"offer_timeout_s": v}),
            )
            .await;
        assert_eq!(r.status.is_success(), ok, "{v}: {r:?}");
    }

    // No overflow to itself.
    let r = app
        .patch(
            &queue_path(&t, &spill),
            &owner,
            json!({"overflow": [{"when": "no_agent_logged_in", "to": "queue", "queue_id": spill}]}),
        )
        .await;
    assert_eq!(
        field_errors(&r),
        pairs(&[("overflow[0].queue_id", "self_overflow")])
    );

    // A comfort prompt alone repeats too: it needs `every_seconds`, and
    // `every_seconds` needs something to say.
    let comfort_only = |every: Value| {
        json!({"comfort_prompt": "comfort",
               "announcements": {"position": false, "ewt": false, "every_seconds": every}})
    };
    let r = app
        .patch(&queue_path(&t, &spill), &owner, comfort_only(Value::Null))
        .await;
    assert_eq!(
        field_errors(&r),
        pairs(&[("announcements.every_seconds", "required")])
    );
    let r = app
        .patch(&queue_path(&t, &spill), &owner, comfort_only(json!(30)))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let r = app
        .patch(
            &queue_path(&t, &spill),
            &owner,
            json!({"comfort_prompt": null}),
        )
        .await;
    assert_eq!(
        field_errors(&r),
        pairs(&[("announcements.every_seconds", "nothing_to_announce")])
    );

    // A queue another overflows to cannot go; once unreferenced it can,
    // and then it is no overflow target any more.
    let r = app.delete(&queue_path(&t, &spill), &owner).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{r:?}");
    assert_eq!(r.code(), "queue_in_use");
    let r = app
        .patch(
            &queue_path(&t, &q),
            &owner,
            json!({"overflow": [{"when": "no_agent_logged_in", "to": "flow", "flow_id": flow}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let r = app.delete(&queue_path(&t, &spill), &owner).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    assert_eq!(
        app.get(&queue_path(&t, &spill), &owner).await.status,
        StatusCode::NOT_FOUND
    );
    let r = app
        .patch(
            &queue_path(&t, &q),
            &owner,
            json!({"overflow": [{"when": "no_agent_logged_in", "to": "queue", "queue_id": spill}]}),
        )
        .await;
    assert_eq!(
        field_errors(&r),
        pairs(&[("overflow[0].queue_id", "unknown_queue")])
    );

    // Audit rows with before and after.
    let log = audit(&app, &t, &owner).await;
    assert_eq!(
        actions_on(&log, &q),
        vec!["queue.created", "queue.updated", "queue.updated"]
    );
    assert_eq!(
        actions_on(&log, &spill),
        vec![
            "queue.created",
            "queue.deleted",
            "queue.updated",
            "queue.updated",
            "queue.updated"
        ]
    );
    let created = log
        .iter()
        .find(|e| e["target_id"] == q.as_str() && e["action"] == "queue.created")
        .unwrap();
    assert_eq!(created["after"]["name"], "support");
    let deleted = log.iter().find(|e| e["action"] == "queue.deleted").unwrap();
    assert_eq!(deleted["before"]["name"], "spill");
    assert_eq!(deleted["after"], Value::Null);
}

#[tokio::test]
async fn tenants_are_isolated_and_roles_are_checked() {
    let app = spawn_app().await;
    let (a, owner_a, b, owner_b) = app.two_tenants().await;
    let qa = create_queue(&app, &a, &owner_a, json!({"name": "sales"})).await;

    // Tenant B sees nothing of A's queue and cannot touch it.
    assert_eq!(
        app.get(&queue_path(&b, &qa), &owner_b).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&format!("{}/stats", queue_path(&b, &qa)), &owner_b)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let r = app
        .patch(&queue_path(&b, &qa), &owner_b, json!({"name": "mine"}))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");
    let r = app.delete(&queue_path(&b, &qa), &owner_b).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");
    let r = app.get(&queues_path(&b), &owner_b).await;
    assert_eq!(r.body["items"], json!([]), "{r:?}");
    // Nor through A's path (not a member of A).
    assert_eq!(
        app.get(&queue_path(&a, &qa), &owner_b).await.status,
        StatusCode::NOT_FOUND
    );
    // B cannot overflow to A's queue, nor log an agent in to it.
    let r = app
        .post(
            &queues_path(&b),
            &owner_b,
            json!({"name": "b1", "overflow": [
                {"when": "no_agent_logged_in", "to": "queue", "queue_id": qa}]}),
        )
        .await;
    assert_eq!(
        field_errors(&r),
        pairs(&[("overflow[0].queue_id", "unknown_queue")])
    );
    let r = set_state(
        &app,
        &b,
        &owner_b,
        json!({"state": "available", "queues": [qa]}),
    )
    .await;
    assert_eq!(field_errors(&r), pairs(&[("queues", "unknown_queue")]));
    // A's queue is unchanged.
    let r = app.get(&queue_path(&a, &qa), &owner_a).await;
    assert_eq!(r.body["name"], "sales", "{r:?}");

    // Roles: agents see queues (to log in to them) but do not manage them
    // or read statistics; analysts read; supervisors manage.
    let agent = app.member(&a, &owner_a, "agent@example.com", "agent").await;
    let analyst = app
        .member(&a, &owner_a, "analyst@example.com", "analyst")
        .await;
    let sup = app
        .member(&a, &owner_a, "sup@example.com", "supervisor")
        .await;
    let viewer = app
        .member(&a, &owner_a, "viewer@example.com", "viewer")
        .await;
    let r = app
        .post(&queues_path(&a), &agent, json!({"name": "agents-own"}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    let r = app
        .patch(&queue_path(&a, &qa), &agent, json!({"priority": 5}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    assert_eq!(
        app.delete(&queue_path(&a, &qa), &agent).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get(&queues_path(&a), &agent).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get(&format!("{}/stats", queue_path(&a, &qa)), &agent)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get(&queues_path(&a), &viewer).await.status,
        StatusCode::FORBIDDEN
    );
    let r = app
        .post(&queues_path(&a), &analyst, json!({"name": "x"}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    stats(&app, &a, &analyst, &qa).await;
    create_queue(&app, &a, &sup, json!({"name": "sup-made"})).await;
    let r = app.call(Method::GET, &queues_path(&a), None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
}

#[tokio::test]
async fn agents_log_in_to_queues_and_a_restart_restores_them() {
    let app = spawn_app().await;
    let (t, owner) = app.owner().await;
    let ann = app.member(&t, &owner, "ann@example.com", "agent").await;
    let ben = app.member(&t, &owner, "ben@example.com", "agent").await;
    let ann_id = user_id(&app, &t, &owner, "ann@example.com").await;
    let r = app
        .call(
            Method::PUT,
            &format!("/api/v1/tenants/{t}/agents/{ann_id}/profile"),
            Some(&owner),
            Some(json!({"skills": {"es": 5}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let r = app
        .post(
            &format!("/api/v1/tenants/{t}/reason-codes"),
            &owner,
            json!({"code": "break", "label": "Break"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let es = create_queue(
        &app,
        &t,
        &owner,
        json!({"name": "spanish", "required_skills": [{"skill": "es", "min_level": 3}]}),
    )
    .await;
    let general = create_queue(&app, &t, &owner, json!({"name": "general"})).await;
    assert_eq!(staffing(&stats(&app, &t, &owner, &es).await), (0, 0, 0));

    // Unknown queues are refused; queues go only with a login.
    let r = set_state(
        &app,
        &t,
        &ann,
        json!({"state": "available", "queues": [uuid::Uuid::now_v7()]}),
    )
    .await;
    assert_eq!(field_errors(&r), pairs(&[("queues", "unknown_queue")]));
    let r = set_state(
        &app,
        &t,
        &ann,
        json!({"state": "logged_out", "queues": [es]}),
    )
    .await;
    assert_eq!(field_errors(&r), pairs(&[("queues", "not_allowed")]));

    // Ann has the skill; Ben has none, so he staffs only the general queue.
    let r = set_state(
        &app,
        &t,
        &ann,
        json!({"state": "available", "queues": [es, general]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let r = set_state(
        &app,
        &t,
        &ben,
        json!({"state": "available", "queues": [es, general]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let s = stats(&app, &t, &owner, &es).await;
    assert_eq!(staffing(&s), (1, 1, 0), "{s}");
    // One agent, nobody waiting: a new caller waits one handle time.
    assert_eq!(s["ewt_next_s"], s["aht_s"], "{s}");
    assert_eq!(s["calls"], json!([]));
    assert_eq!(
        staffing(&stats(&app, &t, &owner, &general).await),
        (2, 2, 0)
    );
    let r = set_state(
        &app,
        &t,
        &ann,
        json!({"state": "not_ready", "reason": "break"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(staffing(&stats(&app, &t, &owner, &es).await), (1, 0, 0));

    // A change to the queue applies to the live ACD: without the skill
    // requirement Ben staffs it too.
    let r = app
        .patch(&queue_path(&t, &es), &owner, json!({"required_skills": []}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(staffing(&stats(&app, &t, &owner, &es).await), (2, 1, 0));
    let r = app
        .patch(
            &queue_path(&t, &es),
            &owner,
            json!({"required_skills": [{"skill": "es", "min_level": 3}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(staffing(&stats(&app, &t, &owner, &es).await), (1, 0, 0));

    // After a restart the queues and the logins are back in the ACD.
    let app = app.restart().await;
    let owner = app.token("owner@example.com").await;
    let ann = app.token("ann@example.com").await;
    let ben = app.token("ben@example.com").await;
    assert_eq!(staffing(&stats(&app, &t, &owner, &es).await), (1, 0, 0));
    assert_eq!(
        staffing(&stats(&app, &t, &owner, &general).await),
        (2, 1, 0)
    );
    let r = set_state(&app, &t, &ann, json!({"state": "available"})).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(staffing(&stats(&app, &t, &owner, &es).await), (1, 1, 0));

    // Deleting a queue takes it out of the live ACD and the logins; a
    // queue created afterwards starts unstaffed.
    let r = app.delete(&queue_path(&t, &general), &owner).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    let later = create_queue(&app, &t, &owner, json!({"name": "later"})).await;
    assert_eq!(staffing(&stats(&app, &t, &owner, &later).await), (0, 0, 0));
    // Logged out, the agent leaves the queues; a new login without queues
    // staffs none.
    let r = set_state(&app, &t, &ben, json!({"state": "logged_out"})).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let r = set_state(&app, &t, &ben, json!({"state": "available"})).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let app = app.restart().await;
    let owner = app.token("owner@example.com").await;
    assert_eq!(staffing(&stats(&app, &t, &owner, &es).await), (1, 1, 0));
    assert_eq!(staffing(&stats(&app, &t, &owner, &later).await), (0, 0, 0));
    assert_eq!(
        app.get(&format!("{}/stats", queue_path(&t, &general)), &owner)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn what_a_queue_plays_or_overflows_to_is_not_deleted_from_under_it() {
    let app = spawn_app().await;
    let (t, owner) = app.owner().await;
    upload_prompt(&app, &t, &owner, "jazz").await;
    upload_prompt(&app, &t, &owner, "soothing").await;
    let flow = create_flow(&app, &t, &owner, "after-hours").await;
    let owned_by = create_queue(&app, &t, &owner, json!({"name": "box owner"})).await;
    let r = app
        .post(
            &format!("/api/v1/tenants/{t}/voicemail/boxes"),
            &owner,
            json!({"name": "Support", "owner": {"kind": "queue", "id": owned_by}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let mailbox = r.body["id"].as_str().unwrap().to_owned();
    let q = create_queue(
        &app,
        &t,
        &owner,
        json!({"name": "support", "music_prompt": "jazz", "comfort_prompt": "soothing",
               "announcements": {"every_seconds": 30},
               "overflow": [
                   {"when": "waited_at_least", "seconds": 300, "to": "flow", "flow_id": flow},
                   {"when": "no_agent_logged_in", "to": "voicemail", "mailbox_id": mailbox}]}),
    )
    .await;
    let prompt_id = |name: &str| {
        let app = &app;
        let (t, owner, name) = (t.clone(), owner.clone(), name.to_owned());
        async move {
            let r = app
                .get(&format!("/api/v1/tenants/{t}/prompts"), &owner)
                .await;
            r.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name.as_str())
                .unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let used = [
        format!("/api/v1/tenants/{t}/prompts/{}", prompt_id("jazz").await),
        format!(
            "/api/v1/tenants/{t}/prompts/{}",
            prompt_id("soothing").await
        ),
        format!("/api/v1/tenants/{t}/flows/{flow}"),
        format!("/api/v1/tenants/{t}/voicemail/boxes/{mailbox}"),
    ];
    for path in &used {
        let r = app.delete(path, &owner).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{path}: {r:?}");
        assert_eq!(r.code(), "in_use", "{path}");
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("support"),
            "names the queue: {r:?}"
        );
    }
    // Once the queue lets go of them, they go.
    let r = app
        .patch(
            &queue_path(&t, &q),
            &owner,
            json!({"music_prompt": null, "comfort_prompt": null, "overflow": [],
                   "announcements": {}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    for path in &used {
        let r = app.delete(path, &owner).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{path}: {r:?}");
    }
}

#[tokio::test]
async fn acd_settings_have_defaults_are_validated_audited_and_kept() {
    let app = spawn_app().await;
    let (t, owner) = app.owner().await;
    let agent = app.member(&t, &owner, "agent@example.com", "agent").await;
    let path = format!("/api/v1/tenants/{t}/acd-settings");
    let r = app.get(&path, &owner).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        r.body,
        json!({"max_missed_offers": 3, "inbound_first": true, "keep_available_per_queue": 0,
               "outbound_wrap_up_seconds": 60, "outbound_disposition_required": true})
    );
    let wanted = json!({"max_missed_offers": 1, "inbound_first": false,
        "keep_available_per_queue": 2, "outbound_wrap_up_seconds": 15,
        "outbound_disposition_required": false});
    // Agents read nothing and change nothing.
    assert_eq!(app.get(&path, &agent).await.status, StatusCode::FORBIDDEN);
    let r = app
        .call(Method::PUT, &path, Some(&agent), Some(wanted.clone()))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Every field out of range at once; a missing or unknown field is refused.
    let r = app
        .call(
            Method::PUT,
            &path,
            Some(&owner),
            Some(json!({"max_missed_offers": 21, "inbound_first": true,
                "keep_available_per_queue": -1, "outbound_wrap_up_seconds": 3601,
                "outbound_disposition_required": true})),
        )
        .await;
    assert_eq!(
        field_errors(&r),
        pairs(&[
            ("max_missed_offers", "out_of_range"),
            ("keep_available_per_queue", "out_of_range"),
            ("outbound_wrap_up_seconds", "out_of_range"),
        ])
    );
    let r = app
        .call(
            Method::PUT,
            &path,
            Some(&owner),
            Some(json!({"max_missed_offers": 1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");
    let r = app
        .call(Method::PUT, &path, Some(&owner), Some(wanted.clone()))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(app.get(&path, &owner).await.body, wanted);
    let log = audit(&app, &t, &owner).await;
    let entry = log
        .iter()
        .find(|e| e["action"] == "acd_settings.updated")
        .expect("audited");
    assert_eq!(entry["before"]["max_missed_offers"], 3, "{entry}");
    assert_eq!(entry["after"], wanted, "{entry}");
    // Kept across a restart.
    let app = app.restart().await;
    assert_eq!(app.get(&path, &owner).await.body, wanted);
}
