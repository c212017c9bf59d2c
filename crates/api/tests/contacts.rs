//! Lists, CSV import and export, DNC, consent and dial decisions over HTTP,
//! with the messy real-world fixture files of the contacts engine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use omnivox_testkit::{Resp, TestApp, read, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const MIXED: &[u8] = include_bytes!("../../contacts/tests/fixtures/mixed_us.csv");
const LATIN1: &[u8] = include_bytes!("../../contacts/tests/fixtures/latin1_windows1252.csv");

struct Ctx {
    app: TestApp,
    t: String,
    owner: String,
}

async fn setup() -> Ctx {
    let app = spawn_app().await;
    let (t, owner) = app.owner().await;
    let base = format!("/api/v1/tenants/{t}/custom-fields");
    for f in [
        json!({ "key": "signup_date", "label": "Signup Date", "kind": "date" }),
        json!({ "key": "tier", "label": "Tier", "kind": "choice", "choices": ["Gold", "Silver", "Bronze"] }),
        json!({ "key": "vip", "label": "VIP", "kind": "boolean" }),
    ] {
        let r = app.post(&base, &owner, f).await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    }
    Ctx { app, t, owner }
}

impl Ctx {
    fn path(&self, p: &str) -> String {
        format!("/api/v1/tenants/{}{p}", self.t)
    }

    async fn list(&self, name: &str) -> String {
        let r = self
            .app
            .post(
                &self.path("/lists"),
                &self.owner,
                json!({ "name": name, "default_region": "US" }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        r.body["id"].as_str().unwrap().to_owned()
    }

    async fn upload(&self, list: &str, body: Vec<u8>) -> Resp {
        read(
            self.app
                .client
                .post(
                    self.app
                        .url(&self.path(&format!("/lists/{list}/imports?file_name=leads.csv"))),
                )
                .bearer_auth(&self.owner)
                .header("content-type", "text/csv")
                .body(body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// Start an uploaded import and wait (with a deadline) for it to end.
    async fn run(&self, import: &str, start: Value) -> Value {
        let r = self
            .app
            .post(
                &self.path(&format!("/imports/{import}/start")),
                &self.owner,
                start,
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let j = self
                .app
                .get(&self.path(&format!("/imports/{import}")), &self.owner)
                .await
                .body;
            if ["completed", "failed", "cancelled"].contains(&j["status"].as_str().unwrap()) {
                return j;
            }
            assert!(
                Instant::now() < deadline,
                "import still {} after 60 s",
                j["status"]
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn contacts(&self, query: &str) -> Vec<Value> {
        let r = self
            .app
            .get(&self.path(&format!("/contacts?{query}")), &self.owner)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        r.body["items"].as_array().unwrap().clone()
    }
}

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
async fn bad_files_and_mappings_are_refused_and_nothing_is_half_imported() {
    let c = setup().await;
    let list = c.list("Bad").await;

    let mut binary = vec![0u8; 4096];
    binary[..8].copy_from_slice(b"\x89PNG\r\n\x1a\n");
    let r = c.upload(&list, binary).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "not_text"),
        "{r:?}"
    );

    let wide: String = (0..10_000)
        .map(|i| format!("c{i}"))
        .collect::<Vec<_>>()
        .join(",")
        + "\n";
    let r = c.upload(&list, wide.into_bytes()).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "too_many_columns"),
        "{r:?}"
    );

    let endless = vec![b'a'; 3 * 1024 * 1024];
    let r = c.upload(&list, endless).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");
    assert!(
        ["line_too_long", "record_too_long"].contains(&r.code()),
        "{r:?}"
    );

    let json_body = c
        .app
        .post(
            &c.path(&format!("/lists/{list}/imports")),
            &c.owner,
            json!({ "rows": [] }),
        )
        .await;
    assert_eq!(json_body.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // None of those left an import behind.
    let imports = c.app.get(&c.path("/imports"), &c.owner).await;
    assert!(
        imports.body["items"].as_array().unwrap().is_empty(),
        "{imports:?}"
    );

    let up = c.upload(&list, MIXED.to_vec()).await;
    let id = up.body["import"]["id"].as_str().unwrap().to_owned();
    let start_path = c.path(&format!("/imports/{id}/start"));
    let start = |mapping: Value| {
        c.app
            .post(&start_path, &c.owner, json!({ "mapping": mapping }))
    };
    let r = start(json!(["first_name", "shoe_size", "phone"])).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "invalid_mapping"),
        "{r:?}"
    );
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("shoe_size"),
        "{r:?}"
    );
    let r = start(json!(["first_name", "last_name", "email"])).await;
    assert_eq!(r.code(), "invalid_mapping", "no phone column");
    let still = c
        .app
        .get(&c.path(&format!("/imports/{id}")), &c.owner)
        .await;
    assert_eq!(still.body["status"], "uploaded");
    assert!(c.contacts(&format!("list_id={list}")).await.is_empty());

    // Cancel before start: it never runs.
    let r = c
        .app
        .post(
            &c.path(&format!("/imports/{id}/cancel")),
            &c.owner,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.body["status"], "cancelled");
    let r = start(json!(null)).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
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

#[tokio::test]
async fn dial_decisions_follow_hours_dnc_opt_outs_and_are_explained() {
    let c = setup().await;
    let list = c.list("Decide").await;
    let up = c.upload(&list, MIXED.to_vec()).await;
    c.run(up.body["import"]["id"].as_str().unwrap(), json!({}))
        .await;
    let ann = c.contacts("phone=%2B14155550100").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let decide_path = c.path(&format!("/contacts/{ann}/decide"));
    let decide = |body: Value| c.app.post(&decide_path, &c.owner, body);

    // Tuesday 2 June 2026; San Francisco is UTC-7.
    let ok = decide(json!({ "at": "2026-06-02T15:00:00Z" })).await;
    assert_eq!(ok.body["outcome"], "allow", "08:00 local: {ok:?}");
    assert!(!ok.body["rule_set_version"].as_str().unwrap().is_empty());
    let early = decide(json!({ "at": "2026-06-02T14:59:00Z" })).await;
    assert_eq!(early.body["outcome"], "defer", "07:59 local: {early:?}");
    assert_eq!(early.body["defer_until"], "2026-06-02T15:00:00Z");
    assert_eq!(early.body["reasons"][0]["code"], "calling_window");
    let late = decide(json!({ "at": "2026-06-03T04:00:00Z" })).await;
    assert_eq!(late.body["outcome"], "defer", "21:00 local");
    assert_eq!(late.body["defer_until"], "2026-06-03T15:00:00Z");

    // A tenant's own stricter hours.
    let r = c
        .app
        .call(
            reqwest::Method::PUT,
            &c.path("/compliance"),
            Some(&c.owner),
            Some(json!({ "calling_hours": "mon-fri 10:00-18:00" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let r = decide(json!({ "at": "2026-06-02T16:30:00Z" })).await;
    assert_eq!(
        r.body["outcome"], "defer",
        "09:30 local is before the tenant's 10:00"
    );
    assert_eq!(r.body["defer_until"], "2026-06-02T17:00:00Z");
    let bad = c
        .app
        .call(
            reqwest::Method::PUT,
            &c.path("/compliance"),
            Some(&c.owner),
            Some(json!({ "calling_hours": "whenever" })),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    // DNC by area-code wildcard.
    let at = json!({ "at": "2026-06-02T19:00:00Z" });
    assert_eq!(decide(at.clone()).await.body["outcome"], "allow");
    let e = c
        .app
        .post(
            &c.path("/dnc"),
            &c.owner,
            json!({ "pattern": "+1415*", "reason": "test" }),
        )
        .await;
    assert_eq!(e.status, StatusCode::CREATED, "{e:?}");
    let d = decide(at.clone()).await;
    assert_eq!(d.body["outcome"], "deny", "{d:?}");
    assert_eq!(d.body["reasons"][0]["code"], "dnc_internal");
    c.app
        .delete(
            &c.path(&format!("/dnc/{}", e.body["id"].as_str().unwrap())),
            &c.owner,
        )
        .await;
    assert_eq!(decide(at.clone()).await.body["outcome"], "allow");

    // Consent for automated dialing, then an opt-out that binds at once.
    let auto = json!({ "at": "2026-06-02T19:00:00Z", "campaign": { "automated": true } });
    assert_eq!(
        decide(auto.clone()).await.body["reasons"][0]["code"],
        "consent_missing"
    );
    let consent = c.app.post(&c.path(&format!("/contacts/{ann}/consent")), &c.owner,
        json!({ "channel": "voice", "kind": "consent", "method": "written", "evidence": "form-17" })).await;
    assert_eq!(consent.status, StatusCode::CREATED, "{consent:?}");
    assert_eq!(decide(auto.clone()).await.body["outcome"], "allow");
    let agent = c
        .app
        .member(&c.t, &c.owner, "agent@example.com", "agent")
        .await;
    let out = c
        .app
        .post(
            &c.path(&format!("/contacts/{ann}/consent")),
            &agent,
            json!({ "channel": "voice", "kind": "opt_out", "method": "agent_disposition" }),
        )
        .await;
    assert_eq!(
        out.status,
        StatusCode::CREATED,
        "agents record opt-outs: {out:?}"
    );
    let d = decide(auto).await;
    assert_eq!(
        (
            d.body["outcome"].as_str(),
            d.body["reasons"][0]["code"].as_str()
        ),
        (Some("deny"), Some("opted_out"))
    );
    let ledger = c
        .app
        .get(&c.path(&format!("/contacts/{ann}/consent")), &c.owner)
        .await;
    let kinds: Vec<&str> = ledger.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["consent", "opt_out"]);

    // Decisions acted on are stored and explain the history; dry runs are not.
    let bob = c.contacts("last_name=Smith%2C%20Jr.").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let act = c.app.post(&c.path(&format!("/contacts/{bob}/decide")), &c.owner,
        json!({ "at": "2026-06-02T20:05:00Z", "act": true, "campaign": { "max_attempts_per_day": 1 } })).await;
    assert_eq!(act.body["outcome"], "allow");
    let second = c
        .app
        .post(
            &c.path(&format!("/contacts/{bob}/decide")),
            &c.owner,
            json!({ "at": "2026-06-02T21:00:00Z", "campaign": { "max_attempts_per_day": 1 } }),
        )
        .await;
    assert_eq!(
        second.body["outcome"], "defer",
        "one attempt per day already used: {second:?}"
    );
    let stored = c
        .app
        .get(&c.path(&format!("/contacts/{bob}/decisions")), &c.owner)
        .await;
    let items = stored.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["decided_at"], "2026-06-02T20:05:00Z");
    assert_eq!(items[0]["outcome"], "allow");
}

#[tokio::test]
async fn national_registry_upload_applies_to_decisions() {
    let c = setup().await;
    let list = c.list("Registry").await;
    let up = c.upload(&list, MIXED.to_vec()).await;
    c.run(up.body["import"]["id"].as_str().unwrap(), json!({}))
        .await;
    let ann = c.contacts("phone=%2B14155550100").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let at = json!({ "at": "2026-06-02T19:00:00Z" });
    let url = c.app.url(&c.path("/dnc/registries?name=us_national_dnc"));
    let body = "phone_number\n2125550100\n4155550100\nnot a number\n";
    let r = read(
        c.app
            .client
            .post(&url)
            .bearer_auth(&c.owner)
            .header("content-type", "text/plain")
            .body(body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(r.body["entries"], 2);
    assert_eq!(r.body["rejected_lines"], 2);
    assert_eq!(r.body["stale"], false);
    let d = c
        .app
        .post(&c.path(&format!("/contacts/{ann}/decide")), &c.owner, at)
        .await;
    assert_eq!(d.body["reasons"][0]["code"], "dnc_national", "{d:?}");
}
