//! Dispatch of new server transactions.
//!
//! A request with a To tag belongs to a dialog: it goes to the matching
//! rsipstack dialog (whose call actor sees the result), or gets 481. Out of
//! dialog, OPTIONS is answered 200 (keep-alive and health checks), REGISTER
//! goes to the registrar, INVITE to the call layer ([`crate::calls`]); BYE
//! gets 481 and other methods 405 with Allow. While draining, every new
//! request gets 503 with Retry-After.

use crate::auth::Authenticator;
use crate::calls::CallService;
use crate::config::SipConfig;
use crate::guard::Guard;
use crate::registrar::{self, Registrar, SipTransport};
use crate::stats::Counters;
use rsipstack::sip::headers::untyped::ToTypedHeader;
use rsipstack::sip::{
    Accept, Allow, Header, HeadersExt, Method, RetryAfter, Server, StatusCode, StatusCodeKind,
    Warning,
};
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transaction::{TransactionReceiver, make_tag};
use rsipstack::transport::SipConnection;
use rsipstack::transport::stream::StreamConnection;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Methods this node handles (the `Allow` header).
pub(crate) const ALLOW: &str =
    "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, REFER, NOTIFY, UPDATE";

/// Longest time an answered INVITE transaction is kept for its ACK (64*T1
/// plus slack).
const INVITE_LINGER: Duration = Duration::from_secs(40);

/// State shared by the router, the transports and the server handle.
pub(crate) struct Shared {
    pub config: Arc<SipConfig>,
    pub guard: Arc<Guard>,
    pub auth: Authenticator,
    pub registrar: Registrar,
    pub calls: CallService,
    pub draining: Arc<AtomicBool>,
    /// The bound UDP and TCP addresses.
    pub local_addrs: Vec<SocketAddr>,
    /// Fires when the server stops for good.
    pub stop: CancellationToken,
}

/// A response to send: status code and extra headers.
#[derive(Debug)]
pub(crate) struct ReplySpec {
    pub code: StatusCode,
    pub headers: Vec<Header>,
}

impl ReplySpec {
    pub(crate) fn new(code: StatusCode) -> Self {
        Self {
            code,
            headers: Vec::new(),
        }
    }

    pub(crate) fn bad_request(why: &str) -> Self {
        Self::new(StatusCode::BadRequest).with(warning(why))
    }

    pub(crate) fn with(mut self, h: Header) -> Self {
        self.headers.push(h);
        self
    }
}

/// `Warning: 399 omnivox "<text>"`.
pub(crate) fn warning(text: &str) -> Header {
    let clean: String = text
        .chars()
        .filter(|c| *c != '"' && !c.is_control())
        .collect();
    Header::Warning(Warning::new(format!("399 omnivox \"{clean}\"")))
}

/// Receives new server transactions until `stop` fires.
pub(crate) async fn run(
    shared: Arc<Shared>,
    mut incoming: TransactionReceiver,
    stop: CancellationToken,
    tasks: TaskTracker,
    drain: TaskTracker,
) {
    let pending = Arc::new(Semaphore::new(shared.config.limits.max_pending_requests));
    loop {
        let tx = tokio::select! {
            _ = stop.cancelled() => break,
            tx = incoming.recv() => match tx {
                Some(tx) => tx,
                None => break,
            },
        };
        let s = shared.clone();
        if shared.draining.load(Ordering::Acquire) {
            tasks.spawn(refuse(s, tx, Refusal::Draining));
            continue;
        }
        // In-dialog requests (a BYE above all) are never shed: refusing
        // them under load would keep calls up and make the load worse.
        if has_to_tag(&tx) {
            let t = tasks.clone();
            drain.spawn(async move { handle(s, tx, t).await });
            continue;
        }
        match pending.clone().try_acquire_owned() {
            Ok(permit) => {
                let t = tasks.clone();
                drain.spawn(async move {
                    handle(s, tx, t).await;
                    drop(permit);
                });
            }
            Err(_) => {
                tasks.spawn(refuse(s, tx, Refusal::Overloaded));
            }
        }
    }
}

/// Why a request is refused with 503 before it is looked at.
#[derive(Clone, Copy)]
enum Refusal {
    Draining,
    Overloaded,
}

async fn refuse(shared: Arc<Shared>, mut tx: Transaction, why: Refusal) {
    if tx.original.method == Method::Ack {
        return;
    }
    let c = &shared.guard.counters;
    let (counter, retry, text) = match why {
        Refusal::Draining => (
            &c.draining_rejections,
            shared.config.shutdown.retry_after_secs,
            "shutting down",
        ),
        Refusal::Overloaded => (&c.overload_rejections, 1, "overloaded"),
    };
    Counters::inc(counter);
    let spec = ReplySpec::new(StatusCode::ServiceUnavailable)
        .with(Header::RetryAfter(RetryAfter::new(retry.to_string())))
        .with(warning(text));
    respond(&shared, &mut tx, spec).await;
    linger_invite(tx, shared.stop.clone()).await;
}

async fn handle(shared: Arc<Shared>, mut tx: Transaction, tasks: TaskTracker) {
    let method = tx.original.method;
    if has_to_tag(&tx) {
        in_dialog(&shared, tx).await;
        return;
    }
    if method == Method::Invite {
        match source_of(&tx) {
            Some((source, _)) => crate::calls::inbound::handle(shared, tx, source).await,
            None => {
                respond(
                    &shared,
                    &mut tx,
                    ReplySpec::bad_request("cannot tell where the request came from"),
                )
                .await;
                tasks.spawn(linger_invite(tx, shared.stop.clone()));
            }
        }
        return;
    }
    let spec = match method {
        Method::Options => ReplySpec::new(StatusCode::OK)
            .with(Header::Allow(Allow::new(ALLOW)))
            .with(Header::Accept(Accept::new("application/sdp"))),
        Method::Register => match source_of(&tx) {
            Some((source, transport)) => {
                registrar::register::handle(&shared, &tx.original, source, transport).await
            }
            None => ReplySpec::bad_request("cannot tell where the request came from"),
        },
        Method::Bye => ReplySpec::new(StatusCode::CallTransactionDoesNotExist),
        Method::Ack => return,
        _ => ReplySpec::new(StatusCode::MethodNotAllowed).with(Header::Allow(Allow::new(ALLOW))),
    };
    respond(&shared, &mut tx, spec).await;
}

fn has_to_tag(tx: &Transaction) -> bool {
    tx.original
        .to_header()
        .ok()
        .and_then(|t| t.tag().ok().flatten())
        .is_some()
}

/// A request inside a dialog: handed to the dialog, else 481.
async fn in_dialog(shared: &Shared, mut tx: Transaction) {
    match shared.calls.inner.dialogs.match_dialog(&tx) {
        Some(mut dialog) => {
            if let Err(e) = dialog.handle(&mut tx).await {
                tracing::debug!(error = %e, "in-dialog request failed");
            }
        }
        None => {
            if tx.original.method == Method::Ack {
                return;
            }
            Counters::inc(&shared.guard.counters.unknown_dialog);
            respond(
                shared,
                &mut tx,
                ReplySpec::new(StatusCode::CallTransactionDoesNotExist),
            )
            .await;
        }
    }
}

/// Drives an answered INVITE server transaction until it terminates (or
/// the server stops).
pub(crate) async fn linger_invite(mut tx: Transaction, stop: CancellationToken) {
    if tx.original.method != Method::Invite {
        return;
    }
    let absorb = tokio::time::timeout(INVITE_LINGER, async {
        while tx.receive().await.is_some() {}
    });
    tokio::select! {
        _ = stop.cancelled() => {}
        _ = absorb => {}
    }
}

/// Sends `spec` on `tx`: a To tag on final responses, `Server` instead of
/// rsipstack's `User-Agent`.
pub(crate) async fn respond(shared: &Shared, tx: &mut Transaction, spec: ReplySpec) {
    if spec.code.kind() != StatusCodeKind::Provisional
        && let Ok(to) = tx.original.to_header()
        && to.typed().map(|t| t.tag().is_none()).unwrap_or(false)
    {
        let tagged = to.with_tag(make_tag());
        tx.original.headers.unique_push(Header::To(tagged));
    }
    let mut resp = tx
        .endpoint_inner
        .make_response(&tx.original, spec.code, None);
    resp.headers.retain(|h| !matches!(h, Header::UserAgent(_)));
    resp.headers.extend(spec.headers);
    resp.headers.push(Header::Server(Server::new(
        shared.config.server_name.clone(),
    )));
    if let Err(e) = tx.respond(resp).await {
        tracing::debug!(error = %e, "SIP response not sent");
    }
}

/// Where the request of `tx` came from: the TCP peer, or for UDP the top Via
/// after `received`/`rport` were set by the entry path.
fn source_of(tx: &Transaction) -> Option<(SocketAddr, SipTransport)> {
    match tx.connection.as_ref()? {
        SipConnection::Tcp(c) => c
            .get_remote_addr()
            .get_socketaddr()
            .ok()
            .map(|a| (a, SipTransport::Tcp)),
        SipConnection::Udp(_) => {
            let via = tx.original.via_header().ok()?;
            let (_, hp) = SipConnection::parse_target_from_via(via).ok()?;
            SocketAddr::try_from(hp)
                .ok()
                .map(|a| (a, SipTransport::Udp))
        }
        _ => None,
    }
}
