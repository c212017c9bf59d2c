//! Call quality per leg: what arrived (packets, bytes, loss from sequence
//! gaps, interarrival jitter per RFC 3550 A.1/A.8), what we sent, the
//! round-trip time from RTCP LSR/DLSR, and an E-model (ITU-T G.107) rating.
//!
//! E-model simplifications, stated so the numbers can be judged: the
//! defaults of G.107 give R0 - Is = 93.2 (the echo terms Idte/Idle at their
//! default values are folded into it); the delay impairment is G.107's Idd
//! of the absolute one-way delay Ta (zero up to 100 ms); the equipment
//! impairment is Ie = 0 for G.711 with the packet-loss robustness Bpl of
//! G.113 Appendix I (25.1 with packet-loss concealment, 4.3 without) and a
//! burst ratio of 1 (random loss) unless given. The one-way delay of a leg
//! is estimated as RTT/2 + 20 ms packetisation + a jitter buffer of twice
//! the measured jitter.

use std::time::Instant;

use crate::rtp::rtcp::{ReportBlock, ntp_middle, ntp_now};

/// Clock rate used to convert timestamp units to milliseconds.
const CLOCK_KHZ: f64 = 8.0;
const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;

/// Receive-side statistics of one RTP stream (RFC 3550 A.1, A.3, A.8).
#[derive(Debug, Clone, Default)]
pub struct ReceiveStats {
    started: bool,
    ssrc: u32,
    base_seq: u32,
    max_seq: u16,
    cycles: u32,
    received: u64,
    /// Expected/lost of earlier SSRCs or resynchronised runs.
    prior_expected: u64,
    prior_received: u64,
    expected_at_report: u64,
    received_at_report: u64,
    transit: Option<i64>,
    /// Jitter in timestamp units (kept in 1/16 as RFC 3550 A.8 suggests).
    jitter_q4: u64,
    pub packets: u64,
    pub bytes: u64,
}

impl ReceiveStats {
    /// Account one packet. `arrival` is the arrival time in timestamp units
    /// (any origin); `audio` is false for telephone-events, whose timestamp
    /// is the event start and would distort the jitter.
    pub fn on_packet(
        &mut self,
        ssrc: u32,
        seq: u16,
        rtp_ts: u32,
        arrival: u32,
        bytes: usize,
        audio: bool,
    ) {
        self.packets += 1;
        self.bytes += bytes as u64;
        if !self.started || ssrc != self.ssrc {
            self.restart(ssrc, seq);
        } else {
            let delta = seq.wrapping_sub(self.max_seq);
            if delta == 0 {
                // Duplicate of the highest packet: ignore for loss.
                return;
            } else if delta < MAX_DROPOUT {
                if seq < self.max_seq {
                    self.cycles += 1 << 16;
                }
                self.max_seq = seq;
                self.received += 1;
            } else if delta <= u16::MAX - MAX_MISORDER {
                // A jump too large to be loss: the source restarted.
                self.restart(ssrc, seq);
            } else {
                // Late (reordered) packet.
                self.received += 1;
            }
        }
        if audio {
            let transit = i64::from(arrival.wrapping_sub(rtp_ts) as i32);
            if let Some(prev) = self.transit {
                let d = (transit - prev).unsigned_abs();
                // J += (|D| - J) / 16, kept scaled by 16.
                let j = self.jitter_q4 as i64;
                self.jitter_q4 = (j + d as i64 - ((j + 8) >> 4)).max(0) as u64;
            }
            self.transit = Some(transit);
        }
    }

    fn restart(&mut self, ssrc: u32, seq: u16) {
        if self.started {
            self.prior_expected += self.expected_run();
            self.prior_received += self.received;
        }
        self.started = true;
        self.ssrc = ssrc;
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.cycles = 0;
        self.received = 1;
        self.transit = None;
    }

    fn expected_run(&self) -> u64 {
        if !self.started {
            return 0;
        }
        u64::from(self.cycles + u32::from(self.max_seq)) + 1 - u64::from(self.base_seq)
    }

    /// Packets expected from the sequence numbers seen.
    pub fn expected(&self) -> u64 {
        self.prior_expected + self.expected_run()
    }

    /// Packets lost (negative with duplicates, as in RFC 3550).
    pub fn lost(&self) -> i64 {
        self.expected() as i64 - (self.prior_received + self.received) as i64
    }

    /// Lost / expected, in percent.
    pub fn loss_percent(&self) -> f64 {
        let e = self.expected();
        if e == 0 {
            return 0.0;
        }
        (self.lost().max(0) as f64) * 100.0 / e as f64
    }

    /// Interarrival jitter in timestamp units.
    pub fn jitter(&self) -> u32 {
        (self.jitter_q4 >> 4) as u32
    }

    /// Interarrival jitter in milliseconds.
    pub fn jitter_ms(&self) -> f64 {
        self.jitter_q4 as f64 / 16.0 / CLOCK_KHZ
    }

    /// The SSRC of the stream, once a packet arrived.
    pub fn ssrc(&self) -> Option<u32> {
        self.started.then_some(self.ssrc)
    }

    /// A report block on this stream, and start a new reporting interval.
    pub fn report_block(&mut self, last_sr: u32, delay_since_last_sr: u32) -> Option<ReportBlock> {
        if !self.started {
            return None;
        }
        let expected = self.expected();
        let received = self.prior_received + self.received;
        let exp_int = expected.saturating_sub(self.expected_at_report);
        let rec_int = received.saturating_sub(self.received_at_report);
        self.expected_at_report = expected;
        self.received_at_report = received;
        let lost_int = exp_int.saturating_sub(rec_int);
        let fraction_lost = if exp_int == 0 || lost_int == 0 {
            0
        } else {
            ((lost_int << 8) / exp_int).min(255) as u8
        };
        Some(ReportBlock {
            ssrc: self.ssrc,
            fraction_lost,
            cumulative_lost: self.lost().clamp(-0x80_0000, 0x7f_ffff) as i32,
            highest_seq: self.cycles + u32::from(self.max_seq),
            jitter: self.jitter(),
            last_sr,
            delay_since_last_sr,
        })
    }
}

/// Round-trip time and the peer's view of our stream, from RTCP.
#[derive(Debug, Clone, Default)]
pub struct RtcpState {
    /// Middle 32 bits of the last SR received from the peer, and when.
    last_sr: Option<(u32, Instant)>,
    /// Last RTT in milliseconds.
    pub rtt_ms: Option<f64>,
    /// The peer's last report on our stream: fraction lost (0-1) and jitter (ms).
    pub remote_fraction_lost: Option<f64>,
    pub remote_jitter_ms: Option<f64>,
    pub remote_cumulative_lost: Option<i32>,
}

impl RtcpState {
    /// The peer sent an SR with this NTP timestamp.
    pub fn on_sender_report(&mut self, ntp: u64, now: Instant) {
        self.last_sr = Some((ntp_middle(ntp), now));
    }

    /// LSR and DLSR (1/65536 s) for our next report block.
    pub fn lsr_dlsr(&self, now: Instant) -> (u32, u32) {
        match self.last_sr {
            Some((lsr, at)) => {
                let d = now.saturating_duration_since(at).as_secs_f64() * 65536.0;
                (lsr, d.min(f64::from(u32::MAX)) as u32)
            }
            None => (0, 0),
        }
    }

    /// The peer reported on our stream; `ntp_middle_now` is the middle 32
    /// bits of our NTP clock at arrival.
    pub fn on_report_block(&mut self, block: &ReportBlock, ntp_middle_now: u32) {
        self.remote_fraction_lost = Some(f64::from(block.fraction_lost) / 256.0);
        self.remote_jitter_ms = Some(f64::from(block.jitter) / CLOCK_KHZ);
        self.remote_cumulative_lost = Some(block.cumulative_lost);
        if block.last_sr != 0 {
            let rtt = ntp_middle_now
                .wrapping_sub(block.last_sr)
                .wrapping_sub(block.delay_since_last_sr);
            // A negative (wrapped) result means clock nonsense: ignore it.
            if rtt < 0x8000_0000 {
                self.rtt_ms = Some(f64::from(rtt) * 1000.0 / 65536.0);
            }
        }
    }

    /// [`Self::on_report_block`] with the current wall clock.
    pub fn on_report_block_now(&mut self, block: &ReportBlock) {
        self.on_report_block(block, ntp_middle(ntp_now()));
    }
}

/// Inputs of the simplified E-model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EModelInput {
    /// Packet loss in percent (Ppl).
    pub loss_percent: f64,
    /// Absolute one-way mouth-to-ear delay Ta in ms.
    pub one_way_delay_ms: f64,
    /// Whether the receiving end conceals loss (PLC).
    pub plc: bool,
    /// Burst ratio (1 = random loss).
    pub burst_ratio: f64,
}

impl Default for EModelInput {
    fn default() -> Self {
        Self {
            loss_percent: 0.0,
            one_way_delay_ms: 0.0,
            plc: true,
            burst_ratio: 1.0,
        }
    }
}

/// The default R of G.107 with no delay and no loss.
pub const R_DEFAULT: f64 = 93.2;

/// G.107's delay impairment Idd for an absolute delay `ta_ms`.
pub fn delay_impairment(ta_ms: f64) -> f64 {
    if ta_ms <= 100.0 {
        return 0.0;
    }
    let x = (ta_ms / 100.0).log2();
    let sixth = 1.0 / 6.0;
    25.0 * ((1.0 + x.powi(6)).powf(sixth) - 3.0 * (1.0 + (x / 3.0).powi(6)).powf(sixth) + 2.0)
}

/// Effective equipment impairment of G.711 (Ie = 0) under loss.
pub fn equipment_impairment(loss_percent: f64, plc: bool, burst_ratio: f64) -> f64 {
    let ie = 0.0;
    let bpl = if plc { 25.1 } else { 4.3 };
    let ppl = loss_percent.clamp(0.0, 100.0);
    let burst = burst_ratio.max(1.0);
    ie + (95.0 - ie) * ppl / (ppl / burst + bpl)
}

/// The transmission rating R for G.711.
pub fn r_factor(input: &EModelInput) -> f64 {
    let r = R_DEFAULT
        - delay_impairment(input.one_way_delay_ms)
        - equipment_impairment(input.loss_percent, input.plc, input.burst_ratio);
    r.clamp(0.0, 100.0)
}

/// MOS (conversational quality, estimated) from R (G.107 Annex B).
pub fn mos_from_r(r: f64) -> f64 {
    if r <= 0.0 {
        1.0
    } else if r >= 100.0 {
        4.5
    } else {
        1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6
    }
}

/// A snapshot of one leg's quality, sent periodically and when it closes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QualityReport {
    pub packets_received: u64,
    pub bytes_received: u64,
    pub packets_lost: i64,
    pub loss_percent: f64,
    pub jitter_ms: f64,
    pub rtt_ms: Option<f64>,
    pub packets_sent: u64,
    pub bytes_sent: u64,
    /// What the peer reported about our stream via RTCP.
    pub remote_loss_percent: Option<f64>,
    pub remote_jitter_ms: Option<f64>,
    /// Estimated one-way delay used by the E-model.
    pub one_way_delay_ms: f64,
    pub r_factor: f64,
    pub mos: f64,
}

impl QualityReport {
    /// Rate a leg from its receive statistics and RTCP state.
    pub fn rate(rx: &ReceiveStats, rtcp: &RtcpState, packets_sent: u64, bytes_sent: u64) -> Self {
        let jitter_ms = rx.jitter_ms();
        let one_way = rtcp.rtt_ms.unwrap_or(0.0) / 2.0 + 20.0 + 2.0 * jitter_ms;
        // The worse of the two directions decides what the caller hears.
        let remote_loss = rtcp.remote_fraction_lost.map(|f| f * 100.0);
        let loss = rx.loss_percent().max(remote_loss.unwrap_or(0.0));
        let r = r_factor(&EModelInput {
            loss_percent: loss,
            one_way_delay_ms: one_way,
            ..EModelInput::default()
        });
        Self {
            packets_received: rx.packets,
            bytes_received: rx.bytes,
            packets_lost: rx.lost(),
            loss_percent: rx.loss_percent(),
            jitter_ms,
            rtt_ms: rtcp.rtt_ms,
            packets_sent,
            bytes_sent,
            remote_loss_percent: remote_loss,
            remote_jitter_ms: rtcp.remote_jitter_ms,
            one_way_delay_ms: one_way,
            r_factor: r,
            mos: mos_from_r(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, eps: f64) -> bool {
        (a - b).abs() <= eps
    }

    #[test]
    fn counts_loss_across_sequence_wrap() {
        let mut s = ReceiveStats::default();
        let mut seq: u16 = 65530;
        for i in 0..20u32 {
            if i != 7 && i != 8 {
                s.on_packet(1, seq, i * 160, i * 160, 160, true);
            }
            seq = seq.wrapping_add(1);
        }
        assert_eq!(s.expected(), 20);
        assert_eq!(s.lost(), 2);
        assert!(close(s.loss_percent(), 10.0, 1e-9));
        assert_eq!(s.packets, 18);
        let rb = s.report_block(0, 0).unwrap();
        assert_eq!(rb.highest_seq, (1 << 16) + 13);
        assert_eq!(rb.cumulative_lost, 2);
        assert_eq!(rb.fraction_lost, (2 * 256 / 20) as u8);
        // Next interval without loss reports 0.
        s.on_packet(1, seq, 20 * 160, 20 * 160, 160, true);
        assert_eq!(s.report_block(0, 0).unwrap().fraction_lost, 0);
    }

    #[test]
    fn reordered_and_duplicate_packets() {
        let mut s = ReceiveStats::default();
        for seq in [10u16, 12, 11, 13, 13] {
            s.on_packet(1, seq, 0, 0, 10, false);
        }
        assert_eq!(s.expected(), 4);
        assert_eq!(s.lost(), 0);
        // An SSRC change keeps the history.
        s.on_packet(2, 500, 0, 0, 10, false);
        s.on_packet(2, 502, 0, 0, 10, false);
        assert_eq!(s.expected(), 7);
        assert_eq!(s.lost(), 1);
    }

    #[test]
    fn jitter_follows_rfc3550_a8() {
        let mut s = ReceiveStats::default();
        // Perfectly paced: no jitter.
        for i in 0..50u32 {
            s.on_packet(1, i as u16, i * 160, 1000 + i * 160, 160, true);
        }
        assert_eq!(s.jitter(), 0);
        // Arrival offset alternating between 0 and 40 samples: |D| = 40
        // each time, J converges to 40 samples = 5 ms.
        for i in 50..600u32 {
            let off = if i % 2 == 0 { 40 } else { 0 };
            s.on_packet(1, i as u16, i * 160, 1000 + i * 160 + off, 160, true);
        }
        assert!(close(s.jitter_ms(), 5.0, 0.2), "{}", s.jitter_ms());
    }

    #[test]
    fn rtt_from_lsr_dlsr() {
        let mut st = RtcpState::default();
        // We sent an SR at middle time 0x0001_0000 (1 s); the peer held it
        // 0.5 s; it arrives back at 1.75 s: RTT 250 ms.
        let block = ReportBlock {
            last_sr: 0x0001_0000,
            delay_since_last_sr: 0x8000,
            fraction_lost: 64,
            jitter: 80,
            ..ReportBlock::default()
        };
        st.on_report_block(&block, 0x0001_c000);
        assert!(close(st.rtt_ms.unwrap(), 250.0, 1e-9));
        assert!(close(st.remote_fraction_lost.unwrap(), 0.25, 1e-9));
        assert!(close(st.remote_jitter_ms.unwrap(), 10.0, 1e-9));
        // No SR seen by the peer: no RTT.
        let mut st = RtcpState::default();
        st.on_report_block(&ReportBlock::default(), 5);
        assert_eq!(st.rtt_ms, None);
    }

    #[test]
    fn emodel_known_values() {
        let r = r_factor(&EModelInput::default());
        assert!(close(r, 93.2, 1e-9));
        assert!(close(mos_from_r(r), 4.41, 0.005), "{}", mos_from_r(r));
        // Delay only: Idd(150 ms) ~ 0.16, Idd(400 ms) ~ 24.1 (G.107 eq. 7-28).
        assert!(close(delay_impairment(100.0), 0.0, 1e-12));
        assert!(close(delay_impairment(150.0), 0.164, 0.005));
        assert!(close(delay_impairment(400.0), 24.07, 0.02));
        // 1% random loss: Ie,eff = 95 / (1 + 25.1) = 3.64 with PLC,
        // 95 / (1 + 4.3) = 17.92 without.
        let plc = r_factor(&EModelInput {
            loss_percent: 1.0,
            ..EModelInput::default()
        });
        assert!(close(plc, 93.2 - 95.0 / 26.1, 1e-9));
        let no_plc = r_factor(&EModelInput {
            loss_percent: 1.0,
            plc: false,
            ..EModelInput::default()
        });
        assert!(close(no_plc, 93.2 - 95.0 / 5.3, 1e-9));
        // MOS at the textbook thresholds.
        assert!(close(mos_from_r(80.0), 4.02, 0.01));
        assert!(close(mos_from_r(50.0), 2.58, 0.01));
        assert_eq!(mos_from_r(-5.0), 1.0);
        assert_eq!(mos_from_r(120.0), 4.5);
    }

    #[test]
    fn report_rates_a_leg() {
        let mut rx = ReceiveStats::default();
        for i in 0..100u32 {
            if i % 10 != 0 || i == 0 {
                rx.on_packet(9, i as u16, i * 160, i * 160, 172, true);
            }
        }
        let q = QualityReport::rate(&rx, &RtcpState::default(), 3, 516);
        assert_eq!(q.packets_lost, 9);
        assert!(close(q.loss_percent, 9.0, 0.5));
        assert!(q.r_factor < 80.0 && q.mos < 4.1);
        assert_eq!(q.packets_sent, 3);
    }
}
