//! The append-only audit log. Rows are written inside the transaction of the
//! change they describe; the database refuses UPDATE and DELETE on them.

use crate::entities::audit_log;
use crate::{Page, PageRequest, Result, Scoped, now};
use omnivox_domain::{AuditId, TenantId};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

pub use audit_log::Model as AuditEntry;

/// Who did it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    User(Uuid),
    ApiKey(Uuid),
    /// The command line (`omnivox admin ...`) or the first-run setup.
    System,
}

impl Actor {
    fn parts(self) -> (&'static str, Option<Uuid>) {
        match self {
            Actor::User(id) => ("user", Some(id)),
            Actor::ApiKey(id) => ("api_key", Some(id)),
            Actor::System => ("system", None),
        }
    }
}

#[derive(Clone, Debug)]
pub struct NewAuditEntry {
    pub tenant: Option<TenantId>,
    pub actor: Actor,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
}

pub async fn record(conn: &impl ConnectionTrait, e: NewAuditEntry) -> Result<AuditEntry> {
    let (actor_type, actor_id) = e.actor.parts();
    Ok(audit_log::ActiveModel {
        id: Set(AuditId::new().0),
        tenant_id: Set(e.tenant.map(|t| t.0)),
        actor_type: Set(actor_type.to_owned()),
        actor_id: Set(actor_id),
        action: Set(e.action),
        target_type: Set(e.target_type),
        target_id: Set(e.target_id),
        before: Set(e.before),
        after: Set(e.after),
        request_id: Set(e.request_id),
        source_ip: Set(e.source_ip),
        created_at: Set(now()),
    }
    .insert(conn)
    .await?)
}

/// Filters for reading the log; all optional.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub actor_id: Option<Uuid>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

impl<C: ConnectionTrait> Scoped<'_, C> {
    /// The tenant's audit log, newest first.
    pub async fn list_audit(
        &self,
        f: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEntry>> {
        let mut q = audit_log::Entity::find()
            .filter(audit_log::Column::TenantId.eq(self.tenant.0))
            .order_by_desc(audit_log::Column::Id);
        if let Some(after) = page.after {
            q = q.filter(audit_log::Column::Id.lt(after));
        }
        if let Some(a) = &f.action {
            q = q.filter(audit_log::Column::Action.eq(a.as_str()));
        }
        if let Some(a) = f.actor_id {
            q = q.filter(audit_log::Column::ActorId.eq(a));
        }
        if let Some(t) = &f.target_type {
            q = q.filter(audit_log::Column::TargetType.eq(t.as_str()));
        }
        if let Some(t) = &f.target_id {
            q = q.filter(audit_log::Column::TargetId.eq(t.as_str()));
        }
        // Ids are UUIDv7, so time bounds become id bounds and stay exact on
        // both databases.
        if let Some(since) = f.since {
            q = q.filter(audit_log::Column::Id.gte(uuid_floor(since)));
        }
        if let Some(until) = f.until {
            q = q.filter(audit_log::Column::Id.lt(uuid_floor(until)));
        }
        let rows = q.limit(page.limit + 1).all(self.conn).await?;
        Ok(Page::from_rows(rows, page.limit, |e| e.id))
    }
}

/// The smallest UUIDv7 of the given millisecond.
fn uuid_floor(t: chrono::DateTime<chrono::Utc>) -> Uuid {
    let ms = t.timestamp_millis().max(0) as u64;
    let mut b = [0u8; 16];
    b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    b[6] = 0x70;
    b[8] = 0x80;
    Uuid::from_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_floor_orders_with_real_v7_ids() {
        let before = chrono::Utc::now();
        let id = Uuid::now_v7();
        let floor = uuid_floor(before);
        assert!(floor <= id);
        assert!(uuid_floor(before + chrono::Duration::seconds(1)) > id);
    }
}
