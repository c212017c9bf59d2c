//! The state of one leg inside its session task.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

use super::stream::OutStream;
use super::{LegId, LegOptions, LegStats, PlayOptions, RemoteMedia};
use crate::codec::Codec;
use crate::ports::PortLease;
use crate::quality::{QualityReport, ReceiveStats, RtcpState};
use crate::rfc4733::{DtmfReceiver, DtmfSender};
use crate::{Channel, FRAME_SAMPLES, Frame, FrameAnalyzer, FrameSource};

/// Counters of dropped and sent packets.
#[derive(Debug, Default, Clone)]
pub(crate) struct Counters {
    pub sent: u64,
    pub sent_bytes: u64,
    pub malformed: u64,
    pub unknown_pt: u64,
    pub spoofed: u64,
    pub not_ready: u64,
    pub send_errors: u64,
    pub rtcp_received: u64,
    pub rtcp_dropped: u64,
}

/// A playback in progress.
pub(crate) struct Playing {
    pub source: Box<dyn FrameSource>,
    pub options: PlayOptions,
}

/// A digit being sent, with its event's start timestamp once known.
pub(crate) struct Sending {
    pub digit: char,
    pub sender: DtmfSender,
    pub start_ts: Option<u32>,
}

/// Collects decoded samples into whole 20 ms frames, whatever the
/// packetisation of the peer.
pub(crate) struct Assembler {
    frame: Frame,
    fill: usize,
}

impl Assembler {
    fn new() -> Self {
        Self {
            frame: [0; FRAME_SAMPLES],
            fill: 0,
        }
    }

    /// Decode from `payload[*off..]` until a frame is complete (returned)
    /// or the payload is used up (`None`, partial frame kept).
    pub fn feed(&mut self, codec: Codec, payload: &[u8], off: &mut usize) -> Option<&Frame> {
        if self.fill == FRAME_SAMPLES {
            self.fill = 0;
        }
        let take = (FRAME_SAMPLES - self.fill).min(payload.len().saturating_sub(*off));
        if take == 0 {
            return None;
        }
        codec.decode(
            &payload[*off..*off + take],
            &mut self.frame[self.fill..self.fill + take],
        );
        *off += take;
        self.fill += take;
        (self.fill == FRAME_SAMPLES).then_some(&self.frame)
    }
}

/// A few frames of a mixed leg's incoming audio, consumed one per media tick.
pub(crate) struct MixInput {
    frames: [Frame; MIX_DEPTH],
    head: usize,
    len: usize,
}

const MIX_DEPTH: usize = 4;

impl MixInput {
    pub fn new() -> Self {
        Self {
            frames: [[0; FRAME_SAMPLES]; MIX_DEPTH],
            head: 0,
            len: 0,
        }
    }

    /// Queue a frame; the oldest goes when full (the peer's clock runs
    /// faster than ours).
    pub fn push(&mut self, f: &Frame) {
        if self.len == MIX_DEPTH {
            self.head = (self.head + 1) % MIX_DEPTH;
            self.len -= 1;
        }
        let idx = (self.head + self.len) % MIX_DEPTH;
        self.frames[idx] = *f;
        self.len += 1;
    }

    /// The frame of this tick, if one arrived.
    pub fn current(&self) -> Option<&Frame> {
        (self.len > 0).then(|| &self.frames[self.head])
    }

    pub fn advance(&mut self) {
        if self.len > 0 {
            self.head = (self.head + 1) % MIX_DEPTH;
            self.len -= 1;
        }
    }
}

pub(crate) struct LegState {
    pub id: LegId,
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
    _lease: PortLease,
    pub options: LegOptions,
    pub remote: Option<RemoteMedia>,
    pub latched: Option<SocketAddr>,
    pub rtcp_latched: Option<SocketAddr>,
    /// Last RTP accepted (or when reception became expected).
    pub last_rx: Instant,
    pub timed_out: bool,
    /// The leg whose audio this one hears (bridge).
    pub hears: Option<LegId>,
    pub out: OutStream,
    pub rx: ReceiveStats,
    pub rtcp_state: RtcpState,
    pub counters: Counters,
    pub dtmf_rx: DtmfReceiver,
    pub sending: Option<Sending>,
    pub dtmf_queue: VecDeque<(char, u32)>,
    pub play: Option<Playing>,
    pub analyzers: Vec<Box<dyn FrameAnalyzer>>,
    pub record: Option<Channel>,
    pub assembler: Assembler,
    /// Part of the mix matrix (as listener or source): its incoming
    /// audio, queued for the media tick. Allocated only while mixed.
    pub mix_in: Option<Box<MixInput>>,
    pub last_rtcp: Instant,
    pub last_quality: Instant,
}

impl LegState {
    pub fn new(
        id: LegId,
        rtp: UdpSocket,
        rtcp: UdpSocket,
        lease: PortLease,
        options: LegOptions,
        seed: u64,
        now: Instant,
    ) -> Self {
        Self {
            id,
            rtp,
            rtcp,
            _lease: lease,
            options,
            remote: None,
            latched: None,
            rtcp_latched: None,
            last_rx: now,
            timed_out: false,
            hears: None,
            out: OutStream::new(seed),
            rx: ReceiveStats::default(),
            rtcp_state: RtcpState::default(),
            counters: Counters::default(),
            dtmf_rx: DtmfReceiver::new(),
            sending: None,
            dtmf_queue: VecDeque::new(),
            play: None,
            analyzers: Vec::new(),
            record: None,
            assembler: Assembler::new(),
            mix_in: None,
            last_rtcp: now,
            last_quality: now,
        }
    }

    /// Part of the mix matrix.
    pub fn in_mix(&self) -> bool {
        self.mix_in.is_some()
    }

    /// Where to send this leg's RTP: the latched source (symmetric RTP),
    /// else the SDP address; nothing while the peer does not receive.
    pub fn send_addr(&self) -> Option<SocketAddr> {
        let remote = self.remote.as_ref()?;
        if !remote.direction.peer_receives() {
            return None;
        }
        Some(self.latched.unwrap_or(remote.rtp))
    }

    /// Where to send RTCP: the latched RTCP source, else next to the
    /// latched RTP source, else the SDP's RTCP address.
    pub fn rtcp_addr(&self) -> Option<SocketAddr> {
        let remote = self.remote.as_ref()?;
        if let Some(a) = self.rtcp_latched {
            return Some(a);
        }
        match self.latched {
            Some(a) if a != remote.rtp => Some(SocketAddr::new(a.ip(), a.port().wrapping_add(1))),
            _ => Some(remote.rtcp_addr()),
        }
    }

    /// The session makes this leg's audio itself (prompt, DTMF, mix), so
    /// relayed audio is not sent to it.
    pub fn generating(&self) -> bool {
        self.play.is_some() || self.sending.is_some() || self.in_mix()
    }

    /// Needs the media clock.
    pub fn needs_clock(&self) -> bool {
        self.generating() || !self.dtmf_queue.is_empty()
    }

    /// Incoming audio must be decoded.
    pub fn needs_pcm(&self, recording: bool) -> bool {
        !self.analyzers.is_empty() || (recording && self.record.is_some()) || self.in_mix()
    }

    pub fn timeout(&self, default: Option<Duration>) -> Option<Duration> {
        self.options.rtp_timeout.or(default)
    }

    pub fn quality(&self) -> QualityReport {
        QualityReport::rate(
            &self.rx,
            &self.rtcp_state,
            self.counters.sent,
            self.counters.sent_bytes,
        )
    }

    pub fn stats(&self) -> LegStats {
        let c = &self.counters;
        LegStats {
            latched: self.latched,
            received: self.rx.packets,
            sent: c.sent,
            dropped_malformed: c.malformed,
            dropped_unknown_pt: c.unknown_pt,
            dropped_spoofed: c.spoofed,
            dropped_not_ready: c.not_ready,
            send_errors: c.send_errors,
            rtcp_received: c.rtcp_received,
            rtcp_dropped: c.rtcp_dropped,
            quality: self.quality(),
        }
    }

    /// Send a built packet to the peer.
    pub fn send(&mut self, packet: &[u8], payload_len: usize) {
        let Some(dest) = self.send_addr() else {
            return;
        };
        match self.rtp.try_send_to(packet, dest) {
            Ok(_) => {
                self.counters.sent += 1;
                self.counters.sent_bytes += payload_len as u64;
            }
            Err(_) => self.counters.send_errors += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assembler_makes_frames_from_any_packetisation() {
        let mut a = Assembler::new();
        let payload = [Codec::Pcmu.silence_byte(); 240]; // 30 ms packets
        let mut frames = 0;
        for _ in 0..4 {
            let mut off = 0;
            while a.feed(Codec::Pcmu, &payload, &mut off).is_some() {
                frames += 1;
            }
        }
        // 4 x 240 = 960 samples = 6 frames.
        assert_eq!(frames, 6);
    }

    #[test]
    fn mix_input_drops_oldest_when_full() {
        let mut m = MixInput::new();
        for v in 0..6i16 {
            m.push(&[v; FRAME_SAMPLES]);
        }
        assert_eq!(m.current().map(|f| f[0]), Some(2));
        m.advance();
        assert_eq!(m.current().map(|f| f[0]), Some(3));
        for _ in 0..3 {
            m.advance();
        }
        assert!(m.current().is_none());
    }
}
