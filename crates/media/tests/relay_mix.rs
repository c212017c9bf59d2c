//! Mixed mode on real sockets: supervisor listen, whisper and barge, and
//! what the call's recording holds meanwhile.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod relay_common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use omnivox_media::codec::{Codec, PT_PCMU};
use omnivox_media::relay::{LegOptions, MixMatrix, RecordSink, RemoteMedia};
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

#[tokio::test]
async fn supervisor_listen_and_whisper() {
    let engine = engine();
    let (tx, _events) = mpsc::channel(256);
    let session = engine.session(tx).unwrap();
    let mut peers = vec![Peer::new(1).await, Peer::new(2).await, Peer::new(3).await];
    let mut legs = Vec::new();
    for p in &peers {
        let l = session.open_leg(LegOptions::default()).await.unwrap();
        session
            .set_remote(l.id(), RemoteMedia::new(p.addr(), pcmu(None)))
            .await
            .unwrap();
        legs.push(l);
    }
    let (c, a, s) = (legs[0].id(), legs[1].id(), legs[2].id());
    let targets: Vec<_> = legs.iter().map(|l| l.local_rtp()).collect();
    // Customer 1000, agent 2000, supervisor 4000 (decoded levels are
    // within G.711 quantisation of these).
    let values = [1000i16, 2000, 4000];
    let near = |got: i32, want: i32| (got - want).abs() <= want / 20 + 16;

    session.mix(MixMatrix::listen(c, a, s)).await.unwrap();
    let heard = exchange(&mut peers, &targets, &values, 25).await;
    assert!(
        near(heard[0], 2000),
        "customer hears the agent only: {heard:?}"
    );
    assert!(
        near(heard[1], 1000),
        "agent hears the customer only: {heard:?}"
    );
    assert!(near(heard[2], 3000), "supervisor hears both: {heard:?}");

    session.mix(MixMatrix::whisper(c, a, s)).await.unwrap();
    let heard = exchange(&mut peers, &targets, &values, 25).await;
    assert!(
        near(heard[0], 2000),
        "customer does not hear the whisper: {heard:?}"
    );
    assert!(
        near(heard[1], 5000),
        "agent hears customer + supervisor: {heard:?}"
    );

    session.mix(MixMatrix::barge(c, a, s)).await.unwrap();
    let heard = exchange(&mut peers, &targets, &values, 25).await;
    assert!(
        near(heard[0], 6000),
        "customer hears agent + supervisor: {heard:?}"
    );

    // Back to a plain bridge: the supervisor hears nothing.
    session.unmix().await.unwrap();
    session.bridge(c, a).await.unwrap();
    peers[2].drain(Duration::from_millis(100)).await;
    let heard = exchange(&mut peers, &targets, &values, 10).await;
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

/// The recording of a monitored call is the customer's conversation: the
/// customer on the left, all the customer hears on the right. A barging
/// supervisor is in it; one who listens or whispers is not.
#[tokio::test]
async fn a_recording_holds_what_the_customer_hears_while_monitored() {
    let engine = engine();
    let (tx, _events) = mpsc::channel(256);
    let session = engine.session(tx).unwrap();
    let mut peers = vec![Peer::new(1).await, Peer::new(2).await, Peer::new(3).await];
    let mut legs = Vec::new();
    for p in &peers {
        let l = session.open_leg(LegOptions::default()).await.unwrap();
        session
            .set_remote(l.id(), RemoteMedia::new(p.addr(), pcmu(None)))
            .await
            .unwrap();
        legs.push(l);
    }
    let (c, a, s) = (legs[0].id(), legs[1].id(), legs[2].id());
    let targets: Vec<_> = legs.iter().map(|l| l.local_rtp()).collect();
    let values = [1000i16, 2000, 4000];
    let near = |got: i32, want: i32| (got - want).abs() <= want / 20 + 16;
    let sink = Collect::default();
    session
        .record(
            Box::new(sink.clone()),
            vec![(c, Channel::Customer), (a, Channel::Agent)],
        )
        .await
        .unwrap();
    session.bridge(c, a).await.unwrap();
    let mut check = async |mode: &str, want_agent_side: i32| {
        exchange(&mut peers, &targets, &values, 25).await;
        let (left, n_left) = sink.take(Channel::Customer);
        let (right, n_right) = sink.take(Channel::Agent);
        // About one frame per 20 ms on each side, never the sum of legs'
        // frames (two legs feeding one channel would double it).
        assert!(
            (15..=32).contains(&n_left) && (15..=32).contains(&n_right),
            "{mode}: {n_left} and {n_right} frames for 25 sent"
        );
        assert!(near(left, 1000), "{mode}: left is the customer: {left}");
        assert!(
            near(right, want_agent_side),
            "{mode}: right is what the customer hears: {right}, want {want_agent_side}"
        );
    };
    check("bridged", 2000).await;
    session.mix(MixMatrix::listen(c, a, s)).await.unwrap();
    check("listen", 2000).await;
    session.mix(MixMatrix::whisper(c, a, s)).await.unwrap();
    check("whisper", 2000).await;
    session.mix(MixMatrix::barge(c, a, s)).await.unwrap();
    check("barge", 6000).await;
    session.unmix().await.unwrap();
    session.bridge(c, a).await.unwrap();
    check("bridged again", 2000).await;
}
