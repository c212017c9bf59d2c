//! First run: with no user in the database, the operator finishes setup with
//! the one-time token printed at start-up, naming the first organization and
//! its owner. Nothing is created silently and there are no default passwords.

use crate::auth::principal::RequestMeta;
use crate::auth::tokens::{random_token, sha256_hex};
use crate::error::{ApiError, ApiResult, ErrorBody, FieldError};
use crate::extract::ApiJson;
use crate::routes::dto::{TenantOut, UserOut};
use crate::routes::tenants::{CreateTenant, create_tenant_in};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use omnivox_domain::{Role, TenantId, UserId, password};
use omnivox_store::{Scoped, Store, audit, commit, settings, users};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct SetupStatus {
    pub setup_required: bool,
}

/// Whether this installation still needs its first owner.
#[utoipa::path(get, path = "/api/v1/setup", tag = "setup",
    responses((status = 200, body = SetupStatus)))]
pub async fn setup_status(State(state): State<AppState>) -> ApiResult<Json<SetupStatus>> {
    Ok(Json(SetupStatus {
        setup_required: users::count(state.store.reader()).await? == 0,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    /// The token printed by `omnivox serve` on first start.
    pub setup_token: String,
    pub email: String,
    pub display_name: String,
    pub password: String,
    pub tenant_name: String,
    pub time_zone: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SetupDone {
    pub user: UserOut,
    pub tenant: TenantOut,
}

/// Create the first organization and its owner.
#[utoipa::path(post, path = "/api/v1/setup", tag = "setup",
    request_body = SetupRequest,
    responses((status = 201, body = SetupDone), (status = 400, body = ErrorBody),
        (status = 403, description = "invalid_setup_token", body = ErrorBody),
        (status = 409, description = "already_set_up", body = ErrorBody)))]
pub async fn finish_setup(
    State(state): State<AppState>,
    meta: RequestMeta,
    ApiJson(req): ApiJson<SetupRequest>,
) -> ApiResult<(StatusCode, Json<SetupDone>)> {
    let Some(stored) = settings::get(state.store.reader(), settings::SETUP_TOKEN_HASH).await?
    else {
        return Err(ApiError::conflict(
            "already_set_up",
            "this installation is already set up",
        ));
    };
    let presented = sha256_hex(req.setup_token.trim());
    if !bool::from(presented.as_bytes().ct_eq(stored.as_bytes())) {
        return Err(ApiError::ForbiddenCode {
            code: "invalid_setup_token",
            message: "the setup token is wrong".into(),
        });
    }
    let new_tenant = CreateTenant {
        name: req.tenant_name,
        slug: None,
        time_zone: req.time_zone,
        locale: None,
        business_hours: None,
        require_2fa: false,
    }
    .into_new()?;
    let email = users::normalize_email(&req.email);
    let mut errors = Vec::new();
    if !crate::routes::members::valid_email(&email) {
        errors.push(FieldError::new(
            "email",
            "invalid_email",
            "not an email address",
        ));
    }
    if req.display_name.trim().is_empty() {
        errors.push(FieldError::new(
            "display_name",
            "invalid_length",
            "must not be empty",
        ));
    }
    if let Err(e) = password::check(&req.password, &email) {
        errors.push(FieldError::new("password", e.code(), e.to_string()));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let hash = state.hasher.hash_blocking(req.password).await?;
    let (user, tenant) = create_owner(
        &state.store,
        &email,
        req.display_name.trim(),
        &hash,
        new_tenant,
        &meta,
    )
    .await?;
    tracing::info!(tenant_id = %tenant.id, "first-run setup finished");
    Ok((
        StatusCode::CREATED,
        Json(SetupDone {
            user: user.into(),
            tenant: tenant.into(),
        }),
    ))
}

/// Create the first tenant and owner in one transaction, consuming the setup
/// token; a second concurrent attempt finds no token and changes nothing.
async fn create_owner(
    store: &Store,
    email: &str,
    name: &str,
    hash: &str,
    new_tenant: omnivox_store::tenants::NewTenant,
    meta: &RequestMeta,
) -> ApiResult<(users::User, omnivox_store::tenants::Tenant)> {
    let tx = store.begin().await?;
    if !settings::take(&tx, settings::SETUP_TOKEN_HASH).await? || users::count(&tx).await? > 0 {
        return Err(ApiError::conflict(
            "already_set_up",
            "this installation is already set up",
        ));
    }
    let user = users::create(&tx, email, name, hash, false).await?;
    let actor = audit::Actor::User(user.id);
    let tenant = create_tenant_in(&tx, new_tenant, actor, meta).await?;
    let tid = TenantId(tenant.id);
    Scoped::new(&tx, tid)
        .add_member(UserId(user.id), Role::Owner)
        .await?;
    audit::record(
        &tx,
        audit::NewAuditEntry {
            tenant: Some(tid),
            actor,
            action: "member.added".into(),
            target_type: "user".into(),
            target_id: Some(user.id.to_string()),
            before: None,
            after: Some(serde_json::json!({ "email": user.email, "role": "owner" })),
            request_id: meta.request_id.clone(),
            source_ip: meta.ip.clone(),
        },
    )
    .await?;
    commit(tx).await?;
    Ok((user, tenant))
}

/// What start-up found about first-run setup.
pub enum FirstRun {
    /// Users exist; nothing to do.
    Done,
    /// Created from `[bootstrap]` settings.
    Bootstrapped { tenant: TenantId },
    /// Waiting for the operator: this one-time token finishes setup.
    Token(String),
}

/// Called at start-up.
pub async fn prepare_first_run(state: &AppState) -> anyhow::Result<FirstRun> {
    let store = &state.store;
    if users::count(store.reader()).await? > 0 {
        settings::delete(store.writer(), settings::SETUP_TOKEN_HASH).await?;
        return Ok(FirstRun::Done);
    }
    let b = &state.config.bootstrap;
    if let (Some(email), Some(pw)) = (&b.owner_email, &b.owner_password) {
        let email = users::normalize_email(email);
        password::check(pw.expose(), &email)
            .map_err(|e| anyhow::anyhow!("bootstrap.owner_password: {e}"))?;
        let tenant_name = b
            .tenant_name
            .clone()
            .unwrap_or_else(|| "My Contact Center".into());
        let new_tenant = CreateTenant {
            name: tenant_name,
            slug: None,
            time_zone: None,
            locale: None,
            business_hours: None,
            require_2fa: false,
        }
        .into_new()
        .map_err(|e| anyhow::anyhow!("bootstrap.tenant_name: {e}"))?;
        let hash = state
            .hasher
            .hash(pw.expose())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        settings::put(store.writer(), settings::SETUP_TOKEN_HASH, "bootstrap").await?;
        let (_, tenant) = create_owner(
            store,
            &email,
            &email,
            &hash,
            new_tenant,
            &RequestMeta::default(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("bootstrap: {e}"))?;
        return Ok(FirstRun::Bootstrapped {
            tenant: TenantId(tenant.id),
        });
    }
    let token = random_token(24);
    settings::put(
        store.writer(),
        settings::SETUP_TOKEN_HASH,
        &sha256_hex(&token),
    )
    .await?;
    Ok(FirstRun::Token(token))
}
