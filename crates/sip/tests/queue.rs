//! Calls Omnivox answers for a queue, offered to agents one at a time:
//! a sipp carrier calls a DID routed to a queue, sipp phones take or
//! refuse the offers. And calls answered for a flow, which get prompts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use omnivox_domain::call::{CallState, HangupCause, LegId};
use omnivox_media::prompt::Prompt;
use omnivox_media::record::{LocalStore, RecordingKey, RecordingStore};
use omnivox_sip::RecordedMessage;
use omnivox_sip::{
    Application, CallCommand, CallError, CallNotice, DidRoute, DidTarget, Endpoint, PromptEnd,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use uuid::Uuid;

const DID: &str = "+15550100001";

/// A server whose DID routes to a queue, the carrier trunk for its calls,
/// and the carrier's port.
async fn queue_server() -> (TestServer, Uuid, u16) {
    let queue = Uuid::now_v7();
    let (t, carrier_port) = did_server(DidTarget::Queue { queue_id: queue }).await;
    (t, queue, carrier_port)
}

/// A server whose DID routes to `target`, the carrier trunk for its calls,
/// and the carrier's port.
async fn did_server(target: DidTarget) -> (TestServer, u16) {
    did_server_with(target, None).await
}

/// Like [`did_server`], recording calls and messages into `store`.
async fn did_server_with(
    target: DidTarget,
    store: Option<Arc<dyn RecordingStore>>,
) -> (TestServer, u16) {
    let t = start_with_recordings(config(), store).await;
    let carrier_port = free_port();
    t.server.calls().set_trunks(vec![carrier_trunk(
        t.acme,
        9,
        &format!("127.0.0.1:{carrier_port}"),
    )]);
    t.calls_dir.add_did(DidRoute {
        tenant_id: t.acme,
        number: DID.into(),
        target,
    });
    (t, carrier_port)
}

/// The caller: answered by Omnivox, stays on the line until its BYE.
fn caller(t: &TestServer, port: u16) -> tokio::task::JoinHandle<SippRun> {
    let target = t.udp();
    tokio::spawn(async move {
        let p = port.to_string();
        sipp(
            "uac_queue_caller.xml",
            target,
            "u1",
            &[],
            None,
            &[
                "-p",
                &p,
                "-s",
                "15550100001",
                "-key",
                "caller",
                "+14155550123",
            ],
        )
        .await
    })
}

async fn next_notice(
    rx: &mut broadcast::Receiver<CallNotice>,
    want: impl Fn(&CallNotice) -> bool,
) -> CallNotice {
    tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let n = rx.recv().await.expect("notices");
            if want(&n) {
                return n;
            }
        }
    })
    .await
    .expect("the notice in time")
}

async fn answered(rx: &mut broadcast::Receiver<CallNotice>) -> (Uuid, Application, String) {
    match next_notice(rx, |n| matches!(n, CallNotice::Answered { .. })).await {
        CallNotice::Answered {
            call_id,
            application,
            caller,
            ..
        } => (call_id, application, caller),
        _ => unreachable!(),
    }
}

/// The next offer's end: it must be `agent`'s and answered or not as
/// `answered` says; returns why it failed.
async fn offer_ended(
    rx: &mut broadcast::Receiver<CallNotice>,
    agent: omnivox_domain::UserId,
    answered: bool,
) -> Option<HangupCause> {
    match next_notice(rx, |n| matches!(n, CallNotice::OfferEnded { .. })).await {
        CallNotice::OfferEnded {
            to,
            answered: ok,
            cause,
            ..
        } => {
            assert_eq!(to, Endpoint::Agent { agent_id: agent });
            assert_eq!(ok, answered, "offer to {agent:?} answered? ({cause:?})");
            cause
        }
        _ => unreachable!(),
    }
}

fn offer(agent: omnivox_domain::UserId) -> CallCommand {
    CallCommand::Offer {
        to: Endpoint::Agent { agent_id: agent },
        ring_timeout_secs: 10,
    }
}

#[tokio::test]
async fn a_queued_caller_hears_music_until_an_agent_takes_the_offer() {
    if skip_without_pcaps() {
        return;
    }
    let (t, queue, carrier_port) = queue_server().await;
    // alice is busy, bob answers.
    let (alice_port, bob_port) = (free_port(), free_port());
    register_phone(&t, "alice", ACME, ACME_PW, alice_port).await;
    register_phone(&t, "bob", ACME, "bob-pw", bob_port).await;
    let (_busy, _tmp) = {
        let (tmp, path) = scenario_with(
            "uas_reject.xml",
            &[("RESPONSE_CODE", "486"), ("RESPONSE_REASON", "Busy Here")],
        );
        (
            SippServer::start(path.to_str().unwrap(), alice_port, &[], 1).await,
            tmp,
        )
    };
    let bob = SippServer::start("uas_answer.xml", bob_port, &[], 1).await;
    let mut rx = t.server.calls().subscribe();
    let run = caller(&t, carrier_port);

    let (call, application, from) = answered(&mut rx).await;
    assert_eq!(application, Application::Queue { queue_id: queue });
    assert_eq!(from, "+14155550123");
    let calls = t.server.calls();
    // Answered and waiting: the caller hears hold music from Omnivox.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let waiting = calls.get(t.acme, call).unwrap();
    assert!(!waiting.state.is_ended());
    let stats = calls.media_stats(t.acme, call).await.unwrap();
    let a = stats.iter().find(|s| s.leg == LegId::A).unwrap();
    assert!(
        a.stats.quality.packets_sent > 10,
        "music to the caller: {:?}",
        a.stats
    );

    // The first agent is busy: the call waits on.
    calls
        .command(t.acme, call, offer(t.acme_alice))
        .await
        .unwrap();
    let cause = offer_ended(&mut rx, t.acme_alice, false).await;
    assert_eq!(cause, Some(HangupCause::Busy));
    let after = calls.get(t.acme, call).unwrap();
    assert!(!after.state.is_ended(), "{after:?}");
    assert_eq!(after.agent_id, None, "a refused offer names no agent");

    // The second answers and is bridged.
    calls
        .command(t.acme, call, offer(t.acme_bob))
        .await
        .unwrap();
    offer_ended(&mut rx, t.acme_bob, true).await;
    eventually(5, "bridged", || {
        calls
            .get(t.acme, call)
            .is_some_and(|c| c.state == CallState::Bridged)
    })
    .await;
    assert_eq!(calls.get(t.acme, call).unwrap().agent_id, Some(t.acme_bob));
    // No second offer on a connected call.
    assert!(matches!(
        calls.command(t.acme, call, offer(t.acme_alice)).await,
        Err(CallError::Conflict(_))
    ));

    calls
        .command(t.acme, call, CallCommand::Hangup)
        .await
        .unwrap();
    assert_sipp_ok(&run.await.unwrap(), "caller");
    assert_sipp_ok(&bob.finish().await, "bob");
    let records = {
        eventually(20, "the call record", || !t.records.records().is_empty()).await;
        t.records.records()
    };
    let r = &records[0];
    assert_eq!(r.call.agent_id, Some(t.acme_bob));
    let parties: Vec<_> = r
        .legs
        .iter()
        .map(|l| (l.party.clone(), l.hangup.cause))
        .collect();
    assert!(
        parties.contains(&(format!("agent:{}", t.acme_alice), HangupCause::Busy)),
        "the refused offer is in the record: {parties:?}"
    );
}

#[tokio::test]
async fn a_new_offer_withdraws_the_one_still_ringing() {
    if skip_without_pcaps() {
        return;
    }
    let (t, _queue, carrier_port) = queue_server().await;
    let (alice_port, bob_port) = (free_port(), free_port());
    register_phone(&t, "alice", ACME, ACME_PW, alice_port).await;
    register_phone(&t, "bob", ACME, "bob-pw", bob_port).await;
    let alice = SippServer::start("uas_ring_cancel.xml", alice_port, &[], 1).await;
    let bob = SippServer::start("uas_answer.xml", bob_port, &[], 1).await;
    let mut rx = t.server.calls().subscribe();
    let run = caller(&t, carrier_port);
    let (call, _, _) = answered(&mut rx).await;
    let calls = t.server.calls();

    calls
        .command(t.acme, call, offer(t.acme_alice))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Offering bob withdraws alice's ringing offer first.
    calls
        .command(t.acme, call, offer(t.acme_bob))
        .await
        .unwrap();
    let cause = offer_ended(&mut rx, t.acme_alice, false).await;
    assert_eq!(cause, Some(HangupCause::Cancelled));
    offer_ended(&mut rx, t.acme_bob, true).await;
    assert_sipp_ok(&alice.finish().await, "alice sees the CANCEL");

    // Withdrawing when nothing rings is harmless.
    calls
        .command(t.acme, call, CallCommand::CancelOffer)
        .await
        .unwrap();
    calls
        .command(t.acme, call, CallCommand::Hangup)
        .await
        .unwrap();
    assert_sipp_ok(&run.await.unwrap(), "caller");
    assert_sipp_ok(&bob.finish().await, "bob");
}

#[tokio::test]
async fn only_calls_answered_for_an_application_take_offers() {
    if skip_without_sipp() {
        return;
    }
    let t = start(config()).await;
    let customer = free_port();
    let carrier = SippServer::start("uas_answer.xml", customer, &[], 1).await;
    t.server
        .calls()
        .set_trunks(vec![carrier_trunk(t.acme, customer, "192.0.2.1")]);
    let call = t
        .server
        .calls()
        .originate(omnivox_sip::Originate {
            tenant_id: t.acme,
            first: Endpoint::Number {
                number: "+15550100002".into(),
            },
            second: None,
            caller_id: None,
            ring_timeout_secs: None,
            amd: None,
            trunk_id: None,
            recording: None,
        })
        .await
        .unwrap();
    for command in [
        offer(t.acme_bob),
        play(tone(0.2), 1),
        CallCommand::Music { music: None },
    ] {
        let r = t.server.calls().command(t.acme, call.id, command).await;
        assert!(matches!(r, Err(CallError::Conflict(_))), "{r:?}");
    }
    t.server
        .calls()
        .command(t.acme, call.id, CallCommand::Hangup)
        .await
        .unwrap();
    drop(carrier);
}

/// `seconds` of a 440 Hz tone.
fn tone(seconds: f64) -> Prompt {
    let n = (8_000.0 * seconds) as usize;
    let samples: Vec<i16> = (0..n)
        .map(|i| ((i as f64 * 440.0 * std::f64::consts::TAU / 8_000.0).sin() * 8_000.0) as i16)
        .collect();
    Prompt::from_samples(samples)
}

fn play(prompt: Prompt, tag: u64) -> CallCommand {
    CallCommand::Play {
        prompt,
        tag,
        barge_in: false,
    }
}

async fn prompt_ended(rx: &mut broadcast::Receiver<CallNotice>) -> (u64, PromptEnd) {
    match next_notice(rx, |n| matches!(n, CallNotice::PromptEnded { .. })).await {
        CallNotice::PromptEnded { tag, reason, .. } => (tag, reason),
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn a_caller_answered_for_a_flow_gets_prompts_each_ending_once_by_its_tag() {
    if skip_without_pcaps() {
        return;
    }
    let flow = Uuid::now_v7();
    let (t, carrier_port) = did_server(DidTarget::Flow { flow_id: flow }).await;
    let bob_port = free_port();
    register_phone(&t, "bob", ACME, "bob-pw", bob_port).await;
    let bob = SippServer::start("uas_answer.xml", bob_port, &[], 1).await;
    let mut rx = t.server.calls().subscribe();
    let run = caller(&t, carrier_port);
    let (call, application, _) = answered(&mut rx).await;
    assert_eq!(application, Application::Flow { flow_id: flow });
    let calls = t.server.calls();

    // A flow's caller hears nothing until the first prompt.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let stats = calls.media_stats(t.acme, call).await.unwrap();
    let a = stats.iter().find(|s| s.leg == LegId::A).unwrap();
    assert_eq!(a.stats.quality.packets_sent, 0, "{:?}", a.stats);

    let r = calls.command(t.acme, call, play(tone(0.2), 0)).await;
    assert!(matches!(r, Err(CallError::Invalid(_))), "tag 0: {r:?}");
    let r = calls.command(t.acme, call, play(tone(0.0), 1)).await;
    assert!(matches!(r, Err(CallError::Invalid(_))), "no audio: {r:?}");

    // A prompt plays to its end.
    calls
        .command(t.acme, call, play(tone(0.3), 1))
        .await
        .unwrap();
    assert_eq!(prompt_ended(&mut rx).await, (1, PromptEnd::Finished));
    // One stopped.
    calls
        .command(t.acme, call, play(tone(5.0), 2))
        .await
        .unwrap();
    calls
        .command(t.acme, call, CallCommand::StopPlay)
        .await
        .unwrap();
    assert_eq!(prompt_ended(&mut rx).await, (2, PromptEnd::Stopped));
    // One cut off by the next: each end carries its own tag.
    calls
        .command(t.acme, call, play(tone(5.0), 3))
        .await
        .unwrap();
    calls
        .command(t.acme, call, play(tone(0.2), 4))
        .await
        .unwrap();
    assert_eq!(prompt_ended(&mut rx).await, (3, PromptEnd::Stopped));
    assert_eq!(prompt_ended(&mut rx).await, (4, PromptEnd::Finished));
    // Music (hold music, or the application's own) is not a prompt:
    // StopPlay leaves it, and its end is not reported when a prompt
    // replaces it. Music without audio is refused.
    let silent = CallCommand::Music {
        music: Some(Prompt::from_samples(Vec::new())),
    };
    let r = calls.command(t.acme, call, silent).await;
    assert!(matches!(r, Err(CallError::Invalid(_))), "{r:?}");
    calls
        .command(t.acme, call, CallCommand::Music { music: None })
        .await
        .unwrap();
    calls
        .command(
            t.acme,
            call,
            CallCommand::Music {
                music: Some(tone(0.3)),
            },
        )
        .await
        .unwrap();
    calls
        .command(t.acme, call, CallCommand::StopPlay)
        .await
        .unwrap();
    calls
        .command(t.acme, call, play(tone(0.2), 5))
        .await
        .unwrap();
    assert_eq!(prompt_ended(&mut rx).await, (5, PromptEnd::Finished));

    // A prompt still playing when the agent answers gives way to them;
    // once connected, no more prompts.
    calls
        .command(t.acme, call, play(tone(30.0), 6))
        .await
        .unwrap();
    calls
        .command(t.acme, call, offer(t.acme_bob))
        .await
        .unwrap();
    offer_ended(&mut rx, t.acme_bob, true).await;
    assert_eq!(prompt_ended(&mut rx).await, (6, PromptEnd::Stopped));
    let r = calls.command(t.acme, call, play(tone(0.2), 7)).await;
    assert!(matches!(r, Err(CallError::Conflict(_))), "{r:?}");
    calls
        .command(t.acme, call, CallCommand::Hangup)
        .await
        .unwrap();
    assert_sipp_ok(&run.await.unwrap(), "caller");
    assert_sipp_ok(&bob.finish().await, "bob");
}

async fn message_recorded(rx: &mut broadcast::Receiver<CallNotice>) -> (u64, RecordedMessage) {
    match next_notice(rx, |n| matches!(n, CallNotice::MessageRecorded { .. })).await {
        CallNotice::MessageRecorded { tag, message, .. } => (tag, message),
        _ => unreachable!(),
    }
}

/// The samples of a mono 8 kHz WAV in `store`.
fn mono_samples(store: &LocalStore, m: &RecordedMessage) -> Vec<i16> {
    let key = RecordingKey::from_storage_key(&m.storage_key).unwrap();
    let mut r = hound::WavReader::open(store.path_for(&key)).unwrap();
    assert_eq!((r.spec().channels, r.spec().sample_rate), (1, 8_000));
    r.samples::<i16>().map(Result::unwrap).collect()
}

#[tokio::test]
async fn a_flow_caller_leaves_messages_recorded_alone_in_mono() {
    if skip_without_pcaps() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(LocalStore::new(dir.path()).unwrap());
    let flow = Uuid::now_v7();
    let shared: Arc<dyn RecordingStore> = store.clone();
    let (t, carrier_port) = did_server_with(DidTarget::Flow { flow_id: flow }, Some(shared)).await;
    let mut rx = t.server.calls().subscribe();
    // The caller talks (sip-tester's speech capture) from the answer on.
    let run = caller(&t, carrier_port);
    let (call, _, _) = answered(&mut rx).await;
    let calls = t.server.calls();

    let r = calls
        .command(t.acme, call, CallCommand::RecordMessage { tag: 0 })
        .await;
    assert!(matches!(r, Err(CallError::Invalid(_))), "tag 0: {r:?}");
    // Nothing to stop is not an error.
    calls
        .command(t.acme, call, CallCommand::StopMessage)
        .await
        .unwrap();
    calls
        .command(t.acme, call, CallCommand::RecordMessage { tag: 7 })
        .await
        .unwrap();
    // One recording at a time: no call recording, no second message.
    let r = calls
        .command(t.acme, call, CallCommand::StartRecording)
        .await;
    assert!(matches!(r, Err(CallError::Conflict(_))), "{r:?}");
    let r = calls
        .command(t.acme, call, CallCommand::StopRecording)
        .await;
    assert!(matches!(r, Err(CallError::Conflict(_))), "{r:?}");
    let r = calls
        .command(t.acme, call, CallCommand::RecordMessage { tag: 8 })
        .await;
    assert!(matches!(r, Err(CallError::Conflict(_))), "{r:?}");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    calls
        .command(t.acme, call, CallCommand::StopMessage)
        .await
        .unwrap();
    let (tag, first) = message_recorded(&mut rx).await;
    assert_eq!(tag, 7);
    assert!((1_200..=2_500).contains(&first.duration_ms), "{first:?}");
    assert!(first.voiced_ms >= 500, "the caller spoke: {first:?}");
    let samples = mono_samples(&store, &first);
    assert_eq!(samples.len() as u64, first.duration_ms * 8);
    assert!(
        samples.iter().any(|s| s.unsigned_abs() > 2_000),
        "speech in the file"
    );
    assert!(first.storage_key.ends_with(&format!("{call}_{}", first.id)));
    assert_eq!(first.sha256.len(), 64);

    // A second message is cut by the hangup: it is still complete and
    // reported after the call ends.
    calls
        .command(t.acme, call, CallCommand::RecordMessage { tag: 9 })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    calls
        .command(t.acme, call, CallCommand::Hangup)
        .await
        .unwrap();
    let (tag, second) = message_recorded(&mut rx).await;
    assert_eq!(tag, 9);
    assert_ne!(second.id, first.id);
    assert!(second.duration_ms >= 400, "{second:?}");
    assert_eq!(
        mono_samples(&store, &second).len() as u64,
        second.duration_ms * 8
    );
    assert_sipp_ok(&run.await.unwrap(), "caller");
}

#[tokio::test]
async fn messages_are_refused_without_a_message_store() {
    if skip_without_pcaps() {
        return;
    }
    let (t, carrier_port) = did_server(DidTarget::Flow {
        flow_id: Uuid::now_v7(),
    })
    .await;
    let mut rx = t.server.calls().subscribe();
    let run = caller(&t, carrier_port);
    let (call, _, _) = answered(&mut rx).await;
    let calls = t.server.calls();
    let r = calls
        .command(t.acme, call, CallCommand::RecordMessage { tag: 1 })
        .await;
    assert!(matches!(r, Err(CallError::Unavailable(_))), "{r:?}");
    // sipp's caller takes a BYE that comes right after its ACK, while it
    // starts its audio, as unexpected: hang up a moment later. (A BYE is
    // never sent before the ACK: see the raw-client test below.)
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    calls
        .command(t.acme, call, CallCommand::Hangup)
        .await
        .unwrap();
    assert_sipp_ok(&run.await.unwrap(), "caller");
}

/// Reads responses from `client` until a final one (3 s each).
async fn final_response(client: &RawClient) -> String {
    loop {
        let r = client.recv(3000).await.expect("a response");
        if status(&r) >= 200 {
            return r;
        }
    }
}

#[tokio::test]
async fn a_caller_hung_up_on_before_its_ack_gets_the_bye_only_after_it() {
    let t = start(config()).await;
    let client = RawClient::new(t.udp()).await;
    let p = client.port();
    t.server
        .calls()
        .set_trunks(vec![carrier_trunk(t.acme, 9, &format!("127.0.0.1:{p}"))]);
    t.calls_dir.add_did(DidRoute {
        tenant_id: t.acme,
        number: DID.into(),
        target: DidTarget::Queue {
            queue_id: Uuid::now_v7(),
        },
    });
    let mut rx = t.server.calls().subscribe();
    let sdp = "v=0\r\no=c 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
               m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    let dialog = format!(
        "From: <sip:+15550100002@carrier.example>;tag=c{p}\r\nCall-ID: ack-{p}@127.0.0.1\r\n"
    );
    let invite = format!(
        "INVITE sip:15550100001@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{p};branch=z9hG4bK-ack-{p};rport\r\n{dialog}\
         To: <sip:15550100001@127.0.0.1>\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:c@127.0.0.1:{p}>\r\nMax-Forwards: 70\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    client.send(invite.as_bytes()).await;
    let ok = final_response(&client).await;
    assert_eq!(status(&ok), 200, "{ok}");
    let (call, _, _) = answered(&mut rx).await;
    t.server
        .calls()
        .command(t.acme, call, CallCommand::Hangup)
        .await
        .unwrap();

    // RFC 3261 §15: no BYE while our 2xx is unacknowledged (only its
    // retransmissions come).
    let quiet = tokio::time::Instant::now() + Duration::from_millis(1_500);
    while let Some(left) = quiet.checked_duration_since(tokio::time::Instant::now()) {
        let Some(m) = client.recv(left.as_millis() as u64 + 1).await else {
            break;
        };
        assert!(!m.starts_with("BYE"), "a BYE before the ACK:\n{m}");
    }
    let ack = format!(
        "ACK sip:15550100001@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{p};branch=z9hG4bK-ack2-{p};rport\r\n{dialog}\
         To: {}\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        header(&ok, "To").unwrap()
    );
    client.send(ack.as_bytes()).await;
    // The ACK in, the BYE comes.
    let bye = loop {
        let m = client.recv(5_000).await.expect("the BYE after the ACK");
        if m.starts_with("BYE") {
            break m;
        }
    };
    let reply = format!(
        "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {}\r\n\
         Content-Length: 0\r\n\r\n",
        header(&bye, "Via").unwrap(),
        header(&bye, "From").unwrap(),
        header(&bye, "To").unwrap(),
        header(&bye, "Call-ID").unwrap(),
        header(&bye, "CSeq").unwrap(),
    );
    client.send(reply.as_bytes()).await;
    eventually(10, "the call ended", || {
        t.server.calls().get(t.acme, call).is_none()
    })
    .await;
}
