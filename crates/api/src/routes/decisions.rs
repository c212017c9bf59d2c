//! The dial decision over HTTP: dry runs, the stored decisions of a contact,
//! the tenant's own calling rules, national DNC registries.

use crate::auth::principal::TenantCtx;
use crate::compliance::{CampaignInput, decide_for, load_registry};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::imports::upload::{save_body, upload_path};
use crate::routes::dto::{PageOut, PageQuery, json};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use omnivox_domain::Permission;
use omnivox_store::decisions::{DialDecision, TenantCompliance};
use omnivox_store::dnc::{DncRegistry, NewRegistry};
use omnivox_store::{audit, commit};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct DecideRequest {
    /// One of the contact's numbers; default the first.
    pub phone: Option<String>,
    #[serde(default)]
    pub campaign: CampaignInput,
    /// The instant to decide for; default now.
    pub at: Option<DateTime<Utc>>,
    /// Store the decision as one acted on (a dial that happens): it counts as
    /// an attempt in later decisions. Default false: a dry run, not stored.
    #[serde(default)]
    pub act: bool,
}

#[derive(Serialize, ToSchema)]
pub struct DecisionOut {
    pub phone: String,
    /// allow, deny or defer.
    pub outcome: String,
    /// For `defer`: the earliest instant the dial becomes allowed.
    pub defer_until: Option<DateTime<Utc>>,
    #[schema(value_type = Vec<Object>)]
    pub reasons: serde_json::Value,
    /// Which checks ran, which rules applied, warnings (e.g. a stale registry).
    #[schema(value_type = Object)]
    pub audit: serde_json::Value,
    pub rule_set_version: String,
    pub stored: bool,
}

/// Ask the compliance engine whether a contact's number may be dialed, and why.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/contacts/{contact_id}/decide", tag = "compliance",
    params(("tenant_id" = Uuid, Path), ("contact_id" = Uuid, Path)), request_body = DecideRequest,
    responses((status = 200, body = DecisionOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn decide(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiJson(req): ApiJson<DecideRequest>,
) -> ApiResult<Json<DecisionOut>> {
    ctx.require(Permission::ComplianceRead)?;
    if req.act {
        ctx.require(Permission::ContactManage)?;
    }
    let at = req.at.unwrap_or_else(omnivox_store::now);
    let (phone, d) = decide_for(
        &state,
        ctx.tenant,
        ids.1,
        req.phone.as_deref(),
        &req.campaign,
        at,
        req.act,
    )
    .await?;
    Ok(Json(DecisionOut {
        phone,
        outcome: d.outcome().to_owned(),
        defer_until: d.deferred_until(),
        reasons: serde_json::to_value(d.reasons()).map_err(ApiError::internal)?,
        audit: serde_json::to_value(d.audit()).map_err(ApiError::internal)?,
        rule_set_version: d.rule_set_version().to_owned(),
        stored: req.act,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct StoredDecisionOut {
    pub id: Uuid,
    pub phone: String,
    pub campaign_id: Option<Uuid>,
    pub outcome: String,
    pub defer_until: Option<DateTime<Utc>>,
    #[schema(value_type = Vec<Object>)]
    pub reasons: serde_json::Value,
    pub rule_set_version: String,
    pub decided_at: DateTime<Utc>,
}

impl From<DialDecision> for StoredDecisionOut {
    fn from(d: DialDecision) -> Self {
        Self {
            id: d.id,
            phone: d.phone,
            campaign_id: d.campaign_id,
            outcome: d.outcome,
            defer_until: d.defer_until,
            reasons: d.reasons,
            rule_set_version: d.rule_set_version,
            decided_at: d.decided_at,
        }
    }
}

/// The decisions acted on for a contact, newest first: why it was called
/// when it was, and why not.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/contacts/{contact_id}/decisions", tag = "compliance",
    params(("tenant_id" = Uuid, Path), ("contact_id" = Uuid, Path), PageQuery),
    responses((status = 200, body = PageOut<StoredDecisionOut>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn decisions(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<PageOut<StoredDecisionOut>>> {
    ctx.require(Permission::ComplianceRead)?;
    let scoped = ctx.scoped(state.store.reader());
    scoped.get_contact(ids.1).await?;
    Ok(Json(PageOut::from_page(
        scoped.decisions_for(ids.1, &q.page()?).await?,
    )))
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplianceSettings {
    /// Stricter calling hours in the called party's local time, e.g.
    /// `mon-fri 09:00-20:00; sat 10:00-14:00` (unnamed days are closed).
    /// None: the law's hours only.
    pub calling_hours: Option<String>,
    /// Dates with no calls.
    #[serde(default)]
    pub holidays: Vec<NaiveDate>,
    /// `called_party` (their local date) or `tenant` (the tenant's date).
    #[serde(default = "called_party")]
    pub holiday_zone: String,
}

fn called_party() -> String {
    "called_party".into()
}

impl From<TenantCompliance> for ComplianceSettings {
    fn from(t: TenantCompliance) -> Self {
        Self {
            calling_hours: t.calling_hours,
            holidays: serde_json::from_value(t.holidays).unwrap_or_default(),
            holiday_zone: t.holiday_zone,
        }
    }
}

/// The tenant's own calling rules.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/compliance", tag = "compliance",
    params(("tenant_id" = Uuid, Path)),
    responses((status = 200, body = ComplianceSettings)),
    security(("bearer" = [])))]
pub async fn get_settings(
    State(state): State<AppState>,
    ctx: TenantCtx,
) -> ApiResult<Json<ComplianceSettings>> {
    ctx.require(Permission::ComplianceRead)?;
    Ok(Json(
        ctx.scoped(state.store.reader())
            .tenant_compliance()
            .await?
            .into(),
    ))
}

/// Replace the tenant's own calling rules (they can only make calling stricter).
#[utoipa::path(put, path = "/api/v1/tenants/{tenant_id}/compliance", tag = "compliance",
    params(("tenant_id" = Uuid, Path)), request_body = ComplianceSettings,
    responses((status = 200, body = ComplianceSettings), (status = 400, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_settings(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiJson(req): ApiJson<ComplianceSettings>,
) -> ApiResult<Json<ComplianceSettings>> {
    ctx.require(Permission::TenantUpdate)?;
    if let Some(spec) = &req.calling_hours
        && let Err(e) = omnivox_compliance::WeekHours::parse(spec)
    {
        return Err(ApiError::field(
            "calling_hours",
            "invalid_hours",
            e.to_string(),
        ));
    }
    if !matches!(req.holiday_zone.as_str(), "called_party" | "tenant") {
        return Err(ApiError::field(
            "holiday_zone",
            "invalid_value",
            "called_party or tenant",
        ));
    }
    let tx = state.store.begin().await?;
    let scoped = ctx.scoped(&tx);
    let before = ComplianceSettings::from(scoped.tenant_compliance().await?);
    let after = ComplianceSettings::from(
        scoped
            .set_tenant_compliance(
                req.calling_hours,
                serde_json::json!(req.holidays),
                &req.holiday_zone,
            )
            .await?,
    );
    audit::record(
        &tx,
        ctx.audit(
            "compliance.updated",
            "tenant",
            ctx.tenant,
            json(&before),
            json(&after),
        ),
    )
    .await?;
    commit(tx).await?;
    Ok(Json(after))
}

#[derive(Serialize, ToSchema)]
pub struct RegistryOut {
    pub id: Uuid,
    pub name: String,
    pub entries: i64,
    /// Lines that were not a 10-digit number (headers, junk).
    pub rejected_lines: i64,
    pub refreshed_at: DateTime<Utc>,
    /// Older than 31 days: the US registry must be refreshed.
    pub stale: bool,
    pub created_at: DateTime<Utc>,
}

impl From<DncRegistry> for RegistryOut {
    fn from(r: DncRegistry) -> Self {
        Self {
            stale: r.refreshed_at < Utc::now() - chrono::Duration::days(31),
            id: r.id,
            name: r.name,
            entries: r.entries,
            rejected_lines: r.rejected_lines,
            refreshed_at: r.refreshed_at,
            created_at: r.created_at,
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RegistryQuery {
    /// e.g. `us_national_dnc`; a new upload of a name replaces the old one.
    pub name: String,
    /// When the registry data was downloaded; default now.
    pub refreshed_at: Option<DateTime<Utc>>,
}

/// Load a national DNC registry file (one 10-digit number per line; tens of
/// millions of lines are fine). It applies to decisions at once.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/dnc/registries", tag = "compliance",
    params(("tenant_id" = Uuid, Path), RegistryQuery),
    request_body(content = String, content_type = "text/plain"),
    responses((status = 201, body = RegistryOut), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn upload_registry(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiQuery(q): ApiQuery<RegistryQuery>,
    req: Request,
) -> ApiResult<(StatusCode, Json<RegistryOut>)> {
    ctx.require(Permission::DncManage)?;
    if q.name.is_empty()
        || q.name.len() > 64
        || !q
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(ApiError::field(
            "name",
            "invalid_name",
            "letters, digits and _ (at most 64)",
        ));
    }
    let refreshed_at = q.refreshed_at.unwrap_or_else(omnivox_store::now);
    let id = Uuid::now_v7();
    let path = upload_path(&state.config.storage.data_dir, ctx.tenant.0, "dnc", id);
    save_body(
        req.into_body(),
        &path,
        state.config.imports.max_upload_bytes,
    )
    .await?;
    let path_s = path.to_string_lossy().into_owned();
    let (dnc, accepted, junk) =
        match load_registry(path_s.clone(), q.name.clone(), refreshed_at).await {
            Ok(v) => v,
            Err(e) => {
                let _ = tokio::fs::remove_file(&path).await;
                return Err(e);
            }
        };
    if accepted == 0 {
        let _ = tokio::fs::remove_file(&path).await;
        return Err(ApiError::bad_request(
            "empty_registry",
            "the file has no 10-digit numbers",
        ));
    }
    let tx = state.store.begin().await?;
    let row = ctx
        .scoped(&tx)
        .add_registry(NewRegistry {
            name: &q.name,
            entries: accepted as i64,
            rejected_lines: junk as i64,
            stored_path: &path_s,
            refreshed_at,
        })
        .await?;
    let out = RegistryOut::from(row);
    audit::record(
        &tx,
        ctx.audit(
            "dnc.registry_loaded",
            "dnc_registry",
            out.id,
            None,
            json(&out),
        ),
    )
    .await?;
    commit(tx).await?;
    state.compliance.keep_registry(out.id, Arc::new(dnc));
    state.compliance.forget(ctx.tenant);
    Ok((StatusCode::CREATED, Json(out)))
}

/// The tenant's national registries, newest first.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/dnc/registries", tag = "compliance",
    params(("tenant_id" = Uuid, Path)),
    responses((status = 200, body = Vec<RegistryOut>)),
    security(("bearer" = [])))]
pub async fn list_registries(
    State(state): State<AppState>,
    ctx: TenantCtx,
) -> ApiResult<Json<Vec<RegistryOut>>> {
    ctx.require(Permission::ComplianceRead)?;
    let rows = ctx.scoped(state.store.reader()).registries().await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}
