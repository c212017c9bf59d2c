//! Supervisor monitoring of a live call: dial a supervisor in to listen,
//! whisper (heard by the agent only) or barge (heard by both), switch the
//! mode during the call, and hang the supervisor up.
//!
//! Needs `call_monitor` (supervisors, admins, owners; never agents). The
//! call must be bridged (409 otherwise) and has at most one supervisor leg
//! (409 for a second). Another tenant's call is 404.

use super::calls::{EndpointIn, LegOut};
use crate::auth::principal::TenantCtx;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use omnivox_domain::Permission;
use omnivox_domain::call::{Direction, LegId, MonitorMode};
use omnivox_sip::{CallCommand, CallError, CallService, CallSnapshot};
use omnivox_store::audit;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitorStartIn {
    /// The supervisor: a member's registered phone, or a number through
    /// the tenant's trunks (as for transfers).
    pub to: EndpointIn,
    /// `listen` (hears both, heard by nobody), `whisper` (heard by the
    /// agent only) or `barge` (heard by both).
    #[schema(value_type = MonitorMode)]
    pub mode: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitorModeIn {
    /// `listen`, `whisper` or `barge`.
    #[schema(value_type = MonitorMode)]
    pub mode: String,
}

#[derive(Serialize, ToSchema)]
pub struct MonitorOut {
    pub call_id: Uuid,
    /// The supervisor's current mode.
    #[schema(value_type = MonitorMode)]
    pub mode: MonitorMode,
    /// The supervisor's leg (`monitor`).
    pub leg: LegOut,
}

/// A mode name, or 422 `invalid_monitor_mode`.
fn parse_mode(s: &str) -> ApiResult<MonitorMode> {
    MonitorMode::ALL
        .into_iter()
        .find(|m| m.as_str() == s)
        .ok_or_else(|| {
            ApiError::unprocessable(
                "invalid_monitor_mode",
                format!("mode must be listen, whisper or barge, not {s:?}"),
            )
        })
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
            tracing::info!(reason = %m, "monitor refused");
            ApiError::Unavailable
        }
    }
}

/// The supervisor's leg and mode of `call`, when it has one.
fn monitor_of(call: CallSnapshot) -> ApiResult<MonitorOut> {
    let mode = call.monitor;
    let leg = call.legs.into_iter().find(|l| l.leg == LegId::Monitor);
    let (Some(mode), Some(l)) = (mode, leg) else {
        return Err(ApiError::conflict(
            "no_monitor",
            "the call has no supervisor leg",
        ));
    };
    Ok(MonitorOut {
        call_id: call.id,
        mode,
        leg: LegOut {
            leg: l.leg,
            direction: match l.direction {
                Direction::Inbound => "inbound",
                Direction::Outbound => "outbound",
            }
            .to_owned(),
            state: l.state.name().to_owned(),
            party: l.party,
            agent_id: l.agent_id.map(|a| a.0),
            trunk_id: l.trunk_id,
            started_at: l.started_at,
            ringing_at: l.ringing_at,
            answered_at: l.answered_at,
        },
    })
}

/// Checks the permission and the call (404 when not this tenant's), runs
/// `command` and audits it.
async fn run(
    state: &AppState,
    ctx: &TenantCtx,
    id: Uuid,
    command: CallCommand,
    action: &str,
    detail: serde_json::Value,
) -> ApiResult<()> {
    ctx.require(Permission::CallMonitor)?;
    let calls = calls(state)?;
    calls.get(ctx.tenant, id).ok_or(ApiError::NotFound)?;
    calls
        .command(ctx.tenant, id, command)
        .await
        .map_err(map_err)?;
    let entry = ctx.audit(action, "call", id, None, Some(detail));
    if let Err(e) = audit::record(state.store.writer(), entry).await {
        tracing::error!(error = %e, "call audit entry not written");
    }
    Ok(())
}

/// Dial a supervisor into a bridged call, mixed in as `mode` once it
/// answers.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/calls/{call_id}/monitor", tag = "calls", operation_id = "start_monitor",
    params(("tenant_id" = Uuid, Path), ("call_id" = Uuid, Path)), request_body = MonitorStartIn,
    responses((status = 202, body = MonitorOut), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn start(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiJson(req): ApiJson<MonitorStartIn>,
) -> ApiResult<(StatusCode, Json<MonitorOut>)> {
    ctx.require(Permission::CallMonitor)?;
    let mode = parse_mode(&req.mode)?;
    let detail = serde_json::json!({ "to": req.to, "mode": mode });
    let command = CallCommand::Monitor {
        to: req.to.into(),
        mode,
    };
    run(&state, &ctx, ids.1, command, "call.monitor_started", detail).await?;
    let call = calls(&state)?
        .get(ctx.tenant, ids.1)
        .ok_or(ApiError::NotFound)?;
    Ok((StatusCode::ACCEPTED, Json(monitor_of(call)?)))
}

/// Switch the supervisor's mode (only the mix changes; no re-INVITE).
#[utoipa::path(put, path = "/api/v1/tenants/{tenant_id}/calls/{call_id}/monitor", tag = "calls", operation_id = "set_monitor_mode",
    params(("tenant_id" = Uuid, Path), ("call_id" = Uuid, Path)), request_body = MonitorModeIn,
    responses((status = 200, body = MonitorOut), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn set_mode(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiJson(req): ApiJson<MonitorModeIn>,
) -> ApiResult<Json<MonitorOut>> {
    ctx.require(Permission::CallMonitor)?;
    let mode = parse_mode(&req.mode)?;
    let detail = serde_json::json!({ "mode": mode });
    let command = CallCommand::MonitorMode { mode };
    run(
        &state,
        &ctx,
        ids.1,
        command,
        "call.monitor_mode_changed",
        detail,
    )
    .await?;
    let call = calls(&state)?
        .get(ctx.tenant, ids.1)
        .ok_or(ApiError::NotFound)?;
    Ok(Json(monitor_of(call)?))
}

/// Hang up the supervisor's leg; the call goes on.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/calls/{call_id}/monitor", tag = "calls", operation_id = "stop_monitor",
    params(("tenant_id" = Uuid, Path), ("call_id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn stop(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    let detail = serde_json::json!({});
    let command = CallCommand::MonitorStop;
    run(&state, &ctx, ids.1, command, "call.monitor_stopped", detail).await?;
    Ok(StatusCode::NO_CONTENT)
}
