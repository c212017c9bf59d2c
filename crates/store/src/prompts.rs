//! The prompt library's rows (the audio files live under the data
//! directory; see the API's prompt routes).

use crate::entities::prompt;
use crate::{Page, PageRequest, Result, Scoped, StoreError, now};
use omnivox_domain::UserId;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

pub use prompt::Model as PromptRow;

/// A converted prompt to record.
#[derive(Clone, Debug)]
pub struct NewPrompt {
    /// Chosen by the caller: the file is stored under it before the row.
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub duration_ms: i64,
    pub size_bytes: i64,
    pub sha256: String,
    pub created_by: Option<UserId>,
}

impl<C: ConnectionTrait> Scoped<'_, C> {
    /// Add a prompt. A name the tenant already uses is
    /// `StoreError::Conflict`.
    pub async fn create_prompt(&self, new: NewPrompt) -> Result<PromptRow> {
        Ok(prompt::ActiveModel {
            id: Set(new.id),
            tenant_id: Set(self.tenant.0),
            name: Set(new.name),
            description: Set(new.description),
            duration_ms: Set(new.duration_ms),
            size_bytes: Set(new.size_bytes),
            sha256: Set(new.sha256),
            created_by: Set(new.created_by.map(|u| u.0)),
            created_at: Set(now()),
        }
        .insert(self.conn)
        .await?)
    }

    pub async fn list_prompts(&self, page: &PageRequest) -> Result<Page<PromptRow>> {
        let mut q = prompt::Entity::find()
            .filter(prompt::Column::TenantId.eq(self.tenant.0))
            .order_by_asc(prompt::Column::Id);
        if let Some(after) = page.after {
            q = q.filter(prompt::Column::Id.gt(after));
        }
        let rows = q.limit(page.limit + 1).all(self.conn).await?;
        Ok(Page::from_rows(rows, page.limit, |p| p.id))
    }

    pub async fn get_prompt(&self, id: Uuid) -> Result<PromptRow> {
        prompt::Entity::find()
            .filter(prompt::Column::TenantId.eq(self.tenant.0))
            .filter(prompt::Column::Id.eq(id))
            .one(self.conn)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// The tenant's prompt with this name.
    pub async fn prompt_by_name(&self, name: &str) -> Result<PromptRow> {
        prompt::Entity::find()
            .filter(prompt::Column::TenantId.eq(self.tenant.0))
            .filter(prompt::Column::Name.eq(name))
            .one(self.conn)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Remove a prompt's row; returns it.
    pub async fn delete_prompt(&self, id: Uuid) -> Result<PromptRow> {
        let row = self.get_prompt(id).await?;
        prompt::Entity::delete_many()
            .filter(prompt::Column::TenantId.eq(self.tenant.0))
            .filter(prompt::Column::Id.eq(id))
            .exec(self.conn)
            .await?;
        Ok(row)
    }
}
