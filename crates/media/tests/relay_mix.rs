//! Mixed mode on real sockets: supervisor listen, whisper and barge, and
//! what the call's recording holds meanwhile.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod relay_common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use omnivox_media::codec::{Codec, PT_PCMU};
use omnivox_media::relay::{
    LegId, LegOptions, MediaEngine, MediaEvent, MixMatrix, RecordSink, RemoteMedia, Session,
};
use omnivox_media::{Channel, FRAME_SAMPLES, Frame};
use relay_common::*;
use tokio::sync::mpsc;

fn level(payload: &[u8]) -> i32 {
    let mut pcm = [0i16; FRAME_SAMPLES];
    Codec::Pcmu.decode(payload, &mut pcm);
    pcm.iter().map(|s| i32::from(*s)).sum::<i32>() / FRAME_SAMPLES as i32
}

fn constant(v: i16) -> [u8; FRAME_SAMPLES] {
    let mut out = [0u8; FRAME_SAMPLES];
    Codec::Pcmu.encode(&[v; FRAME_SAMPLES], &mut out);
    out
}

/// Send one frame from each peer every 20 ms for `frames`, and return the
/// median level each peer heard.
async fn exchange(
    peers: &mut [Peer],
    targets: &[std::net::SocketAddr],
    values: &[i16],
    frames: usize,
) -> Vec<i32> {
    let mut heard: Vec<Vec<i32>> = vec![Vec::new(); peers.len()];
    for _ in 0..frames {
        for (i, p) in peers.iter_mut().enumerate() {
            p.send_audio(targets[i], PT_PCMU, &constant(values[i]))
                .await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        for (i, p) in peers.iter().enumerate() {
            while let Some(rx) = p.recv(Duration::from_millis(1)).await {
                heard[i].push(level(&rx.payload));
            }
        }
    }
    heard
        .into_iter()
        .map(|mut v| {
            v.sort();
            v.get(v.len() / 2).copied().unwrap_or(i32::MIN)
        })
        .collect()
}

/// What customer, agent and supervisor send: 1000, 2000, 4000 (decoded
/// levels are within G.711 quantisation of these).
const VALUES: [i16; 3] = [1000, 2000, 4000];

fn near(got: i32, want: i32) -> bool {
    (got - want).abs() <= want / 20 + 16
}

/// A session with three PCMU legs, each with its peer: customer `c`,
/// agent `a` and supervisor `s`.
struct Call {
    _engine: MediaEngine,
    _events: mpsc::Receiver<MediaEvent>,
    session: Session,
    peers: Vec<Peer>,
    targets: Vec<std::net::SocketAddr>,
    c: LegId,
    a: LegId,
    s: LegId,
}

impl Call {
    /// Each peer sends its `VALUES` level for `frames` frames; the median
    /// level each heard.
    async fn exchange(&mut self, frames: usize) -> Vec<i32> {
        exchange(&mut self.peers, &self.targets, &VALUES, frames).await
    }
}

async fn call() -> Call {
    call_with([pcmu(None), pcmu(None), pcmu(None)], true).await
}

/// A call whose customer, agent and supervisor legs negotiated these;
/// whether the supervisor's digits are passed on.
async fn call_with(
    negotiated: [omnivox_media::codec::Negotiated; 3],
    forward_supervisor: bool,
) -> Call {
    let engine = engine();
    let (tx, events) = mpsc::channel(256);
    let session = engine.session(tx).unwrap();
    let peers = vec![Peer::new(1).await, Peer::new(2).await, Peer::new(3).await];
    let mut legs = Vec::new();
    for (k, (p, n)) in peers.iter().zip(negotiated).enumerate() {
        let options = LegOptions {
            forward_dtmf: k != 2 || forward_supervisor,
            ..LegOptions::default()
        };
        let l = session.open_leg(options).await.unwrap();
        session
            .set_remote(l.id(), RemoteMedia::new(p.addr(), n))
            .await
            .unwrap();
        legs.push(l);
    }
    Call {
        _engine: engine,
        _events: events,
        session,
        targets: legs.iter().map(|l| l.local_rtp()).collect(),
        peers,
        c: legs[0].id(),
        a: legs[1].id(),
        s: legs[2].id(),
    }
}

#[tokio::test]
async fn supervisor_listen_and_whisper() {
    let mut t = call().await;
    let (c, a, s) = (t.c, t.a, t.s);

    t.session.mix(MixMatrix::listen(c, a, s)).await.unwrap();
    let heard = t.exchange(25).await;
    assert!(
        near(heard[0], 2000),
        "customer hears the agent only: {heard:?}"
    );
    assert!(
        near(heard[1], 1000),
        "agent hears the customer only: {heard:?}"
    );
    assert!(near(heard[2], 3000), "supervisor hears both: {heard:?}");

    t.session.mix(MixMatrix::whisper(c, a, s)).await.unwrap();
    let heard = t.exchange(25).await;
    assert!(
        near(heard[0], 2000),
        "customer does not hear the whisper: {heard:?}"
    );
    assert!(
        near(heard[1], 5000),
        "agent hears customer + supervisor: {heard:?}"
    );

    t.session.mix(MixMatrix::barge(c, a, s)).await.unwrap();
    let heard = t.exchange(25).await;
    assert!(
        near(heard[0], 6000),
        "customer hears agent + supervisor: {heard:?}"
    );

    // Back to a plain bridge: the supervisor hears nothing.
    t.session.unmix().await.unwrap();
    t.session.bridge(c, a).await.unwrap();
    t.peers[2].drain(Duration::from_millis(100)).await;
    let heard = t.exchange(10).await;
    assert_eq!(heard[2], i32::MIN, "{heard:?}");
    assert!(near(heard[0], 2000) && near(heard[1], 1000), "{heard:?}");
}

/// Collects what the relay records, per channel.
#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Vec<(Channel, Frame)>>>);

impl RecordSink for Collect {
    fn push(&mut self, ch: Channel, frame: &Frame) {
        self.0.lock().unwrap().push((ch, *frame));
    }
}

impl Collect {
    /// The median level of the channel's frames since the last call, and
    /// how many there were.
    fn take(&self, ch: Channel) -> (i32, usize) {
        let mut frames = self.0.lock().unwrap();
        let mut levels: Vec<i32> = frames
            .iter()
            .filter(|(c, _)| *c == ch)
            .map(|(_, f)| f.iter().map(|s| i32::from(*s)).sum::<i32>() / FRAME_SAMPLES as i32)
            .collect();
        frames.retain(|(c, _)| *c != ch);
        levels.sort();
        (
            levels.get(levels.len() / 2).copied().unwrap_or(i32::MIN),
            levels.len(),
        )
    }
}

/// Everyone talks for 25 frames (`VALUES`); the recording's left side
/// must be the customer and its right side `right`, about one frame per
/// tick each (two legs feeding one channel would double it).
async fn check_recording(t: &mut Call, sink: &Collect, mode: &str, right_want: i32) {
    t.exchange(25).await;
    let (left, n_left) = sink.take(Channel::Customer);
    let (right, n_right) = sink.take(Channel::Agent);
    assert!(
        (15..=32).contains(&n_left) && (15..=32).contains(&n_right),
        "{mode}: {n_left} and {n_right} frames for 25 sent"
    );
    assert!(near(left, 1000), "{mode}: left is the customer: {left}");
    assert!(
        near(right, right_want),
        "{mode}: right is what the customer hears: {right}, want {right_want}"
    );
}

/// The recording of a monitored call is the customer's conversation: the
/// customer on the left, all the customer hears on the right. A barging
/// supervisor is in it; one who listens or whispers is not.
#[tokio::test]
async fn a_recording_holds_what_the_customer_hears_while_monitored() {
    let mut t = call().await;
    let (c, a, s) = (t.c, t.a, t.s);
    let sink = Collect::default();
    t.session
        .record(
            Box::new(sink.clone()),
            vec![(c, Channel::Customer), (a, Channel::Agent)],
        )
        .await
        .unwrap();
    t.session.bridge(c, a).await.unwrap();
    check_recording(&mut t, &sink, "bridged", 2000).await;
    t.session.mix(MixMatrix::listen(c, a, s)).await.unwrap();
    check_recording(&mut t, &sink, "listen", 2000).await;
    t.session.mix(MixMatrix::whisper(c, a, s)).await.unwrap();
    check_recording(&mut t, &sink, "whisper", 2000).await;
    t.session.mix(MixMatrix::barge(c, a, s)).await.unwrap();
    check_recording(&mut t, &sink, "barge", 6000).await;
    t.session.unmix().await.unwrap();
    t.session.bridge(c, a).await.unwrap();
    check_recording(&mut t, &sink, "bridged again", 2000).await;
}

/// Telephone-event types of the customer, agent and supervisor.
const EVENT_TYPES: [u8; 3] = [101, 96, 100];

impl Call {
    /// Peer `k` keys `digit` as a phone does (RFC 4733, 100 ms).
    async fn key(&mut self, k: usize, digit: char) {
        let mut s = omnivox_media::rfc4733::DtmfSender::new(digit, 100).unwrap();
        let mut first = true;
        while let Some(p) = s.next_packet(160) {
            let to = self.targets[k];
            self.peers[k]
                .send(to, EVENT_TYPES[k], first, &p.payload, 0)
                .await;
            first = false;
        }
    }

    /// The telephone-event codes peer `k` received within `wait`.
    async fn heard(&self, k: usize, wait: Duration) -> Vec<u8> {
        let mut got = Vec::new();
        while let Some(r) = self.peers[k].recv_pt(EVENT_TYPES[k], wait).await {
            let ev = omnivox_media::rfc4733::TelephoneEvent::parse(&r.payload).unwrap();
            got.push(ev.event);
        }
        got
    }
}

#[tokio::test]
async fn digits_reach_whoever_hears_their_sender_in_the_mix() {
    // Customer, agent and supervisor with different telephone-event types.
    let types = EVENT_TYPES.map(|pt| pcmu(Some(pt)));
    let mut t = call_with(types, true).await;
    let (c, a, s) = (t.c, t.a, t.s);
    t.session.mix(MixMatrix::whisper(c, a, s)).await.unwrap();
    // The customer keys 7 (an IVR on the agent's side, a card number...):
    // the agent and the listening supervisor get it, each on its own type.
    t.key(0, '7').await;
    let agent = t.heard(1, Duration::from_millis(600)).await;
    assert!(
        !agent.is_empty() && agent.iter().all(|e| *e == 7),
        "{agent:?}"
    );
    let supervisor = t.heard(2, Duration::from_millis(300)).await;
    assert!(
        !supervisor.is_empty() && supervisor.iter().all(|e| *e == 7),
        "{supervisor:?}"
    );
    // The whispering supervisor keys 3: the agent hears it, the customer
    // (who does not hear the supervisor) gets no event.
    t.key(2, '3').await;
    let agent = t.heard(1, Duration::from_millis(600)).await;
    assert!(
        !agent.is_empty() && agent.iter().all(|e| *e == 3),
        "{agent:?}"
    );
    let customer = t.heard(0, Duration::from_millis(300)).await;
    assert!(customer.is_empty(), "{customer:?}");
}

#[tokio::test]
async fn a_leg_that_does_not_forward_digits_keeps_them_in_the_mix() {
    // How the call actor opens a supervisor's leg.
    let types = EVENT_TYPES.map(|pt| pcmu(Some(pt)));
    let mut t = call_with(types, false).await;
    let (c, a, s) = (t.c, t.a, t.s);
    t.session.mix(MixMatrix::barge(c, a, s)).await.unwrap();
    t.key(2, '9').await;
    let agent = t.heard(1, Duration::from_millis(600)).await;
    let customer = t.heard(0, Duration::from_millis(100)).await;
    assert!(
        agent.is_empty() && customer.is_empty(),
        "{agent:?} {customer:?}"
    );
}
