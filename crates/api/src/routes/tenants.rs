//! Organizations: create and list (platform), read and update (members).

use crate::auth::principal::{Principal, TenantCtx, UserCtx, cached_tenant};
use crate::error::{ApiError, ApiResult, ErrorBody, FieldError};
use crate::extract::{ApiJson, ApiQuery};
use crate::routes::dto::{PageOut, PageQuery, TenantOut, json};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use omnivox_domain::tenant::{self, BusinessHours};
use omnivox_domain::{Permission, TenantId};
use omnivox_store::tenants::{NewTenant, TenantPatch};
use omnivox_store::{ConnectionTrait, audit, commit, tenants};
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    pub name: String,
    /// Defaults to a slug made from the name.
    pub slug: Option<String>,
    /// IANA zone; default `UTC`.
    pub time_zone: Option<String>,
    /// Default `en-US`.
    pub locale: Option<String>,
    /// Default Monday to Friday 09:00-17:00.
    pub business_hours: Option<BusinessHours>,
    #[serde(default)]
    pub require_2fa: bool,
}

fn check_name(errors: &mut Vec<FieldError>, field: &str, v: &str, max: usize) {
    if v.trim().is_empty() || v.chars().count() > max {
        errors.push(FieldError::new(
            field,
            "invalid_length",
            format!("must be 1 to {max} characters"),
        ));
    }
}

fn check_settings(
    errors: &mut Vec<FieldError>,
    slug: Option<&str>,
    tz: Option<&str>,
    locale: Option<&str>,
    hours: Option<&BusinessHours>,
) {
    let mut push = |field: &str, code: &str, r: Result<(), String>| {
        if let Err(m) = r {
            errors.push(FieldError::new(field, code, m));
        }
    };
    if let Some(s) = slug {
        push("slug", "invalid_slug", tenant::validate_slug(s));
    }
    if let Some(t) = tz {
        push(
            "time_zone",
            "invalid_time_zone",
            tenant::validate_time_zone(t),
        );
    }
    if let Some(l) = locale {
        push("locale", "invalid_locale", tenant::validate_locale(l));
    }
    if let Some(h) = hours {
        push("business_hours", "invalid_business_hours", h.validate());
    }
}

impl CreateTenant {
    /// Validate every field, reporting all problems at once.
    pub fn into_new(self) -> ApiResult<NewTenant> {
        let mut errors = Vec::new();
        check_name(&mut errors, "name", &self.name, 200);
        let slug = self.slug.unwrap_or_else(|| tenant::slugify(&self.name));
        let tz = self.time_zone.unwrap_or_else(|| "UTC".into());
        let locale = self.locale.unwrap_or_else(|| "en-US".into());
        let hours = self
            .business_hours
            .unwrap_or_else(BusinessHours::weekdays_9_to_5);
        check_settings(
            &mut errors,
            Some(&slug),
            Some(&tz),
            Some(&locale),
            Some(&hours),
        );
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        Ok(NewTenant {
            name: self.name.trim().to_owned(),
            slug,
            time_zone: tz,
            locale,
            business_hours: serde_json::to_value(hours).map_err(ApiError::internal)?,
            require_2fa: self.require_2fa,
        })
    }
}

/// The one unique column a tenant write can collide on is the slug.
fn slug_taken(e: omnivox_store::StoreError) -> ApiError {
    match e {
        omnivox_store::StoreError::Conflict(_) => ApiError::Validation(vec![FieldError::new(
            "slug",
            "taken",
            "another organization already uses this slug",
        )]),
        e => e.into(),
    }
}

/// Create a tenant and write its audit row in the caller's transaction.
pub async fn create_tenant_in(
    conn: &impl ConnectionTrait,
    new: NewTenant,
    actor: audit::Actor,
    meta: &crate::auth::principal::RequestMeta,
) -> ApiResult<tenants::Tenant> {
    let t = tenants::create(conn, new).await.map_err(slug_taken)?;
    audit::record(
        conn,
        audit::NewAuditEntry {
            tenant: Some(TenantId(t.id)),
            actor,
            action: "tenant.created".into(),
            target_type: "tenant".into(),
            target_id: Some(t.id.to_string()),
            before: None,
            after: json(&TenantOut::from(t.clone())),
            request_id: meta.request_id.clone(),
            source_ip: meta.ip.clone(),
        },
    )
    .await?;
    Ok(t)
}

/// Create an organization (platform super-admins).
#[utoipa::path(post, path = "/api/v1/tenants", tag = "tenants",
    request_body = CreateTenant,
    responses((status = 201, body = TenantOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_tenant(
    State(state): State<AppState>,
    me: UserCtx,
    ApiJson(req): ApiJson<CreateTenant>,
) -> ApiResult<(StatusCode, Json<TenantOut>)> {
    if !me.is_superadmin {
        return Err(ApiError::Forbidden(
            "only platform administrators create organizations",
        ));
    }
    let new = req.into_new()?;
    let tx = state.store.begin().await?;
    let t = create_tenant_in(&tx, new, audit::Actor::User(me.id.0), &me.meta).await?;
    commit(tx).await?;
    Ok((StatusCode::CREATED, Json(t.into())))
}

/// The organizations the caller can act in (all of them for super-admins).
#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenants",
    params(PageQuery),
    responses((status = 200, body = PageOut<TenantOut>), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_tenants(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<PageOut<TenantOut>>> {
    let page = q.page()?;
    let db = state.store.reader();
    let result = match principal {
        Principal::User {
            is_superadmin: true,
            ..
        } => tenants::list_all(db, &page).await?,
        Principal::User { id, .. } => tenants::list_for_user(db, id, &page).await?,
        Principal::ApiKey { tenant, .. } => {
            let t = omnivox_store::Scoped::new(db, tenant).get_tenant().await?;
            omnivox_store::Page {
                items: vec![t],
                next_cursor: None,
            }
        }
    };
    Ok(Json(PageOut::from_page(result)))
}

/// An organization's settings.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}", tag = "tenants",
    params(("tenant_id" = Uuid, Path)),
    responses((status = 200, body = TenantOut), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_tenant(
    State(state): State<AppState>,
    ctx: TenantCtx,
) -> ApiResult<Json<TenantOut>> {
    ctx.require(Permission::TenantRead)?;
    Ok(Json(cached_tenant(&state, ctx.tenant).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenant {
    pub name: Option<String>,
    pub slug: Option<String>,
    pub time_zone: Option<String>,
    pub locale: Option<String>,
    pub business_hours: Option<BusinessHours>,
    /// Members without 2FA are refused until they enroll.
    pub require_2fa: Option<bool>,
}

/// Change an organization's settings.
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant_id}", tag = "tenants",
    params(("tenant_id" = Uuid, Path)),
    request_body = UpdateTenant,
    responses((status = 200, body = TenantOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_tenant(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiJson(req): ApiJson<UpdateTenant>,
) -> ApiResult<Json<TenantOut>> {
    ctx.require(Permission::TenantUpdate)?;
    let mut errors = Vec::new();
    if let Some(n) = &req.name {
        check_name(&mut errors, "name", n, 200);
    }
    check_settings(
        &mut errors,
        req.slug.as_deref(),
        req.time_zone.as_deref(),
        req.locale.as_deref(),
        req.business_hours.as_ref(),
    );
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let patch = TenantPatch {
        name: req.name.map(|n| n.trim().to_owned()),
        slug: req.slug,
        time_zone: req.time_zone,
        locale: req.locale,
        business_hours: req
            .business_hours
            .map(serde_json::to_value)
            .transpose()
            .map_err(ApiError::internal)?,
        require_2fa: req.require_2fa,
    };
    let tx = state.store.begin().await?;
    let (before, after) = ctx
        .scoped(&tx)
        .update_tenant(patch)
        .await
        .map_err(slug_taken)?;
    let (before, after) = (TenantOut::from(before), TenantOut::from(after));
    audit::record(
        &tx,
        ctx.audit(
            "tenant.updated",
            "tenant",
            ctx.tenant,
            json(&before),
            json(&after),
        ),
    )
    .await?;
    commit(tx).await?;
    state.cache.tenants.remove(&ctx.tenant);
    Ok(Json(after))
}
