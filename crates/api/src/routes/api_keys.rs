//! Tenant API keys: shown once, stored hashed, revocable.

use crate::auth::principal::{API_KEY_PREFIX, TenantCtx};
use crate::auth::tokens::{random_token, sha256_hex};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::middleware::idempotency::SecretFields;
use crate::routes::dto::{ApiKeyOut, PageOut, PageQuery, json};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use omnivox_domain::{ApiKeyId, Permission, Role};
use omnivox_store::api_keys::NewApiKey;
use omnivox_store::{audit, commit};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    pub name: String,
    /// What the key may do: a role no stronger than the creator's.
    pub role: Role,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedApiKey {
    /// The whole key. Shown this once; only its hash is kept. A replay of
    /// the same `Idempotency-Key` answers with this field `null`.
    pub key: Option<String>,
    pub api_key: ApiKeyOut,
}

/// List the tenant's API keys.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/api-keys", tag = "api-keys",
    params(("tenant_id" = Uuid, Path), PageQuery),
    responses((status = 200, body = PageOut<ApiKeyOut>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_api_keys(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<PageOut<ApiKeyOut>>> {
    ctx.require(Permission::ApiKeyRead)?;
    let keys = ctx
        .scoped(state.store.reader())
        .list_api_keys(&q.page()?)
        .await?;
    Ok(Json(PageOut::from_page(keys)))
}

/// Create an API key.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/api-keys", tag = "api-keys",
    params(("tenant_id" = Uuid, Path)),
    request_body = CreateApiKey,
    responses((status = 201, body = CreatedApiKey), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_api_key(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiJson(req): ApiJson<CreateApiKey>,
) -> ApiResult<(StatusCode, Extension<SecretFields>, Json<CreatedApiKey>)> {
    ctx.require(Permission::ApiKeyManage)?;
    if req.role == Role::Owner {
        return Err(ApiError::field(
            "role",
            "invalid_role",
            "API keys cannot have the owner role",
        ));
    }
    if !ctx.role.can_assign(req.role) {
        return Err(ApiError::Forbidden(
            "you cannot create a key stronger than your own role",
        ));
    }
    if req.name.trim().is_empty() || req.name.chars().count() > 100 {
        return Err(ApiError::field(
            "name",
            "invalid_length",
            "must be 1 to 100 characters",
        ));
    }
    if req.expires_at.is_some_and(|t| t <= chrono::Utc::now()) {
        return Err(ApiError::field(
            "expires_at",
            "in_past",
            "must be in the future",
        ));
    }
    let prefix = format!(
        "{API_KEY_PREFIX}{}",
        random_token(6).to_lowercase().replace(['-', '_'], "0")
    );
    let key = format!("{prefix}_{}", random_token(32));
    let created_by = match &ctx.principal {
        crate::auth::Principal::User { id, .. } => Some(*id),
        crate::auth::Principal::ApiKey { .. } => None,
    };
    let tx = state.store.begin().await?;
    let row = ctx
        .scoped(&tx)
        .create_api_key(NewApiKey {
            name: req.name.trim(),
            prefix: &prefix,
            key_hash: &sha256_hex(&key),
            role: req.role,
            created_by,
            expires_at: req
                .expires_at
                .map(|t| chrono::SubsecRound::trunc_subsecs(t, 6)),
        })
        .await?;
    let out = ApiKeyOut::from(row);
    audit::record(
        &tx,
        ctx.audit("api_key.created", "api_key", out.id, None, json(&out)),
    )
    .await?;
    commit(tx).await?;
    Ok((
        StatusCode::CREATED,
        Extension(SecretFields(&["key"])),
        Json(CreatedApiKey {
            key: Some(key),
            api_key: out,
        }),
    ))
}

/// Revoke an API key; it stops working at once on this node.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/api-keys/{key_id}", tag = "api-keys",
    params(("tenant_id" = Uuid, Path), ("key_id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    ctx.require(Permission::ApiKeyManage)?;
    let tx = state.store.begin().await?;
    let before = ctx.scoped(&tx).revoke_api_key(ApiKeyId(ids.1)).await?;
    let hash = before.key_hash.clone();
    audit::record(
        &tx,
        ctx.audit(
            "api_key.revoked",
            "api_key",
            ids.1,
            json(&ApiKeyOut::from(before)),
            None,
        ),
    )
    .await?;
    commit(tx).await?;
    state.cache.api_keys.remove(&hash);
    Ok(StatusCode::NO_CONTENT)
}
