//! The session task: one per call, owning its legs. Waits on the legs'
//! sockets, the command channel and its clocks in one `poll_fn`, and
//! handles what is ready.

use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::ReadBuf;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{Interval, MissedTickBehavior};

use super::command::Command;
use super::events::EventQueue;
use super::leg::{LegState, MixInput, Playing, Sending};
use super::mixing::FrameMixer;
use super::{LegId, MediaConfig, MediaEvent, MixMatrix, PlayEnd, RecordSink, RelayError};
use crate::ports::PortPair;
use crate::rfc4733::DtmfSender;
use crate::rtp::rtcp::{
    SenderInfo, ntp_now, write_receiver_report, write_sdes_cname, write_sender_report,
};
use crate::rtp::{RTP_HEADER_LEN, RtpHeader};
use crate::{Channel, FRAME_SAMPLES, Frame};

/// Receive/send buffer size: above any UDP payload on an Ethernet path.
pub(super) const BUF_LEN: usize = 2048;
const MEDIA_TICK: Duration = Duration::from_millis(20);

enum Wake {
    Rtp(usize, usize, SocketAddr),
    Rtcp(usize, usize, SocketAddr),
    RecvError,
    Command(Command),
    Closed,
    MediaTick,
    Housekeeping,
}

pub(crate) struct SessionTask {
    pub(super) config: Arc<MediaConfig>,
    commands: mpsc::Receiver<Command>,
    pub(super) legs: Vec<LegState>,
    pub(super) rx_buf: Box<[u8; BUF_LEN]>,
    pub(super) tx_buf: Box<[u8; BUF_LEN]>,
    pub(super) events: EventQueue,
    pub(super) recorder: Option<Box<dyn RecordSink>>,
    pub(super) mix: Option<(MixMatrix, Box<dyn FrameMixer>)>,
    epoch: Instant,
    media_tick: Option<Interval>,
    housekeeping: Option<Interval>,
    rr: usize,
    random: RandomState,
}

impl SessionTask {
    pub fn new(
        config: Arc<MediaConfig>,
        commands: mpsc::Receiver<Command>,
        events: mpsc::Sender<MediaEvent>,
    ) -> Self {
        Self {
            config,
            commands,
            legs: Vec::new(),
            rx_buf: Box::new([0; BUF_LEN]),
            tx_buf: Box::new([0; BUF_LEN]),
            events: EventQueue::new(events),
            recorder: None,
            mix: None,
            epoch: Instant::now(),
            media_tick: None,
            housekeeping: None,
            rr: 0,
            random: RandomState::new(),
        }
    }

    fn housekeeping_period(&self) -> Duration {
        self.config.rtp_timeout.map_or(Duration::from_secs(1), |t| {
            (t / 4).clamp(Duration::from_millis(50), Duration::from_secs(1))
        })
    }

    /// Arrival time in 8 kHz timestamp units, for jitter.
    pub(super) fn arrival_ts(&self, now: Instant) -> u32 {
        (now.saturating_duration_since(self.epoch).as_micros() as u64 * 8 / 1000) as u32
    }

    pub async fn run(mut self) {
        // Timers are created here, inside the runtime that runs the task.
        // A random phase spreads the housekeeping of sessions created
        // together (timeouts, RTCP) instead of bursting them in one tick.
        let period = self.housekeeping_period();
        let phase = self.random.hash_one(self.epoch) % (period.as_micros() as u64).max(1);
        let start = tokio::time::Instant::now() + Duration::from_micros(phase);
        let mut hk = tokio::time::interval_at(start, period);
        hk.set_missed_tick_behavior(MissedTickBehavior::Delay);
        self.housekeeping = Some(hk);
        loop {
            let wake = std::future::poll_fn(|cx| self.poll_wake(cx)).await;
            let now = Instant::now();
            match wake {
                Wake::Rtp(i, len, from) => self.on_rtp(i, len, from, now),
                Wake::Rtcp(i, len, from) => self.on_rtcp(i, len, from, now),
                Wake::RecvError => {}
                Wake::MediaTick => self.on_media_tick(now),
                Wake::Housekeeping => self.on_housekeeping(now),
                Wake::Command(cmd) => {
                    if !self.on_command(cmd, now) {
                        break;
                    }
                }
                Wake::Closed => break,
            }
        }
        self.finish().await;
    }

    fn poll_wake(&mut self, cx: &mut Context<'_>) -> Poll<Wake> {
        match self.commands.poll_recv(cx) {
            Poll::Ready(Some(c)) => return Poll::Ready(Wake::Command(c)),
            Poll::Ready(None) => return Poll::Ready(Wake::Closed),
            Poll::Pending => {}
        }
        if let Some(t) = self.media_tick.as_mut()
            && t.poll_tick(cx).is_ready()
        {
            return Poll::Ready(Wake::MediaTick);
        }
        if let Some(t) = self.housekeeping.as_mut()
            && t.poll_tick(cx).is_ready()
        {
            return Poll::Ready(Wake::Housekeeping);
        }
        let n = self.legs.len();
        for k in 0..n {
            let i = (self.rr + k) % n;
            let leg = &self.legs[i];
            let mut rb = ReadBuf::new(&mut self.rx_buf[..]);
            match leg.rtp.poll_recv_from(cx, &mut rb) {
                Poll::Ready(Ok(from)) => {
                    self.rr = i + 1;
                    return Poll::Ready(Wake::Rtp(i, rb.filled().len(), from));
                }
                // An error consumed no waker: come back and poll again.
                Poll::Ready(Err(_)) => return Poll::Ready(Wake::RecvError),
                Poll::Pending => {}
            }
            let mut rb = ReadBuf::new(&mut self.rx_buf[..]);
            match leg.rtcp.poll_recv_from(cx, &mut rb) {
                Poll::Ready(Ok(from)) => {
                    self.rr = i + 1;
                    return Poll::Ready(Wake::Rtcp(i, rb.filled().len(), from));
                }
                Poll::Ready(Err(_)) => return Poll::Ready(Wake::RecvError),
                Poll::Pending => {}
            }
        }
        Poll::Pending
    }

    fn index(&self, id: LegId) -> Result<usize, RelayError> {
        self.legs
            .iter()
            .position(|l| l.id == id)
            .ok_or(RelayError::UnknownLeg(id))
    }

    pub(super) fn ensure_clock(&mut self) {
        if self.media_tick.is_none() {
            let start = tokio::time::Instant::now() + MEDIA_TICK;
            let mut t = tokio::time::interval_at(start, MEDIA_TICK);
            // Burst keeps the average rate exact: generated timestamps
            // advance one frame per tick.
            t.set_missed_tick_behavior(MissedTickBehavior::Burst);
            self.media_tick = Some(t);
        }
    }

    /// Handle a command; `false` ends the session.
    fn on_command(&mut self, cmd: Command, now: Instant) -> bool {
        match cmd {
            Command::AddLeg {
                id,
                pair,
                options,
                reply,
            } => {
                let r = self.add_leg(id, *pair, options, now);
                let _ = reply.send(r);
            }
            Command::SetRemote { leg, remote, reply } => {
                let r = self.index(leg).map(|i| {
                    let l = &mut self.legs[i];
                    l.remote = Some(*remote);
                    l.latched = None;
                    l.rtcp_latched = None;
                    l.last_rx = now;
                    l.timed_out = false;
                });
                let _ = reply.send(r);
            }
            Command::Bridge { a, b, reply } => {
                let r = self.bridge(a, b);
                let _ = reply.send(r);
            }
            Command::Unbridge { leg, reply } => {
                let r = self.index(leg).map(|i| {
                    self.legs[i].hears = None;
                    for l in &mut self.legs {
                        if l.hears == Some(leg) {
                            l.hears = None;
                        }
                    }
                });
                let _ = reply.send(r);
            }
            Command::Play {
                leg,
                source,
                options,
                reply,
            } => {
                let r = self.index(leg).map(|i| {
                    let l = &mut self.legs[i];
                    if let Some(old) = l.play.replace(Playing { source, options }) {
                        self.events.push(MediaEvent::PlayEnded {
                            leg,
                            reason: PlayEnd::Stopped,
                            tag: old.options.tag,
                        });
                    }
                });
                if r.is_ok() {
                    self.ensure_clock();
                }
                let _ = reply.send(r);
            }
            Command::StopPlay { leg, reply } => {
                let r = self.index(leg).map(|i| {
                    if let Some(old) = self.legs[i].play.take() {
                        self.events.push(MediaEvent::PlayEnded {
                            leg,
                            reason: PlayEnd::Stopped,
                            tag: old.options.tag,
                        });
                    }
                });
                let _ = reply.send(r);
            }
            Command::Analyze {
                leg,
                analyzer,
                reply,
            } => {
                let r = self
                    .index(leg)
                    .map(|i| self.legs[i].analyzers.push(analyzer));
                let _ = reply.send(r);
            }
            Command::StopAnalyze { leg, reply } => {
                let r = self.index(leg).map(|i| self.legs[i].analyzers.clear());
                let _ = reply.send(r);
            }
            Command::Record {
                sink,
                channels,
                reply,
            } => {
                let r = channels
                    .iter()
                    .try_for_each(|(id, _)| self.index(*id).map(|_| ()))
                    .map(|()| {
                        for l in &mut self.legs {
                            l.record = channels.iter().find(|(id, _)| *id == l.id).map(|(_, c)| *c);
                        }
                        self.recorder = Some(sink);
                    });
                let _ = reply.send(r);
            }
            Command::StopRecord { reply } => {
                for l in &mut self.legs {
                    l.record = None;
                }
                let _ = reply.send(Ok(self.recorder.take()));
            }
            Command::SendDtmf {
                leg,
                digit,
                duration_ms,
                reply,
            } => {
                let r = self.index(leg).and_then(|i| {
                    let l = &mut self.legs[i];
                    match l.remote.and_then(|r| r.negotiated.telephone_event) {
                        Some(_) => {
                            l.dtmf_queue.push_back((digit, duration_ms));
                            Ok(())
                        }
                        None => Err(RelayError::NoTelephoneEvent(leg)),
                    }
                });
                if r.is_ok() {
                    self.ensure_clock();
                }
                let _ = reply.send(r);
            }
            Command::Mix {
                matrix,
                mixer,
                reply,
            } => {
                let r = self.set_mix(matrix, mixer);
                let _ = reply.send(r);
            }
            Command::Unmix { reply } => {
                self.clear_mix();
                let _ = reply.send(Ok(()));
            }
            Command::Stats { leg, reply } => {
                let r = self.index(leg).map(|i| self.legs[i].stats());
                let _ = reply.send(r);
            }
            Command::CloseLeg { leg, reply } => {
                let r = self.index(leg).map(|i| self.remove_leg(i));
                let _ = reply.send(r);
            }
            Command::Close { reply } => {
                let _ = reply.send(Ok(()));
                return false;
            }
        }
        true
    }

    fn add_leg(
        &mut self,
        id: LegId,
        pair: PortPair,
        options: super::LegOptions,
        now: Instant,
    ) -> Result<(), RelayError> {
        let PortPair { rtp, rtcp, lease } = pair;
        let tokio_socket = |s: std::net::UdpSocket| -> std::io::Result<UdpSocket> {
            s.set_nonblocking(true)?;
            UdpSocket::from_std(s)
        };
        let rtp = tokio_socket(rtp)?;
        let rtcp = tokio_socket(rtcp)?;
        let seed = self.random.hash_one(id.0);
        // A leg is about 1 kB and a call has two or three: no spare room.
        self.legs.reserve_exact(1);
        self.legs
            .push(LegState::new(id, rtp, rtcp, lease, options, seed, now));
        Ok(())
    }

    fn bridge(&mut self, a: LegId, b: LegId) -> Result<(), RelayError> {
        let (ia, ib) = (self.index(a)?, self.index(b)?);
        for l in &mut self.legs {
            if l.hears == Some(a) || l.hears == Some(b) {
                l.hears = None;
            }
        }
        self.legs[ia].hears = Some(b);
        self.legs[ib].hears = Some(a);
        Ok(())
    }

    fn set_mix(&mut self, matrix: MixMatrix, mixer: Box<dyn FrameMixer>) -> Result<(), RelayError> {
        for id in matrix.legs() {
            self.index(id)?;
        }
        self.clear_mix();
        for id in matrix.legs() {
            if let Ok(i) = self.index(id) {
                self.legs[i].mix_in = Some(Box::new(MixInput::new()));
            }
        }
        for l in &mut self.legs {
            if l.in_mix() {
                l.hears = None;
            }
        }
        self.mix = Some((matrix, mixer));
        self.ensure_clock();
        Ok(())
    }

    fn clear_mix(&mut self) {
        self.mix = None;
        for l in &mut self.legs {
            l.mix_in = None;
        }
    }

    fn remove_leg(&mut self, i: usize) {
        let leg = self.legs.remove(i);
        Self::final_events(&leg, &mut self.events, false);
        for l in &mut self.legs {
            if l.hears == Some(leg.id) {
                l.hears = None;
            }
        }
        if let Some((m, _)) = self.mix.as_mut() {
            m.listeners.retain(|(l, _)| *l != leg.id);
            for (_, sources) in &mut m.listeners {
                sources.retain(|s| *s != leg.id);
            }
        }
        self.rr = 0;
    }

    fn final_events(leg: &LegState, events: &mut EventQueue, at_end: bool) {
        let mut evs = Vec::with_capacity(2);
        if let Some(p) = &leg.play {
            evs.push(MediaEvent::PlayEnded {
                leg: leg.id,
                reason: PlayEnd::Stopped,
                tag: p.options.tag,
            });
        }
        evs.push(MediaEvent::Quality {
            leg: leg.id,
            report: Box::new(leg.quality()),
            last: true,
        });
        for ev in evs {
            if at_end {
                events.push_final(ev);
            } else {
                events.push(ev);
            }
        }
    }

    async fn finish(mut self) {
        for leg in &self.legs {
            Self::final_events(leg, &mut self.events, true);
        }
        // Release the ports before waiting on a slow event receiver.
        self.legs.clear();
        self.events.drain(Duration::from_secs(1)).await;
    }

    fn on_housekeeping(&mut self, now: Instant) {
        let default_timeout = self.config.rtp_timeout;
        let quality_every = self.config.quality_interval;
        let rtcp_every = self.config.rtcp_interval;
        let Self {
            legs,
            tx_buf,
            events,
            config,
            ..
        } = self;
        for leg in legs.iter_mut() {
            if let Some(r) = leg.remote
                && r.direction.timeout_applies()
                && !leg.timed_out
                && leg
                    .timeout(default_timeout)
                    .is_some_and(|t| now.saturating_duration_since(leg.last_rx) >= t)
            {
                leg.timed_out = true;
                events.push(MediaEvent::Timeout { leg: leg.id });
            }
            if let Some(d) = leg.dtmf_rx.flush_stale(now) {
                super::packet::on_digit(
                    leg.id,
                    &mut leg.play,
                    events,
                    d.digit,
                    d.duration_ms,
                    super::DtmfVia::Rfc4733,
                );
            }
            if now.saturating_duration_since(leg.last_rtcp) >= rtcp_every {
                leg.last_rtcp = now;
                send_rtcp(leg, &mut tx_buf[..], config.cname.as_bytes(), now);
            }
            if !quality_every.is_zero()
                && now.saturating_duration_since(leg.last_quality) >= quality_every
                && (leg.rx.packets > 0 || leg.counters.sent > 0)
            {
                leg.last_quality = now;
                events.push(MediaEvent::Quality {
                    leg: leg.id,
                    report: Box::new(leg.quality()),
                    last: false,
                });
            }
        }
        events.flush();
    }

    fn on_media_tick(&mut self, now: Instant) {
        let Self {
            legs,
            tx_buf,
            events,
            mix,
            recorder,
            ..
        } = self;
        let tx = &mut tx_buf[..];
        for leg in legs.iter_mut() {
            if leg.sending.is_some() || !leg.dtmf_queue.is_empty() {
                dtmf_step(leg, tx, events, now);
            } else if leg.play.is_some() {
                play_step(leg, tx, events, now);
            }
        }
        if let Some((matrix, mixer)) = mix.as_mut() {
            let mut frame: Frame = [0; FRAME_SAMPLES];
            for (listener, sources) in &matrix.listeners {
                let Some(li) = legs.iter().position(|l| l.id == *listener) else {
                    continue;
                };
                let leg = &legs[li];
                let sends = leg.play.is_none() && leg.sending.is_none();
                let records = leg.record == Some(Channel::Customer) && recorder.is_some();
                if !sends && !records {
                    continue;
                }
                let heard = {
                    let mut inputs = sources
                        .iter()
                        .filter_map(|s| legs.iter().find(|l| l.id == *s))
                        .filter_map(|l| l.mix_in.as_ref()?.current())
                        .peekable();
                    let heard = inputs.peek().is_some();
                    mixer.mix(&mut inputs, &mut frame);
                    heard
                };
                let leg = &mut legs[li];
                if records && let Some(sink) = recorder.as_mut() {
                    record_customer_side(leg, heard.then_some(&frame), sink.as_mut());
                }
                if sends {
                    send_frame(leg, &frame, tx, now);
                }
            }
            for mix_in in legs.iter_mut().filter_map(|l| l.mix_in.as_mut()) {
                mix_in.advance();
            }
        }
        if !legs.iter().any(|l| l.needs_clock()) {
            self.media_tick = None;
        }
    }
}

/// In mixed mode the recording is the customer's conversation: the
/// customer's own audio on the customer channel, everything the customer
/// hears (the agent, a barging supervisor, a third party) on the agent
/// channel. A whisper, heard by the agent only, is not recorded.
/// `heard` is this tick's mix for the customer, if any source had audio.
fn record_customer_side(leg: &LegState, heard: Option<&Frame>, sink: &mut dyn RecordSink) {
    if let Some(own) = leg.mix_in.as_ref().and_then(|m| m.current()) {
        sink.push(Channel::Customer, own);
    }
    if let Some(heard) = heard {
        sink.push(Channel::Agent, heard);
    }
}

/// Encode a generated frame in the leg's codec and send it.
fn send_frame(leg: &mut LegState, frame: &Frame, tx: &mut [u8], now: Instant) {
    let Some(remote) = leg.remote else {
        return;
    };
    if leg.send_addr().is_none() {
        return;
    }
    let stamp = leg.out.generated(FRAME_SAMPLES as u32, now);
    let header = RtpHeader {
        marker: stamp.marker,
        payload_type: remote.negotiated.payload_type,
        sequence: stamp.seq,
        timestamp: stamp.ts,
        ssrc: leg.out.ssrc,
    };
    if header.write(tx).is_err() {
        return;
    }
    let n = remote.negotiated.codec.encode(
        frame,
        &mut tx[RTP_HEADER_LEN..RTP_HEADER_LEN + FRAME_SAMPLES],
    );
    leg.send(&tx[..RTP_HEADER_LEN + n], n);
}

fn play_step(leg: &mut LegState, tx: &mut [u8], events: &mut EventQueue, now: Instant) {
    let mut frame: Frame = [0; FRAME_SAMPLES];
    let more = match leg.play.as_mut() {
        Some(p) => p.source.next_frame(&mut frame),
        None => return,
    };
    if more {
        send_frame(leg, &frame, tx, now);
    } else if let Some(p) = leg.play.take() {
        events.push(MediaEvent::PlayEnded {
            leg: leg.id,
            reason: PlayEnd::Finished,
            tag: p.options.tag,
        });
    }
}

fn dtmf_step(leg: &mut LegState, tx: &mut [u8], events: &mut EventQueue, now: Instant) {
    if leg.sending.is_none() {
        let Some((digit, ms)) = leg.dtmf_queue.pop_front() else {
            return;
        };
        // Digits were validated when queued.
        let Ok(sender) = DtmfSender::new(digit, ms) else {
            return;
        };
        leg.sending = Some(Sending {
            digit,
            sender,
            start_ts: None,
        });
    }
    let Some(te) = leg.remote.and_then(|r| r.negotiated.telephone_event) else {
        leg.sending = None;
        return;
    };
    let Some(s) = leg.sending.as_mut() else {
        return;
    };
    let (packet, digit, finished) = match s.sender.next_packet(FRAME_SAMPLES as u16) {
        Some(p) => {
            let duration = u16::from_be_bytes([p.payload[2], p.payload[3]]);
            let stamp = leg.out.event(s.start_ts, duration, now);
            s.start_ts = Some(stamp.ts);
            let header = RtpHeader {
                marker: stamp.marker,
                payload_type: te,
                sequence: stamp.seq,
                timestamp: stamp.ts,
                ssrc: leg.out.ssrc,
            };
            (
                header.write_packet(&p.payload, tx).ok(),
                s.digit,
                s.sender.finished(),
            )
        }
        None => (None, s.digit, true),
    };
    if let Some(n) = packet {
        leg.send(&tx[..n], 4);
    }
    if finished {
        leg.sending = None;
        events.push(MediaEvent::DtmfSent { leg: leg.id, digit });
    }
}

/// Our RTCP report to the leg: SR when we have sent, else RR, plus SDES.
fn send_rtcp(leg: &mut LegState, tx: &mut [u8], cname: &[u8], now: Instant) {
    let Some(dest) = leg.rtcp_addr() else {
        return;
    };
    let (lsr, dlsr) = leg.rtcp_state.lsr_dlsr(now);
    let block = leg.rx.report_block(lsr, dlsr);
    let blocks = block.as_slice();
    let ssrc = leg.out.ssrc;
    let first = if leg.counters.sent > 0 {
        let info = SenderInfo {
            ntp: ntp_now(),
            rtp_timestamp: leg.out.ts_at(now),
            packet_count: leg.counters.sent as u32,
            octet_count: leg.counters.sent_bytes as u32,
        };
        write_sender_report(tx, ssrc, &info, blocks)
    } else {
        write_receiver_report(tx, ssrc, blocks)
    };
    let Ok(n) = first else {
        return;
    };
    let Ok(m) = write_sdes_cname(&mut tx[n..], ssrc, cname) else {
        return;
    };
    let _ = leg.rtcp.try_send_to(&tx[..n + m], dest);
}
