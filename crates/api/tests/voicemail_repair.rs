//! The start-up pass over the voicemail store: a message file a crash left
//! without its row (the caller spoke, the process died before the insert)
//! is audited as `voicemail.orphan_removed` by the system and removed,
//! since its key does not say which box it was for; files with rows, files
//! of calls the database does not know and files that are no message key
//! are left alone; a second start finds nothing more to do.
//!
//! Files are laid out as the live path lays them out: the real recorder
//! (mono, as for `CallCommand::RecordMessage`) writes
//! `<tenant>/<call>_<message>.wav` into the app's voicemail store, and the
//! crash is a file whose header sizes were never patched. The call a crash
//! interrupts has its `live` record (written when the call started, as the
//! SIP layer's call recorder does).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Utc;
use omnivox_domain::call::Direction;
use omnivox_domain::{CallId, TenantId};
use omnivox_media::record::{LocalStore, Recorder, RecorderConfig, RecordingKey, RecordingStore};
use omnivox_media::{Channel, FRAME_SAMPLES, Frame};
use omnivox_sip::calls::model::recording_key;
use omnivox_store::voicemail::NewVoicemailMessage;
use omnivox_store::{Scoped, Store, cdrs};
use omnivox_testkit::{TestApp, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;
use uuid::Uuid;

/// Frames per message (1 s).
const FRAMES: usize = 50;
/// A message file's size: header plus 50 mono frames.
const SIZE: u64 = 44 + FRAMES as u64 * 320;

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

fn sha_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes a 1 s message of `call` with the real recorder, as the call
/// actor does for `RecordMessage`; `crash` leaves its header as a crash
/// before the first size patch would. Returns the key.
fn write_message(local: &LocalStore, tenant: &str, call: Uuid, crash: bool) -> RecordingKey {
    let key = recording_key(TenantId(tenant.parse().unwrap()), call, Uuid::now_v7()).unwrap();
    let shared: Arc<dyn RecordingStore> = Arc::new(local.clone());
    let config = RecorderConfig {
        mono: true,
        ..RecorderConfig::default()
    };
    let mut r = Recorder::start(shared, key.clone(), config).unwrap();
    for n in 0..FRAMES {
        r.push(Channel::Customer, &tone(n)).unwrap();
    }
    if crash {
        r.flush().unwrap();
        drop(r);
        let path = local.path_for(&key);
        let mut bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len() as u64, SIZE);
        bytes[4..8].copy_from_slice(&0u32.to_le_bytes());
        bytes[40..44].copy_from_slice(&0u32.to_le_bytes());
        std::fs::write(&path, bytes).unwrap();
    } else {
        r.finish().unwrap();
    }
    key
}

/// The `live` record a call has from its start on.
async fn open_call(db: &Store, tenant: &str, call: Uuid, caller: &str) {
    cdrs::open_calls(
        db.writer(),
        &[cdrs::CallStart {
            id: CallId(call),
            tenant: TenantId(tenant.parse().unwrap()),
            direction: Direction::Inbound,
            from_number: caller.to_owned(),
            to_number: "+18005550100".to_owned(),
            trunk_id: None,
            did: Some("+18005550100".to_owned()),
            agent_id: None,
            started_at: Utc::now(),
        }],
    )
    .await
    .unwrap();
}

/// The message id in a key made by `recording_key`.
fn message_of(key: &RecordingKey) -> String {
    key.recording().split_once('_').unwrap().1.to_owned()
}

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

#[tokio::test]
async fn a_message_file_without_its_row_is_audited_and_removed_at_start_up() {
    let app = spawn_app().await;
    let (t, owner, t2, _) = app.two_tenants().await;
    let q = app
        .post(
            &format!("/api/v1/tenants/{t}/queues"),
            &owner,
            json!({ "name": "support" }),
        )
        .await;
    assert_eq!(q.status, StatusCode::CREATED, "{q:?}");
    let b = app
        .post(
            &format!("/api/v1/tenants/{t}/voicemail/boxes"),
            &owner,
            json!({ "name": "Support", "owner": {"kind": "queue", "id": q.body["id"]} }),
        )
        .await;
    assert_eq!(b.status, StatusCode::CREATED, "{b:?}");
    let box_id: Uuid = b.body["id"].as_str().unwrap().parse().unwrap();
    let local = store_of(&app);
    let db = Store::connect(&app.config.database).await.unwrap();

    // A message with its row: untouched.
    let kept_call = Uuid::now_v7();
    open_call(&db, &t, kept_call, "+14155550001").await;
    let kept = write_message(&local, &t, kept_call, false);
    let kept_bytes = std::fs::read(local.path_for(&kept)).unwrap();
    Scoped::new(db.writer(), TenantId(t.parse().unwrap()))
        .add_voicemail_message(NewVoicemailMessage {
            id: message_of(&kept).parse().unwrap(),
            box_id,
            call_id: kept_call,
            caller: "+14155550001".into(),
            called: "+18005550100".into(),
            duration_ms: 1000,
            size_bytes: i64::try_from(kept_bytes.len()).unwrap(),
            sha256: sha_hex(&kept_bytes),
            storage_key: kept.storage_key(),
        })
        .await
        .unwrap();
    // A crash between the caller's hangup and the insert.
    let lost_call = Uuid::now_v7();
    open_call(&db, &t, lost_call, "+14155550002").await;
    let lost = write_message(&local, &t, lost_call, true);
    let lost_sha = sha_hex(&std::fs::read(local.path_for(&lost)).unwrap());
    // Another tenant's orphan: audited in that tenant only.
    let other_call = Uuid::now_v7();
    open_call(&db, &t2, other_call, "+14155550003").await;
    let other = write_message(&local, &t2, other_call, true);
    // A call this database has no record of (files restored next to an
    // older database): not judged, left alone.
    let unknown = write_message(&local, &t, Uuid::now_v7(), true);
    // Not a message key at all: left alone.
    let stray: PathBuf = local.root().join(&t).join("notes.wav");
    std::fs::write(&stray, b"not a message").unwrap();
    db.close().await;

    let app = app.restart().await;
    let owner = app.token("owner@example.com").await;
    let owner2 = app.token("owner-b@example.com").await;

    assert!(!local.path_for(&lost).exists(), "the orphan is removed");
    assert!(!local.path_for(&other).exists(), "in every tenant");
    assert!(
        local.path_for(&unknown).exists(),
        "an unknown call's file stays"
    );
    assert!(stray.exists(), "a file that is no message key stays");
    assert_eq!(
        std::fs::read(local.path_for(&kept)).unwrap(),
        kept_bytes,
        "a message with its row is untouched"
    );

    // Only the message with its row is listed, and it still plays.
    let list = app
        .get(&format!("/api/v1/tenants/{t}/voicemail/messages"), &owner)
        .await;
    assert_eq!(list.status, StatusCode::OK, "{list:?}");
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list:?}");
    assert_eq!(items[0]["id"], json!(message_of(&kept)));
    let audio = app
        .client
        .get(app.url(&format!(
            "/api/v1/tenants/{t}/voicemail/messages/{}/audio",
            message_of(&kept)
        )))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(audio.status(), StatusCode::OK);
    assert_eq!(audio.bytes().await.unwrap().as_ref(), kept_bytes.as_slice());
    let gone = app
        .get(
            &format!(
                "/api/v1/tenants/{t}/voicemail/messages/{}",
                message_of(&lost)
            ),
            &owner,
        )
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);

    // The removal is audited by the system with what was known of it.
    let entries = audit(&app, &t, &owner, "voicemail.orphan_removed").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    let e = &entries[0];
    assert_eq!(e["actor_type"], "system", "{e}");
    assert_eq!(e["target_type"], "voicemail_message", "{e}");
    assert_eq!(e["target_id"], json!(message_of(&lost)), "{e}");
    assert_eq!(e["before"]["call_id"], json!(lost_call), "{e}");
    assert_eq!(e["before"]["caller"], "+14155550002", "{e}");
    assert_eq!(e["before"]["called"], "+18005550100", "{e}");
    assert_eq!(e["before"]["duration_ms"], 1000, "{e}");
    assert_eq!(e["before"]["size_bytes"], SIZE, "{e}");
    assert_eq!(e["before"]["sha256"], json!(lost_sha), "{e}");
    assert_eq!(e["before"]["storage_key"], json!(lost.storage_key()), "{e}");
    let e2 = audit(&app, &t2, &owner2, "voicemail.orphan_removed").await;
    assert_eq!(e2.len(), 1, "{e2:?}");
    assert_eq!(e2[0]["target_id"], json!(message_of(&other)));

    // A second start has nothing left to do.
    let app = app.restart().await;
    let owner = app.token("owner@example.com").await;
    assert_eq!(
        audit(&app, &t, &owner, "voicemail.orphan_removed")
            .await
            .len(),
        1
    );
    assert!(local.path_for(&kept).exists());
    assert!(local.path_for(&unknown).exists());
}
