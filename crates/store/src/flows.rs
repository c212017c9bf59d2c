//! IVR flows: a draft per flow and its immutable numbered versions. The
//! graph itself is opaque JSON text here; parsing and validation belong to
//! `omnivox-flows` and the API, so the rules are tested without SQL.

use crate::entities::{flow, flow_version, prompt};
use crate::{Page, PageRequest, Result, Scoped, StoreError, now};
use omnivox_domain::UserId;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use std::collections::BTreeSet;
use uuid::Uuid;

pub use flow::Model as FlowRow;
pub use flow_version::Model as FlowVersionRow;

/// A new flow; `draft` is the JSON the flows crate wrote.
#[derive(Clone, Debug)]
pub struct NewFlow {
    pub name: String,
    pub description: String,
    pub draft: String,
}

impl<C: ConnectionTrait> Scoped<'_, C> {
    /// Add a flow (draft only, nothing published). A name the tenant
    /// already uses is `StoreError::Conflict`.
    pub async fn create_flow(&self, new: NewFlow) -> Result<FlowRow> {
        let t = now();
        Ok(flow::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(self.tenant.0),
            name: Set(new.name),
            description: Set(new.description),
            draft: Set(Some(new.draft)),
            published_version: Set(None),
            created_at: Set(t),
            updated_at: Set(t),
        }
        .insert(self.conn)
        .await?)
    }

    pub async fn list_flows(&self, page: &PageRequest) -> Result<Page<FlowRow>> {
        let mut q = flow::Entity::find()
            .filter(flow::Column::TenantId.eq(self.tenant.0))
            .order_by_asc(flow::Column::Id);
        if let Some(after) = page.after {
            q = q.filter(flow::Column::Id.gt(after));
        }
        let rows = q.limit(page.limit + 1).all(self.conn).await?;
        Ok(Page::from_rows(rows, page.limit, |f| f.id))
    }

    pub async fn get_flow(&self, id: Uuid) -> Result<FlowRow> {
        flow::Entity::find()
            .filter(flow::Column::TenantId.eq(self.tenant.0))
            .filter(flow::Column::Id.eq(id))
            .one(self.conn)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Replace the draft; returns the flow before and after.
    pub async fn save_flow_draft(&self, id: Uuid, draft: String) -> Result<(FlowRow, FlowRow)> {
        let before = self.get_flow(id).await?;
        flow::Entity::update_many()
            .set(flow::ActiveModel {
                draft: Set(Some(draft)),
                updated_at: Set(now()),
                ..Default::default()
            })
            .filter(flow::Column::TenantId.eq(self.tenant.0))
            .filter(flow::Column::Id.eq(id))
            .exec(self.conn)
            .await?;
        let after = self.get_flow(id).await?;
        Ok((before, after))
    }

    /// Remove a flow and (by cascade) its versions; returns it.
    pub async fn delete_flow(&self, id: Uuid) -> Result<FlowRow> {
        let row = self.get_flow(id).await?;
        flow_version::Entity::delete_many()
            .filter(flow_version::Column::TenantId.eq(self.tenant.0))
            .filter(flow_version::Column::FlowId.eq(id))
            .exec(self.conn)
            .await?;
        flow::Entity::delete_many()
            .filter(flow::Column::TenantId.eq(self.tenant.0))
            .filter(flow::Column::Id.eq(id))
            .exec(self.conn)
            .await?;
        Ok(row)
    }

    /// Freeze `definition` (the validated draft) as the flow's next version,
    /// publish it and clear the draft. Run it in a transaction: a concurrent
    /// publish taking the same number is `StoreError::Conflict`.
    pub async fn publish_flow(
        &self,
        id: Uuid,
        definition: String,
        created_by: Option<UserId>,
    ) -> Result<FlowVersionRow> {
        self.get_flow(id).await?;
        let last = flow_version::Entity::find()
            .filter(flow_version::Column::TenantId.eq(self.tenant.0))
            .filter(flow_version::Column::FlowId.eq(id))
            .order_by_desc(flow_version::Column::Version)
            .one(self.conn)
            .await?;
        let number = last.map_or(1, |v| v.version + 1);
        let t = now();
        let row = flow_version::ActiveModel {
            flow_id: Set(id),
            version: Set(number),
            tenant_id: Set(self.tenant.0),
            definition: Set(definition),
            created_by: Set(created_by.map(|u| u.0)),
            created_at: Set(t),
        }
        .insert(self.conn)
        .await?;
        flow::Entity::update_many()
            .set(flow::ActiveModel {
                draft: Set(None),
                published_version: Set(Some(number)),
                updated_at: Set(t),
                ..Default::default()
            })
            .filter(flow::Column::TenantId.eq(self.tenant.0))
            .filter(flow::Column::Id.eq(id))
            .exec(self.conn)
            .await?;
        Ok(row)
    }

    /// Point the flow's published version at an existing `version`
    /// (`StoreError::NotFound` if the flow or the version is missing);
    /// returns the flow before and after.
    pub async fn rollback_flow(&self, id: Uuid, version: i32) -> Result<(FlowRow, FlowRow)> {
        let before = self.get_flow(id).await?;
        self.get_flow_version(id, version).await?;
        flow::Entity::update_many()
            .set(flow::ActiveModel {
                published_version: Set(Some(version)),
                updated_at: Set(now()),
                ..Default::default()
            })
            .filter(flow::Column::TenantId.eq(self.tenant.0))
            .filter(flow::Column::Id.eq(id))
            .exec(self.conn)
            .await?;
        let after = self.get_flow(id).await?;
        Ok((before, after))
    }

    /// The flow's versions, newest first.
    pub async fn list_flow_versions(&self, id: Uuid) -> Result<Vec<FlowVersionRow>> {
        self.get_flow(id).await?;
        Ok(flow_version::Entity::find()
            .filter(flow_version::Column::TenantId.eq(self.tenant.0))
            .filter(flow_version::Column::FlowId.eq(id))
            .order_by_desc(flow_version::Column::Version)
            .all(self.conn)
            .await?)
    }

    pub async fn get_flow_version(&self, id: Uuid, version: i32) -> Result<FlowVersionRow> {
        flow_version::Entity::find()
            .filter(flow_version::Column::TenantId.eq(self.tenant.0))
            .filter(flow_version::Column::FlowId.eq(id))
            .filter(flow_version::Column::Version.eq(version))
            .one(self.conn)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// The names of the tenant's prompts: what a flow may play.
    pub async fn prompt_names(&self) -> Result<BTreeSet<String>> {
        let names: Vec<String> = prompt::Entity::find()
            .filter(prompt::Column::TenantId.eq(self.tenant.0))
            .select_only()
            .column(prompt::Column::Name)
            .into_tuple()
            .all(self.conn)
            .await?;
        Ok(names.into_iter().collect())
    }
}
