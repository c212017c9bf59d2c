//! Preview dialing over HTTP: an agent takes a lead's card, reads it, and
//! dials or skips it (see the README's campaign section).

use crate::auth::principal::TenantCtx;
use crate::dialer::{hopper, runner};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiPath;
use crate::routes::campaigns::LeadOut;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use omnivox_dialer::campaign::{CampaignSettings, CampaignStatus, DialMode};
use omnivox_domain::{Permission, UserId};
use omnivox_store::campaigns::{CampaignRow, lead};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// A lead's card for the agent to read before dialing.
#[derive(Serialize, ToSchema)]
pub struct PreviewCard {
    pub lead: LeadOut,
    pub contact: crate::routes::contacts::ContactOut,
}

/// The call a preview dial placed.
#[derive(Serialize, ToSchema)]
pub struct PreviewDialed {
    pub call_id: Uuid,
    pub attempt_id: Uuid,
}

/// A preview campaign the caller works as an agent (running), with its
/// settings.
async fn preview_campaign(
    state: &AppState,
    ctx: &TenantCtx,
    id: Uuid,
) -> ApiResult<(CampaignRow, CampaignSettings, UserId)> {
    ctx.require(Permission::AgentWork)?;
    let me = ctx
        .user_id()
        .ok_or(ApiError::Forbidden("preview is for signed-in agents"))?;
    let row = ctx.scoped(state.store.reader()).get_campaign(id).await?;
    if row.mode != DialMode::Preview.as_str() {
        return Err(ApiError::conflict(
            "not_a_preview_campaign",
            "this campaign does not dial by preview",
        ));
    }
    if row.status != CampaignStatus::Running.as_str() {
        return Err(ApiError::conflict(
            "campaign_not_running",
            format!("the campaign is {}", row.status),
        ));
    }
    let settings = hopper::settings_of(&row)?;
    Ok((row, settings, me))
}

/// Cards are taken and dialed only while the campaign's schedule is open
/// (a card held when it closes can still be skipped).
async fn require_open(state: &AppState, ctx: &TenantCtx, s: &CampaignSettings) -> ApiResult<()> {
    if runner::schedule_open(state, ctx.tenant, s, state.clock.now()).await? {
        Ok(())
    } else {
        Err(ApiError::conflict(
            "outside_schedule",
            "the campaign's schedule has no window open now",
        ))
    }
}

/// Preview mode: the next lead's card for the calling agent (the same one
/// until it is dialed or skipped). 204 when the hopper is empty. The agent
/// must be available and logged into the campaign.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/campaigns/{campaign_id}/preview/next", tag = "campaigns",
    params(("tenant_id" = Uuid, Path), ("campaign_id" = Uuid, Path)),
    responses((status = 200, body = PreviewCard), (status = 204), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn preview_next(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Response> {
    let (row, settings, me) = preview_campaign(&state, &ctx, ids.1).await?;
    require_open(&state, &ctx, &settings).await?;
    let ready = state
        .agents
        .available_for_campaign(&state, ctx.tenant, row.id)
        .await?;
    if !ready.contains(&me) || state.runner.holds_line(ctx.tenant, me) {
        return Err(ApiError::conflict(
            "agent_not_available",
            "log into the campaign and be available to take a card",
        ));
    }
    if !runner::registered_agents(&state, ctx.tenant).contains(&me) {
        return Err(ApiError::conflict(
            "no_phone",
            "register your phone first: a preview dial rings it before the customer",
        ));
    }
    let s = ctx.scoped(state.store.writer());
    let Some(lead) = s.take_preview(row.id, me.0).await? else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let contact = s.get_contact(lead.contact_id).await?;
    Ok(Json(PreviewCard {
        lead: lead.into(),
        contact: contact.into(),
    })
    .into_response())
}

/// Preview mode: dial the card the calling agent holds; the agent's phone
/// rings first, then the customer. A last compliance check may refuse it
/// (422 `dial_refused` with the reasons; the lead is parked or set aside).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/campaigns/{campaign_id}/preview/{contact_id}/dial", tag = "campaigns",
    params(("tenant_id" = Uuid, Path), ("campaign_id" = Uuid, Path), ("contact_id" = Uuid, Path)),
    responses((status = 202, body = PreviewDialed), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn preview_dial(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid, Uuid)>,
) -> ApiResult<(StatusCode, Json<PreviewDialed>)> {
    let (row, settings, me) = preview_campaign(&state, &ctx, ids.1).await?;
    require_open(&state, &ctx, &settings).await?;
    let lead = ctx
        .scoped(state.store.reader())
        .get_lead(row.id, ids.2)
        .await?;
    if lead.status != lead::PREVIEWING || lead.reserved_by != Some(me.0) {
        return Err(not_your_card());
    }
    let at = state.clock.now();
    match runner::dial_lead(
        &state,
        &row,
        &settings,
        &lead,
        Some(me),
        runner::Order::AgentFirst,
        lead::PREVIEWING,
        at,
    )
    .await?
    {
        runner::Dialed::Placed {
            call_id,
            attempt_id,
        } => Ok((
            StatusCode::ACCEPTED,
            Json(PreviewDialed {
                call_id,
                attempt_id,
            }),
        )),
        runner::Dialed::Refused(hopper::Refusal { until, reasons }) => {
            Err(ApiError::UnprocessableDetails {
                code: "dial_refused",
                message: match until {
                    Some(t) => format!("not to be called before {t}"),
                    None => "this lead may not be called".to_owned(),
                },
                details: serde_json::json!({"reasons": reasons, "until": until}),
            })
        }
        runner::Dialed::AgentBusy => Err(ApiError::conflict(
            "agent_not_available",
            "the agent is on another call",
        )),
        runner::Dialed::NumberBusy => Err(ApiError::conflict(
            "number_busy",
            "another campaign is dialing this number; try again shortly",
        )),
        runner::Dialed::NotPlaced { outcome } => Err(ApiError::conflict(
            "call_not_placed",
            format!("the call could not be placed ({outcome})"),
        )),
    }
}

fn not_your_card() -> ApiError {
    ApiError::conflict(
        "not_your_card",
        "this lead's card is not held by you; take one with preview/next",
    )
}

/// Preview mode: skip the card; the lead goes to the back of the hopper.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/campaigns/{campaign_id}/preview/{contact_id}/skip", tag = "campaigns",
    params(("tenant_id" = Uuid, Path), ("campaign_id" = Uuid, Path), ("contact_id" = Uuid, Path)),
    responses((status = 204), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn preview_skip(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    let (row, _, me) = preview_campaign(&state, &ctx, ids.1).await?;
    if !ctx
        .scoped(state.store.writer())
        .skip_preview(row.id, ids.2, me.0)
        .await?
    {
        return Err(not_your_card());
    }
    Ok(StatusCode::NO_CONTENT)
}
