//! Pure domain logic for Omnivox: ids, roles and the permission matrix, the
//! password policy. No IO lives here.

pub mod access;
pub mod call;
pub mod dial_policy;
pub mod ids;
pub mod password;
pub mod tenant;
pub mod trunk;

pub use access::{Permission, Role};
pub use ids::{ApiKeyId, AuditId, CallId, DidId, QueueId, SessionId, TenantId, TrunkId, UserId};
