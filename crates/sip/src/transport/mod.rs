//! Sockets. We own the receive side of both transports so that every byte
//! passes the entry path ([`crate::entry::inspect`]) before rsipstack sees
//! it; rsipstack's own readers would drop garbage without a trace (UDP) or
//! close the connection on the first parse error (TCP). Parsed messages are
//! handed to the transaction layer with `EndpointInner::on_received_message`,
//! together with a connection rsipstack sends responses on.

pub(crate) mod framing;
pub(crate) mod tcp;
pub(crate) mod udp;

use crate::entry::EntryCtx;
use crate::router::Shared;

/// The entry-path context for `shared`.
pub(crate) fn entry_ctx(shared: &Shared) -> EntryCtx<'_> {
    EntryCtx {
        guard: &shared.guard,
        server_name: &shared.config.server_name,
        max_message_bytes: shared.config.limits.max_message_bytes,
        max_headers: shared.config.limits.max_headers,
    }
}
