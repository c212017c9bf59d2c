//! Callbacks in queue over HTTP, for supervisors: a queue's callbacks in the
//! order the queue serves them, filtered by status, in pages; another
//! tenant's queue and unknown values refused; roles; cancelling a waiting
//! callback once (audited), and the cancel taking the entry out of the live
//! ACD. Callbacks are created by the live call path (which needs SIP), so
//! the tests write them through the same store calls.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use omnivox_domain::TenantId;
use omnivox_store::queue_callbacks::{CallbackStatus, NewQueueCallback, QueueCallbackRow};
use omnivox_store::{Scoped, Store};
use omnivox_testkit::{Resp, TestApp, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

async fn create_queue(app: &TestApp, t: &str, token: &str, name: &str) -> Uuid {
    let r = app
        .post(
            &format!("/api/v1/tenants/{t}/queues"),
            token,
            json!({ "name": name, "callback_in_queue": true }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    r.body["id"].as_str().unwrap().parse().unwrap()
}

fn callbacks_path(t: &str, q: Uuid) -> String {
    format!("/api/v1/tenants/{t}/queues/{q}/callbacks")
}

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap()
}

/// Keeps a caller's place as the live call path does.
async fn add(
    store: &Store,
    t: &str,
    queue: Uuid,
    n: u32,
    priority: i32,
    secs: i64,
) -> QueueCallbackRow {
    Scoped::new(store.writer(), TenantId(t.parse().unwrap()))
        .add_queue_callback(&NewQueueCallback {
            id: Uuid::now_v7(),
            queue_id: queue,
            number: format!("+1415555{n:04}"),
            caller_id: Some("+18005550100".into()),
            priority,
            requested_at: base() + Duration::seconds(secs),
        })
        .await
        .unwrap()
}

fn ids(r: &Resp) -> Vec<Uuid> {
    r.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {r:?}"))
        .iter()
        .map(|i| i["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// Every callback of a list, `limit` at a time.
async fn walk(app: &TestApp, path: &str, token: &str, limit: usize) -> Vec<Uuid> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
            None => format!("{path}{sep}limit={limit}"),
        };
        let r = app.get(&url, token).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        let page = ids(&r);
        assert!(page.len() <= limit, "{r:?}");
        out.extend(page);
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    out
}

async fn audit(app: &TestApp, t: &str, token: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/api/v1/tenants/{t}/audit?limit=200"), token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    r.body["items"].as_array().unwrap().clone()
}

/// The calls the live ACD has in `q` (`call_id`, `kind`).
async fn live_calls(app: &TestApp, t: &str, token: &str, q: Uuid) -> Vec<(Uuid, String)> {
    let r = app
        .get(&format!("/api/v1/tenants/{t}/queues/{q}/stats"), token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    r.body["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["call_id"].as_str().unwrap().parse().unwrap(),
                c["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_queues_callbacks_are_listed_in_queue_order_by_status_and_in_pages() {
    let app = spawn_app().await;
    let (a, owner_a, b, owner_b) = app.two_tenants().await;
    let sales = create_queue(&app, &a, &owner_a, "sales").await;
    let support = create_queue(&app, &a, &owner_a, "support").await;
    let theirs = create_queue(&app, &b, &owner_b, "sales").await;
    let store = Store::connect(&app.config.database).await.unwrap();
    let sa = Scoped::new(store.writer(), TenantId(a.parse().unwrap()));

    let early = add(&store, &a, sales, 1, 0, 0).await;
    let vip = add(&store, &a, sales, 2, 5, 90).await;
    let late = add(&store, &a, sales, 3, 0, 60).await;
    let done = add(&store, &a, sales, 4, 0, 30).await;
    let failed = add(&store, &a, sales, 5, -1, 10).await;
    let other_queue = add(&store, &a, support, 6, 9, 0).await;
    let other_tenant = add(&store, &b, theirs, 7, 9, 0).await;
    sa.callback_attempted(done.id, false, Some("no_answer"), 3)
        .await
        .unwrap();
    sa.callback_attempted(done.id, true, None, 3).await.unwrap();
    sa.callback_attempted(failed.id, false, Some("busy"), 1)
        .await
        .unwrap();

    // Higher priority first, then who came first; only this queue's.
    let path = callbacks_path(&a, sales);
    let r = app.get(&path, &owner_a).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        ids(&r),
        [vip.id, early.id, done.id, late.id, failed.id],
        "{r:?}"
    );
    assert_eq!(r.body["next_cursor"], Value::Null);
    let item = &r.body["items"][2];
    assert_eq!(item["id"], done.id.to_string());
    assert_eq!(item["queue_id"], sales.to_string());
    assert_eq!(item["number"], "+14155550004");
    assert_eq!(item["caller_id"], "+18005550100");
    assert_eq!(item["priority"], 0);
    assert_eq!(item["requested_at"], "2026-11-21T09:00:30Z");
    assert_eq!(item["status"], "done");
    assert_eq!(item["attempts"], 2);
    assert_eq!(item["last_cause"], Value::Null);
    assert!(item["updated_at"].is_string(), "{item}");
    let f = &r.body["items"][4];
    assert_eq!(
        (&f["status"], &f["attempts"], &f["last_cause"]),
        (&json!("failed"), &json!(1), &json!("busy"))
    );
    assert_eq!(r.body["items"][0]["status"], "waiting");
    assert_eq!(r.body["items"][0]["attempts"], 0);

    // By status; in pages.
    let waiting = format!("{path}?status=waiting");
    assert_eq!(
        ids(&app.get(&waiting, &owner_a).await),
        [vip.id, early.id, late.id]
    );
    assert_eq!(
        ids(&app.get(&format!("{path}?status=failed"), &owner_a).await),
        [failed.id]
    );
    assert!(ids(&app.get(&format!("{path}?status=cancelled"), &owner_a).await).is_empty());
    assert_eq!(
        walk(&app, &path, &owner_a, 2).await,
        [vip.id, early.id, done.id, late.id, failed.id]
    );
    assert_eq!(
        walk(&app, &waiting, &owner_a, 1).await,
        [vip.id, early.id, late.id]
    );
    assert_eq!(
        ids(&app.get(&callbacks_path(&a, support), &owner_a).await),
        [other_queue.id]
    );

    // Unknown values: the codebase's error shapes.
    let bad = app.get(&format!("{path}?status=pending"), &owner_a).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{bad:?}");
    assert_eq!(bad.code(), "validation_failed");
    assert_eq!(bad.body["error"]["details"]["fields"][0]["field"], "status");
    assert_eq!(
        bad.body["error"]["details"]["fields"][0]["code"],
        "invalid_status"
    );
    let bad = app.get(&format!("{path}?cursor=!!"), &owner_a).await;
    assert_eq!(
        (bad.status, bad.code()),
        (StatusCode::BAD_REQUEST, "invalid_cursor")
    );
    let bad = app.get(&format!("{path}?sort=priority"), &owner_a).await;
    assert_eq!(
        (bad.status, bad.code()),
        (StatusCode::BAD_REQUEST, "invalid_query")
    );

    // Another tenant's queue, or none, is not found; B sees only its own.
    for (t, token, q) in [
        (&a, &owner_a, theirs),
        (&b, &owner_b, sales),
        (&a, &owner_a, Uuid::now_v7()),
    ] {
        let r = app.get(&callbacks_path(t, q), token).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");
    }
    assert_eq!(
        ids(&app.get(&callbacks_path(&b, theirs), &owner_b).await),
        [other_tenant.id]
    );
    // A cursor of A's rows in B's list names nothing B has.
    let p = app.get(&format!("{path}?limit=1"), &owner_a).await;
    let c = p.body["next_cursor"].as_str().unwrap();
    let r = app
        .get(
            &format!("{}?cursor={c}", callbacks_path(&b, theirs)),
            &owner_b,
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "invalid_cursor"),
        "{r:?}"
    );

    // Roles: queue_read lists, agents cannot.
    let agent = app.member(&a, &owner_a, "agent@example.com", "agent").await;
    let analyst = app
        .member(&a, &owner_a, "analyst@example.com", "analyst")
        .await;
    let supervisor = app
        .member(&a, &owner_a, "sup@example.com", "supervisor")
        .await;
    let r = app.get(&path, &agent).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"));
    for token in [&analyst, &supervisor] {
        let r = app.get(&path, token).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        assert_eq!(ids(&r).len(), 5);
    }
}

#[tokio::test]
async fn a_supervisor_cancels_a_waiting_callback_once_and_it_is_audited() {
    let app = spawn_app().await;
    let (a, owner_a, b, owner_b) = app.two_tenants().await;
    let sales = create_queue(&app, &a, &owner_a, "sales").await;
    let support = create_queue(&app, &a, &owner_a, "support").await;
    let theirs = create_queue(&app, &b, &owner_b, "sales").await;
    let store = Store::connect(&app.config.database).await.unwrap();
    let sa = Scoped::new(store.writer(), TenantId(a.parse().unwrap()));
    let sb = Scoped::new(store.writer(), TenantId(b.parse().unwrap()));
    let waiting = add(&store, &a, sales, 1, 0, 0).await;
    let kept = add(&store, &a, sales, 2, 0, 1).await;
    let done = add(&store, &a, sales, 3, 0, 2).await;
    sa.callback_attempted(done.id, true, None, 3).await.unwrap();
    let elsewhere = add(&store, &a, support, 4, 0, 0).await;
    let other_tenant = add(&store, &b, theirs, 5, 0, 0).await;
    let supervisor = app
        .member(&a, &owner_a, "sup@example.com", "supervisor")
        .await;
    let agent = app.member(&a, &owner_a, "agent@example.com", "agent").await;
    let analyst = app
        .member(&a, &owner_a, "analyst@example.com", "analyst")
        .await;
    let one = |t: &str, q: Uuid, id: Uuid| format!("{}/{id}", callbacks_path(t, q));
    let audit_before = audit(&app, &a, &owner_a).await.len();

    // Neither agents nor analysts (read-only) cancel; nothing changes.
    for token in [&agent, &analyst] {
        let r = app.delete(&one(&a, sales, waiting.id), token).await;
        assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"));
    }
    // Not found: another tenant's callback or queue, a callback through a
    // queue it is not in, an unknown id.
    for (t, token, q, id) in [
        (&a, &owner_a, theirs, other_tenant.id),
        (&a, &owner_a, sales, other_tenant.id),
        (&b, &owner_b, theirs, waiting.id),
        (&a, &owner_a, support, waiting.id),
        (&a, &owner_a, sales, elsewhere.id),
        (&a, &owner_a, sales, Uuid::now_v7()),
    ] {
        let r = app.delete(&one(t, q, id), token).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{t} {q} {id}: {r:?}");
    }
    for (s, row) in [
        (&sa, &waiting),
        (&sa, &elsewhere),
        (&sb, &other_tenant),
        (&sa, &kept),
    ] {
        assert_eq!(
            s.get_queue_callback(row.id)
                .await
                .unwrap()
                .callback_status()
                .unwrap(),
            CallbackStatus::Waiting
        );
    }
    assert_eq!(audit(&app, &a, &owner_a).await.len(), audit_before);

    // The supervisor cancels: 200 with the row as it now is.
    let r = app.delete(&one(&a, sales, waiting.id), &supervisor).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["id"], waiting.id.to_string());
    assert_eq!(r.body["status"], "cancelled");
    assert_eq!(r.body["last_cause"], "supervisor");
    assert_eq!(r.body["attempts"], 0);
    assert_eq!(r.body["number"], "+14155550001");
    let stored = sa.get_queue_callback(waiting.id).await.unwrap();
    assert_eq!(stored.callback_status().unwrap(), CallbackStatus::Cancelled);
    assert_eq!(stored.last_cause.as_deref(), Some("supervisor"));
    assert_eq!(
        sa.get_queue_callback(kept.id)
            .await
            .unwrap()
            .callback_status()
            .unwrap(),
        CallbackStatus::Waiting
    );
    assert_eq!(
        ids(&app
            .get(
                &format!("{}?status=cancelled", callbacks_path(&a, sales)),
                &owner_a
            )
            .await),
        [waiting.id]
    );

    // Audited once, with before and after, by the supervisor.
    let log = audit(&app, &a, &owner_a).await;
    let entries: Vec<&Value> = log
        .iter()
        .filter(|e| e["target_id"] == waiting.id.to_string())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let e = entries[0];
    assert_eq!(e["action"], "queue_callback.cancelled");
    assert_eq!(e["target_type"], "queue_callback");
    assert_eq!(e["before"]["status"], "waiting");
    assert_eq!(e["after"]["status"], "cancelled");
    assert_eq!(e["after"]["last_cause"], "supervisor");
    let me = app.get("/api/v1/me", &supervisor).await;
    assert_eq!(e["actor_id"], me.body["user"]["id"], "{me:?}");

    // Only a waiting callback is cancelled: again, or a done one, is 409
    // and changes and audits nothing.
    let audited = log.len();
    for id in [waiting.id, done.id] {
        let before = sa.get_queue_callback(id).await.unwrap();
        let r = app.delete(&one(&a, sales, id), &owner_a).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::CONFLICT, "callback_not_waiting"),
            "{r:?}"
        );
        assert_eq!(sa.get_queue_callback(id).await.unwrap(), before);
    }
    assert_eq!(audit(&app, &a, &owner_a).await.len(), audited);
}

#[tokio::test]
async fn cancelling_takes_the_callback_out_of_the_live_queue() {
    let app = spawn_app().await;
    let (t, owner) = app.owner().await;
    let sales = create_queue(&app, &t, &owner, "sales").await;
    let store = Store::connect(&app.config.database).await.unwrap();
    let first = add(&store, &t, sales, 1, 0, 0).await;
    let second = add(&store, &t, sales, 2, 0, 1).await;
    drop(store);
    // A restart puts the stored waiting callbacks back in line.
    let app = app.restart().await;
    let callback = "callback".to_owned();
    assert_eq!(
        live_calls(&app, &t, &owner, sales).await,
        [(first.id, callback.clone()), (second.id, callback.clone())]
    );

    let r = app
        .delete(
            &format!("{}/{}", callbacks_path(&t, sales), first.id),
            &owner,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        live_calls(&app, &t, &owner, sales).await,
        [(second.id, callback.clone())]
    );
    // And stays out after another restart.
    let app = app.restart().await;
    assert_eq!(
        live_calls(&app, &t, &owner, sales).await,
        [(second.id, callback)]
    );
}
