//! RFC 4733 telephone-events (DTMF digits carried as RTP events).
//!
//! A digit travels as several packets that all carry the same RTP
//! timestamp (the event's start): a first packet with the marker bit,
//! updates with a growing duration, and (for loss resilience) three copies
//! of the end packet. [`DtmfReceiver`] folds that redundancy back into one
//! digit with its duration; [`DtmfSender`] produces the sequence for one
//! digit, one packet per call, so the relay can pace it on its 20 ms clock
//! without allocating.
//!
//! The payload layout and digit mapping come from audio-codec.

use std::time::{Duration, Instant};

use audio_codec::telephone_event::{digit_to_event, encode_event_payload, event_to_digit};
use thiserror::Error;

use crate::codec::CLOCK_RATE;

/// Default volume of events we send: -10 dBm0.
pub const DEFAULT_VOLUME: u8 = 10;
/// Shortest digit we send (RFC 4733 recommends at least 40 ms).
pub const MIN_DURATION_MS: u32 = 40;
/// A started event whose end never arrives is reported after this silence.
pub const END_TIMEOUT: Duration = Duration::from_millis(500);

/// Malformed events or unsupported digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DtmfError {
    #[error("telephone-event payload of {0} bytes, expected at least 4")]
    Truncated(usize),
    #[error("{0:?} is not a DTMF digit (0-9, *, #, A-D)")]
    UnknownDigit(char),
}

/// One telephone-event payload (RFC 4733 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code: 0-9, 10 `*`, 11 `#`, 12-15 `A`-`D`, others (tones) exist.
    pub event: u8,
    /// The E bit: this is an end packet.
    pub end: bool,
    /// Volume as a positive number of -dBm0 (0-63).
    pub volume: u8,
    /// Duration so far, in timestamp units (8 kHz samples).
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parse the first event block of a payload.
    pub fn parse(payload: &[u8]) -> Result<Self, DtmfError> {
        if payload.len() < 4 {
            return Err(DtmfError::Truncated(payload.len()));
        }
        Ok(Self {
            event: payload[0],
            end: payload[1] & 0x80 != 0,
            volume: payload[1] & 0x3f,
            duration: u16::from_be_bytes([payload[2], payload[3]]),
        })
    }

    /// The 4-byte payload.
    pub fn to_bytes(&self) -> [u8; 4] {
        encode_event_payload(self.event, self.end, self.volume, self.duration)
    }

    /// The DTMF digit of this event, if it is one.
    pub fn digit(&self) -> Option<char> {
        (self.event <= 15).then(|| event_to_digit(self.event))
    }
}

/// The event code of a digit (case-insensitive for A-D).
pub fn event_code(digit: char) -> Result<u8, DtmfError> {
    digit_to_event(digit).ok_or(DtmfError::UnknownDigit(digit))
}

/// A digit reassembled from its packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedDigit {
    pub digit: char,
    pub duration_ms: u32,
    /// True when the end packets were all lost and the digit was closed by
    /// a following event or by [`END_TIMEOUT`].
    pub end_lost: bool,
}

#[derive(Debug, Clone, Copy)]
struct Current {
    timestamp: u32,
    event: u8,
    duration: u16,
    last_seen: Instant,
}

/// Turns the packets of a leg's telephone-event stream into digits.
#[derive(Debug, Default)]
pub struct DtmfReceiver {
    current: Option<Current>,
    /// Timestamp of the last event reported, so its late duplicates (the
    /// second and third end packet) are ignored.
    reported: Option<u32>,
}

impl DtmfReceiver {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed one packet (its RTP timestamp and event); `emit` is called for
    /// each digit that completed (at most two: an unterminated previous one
    /// and this one).
    pub fn on_packet(
        &mut self,
        timestamp: u32,
        ev: &TelephoneEvent,
        now: Instant,
        mut emit: impl FnMut(ReceivedDigit),
    ) {
        if self.reported == Some(timestamp) {
            return;
        }
        match &mut self.current {
            Some(c) if c.timestamp == timestamp => {
                c.duration = c.duration.max(ev.duration);
                c.last_seen = now;
            }
            _ => {
                if let Some(prev) = self.current.take() {
                    self.reported = Some(prev.timestamp);
                    emit(Self::digit_of(&prev, true));
                }
                self.current = Some(Current {
                    timestamp,
                    event: ev.event,
                    duration: ev.duration,
                    last_seen: now,
                });
            }
        }
        if ev.end
            && let Some(c) = self.current.take()
        {
            self.reported = Some(c.timestamp);
            emit(Self::digit_of(&c, false));
        }
    }

    /// Close an event whose end packets never came; call it periodically.
    pub fn flush_stale(&mut self, now: Instant) -> Option<ReceivedDigit> {
        let c = self.current?;
        if now.saturating_duration_since(c.last_seen) < END_TIMEOUT {
            return None;
        }
        self.current = None;
        self.reported = Some(c.timestamp);
        Some(Self::digit_of(&c, true))
    }

    fn digit_of(c: &Current, end_lost: bool) -> ReceivedDigit {
        ReceivedDigit {
            digit: if c.event <= 15 {
                event_to_digit(c.event)
            } else {
                '?'
            },
            duration_ms: u32::from(c.duration) * 1000 / CLOCK_RATE,
            end_lost,
        }
    }
}

/// One packet of an outgoing event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPacket {
    pub payload: [u8; 4],
    /// Set on the first packet of the event.
    pub marker: bool,
    pub end: bool,
}

/// Produces the packets of one digit: updates every `step` samples, then
/// three end packets.
#[derive(Debug, Clone)]
pub struct DtmfSender {
    event: u8,
    total: u16,
    sent_duration: u16,
    ends_sent: u8,
    started: bool,
}

impl DtmfSender {
    /// A digit lasting `duration_ms` (clamped to 40 ms .. 8.19 s, the
    /// longest one 16-bit duration field holds).
    pub fn new(digit: char, duration_ms: u32) -> Result<Self, DtmfError> {
        let event = event_code(digit)?;
        let samples = u64::from(duration_ms.max(MIN_DURATION_MS)) * u64::from(CLOCK_RATE) / 1000;
        Ok(Self {
            event,
            total: samples.min(u64::from(u16::MAX)) as u16,
            sent_duration: 0,
            ends_sent: 0,
            started: false,
        })
    }

    /// The next packet when `step` more samples of time have passed since
    /// the previous one (160 for a 20 ms clock); `None` once all three end
    /// packets are out.
    pub fn next_packet(&mut self, step: u16) -> Option<EventPacket> {
        if self.ends_sent >= 3 {
            return None;
        }
        let marker = !self.started;
        self.started = true;
        let next = self.sent_duration.saturating_add(step);
        let end = next >= self.total;
        let duration = if end { self.total } else { next };
        self.sent_duration = duration;
        if end {
            self.ends_sent += 1;
        }
        Some(EventPacket {
            payload: encode_event_payload(self.event, end, DEFAULT_VOLUME, duration),
            marker,
            end,
        })
    }

    /// All packets sent.
    pub fn finished(&self) -> bool {
        self.ends_sent >= 3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_build() {
        let ev = TelephoneEvent::parse(&[11, 0x8a, 0x03, 0x20]).unwrap();
        assert_eq!(
            ev,
            TelephoneEvent {
                event: 11,
                end: true,
                volume: 10,
                duration: 800
            }
        );
        assert_eq!(ev.digit(), Some('#'));
        assert_eq!(ev.to_bytes(), [11, 0x8a, 0x03, 0x20]);
        assert_eq!(
            TelephoneEvent::parse(&[1, 2, 3]),
            Err(DtmfError::Truncated(3))
        );
        let tone = TelephoneEvent::parse(&[32, 0, 0, 0]).unwrap();
        assert_eq!(tone.digit(), None);
        assert_eq!(event_code('x'), Err(DtmfError::UnknownDigit('x')));
        assert_eq!(event_code('d'), Ok(15));
    }

    fn collect(
        rx: &mut DtmfReceiver,
        ts: u32,
        payload: [u8; 4],
        now: Instant,
    ) -> Vec<ReceivedDigit> {
        let mut out = Vec::new();
        rx.on_packet(ts, &TelephoneEvent::parse(&payload).unwrap(), now, |d| {
            out.push(d)
        });
        out
    }

    #[test]
    fn sender_sequence_feeds_receiver_into_one_digit() {
        let mut tx = DtmfSender::new('7', 100).unwrap();
        let mut packets = Vec::new();
        while let Some(p) = tx.next_packet(160) {
            packets.push(p);
        }
        assert!(tx.finished());
        // 160, 320, 480, 640, then end at 800 three times.
        assert_eq!(packets.len(), 7);
        assert!(packets[0].marker && packets[1..].iter().all(|p| !p.marker));
        assert_eq!(packets.iter().filter(|p| p.end).count(), 3);
        let durations: Vec<u16> = packets
            .iter()
            .map(|p| u16::from_be_bytes([p.payload[2], p.payload[3]]))
            .collect();
        assert_eq!(durations, vec![160, 320, 480, 640, 800, 800, 800]);

        let mut rx = DtmfReceiver::new();
        let now = Instant::now();
        let mut digits = Vec::new();
        for p in &packets {
            digits.extend(collect(&mut rx, 1234, p.payload, now));
        }
        assert_eq!(
            digits,
            vec![ReceivedDigit {
                digit: '7',
                duration_ms: 100,
                end_lost: false
            }]
        );
    }

    #[test]
    fn lost_end_closed_by_next_event_and_by_timeout() {
        let mut rx = DtmfReceiver::new();
        let t0 = Instant::now();
        assert!(collect(&mut rx, 100, [1, 0x0a, 0, 160], t0).is_empty());
        assert!(collect(&mut rx, 100, [1, 0x0a, 1, 64], t0).is_empty());
        // Next event (new timestamp), and it is a lone end packet.
        let d = collect(&mut rx, 2000, [2, 0x8a, 1, 64], t0);
        assert_eq!(d.len(), 2);
        assert_eq!(
            (d[0].digit, d[0].duration_ms, d[0].end_lost),
            ('1', 40, true)
        );
        assert_eq!((d[1].digit, d[1].end_lost), ('2', false));
        // Duplicate end packets of a reported event are ignored.
        assert!(collect(&mut rx, 2000, [2, 0x8a, 1, 64], t0).is_empty());

        assert!(collect(&mut rx, 4000, [12, 0x0a, 0, 160], t0).is_empty());
        assert_eq!(rx.flush_stale(t0 + Duration::from_millis(100)), None);
        let d = rx.flush_stale(t0 + END_TIMEOUT).unwrap();
        assert_eq!((d.digit, d.end_lost), ('A', true));
        assert_eq!(rx.flush_stale(t0 + END_TIMEOUT * 2), None);
    }

    #[test]
    fn sender_clamps_durations() {
        let mut short = DtmfSender::new('1', 0).unwrap();
        // 0 ms becomes 40 ms = 320 samples: one update, then the ends.
        let first = short.next_packet(160).unwrap();
        assert!(first.marker && !first.end);
        let end = short.next_packet(160).unwrap();
        assert!(end.end && !end.marker);
        assert_eq!(u16::from_be_bytes([end.payload[2], end.payload[3]]), 320);
        let mut long = DtmfSender::new('#', u32::MAX).unwrap();
        let mut last = None;
        while let Some(p) = long.next_packet(u16::MAX) {
            last = Some(p);
        }
        let last = last.unwrap();
        assert_eq!(
            u16::from_be_bytes([last.payload[2], last.payload[3]]),
            u16::MAX
        );
        assert!(DtmfSender::new('z', 100).is_err());
    }
}
