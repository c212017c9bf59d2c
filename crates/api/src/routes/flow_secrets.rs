//! Flow webhook signing secrets over HTTP: the named HMAC keys a flow's
//! webhook node signs its requests with (`"secret": "crm"`).
//!
//! Listing needs `telephony_read` and shows names and times only; setting
//! (`PUT`, create or replace) and deleting need `telephony_manage`. A
//! secret's value is write-only: no response, audit entry or log line
//! carries it (the request type has no `Debug`, the store row's leaves the
//! value out). Changes are audited with the name only.

use crate::auth::principal::TenantCtx;
use crate::error::{ApiError, ApiResult, ErrorBody, FieldError};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use omnivox_domain::Permission;
use omnivox_store::flow_secrets::{FlowSecretRow, NAME_MAX, valid_name};
use omnivox_store::seal::Field;
use omnivox_store::{audit, commit};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The shortest and longest secret, in characters.
const SECRET_CHARS: std::ops::RangeInclusive<usize> = 16..=256;

/// A signing secret as the API shows it: never its value.
#[derive(Serialize, ToSchema)]
pub struct FlowSecretOut {
    /// The name webhook nodes use (`"secret": "<name>"`).
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// When the value was last set.
    pub updated_at: DateTime<Utc>,
}

impl From<FlowSecretRow> for FlowSecretOut {
    fn from(r: FlowSecretRow) -> Self {
        Self {
            name: r.name,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// The organization's signing secrets, by name.
#[derive(Serialize, ToSchema)]
pub struct FlowSecretList {
    pub items: Vec<FlowSecretOut>,
}

/// A secret's value: 16-256 characters, used as the HMAC-SHA256 key (its
/// UTF-8 bytes). Write-only. No `Debug`, so it cannot reach a log.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutFlowSecret {
    pub secret: String,
}

fn name_error() -> FieldError {
    FieldError::new(
        "name",
        "invalid_name",
        format!("1-{NAME_MAX} characters of A-Z, a-z, 0-9, '_', '.' or '-'"),
    )
}

fn secret_error() -> FieldError {
    FieldError::new(
        "secret",
        "invalid_length",
        format!(
            "{} to {} characters",
            SECRET_CHARS.start(),
            SECRET_CHARS.end()
        ),
    )
}

/// The audit payload: the name only.
fn named(name: &str) -> Option<serde_json::Value> {
    Some(serde_json::json!({ "name": name }))
}

/// The organization's webhook signing secrets by name: names and times,
/// never values.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/flow-secrets", tag = "flows",
    params(("tenant_id" = Uuid, Path)),
    responses((status = 200, body = FlowSecretList), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_flow_secrets(
    State(state): State<AppState>,
    ctx: TenantCtx,
) -> ApiResult<Json<FlowSecretList>> {
    ctx.require(Permission::TelephonyRead)?;
    let rows = ctx.scoped(state.store.reader()).list_flow_secrets().await?;
    Ok(Json(FlowSecretList {
        items: rows.into_iter().map(FlowSecretOut::from).collect(),
    }))
}

/// Set a signing secret: 201 when the name is new, 200 when its value is
/// replaced (flows pick the new value up on their next call). A bad name
/// or length is 400 `validation_failed` (`name`/`invalid_name`,
/// `secret`/`invalid_length`, both at once). Audited
/// `flow_secret.created` / `flow_secret.replaced` with the name only.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant_id}/flow-secrets/{name}", tag = "flows",
    params(("tenant_id" = Uuid, Path),
        ("name" = String, Path, description = "1-64 characters of A-Z, a-z, 0-9, '_', '.', '-'")),
    request_body = PutFlowSecret,
    responses((status = 200, body = FlowSecretOut), (status = 201, body = FlowSecretOut),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_flow_secret(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, String)>,
    ApiJson(body): ApiJson<PutFlowSecret>,
) -> ApiResult<(StatusCode, Json<FlowSecretOut>)> {
    ctx.require(Permission::TelephonyManage)?;
    let name = ids.1;
    let mut errors = Vec::new();
    if !valid_name(&name) {
        errors.push(name_error());
    }
    if !SECRET_CHARS.contains(&body.secret.chars().count()) {
        errors.push(secret_error());
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let sealed = state.sealer.seal(Field::FlowSecret, &body.secret)?;
    let tx = state.store.begin().await?;
    let (row, created) = ctx.scoped(&tx).put_flow_secret(&name, &sealed).await?;
    let action = if created {
        "flow_secret.created"
    } else {
        "flow_secret.replaced"
    };
    audit::record(
        &tx,
        ctx.audit(action, "flow_secret", &name, None, named(&name)),
    )
    .await?;
    commit(tx).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(row.into())))
}

/// Delete a signing secret: 204; a name the organization does not have is
/// 404 (webhook nodes naming it take their error branch from then on).
/// Audited `flow_secret.deleted` with the name only.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/flow-secrets/{name}", tag = "flows",
    params(("tenant_id" = Uuid, Path), ("name" = String, Path)),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_flow_secret(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, String)>,
) -> ApiResult<StatusCode> {
    ctx.require(Permission::TelephonyManage)?;
    let name = ids.1;
    if !valid_name(&name) {
        return Err(ApiError::Validation(vec![name_error()]));
    }
    let tx = state.store.begin().await?;
    ctx.scoped(&tx).delete_flow_secret(&name).await?;
    audit::record(
        &tx,
        ctx.audit(
            "flow_secret.deleted",
            "flow_secret",
            &name,
            named(&name),
            None,
        ),
    )
    .await?;
    commit(tx).await?;
    Ok(StatusCode::NO_CONTENT)
}
