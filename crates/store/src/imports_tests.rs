#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::contacts::{ContactFilter, DedupScope};
use crate::lists::NewList;
use crate::tenants::NewTenant;
use crate::{DbConfig, PageRequest, tenants};
use std::collections::HashSet;

/// A fresh database, as `omnivox_testkit::test_database` makes one (the
/// testkit's types are another build of this crate): a temp SQLite file,
/// or a new PostgreSQL schema with `OMNIVOX_TEST_BACKEND=postgres`.
async fn store() -> (Store, Option<tempfile::TempDir>) {
    let (cfg, dir) = if std::env::var("OMNIVOX_TEST_BACKEND").as_deref() == Ok("postgres") {
        let url = std::env::var("OMNIVOX_TEST_PG").expect("OMNIVOX_TEST_PG");
        let schema = format!("ovx_t_{}", Uuid::new_v4().simple());
        (
            DbConfig {
                url,
                max_connections: 4,
                schema: Some(schema),
            },
            None,
        )
    } else {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/omnivox.db", dir.path().display());
        (
            DbConfig {
                url,
                max_connections: 4,
                schema: None,
            },
            Some(dir),
        )
    };
    let s = Store::connect(&cfg).await.unwrap();
    s.migrate().await.unwrap();
    (s, dir)
}

async fn tenant(s: &Store, slug: &str) -> TenantId {
    let t = tenants::create(
        s.writer(),
        NewTenant {
            name: slug.into(),
            slug: slug.into(),
            time_zone: "UTC".into(),
            locale: "en-US".into(),
            business_hours: serde_json::json!({}),
            require_2fa: false,
        },
    )
    .await
    .unwrap();
    TenantId(t.id)
}

/// A list and an import job into it.
async fn list_and_job(s: &Store, t: TenantId, name: &str) -> (Uuid, ImportJob) {
    let sc = Scoped::new(s.writer(), t);
    let list = sc
        .create_list(NewList {
            name,
            description: "",
            default_region: "US",
            source: "import",
            created_by: None,
        })
        .await
        .unwrap();
    let job = sc
        .create_import(NewImport {
            list_id: list.id,
            file_name: "x.csv",
            stored_path: "/nowhere",
            size_bytes: 1,
            settings: serde_json::json!({}),
            created_by: None,
        })
        .await
        .unwrap();
    (list.id, job)
}

fn phone(e164: &str, kind: &str, ext: Option<&str>) -> NewPhone {
    NewPhone {
        e164: e164.into(),
        kind: kind.into(),
        extension: ext.map(Into::into),
    }
}

fn contact(key: &str, phones: Vec<NewPhone>) -> NewContact {
    NewContact {
        dedup_key: key.into(),
        phones,
        ..NewContact::default()
    }
}

fn all() -> PageRequest {
    PageRequest {
        after: None,
        limit: 200,
    }
}

async fn write(
    s: &Store,
    t: TenantId,
    list: Uuid,
    job: Uuid,
    contacts: Vec<NewContact>,
) -> Result<()> {
    let n = contacts.len() as i64;
    let batch = s.import_batches(t, list, job).build(
        contacts,
        Progress {
            read: n,
            accepted: n,
            ..Progress::default()
        },
        n,
        Vec::new(),
    )?;
    s.write_import_batch(batch).await
}

#[tokio::test]
async fn a_batch_stores_contacts_phones_errors_and_progress() {
    let (s, _dir) = store().await;
    let t = tenant(&s, "acme").await;
    let (list, job) = list_and_job(&s, t, "Main").await;
    // 300 rows: statements of several sizes (128, 128, 32, 8, 4).
    let mut contacts: Vec<NewContact> = (0..300)
        .map(|i| {
            let mut c = contact(
                &format!("tel:+1415555{i:04}"),
                vec![phone(&format!("+1415555{i:04}"), "other", None)],
            );
            c.first_name = Some(format!("N{i}"));
            c
        })
        .collect();
    let mut custom = serde_json::Map::new();
    custom.insert("tier".into(), serde_json::json!("Gold"));
    custom.insert("vip".into(), serde_json::json!(true));
    custom.insert("score".into(), serde_json::json!(7.5));
    contacts[17] = NewContact {
        first_name: Some("José".into()),
        last_name: Some("O'Brien, Jr.".into()),
        email: Some("jose@example.com".into()),
        address1: Some("1 Main St".into()),
        address2: None,
        city: Some("Springfield".into()),
        state: Some("IL".into()),
        postal_code: Some("62701".into()),
        country: Some("US".into()),
        external_id: Some("CRM-17".into()),
        custom,
        dedup_key: "ext:CRM-17".into(),
        phones: vec![
            phone("+14155550999", "work", Some("12")),
            phone("+442079460958", "mobile", None),
        ],
    };
    let errors = vec![NewImportError {
        row_number: 4,
        line: 5,
        column: "Phone".into(),
        severity: "error".into(),
        code: "invalid_phone".into(),
        reason: "not a number".into(),
        value: "x".repeat(600),
    }];
    let progress = Progress {
        read: 302,
        accepted: 300,
        rejected: 1,
        duplicate: 1,
    };
    let batch = s
        .import_batches(t, list, job.id)
        .build(contacts, progress, 302, errors)
        .unwrap();
    s.write_import_batch(batch).await.unwrap();

    let sc = Scoped::new(s.reader(), t);
    let done = sc.get_import(job.id).await.unwrap();
    assert_eq!(
        (
            done.rows_read,
            done.rows_accepted,
            done.rows_rejected,
            done.rows_duplicate,
            done.rows_committed
        ),
        (302, 300, 1, 1, 302)
    );
    let errs = sc.import_errors(job.id, &all()).await.unwrap().items;
    assert_eq!(errs.len(), 1);
    assert_eq!((errs[0].row_number, errs[0].line), (4, 5));
    assert_eq!(errs[0].value.chars().count(), 500, "values are cut");

    let filter = ContactFilter {
        list_id: Some(list),
        ..ContactFilter::default()
    };
    let mut seen = 0;
    let mut page = all();
    loop {
        let p = sc.search_contacts(&filter, &page).await.unwrap();
        seen += p.items.len();
        match p.items.last() {
            Some(last) if p.next_cursor.is_some() => page.after = Some(last.row.id),
            _ => break,
        }
    }
    assert_eq!(seen, 300);
    // Listing order (by id) is file order, whatever order rows went in.
    let first = sc.search_contacts(&filter, &all()).await.unwrap().items;
    assert_eq!(first[0].row.first_name.as_deref(), Some("N0"));
    assert_eq!(first[1].row.first_name.as_deref(), Some("N1"));
    assert_eq!(first[18].row.first_name.as_deref(), Some("N18"));

    let found = sc
        .search_contacts(
            &ContactFilter {
                phone: Some("+442079460958".into()),
                ..ContactFilter::default()
            },
            &all(),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(found.len(), 1);
    let c = sc.get_contact(found[0].row.id).await.unwrap();
    let r = &c.row;
    assert_eq!(r.first_name.as_deref(), Some("José"));
    assert_eq!(r.last_name.as_deref(), Some("O'Brien, Jr."));
    assert_eq!(r.address2, None);
    assert_eq!(r.external_id.as_deref(), Some("CRM-17"));
    assert_eq!(r.dedup_key, "ext:CRM-17");
    assert_eq!(r.status, "new");
    assert_eq!((r.list_id, r.import_id), (list, Some(job.id)));
    assert_eq!(
        r.custom,
        serde_json::json!({"tier": "Gold", "vip": true, "score": 7.5})
    );
    assert_eq!(r.created_at, r.updated_at);
    assert!((crate::now() - r.created_at).num_seconds().abs() < 60);
    let phones: Vec<_> = c
        .phones
        .iter()
        .map(|p| {
            (
                p.position,
                p.e164.as_str(),
                p.kind.as_str(),
                p.extension.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        phones,
        [
            (0, "+14155550999", "work", Some("12")),
            (1, "+442079460958", "mobile", None)
        ]
    );
}

#[tokio::test]
async fn existing_keys_are_found_by_phone_and_by_other_keys_in_scope() {
    let (s, _dir) = store().await;
    let t = tenant(&s, "acme").await;
    let other = tenant(&s, "other").await;
    let (a, job_a) = list_and_job(&s, t, "A").await;
    let (b, job_b) = list_and_job(&s, t, "B").await;
    let (o, job_o) = list_and_job(&s, other, "O").await;
    write(
        &s,
        t,
        a,
        job_a.id,
        vec![
            contact(
                "tel:+14155550100",
                vec![phone("+14155550100", "other", None)],
            ),
            contact(
                "tel:+14155550101;ext=12",
                vec![phone("+14155550101", "work", Some("12"))],
            ),
            // Its phone is not its key.
            contact("ext:CRM-1", vec![phone("+14155550102", "other", None)]),
            // A key from the first phone; the second matches nothing.
            contact(
                "tel:+14155550103",
                vec![
                    phone("+14155550103", "other", None),
                    phone("+14155550104", "mobile", None),
                ],
            ),
        ],
    )
    .await
    .unwrap();
    write(
        &s,
        t,
        b,
        job_b.id,
        vec![contact(
            "tel:+14155550200",
            vec![phone("+14155550200", "other", None)],
        )],
    )
    .await
    .unwrap();
    write(
        &s,
        other,
        o,
        job_o.id,
        vec![
            contact(
                "tel:+14155550300",
                vec![phone("+14155550300", "other", None)],
            ),
            contact("ext:CRM-9", vec![phone("+14155550301", "other", None)]),
        ],
    )
    .await
    .unwrap();

    let keys = [
        "tel:+14155550100",
        "tel:+14155550101;ext=12",
        "tel:+14155550101",
        "tel:+14155550101;ext=13",
        "ext:CRM-1",
        "ext:CRM-2",
        "tel:+14155550102",
        "tel:+14155550104",
        "tel:+14155550200",
        "tel:+14155550300",
        "ext:CRM-9",
    ];
    let sorted = |h: HashSet<String>| {
        let mut v: Vec<String> = h.into_iter().collect();
        v.sort();
        v
    };
    let sc = Scoped::new(s.reader(), t);
    assert_eq!(
        sorted(
            sc.existing_dedup_keys(&keys, DedupScope::List(a))
                .await
                .unwrap()
        ),
        ["ext:CRM-1", "tel:+14155550100", "tel:+14155550101;ext=12"]
    );
    assert_eq!(
        sorted(
            sc.existing_dedup_keys(&keys, DedupScope::List(b))
                .await
                .unwrap()
        ),
        ["tel:+14155550200"]
    );
    assert_eq!(
        sorted(
            sc.existing_dedup_keys(&keys, DedupScope::Tenant)
                .await
                .unwrap()
        ),
        [
            "ext:CRM-1",
            "tel:+14155550100",
            "tel:+14155550101;ext=12",
            "tel:+14155550200"
        ]
    );
    let so = Scoped::new(s.reader(), other);
    assert_eq!(
        sorted(
            so.existing_dedup_keys(&keys, DedupScope::Tenant)
                .await
                .unwrap()
        ),
        ["ext:CRM-9", "tel:+14155550300"]
    );
    assert!(
        sc.existing_dedup_keys(&[], DedupScope::Tenant)
            .await
            .unwrap()
            .is_empty()
    );
    // More keys than one lookup statement takes.
    let many: Vec<String> = (0..2500).map(|i| format!("tel:+1650555{i:04}")).collect();
    let mut many: Vec<&str> = many.iter().map(String::as_str).collect();
    many.push("tel:+14155550100");
    many.push("ext:CRM-1");
    assert_eq!(
        sorted(
            sc.existing_dedup_keys(&many, DedupScope::List(a))
                .await
                .unwrap()
        ),
        ["ext:CRM-1", "tel:+14155550100"]
    );
}

#[tokio::test]
async fn a_failing_batch_leaves_nothing_behind() {
    let (s, _dir) = store().await;
    let t = tenant(&s, "acme").await;
    let (list, job) = list_and_job(&s, t, "Main").await;
    let contacts = |n: usize, from: usize| -> Vec<NewContact> {
        (from..from + n)
            .map(|i| {
                contact(
                    &format!("tel:+1415555{i:04}"),
                    vec![phone(&format!("+1415555{i:04}"), "other", None)],
                )
            })
            .collect()
    };
    // Rows for a list that does not exist: the foreign key refuses them
    // after many good rows of the same batch went in.
    let mut bad = contacts(200, 0);
    bad.extend(contacts(1, 500));
    let n = bad.len() as i64;
    let batch = s
        .import_batches(t, Uuid::now_v7(), job.id)
        .build(
            bad,
            Progress {
                read: n,
                accepted: n,
                ..Progress::default()
            },
            n,
            Vec::new(),
        )
        .unwrap();
    assert!(s.write_import_batch(batch).await.is_err());
    let sc = Scoped::new(s.reader(), t);
    let j = sc.get_import(job.id).await.unwrap();
    assert_eq!((j.rows_read, j.rows_committed), (0, 0));
    assert!(sc.import_dedup_keys(job.id).await.unwrap().is_empty());
    // The writer is fine afterwards.
    write(&s, t, list, job.id, contacts(3, 0)).await.unwrap();
    assert_eq!(sc.import_dedup_keys(job.id).await.unwrap().len(), 3);
}

#[tokio::test]
async fn any_text_survives_the_batch_encoding() {
    let (s, _dir) = store().await;
    let t = tenant(&s, "acme").await;
    let (list, job) = list_and_job(&s, t, "Main").await;
    let odd = "quote \" backslash \\ tab \t newline \n cr \r emoji 🙂 ünï <>&'";
    let mut c = contact(
        "ext:odd \"key\"",
        vec![phone("+14155550100", "work", Some("1\"2"))],
    );
    c.first_name = Some(odd.into());
    c.city = Some(String::new());
    c.custom.insert("note".into(), serde_json::json!(odd));
    c.custom
        .insert("n".into(), serde_json::json!(12345678901_i64));
    c.custom.insert("x".into(), serde_json::json!(-0.25));
    c.custom.insert("none".into(), serde_json::Value::Null);
    let custom = serde_json::Value::Object(c.custom.clone());
    let errors = vec![NewImportError {
        row_number: 9_000_000_000,
        line: 2,
        column: "Ünï \"col\"".into(),
        severity: "warning".into(),
        code: "odd".into(),
        reason: odd.into(),
        value: "é".repeat(700),
    }];
    let batch = s
        .import_batches(t, list, job.id)
        .build(
            vec![c],
            Progress {
                read: 1,
                accepted: 1,
                ..Progress::default()
            },
            1,
            errors,
        )
        .unwrap();
    s.write_import_batch(batch).await.unwrap();
    let sc = Scoped::new(s.reader(), t);
    let found = sc
        .search_contacts(
            &ContactFilter {
                list_id: Some(list),
                ..ContactFilter::default()
            },
            &all(),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(found.len(), 1);
    let got = sc.get_contact(found[0].row.id).await.unwrap();
    assert_eq!(got.row.first_name.as_deref(), Some(odd));
    assert_eq!(got.row.city.as_deref(), Some(""));
    assert_eq!(got.row.last_name, None);
    assert_eq!(got.row.dedup_key, "ext:odd \"key\"");
    assert_eq!(got.row.custom, custom);
    assert_eq!(got.phones[0].extension.as_deref(), Some("1\"2"));
    let errs = sc.import_errors(job.id, &all()).await.unwrap().items;
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].row_number, 9_000_000_000);
    assert_eq!(errs[0].column, "Ünï \"col\"");
    assert_eq!(errs[0].reason, odd);
    assert_eq!(errs[0].value, "é".repeat(500));
}
