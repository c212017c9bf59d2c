//! The packet path: what happens to each RTP and RTCP datagram a leg
//! receives. Everything here works on the session's two reused buffers
//! and the legs' fixed state; nothing allocates.

use std::net::SocketAddr;
use std::time::Instant;

use super::events::EventQueue;
use super::leg::{LegState, Playing};
use super::stream::Stamp;
use super::task::SessionTask;
use super::{DtmfVia, LegId, MediaEvent, PlayEnd, RecordSink};
use crate::Detection;
use crate::codec::{Codec, transcode};
use crate::rfc4733::{ReceivedDigit, TelephoneEvent};
use crate::rtp::rtcp::{RtcpPacket, ntp_middle, ntp_now, parse_compound};
use crate::rtp::{RTP_HEADER_LEN, RtpHeader, RtpPacket};

/// A digit from a leg: report it and stop a playback that stops on DTMF.
pub(super) fn on_digit(
    leg: LegId,
    play: &mut Option<Playing>,
    events: &mut EventQueue,
    digit: char,
    duration_ms: u32,
    via: DtmfVia,
) {
    events.push(MediaEvent::Dtmf {
        leg,
        digit,
        duration_ms,
        via,
    });
    if play.as_ref().is_some_and(|p| p.options.stop_on_dtmf)
        && let Some(p) = play.take()
    {
        events.push(MediaEvent::PlayEnded {
            leg,
            reason: PlayEnd::Dtmf(digit),
            tag: p.options.tag,
        });
    }
}

impl SessionTask {
    pub(super) fn on_rtp(&mut self, i: usize, len: usize, from: SocketAddr, now: Instant) {
        let arrival = self.arrival_ts(now);
        let mut regenerated = false;
        let Self {
            legs,
            rx_buf,
            tx_buf,
            events,
            recorder,
            mix,
            ..
        } = self;
        let leg = &mut legs[i];
        let pkt = match RtpPacket::parse(&rx_buf[..len]) {
            Ok(p) => p,
            Err(_) => {
                leg.counters.malformed += 1;
                return;
            }
        };
        let Some(remote) = leg.remote else {
            leg.counters.not_ready += 1;
            return;
        };
        let pt = pkt.payload_type();
        let audio = if pt == remote.negotiated.payload_type {
            true
        } else if remote.negotiated.telephone_event == Some(pt) {
            false
        } else {
            leg.counters.unknown_pt += 1;
            return;
        };
        // A malformed event must not latch the leg.
        let event = if audio {
            None
        } else {
            match TelephoneEvent::parse(pkt.payload()) {
                Ok(ev) => Some(ev),
                Err(_) => {
                    leg.counters.malformed += 1;
                    return;
                }
            }
        };
        match leg.latched {
            Some(a) if a == from => {}
            Some(_) => {
                leg.counters.spoofed += 1;
                return;
            }
            None => {
                if from != remote.rtp && !leg.options.latch_any_source {
                    leg.counters.spoofed += 1;
                    return;
                }
                leg.latched = Some(from);
                events.push(MediaEvent::Latched {
                    leg: leg.id,
                    source: from,
                });
            }
        }
        leg.last_rx = now;
        leg.timed_out = false;
        leg.rx.on_packet(
            pkt.ssrc(),
            pkt.sequence(),
            pkt.timestamp(),
            arrival,
            pkt.payload().len(),
            audio,
        );
        let codec = remote.negotiated.codec;
        let tx = &mut tx_buf[..];
        match event {
            None => {
                if leg.needs_pcm(recorder.is_some()) {
                    decode_frames(leg, recorder, events, codec, pkt.payload());
                }
                forward(legs, i, &pkt, Some(codec), tx, now);
            }
            Some(ev) => {
                let mut got: [Option<ReceivedDigit>; 2] = [None; 2];
                let mut n = 0;
                leg.dtmf_rx.on_packet(pkt.timestamp(), &ev, now, |d| {
                    if n < got.len() {
                        got[n] = Some(d);
                        n += 1;
                    }
                });
                for d in got.iter().flatten() {
                    on_digit(
                        leg.id,
                        &mut leg.play,
                        events,
                        d.digit,
                        d.duration_ms,
                        DtmfVia::Rfc4733,
                    );
                }
                if leg.options.forward_dtmf {
                    forward(legs, i, &pkt, None, tx, now);
                    if let Some((matrix, _)) = mix.as_ref() {
                        for d in got.iter().flatten() {
                            regenerated |= regenerate_in_mix(legs, i, matrix, d);
                        }
                    }
                }
            }
        }
        if regenerated {
            self.ensure_clock();
        }
    }

    pub(super) fn on_rtcp(&mut self, i: usize, len: usize, from: SocketAddr, now: Instant) {
        let Self { legs, rx_buf, .. } = self;
        let leg = &mut legs[i];
        let Some(remote) = leg.remote else {
            leg.counters.rtcp_dropped += 1;
            return;
        };
        let allowed = match leg.rtcp_latched {
            Some(a) => a == from,
            None => {
                leg.latched.is_some_and(|l| l.ip() == from.ip())
                    || from == remote.rtcp_addr()
                    || (leg.latched.is_none() && leg.options.latch_any_source)
            }
        };
        if !allowed {
            leg.counters.rtcp_dropped += 1;
            return;
        }
        let buf = &rx_buf[..len];
        // RFC 3550 §6.1: a compound packet starts with an SR or RR.
        match parse_compound(buf).next() {
            Some(Ok(RtcpPacket::SenderReport { .. } | RtcpPacket::ReceiverReport { .. })) => {}
            _ => {
                leg.counters.rtcp_dropped += 1;
                return;
            }
        }
        leg.counters.rtcp_received += 1;
        if leg.rtcp_latched.is_none() {
            leg.rtcp_latched = Some(from);
        }
        let ntp_mid = ntp_middle(ntp_now());
        let ours = leg.out.ssrc;
        for p in parse_compound(buf) {
            let reports = match p {
                Ok(RtcpPacket::SenderReport { info, reports, .. }) => {
                    leg.rtcp_state.on_sender_report(info.ntp, now);
                    reports
                }
                Ok(RtcpPacket::ReceiverReport { reports, .. }) => reports,
                Ok(RtcpPacket::Other { .. }) => continue,
                Err(_) => break,
            };
            for b in reports.iter().filter(|b| b.ssrc == ours) {
                leg.rtcp_state.on_report_block(&b, ntp_mid);
            }
        }
    }
}

/// In a mix every listener's stream is made by Omnivox, so a digit cannot
/// pass as received packets: each leg that hears the source in `matrix`
/// (and negotiated telephone-event) sends the finished digit on its own
/// clock. Returns whether any leg queued it.
fn regenerate_in_mix(
    legs: &mut [LegState],
    i: usize,
    matrix: &super::MixMatrix,
    digit: &ReceivedDigit,
) -> bool {
    let src = legs[i].id;
    let mut queued = false;
    for (j, dst) in legs.iter_mut().enumerate() {
        let hears = matrix.hears(dst.id, src);
        let events = dst
            .remote
            .is_some_and(|r| r.negotiated.telephone_event.is_some());
        if j != i && hears && events {
            dst.dtmf_queue.push_back((digit.digit, digit.duration_ms));
            queued = true;
        }
    }
    queued
}

/// Decode a leg's audio into frames for its analyzers, the recorder and
/// the mix.
fn decode_frames(
    leg: &mut LegState,
    recorder: &mut Option<Box<dyn RecordSink>>,
    events: &mut EventQueue,
    codec: Codec,
    payload: &[u8],
) {
    let LegState {
        id,
        assembler,
        analyzers,
        play,
        mix_in,
        record,
        ..
    } = leg;
    let mut off = 0;
    while let Some(frame) = assembler.feed(codec, payload, &mut off) {
        if let Some(mix_in) = mix_in {
            // Recorded from the mix, once per media tick (`record_customer_side`).
            mix_in.push(frame);
        } else if let (Some(ch), Some(sink)) = (record.as_ref(), recorder.as_mut()) {
            sink.push(*ch, frame);
        }
        for a in analyzers.iter_mut() {
            match a.analyze(frame) {
                None => {}
                Some(Detection::Digit { digit, duration_ms }) => {
                    on_digit(*id, play, events, digit, duration_ms, DtmfVia::InBand);
                }
                Some(detection) => events.push(MediaEvent::Detection {
                    leg: *id,
                    detection,
                }),
            }
        }
    }
}

/// Send a packet of leg `i` to every leg that hears it. `codec` is the
/// source's audio codec, `None` for a telephone-event.
fn forward(
    legs: &mut [LegState],
    i: usize,
    pkt: &RtpPacket<'_>,
    codec: Option<Codec>,
    tx: &mut [u8],
    now: Instant,
) {
    let src = legs[i].id;
    let payload = pkt.payload();
    for (j, dst) in legs.iter_mut().enumerate() {
        if j == i || dst.hears != Some(src) || dst.generating() {
            continue;
        }
        let Some(remote) = dst.remote else {
            continue;
        };
        if !remote.direction.peer_receives() {
            continue;
        }
        let payload_type = match codec {
            Some(_) => remote.negotiated.payload_type,
            None => match remote.negotiated.telephone_event {
                Some(pt) => pt,
                None => continue,
            },
        };
        let input = Stamp {
            seq: pkt.sequence(),
            ts: pkt.timestamp(),
            marker: pkt.marker(),
        };
        let samples = if codec.is_some() {
            payload.len() as u32
        } else {
            0
        };
        let stamp = dst.out.relayed(src, pkt.ssrc(), input, samples, now);
        let header = RtpHeader {
            marker: stamp.marker,
            payload_type,
            sequence: stamp.seq,
            timestamp: stamp.ts,
            ssrc: dst.out.ssrc,
        };
        if header.write(tx).is_err() {
            continue;
        }
        let body = &mut tx[RTP_HEADER_LEN..];
        let n = match codec {
            Some(from) => transcode(from, remote.negotiated.codec, payload, body),
            None => {
                let n = payload.len().min(body.len());
                body[..n].copy_from_slice(&payload[..n]);
                n
            }
        };
        dst.send(&tx[..RTP_HEADER_LEN + n], n);
    }
}
