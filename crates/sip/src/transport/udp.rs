//! UDP: our reader feeds the entry path; rsipstack gets a send-only view of
//! the same socket for responses and retransmissions.

use crate::entry::{Verdict, inspect};
use crate::router::Shared;
use crate::stats::Counters;
use rsipstack::sip::Transport;
use rsipstack::transaction::endpoint::EndpointInner;
use rsipstack::transport::udp::UdpConnection;
use rsipstack::transport::{SipAddr, SipConnection};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

/// Largest UDP payload: every datagram fits, so size is judged exactly.
const RECV_BUF: usize = 65_536;

/// The socket as rsipstack sees it: sending works, receiving is ours. Its
/// `recv_from` never completes; rsipstack's own UDP loop, which the
/// transport layer starts for every listener, therefore idles until the
/// transport layer is cancelled.
pub(crate) struct SendOnlySocket(pub Arc<UdpSocket>);

#[async_trait::async_trait]
impl rsipstack::platform::net::UdpSocket for SendOnlySocket {
    async fn recv_from(&self, _buf: &mut [u8]) -> rsipstack::Result<(usize, SocketAddr)> {
        std::future::pending().await
    }

    async fn send_to(&self, buf: &[u8], addr: SocketAddr) -> rsipstack::Result<usize> {
        Ok(self.0.send_to(buf, addr).await?)
    }

    fn local_addr(&self) -> rsipstack::Result<SocketAddr> {
        Ok(self.0.local_addr()?)
    }
}

/// Reads datagrams until `stop`; restarts the reader should it ever panic.
pub(crate) async fn serve(
    socket: Arc<UdpSocket>,
    conn: UdpConnection,
    endpoint: Arc<EndpointInner>,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    loop {
        let task = tokio::spawn(read_loop(
            socket.clone(),
            conn.clone(),
            endpoint.clone(),
            shared.clone(),
            stop.clone(),
        ));
        match task.await {
            Ok(()) => return,
            Err(e) if e.is_panic() => {
                Counters::inc(&shared.guard.counters.parser_panics);
                tracing::error!("SIP UDP reader panicked; restarting it");
            }
            Err(_) => return,
        }
    }
}

async fn read_loop(
    socket: Arc<UdpSocket>,
    conn: UdpConnection,
    endpoint: Arc<EndpointInner>,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    let mut buf = vec![0u8; RECV_BUF];
    let ctx = super::entry_ctx(&shared);
    loop {
        let (len, src) = tokio::select! {
            _ = stop.cancelled() => return,
            r = socket.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::debug!(error = %e, "UDP receive error");
                    continue;
                }
            },
        };
        match inspect(&ctx, &buf[..len], src, Transport::Udp, Instant::now()) {
            Verdict::Accept(msg) => {
                let from = SipAddr {
                    r#type: Some(Transport::Udp),
                    addr: src.into(),
                };
                let connection = SipConnection::Udp(conn.clone());
                if let Err(e) = endpoint.on_received_message(*msg, connection, &from).await {
                    tracing::debug!(source = %src, error = %e, "transaction layer refused a message");
                }
            }
            Verdict::Reply(bytes) => {
                let _ = socket.send_to(&bytes, src).await;
            }
            Verdict::Ping => {
                let _ = socket.send_to(b"\r\n", src).await;
            }
            Verdict::Ignore | Verdict::Drop => {}
        }
    }
}
