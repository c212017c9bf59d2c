//! Trunks, DIDs, dial policies and CDRs, run on SQLite and (with
//! OMNIVOX_TEST_BACKEND=postgres) on PostgreSQL by the same code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{Duration, Utc};
use common::{sealer, store, tenant};
use omnivox_domain::call::{Direction, HangupCause, LegId};
use omnivox_domain::dial_policy::DialPolicy;
use omnivox_domain::trunk::{CallerIdMode, NumberFormat, Transport};
use omnivox_domain::{CallId, DidId, Role, TenantId, TrunkId, UserId};
use omnivox_store::cdrs::{self, CallEnd, CallStart, CdrFilter, LegRecord};
use omnivox_store::dids::{self, DidPatch, DidTarget, NewDid};
use omnivox_store::seal::Field;
use omnivox_store::trunks::{self, InboundCredentials, NewTrunk, TrunkPatch};
use omnivox_store::{PageRequest, Scoped, StoreError, commit, users};

fn new_trunk(name: &str, priority: i32) -> NewTrunk {
    NewTrunk {
        name: name.into(),
        host: "sip.carrier.example".into(),
        port: 5060,
        transport: Transport::Udp,
        username: Some("acct".into()),
        password: Some(
            sealer()
                .seal(Field::TrunkPassword, "carrier secret")
                .unwrap(),
        ),
        from_user: None,
        from_domain: None,
        caller_id_mode: CallerIdMode::Pai,
        number_format: NumberFormat::E164Plus,
        tech_prefix: String::new(),
        max_channels: 30,
        max_cps: 5,
        priority,
        allowed_sources: vec!["203.0.113.0/24".parse().unwrap()],
        inbound: None,
        enabled: true,
    }
}

fn start(id: CallId, tenant: TenantId, to: &str, at: chrono::DateTime<Utc>) -> CallStart {
    CallStart {
        id,
        tenant,
        direction: Direction::Outbound,
        from_number: "+14155550100".into(),
        to_number: to.into(),
        trunk_id: None,
        did: None,
        agent_id: None,
        started_at: at,
    }
}

#[tokio::test]
async fn trunks_are_tenant_scoped_and_keep_secrets_out_of_debug() {
    let (s, _d) = store().await;
    let (a, b) = (tenant(&s, "alpha").await, tenant(&s, "bravo").await);
    let db = s.writer();
    let in_a = Scoped::new(db, a);
    let t2 = in_a.create_trunk(new_trunk("backup", 20)).await.unwrap();
    let mut first = new_trunk("primary", 10);
    first.inbound = Some(InboundCredentials {
        username: "carrier-in".into(),
        ha1_md5: sealer().seal(Field::TrunkInboundHa1Md5, "md5hash").unwrap(),
        ha1_sha256: sealer()
            .seal(Field::TrunkInboundHa1Sha256, "shahash")
            .unwrap(),
    });
    let t1 = in_a.create_trunk(first).await.unwrap();
    let names: Vec<_> = in_a
        .list_trunks()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["primary", "backup"]);
    assert_eq!(t1.transport().unwrap(), Transport::Udp);
    assert_eq!(t1.caller_id_mode().unwrap(), CallerIdMode::Pai);
    assert_eq!(
        t1.allowed_sources().unwrap()[0].to_string(),
        "203.0.113.0/24"
    );
    assert_eq!(t1.inbound_credentials().unwrap().username, "carrier-in");
    assert_eq!(
        sealer()
            .open(Field::TrunkPassword, t1.password.as_ref().unwrap())
            .unwrap(),
        "carrier secret"
    );
    let debug = format!("{t1:?}");
    for secret in ["carrier secret", "md5hash", "shahash"] {
        assert!(!debug.contains(secret), "{debug}");
    }

    // The name is unique per tenant, not across tenants.
    assert!(matches!(
        in_a.create_trunk(new_trunk("primary", 1)).await,
        Err(StoreError::Conflict(_))
    ));
    let in_b = Scoped::new(db, b);
    in_b.create_trunk(new_trunk("primary", 1)).await.unwrap();

    // B reaches none of A's trunks.
    let id = TrunkId(t1.id);
    assert!(matches!(
        in_b.get_trunk(id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        in_b.update_trunk(id, TrunkPatch::default()).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        in_b.delete_trunk(id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(in_b.list_trunks().await.unwrap().len(), 1);

    let (before, after) = in_a
        .update_trunk(
            id,
            TrunkPatch {
                priority: Some(30),
                password: Some(None),
                inbound: Some(None),
                enabled: Some(false),
                ..TrunkPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(before.priority, 10);
    assert_eq!(after.priority, 30);
    assert!(after.password.is_none() && after.inbound_credentials().is_none());
    assert_eq!(after.name, "primary");

    // The system-wide table: enabled trunks of every tenant.
    let all = trunks::all_enabled(s.reader()).await.unwrap();
    let mut seen: Vec<_> = all.iter().map(|t| (t.tenant_id, t.name.clone())).collect();
    seen.sort();
    let mut want = vec![(a.0, "backup".to_owned()), (b.0, "primary".to_owned())];
    want.sort();
    assert_eq!(seen, want);

    in_a.delete_trunk(TrunkId(t2.id)).await.unwrap();
    assert_eq!(in_a.list_trunks().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_did_number_belongs_to_one_tenant() {
    let (s, _d) = store().await;
    let (a, b) = (tenant(&s, "alpha").await, tenant(&s, "bravo").await);
    let db = s.writer();
    let agent = UserId(
        users::create(db, "agent@example.com", "Agent", "x", false)
            .await
            .unwrap()
            .id,
    );
    Scoped::new(db, a)
        .add_member(agent, Role::Agent)
        .await
        .unwrap();
    let in_a = Scoped::new(db, a);
    let did = in_a
        .create_did(NewDid {
            number: "+14155550123".into(),
            description: "Support".into(),
            target: DidTarget::Agent(agent),
        })
        .await
        .unwrap();
    assert_eq!(did.target().unwrap(), DidTarget::Agent(agent));

    let in_b = Scoped::new(db, b);
    let taken = in_b
        .create_did(NewDid {
            number: "+14155550123".into(),
            description: String::new(),
            target: DidTarget::Number("+14155550199".into()),
        })
        .await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
    let other = in_b
        .create_did(NewDid {
            number: "+14155550124".into(),
            description: String::new(),
            target: DidTarget::Number("+14155550199".into()),
        })
        .await
        .unwrap();
    // Moving B's DID onto A's number conflicts too.
    assert!(matches!(
        in_b.update_did(
            DidId(other.id),
            DidPatch {
                number: Some("+14155550123".into()),
                ..DidPatch::default()
            }
        )
        .await,
        Err(StoreError::Conflict(_))
    ));

    // Inbound routing finds the owner without a tenant.
    let routed = dids::route_for_number(s.reader(), "+14155550123")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(routed.tenant_id, a.0);
    assert!(
        dids::route_for_number(s.reader(), "+14155550000")
            .await
            .unwrap()
            .is_none()
    );

    // B cannot see or change A's DID.
    let id = DidId(did.id);
    assert!(matches!(in_b.get_did(id).await, Err(StoreError::NotFound)));
    assert!(matches!(
        in_b.update_did(id, DidPatch::default()).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        in_b.delete_did(id).await,
        Err(StoreError::NotFound)
    ));
    let page = in_b.list_dids(&PageRequest::first(50)).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert!(in_b.did_by_number("+14155550123").await.unwrap().is_none());

    let (_, after) = in_a
        .update_did(
            id,
            DidPatch {
                target: Some(DidTarget::Number("+14155550100".into())),
                ..DidPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(after.target_agent_id, None);
    assert_eq!(after.target_number.as_deref(), Some("+14155550100"));
    in_a.delete_did(id).await.unwrap();
    // Released numbers can be taken by another tenant.
    in_b.create_did(NewDid {
        number: "+14155550123".into(),
        description: String::new(),
        target: DidTarget::Number("+14155550199".into()),
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn dial_policies_default_and_replace() {
    let (s, _d) = store().await;
    let (a, b) = (tenant(&s, "alpha").await, tenant(&s, "bravo").await);
    let in_a = Scoped::new(s.writer(), a);
    assert_eq!(in_a.dial_policy().await.unwrap(), DialPolicy::default());
    let p = DialPolicy {
        allow_international: true,
        home_country_codes: vec!["44".into()],
        allowed_prefixes: vec!["+1900".into()],
        blocked_prefixes: vec!["+882".into()],
    };
    assert_eq!(in_a.set_dial_policy(&p).await.unwrap(), p);
    let p2 = DialPolicy {
        allow_international: false,
        ..p.clone()
    };
    in_a.set_dial_policy(&p2).await.unwrap();
    assert_eq!(in_a.dial_policy().await.unwrap(), p2);
    assert_eq!(
        Scoped::new(s.reader(), b).dial_policy().await.unwrap(),
        DialPolicy::default()
    );
}

#[tokio::test]
async fn cdrs_open_close_and_stay_in_their_tenant() {
    let (s, _d) = store().await;
    let (a, b) = (tenant(&s, "alpha").await, tenant(&s, "bravo").await);
    let t0 = Utc::now() - Duration::minutes(10);
    let agent = UserId::new();
    let (c1, c2, c3) = (CallId::new(), CallId::new(), CallId::new());
    cdrs::open_calls(
        s.writer(),
        &[
            start(c1, a, "+14155550111", t0),
            start(c2, a, "+442079460958", t0 + Duration::minutes(1)),
            start(c3, b, "+14155550111", t0 + Duration::minutes(2)),
        ],
    )
    .await
    .unwrap();
    cdrs::open_calls(s.writer(), &[]).await.unwrap();

    let answered = t0 + Duration::seconds(5);
    let ended = t0 + Duration::seconds(65);
    let end = CallEnd {
        id: c1,
        tenant: a,
        direction: Direction::Outbound,
        from_number: "+14155550100".into(),
        to_number: "+14155550111".into(),
        trunk_id: None,
        did: None,
        agent_id: Some(agent),
        started_at: t0,
        ringing_at: Some(t0 + Duration::seconds(1)),
        answered_at: Some(answered),
        ended_at: ended,
        cause: HangupCause::Normal,
        sip_code: Some(200),
        transfer_chain: vec!["+14155550222".into()],
        legs: vec![
            LegRecord {
                leg: LegId::A,
                seq: 0,
                direction: Direction::Outbound,
                peer: "sip:agent@alpha.omnivox".into(),
                trunk_id: None,
                agent_id: Some(agent),
                started_at: t0,
                ringing_at: None,
                answered_at: Some(t0),
                ended_at: Some(ended),
                cause: Some(HangupCause::Normal),
                sip_code: None,
            },
            LegRecord {
                leg: LegId::B,
                seq: 1,
                direction: Direction::Outbound,
                peer: "+14155550111".into(),
                trunk_id: None,
                agent_id: None,
                started_at: t0,
                ringing_at: Some(t0 + Duration::seconds(1)),
                answered_at: Some(answered),
                ended_at: Some(ended),
                cause: Some(HangupCause::Normal),
                sip_code: Some(200),
            },
        ],
    };
    // A close for the wrong tenant touches nothing of A's and cannot
    // overwrite the row (the id is taken).
    let wrong = CallEnd {
        tenant: b,
        legs: Vec::new(),
        ..end.clone()
    };
    assert!(cdrs::close_calls(s.writer(), &[wrong]).await.is_err());

    let tx = s.begin().await.unwrap();
    cdrs::close_calls(&tx, std::slice::from_ref(&end))
        .await
        .unwrap();
    commit(tx).await.unwrap();
    // Closing again is harmless (legs are kept once).
    cdrs::close_calls(s.writer(), std::slice::from_ref(&end))
        .await
        .unwrap();
    // A late or repeated open does not make it live again.
    cdrs::open_calls(s.writer(), &[start(c1, a, "+14155550111", t0)])
        .await
        .unwrap();

    let in_a = Scoped::new(s.reader(), a);
    let (row, legs) = in_a.get_cdr(c1).await.unwrap();
    assert_eq!(row.state, "ended");
    assert_eq!(row.duration_ms, Some(65_000));
    assert_eq!(row.talk_ms, Some(60_000));
    assert_eq!(row.cause.as_deref(), Some("normal"));
    assert_eq!(row.sip_code, Some(200));
    assert_eq!(row.agent_id, Some(agent.0));
    assert_eq!(row.transfer_chain, serde_json::json!(["+14155550222"]));
    assert_eq!(
        legs.iter().map(|l| l.leg.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );

    // A call closed without being opened is written whole.
    let c4 = CallId::new();
    cdrs::close_calls(
        s.writer(),
        &[CallEnd {
            id: c4,
            direction: Direction::Inbound,
            cause: HangupCause::Busy,
            answered_at: None,
            legs: Vec::new(),
            ..end.clone()
        }],
    )
    .await
    .unwrap();
    let (row, _) = in_a.get_cdr(c4).await.unwrap();
    assert_eq!((row.direction.as_str(), row.talk_ms), ("inbound", None));

    // Isolation.
    let in_b = Scoped::new(s.reader(), b);
    assert!(matches!(in_b.get_cdr(c1).await, Err(StoreError::NotFound)));
    let b_rows = in_b
        .list_cdrs(&CdrFilter::default(), &PageRequest::first(50))
        .await
        .unwrap();
    assert_eq!(
        b_rows.items.iter().map(|r| r.id).collect::<Vec<_>>(),
        [c3.0]
    );

    // Filters and paging (newest first).
    let all = in_a
        .list_cdrs(&CdrFilter::default(), &PageRequest::first(2))
        .await
        .unwrap();
    assert_eq!(
        all.items.iter().map(|r| r.id).collect::<Vec<_>>(),
        [c4.0, c2.0]
    );
    let next = PageRequest::parse(all.next_cursor.as_deref(), Some(2)).unwrap();
    let rest = in_a.list_cdrs(&CdrFilter::default(), &next).await.unwrap();
    assert_eq!(rest.items.iter().map(|r| r.id).collect::<Vec<_>>(), [c1.0]);
    assert!(rest.next_cursor.is_none());
    let ids = |f: CdrFilter| {
        let in_a = Scoped::new(s.reader(), a);
        async move {
            in_a.list_cdrs(&f, &PageRequest::first(50))
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|r| r.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        ids(CdrFilter {
            state: Some("live".into()),
            ..CdrFilter::default()
        })
        .await,
        [c2.0]
    );
    assert_eq!(
        ids(CdrFilter {
            number: Some("20794".into()),
            ..CdrFilter::default()
        })
        .await,
        [c2.0]
    );
    assert_eq!(
        ids(CdrFilter {
            cause: Some(HangupCause::Normal),
            agent_id: Some(agent),
            ..CdrFilter::default()
        })
        .await,
        [c1.0]
    );
    assert_eq!(
        ids(CdrFilter {
            direction: Some(Direction::Inbound),
            ..CdrFilter::default()
        })
        .await,
        [c4.0]
    );
    assert_eq!(
        ids(CdrFilter {
            since: Some(t0 + Duration::seconds(30)),
            until: Some(t0 + Duration::minutes(5)),
            ..CdrFilter::default()
        })
        .await,
        [c2.0]
    );
}

#[tokio::test]
async fn close_orphans_ends_every_live_call() {
    let (s, _d) = store().await;
    let (a, b) = (tenant(&s, "alpha").await, tenant(&s, "bravo").await);
    let t0 = Utc::now() - Duration::minutes(3);
    let (c1, c2, c3) = (CallId::new(), CallId::new(), CallId::new());
    cdrs::open_calls(
        s.writer(),
        &[
            start(c1, a, "+14155550111", t0),
            start(c2, b, "+14155550112", t0),
            start(c3, a, "+14155550113", t0),
        ],
    )
    .await
    .unwrap();
    let done = CallEnd {
        id: c3,
        tenant: a,
        direction: Direction::Outbound,
        from_number: "+14155550100".into(),
        to_number: "+14155550113".into(),
        trunk_id: None,
        did: None,
        agent_id: None,
        started_at: t0,
        ringing_at: None,
        answered_at: None,
        ended_at: t0 + Duration::seconds(20),
        cause: HangupCause::NoAnswer,
        sip_code: Some(408),
        transfer_chain: Vec::new(),
        legs: Vec::new(),
    };
    cdrs::close_calls(s.writer(), &[done]).await.unwrap();

    let now = t0 + Duration::seconds(90);
    assert_eq!(cdrs::close_orphans(s.writer(), now).await.unwrap(), 2);
    assert_eq!(cdrs::close_orphans(s.writer(), now).await.unwrap(), 0);
    for (t, c) in [(a, c1), (b, c2)] {
        let (row, _) = Scoped::new(s.reader(), t).get_cdr(c).await.unwrap();
        assert_eq!(row.state, "ended");
        assert_eq!(row.cause.as_deref(), Some("system_shutdown"));
        assert_eq!(row.duration_ms, Some(90_000));
        assert_eq!(row.talk_ms, None);
        assert!(row.ended_at.is_some());
    }
    let (row, _) = Scoped::new(s.reader(), a).get_cdr(c3).await.unwrap();
    assert_eq!(row.cause.as_deref(), Some("no_answer"));
}
