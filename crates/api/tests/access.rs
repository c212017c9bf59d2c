//! Roles, permissions, tenant isolation and API keys, over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use omnivox_testkit::{PASSWORD, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn every_role_may_do_some_things_and_not_others() {
    let app = spawn_app().await;
    let (t, owner) = app.owner().await;
    let tenant = format!("/api/v1/tenants/{t}");
    let members = format!("{tenant}/members");
    let audit = format!("{tenant}/audit");
    let keys = format!("{tenant}/api-keys");

    for role in ["admin", "supervisor", "agent", "analyst", "viewer"] {
        let tok = app
            .member(&t, &owner, &format!("{role}@example.com"), role)
            .await;
        // Everyone may read the tenant.
        assert_eq!(
            app.get(&tenant, &tok).await.status,
            StatusCode::OK,
            "{role} reads tenant"
        );
        let may_read_members = matches!(role, "admin" | "supervisor");
        let r = app.get(&members, &tok).await;
        assert_eq!(
            r.status == StatusCode::OK,
            may_read_members,
            "{role} lists members: {r:?}"
        );
        if !may_read_members {
            assert_eq!(r.code(), "forbidden");
        }
        let may_admin = role == "admin";
        let r = app.patch(&tenant, &tok, json!({ "locale": "en-GB" })).await;
        assert_eq!(
            r.status == StatusCode::OK,
            may_admin,
            "{role} updates tenant: {r:?}"
        );
        assert_eq!(
            app.get(&audit, &tok).await.status == StatusCode::OK,
            may_admin,
            "{role} reads audit"
        );
        assert_eq!(
            app.get(&keys, &tok).await.status == StatusCode::OK,
            may_admin,
            "{role} lists keys"
        );
    }

    // Admins manage members but not owners.
    let admin = app.token("admin@example.com").await;
    let r = app
        .post(
            &members,
            &admin,
            json!({ "email": "new-owner@example.com", "role": "owner",
                                         "display_name": "N", "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    let r = app
        .post(
            &members,
            &admin,
            json!({ "email": "agent2@example.com", "role": "agent",
                                         "display_name": "A2", "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);

    // Owners may do it all, but not create organizations (platform only).
    let r = app
        .post("/api/v1/tenants", &owner, json!({ "name": "Mine" }))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // The last owner cannot be demoted or removed.
    let me = app.get("/api/v1/me", &owner).await;
    let owner_id = me.body["user"]["id"].as_str().unwrap();
    let r = app
        .patch(
            &format!("{members}/{owner_id}"),
            &owner,
            json!({ "role": "admin" }),
        )
        .await;
    assert_eq!(r.code(), "last_owner");
    let r = app.delete(&format!("{members}/{owner_id}"), &owner).await;
    assert_eq!(r.code(), "last_owner");
}

#[tokio::test]
async fn a_tenant_cannot_see_or_touch_another_tenants_data() {
    let app = spawn_app().await;
    let (a, owner_a, b, owner_b) = app.two_tenants().await;
    let agent_b = app
        .member(&b, &owner_b, "agent-b@example.com", "agent")
        .await;
    let me_b = app.get("/api/v1/me", &agent_b).await;
    let agent_b_id = me_b.body["user"]["id"].as_str().unwrap().to_owned();
    let key_b = app
        .post(
            &format!("/api/v1/tenants/{b}/api-keys"),
            &owner_b,
            json!({ "name": "crm", "role": "viewer" }),
        )
        .await;
    let key_b_id = key_b.body["api_key"]["id"].as_str().unwrap().to_owned();

    // Read, list, update, delete B's things with A's owner: all 404, nothing leaks.
    let checks = [
        (Method::GET, format!("/api/v1/tenants/{b}"), None),
        (
            Method::PATCH,
            format!("/api/v1/tenants/{b}"),
            Some(json!({ "name": "pwned" })),
        ),
        (Method::GET, format!("/api/v1/tenants/{b}/members"), None),
        (
            Method::GET,
            format!("/api/v1/tenants/{b}/members/{agent_b_id}"),
            None,
        ),
        (
            Method::PATCH,
            format!("/api/v1/tenants/{b}/members/{agent_b_id}"),
            Some(json!({ "role": "admin" })),
        ),
        (
            Method::DELETE,
            format!("/api/v1/tenants/{b}/members/{agent_b_id}"),
            None,
        ),
        (Method::GET, format!("/api/v1/tenants/{b}/api-keys"), None),
        (
            Method::DELETE,
            format!("/api/v1/tenants/{b}/api-keys/{key_b_id}"),
            None,
        ),
        (Method::GET, format!("/api/v1/tenants/{b}/audit"), None),
        // B's ids through A's path: not found in A either.
        (
            Method::GET,
            format!("/api/v1/tenants/{a}/members/{agent_b_id}"),
            None,
        ),
        (
            Method::PATCH,
            format!("/api/v1/tenants/{a}/members/{agent_b_id}"),
            Some(json!({ "role": "viewer" })),
        ),
        (
            Method::DELETE,
            format!("/api/v1/tenants/{a}/members/{agent_b_id}"),
            None,
        ),
        (
            Method::DELETE,
            format!("/api/v1/tenants/{a}/api-keys/{key_b_id}"),
            None,
        ),
    ];
    for (m, path, body) in checks {
        let r = app.call(m.clone(), &path, Some(&owner_a), body).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{m} {path}: {r:?}");
        assert!(
            !r.body.to_string().contains("Bravo"),
            "{path} leaked B's data"
        );
    }

    // By filter: A's lists contain nothing of B's.
    let members = app
        .get(&format!("/api/v1/tenants/{a}/members?limit=200"), &owner_a)
        .await;
    assert!(!members.body.to_string().contains("agent-b@example.com"));
    let audit = app
        .get(
            &format!("/api/v1/tenants/{a}/audit?target_id={agent_b_id}"),
            &owner_a,
        )
        .await;
    assert_eq!(audit.status, StatusCode::OK);
    assert_eq!(audit.body["items"].as_array().unwrap().len(), 0);
    let list = app.get("/api/v1/tenants", &owner_a).await;
    let names: Vec<_> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("Acme Calls")]);

    // And B is untouched.
    let bt = app.get(&format!("/api/v1/tenants/{b}"), &owner_b).await;
    assert_eq!(bt.body["name"], "Bravo Collections");
    let m = app
        .get(
            &format!("/api/v1/tenants/{b}/members/{agent_b_id}"),
            &owner_b,
        )
        .await;
    assert_eq!(m.body["role"], "agent");
    let k = app
        .get(&format!("/api/v1/tenants/{b}/api-keys"), &owner_b)
        .await;
    assert!(k.body["items"][0]["revoked_at"].is_null());
}

#[tokio::test]
async fn api_keys_authenticate_within_their_scope_and_stop_when_revoked() {
    let app = spawn_app().await;
    let (a, owner_a, b, _) = app.two_tenants().await;
    let keys = format!("/api/v1/tenants/{a}/api-keys");

    let created = app
        .post(
            &keys,
            &owner_a,
            json!({ "name": "CRM sync", "role": "admin" }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let key = created.body["key"].as_str().unwrap().to_owned();
    let prefix = created.body["api_key"]["prefix"].as_str().unwrap();
    assert!(key.starts_with(prefix) && prefix.starts_with("ovx_"));
    let id = created.body["api_key"]["id"].as_str().unwrap().to_owned();

    // Shown once: the list has the prefix, never the key.
    let list = app.get(&keys, &owner_a).await;
    assert!(!list.body.to_string().contains(&key));
    assert_eq!(list.body["items"][0]["prefix"], prefix);

    // The key acts with its role in its tenant only.
    assert_eq!(
        app.get(&format!("/api/v1/tenants/{a}/members"), &key)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.get(&format!("/api/v1/tenants/{b}"), &key).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get("/api/v1/me", &key).await.code(), "user_required");
    let r = app
        .post(&keys, &key, json!({ "name": "escalate", "role": "owner" }))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let viewer_key = app
        .post(&keys, &owner_a, json!({ "name": "ro", "role": "viewer" }))
        .await
        .body["key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.get(&format!("/api/v1/tenants/{a}"), &viewer_key)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.get(&format!("/api/v1/tenants/{a}/members"), &viewer_key)
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // Last use is recorded (asynchronously; wait for it with a deadline).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let l = app.get(&keys, &owner_a).await;
        let item = l.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == id.as_str())
            .unwrap()
            .clone();
        if !item["last_used_at"].is_null() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "last_used_at never set"
        );
        tokio::task::yield_now().await;
    }

    let revoked = app.delete(&format!("{keys}/{id}"), &owner_a).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let r = app.get(&format!("/api/v1/tenants/{a}"), &key).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.code(), "api_key_revoked");
    let bogus = app
        .get(&format!("/api/v1/tenants/{a}"), "ovx_abcdefgh_notarealkey")
        .await;
    assert_eq!(bogus.code(), "invalid_token");

    let expired = app
        .post(
            &keys,
            &owner_a,
            json!({ "name": "old", "role": "viewer", "expires_at": "2020-01-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(expired.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn every_documented_endpoint_refuses_anonymous_callers() {
    let app = spawn_app().await;
    let doc = app
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.1"));
    let public = [
        "/healthz",
        "/readyz",
        "/api/v1/setup",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
    ];
    let id = uuid::Uuid::now_v7().to_string();
    let paths = doc.body["paths"].as_object().unwrap();
    assert!(paths.len() >= 14, "only {} paths documented", paths.len());
    for (path, ops) in paths {
        if public.contains(&path.as_str()) {
            continue;
        }
        let concrete = path
            .replace("{tenant_id}", &id)
            .replace("{user_id}", &id)
            .replace("{key_id}", &id)
            .replace("{session_id}", &id);
        for method in ops.as_object().unwrap().keys() {
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = (m != Method::GET && m != Method::DELETE).then(|| json!({}));
            let r = app.call(m.clone(), &concrete, None, body).await;
            assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "{m} {path} without credentials: {r:?}"
            );
            assert_eq!(r.code(), "unauthenticated");
        }
    }
}
