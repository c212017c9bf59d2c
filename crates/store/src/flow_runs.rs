//! Flow runs: one row per live call that ran an IVR flow, holding the
//! version that ran, how the flow ended and the interpreter's trace (the
//! JSON text `omnivox-flows` writes, opaque here).

use crate::entities::{flow, flow_run};
use crate::{Page, PageRequest, Result, Scoped, StoreError};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

pub use flow_run::Model as FlowRunRow;

/// A finished run to store; `trace` is the trace as JSON text.
#[derive(Clone, Debug)]
pub struct NewFlowRun {
    pub call_id: Uuid,
    pub flow_id: Uuid,
    pub version: i32,
    /// `route`, `hangup`, `caller_hangup`, `voicemail` or `error`.
    pub outcome: String,
    pub fallback_reason: Option<String>,
    pub trace: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
}

impl<C: ConnectionTrait> Scoped<'_, C> {
    /// Store a run of one of this tenant's flows. A flow the tenant does not
    /// have (deleted, or another tenant's) is `StoreError::NotFound`.
    /// Times are kept to the microsecond, so they read back equal on both
    /// databases.
    pub async fn record_flow_run(&self, run: NewFlowRun) -> Result<FlowRunRow> {
        let owned = flow::Entity::find()
            .filter(flow::Column::TenantId.eq(self.tenant.0))
            .filter(flow::Column::Id.eq(run.flow_id))
            .select_only()
            .column(flow::Column::Id)
            .into_tuple::<Uuid>()
            .one(self.conn)
            .await?;
        if owned.is_none() {
            return Err(StoreError::NotFound);
        }
        Ok(flow_run::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(self.tenant.0),
            call_id: Set(run.call_id),
            flow_id: Set(run.flow_id),
            version: Set(run.version),
            outcome: Set(run.outcome),
            fallback_reason: Set(run.fallback_reason),
            trace: Set(run.trace),
            started_at: Set(run.started_at.trunc_subsecs(6)),
            ended_at: Set(run.ended_at.trunc_subsecs(6)),
        }
        .insert(self.conn)
        .await?)
    }

    /// The flow's runs, newest (latest `started_at`) first; `call_id`
    /// keeps only that call's runs. The cursor is the last run of the
    /// previous page: one that is not a run of this flow in this tenant is
    /// `StoreError::NotFound`.
    pub async fn list_flow_runs(
        &self,
        flow_id: Uuid,
        call_id: Option<Uuid>,
        page: &PageRequest,
    ) -> Result<Page<FlowRunRow>> {
        use flow_run::Column as C;
        let mut q = flow_run::Entity::find()
            .filter(C::TenantId.eq(self.tenant.0))
            .filter(C::FlowId.eq(flow_id))
            .order_by_desc(C::StartedAt)
            .order_by_desc(C::Id);
        if let Some(call) = call_id {
            q = q.filter(C::CallId.eq(call));
        }
        if let Some(after) = page.after {
            let (at, id): (DateTime<Utc>, Uuid) = flow_run::Entity::find()
                .filter(C::TenantId.eq(self.tenant.0))
                .filter(C::FlowId.eq(flow_id))
                .filter(C::Id.eq(after))
                .select_only()
                .column(C::StartedAt)
                .column(C::Id)
                .into_tuple()
                .one(self.conn)
                .await?
                .ok_or(StoreError::NotFound)?;
            // Keyset on (started_at, id), both descending: runs that
            // started at the same instant keep a stable order.
            q = q.filter(
                Condition::any()
                    .add(C::StartedAt.lt(at))
                    .add(Condition::all().add(C::StartedAt.eq(at)).add(C::Id.lt(id))),
            );
        }
        let rows = q.limit(page.limit + 1).all(self.conn).await?;
        Ok(Page::from_rows(rows, page.limit, |r| r.id))
    }
}
