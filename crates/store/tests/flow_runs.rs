//! Flow runs: recorded per call, listed newest first with a call filter and
//! keyset pages, kept to their tenant, gone with their flow. Run on SQLite
//! and (with OMNIVOX_TEST_BACKEND=postgres) on PostgreSQL by the same code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::{store, tenant};
use omnivox_domain::TenantId;
use omnivox_store::flow_runs::NewFlowRun;
use omnivox_store::flows::NewFlow;
use omnivox_store::{PageRequest, Scoped, Store, StoreError};
use uuid::Uuid;

async fn flow(s: &Store, t: TenantId, name: &str) -> Uuid {
    Scoped::new(s.writer(), t)
        .create_flow(NewFlow {
            name: name.into(),
            description: String::new(),
            draft: r#"{"start":"bye","nodes":[{"id":"bye","type":"hangup"}]}"#.into(),
        })
        .await
        .unwrap()
        .id
}

fn run(flow_id: Uuid, call_id: Uuid, started_at: DateTime<Utc>, outcome: &str) -> NewFlowRun {
    NewFlowRun {
        call_id,
        flow_id,
        version: 1,
        outcome: outcome.into(),
        fallback_reason: (outcome == "route").then(|| "webhook timed out".to_owned()),
        trace: serde_json::json!({"nodes": ["bye"], "outcome": outcome}).to_string(),
        started_at,
        ended_at: started_at + Duration::seconds(30),
    }
}

#[tokio::test]
async fn runs_are_recorded_listed_newest_first_and_paged() {
    let (s, _d) = store().await;
    let t = tenant(&s, "acme").await;
    let f = flow(&s, t, "main").await;
    let other = flow(&s, t, "other").await;
    let sc = Scoped::new(s.writer(), t);
    let base = Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap();
    let call_a = Uuid::now_v7();
    let call_b = Uuid::now_v7();
    // Recorded out of start order; two share a start instant. Nanoseconds
    // are cut to microseconds so both databases read the same value back.
    let at = |secs: i64| base + Duration::seconds(secs) + Duration::nanoseconds(123_456_789);
    let r1 = sc
        .record_flow_run(run(f, call_a, at(10), "route"))
        .await
        .unwrap();
    let r0 = sc
        .record_flow_run(run(f, call_b, at(0), "hangup"))
        .await
        .unwrap();
    let r2a = sc
        .record_flow_run(run(f, call_b, at(20), "voicemail"))
        .await
        .unwrap();
    let r2b = sc
        .record_flow_run(run(f, call_a, at(20), "error"))
        .await
        .unwrap();
    sc.record_flow_run(run(other, call_a, at(30), "hangup"))
        .await
        .unwrap();

    assert_eq!(r1.started_at, at(10) - Duration::nanoseconds(789));
    assert_eq!(r1.fallback_reason.as_deref(), Some("webhook timed out"));
    assert_eq!(r1.tenant_id, t.0);

    let all = sc
        .list_flow_runs(f, None, &PageRequest::first(50))
        .await
        .unwrap();
    assert_eq!(all.next_cursor, None);
    let ids: Vec<Uuid> = all.items.iter().map(|r| r.id).collect();
    // Newest start first; the tie is broken by id, newest id first.
    let (tie_first, tie_second) = if r2a.id > r2b.id {
        (r2a.id, r2b.id)
    } else {
        (r2b.id, r2a.id)
    };
    assert_eq!(ids, [tie_first, tie_second, r1.id, r0.id]);
    // What was stored reads back whole.
    let got = all.items.iter().find(|r| r.id == r1.id).unwrap();
    assert_eq!(got, &r1);

    // Pages of one walk the same order with no gaps or repeats, including
    // across the tie.
    let mut walked = Vec::new();
    let mut page = PageRequest::first(1);
    loop {
        let p = sc.list_flow_runs(f, None, &page).await.unwrap();
        walked.extend(p.items.iter().map(|r| r.id));
        match p.next_cursor {
            Some(c) => page = PageRequest::parse(Some(&c), Some(1)).unwrap(),
            None => break,
        }
    }
    assert_eq!(walked, ids);

    // The call filter keeps that call's runs of this flow only.
    let a = sc
        .list_flow_runs(f, Some(call_a), &PageRequest::first(50))
        .await
        .unwrap();
    let a_ids: Vec<Uuid> = a.items.iter().map(|r| r.id).collect();
    assert_eq!(a_ids, [r2b.id, r1.id]);
    assert!(
        sc.list_flow_runs(f, Some(Uuid::now_v7()), &PageRequest::first(50))
            .await
            .unwrap()
            .items
            .is_empty()
    );

    // A cursor that is not a run of this flow is refused, not a first page.
    let bad = PageRequest {
        after: Some(Uuid::now_v7()),
        limit: 10,
    };
    assert!(matches!(
        sc.list_flow_runs(f, None, &bad).await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn runs_stay_with_their_tenant_and_go_with_their_flow() {
    let (s, _d) = store().await;
    let a = tenant(&s, "acme").await;
    let b = tenant(&s, "globex").await;
    let fa = flow(&s, a, "main").await;
    let fb = flow(&s, b, "main").await;
    let sa = Scoped::new(s.writer(), a);
    let sb = Scoped::new(s.writer(), b);
    let now = omnivox_store::now();
    let ra = sa
        .record_flow_run(run(fa, Uuid::now_v7(), now, "hangup"))
        .await
        .unwrap();

    // B sees none of A's runs, even naming A's flow, and cannot page from
    // one of them.
    let page = sb
        .list_flow_runs(fa, None, &PageRequest::first(50))
        .await
        .unwrap();
    assert!(page.items.is_empty());
    let from_a = PageRequest {
        after: Some(ra.id),
        limit: 10,
    };
    assert!(matches!(
        sb.list_flow_runs(fb, None, &from_a).await,
        Err(StoreError::NotFound)
    ));
    // Nor can B record a run against A's flow, or anyone against a flow
    // that does not exist.
    assert!(matches!(
        sb.record_flow_run(run(fa, Uuid::now_v7(), now, "hangup"))
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        sa.record_flow_run(run(Uuid::now_v7(), Uuid::now_v7(), now, "hangup"))
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        sa.list_flow_runs(fa, None, &PageRequest::first(50))
            .await
            .unwrap()
            .items
            .len(),
        1
    );

    // Deleting the flow deletes its runs (the foreign key cascades).
    sb.record_flow_run(run(fb, Uuid::now_v7(), now, "route"))
        .await
        .unwrap();
    sa.delete_flow(fa).await.unwrap();
    let left = sa
        .list_flow_runs(fa, None, &PageRequest::first(50))
        .await
        .unwrap();
    assert!(left.items.is_empty());
    // B's run is untouched.
    assert_eq!(
        sb.list_flow_runs(fb, None, &PageRequest::first(50))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}
