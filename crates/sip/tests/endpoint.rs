//! The endpoint over raw UDP and TCP sockets: digest with SHA-256, Via
//! handling, per-method answers, registrar rules, throttling, drain, and
//! hostile TCP peers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use omnivox_sip::{DigestAlgorithm, RegistrationEventKind, SipConfig};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn sha256_is_offered_first_by_default_and_works() {
    let mut cfg = config();
    cfg.auth.algorithms = SipConfig::default().auth.algorithms;
    let t = start(cfg).await;
    let c = RawClient::new(t.udp()).await;
    let contact = format!("Contact: <sip:alice@127.0.0.1:{}>\r\n", c.port());
    let first = request(
        "REGISTER",
        "sip:acme.omnivox",
        "alice",
        ACME,
        c.port(),
        1,
        &contact,
    );
    let resp = c.request(&first).await;
    let challenges = headers(&resp, "WWW-Authenticate");
    assert_eq!(challenges.len(), 2, "{resp}");
    assert!(challenges[0].contains("algorithm=SHA-256") && challenges[1].contains("algorithm=MD5"));
    assert_eq!(param(challenges[0], "nonce"), param(challenges[1], "nonce"));
    assert_eq!(param(challenges[0], "realm").as_deref(), Some(ACME));

    let resp = c
        .register(
            "alice",
            ACME,
            ACME_PW,
            DigestAlgorithm::Sha256,
            10,
            &contact,
        )
        .await;
    assert_eq!(status(&resp), 200, "{resp}");
    assert!(
        header(&resp, "Contact").unwrap().contains("expires=3600"),
        "{resp}"
    );
    assert!(header(&resp, "Date").is_some());
    assert_eq!(
        header(&resp, "Server"),
        Some(format!("Omnivox/{}", env!("CARGO_PKG_VERSION")).as_str())
    );
    assert_eq!(t.server.registrar().bindings(t.acme, "alice").len(), 1);
}

#[tokio::test]
async fn via_gets_received_and_rport_and_the_answer_goes_to_the_source() {
    let t = start(config()).await;
    let c = RawClient::new(t.udp()).await;
    let msg = request("OPTIONS", "sip:127.0.0.1", "x", ACME, c.port(), 1, "")
        .replace(&format!("127.0.0.1:{};", c.port()), "10.9.9.9:5070;");
    let resp = c.request(&msg).await;
    assert_eq!(status(&resp), 200, "{resp}");
    let via = header(&resp, "Via").unwrap();
    assert!(via.starts_with("SIP/2.0/UDP 10.9.9.9:5070;"), "{via}");
    assert!(via.contains("received=127.0.0.1"), "{via}");
    assert!(via.contains(&format!("rport={}", c.port())), "{via}");
    assert!(header(&resp, "To").unwrap().contains("tag="));
    assert!(header(&resp, "Allow").unwrap().contains("REGISTER"));
}

#[tokio::test]
async fn answers_per_method() {
    let t = start(config()).await;
    let cases = [
        // An unauthenticated INVITE from a phone is challenged.
        ("INVITE", 407),
        ("SUBSCRIBE", 405),
        ("MESSAGE", 405),
        ("BYE", 481),
    ];
    for (method, code) in &cases {
        // A client each: the final response to INVITE is retransmitted
        // until ACKed.
        let c = RawClient::new(t.udp()).await;
        let resp = c
            .request(&request(
                method,
                "sip:alice@acme.omnivox",
                "x",
                ACME,
                c.port(),
                1,
                "",
            ))
            .await;
        assert_eq!(status(&resp), *code, "{method}: {resp}");
        if *code == 405 {
            assert!(
                header(&resp, "Allow").is_some_and(|a| a.contains("INVITE")),
                "{resp}"
            );
        }
        if *method == "INVITE" {
            assert!(
                header(&resp, "Proxy-Authenticate").is_some_and(|a| a.contains("acme.omnivox")),
                "{resp}"
            );
        }
    }
    let c = RawClient::new(t.udp()).await;
    let p = c.port();
    let hops = request("REGISTER", "sip:acme.omnivox", "x", ACME, p, 9, "")
        .replace("Max-Forwards: 70", "Max-Forwards: 0");
    assert_eq!(status(&c.request(&hops).await), 483);
    let unknown = request("PING", "sip:acme.omnivox", "x", ACME, p, 10, "");
    assert_eq!(status(&c.request(&unknown).await), 501);
    let s = t.server.stats();
    assert_eq!((s.too_many_hops, s.not_implemented), (1, 1));
}

#[tokio::test]
async fn a_retransmitted_register_gets_the_cached_answer() {
    let t = start(config()).await;
    let c = RawClient::new(t.udp()).await;
    let msg = request(
        "REGISTER",
        "sip:acme.omnivox",
        "alice",
        ACME,
        c.port(),
        1,
        "",
    );
    let a = c.request(&msg).await;
    let b = c.request(&msg).await;
    assert_eq!(status(&a), 401);
    assert_eq!(a, b, "the transaction layer must absorb the retransmission");
    assert_eq!(t.server.stats().auth_challenges, 1);
}

#[tokio::test]
async fn nat_contacts_are_reached_through_the_source_address() {
    let t = start(config()).await;
    let mut events = t.server.registrar().subscribe();
    let c = RawClient::new(t.udp()).await;
    let contact = "Contact: <sip:alice@192.168.1.50:5060>;expires=300\r\n";
    let resp = c
        .register("alice", ACME, ACME_PW, DigestAlgorithm::Md5, 1, contact)
        .await;
    assert_eq!(status(&resp), 200, "{resp}");
    assert_eq!(
        header(&resp, "Contact"),
        Some("<sip:alice@192.168.1.50:5060>;expires=300")
    );
    let e = next_event(&mut events, 5).await;
    assert_eq!(e.kind, RegistrationEventKind::Registered);
    assert!(e.binding.nat);
    assert_eq!(e.binding.target, c.socket.local_addr().unwrap());
    assert_eq!(e.binding.contact, "sip:alice@192.168.1.50:5060");

    // A second phone for the same agent, then a query, then `Contact: *`.
    let c2 = RawClient::new(t.udp()).await;
    let own = format!("Contact: <sip:alice@127.0.0.1:{}>\r\n", c2.port());
    let resp = c2
        .register("alice", ACME, ACME_PW, DigestAlgorithm::Md5, 1, &own)
        .await;
    assert_eq!(headers(&resp, "Contact").len(), 2, "{resp}");
    let b = t.server.registrar().bindings(t.acme, "alice");
    let direct = b.iter().find(|b| !b.nat).unwrap();
    assert_eq!(direct.target, c2.socket.local_addr().unwrap());
    let query = c2
        .register("alice", ACME, ACME_PW, DigestAlgorithm::Md5, 3, "")
        .await;
    assert_eq!(headers(&query, "Contact").len(), 2, "{query}");
    let star = c2
        .register(
            "alice",
            ACME,
            ACME_PW,
            DigestAlgorithm::Md5,
            5,
            "Contact: *\r\nExpires: 0\r\n",
        )
        .await;
    assert_eq!(status(&star), 200, "{star}");
    assert!(headers(&star, "Contact").is_empty());
    assert!(t.server.registrar().bindings(t.acme, "alice").is_empty());
}

#[tokio::test]
async fn too_brief_expiry_is_423() {
    let t = start(config()).await;
    let c = RawClient::new(t.udp()).await;
    let extra = "Contact: <sip:alice@127.0.0.1:5099>\r\nExpires: 10\r\n";
    let resp = c
        .register("alice", ACME, ACME_PW, DigestAlgorithm::Md5, 1, extra)
        .await;
    assert_eq!(status(&resp), 423, "{resp}");
    assert_eq!(header(&resp, "Min-Expires"), Some("60"));
    assert!(t.server.registrar().bindings(t.acme, "alice").is_empty());
}

#[tokio::test]
async fn bindings_expire_and_publish_an_event() {
    let mut cfg = config();
    cfg.registrar.min_expires_secs = 1;
    cfg.registrar.sweep_interval_ms = 50;
    let t = start(cfg).await;
    let mut events = t.server.registrar().subscribe();
    let c = RawClient::new(t.udp()).await;
    let extra = "Contact: <sip:alice@127.0.0.1:5099>\r\nExpires: 1\r\n";
    let resp = c
        .register("alice", ACME, ACME_PW, DigestAlgorithm::Md5, 1, extra)
        .await;
    assert_eq!(status(&resp), 200, "{resp}");
    assert_eq!(
        next_event(&mut events, 5).await.kind,
        RegistrationEventKind::Registered
    );
    let e = next_event(&mut events, 5).await;
    assert_eq!(
        (e.kind, e.tenant_id),
        (RegistrationEventKind::Expired, t.acme)
    );
    assert!(t.server.registrar().bindings(t.acme, "alice").is_empty());
}

#[tokio::test]
async fn repeated_failures_are_throttled_with_503() {
    let mut cfg = config();
    cfg.guard.throttle_after_failures = 2;
    cfg.guard.throttle_delay_secs = 30;
    let t = start(cfg).await;
    let c = RawClient::new(t.udp()).await;
    for cseq in [1, 3] {
        let r = c
            .register("alice", ACME, "nope", DigestAlgorithm::Md5, cseq, "")
            .await;
        assert_eq!(status(&r), 403, "{r}");
    }
    let r = c
        .register("alice", ACME, ACME_PW, DigestAlgorithm::Md5, 5, "")
        .await;
    assert_eq!(status(&r), 503, "{r}");
    let retry: u32 = header(&r, "Retry-After").unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry));
    assert_eq!(t.server.stats().auth_throttled, 1);
}

#[tokio::test]
async fn draining_answers_503_then_stops() {
    let t = start(config()).await;
    let guard = t.server.drain_guard();
    t.shutdown.cancel();
    eventually(5, "draining", || t.server.is_draining()).await;
    let c = RawClient::new(t.udp()).await;
    let resp = c
        .request(&request(
            "OPTIONS",
            "sip:127.0.0.1",
            "x",
            ACME,
            c.port(),
            1,
            "",
        ))
        .await;
    assert_eq!(status(&resp), 503, "{resp}");
    assert_eq!(header(&resp, "Retry-After"), Some("30"));
    // An INVITE too; its transaction waiting for an ACK must not hold up
    // the stop.
    let ci = RawClient::new(t.udp()).await;
    let invite = ci
        .request(&request(
            "INVITE",
            "sip:alice@acme.omnivox",
            "x",
            ACME,
            ci.port(),
            1,
            "",
        ))
        .await;
    assert_eq!(status(&invite), 503, "{invite}");
    assert_eq!(t.server.stats().draining_rejections, 2);
    drop(guard);
    tokio::time::timeout(Duration::from_secs(5), t.server.wait())
        .await
        .expect("server did not stop after the drain");
    c.send(request("OPTIONS", "sip:127.0.0.1", "x", ACME, c.port(), 2, "").as_bytes())
        .await;
    assert_eq!(c.recv(300).await, None);
}

// ------------------------------------------------------------------ TCP --

async fn read_until_closed(s: &mut TcpStream, secs: u64) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(secs), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "connection not closed within {secs} s");
    String::from_utf8_lossy(&out).into_owned()
}

async fn tcp_options(addr: std::net::SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let port = s.local_addr().unwrap().port();
    let msg = request("OPTIONS", "sip:127.0.0.1", "x", ACME, port, 1, "")
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    s.write_all(b"\r\n\r\n").await.unwrap();
    s.write_all(msg.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let mut got = String::new();
    while !(got.contains("SIP/2.0 ") && got.ends_with("\r\n\r\n")) {
        let n = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed early: {got:?}");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    got
}

#[tokio::test]
async fn hostile_tcp_peers_are_cut_off_and_others_still_served() {
    let mut cfg = config();
    cfg.limits.tcp_message_timeout_secs = 1;
    cfg.limits.tcp_max_connections_per_ip = 4;
    let t = start(cfg).await;
    let addr = t.tcp();

    // 1. A head that never ends, over 64 KiB: closed.
    let mut s = TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(&vec![b'A'; 70 * 1024]).await;
    read_until_closed(&mut s, 5).await;

    // 2. A body announced far over the limit: 513, then closed.
    let mut s = TcpStream::connect(addr).await.unwrap();
    let port = s.local_addr().unwrap().port();
    let big = request("REGISTER", "sip:acme.omnivox", "x", ACME, port, 1, "")
        .replace("Content-Length: 0", "Content-Length: 200000");
    s.write_all(big.as_bytes()).await.unwrap();
    let got = read_until_closed(&mut s, 5).await;
    assert!(got.starts_with("SIP/2.0 513 Message Too Large"), "{got}");

    // 3. An unreadable Content-Length: 400, then closed.
    let mut s = TcpStream::connect(addr).await.unwrap();
    let bad = request("OPTIONS", "sip:127.0.0.1", "x", ACME, port, 1, "")
        .replace("Content-Length: 0", "Content-Length: lots");
    s.write_all(bad.as_bytes()).await.unwrap();
    let got = read_until_closed(&mut s, 5).await;
    assert!(got.starts_with("SIP/2.0 400 Bad Request"), "{got}");

    // 4. Slow loris: half a message, then silence: closed after 1 s.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP")
        .await
        .unwrap();
    read_until_closed(&mut s, 5).await;

    // 5. Per-source connection limit.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    eventually(5, "4 connections accepted", || {
        t.server.stats().tcp_accepted >= 8
    })
    .await;
    let mut fifth = TcpStream::connect(addr).await.unwrap();
    read_until_closed(&mut fifth, 5).await;
    assert!(t.server.stats().tcp_rejected >= 1);
    drop(held);

    // Still serving, keep-alive pong included.
    eventually(5, "connections released", || {
        let s = t.server.stats();
        s.tcp_accepted == s.tcp_closed
    })
    .await;
    let got = tcp_options(addr).await;
    assert!(
        got.starts_with("\r\nSIP/2.0 200 OK\r\n") || got.starts_with("SIP/2.0 200 OK"),
        "{got:?}"
    );
    assert!(
        got.starts_with("\r\n"),
        "no pong for the CRLF ping: {got:?}"
    );
    let s = t.server.stats();
    assert!(s.oversized >= 2 && s.rejected_malformed >= 1, "{s:?}");
}

/// A directory that answers only when released.
struct GatedDirectory {
    gate: std::sync::Arc<tokio::sync::Semaphore>,
    inner: omnivox_sip::MemoryDirectory,
}

impl omnivox_sip::Directory for GatedDirectory {
    async fn lookup(
        &self,
        domain: &str,
        user: &str,
    ) -> Result<Option<omnivox_sip::SipAccount>, omnivox_sip::DirectoryError> {
        let _permit = self.gate.acquire().await;
        self.inner.lookup(domain, user).await
    }
}

#[tokio::test]
async fn overload_is_answered_with_503_at_once() {
    let mut cfg = config();
    cfg.limits.max_pending_requests = 1;
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let inner = omnivox_sip::MemoryDirectory::new();
    let tenant = omnivox_domain::TenantId::new();
    let user = omnivox_domain::UserId::new();
    inner.insert(omnivox_sip::SipAccount::with_password(
        tenant, user, "alice", ACME, ACME_PW,
    ));
    let dir = GatedDirectory {
        gate: gate.clone(),
        inner,
    };
    let server = omnivox_sip::SipServer::bind(cfg, dir, tokio_util::sync::CancellationToken::new())
        .await
        .unwrap();
    let addr = server.udp_addr().unwrap();

    // A REGISTER whose credential look-up hangs holds the only slot.
    let a = RawClient::new(addr).await;
    let uri = "sip:acme.omnivox";
    let first = a
        .request(&request("REGISTER", uri, "alice", ACME, a.port(), 1, ""))
        .await;
    let challenge = challenge_for(&first, DigestAlgorithm::Md5).unwrap();
    let auth = authorization(DigestAlgorithm::Md5, &challenge, "alice", ACME_PW, uri);
    let second = request(
        "REGISTER",
        uri,
        "alice",
        ACME,
        a.port(),
        2,
        &format!("Authorization: {auth}\r\n"),
    );
    a.send(second.as_bytes()).await;
    assert_eq!(a.recv(200).await, None, "the look-up is blocked");

    let b = RawClient::new(addr).await;
    let resp = b
        .request(&request(
            "OPTIONS",
            "sip:127.0.0.1",
            "x",
            ACME,
            b.port(),
            1,
            "",
        ))
        .await;
    assert_eq!(status(&resp), 503, "{resp}");
    assert_eq!(header(&resp, "Retry-After"), Some("1"));
    assert_eq!(server.stats().overload_rejections, 1);

    gate.add_permits(1);
    let done = a
        .recv(3000)
        .await
        .expect("the REGISTER completes once the directory answers");
    assert_eq!(status(&done), 200, "{done}");
    let resp = b
        .request(&request(
            "OPTIONS",
            "sip:127.0.0.1",
            "x",
            ACME,
            b.port(),
            2,
            "",
        ))
        .await;
    assert_eq!(status(&resp), 200, "{resp}");
}
