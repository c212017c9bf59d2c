//! The outgoing RTP line of one leg: one SSRC for the leg's lifetime, and
//! sequence numbers and timestamps that stay continuous when the source of
//! what the leg hears changes.
//!
//! Relayed packets keep their own spacing (gaps from loss stay gaps,
//! reordering stays reordering) through per-source offsets; a source
//! change re-anchors the offsets at the next sequence number and at a
//! timestamp advanced by the wall time since the last packet, and sets
//! the marker bit.

use std::time::Instant;

use super::LegId;
use crate::FRAME_SAMPLES;
use crate::codec::CLOCK_RATE;

const FRAME: u32 = FRAME_SAMPLES as u32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    None,
    /// Frames made by the session (playback, mix, DTMF we send).
    Generated,
    /// Packets of another leg, per SSRC it uses.
    Relayed {
        leg: LegId,
        ssrc: u32,
    },
}

/// Sequence and timestamp state of a leg's outgoing stream.
#[derive(Debug)]
pub(crate) struct OutStream {
    pub ssrc: u32,
    next_seq: u16,
    /// Timestamp just after the last packet's media.
    next_ts: u32,
    last_sent: Option<Instant>,
    source: Source,
    seq_off: u16,
    ts_off: u32,
}

/// Header fields for one outgoing packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub seq: u16,
    pub ts: u32,
    pub marker: bool,
}

impl OutStream {
    pub fn new(seed: u64) -> Self {
        Self {
            ssrc: seed as u32,
            next_seq: (seed >> 32) as u16,
            next_ts: (seed >> 16) as u32 & 0xffff_ff00,
            last_sent: None,
            source: Source::None,
            seq_off: 0,
            ts_off: 0,
        }
    }

    /// Timestamp for the first packet of a new source: after the last
    /// packet, plus the silence since it (in whole frames).
    fn resume_ts(&self, now: Instant) -> u32 {
        let Some(last) = self.last_sent else {
            return self.next_ts;
        };
        let elapsed = now.saturating_duration_since(last);
        let samples = (elapsed.as_micros() as u64 * u64::from(CLOCK_RATE) / 1_000_000) as u32;
        let gap = samples.saturating_sub(FRAME) / FRAME * FRAME;
        self.next_ts.wrapping_add(gap)
    }

    /// Stamp a packet relayed from `leg` with its own seq/ts.
    pub fn relayed(
        &mut self,
        leg: LegId,
        ssrc: u32,
        input: Stamp,
        samples: u32,
        now: Instant,
    ) -> Stamp {
        let Stamp {
            seq,
            ts,
            mut marker,
        } = input;
        let src = Source::Relayed { leg, ssrc };
        if self.source != src {
            let start = self.resume_ts(now);
            self.seq_off = self.next_seq.wrapping_sub(seq);
            self.ts_off = start.wrapping_sub(ts);
            self.source = src;
            marker = true;
        }
        let out_seq = seq.wrapping_add(self.seq_off);
        let out_ts = ts.wrapping_add(self.ts_off);
        // Only a newer packet moves the line forward (reordering).
        if out_seq.wrapping_sub(self.next_seq) < 0x8000 {
            self.next_seq = out_seq.wrapping_add(1);
            let end = out_ts.wrapping_add(samples);
            if end.wrapping_sub(self.next_ts) < 0x8000_0000 {
                self.next_ts = end;
            }
        }
        self.last_sent = Some(now);
        Stamp {
            seq: out_seq,
            ts: out_ts,
            marker,
        }
    }

    /// Stamp a generated audio frame of `samples`.
    pub fn generated(&mut self, samples: u32, now: Instant) -> Stamp {
        let marker = self.source != Source::Generated;
        let ts = if marker {
            self.resume_ts(now)
        } else {
            self.next_ts
        };
        self.source = Source::Generated;
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        self.next_ts = ts.wrapping_add(samples);
        self.last_sent = Some(now);
        Stamp { seq, ts, marker }
    }

    /// Stamp a packet of a generated telephone-event. The first packet of
    /// an event picks the start timestamp; later ones repeat it, and the
    /// line moves to start + `duration`.
    pub fn event(&mut self, start: Option<u32>, duration: u16, now: Instant) -> Stamp {
        let ts = match start {
            Some(ts) => ts,
            None if self.source == Source::Generated => self.next_ts,
            None => self.resume_ts(now),
        };
        self.source = Source::Generated;
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        self.next_ts = ts.wrapping_add(u32::from(duration).max(FRAME));
        self.last_sent = Some(now);
        Stamp {
            seq,
            ts,
            marker: start.is_none(),
        }
    }

    /// Our RTP clock at `now`, for the SR's RTP timestamp.
    pub fn ts_at(&self, now: Instant) -> u32 {
        match self.last_sent {
            Some(last) => {
                let us = now.saturating_duration_since(last).as_micros() as u64;
                self.next_ts
                    .wrapping_add((us * u64::from(CLOCK_RATE) / 1_000_000) as u32)
                    .wrapping_sub(FRAME)
            }
            None => self.next_ts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn st(seq: u16, ts: u32) -> Stamp {
        Stamp {
            seq,
            ts,
            marker: false,
        }
    }

    #[test]
    fn switches_keep_one_line() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut s = OutStream::new(0x1234_5678_9abc_def0);
        // Generated prompt: 3 frames.
        let a: Vec<_> = (0..3).map(|i| s.generated(160, ms(20 * i))).collect();
        assert!(a[0].marker && !a[1].marker);
        assert_eq!(a[1].seq, a[0].seq.wrapping_add(1));
        assert_eq!(a[2].ts, a[0].ts.wrapping_add(320));
        // The bridged party arrives with its own numbering 20 ms later.
        let leg = LegId(7);
        let b0 = s.relayed(leg, 99, st(5000, 777_000), 160, ms(60));
        assert!(b0.marker);
        assert_eq!(b0.seq, a[2].seq.wrapping_add(1));
        assert_eq!(b0.ts, a[2].ts.wrapping_add(160));
        // A lost packet keeps its gap; a late one goes back.
        let b2 = s.relayed(leg, 99, st(5002, 777_320), 160, ms(100));
        assert_eq!(b2.seq, b0.seq.wrapping_add(2));
        assert_eq!(b2.ts, b0.ts.wrapping_add(320));
        assert!(!b2.marker);
        let b1 = s.relayed(leg, 99, st(5001, 777_160), 160, ms(101));
        assert_eq!(b1.seq, b0.seq.wrapping_add(1));
        // Hold music starts ~1 s after the last packet: ts jumps by the
        // silence, rounded down to whole frames.
        let h = s.generated(160, ms(1100));
        assert!(h.marker);
        assert_eq!(h.seq, b2.seq.wrapping_add(1));
        let gap = h.ts.wrapping_sub(b2.ts);
        assert!((7680..=8000).contains(&gap), "{gap}");
    }

    #[test]
    fn events_repeat_their_start() {
        let t0 = Instant::now();
        let mut s = OutStream::new(42);
        let first = s.event(None, 160, t0);
        assert!(first.marker);
        let next = s.event(Some(first.ts), 320, t0 + Duration::from_millis(20));
        assert_eq!(next.ts, first.ts);
        assert!(!next.marker);
        assert_eq!(next.seq, first.seq.wrapping_add(1));
        let after = s.generated(160, t0 + Duration::from_millis(40));
        assert_eq!(after.ts, first.ts.wrapping_add(320));
        assert!(!after.marker);
    }
}
