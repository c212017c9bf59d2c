//! Agents: profiles (skills, wrap-up), not-ready reason codes and the state
//! history. The state machine itself is `omnivox-acd`; this module only
//! stores what it returns, and reads back what a rebuild needs.

use crate::entities::{agent_profile, agent_reason_code, agent_state_history};
use crate::{Page, PageRequest, Result, Scoped, StoreError, now};
use chrono::{DateTime, Utc};
use omnivox_domain::UserId;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

pub use agent_profile::Model as AgentProfileRow;
pub use agent_reason_code::Model as ReasonCodeRow;
pub use agent_state_history::Model as AgentStateRow;

/// An agent profile to store (replaces the previous one).
#[derive(Clone, Debug)]
pub struct NewAgentProfile {
    pub user: UserId,
    /// JSON object: skill -> level, already validated.
    pub skills: String,
    pub wrap_up_seconds: i32,
    pub disposition_required: bool,
    pub max_missed_offers: i32,
}

/// A new reason code.
#[derive(Clone, Debug)]
pub struct NewReasonCode {
    pub code: String,
    pub label: String,
    pub paid: bool,
    pub active: bool,
}

/// Changes to a reason code; `None` keeps the value.
#[derive(Clone, Debug, Default)]
pub struct ReasonCodeChange {
    pub label: Option<String>,
    pub paid: Option<bool>,
    pub active: Option<bool>,
}

/// One state an agent entered, for the history.
#[derive(Clone, Debug)]
pub struct NewAgentState {
    pub user: UserId,
    pub state: String,
    pub reason: Option<String>,
    pub call_id: Option<Uuid>,
    pub disposition: Option<String>,
    /// On a login: the campaigns logged into (JSON list of ids).
    pub campaigns: Option<String>,
    pub at: DateTime<Utc>,
}

/// Which history rows to read: `[from, to)` on `at`.
#[derive(Clone, Debug, Default)]
pub struct HistoryFilter {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl<C: ConnectionTrait> Scoped<'_, C> {
    pub async fn get_agent_profile(&self, user: UserId) -> Result<Option<AgentProfileRow>> {
        Ok(agent_profile::Entity::find_by_id((self.tenant.0, user.0))
            .one(self.conn)
            .await?)
    }

    /// Every agent profile of the tenant.
    pub async fn list_agent_profiles(&self) -> Result<Vec<AgentProfileRow>> {
        Ok(agent_profile::Entity::find()
            .filter(agent_profile::Column::TenantId.eq(self.tenant.0))
            .order_by_asc(agent_profile::Column::UserId)
            .all(self.conn)
            .await?)
    }

    /// Insert or replace a member's profile; returns the profile before (if
    /// any) and after.
    pub async fn put_agent_profile(
        &self,
        p: NewAgentProfile,
    ) -> Result<(Option<AgentProfileRow>, AgentProfileRow)> {
        let before = self.get_agent_profile(p.user).await?;
        let model = agent_profile::ActiveModel {
            tenant_id: Set(self.tenant.0),
            user_id: Set(p.user.0),
            skills: Set(p.skills),
            wrap_up_seconds: Set(p.wrap_up_seconds),
            disposition_required: Set(p.disposition_required),
            max_missed_offers: Set(p.max_missed_offers),
            updated_at: Set(now()),
        };
        let after = if before.is_some() {
            model.update(self.conn).await?
        } else {
            model.insert(self.conn).await?
        };
        Ok((before, after))
    }

    pub async fn create_reason_code(&self, new: NewReasonCode) -> Result<ReasonCodeRow> {
        let t = now();
        Ok(agent_reason_code::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(self.tenant.0),
            code: Set(new.code),
            label: Set(new.label),
            paid: Set(new.paid),
            active: Set(new.active),
            created_at: Set(t),
            updated_at: Set(t),
        }
        .insert(self.conn)
        .await?)
    }

    pub async fn list_reason_codes(&self, page: &PageRequest) -> Result<Page<ReasonCodeRow>> {
        let mut q = agent_reason_code::Entity::find()
            .filter(agent_reason_code::Column::TenantId.eq(self.tenant.0))
            .order_by_asc(agent_reason_code::Column::Id);
        if let Some(after) = page.after {
            q = q.filter(agent_reason_code::Column::Id.gt(after));
        }
        let rows = q.limit(page.limit + 1).all(self.conn).await?;
        Ok(Page::from_rows(rows, page.limit, |r| r.id))
    }

    pub async fn get_reason_code(&self, id: Uuid) -> Result<ReasonCodeRow> {
        agent_reason_code::Entity::find()
            .filter(agent_reason_code::Column::TenantId.eq(self.tenant.0))
            .filter(agent_reason_code::Column::Id.eq(id))
            .one(self.conn)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// The reason code named `code`, active or not.
    pub async fn find_reason_code(&self, code: &str) -> Result<Option<ReasonCodeRow>> {
        Ok(agent_reason_code::Entity::find()
            .filter(agent_reason_code::Column::TenantId.eq(self.tenant.0))
            .filter(agent_reason_code::Column::Code.eq(code))
            .one(self.conn)
            .await?)
    }

    /// Change a reason code; returns it before and after.
    pub async fn update_reason_code(
        &self,
        id: Uuid,
        change: ReasonCodeChange,
    ) -> Result<(ReasonCodeRow, ReasonCodeRow)> {
        let before = self.get_reason_code(id).await?;
        let mut m: agent_reason_code::ActiveModel = before.clone().into();
        if let Some(v) = change.label {
            m.label = Set(v);
        }
        if let Some(v) = change.paid {
            m.paid = Set(v);
        }
        if let Some(v) = change.active {
            m.active = Set(v);
        }
        m.updated_at = Set(now());
        let after = m.update(self.conn).await?;
        Ok((before, after))
    }

    /// Whether any history row names the reason code.
    pub async fn reason_code_in_use(&self, code: &str) -> Result<bool> {
        let n = agent_state_history::Entity::find()
            .filter(agent_state_history::Column::TenantId.eq(self.tenant.0))
            .filter(agent_state_history::Column::Reason.eq(code))
            .count(self.conn)
            .await?;
        Ok(n > 0)
    }

    pub async fn delete_reason_code(&self, id: Uuid) -> Result<ReasonCodeRow> {
        let row = self.get_reason_code(id).await?;
        agent_reason_code::Entity::delete_many()
            .filter(agent_reason_code::Column::TenantId.eq(self.tenant.0))
            .filter(agent_reason_code::Column::Id.eq(id))
            .exec(self.conn)
            .await?;
        Ok(row)
    }

    /// Append state changes to the history, in the given order.
    pub async fn record_agent_states(&self, states: Vec<NewAgentState>) -> Result<()> {
        if states.is_empty() {
            return Ok(());
        }
        let rows = states
            .into_iter()
            .map(|s| agent_state_history::ActiveModel {
                id: Set(Uuid::now_v7()),
                tenant_id: Set(self.tenant.0),
                user_id: Set(s.user.0),
                state: Set(s.state),
                reason: Set(s.reason),
                call_id: Set(s.call_id),
                disposition: Set(s.disposition),
                campaigns: Set(s.campaigns),
                at: Set(s.at),
            });
        agent_state_history::Entity::insert_many(rows)
            .exec(self.conn)
            .await?;
        Ok(())
    }

    /// The campaigns of `user`'s latest login (JSON list of ids), if any.
    pub async fn last_login_campaigns(&self, user: UserId) -> Result<Option<String>> {
        Ok(agent_state_history::Entity::find()
            .filter(agent_state_history::Column::TenantId.eq(self.tenant.0))
            .filter(agent_state_history::Column::UserId.eq(user.0))
            .filter(agent_state_history::Column::Campaigns.is_not_null())
            .order_by_desc(agent_state_history::Column::At)
            .order_by_desc(agent_state_history::Column::Id)
            .one(self.conn)
            .await?
            .and_then(|r| r.campaigns))
    }

    /// An agent's history in order, `[from, to)`, paged.
    pub async fn list_agent_history(
        &self,
        user: UserId,
        filter: &HistoryFilter,
        page: &PageRequest,
    ) -> Result<Page<AgentStateRow>> {
        let mut q = agent_state_history::Entity::find()
            .filter(agent_state_history::Column::TenantId.eq(self.tenant.0))
            .filter(agent_state_history::Column::UserId.eq(user.0))
            .order_by_asc(agent_state_history::Column::Id);
        if let Some(from) = filter.from {
            q = q.filter(agent_state_history::Column::At.gte(from));
        }
        if let Some(to) = filter.to {
            q = q.filter(agent_state_history::Column::At.lt(to));
        }
        if let Some(after) = page.after {
            q = q.filter(agent_state_history::Column::Id.gt(after));
        }
        let rows = q.limit(page.limit + 1).all(self.conn).await?;
        Ok(Page::from_rows(rows, page.limit, |r| r.id))
    }

    /// The last history row of every agent that has one (for a rebuild).
    pub async fn last_agent_states(&self) -> Result<Vec<AgentStateRow>> {
        let users: Vec<Uuid> = agent_state_history::Entity::find()
            .filter(agent_state_history::Column::TenantId.eq(self.tenant.0))
            .select_only()
            .column(agent_state_history::Column::UserId)
            .distinct()
            .into_tuple()
            .all(self.conn)
            .await?;
        let mut out = Vec::with_capacity(users.len());
        for u in users {
            let last = agent_state_history::Entity::find()
                .filter(agent_state_history::Column::TenantId.eq(self.tenant.0))
                .filter(agent_state_history::Column::UserId.eq(u))
                .order_by_desc(agent_state_history::Column::Id)
                .one(self.conn)
                .await?;
            out.extend(last);
        }
        out.sort_unstable_by_key(|r| r.user_id);
        Ok(out)
    }
}
