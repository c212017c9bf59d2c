//! API conventions: audit, idempotency, limits, errors, docs, operations.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use omnivox_testkit::{spawn_app, spawn_app_with};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn mutations_write_audit_rows_and_failed_ones_do_not() {
    let app = spawn_app().await;
    let (t, owner) = app.owner().await;
    let base = format!("/api/v1/tenants/{t}");
    let audit = |q: &'static str| {
        let app = &app;
        let owner = owner.clone();
        let base = base.clone();
        async move { app.get(&format!("{base}/audit{q}"), &owner).await }
    };

    let r = app
        .patch(
            &base,
            &owner,
            json!({ "name": "Acme Outbound", "time_zone": "Europe/London" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let agent = app.post(&format!("{base}/members"), &owner,
        json!({ "email": "a@example.com", "role": "agent", "display_name": "A", "password": omnivox_testkit::PASSWORD })).await;
    let agent_id = agent.body["user"]["id"].as_str().unwrap().to_owned();
    app.patch(
        &format!("{base}/members/{agent_id}"),
        &owner,
        json!({ "role": "supervisor" }),
    )
    .await;
    let key = app
        .post(
            &format!("{base}/api-keys"),
            &owner,
            json!({ "name": "k", "role": "viewer" }),
        )
        .await;
    let key_id = key.body["api_key"]["id"].as_str().unwrap();
    app.delete(&format!("{base}/api-keys/{key_id}"), &owner)
        .await;
    app.delete(&format!("{base}/members/{agent_id}"), &owner)
        .await;

    let log = audit("").await;
    let actions: Vec<&str> = log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "member.removed",
            "api_key.revoked",
            "api_key.created",
            "member.role_changed",
            "member.added",
            "tenant.updated",
            "member.added",
            "tenant.created"
        ],
        "newest first, one row per change"
    );
    let updated = &log.body["items"][5];
    assert_eq!(updated["before"]["name"], "Acme Calls");
    assert_eq!(updated["after"]["name"], "Acme Outbound");
    assert_eq!(updated["actor_type"], "user");
    assert!(
        updated["request_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    assert_eq!(updated["source_ip"], "127.0.0.1");
    let changed = audit("?action=member.role_changed").await;
    assert_eq!(changed.body["items"][0]["before"]["role"], "agent");
    assert_eq!(changed.body["items"][0]["after"]["role"], "supervisor");

    // Pagination walks the whole log exactly once.
    let mut seen = vec![];
    let mut cursor = String::new();
    loop {
        let page = app
            .get(&format!("{base}/audit?limit=3&cursor={cursor}"), &owner)
            .await;
        for e in page.body["items"].as_array().unwrap() {
            seen.push(e["id"].as_str().unwrap().to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 8);
    assert_eq!(
        app.get(&format!("{base}/audit?cursor=bogus"), &owner)
            .await
            .code(),
        "invalid_cursor"
    );

    // Failed changes leave no trace: a bad time zone, a duplicate member.
    let before = audit("").await.body["items"].as_array().unwrap().len();
    let bad = app
        .patch(&base, &owner, json!({ "time_zone": "Mars/Base" }))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        bad.body["error"]["details"]["fields"][0]["field"],
        "time_zone"
    );
    let dup = app
        .post(
            &format!("{base}/members"),
            &owner,
            json!({ "email": "owner@example.com", "role": "agent" }),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert_eq!(dup.code(), "already_member");
    assert_eq!(
        audit("").await.body["items"].as_array().unwrap().len(),
        before
    );
    assert_eq!(
        app.get(&base, &owner).await.body["time_zone"],
        "Europe/London"
    );

    // There is no way to change the log through the API.
    for m in [Method::POST, Method::PATCH, Method::DELETE, Method::PUT] {
        let r = app
            .call(
                m.clone(),
                &format!("{base}/audit"),
                Some(&owner),
                Some(json!({})),
            )
            .await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{m}");
    }
}

#[tokio::test]
async fn idempotent_post_replays_and_refuses_a_different_body() {
    let app = spawn_app().await;
    let (t, owner) = app.owner().await;
    let url = app.url(&format!("/api/v1/tenants/{t}/api-keys"));
    let send = |body: serde_json::Value, key: &'static str| {
        app.client
            .post(&url)
            .bearer_auth(&owner)
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let first = omnivox_testkit::read(
        send(json!({ "name": "once", "role": "viewer" }), "k-1")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = omnivox_testkit::read(
        send(json!({ "name": "once", "role": "viewer" }), "k-1")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(
        again.body["api_key"], first.body["api_key"],
        "the stored response"
    );
    assert!(
        first.body["key"]
            .as_str()
            .is_some_and(|k| k.starts_with("ovx_"))
    );
    assert!(
        again.body["key"].is_null(),
        "the secret is shown once, never stored for replay"
    );
    assert_eq!(again.headers["idempotent-replayed"], "true");
    let list = app
        .get(&format!("/api/v1/tenants/{t}/api-keys"), &owner)
        .await;
    assert_eq!(
        list.body["items"].as_array().unwrap().len(),
        1,
        "created once"
    );

    let other = omnivox_testkit::read(
        send(json!({ "name": "twice", "role": "viewer" }), "k-1")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(other.code(), "idempotency_key_reused");
    let fresh = omnivox_testkit::read(
        send(json!({ "name": "twice", "role": "viewer" }), "k-2")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(fresh.status, StatusCode::CREATED);
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let app = spawn_app_with(|c| {
        c.rate_limit.per_principal_per_sec = 1;
        c.rate_limit.per_principal_burst = 3;
    })
    .await;
    let (t, owner) = app.owner().await;
    let mut statuses = vec![];
    for _ in 0..6 {
        let r = app.get(&format!("/api/v1/tenants/{t}"), &owner).await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(r.code(), "rate_limited");
            let after: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((1..=2).contains(&after), "retry-after {after}");
        }
        statuses.push(r.status.as_u16());
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert_eq!(statuses[0], 200);
}

#[tokio::test]
async fn bad_bodies_get_clear_errors() {
    let app = spawn_app_with(|c| c.http.body_limit_bytes = 4096).await;
    let (t, owner) = app.owner().await;
    let url = app.url(&format!("/api/v1/tenants/{t}"));
    let send = |body: String, ct: &'static str| {
        app.client
            .patch(&url)
            .bearer_auth(&owner)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let big = omnivox_testkit::read(
        send(
            format!("{{\"name\":\"{}\"}}", "x".repeat(10_000)),
            "application/json",
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(big.code(), "payload_too_large");
    let malformed = omnivox_testkit::read(
        send("{\"name\": ".into(), "application/json")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.code(), "malformed_json");
    let unknown = omnivox_testkit::read(
        send("{\"nmae\": \"x\"}".into(), "application/json")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.code(), "unknown_field");
    assert!(
        unknown.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nmae")
    );
    let wrong_type = omnivox_testkit::read(
        send("{\"require_2fa\": \"yes\"}".into(), "application/json")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(wrong_type.code(), "invalid_body");
    let not_json = omnivox_testkit::read(send("name=x".into(), "text/plain").await.unwrap()).await;
    assert_eq!(not_json.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let bad_id = app.get("/api/v1/tenants/not-a-uuid", &owner).await;
    assert_eq!(bad_id.status, StatusCode::BAD_REQUEST);
    let missing = app.get("/api/v1/nothing-here", &owner).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.code(), "not_found");
    // Nothing half-written: the tenant is as it was.
    assert_eq!(
        app.get(&format!("/api/v1/tenants/{t}"), &owner).await.body["name"],
        "Acme Calls"
    );
}

#[tokio::test]
async fn operations_endpoints_docs_request_ids_and_metrics() {
    let app = spawn_app().await;
    let h = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(h.status, StatusCode::OK);
    let r = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["ready"], true);
    assert!(h.headers.get("x-request-id").is_some());
    let echoed = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "abc-123");

    let docs = app.client.get(app.url("/api/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(
        docs.text().await.unwrap().contains("swagger"),
        "docs page served from the binary"
    );

    let metrics = reqwest::get(format!("http://{}/metrics", app.metrics_addr.unwrap()))
        .await
        .unwrap();
    let text = metrics.text().await.unwrap();
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(text.contains("route=\"/healthz\""), "{text}");
    // Metrics are not on the public listener.
    assert_eq!(
        app.call(Method::GET, "/metrics", None, None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn shutdown_drains_and_stops() {
    let app = spawn_app().await;
    let addr = app.addr;
    app.stop().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener closed after shutdown"
    );
}
