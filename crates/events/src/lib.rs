//! The Omnivox event bus: every state change (a call answered, a phone
//! registered, an agent paused) is published here and fans out to the
//! wallboard, CDRs, reports and WebSocket clients.
//!
//! In-process by default: per tenant, one `tokio` broadcast channel for live
//! delivery and one bounded replay buffer of recent events for resuming.
//!
//! - **Tenant isolation by construction.** Each tenant has its own stream; a
//!   [`Subscription`] is attached to exactly one, named by the required
//!   [`EventFilter::tenant`].
//! - **Ordering.** Within a tenant, events are delivered in publish order,
//!   which is also [`EventId`] order (UUIDv7, stamped under the tenant lock).
//! - **Resume.** An event's id is its cursor. Subscribing with
//!   [`EventFilter::after`] replays the retained events after it, then goes
//!   live, with no gap and no duplicate at the seam. A cursor older than the
//!   buffer yields [`Lagged::Gap`] first instead of silently skipping.
//! - **Backpressure is the subscriber's problem.** Publishing never waits and
//!   never fails; a subscriber that falls behind gets [`Lagged::Behind`] and
//!   can [`Subscription::resync`] from the buffer.
//!
//! Events are shared as `Arc<Event>`, so fan-out to many subscribers does not
//! copy payloads.
//!
//! ```
//! use omnivox_domain::TenantId;
//! use omnivox_events::{EventBus, EventFilter};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let bus = EventBus::default();
//! let tenant = TenantId::new();
//! let mut calls = bus.subscribe(EventFilter::tenant(tenant).kinds(["call."]));
//!
//! bus.publish(tenant, "registration.added", None, serde_json::json!({}));
//! let answered = bus.publish(tenant, "call.answered", Some("call-1".into()), serde_json::json!({"agent": 7}));
//!
//! let got = calls.next().await;
//! assert!(matches!(got, Some(Ok(e)) if e.id == answered.id));
//!
//! // A client that reconnects with its last cursor gets what it missed.
//! let hung_up = bus.publish(tenant, "call.hung_up", Some("call-1".into()), serde_json::json!({}));
//! let mut resumed = bus.subscribe(EventFilter::tenant(tenant).after(answered.id));
//! assert!(matches!(resumed.next().await, Some(Ok(e)) if e.id == hung_up.id));
//! # }
//! ```

mod bus;
mod event;
mod filter;
mod subscription;

pub use bus::{EventBus, EventBusConfig};
pub use event::{Event, EventId};
pub use filter::EventFilter;
pub use subscription::{Lagged, Subscription};
