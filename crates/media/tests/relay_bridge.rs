//! Bridged sessions on real UDP sockets: passthrough, transcoding, and
//! isolation between sessions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod relay_common;

use std::time::Duration;

use omnivox_media::codec::{Codec, PT_PCMA, PT_PCMU, transcode};
use relay_common::*;

#[tokio::test]
async fn bridged_endpoints_hear_each_other() {
    let engine = engine();
    let mut a = Peer::new(0xaaaa).await;
    let mut b = Peer::new(0xbbbb).await;
    let call = bridged_call(&engine, &a, pcmu(None), &b, pcmu(None)).await;

    let mut got_b = Vec::new();
    let mut got_a = Vec::new();
    for n in 0..10u8 {
        a.send_audio(call.a.local_rtp(), PT_PCMU, &tagged(0xa1, n))
            .await;
        got_b.push(b.recv(WAIT).await.expect("B got A's packet"));
        b.send_audio(call.b.local_rtp(), PT_PCMU, &tagged(0xb1, n))
            .await;
        got_a.push(a.recv(WAIT).await.expect("A got B's packet"));
    }
    for (n, rx) in got_b.iter().enumerate() {
        assert_eq!(rx.payload, tagged(0xa1, n as u8));
        // Symmetric RTP: B hears us from the port we gave it.
        assert_eq!(rx.from, call.b.local_rtp());
        assert_eq!(rx.pt, PT_PCMU);
        // The stream B receives is Omnivox's, not A's.
        assert_ne!(rx.ssrc, a.ssrc);
        assert_eq!(rx.ssrc, got_b[0].ssrc);
        assert_eq!(rx.seq, got_b[0].seq.wrapping_add(n as u16));
        assert_eq!(rx.ts, got_b[0].ts.wrapping_add(160 * n as u32));
    }
    assert!(got_b[0].marker && !got_b[1].marker);
    for (n, rx) in got_a.iter().enumerate() {
        assert_eq!(rx.payload, tagged(0xb1, n as u8));
        assert_eq!(rx.from, call.a.local_rtp());
    }
    let sa = call.session.stats(call.a.id()).await.unwrap();
    assert_eq!(sa.received, 10);
    assert_eq!(sa.sent, 10);
    assert_eq!(sa.latched, Some(a.addr()));
    assert_eq!(sa.quality.packets_lost, 0);
}

#[tokio::test]
async fn pcmu_and_pcma_legs_are_transcoded() {
    let engine = engine();
    let mut a = Peer::new(1).await;
    let mut b = Peer::new(2).await;
    let call = bridged_call(&engine, &a, pcmu(None), &b, pcma(None)).await;

    let tone = sine(1000.0, 8000.0, 160);
    let mut ulaw = [0u8; 160];
    Codec::Pcmu.encode(&tone, &mut ulaw);
    a.send_audio(call.a.local_rtp(), PT_PCMU, &ulaw).await;
    let rx = b.recv(WAIT).await.expect("B got audio");
    assert_eq!(rx.pt, PT_PCMA);
    let mut expect = [0u8; 160];
    transcode(Codec::Pcmu, Codec::Pcma, &ulaw, &mut expect);
    assert_eq!(rx.payload, expect);
    // And the audio is still the tone.
    let mut pcm = [0i16; 160];
    Codec::Pcma.decode(&rx.payload, &mut pcm);
    for (x, y) in tone.iter().zip(pcm.iter()) {
        assert!((i32::from(*x) - i32::from(*y)).abs() < 400);
    }

    let mut alaw = [0u8; 160];
    Codec::Pcma.encode(&tone, &mut alaw);
    b.send_audio(call.b.local_rtp(), PT_PCMA, &alaw).await;
    let rx = a.recv(WAIT).await.expect("A got audio");
    assert_eq!(rx.pt, PT_PCMU);
    transcode(Codec::Pcma, Codec::Pcmu, &alaw, &mut expect);
    assert_eq!(rx.payload, expect);
}

#[tokio::test]
async fn dynamic_payload_types_are_mapped_per_leg() {
    // A peer may use its own payload type number for PCMU.
    let engine = engine();
    let mut a = Peer::new(1).await;
    let b = Peer::new(2).await;
    let mut a_neg = pcmu(Some(101));
    a_neg.payload_type = 97;
    let call = bridged_call(&engine, &a, a_neg, &b, pcmu(Some(96))).await;
    a.send_audio(call.a.local_rtp(), 97, &tagged(7, 7)).await;
    let rx = b.recv(WAIT).await.unwrap();
    assert_eq!((rx.pt, rx.payload), (PT_PCMU, tagged(7, 7)));
    // PT 0 is not what A negotiated: dropped.
    a.send_audio(call.a.local_rtp(), PT_PCMU, &tagged(8, 8))
        .await;
    assert!(b.recv(Duration::from_millis(200)).await.is_none());
    let s = call.session.stats(call.a.id()).await.unwrap();
    assert_eq!(s.dropped_unknown_pt, 1);
}

#[tokio::test]
async fn two_sessions_never_leak_packets() {
    let engine = engine();
    let mut peers = Vec::new();
    for i in 0..4u32 {
        peers.push(Peer::new(i).await);
    }
    let c1 = bridged_call(&engine, &peers[0], pcmu(None), &peers[1], pcmu(None)).await;
    let c2 = bridged_call(&engine, &peers[2], pcmu(None), &peers[3], pcmu(None)).await;
    let targets = [
        c1.a.local_rtp(),
        c1.b.local_rtp(),
        c2.a.local_rtp(),
        c2.b.local_rtp(),
    ];
    for n in 0..20u8 {
        for (i, p) in peers.iter_mut().enumerate() {
            p.send_audio(targets[i], PT_PCMU, &tagged(i as u8 + 1, n))
                .await;
        }
    }
    // Partner of peer i is i ^ 1.
    for (i, p) in peers.iter().enumerate() {
        let got = p.drain(Duration::from_millis(300)).await;
        assert_eq!(got.len(), 20, "peer {i}");
        let partner_tag = (i ^ 1) as u8 + 1;
        assert!(
            got.iter().all(|rx| rx.payload[0] == partner_tag),
            "peer {i} heard another call"
        );
    }
    // Closing a session releases its ports.
    let before = engine.ports().in_use();
    c1.session.close().await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while engine.ports().in_use() != before - 2 {
        assert!(tokio::time::Instant::now() < deadline, "ports not released");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(c1.session.stats(c1.a.id()).await.is_err());
}
