//! Every call's RTP anchored in Omnivox: real audio from a sipp carrier
//! (PCMA speech and RFC 4733 digits from sipp's pcap files) to a raw agent
//! phone (PCMU, so Omnivox transcodes), hold music, media timeout, SDP
//! refusal, and ports released after many calls.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::phone::{RawPhone, RtpIn, body, sdp_media};
use common::*;
use omnivox_domain::call::{CallState, HangupCause, LegId};
use omnivox_media::codec::Codec;
use omnivox_media::goertzel::{mean_square, tone_power};
use omnivox_sip::{
    CallCommand, CallNotice, CallRecord, DidRoute, DidTarget, Endpoint, LegMediaStats, Originate,
    SipConfig,
};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;
use uuid::Uuid;

const DID: &str = "+15550100001";
const CUSTOMER: &str = "+15550100002";

/// An agent-first call: the raw phone (alice) answers, then the sipp
/// carrier answers in PCMA and plays speech and two digits.
struct AudioCall {
    t: TestServer,
    phone: RawPhone,
    carrier: SippServer,
    /// sipp's media port.
    carrier_media: u16,
    id: Uuid,
    /// The INVITE the phone got.
    invite: String,
    notices: broadcast::Receiver<CallNotice>,
}

async fn audio_call(cfg: SipConfig, phone_packets: Option<u64>) -> AudioCall {
    let t = start(cfg).await;
    let mut phone = RawPhone::new(t.udp()).await;
    if let Some(n) = phone_packets {
        phone.stop_sending_after(n);
    }
    phone.register("alice", ACME, ACME_PW).await;
    let carrier_media = free_port();
    let mp = carrier_media.to_string();
    let carrier =
        SippServer::start_with("uas_play_audio.xml", free_port(), &[], 1, &["-mp", &mp]).await;
    t.server
        .calls()
        .set_trunks(vec![carrier_trunk(t.acme, carrier.port, "192.0.2.1")]);
    let notices = t.server.calls().subscribe();
    let call = t
        .server
        .calls()
        .originate(Originate {
            tenant_id: t.acme,
            first: Endpoint::Agent {
                agent_id: t.acme_alice,
            },
            second: Some(Endpoint::Number {
                number: CUSTOMER.into(),
            }),
            caller_id: Some(DID.into()),
            ring_timeout_secs: Some(10),
            amd: None,
            trunk_id: None,
            recording: None,
        })
        .await
        .unwrap();
    let invite = phone.answer(10).await;
    AudioCall {
        t,
        phone,
        carrier,
        carrier_media,
        id: call.id,
        invite,
        notices,
    }
}

async fn wait_state(t: &TestServer, id: Uuid, want: CallState) {
    let calls = t.server.calls().clone();
    let acme = t.acme;
    eventually(15, &format!("{want:?}"), || {
        calls.get(acme, id).is_some_and(|c| c.state == want)
    })
    .await;
}

async fn stats(t: &TestServer, id: Uuid, leg: LegId) -> LegMediaStats {
    let all = t.server.calls().media_stats(t.acme, id).await.unwrap();
    all.into_iter()
        .find(|m| m.leg == leg)
        .unwrap_or_else(|| panic!("no media stats for {leg:?}"))
}

async fn wait_record(t: &TestServer) -> CallRecord {
    eventually(20, "call record", || !t.records.records().is_empty()).await;
    t.records.records().pop().unwrap()
}

/// Digits published for `id` until `n` arrived (10 s at most).
async fn digits(
    rx: &mut broadcast::Receiver<CallNotice>,
    id: Uuid,
    n: usize,
) -> Vec<(LegId, char)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut out = Vec::new();
    while out.len() < n {
        let notice = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("only {out:?} within 10 s"))
            .unwrap();
        if let CallNotice::Dtmf {
            call_id,
            leg,
            digit,
            ..
        } = notice
            && call_id == id
        {
            out.push((leg, digit));
        }
    }
    out
}

fn decode(packets: &[RtpIn]) -> Vec<i16> {
    let mut samples = Vec::new();
    for p in packets.iter().filter(|p| p.pt == 0) {
        let mut out = vec![0i16; p.payload.len()];
        Codec::Pcmu.decode(&p.payload, &mut out);
        samples.extend(out);
    }
    samples
}

/// Waits until the phone has received `n` more packets than `from`.
async fn wait_packets(phone: &RawPhone, from: usize, n: usize) {
    eventually(10, &format!("{n} RTP packets at the phone"), || {
        phone.received.lock().unwrap().len() >= from + n
    })
    .await;
}

#[tokio::test]
async fn carrier_audio_and_digits_reach_the_agent_through_omnivox_only() {
    if skip_without_pcaps() {
        return;
    }
    let mut c = audio_call(config(), None).await;
    let (calls, acme, id) = (c.t.server.calls().clone(), c.t.acme, c.id);
    // The phone's offer is Omnivox's: our origin, our address, PCMU first
    // (nothing negotiated yet), telephone-event; nothing of the carrier.
    let offer = body(&c.invite).to_string();
    assert!(offer.contains("o=omnivox "), "{offer}");
    assert!(
        offer.contains("m=audio ") && offer.contains(" RTP/AVP 0 8 101\r\n"),
        "{offer}"
    );
    let omnivox_a = sdp_media(&offer).unwrap();
    assert_eq!(omnivox_a.ip().to_string(), "127.0.0.1");
    assert_ne!(omnivox_a.port(), c.carrier_media);
    wait_state(&c.t, id, CallState::Bridged).await;
    let bridged_at = Instant::now();

    // RFC 4733 digits from the carrier's pcaps become call.dtmf notices.
    let got = digits(&mut c.notices, id, 2).await;
    assert_eq!(got, [(LegId::B, '1'), (LegId::B, '#')]);

    let a = stats(&c.t, id, LegId::A).await;
    let b = stats(&c.t, id, LegId::B).await;
    assert_eq!(a.local_rtp, omnivox_a);
    // Transcoding: the phone speaks PCMU, the carrier PCMA.
    assert_eq!((a.codec, b.codec), (Some(Codec::Pcmu), Some(Codec::Pcma)));
    assert!(b.stats.received >= 50, "carrier audio counted: {b:?}");
    assert_eq!(
        b.stats.latched.map(|s| s.ip().to_string()),
        Some("127.0.0.1".to_string())
    );
    assert!(a.stats.sent >= 50, "audio sent to the phone: {a:?}");
    assert!(
        a.stats.received > 0 && b.stats.sent > 0,
        "and back: {a:?} {b:?}"
    );

    // Everything the phone got came from Omnivox's address for its leg,
    // as PCMU (transcoded) or as the forwarded telephone-events.
    let packets = c.phone.packets();
    assert!(
        packets.iter().all(|p| p.from == omnivox_a),
        "only Omnivox sends"
    );
    assert!(packets.iter().all(|p| p.pt == 0 || p.pt == 101));
    assert!(
        packets.iter().any(|p| p.pt == 101),
        "digits forwarded as RFC 4733"
    );
    // Before the bridge the phone heard ringback, after it the speech.
    let (before, after): (Vec<RtpIn>, Vec<RtpIn>) =
        packets.into_iter().partition(|p| p.at < bridged_at);
    let ring = decode(&before);
    assert!(
        ring.len() >= 800 && tone_power(&ring, 440.0) > 0.2 * mean_square(&ring),
        "ringback before the answer ({} samples)",
        ring.len()
    );
    let speech = decode(&after);
    assert!(speech.len() >= 50 * 160, "{} samples", speech.len());
    assert!(mean_square(&speech) > 1000.0, "speech, not silence");

    // Digits sent through the API go to a telephone-event leg as RFC 4733.
    calls
        .command(
            acme,
            id,
            CallCommand::Dtmf {
                leg: LegId::A,
                digits: "5".into(),
            },
        )
        .await
        .unwrap();
    let received = c.phone.received.clone();
    eventually(5, "RFC 4733 event 5 at the phone", || {
        received
            .lock()
            .unwrap()
            .iter()
            .any(|p| p.pt == 101 && p.payload.first() == Some(&5) && p.from == omnivox_a)
    })
    .await;

    calls.command(acme, id, CallCommand::Hangup).await.unwrap();
    c.phone.expect_bye(5).await;
    let carrier = c.carrier.finish().await;
    assert_sipp_ok(&carrier, "carrier");
    // The carrier's offer named Omnivox's port for its leg, not the phone's.
    let offers: Vec<&str> = carrier
        .output
        .lines()
        .filter_map(|l| l.split_once("OFFER ").map(|(_, r)| r.trim()))
        .collect();
    assert_eq!(
        offers,
        [format!("{} 0 8 101", b.local_rtp.port())],
        "{}",
        carrier.output
    );
    assert_ne!(b.local_rtp.port(), c.phone.rtp_addr().port());
    let r = wait_record(&c.t).await;
    assert_eq!(r.hangup.cause, HangupCause::Normal);
    // Each leg's record carries its media quality: the phone's clean
    // loopback stream rates well; the carrier's pcaps were rated too.
    let q = |leg| {
        r.legs
            .iter()
            .find(|l| l.leg == leg)
            .and_then(|l| l.quality.clone())
            .unwrap_or_else(|| panic!("no quality for {leg:?}: {r:#?}"))
    };
    let (qa, qb) = (q(LegId::A), q(LegId::B));
    assert!(
        qa.packets_received > 10 && qa.mos > 3.5 && qa.mos <= 4.5,
        "{qa:?}"
    );
    assert!(
        qb.packets_received >= 50 && (1.0..=4.5).contains(&qb.mos),
        "{qb:?}"
    );
    assert!(qb.r_factor > 0.0 && qa.loss_percent < 5.0, "{qa:?} {qb:?}");
    let calls2 = calls.clone();
    eventually(5, "media ports released", || {
        calls2.media_ports_in_use() == 0
    })
    .await;
}

#[tokio::test]
async fn hold_plays_music_to_the_held_party_only() {
    if skip_without_pcaps() {
        return;
    }
    let mut c = audio_call(config(), None).await;
    let (calls, acme, id) = (c.t.server.calls().clone(), c.t.acme, c.id);
    wait_state(&c.t, id, CallState::Bridged).await;
    // Hold the agent: a sendonly re-INVITE; the phone answers recvonly and
    // goes quiet, and hears the hold chime instead of the carrier.
    let hold = calls.command(acme, id, CallCommand::Hold { leg: LegId::A });
    let (held, reinvite) = tokio::join!(hold, c.phone.answer(5));
    held.unwrap();
    assert!(body(&reinvite).contains("a=sendonly"), "{reinvite}");
    assert_eq!(
        sdp_media(body(&reinvite)),
        Some(stats(&c.t, id, LegId::A).await.local_rtp)
    );
    let held_at = Instant::now();
    let from = c.phone.received.lock().unwrap().len();
    wait_packets(&c.phone, from, 50).await;
    let sent_to_carrier = stats(&c.t, id, LegId::B).await.stats.sent;
    let during: Vec<RtpIn> = c
        .phone
        .packets()
        .into_iter()
        .filter(|p| p.at > held_at + Duration::from_millis(60))
        .collect();
    let music = decode(&during[..during.len().min(15)]);
    // The first note of the chime (C5), not the carrier's speech.
    assert!(
        tone_power(&music, 523.25) > 0.5 * mean_square(&music),
        "hold chime at the held phone"
    );
    // The carrier hears nothing of it: nothing more is sent to its leg
    // while the held phone is quiet (at most a packet in flight).
    wait_packets(&c.phone, from, 75).await;
    let later = stats(&c.t, id, LegId::B).await.stats.sent;
    assert!(later <= sent_to_carrier + 1, "{sent_to_carrier} -> {later}");

    // Resume: sendrecv again, the phone talks and is relayed again.
    let resume = calls.command(acme, id, CallCommand::Resume { leg: LegId::A });
    let (resumed, reinvite) = tokio::join!(resume, c.phone.answer(5));
    resumed.unwrap();
    assert!(body(&reinvite).contains("a=sendrecv"), "{reinvite}");
    // The carrier's digits still arrive (it waits for the BYE after them).
    assert_eq!(digits(&mut c.notices, id, 2).await.len(), 2);
    assert_eq!(calls.get(acme, id).unwrap().state, CallState::Bridged);
    let t = &c.t;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while stats(t, id, LegId::B).await.stats.sent < later + 10 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "phone not relayed after resume"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    calls.command(acme, id, CallCommand::Hangup).await.unwrap();
    c.phone.expect_bye(5).await;
    assert_sipp_ok(&c.carrier.finish().await, "carrier");
    let _ = wait_record(&c.t).await;
}

#[tokio::test]
async fn a_phone_holding_the_call_gets_recvonly_and_its_party_hears_music() {
    if skip_without_pcaps() {
        return;
    }
    let mut c = audio_call(config(), None).await;
    let (calls, acme, id) = (c.t.server.calls().clone(), c.t.acme, c.id);
    wait_state(&c.t, id, CallState::Bridged).await;
    let omnivox_a = stats(&c.t, id, LegId::A).await.local_rtp;
    let resp = c.phone.reinvite("sendonly").await;
    assert!(body(&resp).contains("a=recvonly"), "{resp}");
    assert_eq!(sdp_media(body(&resp)), Some(omnivox_a), "our address only");
    wait_state(&c.t, id, CallState::OnHold).await;
    // The phone is quiet; the carrier's leg is sent hold music anyway.
    let quiet_from = stats(&c.t, id, LegId::A).await.stats.received;
    let sent = stats(&c.t, id, LegId::B).await.stats.sent;
    let t = &c.t;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while stats(t, id, LegId::B).await.stats.sent < sent + 25 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no music to the carrier"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(stats(t, id, LegId::A).await.stats.received <= quiet_from + 1);
    let resp = c.phone.reinvite("sendrecv").await;
    assert!(body(&resp).contains("a=sendrecv"), "{resp}");
    wait_state(&c.t, id, CallState::Bridged).await;
    assert_eq!(digits(&mut c.notices, id, 2).await.len(), 2);
    calls.command(acme, id, CallCommand::Hangup).await.unwrap();
    c.phone.expect_bye(5).await;
    assert_sipp_ok(&c.carrier.finish().await, "carrier");
}

#[tokio::test]
async fn in_band_digits_are_detected_on_a_leg_without_telephone_event() {
    if skip_without_pcaps() {
        return;
    }
    let t = start(config()).await;
    let mut phone = RawPhone::new(t.udp()).await;
    phone.te = false;
    phone.register("alice", ACME, ACME_PW).await;
    let carrier = SippServer::start("uas_play_audio.xml", free_port(), &[], 1).await;
    t.server
        .calls()
        .set_trunks(vec![carrier_trunk(t.acme, carrier.port, "192.0.2.1")]);
    let mut notices = t.server.calls().subscribe();
    let id = t
        .server
        .calls()
        .originate(Originate {
            tenant_id: t.acme,
            first: Endpoint::Agent {
                agent_id: t.acme_alice,
            },
            second: Some(Endpoint::Number {
                number: CUSTOMER.into(),
            }),
            caller_id: None,
            ring_timeout_secs: Some(10),
            amd: None,
            trunk_id: None,
            recording: None,
        })
        .await
        .unwrap()
        .id;
    phone.answer(10).await;
    wait_state(&t, id, CallState::Bridged).await;
    phone.play_digit('7');
    let got = digits(&mut notices, id, 3).await;
    assert!(got.contains(&(LegId::A, '7')), "{got:?}");
    assert!(got.contains(&(LegId::B, '1')), "{got:?}");
    t.server
        .calls()
        .command(t.acme, id, CallCommand::Hangup)
        .await
        .unwrap();
    phone.expect_bye(5).await;
    assert_sipp_ok(&carrier.finish().await, "carrier");
}

#[tokio::test]
async fn a_phone_that_stops_sending_rtp_ends_the_call_with_media_timeout() {
    if skip_without_pcaps() {
        return;
    }
    let mut cfg = config();
    cfg.media.rtp_timeout_secs = 3;
    // The phone sends half a second of audio after its answer, then stops.
    let c = audio_call(cfg, Some(25)).await;
    let id = c.id;
    wait_state(&c.t, id, CallState::Bridged).await;
    let bridged = Instant::now();
    c.phone.expect_bye(15).await;
    let r = wait_record(&c.t).await;
    assert_eq!(r.hangup.cause, HangupCause::MediaTimeout, "{r:#?}");
    let took = bridged.elapsed();
    assert!(took < Duration::from_secs(8), "ended after {took:?}");
    assert_sipp_ok(&c.carrier.finish().await, "carrier got the BYE");
}

/// INVITE number `n` from the carrier at `client` to the DID with `sdp`.
fn invite(client: &RawClient, n: usize, sdp: &str) -> String {
    let port = client.port();
    format!(
        "INVITE sip:15550100001@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-sdp-{n}-{port};rport\r\n\
         From: <sip:+15550100002@carrier.example>;tag=c{port}\r\n\
         To: <sip:15550100001@127.0.0.1>\r\nCall-ID: sdp-{n}-{port}@127.0.0.1\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:c@127.0.0.1:{port}>\r\nMax-Forwards: 70\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

#[tokio::test]
async fn an_offer_without_a_common_codec_or_malformed_gets_488() {
    let t = start(config()).await;
    let client = RawClient::new(t.udp()).await;
    t.server.calls().set_trunks(vec![carrier_trunk(
        t.acme,
        9,
        &format!("127.0.0.1:{}", client.port()),
    )]);
    t.calls_dir.add_did(DidRoute {
        tenant_id: t.acme,
        number: DID.into(),
        target: DidTarget::Agent {
            agent_id: t.acme_alice,
        },
    });
    let cases = [
        "v=0\r\no=c 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n",
        "v=0\r\ns=-\r\nm=audio 4000 RTP/AVP 0\r\n",
        "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/SAVP 0\r\n",
        "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 0 RTP/AVP 0\r\n",
    ];
    for (n, sdp) in cases.into_iter().enumerate() {
        client.send(invite(&client, n, sdp).as_bytes()).await;
        let final_resp = loop {
            let r = client.recv(3000).await.expect("a response");
            if status(&r) >= 200 {
                break r;
            }
        };
        assert_eq!(status(&final_resp), 488, "{sdp:?}\n{final_resp}");
        let ack = format!(
            "ACK sip:15550100001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{p};branch=z9hG4bK-sdp-{n}-{p};rport\r\n\
             From: <sip:+15550100002@carrier.example>;tag=c{p}\r\nTo: {}\r\nCall-ID: sdp-{n}-{p}@127.0.0.1\r\n\
             CSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            header(&final_resp, "To").unwrap(),
            p = client.port()
        );
        client.send(ack.as_bytes()).await;
    }
    assert!(t.records.records().is_empty(), "no call started");
    assert_eq!(t.server.calls().media_ports_in_use(), 0);
}

#[tokio::test]
async fn a_hundred_calls_leave_no_rtp_port_behind() {
    if skip_without_sipp() {
        return;
    }
    let t = start(config()).await;
    // The customer answers; the agent is not registered (480), so each
    // call opens two media legs, answers one, and ends.
    let carrier = SippServer::start("uas_answer.xml", free_port(), &[], 100).await;
    t.server
        .calls()
        .set_trunks(vec![carrier_trunk(t.acme, carrier.port, "192.0.2.1")]);
    let calls = t.server.calls().clone();
    for batch in 0..10 {
        for _ in 0..10 {
            calls
                .originate(Originate {
                    tenant_id: t.acme,
                    first: Endpoint::Number {
                        number: CUSTOMER.into(),
                    },
                    second: Some(Endpoint::Agent {
                        agent_id: t.acme_bob,
                    }),
                    caller_id: None,
                    ring_timeout_secs: Some(10),
                    amd: None,
                    trunk_id: None,
                    recording: None,
                })
                .await
                .unwrap();
        }
        let want = (batch + 1) * 10;
        eventually(30, &format!("{want} records"), || {
            t.records.records().len() >= want
        })
        .await;
    }
    assert_sipp_ok(&carrier.finish().await, "carrier");
    let records = t.records.records();
    assert_eq!(records.len(), 100);
    assert!(
        records.iter().all(|r| r.legs[0].answered_at.is_some()),
        "the customers answered"
    );
    let c2 = calls.clone();
    eventually(10, "every RTP port back in the pool", || {
        c2.media_ports_in_use() == 0
    })
    .await;
    assert_eq!(calls.live_count(), 0);
}

#[tokio::test]
async fn a_late_offer_gets_our_offer_in_the_200_and_the_ack_answers_it() {
    let t = start(config()).await;
    let mut phone = RawPhone::new(t.udp()).await;
    phone.register("alice", ACME, ACME_PW).await;
    let caller = RawClient::new(t.udp()).await;
    let caller_rtp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    t.server.calls().set_trunks(vec![carrier_trunk(
        t.acme,
        9,
        &format!("127.0.0.1:{}", caller.port()),
    )]);
    t.calls_dir.add_did(DidRoute {
        tenant_id: t.acme,
        number: DID.into(),
        target: DidTarget::Agent {
            agent_id: t.acme_alice,
        },
    });
    // An INVITE without a body (late offer).
    caller.send(invite(&caller, 9, "").as_bytes()).await;
    phone.answer(10).await;
    let ok = loop {
        let r = caller.recv(5000).await.expect("a response");
        if status(&r) >= 200 {
            break r;
        }
    };
    assert_eq!(status(&ok), 200, "{ok}");
    let offer = body(&ok);
    assert!(offer.contains(" RTP/AVP 0 8 101\r\n"), "our offer: {offer}");
    let omnivox_a = sdp_media(offer).unwrap();
    // The ACK answers in PCMA only.
    let answer = format!(
        "v=0\r\no=c 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n",
        caller_rtp.local_addr().unwrap().port()
    );
    let p = caller.port();
    let contact = header(&ok, "Contact").unwrap();
    let target = contact.trim_start_matches('<').split('>').next().unwrap();
    let ack = format!(
        "ACK {target} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{p};branch=z9hG4bK-late-ack-{p};rport\r\n\
         From: <sip:+15550100002@carrier.example>;tag=c{p}\r\nTo: {}\r\nCall-ID: sdp-9-{p}@127.0.0.1\r\n\
         CSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{answer}",
        header(&ok, "To").unwrap(),
        answer.len()
    );
    caller.send(ack.as_bytes()).await;
    // The phone's PCMU tone reaches the caller from Omnivox, as PCMA.
    let mut buf = [0u8; 2048];
    let (n, from) = tokio::time::timeout(Duration::from_secs(5), caller_rtp.recv_from(&mut buf))
        .await
        .expect("RTP at the caller")
        .unwrap();
    assert_eq!(from, omnivox_a);
    assert!(n > 12 && buf[1] & 0x7f == 8, "PCMA from Omnivox");
    let id = t.server.calls().list(t.acme)[0].id;
    let a = stats(&t, id, LegId::A).await;
    assert_eq!(a.codec, Some(Codec::Pcma));
    t.server
        .calls()
        .command(t.acme, id, CallCommand::Hangup)
        .await
        .unwrap();
    phone.expect_bye(5).await;
    let r = wait_record(&t).await;
    assert_eq!(r.hangup.cause, HangupCause::Normal);
}
