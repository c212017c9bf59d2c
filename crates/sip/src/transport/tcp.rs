//! TCP: our accept loop (connection limits, bans) and per-connection reader
//! (framing, slow-loris timeouts, the entry path). Each connection is an
//! rsipstack `TcpConnection` whose read half we take: rsipstack writes
//! responses on it, we read.

use super::framing::{Frame, Framer};
use crate::entry::{Verdict, inspect};
use crate::rawhead;
use crate::router::Shared;
use crate::stats::Counters;
use rsipstack::sip::Transport;
use rsipstack::transaction::endpoint::EndpointInner;
use rsipstack::transport::tcp::TcpConnection;
use rsipstack::transport::{SipAddr, SipConnection};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const READ_CHUNK: usize = 16 * 1024;

/// Accepts connections until `stop`.
pub(crate) async fn serve(
    listener: TcpListener,
    endpoint: Arc<EndpointInner>,
    shared: Arc<Shared>,
    stop: CancellationToken,
    tasks: TaskTracker,
) {
    let Ok(local) = listener.local_addr() else {
        return;
    };
    let active = Arc::new(AtomicUsize::new(0));
    let limits = &shared.config.limits;
    loop {
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off a bit.
                    tracing::warn!(error = %e, "SIP TCP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let c = &shared.guard.counters;
        if active.load(Ordering::Relaxed) >= limits.tcp_max_connections
            || !shared
                .guard
                .tcp_open(peer.ip(), limits.tcp_max_connections_per_ip, Instant::now())
        {
            Counters::inc(&c.tcp_rejected);
            drop(stream);
            continue;
        }
        Counters::inc(&c.tcp_accepted);
        let slot = ConnSlot::new(active.clone(), shared.clone(), peer);
        let (e, s, st) = (endpoint.clone(), shared.clone(), stop.child_token());
        tasks.spawn(async move {
            let _slot = slot;
            connection(stream, peer, local, e, s, st).await;
        });
    }
}

/// Releases a connection's accounting however its task ends (panics too).
struct ConnSlot {
    active: Arc<AtomicUsize>,
    shared: Arc<Shared>,
    peer: SocketAddr,
}

impl ConnSlot {
    fn new(active: Arc<AtomicUsize>, shared: Arc<Shared>, peer: SocketAddr) -> Self {
        active.fetch_add(1, Ordering::Relaxed);
        Self {
            active,
            shared,
            peer,
        }
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.active.fetch_sub(1, Ordering::Relaxed);
        self.shared.guard.tcp_close(self.peer.ip());
        Counters::inc(&self.shared.guard.counters.tcp_closed);
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    endpoint: Arc<EndpointInner>,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let local_sip = SipAddr {
        r#type: Some(Transport::Tcp),
        addr: local.into(),
    };
    let conn = match TcpConnection::from_stream(stream, local_sip, Some(stop.clone())) {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e, "cannot wrap a TCP connection");
            return;
        }
    };
    let Some(mut reader) = conn.inner.read_half.lock().await.take() else {
        return;
    };
    let from = SipAddr {
        r#type: Some(Transport::Tcp),
        addr: peer.into(),
    };
    let sip_conn = SipConnection::Tcp(conn.clone());
    let limits = &shared.config.limits;
    let idle = Duration::from_secs(limits.tcp_idle_timeout_secs.max(1));
    let per_message = Duration::from_secs(limits.tcp_message_timeout_secs.max(1));
    let ctx = super::entry_ctx(&shared);
    let counters = &shared.guard.counters;
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut chunk = vec![0u8; READ_CHUNK];
    let mut framer = Framer::default();
    let mut partial_since: Option<Instant> = None;

    'conn: loop {
        let mut consumed = false;
        loop {
            let now = Instant::now();
            match framer.next(&buf, limits.max_message_bytes) {
                Frame::NeedMore => break,
                Frame::Ping(n) => {
                    Counters::inc(&counters.keepalives);
                    buf.drain(..n);
                    if conn.inner.send_raw(b"\r\n").await.is_err() {
                        break 'conn;
                    }
                }
                Frame::Pong(n) => {
                    Counters::inc(&counters.keepalives);
                    buf.drain(..n);
                }
                Frame::Message(n) => {
                    let verdict = inspect(&ctx, &buf[..n], peer, Transport::Tcp, now);
                    buf.drain(..n);
                    match verdict {
                        Verdict::Accept(msg) => {
                            if let Err(e) = endpoint
                                .on_received_message(*msg, sip_conn.clone(), &from)
                                .await
                            {
                                tracing::debug!(source = %peer, error = %e, "transaction layer refused a message");
                            }
                        }
                        Verdict::Reply(bytes) => {
                            if conn.inner.send_raw(&bytes).await.is_err() {
                                break 'conn;
                            }
                        }
                        Verdict::Ping => {
                            let _ = conn.inner.send_raw(b"\r\n").await;
                        }
                        Verdict::Ignore => {}
                        Verdict::Drop => {
                            if shared.guard.is_banned(peer.ip(), now) {
                                break 'conn;
                            }
                        }
                    }
                }
                Frame::TooLarge { head_len } => {
                    // Framing cannot be trusted past this point: answer if we
                    // can, then close.
                    Counters::inc(&counters.received);
                    Counters::inc(&counters.oversized);
                    let head = rawhead::scan(&buf[..head_len.unwrap_or(0)], limits.max_headers);
                    let server = &shared.config.server_name;
                    if let Some(r) = rawhead::reply(&head, 513, "Message Too Large", &[], server) {
                        let _ = conn.inner.send_raw(&r).await;
                    }
                    break 'conn;
                }
                Frame::BadLength { head_len } => {
                    if let Verdict::Reply(r) =
                        inspect(&ctx, &buf[..head_len], peer, Transport::Tcp, now)
                    {
                        let _ = conn.inner.send_raw(&r).await;
                    }
                    break 'conn;
                }
            }
            consumed = true;
        }
        if consumed || buf.is_empty() {
            partial_since = (!buf.is_empty()).then(Instant::now);
        } else if partial_since.is_none() {
            partial_since = Some(Instant::now());
        }
        let wait = match partial_since {
            Some(since) => per_message.saturating_sub(since.elapsed()),
            None => idle,
        };
        let read = tokio::select! {
            _ = stop.cancelled() => break,
            r = tokio::time::timeout(wait, reader.read(&mut chunk)) => r,
        };
        match read {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            Ok(Ok(_)) | Ok(Err(_)) => break,
            Err(_) => {
                tracing::debug!(source = %peer, partial = !buf.is_empty(), "SIP TCP connection timed out");
                break;
            }
        }
    }
    let _ = conn.inner.close().await;
}
