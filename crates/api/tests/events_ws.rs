//! The tenant event stream over WebSocket, with a real WebSocket client.
//! Events come from an agent phone registering over SIP (a raw UDP client
//! answering the digest challenge), as they would in production.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures_util::{SinkExt, StreamExt};
use omnivox_sip::DigestAlgorithm;
use omnivox_testkit::{PASSWORD, TestApp, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpStream, UdpSocket};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How the upgrade request authenticates.
enum Auth<'a> {
    None,
    Bearer(&'a str),
    /// The session cookie, as a browser sends it, with an `Origin`.
    Cookie(&'a str, &'a str),
}

/// Open `path` as a WebSocket; on refusal, the HTTP status and body.
async fn connect(app: &TestApp, path: &str, auth: Auth<'_>) -> Result<Ws, (StatusCode, Value)> {
    let url = format!("ws://{}{path}", app.addr);
    let mut req = url.into_client_request().unwrap();
    let h = req.headers_mut();
    match auth {
        Auth::None => {}
        Auth::Bearer(t) => {
            h.insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        Auth::Cookie(t, origin) => {
            h.insert("cookie", format!("ovx_access={t}").parse().unwrap());
            h.insert("origin", origin.parse().unwrap());
        }
    }
    match tokio::time::timeout(Duration::from_secs(10), connect_async(req))
        .await
        .expect("handshake within 10 s")
    {
        Ok((ws, resp)) => {
            assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
            Ok(ws)
        }
        Err(tungstenite::Error::Http(resp)) => {
            let body = resp
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            Err((resp.status(), body))
        }
        Err(e) => panic!("WebSocket handshake failed: {e}"),
    }
}

/// The next JSON text frame (pings and pongs skipped), within 10 s.
async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("no frame within 10 s")
            .expect("socket closed")
            .expect("socket error");
        match msg {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame: {other:?}"),
        }
    }
}

/// Nothing but control frames arrives within `ms`.
async fn silent_for(ws: &mut Ws, ms: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return,
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(other) => panic!("expected silence, got {other:?}"),
        }
    }
}

/// The close frame the server ends the socket with, within 10 s.
async fn close_frame(ws: &mut Ws) -> (CloseCode, String) {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("no close within 10 s");
        match msg {
            Some(Ok(Message::Close(Some(f)))) => return (f.code, f.reason.to_string()),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

// ------------------------------------------------------------ the phone --

/// An agent's phone: REGISTER over UDP with SHA-256 digest auth.
struct Phone {
    socket: UdpSocket,
    server: SocketAddr,
    user: String,
    domain: String,
    password: String,
    cseq: u32,
}

fn hex_sha256(data: &str) -> String {
    <sha2::Sha256 as sha2::Digest>::digest(data.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn header<'a>(resp: &'a str, name: &str) -> Vec<&'a str> {
    resp.split("\r\n")
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .collect()
}

fn param(challenge: &str, name: &str) -> String {
    let start = challenge.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
    let end = challenge[start..].find('"').unwrap() + start;
    challenge[start..end].to_owned()
}

fn status(resp: &str) -> u16 {
    resp.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

impl Phone {
    async fn new(server: SocketAddr, user: &str, domain: &str, password: &str) -> Self {
        Self {
            socket: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            server,
            user: user.into(),
            domain: domain.into(),
            password: password.into(),
            cseq: 1,
        }
    }

    fn request(&mut self, expires: u32, auth: Option<&str>) -> String {
        let port = self.socket.local_addr().unwrap().port();
        let (user, domain) = (&self.user, &self.domain);
        self.cseq += 1;
        let auth = auth
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        format!(
            "REGISTER sip:{domain} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-ws-{port}-{cseq};rport\r\n\
             From: <sip:{user}@{domain}>;tag=t{port}\r\n\
             To: <sip:{user}@{domain}>\r\n\
             Call-ID: ws-{port}@127.0.0.1\r\n\
             CSeq: {cseq} REGISTER\r\n\
             Contact: <sip:{user}@127.0.0.1:{port}>\r\n\
             Max-Forwards: 70\r\n\
             Expires: {expires}\r\n\
             User-Agent: events-ws-test\r\n\
             {auth}Content-Length: 0\r\n\r\n",
            cseq = self.cseq
        )
    }

    async fn exchange(&self, msg: &str) -> String {
        self.socket
            .send_to(msg.as_bytes(), self.server)
            .await
            .unwrap();
        let mut buf = vec![0u8; 65_536];
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), self.socket.recv_from(&mut buf))
            .await
            .expect("no SIP response within 5 s")
            .unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    /// REGISTER (expires 0: unregister), answering the challenge.
    async fn register(&mut self, expires: u32) {
        let first = self.request(expires, None);
        let resp = self.exchange(&first).await;
        assert_eq!(status(&resp), 401, "expected a challenge:\n{resp}");
        let challenge = header(&resp, "WWW-Authenticate")
            .into_iter()
            .find(|c| c.contains("algorithm=SHA-256"))
            .expect("a SHA-256 challenge")
            .to_owned();
        let (realm, nonce) = (param(&challenge, "realm"), param(&challenge, "nonce"));
        let uri = format!("sip:{}", self.domain);
        let ha1 = omnivox_sip::ha1(DigestAlgorithm::Sha256, &self.user, &realm, &self.password);
        let ha2 = hex_sha256(&format!("REGISTER:{uri}"));
        let response = hex_sha256(&format!("{ha1}:{nonce}:00000001:c0ffee:auth:{ha2}"));
        let auth = format!(
            "Digest username=\"{}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
             response=\"{response}\", algorithm=SHA-256, qop=auth, nc=00000001, cnonce=\"c0ffee\"",
            self.user
        );
        let second = self.request(expires, Some(&auth));
        let resp = self.exchange(&second).await;
        assert_eq!(status(&resp), 200, "REGISTER refused:\n{resp}");
    }
}

/// A tenant with an owner, and an agent with SIP credentials and a phone.
struct Fixture {
    app: TestApp,
    tenant: String,
    owner: String,
    agent: String,
    phone: Phone,
}

async fn fixture() -> Fixture {
    let app = spawn_app().await;
    let (tenant, owner) = app.owner().await;
    let agent = app
        .member(&tenant, &owner, "agent@example.com", "agent")
        .await;
    let agent_id = app.get("/api/v1/me", &agent).await.body["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/tenants/{tenant}/members/{agent_id}/sip"),
            Some(&owner),
            Some(json!({ "username": "alice", "password": "phone secret 12345" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let domain = r.body["domain"].as_str().unwrap().to_owned();
    let sip = app.sip_addr.expect("SIP is enabled in tests");
    let phone = Phone::new(sip, "alice", &domain, "phone secret 12345").await;
    Fixture {
        app,
        tenant,
        owner,
        agent,
        phone,
    }
}

impl Fixture {
    fn path(&self, query: &str) -> String {
        format!("/api/v1/tenants/{}/events/ws{query}", self.tenant)
    }
}

fn assert_event(frame: &Value, kind: &str, tenant: &str) -> String {
    assert_eq!(frame["type"], "event", "{frame}");
    assert_eq!(frame["kind"], kind, "{frame}");
    assert_eq!(frame["tenant"], tenant, "{frame}");
    assert_eq!(frame["subject"], "alice", "{frame}");
    assert_eq!(frame["data"]["username"], "alice", "{frame}");
    assert!(frame["at"].is_string(), "{frame}");
    frame["id"]
        .as_str()
        .expect("events carry their cursor")
        .to_owned()
}

// ---------------------------------------------------------------- tests --

#[tokio::test]
async fn events_arrive_as_json_frames_and_kinds_filter_them() {
    let mut f = fixture().await;
    let mut all = connect(&f.app, &f.path(""), Auth::Bearer(&f.owner))
        .await
        .unwrap();
    let mut removals = connect(
        &f.app,
        &f.path("?kinds=registration.unregistered"),
        Auth::Bearer(&f.owner),
    )
    .await
    .unwrap();

    f.phone.register(600).await;
    let registered = next_json(&mut all).await;
    let first = assert_event(&registered, "registration.registered", &f.tenant);
    // The filtered socket does not get the registration.
    silent_for(&mut removals, 300).await;

    f.phone.register(0).await;
    let unregistered = next_json(&mut all).await;
    let second = assert_event(&unregistered, "registration.unregistered", &f.tenant);
    assert!(second > first, "ids (cursors) increase: {first} {second}");
    let only = next_json(&mut removals).await;
    assert_eq!(only, unregistered, "the same frame on both sockets");

    // The server answers pings, and a client close is answered in kind.
    all.send(Message::Ping(b"hi".to_vec().into()))
        .await
        .unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), all.next()).await {
            Ok(Some(Ok(Message::Pong(p)))) => {
                assert_eq!(&p[..], b"hi");
                break;
            }
            Ok(Some(Ok(Message::Ping(_)))) => continue,
            other => panic!("expected a pong, got {other:?}"),
        }
    }
    all.close(None).await.unwrap();
    assert!(matches!(
        tokio::time::timeout(Duration::from_secs(5), all.next()).await,
        Ok(None | Some(Ok(Message::Close(_))))
    ));
}

#[tokio::test]
async fn a_client_resumes_from_its_last_cursor() {
    let mut f = fixture().await;
    let mut ws = connect(&f.app, &f.path(""), Auth::Bearer(&f.owner))
        .await
        .unwrap();
    f.phone.register(600).await;
    let cursor = assert_event(
        &next_json(&mut ws).await,
        "registration.registered",
        &f.tenant,
    );
    ws.close(None).await.unwrap();
    drop(ws);

    // Missed while disconnected.
    f.phone.register(600).await;
    f.phone.register(0).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut resumed = connect(
        &f.app,
        &f.path(&format!("?after={cursor}")),
        Auth::Bearer(&f.owner),
    )
    .await
    .unwrap();
    let refreshed = next_json(&mut resumed).await;
    let refreshed_id = assert_event(&refreshed, "registration.refreshed", &f.tenant);
    let removed = next_json(&mut resumed).await;
    assert_event(&removed, "registration.unregistered", &f.tenant);
    silent_for(&mut resumed, 300).await;

    // Resuming with a kind filter replays only the matching ones, and later
    // events keep coming live on the same socket.
    let mut filtered = connect(
        &f.app,
        &f.path(&format!(
            "?after={cursor}&kinds=registration.unregistered,registration.registered"
        )),
        Auth::Bearer(&f.owner),
    )
    .await
    .unwrap();
    assert_eq!(next_json(&mut filtered).await, removed);
    f.phone.register(600).await;
    let live = next_json(&mut filtered).await;
    assert_event(&live, "registration.registered", &f.tenant);
    assert_eq!(next_json(&mut resumed).await, live);

    // A malformed cursor is refused before the upgrade.
    let (status, body) = connect(&f.app, &f.path("?after=not-a-uuid"), Auth::Bearer(&f.owner))
        .await
        .unwrap_err();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(refreshed_id > cursor);
}

#[tokio::test]
async fn the_upgrade_is_authenticated_and_authorized_like_the_sse_stream() {
    let f = fixture().await;
    let app = &f.app;

    let (status, body) = connect(app, &f.path(""), Auth::None).await.unwrap_err();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "unauthenticated");

    let (status, body) = connect(app, &f.path(""), Auth::Bearer("not-a-token"))
        .await
        .unwrap_err();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // Agents may not watch the tenant's events (member_read), as with SSE.
    let (status, body) = connect(app, &f.path(""), Auth::Bearer(&f.agent))
        .await
        .unwrap_err();
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        app.get(&format!("/api/v1/tenants/{}/events", f.tenant), &f.agent)
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // The owner of another tenant sees nothing of this one: 404, as with SSE.
    let admin = omnivox_api::admin::Admin::connect(&app.config)
        .await
        .unwrap();
    admin
        .create_user("root@example.com", "Root", PASSWORD, None, true)
        .await
        .unwrap();
    let root = app.token("root@example.com").await;
    let other = app
        .post(
            "/api/v1/tenants",
            &root,
            json!({ "name": "Bravo Collections" }),
        )
        .await;
    assert_eq!(other.status, StatusCode::CREATED, "{other:?}");
    let other_id = other.body["id"].as_str().unwrap();
    let other_owner = app
        .member(other_id, &root, "owner-b@example.com", "owner")
        .await;
    let (status, body) = connect(app, &f.path(""), Auth::Bearer(&other_owner))
        .await
        .unwrap_err();
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(
        app.get(
            &format!("/api/v1/tenants/{}/events", f.tenant),
            &other_owner
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert!(
        connect(
            app,
            &format!("/api/v1/tenants/{other_id}/events/ws"),
            Auth::Bearer(&other_owner)
        )
        .await
        .is_ok(),
        "their own tenant is fine"
    );

    // A plain GET is told to upgrade.
    let r = app.get(&f.path(""), &f.owner).await;
    assert_eq!(r.status, StatusCode::UPGRADE_REQUIRED, "{r:?}");
    assert_eq!(r.code(), "websocket_upgrade_required");
}

#[tokio::test]
async fn browsers_use_the_session_cookie_from_the_same_origin_only() {
    let mut f = fixture().await;
    let own = format!("http://{}", f.app.addr);
    let mut ws = connect(&f.app, &f.path(""), Auth::Cookie(&f.owner, &own))
        .await
        .unwrap();
    f.phone.register(600).await;
    assert_event(
        &next_json(&mut ws).await,
        "registration.registered",
        &f.tenant,
    );

    // A page on another site cannot ride on the cookie.
    let (status, body) = connect(
        &f.app,
        &f.path(""),
        Auth::Cookie(&f.owner, "https://evil.example"),
    )
    .await
    .unwrap_err();
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "origin_mismatch");
}

#[tokio::test]
async fn the_server_closes_sockets_when_it_shuts_down() {
    let f = fixture().await;
    let mut ws = connect(&f.app, &f.path(""), Auth::Bearer(&f.owner))
        .await
        .unwrap();
    let stopped = tokio::spawn(f.app.stop());
    let (code, reason) = close_frame(&mut ws).await;
    assert_eq!(code, CloseCode::Away, "{reason}");
    assert!(reason.contains("shutting down"), "{reason}");
    tokio::time::timeout(Duration::from_secs(10), stopped)
        .await
        .expect("the server stops")
        .unwrap();
}
