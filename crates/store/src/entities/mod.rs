//! sea-orm entities: one model for SQLite and PostgreSQL.
//!
//! These are the store's private row types; the rest of Omnivox sees the
//! repository functions and their domain-shaped results.

pub mod api_key;
pub mod audit_log;
pub mod idempotency_key;
pub mod ip_lockout;
pub mod membership;
pub mod recovery_code;
pub mod refresh_token;
pub mod session;
pub mod system_setting;
pub mod tenant;
pub mod user;
