//! Live calls: list, originate and control them (hang up, hold, resume,
//! blind and attended transfer, DTMF).
//!
//! Supervisors and admins (`call_control` with `call_read`) control every
//! call of the tenant. Agents hold `call_control` for their own calls only:
//! they see and control calls they are a party of, and originate only with
//! themselves as one of the parties.

use crate::auth::principal::TenantCtx;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use omnivox_domain::call::LegId;
use omnivox_domain::{Permission, UserId};
use omnivox_sip::{CallCommand, CallError, CallService, CallSnapshot, Endpoint, Originate};
use omnivox_store::audit;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// One party of a call.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum EndpointIn {
    /// A member's registered phone.
    Agent { agent_id: Uuid },
    /// An outside number, E.164 (`+14155550100`), through the tenant's trunks.
    Number { number: String },
}

impl From<EndpointIn> for Endpoint {
    fn from(e: EndpointIn) -> Self {
        match e {
            EndpointIn::Agent { agent_id } => Endpoint::Agent {
                agent_id: UserId(agent_id),
            },
            EndpointIn::Number { number } => Endpoint::Number { number },
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OriginateIn {
    /// Dialled first (leg A): the customer for the dialer, the agent for
    /// click-to-call.
    pub first: EndpointIn,
    /// Dialled once `first` answers (leg B).
    pub second: EndpointIn,
    /// Caller ID shown to outside numbers (E.164).
    pub caller_id: Option<String>,
    /// Ring timeout per leg, 5-300 s (configured default when absent).
    pub ring_timeout_secs: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct LegOut {
    /// `a`, `b` or `consult`.
    #[schema(value_type = String)]
    pub leg: LegId,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// `dialing`, `ringing`, `early_media`, `answered`, `held`, ...
    pub state: String,
    /// A number, or `agent:<user id>`.
    pub party: String,
    pub agent_id: Option<Uuid>,
    pub trunk_id: Option<Uuid>,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub ringing_at: Option<chrono::DateTime<chrono::Utc>>,
    pub answered_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct CallOut {
    pub id: Uuid,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// `originating`, `ringing`, `early_media`, `bridged`, `on_hold`,
    /// `transferring`, `ended`.
    pub state: String,
    pub from: String,
    pub to: String,
    pub did: Option<String>,
    pub agent_id: Option<Uuid>,
    pub trunk_id: Option<Uuid>,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub answered_at: Option<chrono::DateTime<chrono::Utc>>,
    pub legs: Vec<LegOut>,
}

impl From<CallSnapshot> for CallOut {
    fn from(c: CallSnapshot) -> Self {
        Self {
            id: c.id,
            direction: c.direction.as_str().to_owned(),
            state: c.state.name().to_owned(),
            from: c.from,
            to: c.to,
            did: c.did,
            agent_id: c.agent_id.map(|a| a.0),
            trunk_id: c.trunk_id,
            started_at: c.started_at,
            answered_at: c.answered_at,
            legs: c
                .legs
                .into_iter()
                .map(|l| LegOut {
                    leg: l.leg,
                    direction: match l.direction {
                        omnivox_domain::call::Direction::Inbound => "inbound",
                        omnivox_domain::call::Direction::Outbound => "outbound",
                    }
                    .to_owned(),
                    state: l.state.name().to_owned(),
                    party: l.party,
                    agent_id: l.agent_id.map(|a| a.0),
                    trunk_id: l.trunk_id,
                    started_at: l.started_at,
                    ringing_at: l.ringing_at,
                    answered_at: l.answered_at,
                })
                .collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CallsOut {
    pub items: Vec<CallOut>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LegIn {
    #[schema(value_type = String)]
    pub leg: LegId,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferIn {
    /// The party that leaves (`a` or `b`).
    #[schema(value_type = String)]
    pub leaving: LegId,
    /// Who takes its place.
    pub to: EndpointIn,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsultIn {
    /// The party that consults (`a` or `b`); the other one is held.
    #[schema(value_type = String)]
    pub transferor: LegId,
    /// Who is consulted.
    pub to: EndpointIn,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DtmfIn {
    #[schema(value_type = String)]
    pub leg: LegId,
    /// 1-32 of `0-9 * # A-D`.
    pub digits: String,
}

fn calls(state: &AppState) -> ApiResult<&CallService> {
    state
        .sip
        .as_ref()
        .map(|s| s.calls())
        .ok_or_else(|| ApiError::conflict("sip_disabled", "SIP is disabled on this node"))
}

fn map_err(e: CallError) -> ApiError {
    match e {
        CallError::NotFound => ApiError::NotFound,
        CallError::Conflict(m) => ApiError::conflict("invalid_call_state", m),
        CallError::Invalid(m) => ApiError::BadRequest {
            code: "invalid_call_request",
            message: m,
        },
        CallError::Forbidden(r) => ApiError::ForbiddenCode {
            code: "dial_policy",
            message: format!("{} ({})", r.message, r.code),
        },
        CallError::Unavailable(m) => {
            tracing::info!(reason = %m, "call refused");
            ApiError::Unavailable
        }
    }
}

/// Whether the caller may see `call`: `call_read`, or an agent on it.
fn visible(ctx: &TenantCtx, call: &CallSnapshot) -> bool {
    if ctx.role.grants(Permission::CallRead) {
        return true;
    }
    let Some(me) = ctx.user_id() else {
        return false;
    };
    call.agent_id == Some(me) || call.legs.iter().any(|l| l.agent_id == Some(me))
}

/// The call, if the caller may see it (404 otherwise: no probing).
fn find(state: &AppState, ctx: &TenantCtx, id: Uuid) -> ApiResult<CallSnapshot> {
    let call = calls(state)?
        .get(ctx.tenant, id)
        .ok_or(ApiError::NotFound)?;
    if visible(ctx, &call) {
        Ok(call)
    } else {
        Err(ApiError::NotFound)
    }
}

async fn audit_call(
    state: &AppState,
    ctx: &TenantCtx,
    action: &str,
    id: Uuid,
    detail: serde_json::Value,
) {
    let entry = ctx.audit(action, "call", id, None, Some(detail));
    if let Err(e) = audit::record(state.store.writer(), entry).await {
        tracing::error!(error = %e, "call audit entry not written");
    }
}

/// The tenant's live calls (agents: their own).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/calls", tag = "calls",
    params(("tenant_id" = Uuid, Path)),
    responses((status = 200, body = CallsOut), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_calls(
    State(state): State<AppState>,
    ctx: TenantCtx,
) -> ApiResult<Json<CallsOut>> {
    if !ctx.role.grants(Permission::CallRead) {
        ctx.require(Permission::CallControl)?;
    }
    let items = calls(&state)?
        .list(ctx.tenant)
        .into_iter()
        .filter(|c| visible(&ctx, c))
        .map(CallOut::from)
        .collect();
    Ok(Json(CallsOut { items }))
}

/// Place a call: `first` is dialled, then `second` when `first` answers.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/calls", tag = "calls",
    params(("tenant_id" = Uuid, Path)), request_body = OriginateIn,
    responses((status = 201, body = CallOut), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn originate(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiJson(req): ApiJson<OriginateIn>,
) -> ApiResult<(StatusCode, Json<CallOut>)> {
    ctx.require(Permission::CallControl)?;
    if !ctx.role.grants(Permission::CallRead) {
        let me = ctx.user_id().map(|u| u.0);
        let mine = [&req.first, &req.second]
            .iter()
            .any(|e| matches!(e, EndpointIn::Agent { agent_id } if Some(*agent_id) == me));
        if !mine {
            return Err(ApiError::Forbidden(
                "agents place calls to or from themselves only",
            ));
        }
    }
    let call = calls(&state)?
        .originate(Originate {
            tenant_id: ctx.tenant,
            first: req.first.clone().into(),
            second: Some(req.second.clone().into()),
            caller_id: req.caller_id,
            ring_timeout_secs: req.ring_timeout_secs,
            amd: None,
            trunk_id: None,
            recording: None,
        })
        .await
        .map_err(map_err)?;
    audit_call(
        &state,
        &ctx,
        "call.originated",
        call.id,
        serde_json::json!({ "first": req.first, "second": req.second }),
    )
    .await;
    Ok((StatusCode::CREATED, Json(call.into())))
}

/// One live call.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/calls/{call_id}", tag = "calls",
    params(("tenant_id" = Uuid, Path), ("call_id" = Uuid, Path)),
    responses((status = 200, body = CallOut), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_call(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<CallOut>> {
    if !ctx.role.grants(Permission::CallRead) {
        ctx.require(Permission::CallControl)?;
    }
    Ok(Json(find(&state, &ctx, ids.1)?.into()))
}

/// Runs `command` on a call the caller may control; returns the call.
pub(crate) async fn control(
    state: &AppState,
    ctx: &TenantCtx,
    id: Uuid,
    action: &str,
    command: CallCommand,
    detail: serde_json::Value,
) -> ApiResult<Json<CallOut>> {
    ctx.require(Permission::CallControl)?;
    find(state, ctx, id)?;
    let calls = calls(state)?;
    calls
        .command(ctx.tenant, id, command)
        .await
        .map_err(map_err)?;
    audit_call(state, ctx, action, id, detail).await;
    let now = calls.get(ctx.tenant, id);
    now.map(|c| Json(c.into())).ok_or(ApiError::NotFound)
}

/// Hang up (every leg).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/calls/{call_id}/hangup", tag = "calls",
    params(("tenant_id" = Uuid, Path), ("call_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn hangup(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    ctx.require(Permission::CallControl)?;
    find(&state, &ctx, ids.1)?;
    calls(&state)?
        .command(ctx.tenant, ids.1, CallCommand::Hangup)
        .await
        .map_err(map_err)?;
    audit_call(&state, &ctx, "call.hung_up", ids.1, serde_json::json!({})).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Put a leg on hold (re-INVITE `sendonly`).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/calls/{call_id}/hold", tag = "calls",
    params(("tenant_id" = Uuid, Path), ("call_id" = Uuid, Path)), request_body = LegIn,
    responses((status = 200, body = CallOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn hold(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiJson(req): ApiJson<LegIn>,
) -> ApiResult<Json<CallOut>> {
    let detail = serde_json::json!({ "leg": req.leg });
    control(
        &state,
        &ctx,
        ids.1,
        "call.held",
        CallCommand::Hold { leg: req.leg },
        detail,
    )
    .await
}

/// Take a leg off hold.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/calls/{call_id}/resume", tag = "calls",
    params(("tenant_id" = Uuid, Path), ("call_id" = Uuid, Path)), request_body = LegIn,
    responses((status = 200, body = CallOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn resume(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiJson(req): ApiJson<LegIn>,
) -> ApiResult<Json<CallOut>> {
    let detail = serde_json::json!({ "leg": req.leg });
    control(
        &state,
        &ctx,
        ids.1,
        "call.resumed",
        CallCommand::Resume { leg: req.leg },
        detail,
    )
    .await
}

/// Blind transfer: `leaving` leaves, `to` is dialled in its place.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/calls/{call_id}/transfer", tag = "calls",
    params(("tenant_id" = Uuid, Path), ("call_id" = Uuid, Path)), request_body = TransferIn,
    responses((status = 200, body = CallOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn transfer(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiJson(req): ApiJson<TransferIn>,
) -> ApiResult<Json<CallOut>> {
    let detail = serde_json::json!({ "leaving": req.leaving, "to": req.to });
    let command = CallCommand::BlindTransfer {
        leaving: req.leaving,
        to: req.to.into(),
    };
    control(&state, &ctx, ids.1, "call.transferred", command, detail).await
}

/// Attended transfer, step one: consult `to` while the other party is held.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/calls/{call_id}/consult", tag = "calls",
    params(("tenant_id" = Uuid, Path), ("call_id" = Uuid, Path)), request_body = ConsultIn,
    responses((status = 200, body = CallOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn consult(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiJson(req): ApiJson<ConsultIn>,
) -> ApiResult<Json<CallOut>> {
    let detail = serde_json::json!({ "transferor": req.transferor, "to": req.to });
    let command = CallCommand::ConsultStart {
        transferor: req.transferor,
        to: req.to.into(),
    };
    control(&state, &ctx, ids.1, "call.consult_started", command, detail).await
}

/// Attended transfer, step two: connect the held party to the consulted one.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/calls/{call_id}/consult/complete", tag = "calls",
    params(("tenant_id" = Uuid, Path), ("call_id" = Uuid, Path)),
    responses((status = 200, body = CallOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn consult_complete(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<CallOut>> {
    let detail = serde_json::json!({});
    control(
        &state,
        &ctx,
        ids.1,
        "call.consult_completed",
        CallCommand::ConsultComplete,
        detail,
    )
    .await
}

/// Attended transfer abandoned: drop the consult leg, reconnect.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/calls/{call_id}/consult/cancel", tag = "calls",
    params(("tenant_id" = Uuid, Path), ("call_id" = Uuid, Path)),
    responses((status = 200, body = CallOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn consult_cancel(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<CallOut>> {
    let detail = serde_json::json!({});
    control(
        &state,
        &ctx,
        ids.1,
        "call.consult_cancelled",
        CallCommand::ConsultCancel,
        detail,
    )
    .await
}

/// Send DTMF digits on a leg (SIP INFO, `application/dtmf-relay`).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/calls/{call_id}/dtmf", tag = "calls",
    params(("tenant_id" = Uuid, Path), ("call_id" = Uuid, Path)), request_body = DtmfIn,
    responses((status = 200, body = CallOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn dtmf(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiJson(req): ApiJson<DtmfIn>,
) -> ApiResult<Json<CallOut>> {
    // The digits themselves are not audited (they may be a card number).
    let detail = serde_json::json!({ "leg": req.leg, "digits": req.digits.len() });
    let command = CallCommand::Dtmf {
        leg: req.leg,
        digits: req.digits,
    };
    control(&state, &ctx, ids.1, "call.dtmf_sent", command, detail).await
}
