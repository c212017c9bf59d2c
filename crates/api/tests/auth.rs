//! Sign-in, sessions, 2FA and lockout, over HTTP against the real server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use omnivox_api::auth::totp;
use omnivox_testkit::{PASSWORD, spawn_app, spawn_app_with};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn first_run_needs_the_setup_token_and_happens_once() {
    let app = spawn_app().await;
    let status = app.call(Method::GET, "/api/v1/setup", None, None).await;
    assert_eq!(status.body["setup_required"], true);

    let body = |token: &str| {
        json!({ "setup_token": token, "email": "o@example.com", "display_name": "O",
                "password": PASSWORD, "tenant_name": "Acme" })
    };
    let wrong = app
        .call(Method::POST, "/api/v1/setup", None, Some(body("nope")))
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(wrong.code(), "invalid_setup_token");

    let weak = app
        .call(
            Method::POST,
            "/api/v1/setup",
            None,
            Some(
                json!({ "setup_token": app.setup_token.clone().unwrap(), "email": "o@example.com",
                         "display_name": "O", "password": "password", "tenant_name": "Acme" }),
            ),
        )
        .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        weak.body["error"]["details"]["fields"][0]["field"],
        "password"
    );
    assert_eq!(
        weak.body["error"]["details"]["fields"][0]["code"],
        "password_too_short"
    );

    let token = app.setup_token.clone().unwrap();
    let ok = app
        .call(Method::POST, "/api/v1/setup", None, Some(body(&token)))
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{ok:?}");
    assert_eq!(ok.body["tenant"]["name"], "Acme");
    assert!(ok.body["user"].get("password_hash").is_none());

    let again = app
        .call(Method::POST, "/api/v1/setup", None, Some(body(&token)))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.code(), "already_set_up");
    let status = app.call(Method::GET, "/api/v1/setup", None, None).await;
    assert_eq!(status.body["setup_required"], false);

    let me = app
        .get("/api/v1/me", &app.token("o@example.com").await)
        .await;
    assert_eq!(me.body["memberships"][0]["role"], "owner");
    assert_eq!(me.body["memberships"][0]["tenant_name"], "Acme");
}

#[tokio::test]
async fn unattended_bootstrap_creates_the_owner_from_config() {
    let app = spawn_app_with(|c| {
        c.bootstrap.owner_email = Some("boot@example.com".into());
        c.bootstrap.owner_password = Some(omnivox_api::config::Secret::new(PASSWORD));
        c.bootstrap.tenant_name = Some("Boot Center".into());
    })
    .await;
    assert!(app.setup_token.is_none());
    let me = app
        .get("/api/v1/me", &app.token("boot@example.com").await)
        .await;
    assert_eq!(me.body["memberships"][0]["tenant_name"], "Boot Center");
}

#[tokio::test]
async fn login_refresh_rotation_and_reuse_detection() {
    let app = spawn_app().await;
    app.setup("owner@example.com", "Acme").await;

    let bad = app.login("owner@example.com", "wrong password here").await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert_eq!(bad.code(), "invalid_credentials");
    let nobody = app.login("nobody@example.com", PASSWORD).await;
    assert_eq!(
        nobody.code(),
        "invalid_credentials",
        "unknown users look the same"
    );

    let login = app.login("OWNER@example.com", PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK);
    let access = login.body["access_token"].as_str().unwrap().to_owned();
    let r1 = login.body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/api/v1/me", &access).await.status, StatusCode::OK);

    let app = &app;
    let refresh = |t: String| async move {
        app.call(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            Some(json!({ "refresh_token": t })),
        )
        .await
    };
    let rotated = refresh(r1.clone()).await;
    assert_eq!(rotated.status, StatusCode::OK, "{rotated:?}");
    let r2 = rotated.body["refresh_token"].as_str().unwrap().to_owned();
    let access2 = rotated.body["access_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2);
    assert_eq!(app.get("/api/v1/me", &access2).await.status, StatusCode::OK);

    // The old token again: reuse. The whole session family is revoked.
    let reused = refresh(r1).await;
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reused.code(), "refresh_token_reused");
    let after = refresh(r2).await;
    assert_eq!(
        after.code(),
        "invalid_refresh_token",
        "the current token died with the family"
    );
    let me = app.get("/api/v1/me", &access2).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    assert_eq!(me.code(), "session_revoked");
}

#[tokio::test]
async fn logout_and_session_revocation() {
    let app = spawn_app().await;
    app.setup("owner@example.com", "Acme").await;
    let a = app.token("owner@example.com").await;
    let b = app.token("owner@example.com").await;

    let sessions = app.get("/api/v1/me/sessions", &a).await;
    let list = sessions.body.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let other = list.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let revoked = app
        .delete(&format!("/api/v1/me/sessions/{other}"), &a)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/api/v1/me", &b).await.code(), "session_revoked");
    assert_eq!(
        app.delete(&format!("/api/v1/me/sessions/{other}"), &a)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let out = app
        .call(Method::POST, "/api/v1/auth/logout", Some(&a), None)
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/me", &a).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/v1/me", "garbage").await.code(),
        "invalid_token"
    );
}

#[tokio::test]
async fn two_factor_enroll_verify_login_recovery_and_disable() {
    let app = spawn_app().await;
    app.setup("owner@example.com", "Acme").await;
    let t = app.token("owner@example.com").await;

    let enroll = app.post("/api/v1/me/2fa/enroll", &t, json!({})).await;
    assert_eq!(enroll.status, StatusCode::OK, "{enroll:?}");
    let secret = enroll.body["secret"].as_str().unwrap().to_owned();
    assert!(
        enroll.body["otpauth_url"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/Omnivox")
    );

    // Not on until verified: password alone still works.
    assert_eq!(
        app.login("owner@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
    let wrong = app
        .post("/api/v1/me/2fa/verify", &t, json!({ "code": "000000" }))
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    let code = totp::current_code(&secret).unwrap();
    let verified = app
        .post("/api/v1/me/2fa/verify", &t, json!({ "code": code }))
        .await;
    assert_eq!(verified.status, StatusCode::OK, "{verified:?}");
    let recovery: Vec<String> = verified.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recovery.len(), 10);

    let login =
        |body: serde_json::Value| app.call(Method::POST, "/api/v1/auth/login", None, Some(body));
    let no_code = login(json!({ "email": "owner@example.com", "password": PASSWORD })).await;
    assert_eq!(no_code.code(), "mfa_required");
    let bad_code =
        login(json!({ "email": "owner@example.com", "password": PASSWORD, "totp_code": "123456" }))
            .await;
    assert_eq!(bad_code.code(), "invalid_mfa_code");
    let good = login(json!({ "email": "owner@example.com", "password": PASSWORD,
                             "totp_code": totp::current_code(&secret).unwrap() }))
    .await;
    assert_eq!(good.status, StatusCode::OK, "{good:?}");

    let rc = json!({ "email": "owner@example.com", "password": PASSWORD, "recovery_code": recovery[0].to_uppercase() });
    assert_eq!(
        login(rc.clone()).await.status,
        StatusCode::OK,
        "recovery code works once"
    );
    assert_eq!(login(rc).await.code(), "invalid_mfa_code", "and only once");

    let t2 = good.body["access_token"].as_str().unwrap();
    let off = app
        .call(
            Method::DELETE,
            "/api/v1/me/2fa",
            Some(t2),
            Some(json!({ "password": PASSWORD, "code": totp::current_code(&secret).unwrap() })),
        )
        .await;
    assert_eq!(off.status, StatusCode::NO_CONTENT, "{off:?}");
    assert_eq!(
        app.login("owner@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn tenant_can_require_two_factor() {
    let app = spawn_app().await;
    let (tenant, owner) = app.owner().await;
    let agent = app
        .member(&tenant, &owner, "agent@example.com", "agent")
        .await;
    let path = format!("/api/v1/tenants/{tenant}");
    assert_eq!(app.get(&path, &agent).await.status, StatusCode::OK);

    let r = app
        .patch(&path, &owner, json!({ "require_2fa": true }))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let refused = app.get(&path, &agent).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.code(), "mfa_enrollment_required");

    let enroll = app.post("/api/v1/me/2fa/enroll", &agent, json!({})).await;
    let secret = enroll.body["secret"].as_str().unwrap();
    let code = totp::current_code(secret).unwrap();
    assert_eq!(
        app.post("/api/v1/me/2fa/verify", &agent, json!({ "code": code }))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(app.get(&path, &agent).await.status, StatusCode::OK);
}

#[tokio::test]
async fn account_lockout_and_unlock() {
    let app = spawn_app_with(|c| c.auth.lockout_threshold = 3).await;
    let (tenant, owner) = app.owner().await;
    app.member(&tenant, &owner, "agent@example.com", "agent")
        .await;

    for _ in 0..3 {
        let r = app
            .login("agent@example.com", "not the password at all")
            .await;
        assert_eq!(r.code(), "invalid_credentials");
    }
    let locked = app.login("agent@example.com", PASSWORD).await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(locked.code(), "locked_out");
    assert!(locked.headers.get("retry-after").is_some());

    let members = app
        .get(&format!("/api/v1/tenants/{tenant}/members"), &owner)
        .await;
    let agent = members.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"]["email"] == "agent@example.com")
        .unwrap()
        .clone();
    assert_eq!(agent["user"]["locked"], true);
    let id = agent["user"]["id"].as_str().unwrap();
    let unlock = app
        .post(
            &format!("/api/v1/tenants/{tenant}/members/{id}/unlock"),
            &owner,
            json!({}),
        )
        .await;
    assert_eq!(unlock.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.login("agent@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn source_address_lockout() {
    let app = spawn_app_with(|c| c.auth.ip_lockout_threshold = 4).await;
    app.setup("owner@example.com", "Acme").await;
    for i in 0..4 {
        let r = app.login(&format!("guess{i}@example.com"), PASSWORD).await;
        assert_eq!(r.code(), "invalid_credentials");
    }
    let r = app.login("owner@example.com", PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.code(), "locked_out");
}

#[tokio::test]
async fn browser_cookies_need_the_csrf_header_for_writes() {
    let app = spawn_app_with(|c| c.auth.cookie_secure = false).await;
    let tenant = app.setup("owner@example.com", "Acme").await;
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let r = omnivox_testkit::read(
        browser
            .post(app.url("/api/v1/auth/login"))
            .json(
                &json!({ "email": "owner@example.com", "password": PASSWORD, "use_cookies": true }),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body["access_token"].is_null(),
        "tokens stay in httpOnly cookies"
    );
    let cookies: Vec<_> = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let access = cookies
        .iter()
        .find(|c| c.starts_with("ovx_access="))
        .unwrap();
    assert!(
        access.contains("HttpOnly") && access.contains("SameSite=Strict"),
        "{access}"
    );
    let csrf = r.body["csrf_token"].as_str().unwrap().to_owned();

    let path = app.url(&format!("/api/v1/tenants/{tenant}"));
    let read = browser.get(&path).send().await.unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    let no_csrf = omnivox_testkit::read(
        browser
            .patch(&path)
            .json(&json!({ "name": "X" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
    assert_eq!(no_csrf.code(), "csrf_failed");
    let with = browser
        .patch(&path)
        .header("x-csrf-token", csrf)
        .json(&json!({ "name": "X" }))
        .send()
        .await
        .unwrap();
    assert_eq!(with.status(), StatusCode::OK);
}

#[tokio::test]
async fn secure_cookie_flags_by_default() {
    let app = spawn_app().await;
    app.setup("owner@example.com", "Acme").await;
    let r = app
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(
                json!({ "email": "owner@example.com", "password": PASSWORD, "use_cookies": true }),
            ),
        )
        .await;
    for c in r.headers.get_all("set-cookie") {
        assert!(c.to_str().unwrap().contains("; Secure"), "{c:?}");
    }
}

#[tokio::test]
async fn password_change_applies_the_policy_and_signs_out_other_sessions() {
    let app = spawn_app().await;
    app.setup("owner@example.com", "Acme").await;
    let a = app.token("owner@example.com").await;
    let b = app.token("owner@example.com").await;
    let change = |new: &str| {
        app.call(
            Method::PUT,
            "/api/v1/me/password",
            Some(&a),
            Some(json!({ "current_password": PASSWORD, "new_password": new })),
        )
    };
    let common = change("qwertyuiop123").await;
    assert_eq!(
        common.body["error"]["details"]["fields"][0]["code"],
        "password_common"
    );
    assert_eq!(
        change("a brand new long passphrase").await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.get("/api/v1/me", &a).await.status, StatusCode::OK);
    assert_eq!(app.get("/api/v1/me", &b).await.code(), "session_revoked");
    assert_eq!(
        app.login("owner@example.com", PASSWORD).await.code(),
        "invalid_credentials"
    );
    assert_eq!(
        app.login("owner@example.com", "a brand new long passphrase")
            .await
            .status,
        StatusCode::OK
    );
}

/// A request from the local reverse proxy on behalf of `client`: the proxy
/// appends the address it received the request from to whatever the client
/// itself sent in `X-Forwarded-For`.
async fn via_proxy(
    client_said: Option<&str>,
    client: &str,
    req: reqwest::RequestBuilder,
) -> omnivox_testkit::Resp {
    let xff = match client_said {
        Some(s) => format!("{s}, {client}"),
        None => client.to_owned(),
    };
    omnivox_testkit::read(req.header("x-forwarded-for", xff).send().await.unwrap()).await
}

fn login_req(
    app: &omnivox_testkit::TestApp,
    email: &str,
    password: &str,
) -> reqwest::RequestBuilder {
    app.client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "email": email, "password": password }))
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_is_known_by_its_own_address() {
    let app = spawn_app_with(|c| {
        c.http.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        c.auth.ip_lockout_threshold = 3;
    })
    .await;
    let tenant = app.setup("owner@example.com", "Acme").await;
    let owner = app.token("owner@example.com").await;

    // One client guesses, claiming to be another; the proxy says who it is.
    for i in 0..3 {
        let r = via_proxy(
            Some("198.51.100.9"),
            "203.0.113.7",
            login_req(&app, &format!("guess{i}@example.com"), PASSWORD),
        )
        .await;
        assert_eq!(r.code(), "invalid_credentials");
    }
    let locked = via_proxy(
        None,
        "203.0.113.7",
        login_req(&app, "owner@example.com", PASSWORD),
    )
    .await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(locked.code(), "locked_out");

    // The address it claimed, and everyone else behind the proxy, sign in.
    let r = via_proxy(
        None,
        "198.51.100.9",
        login_req(&app, "owner@example.com", PASSWORD),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let token = r.body["access_token"].as_str().unwrap().to_owned();

    // Sessions and the audit log name the client, not the proxy.
    let sessions = app.get("/api/v1/me/sessions", &token).await;
    let ips: Vec<&str> = sessions
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["ip"].as_str())
        .collect();
    assert!(ips.contains(&"198.51.100.9"), "{ips:?}");
    let renamed = via_proxy(
        None,
        "2001:db8::7",
        app.client
            .patch(app.url(&format!("/api/v1/tenants/{tenant}")))
            .bearer_auth(&owner)
            .json(&json!({ "name": "Acme Outbound" })),
    )
    .await;
    assert_eq!(renamed.status, StatusCode::OK, "{renamed:?}");
    let log = app
        .get(
            &format!("/api/v1/tenants/{tenant}/audit?action=tenant.updated"),
            &owner,
        )
        .await;
    assert_eq!(log.body["items"][0]["source_ip"], "2001:db8::7");
}

#[tokio::test]
async fn forwarded_addresses_from_an_untrusted_peer_are_ignored() {
    // No trusted proxies (the default): a client cannot choose its address.
    let app = spawn_app_with(|c| c.auth.ip_lockout_threshold = 3).await;
    app.setup("owner@example.com", "Acme").await;
    for i in 0..3 {
        let r = via_proxy(
            None,
            &format!("203.0.113.{i}"),
            login_req(&app, &format!("guess{i}@example.com"), PASSWORD),
        )
        .await;
        assert_eq!(r.code(), "invalid_credentials");
    }
    let r = via_proxy(
        None,
        "198.51.100.9",
        login_req(&app, "owner@example.com", PASSWORD),
    )
    .await;
    assert_eq!(r.code(), "locked_out", "all guesses came from 127.0.0.1");
}

#[tokio::test]
async fn per_address_rate_limits_count_each_client_behind_the_proxy() {
    let app = spawn_app_with(|c| {
        c.http.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
        c.rate_limit.per_ip_per_sec = 1;
        c.rate_limit.per_ip_burst = 2;
    })
    .await;
    let status = async |client: &str| {
        via_proxy(None, client, app.client.get(app.url("/api/v1/setup")))
            .await
            .status
    };
    assert_eq!(status("203.0.113.7").await, StatusCode::OK);
    assert_eq!(status("203.0.113.7").await, StatusCode::OK);
    assert_eq!(status("203.0.113.7").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(status("198.51.100.9").await, StatusCode::OK);
}
