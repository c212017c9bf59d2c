//! Do-not-call entries: the tenant's internal list and per-campaign lists.

use crate::auth::principal::TenantCtx;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::routes::dto::{PageOut, json};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use omnivox_domain::Permission;
use omnivox_store::dnc::{DncEntry, NewDncEntry};
use omnivox_store::{audit, commit};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Serialize, ToSchema)]
pub struct DncOut {
    pub id: Uuid,
    /// internal or campaign.
    pub scope: String,
    pub campaign_id: Option<Uuid>,
    /// An E.164 number, or a prefix wildcard such as `+1212*`.
    pub pattern: String,
    pub reason: String,
    pub source: String,
    pub created_by: Option<Uuid>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<DncEntry> for DncOut {
    fn from(e: DncEntry) -> Self {
        Self {
            id: e.id,
            scope: e.scope,
            campaign_id: e.campaign_id,
            pattern: e.pattern,
            reason: e.reason,
            source: e.source,
            created_by: e.created_by,
            created_at: e.created_at,
            expires_at: e.expires_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddDnc {
    pub pattern: String,
    /// Only for a campaign's own list; omit for the tenant's internal list.
    pub campaign_id: Option<Uuid>,
    #[serde(default)]
    pub reason: String,
    /// Where the request came from (e.g. `customer_request`, `complaint`).
    #[serde(default = "default_source")]
    pub source: String,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn default_source() -> String {
    "api".into()
}

/// `+` and 7 to 15 digits, or `+` and 1 to 14 digits followed by `*`.
pub fn valid_pattern(p: &str) -> bool {
    let Some(rest) = p.strip_prefix('+') else {
        return false;
    };
    let (digits, wildcard) = match rest.strip_suffix('*') {
        Some(d) => (d, true),
        None => (rest, false),
    };
    let n = digits.len();
    digits.bytes().all(|b| b.is_ascii_digit())
        && if wildcard {
            (1..=14).contains(&n)
        } else {
            (7..=15).contains(&n)
        }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DncQuery {
    pub cursor: Option<String>,
    pub limit: Option<u64>,
    /// Exact pattern to look for.
    pub pattern: Option<String>,
}

/// The tenant's DNC entries.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/dnc", tag = "compliance",
    params(("tenant_id" = Uuid, Path), DncQuery),
    responses((status = 200, body = PageOut<DncOut>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_dnc(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiQuery(q): ApiQuery<DncQuery>,
) -> ApiResult<Json<PageOut<DncOut>>> {
    ctx.require(Permission::ComplianceRead)?;
    let page = crate::routes::dto::page_request(q.cursor.as_deref(), q.limit)?;
    let rows = ctx
        .scoped(state.store.reader())
        .list_dnc(q.pattern.as_deref(), &page)
        .await?;
    Ok(Json(PageOut::from_page(rows)))
}

/// Add a number or prefix to the internal or a campaign's DNC list. It
/// applies to the next dial decision.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/dnc", tag = "compliance",
    params(("tenant_id" = Uuid, Path)), request_body = AddDnc,
    responses((status = 201, body = DncOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn add_dnc(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiJson(req): ApiJson<AddDnc>,
) -> ApiResult<(StatusCode, Json<DncOut>)> {
    ctx.require(Permission::DncManage)?;
    if !valid_pattern(&req.pattern) {
        return Err(ApiError::field(
            "pattern",
            "invalid_pattern",
            "use an E.164 number (+14155550100) or a prefix wildcard (+1415*)",
        ));
    }
    let tx = state.store.begin().await?;
    let e = ctx
        .scoped(&tx)
        .add_dnc(NewDncEntry {
            scope: if req.campaign_id.is_some() {
                "campaign"
            } else {
                "internal"
            },
            campaign_id: req.campaign_id,
            pattern: &req.pattern,
            reason: &req.reason,
            source: &req.source,
            created_by: ctx.user_id(),
            expires_at: req.expires_at,
        })
        .await?;
    let out = DncOut::from(e);
    audit::record(&tx, ctx.audit("dnc.added", "dnc", out.id, None, json(&out))).await?;
    commit(tx).await?;
    state.compliance.forget(ctx.tenant);
    Ok((StatusCode::CREATED, Json(out)))
}

/// Remove a DNC entry.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/dnc/{entry_id}", tag = "compliance",
    params(("tenant_id" = Uuid, Path), ("entry_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn remove_dnc(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    ctx.require(Permission::DncManage)?;
    let tx = state.store.begin().await?;
    let before = DncOut::from(ctx.scoped(&tx).remove_dnc(ids.1).await?);
    audit::record(
        &tx,
        ctx.audit("dnc.removed", "dnc", ids.1, json(&before), None),
    )
    .await?;
    commit(tx).await?;
    state.compliance.forget(ctx.tenant);
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    #[test]
    fn patterns() {
        for ok in ["+14155550100", "+1415*", "+44*", "+4420794609581"] {
            assert!(super::valid_pattern(ok), "{ok}");
        }
        for bad in ["14155550100", "+", "+*", "+1415*5", "+1 415 555", "+123456"] {
            assert!(!super::valid_pattern(bad), "{bad}");
        }
    }
}
