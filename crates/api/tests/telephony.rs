//! Trunks, DIDs, the dial policy and call records over HTTP: CRUD,
//! validation, secrets never returned, tenant isolation and roles.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, Utc};
use omnivox_domain::call::{Direction, HangupCause, LegId};
use omnivox_domain::{CallId, TenantId, UserId};
use omnivox_store::cdrs::{self, CallEnd, CallStart, LegRecord};
use omnivox_store::{Store, commit};
use omnivox_testkit::{TestApp, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

const CARRIER_SECRET: &str = "carrier-digest-Secret-42";
const INBOUND_SECRET: &str = "inbound trunk password 9";

async fn user_id(app: &TestApp, token: &str) -> String {
    app.get("/api/v1/me", token).await.body["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn fields(body: &Value) -> Vec<String> {
    body["error"]["details"]["fields"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| f["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn trunk_body(name: &str, priority: i64) -> Value {
    json!({
        "name": name,
        "host": "sip.carrier.example",
        "transport": "udp",
        "username": "acct1001",
        "password": CARRIER_SECRET,
        "caller_id_mode": "pai",
        "number_format": "e164",
        "tech_prefix": "99",
        "max_channels": 30,
        "max_cps": 5,
        "priority": priority,
        "allowed_sources": ["203.0.113.0/24", "198.51.100.7"],
        "inbound_username": format!("{name}-in"),
        "inbound_password": INBOUND_SECRET,
    })
}

fn assert_no_secrets(v: &Value) {
    let text = v.to_string();
    for s in [CARRIER_SECRET, INBOUND_SECRET, "ha1", "\"password\""] {
        assert!(!text.contains(s), "`{s}` leaked: {text}");
    }
}

#[tokio::test]
async fn trunks_round_trip_without_ever_returning_secrets() {
    let app = spawn_app().await;
    let (t, owner) = app.owner().await;
    let base = format!("/api/v1/tenants/{t}/trunks");

    let r = app.post(&base, &owner, trunk_body("primary", 20)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_no_secrets(&r.body);
    assert_eq!(r.body["has_password"], true);
    assert_eq!(r.body["has_inbound_credentials"], true);
    assert_eq!(r.body["inbound_username"], "primary-in");
    assert_eq!(r.body["port"], 5060);
    assert_eq!(r.body["enabled"], true);
    assert_eq!(
        r.body["allowed_sources"],
        json!(["203.0.113.0/24", "198.51.100.7"])
    );
    let id = r.body["id"].as_str().unwrap().to_owned();

    let minimal = app
        .post(
            &base,
            &owner,
            json!({ "name": "backup", "host": "10.1.2.3", "priority": 10 }),
        )
        .await;
    assert_eq!(minimal.status, StatusCode::CREATED, "{minimal:?}");
    assert_eq!(minimal.body["has_password"], false);
    assert_eq!(minimal.body["transport"], "udp");
    assert_eq!(minimal.body["caller_id_mode"], "from");
    assert_eq!(minimal.body["number_format"], "e164_plus");

    // Listed in failover order.
    let list = app.get(&base, &owner).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_no_secrets(&list.body);
    let names: Vec<_> = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].clone())
        .collect();
    assert_eq!(names, [json!("backup"), json!("primary")]);

    let one = app.get(&format!("{base}/{id}"), &owner).await;
    assert_eq!(one.status, StatusCode::OK);
    assert_no_secrets(&one.body);

    // Names are unique in the tenant.
    let dup = app
        .post(
            &base,
            &owner,
            json!({ "name": "primary", "host": "sip.example.com" }),
        )
        .await;
    assert_eq!(dup.status, StatusCode::BAD_REQUEST, "{dup:?}");
    assert_eq!(fields(&dup.body), ["name"]);

    let patched = app
        .patch(
            &format!("{base}/{id}"),
            &owner,
            json!({ "priority": 5, "password": null, "inbound_username": null,
                    "transport": "tcp", "enabled": false, "from_user": "acct1001" }),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{patched:?}");
    assert_eq!(patched.body["priority"], 5);
    assert_eq!(patched.body["has_password"], false);
    assert_eq!(patched.body["has_inbound_credentials"], false);
    assert_eq!(patched.body["inbound_username"], Value::Null);
    assert_eq!(patched.body["transport"], "tcp");
    assert_eq!(patched.body["from_user"], "acct1001");
    assert_eq!(patched.body["username"], "acct1001");
    let again = app
        .patch(
            &format!("{base}/{id}"),
            &owner,
            json!({ "password": "new secret", "inbound_username": "carrier",
                    "inbound_password": INBOUND_SECRET }),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{again:?}");
    assert_eq!(again.body["has_password"], true);
    assert_eq!(again.body["has_inbound_credentials"], true);

    // The audit log has the changes, and no secret.
    let audit = app
        .get(&format!("/api/v1/tenants/{t}/audit?target_id={id}"), &owner)
        .await;
    assert_eq!(audit.status, StatusCode::OK);
    let actions: Vec<_> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert!(actions.contains(&"trunk.created".to_owned()), "{actions:?}");
    assert!(actions.contains(&"trunk.updated".to_owned()), "{actions:?}");
    assert_no_secrets(&audit.body);
    assert!(!audit.body.to_string().contains("new secret"));

    let del = app.delete(&format!("{base}/{id}"), &owner).await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    let gone = app.get(&format!("{base}/{id}"), &owner).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get(&base, &owner).await.body.as_array().unwrap().len(),
        1
    );
}

#[tokio::test]
async fn trunk_validation_names_every_bad_field() {
    let app = spawn_app().await;
    let (t, owner) = app.owner().await;
    let base = format!("/api/v1/tenants/{t}/trunks");
    let r = app
        .post(
            &base,
            &owner,
            json!({
                "name": " ",
                "host": "bad host",
                "port": 70000,
                "transport": "tls",
                "caller_id_mode": "rpid",
                "number_format": "local",
                "tech_prefix": "12a",
                "max_channels": 0,
                "max_cps": 5000,
                "from_user": "a b",
                "from_domain": "-x-",
                "allowed_sources": ["10.0.0.0/33", "example.com"],
                "inbound_username": "x",
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");
    assert_eq!(r.code(), "validation_failed");
    let mut got = fields(&r.body);
    got.sort();
    let mut want = [
        "name",
        "host",
        "port",
        "transport",
        "caller_id_mode",
        "number_format",
        "tech_prefix",
        "max_channels",
        "max_cps",
        "from_user",
        "from_domain",
        "allowed_sources[0]",
        "allowed_sources[1]",
        "inbound_password",
    ];
    want.sort();
    assert_eq!(got, want);

    let weak = app
        .post(
            &base,
            &owner,
            json!({ "name": "t", "host": "sip.example.com",
                    "inbound_username": "carrier", "inbound_password": "short" }),
        )
        .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST, "{weak:?}");
    assert_eq!(fields(&weak.body), ["inbound_password"]);

    let unknown = app
        .post(
            &base,
            &owner,
            json!({ "name": "t", "host": "sip.example.com", "ha1": "x" }),
        )
        .await;
    assert_eq!(unknown.code(), "unknown_field");

    // An inbound user name may not shadow an agent phone's.
    let agent = app.member(&t, &owner, "agent@example.com", "agent").await;
    let agent_id = user_id(&app, &agent).await;
    let sip = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/tenants/{t}/members/{agent_id}/sip"),
            Some(&owner),
            Some(json!({ "username": "alice", "password": "phone secret 12345" })),
        )
        .await;
    assert_eq!(sip.status, StatusCode::OK, "{sip:?}");
    let clash = app
        .post(
            &base,
            &owner,
            json!({ "name": "t", "host": "sip.example.com",
                    "inbound_username": "alice", "inbound_password": INBOUND_SECRET }),
        )
        .await;
    assert_eq!(clash.status, StatusCode::BAD_REQUEST, "{clash:?}");
    assert_eq!(fields(&clash.body), ["inbound_username"]);

    let ok = app
        .post(
            &base,
            &owner,
            json!({ "name": "t", "host": "sip.example.com" }),
        )
        .await;
    let id = ok.body["id"].as_str().unwrap();
    let bad_patch = app
        .patch(
            &format!("{base}/{id}"),
            &owner,
            json!({ "inbound_username": "only-name", "max_cps": 0 }),
        )
        .await;
    assert_eq!(bad_patch.status, StatusCode::BAD_REQUEST);
    let mut got = fields(&bad_patch.body);
    got.sort();
    assert_eq!(got, ["inbound_password", "max_cps"]);
}

#[tokio::test]
async fn dids_normalize_numbers_and_belong_to_one_tenant() {
    let app = spawn_app().await;
    let (a, owner_a, b, owner_b) = app.two_tenants().await;
    let agent = app.member(&a, &owner_a, "agent@example.com", "agent").await;
    let agent_id = user_id(&app, &agent).await;
    let base = format!("/api/v1/tenants/{a}/dids");

    let r = app
        .post(
            &base,
            &owner_a,
            json!({ "number": "(415) 555-0123", "description": "Support",
                    "target_kind": "agent", "target_agent_id": agent_id }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(r.body["number"], "+14155550123");
    assert_eq!(r.body["target_kind"], "agent");
    assert_eq!(r.body["target_agent_id"], json!(agent_id));
    let id = r.body["id"].as_str().unwrap().to_owned();

    let fwd = app
        .post(
            &base,
            &owner_a,
            json!({ "number": "+44 20 7946 0958", "target_kind": "number",
                    "target_number": "415-555-0100" }),
        )
        .await;
    assert_eq!(fwd.status, StatusCode::CREATED, "{fwd:?}");
    assert_eq!(fwd.body["number"], "+442079460958");
    assert_eq!(fwd.body["target_number"], "+14155550100");

    // The same number in another tenant (or this one) is taken.
    let taken = app
        .post(
            &format!("/api/v1/tenants/{b}/dids"),
            &owner_b,
            json!({ "number": "+14155550123", "target_kind": "number",
                    "target_number": "+14155550100" }),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{taken:?}");
    assert_eq!(taken.code(), "did_number_taken");
    assert!(!taken.body.to_string().contains(&a));

    // Validation.
    let owner_b_id = user_id(&app, &owner_b).await;
    let stranger = app
        .post(
            &base,
            &owner_a,
            json!({ "number": "+14155550124", "target_kind": "agent",
                    "target_agent_id": owner_b_id }),
        )
        .await;
    assert_eq!(stranger.status, StatusCode::BAD_REQUEST, "{stranger:?}");
    assert_eq!(fields(&stranger.body), ["target_agent_id"]);
    let bad = app
        .post(
            &base,
            &owner_a,
            json!({ "number": "12", "target_kind": "number" }),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(fields(&bad.body), ["number", "target_number"]);
    let kind = app
        .post(
            &base,
            &owner_a,
            json!({ "number": "+14155550125", "target_kind": "voicemail" }),
        )
        .await;
    assert_eq!(fields(&kind.body), ["target_kind"]);

    // Read, page, change, delete.
    let page = app.get(&format!("{base}?limit=1"), &owner_a).await;
    assert_eq!(page.body["items"].as_array().unwrap().len(), 1);
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let next = app
        .get(&format!("{base}?limit=1&cursor={cursor}"), &owner_a)
        .await;
    assert_eq!(next.body["items"][0]["number"], "+442079460958");
    assert!(next.body["next_cursor"].is_null());

    let patched = app
        .patch(
            &format!("{base}/{id}"),
            &owner_a,
            json!({ "description": "Sales", "target_kind": "number",
                    "target_number": "+14155550199" }),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{patched:?}");
    assert_eq!(patched.body["description"], "Sales");
    assert_eq!(patched.body["target_agent_id"], Value::Null);
    assert_eq!(patched.body["target_number"], "+14155550199");
    let onto_taken = app
        .patch(
            &format!("{base}/{id}"),
            &owner_a,
            json!({ "number": "+442079460958" }),
        )
        .await;
    assert_eq!(onto_taken.status, StatusCode::CONFLICT);
    let no_kind = app
        .patch(
            &format!("{base}/{id}"),
            &owner_a,
            json!({ "target_number": "+14155550199" }),
        )
        .await;
    assert_eq!(fields(&no_kind.body), ["target_kind"]);

    assert_eq!(
        app.delete(&format!("{base}/{id}"), &owner_a).await.status,
        StatusCode::NO_CONTENT
    );
    // Released: tenant B may take it now.
    let moved = app
        .post(
            &format!("/api/v1/tenants/{b}/dids"),
            &owner_b,
            json!({ "number": "+14155550123", "target_kind": "number",
                    "target_number": "+14155550100" }),
        )
        .await;
    assert_eq!(moved.status, StatusCode::CREATED, "{moved:?}");
}

/// An error's code and the message, for a 409.
fn conflict(r: &omnivox_testkit::Resp) -> (String, String) {
    assert_eq!(r.status, StatusCode::CONFLICT, "{r:?}");
    (
        r.code().to_owned(),
        r.body["error"]["message"].as_str().unwrap().to_owned(),
    )
}

/// (field, code) of the one problem of a 400.
fn problem(r: &omnivox_testkit::Resp) -> (String, String) {
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{r:?}");
    let f = &r.body["error"]["details"]["fields"];
    assert_eq!(f.as_array().unwrap().len(), 1, "{r:?}");
    (
        f[0]["field"].as_str().unwrap().to_owned(),
        f[0]["code"].as_str().unwrap().to_owned(),
    )
}

async fn new_queue(app: &TestApp, t: &str, token: &str, name: &str) -> String {
    let r = app
        .post(
            &format!("/api/v1/tenants/{t}/queues"),
            token,
            json!({ "name": name }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    r.body["id"].as_str().unwrap().to_owned()
}

/// A flow that hangs up; published when asked.
async fn new_flow(app: &TestApp, t: &str, token: &str, name: &str, publish: bool) -> String {
    let r = app
        .post(
            &format!("/api/v1/tenants/{t}/flows"),
            token,
            json!({ "name": name, "definition": {
                "start": "bye", "nodes": [{"id": "bye", "type": "hangup"}] } }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let id = r.body["id"].as_str().unwrap().to_owned();
    if publish {
        let p = app
            .post(
                &format!("/api/v1/tenants/{t}/flows/{id}/publish"),
                token,
                json!({}),
            )
            .await;
        assert_eq!(p.status, StatusCode::CREATED, "{p:?}");
    }
    id
}

#[tokio::test]
async fn dids_route_to_queues_and_published_flows_that_then_cannot_be_deleted() {
    let app = spawn_app().await;
    let (a, owner_a, b, owner_b) = app.two_tenants().await;
    let base = format!("/api/v1/tenants/{a}/dids");
    let queue = new_queue(&app, &a, &owner_a, "sales").await;
    let flow = new_flow(&app, &a, &owner_a, "main", true).await;
    let draft_only = new_flow(&app, &a, &owner_a, "draft", false).await;
    let foreign_queue = new_queue(&app, &b, &owner_b, "theirs").await;
    let foreign_flow = new_flow(&app, &b, &owner_b, "theirs", true).await;

    // To a queue: created and read back.
    let r = app
        .post(
            &base,
            &owner_a,
            json!({ "number": "+14155550140", "target_kind": "queue",
                    "target_queue_id": queue }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let to_queue = r.body["id"].as_str().unwrap().to_owned();
    let got = app.get(&format!("{base}/{to_queue}"), &owner_a).await;
    assert_eq!(got.status, StatusCode::OK, "{got:?}");
    assert_eq!(got.body["target_kind"], "queue");
    assert_eq!(got.body["target_queue_id"], json!(queue));
    assert_eq!(got.body["target_flow_id"], Value::Null);
    assert_eq!(got.body["target_agent_id"], Value::Null);
    assert_eq!(got.body["target_number"], Value::Null);

    // To a published flow: created and read back (also in the list).
    let r = app
        .post(
            &base,
            &owner_a,
            json!({ "number": "+14155550141", "target_kind": "flow",
                    "target_flow_id": flow }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let to_flow = r.body["id"].as_str().unwrap().to_owned();
    let list = app.get(&base, &owner_a).await;
    let item = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == json!(to_flow))
        .unwrap()
        .clone();
    assert_eq!(item["target_kind"], "flow");
    assert_eq!(item["target_flow_id"], json!(flow));
    assert_eq!(item["target_queue_id"], Value::Null);

    // Refused: with the field that is wrong.
    let cases = [
        (
            json!({ "target_kind": "queue", "target_queue_id": uuid::Uuid::now_v7() }),
            ("target_queue_id", "unknown_queue"),
        ),
        (
            json!({ "target_kind": "queue", "target_queue_id": foreign_queue }),
            ("target_queue_id", "unknown_queue"),
        ),
        (
            json!({ "target_kind": "flow", "target_flow_id": uuid::Uuid::now_v7() }),
            ("target_flow_id", "unknown_flow"),
        ),
        (
            json!({ "target_kind": "flow", "target_flow_id": foreign_flow }),
            ("target_flow_id", "unknown_flow"),
        ),
        (
            json!({ "target_kind": "flow", "target_flow_id": draft_only }),
            ("target_flow_id", "flow_not_published"),
        ),
        (
            json!({ "target_kind": "queue", "target_queue_id": queue,
                    "target_flow_id": flow }),
            ("target_queue_id", "invalid_target"),
        ),
        (
            json!({ "target_kind": "flow", "target_flow_id": flow,
                    "target_number": "+14155550100" }),
            ("target_flow_id", "invalid_target"),
        ),
        (
            json!({ "target_kind": "queue" }),
            ("target_queue_id", "invalid_target"),
        ),
        (
            json!({ "target_kind": "agent", "target_queue_id": queue }),
            ("target_agent_id", "invalid_target"),
        ),
    ];
    for (target, (field, code)) in cases {
        let mut body = target.clone();
        body["number"] = json!("+14155550142");
        let r = app.post(&base, &owner_a, body).await;
        assert_eq!(
            problem(&r),
            (field.to_owned(), code.to_owned()),
            "create {target}"
        );
        let r = app
            .patch(&format!("{base}/{to_queue}"), &owner_a, target.clone())
            .await;
        assert_eq!(
            problem(&r),
            (field.to_owned(), code.to_owned()),
            "patch {target}"
        );
    }
    // Nothing refused was stored or changed.
    let list = app.get(&base, &owner_a).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 2, "{list:?}");
    let got = app.get(&format!("{base}/{to_queue}"), &owner_a).await;
    assert_eq!(got.body["target_queue_id"], json!(queue));

    // A queue or flow a DID routes to is not deleted; the message names the
    // number.
    let queue_path = format!("/api/v1/tenants/{a}/queues/{queue}");
    let flow_path = format!("/api/v1/tenants/{a}/flows/{flow}");
    let (code, message) = conflict(&app.delete(&queue_path, &owner_a).await);
    assert_eq!(code, "in_use");
    assert!(message.contains("+14155550140"), "{message}");
    let (code, message) = conflict(&app.delete(&flow_path, &owner_a).await);
    assert_eq!(code, "in_use");
    assert!(message.contains("+14155550141"), "{message}");
    assert_eq!(app.get(&queue_path, &owner_a).await.status, StatusCode::OK);
    assert_eq!(app.get(&flow_path, &owner_a).await.status, StatusCode::OK);

    // Two DIDs on the flow: both named.
    let r = app
        .patch(
            &format!("{base}/{to_queue}"),
            &owner_a,
            json!({ "target_kind": "flow", "target_flow_id": flow }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["target_kind"], "flow");
    assert_eq!(r.body["target_flow_id"], json!(flow));
    assert_eq!(r.body["target_queue_id"], Value::Null);
    let (code, message) = conflict(&app.delete(&flow_path, &owner_a).await);
    assert_eq!(code, "in_use");
    assert!(
        message.contains("+14155550140") && message.contains("+14155550141"),
        "{message}"
    );

    // The queue is free now: it deletes.
    assert_eq!(
        app.delete(&queue_path, &owner_a).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&queue_path, &owner_a).await.status,
        StatusCode::NOT_FOUND
    );

    // Re-pointed elsewhere, the flow deletes too.
    for did in [&to_queue, &to_flow] {
        let r = app
            .patch(
                &format!("{base}/{did}"),
                &owner_a,
                json!({ "target_kind": "number", "target_number": "+14155550100" }),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        assert_eq!(r.body["target_flow_id"], Value::Null);
    }
    assert_eq!(
        app.delete(&flow_path, &owner_a).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&flow_path, &owner_a).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn dial_policy_defaults_validates_and_replaces() {
    let app = spawn_app().await;
    let (t, owner) = app.owner().await;
    let path = format!("/api/v1/tenants/{t}/dial-policy");
    let r = app.get(&path, &owner).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.body,
        json!({ "allow_international": false, "home_country_codes": ["1"],
                "allowed_prefixes": [], "blocked_prefixes": [] })
    );
    let want = json!({ "allow_international": true, "home_country_codes": ["1", "44"],
                       "allowed_prefixes": ["+4490"], "blocked_prefixes": ["+1876"] });
    let put = app
        .call(
            reqwest::Method::PUT,
            &path,
            Some(&owner),
            Some(want.clone()),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{put:?}");
    assert_eq!(put.body, want);
    assert_eq!(app.get(&path, &owner).await.body, want);

    let bad = app
        .call(
            reqwest::Method::PUT,
            &path,
            Some(&owner),
            Some(
                json!({ "home_country_codes": ["+1"], "blocked_prefixes": ["44", "+4490"],
                         "allowed_prefixes": ["+4490"] }),
            ),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{bad:?}");
    assert_eq!(
        fields(&bad.body),
        [
            "home_country_codes[0]",
            "blocked_prefixes[0]",
            "blocked_prefixes[1]"
        ]
    );
    let unknown = app
        .call(
            reqwest::Method::PUT,
            &path,
            Some(&owner),
            Some(json!({ "home_country_codes": ["1"], "premium": true })),
        )
        .await;
    assert_eq!(unknown.code(), "unknown_field");
    assert_eq!(app.get(&path, &owner).await.body, want);
}

#[tokio::test]
async fn roles_and_tenants_limit_who_sees_and_changes_what() {
    let app = spawn_app().await;
    let (a, owner_a, b, owner_b) = app.two_tenants().await;
    let trunk = app
        .post(
            &format!("/api/v1/tenants/{a}/trunks"),
            &owner_a,
            trunk_body("main", 1),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let did = app
        .post(
            &format!("/api/v1/tenants/{a}/dids"),
            &owner_a,
            json!({ "number": "+14155550123", "target_kind": "number",
                    "target_number": "+14155550100" }),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let store = Store::connect(&app.config.database).await.unwrap();
    let call = CallId::new();
    let ta = TenantId(a.parse().unwrap());
    cdrs::open_calls(
        store.writer(),
        &[CallStart {
            id: call,
            tenant: ta,
            direction: Direction::Inbound,
            from_number: "+14155550100".into(),
            to_number: "+14155550123".into(),
            trunk_id: None,
            did: Some("+14155550123".into()),
            agent_id: None,
            started_at: Utc::now(),
        }],
    )
    .await
    .unwrap();

    // Tenant B's owner: everything of A's is 404.
    use reqwest::Method;
    let a_paths = [
        (
            Method::GET,
            format!("/api/v1/tenants/{a}/trunks/{trunk}"),
            None,
        ),
        (
            Method::PATCH,
            format!("/api/v1/tenants/{a}/trunks/{trunk}"),
            Some(json!({ "priority": 2 })),
        ),
        (
            Method::DELETE,
            format!("/api/v1/tenants/{a}/trunks/{trunk}"),
            None,
        ),
        (Method::GET, format!("/api/v1/tenants/{a}/dids/{did}"), None),
        (
            Method::PATCH,
            format!("/api/v1/tenants/{a}/dids/{did}"),
            Some(json!({ "description": "x" })),
        ),
        (
            Method::DELETE,
            format!("/api/v1/tenants/{a}/dids/{did}"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/tenants/{a}/cdrs/{call}"),
            None,
        ),
        (Method::GET, format!("/api/v1/tenants/{a}/cdrs"), None),
        (
            Method::GET,
            format!("/api/v1/tenants/{a}/dial-policy"),
            None,
        ),
    ];
    for (m, path, body) in &a_paths {
        let r = app
            .call(m.clone(), path, Some(&owner_b), body.clone())
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{m} {path}: {r:?}");
    }
    // ... and A's ids under B's own tenant are 404 too.
    let b_paths = [
        (
            Method::GET,
            format!("/api/v1/tenants/{b}/trunks/{trunk}"),
            None,
        ),
        (
            Method::PATCH,
            format!("/api/v1/tenants/{b}/trunks/{trunk}"),
            Some(json!({ "priority": 2 })),
        ),
        (
            Method::DELETE,
            format!("/api/v1/tenants/{b}/trunks/{trunk}"),
            None,
        ),
        (Method::GET, format!("/api/v1/tenants/{b}/dids/{did}"), None),
        (
            Method::PATCH,
            format!("/api/v1/tenants/{b}/dids/{did}"),
            Some(json!({ "description": "x" })),
        ),
        (
            Method::DELETE,
            format!("/api/v1/tenants/{b}/dids/{did}"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/tenants/{b}/cdrs/{call}"),
            None,
        ),
    ];
    for (m, path, body) in &b_paths {
        let r = app
            .call(m.clone(), path, Some(&owner_b), body.clone())
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{m} {path}: {r:?}");
    }
    for path in ["trunks", "cdrs", "dids"] {
        let r = app
            .get(&format!("/api/v1/tenants/{b}/{path}"), &owner_b)
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(!r.body.to_string().contains("4155550123"), "{path}: {r:?}");
        assert!(!r.body.to_string().contains(&trunk), "{path}: {r:?}");
    }
    // A's trunk and DID are untouched.
    let t = app
        .get(&format!("/api/v1/tenants/{a}/trunks/{trunk}"), &owner_a)
        .await;
    assert_eq!(t.body["priority"], 1);

    // Roles inside A.
    let manage: Vec<(Method, String, Value)> = vec![
        (
            Method::POST,
            format!("/api/v1/tenants/{a}/trunks"),
            trunk_body("x", 1),
        ),
        (
            Method::PATCH,
            format!("/api/v1/tenants/{a}/trunks/{trunk}"),
            json!({ "priority": 3 }),
        ),
        (
            Method::POST,
            format!("/api/v1/tenants/{a}/dids"),
            json!({ "number": "+14155550199", "target_kind": "number", "target_number": "+14155550100" }),
        ),
        (
            Method::PUT,
            format!("/api/v1/tenants/{a}/dial-policy"),
            json!({ "home_country_codes": ["1"] }),
        ),
    ];
    for role in ["supervisor", "agent", "analyst", "viewer"] {
        let tok = app
            .member(&a, &owner_a, &format!("{role}@example.com"), role)
            .await;
        for (m, path, body) in &manage {
            let r = app
                .call(m.clone(), path, Some(&tok), Some(body.clone()))
                .await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{role} {m} {path}: {r:?}");
        }
        let del = app
            .delete(&format!("/api/v1/tenants/{a}/dids/{did}"), &tok)
            .await;
        assert_eq!(del.status, StatusCode::FORBIDDEN, "{role}");
        let reads_telephony = role == "supervisor";
        for path in ["trunks", "dids", "dial-policy"] {
            let r = app.get(&format!("/api/v1/tenants/{a}/{path}"), &tok).await;
            assert_eq!(
                r.status == StatusCode::OK,
                reads_telephony,
                "{role} {path}: {r:?}"
            );
        }
        let reads_calls = matches!(role, "supervisor" | "analyst");
        let r = app.get(&format!("/api/v1/tenants/{a}/cdrs"), &tok).await;
        assert_eq!(
            r.status == StatusCode::OK,
            reads_calls,
            "{role} cdrs: {r:?}"
        );
        let r = app
            .get(&format!("/api/v1/tenants/{a}/cdrs/export.csv"), &tok)
            .await;
        assert_eq!(
            r.status == StatusCode::OK,
            reads_calls,
            "{role} export: {r:?}"
        );
    }
    // An admin manages.
    let admin = app.member(&a, &owner_a, "admin@example.com", "admin").await;
    let r = app
        .patch(
            &format!("/api/v1/tenants/{a}/trunks/{trunk}"),
            &admin,
            json!({ "priority": 4 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
}

fn leg(leg: LegId, seq: u32, peer: &str, at: chrono::DateTime<Utc>) -> LegRecord {
    LegRecord {
        leg,
        seq,
        direction: Direction::Outbound,
        peer: peer.into(),
        trunk_id: None,
        agent_id: None,
        started_at: at,
        ringing_at: Some(at + Duration::seconds(1)),
        answered_at: Some(at + Duration::seconds(3)),
        ended_at: Some(at + Duration::seconds(63)),
        cause: Some(HangupCause::Normal),
        sip_code: Some(200),
    }
}

#[tokio::test]
async fn cdrs_list_filter_page_detail_and_export() {
    let app = spawn_app().await;
    let (t, owner) = app.owner().await;
    let agent = app.member(&t, &owner, "agent@example.com", "agent").await;
    let agent_id: uuid::Uuid = user_id(&app, &agent).await.parse().unwrap();
    let tenant = TenantId(t.parse().unwrap());
    let store = Store::connect(&app.config.database).await.unwrap();
    let t0 = Utc::now() - Duration::hours(1);
    let start = |id: CallId, to: &str, dir: Direction, mins: i64| CallStart {
        id,
        tenant,
        direction: dir,
        from_number: "+14155550100".into(),
        to_number: to.into(),
        trunk_id: None,
        did: None,
        agent_id: None,
        started_at: t0 + Duration::minutes(mins),
    };
    let (c1, c2, c3) = (CallId::new(), CallId::new(), CallId::new());
    cdrs::open_calls(
        store.writer(),
        &[
            start(c1, "+14155550111", Direction::Outbound, 0),
            start(c2, "=HYPERLINK(\"x\")", Direction::Inbound, 10),
            start(c3, "+442079460958", Direction::Outbound, 20),
        ],
    )
    .await
    .unwrap();
    let tx = store.begin().await.unwrap();
    cdrs::close_calls(
        &tx,
        &[CallEnd {
            id: c1,
            tenant,
            direction: Direction::Outbound,
            from_number: "+14155550100".into(),
            to_number: "+14155550111".into(),
            trunk_id: None,
            did: None,
            agent_id: Some(UserId(agent_id)),
            started_at: t0,
            ringing_at: Some(t0 + Duration::seconds(1)),
            answered_at: Some(t0 + Duration::seconds(3)),
            ended_at: t0 + Duration::seconds(63),
            cause: HangupCause::Normal,
            sip_code: Some(200),
            transfer_chain: vec!["+14155550222".into()],
            legs: vec![
                leg(LegId::A, 0, "sip:agent@acme-calls.omnivox", t0),
                leg(LegId::B, 1, "+14155550111", t0),
            ],
        }],
    )
    .await
    .unwrap();
    cdrs::set_leg_quality(
        &tx,
        &[cdrs::LegQuality {
            tenant,
            call: c1,
            seq: 1,
            mos: 4.2,
            r_factor: 85.5,
            jitter_ms: 3.25,
            loss_percent: 0.5,
            rtt_ms: None,
        }],
    )
    .await
    .unwrap();
    commit(tx).await.unwrap();
    // A crash left c2 and c3 live.
    let now = t0 + Duration::minutes(30);
    assert_eq!(cdrs::close_orphans(store.writer(), now).await.unwrap(), 2);
    let c4 = CallId::new();
    cdrs::open_calls(
        store.writer(),
        &[start(c4, "+14155550144", Direction::Outbound, 40)],
    )
    .await
    .unwrap();

    let base = format!("/api/v1/tenants/{t}/cdrs");
    let ids = |r: &Value| -> Vec<String> {
        r["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = app.get(&base, &owner).await;
    assert_eq!(all.status, StatusCode::OK, "{all:?}");
    assert_eq!(ids(&all.body), [c4, c3, c2, c1].map(|c| c.to_string()));
    let q = |query: &str| {
        let (app, path, owner) = (&app, format!("{base}?{query}"), &owner);
        async move { app.get(&path, owner).await }
    };
    assert_eq!(ids(&q("state=live").await.body), [c4.to_string()]);
    assert_eq!(
        ids(&q("cause=system_shutdown").await.body),
        [c3.to_string(), c2.to_string()]
    );
    assert_eq!(ids(&q("direction=inbound").await.body), [c2.to_string()]);
    assert_eq!(ids(&q("number=%2B4420").await.body), [c3.to_string()]);
    assert_eq!(ids(&q("number=0100").await.body).len(), 4);
    assert_eq!(
        ids(&q(&format!("agent_id={agent_id}")).await.body),
        [c1.to_string()]
    );
    let range = format!(
        "since={}&until={}",
        (t0 + Duration::minutes(5)).format("%Y-%m-%dT%H:%M:%SZ"),
        (t0 + Duration::minutes(25)).format("%Y-%m-%dT%H:%M:%SZ")
    );
    assert_eq!(ids(&q(&range).await.body), [c3.to_string(), c2.to_string()]);
    for bad in [
        "direction=sideways",
        "state=dead",
        "cause=boredom",
        "number=abc",
        "limit=x",
    ] {
        let r = q(bad).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {r:?}");
    }

    // Pages of two.
    let p1 = q("limit=2").await;
    assert_eq!(ids(&p1.body), [c4.to_string(), c3.to_string()]);
    let cursor = p1.body["next_cursor"].as_str().unwrap().to_owned();
    let p2 = app
        .get(&format!("{base}?limit=2&cursor={cursor}"), &owner)
        .await;
    assert_eq!(ids(&p2.body), [c2.to_string(), c1.to_string()]);
    assert!(p2.body["next_cursor"].is_null());

    // One call with its legs.
    let one = app.get(&format!("{base}/{c1}"), &owner).await;
    assert_eq!(one.status, StatusCode::OK, "{one:?}");
    assert_eq!(one.body["state"], "ended");
    assert_eq!(one.body["duration_ms"], 63_000);
    assert_eq!(one.body["talk_ms"], 60_000);
    assert_eq!(one.body["transfer_chain"], json!(["+14155550222"]));
    assert_eq!(one.body["legs"].as_array().unwrap().len(), 2);
    assert_eq!(one.body["legs"][1]["leg"], "b");
    assert_eq!(one.body["legs"][1]["peer"], "+14155550111");
    assert_eq!(
        one.body["legs"][1]["quality"],
        json!({ "mos": 4.2, "r_factor": 85.5, "jitter_ms": 3.25, "loss_percent": 0.5, "rtt_ms": null })
    );
    assert!(one.body["legs"][0]["quality"].is_null());
    let orphan = app.get(&format!("{base}/{c2}"), &owner).await;
    assert_eq!(orphan.body["cause"], "system_shutdown");
    assert_eq!(orphan.body["duration_ms"], 20 * 60 * 1000);
    assert_eq!(
        app.get(&format!("{base}/{}", CallId::new()), &owner)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // CSV: a header, one row per call, formula-safe cells.
    let csv = app
        .client
        .get(app.url(&format!("{base}/export.csv?state=ended")))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("call_id,direction,state,from_number,to_number"));
    assert!(text.contains("'+14155550111"), "{text}");
    assert!(text.contains("'=HYPERLINK"), "{text}");
    assert!(!text.contains(",=HYPERLINK"), "{text}");
    assert!(text.contains(&c1.to_string()) && !text.contains(&c4.to_string()));
    let bad = app.get(&format!("{base}/export.csv?limit=5"), &owner).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}
