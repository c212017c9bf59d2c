//! Events to the call actor: timeouts, DTMF (RFC 4733 in and out, in
//! band), playback stopped by DTMF, recording channels.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod relay_common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use omnivox_media::codec::{Codec, PT_PCMU};
use omnivox_media::goertzel::DtmfDetector;
use omnivox_media::prompt::{Player, Prompt};
use omnivox_media::relay::{
    Direction, DtmfVia, LegOptions, MediaEngine, MediaEvent, PlayEnd, PlayOptions, RecordSink,
    RemoteMedia,
};
use omnivox_media::rfc4733::{DtmfSender, TelephoneEvent};
use omnivox_media::{Channel, FRAME_SAMPLES, Frame};
use relay_common::*;
use tokio::sync::mpsc;

#[tokio::test]
async fn silent_leg_times_out_but_a_held_leg_does_not() {
    let engine = MediaEngine::new(config(Duration::from_millis(300))).unwrap();
    let (tx, mut events) = mpsc::channel(64);
    let session = engine.session(tx).unwrap();
    let live = session.open_leg(LegOptions::default()).await.unwrap();
    let held = session.open_leg(LegOptions::default()).await.unwrap();
    let mut p = Peer::new(1).await;
    let q = Peer::new(2).await;
    session
        .set_remote(live.id(), RemoteMedia::new(p.addr(), pcmu(None)))
        .await
        .unwrap();
    session
        .set_remote(
            held.id(),
            RemoteMedia::new(q.addr(), pcmu(None)).with_direction(Direction::SendOnly),
        )
        .await
        .unwrap();
    // Traffic keeps the live leg up for a while.
    let start = tokio::time::Instant::now();
    for n in 0..20 {
        p.send_audio(live.local_rtp(), PT_PCMU, &tagged(1, n)).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ev = wait_for(&mut events, |e| matches!(e, MediaEvent::Timeout { .. })).await;
    assert_eq!(ev, MediaEvent::Timeout { leg: live.id() });
    // Not before 300 ms of silence after the last packet (~400 ms in).
    assert!(
        start.elapsed() >= Duration::from_millis(600),
        "{:?}",
        start.elapsed()
    );
    // The held leg stays quiet for three more timeouts.
    let more = tokio::time::timeout(Duration::from_millis(900), async {
        while let Some(ev) = events.recv().await {
            if matches!(ev, MediaEvent::Timeout { .. }) {
                return Some(ev);
            }
        }
        None
    })
    .await;
    assert!(more.is_err(), "unexpected {more:?}");
}

fn dtmf_packets(digit: char, ms: u32) -> Vec<[u8; 4]> {
    let mut s = DtmfSender::new(digit, ms).unwrap();
    std::iter::from_fn(|| s.next_packet(160).map(|p| p.payload)).collect()
}

#[tokio::test]
async fn rfc4733_digits_become_events_and_reach_the_other_leg() {
    let engine = engine();
    let mut a = Peer::new(1).await;
    let b = Peer::new(2).await;
    let mut call = bridged_call(&engine, &a, pcmu(Some(101)), &b, pcmu(Some(96))).await;
    for (i, payload) in dtmf_packets('5', 120).iter().enumerate() {
        a.send(call.a.local_rtp(), 101, i == 0, payload, 0).await;
    }
    let ev = wait_for(&mut call.events, |e| matches!(e, MediaEvent::Dtmf { .. })).await;
    assert_eq!(
        ev,
        MediaEvent::Dtmf {
            leg: call.a.id(),
            digit: '5',
            duration_ms: 120,
            via: DtmfVia::Rfc4733
        }
    );
    // B gets the events on its own telephone-event payload type.
    let first = b.recv_pt(96, WAIT).await.unwrap();
    assert!(first.marker);
    assert_eq!(TelephoneEvent::parse(&first.payload).unwrap().event, 5);
    // A digit is reported once, not once per end packet.
    a.send(
        call.a.local_rtp(),
        101,
        false,
        &dtmf_packets('5', 120)[6],
        0,
    )
    .await;
    let again = tokio::time::timeout(Duration::from_millis(300), async {
        loop {
            if let Some(MediaEvent::Dtmf { .. }) = call.events.recv().await {
                break;
            }
        }
    })
    .await;
    assert!(again.is_err());
}

#[tokio::test]
async fn send_dtmf_produces_an_rfc4733_sequence() {
    let engine = engine();
    let a = Peer::new(1).await;
    let b = Peer::new(2).await;
    let mut call = bridged_call(&engine, &a, pcmu(Some(101)), &b, pcmu(None)).await;
    call.session
        .send_dtmf(call.a.id(), '#', Duration::from_millis(100))
        .await
        .unwrap();
    let mut got = Vec::new();
    while got.len() < 7 {
        got.push(a.recv_pt(101, WAIT).await.expect("event packet"));
    }
    let evs: Vec<_> = got
        .iter()
        .map(|r| TelephoneEvent::parse(&r.payload).unwrap())
        .collect();
    assert!(evs.iter().all(|e| e.event == 11));
    assert_eq!(evs.iter().filter(|e| e.end).count(), 3);
    assert_eq!(evs[6].duration, 800);
    assert!(got[0].marker && got[1..].iter().all(|r| !r.marker));
    assert!(
        got.iter()
            .all(|r| r.ts == got[0].ts && r.ssrc == got[0].ssrc)
    );
    for w in got.windows(2) {
        assert_eq!(w[1].seq, w[0].seq.wrapping_add(1));
    }
    wait_for(&mut call.events, |e| {
        matches!(e, MediaEvent::DtmfSent { digit: '#', .. })
    })
    .await;
    // B negotiated no telephone-event: refused.
    assert!(
        call.session
            .send_dtmf(call.b.id(), '1', Duration::from_millis(100))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_digit_stops_a_prompt_that_stops_on_dtmf() {
    let engine = engine();
    let mut a = Peer::new(1).await;
    let b = Peer::new(2).await;
    let mut call = bridged_call(&engine, &a, pcmu(Some(101)), &b, pcmu(None)).await;
    let prompt = Prompt::from_samples(sine(440.0, 6000.0, 8000));
    call.session
        .play(
            call.a.id(),
            Box::new(Player::looping(prompt)),
            PlayOptions {
                stop_on_dtmf: true,
                tag: 7,
            },
        )
        .await
        .unwrap();
    // The prompt reaches A.
    let rx = a.recv(WAIT).await.unwrap();
    assert_eq!(rx.pt, PT_PCMU);
    for (i, payload) in dtmf_packets('1', 80).iter().enumerate() {
        a.send(call.a.local_rtp(), 101, i == 0, payload, 0).await;
    }
    let ev = wait_for(&mut call.events, |e| {
        matches!(e, MediaEvent::PlayEnded { .. })
    })
    .await;
    assert_eq!(
        ev,
        MediaEvent::PlayEnded {
            leg: call.a.id(),
            reason: PlayEnd::Dtmf('1'),
            tag: 7,
        }
    );
    // The prompt stopped: nothing more arrives at A.
    a.drain(Duration::from_millis(100)).await;
    assert!(a.recv(Duration::from_millis(200)).await.is_none());
}

fn dtmf_tone(low: f64, high: f64, frames: usize) -> Vec<i16> {
    let l = sine(low, 7000.0, frames * FRAME_SAMPLES);
    let h = sine(high, 7000.0, frames * FRAME_SAMPLES);
    l.iter().zip(h.iter()).map(|(x, y)| x + y).collect()
}

#[tokio::test]
async fn in_band_digits_from_the_goertzel_analyzer_become_events() {
    let engine = engine();
    let mut a = Peer::new(1).await;
    let b = Peer::new(2).await;
    let mut call = bridged_call(&engine, &a, pcmu(None), &b, pcmu(None)).await;
    call.session
        .analyze(call.a.id(), Box::new(DtmfDetector::default()))
        .await
        .unwrap();
    // '9' = 852 Hz + 1477 Hz for 100 ms, then 100 ms of silence.
    let mut pcm = dtmf_tone(852.0, 1477.0, 5);
    pcm.extend(std::iter::repeat_n(0i16, 5 * FRAME_SAMPLES));
    for chunk in pcm.chunks(FRAME_SAMPLES) {
        let mut payload = [0u8; FRAME_SAMPLES];
        Codec::Pcmu.encode(chunk, &mut payload);
        a.send_audio(call.a.local_rtp(), PT_PCMU, &payload).await;
    }
    let ev = wait_for(&mut call.events, |e| matches!(e, MediaEvent::Dtmf { .. })).await;
    match ev {
        MediaEvent::Dtmf {
            leg,
            digit,
            duration_ms,
            via,
        } => {
            assert_eq!((leg, digit, via), (call.a.id(), '9', DtmfVia::InBand));
            assert!((80..=120).contains(&duration_ms), "{duration_ms}");
        }
        other => panic!("{other:?}"),
    }
}

/// Collects what the relay records, per channel.
#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Vec<(Channel, Frame)>>>);

impl RecordSink for Collect {
    fn push(&mut self, ch: Channel, frame: &Frame) {
        self.0.lock().unwrap().push((ch, *frame));
    }
}

fn energy(f: &Frame) -> f64 {
    f.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / f.len() as f64
}

#[tokio::test]
async fn recording_gets_each_legs_audio_on_its_channel() {
    let engine = engine();
    let mut customer = Peer::new(1).await;
    let mut agent = Peer::new(2).await;
    let call = bridged_call(&engine, &customer, pcmu(None), &agent, pcma(None)).await;
    let sink = Collect::default();
    call.session
        .record(
            Box::new(sink.clone()),
            vec![
                (call.a.id(), Channel::Customer),
                (call.b.id(), Channel::Agent),
            ],
        )
        .await
        .unwrap();
    let tone = sine(440.0, 8000.0, FRAME_SAMPLES);
    let mut loud = [0u8; FRAME_SAMPLES];
    Codec::Pcmu.encode(&tone, &mut loud);
    let quiet = [Codec::Pcma.silence_byte(); FRAME_SAMPLES];
    for _ in 0..5 {
        customer
            .send_audio(call.a.local_rtp(), PT_PCMU, &loud)
            .await;
        agent.send_audio(call.b.local_rtp(), 8, &quiet).await;
    }
    // Wait until both legs' audio went through the relay.
    assert_eq!(agent.drain(Duration::from_millis(200)).await.len(), 5);
    assert_eq!(customer.drain(Duration::from_millis(50)).await.len(), 5);
    let back = call.session.stop_record().await.unwrap();
    assert!(back.is_some());
    let frames = sink.0.lock().unwrap().clone();
    let cust: Vec<_> = frames
        .iter()
        .filter(|(c, _)| *c == Channel::Customer)
        .collect();
    let agent_frames: Vec<_> = frames
        .iter()
        .filter(|(c, _)| *c == Channel::Agent)
        .collect();
    assert_eq!((cust.len(), agent_frames.len()), (5, 5));
    assert!(cust.iter().all(|(_, f)| energy(f) > 1e7));
    assert!(agent_frames.iter().all(|(_, f)| energy(f) < 100.0));
    // Decoded, not raw bytes: the customer's frame is the tone.
    let mut expect = [0i16; FRAME_SAMPLES];
    Codec::Pcmu.decode(&loud, &mut expect);
    assert_eq!(cust[0].1, expect);
}
