//! The in-process bus: one broadcast channel and one replay buffer per tenant.

use crate::subscription::Subscription;
use crate::{Event, EventFilter, EventId};
use chrono::Utc;
use omnivox_domain::TenantId;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use tokio::sync::broadcast;

/// Sizes of the per-tenant buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventBusConfig {
    /// Recent events kept per tenant for resuming subscriptions. A cursor
    /// older than this window gets an explicit [`Lagged::Gap`](crate::Lagged::Gap).
    pub replay_capacity: usize,
    /// Events a live subscriber may fall behind before it gets
    /// [`Lagged::Behind`](crate::Lagged::Behind) (rounded up to a power of
    /// two; at least 1).
    pub live_capacity: usize,
}

impl Default for EventBusConfig {
    fn default() -> Self {
        Self {
            replay_capacity: 10_000,
            live_capacity: 1_024,
        }
    }
}

/// The event bus. Cloning is cheap (an `Arc`); all clones share the streams.
///
/// **Ordering:** within one tenant, every subscriber sees events in publish
/// order, and that order is also the order of their ids. Concurrent
/// publishers for one tenant are ordered by who gets the tenant's lock
/// first. There is no ordering across tenants (no subscriber can observe it).
///
/// **Publishing** never waits for subscribers and never fails: an event with
/// nobody listening is still kept in the replay buffer. The only lock taken is
/// the tenant's own mutex, held to stamp the id, push into the replay buffer
/// and hand the event to the broadcast channel (a shared read lock finds the
/// tenant; the write lock is taken once per tenant, on first use).
///
/// When the last clone of the bus is dropped, subscriptions end (`None`)
/// after the events already delivered to them.
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<Inner>,
}

struct Inner {
    config: EventBusConfig,
    tenants: RwLock<HashMap<TenantId, Arc<TenantStream>>>,
}

/// One tenant's stream.
pub(crate) struct TenantStream {
    sender: broadcast::Sender<Arc<Event>>,
    state: Mutex<Replay>,
    replay_capacity: usize,
}

struct Replay {
    /// Recent events, ascending by id.
    buffer: VecDeque<Arc<Event>>,
    /// Every event with an id above this is still in `buffer` (or not yet
    /// published). Starts as an id minted when the stream was created, so a
    /// cursor from before (e.g. an earlier process) is reported as a gap;
    /// then follows the id of the last evicted event.
    horizon: EventId,
}

impl Replay {
    fn latest(&self) -> EventId {
        self.buffer.back().map_or(self.horizon, |e| e.id)
    }
}

/// What a subscription starts from, taken atomically with respect to publishers.
pub(crate) struct Attachment {
    pub(crate) receiver: broadcast::Receiver<Arc<Event>>,
    pub(crate) replay: VecDeque<Arc<Event>>,
    pub(crate) cursor: EventId,
    pub(crate) gap: Option<crate::Lagged>,
}

impl fmt::Debug for TenantStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantStream")
            .field("subscribers", &self.sender.receiver_count())
            .finish_non_exhaustive()
    }
}

impl TenantStream {
    fn new(config: &EventBusConfig) -> Self {
        let (sender, _) = broadcast::channel(config.live_capacity.max(1));
        Self {
            sender,
            state: Mutex::new(Replay {
                buffer: VecDeque::new(),
                horizon: EventId::new(),
            }),
            replay_capacity: config.replay_capacity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Replay> {
        // Nothing panics while the lock is held; if something ever did, the
        // buffer is still consistent (a push or a pop), so keep going.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn publish(
        &self,
        tenant: TenantId,
        kind: String,
        subject: Option<String>,
        data: Box<RawValue>,
    ) -> Arc<Event> {
        let mut state = self.lock();
        // Stamped under the lock so id order is publish order.
        let event = Arc::new(Event {
            id: EventId::new(),
            tenant,
            kind,
            subject,
            at: Utc::now(),
            data,
        });
        state.buffer.push_back(Arc::clone(&event));
        while state.buffer.len() > self.replay_capacity {
            match state.buffer.pop_front() {
                Some(evicted) => state.horizon = evicted.id,
                None => break,
            }
        }
        // Sent under the same lock as the push, so a subscriber that snapshots
        // the buffer and attaches its receiver under this lock sees each event
        // exactly once. `send` only fails when nobody is listening.
        let _ = self.sender.send(Arc::clone(&event));
        drop(state);
        event
    }

    /// Attach a receiver and take the replay after `after`, in one critical
    /// section: every event is either in the replay or arrives live, never
    /// both, never neither.
    pub(crate) fn attach(&self, after: Option<EventId>) -> Attachment {
        let state = self.lock();
        let receiver = self.sender.subscribe();
        let latest = state.latest();
        let Some(after) = after else {
            return Attachment {
                receiver,
                replay: VecDeque::new(),
                cursor: latest,
                gap: None,
            };
        };
        let gap = (after < state.horizon).then(|| crate::Lagged::Gap {
            after,
            oldest_retained: state.buffer.front().map(|e| e.id),
        });
        let start = state.buffer.partition_point(|e| e.id <= after);
        let replay: VecDeque<_> = state.buffer.range(start..).cloned().collect();
        drop(state);
        Attachment {
            receiver,
            replay,
            // A cursor from the future must not hide events published later.
            cursor: after.min(latest),
            gap,
        }
    }
}

impl EventBus {
    pub fn new(config: EventBusConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                tenants: RwLock::new(HashMap::new()),
            }),
        }
    }

    pub fn config(&self) -> EventBusConfig {
        self.inner.config
    }

    /// Publish one event to `tenant`'s stream and return it (with its id,
    /// the cursor). Never blocks on subscribers, never fails: `data` that
    /// cannot be serialized (a map with non-text keys) is logged and
    /// published as `null`.
    pub fn publish(
        &self,
        tenant: TenantId,
        kind: impl Into<String>,
        subject: Option<String>,
        data: impl Serialize,
    ) -> Arc<Event> {
        let kind = kind.into();
        let data = serde_json::value::to_raw_value(&data).unwrap_or_else(|e| {
            tracing::error!(kind = %kind, error = %e, "event data not serializable; published as null");
            RawValue::NULL.to_owned()
        });
        let event = self.stream(tenant).publish(tenant, kind, subject, data);
        tracing::trace!(tenant_id = %tenant, kind = %event.kind, event_id = %event.id, "event published");
        event
    }

    /// Subscribe to one tenant's events. With `filter.after`, the retained
    /// events after that cursor come first, then live events, with nothing
    /// missed or repeated at the seam; if the cursor is older than what is
    /// retained, the first item is [`Lagged::Gap`](crate::Lagged::Gap).
    pub fn subscribe(&self, filter: EventFilter) -> Subscription {
        let stream = self.stream(filter.tenant);
        let attachment = stream.attach(filter.after);
        if let Some(gap) = &attachment.gap {
            tracing::debug!(tenant_id = %filter.tenant, %gap, "resume cursor older than the replay buffer");
        }
        Subscription::new(filter, Arc::downgrade(&stream), attachment)
    }

    fn stream(&self, tenant: TenantId) -> Arc<TenantStream> {
        {
            let tenants = self
                .inner
                .tenants
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(stream) = tenants.get(&tenant) {
                return Arc::clone(stream);
            }
        }
        let mut tenants = self
            .inner
            .tenants
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            tenants
                .entry(tenant)
                .or_insert_with(|| Arc::new(TenantStream::new(&self.inner.config))),
        )
    }
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new(EventBusConfig::default())
    }
}

impl fmt::Debug for EventBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventBus")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}
