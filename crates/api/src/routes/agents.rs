//! Agents over HTTP: the tenant's members with their agent profile and live
//! state, profile changes (skills with levels, wrap-up), state changes
//! through the ACD (`crate::agents`), the state history, finishing wrap-up
//! with a disposition, and the tenant's not-ready reason codes.
//!
//! `{user_id}` is a user id or `me` (the signed-in caller). Agents change
//! only their own state (`agent_work`); supervisors change anyone's
//! (`agent_manage`).

use crate::auth::principal::TenantCtx;
use crate::error::{ApiError, ApiResult, ErrorBody, FieldError};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::routes::dto::{PageOut, PageQuery, UserOut, json, page_request};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDateTime, Utc};
use omnivox_acd::{AgentState, CampaignRef, Event, ReasonCode};
use omnivox_domain::ids::QueueId;
use omnivox_domain::{Permission, Role, UserId};
use omnivox_store::agents::{
    AgentProfileRow, AgentStateRow, HistoryFilter, NewAgentProfile, NewReasonCode,
    ReasonCodeChange, ReasonCodeRow,
};
use omnivox_store::{ConnectionTrait, Scoped, StoreError, audit, commit};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::agents::{parse_skills, state_call, state_name, state_reason};

// ------------------------------------------------------------------ types --

/// An agent's settings.
#[derive(Serialize, ToSchema)]
pub struct AgentProfileOut {
    /// Skill name -> level (1..10).
    pub skills: BTreeMap<String, u8>,
    /// Wrap-up after a call, in seconds (0: none).
    pub wrap_up_seconds: i32,
    /// Whether wrap-up ends only with a disposition code.
    pub disposition_required: bool,
    /// Missed offers in a row before `not_ready(missed_offers)`; 0 = never.
    pub max_missed_offers: i32,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<AgentProfileRow> for AgentProfileOut {
    type Error = ApiError;
    fn try_from(p: AgentProfileRow) -> ApiResult<Self> {
        let skills = parse_skills(&p.skills)?
            .into_iter()
            .map(|(s, l)| (s.0, l.get()))
            .collect();
        Ok(Self {
            skills,
            wrap_up_seconds: p.wrap_up_seconds,
            disposition_required: p.disposition_required,
            max_missed_offers: p.max_missed_offers,
            updated_at: p.updated_at,
        })
    }
}

/// Where an agent is now.
#[derive(Serialize, ToSchema)]
pub struct AgentStateOut {
    pub user_id: Uuid,
    /// logged_out, available, reserved, on_call, wrap_up or not_ready.
    pub state: String,
    /// The not-ready reason code.
    pub reason: Option<String>,
    /// The call of reserved, on_call and wrap_up.
    pub call_id: Option<Uuid>,
    /// In wrap-up: whether it ends only with a disposition.
    pub disposition_required: Option<bool>,
}

fn state_out(user: Uuid, s: &AgentState) -> AgentStateOut {
    AgentStateOut {
        user_id: user,
        state: state_name(s).to_owned(),
        reason: state_reason(s),
        call_id: state_call(s),
        disposition_required: match s {
            AgentState::WrapUp {
                disposition_required,
                ..
            } => Some(*disposition_required),
            _ => None,
        },
    }
}

/// A member with their agent profile (null when none was set) and state.
#[derive(Serialize, ToSchema)]
pub struct AgentOut {
    pub user: UserOut,
    pub role: Role,
    pub profile: Option<AgentProfileOut>,
    pub state: AgentStateOut,
}

/// An agent's settings. Levels must be 1..10.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutProfile {
    /// Skill name (1-50 of `a-z 0-9 _ - .`) -> level 1..10.
    #[serde(default)]
    pub skills: BTreeMap<String, i64>,
    /// 0..3600, default 30.
    #[serde(default = "default_wrap_up")]
    pub wrap_up_seconds: u32,
    #[serde(default)]
    pub disposition_required: bool,
    /// 0..100 (0 = never), default 3.
    #[serde(default = "default_max_missed")]
    pub max_missed_offers: u32,
}

fn default_wrap_up() -> u32 {
    30
}

fn default_max_missed() -> u32 {
    3
}

/// The state an agent asks for.
#[derive(Deserialize, ToSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum WantedState {
    Available,
    NotReady,
    LoggedOut,
}

/// A state change. `reason` (an active reason code) is required for
/// `not_ready` and refused otherwise.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeState {
    pub state: WantedState,
    pub reason: Option<String>,
    /// Campaigns to take outbound lines of, when logging in (`available`
    /// from logged out); each must be a campaign of the tenant.
    #[serde(default)]
    pub campaigns: Vec<Uuid>,
    /// Queues to take inbound calls of, when logging in; each must be a
    /// queue of the tenant.
    #[serde(default)]
    pub queues: Vec<Uuid>,
}

fn campaigns_at_login(field: &str) -> ApiError {
    ApiError::field(
        field,
        "not_allowed",
        format!("{field} are chosen when logging in (available from logged out)"),
    )
}

/// End a wrap-up. `disposition` is an active disposition code (required
/// when the wrap-up says so). A code whose effect is `callback` needs the
/// time, as `callback_at` (an instant) or `callback_local` (a wall-clock
/// time where the contact lives), and may keep the callback for the agent
/// (`callback_for`); these fields are refused with other codes.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct FinishWrapUp {
    pub disposition: Option<String>,
    pub callback_at: Option<DateTime<Utc>>,
    /// The contact's local time, e.g. `2026-11-24T15:00:00` (campaign
    /// calls: the zone comes from the dialed number and the address).
    #[schema(value_type = Option<String>, example = "2026-11-24T15:00:00")]
    pub callback_local: Option<NaiveDateTime>,
    /// Who calls back: `anyone` (default) or `agent` (only the agent whose
    /// wrap-up this is).
    pub callback_for: Option<CallbackFor>,
}

/// Who gets a campaign callback.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallbackFor {
    #[default]
    Anyone,
    Agent,
}

impl FinishWrapUp {
    /// The callback fields given, by name (refused without a callback code).
    fn callback_fields(&self) -> Option<&'static str> {
        if self.callback_at.is_some() {
            Some("callback_at")
        } else if self.callback_local.is_some() {
            Some("callback_local")
        } else if self.callback_for.is_some() {
            Some("callback_for")
        } else {
            None
        }
    }
}

/// One state an agent entered.
#[derive(Serialize, ToSchema)]
pub struct AgentHistoryItem {
    pub id: Uuid,
    pub user_id: Uuid,
    pub state: String,
    pub reason: Option<String>,
    pub call_id: Option<Uuid>,
    /// The disposition code given when this change ended a wrap-up.
    pub disposition: Option<String>,
    pub at: DateTime<Utc>,
}

impl From<AgentStateRow> for AgentHistoryItem {
    fn from(r: AgentStateRow) -> Self {
        Self {
            id: r.id,
            user_id: r.user_id,
            state: r.state,
            reason: r.reason,
            call_id: r.call_id,
            disposition: r.disposition,
            at: r.at,
        }
    }
}

/// `[from, to)` on the change time, and the page.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u64>,
}

/// A not-ready reason code.
#[derive(Serialize, ToSchema)]
pub struct ReasonCodeOut {
    pub id: Uuid,
    pub code: String,
    pub label: String,
    /// Whether time in this state is paid.
    pub paid: bool,
    /// Only active codes can be chosen.
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ReasonCodeRow> for ReasonCodeOut {
    fn from(r: ReasonCodeRow) -> Self {
        Self {
            id: r.id,
            code: r.code,
            label: r.label,
            paid: r.paid,
            active: r.active,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A new reason code; `code` is 1-40 of `a-z 0-9 _ -`, unique in the tenant.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateReasonCode {
    pub code: String,
    pub label: String,
    #[serde(default)]
    pub paid: bool,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// Changes to a reason code (the code itself is fixed).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateReasonCode {
    pub label: Option<String>,
    pub paid: Option<bool>,
    pub active: Option<bool>,
}

// ---------------------------------------------------------------- helpers --

/// A code: 1-40 of lowercase letters, digits, `_` and `-`.
pub(crate) fn check_code(code: &str) -> ApiResult<()> {
    let ok = !code.is_empty()
        && code.len() <= 40
        && code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::field(
            "code",
            "invalid_code",
            "1-40 of lowercase letters, digits, '_' and '-'",
        ))
    }
}

/// A label: 1-100 characters, no leading or trailing space.
pub(crate) fn check_label(label: &str) -> ApiResult<()> {
    if label.is_empty() || label.trim() != label || label.chars().count() > 100 {
        return Err(ApiError::field(
            "label",
            "invalid_label",
            "1-100 characters, no leading or trailing space",
        ));
    }
    Ok(())
}

/// Refuse unless the caller has at least one of `perms` (the first one is
/// named in the error).
pub(crate) fn require_any(ctx: &TenantCtx, perms: &[Permission]) -> ApiResult<()> {
    if perms.iter().any(|p| ctx.role.grants(*p)) {
        return Ok(());
    }
    match perms.first() {
        Some(p) => ctx.require(*p),
        None => Err(ApiError::Forbidden("forbidden")),
    }
}

/// `{user_id}`: a user id, or `me` for the signed-in caller.
fn target_user(ctx: &TenantCtx, raw: &str) -> ApiResult<UserId> {
    if raw == "me" {
        return ctx.user_id().ok_or_else(|| ApiError::ForbiddenCode {
            code: "user_required",
            message: "`me` needs a signed-in user, not an API key".into(),
        });
    }
    Uuid::parse_str(raw)
        .map(UserId)
        .map_err(|_| ApiError::bad_request("invalid_path", "the user is a UUID or `me`"))
}

/// May the caller act on `user`'s state? Their own with `agent_work`,
/// anyone's with `agent_manage`.
fn require_act_on(ctx: &TenantCtx, user: UserId) -> ApiResult<()> {
    if ctx.user_id() == Some(user) {
        require_any(ctx, &[Permission::AgentWork, Permission::AgentManage])
    } else {
        ctx.require(Permission::AgentManage)
    }
}

/// The member's role; a user who is not a member of the tenant is 404.
async fn member_role(state: &AppState, ctx: &TenantCtx, user: UserId) -> ApiResult<Role> {
    ctx.scoped(state.store.reader())
        .role_of(user)
        .await?
        .ok_or(ApiError::NotFound)
}

/// A member whose role cannot work as an agent (analyst, viewer).
async fn working_member(state: &AppState, ctx: &TenantCtx, user: UserId) -> ApiResult<()> {
    let role = member_role(state, ctx, user).await?;
    if role.grants(Permission::AgentWork) {
        Ok(())
    } else {
        Err(ApiError::unprocessable(
            "not_an_agent",
            format!("the {role} role cannot work as an agent"),
        ))
    }
}

/// Why `id`, given in `field`, cannot be named as an agent: no member of
/// the tenant (`unknown_agent`), or a member whose role cannot work as an
/// agent (`not_an_agent`). `None` when it can.
pub(crate) async fn agent_problem<C: ConnectionTrait>(
    scoped: &Scoped<'_, C>,
    field: &str,
    id: Uuid,
) -> ApiResult<Option<FieldError>> {
    Ok(match scoped.role_of(UserId(id)).await? {
        None => Some(FieldError::new(
            field,
            "unknown_agent",
            format!("no member {id} in this organization"),
        )),
        Some(role) if !role.grants(Permission::AgentWork) => Some(FieldError::new(
            field,
            "not_an_agent",
            format!("the {role} role cannot work as an agent"),
        )),
        Some(_) => None,
    })
}

async fn current_state(state: &AppState, ctx: &TenantCtx, user: UserId) -> ApiResult<AgentState> {
    let mut s = state.agents.states(state, ctx.tenant, &[user]).await?;
    s.pop()
        .ok_or_else(|| ApiError::internal("no state returned"))
}

fn after_change(user: UserId, out: &omnivox_acd::Output, before: AgentState) -> AgentStateOut {
    let now = out
        .transitions
        .iter()
        .rev()
        .find(|t| t.agent == user)
        .map_or(before, |t| t.to.clone());
    state_out(user.0, &now)
}

// ----------------------------------------------------------------- agents --

/// The tenant's members with their agent profile and current state.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/agents", tag = "agents",
    params(("tenant_id" = Uuid, Path), PageQuery),
    responses((status = 200, body = PageOut<AgentOut>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_agents(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<PageOut<AgentOut>>> {
    ctx.require(Permission::AgentRead)?;
    let s = ctx.scoped(state.store.reader());
    let page = s.list_members(&q.page()?, None).await?;
    let mut profiles: HashMap<Uuid, AgentProfileRow> = s
        .list_agent_profiles()
        .await?
        .into_iter()
        .map(|p| (p.user_id, p))
        .collect();
    let users: Vec<UserId> = page.items.iter().map(|m| UserId(m.user.id)).collect();
    let states = state.agents.states(&state, ctx.tenant, &users).await?;
    let mut items = Vec::with_capacity(page.items.len());
    for (m, st) in page.items.into_iter().zip(states) {
        let id = m.user.id;
        items.push(AgentOut {
            profile: profiles
                .remove(&id)
                .map(AgentProfileOut::try_from)
                .transpose()?,
            state: state_out(id, &st),
            role: m.role,
            user: m.user.into(),
        });
    }
    Ok(Json(PageOut {
        items,
        next_cursor: page.next_cursor,
    }))
}

/// Set a member's agent profile (replaces it). A level outside 1..10 is 422
/// `invalid_skill_level` naming the skill. Skills take effect at the
/// agent's next login.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant_id}/agents/{user_id}/profile", tag = "agents",
    params(("tenant_id" = Uuid, Path), ("user_id" = String, Path, description = "a user id or `me`")),
    request_body = PutProfile,
    responses((status = 200, body = AgentProfileOut), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_profile(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, String)>,
    ApiJson(body): ApiJson<PutProfile>,
) -> ApiResult<Json<AgentProfileOut>> {
    ctx.require(Permission::AgentManage)?;
    let user = target_user(&ctx, &ids.1)?;
    member_role(&state, &ctx, user).await?;
    let mut skills = BTreeMap::new();
    for (name, level) in &body.skills {
        let name_ok = !name.is_empty()
            && name.len() <= 50
            && name.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.')
            });
        if !name_ok {
            return Err(ApiError::field(
                "skills",
                "invalid_skill",
                format!("skill `{name}`: 1-50 of lowercase letters, digits, '_', '-' or '.'"),
            ));
        }
        let level = u8::try_from(*level)
            .ok()
            .filter(|l| (1..=10).contains(l))
            .ok_or_else(|| {
                ApiError::unprocessable(
                    "invalid_skill_level",
                    format!("skill `{name}`: level {level} is outside 1..10"),
                )
            })?;
        skills.insert(name.clone(), level);
    }
    if body.wrap_up_seconds > 3600 {
        return Err(ApiError::field(
            "wrap_up_seconds",
            "out_of_range",
            "0 to 3600 seconds",
        ));
    }
    if body.max_missed_offers > 100 {
        return Err(ApiError::field(
            "max_missed_offers",
            "out_of_range",
            "0 (never) to 100",
        ));
    }
    let skills = serde_json::to_string(&skills).map_err(ApiError::internal)?;
    let tx = state.store.begin().await?;
    let (before, after) = ctx
        .scoped(&tx)
        .put_agent_profile(NewAgentProfile {
            user,
            skills,
            wrap_up_seconds: i32::try_from(body.wrap_up_seconds).map_err(ApiError::internal)?,
            disposition_required: body.disposition_required,
            max_missed_offers: i32::try_from(body.max_missed_offers).map_err(ApiError::internal)?,
        })
        .await?;
    let before = before.map(AgentProfileOut::try_from).transpose()?;
    let out = AgentProfileOut::try_from(after)?;
    audit::record(
        &tx,
        ctx.audit(
            "agent.profile_updated",
            "agent",
            user.0,
            before.as_ref().and_then(json),
            json(&out),
        ),
    )
    .await?;
    commit(tx).await?;
    let limit = Some(body.max_missed_offers);
    state.agents.set_miss_limit(ctx.tenant, user, limit).await;
    Ok(Json(out))
}

/// Change an agent's state through the ACD: `available` (log in, back from
/// not ready, or end a wrap-up that needs no disposition), `not_ready` with
/// an active reason code, or `logged_out`. A change the current state does
/// not allow is 409 `invalid_transition` with the ACD's message.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/agents/{user_id}/state", tag = "agents",
    params(("tenant_id" = Uuid, Path), ("user_id" = String, Path, description = "a user id or `me`")),
    request_body = ChangeState,
    responses((status = 200, body = AgentStateOut), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn change_state(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, String)>,
    ApiJson(body): ApiJson<ChangeState>,
) -> ApiResult<Json<AgentStateOut>> {
    let user = target_user(&ctx, &ids.1)?;
    require_act_on(&ctx, user)?;
    working_member(&state, &ctx, user).await?;
    let s = ctx.scoped(state.store.reader());
    // What only a login may choose, if the body chooses any.
    let at_login = match (body.campaigns.is_empty(), body.queues.is_empty()) {
        (false, _) => Some("campaigns"),
        (true, false) => Some("queues"),
        (true, true) => None,
    };
    // A login's profile limit of missed offers, set once the agent is in.
    let mut miss_limit = None;
    let event = match (body.state, body.reason) {
        (WantedState::NotReady, _) if let Some(field) = at_login => {
            return Err(campaigns_at_login(field));
        }
        (WantedState::NotReady, None) => {
            return Err(ApiError::unprocessable(
                "reason_required",
                "not_ready needs a reason code",
            ));
        }
        (WantedState::NotReady, Some(reason)) => {
            match s.find_reason_code(&reason).await? {
                Some(r) if r.active => {}
                _ => {
                    return Err(ApiError::unprocessable(
                        "unknown_reason",
                        format!("`{reason}` is not an active reason code of this tenant"),
                    ));
                }
            }
            Event::AgentNotReady {
                agent: user,
                reason: ReasonCode::new(reason),
            }
        }
        (_, Some(_)) => {
            return Err(ApiError::field(
                "reason",
                "not_allowed",
                "a reason goes only with not_ready",
            ));
        }
        (WantedState::LoggedOut, None) if let Some(field) = at_login => {
            return Err(campaigns_at_login(field));
        }
        (WantedState::LoggedOut, None) => Event::AgentLogout { agent: user },
        (WantedState::Available, None) => match current_state(&state, &ctx, user).await? {
            AgentState::LoggedOut => {
                let profile = s.get_agent_profile(user).await?;
                miss_limit = profile
                    .as_ref()
                    .and_then(|p| u32::try_from(p.max_missed_offers).ok());
                let skills = match &profile {
                    Some(p) => parse_skills(&p.skills)?,
                    None => Default::default(),
                };
                for c in &body.campaigns {
                    s.get_campaign(*c).await.map_err(|e| match e {
                        StoreError::NotFound => ApiError::field(
                            "campaigns",
                            "unknown_campaign",
                            format!("no campaign {c} in this tenant"),
                        ),
                        e => e.into(),
                    })?;
                }
                for q in &body.queues {
                    s.get_queue(*q).await.map_err(|e| match e {
                        StoreError::NotFound => ApiError::field(
                            "queues",
                            "unknown_queue",
                            format!("no queue {q} in this tenant"),
                        ),
                        e => e.into(),
                    })?;
                }
                Event::AgentLogin {
                    agent: user,
                    skills,
                    queues: body.queues.iter().map(|q| QueueId(*q)).collect(),
                    campaigns: body.campaigns.iter().map(|c| CampaignRef(*c)).collect(),
                }
            }
            _ if let Some(field) = at_login => {
                return Err(campaigns_at_login(field));
            }
            AgentState::WrapUp { .. } => Event::WrapUpDone {
                agent: user,
                disposition_given: false,
            },
            _ => Event::AgentReady { agent: user },
        },
    };
    let before = current_state(&state, &ctx, user).await?;
    let out = state
        .agents
        .apply(&state, ctx.tenant, event, None, None)
        .await
        .map_err(|e| logged_out_message(e, user))?;
    if miss_limit.is_some() {
        // Logged in: the profile's limit of missed offers is theirs.
        state
            .agents
            .set_miss_limit(ctx.tenant, user, miss_limit)
            .await;
    }
    Ok(Json(after_change(user, &out, before)))
}

/// The ACD does not know an agent who never logged in; say so plainly.
fn logged_out_message(e: ApiError, user: UserId) -> ApiError {
    match e {
        ApiError::Conflict { code, message } if message.starts_with("unknown agent") => {
            ApiError::conflict(code, format!("agent {user} is logged out"))
        }
        e => e,
    }
}

/// An agent's state history, oldest first, `[from, to)` on the change time.
/// Readable with `agent_read`, or one's own with `agent_work`.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/agents/{user_id}/history", tag = "agents",
    params(("tenant_id" = Uuid, Path), ("user_id" = String, Path, description = "a user id or `me`"),
        HistoryQuery),
    responses((status = 200, body = PageOut<AgentHistoryItem>), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn agent_history(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, String)>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> ApiResult<Json<PageOut<AgentHistoryItem>>> {
    let user = target_user(&ctx, &ids.1)?;
    if ctx.user_id() == Some(user) {
        require_any(&ctx, &[Permission::AgentRead, Permission::AgentWork])?;
    } else {
        ctx.require(Permission::AgentRead)?;
    }
    member_role(&state, &ctx, user).await?;
    if let (Some(f), Some(t)) = (q.from, q.to)
        && f > t
    {
        return Err(ApiError::field("from", "invalid_range", "from is after to"));
    }
    let page = page_request(q.cursor.as_deref(), q.limit)?;
    let rows = ctx
        .scoped(state.store.reader())
        .list_agent_history(
            user,
            &HistoryFilter {
                from: q.from,
                to: q.to,
            },
            &page,
        )
        .await?;
    Ok(Json(PageOut::from_page(rows)))
}

/// End an agent's wrap-up, with a disposition code (required when the
/// wrap-up says so: 422 `disposition_required`; an unknown or inactive code
/// is 422 `unknown_disposition`). Not in wrap-up: 409.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/agents/{user_id}/wrap-up/finish",
    tag = "agents",
    params(("tenant_id" = Uuid, Path), ("user_id" = String, Path, description = "a user id or `me`")),
    request_body = FinishWrapUp,
    responses((status = 200, body = AgentStateOut), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn finish_wrap_up(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, String)>,
    ApiJson(body): ApiJson<FinishWrapUp>,
) -> ApiResult<Json<AgentStateOut>> {
    let user = target_user(&ctx, &ids.1)?;
    require_act_on(&ctx, user)?;
    working_member(&state, &ctx, user).await?;
    let before = current_state(&state, &ctx, user).await?;
    let AgentState::WrapUp {
        call,
        disposition_required,
        ..
    } = before
    else {
        return Err(ApiError::conflict(
            "not_in_wrap_up",
            format!("the agent is {}, not in wrap-up", state_name(&before)),
        ));
    };
    let not_allowed = |field: &str| {
        ApiError::field(
            field,
            "not_allowed",
            format!("{field} goes only with a callback disposition"),
        )
    };
    let mut callback = None;
    let (details, code_row) = match &body.disposition {
        None if disposition_required => {
            return Err(ApiError::unprocessable(
                "disposition_required",
                "this wrap-up needs a disposition code",
            ));
        }
        None => {
            if let Some(field) = body.callback_fields() {
                return Err(not_allowed(field));
            }
            (None, None)
        }
        Some(code) => {
            let d = ctx
                .scoped(state.store.reader())
                .find_disposition_code(code)
                .await?
                .filter(|d| d.active)
                .ok_or_else(|| {
                    ApiError::unprocessable(
                        "unknown_disposition",
                        format!("`{code}` is not an active disposition code of this tenant"),
                    )
                })?;
            if d.effect == "callback" {
                let at = match (body.callback_at, body.callback_local) {
                    (Some(_), Some(_)) => {
                        return Err(ApiError::field(
                            "callback_local",
                            "not_allowed",
                            "give callback_at or callback_local, not both",
                        ));
                    }
                    (Some(at), None) => at,
                    (None, Some(local)) => {
                        crate::dialer::disposition::contact_local_instant(
                            &state, ctx.tenant, call.0, local,
                        )
                        .await?
                    }
                    (None, None) => {
                        return Err(ApiError::unprocessable(
                            "callback_time_required",
                            format!(
                                "`{code}` schedules a callback: give callback_at or callback_local"
                            ),
                        ));
                    }
                };
                if at <= state.clock.now() {
                    return Err(ApiError::unprocessable(
                        "callback_in_past",
                        "the callback time must be in the future",
                    ));
                }
                let agent = (body.callback_for == Some(CallbackFor::Agent)).then_some(user);
                callback = Some(crate::dialer::disposition::Callback { at, agent });
            } else if let Some(field) = body.callback_fields() {
                return Err(not_allowed(field));
            }
            let details = serde_json::json!({
                "call_id": call.0,
                "code": d.code,
                "category": d.category,
                "effect": d.effect,
                "delay_seconds": d.delay_seconds,
                "callback_at": callback.map(|c| c.at),
                "callback_agent": callback.and_then(|c| c.agent).map(|a| a.0),
            });
            (Some(details), Some(d))
        }
    };
    let out = state
        .agents
        .apply(
            &state,
            ctx.tenant,
            Event::WrapUpDone {
                agent: user,
                disposition_given: body.disposition.is_some(),
            },
            body.disposition.as_deref(),
            details.as_ref(),
        )
        .await?;
    // A campaign call's lead (and, for `dnc`, the opt-out ledger) follows.
    if let Some(d) = &code_row {
        crate::dialer::disposition::apply(
            &state,
            ctx.tenant,
            ctx.principal.actor(),
            call.0,
            d,
            callback,
        )
        .await?;
    }
    Ok(Json(after_change(user, &out, before)))
}

// ----------------------------------------------------------- reason codes --

/// The tenant's not-ready reason codes (`agent_read`, or `agent_work` so
/// agents can pick one).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/reason-codes", tag = "agents",
    params(("tenant_id" = Uuid, Path), PageQuery),
    responses((status = 200, body = PageOut<ReasonCodeOut>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_reason_codes(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<PageOut<ReasonCodeOut>>> {
    require_any(&ctx, &[Permission::AgentRead, Permission::AgentWork])?;
    let rows = ctx
        .scoped(state.store.reader())
        .list_reason_codes(&q.page()?)
        .await?;
    Ok(Json(PageOut::from_page(rows)))
}

/// Add a reason code. A code the tenant already has is 409
/// `reason_code_taken`.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/reason-codes", tag = "agents",
    params(("tenant_id" = Uuid, Path)), request_body = CreateReasonCode,
    responses((status = 201, body = ReasonCodeOut), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_reason_code(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiJson(body): ApiJson<CreateReasonCode>,
) -> ApiResult<(StatusCode, Json<ReasonCodeOut>)> {
    ctx.require(Permission::AgentManage)?;
    check_code(&body.code)?;
    check_label(&body.label)?;
    let tx = state.store.begin().await?;
    let row = ctx
        .scoped(&tx)
        .create_reason_code(NewReasonCode {
            code: body.code,
            label: body.label,
            paid: body.paid,
            active: body.active,
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => ApiError::conflict(
                "reason_code_taken",
                "the tenant already has a reason code with this code",
            ),
            e => e.into(),
        })?;
    let out = ReasonCodeOut::from(row);
    audit::record(
        &tx,
        ctx.audit(
            "reason_code.created",
            "reason_code",
            out.id,
            None,
            json(&out),
        ),
    )
    .await?;
    commit(tx).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// One reason code.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/reason-codes/{id}", tag = "agents",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)),
    responses((status = 200, body = ReasonCodeOut), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_reason_code(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<ReasonCodeOut>> {
    require_any(&ctx, &[Permission::AgentRead, Permission::AgentWork])?;
    let row = ctx
        .scoped(state.store.reader())
        .get_reason_code(ids.1)
        .await?;
    Ok(Json(row.into()))
}

/// Change a reason code's label, paid flag or active flag.
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant_id}/reason-codes/{id}", tag = "agents",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)), request_body = UpdateReasonCode,
    responses((status = 200, body = ReasonCodeOut), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_reason_code(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<UpdateReasonCode>,
) -> ApiResult<Json<ReasonCodeOut>> {
    ctx.require(Permission::AgentManage)?;
    if let Some(l) = &body.label {
        check_label(l)?;
    }
    let tx = state.store.begin().await?;
    let (before, after) = ctx
        .scoped(&tx)
        .update_reason_code(
            ids.1,
            ReasonCodeChange {
                label: body.label,
                paid: body.paid,
                active: body.active,
            },
        )
        .await?;
    let (before, out) = (ReasonCodeOut::from(before), ReasonCodeOut::from(after));
    audit::record(
        &tx,
        ctx.audit(
            "reason_code.updated",
            "reason_code",
            out.id,
            json(&before),
            json(&out),
        ),
    )
    .await?;
    commit(tx).await?;
    Ok(Json(out))
}

/// Delete a reason code: 204. A code the history uses is deactivated
/// instead (200 with the code, `active: false`), so reports keep it.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/reason-codes/{id}", tag = "agents",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)),
    responses((status = 204), (status = 200, body = ReasonCodeOut),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_reason_code(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Response> {
    ctx.require(Permission::AgentManage)?;
    let tx = state.store.begin().await?;
    let s = ctx.scoped(&tx);
    let row = s.get_reason_code(ids.1).await?;
    if s.reason_code_in_use(&row.code).await? {
        let (before, after) = s
            .update_reason_code(
                ids.1,
                ReasonCodeChange {
                    active: Some(false),
                    ..Default::default()
                },
            )
            .await?;
        let (before, out) = (ReasonCodeOut::from(before), ReasonCodeOut::from(after));
        audit::record(
            &tx,
            ctx.audit(
                "reason_code.deactivated",
                "reason_code",
                out.id,
                json(&before),
                json(&out),
            ),
        )
        .await?;
        commit(tx).await?;
        return Ok((StatusCode::OK, Json(out)).into_response());
    }
    let before = ReasonCodeOut::from(s.delete_reason_code(ids.1).await?);
    audit::record(
        &tx,
        ctx.audit(
            "reason_code.deleted",
            "reason_code",
            ids.1,
            json(&before),
            None,
        ),
    )
    .await?;
    commit(tx).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
