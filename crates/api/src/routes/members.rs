//! A tenant's members and their roles.

use crate::auth::principal::TenantCtx;
use crate::error::{ApiError, ApiResult, ErrorBody, FieldError};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::routes::dto::{MemberOut, PageOut, json};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use omnivox_domain::{Permission, Role, UserId, password};
use omnivox_store::{audit, commit, users};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MemberQuery {
    pub cursor: Option<String>,
    pub limit: Option<u64>,
    /// Only members with this role.
    pub role: Option<Role>,
}

/// List members.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/members", tag = "members",
    params(("tenant_id" = Uuid, Path), MemberQuery),
    responses((status = 200, body = PageOut<MemberOut>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_members(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiQuery(q): ApiQuery<MemberQuery>,
) -> ApiResult<Json<PageOut<MemberOut>>> {
    ctx.require(Permission::MemberRead)?;
    let page = crate::routes::dto::page_request(q.cursor.as_deref(), q.limit)?;
    let members = ctx
        .scoped(state.store.reader())
        .list_members(&page, q.role)
        .await?;
    Ok(Json(PageOut::from_page(members)))
}

/// One member.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/members/{user_id}", tag = "members",
    params(("tenant_id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 200, body = MemberOut), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_member(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<MemberOut>> {
    ctx.require(Permission::MemberRead)?;
    Ok(Json(
        ctx.scoped(state.store.reader())
            .get_member(UserId(ids.1))
            .await?
            .into(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    pub email: String,
    pub role: Role,
    /// Required when no account exists for the email yet.
    pub display_name: Option<String>,
    /// Initial password for a new account (the person changes it later).
    pub password: Option<String>,
}

fn may_assign(ctx: &TenantCtx, role: Role) -> ApiResult<()> {
    if role == Role::Owner {
        ctx.require(Permission::OwnerManage)?;
    }
    if !ctx.role.can_assign(role) {
        return Err(ApiError::Forbidden(
            "you cannot grant a role with more rights than your own",
        ));
    }
    Ok(())
}

/// Add a person to the tenant, creating their account if needed.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/members", tag = "members",
    params(("tenant_id" = Uuid, Path)),
    request_body = AddMember,
    responses((status = 201, body = MemberOut), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn add_member(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiJson(req): ApiJson<AddMember>,
) -> ApiResult<(StatusCode, Json<MemberOut>)> {
    ctx.require(Permission::MemberManage)?;
    may_assign(&ctx, req.role)?;
    let email = users::normalize_email(&req.email);
    if !valid_email(&email) {
        return Err(ApiError::field(
            "email",
            "invalid_email",
            "not an email address",
        ));
    }
    let existing = users::find_by_email(state.store.reader(), &email).await?;
    let new_account = match (&existing, req.display_name, req.password) {
        (Some(_), _, _) => None,
        (None, Some(name), Some(pw)) => {
            let mut errors = Vec::new();
            if name.trim().is_empty() || name.chars().count() > 200 {
                errors.push(FieldError::new(
                    "display_name",
                    "invalid_length",
                    "must be 1 to 200 characters",
                ));
            }
            if let Err(e) = password::check(&pw, &email) {
                errors.push(FieldError::new("password", e.code(), e.to_string()));
            }
            if !errors.is_empty() {
                return Err(ApiError::Validation(errors));
            }
            Some((
                name.trim().to_owned(),
                state.hasher.hash_blocking(pw).await?,
            ))
        }
        (None, _, _) => {
            return Err(ApiError::Validation(vec![FieldError::new(
                "password",
                "required",
                "display_name and password are required for a new account",
            )]));
        }
    };
    let tx = state.store.begin().await?;
    let user_id = match (existing, new_account) {
        (Some(u), _) => UserId(u.id),
        (None, Some((name, hash))) => {
            UserId(users::create(&tx, &email, &name, &hash, false).await?.id)
        }
        (None, None) => return Err(ApiError::internal("unreachable member state")),
    };
    let scoped = ctx.scoped(&tx);
    scoped
        .add_member(user_id, req.role)
        .await
        .map_err(|e| match e {
            omnivox_store::StoreError::Conflict(_) => {
                ApiError::conflict("already_member", "this person is already a member")
            }
            e => e.into(),
        })?;
    let member = MemberOut::from(scoped.get_member(user_id).await?);
    audit::record(
        &tx,
        ctx.audit("member.added", "user", user_id, None, json(&member)),
    )
    .await?;
    commit(tx).await?;
    state.cache.roles.remove(&(ctx.tenant, user_id));
    Ok((StatusCode::CREATED, Json(member)))
}

/// A plausible email address (one `@`, a dotted domain, no spaces).
pub(crate) fn valid_email(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && e.len() <= 254
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMember {
    pub role: Role,
}

/// Change a member's role.
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant_id}/members/{user_id}", tag = "members",
    params(("tenant_id" = Uuid, Path), ("user_id" = Uuid, Path)),
    request_body = UpdateMember,
    responses((status = 200, body = MemberOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_member(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiJson(req): ApiJson<UpdateMember>,
) -> ApiResult<Json<MemberOut>> {
    ctx.require(Permission::MemberManage)?;
    let uid = UserId(ids.1);
    let tx = state.store.begin().await?;
    let scoped = ctx.scoped(&tx);
    let before = scoped.get_member(uid).await?;
    if before.role == Role::Owner || req.role == Role::Owner {
        ctx.require(Permission::OwnerManage)?;
    }
    may_assign(&ctx, req.role)?;
    if before.role == Role::Owner && req.role != Role::Owner && scoped.count_owners().await? <= 1 {
        return Err(ApiError::conflict(
            "last_owner",
            "an organization needs at least one owner",
        ));
    }
    scoped.set_role(uid, req.role).await?;
    let before = MemberOut::from(before);
    let after = MemberOut::from(scoped.get_member(uid).await?);
    audit::record(
        &tx,
        ctx.audit(
            "member.role_changed",
            "user",
            uid,
            json(&before),
            json(&after),
        ),
    )
    .await?;
    commit(tx).await?;
    state.cache.roles.remove(&(ctx.tenant, uid));
    Ok(Json(after))
}

/// Remove a member from the tenant (their account stays). Their voicemail
/// box, if they own one, stays with its messages: supervisors still reach
/// them, and the box can be given another owner or deleted (the audit
/// entry names it as `voicemail_box_kept`).
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/members/{user_id}", tag = "members",
    params(("tenant_id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn remove_member(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    ctx.require(Permission::MemberManage)?;
    let uid = UserId(ids.1);
    let tx = state.store.begin().await?;
    let scoped = ctx.scoped(&tx);
    let before = scoped.get_member(uid).await?;
    if before.role == Role::Owner {
        ctx.require(Permission::OwnerManage)?;
        if scoped.count_owners().await? <= 1 {
            return Err(ApiError::conflict(
                "last_owner",
                "an organization needs at least one owner",
            ));
        }
    }
    let kept_box = scoped.voicemail_box_of("agent", uid.0).await?;
    scoped.remove_member(uid).await?;
    let mut before = json(&MemberOut::from(before));
    if let (Some(b), Some(serde_json::Value::Object(m))) = (kept_box, before.as_mut()) {
        m.insert(
            "voicemail_box_kept".into(),
            serde_json::json!({ "id": b.id, "name": b.name }),
        );
    }
    audit::record(&tx, ctx.audit("member.removed", "user", uid, before, None)).await?;
    commit(tx).await?;
    state.cache.roles.remove(&(ctx.tenant, uid));
    Ok(StatusCode::NO_CONTENT)
}

/// Lift a sign-in lockout on a member's account.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/members/{user_id}/unlock", tag = "members",
    params(("tenant_id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn unlock_member(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    ctx.require(Permission::MemberManage)?;
    let uid = UserId(ids.1);
    let tx = state.store.begin().await?;
    let member = ctx.scoped(&tx).get_member(uid).await?;
    if member.role == Role::Owner {
        ctx.require(Permission::OwnerManage)?;
    }
    users::clear_lock(&tx, uid).await?;
    audit::record(&tx, ctx.audit("member.unlocked", "user", uid, None, None)).await?;
    commit(tx).await?;
    Ok(StatusCode::NO_CONTENT)
}
