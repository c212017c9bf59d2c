//! Disposition codes: a tenant's outcomes for a call, each with a category
//! and an effect (final, recycle after a delay, callback, DNC, sale). The
//! rules on the values live in the API; this module stores them.

use crate::entities::{agent_state_history, disposition_code};
use crate::{Page, PageRequest, Result, Scoped, StoreError, now};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

pub use disposition_code::Model as DispositionCodeRow;

/// A new disposition code (validated by the caller).
#[derive(Clone, Debug)]
pub struct NewDispositionCode {
    pub code: String,
    pub label: String,
    pub category: String,
    pub effect: String,
    pub delay_seconds: Option<i32>,
    pub active: bool,
}

/// The new values of a disposition code (all of them: the effect and its
/// delay are checked together by the caller).
#[derive(Clone, Debug)]
pub struct DispositionCodeChange {
    pub label: String,
    pub category: String,
    pub effect: String,
    pub delay_seconds: Option<i32>,
    pub active: bool,
}

impl<C: ConnectionTrait> Scoped<'_, C> {
    pub async fn create_disposition_code(
        &self,
        new: NewDispositionCode,
    ) -> Result<DispositionCodeRow> {
        let t = now();
        Ok(disposition_code::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(self.tenant.0),
            code: Set(new.code),
            label: Set(new.label),
            category: Set(new.category),
            effect: Set(new.effect),
            delay_seconds: Set(new.delay_seconds),
            active: Set(new.active),
            created_at: Set(t),
            updated_at: Set(t),
        }
        .insert(self.conn)
        .await?)
    }

    pub async fn list_disposition_codes(
        &self,
        page: &PageRequest,
    ) -> Result<Page<DispositionCodeRow>> {
        let mut q = disposition_code::Entity::find()
            .filter(disposition_code::Column::TenantId.eq(self.tenant.0))
            .order_by_asc(disposition_code::Column::Id);
        if let Some(after) = page.after {
            q = q.filter(disposition_code::Column::Id.gt(after));
        }
        let rows = q.limit(page.limit + 1).all(self.conn).await?;
        Ok(Page::from_rows(rows, page.limit, |r| r.id))
    }

    pub async fn get_disposition_code(&self, id: Uuid) -> Result<DispositionCodeRow> {
        disposition_code::Entity::find()
            .filter(disposition_code::Column::TenantId.eq(self.tenant.0))
            .filter(disposition_code::Column::Id.eq(id))
            .one(self.conn)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// The disposition code named `code`, active or not.
    pub async fn find_disposition_code(&self, code: &str) -> Result<Option<DispositionCodeRow>> {
        Ok(disposition_code::Entity::find()
            .filter(disposition_code::Column::TenantId.eq(self.tenant.0))
            .filter(disposition_code::Column::Code.eq(code))
            .one(self.conn)
            .await?)
    }

    /// Replace a disposition code's values; returns it before and after.
    pub async fn update_disposition_code(
        &self,
        id: Uuid,
        change: DispositionCodeChange,
    ) -> Result<(DispositionCodeRow, DispositionCodeRow)> {
        let before = self.get_disposition_code(id).await?;
        let mut m: disposition_code::ActiveModel = before.clone().into();
        m.label = Set(change.label);
        m.category = Set(change.category);
        m.effect = Set(change.effect);
        m.delay_seconds = Set(change.delay_seconds);
        m.active = Set(change.active);
        m.updated_at = Set(now());
        let after = m.update(self.conn).await?;
        Ok((before, after))
    }

    /// Whether any wrap-up was ended with this code.
    pub async fn disposition_code_in_use(&self, code: &str) -> Result<bool> {
        let n = agent_state_history::Entity::find()
            .filter(agent_state_history::Column::TenantId.eq(self.tenant.0))
            .filter(agent_state_history::Column::Disposition.eq(code))
            .select_only()
            .column(agent_state_history::Column::Id)
            .count(self.conn)
            .await?;
        Ok(n > 0)
    }

    pub async fn delete_disposition_code(&self, id: Uuid) -> Result<DispositionCodeRow> {
        let row = self.get_disposition_code(id).await?;
        disposition_code::Entity::delete_many()
            .filter(disposition_code::Column::TenantId.eq(self.tenant.0))
            .filter(disposition_code::Column::Id.eq(id))
            .exec(self.conn)
            .await?;
        Ok(row)
    }
}
