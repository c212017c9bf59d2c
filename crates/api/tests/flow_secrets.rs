//! Flow webhook signing secrets over HTTP: create (201) and replace (200)
//! by name, the list by name without values, deletion (204, then 404),
//! name and length rules, unknown fields, roles (`telephony_read` lists,
//! `telephony_manage` changes), tenant isolation, the audit trail with the
//! name only, and the value never in any response or audit entry while the
//! store holds it exactly as the interpreter will use it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{field_errors, pairs};
use omnivox_domain::TenantId;
use omnivox_store::{Scoped, Store};
use omnivox_testkit::{Resp, TestApp, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const CRM: &str = "crm-signing-key-do-not-show-1";
const CRM_ROTATED: &str = "crm-rotated-key-do-not-show-2";
const BILLING: &str = "billing-hmac-key-never-shown";
const THEIRS: &str = "other-tenant-key-never-shown";

fn base(t: &str) -> String {
    format!("/api/v1/tenants/{t}/flow-secrets")
}

fn one(t: &str, name: &str) -> String {
    format!("{}/{name}", base(t))
}

async fn put(app: &TestApp, t: &str, token: &str, name: &str, body: Value) -> Resp {
    app.call(Method::PUT, &one(t, name), Some(token), Some(body))
        .await
}

fn names(r: &Resp) -> Vec<String> {
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    r.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {r:?}"))
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect()
}

/// The item's keys: exactly the name and the times.
fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

/// Every audit entry of the tenant, newest first.
async fn audit(app: &TestApp, t: &str, token: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/api/v1/tenants/{t}/audit?limit=200"), token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    r.body["items"].as_array().unwrap().clone()
}

/// The entries of the flow secret actions, oldest first, as
/// `(action, target_id, before, after)`.
fn secret_entries(log: &[Value]) -> Vec<(String, String, Value, Value)> {
    log.iter()
        .rev()
        .filter(|e| e["action"].as_str().unwrap().starts_with("flow_secret."))
        .map(|e| {
            assert_eq!(e["target_type"], "flow_secret", "{e}");
            (
                e["action"].as_str().unwrap().to_owned(),
                e["target_id"].as_str().unwrap().to_owned(),
                e["before"].clone(),
                e["after"].clone(),
            )
        })
        .collect()
}

/// What the live interpreter gets for the tenant.
async fn stored(app: &TestApp, t: &str) -> BTreeMap<String, Vec<u8>> {
    let db = Store::connect(&app.config.database).await.unwrap();
    let sealer = omnivox_api::master_key::load(&app.config, &db)
        .await
        .unwrap();
    let map = Scoped::new(db.reader(), TenantId(t.parse().unwrap()))
        .flow_secrets(&sealer)
        .await
        .unwrap();
    db.close().await;
    map
}

/// Fails if a response shows any of the secret values.
struct Watch(Vec<String>);

impl Watch {
    fn check(&mut self, r: &Resp) {
        let text = format!("{:?} {}", r.headers, r.body);
        for s in [CRM, CRM_ROTATED, BILLING, THEIRS] {
            assert!(!text.contains(s), "a response shows a secret: {text}");
        }
        self.0.push(text);
    }
}

#[tokio::test]
async fn secrets_are_set_listed_and_deleted_by_name_and_never_shown() {
    let app = spawn_app().await;
    let (t, owner, t2, owner2) = app.two_tenants().await;
    let admin = app.member(&t, &owner, "admin@example.com", "admin").await;
    let mut seen = Watch(Vec::new());

    // Create: 201 with the name and times only.
    let r = put(&app, &t, &owner, "crm", json!({ "secret": CRM })).await;
    seen.check(&r);
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(keys(&r.body), ["created_at", "name", "updated_at"]);
    assert_eq!(r.body["name"], "crm");
    assert_eq!(r.body["created_at"], r.body["updated_at"]);
    let created_at = r.body["created_at"].clone();
    let r = put(
        &app,
        &t,
        &admin,
        "Billing.v2_x-1",
        json!({ "secret": BILLING }),
    )
    .await;
    seen.check(&r);
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");

    // Replace: 200, created_at kept, updated_at moved; the store has the
    // new value byte for byte.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let r = put(&app, &t, &admin, "crm", json!({ "secret": CRM_ROTATED })).await;
    seen.check(&r);
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(keys(&r.body), ["created_at", "name", "updated_at"]);
    assert_eq!(r.body["created_at"], created_at);
    assert_ne!(r.body["updated_at"], created_at);
    assert_eq!(
        stored(&app, &t).await,
        BTreeMap::from([
            ("Billing.v2_x-1".to_owned(), BILLING.as_bytes().to_vec()),
            ("crm".to_owned(), CRM_ROTATED.as_bytes().to_vec()),
        ])
    );

    // The list: by name, names and times only.
    let r = app.get(&base(&t), &owner).await;
    seen.check(&r);
    assert_eq!(names(&r), ["Billing.v2_x-1", "crm"]);
    for item in r.body["items"].as_array().unwrap() {
        assert_eq!(keys(item), ["created_at", "name", "updated_at"]);
    }
    assert_eq!(keys(&r.body), ["items"]);

    // Delete: 204, then 404; the list and the store lose it.
    let r = app.delete(&one(&t, "Billing.v2_x-1"), &owner).await;
    seen.check(&r);
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    let r = app.delete(&one(&t, "Billing.v2_x-1"), &owner).await;
    seen.check(&r);
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::NOT_FOUND, "not_found"),
        "{r:?}"
    );
    let r = app.get(&base(&t), &owner).await;
    seen.check(&r);
    assert_eq!(names(&r), ["crm"]);
    assert_eq!(
        stored(&app, &t).await,
        BTreeMap::from([("crm".to_owned(), CRM_ROTATED.as_bytes().to_vec())])
    );

    // The audit trail: one entry per change, the name only, never a value.
    let log = audit(&app, &t, &owner).await;
    let text = serde_json::to_string(&log).unwrap();
    for s in [CRM, CRM_ROTATED, BILLING] {
        assert!(!text.contains(s), "the audit trail shows a secret: {text}");
    }
    let name = |n: &str| json!({ "name": n });
    assert_eq!(
        secret_entries(&log),
        [
            (
                "flow_secret.created".to_owned(),
                "crm".to_owned(),
                Value::Null,
                name("crm")
            ),
            (
                "flow_secret.created".to_owned(),
                "Billing.v2_x-1".to_owned(),
                Value::Null,
                name("Billing.v2_x-1")
            ),
            (
                "flow_secret.replaced".to_owned(),
                "crm".to_owned(),
                Value::Null,
                name("crm")
            ),
            (
                "flow_secret.deleted".to_owned(),
                "Billing.v2_x-1".to_owned(),
                name("Billing.v2_x-1"),
                Value::Null
            ),
        ]
    );
    // Who did it is recorded as for every change.
    let replaced = log
        .iter()
        .find(|e| e["action"] == "flow_secret.replaced")
        .unwrap();
    assert_eq!(replaced["actor_type"], "user");

    // The other tenant: its own namespace, invisible from here.
    let r = put(&app, &t2, &owner2, "crm", json!({ "secret": THEIRS })).await;
    seen.check(&r);
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "the same name elsewhere is new"
    );
    let r = put(
        &app,
        &t2,
        &owner2,
        "only-theirs",
        json!({ "secret": THEIRS }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let r = app.get(&base(&t), &owner).await;
    seen.check(&r);
    assert_eq!(names(&r), ["crm"]);
    let r = app.delete(&one(&t, "only-theirs"), &owner).await;
    seen.check(&r);
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");
    // Neither tenant's changes touched the other's values.
    assert_eq!(
        stored(&app, &t2).await,
        BTreeMap::from([
            ("crm".to_owned(), THEIRS.as_bytes().to_vec()),
            ("only-theirs".to_owned(), THEIRS.as_bytes().to_vec()),
        ])
    );
    assert_eq!(
        stored(&app, &t).await,
        BTreeMap::from([("crm".to_owned(), CRM_ROTATED.as_bytes().to_vec())])
    );
    // Nor can this tenant's owner reach the other tenant's path.
    let r = app.get(&base(&t2), &owner).await;
    seen.check(&r);
    assert!(
        matches!(r.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
        "{r:?}"
    );
    let r = app.delete(&one(&t2, "crm"), &owner).await;
    assert!(
        matches!(r.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
        "{r:?}"
    );
    assert_eq!(stored(&app, &t2).await.len(), 2);
    let log2 = audit(&app, &t2, &owner2).await;
    assert!(!serde_json::to_string(&log2).unwrap().contains(THEIRS));
    assert!(seen.0.len() > 10);
}

#[tokio::test]
async fn bad_names_lengths_and_fields_are_refused_and_not_audited() {
    let app = spawn_app().await;
    let (t, owner) = app.owner().await;
    let ok = json!({ "secret": CRM });

    // Bad names, percent-encoded in the path where needed.
    let long = "n".repeat(65);
    for bad in [
        "has%20space",
        "colon:name",
        "%C3%A9t%C3%A9",
        "plus+sign",
        "semi%3Bcolon",
        long.as_str(),
    ] {
        let r = put(&app, &t, &owner, bad, ok.clone()).await;
        assert_eq!(
            field_errors(&r),
            pairs(&[("name", "invalid_name")]),
            "{bad}: {r:?}"
        );
        let r = app.delete(&one(&t, bad), &owner).await;
        assert_eq!(
            field_errors(&r),
            pairs(&[("name", "invalid_name")]),
            "{bad}: {r:?}"
        );
    }
    // The longest name is fine.
    let longest = "n".repeat(64);
    let r = put(&app, &t, &owner, &longest, ok.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");

    // Lengths count characters: 16 and 256 are fine, 15 and 257 are not.
    for (len, fine) in [
        (15, false),
        (16, true),
        (256, true),
        (257, false),
        (0, false),
    ] {
        let value = "k".repeat(len);
        let r = put(&app, &t, &owner, "len", json!({ "secret": value })).await;
        if fine {
            assert!(r.status.is_success(), "{len}: {r:?}");
        } else {
            assert_eq!(
                field_errors(&r),
                pairs(&[("secret", "invalid_length")]),
                "{len}: {r:?}"
            );
            // The message states the rule, not the value.
            assert!(len == 0 || !r.body.to_string().contains(&value), "{r:?}");
        }
    }
    // 16 two-byte characters are 16 characters.
    let r = put(
        &app,
        &t,
        &owner,
        "utf8",
        json!({ "secret": "é".repeat(16) }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    // 15 of them are too short although they are 30 bytes.
    let r = put(
        &app,
        &t,
        &owner,
        "utf8",
        json!({ "secret": "é".repeat(15) }),
    )
    .await;
    assert_eq!(field_errors(&r), pairs(&[("secret", "invalid_length")]));

    // Both problems at once.
    let r = put(&app, &t, &owner, "bad%20name", json!({ "secret": "short" })).await;
    assert_eq!(
        field_errors(&r),
        pairs(&[("name", "invalid_name"), ("secret", "invalid_length")])
    );

    // Unknown fields, a missing or mistyped value.
    let r = put(
        &app,
        &t,
        &owner,
        "crm",
        json!({ "secret": CRM, "algorithm": "sha1" }),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "unknown_field"),
        "{r:?}"
    );
    assert!(!r.body.to_string().contains(CRM), "{r:?}");
    let r = put(&app, &t, &owner, "crm", json!({ "value": CRM })).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "unknown_field"),
        "{r:?}"
    );
    let r = put(&app, &t, &owner, "crm", json!({})).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "invalid_body"),
        "{r:?}"
    );
    let r = put(
        &app,
        &t,
        &owner,
        "crm",
        json!({ "secret": 1234567890123456_i64 }),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "invalid_body"),
        "{r:?}"
    );

    // Nothing refused was stored or audited.
    let map = stored(&app, &t).await;
    let mut got: Vec<&str> = map.keys().map(String::as_str).collect();
    got.sort_unstable();
    assert_eq!(got, ["len", longest.as_str(), "utf8"]);
    assert_eq!(map["len"], "k".repeat(256).into_bytes());
    assert!(!map.contains_key("crm"));
    let log = audit(&app, &t, &owner).await;
    let actions: Vec<(String, String)> = secret_entries(&log)
        .into_iter()
        .map(|(a, n, _, _)| (a, n))
        .collect();
    assert_eq!(
        actions,
        [
            ("flow_secret.created".to_owned(), longest.clone()),
            ("flow_secret.created".to_owned(), "len".to_owned()),
            ("flow_secret.replaced".to_owned(), "len".to_owned()),
            ("flow_secret.created".to_owned(), "utf8".to_owned()),
        ]
    );
}

#[tokio::test]
async fn telephony_read_lists_and_telephony_manage_changes() {
    let app = spawn_app().await;
    let (t, owner) = app.owner().await;
    let r = put(&app, &t, &owner, "crm", json!({ "secret": CRM })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");

    let mut tokens = Vec::new();
    for role in ["admin", "supervisor", "agent", "analyst", "viewer"] {
        let token = app
            .member(&t, &owner, &format!("{role}@example.com"), role)
            .await;
        tokens.push((role, token));
    }
    for (role, token) in &tokens {
        // Listing: roles with telephony_read.
        let can_read = matches!(*role, "admin" | "supervisor");
        let r = app.get(&base(&t), token).await;
        if can_read {
            assert_eq!(names(&r), ["crm"], "{role}");
        } else {
            assert_eq!(
                (r.status, r.code()),
                (StatusCode::FORBIDDEN, "forbidden"),
                "{role}: {r:?}"
            );
        }
        // Changing: roles with telephony_manage (of these, only admin).
        let can_manage = *role == "admin";
        let r = put(&app, &t, token, "crm", json!({ "secret": CRM_ROTATED })).await;
        let d = app.delete(&one(&t, "missing"), token).await;
        if can_manage {
            assert_eq!(r.status, StatusCode::OK, "{role}: {r:?}");
            assert_eq!(d.status, StatusCode::NOT_FOUND, "{role}: {d:?}");
        } else {
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{role}: {r:?}");
            assert_eq!(d.status, StatusCode::FORBIDDEN, "{role}: {d:?}");
            // Refused before the body or the name is looked at.
            let r = put(&app, &t, token, "bad%20name", json!({ "secret": "x" })).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{role}: {r:?}");
        }
        assert!(!r.body.to_string().contains(CRM_ROTATED));
    }
    // Only the admin's replacement happened; the rest were refused.
    assert_eq!(
        stored(&app, &t).await,
        BTreeMap::from([("crm".to_owned(), CRM_ROTATED.as_bytes().to_vec())])
    );
    let log = audit(&app, &t, &owner).await;
    let actions: Vec<String> = secret_entries(&log).into_iter().map(|e| e.0).collect();
    assert_eq!(actions, ["flow_secret.created", "flow_secret.replaced"]);

    // Anonymous callers are refused.
    let r = app.call(Method::GET, &base(&t), None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
}
