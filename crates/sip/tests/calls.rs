//! B2BUA calls against real SIP peers: sipp as carriers (answering, busy,
//! failing, ringing forever) and as agent phones (registered with digest).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use omnivox_domain::TenantId;
use omnivox_domain::call::{CallState, HangupCause, LegId};
use omnivox_sip::{
    CallCommand, CallError, CallRecord, CallerIdMode, DidRoute, DidTarget, Endpoint, NumberFormat,
    Originate, SipTransport, Trunk, TrunkSource,
};
use std::time::Duration;
use uuid::Uuid;

const DID: &str = "+15550100001";
const CUSTOMER: &str = "+15550100002";

fn trunk(tenant: TenantId, name: &str, priority: i32, carrier_port: u16, source: &str) -> Trunk {
    Trunk {
        id: Uuid::now_v7(),
        tenant_id: tenant,
        name: name.into(),
        host: "127.0.0.1".into(),
        port: carrier_port,
        transport: SipTransport::Udp,
        username: None,
        password: None,
        from_user: Some("acct100".into()),
        from_domain: Some("carrier.example".into()),
        caller_id: CallerIdMode::Both,
        number_format: NumberFormat::E164Plus,
        tech_prefix: String::new(),
        max_channels: 10,
        max_cps: 10,
        priority,
        allowed_sources: vec![TrunkSource::parse(source).unwrap()],
        inbound: None,
    }
}

/// Routes [`DID`] to `agent` of `tenant`.
fn did_to(t: &TestServer, tenant: TenantId, agent: omnivox_domain::UserId) {
    t.calls_dir.add_did(DidRoute {
        tenant_id: tenant,
        number: DID.into(),
        target: DidTarget::Agent { agent_id: agent },
    });
}

async fn wait_record(t: &TestServer, n: usize) -> Vec<CallRecord> {
    eventually(20, "call records", || t.records.records().len() >= n).await;
    t.records.records()
}

async fn wait_no_calls(t: &TestServer, tenant: TenantId) {
    eventually(20, "no live calls", || {
        t.server.calls().list(tenant).is_empty()
    })
    .await;
}

#[tokio::test]
async fn inbound_did_rings_the_registered_agent_and_bye_ends_both_legs() {
    if skip_without_sipp() {
        return;
    }
    let t = start(config()).await;
    let phone_port = free_port();
    register_phone(&t, "alice", ACME, ACME_PW, phone_port).await;
    let carrier_port = free_port();
    t.server.calls().set_trunks(vec![trunk(
        t.acme,
        "carrier",
        1,
        9,
        &format!("127.0.0.1:{carrier_port}"),
    )]);
    did_to(&t, t.acme, t.acme_alice);
    let mut notices = t.server.calls().subscribe();
    let phone = SippServer::start("uas_answer.xml", phone_port, &[], 1).await;
    let p = carrier_port.to_string();
    let run = sipp(
        "uac_call.xml",
        t.udp(),
        "u1",
        &[("caller", "+15550100002"), ("domain", "carrier.example")],
        None,
        &["-p", &p, "-s", "15550100001"],
    )
    .await;
    assert_sipp_ok(&run, "carrier call");
    assert_sipp_ok(&phone.finish().await, "agent phone");

    let records = wait_record(&t, 1).await;
    let r = &records[0];
    assert_eq!(r.hangup.cause, HangupCause::Normal);
    assert_eq!(r.call.tenant_id, t.acme);
    assert_eq!(r.call.did.as_deref(), Some(DID));
    assert_eq!(r.call.from, CUSTOMER);
    assert_eq!(r.call.agent_id, Some(t.acme_alice));
    assert!(r.call.answered_at.is_some() && r.ringing_at.is_some());
    assert_eq!(r.legs.len(), 2, "{:?}", r.legs);
    assert!(r.legs.iter().all(|l| l.answered_at.is_some()));
    wait_no_calls(&t, t.acme).await;

    // Every transition was published, ending in Ended.
    let mut states = Vec::new();
    while let Ok(n) = notices.try_recv() {
        if let omnivox_sip::CallNotice::Update(u) = n {
            states.push(u.to.name());
        }
    }
    assert_eq!(states.first(), Some(&"originating"), "{states:?}");
    assert!(
        states.contains(&"ringing") && states.contains(&"bridged"),
        "{states:?}"
    );
    assert_eq!(states.last(), Some(&"ended"), "{states:?}");
}

#[tokio::test]
async fn unknown_dids_and_other_tenants_dids_get_404() {
    if skip_without_sipp() {
        return;
    }
    let t = start(config()).await;
    let carrier_port = free_port();
    // The carrier is acme's; the DID belongs to globex.
    t.server.calls().set_trunks(vec![trunk(
        t.acme,
        "carrier",
        1,
        9,
        &format!("127.0.0.1:{carrier_port}"),
    )]);
    did_to(&t, t.globex, t.globex_alice);
    let (_tmp, scenario) = scenario_with("uac_refused.xml", &[("RESPONSE_CODE", "404")]);
    let p = carrier_port.to_string();
    for service in ["15550100001", "15550109999"] {
        let run = sipp(
            scenario.to_str().unwrap(),
            t.udp(),
            "u1",
            &[("caller", "+15550100002"), ("domain", "carrier.example")],
            None,
            &["-p", &p, "-s", service],
        )
        .await;
        assert_sipp_ok(&run, &format!("INVITE {service}"));
    }
    assert_eq!(t.server.stats().unknown_did, 2);
    assert!(t.records.records().is_empty(), "no call was started");
}

#[tokio::test]
async fn originate_customer_first_then_agent_and_hang_up_through_the_api() {
    if skip_without_sipp() {
        return;
    }
    let t = start(config()).await;
    let phone_port = free_port();
    register_phone(&t, "alice", ACME, ACME_PW, phone_port).await;
    // The customer answers and hears ringback from Omnivox while the agent
    // rings; it is never re-INVITEd (uas_answer.xml fails on anything but
    // the BYE after its answer): the agent's media meets it in the engine.
    let carrier = SippServer::start("uas_answer.xml", free_port(), &[], 1).await;
    t.server
        .calls()
        .set_trunks(vec![trunk(t.acme, "carrier", 1, carrier.port, "192.0.2.1")]);
    let phone = SippServer::start("uas_answer.xml", phone_port, &[], 1).await;
    let call = t
        .server
        .calls()
        .originate(Originate {
            tenant_id: t.acme,
            first: Endpoint::Number {
                number: CUSTOMER.into(),
            },
            second: Some(Endpoint::Agent {
                agent_id: t.acme_alice,
            }),
            caller_id: Some(DID.into()),
            ring_timeout_secs: Some(10),
            amd: None,
            trunk_id: None,
            recording: None,
        })
        .await
        .unwrap();
    let calls = t.server.calls().clone();
    let (acme, id) = (t.acme, call.id);
    eventually(15, "bridged", || {
        calls
            .get(acme, id)
            .is_some_and(|c| c.state == CallState::Bridged)
    })
    .await;
    // Another tenant cannot see or touch it.
    assert!(calls.get(t.globex, id).is_none());
    assert_eq!(
        calls.command(t.globex, id, CallCommand::Hangup).await,
        Err(CallError::NotFound)
    );
    // Both legs are anchored and bridged in the media engine.
    let media = calls.media_stats(acme, id).await.unwrap();
    assert_eq!(media.len(), 2, "{media:?}");
    assert!(media.iter().all(|m| m.codec.is_some()), "{media:?}");
    calls.command(acme, id, CallCommand::Hangup).await.unwrap();
    assert_sipp_ok(&carrier.finish().await, "customer");
    assert_sipp_ok(&phone.finish().await, "agent phone");
    let r = &wait_record(&t, 1).await[0];
    assert_eq!(r.hangup.cause, HangupCause::Normal);
    assert_eq!(r.legs.len(), 2);
    assert_eq!(r.legs[0].party, CUSTOMER);
    assert!(r.legs[0].trunk_id.is_some());
    assert_eq!(r.legs[1].agent_id, Some(t.acme_alice));
}

/// A carrier answering every INVITE with `code`.
async fn reject_server(code: &str, reason: &str) -> (SippServer, tempfile::TempDir) {
    let (tmp, path) = scenario_with(
        "uas_reject.xml",
        &[("RESPONSE_CODE", code), ("RESPONSE_REASON", reason)],
    );
    let server = SippServer::start(path.to_str().unwrap(), free_port(), &[], 1).await;
    (server, tmp)
}

async fn originate_to_customer(t: &TestServer, ring_secs: u32) -> Uuid {
    originate_to_customer_via(t, ring_secs, None).await
}

/// [`originate_to_customer`] out through `trunk` only, when it names one.
async fn originate_to_customer_via(t: &TestServer, ring_secs: u32, trunk: Option<Uuid>) -> Uuid {
    // The agent leg is dialled only after the customer answers, so these
    // calls never reach a phone.
    t.server
        .calls()
        .originate(Originate {
            tenant_id: t.acme,
            first: Endpoint::Number {
                number: CUSTOMER.into(),
            },
            second: Some(Endpoint::Agent {
                agent_id: t.acme_alice,
            }),
            caller_id: None,
            ring_timeout_secs: Some(ring_secs),
            amd: None,
            trunk_id: trunk,
            recording: None,
        })
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn busy_declined_and_failover_causes() {
    if skip_without_sipp() {
        return;
    }
    let t = start(config()).await;
    // Busy.
    let (busy, _busy_dir) = reject_server("486", "Busy Here").await;
    t.server
        .calls()
        .set_trunks(vec![trunk(t.acme, "busy", 1, busy.port, "192.0.2.1")]);
    originate_to_customer(&t, 10).await;
    assert_sipp_ok(&busy.finish().await, "busy carrier");
    let r = wait_record(&t, 1).await.pop().unwrap();
    assert_eq!(
        (r.hangup.cause, r.hangup.sip_code),
        (HangupCause::Busy, Some(486))
    );

    // Declined.
    let (decline, _decline_dir) = reject_server("603", "Decline").await;
    t.server
        .calls()
        .set_trunks(vec![trunk(t.acme, "decline", 1, decline.port, "192.0.2.1")]);
    originate_to_customer(&t, 10).await;
    assert_sipp_ok(&decline.finish().await, "declining carrier");
    let r = wait_record(&t, 2).await.pop().unwrap();
    assert_eq!(
        (r.hangup.cause, r.hangup.sip_code),
        (HangupCause::Rejected, Some(603))
    );

    // 503 on the first trunk: the second one takes the call (it is busy too,
    // which is the final answer).
    let (failing, _failing_dir) = reject_server("503", "Service Unavailable").await;
    let (second, _second_dir) = reject_server("486", "Busy Here").await;
    let first_trunk = trunk(t.acme, "first", 1, failing.port, "192.0.2.1");
    let second_trunk = trunk(t.acme, "second", 2, second.port, "192.0.2.2");
    let second_id = second_trunk.id;
    t.server.calls().set_trunks(vec![second_trunk, first_trunk]);
    originate_to_customer(&t, 10).await;
    assert_sipp_ok(&failing.finish().await, "failing carrier");
    assert_sipp_ok(&second.finish().await, "second carrier");
    let r = wait_record(&t, 3).await.pop().unwrap();
    assert_eq!(
        (r.hangup.cause, r.hangup.sip_code),
        (HangupCause::Busy, Some(486))
    );
    assert_eq!(
        r.legs[0].trunk_id,
        Some(second_id),
        "failed over to the second trunk"
    );

    // A call that names its trunk (a campaign's) goes out there only: the
    // 503 is final, the other trunk is never tried.
    let (named, _named_dir) = reject_server("503", "Service Unavailable").await;
    let (other, _other_dir) = reject_server("486", "Busy Here").await;
    let named_trunk = trunk(t.acme, "named", 2, named.port, "192.0.2.1");
    let named_id = named_trunk.id;
    let other_trunk = trunk(t.acme, "other", 1, other.port, "192.0.2.2");
    t.server.calls().set_trunks(vec![other_trunk, named_trunk]);
    originate_to_customer_via(&t, 10, Some(named_id)).await;
    assert_sipp_ok(&named.finish().await, "the named trunk's carrier");
    let r = wait_record(&t, 4).await.pop().unwrap();
    assert_eq!(r.hangup.sip_code, Some(503), "{r:?}");
    assert_eq!(r.legs.len(), 1, "one leg, no failover: {r:?}");
    assert_eq!(r.legs[0].trunk_id, Some(named_id));
    drop(other);

    wait_no_calls(&t, t.acme).await;
    assert!(
        t.server
            .calls()
            .trunk_status(t.acme)
            .iter()
            .all(|s| s.active_channels == 0)
    );
}

#[tokio::test]
async fn ring_timeout_cancels_with_no_answer() {
    if skip_without_sipp() {
        return;
    }
    let t = start(config()).await;
    let ringing = SippServer::start("uas_ring_cancel.xml", free_port(), &[], 1).await;
    t.server
        .calls()
        .set_trunks(vec![trunk(t.acme, "ringing", 1, ringing.port, "192.0.2.1")]);
    let id = originate_to_customer(&t, 5).await;
    let calls = t.server.calls().clone();
    let acme = t.acme;
    eventually(5, "early media", || {
        calls
            .get(acme, id)
            .is_some_and(|c| c.state == CallState::EarlyMedia)
    })
    .await;
    assert_sipp_ok(&ringing.finish().await, "ringing callee");
    let r = wait_record(&t, 1).await.pop().unwrap();
    assert_eq!(r.hangup.cause, HangupCause::NoAnswer);
    assert_eq!(r.legs[0].leg, LegId::A);
    assert!(r.legs[0].ringing_at.is_some() && r.legs[0].answered_at.is_none());
}

#[tokio::test]
async fn a_full_trunk_refuses_with_congestion_and_sends_nothing() {
    if skip_without_sipp() {
        return;
    }
    let t = start(config()).await;
    let ringing = SippServer::start("uas_ring_cancel.xml", free_port(), &[], 1).await;
    let mut one = trunk(t.acme, "one channel", 1, ringing.port, "192.0.2.1");
    one.max_channels = 1;
    t.server.calls().set_trunks(vec![one]);
    let first = originate_to_customer(&t, 30).await;
    let calls = t.server.calls().clone();
    let acme = t.acme;
    eventually(5, "ringing", || {
        calls
            .get(acme, first)
            .is_some_and(|c| c.state == CallState::EarlyMedia)
    })
    .await;
    // The only channel is taken: the second call is never sent.
    originate_to_customer(&t, 30).await;
    let refused = wait_record(&t, 1).await.pop().unwrap();
    assert_eq!(
        (refused.hangup.cause, refused.hangup.sip_code),
        (HangupCause::Congestion, Some(503))
    );
    calls
        .command(acme, first, CallCommand::Hangup)
        .await
        .unwrap();
    // sipp expected exactly one INVITE, then its CANCEL.
    assert_sipp_ok(&ringing.finish().await, "ringing callee");
    let r = wait_record(&t, 2).await.pop().unwrap();
    assert_eq!(r.hangup.cause, HangupCause::Normal);
    wait_no_calls(&t, acme).await;
}

#[tokio::test]
async fn dial_policy_and_validation_refuse_before_dialling() {
    let t = start(config()).await;
    t.calls_dir.block_prefix("+1900");
    let refused = t
        .server
        .calls()
        .originate(Originate {
            tenant_id: t.acme,
            first: Endpoint::Agent {
                agent_id: t.acme_alice,
            },
            second: Some(Endpoint::Number {
                number: "+19005550100".into(),
            }),
            caller_id: None,
            ring_timeout_secs: None,
            amd: None,
            trunk_id: None,
            recording: None,
        })
        .await;
    assert!(matches!(refused, Err(CallError::Forbidden(r)) if r.code == "blocked_prefix"));
    let bad = t
        .server
        .calls()
        .originate(Originate {
            tenant_id: t.acme,
            first: Endpoint::Number {
                number: "12".into(),
            },
            second: Some(Endpoint::Agent {
                agent_id: t.acme_alice,
            }),
            caller_id: None,
            ring_timeout_secs: None,
            amd: None,
            trunk_id: None,
            recording: None,
        })
        .await;
    assert!(matches!(bad, Err(CallError::Invalid(_))));
    // An agent of another tenant is not an endpoint here.
    let foreign = t
        .server
        .calls()
        .originate(Originate {
            tenant_id: t.acme,
            first: Endpoint::Agent {
                agent_id: t.globex_alice,
            },
            second: Some(Endpoint::Number {
                number: CUSTOMER.into(),
            }),
            caller_id: None,
            ring_timeout_secs: None,
            amd: None,
            trunk_id: None,
            recording: None,
        })
        .await;
    assert!(matches!(foreign, Err(CallError::Invalid(_))));
    assert!(t.records.records().is_empty());
}

/// Lines the sipp scenario logged ("REINVITE sendonly", "DTMF 5").
fn logged(run: &SippRun, prefix: &str) -> Vec<String> {
    run.output
        .lines()
        .filter_map(|l| {
            l.split_once(prefix)
                .map(|(_, rest)| format!("{prefix}{rest}"))
        })
        .map(|l| l.trim().to_string())
        .collect()
}

/// A customer (through a trunk) bridged to alice's phone; all three peers
/// (customer, alice, bob) are `uas_loop.xml` unless `alice_scenario` says
/// otherwise.
struct Bridged {
    t: TestServer,
    id: Uuid,
    customer: SippServer,
    alice: SippServer,
    bob: SippServer,
}

async fn bridged_call(alice_scenario: &str, alice_keys: &[(&str, &str)]) -> Bridged {
    bridged_call_with(config(), alice_scenario, alice_keys).await
}

async fn bridged_call_with(
    cfg: omnivox_sip::SipConfig,
    alice_scenario: &str,
    alice_keys: &[(&str, &str)],
) -> Bridged {
    let t = start(cfg).await;
    let (alice_port, bob_port) = (free_port(), free_port());
    register_phone(&t, "alice", ACME, ACME_PW, alice_port).await;
    register_phone(&t, "bob", ACME, "bob-pw", bob_port).await;
    let customer = SippServer::start("uas_loop.xml", free_port(), &[], 1).await;
    t.server.calls().set_trunks(vec![trunk(
        t.acme,
        "carrier",
        1,
        customer.port,
        "192.0.2.1",
    )]);
    let alice = SippServer::start(alice_scenario, alice_port, alice_keys, 1).await;
    let bob = SippServer::start("uas_loop.xml", bob_port, &[], 1).await;
    let id = originate_to_customer(&t, 10).await;
    wait_state(&t, id, CallState::Bridged).await;
    Bridged {
        t,
        id,
        customer,
        alice,
        bob,
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

#[tokio::test]
async fn hold_resume_dtmf_and_blind_transfer_through_the_api() {
    if skip_without_sipp() {
        return;
    }
    let b = bridged_call("uas_loop.xml", &[]).await;
    let (calls, acme, id) = (b.t.server.calls().clone(), b.t.acme, b.id);
    calls
        .command(acme, id, CallCommand::Hold { leg: LegId::A })
        .await
        .unwrap();
    assert_eq!(calls.get(acme, id).unwrap().state, CallState::OnHold);
    // Holding a held leg is a conflict, not a second re-INVITE.
    assert!(matches!(
        calls
            .command(acme, id, CallCommand::Hold { leg: LegId::A })
            .await,
        Err(CallError::Conflict(_))
    ));
    calls
        .command(acme, id, CallCommand::Resume { leg: LegId::A })
        .await
        .unwrap();
    assert_eq!(calls.get(acme, id).unwrap().state, CallState::Bridged);
    calls
        .command(
            acme,
            id,
            CallCommand::Dtmf {
                leg: LegId::A,
                digits: "1#".into(),
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        calls
            .command(
                acme,
                id,
                CallCommand::Dtmf {
                    leg: LegId::A,
                    digits: "x".into()
                }
            )
            .await,
        Err(CallError::Invalid(_))
    ));
    calls
        .command(
            acme,
            id,
            CallCommand::BlindTransfer {
                leaving: LegId::B,
                to: Endpoint::Agent {
                    agent_id: b.t.acme_bob,
                },
            },
        )
        .await
        .unwrap();
    wait_state(&b.t, id, CallState::Bridged).await;
    let snap = calls.get(acme, id).unwrap();
    assert_eq!(snap.legs[1].agent_id, Some(b.t.acme_bob), "{snap:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    calls.command(acme, id, CallCommand::Hangup).await.unwrap();

    let customer = b.customer.finish().await;
    assert_sipp_ok(&customer, "customer");
    let alice = b.alice.finish().await;
    assert_sipp_ok(&alice, "alice");
    let bob = b.bob.finish().await;
    assert_sipp_ok(&bob, "bob");
    assert!(logged(&bob, "REINVITE ").is_empty(), "{}", bob.output);
    let reinvites = logged(&customer, "REINVITE ");
    // Hold and resume only: the media of alice and then of bob meet the
    // customer's inside Omnivox, so the transfer re-INVITEs nobody.
    assert_eq!(
        reinvites,
        ["REINVITE sendonly", "REINVITE sendrecv"],
        "{}",
        customer.output
    );
    // The customer did not negotiate telephone-event: digits go as INFO.
    assert_eq!(logged(&customer, "DTMF "), ["DTMF 1", "DTMF #"]);
    // alice's scenario only ends with a BYE: she left at the transfer.
    assert!(logged(&alice, "REINVITE ").is_empty());
    let r = wait_record(&b.t, 1).await.pop().unwrap();
    assert_eq!(r.legs.len(), 3, "{:?}", r.legs);
    assert_eq!(r.legs[1].hangup.cause, HangupCause::Transferred);
    assert_eq!(r.legs[2].agent_id, Some(b.t.acme_bob));
    assert_eq!(r.transfer_chain, [format!("agent:{}", b.t.acme_bob)]);
    wait_no_calls(&b.t, acme).await;
}

#[tokio::test]
async fn attended_transfer_consults_then_completes() {
    if skip_without_sipp() {
        return;
    }
    let b = bridged_call("uas_loop.xml", &[]).await;
    let (calls, acme, id) = (b.t.server.calls().clone(), b.t.acme, b.id);
    calls
        .command(
            acme,
            id,
            CallCommand::ConsultStart {
                transferor: LegId::B,
                to: Endpoint::Agent {
                    agent_id: b.t.acme_bob,
                },
            },
        )
        .await
        .unwrap();
    let calls2 = calls.clone();
    eventually(10, "consult answered", || {
        calls2.get(acme, id).is_some_and(|c| {
            c.legs
                .iter()
                .any(|l| l.leg == LegId::Consult && l.answered_at.is_some())
        })
    })
    .await;
    calls
        .command(acme, id, CallCommand::ConsultComplete)
        .await
        .unwrap();
    wait_state(&b.t, id, CallState::Bridged).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    calls.command(acme, id, CallCommand::Hangup).await.unwrap();
    let customer = b.customer.finish().await;
    assert_sipp_ok(&customer, "customer");
    let alice = b.alice.finish().await;
    assert_sipp_ok(&alice, "alice");
    let bob = b.bob.finish().await;
    assert_sipp_ok(&bob, "bob");
    let reinvites = logged(&customer, "REINVITE ");
    assert_eq!(
        reinvites,
        ["REINVITE sendonly", "REINVITE sendrecv"],
        "customer: held for the consult, resumed onto bob (inside Omnivox)"
    );
    // Alice talked to bob and left without being re-INVITEd; bob neither.
    assert!(logged(&alice, "REINVITE ").is_empty(), "{}", alice.output);
    assert!(logged(&bob, "REINVITE ").is_empty(), "{}", bob.output);
    let r = wait_record(&b.t, 1).await.pop().unwrap();
    assert_eq!(r.hangup.cause, HangupCause::Normal);
    assert_eq!(r.legs.len(), 3);
    wait_no_calls(&b.t, acme).await;
}

#[tokio::test]
async fn refer_from_the_phone_transfers_the_customer() {
    if skip_without_sipp() {
        return;
    }
    let b = bridged_call("uas_refer.xml", &[("refer_to", "bob"), ("domain", ACME)]).await;
    let (calls, acme, id) = (b.t.server.calls().clone(), b.t.acme, b.id);
    let calls2 = calls.clone();
    let bob = b.t.acme_bob;
    eventually(10, "bob on the call", || {
        calls2.get(acme, id).is_some_and(|c| {
            c.state == CallState::Bridged && c.legs.iter().any(|l| l.agent_id == Some(bob))
        })
    })
    .await;
    assert_sipp_ok(&b.alice.finish().await, "alice (REFER, NOTIFY, BYE)");
    tokio::time::sleep(Duration::from_millis(300)).await;
    calls.command(acme, id, CallCommand::Hangup).await.unwrap();
    assert_sipp_ok(&b.customer.finish().await, "customer");
    assert_sipp_ok(&b.bob.finish().await, "bob");
    let r = wait_record(&b.t, 1).await.pop().unwrap();
    assert_eq!(r.legs[1].hangup.cause, HangupCause::Transferred);
}

#[tokio::test]
async fn draining_keeps_live_calls_until_the_grace_period_then_hangs_up() {
    if skip_without_sipp() {
        return;
    }
    let mut cfg = config();
    cfg.shutdown.grace_secs = 2;
    let b = bridged_call_with(cfg, "uas_loop.xml", &[]).await;
    let (t, id) = (&b.t, b.id);

    t.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(t.server.is_draining());
    // New calls are refused while the live one goes on.
    assert!(matches!(
        t.server
            .calls()
            .originate(Originate {
                tenant_id: t.acme,
                first: Endpoint::Number {
                    number: CUSTOMER.into(),
                },
                second: Some(Endpoint::Agent {
                    agent_id: t.acme_bob,
                }),
                caller_id: None,
                ring_timeout_secs: None,
                amd: None,
                trunk_id: None,
                recording: None,
            })
            .await,
        Err(CallError::Unavailable(_))
    ));
    let (_tmp, refused) = scenario_with("uac_refused.xml", &[("RESPONSE_CODE", "503")]);
    let run = sipp(
        refused.to_str().unwrap(),
        t.udp(),
        "u1",
        &[("caller", "alice"), ("domain", ACME)],
        None,
        &["-s", "15550100001"],
    )
    .await;
    assert_sipp_ok(&run, "INVITE while draining");
    assert_eq!(
        t.server.calls().get(t.acme, id).map(|c| c.state),
        Some(CallState::Bridged)
    );
    // At the end of the grace period the call is hung up.
    t.server.wait().await;
    assert_sipp_ok(&b.customer.finish().await, "customer");
    assert_sipp_ok(&b.alice.finish().await, "alice");
    let r = wait_record(t, 1).await.pop().unwrap();
    assert_eq!(r.hangup.cause, HangupCause::SystemShutdown);
}

#[tokio::test]
async fn a_carrier_from_an_unknown_address_authenticates_with_the_trunks_credentials() {
    if skip_without_sipp() {
        return;
    }
    let t = start(config()).await;
    let phone_port = free_port();
    register_phone(&t, "alice", ACME, ACME_PW, phone_port).await;
    // The trunk allows no source this test uses: only digest gets in.
    let carrier = trunk(t.acme, "carrier", 1, 9, "192.0.2.1");
    t.directory.insert(omnivox_sip::SipAccount::for_trunk(
        t.acme,
        carrier.id,
        "carrier1",
        ACME,
        "trunk-secret-1",
    ));
    t.server.calls().set_trunks(vec![carrier]);
    did_to(&t, t.acme, t.acme_alice);
    let phone = SippServer::start("uas_answer.xml", phone_port, &[], 1).await;
    let run = sipp(
        "uac_call_auth.xml",
        t.udp(),
        "u1",
        &[("caller", "carrier1"), ("domain", ACME)],
        Some(("carrier1", "trunk-secret-1")),
        &["-s", "15550100001"],
    )
    .await;
    assert_sipp_ok(&run, "carrier with digest");
    assert_sipp_ok(&phone.finish().await, "agent phone");
    let r = wait_record(&t, 1).await.pop().unwrap();
    assert_eq!(r.call.did.as_deref(), Some(DID));
    assert_eq!(r.hangup.cause, HangupCause::Normal);

    // Trunk credentials place calls; they never register.
    let run = sipp(
        "register_rejected.xml",
        t.udp(),
        "u1",
        &[("domain", ACME), ("user", "carrier1")],
        Some(("carrier1", "trunk-secret-1")),
        &[],
    )
    .await;
    assert_sipp_ok(&run, "REGISTER with trunk credentials is refused");
    assert!(t.server.registrar().bindings(t.acme, "carrier1").is_empty());
}

#[tokio::test]
async fn a_phone_dials_out_through_the_trunk_but_not_to_premium_numbers() {
    if skip_without_sipp() {
        return;
    }
    let t = start(config()).await;
    t.calls_dir.block_prefix("+1900");
    let carrier = SippServer::start("uas_answer.xml", free_port(), &[], 1).await;
    t.server
        .calls()
        .set_trunks(vec![trunk(t.acme, "carrier", 1, carrier.port, "192.0.2.1")]);
    let run = sipp(
        "uac_call_auth.xml",
        t.udp(),
        "u1",
        &[("caller", "alice"), ("domain", ACME)],
        Some(("alice", ACME_PW)),
        &["-s", "+15550100002"],
    )
    .await;
    assert_sipp_ok(&run, "alice calls a customer");
    assert_sipp_ok(&carrier.finish().await, "carrier");
    let r = wait_record(&t, 1).await.pop().unwrap();
    assert_eq!(r.call.to, CUSTOMER);
    assert_eq!(r.call.agent_id, Some(t.acme_alice));
    assert!(r.legs[1].trunk_id.is_some());

    let (_tmp, refused) = scenario_with("uac_refused_auth.xml", &[("RESPONSE_CODE", "403")]);
    let run = sipp(
        refused.to_str().unwrap(),
        t.udp(),
        "u1",
        &[("caller", "alice"), ("domain", ACME)],
        Some(("alice", ACME_PW)),
        &["-s", "+19005550100"],
    )
    .await;
    assert_sipp_ok(&run, "premium number refused");
    assert_eq!(t.server.stats().dial_policy_refusals, 1);
    // Globex's credentials do not dial out on acme's trunk.
    let (_tmp2, refused) = scenario_with("uac_refused_auth.xml", &[("RESPONSE_CODE", "403")]);
    let run = sipp(
        refused.to_str().unwrap(),
        t.udp(),
        "u1",
        &[("caller", "alice"), ("domain", ACME)],
        Some(("alice", GLOBEX_PW)),
        &["-s", "+15550100002"],
    )
    .await;
    assert_sipp_ok(&run, "wrong tenant's password refused");
    assert_eq!(t.records.records().len(), 1);
}

#[tokio::test]
async fn the_caller_giving_up_cancels_the_ringing_agent() {
    if skip_without_sipp() {
        return;
    }
    let t = start(config()).await;
    let phone_port = free_port();
    register_phone(&t, "alice", ACME, ACME_PW, phone_port).await;
    let carrier_port = free_port();
    t.server.calls().set_trunks(vec![trunk(
        t.acme,
        "carrier",
        1,
        9,
        &format!("127.0.0.1:{carrier_port}"),
    )]);
    did_to(&t, t.acme, t.acme_alice);
    // The phone rings with early media and expects Omnivox's CANCEL.
    let phone = SippServer::start("uas_ring_cancel.xml", phone_port, &[], 1).await;
    let p = carrier_port.to_string();
    let run = sipp(
        "uac_cancel.xml",
        t.udp(),
        "u1",
        &[("caller", "+15550100002"), ("domain", "carrier.example")],
        None,
        &["-p", &p, "-s", "15550100001"],
    )
    .await;
    assert_sipp_ok(&run, "carrier gives up");
    assert_sipp_ok(&phone.finish().await, "phone cancelled");
    let r = wait_record(&t, 1).await.pop().unwrap();
    assert_eq!(r.hangup.cause, HangupCause::Cancelled);
    assert!(r.legs.iter().all(|l| l.answered_at.is_none()));
    wait_no_calls(&t, t.acme).await;
}

#[tokio::test]
async fn options_checks_mark_a_silent_trunk_down() {
    if skip_without_sipp() {
        return;
    }
    let mut cfg = config();
    cfg.calls.trunk_check_secs = 1;
    let t = start(cfg).await;
    let mut notices = t.server.calls().subscribe();
    let alive = SippServer::start("uas_options.xml", free_port(), &[], 100).await;
    // Nothing listens on the dead trunk's port.
    let dead = trunk(t.acme, "dead", 1, free_port(), "192.0.2.1");
    let live = trunk(t.acme, "alive", 2, alive.port, "192.0.2.2");
    let (dead_id, live_id) = (dead.id, live.id);
    t.server.calls().set_trunks(vec![dead, live]);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let down = loop {
        let n = tokio::time::timeout_at(deadline, notices.recv())
            .await
            .expect("no trunk health event")
            .unwrap();
        if let omnivox_sip::CallNotice::TrunkHealth { trunk_id, up, .. } = n {
            break (trunk_id, up);
        }
    };
    assert_eq!(down, (dead_id, false));
    let status = t.server.calls().trunk_status(t.acme);
    let up_of = |id| status.iter().find(|s| s.id == id).map(|s| s.up);
    assert_eq!((up_of(dead_id), up_of(live_id)), (Some(false), Some(true)));
    drop(alive);
}

#[tokio::test]
async fn agent_first_click_to_call_rings_the_agent_then_the_customer() {
    if skip_without_sipp() {
        return;
    }
    let t = start(config()).await;
    let alice_port = free_port();
    register_phone(&t, "alice", ACME, ACME_PW, alice_port).await;
    let customer = SippServer::start("uas_loop.xml", free_port(), &[], 1).await;
    t.server.calls().set_trunks(vec![trunk(
        t.acme,
        "carrier",
        1,
        customer.port,
        "192.0.2.1",
    )]);
    let alice = SippServer::start("uas_loop.xml", alice_port, &[], 1).await;
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
    wait_state(&t, call.id, CallState::Bridged).await;
    let snap = t.server.calls().get(t.acme, call.id).unwrap();
    assert_eq!(snap.legs[0].agent_id, Some(t.acme_alice));
    assert_eq!(snap.legs[1].party, CUSTOMER);
    tokio::time::sleep(Duration::from_millis(300)).await;
    t.server
        .calls()
        .command(t.acme, call.id, CallCommand::Hangup)
        .await
        .unwrap();
    let alice = alice.finish().await;
    assert_sipp_ok(&alice, "alice");
    assert_sipp_ok(&customer.finish().await, "customer");
    // The agent got a normal offer at once (ringback from Omnivox until the
    // customer answered), so no re-INVITE followed.
    assert!(logged(&alice, "REINVITE ").is_empty(), "{}", alice.output);
    wait_no_calls(&t, t.acme).await;
}
