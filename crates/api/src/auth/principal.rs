//! Who is calling: the authentication middleware resolves a [`Principal`]
//! from a bearer token, an API key or the session cookie; the [`TenantCtx`]
//! extractor then resolves the caller's role in the tenant named by the path
//! and answers every permission check.

use crate::auth::cache::{ApiKeyState, SessionState, UserState};
use crate::auth::{csrf, tokens};
use crate::error::ApiError;
use crate::middleware::client_addr::ClientAddr;
use crate::state::AppState;
use axum::extract::{FromRequestParts, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use omnivox_domain::{ApiKeyId, Permission, Role, SessionId, TenantId, UserId};
use omnivox_store::audit::{Actor, NewAuditEntry};
use omnivox_store::{Scoped, api_keys, sessions, users};

pub const ACCESS_COOKIE: &str = "ovx_access";
pub const REFRESH_COOKIE: &str = "ovx_refresh";
pub const CSRF_COOKIE: &str = "ovx_csrf";
/// API keys look like `ovx_<prefix>_<secret>`.
pub const API_KEY_PREFIX: &str = "ovx_";

#[derive(Clone, Debug)]
pub enum Principal {
    User {
        id: UserId,
        session: SessionId,
        email: String,
        is_superadmin: bool,
        totp_enabled: bool,
    },
    ApiKey {
        id: ApiKeyId,
        tenant: TenantId,
        role: Role,
    },
}

impl Principal {
    pub fn actor(&self) -> Actor {
        match self {
            Principal::User { id, .. } => Actor::User(id.0),
            Principal::ApiKey { id, .. } => Actor::ApiKey(id.0),
        }
    }

    /// A stable key for rate limits and idempotency scopes.
    pub fn key(&self) -> String {
        match self {
            Principal::User { id, .. } => format!("user:{id}"),
            Principal::ApiKey { id, .. } => format!("key:{id}"),
        }
    }
}

/// Facts about the request every audit row records.
#[derive(Clone, Debug, Default)]
pub struct RequestMeta {
    pub request_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(request_meta(parts))
    }
}

pub fn request_meta(parts: &Parts) -> RequestMeta {
    let h = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    RequestMeta {
        request_id: h("x-request-id"),
        ip: client_ip(parts).map(|a| a.to_string()),
        user_agent: h(header::USER_AGENT.as_str()),
    }
}

/// The client's address, as the `client_addr` middleware resolved it
/// (through trusted proxies) for every API route.
pub fn client_ip(parts: &Parts) -> Option<std::net::IpAddr> {
    parts.extensions.get::<ClientAddr>().map(|c| c.0)
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn invalid_token() -> ApiError {
    ApiError::unauthorized("invalid_token", "the access token or API key is not valid")
}

/// Middleware: resolve the caller, if the request carries credentials.
/// Bad credentials are refused here; no credentials pass on without a
/// principal, and endpoints that need one answer 401.
pub async fn authenticate(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
                .map(str::trim)
                .ok_or_else(|| {
                    ApiError::unauthorized(
                        "invalid_token",
                        "Authorization must be `Bearer <token>`",
                    )
                })
        })
        .transpose()?;
    let principal = match bearer {
        Some(t) if t.starts_with(API_KEY_PREFIX) => Some(api_key_principal(&state, t).await?),
        Some(t) => Some(token_principal(&state, t).await?),
        None => match cookie(req.headers(), ACCESS_COOKIE) {
            Some(t) => {
                let p = token_principal(&state, t).await?;
                if !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
                    check_csrf(&state, req.headers(), &p)?;
                }
                Some(p)
            }
            None => None,
        },
    };
    if let Some(p) = principal {
        tracing::Span::current().record("principal", p.key());
        req.extensions_mut().insert(p);
    }
    Ok(next.run(req).await)
}

fn check_csrf(state: &AppState, headers: &HeaderMap, p: &Principal) -> Result<(), ApiError> {
    let Principal::User { session, .. } = p else {
        return Ok(());
    };
    let presented = headers
        .get(csrf::HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if csrf::verify(state.keys.raw(), session.0, presented) {
        Ok(())
    } else {
        Err(ApiError::ForbiddenCode {
            code: "csrf_failed",
            message: "cookie-authenticated requests must send the X-CSRF-Token header".into(),
        })
    }
}

async fn token_principal(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let claims = state.keys.verify(token).map_err(|_| invalid_token())?;
    let sid = SessionId(claims.sid);
    let session = match state.cache.sessions.get(&sid) {
        Some(s) => s,
        None => {
            let s = match sessions::get(state.store.reader(), sid).await {
                Ok(s) => SessionState {
                    user: UserId(s.user_id),
                    live: s.revoked_at.is_none() && s.expires_at > omnivox_store::now(),
                },
                Err(omnivox_store::StoreError::NotFound) => return Err(invalid_token()),
                Err(e) => return Err(e.into()),
            };
            state.cache.sessions.insert(sid, s.clone());
            s
        }
    };
    if !session.live || session.user.0 != claims.sub {
        return Err(ApiError::unauthorized(
            "session_revoked",
            "this session has been signed out",
        ));
    }
    let user = user_state(state, session.user).await?;
    Ok(Principal::User {
        id: session.user,
        session: sid,
        email: user.email,
        is_superadmin: user.is_superadmin,
        totp_enabled: user.totp_enabled,
    })
}

pub async fn user_state(state: &AppState, id: UserId) -> Result<UserState, ApiError> {
    if let Some(u) = state.cache.users.get(&id) {
        return Ok(u);
    }
    let u = users::get(state.store.reader(), id)
        .await
        .map_err(|e| match e {
            omnivox_store::StoreError::NotFound => invalid_token(),
            e => e.into(),
        })?;
    let s = UserState {
        email: u.email,
        is_superadmin: u.is_superadmin,
        totp_enabled: u.totp_enabled,
    };
    state.cache.users.insert(id, s.clone());
    Ok(s)
}

async fn api_key_principal(state: &AppState, key: &str) -> Result<Principal, ApiError> {
    let hash = tokens::sha256_hex(key);
    let k = match state.cache.api_keys.get(&hash) {
        Some(k) => k,
        None => {
            let Some(row) = api_keys::find_by_hash(state.store.reader(), &hash).await? else {
                return Err(invalid_token());
            };
            let role = row
                .role
                .parse::<Role>()
                .map_err(|e| ApiError::internal(format!("api key {}: {e}", row.id)))?;
            let k = ApiKeyState {
                id: ApiKeyId(row.id),
                tenant: TenantId(row.tenant_id),
                role,
                usable: row.revoked_at.is_none(),
                expires_at: row.expires_at,
            };
            state.cache.api_keys.insert(hash, k.clone());
            k
        }
    };
    if !k.usable {
        return Err(ApiError::unauthorized(
            "api_key_revoked",
            "this API key has been revoked",
        ));
    }
    if k.expires_at.is_some_and(|t| t <= chrono::Utc::now()) {
        return Err(ApiError::unauthorized(
            "api_key_expired",
            "this API key has expired",
        ));
    }
    if state.cache.key_touched.get(&k.id).is_none() {
        state.cache.key_touched.insert(k.id, ());
        let store = state.store.clone();
        let id = k.id;
        tokio::spawn(async move {
            if let Err(e) = api_keys::touch_last_used(store.writer(), id).await {
                tracing::warn!(error = %e, "could not record API key use");
            }
        });
    }
    Ok(Principal::ApiKey {
        id: k.id,
        tenant: k.tenant,
        role: k.role,
    })
}

/// The caller, required. Answers 401 when the request had no credentials.
impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("unauthenticated", "sign in or send an API key"))
    }
}

/// A signed-in person (not an API key), for endpoints about one's own account.
pub struct UserCtx {
    pub id: UserId,
    pub session: SessionId,
    pub email: String,
    pub is_superadmin: bool,
    pub totp_enabled: bool,
    pub meta: RequestMeta,
}

impl UserCtx {
    pub fn audit(
        &self,
        action: &str,
        target_type: &str,
        target_id: Option<String>,
    ) -> NewAuditEntry {
        NewAuditEntry {
            tenant: None,
            actor: Actor::User(self.id.0),
            action: action.to_owned(),
            target_type: target_type.to_owned(),
            target_id,
            before: None,
            after: None,
            request_id: self.meta.request_id.clone(),
            source_ip: self.meta.ip.clone(),
        }
    }
}

impl FromRequestParts<AppState> for UserCtx {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, ApiError> {
        match Principal::from_request_parts(parts, s).await? {
            Principal::User {
                id,
                session,
                email,
                is_superadmin,
                totp_enabled,
            } => Ok(UserCtx {
                id,
                session,
                email,
                is_superadmin,
                totp_enabled,
                meta: request_meta(parts),
            }),
            Principal::ApiKey { .. } => Err(ApiError::ForbiddenCode {
                code: "user_required",
                message: "this endpoint is for signed-in users, not API keys".into(),
            }),
        }
    }
}

/// The caller acting inside the tenant named by the `{tenant_id}` path
/// segment, with their role there. A tenant the caller cannot see is 404,
/// so ids of other tenants reveal nothing.
pub struct TenantCtx {
    pub tenant: TenantId,
    pub role: Role,
    pub principal: Principal,
    pub meta: RequestMeta,
}

impl TenantCtx {
    /// Refuse unless the caller's role grants `p`.
    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        if self.role.grants(p) {
            Ok(())
        } else {
            Err(ApiError::ForbiddenCode {
                code: "forbidden",
                message: format!(
                    "the {} role does not have the {} permission",
                    self.role,
                    p.as_str()
                ),
            })
        }
    }

    /// The signed-in user behind the request (None for an API key).
    pub fn user_id(&self) -> Option<UserId> {
        match &self.principal {
            Principal::User { id, .. } => Some(*id),
            Principal::ApiKey { .. } => None,
        }
    }

    pub fn scoped<'c, C: omnivox_store::ConnectionTrait>(&self, conn: &'c C) -> Scoped<'c, C> {
        Scoped::new(conn, self.tenant)
    }

    /// An audit entry for a change in this tenant by this caller.
    pub fn audit(
        &self,
        action: &str,
        target_type: &str,
        target_id: impl ToString,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> NewAuditEntry {
        NewAuditEntry {
            tenant: Some(self.tenant),
            actor: self.principal.actor(),
            action: action.to_owned(),
            target_type: target_type.to_owned(),
            target_id: Some(target_id.to_string()),
            before,
            after,
            request_id: self.meta.request_id.clone(),
            source_ip: self.meta.ip.clone(),
        }
    }
}

impl FromRequestParts<AppState> for TenantCtx {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = Principal::from_request_parts(parts, state).await?;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound)?;
        let raw = params
            .iter()
            .find(|(k, _)| *k == "tenant_id")
            .map(|(_, v)| v)
            .ok_or(ApiError::NotFound)?;
        let tenant: TenantId = raw
            .parse()
            .map_err(|_| ApiError::field("tenant_id", "invalid_id", "tenant_id must be a UUID"))?;
        let role = match &principal {
            Principal::ApiKey {
                tenant: t, role, ..
            } => {
                if *t != tenant {
                    return Err(ApiError::NotFound);
                }
                *role
            }
            Principal::User {
                id,
                is_superadmin,
                totp_enabled,
                ..
            } => {
                let role = match role_in(state, tenant, *id).await? {
                    Some(r) => r,
                    None if *is_superadmin && tenant_exists(state, tenant).await? => Role::Owner,
                    None => return Err(ApiError::NotFound),
                };
                if !totp_enabled && requires_2fa(state, tenant).await? {
                    return Err(ApiError::ForbiddenCode {
                        code: "mfa_enrollment_required",
                        message: "this organization requires two-factor authentication; \
                                  enroll at /api/v1/me/2fa first"
                            .into(),
                    });
                }
                role
            }
        };
        Ok(TenantCtx {
            tenant,
            role,
            principal,
            meta: request_meta(parts),
        })
    }
}

async fn role_in(
    state: &AppState,
    tenant: TenantId,
    user: UserId,
) -> Result<Option<Role>, ApiError> {
    if let Some(r) = state.cache.roles.get(&(tenant, user)) {
        return Ok(r);
    }
    let r = Scoped::new(state.store.reader(), tenant)
        .role_of(user)
        .await?;
    state.cache.roles.insert((tenant, user), r);
    Ok(r)
}

async fn requires_2fa(state: &AppState, tenant: TenantId) -> Result<bool, ApiError> {
    Ok(cached_tenant(state, tenant).await?.require_2fa)
}

async fn tenant_exists(state: &AppState, tenant: TenantId) -> Result<bool, ApiError> {
    match cached_tenant(state, tenant).await {
        Ok(_) => Ok(true),
        Err(ApiError::NotFound) => Ok(false),
        Err(e) => Err(e),
    }
}

/// A tenant's settings through the cache. Updates on this node evict the
/// entry at once; other nodes see them within `auth.cache_ttl_ms`.
pub async fn cached_tenant(
    state: &AppState,
    tenant: TenantId,
) -> Result<omnivox_store::tenants::Tenant, ApiError> {
    if let Some(t) = state.cache.tenants.get(&tenant) {
        return Ok(t);
    }
    let t = Scoped::new(state.store.reader(), tenant)
        .get_tenant()
        .await?;
    state.cache.tenants.insert(tenant, t.clone());
    Ok(t)
}

/// The tenant's time zone (UTC if the stored name does not parse).
pub async fn tenant_zone(state: &AppState, tenant: TenantId) -> Result<chrono_tz::Tz, ApiError> {
    Ok(cached_tenant(state, tenant)
        .await?
        .time_zone
        .parse()
        .unwrap_or(chrono_tz::UTC))
}
