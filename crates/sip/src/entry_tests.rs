use super::*;
use crate::config::GuardConfig;
use std::sync::Arc;

fn guard(cfg: GuardConfig) -> Guard {
    Guard::new(&cfg, Arc::default())
}

fn ctx(g: &Guard) -> EntryCtx<'_> {
    EntryCtx {
        guard: g,
        server_name: "Omnivox/test",
        max_message_bytes: 4096,
        max_headers: 32,
    }
}

const SRC: &str = "192.0.2.10:5070";

fn run(g: &Guard, bytes: &[u8]) -> Verdict {
    inspect(
        &ctx(g),
        bytes,
        SRC.parse().unwrap(),
        Transport::Udp,
        Instant::now(),
    )
}

fn request(method: &str, extra: &str) -> String {
    format!(
        "{method} sip:acme.omnivox SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK-{method};rport\r\n\
         From: <sip:alice@acme.omnivox>;tag=abc\r\n\
         To: <sip:alice@acme.omnivox>\r\n\
         Call-ID: c-1@10.0.0.5\r\n\
         CSeq: 1 {method}\r\n\
         Max-Forwards: 70\r\n\
         {extra}Content-Length: 0\r\n\r\n"
    )
}

fn reply_text(v: Verdict) -> String {
    match v {
        Verdict::Reply(b) => String::from_utf8(b).unwrap(),
        other => panic!("expected a reply, got {other:?}"),
    }
}

#[test]
fn a_valid_request_is_accepted_with_received_and_rport() {
    let g = guard(GuardConfig::default());
    let v = run(&g, request("OPTIONS", "").as_bytes());
    let Verdict::Accept(msg) = v else {
        panic!("not accepted: {v:?}")
    };
    let SipMessage::Request(req) = *msg else {
        panic!("not a request")
    };
    let via = req.via_header().unwrap().value().to_string();
    assert!(via.contains("received=192.0.2.10"), "{via}");
    assert!(via.contains("rport=5070"), "{via}");
    assert_eq!(g.counters.snapshot().accepted, 1);
}

#[test]
fn keepalives() {
    let g = guard(GuardConfig::default());
    assert!(matches!(run(&g, b"\r\n\r\n"), Verdict::Ping));
    assert!(matches!(run(&g, b"\r\n"), Verdict::Ignore));
    assert!(matches!(run(&g, b" \t\r\n"), Verdict::Ignore));
    assert_eq!(g.counters.snapshot().keepalives, 3);
}

#[test]
fn missing_mandatory_headers_get_400_or_drop() {
    let g = guard(GuardConfig::default());
    let no_tag = request("OPTIONS", "").replace(";tag=abc", "");
    let r = reply_text(run(&g, no_tag.as_bytes()));
    assert!(r.starts_with("SIP/2.0 400 Bad Request\r\n"), "{r}");
    assert!(r.contains("From has no tag"), "{r}");
    let bad_cseq = request("OPTIONS", "").replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE");
    assert!(reply_text(run(&g, bad_cseq.as_bytes())).contains("CSeq method"));
    // Without Call-ID no response can be built: silent drop.
    let no_call_id = request("OPTIONS", "").replace("Call-ID: c-1@10.0.0.5\r\n", "");
    assert!(matches!(run(&g, no_call_id.as_bytes()), Verdict::Drop));
    let s = g.counters.snapshot();
    assert_eq!((s.rejected_malformed, s.dropped_malformed), (2, 1));
}

#[test]
fn bad_content_length() {
    let g = guard(GuardConfig::default());
    let m = request("OPTIONS", "").replace("Content-Length: 0", "Content-Length: 50");
    assert!(reply_text(run(&g, m.as_bytes())).contains("shorter than Content-Length"));
    let m = request("OPTIONS", "").replace("Content-Length: 0", "Content-Length: -3");
    assert!(reply_text(run(&g, m.as_bytes())).contains("invalid Content-Length"));
}

#[test]
fn max_forwards_zero_is_483_except_options() {
    let g = guard(GuardConfig::default());
    let m = request("REGISTER", "").replace("Max-Forwards: 70", "Max-Forwards: 0");
    assert!(reply_text(run(&g, m.as_bytes())).starts_with("SIP/2.0 483 Too Many Hops"));
    let m = request("OPTIONS", "").replace("Max-Forwards: 70", "Max-Forwards: 0");
    assert!(matches!(run(&g, m.as_bytes()), Verdict::Accept(_)));
    let m = request("OPTIONS", "").replace("Max-Forwards: 70", "Max-Forwards: lots");
    assert!(reply_text(run(&g, m.as_bytes())).starts_with("SIP/2.0 400"));
    assert_eq!(g.counters.snapshot().too_many_hops, 1);
}

#[test]
fn unknown_methods_get_501_and_acks_never_get_answers() {
    let g = guard(GuardConfig::default());
    let r = reply_text(run(&g, request("FOO", "").as_bytes()));
    assert!(r.starts_with("SIP/2.0 501 Not Implemented"), "{r}");
    assert!(r.contains("Allow: "));
    let bad_ack = request("ACK", "").replace(";tag=abc", "");
    assert!(matches!(run(&g, bad_ack.as_bytes()), Verdict::Drop));
}

#[test]
fn unsupported_uri_scheme() {
    let g = guard(GuardConfig::default());
    let m = request("OPTIONS", "").replace("OPTIONS sip:acme", "OPTIONS mailto:acme");
    assert!(reply_text(run(&g, m.as_bytes())).starts_with("SIP/2.0 416"));
}

#[test]
fn scanners_are_dropped_quietly() {
    let g = guard(GuardConfig::default());
    let m = request("OPTIONS", "User-Agent: friendly-scanner\r\n");
    assert!(matches!(run(&g, m.as_bytes()), Verdict::Drop));
    assert_eq!(g.counters.snapshot().dropped_scanner, 1);
}

#[test]
fn oversized_messages() {
    let g = guard(GuardConfig::default());
    let big = request("OPTIONS", &format!("X-Pad: {}\r\n", "a".repeat(5000)));
    assert!(reply_text(run(&g, big.as_bytes())).starts_with("SIP/2.0 513 Message Too Large"));
    let junk = vec![b'x'; 70_000];
    assert!(matches!(run(&g, &junk), Verdict::Drop));
    assert_eq!(g.counters.snapshot().oversized, 2);
}

#[test]
fn garbage_is_dropped() {
    let g = guard(GuardConfig::default());
    for junk in [
        &b"\x00\x01\x02"[..],
        b"hello",
        b"GET / HTTP/1.1\r\n\r\n",
        b"SIP/2.0 200\r\n\r\n",
    ] {
        assert!(matches!(run(&g, junk), Verdict::Drop), "{junk:?}");
    }
}

#[test]
fn banned_and_rate_limited_sources_are_dropped() {
    let cfg = GuardConfig {
        rate_limit_per_sec: 1,
        rate_limit_burst: 2,
        ban_after_failures: 1,
        ..GuardConfig::default()
    };
    let g = guard(cfg);
    let m = request("OPTIONS", "");
    assert!(matches!(run(&g, m.as_bytes()), Verdict::Accept(_)));
    assert!(matches!(run(&g, m.as_bytes()), Verdict::Accept(_)));
    assert!(matches!(run(&g, m.as_bytes()), Verdict::Drop));
    assert_eq!(g.counters.snapshot().dropped_rate_limited, 1);
    let src: SocketAddr = SRC.parse().unwrap();
    g.auth_failed(src.ip(), Instant::now());
    assert!(matches!(run(&g, m.as_bytes()), Verdict::Drop));
    assert_eq!(g.counters.snapshot().dropped_banned, 1);
}

#[test]
fn responses_pass_when_matchable() {
    let g = guard(GuardConfig::default());
    let ok = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx\r\n\
              From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\
              Content-Length: 0\r\n\r\n";
    assert!(matches!(run(&g, ok.as_bytes()), Verdict::Accept(_)));
    let no_tag = ok.replace(";tag=1", "");
    assert!(matches!(run(&g, no_tag.as_bytes()), Verdict::Drop));
}
