//! Lists, CSV import and export, search and tenant scoping over HTTP, with the
//! messy real-world fixture files of the contacts engine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn messy_csv_imports_with_row_level_errors_dedup_and_export_round_trip() {
    let c = setup().await;
    let list = c.list("Spring leads").await;
    let up = c.upload(&list, MIXED.to_vec()).await;
    assert_eq!(up.status, StatusCode::CREATED, "{up:?}");
    let job = &up.body["import"];
    assert_eq!(job["status"], "uploaded");
    assert_eq!(job["encoding"], "utf8");
    assert_eq!(job["delimiter"], ",");
    assert_eq!(job["columns"][0], "First Name", "BOM stripped");
    assert_eq!(
        job["suggested_mapping"],
        json!([
            "first_name",
            "last_name",
            "phone:other",
            "phone:mobile",
            "email",
            "postal_code",
            "custom:signup_date",
            "custom:tier",
            "custom:vip"
        ])
    );
    let id = job["id"].as_str().unwrap().to_owned();
    // Nothing is imported before the start.
    assert!(c.contacts(&format!("list_id={list}")).await.is_empty());

    let done = c.run(&id, json!({ "dedup": "file" })).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["rows_read"], 12);
    assert_eq!(done["rows_accepted"], 7);
    assert_eq!(done["rows_rejected"], 4);
    assert_eq!(done["rows_duplicate"], 0);

    let errors = c
        .app
        .get(
            &c.path(&format!("/imports/{id}/errors?limit=200")),
            &c.owner,
        )
        .await;
    let items = errors.body["items"].as_array().unwrap();
    let email = items.iter().find(|e| e["code"] == "invalid_email").unwrap();
    assert_eq!(
        (
            email["row"].as_i64(),
            email["column"].as_str(),
            email["value"].as_str()
        ),
        (Some(6), Some("E-mail"), Some("dan@@example.com"))
    );
    assert!(
        items
            .iter()
            .any(|e| e["code"] == "no_phone" && e["row"] == 8)
    );
    assert!(
        items
            .iter()
            .any(|e| e["code"] == "invalid_phone" && e["severity"] == "warning" && e["row"] == 7)
    );
    let csv = c
        .app
        .client
        .get(c.app.url(&c.path(&format!("/imports/{id}/errors.csv"))))
        .bearer_auth(&c.owner)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    assert!(
        csv.starts_with("row,line,column,column_name,severity,code,reason,value\r\n"),
        "{csv}"
    );
    assert!(
        csv.contains("6,6,,E-mail,error,invalid_email,more than one @,dan@@example.com"),
        "{csv}"
    );

    // The normalized data is searchable.
    let ann = c.contacts("phone=%2B14155550100").await;
    assert_eq!(ann.len(), 1);
    assert_eq!(ann[0]["first_name"], "Ann");
    assert_eq!(ann[0]["custom"]["tier"], "Gold");
    assert_eq!(ann[0]["custom"]["vip"], true);
    assert_eq!(ann[0]["custom"]["signup_date"], "2024-01-15");
    let bob = c.contacts("last_name=Smith%2C%20Jr.").await;
    assert_eq!(bob[0]["phones"][0]["extension"], "123");
    assert_eq!(c.contacts("custom.tier=Gold").await.len(), 1);
    let carla = c.contacts("phone=%2B442079460958").await;
    assert_eq!(carla[0]["last_name"], "Gómez");
    assert_eq!(
        carla[0]["phones"][0]["time_zones"],
        json!(["Europe/London"])
    );
    assert_eq!(
        ann[0]["phones"][0]["time_zones"],
        json!(["America/Los_Angeles"])
    );
    assert_eq!(
        c.contacts(&format!("list_id={list}&limit=200")).await.len(),
        7
    );
    assert_eq!(
        c.app
            .get(&c.path("/contacts?bogus=1"), &c.owner)
            .await
            .code(),
        "invalid_query"
    );

    // The same file again into the same list: every row is a duplicate.
    let again = c.upload(&list, MIXED.to_vec()).await;
    let again_id = again.body["import"]["id"].as_str().unwrap().to_owned();
    let done = c.run(&again_id, json!({ "dedup": "list" })).await;
    assert_eq!(
        (
            done["rows_accepted"].as_i64(),
            done["rows_duplicate"].as_i64()
        ),
        (Some(0), Some(7))
    );

    // Export: formula-safe, and it imports back to the same contacts.
    let export = c
        .app
        .client
        .get(c.app.url(&c.path(&format!("/lists/{list}/export.csv"))))
        .bearer_auth(&c.owner)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        export.contains("'+14155550100"),
        "phones are escaped against formula injection:\n{export}"
    );
    assert!(
        !export
            .lines()
            .skip(1)
            .any(|l| l.starts_with('=') || l.starts_with('+'))
    );
    let copy = c.list("Copy").await;
    let up = c.upload(&copy, export.into_bytes()).await;
    assert_eq!(up.status, StatusCode::CREATED, "{up:?}");
    let done = c
        .run(
            up.body["import"]["id"].as_str().unwrap(),
            json!({ "dedup": "list" }),
        )
        .await;
    assert_eq!(
        (
            done["rows_accepted"].as_i64(),
            done["rows_rejected"].as_i64()
        ),
        (Some(7), Some(0)),
        "{done}"
    );
    let copied = c
        .contacts(&format!("list_id={copy}&phone=%2B14155550100"))
        .await;
    assert_eq!(copied[0]["custom"], ann[0]["custom"]);
    assert_eq!(copied[0]["first_name"], "Ann");

    // Tenant-wide dedup now sees both lists.
    let third = c.list("Third").await;
    let up = c.upload(&third, MIXED.to_vec()).await;
    let done = c
        .run(
            up.body["import"]["id"].as_str().unwrap(),
            json!({ "dedup": "tenant" }),
        )
        .await;
    assert_eq!(done["rows_duplicate"], 7);
}

#[tokio::test]
async fn latin1_file_is_decoded() {
    let c = setup().await;
    let list = c.list("Latin").await;
    let up = c.upload(&list, LATIN1.to_vec()).await;
    assert_eq!(up.status, StatusCode::CREATED, "{up:?}");
    assert_eq!(up.body["import"]["encoding"], "windows1252");
    let done = c
        .run(up.body["import"]["id"].as_str().unwrap(), json!({}))
        .await;
    assert_eq!(done["status"], "completed");
    let all = c.contacts(&format!("list_id={list}")).await;
    let names: Vec<String> = all
        .iter()
        .map(|x| {
            format!(
                "{} {}",
                x["first_name"].as_str().unwrap_or(""),
                x["last_name"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.contains("José") || n.contains("Müller") || n.contains("Zoë")),
        "{names:?}"
    );
}

#[tokio::test]
async fn contacts_are_tenant_scoped() {
    let c = setup().await;
    let list = c.list("Mine").await;
    let up = c.upload(&list, MIXED.to_vec()).await;
    c.run(up.body["import"]["id"].as_str().unwrap(), json!({}))
        .await;
    let ann = c.contacts("phone=%2B14155550100").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let admin = omnivox_api::admin::Admin::connect(&c.app.config)
        .await
        .unwrap();
    admin
        .create_user(
            "root@example.com",
            "Root",
            omnivox_testkit::PASSWORD,
            None,
            true,
        )
        .await
        .unwrap();
    let root = c.app.token("root@example.com").await;
    let b = c
        .app
        .post("/api/v1/tenants", &root, json!({ "name": "Other" }))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = c.app.member(&b, &root, "other@example.com", "owner").await;
    for path in [
        format!("/api/v1/tenants/{b}/contacts/{ann}"),
        format!("/api/v1/tenants/{b}/lists/{list}"),
    ] {
        assert_eq!(
            c.app.get(&path, &other).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let found = c
        .app
        .get(
            &format!("/api/v1/tenants/{b}/contacts?phone=%2B14155550100"),
            &other,
        )
        .await;
    assert!(found.body["items"].as_array().unwrap().is_empty());
    let r = c
        .app
        .post(
            &format!("/api/v1/tenants/{b}/contacts/{ann}/decide"),
            &other,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // An agent cannot browse contacts.
    let agent = c
        .app
        .member(&c.t, &c.owner, "agent@example.com", "agent")
        .await;
    assert_eq!(
        c.app.get(&c.path("/contacts"), &agent).await.status,
        StatusCode::FORBIDDEN
    );
}
