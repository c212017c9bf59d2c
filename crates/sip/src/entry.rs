//! The message-entry path: every UDP datagram and every framed TCP message
//! passes through [`inspect`] before the transaction layer sees it.

use crate::guard::{Admit, Guard};
use crate::rawhead::{self, ContentLength, RawHead, StartLine};
use crate::stats::Counters;
use rsipstack::sip::headers::untyped::ToTypedHeader;
use rsipstack::sip::{HeadersExt, Method, Request, Response, Scheme, SipMessage, Transport};
use rsipstack::transaction::key::{TransactionKey, TransactionRole};
use rsipstack::transport::SipConnection;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::AtomicU64;
use std::time::Instant;

/// What to do with one message.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Hand to the transaction layer (Via already carries received/rport).
    Accept(Box<SipMessage>),
    /// Send these bytes back to the source (a stateless error response).
    Reply(Vec<u8>),
    /// A CRLF keep-alive ping: answer with a single CRLF.
    Ping,
    /// Nothing to do (a pong, blank datagram).
    Ignore,
    /// Drop silently.
    Drop,
}

/// What the entry path needs besides the bytes.
pub(crate) struct EntryCtx<'a> {
    pub guard: &'a Guard,
    pub server_name: &'a str,
    pub max_message_bytes: usize,
    pub max_headers: usize,
}

/// Why a parsed request is refused.
#[derive(Debug, PartialEq, Eq)]
enum Reject {
    BadRequest(&'static str),
    TooManyHops,
    UnsupportedScheme,
}

/// Decides on the message `bytes` that arrived from `src` over `transport`.
pub(crate) fn inspect(
    ctx: &EntryCtx<'_>,
    bytes: &[u8],
    src: SocketAddr,
    transport: Transport,
    now: Instant,
) -> Verdict {
    let c = &*ctx.guard.counters;
    Counters::inc(&c.received);
    match ctx.guard.admit(src.ip(), now) {
        Admit::Pass => {}
        Admit::Banned => return drop_with(&c.dropped_banned),
        Admit::RateLimited => return drop_with(&c.dropped_rate_limited),
    }
    if bytes == b"\r\n\r\n" {
        Counters::inc(&c.keepalives);
        return Verdict::Ping;
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        Counters::inc(&c.keepalives);
        return Verdict::Ignore;
    }
    let head = rawhead::scan(bytes, ctx.max_headers);
    if let Some(ua) = head.user_agent
        && ctx.guard.is_scanner(ua)
    {
        return drop_with(&c.dropped_scanner);
    }
    if bytes.len() > ctx.max_message_bytes {
        Counters::inc(&c.oversized);
        return match rawhead::reply(&head, 513, "Message Too Large", &[], ctx.server_name) {
            Some(r) => Verdict::Reply(r),
            None => drop_with(&c.dropped_malformed),
        };
    }
    if head.start == StartLine::Other {
        return drop_with(&c.dropped_malformed);
    }
    if head.header_count > ctx.max_headers {
        return reject(
            ctx,
            &head,
            400,
            "Bad Request",
            "too many header fields",
            &c.rejected_malformed,
        );
    }
    let Some(body_start) = head.body_start else {
        return reject(
            ctx,
            &head,
            400,
            "Bad Request",
            "no empty line after the headers",
            &c.rejected_malformed,
        );
    };
    match head.content_length {
        ContentLength::Invalid => {
            return reject(
                ctx,
                &head,
                400,
                "Bad Request",
                "invalid Content-Length",
                &c.rejected_malformed,
            );
        }
        ContentLength::Value(n) if n > bytes.len().saturating_sub(body_start) => {
            return reject(
                ctx,
                &head,
                400,
                "Bad Request",
                "body shorter than Content-Length",
                &c.rejected_malformed,
            );
        }
        _ => {}
    }
    if let Some(method) = head.method()
        && rsipstack::sip::Method::try_from(method).is_err()
    {
        return reject(
            ctx,
            &head,
            501,
            "Not Implemented",
            "unknown method",
            &c.not_implemented,
        );
    }
    let msg_bytes = &bytes[head.start_offset..];
    let parsed = match catch_unwind(AssertUnwindSafe(|| SipMessage::try_from(msg_bytes))) {
        Ok(Ok(msg)) => msg,
        Ok(Err(_)) => {
            return reject(
                ctx,
                &head,
                400,
                "Bad Request",
                "malformed message",
                &c.rejected_malformed,
            );
        }
        Err(_) => {
            Counters::inc(&c.parser_panics);
            tracing::warn!(source = %src, "SIP parser panicked on a message; dropped");
            return reject(
                ctx,
                &head,
                400,
                "Bad Request",
                "malformed message",
                &c.rejected_malformed,
            );
        }
    };
    match parsed {
        SipMessage::Request(req) => {
            let checked = catch_unwind(AssertUnwindSafe(|| validate_request(&req)));
            match checked {
                Ok(Ok(())) => {}
                Ok(Err(Reject::BadRequest(why))) => {
                    return reject(ctx, &head, 400, "Bad Request", why, &c.rejected_malformed);
                }
                Ok(Err(Reject::TooManyHops)) => {
                    return reject(
                        ctx,
                        &head,
                        483,
                        "Too Many Hops",
                        "Max-Forwards is 0",
                        &c.too_many_hops,
                    );
                }
                Ok(Err(Reject::UnsupportedScheme)) => {
                    return reject(
                        ctx,
                        &head,
                        416,
                        "Unsupported URI Scheme",
                        "use a sip: URI",
                        &c.rejected_malformed,
                    );
                }
                Err(_) => {
                    Counters::inc(&c.parser_panics);
                    return reject(
                        ctx,
                        &head,
                        400,
                        "Bad Request",
                        "malformed header",
                        &c.rejected_malformed,
                    );
                }
            }
            // rsipstack's error type is large; keep only whether it worked.
            let marked = catch_unwind(AssertUnwindSafe(|| {
                SipConnection::update_msg_received(SipMessage::Request(req), src, transport).ok()
            }));
            match marked {
                Ok(Some(msg)) => {
                    Counters::inc(&c.accepted);
                    Verdict::Accept(Box::new(msg))
                }
                Ok(None) => reject(
                    ctx,
                    &head,
                    400,
                    "Bad Request",
                    "malformed Via",
                    &c.rejected_malformed,
                ),
                Err(_) => {
                    Counters::inc(&c.parser_panics);
                    reject(
                        ctx,
                        &head,
                        400,
                        "Bad Request",
                        "malformed Via",
                        &c.rejected_malformed,
                    )
                }
            }
        }
        SipMessage::Response(resp) => {
            let ok = catch_unwind(AssertUnwindSafe(|| validate_response(&resp))).unwrap_or(false);
            if ok {
                Counters::inc(&c.accepted);
                Verdict::Accept(Box::new(SipMessage::Response(resp)))
            } else {
                drop_with(&c.dropped_malformed)
            }
        }
    }
}

fn drop_with(counter: &AtomicU64) -> Verdict {
    Counters::inc(counter);
    Verdict::Drop
}

/// A stateless error response with a Warning naming the problem, or a
/// silent drop when no response can be built.
fn reject(
    ctx: &EntryCtx<'_>,
    head: &RawHead<'_>,
    code: u16,
    reason: &str,
    why: &str,
    counter: &AtomicU64,
) -> Verdict {
    let warning = format!("399 omnivox \"{why}\"");
    let mut extra = vec![("Warning", warning.as_str())];
    if code == 501 || code == 405 {
        extra.push(("Allow", crate::router::ALLOW));
    }
    match rawhead::reply(head, code, reason, &extra, ctx.server_name) {
        Some(bytes) => {
            Counters::inc(counter);
            Verdict::Reply(bytes)
        }
        None => drop_with(&ctx.guard.counters.dropped_malformed),
    }
}

/// The headers every request needs (RFC 3261 §8.1.1), Max-Forwards and the
/// Request-URI scheme.
fn validate_request(req: &Request) -> Result<(), Reject> {
    use Reject::BadRequest;
    let via = req
        .top_via_header()
        .map_err(|_| BadRequest("missing Via"))?;
    via.typed().map_err(|_| BadRequest("malformed Via"))?;
    let from = req
        .from_header()
        .map_err(|_| BadRequest("missing From"))?
        .typed()
        .map_err(|_| BadRequest("malformed From"))?;
    if from.tag().is_none() {
        return Err(BadRequest("From has no tag"));
    }
    req.to_header()
        .map_err(|_| BadRequest("missing To"))?
        .typed()
        .map_err(|_| BadRequest("malformed To"))?;
    let call_id = req
        .call_id_header()
        .map_err(|_| BadRequest("missing Call-ID"))?;
    if call_id.value().trim().is_empty() {
        return Err(BadRequest("empty Call-ID"));
    }
    let cseq = req
        .cseq_header()
        .map_err(|_| BadRequest("missing CSeq"))?
        .typed()
        .map_err(|_| BadRequest("malformed CSeq"))?;
    if cseq.method != req.method {
        return Err(BadRequest("CSeq method differs from the request method"));
    }
    match &req.uri.scheme {
        Some(Scheme::Sip) | Some(Scheme::Sips) => {}
        Some(Scheme::Other(s)) if s.eq_ignore_ascii_case("tel") => {}
        _ => return Err(Reject::UnsupportedScheme),
    }
    if let Ok(mf) = req.max_forwards_header() {
        let hops: u32 = mf
            .value()
            .trim()
            .parse()
            .map_err(|_| BadRequest("malformed Max-Forwards"))?;
        if hops == 0 && req.method != Method::Options {
            return Err(Reject::TooManyHops);
        }
    }
    // What the transaction layer will derive next must work too.
    TransactionKey::from_request(req, TransactionRole::Server)
        .map_err(|_| BadRequest("cannot identify the transaction"))?;
    Ok(())
}

/// Enough of a response to match it to a client transaction.
fn validate_response(resp: &Response) -> bool {
    let via_ok = resp.top_via_header().and_then(|v| v.typed()).is_ok();
    let cseq_ok = resp.cseq_header().and_then(|c| c.typed()).is_ok();
    let from_ok = resp
        .from_header()
        .and_then(|f| f.typed())
        .map(|f| f.tag().is_some())
        .unwrap_or(false);
    let call_ok = resp.call_id_header().is_ok();
    via_ok
        && cseq_ok
        && from_ok
        && call_ok
        && TransactionKey::from_response(resp, TransactionRole::Client).is_ok()
}

#[cfg(test)]
#[path = "entry_tests.rs"]
mod tests;
