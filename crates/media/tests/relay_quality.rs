//! Quality per leg: loss from sequence gaps, RTCP SR/RR with RTT, periodic
//! and final quality events.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod relay_common;

use std::time::Duration;

use omnivox_media::codec::PT_PCMU;
use omnivox_media::relay::{LegOptions, MediaConfig, MediaEngine, MediaEvent, RemoteMedia};
use omnivox_media::rtp::rtcp::{self, ReportBlock, RtcpPacket};
use relay_common::*;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

#[tokio::test]
async fn rtcp_gives_rtt_and_quality_events_carry_loss() {
    let engine = MediaEngine::new(MediaConfig {
        rtcp_interval: Duration::from_millis(200),
        quality_interval: Duration::from_millis(300),
        ..config(Duration::from_secs(2))
    })
    .unwrap();
    let (tx, mut events) = mpsc::channel(256);
    let session = engine.session(tx).unwrap();
    let la = session.open_leg(LegOptions::default()).await.unwrap();
    let lb = session.open_leg(LegOptions::default()).await.unwrap();
    let mut a = Peer::new(0xa).await;
    let b = Peer::new(0xb).await;
    let a_rtcp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut remote_a = RemoteMedia::new(a.addr(), pcmu(None));
    remote_a.rtcp = Some(a_rtcp.local_addr().unwrap());
    session.set_remote(la.id(), remote_a).await.unwrap();
    session
        .set_remote(lb.id(), RemoteMedia::new(b.addr(), pcmu(None)))
        .await
        .unwrap();
    session.bridge(la.id(), lb.id()).await.unwrap();

    // A sends 50 packets, 5 of them lost on the way (sequence gaps); B
    // talks too, so the relay sends to A and reports with an SR.
    let mut b = b;
    for n in 0..50u8 {
        if n % 10 == 3 {
            a.seq = a.seq.wrapping_add(1);
            a.ts = a.ts.wrapping_add(160);
        } else {
            a.send_audio(la.local_rtp(), PT_PCMU, &tagged(1, n)).await;
        }
        b.send_audio(lb.local_rtp(), PT_PCMU, &tagged(2, n)).await;
    }

    // The relay's SR to A reports on A's stream.
    let mut buf = [0u8; 1500];
    let (sr_ntp, our_ssrc, block) = loop {
        let (n, from) = tokio::time::timeout(WAIT, a_rtcp.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(from, la.local_rtcp());
        let first = rtcp::parse_compound(&buf[..n]).next().unwrap().unwrap();
        if let RtcpPacket::SenderReport {
            ssrc,
            info,
            reports,
        } = first
        {
            assert_eq!(info.packet_count, 50);
            let block = reports.iter().next().expect("a report block on A");
            break (info.ntp, ssrc, block);
        }
    };
    assert_eq!(block.ssrc, a.ssrc);
    assert_eq!(block.cumulative_lost, 5);
    // A answers with an RR on the relay's stream, at once (DLSR 0).
    let rr = ReportBlock {
        ssrc: our_ssrc,
        last_sr: rtcp::ntp_middle(sr_ntp),
        fraction_lost: 0,
        ..ReportBlock::default()
    };
    let n = rtcp::write_receiver_report(&mut buf, a.ssrc, &[rr]).unwrap();
    a_rtcp.send_to(&buf[..n], la.local_rtcp()).await.unwrap();

    let deadline = tokio::time::Instant::now() + WAIT;
    let stats = loop {
        let s = session.stats(la.id()).await.unwrap();
        if s.quality.rtt_ms.is_some() || tokio::time::Instant::now() > deadline {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let rtt = stats.quality.rtt_ms.expect("RTT from the RR");
    assert!((0.0..200.0).contains(&rtt), "{rtt}");
    assert_eq!(stats.rtcp_received, 1);
    assert_eq!(stats.quality.packets_lost, 5);
    assert!((stats.quality.loss_percent - 10.0).abs() < 0.01);

    // Periodic quality for A shows the loss; its MOS is below a clean leg's.
    let ev = wait_for(
        &mut events,
        |e| matches!(e, MediaEvent::Quality { leg, last: false, .. } if *leg == la.id()),
    )
    .await;
    let MediaEvent::Quality { report: qa, .. } = ev else {
        unreachable!()
    };
    assert_eq!(qa.packets_received, 45);
    assert!(qa.mos < 4.0, "{}", qa.mos);

    // Closing gives each leg a final report.
    session.close().await.unwrap();
    let ev = wait_for(
        &mut events,
        |e| matches!(e, MediaEvent::Quality { leg, last: true, .. } if *leg == lb.id()),
    )
    .await;
    let MediaEvent::Quality { report: qb, .. } = ev else {
        unreachable!()
    };
    assert_eq!(qb.packets_received, 50);
    assert_eq!(qb.packets_lost, 0);
    assert!(qb.mos > 4.3, "{}", qb.mos);
}
