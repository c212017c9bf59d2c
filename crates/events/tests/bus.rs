//! Behaviour of the in-process bus. Every wait has a timeout; no fixed sleeps.
#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers are test code too

use omnivox_domain::TenantId;
use omnivox_events::{Event, EventBus, EventBusConfig, EventFilter, EventId, Lagged, Subscription};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

async fn next(sub: &mut Subscription) -> Result<Arc<Event>, Lagged> {
    timeout(WAIT, sub.next())
        .await
        .expect("timed out waiting for an event")
        .expect("subscription ended")
}

async fn next_event(sub: &mut Subscription) -> Arc<Event> {
    next(sub).await.expect("expected an event, got Lagged")
}

fn bus(replay_capacity: usize, live_capacity: usize) -> EventBus {
    EventBus::new(EventBusConfig {
        replay_capacity,
        live_capacity,
    })
}

fn seq(event: &Event) -> u64 {
    event.data_as::<serde_json::Value>().expect("json")["seq"]
        .as_u64()
        .expect("seq")
}

#[tokio::test]
async fn a_tenant_never_sees_another_tenants_events() {
    let bus = EventBus::default();
    let (a, b) = (TenantId::new(), TenantId::new());
    let mut sub_a = bus.subscribe(EventFilter::tenant(a));
    let mut sub_b = bus.subscribe(EventFilter::tenant(b));

    let b_events: Vec<_> = (0..3)
        .map(|i| bus.publish(b, "call.answered", None, json!({ "seq": i })))
        .collect();
    let a_marker = bus.publish(a, "call.answered", None, json!({ "seq": 99 }));

    // Delivery is in publish order, so if any of B's events leaked to A they
    // would arrive before A's marker.
    assert_eq!(next_event(&mut sub_a).await.id, a_marker.id);
    for e in &b_events {
        let got = next_event(&mut sub_b).await;
        assert_eq!(got.id, e.id);
        assert_eq!(got.tenant, b);
    }

    // Resuming with a cursor taken from B's stream replays only A's events.
    let mut resumed = bus.subscribe(EventFilter::tenant(a).after(b_events[0].id));
    assert_eq!(next_event(&mut resumed).await.id, a_marker.id);
    let a_next = bus.publish(a, "call.hung_up", None, json!({}));
    assert_eq!(next_event(&mut resumed).await.id, a_next.id);
}

#[tokio::test]
async fn kind_patterns_filter_by_prefix_or_exact_kind() {
    let bus = EventBus::default();
    let t = TenantId::new();
    let mut calls = bus.subscribe(EventFilter::tenant(t).kinds(["call."]));
    let mut regs = bus.subscribe(EventFilter::tenant(t).kinds(["registration.added"]));

    bus.publish(t, "registration.removed", None, json!({}));
    bus.publish(t, "callback.due", None, json!({}));
    let answered = bus.publish(t, "call.answered", Some("c1".into()), json!({}));
    let added = bus.publish(t, "registration.added", None, json!({}));
    let bridged = bus.publish(t, "call.leg.bridged", Some("c1".into()), json!({}));

    assert_eq!(next_event(&mut calls).await.id, answered.id);
    assert_eq!(next_event(&mut calls).await.id, bridged.id);
    assert_eq!(next_event(&mut regs).await.id, added.id);

    // The same filter applies to replayed events.
    let mut replayed = bus.subscribe(EventFilter::tenant(t).kinds(["call."]).after(added.id));
    assert_eq!(next_event(&mut replayed).await.id, bridged.id);
}

#[tokio::test]
async fn resume_replays_exactly_the_missed_events_then_goes_live() {
    let bus = EventBus::default();
    let t = TenantId::new();
    let published: Vec<_> = (0..5)
        .map(|i| bus.publish(t, "call.answered", None, json!({ "seq": i })))
        .collect();

    let mut sub = bus.subscribe(EventFilter::tenant(t).after(published[1].id));
    for e in &published[2..] {
        assert_eq!(next_event(&mut sub).await.id, e.id);
    }
    let live = bus.publish(t, "call.answered", None, json!({ "seq": 5 }));
    assert_eq!(next_event(&mut sub).await.id, live.id);

    // Resuming at the newest event replays nothing and goes live.
    let mut at_head = bus.subscribe(EventFilter::tenant(t).after(live.id));
    let after_head = bus.publish(t, "call.answered", None, json!({ "seq": 6 }));
    assert_eq!(next_event(&mut at_head).await.id, after_head.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resume_seam_has_no_gap_and_no_duplicate_under_concurrent_publishing() {
    const N: u64 = 20_000;
    let bus = bus(50_000, 32_768);
    let t = TenantId::new();
    let published = Arc::new(AtomicU64::new(0));
    let mut watcher = bus.subscribe(EventFilter::tenant(t));

    let publisher = {
        let (bus, published) = (bus.clone(), Arc::clone(&published));
        tokio::spawn(async move {
            for i in 0..N {
                bus.publish(t, "call.progress", None, json!({ "seq": i }));
                published.store(i + 1, Ordering::SeqCst);
                if i % 64 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        })
    };

    // While the publisher runs, resume from several cursors taken from the
    // live stream; each resumer must see every later event exactly once.
    let mut resumers = Vec::new();
    let mut attached_while_publishing = 0;
    for i in 0..N {
        let event = next_event(&mut watcher).await;
        assert_eq!(
            seq(&event),
            i,
            "the live stream itself is gapless and ordered"
        );
        if i % 1_500 == 0 {
            if published.load(Ordering::SeqCst) < N {
                attached_while_publishing += 1;
            }
            let mut sub = bus.subscribe(EventFilter::tenant(t).after(event.id));
            resumers.push(tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut last_id = event.id;
                loop {
                    let e = next_event(&mut sub).await;
                    assert!(e.id > last_id, "ids increase in delivery order");
                    last_id = e.id;
                    seen.push(seq(&e));
                    if seq(&e) == N - 1 {
                        return (i, seen);
                    }
                }
            }));
        }
    }
    timeout(WAIT, publisher).await.unwrap().unwrap();
    assert!(
        attached_while_publishing > 0,
        "at least one resume must race the publisher"
    );
    for r in resumers {
        let (from, seen) = timeout(WAIT, r).await.unwrap().unwrap();
        let expected: Vec<u64> = (from + 1..N).collect();
        assert_eq!(seen, expected, "resume after seq {from}");
    }
}

#[tokio::test]
async fn a_cursor_older_than_the_buffer_is_reported_as_a_gap() {
    let before_bus = EventId::new();
    let bus = bus(3, 64);
    let t = TenantId::new();
    let e: Vec<_> = (0..10)
        .map(|i| bus.publish(t, "call.answered", None, json!({ "seq": i })))
        .collect();

    let mut sub = bus.subscribe(EventFilter::tenant(t).after(e[2].id));
    assert_eq!(
        next(&mut sub).await,
        Err(Lagged::Gap {
            after: e[2].id,
            oldest_retained: Some(e[7].id)
        })
    );
    for ev in &e[7..] {
        assert_eq!(next_event(&mut sub).await.id, ev.id);
    }
    let live = bus.publish(t, "call.answered", None, json!({ "seq": 10 }));
    assert_eq!(next_event(&mut sub).await.id, live.id);

    // The last evicted event is still a valid cursor: everything after it is retained.
    let mut edge = bus.subscribe(EventFilter::tenant(t).after(e[7].id));
    assert_eq!(next_event(&mut edge).await.id, e[8].id);

    // A cursor from before this bus existed (e.g. before a restart) may have
    // missed events nobody retained: a gap, even for a tenant with no history.
    let quiet = TenantId::new();
    let mut old = bus.subscribe(EventFilter::tenant(quiet).after(before_bus));
    assert!(matches!(
        next(&mut old).await,
        Err(Lagged::Gap {
            oldest_retained: None,
            ..
        })
    ));
    let first = bus.publish(quiet, "call.answered", None, json!({}));
    assert_eq!(next_event(&mut old).await.id, first.id);
}

#[tokio::test]
async fn a_cursor_from_the_future_does_not_hide_later_events() {
    let bus = EventBus::default();
    let t = TenantId::new();
    bus.publish(t, "call.answered", None, json!({}));
    let future = EventId(uuid::Uuid::from_u128(u128::MAX));
    let mut sub = bus.subscribe(EventFilter::tenant(t).after(future));
    let live = bus.publish(t, "call.answered", None, json!({}));
    assert_eq!(next_event(&mut sub).await.id, live.id);
}

#[tokio::test]
async fn a_lagging_subscriber_is_told_and_can_resync() {
    let bus = bus(100, 4);
    let t = TenantId::new();
    let mut slow = bus.subscribe(EventFilter::tenant(t));
    let start = slow.cursor();
    let e: Vec<_> = (0..10)
        .map(|i| bus.publish(t, "call.answered", None, json!({ "seq": i })))
        .collect();

    let lag = next(&mut slow).await;
    assert_eq!(
        lag,
        Err(Lagged::Behind {
            missed: 6,
            resume_after: start
        })
    );
    // Ignoring it, the subscription goes on with what is still queued.
    assert_eq!(next_event(&mut slow).await.id, e[6].id);

    // Resyncing instead recovers the skipped events from the replay buffer.
    let mut healed = bus.subscribe(EventFilter::tenant(t).after(e[9].id));
    let more: Vec<_> = (10..20)
        .map(|i| bus.publish(t, "call.answered", None, json!({ "seq": i })))
        .collect();
    let Err(Lagged::Behind { resume_after, .. }) = next(&mut healed).await else {
        panic!("expected Behind");
    };
    assert_eq!(resume_after, e[9].id);
    healed.resync();
    for ev in &more {
        assert_eq!(next_event(&mut healed).await.id, ev.id);
    }
    let live = bus.publish(t, "call.answered", None, json!({ "seq": 20 }));
    assert_eq!(next_event(&mut healed).await.id, live.id);

    // Or a fresh subscription from the reported cursor, e.g. after a reconnect.
    let mut fresh = bus.subscribe(EventFilter::tenant(t).after(resume_after));
    assert_eq!(next_event(&mut fresh).await.id, more[0].id);
}

#[tokio::test]
async fn dropping_or_stalled_subscribers_do_not_affect_publishers() {
    let bus = bus(10_000, 8);
    let t = TenantId::new();

    // Nobody listening: publishing still works and the event is retained.
    let first = bus.publish(t, "call.answered", None, json!({ "seq": 0 }));

    let stalled = bus.subscribe(EventFilter::tenant(t));
    let mut kept = bus.subscribe(EventFilter::tenant(t).after(first.id));
    let dropped_a = bus.subscribe(EventFilter::tenant(t));
    let mut dropped_b = bus.subscribe(EventFilter::tenant(t));
    bus.publish(t, "call.answered", None, json!({ "seq": 1 }));
    assert_eq!(seq(&*next_event(&mut dropped_b).await), 1);
    drop(dropped_a);
    drop(dropped_b);

    // Far more than the live capacity, with a subscriber that never reads:
    // publish is synchronous, so returning at all shows it never waits.
    for i in 2..5_000 {
        bus.publish(t, "call.answered", None, json!({ "seq": i }));
    }
    // The reader that fell behind is told so, and loses nothing retained.
    assert!(matches!(next(&mut kept).await, Err(Lagged::Behind { .. })));
    kept.resync();
    assert_eq!(seq(&*next_event(&mut kept).await), 1);
    drop(stalled);
    drop(kept);

    let mut late = bus.subscribe(EventFilter::tenant(t).after(first.id));
    assert_eq!(seq(&*next_event(&mut late).await), 1);
}

#[tokio::test]
async fn subscriptions_end_when_the_bus_is_dropped() {
    let bus = EventBus::default();
    let t = TenantId::new();
    let mut sub = bus.subscribe(EventFilter::tenant(t));
    let e = bus.publish(t, "call.answered", None, json!({}));
    drop(bus);
    assert_eq!(next_event(&mut sub).await.id, e.id);
    assert!(timeout(WAIT, sub.next()).await.unwrap().is_none());
    sub.resync();
    assert!(timeout(WAIT, sub.next()).await.unwrap().is_none());
}

#[test]
fn events_serialize_with_plain_ids() {
    let bus = EventBus::default();
    let t = TenantId::new();
    let e = bus.publish(t, "call.answered", Some("c1".into()), json!({ "agent": 7 }));
    let v = serde_json::to_value(&*e).unwrap();
    assert_eq!(v["id"], json!(e.id.to_string()));
    assert_eq!(v["tenant"], json!(t.to_string()));
    assert_eq!(v["kind"], "call.answered");
    assert_eq!(v["subject"], "c1");
    let back: Event = serde_json::from_value(v).unwrap();
    assert_eq!(back, *e);
    assert_eq!(e.id.to_string().parse::<EventId>().unwrap(), e.id);
}

#[test]
fn the_event_schema_describes_ids_as_uuid_strings() {
    let schema = serde_json::to_value(<Event as utoipa::PartialSchema>::schema()).unwrap();
    let props = &schema["properties"];
    assert_eq!(props["id"]["$ref"], "#/components/schemas/EventId");
    let id = serde_json::to_value(<EventId as utoipa::PartialSchema>::schema()).unwrap();
    for s in [&id, &props["tenant"]] {
        assert_eq!(s["type"], "string", "{s}");
        assert_eq!(s["format"], "uuid", "{s}");
    }
    assert_eq!(props["at"]["format"], "date-time");
}
