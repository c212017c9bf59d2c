//! Supervisor listen / whisper / barge on a live call, checked by what each
//! real peer receives.
//!
//! The customer (a raw phone reached through a carrier trunk), the agent
//! (alice's raw phone) and the supervisor (bob's raw phone) each send a
//! 1 kHz PCMU tone, one at a time; every RTP packet each of them receives is
//! decoded, so "X hears Y" means X's phone got Y's tone while only Y talked.
//! A second test has a sipp carrier as the supervisor (reached as a number
//! through the trunk) talking PCMA speech: Omnivox decodes it for the mix,
//! and the call's recording holds it only while the supervisor barges.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::phone::{RawPhone, RtpIn};
use common::*;
use omnivox_domain::call::{CallState, HangupCause, LegId, LegState, MonitorMode};
use omnivox_media::codec::Codec;
use omnivox_media::goertzel::{mean_square, tone_power};
use omnivox_media::record::LocalStore;
use omnivox_sip::{
    CallCommand, CallError, CallNotice, CallService, Endpoint, Originate, RecordingPolicy,
};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

const DID: &str = "+15550100001";
const CUSTOMER: &str = "+15550100002";
const SUPERVISOR_NUMBER: &str = "+15550100003";

/// PCMU audio of the packets received within `[from, to)`.
fn heard(phone: &RawPhone, from: Instant, to: Instant) -> Vec<i16> {
    let packets: Vec<RtpIn> = phone
        .packets()
        .into_iter()
        .filter(|p| p.pt == 0 && p.at >= from && p.at < to)
        .collect();
    let mut samples = Vec::new();
    for p in packets {
        let mut out = vec![0i16; p.payload.len()];
        Codec::Pcmu.decode(&p.payload, &mut out);
        samples.extend(out);
    }
    samples
}

/// A loud 1 kHz tone (the raw phones' signal) fills most of `samples`.
fn is_tone(s: &[i16]) -> bool {
    s.len() >= 160 * 10 && mean_square(s) > 1.0e6 && tone_power(s, 1000.0) > 0.5 * mean_square(s)
}

/// Nothing, or (near) silence.
fn is_quiet(s: &[i16]) -> bool {
    mean_square(s) < 1.0e4
}

/// Lets exactly the phones flagged talk (the others go quiet), waits for
/// the change to settle, and returns what each phone received over the
/// next half second.
async fn round(phones: &[&RawPhone], talking: &[bool]) -> Vec<Vec<i16>> {
    for (p, on) in phones.iter().zip(talking) {
        p.stop_sending_after(if *on { 1_000_000 } else { 0 });
    }
    tokio::time::sleep(Duration::from_millis(250)).await;
    let from = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let to = Instant::now();
    phones.iter().map(|p| heard(p, from, to)).collect()
}

async fn wait_state(
    calls: &CallService,
    tenant: omnivox_domain::TenantId,
    id: Uuid,
    want: CallState,
) {
    eventually(15, &format!("{want:?}"), || {
        calls.get(tenant, id).is_some_and(|c| c.state == want)
    })
    .await;
}

/// Waits until the monitor leg is in `want` (`None`: no monitor leg).
async fn wait_monitor_leg(
    calls: &CallService,
    tenant: omnivox_domain::TenantId,
    id: Uuid,
    want: Option<LegState>,
) {
    eventually(10, &format!("monitor leg {want:?}"), || {
        calls.get(tenant, id).is_some_and(|c| {
            c.legs
                .iter()
                .find(|l| l.leg == LegId::Monitor)
                .map(|l| l.state)
                == want
        })
    })
    .await;
}

/// Sends a BYE in the dialog `invite` (an INVITE the phone answered) and
/// waits for its 200.
async fn hang_up(phone: &RawPhone, invite: &str) {
    let port = phone.client.port();
    let target = header(invite, "Contact")
        .and_then(|c| c.split_once('<'))
        .and_then(|(_, r)| r.split_once('>'))
        .map(|(uri, _)| uri.to_string())
        .expect("Contact in Omnivox's INVITE");
    // The raw phone tags its answers with its process id.
    let from = format!(
        "{};tag=phone{}",
        header(invite, "To").unwrap(),
        std::process::id()
    );
    let bye = format!(
        "BYE {target} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-bye-{port};rport\r\n\
         From: {from}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 7 BYE\r\nMax-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n",
        header(invite, "From").unwrap(),
        header(invite, "Call-ID").unwrap(),
    );
    phone.client.send(bye.as_bytes()).await;
    loop {
        let r = phone.client.recv(5000).await.expect("an answer to the BYE");
        if r.starts_with("SIP/2.0 ") && status(&r) >= 200 {
            assert_eq!(status(&r), 200, "{r}");
            return;
        }
    }
}

/// No SIP message reaches any of `phones` for a moment (a mode change
/// re-INVITEs nobody).
async fn no_signalling(phones: &[&RawPhone]) {
    for p in phones {
        if let Some(msg) = p.client.recv(150).await {
            panic!("unexpected SIP to a phone: {msg}");
        }
    }
}

#[tokio::test]
async fn supervisor_listens_whispers_and_barges_by_what_each_phone_receives() {
    let t = start(config()).await;
    let calls = t.server.calls().clone();
    let acme = t.acme;
    let mut agent = RawPhone::new(t.udp()).await;
    agent.register("alice", ACME, ACME_PW).await;
    let mut sup = RawPhone::new(t.udp()).await;
    sup.register("bob", ACME, "bob-pw").await;
    // The customer answers the carrier trunk's INVITEs.
    let mut customer = RawPhone::new(t.udp()).await;
    calls.set_trunks(vec![carrier_trunk(
        acme,
        customer.client.port(),
        "192.0.2.1",
    )]);
    let id = calls
        .originate(Originate {
            tenant_id: acme,
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
        .unwrap()
        .id;
    agent.answer(10).await;
    customer.answer(10).await;
    wait_state(&calls, acme, id, CallState::Bridged).await;
    const C: usize = 0;
    const A: usize = 1;
    const S: usize = 2;
    let only = |who: usize| {
        let mut v = [false; 3];
        v[who] = true;
        v
    };

    // Not yet monitored: customer and agent hear each other directly.
    let r = round(&[&customer, &agent, &sup], &only(A)).await;
    assert!(is_tone(&r[C]), "customer hears the agent");

    // Monitoring needs call_monitor's command on this tenant's call.
    let monitor = |mode| CallCommand::Monitor {
        to: Endpoint::Agent {
            agent_id: t.acme_bob,
        },
        mode,
    };
    assert_eq!(
        calls
            .command(t.globex, id, monitor(MonitorMode::Listen))
            .await,
        Err(CallError::NotFound)
    );
    assert!(matches!(
        calls
            .command(
                acme,
                id,
                CallCommand::MonitorMode {
                    mode: MonitorMode::Barge
                }
            )
            .await,
        Err(CallError::Conflict(_))
    ));
    calls
        .command(acme, id, monitor(MonitorMode::Listen))
        .await
        .unwrap();
    // Only one supervisor per call.
    assert!(matches!(
        calls.command(acme, id, monitor(MonitorMode::Barge)).await,
        Err(CallError::Conflict(_))
    ));
    let sup_invite = sup.answer(10).await;
    assert!(sup_invite.contains("o=omnivox "), "{sup_invite}");
    wait_monitor_leg(&calls, acme, id, Some(LegState::Answered)).await;
    let snap = calls.get(acme, id).unwrap();
    assert_eq!(snap.monitor, Some(MonitorMode::Listen));
    assert_eq!(snap.state, CallState::Bridged);
    assert_eq!(
        snap.agent_id,
        Some(t.acme_alice),
        "the supervisor is not the call's agent"
    );
    // The supervisor's leg cannot be held through the leg commands.
    assert!(matches!(
        calls
            .command(
                acme,
                id,
                CallCommand::Hold {
                    leg: LegId::Monitor
                }
            )
            .await,
        Err(CallError::Invalid(_))
    ));

    // Listen: the supervisor hears both; nobody hears the supervisor.
    let r = round(&[&customer, &agent, &sup], &only(S)).await;
    assert!(
        is_quiet(&r[C]),
        "listen: customer must not hear the supervisor"
    );
    assert!(
        is_quiet(&r[A]),
        "listen: agent must not hear the supervisor"
    );
    let r = round(&[&customer, &agent, &sup], &only(C)).await;
    assert!(is_tone(&r[S]), "listen: supervisor hears the customer");
    assert!(is_tone(&r[A]), "listen: agent still hears the customer");
    let r = round(&[&customer, &agent, &sup], &only(A)).await;
    assert!(is_tone(&r[S]), "listen: supervisor hears the agent");
    assert!(is_tone(&r[C]), "listen: customer still hears the agent");

    // Whisper: only the agent hears the supervisor. No re-INVITE; the
    // change is published.
    let mut notices = calls.subscribe();
    calls
        .command(
            acme,
            id,
            CallCommand::MonitorMode {
                mode: MonitorMode::Whisper,
            },
        )
        .await
        .unwrap();
    no_signalling(&[&customer, &agent, &sup]).await;
    assert_eq!(
        calls.get(acme, id).unwrap().monitor,
        Some(MonitorMode::Whisper)
    );
    let notice = tokio::time::timeout(Duration::from_secs(1), notices.recv())
        .await
        .expect("a notice for the mode change")
        .unwrap();
    assert!(
        matches!(&notice, CallNotice::Update(u)
            if u.call.id == id && u.call.monitor == Some(MonitorMode::Whisper) && u.from == u.to),
        "{notice:?}"
    );
    let r = round(&[&customer, &agent, &sup], &only(S)).await;
    assert!(is_tone(&r[A]), "whisper: agent hears the supervisor");
    assert!(
        is_quiet(&r[C]),
        "whisper: customer must not hear the supervisor"
    );
    let r = round(&[&customer, &agent, &sup], &only(C)).await;
    assert!(
        is_tone(&r[S]) && is_tone(&r[A]),
        "whisper: both hear the customer"
    );

    // Barge: both hear the supervisor.
    calls
        .command(
            acme,
            id,
            CallCommand::MonitorMode {
                mode: MonitorMode::Barge,
            },
        )
        .await
        .unwrap();
    no_signalling(&[&customer, &agent, &sup]).await;
    let r = round(&[&customer, &agent, &sup], &only(S)).await;
    assert!(is_tone(&r[A]), "barge: agent hears the supervisor");
    assert!(is_tone(&r[C]), "barge: customer hears the supervisor");
    let r = round(&[&customer, &agent, &sup], &only(A)).await;
    assert!(
        is_tone(&r[S]) && is_tone(&r[C]),
        "barge: both hear the agent"
    );
    // The relay's counters agree: the supervisor's leg is sent the mix and
    // its own audio was received.
    let stats = calls.media_stats(acme, id).await.unwrap();
    let sup_stats = stats.iter().find(|m| m.leg == LegId::Monitor).unwrap();
    assert!(
        sup_stats.stats.sent > 50 && sup_stats.stats.received > 25,
        "{sup_stats:?}"
    );
    assert_eq!(sup_stats.codec, Some(Codec::Pcmu));

    // Stop: BYE to the supervisor only; the call goes on, bridged again.
    calls
        .command(acme, id, CallCommand::MonitorStop)
        .await
        .unwrap();
    sup.expect_bye(5).await;
    wait_monitor_leg(&calls, acme, id, None).await;
    assert_eq!(calls.get(acme, id).unwrap().monitor, None);
    assert_eq!(calls.get(acme, id).unwrap().state, CallState::Bridged);
    let r = round(&[&customer, &agent, &sup], &[true, true, true]).await;
    assert!(
        is_tone(&r[C]) && is_tone(&r[A]),
        "the parties hear each other again"
    );
    assert!(is_quiet(&r[S]), "the supervisor is gone");
    assert!(matches!(
        calls.command(acme, id, CallCommand::MonitorStop).await,
        Err(CallError::Conflict(_))
    ));

    // A second supervisor session that the supervisor ends by hanging up.
    calls
        .command(acme, id, monitor(MonitorMode::Barge))
        .await
        .unwrap();
    let invite = sup.answer(10).await;
    wait_monitor_leg(&calls, acme, id, Some(LegState::Answered)).await;
    let r = round(&[&customer, &agent, &sup], &only(S)).await;
    assert!(
        is_tone(&r[C]) && is_tone(&r[A]),
        "barging in from the start"
    );
    hang_up(&sup, &invite).await;
    wait_monitor_leg(&calls, acme, id, None).await;
    assert_eq!(calls.get(acme, id).unwrap().state, CallState::Bridged);
    let r = round(&[&customer, &agent, &sup], &only(C)).await;
    assert!(
        is_tone(&r[A]),
        "the agent hears the customer after the supervisor left"
    );
    let r = round(&[&customer, &agent, &sup], &only(A)).await;
    assert!(is_tone(&r[C]), "and the other way");

    // A third one, then the call ends: the supervisor gets a BYE too.
    calls
        .command(acme, id, monitor(MonitorMode::Whisper))
        .await
        .unwrap();
    sup.answer(10).await;
    wait_monitor_leg(&calls, acme, id, Some(LegState::Answered)).await;
    calls.command(acme, id, CallCommand::Hangup).await.unwrap();
    let (a, c, s) = tokio::join!(
        agent.expect_bye(5),
        customer.expect_bye(5),
        sup.expect_bye(5)
    );
    let _ = (a, c, s);
    eventually(20, "call record", || !t.records.records().is_empty()).await;
    let record = t.records.records().pop().unwrap();
    let monitors: Vec<_> = record
        .legs
        .iter()
        .filter(|l| l.leg == LegId::Monitor)
        .collect();
    assert_eq!(monitors.len(), 3, "{record:#?}");
    assert!(monitors.iter().all(|l| l.agent_id == Some(t.acme_bob)));
    assert!(monitors.iter().all(|l| l.answered_at.is_some()));
    assert_eq!(record.hangup.cause, HangupCause::Normal);
    assert!(
        record.transfer_chain.is_empty(),
        "{:?}",
        record.transfer_chain
    );
    let calls2 = calls.clone();
    eventually(5, "media ports released", || {
        calls2.media_ports_in_use() == 0
    })
    .await;
}

#[tokio::test]
async fn a_sipp_supervisor_on_a_number_is_heard_as_its_mode_says() {
    if skip_without_pcaps() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::new(dir.path()).unwrap();
    let t = start_with_recordings(config(), Some(Arc::new(store.clone()))).await;
    t.calls_dir
        .set_recording_policy(t.acme, RecordingPolicy::OnDemand);
    let calls = t.server.calls().clone();
    let acme = t.acme;
    // An agent-to-agent call: alice (A) calls bob (B, the agent a whisper
    // reaches: the answering agent).
    let mut a = RawPhone::new(t.udp()).await;
    a.register("alice", ACME, ACME_PW).await;
    let mut b = RawPhone::new(t.udp()).await;
    b.register("bob", ACME, "bob-pw").await;
    let mp = free_port().to_string();
    let supervisor =
        SippServer::start_with("uas_monitor.xml", free_port(), &[], 1, &["-mp", &mp]).await;
    calls.set_trunks(vec![carrier_trunk(acme, supervisor.port, "192.0.2.1")]);
    let id = calls
        .originate(Originate {
            tenant_id: acme,
            first: Endpoint::Agent {
                agent_id: t.acme_alice,
            },
            second: Some(Endpoint::Agent {
                agent_id: t.acme_bob,
            }),
            caller_id: Some(DID.into()),
            ring_timeout_secs: Some(10),
            amd: None,
            trunk_id: None,
            recording: None,
        })
        .await
        .unwrap()
        .id;
    a.answer(10).await;
    b.answer(10).await;
    wait_state(&calls, acme, id, CallState::Bridged).await;
    // Both phones are quiet: all they receive now comes from the supervisor.
    a.stop_sending_after(0);
    b.stop_sending_after(0);
    calls
        .command(acme, id, CallCommand::StartRecording)
        .await
        .unwrap();
    calls
        .command(
            acme,
            id,
            CallCommand::Monitor {
                to: Endpoint::Number {
                    number: SUPERVISOR_NUMBER.into(),
                },
                mode: MonitorMode::Listen,
            },
        )
        .await
        .unwrap();
    let answered = tokio::time::timeout(Duration::from_secs(15), async {
        while !calls.get(acme, id).is_some_and(|c| {
            c.legs
                .iter()
                .any(|l| l.leg == LegId::Monitor && l.state == LegState::Answered)
        }) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    if answered.is_err() {
        let call = calls.get(acme, id);
        let run = supervisor.finish().await;
        panic!("the supervisor never answered: {call:#?}\n{}", run.output);
    }
    // The recording starts with half a second of near silence.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let speech = |s: &[i16]| s.len() >= 160 * 10 && mean_square(s) > 1.0e5;
    let window = || async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let from = Instant::now();
        tokio::time::sleep(Duration::from_millis(600)).await;
        (
            heard(&a, from, Instant::now()),
            heard(&b, from, Instant::now()),
        )
    };
    let (ha, hb) = window().await;
    assert!(
        is_quiet(&ha) && is_quiet(&hb),
        "listen: nobody hears the supervisor"
    );
    let sup_stats = calls
        .media_stats(acme, id)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.leg == LegId::Monitor)
        .unwrap();
    // The carrier speaks PCMA; the mix decodes it.
    assert_eq!(sup_stats.codec, Some(Codec::Pcma));
    assert!(sup_stats.stats.received > 20, "{sup_stats:?}");

    calls
        .command(
            acme,
            id,
            CallCommand::MonitorMode {
                mode: MonitorMode::Whisper,
            },
        )
        .await
        .unwrap();
    let (ha, hb) = window().await;
    assert!(
        speech(&hb),
        "whisper: the agent (B) hears the supervisor's speech"
    );
    assert!(is_quiet(&ha), "whisper: the other party (A) does not");

    let barge_at = Instant::now();
    calls
        .command(
            acme,
            id,
            CallCommand::MonitorMode {
                mode: MonitorMode::Barge,
            },
        )
        .await
        .unwrap();
    let (ha, hb) = window().await;
    assert!(
        speech(&ha) && speech(&hb),
        "barge: both hear the supervisor"
    );

    calls
        .command(acme, id, CallCommand::MonitorStop)
        .await
        .unwrap();
    let barged = barge_at.elapsed();
    wait_monitor_leg(&calls, acme, id, None).await;
    assert_sipp_ok(&supervisor.finish().await, "supervisor");
    assert_eq!(calls.get(acme, id).unwrap().state, CallState::Bridged);
    calls.command(acme, id, CallCommand::Hangup).await.unwrap();
    a.expect_bye(5).await;
    b.expect_bye(5).await;

    // The recording is what A (the customer side) heard: the supervisor
    // while barging, on the right; not while listening or whispering
    // (nothing else was said).
    eventually(10, "finished recording", || {
        !t.records.recordings().is_empty()
    })
    .await;
    let rec = t.records.recordings().pop().unwrap();
    let wav = std::fs::read(store.path_for(&rec.meta.key)).unwrap();
    let (left, right) = channels(&wav);
    assert!(is_quiet(&left), "left: A said nothing");
    assert!(speech(&right), "right: the barging supervisor");
    assert!(
        rec.meta.duration >= Duration::from_millis(400)
            && rec.meta.duration <= barged + Duration::from_millis(200),
        "only the barge is recorded: {:?} of audio, barged for {barged:?}",
        rec.meta.duration
    );
}
