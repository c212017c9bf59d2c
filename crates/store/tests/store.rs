//! Store behaviour, run on SQLite and (with OMNIVOX_TEST_BACKEND=postgres) on
//! PostgreSQL by the same code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use omnivox_domain::{ApiKeyId, Role, TenantId, UserId};
use omnivox_store::api_keys::NewApiKey;
use omnivox_store::audit::{Actor, NewAuditEntry};
use omnivox_store::idempotency::{self, Claim};
use omnivox_store::sessions::{self, NewSession, Rotation};
use omnivox_store::tenants::{NewTenant, TenantPatch};
use omnivox_store::{
    ConnectionTrait, PageRequest, Scoped, Store, StoreError, audit, commit, tenants, users,
};

async fn store() -> (Store, Option<tempfile::TempDir>) {
    let (cfg, dir) = omnivox_testkit::test_database();
    let s = Store::connect(&cfg).await.unwrap();
    s.migrate().await.unwrap();
    assert_eq!(s.pending_migrations().await.unwrap(), 0);
    (s, dir)
}

fn new_tenant(slug: &str) -> NewTenant {
    NewTenant {
        name: slug.to_uppercase(),
        slug: slug.into(),
        time_zone: "UTC".into(),
        locale: "en-US".into(),
        business_hours: serde_json::json!({}),
        require_2fa: false,
    }
}

fn entry(tenant: TenantId, action: &str) -> NewAuditEntry {
    NewAuditEntry {
        tenant: Some(tenant),
        actor: Actor::System,
        action: action.into(),
        target_type: "tenant".into(),
        target_id: Some(tenant.to_string()),
        before: None,
        after: Some(serde_json::json!({ "k": 1 })),
        request_id: None,
        source_ip: None,
    }
}

#[tokio::test]
async fn scoped_repositories_never_cross_tenants() {
    let (s, _d) = store().await;
    let db = s.writer();
    let a = TenantId(tenants::create(db, new_tenant("alpha")).await.unwrap().id);
    let b = TenantId(tenants::create(db, new_tenant("bravo")).await.unwrap().id);
    let u = UserId(
        users::create(db, "u@example.com", "U", "x", false)
            .await
            .unwrap()
            .id,
    );
    Scoped::new(db, b).add_member(u, Role::Agent).await.unwrap();
    let key = Scoped::new(db, b)
        .create_api_key(NewApiKey {
            name: "k",
            prefix: "ovx_p",
            key_hash: "h",
            role: Role::Viewer,
            created_by: None,
            expires_at: None,
        })
        .await
        .unwrap();

    let in_a = Scoped::new(s.reader(), a);
    assert_eq!(in_a.role_of(u).await.unwrap(), None);
    assert!(matches!(
        in_a.get_member(u).await,
        Err(StoreError::NotFound)
    ));
    assert!(
        in_a.list_members(&PageRequest::first(50), None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(matches!(
        in_a.get_api_key(ApiKeyId(key.id)).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        in_a.revoke_api_key(ApiKeyId(key.id)).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        in_a.set_role(u, Role::Admin).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        in_a.remove_member(u).await,
        Err(StoreError::NotFound)
    ));
    assert!(
        in_a.list_api_keys(&PageRequest::first(50))
            .await
            .unwrap()
            .items
            .is_empty()
    );

    let in_b = Scoped::new(s.reader(), b);
    assert_eq!(in_b.role_of(u).await.unwrap(), Some(Role::Agent));
    assert_eq!(
        in_b.list_api_keys(&PageRequest::first(50))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    let mine = tenants::list_for_user(s.reader(), u, &PageRequest::first(50))
        .await
        .unwrap();
    assert_eq!(
        mine.items
            .iter()
            .map(|t| t.slug.as_str())
            .collect::<Vec<_>>(),
        ["bravo"]
    );
}

#[tokio::test]
async fn a_rolled_back_change_leaves_neither_change_nor_audit_row() {
    let (s, _d) = store().await;
    let t = TenantId(
        tenants::create(s.writer(), new_tenant("alpha"))
            .await
            .unwrap()
            .id,
    );

    let tx = s.begin().await.unwrap();
    Scoped::new(&tx, t)
        .update_tenant(TenantPatch {
            name: Some("Changed".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    audit::record(&tx, entry(t, "tenant.updated"))
        .await
        .unwrap();
    // A later step fails: the slug of another tenant is taken.
    tenants::create(&tx, new_tenant("bravo")).await.unwrap();
    let dup = tenants::create(&tx, new_tenant("bravo")).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    drop(tx); // never committed

    let scoped = Scoped::new(s.reader(), t);
    assert_eq!(scoped.get_tenant().await.unwrap().name, "ALPHA");
    let log = scoped
        .list_audit(&Default::default(), &PageRequest::first(50))
        .await
        .unwrap();
    assert!(log.items.is_empty(), "{:?}", log.items);
    assert!(
        tenants::find_by_slug(s.reader(), "bravo")
            .await
            .unwrap()
            .is_none()
    );

    let tx = s.begin().await.unwrap();
    audit::record(&tx, entry(t, "tenant.updated"))
        .await
        .unwrap();
    commit(tx).await.unwrap();
    assert_eq!(
        scoped
            .list_audit(&Default::default(), &PageRequest::first(50))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

#[tokio::test]
async fn the_database_refuses_to_edit_or_delete_audit_rows() {
    let (s, _d) = store().await;
    let t = TenantId(
        tenants::create(s.writer(), new_tenant("alpha"))
            .await
            .unwrap()
            .id,
    );
    audit::record(s.writer(), entry(t, "x")).await.unwrap();
    let upd = s
        .writer()
        .execute_unprepared("UPDATE audit_log SET action = 'forged'")
        .await;
    assert!(upd.is_err(), "update allowed");
    let del = s.writer().execute_unprepared("DELETE FROM audit_log").await;
    assert!(del.is_err(), "delete allowed");
    let log = Scoped::new(s.reader(), t)
        .list_audit(&Default::default(), &PageRequest::first(5))
        .await
        .unwrap();
    assert_eq!(log.items[0].action, "x");
}

#[tokio::test]
async fn refresh_tokens_rotate_once_and_reuse_revokes_the_family() {
    let (s, _d) = store().await;
    let u = UserId(
        users::create(s.writer(), "u@example.com", "U", "x", false)
            .await
            .unwrap()
            .id,
    );
    let session = sessions::create(
        s.writer(),
        NewSession {
            user: u,
            expires_at: omnivox_store::now() + chrono::Duration::days(1),
            user_agent: Some("test"),
            ip: None,
            refresh_hash: "h1",
        },
    )
    .await
    .unwrap();
    assert!(matches!(
        sessions::rotate(s.writer(), "h1", "h2").await.unwrap(),
        Rotation::Rotated(_)
    ));
    assert!(matches!(
        sessions::rotate(s.writer(), "h1", "h3").await.unwrap(),
        Rotation::Reused(_)
    ));
    assert!(matches!(
        sessions::rotate(s.writer(), "h2", "h4").await.unwrap(),
        Rotation::Invalid
    ));
    assert!(matches!(
        sessions::rotate(s.writer(), "nope", "h5").await.unwrap(),
        Rotation::Invalid
    ));
    let got = sessions::get(s.reader(), omnivox_domain::SessionId(session.id))
        .await
        .unwrap();
    assert_eq!(got.revoke_reason.as_deref(), Some("refresh_token_reused"));
    // Timestamps read back exactly as written (microseconds on both databases).
    assert_eq!(got.created_at, session.created_at);
}

#[tokio::test]
async fn idempotency_claims() {
    let (s, _d) = store().await;
    let db = s.writer();
    assert_eq!(
        idempotency::claim(db, "user:1", "k", "h").await.unwrap(),
        Claim::Claimed
    );
    assert_eq!(
        idempotency::claim(db, "user:1", "k", "h").await.unwrap(),
        Claim::InProgress
    );
    assert_eq!(
        idempotency::claim(db, "user:2", "k", "h").await.unwrap(),
        Claim::Claimed,
        "scoped per caller"
    );
    idempotency::complete(db, "user:1", "k", 201, "{\"a\":1}")
        .await
        .unwrap();
    assert_eq!(
        idempotency::claim(db, "user:1", "k", "h").await.unwrap(),
        Claim::Replay {
            status: 201,
            body: "{\"a\":1}".into()
        }
    );
    assert_eq!(
        idempotency::claim(db, "user:1", "k", "other")
            .await
            .unwrap(),
        Claim::Mismatch
    );
    idempotency::release(db, "user:2", "k").await.unwrap();
    assert_eq!(
        idempotency::claim(db, "user:2", "k", "h").await.unwrap(),
        Claim::Claimed
    );
}

#[tokio::test]
async fn lockouts_count_within_a_window() {
    let (s, _d) = store().await;
    let db = s.writer();
    let w = chrono::Duration::minutes(15);
    for _ in 0..2 {
        omnivox_store::lockouts::record_failure(db, "10.0.0.1", 3, w, w)
            .await
            .unwrap();
    }
    assert!(
        omnivox_store::lockouts::locked_until(db, "10.0.0.1")
            .await
            .unwrap()
            .is_none()
    );
    omnivox_store::lockouts::record_failure(db, "10.0.0.1", 3, w, w)
        .await
        .unwrap();
    assert!(
        omnivox_store::lockouts::locked_until(db, "10.0.0.1")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        omnivox_store::lockouts::clear(db, "10.0.0.1")
            .await
            .unwrap()
    );
    assert!(
        omnivox_store::lockouts::locked_until(db, "10.0.0.1")
            .await
            .unwrap()
            .is_none()
    );
}
