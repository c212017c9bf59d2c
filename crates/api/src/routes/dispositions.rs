//! Disposition codes over HTTP: the tenant's call outcomes, each with a
//! category and an effect (`final`, `recycle` after `delay_seconds`,
//! `callback` at a time given with the disposition, `dnc`, `sale`).
//! Agents end wrap-up with one (`POST agents/{user}/wrap-up/finish`).

use crate::auth::principal::TenantCtx;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::routes::agents::{check_code, check_label, require_any};
use crate::routes::dto::{PageOut, PageQuery, json};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use omnivox_domain::Permission;
use omnivox_store::dispositions::{DispositionCodeChange, DispositionCodeRow, NewDispositionCode};
use omnivox_store::{StoreError, audit, commit};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The longest recycle delay: 30 days.
const MAX_DELAY_SECONDS: u32 = 30 * 24 * 3600;

/// What kind of outcome a code is.
#[derive(Serialize, Deserialize, ToSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Contact,
    NoContact,
    Sale,
    Dnc,
    Callback,
    Other,
}

impl Category {
    fn as_str(self) -> &'static str {
        match self {
            Category::Contact => "contact",
            Category::NoContact => "no_contact",
            Category::Sale => "sale",
            Category::Dnc => "dnc",
            Category::Callback => "callback",
            Category::Other => "other",
        }
    }
}

/// What a code does to the lead: `final` (done), `recycle` (dial again
/// after `delay_seconds`), `callback` (at the `callback_at` given with the
/// disposition), `dnc` (writes an opt-out), `sale` (a conversion).
#[derive(Serialize, Deserialize, ToSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    Final,
    Recycle,
    Callback,
    Dnc,
    Sale,
}

impl Effect {
    fn as_str(self) -> &'static str {
        match self {
            Effect::Final => "final",
            Effect::Recycle => "recycle",
            Effect::Callback => "callback",
            Effect::Dnc => "dnc",
            Effect::Sale => "sale",
        }
    }
}

/// A disposition code.
#[derive(Serialize, ToSchema)]
pub struct DispositionCodeOut {
    pub id: Uuid,
    pub code: String,
    pub label: String,
    /// contact, no_contact, sale, dnc, callback or other.
    pub category: String,
    /// final, recycle, callback, dnc or sale.
    pub effect: String,
    /// The recycle delay (only with `recycle`).
    pub delay_seconds: Option<i32>,
    /// Only active codes can be given.
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<DispositionCodeRow> for DispositionCodeOut {
    fn from(r: DispositionCodeRow) -> Self {
        Self {
            id: r.id,
            code: r.code,
            label: r.label,
            category: r.category,
            effect: r.effect,
            delay_seconds: r.delay_seconds,
            active: r.active,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A new disposition code; `code` is 1-40 of `a-z 0-9 _ -`, unique in the
/// tenant. `delay_seconds` (1 to 30 days) is required with `recycle` and
/// refused otherwise.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDispositionCode {
    pub code: String,
    pub label: String,
    pub category: Category,
    pub effect: Effect,
    pub delay_seconds: Option<u32>,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// Changes to a disposition code (the code itself is fixed). Moving the
/// effect away from `recycle` drops the stored delay.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDispositionCode {
    pub label: Option<String>,
    pub category: Option<Category>,
    pub effect: Option<Effect>,
    pub delay_seconds: Option<u32>,
    pub active: Option<bool>,
}

/// The stored delay for `effect`: required with recycle, refused otherwise.
fn check_delay(effect: Effect, delay: Option<u32>) -> ApiResult<Option<i32>> {
    match (effect, delay) {
        (Effect::Recycle, Some(d)) if (1..=MAX_DELAY_SECONDS).contains(&d) => {
            Ok(Some(i32::try_from(d).map_err(ApiError::internal)?))
        }
        (Effect::Recycle, _) => Err(ApiError::field(
            "delay_seconds",
            "invalid_delay",
            "recycle needs delay_seconds from 1 to 2592000 (30 days)",
        )),
        (_, Some(_)) => Err(ApiError::field(
            "delay_seconds",
            "not_allowed",
            "delay_seconds goes only with the recycle effect",
        )),
        (_, None) => Ok(None),
    }
}

fn parse_effect(s: &str) -> ApiResult<Effect> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|e| ApiError::internal(format!("stored effect `{s}`: {e}")))
}

fn parse_category(s: &str) -> ApiResult<Category> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|e| ApiError::internal(format!("stored category `{s}`: {e}")))
}

/// The tenant's disposition codes (`agent_read`, or `agent_work` so agents
/// can pick one).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/disposition-codes", tag = "agents",
    params(("tenant_id" = Uuid, Path), PageQuery),
    responses((status = 200, body = PageOut<DispositionCodeOut>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_disposition_codes(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<PageOut<DispositionCodeOut>>> {
    require_any(&ctx, &[Permission::AgentRead, Permission::AgentWork])?;
    let rows = ctx
        .scoped(state.store.reader())
        .list_disposition_codes(&q.page()?)
        .await?;
    Ok(Json(PageOut::from_page(rows)))
}

/// Add a disposition code. A code the tenant already has is 409
/// `disposition_code_taken`.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/disposition-codes", tag = "agents",
    params(("tenant_id" = Uuid, Path)), request_body = CreateDispositionCode,
    responses((status = 201, body = DispositionCodeOut), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_disposition_code(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiJson(body): ApiJson<CreateDispositionCode>,
) -> ApiResult<(StatusCode, Json<DispositionCodeOut>)> {
    ctx.require(Permission::AgentManage)?;
    check_code(&body.code)?;
    check_label(&body.label)?;
    let delay_seconds = check_delay(body.effect, body.delay_seconds)?;
    let tx = state.store.begin().await?;
    let row = ctx
        .scoped(&tx)
        .create_disposition_code(NewDispositionCode {
            code: body.code,
            label: body.label,
            category: body.category.as_str().to_owned(),
            effect: body.effect.as_str().to_owned(),
            delay_seconds,
            active: body.active,
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => ApiError::conflict(
                "disposition_code_taken",
                "the tenant already has a disposition code with this code",
            ),
            e => e.into(),
        })?;
    let out = DispositionCodeOut::from(row);
    audit::record(
        &tx,
        ctx.audit(
            "disposition_code.created",
            "disposition_code",
            out.id,
            None,
            json(&out),
        ),
    )
    .await?;
    commit(tx).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// One disposition code.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/disposition-codes/{id}", tag = "agents",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)),
    responses((status = 200, body = DispositionCodeOut), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_disposition_code(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<DispositionCodeOut>> {
    require_any(&ctx, &[Permission::AgentRead, Permission::AgentWork])?;
    let row = ctx
        .scoped(state.store.reader())
        .get_disposition_code(ids.1)
        .await?;
    Ok(Json(row.into()))
}

/// Change a disposition code. The effect and its delay are checked
/// together after the change (a recycle code needs a delay; others have
/// none, so moving away from recycle drops it).
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant_id}/disposition-codes/{id}", tag = "agents",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)), request_body = UpdateDispositionCode,
    responses((status = 200, body = DispositionCodeOut), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_disposition_code(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<UpdateDispositionCode>,
) -> ApiResult<Json<DispositionCodeOut>> {
    ctx.require(Permission::AgentManage)?;
    if let Some(l) = &body.label {
        check_label(l)?;
    }
    let tx = state.store.begin().await?;
    let s = ctx.scoped(&tx);
    let cur = s.get_disposition_code(ids.1).await?;
    let effect = match body.effect {
        Some(e) => e,
        None => parse_effect(&cur.effect)?,
    };
    let delay = match (body.delay_seconds, effect) {
        (Some(d), _) => Some(d),
        // Keep the stored delay while the code stays a recycle code.
        (None, Effect::Recycle) => cur.delay_seconds.and_then(|d| u32::try_from(d).ok()),
        (None, _) => None,
    };
    let delay_seconds = check_delay(effect, delay)?;
    let category = match body.category {
        Some(c) => c,
        None => parse_category(&cur.category)?,
    };
    let (before, after) = s
        .update_disposition_code(
            ids.1,
            DispositionCodeChange {
                label: body.label.unwrap_or(cur.label),
                category: category.as_str().to_owned(),
                effect: effect.as_str().to_owned(),
                delay_seconds,
                active: body.active.unwrap_or(cur.active),
            },
        )
        .await?;
    let (before, out) = (
        DispositionCodeOut::from(before),
        DispositionCodeOut::from(after),
    );
    audit::record(
        &tx,
        ctx.audit(
            "disposition_code.updated",
            "disposition_code",
            out.id,
            json(&before),
            json(&out),
        ),
    )
    .await?;
    commit(tx).await?;
    Ok(Json(out))
}

/// Delete a disposition code: 204. A code a wrap-up was ended with is
/// deactivated instead (200 with the code, `active: false`).
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/disposition-codes/{id}", tag = "agents",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)),
    responses((status = 204), (status = 200, body = DispositionCodeOut),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_disposition_code(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Response> {
    ctx.require(Permission::AgentManage)?;
    let tx = state.store.begin().await?;
    let s = ctx.scoped(&tx);
    let row = s.get_disposition_code(ids.1).await?;
    if s.disposition_code_in_use(&row.code).await? {
        let change = DispositionCodeChange {
            label: row.label.clone(),
            category: row.category.clone(),
            effect: row.effect.clone(),
            delay_seconds: row.delay_seconds,
            active: false,
        };
        let (before, after) = s.update_disposition_code(ids.1, change).await?;
        let (before, out) = (
            DispositionCodeOut::from(before),
            DispositionCodeOut::from(after),
        );
        audit::record(
            &tx,
            ctx.audit(
                "disposition_code.deactivated",
                "disposition_code",
                out.id,
                json(&before),
                json(&out),
            ),
        )
        .await?;
        commit(tx).await?;
        return Ok((StatusCode::OK, Json(out)).into_response());
    }
    let before = DispositionCodeOut::from(s.delete_disposition_code(ids.1).await?);
    audit::record(
        &tx,
        ctx.audit(
            "disposition_code.deleted",
            "disposition_code",
            ids.1,
            json(&before),
            None,
        ),
    )
    .await?;
    commit(tx).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
