//! What the store's test files share: a migrated store on the test
//! database (SQLite, or PostgreSQL when `OMNIVOX_TEST_BACKEND` says so), a
//! tenant in it, and the conflict a refused write names. Each test file
//! uses what it needs.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use omnivox_domain::TenantId;
use omnivox_store::tenants::NewTenant;
use omnivox_store::{Store, StoreError, tenants};

/// The sealer of the store tests' secrets.
pub fn sealer() -> omnivox_store::seal::Sealer {
    omnivox_store::seal::Sealer::new(b"a store test master key, 32+ bytes long").unwrap()
}

/// A migrated store, and the temporary directory of its SQLite file.
pub async fn store() -> (Store, Option<tempfile::TempDir>) {
    let (cfg, dir) = omnivox_testkit::test_database();
    let s = Store::connect(&cfg).await.unwrap();
    s.migrate().await.unwrap();
    (s, dir)
}

/// A new tenant with `slug`.
pub async fn tenant(s: &Store, slug: &str) -> TenantId {
    TenantId(
        tenants::create(
            s.writer(),
            NewTenant {
                name: slug.to_uppercase(),
                slug: slug.into(),
                time_zone: "UTC".into(),
                locale: "en-US".into(),
                business_hours: serde_json::json!({}),
                require_2fa: false,
            },
        )
        .await
        .unwrap()
        .id,
    )
}

/// What a [`StoreError::Conflict`] names; panics on anything else.
pub fn conflict(r: Result<impl std::fmt::Debug, StoreError>) -> String {
    match r {
        Err(StoreError::Conflict(what)) => what,
        other => panic!("expected a conflict, got {other:?}"),
    }
}
