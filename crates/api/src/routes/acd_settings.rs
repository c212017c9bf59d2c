//! The organization's ACD settings over HTTP: how many missed offers in a
//! row put an agent in `not_ready(missed_offers)`, the blending rule
//! between waiting inbound calls and the dialer's outbound lines, and the
//! wrap-up after outbound calls. Reading needs `queue_read`, changing
//! (`PUT`, the whole settings) `queue_manage`; changes are audited with
//! before and after and apply to the live ACD at once. An organization
//! that never changed them has the defaults.

use crate::auth::principal::TenantCtx;
use crate::error::{ApiError, ApiResult, ErrorBody, range};
use crate::extract::ApiJson;
use crate::routes::dto::json;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use chrono::TimeDelta;
use omnivox_acd::{BlendRule, TenantRules, WrapUpPolicy};
use omnivox_domain::Permission;
use omnivox_store::{Scoped, StoreError, audit, commit};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The ACD settings of an organization.
#[derive(Serialize, Deserialize, ToSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AcdSettings {
    /// Missed offers (no answer, rejected) in a row before the agent goes
    /// `not_ready` with reason `missed_offers` (0..20; 0: never).
    pub max_missed_offers: i64,
    /// The dialer takes no agent while a call waits in one of the agent's
    /// queues (inbound first).
    pub inbound_first: bool,
    /// The dialer takes no agent when that would leave fewer than this
    /// many agents available in one of the agent's queues (0..100).
    pub keep_available_per_queue: i64,
    /// Wrap-up after an outbound call, in seconds (0..3600).
    pub outbound_wrap_up_seconds: i64,
    /// An outbound call's wrap-up needs a disposition.
    pub outbound_disposition_required: bool,
}

impl From<TenantRules> for AcdSettings {
    fn from(r: TenantRules) -> Self {
        Self {
            max_missed_offers: i64::from(r.max_missed_offers),
            inbound_first: r.blend.inbound_first,
            keep_available_per_queue: i64::try_from(r.blend.keep_available_per_queue)
                .unwrap_or(i64::MAX),
            outbound_wrap_up_seconds: r.outbound_wrap_up.duration.num_seconds(),
            outbound_disposition_required: r.outbound_wrap_up.disposition_required,
        }
    }
}

impl AcdSettings {
    /// The ACD's rules, once the values are in range.
    fn rules(self) -> ApiResult<TenantRules> {
        let mut e = Vec::new();
        range(
            &mut e,
            "max_missed_offers",
            self.max_missed_offers,
            0,
            20,
            "",
        );
        range(
            &mut e,
            "keep_available_per_queue",
            self.keep_available_per_queue,
            0,
            100,
            "",
        );
        range(
            &mut e,
            "outbound_wrap_up_seconds",
            self.outbound_wrap_up_seconds,
            0,
            3600,
            " s",
        );
        if !e.is_empty() {
            return Err(ApiError::Validation(e));
        }
        let whole = |v: i64| u32::try_from(v).map_err(ApiError::internal);
        Ok(TenantRules {
            max_missed_offers: whole(self.max_missed_offers)?,
            blend: BlendRule {
                inbound_first: self.inbound_first,
                keep_available_per_queue: usize::try_from(self.keep_available_per_queue)
                    .map_err(ApiError::internal)?,
            },
            outbound_wrap_up: WrapUpPolicy {
                duration: TimeDelta::seconds(self.outbound_wrap_up_seconds),
                disposition_required: self.outbound_disposition_required,
            },
        })
    }
}

/// The tenant's rules as stored, or the defaults.
pub(crate) async fn stored_rules<C: omnivox_store::ConnectionTrait>(
    s: &Scoped<'_, C>,
) -> ApiResult<TenantRules> {
    let Some(text) = s.acd_settings().await? else {
        return Ok(TenantRules::default());
    };
    let settings: AcdSettings = serde_json::from_str(&text)
        .map_err(|e| StoreError::Corrupt(format!("stored ACD settings: {e}")))?;
    settings.rules()
}

/// The organization's ACD settings (the defaults until changed).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/acd-settings", tag = "queues",
    params(("tenant_id" = uuid::Uuid, Path)),
    responses((status = 200, body = AcdSettings), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_acd_settings(
    State(state): State<AppState>,
    ctx: TenantCtx,
) -> ApiResult<Json<AcdSettings>> {
    ctx.require(Permission::QueueRead)?;
    let rules = stored_rules(&ctx.scoped(state.store.reader())).await?;
    Ok(Json(rules.into()))
}

/// Replace the organization's ACD settings: every field, each in its range
/// (400 `validation_failed` naming every field out of range). Audited
/// `acd_settings.updated` with before and after; the live ACD follows at
/// once (agents' missed offers count against the new limit from their
/// next miss).
#[utoipa::path(put, path = "/api/v1/tenants/{tenant_id}/acd-settings", tag = "queues",
    params(("tenant_id" = uuid::Uuid, Path)), request_body = AcdSettings,
    responses((status = 200, body = AcdSettings), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_acd_settings(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiJson(body): ApiJson<AcdSettings>,
) -> ApiResult<Json<AcdSettings>> {
    ctx.require(Permission::QueueManage)?;
    let rules = body.rules()?;
    let text = serde_json::to_string(&body).map_err(ApiError::internal)?;
    let tx = state.store.begin().await?;
    let s = ctx.scoped(&tx);
    let before = AcdSettings::from(stored_rules(&s).await?);
    s.put_acd_settings(&text).await?;
    audit::record(
        &tx,
        ctx.audit(
            "acd_settings.updated",
            "tenant",
            ctx.tenant.0,
            json(&before),
            json(&body),
        ),
    )
    .await?;
    commit(tx).await?;
    state.agents.set_rules(ctx.tenant, rules).await;
    Ok(Json(body))
}
