//! Load generator of the relay benchmark (`benches/relay.rs`).
//!
//! It drives N concurrent G.711 calls through a relay under test: each
//! call has an A and a B endpoint sending 20 ms PCMU packets (50 packets/s
//! per direction) whose payload carries the call, the direction and the
//! send time. The receiving side checks that every packet belongs to one
//! of its own calls (no cross-call leak) and measures the one-way latency
//! through the relay (loopback time included) into a 1 µs histogram.
//!
//! Two targets run on the same thread model, a single-threaded tokio
//! runtime on a thread of its own whose CPU time is read from
//! `/proc/thread-self/schedstat`:
//! * [`RelayTarget`]: a [`MediaEngine`] with one session (two bridged
//!   legs) per call;
//! * [`ForwarderTarget`]: the baseline, a plain UDP forwarder (recv ->
//!   send, no parsing) with one task per call.
//!
//! The generator itself uses few sockets (calls are spread over them) so
//! that its own cost stays small next to the target's: one sender thread
//! paced in 1 ms slots and one receiver runtime.

use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::runtime::{Builder, Handle};
use tokio::sync::{mpsc, oneshot};

use crate::Channel;
use crate::codec::{Codec, Negotiated};
use crate::relay::{
    LegOptions, MediaConfig, MediaEngine, RecordSink, RelayError, RemoteMedia, Session,
};
use crate::rtp::{RTP_HEADER_LEN, RtpHeader};

const PAYLOAD: usize = 160;
const PACKET: usize = RTP_HEADER_LEN + PAYLOAD;
/// Latency histogram: 1 µs buckets below 10 ms, 1 ms buckets up to 10 s.
const FINE_US: usize = 10_000;
const COARSE_MS: usize = 10_000;
const HIST_MAX_US: u64 = (COARSE_MS as u64) * 1000;

/// A thread with a current-thread runtime and a way to read its CPU time.
pub struct RuntimeThread {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl RuntimeThread {
    pub fn start(name: &str) -> std::io::Result<Self> {
        let rt = Builder::new_current_thread().enable_all().build()?;
        let handle = rt.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                rt.block_on(async {
                    let _ = stopped.await;
                });
            })?;
        Ok(Self {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// CPU time the runtime's thread has used so far.
    pub async fn cpu_time(&self) -> Option<Duration> {
        self.handle
            .spawn(async { thread_cpu_time() })
            .await
            .ok()
            .flatten()
    }
}

impl Drop for RuntimeThread {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// CPU time of the calling thread (`/proc/thread-self/schedstat`, ns).
pub fn thread_cpu_time() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Resident set size of the process, in bytes.
pub fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// What a target tells the generator: where each call's A and B send.
pub type CallTargets = Vec<(SocketAddr, SocketAddr)>;

/// The relay under test: one session per call, legs A and B bridged.
pub struct RelayTarget {
    pub runtime: RuntimeThread,
    pub engine: MediaEngine,
    sessions: Vec<Session>,
}

impl RelayTarget {
    /// Set up `endpoints.len()` calls; `endpoints[i]` are the addresses the
    /// generator sends call i's A and B from. With `recorder`, every call
    /// is recorded (A customer, B agent) into the sink it makes for call i.
    pub async fn start(
        config: MediaConfig,
        endpoints: &[(SocketAddr, SocketAddr)],
        mut recorder: Option<&mut dyn FnMut(usize) -> Box<dyn RecordSink>>,
    ) -> Result<(Self, CallTargets), RelayError> {
        let runtime = RuntimeThread::start("relay")?;
        let engine = MediaEngine::with_runtime(config, runtime.handle().clone())?;
        // Events are drained (and dropped) on the relay thread.
        let (tx, mut rx) = mpsc::channel(1024);
        runtime
            .handle()
            .spawn(async move { while rx.recv().await.is_some() {} });
        let mut sessions = Vec::with_capacity(endpoints.len());
        let mut targets = Vec::with_capacity(endpoints.len());
        let neg = Negotiated::new(Codec::Pcmu, Some(101));
        for (i, &(a, b)) in endpoints.iter().enumerate() {
            let s = engine.session(tx.clone())?;
            let la = s.open_leg(LegOptions::default()).await?;
            let lb = s.open_leg(LegOptions::default()).await?;
            s.set_remote(la.id(), RemoteMedia::new(a, neg)).await?;
            s.set_remote(lb.id(), RemoteMedia::new(b, neg)).await?;
            s.bridge(la.id(), lb.id()).await?;
            if let Some(make) = recorder.as_mut() {
                let channels = vec![(la.id(), Channel::Customer), (lb.id(), Channel::Agent)];
                s.record(make(i), channels).await?;
            }
            targets.push((la.local_rtp(), lb.local_rtp()));
            sessions.push(s);
        }
        Ok((
            Self {
                runtime,
                engine,
                sessions,
            },
            targets,
        ))
    }

    pub fn sessions(&self) -> &[Session] {
        &self.sessions
    }
}

/// The baseline: per call two sockets, recv on one -> send from the other.
pub struct ForwarderTarget {
    pub runtime: RuntimeThread,
}

impl ForwarderTarget {
    pub async fn start(
        endpoints: &[(SocketAddr, SocketAddr)],
    ) -> std::io::Result<(Self, CallTargets)> {
        let runtime = RuntimeThread::start("forwarder")?;
        let mut targets = Vec::with_capacity(endpoints.len());
        for &(a, b) in endpoints {
            let x = StdUdpSocket::bind("127.0.0.1:0")?;
            let y = StdUdpSocket::bind("127.0.0.1:0")?;
            targets.push((x.local_addr()?, y.local_addr()?));
            x.set_nonblocking(true)?;
            y.set_nonblocking(true)?;
            runtime.handle().spawn(async move {
                let (Ok(x), Ok(y)) = (UdpSocket::from_std(x), UdpSocket::from_std(y)) else {
                    return;
                };
                let (mut bx, mut by) = ([0u8; 2048], [0u8; 2048]);
                loop {
                    tokio::select! {
                        r = x.recv_from(&mut bx) => if let Ok((n, _)) = r { let _ = y.try_send_to(&bx[..n], b); },
                        r = y.recv_from(&mut by) => if let Ok((n, _)) = r { let _ = x.try_send_to(&by[..n], a); },
                    }
                }
            });
        }
        Ok((Self { runtime }, targets))
    }
}

/// Latency histogram (1 µs buckets below 10 ms, 1 ms above).
#[derive(Clone)]
pub struct Histogram {
    fine: Vec<u64>,
    coarse: Vec<u64>,
    overflow: u64,
    count: u64,
    max_us: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            fine: vec![0; FINE_US],
            coarse: vec![0; COARSE_MS],
            overflow: 0,
            count: 0,
            max_us: 0,
        }
    }
}

impl Histogram {
    pub fn record(&mut self, us: u64) {
        self.count += 1;
        self.max_us = self.max_us.max(us);
        if let Some(b) = self.fine.get_mut(us as usize) {
            *b += 1;
        } else if let Some(b) = self.coarse.get_mut((us / 1000) as usize) {
            *b += 1;
        } else {
            self.overflow += 1;
        }
    }

    /// The `q` quantile (0..1) in µs (1 ms resolution above 10 ms).
    pub fn quantile(&self, q: f64) -> u64 {
        let target = ((self.count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (us, n) in self.fine.iter().enumerate() {
            seen += n;
            if seen >= target {
                return us as u64;
            }
        }
        for (ms, n) in self.coarse.iter().enumerate().skip(FINE_US / 1000) {
            seen += n;
            if seen >= target {
                return ms as u64 * 1000;
            }
        }
        HIST_MAX_US
    }

    pub fn count(&self) -> u64 {
        self.count
    }
    pub fn max_us(&self) -> u64 {
        self.max_us
    }
}

/// The generator's sockets: `sockets` pairs, calls spread round robin.
pub struct Generator {
    a: Vec<StdUdpSocket>,
    b: Vec<StdUdpSocket>,
    /// Tags each run's packets so late ones of a previous run are ignored.
    run_id: std::cell::Cell<u8>,
}

/// What one run measured.
#[derive(Debug, Clone, Default)]
pub struct RunResult {
    pub sent: u64,
    pub received: u64,
    pub misrouted: u64,
    /// Late packets of an earlier run, ignored.
    pub stale: u64,
    /// RTCP from the target (its reports to our "RTCP ports"), ignored.
    pub rtcp: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

impl Generator {
    pub fn new(sockets: usize) -> std::io::Result<Self> {
        let mk = || StdUdpSocket::bind("127.0.0.1:0");
        let a = (0..sockets).map(|_| mk()).collect::<Result<Vec<_>, _>>()?;
        let b = (0..sockets).map(|_| mk()).collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            a,
            b,
            run_id: std::cell::Cell::new(0),
        })
    }

    /// Source addresses of call i's A and B.
    pub fn endpoints(&self, calls: usize) -> std::io::Result<Vec<(SocketAddr, SocketAddr)>> {
        let k = self.a.len();
        (0..calls)
            .map(|c| Ok((self.a[c % k].local_addr()?, self.b[c % k].local_addr()?)))
            .collect()
    }

    /// Send for `warmup + measure` (only packets sent during `measure`
    /// count), then wait `drain` for late packets.
    pub fn run(
        &self,
        targets: &CallTargets,
        warmup: Duration,
        measure: Duration,
        drain: Duration,
    ) -> std::io::Result<RunResult> {
        let k = self.a.len();
        let calls = targets.len();
        let base = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let received = Arc::new(AtomicU64::new(0));
        let misrouted = Arc::new(AtomicU64::new(0));
        let stale = Arc::new(AtomicU64::new(0));
        let rtcp = Arc::new(AtomicU64::new(0));
        let run_id = self.run_id.get().wrapping_add(1);
        self.run_id.set(run_id);
        let hist = Arc::new(Mutex::new(Histogram::default()));

        // Receiver runtime: one task per socket.
        let rx_rt = RuntimeThread::start("loadgen-rx")?;
        let mut rx_tasks = Vec::new();
        for (side, socks) in [(0u8, &self.a), (1u8, &self.b)] {
            for (idx, s) in socks.iter().enumerate() {
                let s = s.try_clone()?;
                s.set_nonblocking(true)?;
                let (stop, received, misrouted, hist) = (
                    stop.clone(),
                    received.clone(),
                    misrouted.clone(),
                    hist.clone(),
                );
                let (stale, rtcp) = (stale.clone(), rtcp.clone());
                rx_tasks.push(rx_rt.handle().spawn(async move {
                    let Ok(sock) = UdpSocket::from_std(s) else {
                        return;
                    };
                    let mut buf = [0u8; 2048];
                    while !stop.load(Ordering::Relaxed) {
                        let r = tokio::time::timeout(
                            Duration::from_millis(50),
                            sock.recv_from(&mut buf),
                        )
                        .await;
                        let Ok(Ok((n, _))) = r else {
                            continue;
                        };
                        let now = base.elapsed().as_nanos() as u64;
                        // The target's RTCP goes to "our port + 1", which
                        // is another generator socket here.
                        if crate::rtp::looks_like_rtcp(&buf[..n]) {
                            rtcp.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        if n < PACKET {
                            misrouted.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        let p = &buf[RTP_HEADER_LEN..n];
                        let call = u32::from_be_bytes([p[0], p[1], p[2], p[3]]) as usize;
                        let dir = p[4];
                        let measured = p[5] == 1;
                        if p[6] != run_id {
                            stale.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        let sent = u64::from_be_bytes([
                            p[8], p[9], p[10], p[11], p[12], p[13], p[14], p[15],
                        ]);
                        // Side A receives B->A (dir 1) of its own calls.
                        if call % k != idx || dir == side {
                            misrouted.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        if measured {
                            received.fetch_add(1, Ordering::Relaxed);
                            let us = now.saturating_sub(sent) / 1000;
                            hist.lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .record(us);
                        }
                    }
                }));
            }
        }

        // Sender: this thread, 1 ms slots; call c sends in slot c % 20.
        let senders: Vec<(StdUdpSocket, StdUdpSocket)> = (0..k)
            .map(|i| Ok((self.a[i].try_clone()?, self.b[i].try_clone()?)))
            .collect::<std::io::Result<_>>()?;
        let mut seq = vec![0u32; calls];
        let mut pkt = [0xffu8; PACKET];
        let mut sent = 0u64;
        let start = Instant::now();
        let end = start + warmup + measure;
        let mut slot = 0usize;
        let mut next = start;
        while next < end {
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            }
            let measured = next >= start + warmup;
            for c in (slot..calls).step_by(20) {
                let n = seq[c];
                seq[c] = n.wrapping_add(1);
                for dir in 0..2u8 {
                    let h = RtpHeader {
                        marker: false,
                        payload_type: 0,
                        sequence: n as u16,
                        timestamp: n.wrapping_mul(160),
                        ssrc: (c as u32) << 1 | u32::from(dir),
                    };
                    if h.write(&mut pkt).is_err() {
                        continue;
                    }
                    let p = &mut pkt[RTP_HEADER_LEN..];
                    p[0..4].copy_from_slice(&(c as u32).to_be_bytes());
                    p[4] = dir;
                    p[5] = u8::from(measured);
                    p[6] = run_id;
                    let t = base.elapsed().as_nanos() as u64;
                    p[8..16].copy_from_slice(&t.to_be_bytes());
                    let (sock, to) = if dir == 0 {
                        (&senders[c % k].0, targets[c].0)
                    } else {
                        (&senders[c % k].1, targets[c].1)
                    };
                    if sock.send_to(&pkt, to).is_ok() && measured {
                        sent += 1;
                    }
                }
            }
            slot = (slot + 1) % 20;
            next += Duration::from_millis(1);
        }
        std::thread::sleep(drain);
        stop.store(true, Ordering::Relaxed);
        drop(rx_rt);
        let h = hist.lock().unwrap_or_else(PoisonError::into_inner).clone();
        Ok(RunResult {
            sent,
            received: received.load(Ordering::Relaxed),
            misrouted: misrouted.load(Ordering::Relaxed),
            stale: stale.load(Ordering::Relaxed),
            rtcp: rtcp.load(Ordering::Relaxed),
            p50_us: h.quantile(0.5),
            p99_us: h.quantile(0.99),
            max_us: h.max_us(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles() {
        let mut h = Histogram::default();
        for us in 1..=100 {
            h.record(us);
        }
        assert_eq!(h.quantile(0.5), 50);
        assert_eq!(h.quantile(0.99), 99);
        assert_eq!(h.max_us(), 100);
        h.record(25_400);
        assert_eq!(h.quantile(1.0), 25_000);
        h.record(u64::MAX);
        assert_eq!(h.quantile(1.0), HIST_MAX_US);
    }

    #[test]
    fn thread_stats_are_readable() {
        assert!(thread_cpu_time().is_some());
        assert!(rss_bytes().unwrap_or(0) > 0);
    }
}
