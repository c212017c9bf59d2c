//! Call recordings over HTTP: recordings a crash cut short are repaired and
//! listed at start-up; metadata and audio (HTTP Range) with permissions and
//! tenant isolation; audited deletion; the retention sweep; the recording
//! settings; and recording control on a live call through real SIP peers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Utc;
use omnivox_domain::TenantId;
use omnivox_media::record::{LocalStore, Recorder, RecorderConfig, RecordingStore};
use omnivox_media::{Channel, FRAME_SAMPLES, Frame};
use omnivox_sip::calls::model::recording_key;
use omnivox_store::Store;
use omnivox_testkit::{TestApp, sipp_uas_loop, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Frames per seeded recording (3 s).
const FRAMES: usize = 150;
/// Its file size: header plus 150 stereo frames.
const SIZE: u64 = 44 + FRAMES as u64 * 640;

fn local(app: &TestApp) -> LocalStore {
    LocalStore::new(app.config.storage.data_dir.join("recordings")).unwrap()
}

fn tone(freq: f32, n: usize) -> Frame {
    let mut f = [0i16; FRAME_SAMPLES];
    for (i, s) in f.iter_mut().enumerate() {
        let t = (n * FRAME_SAMPLES + i) as f32 / 8000.0;
        *s = (6000.0 * (std::f32::consts::TAU * freq * t).sin()) as i16;
    }
    f
}

/// Writes a 3 s recording of a call of `tenant` with the real recorder,
/// then leaves its header as a crash before the first size patch would
/// (sizes zero): the file has audio but no row. Returns (call, recording).
fn crash_cut_recording(store: &LocalStore, tenant: &str) -> (Uuid, Uuid) {
    let (call, rec) = (Uuid::now_v7(), Uuid::now_v7());
    let key = recording_key(TenantId(tenant.parse().unwrap()), call, rec).unwrap();
    let shared: Arc<dyn RecordingStore> = Arc::new(store.clone());
    let mut r = Recorder::start(shared, key.clone(), RecorderConfig::default()).unwrap();
    for n in 0..FRAMES {
        r.push(Channel::Customer, &tone(440.0, n)).unwrap();
        r.push(Channel::Agent, &tone(1000.0, n)).unwrap();
    }
    r.flush().unwrap();
    drop(r);
    let path = store.path_for(&key);
    let mut bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len() as u64, SIZE);
    bytes[4..8].copy_from_slice(&0u32.to_le_bytes());
    bytes[40..44].copy_from_slice(&0u32.to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
    (call, rec)
}

fn file_of(app: &TestApp, tenant: &str, call: Uuid, rec: Uuid) -> PathBuf {
    app.config
        .storage
        .data_dir
        .join("recordings")
        .join(tenant)
        .join(format!("{call}_{rec}.wav"))
}

async fn audio(
    app: &TestApp,
    t: &str,
    token: &str,
    id: Uuid,
    range: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .client
        .get(app.url(&format!("/api/v1/tenants/{t}/recordings/{id}/audio")))
        .bearer_auth(token);
    if let Some(r) = range {
        req = req.header("range", r);
    }
    req.send().await.unwrap()
}

async fn audit_actions(app: &TestApp, t: &str, token: &str) -> Vec<(String, String)> {
    let audit = app.get(&format!("/api/v1/tenants/{t}/audit"), token).await;
    audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or("").to_owned(),
                e["actor_type"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn repaired_recordings_download_with_ranges_delete_and_expire() {
    let app = spawn_app().await;
    let (t, _, t2, _) = app.two_tenants().await;
    let store = local(&app);
    let (call1, rec1) = crash_cut_recording(&store, &t);
    let (_, rec2) = crash_cut_recording(&store, &t);
    let (_, rec3) = crash_cut_recording(&store, &t2);

    // Start-up repairs the headers and lists the files.
    let app = app.restart().await;
    let owner = app.token("owner@example.com").await;
    let owner2 = app.token("owner-b@example.com").await;
    let list = app
        .get(&format!("/api/v1/tenants/{t}/recordings"), &owner)
        .await;
    assert_eq!(list.status, StatusCode::OK, "{list:?}");
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{list:?}");
    let by_call = app
        .get(
            &format!("/api/v1/tenants/{t}/recordings?call_id={call1}"),
            &owner,
        )
        .await;
    assert_eq!(by_call.body["items"].as_array().unwrap().len(), 1);
    let one = &by_call.body["items"][0];
    assert_eq!(one["id"], json!(rec1));
    assert_eq!(one["call_id"], json!(call1));
    assert_eq!(one["duration_ms"], 3000);
    assert_eq!(one["size_bytes"], SIZE);
    let file = std::fs::read(file_of(&app, &t, call1, rec1)).unwrap();
    let sha: String = Sha256::digest(&file)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(one["sha256"], json!(sha));
    assert_eq!(
        u32::from_le_bytes(file[40..44].try_into().unwrap()) as u64,
        SIZE - 44,
        "data size repaired"
    );
    let got = app
        .get(&format!("/api/v1/tenants/{t}/recordings/{rec1}"), &owner)
        .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body["paused_spans"], json!([]));

    // The audio, whole and in ranges.
    let whole = audio(&app, &t, &owner, rec1, None).await;
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(whole.headers()["content-type"], "audio/wav");
    assert_eq!(whole.headers()["accept-ranges"], "bytes");
    assert_eq!(whole.bytes().await.unwrap().as_ref(), file.as_slice());
    let n = file.len();
    for (range, from, to) in [
        ("bytes=0-99", 0, 100),
        ("bytes=100-", 100, n),
        ("bytes=-50", n - 50, n),
    ] {
        let r = audio(&app, &t, &owner, rec1, Some(range)).await;
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
    }
    let bad = audio(&app, &t, &owner, rec1, Some(&format!("bytes={n}-"))).await;
    assert_eq!(bad.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        bad.headers()["content-range"],
        format!("bytes */{n}").as_str()
    );

    // Roles: supervisors read, only owners and admins delete; agents and
    // analysts see nothing.
    let sup = app
        .member(&t, &owner, "sup@example.com", "supervisor")
        .await;
    let agent = app.member(&t, &owner, "agent@example.com", "agent").await;
    let analyst = app.member(&t, &owner, "an@example.com", "analyst").await;
    let sup_audio = audio(&app, &t, &sup, rec1, Some("bytes=0-9")).await;
    assert_eq!(sup_audio.status(), StatusCode::PARTIAL_CONTENT);
    for token in [&agent, &analyst] {
        let r = app
            .get(&format!("/api/v1/tenants/{t}/recordings"), token)
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
        let r = audio(&app, &t, token, rec1, None).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    let r = app
        .delete(&format!("/api/v1/tenants/{t}/recordings/{rec1}"), &sup)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Other tenants: their own list only, 404 on ours.
    let theirs = app
        .get(&format!("/api/v1/tenants/{t2}/recordings"), &owner2)
        .await;
    let theirs: Vec<&Value> = theirs.body["items"].as_array().unwrap().iter().collect();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0]["id"], json!(rec3));
    for path in [
        format!("/api/v1/tenants/{t2}/recordings/{rec1}"),
        format!("/api/v1/tenants/{t2}/recordings/{rec1}/audio"),
    ] {
        assert_eq!(app.get(&path, &owner2).await.status, StatusCode::NOT_FOUND);
    }
    let r = app
        .delete(&format!("/api/v1/tenants/{t2}/recordings/{rec1}"), &owner2)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_ne!(
        app.get(&format!("/api/v1/tenants/{t}/recordings/{rec1}"), &owner2)
            .await
            .status,
        StatusCode::OK
    );

    // Deletion: audited, the file removed, no longer listed.
    let r = app
        .delete(&format!("/api/v1/tenants/{t}/recordings/{rec1}"), &owner)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    assert!(!file_of(&app, &t, call1, rec1).exists());
    let gone = app
        .get(&format!("/api/v1/tenants/{t}/recordings/{rec1}"), &owner)
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(
        audio(&app, &t, &owner, rec1, None).await.status(),
        StatusCode::NOT_FOUND
    );

    // Settings: retention 30 days for t (t2 keeps everything).
    let s = app
        .get(&format!("/api/v1/tenants/{t}/recording-settings"), &owner)
        .await;
    assert_eq!(
        s.body,
        json!({ "recording": "on_demand", "recording_retention_days": 0 })
    );
    let path = format!("/api/v1/tenants/{t}/recording-settings");
    let body = json!({ "recording": "all", "recording_retention_days": 30 });
    let r = app
        .call(reqwest::Method::PUT, &path, Some(&sup), Some(body.clone()))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let bad = json!({ "recording": "sometimes", "recording_retention_days": 30 });
    let r = app
        .call(reqwest::Method::PUT, &path, Some(&owner), Some(bad))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");
    let r = app
        .call(
            reqwest::Method::PUT,
            &path,
            Some(&owner),
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body, body);

    // The sweep, run with an injected clock: nothing at 29 days, rec2 at 31.
    let db = Store::connect(&app.config.database).await.unwrap();
    let now = Utc::now();
    let n = omnivox_api::recordings::sweep_retention(&db, &store, now + chrono::Duration::days(29))
        .await
        .unwrap();
    assert_eq!(n, 0);
    let n = omnivox_api::recordings::sweep_retention(&db, &store, now + chrono::Duration::days(31))
        .await
        .unwrap();
    assert_eq!(n, 1);
    let left = app
        .get(&format!("/api/v1/tenants/{t}/recordings"), &owner)
        .await;
    assert_eq!(left.body["items"], json!([]), "{left:?}");
    assert!(
        store
            .list()
            .unwrap()
            .iter()
            .all(|k| !k.recording().ends_with(&rec2.to_string()))
    );
    let kept = app
        .get(&format!("/api/v1/tenants/{t2}/recordings/{rec3}"), &owner2)
        .await;
    assert_eq!(kept.status, StatusCode::OK, "retention 0 keeps");

    let actions = audit_actions(&app, &t, &owner).await;
    for (action, actor) in [
        ("recording.repaired", "system"),
        ("recording.deleted", "user"),
        ("recording.settings_updated", "user"),
        ("recording.expired", "system"),
    ] {
        assert!(
            actions.contains(&(action.to_owned(), actor.to_owned())),
            "{action} by {actor} not audited: {actions:?}"
        );
    }
    // The audit trail of t2 has none of t's.
    let actions2 = audit_actions(&app, &t2, &owner2).await;
    assert_eq!(
        actions2
            .iter()
            .filter(|(a, _)| a.starts_with("recording."))
            .count(),
        1,
        "{actions2:?}"
    );
}

fn number(n: &str) -> Value {
    json!({ "kind": "number", "number": n })
}

async fn wait_bridged(app: &TestApp, t: &str, token: &str, id: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let r = app
            .get(&format!("/api/v1/tenants/{t}/calls/{id}"), token)
            .await;
        if r.body["state"] == "bridged" {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "not bridged: {r:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_live_call_is_recorded_through_the_api() {
    if !omnivox_testkit::sipp_available() {
        return;
    }
    let app = spawn_app().await;
    let (t, owner, t2, owner2) = app.two_tenants().await;
    let agent = app.member(&t, &owner, "agent@example.com", "agent").await;
    let analyst = app.member(&t, &owner, "an@example.com", "analyst").await;
    let port = omnivox_testkit::free_udp_port();
    let work = tempfile::tempdir().unwrap();
    let mut carrier = sipp_uas_loop(port, 2, work.path());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let trunk = app
        .post(
            &format!("/api/v1/tenants/{t}/trunks"),
            &owner,
            json!({ "name": "carrier", "host": "127.0.0.1", "port": port,
                    "allowed_sources": ["192.0.2.10"], "max_channels": 5, "max_cps": 5 }),
        )
        .await;
    assert_eq!(trunk.status, StatusCode::CREATED, "{trunk:?}");
    let r = app
        .post(
            &format!("/api/v1/tenants/{t}/calls"),
            &owner,
            json!({ "first": number("+14155550100"), "second": number("+14155550101"),
                    "caller_id": "+14155550199", "ring_timeout_secs": 10 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let id = r.body["id"].as_str().unwrap().to_owned();
    wait_bridged(&app, &t, &owner, &id).await;

    let rec = |tenant: &str, action: &str| {
        format!("/api/v1/tenants/{tenant}/calls/{id}/recording/{action}")
    };
    // Not the agent's call: 404; no call_control: 403; other tenant: 404.
    let r = app.post(&rec(&t, "start"), &agent, json!({})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");
    let r = app.post(&rec(&t, "start"), &analyst, json!({})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    let r = app.post(&rec(&t2, "start"), &owner2, json!({})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");

    // Pausing nothing is a conflict; then start, pause, resume, stop.
    let r = app.post(&rec(&t, "pause"), &owner, json!({})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{r:?}");
    for (action, want) in [
        ("start", StatusCode::OK),
        ("start", StatusCode::CONFLICT),
        ("pause", StatusCode::OK),
        ("pause", StatusCode::CONFLICT),
        ("resume", StatusCode::OK),
        ("stop", StatusCode::OK),
        ("stop", StatusCode::CONFLICT),
    ] {
        let r = app.post(&rec(&t, action), &owner, json!({})).await;
        assert_eq!(r.status, want, "{action}: {r:?}");
    }

    // The finished recording is listed for the call (written by the
    // record writer shortly after).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let listed = loop {
        let r = app
            .get(
                &format!("/api/v1/tenants/{t}/recordings?call_id={id}"),
                &owner,
            )
            .await;
        if r.body["items"].as_array().is_some_and(|a| !a.is_empty()) {
            break r.body["items"][0].clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "not listed: {r:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(listed["call_id"], json!(id));
    assert_eq!(
        listed["legs"],
        json!([{ "leg": "a", "channel": "customer" }, { "leg": "b", "channel": "agent" }])
    );
    let rec_id = listed["id"].as_str().unwrap();
    let wav = audio(&app, &t, &owner, rec_id.parse().unwrap(), None).await;
    assert_eq!(wav.status(), StatusCode::OK);
    let wav = wav.bytes().await.unwrap();
    assert_eq!(&wav[..4], b"RIFF");
    assert_eq!(wav.len() as i64, listed["size_bytes"].as_i64().unwrap());

    // Policy none: a start is refused.
    let path = format!("/api/v1/tenants/{t}/recording-settings");
    let none = json!({ "recording": "none", "recording_retention_days": 0 });
    let r = app
        .call(reqwest::Method::PUT, &path, Some(&owner), Some(none))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let r = app.post(&rec(&t, "start"), &owner, json!({})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{r:?}");

    let r = app
        .post(
            &format!("/api/v1/tenants/{t}/calls/{id}/hangup"),
            &owner,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let out = tokio::time::timeout(Duration::from_secs(20), carrier.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(out.success(), "the carrier's sipp failed");
    let actions = audit_actions(&app, &t, &owner).await;
    for a in [
        "call.recording_started",
        "call.recording_paused",
        "call.recording_resumed",
        "call.recording_stopped",
    ] {
        assert!(
            actions.iter().any(|(x, _)| x == a),
            "{a} not audited: {actions:?}"
        );
    }
}
