//! Shared helpers of the relay integration tests: an engine on loopback,
//! fake RTP endpoints on real UDP sockets, and waiting for events with a
//! timeout.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Duration;

use omnivox_media::codec::{Codec, Negotiated};
use omnivox_media::relay::{
    Leg, LegOptions, MediaConfig, MediaEngine, MediaEvent, RemoteMedia, Session,
};
use omnivox_media::rtp::{RtpHeader, RtpPacket};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

pub const WAIT: Duration = Duration::from_secs(3);

pub fn config(rtp_timeout: Duration) -> MediaConfig {
    MediaConfig {
        ip: "127.0.0.1".parse().unwrap(),
        port_min: 31_000,
        port_max: 39_999,
        rtp_timeout: Some(rtp_timeout),
        ..MediaConfig::default()
    }
}

pub fn engine() -> MediaEngine {
    MediaEngine::new(config(Duration::from_secs(30))).unwrap()
}

/// A received RTP packet, copied out.
#[derive(Debug, Clone)]
pub struct Rx {
    pub from: SocketAddr,
    pub marker: bool,
    pub pt: u8,
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
    pub payload: Vec<u8>,
}

/// A fake SIP endpoint's RTP side.
pub struct Peer {
    pub sock: UdpSocket,
    pub ssrc: u32,
    pub seq: u16,
    pub ts: u32,
}

impl Peer {
    pub async fn new(ssrc: u32) -> Self {
        Self {
            sock: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            ssrc,
            seq: 1000,
            ts: 50_000,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.sock.local_addr().unwrap()
    }

    /// Send one packet with the next sequence number; `ts_step` advances
    /// the timestamp after it.
    pub async fn send(
        &mut self,
        to: SocketAddr,
        pt: u8,
        marker: bool,
        payload: &[u8],
        ts_step: u32,
    ) {
        let h = RtpHeader {
            marker,
            payload_type: pt,
            sequence: self.seq,
            timestamp: self.ts,
            ssrc: self.ssrc,
        };
        let mut buf = [0u8; 1500];
        let n = h.write_packet(payload, &mut buf).unwrap();
        self.sock.send_to(&buf[..n], to).await.unwrap();
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(ts_step);
    }

    /// 20 ms of audio.
    pub async fn send_audio(&mut self, to: SocketAddr, pt: u8, payload: &[u8]) {
        self.send(to, pt, false, payload, payload.len() as u32)
            .await;
    }

    pub async fn send_raw(&self, to: SocketAddr, bytes: &[u8]) {
        self.sock.send_to(bytes, to).await.unwrap();
    }

    /// The next RTP packet, or `None` after `wait`.
    pub async fn recv(&self, wait: Duration) -> Option<Rx> {
        let mut buf = [0u8; 2048];
        let (n, from) = tokio::time::timeout(wait, self.sock.recv_from(&mut buf))
            .await
            .ok()?
            .unwrap();
        let p = RtpPacket::parse(&buf[..n]).expect("relay sent a malformed packet");
        Some(Rx {
            from,
            marker: p.marker(),
            pt: p.payload_type(),
            seq: p.sequence(),
            ts: p.timestamp(),
            ssrc: p.ssrc(),
            payload: p.payload().to_vec(),
        })
    }

    /// The next packet with payload type `pt` (skipping others).
    pub async fn recv_pt(&self, pt: u8, wait: Duration) -> Option<Rx> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let rx = self.recv(left).await?;
            if rx.pt == pt {
                return Some(rx);
            }
        }
    }

    /// Everything that arrives until `quiet` passes without a packet.
    pub async fn drain(&self, quiet: Duration) -> Vec<Rx> {
        let mut out = Vec::new();
        while let Some(rx) = self.recv(quiet).await {
            out.push(rx);
        }
        out
    }
}

/// Wait for the first event matching `pred`, failing after `WAIT`.
pub async fn wait_for(
    events: &mut mpsc::Receiver<MediaEvent>,
    mut pred: impl FnMut(&MediaEvent) -> bool,
) -> MediaEvent {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, events.recv()).await {
            Ok(Some(ev)) if pred(&ev) => return ev,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("event channel closed"),
            Err(_) => panic!("no matching event within {WAIT:?}"),
        }
    }
}

/// A session with two legs whose peers are `a` and `b`, bridged.
pub struct Call {
    pub session: Session,
    pub events: mpsc::Receiver<MediaEvent>,
    pub a: Leg,
    pub b: Leg,
}

pub async fn bridged_call(
    engine: &MediaEngine,
    a: &Peer,
    a_neg: Negotiated,
    b: &Peer,
    b_neg: Negotiated,
) -> Call {
    let (tx, events) = mpsc::channel(256);
    let session = engine.session(tx).unwrap();
    let la = session.open_leg(LegOptions::default()).await.unwrap();
    let lb = session.open_leg(LegOptions::default()).await.unwrap();
    session
        .set_remote(la.id(), RemoteMedia::new(a.addr(), a_neg))
        .await
        .unwrap();
    session
        .set_remote(lb.id(), RemoteMedia::new(b.addr(), b_neg))
        .await
        .unwrap();
    session.bridge(la.id(), lb.id()).await.unwrap();
    Call {
        session,
        events,
        a: la,
        b: lb,
    }
}

pub fn pcmu(te: Option<u8>) -> Negotiated {
    Negotiated::new(Codec::Pcmu, te)
}

pub fn pcma(te: Option<u8>) -> Negotiated {
    Negotiated::new(Codec::Pcma, te)
}

/// A 20 ms payload of distinct bytes, tagged with `tag`.
pub fn tagged(tag: u8, n: u8) -> Vec<u8> {
    let mut v = vec![tag; 160];
    v[1] = n;
    v
}

/// `n` samples of a sine at `freq` Hz and `amp` peak.
pub fn sine(freq: f64, amp: f64, n: usize) -> Vec<i16> {
    (0..n)
        .map(|i| ((i as f64) * 2.0 * std::f64::consts::PI * freq / 8000.0).sin() * amp)
        .map(|v| v as i16)
        .collect()
}
