//! Flow webhook signing secrets: put creates then replaces (keeping
//! `created_at`), names are listed in order, deletion, the name -> bytes map
//! the interpreter takes, `Debug` never showing a value, puts inside a
//! caller's transaction, and every row kept to its tenant. Run on SQLite
//! and (with OMNIVOX_TEST_BACKEND=postgres) on PostgreSQL by the same code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{sealer, store, tenant};
use omnivox_store::flow_secrets::{FlowSecretRow, NAME_MAX, valid_name};
use omnivox_store::seal::{Field, Sealed};
use omnivox_store::{Scoped, StoreError, commit};
use std::collections::BTreeMap;

const CRM: &str = "crm-signing-key-0123456789";
const CRM2: &str = "crm-rotated-key-9876543210";

fn sealed(secret: &str) -> Sealed {
    sealer().seal(Field::FlowSecret, secret).unwrap()
}

fn open(secret: &Sealed) -> String {
    sealer().open(Field::FlowSecret, secret).unwrap()
}

fn names(rows: &[FlowSecretRow]) -> Vec<&str> {
    rows.iter().map(|r| r.name.as_str()).collect()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
    pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), v.as_bytes().to_vec()))
        .collect()
}

#[test]
fn names_are_1_to_64_of_letters_digits_underscore_dot_dash() {
    for ok in [
        "crm",
        "CRM_v2.prod-1",
        "a",
        &"x".repeat(NAME_MAX),
        "_",
        "..",
        "0",
    ] {
        assert!(valid_name(ok), "{ok:?}");
    }
    for bad in [
        "",
        &"x".repeat(NAME_MAX + 1),
        "has space",
        "slash/name",
        "émoji",
        "tab\t",
        "colon:x",
        "percent%20",
    ] {
        assert!(!valid_name(bad), "{bad:?}");
    }
}

#[tokio::test]
async fn put_creates_then_replaces_lists_by_name_and_deletes() {
    let (s, _d) = store().await;
    let a = tenant(&s, "acme").await;
    let sa = Scoped::new(s.writer(), a);

    assert!(sa.list_flow_secrets().await.unwrap().is_empty());
    assert!(sa.flow_secrets(&sealer()).await.unwrap().is_empty());

    let (crm, created) = sa.put_flow_secret("crm", &sealed(CRM)).await.unwrap();
    assert!(created);
    assert_eq!(
        (crm.tenant_id, crm.name.as_str(), open(&crm.secret).as_str()),
        (a.0, "crm", CRM)
    );
    assert_eq!(crm.created_at, crm.updated_at);
    // The row returned is the row stored.
    assert_eq!(sa.list_flow_secrets().await.unwrap(), vec![crm.clone()]);
    // Debug output (logs) never carries the value.
    let dbg = format!("{crm:?}");
    assert!(!dbg.contains(CRM), "{dbg}");
    assert!(dbg.contains("[redacted]") && dbg.contains("crm"), "{dbg}");

    // Names sort; case matters.
    let (_, c) = sa.put_flow_secret("Billing", &sealed(CRM2)).await.unwrap();
    assert!(c);
    let (_, c) = sa
        .put_flow_secret("alerts.v2", &sealed("alerts-key-00000000"))
        .await
        .unwrap();
    assert!(c);
    let listed = sa.list_flow_secrets().await.unwrap();
    assert_eq!(names(&listed), ["Billing", "alerts.v2", "crm"]);

    // Replacing keeps created_at, moves updated_at, changes the value.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let (again, created) = sa.put_flow_secret("crm", &sealed(CRM2)).await.unwrap();
    assert!(!created);
    assert_eq!(open(&again.secret), CRM2);
    assert_eq!(again.created_at, crm.created_at);
    assert!(again.updated_at > crm.updated_at, "{again:?} vs {crm:?}");
    assert_eq!(sa.list_flow_secrets().await.unwrap().len(), 3);
    assert_eq!(
        sa.flow_secrets(&sealer()).await.unwrap(),
        map(&[
            ("Billing", CRM2),
            ("alerts.v2", "alerts-key-00000000"),
            ("crm", CRM2)
        ])
    );
    // Putting the same value again is still a replacement.
    let (_, created) = sa.put_flow_secret("crm", &sealed(CRM2)).await.unwrap();
    assert!(!created);

    // Delete returns the row; a second delete, or an unknown name, is
    // NotFound.
    let gone = sa.delete_flow_secret("Billing").await.unwrap();
    assert_eq!(
        (gone.name.as_str(), open(&gone.secret).as_str()),
        ("Billing", CRM2)
    );
    assert!(matches!(
        sa.delete_flow_secret("Billing").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        sa.delete_flow_secret("billing").await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        names(&sa.list_flow_secrets().await.unwrap()),
        ["alerts.v2", "crm"]
    );
    // A deleted name can be created again.
    let (_, created) = sa.put_flow_secret("Billing", &sealed(CRM)).await.unwrap();
    assert!(created);
}

#[tokio::test]
async fn secrets_stay_in_their_tenant() {
    let (s, _d) = store().await;
    let a = tenant(&s, "acme").await;
    let b = tenant(&s, "globex").await;
    let sa = Scoped::new(s.writer(), a);
    let sb = Scoped::new(s.writer(), b);

    sa.put_flow_secret("crm", &sealed(CRM)).await.unwrap();
    // The same name in another tenant is another secret.
    let (theirs, created) = sb.put_flow_secret("crm", &sealed(CRM2)).await.unwrap();
    assert!(created, "another tenant's name must not count as taken");
    assert_eq!(theirs.tenant_id, b.0);
    sb.put_flow_secret("only-b", &sealed(CRM2)).await.unwrap();

    assert_eq!(
        sa.flow_secrets(&sealer()).await.unwrap(),
        map(&[("crm", CRM)])
    );
    assert_eq!(
        sb.flow_secrets(&sealer()).await.unwrap(),
        map(&[("crm", CRM2), ("only-b", CRM2)])
    );
    assert_eq!(names(&sa.list_flow_secrets().await.unwrap()), ["crm"]);
    // Another tenant's name cannot be deleted from here.
    assert!(matches!(
        sa.delete_flow_secret("only-b").await,
        Err(StoreError::NotFound)
    ));
    // Deleting ours leaves theirs.
    sa.delete_flow_secret("crm").await.unwrap();
    assert!(sa.flow_secrets(&sealer()).await.unwrap().is_empty());
    assert_eq!(sb.flow_secrets(&sealer()).await.unwrap().len(), 2);

    // A tenant's secrets go with it.
    use sea_orm::EntityTrait;
    omnivox_store::entities::tenant::Entity::delete_by_id(b.0)
        .exec(s.writer())
        .await
        .unwrap();
    let left = omnivox_store::entities::flow_secret::Entity::find()
        .all(s.writer())
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn puts_work_inside_a_callers_transaction() {
    let (s, _d) = store().await;
    let a = tenant(&s, "acme").await;
    let sa = Scoped::new(s.writer(), a);
    sa.put_flow_secret("crm", &sealed(CRM)).await.unwrap();

    // A replacement inside a transaction (the insert that meets the
    // existing row must not abort it on PostgreSQL), followed by more work
    // in the same transaction, then a commit.
    let tx = s.begin().await.unwrap();
    let st = Scoped::new(&tx, a);
    let (row, created) = st.put_flow_secret("crm", &sealed(CRM2)).await.unwrap();
    assert!(!created);
    assert_eq!(open(&row.secret), CRM2);
    let (_, created) = st.put_flow_secret("new", &sealed(CRM)).await.unwrap();
    assert!(created);
    assert_eq!(st.list_flow_secrets().await.unwrap().len(), 2);
    commit(tx).await.unwrap();
    assert_eq!(
        sa.flow_secrets(&sealer()).await.unwrap(),
        map(&[("crm", CRM2), ("new", CRM)])
    );

    // A rolled-back put leaves the old value.
    let tx = s.begin().await.unwrap();
    Scoped::new(&tx, a)
        .put_flow_secret("crm", &sealed("rolled-back-value-000"))
        .await
        .unwrap();
    Scoped::new(&tx, a).delete_flow_secret("new").await.unwrap();
    drop(tx);
    assert_eq!(
        sa.flow_secrets(&sealer()).await.unwrap(),
        map(&[("crm", CRM2), ("new", CRM)])
    );
}

#[tokio::test]
async fn concurrent_puts_of_one_name_create_it_once() {
    let (s, _d) = store().await;
    let a = tenant(&s, "acme").await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            Scoped::new(s.writer(), a)
                .put_flow_secret("shared", &sealed(&format!("value-number-{i:08}")))
                .await
                .unwrap()
                .1
        }));
    }
    let mut created = 0;
    for t in tasks {
        created += usize::from(t.await.unwrap());
    }
    assert_eq!(created, 1, "exactly one put creates the name");
    let rows = Scoped::new(s.writer(), a)
        .list_flow_secrets()
        .await
        .unwrap();
    assert_eq!(names(&rows), ["shared"]);
}
