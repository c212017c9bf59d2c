//! Typed, time-sortable identifiers (UUIDv7).
//!
//! Each entity has its own id type, so a `UserId` can never be passed where a
//! `TenantId` is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new id; UUIDv7 ids sort by creation time.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }
    };
}

id_type!(
    /// An organization: the unit of isolation for all data.
    TenantId
);
id_type!(
    /// A person who can sign in.
    UserId
);
id_type!(
    /// A login session (a refresh-token family).
    SessionId
);
id_type!(
    /// A tenant API key.
    ApiKeyId
);
id_type!(
    /// One row of the audit log.
    AuditId
);
id_type!(
    /// A SIP trunk to a carrier.
    TrunkId
);
id_type!(
    /// A phone number (DID) that routes inbound calls to a tenant.
    DidId
);
id_type!(
    /// One call (its CDR row has the same id).
    CallId
);
id_type!(
    /// An ACD queue: calls wait in it for an agent with the required skills.
    QueueId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_creation_time() {
        let a = TenantId::new();
        let b = TenantId::new();
        assert!(a < b, "UUIDv7 ids must be monotonic within a process");
    }

    #[test]
    fn ids_round_trip_through_strings() {
        let a = UserId::new();
        let parsed: UserId = a.to_string().parse().unwrap();
        assert_eq!(a, parsed);
        assert!("not-a-uuid".parse::<UserId>().is_err());
    }
}
