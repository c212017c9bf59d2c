//! The endpoint and registrar against a real SIP peer: sipp (Debian
//! `sip-tester`) as agent phones, scanners and garbage senders.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use omnivox_sip::{RegistrationEventKind, SipTransport};

#[tokio::test]
async fn sipp_registers_with_md5_over_udp_and_tcp() {
    if skip_without_sipp() {
        return;
    }
    let t = start(config()).await;
    let mut events = t.server.registrar().subscribe();
    let keys = [("domain", ACME), ("user", "alice"), ("expires", "600")];
    for (target, transport, kind) in [
        (t.udp(), "u1", SipTransport::Udp),
        (t.tcp(), "t1", SipTransport::Tcp),
    ] {
        let run = sipp(
            "register.xml",
            target,
            transport,
            &keys,
            Some(("alice", ACME_PW)),
            &[],
        )
        .await;
        assert_sipp_ok(&run, &format!("REGISTER over {transport}"));
        let e = next_event(&mut events, 5).await;
        assert_eq!(e.kind, RegistrationEventKind::Registered);
        assert_eq!(
            (e.tenant_id, e.user.as_str(), e.domain.as_str()),
            (t.acme, "alice", ACME)
        );
        assert_eq!(e.binding.transport, kind);
        assert_eq!(e.binding.target.ip(), std::net::Ipv4Addr::LOCALHOST);
        assert_eq!(e.binding.user_agent.as_deref(), Some("sipp-phone"));
    }
    let bindings = t.server.registrar().bindings(t.acme, "alice");
    assert_eq!(bindings.len(), 2, "one contact per transport: {bindings:?}");
    assert!(t.server.registrar().bindings(t.globex, "alice").is_empty());
    let s = t.server.stats();
    assert_eq!(
        (s.auth_challenges, s.auth_successes, s.auth_failures),
        (2, 2, 0)
    );
}

#[tokio::test]
async fn two_tenants_each_have_their_own_alice() {
    if skip_without_sipp() {
        return;
    }
    let t = start(config()).await;
    let acme = [("domain", ACME), ("user", "alice"), ("expires", "600")];
    let globex = [("domain", GLOBEX), ("user", "alice"), ("expires", "900")];
    let run = sipp(
        "register.xml",
        t.udp(),
        "u1",
        &acme,
        Some(("alice", ACME_PW)),
        &[],
    )
    .await;
    assert_sipp_ok(&run, "acme alice");
    let run = sipp(
        "register.xml",
        t.udp(),
        "u1",
        &globex,
        Some(("alice", GLOBEX_PW)),
        &[],
    )
    .await;
    assert_sipp_ok(&run, "globex alice");
    // Acme's password does not open Globex's alice.
    let run = sipp(
        "register_rejected.xml",
        t.udp(),
        "u1",
        &globex,
        Some(("alice", ACME_PW)),
        &[],
    )
    .await;
    assert_sipp_ok(&run, "globex alice with acme's password gets 403");

    let reg = t.server.registrar();
    let (a, g) = (
        reg.bindings(t.acme, "alice"),
        reg.bindings(t.globex, "alice"),
    );
    assert_eq!((a.len(), g.len()), (1, 1));
    assert!(a[0].expires_in().as_secs() <= 600 && a[0].expires_in().as_secs() > 590);
    assert!(g[0].expires_in().as_secs() > 890);
    assert_eq!(reg.registrations(t.acme)[0].domain, ACME);
    assert_eq!(reg.registrations(t.globex)[0].domain, GLOBEX);
}

#[tokio::test]
async fn repeated_wrong_passwords_get_the_source_banned() {
    if skip_without_sipp() {
        return;
    }
    let mut cfg = config();
    cfg.guard.throttle_after_failures = 0;
    cfg.guard.ban_after_failures = 3;
    let t = start(cfg).await;
    let keys = [("domain", ACME), ("user", "alice")];
    for i in 1..=3 {
        let run = sipp(
            "register_rejected.xml",
            t.udp(),
            "u1",
            &keys,
            Some(("alice", "guess")),
            &[],
        )
        .await;
        assert_sipp_ok(&run, &format!("wrong password #{i} gets 403"));
    }
    let s = t.server.stats();
    assert_eq!((s.auth_failures, s.bans), (3, 1));
    // Banned: even the right password gets no answer now, nor does OPTIONS.
    let keys = [("domain", ACME), ("ua", "sipp-phone")];
    let run = sipp("no_answer.xml", t.udp(), "u1", &keys, None, &["-nr"]).await;
    assert_sipp_ok(&run, "banned source gets no answer");
    let client = RawClient::new(t.udp()).await;
    let options = request("OPTIONS", "sip:127.0.0.1", "x", ACME, client.port(), 1, "");
    client.send(options.as_bytes()).await;
    assert_eq!(
        client.recv(500).await,
        None,
        "a banned source must not get an OPTIONS answer"
    );
    assert!(t.server.stats().dropped_banned >= 2);
    assert!(t.server.registrar().bindings(t.acme, "alice").is_empty());
}

#[tokio::test]
async fn unregister_with_expires_zero() {
    if skip_without_sipp() {
        return;
    }
    let t = start(config()).await;
    let mut events = t.server.registrar().subscribe();
    let keys = [("domain", ACME), ("user", "alice")];
    let run = sipp(
        "register_unregister.xml",
        t.udp(),
        "u1",
        &keys,
        Some(("alice", ACME_PW)),
        &[],
    )
    .await;
    assert_sipp_ok(&run, "register then unregister");
    let first = next_event(&mut events, 5).await;
    let second = next_event(&mut events, 5).await;
    assert_eq!(first.kind, RegistrationEventKind::Registered);
    assert_eq!(second.kind, RegistrationEventKind::Unregistered);
    assert_eq!(second.binding.contact, first.binding.contact);
    assert!(t.server.registrar().bindings(t.acme, "alice").is_empty());
    assert_eq!(t.server.registrar().binding_count(), 0);
}

#[tokio::test]
async fn options_gets_200_over_udp_and_tcp() {
    if skip_without_sipp() {
        return;
    }
    let t = start(config()).await;
    assert_sipp_ok(
        &sipp("options.xml", t.udp(), "u1", &[], None, &[]).await,
        "OPTIONS/UDP",
    );
    assert_sipp_ok(
        &sipp("options.xml", t.tcp(), "t1", &[], None, &[]).await,
        "OPTIONS/TCP",
    );
}

#[tokio::test]
async fn scanner_user_agents_get_no_answer() {
    if skip_without_sipp() {
        return;
    }
    let t = start(config()).await;
    for ua in [
        "friendly-scanner",
        "sipvicious 0.3.4",
        "VaxSIPUserAgent/3.1",
    ] {
        let keys = [("domain", ACME), ("ua", ua)];
        let run = sipp("no_answer.xml", t.udp(), "u1", &keys, None, &["-nr"]).await;
        assert_sipp_ok(&run, &format!("{ua} gets no answer"));
    }
    // OPTIONS probes too.
    let client = RawClient::new(t.udp()).await;
    let probe = request(
        "OPTIONS",
        "sip:100@127.0.0.1",
        "100",
        ACME,
        client.port(),
        1,
        "User-Agent: sipcli/v1.8\r\n",
    );
    client.send(probe.as_bytes()).await;
    assert_eq!(client.recv(500).await, None);
    assert_eq!(t.server.stats().dropped_scanner, 4);
    // Not a ban: a real phone on the same address is served.
    assert_sipp_ok(
        &sipp("options.xml", t.udp(), "u1", &[], None, &[]).await,
        "OPTIONS after scans",
    );
}

#[tokio::test]
async fn garbage_and_oversized_datagrams_do_not_kill_the_server() {
    if skip_without_sipp() {
        return;
    }
    let t = start(config()).await;
    let client = RawClient::new(t.udp()).await;
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz-corpus");
    let mut sent = 0;
    for entry in std::fs::read_dir(corpus).unwrap().flatten() {
        let bytes = std::fs::read(entry.path()).unwrap();
        if bytes.len() < 65_000 {
            client.send(&bytes).await;
            sent += 1;
        }
    }
    // The largest datagram IPv4 carries, far over the 32 KiB limit.
    let mut huge = request(
        "OPTIONS",
        "sip:acme.omnivox",
        "x",
        ACME,
        client.port(),
        1,
        "",
    );
    huge.insert_str(
        huge.len() - 4,
        &format!("\r\nX-Pad: {}", "A".repeat(65_507 - huge.len() - 9)),
    );
    assert_eq!(huge.len(), 65_507);
    client.send(huge.as_bytes()).await;
    let junk: Vec<u8> = (0..65_507u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    client.send(&junk).await;
    eventually(5, "all datagrams processed", || {
        t.server.stats().received >= sent + 2
    })
    .await;

    // Still alive and answering.
    assert_sipp_ok(
        &sipp("options.xml", t.udp(), "u1", &[], None, &[]).await,
        "OPTIONS after garbage",
    );
    let s = t.server.stats();
    assert!(s.oversized >= 1, "{s:?}");
    assert!(s.dropped_malformed >= 3, "{s:?}");
    assert!(s.rejected_malformed >= 3, "{s:?}");
    assert_eq!(s.parser_panics, 0, "{s:?}");
    // The oversized OPTIONS had a readable head: it got 513.
    let mut saw_513 = false;
    while let Some(resp) = client.recv(200).await {
        saw_513 |= resp.starts_with("SIP/2.0 513 ");
    }
    assert!(saw_513, "no 513 for the oversized request");
}
