//! Voicemail over HTTP: boxes (CRUD, every invalid field at once, owners
//! and greetings that must exist in the tenant, 409 on a taken name or
//! owner, a write-only secret), messages (newest first with box and heard
//! filters and cursor pages, the WAV whole and in ranges, heard marks,
//! deletion with the file), a box's deletion taking its message files,
//! roles (agents reach only their own box), tenant isolation and the audit
//! trail. Messages are stored the way the live call path stores them: a
//! WAV written by the real recorder into the app's voicemail store, then
//! `add_voicemail_message`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Signed, field_errors, next_signed, pairs, signed_endpoint};
use omnivox_domain::TenantId;
use omnivox_media::record::{LocalStore, Recorder, RecorderConfig, RecordingKey, RecordingStore};
use omnivox_media::{Channel, FRAME_SAMPLES, Frame};
use omnivox_store::voicemail::NewVoicemailMessage;
use omnivox_store::{Scoped, Store};
use omnivox_testkit::{Resp, TestApp, read, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use uuid::Uuid;

const SECRET: &str = "s3cret-hmac-key-never-shown";

fn boxes(t: &str) -> String {
    format!("/api/v1/tenants/{t}/voicemail/boxes")
}

fn messages(t: &str) -> String {
    format!("/api/v1/tenants/{t}/voicemail/messages")
}

async fn user_id(app: &TestApp, token: &str) -> String {
    let me = app.get("/api/v1/me", token).await;
    assert_eq!(me.status, StatusCode::OK, "{me:?}");
    me.body["user"]["id"].as_str().unwrap().to_owned()
}

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

async fn create_queue(app: &TestApp, t: &str, token: &str, name: &str) -> String {
    let r = app
        .post(
            &format!("/api/v1/tenants/{t}/queues"),
            token,
            json!({ "name": name }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    r.body["id"].as_str().unwrap().to_owned()
}

async fn create_flow(app: &TestApp, t: &str, token: &str, name: &str) -> String {
    let r = app
        .post(
            &format!("/api/v1/tenants/{t}/flows"),
            token,
            json!({
                "name": name,
                "definition": {"start": "bye", "nodes": [{"id": "bye", "type": "hangup"}]}
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    r.body["id"].as_str().unwrap().to_owned()
}

async fn create_box(app: &TestApp, t: &str, token: &str, body: Value) -> String {
    let r = app.post(&boxes(t), token, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    r.body["id"].as_str().unwrap().to_owned()
}

fn ids(r: &Resp) -> Vec<String> {
    r.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {r:?}"))
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Audit entries of `action` in the tenant (newest first).
async fn audit(app: &TestApp, t: &str, token: &str, action: &str) -> Vec<Value> {
    let r = app
        .get(
            &format!("/api/v1/tenants/{t}/audit?action={action}&limit=200"),
            token,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    r.body["items"].as_array().unwrap().clone()
}

/// The app's voicemail store (where the live path writes messages).
fn store_of(app: &TestApp) -> LocalStore {
    LocalStore::new(omnivox_api::state::voicemail_dir(&app.config)).unwrap()
}

fn tone(n: usize) -> Frame {
    let mut f = [0i16; FRAME_SAMPLES];
    for (i, s) in f.iter_mut().enumerate() {
        let t = (n * FRAME_SAMPLES + i) as f32 / 8000.0;
        *s = (6000.0 * (std::f32::consts::TAU * 440.0 * t).sin()) as i16;
    }
    f
}

/// A stored message: the WAV file and the row pointing at it.
struct Msg {
    id: String,
    path: PathBuf,
}

/// Leaves a 1 s message from `caller` in `box_id`: the real recorder writes
/// the WAV under `<tenant>/<call>_<message>`, then the row is added.
async fn leave_message(app: &TestApp, t: &str, box_id: &str, caller: &str) -> Msg {
    let local = store_of(app);
    let (call, message) = (Uuid::now_v7(), Uuid::now_v7());
    let key = RecordingKey::new(t, format!("{call}_{message}")).unwrap();
    let shared: Arc<dyn RecordingStore> = Arc::new(local.clone());
    let mut r = Recorder::start(shared, key.clone(), RecorderConfig::default()).unwrap();
    for n in 0..50 {
        r.push(Channel::Customer, &tone(n)).unwrap();
    }
    let meta = r.finish().unwrap();
    let db = Store::connect(&app.config.database).await.unwrap();
    let row = Scoped::new(db.writer(), TenantId(t.parse().unwrap()))
        .add_voicemail_message(NewVoicemailMessage {
            id: message,
            box_id: box_id.parse().unwrap(),
            call_id: call,
            caller: caller.into(),
            called: "+18005550100".into(),
            duration_ms: i64::try_from(meta.duration.as_millis()).unwrap(),
            size_bytes: i64::try_from(meta.size_bytes).unwrap(),
            sha256: meta.sha256_hex(),
            storage_key: format!("{t}/{call}_{message}"),
        })
        .await
        .unwrap();
    db.close().await;
    assert_eq!(row.id, message);
    Msg {
        id: row.id.to_string(),
        path: local.path_for(&key),
    }
}

async fn audio(
    app: &TestApp,
    t: &str,
    token: &str,
    id: &str,
    range: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .client
        .get(app.url(&format!("{}/{id}/audio", messages(t))))
        .bearer_auth(token);
    if let Some(r) = range {
        req = req.header("range", r);
    }
    req.send().await.unwrap()
}

async fn put_heard(app: &TestApp, t: &str, token: &str, id: &str, heard: bool) -> Resp {
    app.call(
        reqwest::Method::PUT,
        &format!("{}/{id}/heard", messages(t)),
        Some(token),
        Some(json!({ "heard": heard })),
    )
    .await
}

#[tokio::test]
async fn boxes_are_validated_unique_audited_and_never_show_the_secret() {
    let app = spawn_app().await;
    let (t, owner, t2, owner2) = app.two_tenants().await;
    let agent = app.member(&t, &owner, "agent@example.com", "agent").await;
    let analyst = app.member(&t, &owner, "an@example.com", "analyst").await;
    let viewer = app.member(&t, &owner, "view@example.com", "viewer").await;
    let sup = app
        .member(&t, &owner, "sup@example.com", "supervisor")
        .await;
    let agent_id = user_id(&app, &agent).await;
    let analyst_id = user_id(&app, &analyst).await;
    let queue = create_queue(&app, &t, &owner, "support").await;
    let flow = create_flow(&app, &t, &owner, "main").await;
    let queue_b = create_queue(&app, &t2, &owner2, "theirs").await;
    upload_prompt(&app, &t, &owner, "greeting").await;

    // Every invalid field at once.
    let r = app
        .post(
            &boxes(&t),
            &owner,
            json!({
                "name": " padded",
                "owner": {"kind": "team", "id": queue},
                "greeting_prompt": "nope",
                "max_message_seconds": 5,
                "notify_url": "ftp://crm.example.com/hook",
                "notify_secret": "short"
            }),
        )
        .await;
    assert_eq!(
        field_errors(&r),
        pairs(&[
            ("name", "invalid_name"),
            ("owner.kind", "invalid_choice"),
            ("greeting_prompt", "unknown_prompt"),
            ("max_message_seconds", "out_of_range"),
            ("notify_url", "invalid_url"),
            ("notify_secret", "invalid_length"),
        ])
    );
    // Owners must exist in this tenant; an agent box needs a member who
    // works as an agent; a name is no UUID; URLs are bounded.
    let long_url = format!("https://example.com/{}", "a".repeat(2048));
    for (owner_body, extra, expect) in [
        (
            json!({"kind": "agent", "id": Uuid::now_v7()}),
            json!({}),
            ("owner.id", "unknown_agent"),
        ),
        (
            json!({"kind": "agent", "id": analyst_id}),
            json!({}),
            ("owner.id", "not_an_agent"),
        ),
        (
            json!({"kind": "queue", "id": queue_b}),
            json!({}),
            ("owner.id", "unknown_queue"),
        ),
        (
            json!({"kind": "flow", "id": Uuid::now_v7()}),
            json!({}),
            ("owner.id", "unknown_flow"),
        ),
        (
            json!({"kind": "queue", "id": queue}),
            json!({"name": Uuid::now_v7()}),
            ("name", "invalid_name"),
        ),
        (
            json!({"kind": "queue", "id": queue}),
            json!({"notify_url": long_url, "notify_secret": "a-long-enough-secret"}),
            ("notify_url", "too_long"),
        ),
        (
            json!({"kind": "queue", "id": queue}),
            json!({"notify_url": "https://crm.example.com/hook"}),
            ("notify_secret", "required"),
        ),
        (
            json!({"kind": "queue", "id": queue}),
            json!({"max_message_seconds": 601}),
            ("max_message_seconds", "out_of_range"),
        ),
        (
            json!({"kind": "queue", "id": queue}),
            json!({"notify_secret": "x".repeat(257)}),
            ("notify_secret", "invalid_length"),
        ),
    ] {
        let mut body = json!({"name": "box", "owner": owner_body});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = app.post(&boxes(&t), &owner, body).await;
        assert_eq!(field_errors(&r), pairs(&[expect]), "{r:?}");
    }
    // Unknown fields and missing ones are refused in the error shape.
    let r = app
        .post(
            &boxes(&t),
            &owner,
            json!({"name": "x", "owner": {"kind": "queue", "id": queue}, "pin": 1}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "unknown_field")
    );

    // Create with everything: the secret is write-only.
    let created = app
        .post(
            &boxes(&t),
            &owner,
            json!({
                "name": "Sales desk",
                "owner": {"kind": "agent", "id": agent_id},
                "greeting_prompt": "greeting",
                "notify_url": "https://crm.example.com/voicemail",
                "notify_secret": SECRET
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let b = &created.body;
    let sales = b["id"].as_str().unwrap().to_owned();
    assert_eq!(b["name"], "Sales desk");
    assert_eq!(b["owner"], json!({"kind": "agent", "id": agent_id}));
    assert_eq!(b["greeting_prompt"], "greeting");
    assert_eq!(b["max_message_seconds"], 120);
    assert_eq!(b["notify_url"], "https://crm.example.com/voicemail");
    assert_eq!(b["notify_secret_set"], true);
    assert!(b.get("notify_secret").is_none());
    let queue_box = create_box(
        &app,
        &t,
        &sup,
        json!({"name": "Support", "owner": {"kind": "queue", "id": queue}, "max_message_seconds": 600}),
    )
    .await;
    let flow_box = create_box(
        &app,
        &t,
        &owner,
        json!({"name": "After hours", "owner": {"kind": "flow", "id": flow}}),
    )
    .await;
    // The other tenant may use the same name for its own queue.
    create_box(
        &app,
        &t2,
        &owner2,
        json!({"name": "Sales desk", "owner": {"kind": "queue", "id": queue_b}}),
    )
    .await;

    // A taken name or owner is 409.
    let r = app
        .post(&boxes(&t), &owner, json!({"name": "Sales desk", "owner": {"kind": "flow", "id": create_flow(&app, &t, &owner, "f2").await}}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "voicemail_box_name_taken"),
        "{r:?}"
    );
    let r = app
        .post(
            &boxes(&t),
            &owner,
            json!({"name": "Another", "owner": {"kind": "queue", "id": queue}}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "voicemail_box_owner_taken"),
        "{r:?}"
    );

    // Read: one, and the list in creation order with cursor pages.
    let got = app.get(&format!("{}/{sales}", boxes(&t)), &sup).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, created.body);
    let first = app.get(&format!("{}?limit=2", boxes(&t)), &owner).await;
    assert_eq!(ids(&first), [sales.as_str(), queue_box.as_str()]);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = app
        .get(&format!("{}?limit=2&cursor={cursor}", boxes(&t)), &owner)
        .await;
    assert_eq!(ids(&second), [flow_box.as_str()]);
    assert!(second.body["next_cursor"].is_null());

    // Patch: named fields change, null clears, the rest stays; checked as a
    // whole; a taken name is 409.
    let path = format!("{}/{sales}", boxes(&t));
    let r = app
        .patch(
            &path,
            &owner,
            json!({"name": "Sales", "notify_url": null, "max_message_seconds": 300}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["name"], "Sales");
    assert!(r.body["notify_url"].is_null());
    assert_eq!(r.body["max_message_seconds"], 300);
    assert_eq!(r.body["notify_secret_set"], true);
    assert_eq!(r.body["greeting_prompt"], "greeting");
    let r = app
        .patch(
            &path,
            &owner,
            json!({"greeting_prompt": "missing", "max_message_seconds": 9}),
        )
        .await;
    assert_eq!(
        field_errors(&r),
        pairs(&[
            ("greeting_prompt", "unknown_prompt"),
            ("max_message_seconds", "out_of_range")
        ])
    );
    let r = app.patch(&path, &owner, json!({"name": "Support"})).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "voicemail_box_name_taken")
    );
    let r = app
        .patch(
            &path,
            &owner,
            json!({"owner": {"kind": "flow", "id": flow}}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::CONFLICT, "voicemail_box_owner_taken")
    );
    let r = app
        .patch(&path, &owner, json!({"notify_secret": null}))
        .await;
    assert_eq!(r.body["notify_secret_set"], false, "{r:?}");
    let r = app
        .patch(&path, &owner, json!({"notify_secret": SECRET}))
        .await;
    assert_eq!(r.body["notify_secret_set"], true, "{r:?}");

    // Roles: viewers, analysts and agents see no boxes; supervisors manage
    // them; unknown and other tenants' ids are 404.
    for token in [&viewer, &analyst, &agent] {
        let r = app.get(&boxes(&t), token).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{r:?}"
        );
        let r = app.get(&path, token).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = app.delete(&path, token).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
    let r = app
        .post(
            &boxes(&t),
            &agent,
            json!({"name": "mine", "owner": {"kind": "agent", "id": agent_id}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .patch(
            &format!("{}/{queue_box}", boxes(&t)),
            &sup,
            json!({"max_message_seconds": 60}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let missing = format!("{}/{}", boxes(&t), Uuid::now_v7());
    assert_eq!(
        app.get(&missing, &owner).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete(&missing, &owner).await.status,
        StatusCode::NOT_FOUND
    );
    let theirs = format!("{}/{sales}", boxes(&t2));
    assert_eq!(
        app.get(&theirs, &owner2).await.status,
        StatusCode::NOT_FOUND
    );
    let r = app.patch(&theirs, &owner2, json!({"name": "stolen"})).await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
    assert_eq!(
        app.delete(&theirs, &owner2).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(ids(&app.get(&boxes(&t2), &owner2).await).len(), 1);

    // Delete: 204, then gone.
    assert_eq!(
        app.delete(&format!("{}/{flow_box}", boxes(&t)), &sup)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&format!("{}/{flow_box}", boxes(&t)), &owner)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Audited, with the secret nowhere in the trail.
    let made = audit(&app, &t, &owner, "voicemail.box_created").await;
    assert_eq!(made.len(), 3);
    let upd = audit(&app, &t, &owner, "voicemail.box_updated").await;
    assert_eq!(upd.len(), 4);
    let sales_first = upd.last().unwrap();
    assert_eq!(sales_first["before"]["name"], "Sales desk");
    assert_eq!(sales_first["after"]["name"], "Sales");
    let del = audit(&app, &t, &owner, "voicemail.box_deleted").await;
    assert_eq!(del.len(), 1);
    assert_eq!(del[0]["target_id"], json!(flow_box));
    assert_eq!(del[0]["before"]["messages_deleted"], 0);
    let everything = app
        .get(&format!("/api/v1/tenants/{t}/audit?limit=200"), &owner)
        .await;
    assert!(!everything.body.to_string().contains(SECRET));
    // Nor in any box response.
    for r in [
        app.get(&boxes(&t), &owner).await,
        app.get(&path, &owner).await,
    ] {
        assert!(!r.body.to_string().contains(SECRET), "{r:?}");
    }
}

#[tokio::test]
async fn messages_list_filter_page_play_mark_and_delete() {
    let app = spawn_app().await;
    let (t, owner) = app.owner().await;
    let me = user_id(&app, &owner).await;
    let queue = create_queue(&app, &t, &owner, "support").await;
    let flow = create_flow(&app, &t, &owner, "main").await;
    let qbox = create_box(
        &app,
        &t,
        &owner,
        json!({"name": "Support", "owner": {"kind": "queue", "id": queue}}),
    )
    .await;
    let fbox = create_box(
        &app,
        &t,
        &owner,
        json!({"name": "Main", "owner": {"kind": "flow", "id": flow}}),
    )
    .await;
    let m1 = leave_message(&app, &t, &qbox, "+14155550001").await;
    let m2 = leave_message(&app, &t, &fbox, "+14155550002").await;
    let m3 = leave_message(&app, &t, &qbox, "+14155550003").await;
    let m4 = leave_message(&app, &t, &qbox, "+14155550004").await;

    // Newest first; metadata as stored.
    let all = app.get(&messages(&t), &owner).await;
    assert_eq!(all.status, StatusCode::OK, "{all:?}");
    assert_eq!(
        ids(&all),
        [
            m4.id.as_str(),
            m3.id.as_str(),
            m2.id.as_str(),
            m1.id.as_str()
        ]
    );
    assert_eq!(
        all.body["items"][0]["notification"],
        json!({"state": "none", "attempts": 0, "next_at": null, "last_error": null}),
        "a box without a URL notifies nobody"
    );
    let file = std::fs::read(&m1.path).unwrap();
    let one = app
        .get(&format!("{}/{}", messages(&t), m1.id), &owner)
        .await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.body["box_id"], json!(qbox));
    assert_eq!(one.body["caller"], "+14155550001");
    assert_eq!(one.body["called"], "+18005550100");
    assert_eq!(one.body["duration_ms"], 1000);
    assert_eq!(one.body["size_bytes"], file.len());
    assert_eq!(one.body["heard"], false);
    assert!(one.body["heard_at"].is_null());
    assert!(one.body.get("storage_key").is_none());
    let sha: String = {
        use sha2::Digest;
        sha2::Sha256::digest(&file)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    assert_eq!(one.body["sha256"], json!(sha));

    // Box filter and cursor pages.
    let q = app
        .get(&format!("{}?box_id={qbox}&limit=2", messages(&t)), &owner)
        .await;
    assert_eq!(ids(&q), [m4.id.as_str(), m3.id.as_str()]);
    let cursor = q.body["next_cursor"].as_str().unwrap();
    let q2 = app
        .get(
            &format!("{}?box_id={qbox}&limit=2&cursor={cursor}", messages(&t)),
            &owner,
        )
        .await;
    assert_eq!(ids(&q2), [m1.id.as_str()]);
    assert!(q2.body["next_cursor"].is_null());
    let r = app
        .get(
            &format!("{}?box_id={}", messages(&t), Uuid::now_v7()),
            &owner,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .get(&format!("{}?cursor=!!", messages(&t)), &owner)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "invalid_cursor")
    );
    let r = app
        .get(&format!("{}?heard=maybe", messages(&t)), &owner)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "invalid_query")
    );

    // The audio, whole and in ranges; a listen from the start is audited
    // once per request, a seek is not.
    let whole = audio(&app, &t, &owner, m1.id.as_str(), None).await;
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(whole.headers()["content-type"], "audio/wav");
    assert_eq!(whole.headers()["accept-ranges"], "bytes");
    assert_eq!(whole.bytes().await.unwrap().as_ref(), file.as_slice());
    assert_eq!(audit(&app, &t, &owner, "voicemail.listened").await.len(), 1);
    let n = file.len();
    for (range, from, to, listened) in [
        ("bytes=0-99", 0, 100, 2),
        ("bytes=100-", 100, n, 2),
        ("bytes=-50", n - 50, n, 2),
    ] {
        let r = audio(&app, &t, &owner, m1.id.as_str(), Some(range)).await;
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            r.headers()["content-range"],
            format!("bytes {from}-{}/{n}", to - 1).as_str(),
            "{range}"
        );
        assert_eq!(
            r.bytes().await.unwrap().as_ref(),
            &file[from..to],
            "{range}"
        );
        assert_eq!(
            audit(&app, &t, &owner, "voicemail.listened").await.len(),
            listened,
            "{range}"
        );
    }
    let bad = audio(
        &app,
        &t,
        &owner,
        m1.id.as_str(),
        Some(&format!("bytes={n}-")),
    )
    .await;
    assert_eq!(bad.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        bad.headers()["content-range"],
        format!("bytes */{n}").as_str()
    );
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["error"]["code"], "range_not_satisfiable");
    let listened = audit(&app, &t, &owner, "voicemail.listened").await;
    assert_eq!(listened.len(), 2);
    assert_eq!(listened[0]["target_type"], "voicemail_message");
    assert_eq!(listened[0]["target_id"], json!(m1.id));
    assert_eq!(listened[0]["actor_id"], json!(me));

    // Heard: by whom and when; the heard filter; new again.
    let r = put_heard(&app, &t, &owner, m3.id.as_str(), true).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["heard"], true);
    assert_eq!(r.body["heard_by"], json!(me));
    let heard_at = r.body["heard_at"].clone();
    assert!(heard_at.is_string());
    let again = put_heard(&app, &t, &owner, m3.id.as_str(), true).await;
    assert_eq!(again.body["heard_at"], heard_at, "the first hearing counts");
    put_heard(&app, &t, &owner, m2.id.as_str(), true).await;
    let heard = app
        .get(&format!("{}?heard=true", messages(&t)), &owner)
        .await;
    assert_eq!(ids(&heard), [m3.id.as_str(), m2.id.as_str()]);
    let new = app
        .get(
            &format!("{}?heard=false&box_id={qbox}", messages(&t)),
            &owner,
        )
        .await;
    assert_eq!(ids(&new), [m4.id.as_str(), m1.id.as_str()]);
    let r = put_heard(&app, &t, &owner, m3.id.as_str(), false).await;
    assert_eq!(r.body["heard"], false);
    assert!(r.body["heard_at"].is_null() && r.body["heard_by"].is_null());
    let r = app
        .call(
            reqwest::Method::PUT,
            &format!("{}/{}/heard", messages(&t), m3.id),
            Some(&owner),
            Some(json!({"heard": "yes"})),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "invalid_body")
    );
    let marks = audit(&app, &t, &owner, "voicemail.heard").await;
    assert_eq!(marks.len(), 4);
    assert_eq!(marks[0]["before"]["heard"], true);
    assert_eq!(marks[0]["after"]["heard"], false);

    // Delete: the row, then the file; audited.
    let page = app.get(&format!("{}?limit=1", messages(&t)), &owner).await;
    assert_eq!(ids(&page), [m4.id.as_str()]);
    let after_m4 = page.body["next_cursor"].as_str().unwrap().to_owned();
    assert!(m4.path.exists());
    let r = app
        .delete(&format!("{}/{}", messages(&t), m4.id), &owner)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    assert!(!m4.path.exists());
    assert!(m1.path.exists());
    for r in [
        app.get(&format!("{}/{}", messages(&t), m4.id), &owner)
            .await,
        app.delete(&format!("{}/{}", messages(&t), m4.id), &owner)
            .await,
        put_heard(&app, &t, &owner, m4.id.as_str(), true).await,
    ] {
        assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
    }
    assert_eq!(
        audio(&app, &t, &owner, m4.id.as_str(), None).await.status(),
        StatusCode::NOT_FOUND
    );
    // A cursor naming the deleted message is refused, not a first page.
    let r = app
        .get(&format!("{}?cursor={after_m4}", messages(&t)), &owner)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "invalid_cursor")
    );
    assert_eq!(
        ids(&app.get(&messages(&t), &owner).await),
        [m3.id.as_str(), m2.id.as_str(), m1.id.as_str()]
    );
    let deleted = audit(&app, &t, &owner, "voicemail.deleted").await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["target_id"], json!(m4.id));
    assert_eq!(deleted[0]["before"]["caller"], "+14155550004");
}

#[tokio::test]
async fn agents_reach_only_their_own_box_and_other_tenants_nothing() {
    let app = spawn_app().await;
    let (t, owner, t2, owner2) = app.two_tenants().await;
    let agent = app.member(&t, &owner, "agent@example.com", "agent").await;
    let boxless = app.member(&t, &owner, "agent2@example.com", "agent").await;
    let analyst = app.member(&t, &owner, "an@example.com", "analyst").await;
    let viewer = app.member(&t, &owner, "view@example.com", "viewer").await;
    let sup = app
        .member(&t, &owner, "sup@example.com", "supervisor")
        .await;
    let agent_id = user_id(&app, &agent).await;
    let queue = create_queue(&app, &t, &owner, "support").await;
    let mine = create_box(
        &app,
        &t,
        &owner,
        json!({"name": "Agent", "owner": {"kind": "agent", "id": agent_id}}),
    )
    .await;
    let qbox = create_box(
        &app,
        &t,
        &owner,
        json!({"name": "Support", "owner": {"kind": "queue", "id": queue}}),
    )
    .await;
    let own1 = leave_message(&app, &t, &mine, "+14155550001").await;
    let other = leave_message(&app, &t, &qbox, "+14155550002").await;
    let own2 = leave_message(&app, &t, &mine, "+14155550003").await;
    let msg = |id: &str| format!("{}/{id}", messages(&t));

    // The agent: their box's messages by default, and only those.
    let r = app.get(&messages(&t), &agent).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(ids(&r), [own2.id.as_str(), own1.id.as_str()]);
    let r = app
        .get(
            &format!("{}?box_id={mine}&heard=false", messages(&t)),
            &agent,
        )
        .await;
    assert_eq!(ids(&r), [own2.id.as_str(), own1.id.as_str()]);
    let r = app
        .get(&format!("{}?box_id={qbox}", messages(&t)), &agent)
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
    assert_eq!(
        app.get(&msg(own1.id.as_str()), &agent).await.status,
        StatusCode::OK
    );
    let a = audio(&app, &t, &agent, own1.id.as_str(), Some("bytes=0-9")).await;
    assert_eq!(a.status(), StatusCode::PARTIAL_CONTENT);
    let r = put_heard(&app, &t, &agent, own1.id.as_str(), true).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["heard_by"], json!(agent_id));
    // Another box's message is not there for them.
    assert_eq!(
        app.get(&msg(other.id.as_str()), &agent).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        audio(&app, &t, &agent, other.id.as_str(), None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        put_heard(&app, &t, &agent, other.id.as_str(), true)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete(&msg(other.id.as_str()), &agent).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(other.path.exists());
    // They delete their own.
    assert_eq!(
        app.delete(&msg(own2.id.as_str()), &agent).await.status,
        StatusCode::NO_CONTENT
    );
    assert!(!own2.path.exists());

    // An agent without a box has no messages and reaches none.
    let r = app.get(&messages(&t), &boxless).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(ids(&r).is_empty());
    assert!(r.body["next_cursor"].is_null());
    for id in [own1.id.as_str(), other.id.as_str()] {
        assert_eq!(
            app.get(&msg(id), &boxless).await.status,
            StatusCode::NOT_FOUND
        );
    }

    // Analysts and viewers: 403 naming the permission.
    for token in [&analyst, &viewer] {
        let r = app.get(&messages(&t), token).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{r:?}"
        );
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("voicemail_read")
        );
        assert_eq!(
            app.get(&msg(own1.id.as_str()), token).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            audio(&app, &t, token, own1.id.as_str(), None)
                .await
                .status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            put_heard(&app, &t, token, own1.id.as_str(), true)
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        let r = app.delete(&msg(own1.id.as_str()), token).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("voicemail_manage")
        );
    }

    // Supervisors reach every box.
    let r = app.get(&messages(&t), &sup).await;
    assert_eq!(ids(&r), [other.id.as_str(), own1.id.as_str()]);
    assert_eq!(
        audio(&app, &t, &sup, other.id.as_str(), None)
            .await
            .status(),
        StatusCode::OK
    );

    // The other tenant: nothing of ours, by any path.
    let r = app.get(&messages(&t2), &owner2).await;
    assert!(ids(&r).is_empty());
    let r = app
        .get(&format!("{}?box_id={mine}", messages(&t2)), &owner2)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let theirs = |id: &str| format!("{}/{id}", messages(&t2));
    assert_eq!(
        app.get(&theirs(own1.id.as_str()), &owner2).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        audio(&app, &t2, &owner2, own1.id.as_str(), None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        put_heard(&app, &t2, &owner2, own1.id.as_str(), false)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete(&theirs(own1.id.as_str()), &owner2).await.status,
        StatusCode::NOT_FOUND
    );
    // Nor through our tenant's path, which they are not a member of.
    assert_eq!(
        app.get(&msg(own1.id.as_str()), &owner2).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(own1.path.exists());
    let still = app.get(&msg(own1.id.as_str()), &owner).await;
    assert_eq!(still.body["heard"], true);
}

#[tokio::test]
async fn deleting_a_box_removes_its_messages_and_their_files() {
    let app = spawn_app().await;
    let (t, owner) = app.owner().await;
    let q1 = create_queue(&app, &t, &owner, "one").await;
    let q2 = create_queue(&app, &t, &owner, "two").await;
    let b1 = create_box(
        &app,
        &t,
        &owner,
        json!({"name": "One", "owner": {"kind": "queue", "id": q1}}),
    )
    .await;
    let b2 = create_box(
        &app,
        &t,
        &owner,
        json!({"name": "Two", "owner": {"kind": "queue", "id": q2}}),
    )
    .await;
    let gone1 = leave_message(&app, &t, &b1, "+14155550001").await;
    let gone2 = leave_message(&app, &t, &b1, "+14155550002").await;
    let kept = leave_message(&app, &t, &b2, "+14155550003").await;
    assert!(gone1.path.exists() && gone2.path.exists());

    let r = app.delete(&format!("{}/{b1}", boxes(&t)), &owner).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    assert!(!gone1.path.exists());
    assert!(!gone2.path.exists());
    assert!(kept.path.exists());
    for m in [&gone1, &gone2] {
        let r = app.get(&format!("{}/{}", messages(&t), m.id), &owner).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
    let left = app.get(&messages(&t), &owner).await;
    assert_eq!(ids(&left), [kept.id.as_str()]);
    let del = audit(&app, &t, &owner, "voicemail.box_deleted").await;
    assert_eq!(del.len(), 1);
    assert_eq!(del[0]["before"]["name"], "One");
    assert_eq!(del[0]["before"]["messages_deleted"], 2);
    // The owner may have a box again.
    create_box(
        &app,
        &t,
        &owner,
        json!({"name": "One again", "owner": {"kind": "queue", "id": q1}}),
    )
    .await;
}

#[tokio::test]
async fn a_queue_or_flow_that_owns_a_box_is_not_deleted_from_under_it() {
    let app = spawn_app().await;
    let (t, owner) = app.owner().await;
    let agent = app.member(&t, &owner, "agent@example.com", "agent").await;
    let agent_id = user_id(&app, &agent).await;
    let queue = create_queue(&app, &t, &owner, "support").await;
    let flow = create_flow(&app, &t, &owner, "main").await;
    let qbox = create_box(
        &app,
        &t,
        &owner,
        json!({"name": "Support box", "owner": {"kind": "queue", "id": queue}}),
    )
    .await;
    let fbox = create_box(
        &app,
        &t,
        &owner,
        json!({"name": "Main box", "owner": {"kind": "flow", "id": flow}}),
    )
    .await;
    let abox = create_box(
        &app,
        &t,
        &owner,
        json!({"name": "Agent box", "owner": {"kind": "agent", "id": agent_id}}),
    )
    .await;
    let qmsg = leave_message(&app, &t, &qbox, "+14155550001").await;
    let amsg = leave_message(&app, &t, &abox, "+14155550002").await;

    // A queue or a flow with a box: 409 `in_use` naming the box; nothing
    // is deleted.
    let queue_path = format!("/api/v1/tenants/{t}/queues/{queue}");
    let flow_path = format!("/api/v1/tenants/{t}/flows/{flow}");
    for (path, name) in [(&queue_path, "Support box"), (&flow_path, "Main box")] {
        let r = app.delete(path, &owner).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::CONFLICT, "in_use"),
            "{r:?}"
        );
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(name), "{message}");
        assert_eq!(app.get(path, &owner).await.status, StatusCode::OK);
    }
    assert!(qmsg.path.exists());
    let r = app
        .get(&format!("{}/{}", messages(&t), qmsg.id), &owner)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");

    // Once the box is gone (with its messages), the owner can go.
    for (bx, path) in [(&qbox, &queue_path), (&fbox, &flow_path)] {
        let r = app.delete(&format!("{}/{bx}", boxes(&t)), &owner).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
        let r = app.delete(path, &owner).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
        assert_eq!(app.get(path, &owner).await.status, StatusCode::NOT_FOUND);
    }
    assert!(!qmsg.path.exists());

    // A member who leaves is removed; their box and its messages stay,
    // reachable by supervisors, and the box can still be changed.
    let r = app
        .delete(&format!("/api/v1/tenants/{t}/members/{agent_id}"), &owner)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    let removed = audit(&app, &t, &owner, "member.removed").await;
    assert_eq!(removed.len(), 1);
    assert_eq!(
        removed[0]["before"]["voicemail_box_kept"]["id"],
        json!(abox)
    );
    let r = app.get(&format!("{}/{abox}", boxes(&t)), &owner).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["owner"]["id"], json!(agent_id));
    let list = app
        .get(&format!("{}?box_id={abox}", messages(&t)), &owner)
        .await;
    assert_eq!(ids(&list), [amsg.id.as_str()]);
    let wav = audio(&app, &t, &owner, &amsg.id, None).await;
    assert_eq!(wav.status(), StatusCode::OK);
    let r = app
        .patch(
            &format!("{}/{abox}", boxes(&t)),
            &owner,
            json!({"max_message_seconds": 60}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["max_message_seconds"], 60);
    // Giving it to someone who is no member is still refused.
    let r = app
        .patch(
            &format!("{}/{abox}", boxes(&t)),
            &owner,
            json!({"owner": {"kind": "agent", "id": Uuid::now_v7()}}),
        )
        .await;
    assert_eq!(field_errors(&r), pairs(&[("owner.id", "unknown_agent")]));
    // A new member may take the box over.
    let next = app.member(&t, &owner, "next@example.com", "agent").await;
    let next_id = user_id(&app, &next).await;
    let r = app
        .patch(
            &format!("{}/{abox}", boxes(&t)),
            &owner,
            json!({"owner": {"kind": "agent", "id": next_id}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let mine = app.get(&messages(&t), &next).await;
    assert_eq!(ids(&mine), [amsg.id.as_str()]);
}

const NOTIFY_SECRET: &str = "a-notification-secret";

/// A queue's box that notifies `url`: the tenant, owner token and box.
async fn notifying_box(app: &TestApp, url: &str) -> (String, String, String) {
    let (t, owner) = app.owner().await;
    let queue = create_queue(app, &t, &owner, "support").await;
    let mailbox = create_box(
        app,
        &t,
        &owner,
        json!({"name": "Support", "owner": {"kind": "queue", "id": queue},
               "notify_url": url, "notify_secret": NOTIFY_SECRET}),
    )
    .await;
    (t, owner, mailbox)
}

/// The message's notification as the API shows it, once `done` holds.
async fn notification_when(
    app: &TestApp,
    t: &str,
    token: &str,
    id: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let path = format!("{}/{id}", messages(t));
    common::wait_for(app, &path, token, what, |m| done(&m["notification"])).await["notification"]
        .clone()
}

/// The next notification received, checked to be signed and to be about
/// message `id`.
async fn notified_of(received: &mut tokio::sync::mpsc::UnboundedReceiver<Signed>, id: &str) {
    let body = next_signed(received, NOTIFY_SECRET, 15).await;
    assert_eq!(body["event"], "voicemail.message");
    assert_eq!(body["message"]["id"], id, "{body}");
}

#[tokio::test]
async fn a_failing_notification_is_retried_and_survives_a_restart() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let up = Arc::new(AtomicBool::new(false));
    let answer = {
        let up = up.clone();
        move |_| {
            let code = if up.load(Ordering::SeqCst) {
                StatusCode::NO_CONTENT
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            async move { (code, String::new()) }
        }
    };
    let (url, mut received) = signed_endpoint(answer).await;
    let app = spawn_app_with(|c| c.inbound.voicemail_notify_retry_secs = 1).await;
    let (t, owner, mailbox) = notifying_box(&app, &url).await;
    let m = leave_message(&app, &t, &mailbox, "+14155550001").await;

    // The receiver is down: tried at once, again after 1 s, then 2 s.
    for _ in 0..3 {
        notified_of(&mut received, &m.id).await;
    }
    let failing = notification_when(&app, &t, &owner, &m.id, "three attempts", |n| {
        n["attempts"].as_i64() >= Some(3)
    })
    .await;
    assert_eq!(failing["state"], "pending", "{failing}");
    assert_eq!(failing["last_error"], "HTTP 503", "{failing}");
    assert!(failing["next_at"].is_string(), "{failing}");

    // Omnivox restarts while the receiver comes back: the new process
    // takes up the same notification where the old one left it.
    let app = app.restart_with(|_| up.store(true, Ordering::SeqCst)).await;
    notified_of(&mut received, &m.id).await;
    let done = notification_when(&app, &t, &owner, &m.id, "the delivery", |n| {
        n["state"] == "delivered"
    })
    .await;
    let attempts = done["attempts"].as_i64().unwrap();
    assert!(attempts >= 4, "{done}");
    assert!(
        done["next_at"].is_null() && done["last_error"].is_null(),
        "{done}"
    );
    // Delivered once: nothing more arrives.
    let more = tokio::time::timeout(std::time::Duration::from_secs(3), received.recv()).await;
    assert!(more.is_err(), "sent again after its delivery");
}

#[tokio::test]
async fn a_refused_notification_is_not_retried() {
    let (url, mut received) =
        signed_endpoint(|_| async { (StatusCode::GONE, String::new()) }).await;
    let app = spawn_app_with(|c| c.inbound.voicemail_notify_retry_secs = 1).await;
    let (t, owner, mailbox) = notifying_box(&app, &url).await;
    let m = leave_message(&app, &t, &mailbox, "+14155550001").await;
    notified_of(&mut received, &m.id).await;
    let failed = notification_when(&app, &t, &owner, &m.id, "the refusal", |n| {
        n["state"] == "failed"
    })
    .await;
    assert_eq!(failed["attempts"], 1, "{failed}");
    assert_eq!(failed["last_error"], "HTTP 410", "{failed}");
    let more = tokio::time::timeout(std::time::Duration::from_secs(3), received.recv()).await;
    assert!(more.is_err(), "a refused notification was sent again");
}
