//! Outbound campaigns over HTTP: create/read/update/delete, the lifecycle
//! actions (start, pause, resume, stop, archive), the lists a campaign
//! dials, its hopper, leads, attempts and live statistics. Every change is
//! audited; settings are validated whole (every problem with its field).

use crate::auth::principal::TenantCtx;
use crate::dialer::{self, hopper};
use crate::error::{ApiError, ApiResult, ErrorBody, FieldError};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::routes::agents::agent_problem;
use crate::routes::dto::{PageOut, PageQuery, json};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use omnivox_dialer::campaign::{
    CampaignSettings, CampaignStatus, DialMode, LeadOrder, LifecycleAction,
};
use omnivox_domain::{Permission, TrunkId};
use omnivox_store::campaigns::{
    AttemptRow, CampaignChange, CampaignListRow, CampaignRow, LeadRow, NewCampaign, lead,
};
use omnivox_store::{PageRequest, Scoped, StoreError, audit, commit};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A campaign as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct CampaignOut {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    /// preview, progressive, power, predictive or agentless.
    pub mode: String,
    /// draft, scheduled, running, paused, stopping, completed or archived.
    pub status: String,
    /// `CampaignSettings`: see the README's campaign section.
    #[schema(value_type = Object)]
    pub settings: Value,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub status_changed_at: DateTime<Utc>,
}

fn campaign_out(c: CampaignRow) -> ApiResult<CampaignOut> {
    let settings: Value = serde_json::from_str(&c.settings)
        .map_err(|e| ApiError::internal(format!("stored campaign settings: {e}")))?;
    Ok(CampaignOut {
        id: c.id,
        name: c.name,
        description: c.description,
        mode: c.mode,
        status: c.status,
        settings,
        created_by: c.created_by,
        created_at: c.created_at,
        updated_at: c.updated_at,
        status_changed_at: c.status_changed_at,
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCampaign {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub mode: String,
    /// Omitted fields take their defaults.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub settings: Option<Value>,
}

/// A change; omitted fields stay. `settings` replaces the settings whole.
/// The mode changes only in draft.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCampaign {
    pub name: Option<String>,
    pub description: Option<String>,
    pub mode: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Value>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CampaignQuery {
    /// Only campaigns in this status.
    pub status: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u64>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LeadQuery {
    /// Only leads in this status (new, queued, dialing, waiting, deferred,
    /// denied, done).
    pub status: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachList {
    /// Lower first; lists of equal priority are mixed by weight.
    #[serde(default)]
    pub priority: i32,
    /// Share among lists of equal priority (1-100).
    #[serde(default = "one")]
    pub weight: i32,
}

fn one() -> i32 {
    1
}

#[derive(Serialize, ToSchema)]
pub struct CampaignListOut {
    pub list_id: Uuid,
    pub priority: i32,
    pub weight: i32,
    pub added_at: DateTime<Utc>,
}

impl From<CampaignListRow> for CampaignListOut {
    fn from(l: CampaignListRow) -> Self {
        Self {
            list_id: l.list_id,
            priority: l.priority,
            weight: l.weight,
            added_at: l.added_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CampaignListsOut {
    pub items: Vec<CampaignListOut>,
}

/// A lead's progress in the campaign.
#[derive(Serialize, ToSchema)]
pub struct LeadOut {
    pub contact_id: Uuid,
    pub list_id: Uuid,
    pub status: String,
    pub attempts: i32,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// waiting/deferred: not dialed before this.
    pub next_at: Option<DateTime<Utc>>,
    pub last_outcome: Option<String>,
    /// Why the compliance engine deferred or denied it.
    #[schema(value_type = Option<Object>)]
    pub reasons: Option<Value>,
    pub queued_at: Option<DateTime<Utc>>,
    /// A callback kept for this agent: only they get the lead.
    pub callback_agent: Option<Uuid>,
}

impl From<LeadRow> for LeadOut {
    fn from(l: LeadRow) -> Self {
        Self {
            contact_id: l.contact_id,
            list_id: l.list_id,
            status: l.status,
            attempts: l.attempts,
            last_attempt_at: l.last_attempt_at,
            next_at: l.next_at,
            last_outcome: l.last_outcome,
            reasons: l.reasons.and_then(|r| serde_json::from_str(&r).ok()),
            queued_at: l.queued_at,
            callback_agent: l.callback_agent,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct HopperOut {
    /// In dial order.
    pub items: Vec<LeadOut>,
}

#[derive(Serialize, ToSchema)]
pub struct AttemptOut {
    pub id: Uuid,
    pub contact_id: Uuid,
    pub phone: String,
    /// dialing, finished or interrupted.
    pub status: String,
    pub call_id: Option<Uuid>,
    pub outcome: Option<String>,
    pub sip_code: Option<i32>,
    pub disposition: Option<String>,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

impl From<AttemptRow> for AttemptOut {
    fn from(a: AttemptRow) -> Self {
        Self {
            id: a.id,
            contact_id: a.contact_id,
            phone: a.phone,
            status: a.status,
            call_id: a.call_id,
            outcome: a.outcome,
            sip_code: a.sip_code,
            disposition: a.disposition,
            started_at: a.started_at,
            ended_at: a.ended_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CampaignStats {
    pub status: String,
    /// Leads by status.
    pub leads: BTreeMap<String, u64>,
    pub hopper_depth: u64,
    pub in_flight: u64,
    /// Agents logged into the campaign, by state.
    pub agents: BTreeMap<String, u64>,
    /// Lines per working agent (available, on a call or in wrap-up) now;
    /// 1.0 at most in progressive mode.
    pub dial_level: f64,
    /// Over the last 24 hours (the UK rule's window).
    pub last_24h: AbandonFigures,
    /// Over the last 30 days (the US rule's window).
    pub last_30d: AbandonFigures,
}

/// Dials and abandonment over a window. `abandon_rate` is abandoned calls
/// over calls a person answered (connected or abandoned), in percent.
#[derive(Serialize, ToSchema)]
pub struct AbandonFigures {
    pub dials: u64,
    /// Attempts by outcome.
    pub outcomes: BTreeMap<String, u64>,
    pub answered: u64,
    pub abandoned: u64,
    pub abandon_rate: f64,
}

impl AbandonFigures {
    fn from_outcomes(outcomes: BTreeMap<String, u64>) -> Self {
        let get = |k: &str| outcomes.get(k).copied().unwrap_or(0);
        let abandoned = get("abandoned");
        let answered = get("normal") + abandoned;
        Self {
            dials: outcomes.values().sum(),
            answered,
            abandoned,
            abandon_rate: if answered == 0 {
                0.0
            } else {
                100.0 * abandoned as f64 / answered as f64
            },
            outcomes,
        }
    }
}

fn check_names(name: &str, description: &str) -> ApiResult<()> {
    let mut errors = Vec::new();
    if name.trim() != name || name.is_empty() || name.chars().count() > 100 {
        errors.push(FieldError::new(
            "name",
            "invalid_name",
            "1-100 characters, no leading or trailing space",
        ));
    }
    if description.chars().count() > 1000 {
        errors.push(FieldError::new(
            "description",
            "invalid_length",
            "at most 1000 characters",
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

fn parse_mode(mode: &str) -> ApiResult<DialMode> {
    DialMode::parse(mode).ok_or_else(|| {
        ApiError::field(
            "mode",
            "invalid_mode",
            "preview, progressive, power, predictive or agentless",
        )
    })
}

/// Parse and check settings against the mode, the tenant's prompt library
/// and trunks; every problem at once.
async fn checked_settings(
    scoped: &Scoped<'_, impl omnivox_store::ConnectionTrait>,
    mode: DialMode,
    raw: Option<Value>,
) -> ApiResult<CampaignSettings> {
    let settings: CampaignSettings = match raw {
        Some(v) => serde_json::from_value(v)
            .map_err(|e| ApiError::field("settings", "invalid_settings", e.to_string()))?,
        None => CampaignSettings::default(),
    };
    let mut errors: Vec<FieldError> = settings
        .problems(mode, &[])
        .into_iter()
        .map(|p| FieldError::new(&format!("settings.{}", p.field), "invalid", p.message))
        .collect();
    if let LeadOrder::CustomField { field, .. } = &settings.lead_order
        && !field.trim().is_empty()
        && !scoped
            .custom_fields()
            .await?
            .iter()
            .any(|f| &f.key == field)
    {
        errors.push(FieldError::new(
            "settings.lead_order.field",
            "unknown_field",
            format!("`{field}` is not a custom field of this organization"),
        ));
    }
    if let Err(e) = crate::dialer::automated::amd_config(&settings.amd).validate() {
        errors.push(FieldError::new("settings.amd", "invalid", e.to_string()));
    }
    let prompts = scoped.prompt_names().await?;
    for p in settings.prompts() {
        if !prompts.contains(p) {
            errors.push(FieldError::new(
                "settings",
                "unknown_prompt",
                format!("no prompt named `{p}` in the prompt library"),
            ));
        }
    }
    if let Some(t) = &settings.trunk_id {
        let known = match Uuid::parse_str(t) {
            Ok(id) => match scoped.get_trunk(TrunkId(id)).await {
                Ok(_) => true,
                Err(StoreError::NotFound) => false,
                Err(e) => return Err(e.into()),
            },
            Err(_) => false,
        };
        if !known {
            errors.push(FieldError::new(
                "settings.trunk_id",
                "unknown_trunk",
                "no such trunk in this tenant",
            ));
        }
    }
    if errors.is_empty() {
        Ok(settings)
    } else {
        Err(ApiError::Validation(errors))
    }
}

fn settings_text(s: &CampaignSettings) -> ApiResult<String> {
    serde_json::to_string(s).map_err(ApiError::internal)
}

fn name_taken(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(_) => ApiError::conflict(
            "campaign_name_taken",
            "a campaign with this name already exists",
        ),
        e => e.into(),
    }
}

/// Create a campaign (status `draft`).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/campaigns", tag = "campaigns",
    params(("tenant_id" = Uuid, Path)), request_body = CreateCampaign,
    responses((status = 201, body = CampaignOut), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_campaign(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiJson(body): ApiJson<CreateCampaign>,
) -> ApiResult<(StatusCode, Json<CampaignOut>)> {
    ctx.require(Permission::CampaignManage)?;
    check_names(&body.name, &body.description)?;
    let mode = parse_mode(&body.mode)?;
    let tx = state.store.begin().await?;
    let s = ctx.scoped(&tx);
    let settings = checked_settings(&s, mode, body.settings).await?;
    let row = s
        .create_campaign(NewCampaign {
            name: body.name,
            description: body.description,
            mode: mode.as_str().to_owned(),
            settings: settings_text(&settings)?,
            created_by: ctx.user_id(),
        })
        .await
        .map_err(name_taken)?;
    let out = campaign_out(row)?;
    audit::record(
        &tx,
        ctx.audit("campaign.created", "campaign", out.id, None, json(&out)),
    )
    .await?;
    commit(tx).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// The tenant's campaigns.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/campaigns", tag = "campaigns",
    params(("tenant_id" = Uuid, Path), CampaignQuery),
    responses((status = 200, body = PageOut<CampaignOut>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_campaigns(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiQuery(q): ApiQuery<CampaignQuery>,
) -> ApiResult<Json<PageOut<CampaignOut>>> {
    ctx.require(Permission::CampaignRead)?;
    if let Some(s) = &q.status
        && CampaignStatus::parse(s).is_none()
    {
        return Err(ApiError::field(
            "status",
            "invalid_status",
            "unknown status",
        ));
    }
    let page = PageQuery {
        cursor: q.cursor,
        limit: q.limit,
    }
    .page()?;
    let rows = ctx
        .scoped(state.store.reader())
        .list_campaigns(q.status.as_deref(), &page)
        .await?;
    let next_cursor = rows.next_cursor;
    let items = rows
        .items
        .into_iter()
        .map(campaign_out)
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Json(PageOut { items, next_cursor }))
}

/// One campaign.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/campaigns/{campaign_id}", tag = "campaigns",
    params(("tenant_id" = Uuid, Path), ("campaign_id" = Uuid, Path)),
    responses((status = 200, body = CampaignOut), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_campaign(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<CampaignOut>> {
    ctx.require(Permission::CampaignRead)?;
    let row = ctx.scoped(state.store.reader()).get_campaign(ids.1).await?;
    Ok(Json(campaign_out(row)?))
}

/// Change a campaign (not when archived; the mode only in draft).
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant_id}/campaigns/{campaign_id}", tag = "campaigns",
    params(("tenant_id" = Uuid, Path), ("campaign_id" = Uuid, Path)), request_body = UpdateCampaign,
    responses((status = 200, body = CampaignOut), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_campaign(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<UpdateCampaign>,
) -> ApiResult<Json<CampaignOut>> {
    ctx.require(Permission::CampaignManage)?;
    let tx = state.store.begin().await?;
    let s = ctx.scoped(&tx);
    let before = s.get_campaign(ids.1).await?;
    let status = CampaignStatus::parse(&before.status)
        .ok_or_else(|| ApiError::internal("stored campaign status"))?;
    if !status.is_editable() {
        return Err(ApiError::conflict(
            "campaign_archived",
            "an archived campaign cannot change",
        ));
    }
    check_names(
        body.name.as_deref().unwrap_or(&before.name),
        body.description.as_deref().unwrap_or(&before.description),
    )?;
    let mode = match &body.mode {
        Some(m) => {
            let m = parse_mode(m)?;
            if m.as_str() != before.mode && status != CampaignStatus::Draft {
                return Err(ApiError::conflict(
                    "campaign_not_draft",
                    "the mode changes only while the campaign is a draft",
                ));
            }
            m
        }
        None => hopper::mode_of(&before)?,
    };
    // A new mode is checked against the stored settings too.
    let settings = match (body.settings, &body.mode) {
        (Some(v), _) => Some(settings_text(&checked_settings(&s, mode, Some(v)).await?)?),
        (None, Some(_)) => {
            let stored: Value =
                serde_json::from_str(&before.settings).map_err(ApiError::internal)?;
            checked_settings(&s, mode, Some(stored)).await?;
            None
        }
        (None, None) => None,
    };
    let row = s
        .update_campaign(
            ids.1,
            CampaignChange {
                name: body.name,
                description: body.description,
                mode: body.mode.map(|_| mode.as_str().to_owned()),
                settings,
            },
        )
        .await
        .map_err(name_taken)?;
    let before = campaign_out(before)?;
    let out = campaign_out(row)?;
    audit::record(
        &tx,
        ctx.audit(
            "campaign.updated",
            "campaign",
            out.id,
            json(&before),
            json(&out),
        ),
    )
    .await?;
    commit(tx).await?;
    Ok(Json(out))
}

/// Delete a draft that never dialed; other campaigns are archived instead.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/campaigns/{campaign_id}", tag = "campaigns",
    params(("tenant_id" = Uuid, Path), ("campaign_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_campaign(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    ctx.require(Permission::CampaignManage)?;
    let tx = state.store.begin().await?;
    let s = ctx.scoped(&tx);
    let row = s.get_campaign(ids.1).await?;
    if row.status != CampaignStatus::Draft.as_str()
        || !s
            .list_attempts(row.id, None, &PageRequest::first(1))
            .await?
            .items
            .is_empty()
    {
        return Err(ApiError::conflict(
            "campaign_in_use",
            "only a draft that never dialed can be deleted; archive this one",
        ));
    }
    s.delete_campaign(row.id).await?;
    audit::record(
        &tx,
        ctx.audit(
            "campaign.deleted",
            "campaign",
            row.id,
            json(&campaign_out(row)?),
            None,
        ),
    )
    .await?;
    commit(tx).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn lifecycle(
    state: AppState,
    ctx: TenantCtx,
    id: Uuid,
    action: LifecycleAction,
) -> ApiResult<Json<CampaignOut>> {
    ctx.require(Permission::CampaignManage)?;
    let reader = ctx.scoped(state.store.reader());
    let row = reader.get_campaign(id).await?;
    let status = CampaignStatus::parse(&row.status)
        .ok_or_else(|| ApiError::internal("stored campaign status"))?;
    let settings = hopper::settings_of(&row)?;
    let now = state.clock.now();
    if matches!(action, LifecycleAction::Start | LifecycleAction::Resume) {
        if reader.campaign_lists(id).await?.is_empty() {
            return Err(ApiError::unprocessable(
                "campaign_without_lists",
                "attach at least one list before starting the campaign",
            ));
        }
        // Settings are checked again: a prompt may have gone since.
        let stored: Value = serde_json::from_str(&row.settings).map_err(ApiError::internal)?;
        checked_settings(&reader, hopper::mode_of(&row)?, Some(stored)).await?;
        if settings.schedule.end_at.is_some_and(|t| t <= now) {
            return Err(ApiError::unprocessable(
                "campaign_schedule_over",
                "the campaign's schedule ended; change schedule.end_at first",
            ));
        }
    }
    let in_flight = reader.attempts_in_flight(id).await? > 0;
    let start_in_future = settings.schedule.start_at.is_some_and(|t| t > now);
    let to = status
        .after(action, start_in_future, in_flight)
        .map_err(|m| ApiError::conflict("invalid_transition", m))?;
    let tx = state.store.begin().await?;
    let updated = ctx
        .scoped(&tx)
        .set_campaign_status(id, &row.status, to.as_str())
        .await
        .map_err(|e| match e {
            StoreError::Conflict(m) => ApiError::conflict("invalid_transition", m),
            e => e.into(),
        })?;
    let out = campaign_out(updated.clone())?;
    audit::record(
        &tx,
        ctx.audit(
            &format!("campaign.{}", to.as_str()),
            "campaign",
            id,
            Some(serde_json::json!({"status": row.status})),
            Some(serde_json::json!({"status": to.as_str()})),
        ),
    )
    .await?;
    commit(tx).await?;
    dialer::publish_status(&state, ctx.tenant, id, &row.status, to.as_str());
    // A started campaign gets its first hopper at once.
    if to == CampaignStatus::Running {
        hopper::fill(&state, ctx.tenant, &updated, now).await?;
    }
    Ok(Json(out))
}

macro_rules! lifecycle_route {
    ($fn:ident, $path:literal, $action:expr, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "campaigns",
                    params(("tenant_id" = Uuid, Path), ("campaign_id" = Uuid, Path)),
                    responses((status = 200, body = CampaignOut), (status = 404, body = ErrorBody),
                        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
                    security(("bearer" = [])))]
        pub async fn $fn(
            State(state): State<AppState>,
            ctx: TenantCtx,
            ApiPath(ids): ApiPath<(Uuid, Uuid)>,
        ) -> ApiResult<Json<CampaignOut>> {
            lifecycle(state, ctx, ids.1, $action).await
        }
    };
}

lifecycle_route!(
    start_campaign,
    "/api/v1/tenants/{tenant_id}/campaigns/{campaign_id}/start",
    LifecycleAction::Start,
    "Start a campaign: running now, or scheduled until `settings.schedule.start_at`."
);
lifecycle_route!(
    pause_campaign,
    "/api/v1/tenants/{tenant_id}/campaigns/{campaign_id}/pause",
    LifecycleAction::Pause,
    "Pause dialing; calls in flight go on, the hopper is kept."
);
lifecycle_route!(
    resume_campaign,
    "/api/v1/tenants/{tenant_id}/campaigns/{campaign_id}/resume",
    LifecycleAction::Resume,
    "Resume a paused campaign."
);
lifecycle_route!(
    stop_campaign,
    "/api/v1/tenants/{tenant_id}/campaigns/{campaign_id}/stop",
    LifecycleAction::Stop,
    "Stop: no new dials; `stopping` until calls in flight end, then `completed`."
);
lifecycle_route!(
    archive_campaign,
    "/api/v1/tenants/{tenant_id}/campaigns/{campaign_id}/archive",
    LifecycleAction::Archive,
    "Archive a draft or completed campaign (read-only from then on)."
);

/// Attach a list to the campaign, or change its priority and weight.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant_id}/campaigns/{campaign_id}/lists/{list_id}", tag = "campaigns",
    params(("tenant_id" = Uuid, Path), ("campaign_id" = Uuid, Path), ("list_id" = Uuid, Path)),
    request_body = AttachList,
    responses((status = 200, body = CampaignListOut), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn attach_list(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid, Uuid)>,
    ApiJson(body): ApiJson<AttachList>,
) -> ApiResult<Json<CampaignListOut>> {
    ctx.require(Permission::CampaignManage)?;
    if !(1..=100).contains(&body.weight) {
        return Err(ApiError::field("weight", "invalid_weight", "1-100"));
    }
    if !(-1000..=1000).contains(&body.priority) {
        return Err(ApiError::field(
            "priority",
            "invalid_priority",
            "-1000 to 1000",
        ));
    }
    let tx = state.store.begin().await?;
    let s = ctx.scoped(&tx);
    let c = s.get_campaign(ids.1).await?;
    if c.status == CampaignStatus::Archived.as_str() {
        return Err(ApiError::conflict(
            "campaign_archived",
            "an archived campaign cannot change",
        ));
    }
    s.get_list(ids.2).await?;
    let row = s
        .attach_list(ids.1, ids.2, body.priority, body.weight)
        .await?;
    let out = CampaignListOut::from(row);
    audit::record(
        &tx,
        ctx.audit(
            "campaign.list_attached",
            "campaign",
            ids.1,
            None,
            json(&out),
        ),
    )
    .await?;
    commit(tx).await?;
    Ok(Json(out))
}

/// Detach a list; its leads not being dialed leave the campaign.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/campaigns/{campaign_id}/lists/{list_id}", tag = "campaigns",
    params(("tenant_id" = Uuid, Path), ("campaign_id" = Uuid, Path), ("list_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn detach_list(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    ctx.require(Permission::CampaignManage)?;
    let tx = state.store.begin().await?;
    let s = ctx.scoped(&tx);
    s.get_campaign(ids.1).await?;
    s.detach_list(ids.1, ids.2).await?;
    audit::record(
        &tx,
        ctx.audit(
            "campaign.list_detached",
            "campaign",
            ids.1,
            Some(serde_json::json!({"list_id": ids.2})),
            None,
        ),
    )
    .await?;
    commit(tx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The lists a campaign dials, by priority.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/campaigns/{campaign_id}/lists", tag = "campaigns",
    params(("tenant_id" = Uuid, Path), ("campaign_id" = Uuid, Path)),
    responses((status = 200, body = CampaignListsOut), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_campaign_lists(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<CampaignListsOut>> {
    ctx.require(Permission::CampaignRead)?;
    let s = ctx.scoped(state.store.reader());
    s.get_campaign(ids.1).await?;
    let items = s
        .campaign_lists(ids.1)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(CampaignListsOut { items }))
}

/// The hopper: leads checked and ready, in dial order.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/campaigns/{campaign_id}/hopper", tag = "campaigns",
    params(("tenant_id" = Uuid, Path), ("campaign_id" = Uuid, Path), PageQuery),
    responses((status = 200, body = HopperOut), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_hopper(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<HopperOut>> {
    ctx.require(Permission::CampaignRead)?;
    let s = ctx.scoped(state.store.reader());
    s.get_campaign(ids.1).await?;
    let limit = q.page()?.limit;
    let items = s
        .hopper(ids.1, limit)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(HopperOut { items }))
}

/// Top the hopper up now (the supervisor does it every few seconds).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/campaigns/{campaign_id}/hopper/fill", tag = "campaigns",
    params(("tenant_id" = Uuid, Path), ("campaign_id" = Uuid, Path)),
    responses((status = 200, body = hopper::FillReport), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn fill_hopper(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<hopper::FillReport>> {
    ctx.require(Permission::CampaignManage)?;
    let row = ctx.scoped(state.store.reader()).get_campaign(ids.1).await?;
    if !matches!(row.status.as_str(), "running" | "paused" | "scheduled") {
        return Err(ApiError::conflict(
            "campaign_not_started",
            "only a started campaign has a hopper",
        ));
    }
    Ok(Json(
        hopper::fill(&state, ctx.tenant, &row, state.clock.now()).await?,
    ))
}

/// The campaign's leads and their progress.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/campaigns/{campaign_id}/leads", tag = "campaigns",
    params(("tenant_id" = Uuid, Path), ("campaign_id" = Uuid, Path), LeadQuery),
    responses((status = 200, body = PageOut<LeadOut>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_leads(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiQuery(q): ApiQuery<LeadQuery>,
) -> ApiResult<Json<PageOut<LeadOut>>> {
    ctx.require(Permission::CampaignRead)?;
    if let Some(st) = &q.status
        && !lead::ALL.contains(&st.as_str())
    {
        return Err(ApiError::field(
            "status",
            "invalid_status",
            "unknown lead status",
        ));
    }
    let page = PageQuery {
        cursor: q.cursor,
        limit: q.limit,
    }
    .page()?;
    let s = ctx.scoped(state.store.reader());
    s.get_campaign(ids.1).await?;
    let rows = s.list_leads(ids.1, q.status.as_deref(), &page).await?;
    Ok(Json(PageOut {
        next_cursor: rows.next_cursor,
        items: rows.items.into_iter().map(Into::into).collect(),
    }))
}

/// Who a kept callback is for.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReassignCallback {
    /// The agent to keep it for, or `null` for anyone. Required.
    #[serde(default, deserialize_with = "crate::routes::dto::nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub callback_agent: Option<Option<Uuid>>,
}

/// Hand a callback kept for an agent (who left, or is away) to another
/// agent, or to anyone. Only a callback still waiting or in the hopper
/// changes: 409 `not_a_kept_callback` otherwise.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant_id}/campaigns/{campaign_id}/leads/{contact_id}/callback_agent", tag = "campaigns",
    params(("tenant_id" = Uuid, Path), ("campaign_id" = Uuid, Path), ("contact_id" = Uuid, Path)),
    request_body = ReassignCallback,
    responses((status = 200, body = LeadOut), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn reassign_callback(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid, Uuid)>,
    ApiJson(body): ApiJson<ReassignCallback>,
) -> ApiResult<Json<LeadOut>> {
    ctx.require(Permission::CampaignManage)?;
    let (_, campaign, contact) = ids;
    let Some(agent) = body.callback_agent else {
        return Err(ApiError::field(
            "callback_agent",
            "required",
            "an agent id, or null for anyone",
        ));
    };
    let tx = state.store.begin().await?;
    let s = ctx.scoped(&tx);
    s.get_campaign(campaign).await?;
    let before = s.get_lead(campaign, contact).await?;
    if let Some(agent) = agent
        && let Some(problem) = agent_problem(&s, "callback_agent", agent).await?
    {
        return Err(ApiError::Validation(vec![problem]));
    }
    if !s.reassign_callback(campaign, contact, agent).await? {
        return Err(ApiError::conflict(
            "not_a_kept_callback",
            "the lead is not a callback kept for an agent, or it is being dialed",
        ));
    }
    let after = LeadOut::from(s.get_lead(campaign, contact).await?);
    audit::record(
        &tx,
        ctx.audit(
            "campaign.callback_reassigned",
            "campaign",
            campaign,
            json(&LeadOut::from(before)),
            json(&after),
        ),
    )
    .await?;
    commit(tx).await?;
    Ok(Json(after))
}

/// The campaign's dial attempts, newest first (at most `limit`).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/campaigns/{campaign_id}/attempts", tag = "campaigns",
    params(("tenant_id" = Uuid, Path), ("campaign_id" = Uuid, Path), PageQuery),
    responses((status = 200, body = PageOut<AttemptOut>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_attempts(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<PageOut<AttemptOut>>> {
    ctx.require(Permission::CampaignRead)?;
    let s = ctx.scoped(state.store.reader());
    s.get_campaign(ids.1).await?;
    Ok(Json(PageOut::from_page(
        s.list_attempts(ids.1, None, &q.page()?).await?,
    )))
}

/// Live figures: leads by status, hopper depth, calls in flight.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/campaigns/{campaign_id}/stats", tag = "campaigns",
    params(("tenant_id" = Uuid, Path), ("campaign_id" = Uuid, Path)),
    responses((status = 200, body = CampaignStats), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn campaign_stats(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<CampaignStats>> {
    ctx.require(Permission::CampaignRead)?;
    let s = ctx.scoped(state.store.reader());
    let c = s.get_campaign(ids.1).await?;
    let leads = s.lead_counts(ids.1).await?;
    let now = state.clock.now();
    let window = |d: chrono::TimeDelta| s.outcome_counts_since(ids.1, now - d);
    let last_24h = AbandonFigures::from_outcomes(window(chrono::TimeDelta::hours(24)).await?);
    let last_30d = AbandonFigures::from_outcomes(window(chrono::TimeDelta::days(30)).await?);
    let agents = state
        .agents
        .campaign_agent_states(&state, ctx.tenant, ids.1)
        .await?;
    let working: u64 = ["available", "reserved", "on_call", "wrap_up"]
        .iter()
        .map(|k| agents.get(*k).copied().unwrap_or(0))
        .sum();
    let in_flight = s.attempts_in_flight(ids.1).await?;
    Ok(Json(CampaignStats {
        status: c.status,
        hopper_depth: leads.get(lead::QUEUED).copied().unwrap_or(0),
        in_flight,
        dial_level: if working == 0 {
            0.0
        } else {
            in_flight as f64 / working as f64
        },
        agents,
        leads,
        last_24h,
        last_30d,
    }))
}
