//! Callbacks in queue: a caller's kept place (added waiting, read back as
//! stored, a duplicate id refused, only a queue of the tenant), the waiting
//! ones in the order the ACD serves them, lists filtered by queue and status
//! in keyset pages, attempts counted to `done` or `failed` (also when
//! several are recorded at once), cancelling, finished rows staying
//! finished, every row kept to its tenant, and a deleted queue taking its
//! callbacks. Run on SQLite and (with OMNIVOX_TEST_BACKEND=postgres) on
//! PostgreSQL by the same code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::{conflict, store, tenant};
use omnivox_store::queue_callbacks::{
    CallbackStatus, ID_TAKEN, NOT_WAITING, NewQueueCallback, QueueCallbackRow,
};
use omnivox_store::queues::QueueValues;
use omnivox_store::{ConnectionTrait, PageRequest, Scoped, StoreError, commit};
use uuid::Uuid;

async fn queue(sc: &Scoped<'_, impl ConnectionTrait>, name: &str) -> Uuid {
    sc.create_queue(QueueValues {
        name: name.into(),
        description: String::new(),
        strategy: "longest_idle".into(),
        required_skills: "[]".into(),
        priority: 0,
        offer_timeout_s: 20,
        max_wait_s: None,
        wrap_up_seconds: 30,
        disposition_required: false,
        overflow: "[]".into(),
        announce_position: false,
        announce_ewt: false,
        announce_every_s: None,
        music_prompt: None,
        comfort_prompt: None,
        callback_in_queue: true,
        recording: None,
    })
    .await
    .unwrap()
    .id
}

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap()
}

fn callback(queue_id: Uuid, n: i64, priority: i32, secs: i64) -> NewQueueCallback {
    NewQueueCallback {
        id: Uuid::now_v7(),
        queue_id,
        number: format!("+1415555{n:04}"),
        caller_id: Some("+18005550100".into()),
        priority,
        requested_at: base() + Duration::seconds(secs),
    }
}

fn ids(rows: &[QueueCallbackRow]) -> Vec<Uuid> {
    rows.iter().map(|r| r.id).collect()
}

fn not_found(r: Result<impl std::fmt::Debug, StoreError>) {
    match r {
        Err(StoreError::NotFound) => {}
        other => panic!("expected not found, got {other:?}"),
    }
}

/// Every row of a list, two at a time.
async fn walk(
    sc: &Scoped<'_, impl ConnectionTrait>,
    queue: Option<Uuid>,
    status: Option<CallbackStatus>,
) -> Vec<Uuid> {
    let mut out = Vec::new();
    let mut page = PageRequest::first(2);
    loop {
        let p = sc.list_queue_callbacks(queue, status, &page).await.unwrap();
        assert!(p.items.len() <= 2);
        out.extend(ids(&p.items));
        match p.next_cursor {
            Some(c) => page = PageRequest::parse(Some(&c), Some(2)).unwrap(),
            None => break,
        }
    }
    out
}

#[test]
fn statuses_have_one_stored_form() {
    for s in CallbackStatus::ALL {
        assert_eq!(CallbackStatus::parse(s.as_str()), Some(s));
        assert_eq!(s.to_string(), s.as_str());
    }
    assert_eq!(
        CallbackStatus::ALL.map(CallbackStatus::as_str),
        ["waiting", "done", "failed", "cancelled"]
    );
    assert_eq!(CallbackStatus::parse("Waiting"), None);
    assert_eq!(CallbackStatus::parse(""), None);
}

#[tokio::test]
async fn callbacks_keep_their_place_and_list_in_queue_order() {
    let (s, _d) = store().await;
    let a = tenant(&s, "acme").await;
    let sa = Scoped::new(s.writer(), a);
    let (sales, support) = (queue(&sa, "sales").await, queue(&sa, "support").await);

    // Read back exactly as stored; requested_at kept to the microsecond.
    let mut first = callback(sales, 1, 0, 10);
    first.requested_at += Duration::nanoseconds(123_456_789);
    let row = sa.add_queue_callback(&first).await.unwrap();
    assert_eq!(row.id, first.id);
    assert_eq!(row.tenant_id, a.0);
    assert_eq!(row.queue_id, sales);
    assert_eq!(row.number, "+14155550001");
    assert_eq!(row.caller_id.as_deref(), Some("+18005550100"));
    assert_eq!(row.priority, 0);
    assert_eq!(
        row.requested_at,
        base() + Duration::seconds(10) + Duration::microseconds(123_456)
    );
    assert_eq!(row.callback_status().unwrap(), CallbackStatus::Waiting);
    assert_eq!(row.attempts, 0);
    assert_eq!(row.last_cause, None);
    assert_eq!(row.created_at, row.updated_at);
    assert_eq!(sa.get_queue_callback(first.id).await.unwrap(), row);

    // A duplicate id is a conflict and changes nothing.
    let mut dup = callback(support, 9, 5, 0);
    dup.id = first.id;
    assert_eq!(conflict(sa.add_queue_callback(&dup).await), ID_TAKEN);
    assert_eq!(sa.get_queue_callback(first.id).await.unwrap(), row);
    // No caller id is kept as none.
    let mut anonymous = callback(support, 2, 0, 5);
    anonymous.caller_id = None;
    let anonymous = sa.add_queue_callback(&anonymous).await.unwrap();
    assert_eq!(anonymous.caller_id, None);
    // An unknown queue is not found.
    not_found(
        sa.add_queue_callback(&callback(Uuid::now_v7(), 3, 0, 0))
            .await,
    );
    not_found(sa.get_queue_callback(Uuid::now_v7()).await);

    // Higher priority first, then who came first; equal times by id.
    let late_vip = sa
        .add_queue_callback(&callback(sales, 4, 5, 60))
        .await
        .unwrap();
    let early = sa
        .add_queue_callback(&callback(sales, 5, 0, 1))
        .await
        .unwrap();
    let same_a = sa
        .add_queue_callback(&callback(support, 6, 0, 30))
        .await
        .unwrap();
    let same_b = sa
        .add_queue_callback(&callback(support, 7, 0, 30))
        .await
        .unwrap();
    let low = sa
        .add_queue_callback(&callback(sales, 8, -3, 0))
        .await
        .unwrap();
    let (tie1, tie2) = if same_a.id < same_b.id {
        (same_a.id, same_b.id)
    } else {
        (same_b.id, same_a.id)
    };
    let order = vec![
        late_vip.id,
        early.id,
        anonymous.id,
        first.id,
        tie1,
        tie2,
        low.id,
    ];
    assert_eq!(ids(&sa.waiting_queue_callbacks().await.unwrap()), order);
    assert_eq!(walk(&sa, None, None).await, order);
    let first_page = sa
        .list_queue_callbacks(None, None, &PageRequest::first(50))
        .await
        .unwrap();
    assert_eq!(ids(&first_page.items), order);
    assert_eq!(first_page.next_cursor, None);

    // By queue, by status, both.
    assert_eq!(
        walk(&sa, Some(sales), None).await,
        vec![late_vip.id, early.id, first.id, low.id]
    );
    assert_eq!(
        walk(&sa, Some(support), None).await,
        vec![anonymous.id, tie1, tie2]
    );
    sa.callback_attempted(early.id, true, None, 3)
        .await
        .unwrap();
    sa.cancel_queue_callback(tie2, "supervisor").await.unwrap();
    assert_eq!(
        ids(&sa.waiting_queue_callbacks().await.unwrap()),
        vec![late_vip.id, anonymous.id, first.id, tie1, low.id]
    );
    assert_eq!(
        walk(&sa, None, Some(CallbackStatus::Waiting)).await,
        vec![late_vip.id, anonymous.id, first.id, tie1, low.id]
    );
    assert_eq!(
        walk(&sa, None, Some(CallbackStatus::Done)).await,
        vec![early.id]
    );
    assert_eq!(
        walk(&sa, Some(support), Some(CallbackStatus::Cancelled)).await,
        vec![tie2]
    );
    assert_eq!(
        walk(&sa, Some(sales), Some(CallbackStatus::Cancelled)).await,
        Vec::<Uuid>::new()
    );
    assert!(
        walk(&sa, None, Some(CallbackStatus::Failed))
            .await
            .is_empty()
    );

    // A row whose status changes between pages is neither skipped nor
    // repeated: the order keys do not change.
    let p1 = sa
        .list_queue_callbacks(None, None, &PageRequest::first(3))
        .await
        .unwrap();
    assert_eq!(ids(&p1.items), order[..3]);
    sa.callback_attempted(order[3], true, None, 3)
        .await
        .unwrap();
    let next = PageRequest::parse(p1.next_cursor.as_deref(), Some(50)).unwrap();
    let p2 = sa.list_queue_callbacks(None, None, &next).await.unwrap();
    assert_eq!(ids(&p2.items), order[3..]);
}

#[tokio::test]
async fn attempts_count_to_done_or_failed_and_finished_rows_stay_finished() {
    let (s, _d) = store().await;
    let a = tenant(&s, "acme").await;
    let sa = Scoped::new(s.writer(), a);
    let q = queue(&sa, "sales").await;
    let reached = sa.add_queue_callback(&callback(q, 1, 0, 0)).await.unwrap();
    let unlucky = sa.add_queue_callback(&callback(q, 2, 0, 1)).await.unwrap();
    let cancelled = sa.add_queue_callback(&callback(q, 3, 0, 2)).await.unwrap();

    // A miss stays waiting with its cause, then the customer answers.
    let r = sa
        .callback_attempted(reached.id, false, Some("no_answer"), 3)
        .await
        .unwrap();
    assert_eq!(r.callback_status().unwrap(), CallbackStatus::Waiting);
    assert_eq!(r.attempts, 1);
    assert_eq!(r.last_cause.as_deref(), Some("no_answer"));
    assert!(r.updated_at >= reached.updated_at);
    assert_eq!(r.created_at, reached.created_at);
    assert_eq!(r.requested_at, reached.requested_at);
    let r = sa
        .callback_attempted(reached.id, true, None, 3)
        .await
        .unwrap();
    assert_eq!(r.callback_status().unwrap(), CallbackStatus::Done);
    assert_eq!(r.attempts, 2);
    assert_eq!(r.last_cause, None);
    assert_eq!(sa.get_queue_callback(reached.id).await.unwrap(), r);

    // Misses up to the maximum: waiting, waiting, failed.
    let mut statuses = Vec::new();
    for (n, cause) in ["no_answer", "busy", "no_answer"].iter().enumerate() {
        let r = sa
            .callback_attempted(unlucky.id, false, Some(cause), 3)
            .await
            .unwrap();
        assert_eq!(r.attempts, i32::try_from(n).unwrap() + 1);
        assert_eq!(r.last_cause.as_deref(), Some(*cause));
        statuses.push(r.callback_status().unwrap());
    }
    assert_eq!(
        statuses,
        [
            CallbackStatus::Waiting,
            CallbackStatus::Waiting,
            CallbackStatus::Failed
        ]
    );

    // Cancel: the cause is kept.
    let c = sa
        .cancel_queue_callback(cancelled.id, "supervisor")
        .await
        .unwrap();
    assert_eq!(c.callback_status().unwrap(), CallbackStatus::Cancelled);
    assert_eq!(c.attempts, 0);
    assert_eq!(c.last_cause.as_deref(), Some("supervisor"));

    // Nothing moves a finished row, and it is left as it was.
    for id in [reached.id, unlucky.id, cancelled.id] {
        let before = sa.get_queue_callback(id).await.unwrap();
        assert_eq!(
            conflict(sa.callback_attempted(id, true, None, 3).await),
            NOT_WAITING
        );
        assert_eq!(
            conflict(sa.callback_attempted(id, false, Some("busy"), 9).await),
            NOT_WAITING
        );
        assert_eq!(
            conflict(sa.cancel_queue_callback(id, "supervisor").await),
            NOT_WAITING
        );
        assert_eq!(sa.get_queue_callback(id).await.unwrap(), before);
    }
    not_found(sa.callback_attempted(Uuid::now_v7(), true, None, 3).await);
    not_found(sa.cancel_queue_callback(Uuid::now_v7(), "x").await);

    // A maximum below one still allows the one attempt being recorded.
    let once = sa.add_queue_callback(&callback(q, 4, 0, 3)).await.unwrap();
    let r = sa
        .callback_attempted(once.id, false, Some("busy"), 0)
        .await
        .unwrap();
    assert_eq!(
        (r.callback_status().unwrap(), r.attempts),
        (CallbackStatus::Failed, 1)
    );
}

#[tokio::test]
async fn concurrent_attempts_are_all_counted_and_stop_at_the_maximum() {
    let (s, _d) = store().await;
    let a = tenant(&s, "acme").await;
    let sa = Scoped::new(s.writer(), a);
    let q = queue(&sa, "sales").await;

    // Eight misses at once, far below the maximum: all counted.
    let row = sa.add_queue_callback(&callback(q, 1, 0, 0)).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            Scoped::new(s.writer(), a)
                .callback_attempted(row.id, false, Some("no_answer"), 100)
                .await
                .unwrap()
                .attempts
        }));
    }
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap());
    }
    seen.sort_unstable();
    // Each call returns the row it wrote: one count each.
    assert_eq!(seen, (1..=8).collect::<Vec<i32>>());
    let after = sa.get_queue_callback(row.id).await.unwrap();
    assert_eq!(after.attempts, 8);
    assert_eq!(after.callback_status().unwrap(), CallbackStatus::Waiting);

    // Eight at once against a maximum of three: three are recorded (the
    // third fails the callback), the rest find it finished.
    let row = sa.add_queue_callback(&callback(q, 2, 0, 1)).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            Scoped::new(s.writer(), a)
                .callback_attempted(row.id, false, Some("busy"), 3)
                .await
        }));
    }
    let (mut recorded, mut refused) = (Vec::new(), 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(r) => recorded.push((r.attempts, r.callback_status().unwrap())),
            Err(StoreError::Conflict(w)) if w == NOT_WAITING => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    recorded.sort_unstable_by_key(|(n, _)| *n);
    assert_eq!(
        recorded,
        [
            (1, CallbackStatus::Waiting),
            (2, CallbackStatus::Waiting),
            (3, CallbackStatus::Failed)
        ]
    );
    assert_eq!(refused, 5);
    let after = sa.get_queue_callback(row.id).await.unwrap();
    assert_eq!(
        (after.attempts, after.callback_status().unwrap()),
        (3, CallbackStatus::Failed)
    );
}

#[tokio::test]
async fn attempts_work_inside_a_callers_transaction() {
    let (s, _d) = store().await;
    let a = tenant(&s, "acme").await;
    let sa = Scoped::new(s.writer(), a);
    let q = queue(&sa, "sales").await;
    let row = sa.add_queue_callback(&callback(q, 1, 0, 0)).await.unwrap();

    // Rolled back: nothing counted.
    let tx = s.begin().await.unwrap();
    let r = Scoped::new(&tx, a)
        .callback_attempted(row.id, false, Some("busy"), 3)
        .await
        .unwrap();
    assert_eq!(r.attempts, 1);
    drop(tx);
    assert_eq!(sa.get_queue_callback(row.id).await.unwrap(), row);

    // A refused attempt (and a duplicate add) inside a transaction leave it
    // usable; the commit keeps what it did.
    let tx = s.begin().await.unwrap();
    let st = Scoped::new(&tx, a);
    let other = st.add_queue_callback(&callback(q, 2, 0, 1)).await.unwrap();
    st.callback_attempted(other.id, true, None, 3)
        .await
        .unwrap();
    assert_eq!(
        conflict(st.callback_attempted(other.id, true, None, 3).await),
        NOT_WAITING
    );
    let mut dup = callback(q, 3, 0, 2);
    dup.id = row.id;
    assert_eq!(conflict(st.add_queue_callback(&dup).await), ID_TAKEN);
    let r = st
        .callback_attempted(row.id, false, Some("no_answer"), 3)
        .await
        .unwrap();
    commit(tx).await.unwrap();
    assert_eq!(sa.get_queue_callback(row.id).await.unwrap(), r);
    assert_eq!(
        sa.get_queue_callback(other.id)
            .await
            .unwrap()
            .callback_status()
            .unwrap(),
        CallbackStatus::Done
    );
}

#[tokio::test]
async fn callbacks_stay_in_their_tenant() {
    let (s, _d) = store().await;
    let a = tenant(&s, "acme").await;
    let b = tenant(&s, "globex").await;
    let sa = Scoped::new(s.writer(), a);
    let sb = Scoped::new(s.writer(), b);
    let qa = queue(&sa, "sales").await;
    let qb = queue(&sb, "sales").await;
    let ra = sa.add_queue_callback(&callback(qa, 1, 0, 0)).await.unwrap();
    let ra2 = sa.add_queue_callback(&callback(qa, 2, 0, 1)).await.unwrap();
    let rb = sb.add_queue_callback(&callback(qb, 3, 0, 0)).await.unwrap();

    // B sees none of A's rows and cannot change them.
    not_found(sb.get_queue_callback(ra.id).await);
    not_found(sb.callback_attempted(ra.id, true, None, 3).await);
    not_found(sb.cancel_queue_callback(ra.id, "supervisor").await);
    assert_eq!(ids(&sb.waiting_queue_callbacks().await.unwrap()), [rb.id]);
    assert_eq!(walk(&sb, None, None).await, [rb.id]);
    assert!(walk(&sb, Some(qa), None).await.is_empty());
    // Nor add to A's queue.
    not_found(sb.add_queue_callback(&callback(qa, 4, 0, 0)).await);
    // Nor page with a cursor of A's.
    let pa = sa
        .list_queue_callbacks(None, None, &PageRequest::first(1))
        .await
        .unwrap();
    let from_a = PageRequest::parse(pa.next_cursor.as_deref(), Some(10)).unwrap();
    assert!(from_a.after.is_some());
    not_found(sb.list_queue_callbacks(None, None, &from_a).await);

    // A's rows are untouched.
    assert_eq!(sa.get_queue_callback(ra.id).await.unwrap(), ra);
    assert_eq!(
        ids(&sa.waiting_queue_callbacks().await.unwrap()),
        [ra.id, ra2.id]
    );
}

#[tokio::test]
async fn a_deleted_queue_takes_its_callbacks() {
    let (s, _d) = store().await;
    let a = tenant(&s, "acme").await;
    let sa = Scoped::new(s.writer(), a);
    let (gone, kept) = (queue(&sa, "gone").await, queue(&sa, "kept").await);
    let g1 = sa
        .add_queue_callback(&callback(gone, 1, 0, 0))
        .await
        .unwrap();
    let g2 = sa
        .add_queue_callback(&callback(gone, 2, 0, 1))
        .await
        .unwrap();
    sa.callback_attempted(g2.id, true, None, 3).await.unwrap();
    let k = sa
        .add_queue_callback(&callback(kept, 3, 0, 2))
        .await
        .unwrap();
    let p = sa
        .list_queue_callbacks(None, None, &PageRequest::first(1))
        .await
        .unwrap();
    let stale = PageRequest::parse(p.next_cursor.as_deref(), Some(10)).unwrap();
    assert_eq!(stale.after, Some(g1.id));

    sa.delete_queue(gone).await.unwrap();
    not_found(sa.get_queue_callback(g1.id).await);
    not_found(sa.get_queue_callback(g2.id).await);
    assert_eq!(ids(&sa.waiting_queue_callbacks().await.unwrap()), [k.id]);
    assert_eq!(walk(&sa, None, None).await, [k.id]);
    // A cursor naming a row that went with its queue.
    not_found(sa.list_queue_callbacks(None, None, &stale).await);
    // The deleted queue takes no new callbacks.
    not_found(sa.add_queue_callback(&callback(gone, 4, 0, 3)).await);
    assert_eq!(sa.get_queue_callback(k.id).await.unwrap(), k);
}
