//! Agent phones register with the SIP credentials set through the API,
//! driven by a real SIP peer (sipp).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use omnivox_testkit::spawn_app;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;

/// One REGISTER from an ephemeral port; returns sipp's exit code.
async fn register(target: SocketAddr, domain: &str, user: &str, password: &str) -> i32 {
    omnivox_testkit::sipp_register(target, domain, user, password, None).await
}

#[tokio::test]
async fn a_member_phone_registers_with_credentials_set_through_the_api() {
    if !omnivox_testkit::sipp_available() {
        return;
    }
    let app = spawn_app().await;
    let (t, owner) = app.owner().await;
    let agent = app.member(&t, &owner, "agent@example.com", "agent").await;
    let agent_id = app.get("/api/v1/me", &agent).await.body["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/v1/tenants/{t}/members/{agent_id}/sip");
    let body = json!({ "username": "alice", "password": "phone secret 12345" });

    let r = app
        .call(Method::PUT, &path, Some(&agent), Some(body.clone()))
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "agents cannot provision phones: {r:?}"
    );
    let weak = app
        .call(
            Method::PUT,
            &path,
            Some(&owner),
            Some(json!({ "username": "alice", "password": "short" })),
        )
        .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    let r = app.call(Method::PUT, &path, Some(&owner), Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let domain = r.body["domain"].as_str().unwrap().to_owned();
    assert_eq!(domain, "acme-calls.omnivox");

    // Watch the tenant's events while the phone registers.
    let mut events = app
        .client
        .get(app.url(&format!("/api/v1/tenants/{t}/events?kinds=registration.")))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), StatusCode::OK);
    assert_eq!(events.headers()["content-type"], "text/event-stream");

    let sip = app.sip_addr.expect("SIP is enabled");
    assert_ne!(
        register(sip, &domain, "alice", "wrong password 12345").await,
        0,
        "wrong password"
    );
    assert_ne!(
        register(sip, "other-tenant.omnivox", "alice", "phone secret 12345").await,
        0,
        "other realm"
    );
    assert_eq!(
        register(sip, &domain, "alice", "phone secret 12345").await,
        0,
        "REGISTER with digest"
    );

    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains("event: registration.registered") {
        let chunk = tokio::time::timeout_at(deadline, events.chunk())
            .await
            .expect("no registration event within 10 s")
            .unwrap()
            .expect("event stream ended");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("\"username\":\"alice\""), "{seen}");
    assert!(seen.contains("id: "), "events carry their cursor: {seen}");
    let agent_events = app
        .get(&format!("/api/v1/tenants/{t}/events"), &agent)
        .await;
    assert_eq!(agent_events.status, StatusCode::FORBIDDEN);

    let regs = app
        .get(&format!("/api/v1/tenants/{t}/sip/registrations"), &owner)
        .await;
    let list = regs.body.as_array().unwrap();
    assert_eq!(list.len(), 1, "{regs:?}");
    assert_eq!(
        (list[0]["username"].as_str(), list[0]["user_id"].as_str()),
        (Some("alice"), Some(agent_id.as_str()))
    );
    assert_eq!(list[0]["contacts"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.get(&format!("/api/v1/tenants/{t}/sip/registrations"), &agent)
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // Removing the credentials signs the phone out.
    assert_eq!(
        app.delete(&path, &owner).await.status,
        StatusCode::NO_CONTENT
    );
    let regs = app
        .get(&format!("/api/v1/tenants/{t}/sip/registrations"), &owner)
        .await;
    assert!(regs.body.as_array().unwrap().is_empty(), "{regs:?}");
    assert_ne!(
        register(sip, &domain, "alice", "phone secret 12345").await,
        0,
        "no account any more"
    );
}
