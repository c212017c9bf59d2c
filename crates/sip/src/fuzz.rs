//! Socket-free entry point for fuzzers (`cargo fuzz` targets call
//! [`fuzz_entry`]).

use crate::config::{GuardConfig, LimitsConfig};
use crate::digest;
use crate::entry::{EntryCtx, Verdict, inspect};
use crate::guard::Guard;
use crate::registrar::SipTransport;
use crate::registrar::register::{parse_register, realm_of};
use crate::transport::framing::{Frame, Framer};
use rsipstack::sip::headers::untyped::ToTypedHeader;
use rsipstack::sip::{Header, HeadersExt, SipMessage, Transport};
use rsipstack::transaction::key::{TransactionKey, TransactionRole};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

static GUARD: OnceLock<Guard> = OnceLock::new();

/// Runs `bytes` through the message-entry path exactly as a datagram and as
/// a TCP stream would go, then through the request readers the registrar
/// uses on accepted messages. Never panics, whatever the input; a panic is a
/// bug for the fuzzer to report.
pub fn fuzz_entry(bytes: &[u8]) {
    let guard = GUARD.get_or_init(|| {
        let cfg = GuardConfig {
            rate_limit_per_sec: 0,
            throttle_after_failures: 0,
            ban_after_failures: 0,
            ..GuardConfig::default()
        };
        Guard::new(&cfg, Arc::default())
    });
    let limits = LimitsConfig::default();
    let ctx = EntryCtx {
        guard,
        server_name: "Omnivox/fuzz",
        max_message_bytes: limits.max_message_bytes,
        max_headers: limits.max_headers,
    };
    let src = SocketAddr::from(([192, 0, 2, 1], 5060));
    let now = Instant::now();

    if let Verdict::Accept(msg) = inspect(&ctx, bytes, src, Transport::Udp, now) {
        exercise(&msg, src);
    }

    let mut framer = Framer::default();
    let mut rest = bytes;
    while !rest.is_empty() {
        match framer.next(rest, limits.max_message_bytes) {
            Frame::Ping(n) | Frame::Pong(n) => rest = &rest[n..],
            Frame::Message(n) => {
                if let Verdict::Accept(msg) = inspect(&ctx, &rest[..n], src, Transport::Tcp, now) {
                    exercise(&msg, src);
                }
                rest = &rest[n..];
            }
            Frame::BadLength { head_len } => {
                let _ = inspect(&ctx, &rest[..head_len], src, Transport::Tcp, now);
                break;
            }
            Frame::NeedMore | Frame::TooLarge { .. } => break,
        }
    }
}

/// What happens to an accepted message next: the transaction key, and for
/// requests the registrar's and the authenticator's readers.
fn exercise(msg: &SipMessage, src: SocketAddr) {
    match msg {
        SipMessage::Request(req) => {
            let _ = TransactionKey::from_request(req, TransactionRole::Server);
            let _ = parse_register(req, src, SipTransport::Udp);
            if let Ok(to) = req.to_header().and_then(|t| t.typed()) {
                let _ = realm_of(&to.uri.host_with_port.host);
            }
            for h in req.headers.iter() {
                if let Header::Authorization(a) = h
                    && let Ok(c) = digest::parse_authorization(a.value())
                {
                    let _ = c.algorithm();
                }
            }
        }
        SipMessage::Response(resp) => {
            let _ = TransactionKey::from_response(resp, TransactionRole::Client);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus() -> Vec<(String, Vec<u8>)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz-corpus");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
            .collect()
    }

    #[test]
    fn corpus_never_panics() {
        let files = corpus();
        assert!(files.len() >= 12, "corpus has only {} files", files.len());
        for (name, bytes) in &files {
            let r = std::panic::catch_unwind(|| fuzz_entry(bytes));
            assert!(r.is_ok(), "fuzz_entry panicked on {name}");
        }
    }

    /// A small deterministic mutation fuzzer over the corpus: byte flips,
    /// insertions, deletions, splices and truncations.
    #[test]
    fn mutated_corpus_never_panics() {
        let files = corpus();
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        const TOKENS: &[&[u8]] = &[
            b"\r\n",
            b"\r\n\r\n",
            b":",
            b";",
            b",",
            b"\"",
            b"<",
            b">",
            b"@",
            b"[",
            b"]",
            b"\\",
            b"=",
            b" ",
            b"\xc3\xa9",
            b"\xff",
            b"\x00",
            b"tag=",
            b"branch=",
            b"Content-Length: 99999\r\n",
            b"Via: SIP/2.0/UDP [::1\r\n",
            b"sip:",
            b"%",
        ];
        for round in 0..20_000 {
            let (name, base) = &files[(next() as usize) % files.len()];
            let mut m = base.clone();
            for _ in 0..(1 + next() % 4) {
                let pos = if m.is_empty() {
                    0
                } else {
                    (next() as usize) % m.len()
                };
                match next() % 5 {
                    0 if !m.is_empty() => m[pos] ^= 1 << (next() % 8),
                    1 => {
                        let t = TOKENS[(next() as usize) % TOKENS.len()];
                        m.splice(pos..pos, t.iter().copied());
                    }
                    2 if !m.is_empty() => {
                        let end = (pos + 1 + (next() as usize) % 16).min(m.len());
                        m.drain(pos..end);
                    }
                    3 => m.truncate(pos),
                    _ => {
                        let (_, other) = &files[(next() as usize) % files.len()];
                        if !other.is_empty() {
                            let from = (next() as usize) % other.len();
                            m.splice(pos..pos, other[from..].iter().copied().take(64));
                        }
                    }
                }
            }
            let r = std::panic::catch_unwind(|| fuzz_entry(&m));
            assert!(
                r.is_ok(),
                "round {round} from {name} panicked on {:?}",
                String::from_utf8_lossy(&m)
            );
        }
        // The mutations reach every stage, not just the first gate.
        let s = GUARD.get().unwrap().counters.snapshot();
        assert!(s.accepted > 1000, "{s:?}");
        assert!(s.rejected_malformed > 100, "{s:?}");
        assert!(s.dropped_malformed > 100, "{s:?}");
    }
}
