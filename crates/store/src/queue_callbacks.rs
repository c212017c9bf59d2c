//! Callbacks in queue: a caller who left an ACD queue to be called back,
//! kept so that the place survives a restart and each dial-back attempt is
//! counted.
//!
//! A row's id is the caller's original call, which is also the ACD entry;
//! `priority` and `requested_at` (when the caller entered the queue) are the
//! place the entry keeps. A callback is `waiting` until an attempt reaches
//! the customer (`done`), the attempts run out (`failed`) or it is
//! cancelled (`cancelled`); only a waiting row changes, so a finished one is
//! final. Attempts are counted by the database (`attempts = attempts + 1`
//! with the new status computed in the same `UPDATE`), so two attempts
//! recorded at once both count. A deleted queue takes its callbacks. The
//! rules on the values (a dialable number) live with the caller.

use crate::entities::queue_callback;
use crate::queues::queue;
use crate::{Page, PageRequest, Result, Scoped, StoreError, now};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set, SqlErr, TransactionSession, TransactionTrait, TryInsertResult,
};
use std::fmt;
use uuid::Uuid;

pub use queue_callback::Model as QueueCallbackRow;

/// What [`StoreError::Conflict`] carries when the id is already a callback.
pub const ID_TAKEN: &str = "queue_callbacks.id";
/// What [`StoreError::Conflict`] carries when the callback is no longer
/// waiting (done, failed or cancelled).
pub const NOT_WAITING: &str = "queue_callbacks.status";

/// Where a callback is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallbackStatus {
    /// Keeps its place in the queue; the customer has not been reached.
    Waiting,
    /// An attempt reached the customer.
    Done,
    /// The attempts ran out without reaching the customer.
    Failed,
    /// Withdrawn before the customer was reached.
    Cancelled,
}

impl CallbackStatus {
    pub const ALL: [CallbackStatus; 4] = [
        CallbackStatus::Waiting,
        CallbackStatus::Done,
        CallbackStatus::Failed,
        CallbackStatus::Cancelled,
    ];

    /// The stored (and API) form: `waiting`, `done`, `failed`, `cancelled`.
    pub fn as_str(self) -> &'static str {
        match self {
            CallbackStatus::Waiting => "waiting",
            CallbackStatus::Done => "done",
            CallbackStatus::Failed => "failed",
            CallbackStatus::Cancelled => "cancelled",
        }
    }

    /// The status `s` names, if any.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for CallbackStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl QueueCallbackRow {
    /// The row's status; a value this version does not know is
    /// [`StoreError::Corrupt`].
    pub fn callback_status(&self) -> Result<CallbackStatus> {
        CallbackStatus::parse(&self.status).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "queue callback {} has status {:?}",
                self.id, self.status
            ))
        })
    }
}

/// A caller to call back, as they leave the queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewQueueCallback {
    /// The caller's original call (the ACD entry).
    pub id: Uuid,
    pub queue_id: Uuid,
    /// E.164, the number to dial back.
    pub number: String,
    /// The DID the caller called (the callback's caller ID).
    pub caller_id: Option<String>,
    /// The entry's priority (higher first).
    pub priority: i32,
    /// When the caller entered the queue; kept to the microsecond.
    pub requested_at: DateTime<Utc>,
}

/// The order the ACD serves a queue: higher priority first, then who came
/// first (the id breaks ties, so pages are stable).
fn in_queue_order(
    q: sea_orm::Select<queue_callback::Entity>,
) -> sea_orm::Select<queue_callback::Entity> {
    use queue_callback::Column as Q;
    q.order_by_desc(Q::Priority)
        .order_by_asc(Q::RequestedAt)
        .order_by_asc(Q::Id)
}

impl<C: ConnectionTrait> Scoped<'_, C> {
    /// Keep a caller's place: a `waiting` row with no attempts. A queue the
    /// tenant does not have (deleted, or another tenant's) is
    /// `StoreError::NotFound`; an id already stored is
    /// `StoreError::Conflict(ID_TAKEN)` (without aborting an enclosing
    /// PostgreSQL transaction).
    pub async fn add_queue_callback(&self, c: &NewQueueCallback) -> Result<QueueCallbackRow> {
        use queue_callback::Column as Q;
        let owned = queue::Entity::find()
            .filter(queue::Column::TenantId.eq(self.tenant.0))
            .filter(queue::Column::Id.eq(c.queue_id))
            .select_only()
            .column(queue::Column::Id)
            .into_tuple::<Uuid>()
            .one(self.conn)
            .await?;
        if owned.is_none() {
            return Err(StoreError::NotFound);
        }
        let t = now();
        let row = QueueCallbackRow {
            id: c.id,
            tenant_id: self.tenant.0,
            queue_id: c.queue_id,
            number: c.number.clone(),
            caller_id: c.caller_id.clone(),
            priority: c.priority,
            requested_at: c.requested_at.trunc_subsecs(6),
            status: CallbackStatus::Waiting.as_str().to_owned(),
            attempts: 0,
            last_cause: None,
            created_at: t,
            updated_at: t,
        };
        let inserted = queue_callback::Entity::insert(queue_callback::ActiveModel {
            id: Set(row.id),
            tenant_id: Set(row.tenant_id),
            queue_id: Set(row.queue_id),
            number: Set(row.number.clone()),
            caller_id: Set(row.caller_id.clone()),
            priority: Set(row.priority),
            requested_at: Set(row.requested_at),
            status: Set(row.status.clone()),
            attempts: Set(row.attempts),
            last_cause: Set(None),
            created_at: Set(t),
            updated_at: Set(t),
        })
        .on_conflict_do_nothing_on([Q::Id])
        .exec_without_returning(self.conn)
        .await
        .map_err(|e| match e.sql_err() {
            // The queue went between the check and the insert.
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => StoreError::NotFound,
            _ => e.into(),
        })?;
        if matches!(inserted, TryInsertResult::Inserted(n) if n > 0) {
            Ok(row)
        } else {
            Err(StoreError::Conflict(ID_TAKEN.to_owned()))
        }
    }

    /// One of the tenant's callbacks; another tenant's is
    /// `StoreError::NotFound`.
    pub async fn get_queue_callback(&self, id: Uuid) -> Result<QueueCallbackRow> {
        queue_callback::Entity::find()
            .filter(queue_callback::Column::TenantId.eq(self.tenant.0))
            .filter(queue_callback::Column::Id.eq(id))
            .one(self.conn)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// The tenant's waiting callbacks, in the order the ACD serves them
    /// (priority descending, then `requested_at`): what a rebuild of the
    /// ACD puts back.
    pub async fn waiting_queue_callbacks(&self) -> Result<Vec<QueueCallbackRow>> {
        use queue_callback::Column as Q;
        Ok(in_queue_order(
            queue_callback::Entity::find()
                .filter(Q::TenantId.eq(self.tenant.0))
                .filter(Q::Status.eq(CallbackStatus::Waiting.as_str())),
        )
        .all(self.conn)
        .await?)
    }

    /// The tenant's callbacks, of one queue and/or one status, in the order
    /// the ACD serves them (priority descending, then `requested_at`, then
    /// id), paged. The cursor is the last row of the previous page: one
    /// that is no longer a callback of this tenant (its queue deleted) is
    /// `StoreError::NotFound`. The order keys never change, so a row whose
    /// status changes between pages is neither skipped nor repeated.
    pub async fn list_queue_callbacks(
        &self,
        queue_id: Option<Uuid>,
        status: Option<CallbackStatus>,
        page: &PageRequest,
    ) -> Result<Page<QueueCallbackRow>> {
        use queue_callback::Column as Q;
        let mut q = queue_callback::Entity::find().filter(Q::TenantId.eq(self.tenant.0));
        if let Some(queue) = queue_id {
            q = q.filter(Q::QueueId.eq(queue));
        }
        if let Some(s) = status {
            q = q.filter(Q::Status.eq(s.as_str()));
        }
        if let Some(after) = page.after {
            let (priority, at, id): (i32, DateTime<Utc>, Uuid) = queue_callback::Entity::find()
                .filter(Q::TenantId.eq(self.tenant.0))
                .filter(Q::Id.eq(after))
                .select_only()
                .column(Q::Priority)
                .column(Q::RequestedAt)
                .column(Q::Id)
                .into_tuple()
                .one(self.conn)
                .await?
                .ok_or(StoreError::NotFound)?;
            // Keyset on (priority desc, requested_at asc, id asc).
            q = q.filter(
                Condition::any().add(Q::Priority.lt(priority)).add(
                    Condition::all().add(Q::Priority.eq(priority)).add(
                        Condition::any().add(Q::RequestedAt.gt(at)).add(
                            Condition::all()
                                .add(Q::RequestedAt.eq(at))
                                .add(Q::Id.gt(id)),
                        ),
                    ),
                ),
            );
        }
        let rows = in_queue_order(q)
            .limit(page.limit + 1)
            .all(self.conn)
            .await?;
        Ok(Page::from_rows(rows, page.limit, |r| r.id))
    }

    /// Cancel a waiting callback: it becomes `cancelled` with `cause` as its
    /// last cause. One that is not waiting is
    /// `StoreError::Conflict(NOT_WAITING)`; none is `StoreError::NotFound`.
    /// A cancelled row never changes again, so the row returned is the one
    /// this call wrote.
    pub async fn cancel_queue_callback(&self, id: Uuid, cause: &str) -> Result<QueueCallbackRow> {
        use queue_callback::Column as Q;
        let res = queue_callback::Entity::update_many()
            .col_expr(Q::Status, Expr::value(CallbackStatus::Cancelled.as_str()))
            .col_expr(Q::LastCause, Expr::value(Some(cause.to_owned())))
            .col_expr(Q::UpdatedAt, Expr::value(now()))
            .filter(Q::TenantId.eq(self.tenant.0))
            .filter(Q::Id.eq(id))
            .filter(Q::Status.eq(CallbackStatus::Waiting.as_str()))
            .exec(self.conn)
            .await?;
        if res.rows_affected == 0 {
            self.get_queue_callback(id).await?;
            return Err(StoreError::Conflict(NOT_WAITING.to_owned()));
        }
        self.get_queue_callback(id).await
    }
}

impl<C: ConnectionTrait + TransactionTrait> Scoped<'_, C> {
    /// Count one dial-back attempt of a waiting callback: it becomes `done`
    /// when the customer was `reached`, else `failed` once `max_attempts`
    /// attempts were made (a value below 1 counts as 1), else it stays
    /// `waiting`; `last_cause` becomes `cause`. A callback that is not
    /// waiting is `StoreError::Conflict(NOT_WAITING)`; none is
    /// `StoreError::NotFound`.
    ///
    /// One `UPDATE` increments `attempts` and computes the status from the
    /// stored count, guarded by `status = 'waiting'`, so concurrent attempts
    /// are all counted and none applies to a finished row. It runs with the
    /// read-back in one transaction (a savepoint when `C` already is one):
    /// the row lock (PostgreSQL) or the single writer (SQLite) keeps another
    /// attempt out until the commit, so the row returned is the one this
    /// call wrote.
    pub async fn callback_attempted(
        &self,
        id: Uuid,
        reached: bool,
        cause: Option<&str>,
        max_attempts: i32,
    ) -> Result<QueueCallbackRow> {
        use queue_callback::Column as Q;
        let status: Expr = if reached {
            Expr::value(CallbackStatus::Done.as_str())
        } else {
            Expr::case(
                Expr::col(Q::Attempts).add(1).gte(max_attempts),
                Expr::value(CallbackStatus::Failed.as_str()),
            )
            .finally(Expr::value(CallbackStatus::Waiting.as_str()))
            .into()
        };
        let tx = self.conn.begin().await?;
        let res = queue_callback::Entity::update_many()
            .col_expr(Q::Attempts, Expr::col(Q::Attempts).add(1))
            .col_expr(Q::Status, status)
            .col_expr(Q::LastCause, Expr::value(cause.map(str::to_owned)))
            .col_expr(Q::UpdatedAt, Expr::value(now()))
            .filter(Q::TenantId.eq(self.tenant.0))
            .filter(Q::Id.eq(id))
            .filter(Q::Status.eq(CallbackStatus::Waiting.as_str()))
            .exec(&tx)
            .await?;
        let s = Scoped::new(&tx, self.tenant);
        let row = s.get_queue_callback(id).await?;
        if res.rows_affected == 0 {
            return Err(StoreError::Conflict(NOT_WAITING.to_owned()));
        }
        tx.commit().await?;
        Ok(row)
    }
}
