//! Persistence for Omnivox: one sea-orm model and one migration set for the
//! embedded SQLite default and for PostgreSQL.
//!
//! Tenant data is reached only through [`Scoped`], which cannot be built
//! without a [`TenantId`]: every query it makes filters on that tenant.
//! Installation-wide data (users, sessions, settings) has its own modules.

pub mod acd_settings;
pub mod agents;
pub mod api_keys;
pub mod audit;
mod bulk;
pub mod campaigns;
pub mod cdrs;
mod connect;
pub mod consent;
pub mod contacts;
pub mod decisions;
pub mod dial_policies;
pub mod dids;
pub mod dispositions;
pub mod dnc;
pub mod entities;
mod error;
pub mod flow_runs;
pub mod flow_secrets;
pub mod flows;
pub mod idempotency;
pub mod imports;
pub mod lists;
pub mod lockouts;
pub mod members;
mod migrations;
mod page;
pub mod prompts;
pub mod queue_callbacks;
pub mod queues;
pub mod recordings;
pub mod seal;
pub mod sessions;
pub mod settings;
pub mod sip_accounts;
pub mod tenants;
pub mod trunks;
pub mod users;
pub mod voicemail;

pub use connect::{DbConfig, Store, redact_url};
pub use error::StoreError;
pub use page::{Page, PageRequest};
pub use sea_orm::{ConnectionTrait, DatabaseTransaction, TransactionTrait};

use chrono::{DateTime, SubsecRound, Utc};
use omnivox_domain::TenantId;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Now, rounded to microseconds: PostgreSQL keeps microseconds and SQLite
/// nanoseconds, and a value must read back equal on both.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Commit a transaction begun with [`Store::begin`].
pub async fn commit(tx: DatabaseTransaction) -> Result<()> {
    Ok(tx.commit().await?)
}

/// The handle on one tenant's data. Every repository method on it filters on
/// `tenant`, so no query can reach another tenant's rows.
pub struct Scoped<'c, C> {
    conn: &'c C,
    tenant: TenantId,
}

impl<'c, C: ConnectionTrait> Scoped<'c, C> {
    pub fn new(conn: &'c C, tenant: TenantId) -> Self {
        Self { conn, tenant }
    }

    /// The tenant every query is scoped to.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }
}
