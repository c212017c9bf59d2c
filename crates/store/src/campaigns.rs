//! Campaigns, the lists they dial, each lead's progress, dial attempts and
//! the per-number dial locks.
//!
//! A lead moves `new` -> `queued` (in the hopper, compliance pre-checked) ->
//! (`previewing`, its card with an agent, in preview mode) -> `dialing` (an
//! attempt row and a dial lock exist) -> `waiting` (retry at
//! `next_at`) or `done`; the compliance engine may instead make it
//! `deferred` (not before `next_at`) or `denied` (reasons kept). An attempt
//! is written before the call is placed and in the same transaction that
//! takes the number's lock, so a crash can neither lose an attempt nor let
//! a number be dialed twice at once; [`recover_interrupted`] settles what a
//! crash left `dialing`.

use crate::contacts::Lookup;
use crate::entities::{campaign, campaign_attempt, campaign_lead, campaign_list, dial_lock};
use crate::{Page, PageRequest, Result, Scoped, StoreError, now};
use chrono::{DateTime, Utc};
use omnivox_domain::UserId;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionSession, TransactionTrait,
};
use std::collections::BTreeMap;
use uuid::Uuid;

pub use campaign::Model as CampaignRow;
pub use campaign_attempt::Model as AttemptRow;
pub use campaign_lead::Model as LeadRow;
pub use campaign_list::Model as CampaignListRow;

/// Lead statuses.
pub mod lead {
    pub const NEW: &str = "new";
    pub const QUEUED: &str = "queued";
    /// Preview mode: an agent holds the card (`reserved_by`).
    pub const PREVIEWING: &str = "previewing";
    pub const DIALING: &str = "dialing";
    pub const WAITING: &str = "waiting";
    pub const DEFERRED: &str = "deferred";
    pub const DENIED: &str = "denied";
    pub const DONE: &str = "done";
    pub const ALL: [&str; 8] = [
        NEW, QUEUED, PREVIEWING, DIALING, WAITING, DEFERRED, DENIED, DONE,
    ];
}

/// Attempt statuses.
pub mod attempt {
    pub const DIALING: &str = "dialing";
    pub const FINISHED: &str = "finished";
    /// Left `dialing` by a crash; counted as an attempt, outcome unknown.
    pub const INTERRUPTED: &str = "interrupted";
}

#[derive(Clone, Debug)]
pub struct NewCampaign {
    pub name: String,
    pub description: String,
    pub mode: String,
    pub settings: String,
    pub created_by: Option<UserId>,
}

/// A change to a campaign; `None` leaves a field alone.
#[derive(Clone, Debug, Default)]
pub struct CampaignChange {
    pub name: Option<String>,
    pub description: Option<String>,
    pub mode: Option<String>,
    pub settings: Option<String>,
}

/// How the hopper orders a list's candidates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CandidateOrder<'a> {
    /// Never tried first, then fewest attempts.
    NewFirst,
    FewestAttempts,
    OldestLastAttempt,
    /// By the contact's custom field `key` (contacts without a value
    /// last), then fewest attempts.
    CustomField {
        key: &'a str,
        descending: bool,
    },
}

/// A lead the hopper may take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub contact_id: Uuid,
    pub list_id: Uuid,
    pub attempts: i32,
}

/// How a finished attempt leaves its lead.
#[derive(Clone, Debug)]
pub struct AttemptEnd<'a> {
    pub outcome: &'a str,
    pub sip_code: Option<i32>,
    /// Try again then; `None`: the lead is done.
    pub next_at: Option<DateTime<Utc>>,
}

impl<C: ConnectionTrait> Scoped<'_, C> {
    /// Add a campaign (status `draft`). A name the tenant uses is `Conflict`.
    pub async fn create_campaign(&self, new: NewCampaign) -> Result<CampaignRow> {
        let at = now();
        Ok(campaign::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(self.tenant.0),
            name: Set(new.name),
            description: Set(new.description),
            mode: Set(new.mode),
            status: Set("draft".into()),
            settings: Set(new.settings),
            created_by: Set(new.created_by.map(|u| u.0)),
            created_at: Set(at),
            updated_at: Set(at),
            status_changed_at: Set(at),
        }
        .insert(self.conn)
        .await?)
    }

    pub async fn list_campaigns(
        &self,
        status: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<CampaignRow>> {
        let mut q = campaign::Entity::find()
            .filter(campaign::Column::TenantId.eq(self.tenant.0))
            .order_by_asc(campaign::Column::Id);
        if let Some(s) = status {
            q = q.filter(campaign::Column::Status.eq(s));
        }
        if let Some(after) = page.after {
            q = q.filter(campaign::Column::Id.gt(after));
        }
        let rows = q.limit(page.limit + 1).all(self.conn).await?;
        Ok(Page::from_rows(rows, page.limit, |c| c.id))
    }

    pub async fn get_campaign(&self, id: Uuid) -> Result<CampaignRow> {
        campaign::Entity::find_by_id(id)
            .filter(campaign::Column::TenantId.eq(self.tenant.0))
            .one(self.conn)
            .await?
            .ok_or(StoreError::NotFound)
    }

    pub async fn update_campaign(&self, id: Uuid, change: CampaignChange) -> Result<CampaignRow> {
        let row = self.get_campaign(id).await?;
        let mut m: campaign::ActiveModel = row.into();
        if let Some(v) = change.name {
            m.name = Set(v);
        }
        if let Some(v) = change.description {
            m.description = Set(v);
        }
        if let Some(v) = change.mode {
            m.mode = Set(v);
        }
        if let Some(v) = change.settings {
            m.settings = Set(v);
        }
        m.updated_at = Set(now());
        Ok(m.update(self.conn).await?)
    }

    /// Move a campaign from `from` to `to`; `Conflict` when it is no longer
    /// in `from` (someone else changed it first).
    pub async fn set_campaign_status(&self, id: Uuid, from: &str, to: &str) -> Result<CampaignRow> {
        let at = now();
        let res = campaign::Entity::update_many()
            .col_expr(campaign::Column::Status, Expr::value(to))
            .col_expr(campaign::Column::StatusChangedAt, Expr::value(at))
            .col_expr(campaign::Column::UpdatedAt, Expr::value(at))
            .filter(campaign::Column::TenantId.eq(self.tenant.0))
            .filter(campaign::Column::Id.eq(id))
            .filter(campaign::Column::Status.eq(from))
            .exec(self.conn)
            .await?;
        if res.rows_affected == 0 {
            self.get_campaign(id).await?;
            return Err(StoreError::Conflict(format!(
                "the campaign is no longer {from}"
            )));
        }
        self.get_campaign(id).await
    }

    /// Delete a campaign with everything it holds (the API allows it for
    /// drafts never dialed).
    pub async fn delete_campaign(&self, id: Uuid) -> Result<()> {
        let res = campaign::Entity::delete_many()
            .filter(campaign::Column::TenantId.eq(self.tenant.0))
            .filter(campaign::Column::Id.eq(id))
            .exec(self.conn)
            .await?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Attach a list (or change its priority and weight).
    pub async fn attach_list(
        &self,
        campaign_id: Uuid,
        list_id: Uuid,
        priority: i32,
        weight: i32,
    ) -> Result<CampaignListRow> {
        let row = campaign_list::Model {
            campaign_id,
            list_id,
            tenant_id: self.tenant.0,
            priority,
            weight,
            added_at: now(),
        };
        campaign_list::Entity::insert(campaign_list::ActiveModel::from(row.clone()))
            .on_conflict(
                OnConflict::columns([
                    campaign_list::Column::CampaignId,
                    campaign_list::Column::ListId,
                ])
                .update_columns([
                    campaign_list::Column::Priority,
                    campaign_list::Column::Weight,
                ])
                .to_owned(),
            )
            .exec_without_returning(self.conn)
            .await?;
        Ok(row)
    }

    /// Detach a list; its leads not yet dialing leave the campaign.
    pub async fn detach_list(&self, campaign_id: Uuid, list_id: Uuid) -> Result<()> {
        let res = campaign_list::Entity::delete_many()
            .filter(campaign_list::Column::TenantId.eq(self.tenant.0))
            .filter(campaign_list::Column::CampaignId.eq(campaign_id))
            .filter(campaign_list::Column::ListId.eq(list_id))
            .exec(self.conn)
            .await?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        campaign_lead::Entity::delete_many()
            .filter(campaign_lead::Column::TenantId.eq(self.tenant.0))
            .filter(campaign_lead::Column::CampaignId.eq(campaign_id))
            .filter(campaign_lead::Column::ListId.eq(list_id))
            .filter(campaign_lead::Column::Status.ne(lead::DIALING))
            .exec(self.conn)
            .await?;
        Ok(())
    }

    pub async fn campaign_lists(&self, campaign_id: Uuid) -> Result<Vec<CampaignListRow>> {
        Ok(campaign_list::Entity::find()
            .filter(campaign_list::Column::TenantId.eq(self.tenant.0))
            .filter(campaign_list::Column::CampaignId.eq(campaign_id))
            .order_by_asc(campaign_list::Column::Priority)
            .order_by_asc(campaign_list::Column::ListId)
            .all(self.conn)
            .await?)
    }

    /// Give every contact of the attached lists a lead row (`new`); leads
    /// already there are left alone. Returns how many were added.
    pub async fn sync_leads(&self, campaign_id: Uuid) -> Result<u64> {
        // Values go in in the order their placeholders appear (SQLite's `?`).
        let mut q = Lookup::new(self.conn.get_database_backend());
        let at = q.one(now().into());
        let c = q.one(campaign_id.into());
        let t = q.one(self.tenant.0.into());
        let sql = format!(
            "INSERT INTO campaign_leads (campaign_id, contact_id, tenant_id, list_id, status, \
             attempts, updated_at) \
             SELECT l.campaign_id, c.id, c.tenant_id, c.list_id, '{new}', 0, {at} \
             FROM campaign_lists l JOIN contacts c ON c.list_id = l.list_id AND c.tenant_id = l.tenant_id \
             WHERE l.campaign_id = {c} AND l.tenant_id = {t} \
             ON CONFLICT (campaign_id, contact_id) DO NOTHING",
            new = lead::NEW,
        );
        Ok(self
            .conn
            .execute_raw(q.statement(sql))
            .await?
            .rows_affected())
    }

    /// Up to `limit` leads of `list_id` that may enter the hopper at `at`:
    /// new ones, and waiting/deferred ones whose time has come.
    pub async fn hopper_candidates(
        &self,
        campaign_id: Uuid,
        list_id: Uuid,
        order: CandidateOrder<'_>,
        at: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<Candidate>> {
        use campaign_lead::Column as L;
        let due = sea_orm::Condition::any().add(L::Status.eq(lead::NEW)).add(
            sea_orm::Condition::all()
                .add(L::Status.is_in([lead::WAITING, lead::DEFERRED]))
                .add(L::NextAt.lte(at)),
        );
        let mut q = campaign_lead::Entity::find()
            .filter(L::TenantId.eq(self.tenant.0))
            .filter(L::CampaignId.eq(campaign_id))
            .filter(L::ListId.eq(list_id))
            .filter(due);
        q = match order {
            CandidateOrder::NewFirst | CandidateOrder::FewestAttempts => {
                q.order_by_asc(L::Attempts).order_by_asc(L::LastAttemptAt)
            }
            CandidateOrder::OldestLastAttempt => q.order_by_asc(L::LastAttemptAt),
            CandidateOrder::CustomField { key, descending } => {
                // The value in the contact's custom fields, typed as JSON
                // keeps it (numbers by value, dates as ISO text); the key is
                // bound, never spliced.
                let (sql, param) = match self.conn.get_database_backend() {
                    sea_orm::DbBackend::Postgres => (
                        "(SELECT c.custom::jsonb -> $1 FROM contacts c \
                         WHERE c.id = campaign_leads.contact_id AND c.tenant_id = campaign_leads.tenant_id)",
                        key.to_owned(),
                    ),
                    _ => (
                        "(SELECT json_extract(c.custom, ?) FROM contacts c \
                         WHERE c.id = campaign_leads.contact_id AND c.tenant_id = campaign_leads.tenant_id)",
                        format!("$.\"{}\"", key.replace('"', "")),
                    ),
                };
                let value = || Expr::cust_with_values(sql, [param.clone()]);
                let direction = if descending {
                    sea_orm::Order::Desc
                } else {
                    sea_orm::Order::Asc
                };
                q.order_by(value().is_null(), sea_orm::Order::Asc)
                    .order_by(value(), direction)
                    .order_by_asc(L::Attempts)
            }
        };
        let rows = q
            .order_by_asc(L::ContactId)
            .limit(limit)
            .all(self.conn)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| Candidate {
                contact_id: r.contact_id,
                list_id: r.list_id,
                attempts: r.attempts,
            })
            .collect())
    }

    /// Put checked leads into the hopper (only those still due: a lead
    /// another filler took meanwhile is left alone). Returns how many.
    pub async fn queue_leads(&self, campaign_id: Uuid, contacts: &[Uuid]) -> Result<u64> {
        if contacts.is_empty() {
            return Ok(0);
        }
        let at = now();
        let res = campaign_lead::Entity::update_many()
            .col_expr(campaign_lead::Column::Status, Expr::value(lead::QUEUED))
            .col_expr(campaign_lead::Column::QueuedAt, Expr::value(at))
            .col_expr(campaign_lead::Column::UpdatedAt, Expr::value(at))
            .filter(campaign_lead::Column::TenantId.eq(self.tenant.0))
            .filter(campaign_lead::Column::CampaignId.eq(campaign_id))
            .filter(campaign_lead::Column::ContactId.is_in(contacts.iter().copied()))
            .filter(campaign_lead::Column::Status.is_in([lead::NEW, lead::WAITING, lead::DEFERRED]))
            .exec(self.conn)
            .await?;
        Ok(res.rows_affected)
    }

    /// Record the compliance engine's verdict on a lead that may not be
    /// dialed now: `deferred` until `until`, or `denied` when `until` is
    /// `None`. `reasons` is the decision's reasons as JSON. Leads in the
    /// hopper or new/waiting ones may be set aside; a dialing one never.
    pub async fn set_lead_aside(
        &self,
        campaign_id: Uuid,
        contact_id: Uuid,
        until: Option<DateTime<Utc>>,
        reasons: &str,
    ) -> Result<()> {
        let status = if until.is_some() {
            lead::DEFERRED
        } else {
            lead::DENIED
        };
        campaign_lead::Entity::update_many()
            .col_expr(campaign_lead::Column::Status, Expr::value(status))
            .col_expr(campaign_lead::Column::NextAt, Expr::value(until))
            .col_expr(campaign_lead::Column::Reasons, Expr::value(reasons))
            .col_expr(
                campaign_lead::Column::QueuedAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(campaign_lead::Column::UpdatedAt, Expr::value(now()))
            .filter(campaign_lead::Column::TenantId.eq(self.tenant.0))
            .filter(campaign_lead::Column::CampaignId.eq(campaign_id))
            .filter(campaign_lead::Column::ContactId.eq(contact_id))
            .filter(campaign_lead::Column::Status.ne(lead::DIALING))
            .exec(self.conn)
            .await?;
        Ok(())
    }

    /// Preview mode: the lead whose card `agent` holds in this campaign, or
    /// the oldest of the hopper, now held by `agent`. `None` when the
    /// hopper is empty.
    pub async fn take_preview(&self, campaign_id: Uuid, agent: Uuid) -> Result<Option<LeadRow>> {
        use campaign_lead::Column as L;
        let held = campaign_lead::Entity::find()
            .filter(L::TenantId.eq(self.tenant.0))
            .filter(L::CampaignId.eq(campaign_id))
            .filter(L::Status.eq(lead::PREVIEWING))
            .filter(L::ReservedBy.eq(agent))
            .one(self.conn)
            .await?;
        if held.is_some() {
            return Ok(held);
        }
        // Another agent may take the same lead first: try the next one.
        for _ in 0..5 {
            let Some(next) = self.next_lead(campaign_id, Some(agent)).await? else {
                return Ok(None);
            };
            let taken = campaign_lead::Entity::update_many()
                .col_expr(L::Status, Expr::value(lead::PREVIEWING))
                .col_expr(L::ReservedBy, Expr::value(agent))
                .col_expr(L::UpdatedAt, Expr::value(now()))
                .filter(L::TenantId.eq(self.tenant.0))
                .filter(L::CampaignId.eq(campaign_id))
                .filter(L::ContactId.eq(next.contact_id))
                .filter(L::Status.eq(lead::QUEUED))
                .exec(self.conn)
                .await?;
            if taken.rows_affected == 1 {
                return self.get_lead(campaign_id, next.contact_id).await.map(Some);
            }
        }
        Ok(None)
    }

    /// Preview mode: `agent` skips the card; the lead goes to the back of
    /// the hopper. False when `agent` does not hold it.
    pub async fn skip_preview(
        &self,
        campaign_id: Uuid,
        contact_id: Uuid,
        agent: Uuid,
    ) -> Result<bool> {
        use campaign_lead::Column as L;
        let at = now();
        let res = campaign_lead::Entity::update_many()
            .col_expr(L::Status, Expr::value(lead::QUEUED))
            .col_expr(L::ReservedBy, Expr::value(Option::<Uuid>::None))
            .col_expr(L::QueuedAt, Expr::value(at))
            .col_expr(L::UpdatedAt, Expr::value(at))
            .filter(L::TenantId.eq(self.tenant.0))
            .filter(L::CampaignId.eq(campaign_id))
            .filter(L::ContactId.eq(contact_id))
            .filter(L::Status.eq(lead::PREVIEWING))
            .filter(L::ReservedBy.eq(agent))
            .exec(self.conn)
            .await?;
        Ok(res.rows_affected == 1)
    }

    /// The campaign's hopper (its `queued` leads), in dial order: oldest
    /// queued first.
    fn queued(&self, campaign_id: Uuid) -> sea_orm::Select<campaign_lead::Entity> {
        use campaign_lead::Column as L;
        campaign_lead::Entity::find()
            .filter(L::TenantId.eq(self.tenant.0))
            .filter(L::CampaignId.eq(campaign_id))
            .filter(L::Status.eq(lead::QUEUED))
            .order_by_asc(L::QueuedAt)
            .order_by_asc(L::ContactId)
    }

    /// The hopper in dial order (oldest queued first).
    pub async fn hopper(&self, campaign_id: Uuid, limit: u64) -> Result<Vec<LeadRow>> {
        Ok(self.queued(campaign_id).limit(limit).all(self.conn).await?)
    }

    /// The lead to dial next for `agent`: the oldest of the callbacks kept
    /// for them, else the oldest of the hopper that is nobody's callback.
    /// Without an agent (lines dialed before an agent is found), only the
    /// latter.
    pub async fn next_lead(
        &self,
        campaign_id: Uuid,
        agent: Option<Uuid>,
    ) -> Result<Option<LeadRow>> {
        use campaign_lead::Column as L;
        if let Some(agent) = agent
            && let Some(own) = self
                .queued(campaign_id)
                .filter(L::CallbackAgent.eq(agent))
                .one(self.conn)
                .await?
        {
            return Ok(Some(own));
        }
        Ok(self
            .queued(campaign_id)
            .filter(L::CallbackAgent.is_null())
            .one(self.conn)
            .await?)
    }

    /// Callbacks in the hopper kept for one of `agents`, oldest first.
    pub async fn kept_callbacks(&self, campaign_id: Uuid, agents: &[Uuid]) -> Result<Vec<LeadRow>> {
        if agents.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .queued(campaign_id)
            .filter(campaign_lead::Column::CallbackAgent.is_in(agents.iter().copied()))
            .all(self.conn)
            .await?)
    }

    /// How many of the hopper's leads are callbacks kept for an agent.
    pub async fn kept_callbacks_queued(&self, campaign_id: Uuid) -> Result<u64> {
        Ok(self
            .queued(campaign_id)
            .filter(campaign_lead::Column::CallbackAgent.is_not_null())
            .count(self.conn)
            .await?)
    }

    pub async fn get_lead(&self, campaign_id: Uuid, contact_id: Uuid) -> Result<LeadRow> {
        campaign_lead::Entity::find_by_id((campaign_id, contact_id))
            .filter(campaign_lead::Column::TenantId.eq(self.tenant.0))
            .one(self.conn)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Leads of a campaign, optionally of one status, by contact id.
    pub async fn list_leads(
        &self,
        campaign_id: Uuid,
        status: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<LeadRow>> {
        let mut q = campaign_lead::Entity::find()
            .filter(campaign_lead::Column::TenantId.eq(self.tenant.0))
            .filter(campaign_lead::Column::CampaignId.eq(campaign_id))
            .order_by_asc(campaign_lead::Column::ContactId);
        if let Some(s) = status {
            q = q.filter(campaign_lead::Column::Status.eq(s));
        }
        if let Some(after) = page.after {
            q = q.filter(campaign_lead::Column::ContactId.gt(after));
        }
        let rows = q.limit(page.limit + 1).all(self.conn).await?;
        Ok(Page::from_rows(rows, page.limit, |l| l.contact_id))
    }

    /// How many leads are in each status.
    pub async fn lead_counts(&self, campaign_id: Uuid) -> Result<BTreeMap<String, u64>> {
        let rows: Vec<(String, i64)> = campaign_lead::Entity::find()
            .select_only()
            .column(campaign_lead::Column::Status)
            .column_as(campaign_lead::Column::ContactId.count(), "n")
            .filter(campaign_lead::Column::TenantId.eq(self.tenant.0))
            .filter(campaign_lead::Column::CampaignId.eq(campaign_id))
            .group_by(campaign_lead::Column::Status)
            .into_tuple()
            .all(self.conn)
            .await?;
        let mut out: BTreeMap<String, u64> =
            lead::ALL.iter().map(|s| ((*s).to_owned(), 0)).collect();
        for (s, n) in rows {
            out.insert(s, u64::try_from(n).unwrap_or(0));
        }
        Ok(out)
    }

    /// When any of `phones` last ended an attempt `abandoned` (answered,
    /// and no agent in time), in any campaign of the tenant.
    pub async fn last_abandoned_at(&self, phones: &[String]) -> Result<Option<DateTime<Utc>>> {
        let last: Option<Option<DateTime<Utc>>> = campaign_attempt::Entity::find()
            .select_only()
            .column_as(campaign_attempt::Column::EndedAt.max(), "last")
            .filter(campaign_attempt::Column::TenantId.eq(self.tenant.0))
            .filter(campaign_attempt::Column::Phone.is_in(phones.iter().cloned()))
            .filter(campaign_attempt::Column::Outcome.eq("abandoned"))
            .into_tuple()
            .one(self.conn)
            .await?;
        Ok(last.flatten())
    }

    /// Attempts of a campaign still `dialing`.
    pub async fn attempts_in_flight(&self, campaign_id: Uuid) -> Result<u64> {
        Ok(campaign_attempt::Entity::find()
            .filter(campaign_attempt::Column::TenantId.eq(self.tenant.0))
            .filter(campaign_attempt::Column::CampaignId.eq(campaign_id))
            .filter(campaign_attempt::Column::Status.eq(attempt::DIALING))
            .count(self.conn)
            .await?)
    }

    /// How many of the campaign's attempts that started at or after `since`
    /// ended with each outcome.
    pub async fn outcome_counts_since(
        &self,
        campaign_id: Uuid,
        since: DateTime<Utc>,
    ) -> Result<BTreeMap<String, u64>> {
        let rows: Vec<(Option<String>, i64)> = campaign_attempt::Entity::find()
            .select_only()
            .column(campaign_attempt::Column::Outcome)
            .column_as(campaign_attempt::Column::Id.count(), "n")
            .filter(campaign_attempt::Column::TenantId.eq(self.tenant.0))
            .filter(campaign_attempt::Column::CampaignId.eq(campaign_id))
            .filter(campaign_attempt::Column::StartedAt.gte(since))
            .group_by(campaign_attempt::Column::Outcome)
            .into_tuple()
            .all(self.conn)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(o, n)| Some((o?, u64::try_from(n).unwrap_or(0))))
            .collect())
    }

    /// A campaign's attempts, newest first.
    pub async fn list_attempts(
        &self,
        campaign_id: Uuid,
        contact_id: Option<Uuid>,
        page: &PageRequest,
    ) -> Result<Page<AttemptRow>> {
        // Attempt ids are UUIDv7: by id is by start, newest first.
        let mut q = campaign_attempt::Entity::find()
            .filter(campaign_attempt::Column::TenantId.eq(self.tenant.0))
            .filter(campaign_attempt::Column::CampaignId.eq(campaign_id));
        if let Some(c) = contact_id {
            q = q.filter(campaign_attempt::Column::ContactId.eq(c));
        }
        if let Some(after) = page.after {
            q = q.filter(campaign_attempt::Column::Id.lt(after));
        }
        let rows = q
            .order_by_desc(campaign_attempt::Column::Id)
            .limit(page.limit + 1)
            .all(self.conn)
            .await?;
        Ok(Page::from_rows(rows, page.limit, |a| a.id))
    }

    /// The attempt that placed `call`, if a campaign placed it.
    pub async fn attempt_by_call(&self, call_id: Uuid) -> Result<Option<AttemptRow>> {
        Ok(campaign_attempt::Entity::find()
            .filter(campaign_attempt::Column::TenantId.eq(self.tenant.0))
            .filter(campaign_attempt::Column::CallId.eq(call_id))
            .one(self.conn)
            .await?)
    }

    /// An agent's disposition of a finished attempt: the attempt keeps the
    /// code; its lead goes to `lead_status` (`waiting` until `next_at`, or
    /// `done`), kept for `callback_agent` when one is given (and no longer
    /// kept for anyone otherwise). A lead being dialed again meanwhile is
    /// left alone.
    pub async fn dispose_attempt(
        &self,
        attempt: &AttemptRow,
        code: &str,
        lead_status: &str,
        next_at: Option<DateTime<Utc>>,
        callback_agent: Option<Uuid>,
    ) -> Result<()> {
        campaign_attempt::Entity::update_many()
            .col_expr(campaign_attempt::Column::Disposition, Expr::value(code))
            .filter(campaign_attempt::Column::TenantId.eq(self.tenant.0))
            .filter(campaign_attempt::Column::Id.eq(attempt.id))
            .exec(self.conn)
            .await?;
        campaign_lead::Entity::update_many()
            .col_expr(campaign_lead::Column::Status, Expr::value(lead_status))
            .col_expr(campaign_lead::Column::NextAt, Expr::value(next_at))
            .col_expr(campaign_lead::Column::LastOutcome, Expr::value(code))
            .col_expr(
                campaign_lead::Column::CallbackAgent,
                Expr::value(callback_agent),
            )
            .col_expr(campaign_lead::Column::UpdatedAt, Expr::value(now()))
            .filter(campaign_lead::Column::TenantId.eq(self.tenant.0))
            .filter(campaign_lead::Column::CampaignId.eq(attempt.campaign_id))
            .filter(campaign_lead::Column::ContactId.eq(attempt.contact_id))
            .filter(campaign_lead::Column::Status.ne(lead::DIALING))
            .exec(self.conn)
            .await?;
        Ok(())
    }

    /// Hands a callback kept for an agent to `agent`, or to anyone with
    /// `None`. Only a kept callback not being dialed or previewed changes;
    /// returns whether one did.
    pub async fn reassign_callback(
        &self,
        campaign_id: Uuid,
        contact_id: Uuid,
        agent: Option<Uuid>,
    ) -> Result<bool> {
        self.set_callback_agent(
            campaign_id,
            contact_id,
            None,
            &[lead::WAITING, lead::QUEUED],
            agent,
        )
        .await
    }

    /// Hands every callback kept for an agent that has waited `after` in
    /// the hopper untouched (since it came due or was handed over) to
    /// anyone. Returns each released lead's contact with the agent it was
    /// kept for. A lead dialed or handed to someone else meanwhile is left
    /// alone.
    pub async fn release_kept_callbacks(
        &self,
        campaign_id: Uuid,
        after: std::time::Duration,
    ) -> Result<Vec<(Uuid, Uuid)>> {
        use campaign_lead::Column as L;
        let cutoff = now() - chrono::TimeDelta::from_std(after).unwrap_or(chrono::TimeDelta::MAX);
        let overdue = self
            .queued(campaign_id)
            .filter(L::CallbackAgent.is_not_null())
            .filter(L::UpdatedAt.lte(cutoff))
            .all(self.conn)
            .await?;
        let mut released = Vec::new();
        for row in overdue {
            let Some(agent) = row.callback_agent else {
                continue;
            };
            let still_kept = [lead::QUEUED];
            if self
                .set_callback_agent(campaign_id, row.contact_id, Some(agent), &still_kept, None)
                .await?
            {
                released.push((row.contact_id, agent));
            }
        }
        Ok(released)
    }

    /// Sets who a kept callback is for (`to`; `None`: anyone), if the lead
    /// is in one of `statuses` and kept for `from` (`None`: for any agent).
    /// Returns whether it changed.
    async fn set_callback_agent(
        &self,
        campaign_id: Uuid,
        contact_id: Uuid,
        from: Option<Uuid>,
        statuses: &[&str],
        to: Option<Uuid>,
    ) -> Result<bool> {
        use campaign_lead::Column as L;
        let kept = match from {
            Some(agent) => L::CallbackAgent.eq(agent),
            None => L::CallbackAgent.is_not_null(),
        };
        let r = campaign_lead::Entity::update_many()
            .col_expr(L::CallbackAgent, Expr::value(to))
            .col_expr(L::UpdatedAt, Expr::value(now()))
            .filter(L::TenantId.eq(self.tenant.0))
            .filter(L::CampaignId.eq(campaign_id))
            .filter(L::ContactId.eq(contact_id))
            .filter(kept)
            .filter(L::Status.is_in(statuses.iter().copied()))
            .exec(self.conn)
            .await?;
        Ok(r.rows_affected == 1)
    }

    /// The number's dial lock, if a campaign holds it.
    pub async fn dial_lock(&self, phone: &str) -> Result<Option<dial_lock::Model>> {
        Ok(
            dial_lock::Entity::find_by_id((self.tenant.0, phone.to_owned()))
                .one(self.conn)
                .await?,
        )
    }
}

impl<C: ConnectionTrait + TransactionTrait> Scoped<'_, C> {
    /// Take a lead (in `from_status`: `queued`, or `previewing` for the
    /// agent holding its card) to dial `phone`: in one transaction, lock the
    /// number, write the attempt (`dialing`) and mark the lead. `Ok(None)`
    /// when the number is being dialed already (by any campaign) or the
    /// lead left that status meanwhile; nothing is written then.
    pub async fn begin_attempt(
        &self,
        campaign_id: Uuid,
        contact_id: Uuid,
        phone: &str,
        from_status: &str,
    ) -> Result<Option<AttemptRow>> {
        let tx = self.conn.begin().await?;
        let at = now();
        let id = Uuid::now_v7();
        let locked = dial_lock::Entity::insert(dial_lock::ActiveModel {
            tenant_id: Set(self.tenant.0),
            phone: Set(phone.to_owned()),
            attempt_id: Set(id),
            campaign_id: Set(campaign_id),
            locked_at: Set(at),
        })
        .on_conflict(
            OnConflict::columns([dial_lock::Column::TenantId, dial_lock::Column::Phone])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&tx)
        .await?;
        if locked != 1 {
            return Ok(None);
        }
        let taken = campaign_lead::Entity::update_many()
            .col_expr(campaign_lead::Column::Status, Expr::value(lead::DIALING))
            .col_expr(
                campaign_lead::Column::ReservedBy,
                Expr::value(Option::<Uuid>::None),
            )
            .col_expr(campaign_lead::Column::UpdatedAt, Expr::value(at))
            .filter(campaign_lead::Column::TenantId.eq(self.tenant.0))
            .filter(campaign_lead::Column::CampaignId.eq(campaign_id))
            .filter(campaign_lead::Column::ContactId.eq(contact_id))
            .filter(campaign_lead::Column::Status.eq(from_status))
            .exec(&tx)
            .await?;
        if taken.rows_affected != 1 {
            return Ok(None);
        }
        let row = campaign_attempt::ActiveModel {
            id: Set(id),
            tenant_id: Set(self.tenant.0),
            campaign_id: Set(campaign_id),
            contact_id: Set(contact_id),
            phone: Set(phone.to_owned()),
            status: Set(attempt::DIALING.into()),
            call_id: Set(None),
            outcome: Set(None),
            sip_code: Set(None),
            disposition: Set(None),
            started_at: Set(at),
            ended_at: Set(None),
        }
        .insert(&tx)
        .await?;
        tx.commit().await?;
        Ok(Some(row))
    }

    /// Note the call an attempt placed.
    pub async fn set_attempt_call(&self, attempt_id: Uuid, call_id: Uuid) -> Result<()> {
        campaign_attempt::Entity::update_many()
            .col_expr(campaign_attempt::Column::CallId, Expr::value(call_id))
            .filter(campaign_attempt::Column::TenantId.eq(self.tenant.0))
            .filter(campaign_attempt::Column::Id.eq(attempt_id))
            .exec(self.conn)
            .await?;
        Ok(())
    }

    /// Close an attempt: in one transaction the attempt gets its outcome,
    /// the lead its count and next step, and the number's lock goes.
    /// Closing an attempt twice changes nothing the second time.
    pub async fn finish_attempt(&self, attempt_id: Uuid, end: AttemptEnd<'_>) -> Result<()> {
        let tx = self.conn.begin().await?;
        let closed = close_attempt(&tx, self.tenant.0, attempt_id, attempt::FINISHED, &end).await?;
        if closed {
            tx.commit().await?;
        }
        Ok(())
    }
}

/// Mark the attempt ended, advance its lead and drop its lock; false when
/// the attempt was not `dialing` (already closed).
async fn close_attempt(
    tx: &impl ConnectionTrait,
    tenant: Uuid,
    attempt_id: Uuid,
    status: &str,
    end: &AttemptEnd<'_>,
) -> Result<bool> {
    let at = now();
    let res = campaign_attempt::Entity::update_many()
        .col_expr(campaign_attempt::Column::Status, Expr::value(status))
        .col_expr(campaign_attempt::Column::Outcome, Expr::value(end.outcome))
        .col_expr(campaign_attempt::Column::SipCode, Expr::value(end.sip_code))
        .col_expr(campaign_attempt::Column::EndedAt, Expr::value(at))
        .filter(campaign_attempt::Column::TenantId.eq(tenant))
        .filter(campaign_attempt::Column::Id.eq(attempt_id))
        .filter(campaign_attempt::Column::Status.eq(attempt::DIALING))
        .exec(tx)
        .await?;
    if res.rows_affected != 1 {
        return Ok(false);
    }
    let a = campaign_attempt::Entity::find_by_id(attempt_id)
        .one(tx)
        .await?
        .ok_or(StoreError::NotFound)?;
    let (lead_status, next_at) = match end.next_at {
        Some(t) => (lead::WAITING, Some(t)),
        None => (lead::DONE, None),
    };
    campaign_lead::Entity::update_many()
        .col_expr(campaign_lead::Column::Status, Expr::value(lead_status))
        .col_expr(
            campaign_lead::Column::Attempts,
            Expr::col(campaign_lead::Column::Attempts).add(1),
        )
        .col_expr(
            campaign_lead::Column::LastAttemptAt,
            Expr::value(a.started_at),
        )
        .col_expr(campaign_lead::Column::LastOutcome, Expr::value(end.outcome))
        .col_expr(campaign_lead::Column::NextAt, Expr::value(next_at))
        .col_expr(
            campaign_lead::Column::QueuedAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(campaign_lead::Column::UpdatedAt, Expr::value(at))
        .filter(campaign_lead::Column::TenantId.eq(tenant))
        .filter(campaign_lead::Column::CampaignId.eq(a.campaign_id))
        .filter(campaign_lead::Column::ContactId.eq(a.contact_id))
        .exec(tx)
        .await?;
    dial_lock::Entity::delete_many()
        .filter(dial_lock::Column::TenantId.eq(tenant))
        .filter(dial_lock::Column::AttemptId.eq(attempt_id))
        .exec(tx)
        .await?;
    Ok(true)
}

/// After a crash: every attempt still `dialing` becomes `interrupted` (it
/// counts; its call, if one was placed, ended with the process), its lead
/// waits `retry_after` before the next try, and its lock is released.
/// Returns the attempts settled. Runs at start-up, before any runner.
pub async fn recover_interrupted<C: ConnectionTrait + TransactionTrait>(
    conn: &C,
    retry_after: chrono::TimeDelta,
) -> Result<Vec<AttemptRow>> {
    let open = campaign_attempt::Entity::find()
        .filter(campaign_attempt::Column::Status.eq(attempt::DIALING))
        .all(conn)
        .await?;
    let next_at = now() + retry_after;
    for a in &open {
        let tx = conn.begin().await?;
        let end = AttemptEnd {
            outcome: attempt::INTERRUPTED,
            sip_code: None,
            next_at: Some(next_at),
        };
        if close_attempt(&tx, a.tenant_id, a.id, attempt::INTERRUPTED, &end).await? {
            tx.commit().await?;
        }
    }
    Ok(open)
}

/// After a restart: every card an agent held goes back to the hopper (the
/// agents' sessions are gone). Returns how many.
pub async fn release_previews<C: ConnectionTrait>(conn: &C) -> Result<u64> {
    let res = campaign_lead::Entity::update_many()
        .col_expr(campaign_lead::Column::Status, Expr::value(lead::QUEUED))
        .col_expr(
            campaign_lead::Column::ReservedBy,
            Expr::value(Option::<Uuid>::None),
        )
        .filter(campaign_lead::Column::Status.eq(lead::PREVIEWING))
        .exec(conn)
        .await?;
    Ok(res.rows_affected)
}

/// Running (and scheduled) campaigns of every tenant, for the runner.
pub async fn active_campaigns<C: ConnectionTrait>(conn: &C) -> Result<Vec<CampaignRow>> {
    Ok(campaign::Entity::find()
        .filter(campaign::Column::Status.is_in(["running", "scheduled", "stopping"]))
        .order_by_asc(campaign::Column::Id)
        .all(conn)
        .await?)
}
