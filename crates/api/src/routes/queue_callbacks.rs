//! Callbacks in queue over HTTP, for supervisors: a queue's callbacks (the
//! callers who left it to be called back and keep their place), in the
//! order the queue serves them, filtered by status; and cancelling one that
//! is still waiting.
//!
//! A callback's id is the caller's original call (also the ACD entry). A
//! cancel is audited in its transaction and then takes the entry out of the
//! live ACD (`crate::agents`), which withdraws an offer ringing at an agent.

use crate::auth::principal::TenantCtx;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};
use crate::routes::dto::{PageOut, json, page_request};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use omnivox_acd::Event;
use omnivox_domain::Permission;
use omnivox_domain::ids::CallId;
use omnivox_store::StoreError;
use omnivox_store::audit;
use omnivox_store::commit;
use omnivox_store::queue_callbacks::{CallbackStatus, NOT_WAITING, QueueCallbackRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The `last_cause` of a callback a supervisor cancelled.
pub const CANCELLED_BY_SUPERVISOR: &str = "supervisor";

/// A caller waiting to be called back (or who was).
#[derive(Serialize, ToSchema)]
pub struct QueueCallbackOut {
    /// The caller's original call (also the queue entry).
    pub id: Uuid,
    pub queue_id: Uuid,
    /// The number dialled back (E.164).
    pub number: String,
    /// The DID the caller called: the callback's caller ID.
    pub caller_id: Option<String>,
    /// The entry's priority in the queue (higher first).
    pub priority: i32,
    /// When the caller entered the queue: the place they keep.
    pub requested_at: DateTime<Utc>,
    /// `waiting`, `done` (the customer was reached), `failed` (the attempts
    /// ran out) or `cancelled`.
    pub status: String,
    /// Dial-back attempts made so far.
    pub attempts: i32,
    /// Why the last attempt failed (`no_answer`, `busy`, ...) or, when
    /// cancelled, who cancelled (`supervisor`).
    pub last_cause: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<QueueCallbackRow> for QueueCallbackOut {
    fn from(r: QueueCallbackRow) -> Self {
        Self {
            id: r.id,
            queue_id: r.queue_id,
            number: r.number,
            caller_id: r.caller_id,
            priority: r.priority,
            requested_at: r.requested_at,
            status: r.status,
            attempts: r.attempts,
            last_cause: r.last_cause,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Page through a queue's callbacks.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// Only callbacks in this status: `waiting`, `done`, `failed` or
    /// `cancelled`.
    pub status: Option<String>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u64>,
}

/// A queue's callbacks in the order the queue serves them: higher priority
/// first, then who entered the queue first (`queue_read`). An unknown
/// `status` is 400 `validation_failed` (field `status`, `invalid_status`).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/queues/{queue_id}/callbacks", tag = "queues",
    params(("tenant_id" = Uuid, Path), ("queue_id" = Uuid, Path), CallbackQuery),
    responses((status = 200, body = PageOut<QueueCallbackOut>), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_callbacks(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiQuery(q): ApiQuery<CallbackQuery>,
) -> ApiResult<Json<PageOut<QueueCallbackOut>>> {
    ctx.require(Permission::QueueRead)?;
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(CallbackStatus::parse(s).ok_or_else(|| {
            ApiError::field(
                "status",
                "invalid_status",
                "expected waiting, done, failed or cancelled",
            )
        })?),
    };
    let page = page_request(q.cursor.as_deref(), q.limit)?;
    let s = ctx.scoped(state.store.reader());
    s.get_queue(ids.1).await?;
    let rows = match s.list_queue_callbacks(Some(ids.1), status, &page).await {
        Err(StoreError::NotFound) => {
            return Err(ApiError::bad_request(
                "invalid_cursor",
                "the cursor names a callback that is gone; start again without it",
            ));
        }
        r => r?,
    };
    Ok(Json(PageOut::from_page(rows)))
}

/// Cancel a waiting callback (`queue_manage`): it becomes `cancelled`
/// (`last_cause` `supervisor`), the change is audited as
/// `queue_callback.cancelled`, and the entry leaves the live queue (an
/// agent it rings stops ringing). One no longer waiting is 409
/// `callback_not_waiting`.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/queues/{queue_id}/callbacks/{callback_id}", tag = "queues",
    params(("tenant_id" = Uuid, Path), ("queue_id" = Uuid, Path), ("callback_id" = Uuid, Path)),
    responses((status = 200, body = QueueCallbackOut), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn cancel_callback(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid, Uuid)>,
) -> ApiResult<Json<QueueCallbackOut>> {
    ctx.require(Permission::QueueManage)?;
    let (queue, id) = (ids.1, ids.2);
    let tx = state.store.begin().await?;
    let s = ctx.scoped(&tx);
    s.get_queue(queue).await?;
    let before = s.get_queue_callback(id).await?;
    if before.queue_id != queue {
        return Err(ApiError::NotFound);
    }
    let after = s
        .cancel_queue_callback(id, CANCELLED_BY_SUPERVISOR)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(what) if what == NOT_WAITING => ApiError::conflict(
                "callback_not_waiting",
                format!(
                    "the callback is {}: only a waiting callback can be cancelled",
                    before.status
                ),
            ),
            e => e.into(),
        })?;
    let (before, out) = (
        QueueCallbackOut::from(before),
        QueueCallbackOut::from(after),
    );
    audit::record(
        &tx,
        ctx.audit(
            "queue_callback.cancelled",
            "queue_callback",
            id,
            json(&before),
            json(&out),
        ),
    )
    .await?;
    commit(tx).await?;
    // The live ACD, after the commit (its lock is never awaited while a
    // write transaction is open). `CallAbandoned` takes the entry out of
    // its queue, waiting or ringing (an offer ringing is withdrawn), exactly
    // as `CallEnded` does for a queued entry; unlike `CallEnded` it never
    // ends a connected call, so a callback the agent already answered is
    // left alone. An entry the ACD no longer has (answered, or gone with a
    // restart) is `invalid_transition`: nothing to remove.
    let removed = state
        .agents
        .apply(
            &state,
            ctx.tenant,
            Event::CallAbandoned { call: CallId(id) },
            None,
            None,
        )
        .await;
    match removed {
        Ok(_) => {}
        Err(e) if e.code() == "invalid_transition" => {
            tracing::debug!(call_id = %id, error = %e, "cancelled callback not in the live ACD");
        }
        Err(e) => return Err(e),
    }
    Ok(Json(out))
}
