//! The event record and its id.

use chrono::{DateTime, Utc};
use omnivox_domain::TenantId;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::fmt;
use uuid::Uuid;

/// The id of one event: a UUIDv7, so ids sort by publish time.
///
/// It is also the resume cursor: a client that remembers the id of the last
/// event it saw passes it back as [`EventFilter::after`](crate::EventFilter::after).
/// Within one tenant's stream, ids strictly increase in publish order.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(transparent)]
#[schema(value_type = String, format = Uuid)]
pub struct EventId(pub Uuid);

impl EventId {
    /// A new, time-ordered id (monotonic within the process).
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for EventId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for EventId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

impl From<Uuid> for EventId {
    fn from(u: Uuid) -> Self {
        Self(u)
    }
}

/// One state change, as published on the bus.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    /// UUIDv7, time-ordered; the resume cursor.
    pub id: EventId,
    /// The tenant the event belongs to; subscribers only ever see their own.
    #[schema(value_type = String, format = Uuid)]
    pub tenant: TenantId,
    /// Dotted kind, e.g. `call.answered`, `registration.added`.
    #[schema(example = "call.answered")]
    pub kind: String,
    /// What the event is about, e.g. a call id.
    pub subject: Option<String>,
    /// When the bus accepted the event.
    pub at: DateTime<Utc>,
    /// Kind-specific payload, as JSON text: serialized once when published
    /// and written as is to every subscriber (a `serde_json::Value` tree
    /// costs several times the text, and the replay buffer holds thousands).
    #[schema(value_type = Object)]
    pub data: Box<RawValue>,
}

impl Event {
    /// The payload parsed into `T` (a `serde_json::Value` for any).
    pub fn data_as<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.data.get())
    }
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.tenant == other.tenant
            && self.kind == other.kind
            && self.subject == other.subject
            && self.at == other.at
            && self.data.get() == other.data.get()
    }
}
