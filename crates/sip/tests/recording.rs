//! Call recording end to end: a sipp carrier plays PCMA speech
//! (g711a.pcap) to a raw agent phone sending a 1 kHz tone; the call is
//! recorded through the call commands into a local recording store and the
//! stereo WAV is checked per channel (speech left, tone right), with a
//! pause written as silence and reported as a paused span.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::phone::RawPhone;
use common::*;
use omnivox_domain::call::{CallState, LegId};
use omnivox_media::goertzel::{mean_square, tone_power};
use omnivox_media::record::{LocalStore, RecordingStore};
use omnivox_sip::{
    CallCommand, CallError, CallNotice, Endpoint, FinishedRecording, Originate, RecordedChannel,
    RecordingPolicy,
};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::broadcast;
use uuid::Uuid;

const DID: &str = "+15550100001";
const CUSTOMER: &str = "+15550100002";

struct RecordedCall {
    t: TestServer,
    phone: RawPhone,
    carrier: SippServer,
    store: LocalStore,
    _dir: tempfile::TempDir,
    id: Uuid,
    notices: broadcast::Receiver<CallNotice>,
}

/// An agent-first call (alice's phone answers, then the carrier, which
/// plays speech and two digits) on a server recording into a temp dir.
async fn recorded_call(policy: RecordingPolicy) -> RecordedCall {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::new(dir.path()).unwrap();
    let shared: Arc<dyn RecordingStore> = Arc::new(store.clone());
    let t = start_with_recordings(config(), Some(shared)).await;
    t.calls_dir.set_recording_policy(t.acme, policy);
    let mut phone = RawPhone::new(t.udp()).await;
    phone.register("alice", ACME, ACME_PW).await;
    let mp = free_port().to_string();
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
    phone.answer(10).await;
    let (calls, acme, id) = (t.server.calls().clone(), t.acme, call.id);
    eventually(15, "bridged", || {
        calls
            .get(acme, id)
            .is_some_and(|c| c.state == CallState::Bridged)
    })
    .await;
    RecordedCall {
        t,
        phone,
        carrier,
        store,
        _dir: dir,
        id,
        notices,
    }
}

/// Waits until the carrier's two RFC 4733 digits were seen: its speech
/// (played before them) is over.
async fn carrier_done_talking(rx: &mut broadcast::Receiver<CallNotice>, id: Uuid) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut n = 0;
    while n < 2 {
        let notice = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("carrier digits within 10 s")
            .unwrap();
        if matches!(notice, CallNotice::Dtmf { call_id, .. } if call_id == id) {
            n += 1;
        }
    }
}

/// Waits until the phone has sent `n` more packets (its tone keeps going).
async fn phone_sends(phone: &RawPhone, n: u64) {
    let sent = phone.sent.clone();
    let from = sent.load(Ordering::Relaxed);
    eventually(10, "phone RTP", || sent.load(Ordering::Relaxed) >= from + n).await;
}

async fn wait_recording(t: &TestServer) -> FinishedRecording {
    eventually(10, "finished recording", || {
        !t.records.recordings().is_empty()
    })
    .await;
    t.records.recordings().pop().unwrap()
}

fn ms_to_sample(ms: u64) -> usize {
    (ms * 8) as usize
}

#[tokio::test]
async fn a_recorded_call_has_the_customer_left_the_agent_right_and_silence_while_paused() {
    if skip_without_pcaps() {
        return;
    }
    let mut c = recorded_call(RecordingPolicy::OnDemand).await;
    let (calls, acme, id) = (c.t.server.calls().clone(), c.t.acme, c.id);
    // On demand: nothing recorded until asked.
    assert_eq!(
        calls.command(acme, id, CallCommand::PauseRecording).await,
        Err(CallError::Conflict("the call is not recorded".into()))
    );
    calls
        .command(acme, id, CallCommand::StartRecording)
        .await
        .unwrap();
    assert!(matches!(
        calls.command(acme, id, CallCommand::StartRecording).await,
        Err(CallError::Conflict(_))
    ));
    carrier_done_talking(&mut c.notices, id).await;
    calls
        .command(acme, id, CallCommand::PauseRecording)
        .await
        .unwrap();
    phone_sends(&c.phone, 40).await;
    calls
        .command(acme, id, CallCommand::ResumeRecording)
        .await
        .unwrap();
    phone_sends(&c.phone, 40).await;
    calls
        .command(acme, id, CallCommand::StopRecording)
        .await
        .unwrap();
    let rec = wait_recording(&c.t).await;
    assert_eq!((rec.call_id, rec.tenant_id), (id, acme));
    let sides: Vec<_> = rec.legs.iter().map(|l| (l.leg, l.channel)).collect();
    assert!(
        sides.contains(&(LegId::A, RecordedChannel::Agent)),
        "{sides:?}"
    );
    assert!(
        sides.contains(&(LegId::B, RecordedChannel::Customer)),
        "{sides:?}"
    );

    // The file: as long and as hashed as the metadata says.
    let path = c.store.path_for(&rec.meta.key);
    let wav = std::fs::read(&path).unwrap();
    assert_eq!(wav.len() as u64, rec.meta.size_bytes);
    let digest: [u8; 32] = Sha256::digest(&wav).into();
    assert_eq!(digest, rec.meta.sha256);
    let (left, right) = channels(&wav);
    assert_eq!(
        left.len() as u64,
        rec.meta.duration.as_millis() as u64 * 8,
        "duration matches the samples"
    );
    assert!(rec.meta.duration >= Duration::from_millis(1500), "{rec:?}");

    // One paused span of at least the 40 phone packets (800 ms), all
    // silence on both sides.
    assert_eq!(rec.meta.paused_spans.len(), 1, "{rec:?}");
    let span = rec.meta.paused_spans[0];
    assert!(span.end_ms - span.start_ms >= 600, "{span:?}");
    let (ps, pe) = (ms_to_sample(span.start_ms), ms_to_sample(span.end_ms));
    assert!(left[ps..pe].iter().all(|&s| s == 0), "left silent in pause");
    assert!(
        right[ps..pe].iter().all(|&s| s == 0),
        "right silent in pause"
    );

    // Before the pause: the carrier's speech on the left (loud, not the
    // phone's 1 kHz tone), the tone on the right.
    let (l, r) = (&left[..ps], &right[..ps]);
    let l_energy = mean_square(l);
    assert!(l_energy > 1000.0, "speech on the customer side: {l_energy}");
    assert!(
        tone_power(l, 1000.0) < 0.1 * l_energy,
        "no agent tone on the customer side"
    );
    let r_energy = mean_square(r);
    assert!(
        r_energy > 1_000_000.0 && tone_power(r, 1000.0) > 0.5 * r_energy,
        "the phone's tone on the agent side: {r_energy}"
    );
    // After the pause: the tone again on the right.
    let after = &right[pe..];
    assert!(
        after.len() >= 8 * 600,
        "{} samples after the pause",
        after.len()
    );
    assert!(tone_power(after, 1000.0) > 0.5 * mean_square(after));

    // Stopped: pause and a second stop are refused; hanging up adds none.
    assert!(matches!(
        calls.command(acme, id, CallCommand::StopRecording).await,
        Err(CallError::Conflict(_))
    ));
    calls.command(acme, id, CallCommand::Hangup).await.unwrap();
    c.phone.expect_bye(5).await;
    assert_sipp_ok(&c.carrier.finish().await, "carrier");
    eventually(10, "call record", || !c.t.records.records().is_empty()).await;
    assert_eq!(c.t.records.recordings().len(), 1);
}

#[tokio::test]
async fn policy_all_records_from_the_bridge_until_the_call_ends() {
    if skip_without_pcaps() {
        return;
    }
    let mut c = recorded_call(RecordingPolicy::All).await;
    let (calls, acme, id) = (c.t.server.calls().clone(), c.t.acme, c.id);
    // Already recording: a start is refused, a pause accepted.
    assert!(matches!(
        calls.command(acme, id, CallCommand::StartRecording).await,
        Err(CallError::Conflict(_))
    ));
    carrier_done_talking(&mut c.notices, id).await;
    calls.command(acme, id, CallCommand::Hangup).await.unwrap();
    c.phone.expect_bye(5).await;
    assert_sipp_ok(&c.carrier.finish().await, "carrier");
    let rec = wait_recording(&c.t).await;
    assert_eq!(rec.call_id, id);
    assert!(rec.meta.paused_spans.is_empty());
    let wav = std::fs::read(c.store.path_for(&rec.meta.key)).unwrap();
    let (left, right) = channels(&wav);
    assert!(mean_square(&left) > 1000.0, "carrier speech recorded");
    assert!(tone_power(&right, 1000.0) > 0.5 * mean_square(&right));
}

#[tokio::test]
async fn policy_none_refuses_to_record() {
    if skip_without_pcaps() {
        return;
    }
    let mut c = recorded_call(RecordingPolicy::None).await;
    let (calls, acme, id) = (c.t.server.calls().clone(), c.t.acme, c.id);
    assert!(matches!(
        calls.command(acme, id, CallCommand::StartRecording).await,
        Err(CallError::Conflict(_))
    ));
    carrier_done_talking(&mut c.notices, id).await;
    calls.command(acme, id, CallCommand::Hangup).await.unwrap();
    c.phone.expect_bye(5).await;
    assert_sipp_ok(&c.carrier.finish().await, "carrier");
    eventually(10, "call record", || !c.t.records.records().is_empty()).await;
    assert!(c.t.records.recordings().is_empty());
    assert!(c.store.list().unwrap().is_empty(), "no file");
}
