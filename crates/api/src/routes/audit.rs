//! Reading the audit log (never writing it: rows come only from changes).

use crate::auth::principal::TenantCtx;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::ApiQuery;
use crate::routes::dto::{AuditOut, PageOut};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use omnivox_domain::Permission;
use omnivox_store::audit::AuditFilter;
use serde::Deserialize;
use uuid::Uuid;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    pub cursor: Option<String>,
    pub limit: Option<u64>,
    /// e.g. `member.added`
    pub action: Option<String>,
    pub actor_id: Option<Uuid>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    /// RFC 3339; entries at or after.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// RFC 3339; entries before.
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

/// The tenant's audit log, newest first.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/audit", tag = "audit",
    params(("tenant_id" = Uuid, Path), AuditQuery),
    responses((status = 200, body = PageOut<AuditOut>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_audit(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<PageOut<AuditOut>>> {
    ctx.require(Permission::AuditRead)?;
    let page = crate::routes::dto::page_request(q.cursor.as_deref(), q.limit)?;
    let filter = AuditFilter {
        action: q.action,
        actor_id: q.actor_id,
        target_type: q.target_type,
        target_id: q.target_id,
        since: q.since,
        until: q.until,
    };
    let rows = ctx
        .scoped(state.store.reader())
        .list_audit(&filter, &page)
        .await?;
    Ok(Json(PageOut::from_page(rows)))
}
