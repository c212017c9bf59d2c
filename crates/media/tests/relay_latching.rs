//! Symmetric RTP latching, spoofed sources and malformed input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod relay_common;

use std::time::Duration;

use omnivox_media::codec::PT_PCMU;
use omnivox_media::relay::{LegOptions, MediaEvent, RemoteMedia};
use relay_common::*;
use tokio::sync::mpsc;

const QUIET: Duration = Duration::from_millis(250);

#[tokio::test]
async fn nat_latch_then_spoofed_source_is_dropped_and_counted() {
    let engine = engine();
    // A is behind NAT: its SDP says one address, it sends from another.
    let sdp_only = Peer::new(0).await;
    let mut a = Peer::new(1).await;
    let mut spoofer = Peer::new(66).await;
    let b = Peer::new(2).await;
    let mut call = bridged_call(&engine, &sdp_only, pcmu(None), &b, pcmu(None)).await;

    a.send_audio(call.a.local_rtp(), PT_PCMU, &tagged(1, 0))
        .await;
    let ev = wait_for(&mut call.events, |e| {
        matches!(e, MediaEvent::Latched { .. })
    })
    .await;
    assert_eq!(
        ev,
        MediaEvent::Latched {
            leg: call.a.id(),
            source: a.addr()
        }
    );
    assert_eq!(b.recv(WAIT).await.unwrap().payload, tagged(1, 0));

    // B's audio goes to where A really sends from, not to its SDP address.
    let mut b = b;
    b.send_audio(call.b.local_rtp(), PT_PCMU, &tagged(2, 0))
        .await;
    assert_eq!(a.recv(WAIT).await.unwrap().payload, tagged(2, 0));
    assert!(sdp_only.recv(QUIET).await.is_none());

    // A flood from another source after latching: nothing reaches B.
    for n in 0..25 {
        spoofer
            .send_audio(call.a.local_rtp(), PT_PCMU, &tagged(66, n))
            .await;
    }
    a.send_audio(call.a.local_rtp(), PT_PCMU, &tagged(1, 1))
        .await;
    let got = b.drain(QUIET).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload, tagged(1, 1));
    let s = call.session.stats(call.a.id()).await.unwrap();
    assert_eq!(s.dropped_spoofed, 25);
    assert_eq!(s.received, 2);
    assert_eq!(s.latched, Some(a.addr()));

    // A new SDP (re-INVITE) allows a new latch.
    call.session
        .set_remote(call.a.id(), RemoteMedia::new(spoofer.addr(), pcmu(None)))
        .await
        .unwrap();
    spoofer
        .send_audio(call.a.local_rtp(), PT_PCMU, &tagged(66, 99))
        .await;
    assert_eq!(b.recv(WAIT).await.unwrap().payload, tagged(66, 99));
    a.send_audio(call.a.local_rtp(), PT_PCMU, &tagged(1, 2))
        .await;
    assert!(b.recv(QUIET).await.is_none());
}

#[tokio::test]
async fn strict_leg_latches_only_on_its_sdp_address() {
    let engine = engine();
    let (tx, mut events) = mpsc::channel(64);
    let session = engine.session(tx).unwrap();
    let strict = LegOptions {
        latch_any_source: false,
        ..LegOptions::default()
    };
    let la = session.open_leg(strict).await.unwrap();
    let lb = session.open_leg(LegOptions::default()).await.unwrap();
    let mut a = Peer::new(1).await;
    let mut other = Peer::new(9).await;
    let b = Peer::new(2).await;
    session
        .set_remote(la.id(), RemoteMedia::new(a.addr(), pcmu(None)))
        .await
        .unwrap();
    session
        .set_remote(lb.id(), RemoteMedia::new(b.addr(), pcmu(None)))
        .await
        .unwrap();
    session.bridge(la.id(), lb.id()).await.unwrap();

    other
        .send_audio(la.local_rtp(), PT_PCMU, &tagged(9, 0))
        .await;
    assert!(b.recv(QUIET).await.is_none());
    a.send_audio(la.local_rtp(), PT_PCMU, &tagged(1, 0)).await;
    assert_eq!(b.recv(WAIT).await.unwrap().payload, tagged(1, 0));
    wait_for(
        &mut events,
        |e| matches!(e, MediaEvent::Latched { source, .. } if *source == a.addr()),
    )
    .await;
    let s = session.stats(la.id()).await.unwrap();
    assert_eq!(s.dropped_spoofed, 1);
}

#[tokio::test]
async fn malformed_packets_are_counted_and_the_call_goes_on() {
    let engine = engine();
    let mut a = Peer::new(1).await;
    let b = Peer::new(2).await;
    let call = bridged_call(&engine, &a, pcmu(Some(101)), &b, pcmu(Some(101))).await;
    let to = call.a.local_rtp();

    let mut good = [0u8; 172];
    good[0] = 0x80;
    good[12..].fill(0xff);
    let mut wrong_version = good;
    wrong_version[0] = 0x40;
    let mut csrc_past_end = good;
    csrc_past_end[0] = 0x8f;
    let mut ext_past_end = good;
    ext_past_end[0] = 0x90;
    ext_past_end[14] = 0xff;
    let mut bad_padding = good;
    bad_padding[0] = 0xa0;
    bad_padding[171] = 200;
    let mut short_event = [0u8; 14];
    short_event[0] = 0x80;
    short_event[1] = 101;
    let malformed: [&[u8]; 7] = [
        &[],
        &[0x80, 0, 1],
        &wrong_version,
        &csrc_past_end[..20],
        &ext_past_end,
        &bad_padding,
        &short_event,
    ];
    for m in malformed {
        a.send_raw(to, m).await;
    }
    let mut unknown_pt = good;
    unknown_pt[1] = 18; // G.729, not negotiated
    a.send_raw(to, &unknown_pt).await;
    a.send_raw(to, &unknown_pt).await;
    // The call still works.
    a.send_audio(to, PT_PCMU, &tagged(5, 5)).await;
    let got = b.drain(QUIET).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload, tagged(5, 5));
    let s = call.session.stats(call.a.id()).await.unwrap();
    // The empty datagram counts too.
    assert_eq!(s.dropped_malformed, 7);
    assert_eq!(s.dropped_unknown_pt, 2);
    assert_eq!(s.received, 1);
}

#[tokio::test]
async fn packets_before_the_sdp_are_not_relayed() {
    let engine = engine();
    let (tx, _events) = mpsc::channel(64);
    let session = engine.session(tx).unwrap();
    let la = session.open_leg(LegOptions::default()).await.unwrap();
    let lb = session.open_leg(LegOptions::default()).await.unwrap();
    let b = Peer::new(2).await;
    session
        .set_remote(lb.id(), RemoteMedia::new(b.addr(), pcmu(None)))
        .await
        .unwrap();
    session.bridge(la.id(), lb.id()).await.unwrap();
    let mut a = Peer::new(1).await;
    for n in 0..3 {
        a.send_audio(la.local_rtp(), PT_PCMU, &tagged(1, n)).await;
    }
    assert!(b.recv(QUIET).await.is_none());
    assert_eq!(session.stats(la.id()).await.unwrap().dropped_not_ready, 3);
}
