//! Secrets kept in the database are sealed with the master key: a copy of
//! the database alone shows none of them, values an older version kept in
//! clear are sealed at the next start, and a start with another key or
//! without the key file is refused with a clear error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use omnivox_api::auth::totp;
use omnivox_api::master_key;
use omnivox_store::Store;
use omnivox_store::seal::{Field, PREFIX, Sealed};
use omnivox_testkit::{TestApp, spawn_app, spawn_app_with};
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

const TRUNK_PASSWORD: &str = "carrier-digest-pass-7Q";
const FLOW_SECRET: &str = "flow-webhook-hmac-key-0123456789";
const NOTIFY_SECRET: &str = "voicemail-notify-key-9876543210";

/// The `v` column of a query's rows, as stored.
async fn select(db: &Store, sql: String) -> Vec<String> {
    let conn = db.writer();
    conn.query_all_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String>("", "v").unwrap())
        .collect()
}

/// Every non-null value of `column` in `table`.
async fn raw(db: &Store, table: &str, column: &str) -> Vec<String> {
    select(
        db,
        format!("SELECT {column} AS v FROM {table} WHERE {column} IS NOT NULL"),
    )
    .await
}

async fn setting(db: &Store, key: &str) -> String {
    let sql = format!("SELECT value AS v FROM system_settings WHERE key = '{key}'");
    select(db, sql).await.remove(0)
}

async fn exec(db: &Store, sql: &str) {
    let conn = db.writer();
    conn.execute_unprepared(sql).await.unwrap();
}

/// A tenant with a trunk, a flow secret, a voicemail box that notifies and
/// an owner half-way through TOTP enrollment; returns the TOTP seed and the
/// owner's token.
async fn populate(app: &TestApp) -> (String, String) {
    let (t, owner) = app.owner().await;
    let trunk = app
        .post(
            &format!("/api/v1/tenants/{t}/trunks"),
            &owner,
            json!({ "name": "carrier", "host": "127.0.0.1", "username": "acct",
                    "password": TRUNK_PASSWORD, "inbound_username": "carrier-in",
                    "inbound_password": "trunk-inbound-passphrase-1" }),
        )
        .await;
    assert_eq!(trunk.status, StatusCode::CREATED, "{trunk:?}");
    let put = app
        .call(
            Method::PUT,
            &format!("/api/v1/tenants/{t}/flow-secrets/crm"),
            Some(&owner),
            Some(json!({ "secret": FLOW_SECRET })),
        )
        .await;
    assert_eq!(put.status, StatusCode::CREATED, "{put:?}");
    let agent = app.member(&t, &owner, "agent@example.com", "agent").await;
    let me = app.get("/api/v1/me", &agent).await;
    let agent_id = me.body["user"]["id"].as_str().unwrap().to_owned();
    let vm = app
        .post(
            &format!("/api/v1/tenants/{t}/voicemail/boxes"),
            &owner,
            json!({ "name": "Sales", "owner": {"kind": "agent", "id": agent_id},
                    "notify_url": "https://crm.example.com/vm", "notify_secret": NOTIFY_SECRET }),
        )
        .await;
    assert_eq!(vm.status, StatusCode::CREATED, "{vm:?}");
    let phone = app
        .call(
            Method::PUT,
            &format!("/api/v1/tenants/{t}/members/{agent_id}/sip"),
            Some(&owner),
            Some(json!({ "username": "agent7", "password": "agent-phone-password-7" })),
        )
        .await;
    assert_eq!(phone.status, StatusCode::OK, "{phone:?}");
    let enroll = app.post("/api/v1/me/2fa/enroll", &owner, json!({})).await;
    assert_eq!(enroll.status, StatusCode::OK, "{enroll:?}");
    (enroll.body["secret"].as_str().unwrap().to_owned(), owner)
}

const SEALED_COLUMNS: [(&str, &str); 8] = [
    ("trunks", "password"),
    ("trunks", "inbound_ha1_md5"),
    ("trunks", "inbound_ha1_sha256"),
    ("sip_accounts", "ha1_md5"),
    ("sip_accounts", "ha1_sha256"),
    ("users", "totp_secret"),
    ("flow_secrets", "secret"),
    ("voicemail_boxes", "notify_secret"),
];

async fn assert_all_sealed(db: &Store, seed: &str) {
    for (table, column) in SEALED_COLUMNS {
        let values = raw(db, table, column).await;
        assert_eq!(values.len(), 1, "{table}.{column}: {values:?}");
        for v in values {
            assert!(v.starts_with(PREFIX), "{table}.{column} kept in clear: {v}");
            for plain in [TRUNK_PASSWORD, FLOW_SECRET, NOTIFY_SECRET, seed] {
                assert!(!v.contains(plain), "{table}.{column} shows a secret");
            }
        }
    }
    for key in ["token_signing_key", "master_key_check"] {
        assert!(setting(db, key).await.starts_with(PREFIX), "{key}");
    }
}

#[tokio::test]
async fn secrets_are_sealed_at_rest_and_older_clear_values_are_sealed_at_start() {
    // The token-signing key generated and kept in the database.
    let app = spawn_app_with(|c| c.auth.token_secret = None).await;
    let (seed, _owner) = populate(&app).await;

    let key_file = master_key::key_file(&app.config);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&key_file).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "the key file is its owner's alone");

    let db = Store::connect(&app.config.database).await.unwrap();
    assert_all_sealed(&db, &seed).await;
    let sealer = master_key::load(&app.config, &db).await.unwrap();
    let trunk = raw(&db, "trunks", "password").await.remove(0);
    let sealed = Sealed::from(trunk.clone());
    assert_eq!(
        sealer.open(Field::TrunkPassword, &sealed).unwrap(),
        TRUNK_PASSWORD
    );
    assert!(
        sealer.open(Field::FlowSecret, &sealed).is_err(),
        "a sealed value does not open as another column's"
    );

    // An older version kept these in clear: the next start seals them.
    exec(
        &db,
        &format!("UPDATE trunks SET password = '{TRUNK_PASSWORD}'"),
    )
    .await;
    exec(
        &db,
        &format!("UPDATE users SET totp_secret = '{seed}' WHERE totp_secret IS NOT NULL"),
    )
    .await;
    exec(
        &db,
        &format!("UPDATE flow_secrets SET secret = '{FLOW_SECRET}'"),
    )
    .await;
    exec(
        &db,
        "UPDATE sip_accounts SET ha1_md5 = 'an-old-clear-md5-ha1', \
         ha1_sha256 = 'an-old-clear-sha-ha1'",
    )
    .await;
    exec(
        &db,
        &format!("UPDATE voicemail_boxes SET notify_secret = '{NOTIFY_SECRET}'"),
    )
    .await;
    exec(
        &db,
        "UPDATE system_settings SET value = 'an-old-clear-token-signing-key-0123456789' \
         WHERE key = 'token_signing_key'",
    )
    .await;
    let app = app.restart().await;
    assert_all_sealed(&db, &seed).await;
    let flow = raw(&db, "flow_secrets", "secret").await.remove(0);
    assert_eq!(
        sealer.open(Field::FlowSecret, &Sealed::from(flow)).unwrap(),
        FLOW_SECRET
    );
    let signing = setting(&db, "token_signing_key").await;
    assert_eq!(
        sealer
            .open(Field::TokenSigningKey, &Sealed::from(signing))
            .unwrap(),
        "an-old-clear-token-signing-key-0123456789"
    );

    // The resealed TOTP seed still verifies (signing in again: the old
    // tokens were signed with the replaced key).
    let owner = app.token("owner@example.com").await;
    let verified = app
        .post(
            "/api/v1/me/2fa/verify",
            &owner,
            json!({ "code": totp::current_code(&seed).unwrap() }),
        )
        .await;
    assert_eq!(verified.status, StatusCode::OK, "{verified:?}");

    // Another master key does not open this database: refused at start.
    let err = app
        .try_restart_with(|c| {
            c.auth.master_key = Some(omnivox_api::config::Secret::new(
                "another-master-key-of-at-least-32-chars",
            ));
        })
        .await
        .err()
        .expect("a wrong master key must stop the start");
    let text = format!("{err:#}");
    assert!(
        text.contains("does not open this database's secrets"),
        "{text}"
    );
    db.close().await;
}

#[tokio::test]
async fn a_lost_key_file_is_reported_not_replaced() {
    let app = spawn_app().await;
    populate(&app).await;
    let key_file = master_key::key_file(&app.config);
    std::fs::remove_file(&key_file).unwrap();
    let err = app
        .try_restart_with(|_| {})
        .await
        .err()
        .expect("a start without the key must fail");
    let text = format!("{err:#}");
    assert!(text.contains("master.key is missing"), "{text}");
    assert!(
        !key_file.exists(),
        "no new key was made over the old secrets"
    );
}
