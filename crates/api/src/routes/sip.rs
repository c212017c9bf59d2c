//! SIP phone credentials for members, and who is registered.

use crate::auth::principal::{TenantCtx, cached_tenant};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::routes::dto::json;
use crate::sip::tenant_domain;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use omnivox_domain::{Permission, UserId, password};
use omnivox_sip::{DigestAlgorithm, ha1};
use omnivox_store::seal::Field;
use omnivox_store::{StoreError, audit, commit};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetSipAccount {
    /// The phone's user name: 1-64 of a-z, 0-9, `.`, `_`, `-`.
    pub username: String,
    /// At least 12 characters; only digest hashes are kept.
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct SipAccountOut {
    pub user_id: Uuid,
    pub username: String,
    /// Register as `sip:<username>@<domain>`.
    pub domain: String,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

async fn domain(state: &AppState, ctx: &TenantCtx) -> ApiResult<String> {
    let slug = cached_tenant(state, ctx.tenant).await?.slug;
    Ok(tenant_domain(&slug, &state.config.sip.domain_suffix))
}

/// Give a member SIP credentials for their phone (replaces earlier ones and
/// signs their phones out).
#[utoipa::path(put, path = "/api/v1/tenants/{tenant_id}/members/{user_id}/sip", tag = "sip",
    params(("tenant_id" = Uuid, Path), ("user_id" = Uuid, Path)), request_body = SetSipAccount,
    responses((status = 200, body = SipAccountOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn set_account(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiJson(req): ApiJson<SetSipAccount>,
) -> ApiResult<Json<SipAccountOut>> {
    ctx.require(Permission::MemberManage)?;
    let user = UserId(ids.1);
    let name = req.username.trim().to_lowercase();
    if name.is_empty()
        || name.len() > 64
        || !name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
    {
        return Err(ApiError::field(
            "username",
            "invalid_username",
            "1-64 of a-z, 0-9, . _ -",
        ));
    }
    password::check(&req.password, &name)
        .map_err(|e| ApiError::field("password", e.code(), e.to_string()))?;
    let domain = domain(&state, &ctx).await?;
    let seal = |field, algorithm| {
        let hash = ha1(algorithm, &name, &domain, &req.password);
        state.sealer.seal(field, &hash)
    };
    let md5 = seal(Field::SipHa1Md5, DigestAlgorithm::Md5)?;
    let sha = seal(Field::SipHa1Sha256, DigestAlgorithm::Sha256)?;
    let tx = state.store.begin().await?;
    let scoped = ctx.scoped(&tx);
    scoped.get_member(user).await?;
    let previous = scoped.sip_account_of(user).await?;
    let row = scoped
        .set_sip_account(user, &name, &md5, &sha)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => {
                ApiError::field("username", "taken", "another member has this SIP user name")
            }
            e => e.into(),
        })?;
    let out = SipAccountOut {
        user_id: row.user_id,
        username: row.username,
        domain,
        updated_at: row.updated_at,
    };
    audit::record(
        &tx,
        ctx.audit("sip_account.set", "user", user, None, json(&out)),
    )
    .await?;
    commit(tx).await?;
    if let (Some(sip), Some(prev)) = (&state.sip, previous) {
        sip.registrar().unregister_all(ctx.tenant, &prev.username);
    }
    Ok(Json(out))
}

/// Remove a member's SIP credentials; their phones are signed out.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/members/{user_id}/sip", tag = "sip",
    params(("tenant_id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_account(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    ctx.require(Permission::MemberManage)?;
    let tx = state.store.begin().await?;
    let row = ctx.scoped(&tx).delete_sip_account(UserId(ids.1)).await?;
    audit::record(
        &tx,
        ctx.audit("sip_account.deleted", "user", ids.1, None, None),
    )
    .await?;
    commit(tx).await?;
    if let Some(sip) = &state.sip {
        sip.registrar().unregister_all(ctx.tenant, &row.username);
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct RegistrationOut {
    pub user_id: Uuid,
    pub username: String,
    pub domain: String,
    pub contacts: Vec<ContactOut>,
}

#[derive(Serialize, ToSchema)]
pub struct ContactOut {
    pub contact: String,
    /// Where Omnivox reaches the phone (the source address behind NAT).
    pub target: String,
    pub transport: String,
    pub nat: bool,
    pub expires_in_secs: u64,
    pub user_agent: Option<String>,
}

/// Phones registered now in this tenant.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/sip/registrations", tag = "sip",
    params(("tenant_id" = Uuid, Path)),
    responses((status = 200, body = Vec<RegistrationOut>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn registrations(
    State(state): State<AppState>,
    ctx: TenantCtx,
) -> ApiResult<Json<Vec<RegistrationOut>>> {
    ctx.require(Permission::MemberRead)?;
    let Some(sip) = &state.sip else {
        return Ok(Json(Vec::new()));
    };
    let list = sip
        .registrar()
        .registrations(ctx.tenant)
        .into_iter()
        .map(|r| RegistrationOut {
            user_id: r.agent_id.0,
            username: r.user,
            domain: r.domain,
            contacts: r
                .bindings
                .into_iter()
                .map(|b| ContactOut {
                    expires_in_secs: b.expires_in().as_secs(),
                    contact: b.contact,
                    target: b.target.to_string(),
                    transport: format!("{:?}", b.transport).to_lowercase(),
                    nat: b.nat,
                    user_agent: b.user_agent,
                })
                .collect(),
        })
        .collect();
    Ok(Json(list))
}
