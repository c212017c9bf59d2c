//! ACD queues: a tenant's queues and their routing settings, and the queues
//! of an agent's login (kept on the login's row of the state history, beside
//! its campaigns, so a restart logs the agent back in to them). The rules on
//! the values live in the API; this module stores them.

use crate::{Page, PageRequest, Result, Scoped, StoreError, now};
use chrono::{DateTime, Utc};
use omnivox_domain::UserId;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

/// The `queues` table.
pub mod queue {
    use sea_orm::entity::prelude::*;

    /// A tenant's ACD queue.
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "queues")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        /// Unique within the tenant.
        pub name: String,
        #[sea_orm(column_type = "Text")]
        pub description: String,
        /// longest_idle, fewest_calls_today, round_robin, skill_weighted or
        /// ring_all.
        pub strategy: String,
        /// JSON list of `{skill, min_level, weight}`.
        #[sea_orm(column_type = "Text")]
        pub required_skills: String,
        /// The priority of calls entering the queue.
        pub priority: i32,
        pub offer_timeout_s: i32,
        pub max_wait_s: Option<i32>,
        pub wrap_up_seconds: i32,
        pub disposition_required: bool,
        /// JSON list of overflow rules, checked in order.
        #[sea_orm(column_type = "Text")]
        pub overflow: String,
        pub announce_position: bool,
        pub announce_ewt: bool,
        pub announce_every_s: Option<i32>,
        /// A prompt name of the tenant's prompt library.
        pub music_prompt: Option<String>,
        pub comfort_prompt: Option<String>,
        pub callback_in_queue: bool,
        /// `all`, `none` or `on_demand` for the calls the queue connects;
        /// none: the tenant's policy.
        pub recording: Option<String>,
        /// The measured handle time (EWMA, ms); none before the first
        /// handled call. Written by the ACD's owner, not by queue edits.
        pub handle_time_ms: Option<f64>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The login columns of `agent_state_history` (the rest is
/// `crate::entities::agent_state_history`).
mod login {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "agent_state_history")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub tenant_id: Uuid,
        pub user_id: Uuid,
        pub state: String,
        #[sea_orm(column_type = "Text", nullable)]
        pub campaigns: Option<String>,
        /// On a login: the queues logged into (JSON list of ids).
        #[sea_orm(column_type = "Text", nullable)]
        pub queues: Option<String>,
        pub at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub use queue::Model as QueueRow;

/// A queue's values (all of them: the caller checks them together).
#[derive(Clone, Debug)]
pub struct QueueValues {
    pub name: String,
    pub description: String,
    pub strategy: String,
    /// JSON list, already validated.
    pub required_skills: String,
    pub priority: i32,
    pub offer_timeout_s: i32,
    pub max_wait_s: Option<i32>,
    pub wrap_up_seconds: i32,
    pub disposition_required: bool,
    /// JSON list, already validated.
    pub overflow: String,
    pub announce_position: bool,
    pub announce_ewt: bool,
    pub announce_every_s: Option<i32>,
    pub music_prompt: Option<String>,
    pub comfort_prompt: Option<String>,
    pub callback_in_queue: bool,
    pub recording: Option<String>,
}

fn apply(m: &mut queue::ActiveModel, v: QueueValues) {
    m.name = Set(v.name);
    m.description = Set(v.description);
    m.strategy = Set(v.strategy);
    m.required_skills = Set(v.required_skills);
    m.priority = Set(v.priority);
    m.offer_timeout_s = Set(v.offer_timeout_s);
    m.max_wait_s = Set(v.max_wait_s);
    m.wrap_up_seconds = Set(v.wrap_up_seconds);
    m.disposition_required = Set(v.disposition_required);
    m.overflow = Set(v.overflow);
    m.announce_position = Set(v.announce_position);
    m.announce_ewt = Set(v.announce_ewt);
    m.announce_every_s = Set(v.announce_every_s);
    m.music_prompt = Set(v.music_prompt);
    m.comfort_prompt = Set(v.comfort_prompt);
    m.callback_in_queue = Set(v.callback_in_queue);
    m.recording = Set(v.recording);
}

impl<C: ConnectionTrait> Scoped<'_, C> {
    /// Add a queue; a name the tenant already uses is
    /// [`StoreError::Conflict`].
    pub async fn create_queue(&self, v: QueueValues) -> Result<QueueRow> {
        let t = now();
        let mut m = queue::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(self.tenant.0),
            created_at: Set(t),
            updated_at: Set(t),
            ..Default::default()
        };
        apply(&mut m, v);
        Ok(m.insert(self.conn).await?)
    }

    /// Every queue of the tenant, by id (creation order).
    pub async fn list_queues(&self) -> Result<Vec<QueueRow>> {
        Ok(queue::Entity::find()
            .filter(queue::Column::TenantId.eq(self.tenant.0))
            .order_by_asc(queue::Column::Id)
            .all(self.conn)
            .await?)
    }

    /// The tenant's queues by id, paged.
    pub async fn list_queues_page(&self, page: &PageRequest) -> Result<Page<QueueRow>> {
        let mut q = queue::Entity::find()
            .filter(queue::Column::TenantId.eq(self.tenant.0))
            .order_by_asc(queue::Column::Id);
        if let Some(after) = page.after {
            q = q.filter(queue::Column::Id.gt(after));
        }
        let rows = q.limit(page.limit + 1).all(self.conn).await?;
        Ok(Page::from_rows(rows, page.limit, |r| r.id))
    }

    pub async fn get_queue(&self, id: Uuid) -> Result<QueueRow> {
        queue::Entity::find()
            .filter(queue::Column::TenantId.eq(self.tenant.0))
            .filter(queue::Column::Id.eq(id))
            .one(self.conn)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Replace a queue's values; returns it before and after.
    pub async fn update_queue(&self, id: Uuid, v: QueueValues) -> Result<(QueueRow, QueueRow)> {
        let before = self.get_queue(id).await?;
        let mut m: queue::ActiveModel = before.clone().into();
        apply(&mut m, v);
        m.updated_at = Set(now());
        let after = m.update(self.conn).await?;
        Ok((before, after))
    }

    /// Keep the queue's measured handle time (a queue deleted meanwhile is
    /// no error: there is nothing to keep it for).
    pub async fn set_queue_handle_time(&self, id: Uuid, ms: f64) -> Result<()> {
        queue::Entity::update_many()
            .col_expr(queue::Column::HandleTimeMs, Expr::value(ms))
            .filter(queue::Column::TenantId.eq(self.tenant.0))
            .filter(queue::Column::Id.eq(id))
            .exec(self.conn)
            .await?;
        Ok(())
    }

    pub async fn delete_queue(&self, id: Uuid) -> Result<QueueRow> {
        let row = self.get_queue(id).await?;
        queue::Entity::delete_many()
            .filter(queue::Column::TenantId.eq(self.tenant.0))
            .filter(queue::Column::Id.eq(id))
            .exec(self.conn)
            .await?;
        Ok(row)
    }

    /// Put `queues` (JSON list of ids) on `user`'s login row written at
    /// `at` (the row of that login that carries its campaigns). Returns
    /// whether such a row exists.
    pub async fn set_login_queues(
        &self,
        user: UserId,
        at: DateTime<Utc>,
        queues: &str,
    ) -> Result<bool> {
        let res = login::Entity::update_many()
            .col_expr(login::Column::Queues, Expr::value(queues.to_owned()))
            .filter(login::Column::TenantId.eq(self.tenant.0))
            .filter(login::Column::UserId.eq(user.0))
            .filter(login::Column::At.eq(at))
            .filter(login::Column::Campaigns.is_not_null())
            .exec(self.conn)
            .await?;
        Ok(res.rows_affected > 0)
    }

    /// The queues of `user`'s latest login (JSON list of ids), if that
    /// login named any.
    pub async fn last_login_queues(&self, user: UserId) -> Result<Option<String>> {
        let last: Option<Option<String>> = login::Entity::find()
            .filter(login::Column::TenantId.eq(self.tenant.0))
            .filter(login::Column::UserId.eq(user.0))
            .filter(login::Column::Campaigns.is_not_null())
            .order_by_desc(login::Column::At)
            .order_by_desc(login::Column::Id)
            .select_only()
            .column(login::Column::Queues)
            .into_tuple()
            .one(self.conn)
            .await?;
        Ok(last.flatten())
    }
}
