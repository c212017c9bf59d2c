//! Counters of the message-entry path, the guard and the registrar.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($( $(#[$doc:meta])* $name:ident ),* $(,)?) => {
        /// A snapshot of the server's counters (monotonic since start).
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
        #[non_exhaustive]
        pub struct SipStats {
            $( $(#[$doc])* pub $name: u64, )*
        }

        /// Live atomic counters behind [`SipStats`].
        #[derive(Debug, Default)]
        pub(crate) struct Counters {
            $( pub(crate) $name: AtomicU64, )*
        }

        impl Counters {
            pub(crate) fn snapshot(&self) -> SipStats {
                SipStats { $( $name: self.$name.load(Ordering::Relaxed), )* }
            }
        }
    };
}

counters!(
    /// Datagrams and framed TCP messages seen (keep-alives included).
    received,
    /// Messages handed to the transaction layer.
    accepted,
    /// CRLF keep-alive pings and pongs.
    keepalives,
    /// Dropped because the source is banned.
    dropped_banned,
    /// Dropped by the per-source rate limit.
    dropped_rate_limited,
    /// Dropped because the User-Agent is a known scanner.
    dropped_scanner,
    /// Dropped silently: garbage no response could be built for.
    dropped_malformed,
    /// Answered 400 Bad Request by the entry path.
    rejected_malformed,
    /// Larger than `limits.max_message_bytes` (answered 513 or dropped).
    oversized,
    /// Unknown methods answered 501.
    not_implemented,
    /// Requests with Max-Forwards 0 answered 483.
    too_many_hops,
    /// Panics inside the SIP parser, caught at the entry path.
    parser_panics,
    /// 401 challenges sent.
    auth_challenges,
    /// Successful digest authentications.
    auth_successes,
    /// Failed digest authentications (wrong response, unknown user).
    auth_failures,
    /// Authentication attempts refused with 503 while a source is throttled.
    auth_throttled,
    /// Sources banned.
    bans,
    /// Credential look-ups that failed (directory unavailable).
    directory_errors,
    /// New requests answered 503 while draining.
    draining_rejections,
    /// New requests answered 503 because `max_pending_requests` were busy.
    overload_rejections,
    /// TCP connections accepted.
    tcp_accepted,
    /// TCP connections refused (limits or ban).
    tcp_rejected,
    /// Accepted TCP connections that have ended (open = accepted - closed).
    tcp_closed,
    /// REGISTER requests that changed or queried bindings successfully.
    registrations,
    /// Calls started (inbound and originated).
    calls_started,
    /// Inbound INVITEs for a number that is no tenant's DID (answered 404).
    unknown_did,
    /// INVITEs from an unknown source for a trunk DID (answered 403).
    untrusted_source,
    /// Calls refused by a tenant's dial policy (answered 403).
    dial_policy_refusals,
    /// New calls refused because the node is at `calls.max_calls`.
    call_limit_rejections,
    /// In-dialog requests for no known dialog (answered 481).
    unknown_dialog,
    /// INVITEs refused with 482 (loop detected).
    loops_detected,
);

impl Counters {
    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
