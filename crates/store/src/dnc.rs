//! Do-not-call: the tenant's internal and per-campaign entries (exact numbers
//! or prefix wildcards), and imported national registries (stored compactly
//! as files; this table keeps their metadata).

use crate::entities::{dnc_entry, dnc_registry};
use crate::{Page, PageRequest, Result, Scoped, StoreError, now};
use chrono::{DateTime, Utc};
use omnivox_domain::UserId;
use sea_orm::sea_query::ExprTrait;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

pub use dnc_entry::Model as DncEntry;
pub use dnc_registry::Model as DncRegistry;

pub struct NewDncEntry<'a> {
    /// `internal` or `campaign`.
    pub scope: &'a str,
    pub campaign_id: Option<Uuid>,
    /// An E.164 number, or a prefix ending in `*` (e.g. `+1212*`).
    pub pattern: &'a str,
    pub reason: &'a str,
    pub source: &'a str,
    pub created_by: Option<UserId>,
    pub expires_at: Option<DateTime<Utc>>,
}

pub struct NewRegistry<'a> {
    pub name: &'a str,
    pub entries: i64,
    pub rejected_lines: i64,
    pub stored_path: &'a str,
    pub refreshed_at: DateTime<Utc>,
}

impl<C: ConnectionTrait> Scoped<'_, C> {
    pub async fn add_dnc(&self, new: NewDncEntry<'_>) -> Result<DncEntry> {
        Ok(dnc_entry::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(self.tenant.0),
            scope: Set(new.scope.to_owned()),
            campaign_id: Set(new.campaign_id),
            pattern: Set(new.pattern.to_owned()),
            reason: Set(new.reason.to_owned()),
            source: Set(new.source.to_owned()),
            created_by: Set(new.created_by.map(|u| u.0)),
            created_at: Set(now()),
            expires_at: Set(new.expires_at),
        }
        .insert(self.conn)
        .await?)
    }

    pub async fn remove_dnc(&self, id: Uuid) -> Result<DncEntry> {
        let e = dnc_entry::Entity::find()
            .filter(dnc_entry::Column::TenantId.eq(self.tenant.0))
            .filter(dnc_entry::Column::Id.eq(id))
            .one(self.conn)
            .await?
            .ok_or(StoreError::NotFound)?;
        dnc_entry::Entity::delete_by_id(id).exec(self.conn).await?;
        Ok(e)
    }

    pub async fn list_dnc(
        &self,
        pattern: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<DncEntry>> {
        let mut q = dnc_entry::Entity::find()
            .filter(dnc_entry::Column::TenantId.eq(self.tenant.0))
            .order_by_asc(dnc_entry::Column::Id);
        if let Some(p) = pattern {
            q = q.filter(dnc_entry::Column::Pattern.eq(p));
        }
        if let Some(after) = page.after {
            q = q.filter(dnc_entry::Column::Id.gt(after));
        }
        let rows = q.limit(page.limit + 1).all(self.conn).await?;
        Ok(Page::from_rows(rows, page.limit, |e| e.id))
    }

    /// Every unexpired entry of the tenant, to build the in-memory lookup.
    pub async fn all_dnc(&self) -> Result<Vec<DncEntry>> {
        Ok(dnc_entry::Entity::find()
            .filter(dnc_entry::Column::TenantId.eq(self.tenant.0))
            .filter(
                dnc_entry::Column::ExpiresAt
                    .is_null()
                    .or(dnc_entry::Column::ExpiresAt.gt(now())),
            )
            .all(self.conn)
            .await?)
    }

    pub async fn add_registry(&self, new: NewRegistry<'_>) -> Result<DncRegistry> {
        Ok(dnc_registry::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(self.tenant.0),
            name: Set(new.name.to_owned()),
            entries: Set(new.entries),
            rejected_lines: Set(new.rejected_lines),
            stored_path: Set(new.stored_path.to_owned()),
            refreshed_at: Set(new.refreshed_at),
            created_at: Set(now()),
        }
        .insert(self.conn)
        .await?)
    }

    /// The tenant's registries, newest first (the newest of a name is current).
    pub async fn registries(&self) -> Result<Vec<DncRegistry>> {
        Ok(dnc_registry::Entity::find()
            .filter(dnc_registry::Column::TenantId.eq(self.tenant.0))
            .order_by_desc(dnc_registry::Column::Id)
            .all(self.conn)
            .await?)
    }
}
