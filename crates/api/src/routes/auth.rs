//! Sign-in, token refresh with rotation and reuse detection, sign-out.

use crate::auth::principal::{
    ACCESS_COOKIE, CSRF_COOKIE, REFRESH_COOKIE, RequestMeta, UserCtx, cookie,
};
use crate::auth::tokens::{Claims, random_token, sha256_hex};
use crate::auth::{csrf, totp};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiJson;
use crate::routes::dto::UserOut;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use omnivox_domain::{SessionId, UserId};
use omnivox_store::seal::Field;
use omnivox_store::sessions::{self, NewSession, Rotation};
use omnivox_store::{audit, commit, lockouts, now, users};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// The 6-digit code from the authenticator app, when 2FA is on.
    pub totp_code: Option<String>,
    /// A one-time recovery code, instead of `totp_code`.
    pub recovery_code: Option<String>,
    /// Browsers: set httpOnly cookies instead of returning the tokens.
    #[serde(default)]
    pub use_cookies: bool,
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// Absent when `use_cookies` was requested.
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub session_id: Uuid,
    /// For cookie sessions: echo this in the `X-CSRF-Token` header on writes.
    pub csrf_token: Option<String>,
    pub user: UserOut,
}

fn invalid_credentials() -> ApiError {
    ApiError::unauthorized("invalid_credentials", "email or password is wrong")
}

fn secs(d: u64) -> Duration {
    Duration::seconds(i64::try_from(d).unwrap_or(i64::MAX / 1000))
}

/// Sign in with email and password (and a TOTP or recovery code when 2FA is on).
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "invalid_credentials, mfa_required or invalid_mfa_code", body = ErrorBody),
        (status = 429, description = "locked_out (account or address) or rate_limited", body = ErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    meta: RequestMeta,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let auth = &state.config.auth;
    let ip = meta.ip.clone().unwrap_or_default();
    if let Some(until) = lockouts::locked_until(state.store.reader(), &ip).await? {
        return Err(locked("too many failed sign-ins from this address", until));
    }
    let user = users::find_by_email(state.store.reader(), &req.email).await?;
    if let Some(until) = user
        .as_ref()
        .and_then(|u| u.locked_until)
        .filter(|t| *t > now())
    {
        return Err(locked(
            "this account is locked after repeated failed sign-ins",
            until,
        ));
    }
    let ok = state
        .hasher
        .verify_blocking(
            req.password.clone(),
            user.as_ref().map(|u| u.password_hash.clone()),
        )
        .await;
    let known = user.as_ref().map(|u| UserId(u.id));
    let Some(user) = user.filter(|_| ok) else {
        record_failure(&state, &ip, known).await?;
        return Err(invalid_credentials());
    };
    let uid = UserId(user.id);

    if user.totp_enabled {
        let passed = match (&req.totp_code, &req.recovery_code) {
            (Some(code), _) => state
                .sealer
                .open_opt(Field::TotpSecret, user.totp_secret.as_ref())?
                .is_some_and(|s| totp::check(&s, &user.email, code)),
            (None, Some(rc)) => {
                let h = sha256_hex(&totp::normalize_recovery_code(rc));
                users::use_recovery_code(state.store.writer(), uid, &h).await?
            }
            (None, None) => {
                return Err(ApiError::unauthorized(
                    "mfa_required",
                    "send totp_code (or recovery_code) with the password",
                ));
            }
        };
        if !passed {
            record_failure(&state, &ip, Some(uid)).await?;
            return Err(ApiError::unauthorized(
                "invalid_mfa_code",
                "the two-factor code is wrong or expired",
            ));
        }
    }

    let refresh = random_token(32);
    let tx = state.store.begin().await?;
    if user.failed_logins > 0 {
        users::clear_lock(&tx, uid).await?;
    }
    let session = sessions::create(
        &tx,
        NewSession {
            user: uid,
            expires_at: now() + secs(auth.refresh_token_ttl_secs),
            user_agent: meta.user_agent.as_deref(),
            ip: meta.ip.as_deref(),
            refresh_hash: &sha256_hex(&refresh),
        },
    )
    .await?;
    let mut entry = audit_for(&meta, uid, "auth.login", "session", session.id);
    entry.after = Some(serde_json::json!({ "user_agent": session.user_agent }));
    audit::record(&tx, entry).await?;
    commit(tx).await?;
    state.cache.users.remove(&uid);
    tracing::info!(user_id = %uid, session_id = %session.id, "signed in");
    issue(
        &state,
        user.into(),
        SessionId(session.id),
        refresh,
        req.use_cookies,
    )
}

fn locked(message: &str, until: chrono::DateTime<chrono::Utc>) -> ApiError {
    ApiError::Locked {
        message: message.to_owned(),
        retry_after_secs: (until - now()).num_seconds().max(1) as u64,
    }
}

async fn record_failure(state: &AppState, ip: &str, user: Option<UserId>) -> ApiResult<()> {
    let auth = &state.config.auth;
    let tx = state.store.begin().await?;
    lockouts::record_failure(
        &tx,
        ip,
        auth.ip_lockout_threshold,
        secs(auth.ip_window_secs),
        secs(auth.lockout_secs),
    )
    .await?;
    if let Some(u) = user {
        users::record_failed_login(
            &tx,
            u,
            auth.lockout_threshold,
            now() + secs(auth.lockout_secs),
        )
        .await?;
    }
    commit(tx).await?;
    tracing::warn!(source_ip = %ip, "failed sign-in");
    Ok(())
}

fn audit_for(
    meta: &RequestMeta,
    user: UserId,
    action: &str,
    target: &str,
    id: Uuid,
) -> audit::NewAuditEntry {
    audit::NewAuditEntry {
        tenant: None,
        actor: audit::Actor::User(user.0),
        action: action.to_owned(),
        target_type: target.to_owned(),
        target_id: Some(id.to_string()),
        before: None,
        after: None,
        request_id: meta.request_id.clone(),
        source_ip: meta.ip.clone(),
    }
}

/// Mint an access token for the session and answer with tokens or cookies.
fn issue(
    state: &AppState,
    user: UserOut,
    session: SessionId,
    refresh: String,
    use_cookies: bool,
) -> ApiResult<Response> {
    let auth = &state.config.auth;
    let iat = chrono::Utc::now().timestamp();
    let access = state
        .keys
        .sign(&Claims {
            sub: user.id,
            sid: session.0,
            iat,
            exp: iat + i64::try_from(auth.access_token_ttl_secs).unwrap_or(i64::MAX / 2),
        })
        .map_err(ApiError::internal)?;
    let body = TokenResponse {
        access_token: (!use_cookies).then(|| access.clone()),
        refresh_token: (!use_cookies).then(|| refresh.clone()),
        token_type: "Bearer",
        expires_in: auth.access_token_ttl_secs,
        session_id: session.0,
        csrf_token: use_cookies.then(|| csrf::token(state.keys.raw(), session.0)),
        user,
    };
    let mut resp = (StatusCode::OK, axum::Json(body)).into_response();
    if use_cookies {
        let csrf = csrf::token(state.keys.raw(), session.0);
        let h = resp.headers_mut();
        set_cookie(
            h,
            state,
            ACCESS_COOKIE,
            &access,
            "/",
            auth.access_token_ttl_secs,
            true,
        );
        set_cookie(
            h,
            state,
            REFRESH_COOKIE,
            &refresh,
            "/api/v1/auth",
            auth.refresh_token_ttl_secs,
            true,
        );
        set_cookie(
            h,
            state,
            CSRF_COOKIE,
            &csrf,
            "/",
            auth.refresh_token_ttl_secs,
            false,
        );
    }
    Ok(resp)
}

fn set_cookie(
    h: &mut HeaderMap,
    state: &AppState,
    name: &str,
    value: &str,
    path: &str,
    max_age: u64,
    http_only: bool,
) {
    let mut c = format!("{name}={value}; Path={path}; Max-Age={max_age}; SameSite=Strict");
    if http_only {
        c.push_str("; HttpOnly");
    }
    if state.config.auth.cookie_secure {
        c.push_str("; Secure");
    }
    if let Ok(v) = HeaderValue::from_str(&c) {
        h.append(header::SET_COOKIE, v);
    }
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// Omit to use the refresh cookie.
    pub refresh_token: Option<String>,
}

/// Trade a refresh token for a new access token and a new refresh token. The
/// old refresh token is spent; presenting it again signs the session out.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "invalid_refresh_token or refresh_token_reused", body = ErrorBody),
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> ApiResult<Response> {
    let from_cookie = req.refresh_token.is_none();
    let presented = match req
        .refresh_token
        .as_deref()
        .or_else(|| cookie(&headers, REFRESH_COOKIE))
    {
        Some(t) => t.to_owned(),
        None => {
            return Err(ApiError::unauthorized(
                "invalid_refresh_token",
                "no refresh token",
            ));
        }
    };
    let next = random_token(32);
    let tx = state.store.begin().await?;
    let outcome = sessions::rotate(&tx, &sha256_hex(&presented), &sha256_hex(&next)).await?;
    commit(tx).await?;
    match outcome {
        Rotation::Rotated(s) => {
            let user = users::get(state.store.reader(), UserId(s.user_id)).await?;
            issue(&state, user.into(), SessionId(s.id), next, from_cookie)
        }
        Rotation::Reused(sid) => {
            state.cache.sessions.remove(&sid);
            tracing::warn!(session_id = %sid, "refresh token reused; session revoked");
            Err(ApiError::unauthorized(
                "refresh_token_reused",
                "this refresh token was already used; the session has been signed out",
            ))
        }
        Rotation::Invalid => Err(ApiError::unauthorized(
            "invalid_refresh_token",
            "the refresh token is unknown, expired or signed out",
        )),
    }
}

/// Sign out of the current session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn logout(State(state): State<AppState>, user: UserCtx) -> ApiResult<Response> {
    let tx = state.store.begin().await?;
    sessions::revoke(&tx, user.session, "logout").await?;
    audit::record(
        &tx,
        user.audit("auth.logout", "session", Some(user.session.to_string())),
    )
    .await?;
    commit(tx).await?;
    state.cache.sessions.remove(&user.session);
    let mut resp = StatusCode::NO_CONTENT.into_response();
    for (name, path) in [
        (ACCESS_COOKIE, "/"),
        (REFRESH_COOKIE, "/api/v1/auth"),
        (CSRF_COOKIE, "/"),
    ] {
        set_cookie(resp.headers_mut(), &state, name, "", path, 0, true);
    }
    Ok(resp)
}
