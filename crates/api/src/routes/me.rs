//! The signed-in user's own account: profile, password, sessions, 2FA.

use crate::auth::principal::UserCtx;
use crate::auth::tokens::sha256_hex;
use crate::auth::totp;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::routes::dto::UserOut;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use omnivox_domain::{Role, SessionId, password};
use omnivox_store::seal::Field;
use omnivox_store::{audit, commit, members, sessions, tenants, users};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Serialize, ToSchema)]
pub struct MembershipOut {
    pub tenant_id: Uuid,
    pub tenant_name: String,
    pub role: Role,
}

#[derive(Serialize, ToSchema)]
pub struct MeOut {
    pub user: UserOut,
    pub is_superadmin: bool,
    pub memberships: Vec<MembershipOut>,
}

/// Who am I, and which organizations can I act in.
#[utoipa::path(get, path = "/api/v1/me", tag = "me",
    responses((status = 200, body = MeOut), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_me(State(state): State<AppState>, me: UserCtx) -> ApiResult<Json<MeOut>> {
    let db = state.store.reader();
    let user = users::get(db, me.id).await?;
    let roles = members::roles_of_user(db, me.id).await?;
    let page = tenants::list_for_user(db, me.id, &omnivox_store::PageRequest::first(1000)).await?;
    let memberships = roles
        .into_iter()
        .filter_map(|(tid, role)| {
            page.items
                .iter()
                .find(|t| t.id == tid.0)
                .map(|t| MembershipOut {
                    tenant_id: t.id,
                    tenant_name: t.name.clone(),
                    role,
                })
        })
        .collect();
    Ok(Json(MeOut {
        is_superadmin: user.is_superadmin,
        user: user.into(),
        memberships,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current_password: String,
    pub new_password: String,
}

/// Change one's password. Every other session is signed out.
#[utoipa::path(put, path = "/api/v1/me/password", tag = "me",
    request_body = ChangePassword,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn change_password(
    State(state): State<AppState>,
    me: UserCtx,
    ApiJson(req): ApiJson<ChangePassword>,
) -> ApiResult<StatusCode> {
    let user = users::get(state.store.reader(), me.id).await?;
    if !state
        .hasher
        .verify_blocking(req.current_password, Some(user.password_hash))
        .await
    {
        return Err(ApiError::unauthorized(
            "invalid_credentials",
            "the current password is wrong",
        ));
    }
    password::check(&req.new_password, &user.email)
        .map_err(|e| ApiError::field("new_password", e.code(), e.to_string()))?;
    let hash = state.hasher.hash_blocking(req.new_password).await?;
    let tx = state.store.begin().await?;
    users::set_password(&tx, me.id, &hash).await?;
    let sessions = sessions::list_active(&tx, me.id).await?;
    for s in sessions.iter().filter(|s| s.id != me.session.0) {
        sessions::revoke(&tx, SessionId(s.id), "password_changed").await?;
    }
    audit::record(
        &tx,
        me.audit("user.password_changed", "user", Some(me.id.to_string())),
    )
    .await?;
    commit(tx).await?;
    state.cache.forget_user(me.id);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct SessionOut {
    pub id: Uuid,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub last_seen_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// This is the session making the request.
    pub current: bool,
}

/// One's signed-in sessions.
#[utoipa::path(get, path = "/api/v1/me/sessions", tag = "me",
    responses((status = 200, body = Vec<SessionOut>), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_sessions(
    State(state): State<AppState>,
    me: UserCtx,
) -> ApiResult<Json<Vec<SessionOut>>> {
    let list = sessions::list_active(state.store.reader(), me.id).await?;
    Ok(Json(
        list.into_iter()
            .map(|s| SessionOut {
                current: s.id == me.session.0,
                id: s.id,
                created_at: s.created_at,
                last_seen_at: s.last_seen_at,
                expires_at: s.expires_at,
                user_agent: s.user_agent,
                ip: s.ip,
            })
            .collect(),
    ))
}

/// Sign out one of one's sessions.
#[utoipa::path(delete, path = "/api/v1/me/sessions/{session_id}", tag = "me",
    params(("session_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke_session(
    State(state): State<AppState>,
    me: UserCtx,
    ApiPath(session_id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    let sid = SessionId(session_id);
    let tx = state.store.begin().await?;
    let s = sessions::get(&tx, sid).await?;
    if s.user_id != me.id.0 || !sessions::revoke(&tx, sid, "revoked_by_user").await? {
        return Err(ApiError::NotFound);
    }
    audit::record(
        &tx,
        me.audit("session.revoked", "session", Some(sid.to_string())),
    )
    .await?;
    commit(tx).await?;
    state.cache.sessions.remove(&sid);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct TotpEnrollment {
    /// Base32 secret, for manual entry.
    pub secret: String,
    /// Scan this as a QR code in an authenticator app.
    pub otpauth_url: String,
}

/// Start 2FA enrollment: a new secret, active once verified.
#[utoipa::path(post, path = "/api/v1/me/2fa/enroll", tag = "me",
    responses((status = 200, body = TotpEnrollment), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn enroll_2fa(
    State(state): State<AppState>,
    me: UserCtx,
) -> ApiResult<Json<TotpEnrollment>> {
    if me.totp_enabled {
        return Err(ApiError::conflict(
            "mfa_already_enabled",
            "two-factor authentication is already on",
        ));
    }
    let secret = totp::new_secret();
    let url =
        totp::otpauth_url(&secret, &me.email).ok_or_else(|| ApiError::internal("otpauth url"))?;
    let tx = state.store.begin().await?;
    let sealed = state.sealer.seal(Field::TotpSecret, &secret)?;
    users::set_pending_totp(&tx, me.id, &sealed).await?;
    audit::record(
        &tx,
        me.audit(
            "user.mfa_enrollment_started",
            "user",
            Some(me.id.to_string()),
        ),
    )
    .await?;
    commit(tx).await?;
    Ok(Json(TotpEnrollment {
        secret,
        otpauth_url: url,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpCode {
    pub code: String,
}

#[derive(Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// Shown once. Each signs in once in place of a TOTP code.
    pub recovery_codes: Vec<String>,
}

/// Finish enrollment with a code from the app; returns one-time recovery codes.
#[utoipa::path(post, path = "/api/v1/me/2fa/verify", tag = "me",
    request_body = TotpCode,
    responses((status = 200, body = RecoveryCodes), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn verify_2fa(
    State(state): State<AppState>,
    me: UserCtx,
    ApiJson(req): ApiJson<TotpCode>,
) -> ApiResult<Json<RecoveryCodes>> {
    let user = users::get(state.store.reader(), me.id).await?;
    if user.totp_enabled {
        return Err(ApiError::conflict(
            "mfa_already_enabled",
            "two-factor authentication is already on",
        ));
    }
    let Some(secret) = state
        .sealer
        .open_opt(Field::TotpSecret, user.totp_secret.as_ref())?
    else {
        return Err(ApiError::bad_request(
            "mfa_not_enrolling",
            "start with POST /api/v1/me/2fa/enroll",
        ));
    };
    if !totp::check(&secret, &user.email, &req.code) {
        return Err(ApiError::field(
            "code",
            "invalid_mfa_code",
            "the code is wrong or expired",
        ));
    }
    let codes = totp::recovery_codes();
    let hashes: Vec<String> = codes
        .iter()
        .map(|c| sha256_hex(&totp::normalize_recovery_code(c)))
        .collect();
    let tx = state.store.begin().await?;
    users::enable_totp(&tx, me.id, &hashes).await?;
    audit::record(
        &tx,
        me.audit("user.mfa_enabled", "user", Some(me.id.to_string())),
    )
    .await?;
    commit(tx).await?;
    state.cache.forget_user(me.id);
    Ok(Json(RecoveryCodes {
        recovery_codes: codes,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisableTotp {
    pub password: String,
    pub code: String,
}

/// Turn 2FA off (needs the password and a current code).
#[utoipa::path(delete, path = "/api/v1/me/2fa", tag = "me",
    request_body = DisableTotp,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn disable_2fa(
    State(state): State<AppState>,
    me: UserCtx,
    ApiJson(req): ApiJson<DisableTotp>,
) -> ApiResult<StatusCode> {
    let user = users::get(state.store.reader(), me.id).await?;
    let secret = state
        .sealer
        .open_opt(Field::TotpSecret, user.totp_secret.as_ref())?;
    let Some(secret) = secret.filter(|_| user.totp_enabled) else {
        return Err(ApiError::bad_request(
            "mfa_not_enabled",
            "two-factor authentication is off",
        ));
    };
    if !state
        .hasher
        .verify_blocking(req.password, Some(user.password_hash))
        .await
    {
        return Err(ApiError::unauthorized(
            "invalid_credentials",
            "the password is wrong",
        ));
    }
    if !totp::check(&secret, &user.email, &req.code) {
        return Err(ApiError::field(
            "code",
            "invalid_mfa_code",
            "the code is wrong or expired",
        ));
    }
    let tx = state.store.begin().await?;
    users::disable_totp(&tx, me.id).await?;
    audit::record(
        &tx,
        me.audit("user.mfa_disabled", "user", Some(me.id.to_string())),
    )
    .await?;
    commit(tx).await?;
    state.cache.forget_user(me.id);
    Ok(StatusCode::NO_CONTENT)
}
