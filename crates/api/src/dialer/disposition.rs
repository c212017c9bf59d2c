//! An agent's disposition of a campaign call, applied to the lead and the
//! compliance ledger in one transaction: `final` and `sale` end the lead;
//! `recycle` tries it again after the campaign's rule for that code, else
//! the code's delay; `callback` at the agreed time, for anyone or kept for
//! the agent; `dnc` records an opt-out of the number (binding every
//! campaign) and ends the lead.

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use chrono::{DateTime, NaiveDateTime, TimeDelta, TimeZone, Utc};
use omnivox_domain::{TenantId, UserId};
use omnivox_store::audit::Actor;
use omnivox_store::campaigns::lead;
use omnivox_store::consent::NewConsentEvent;
use omnivox_store::dispositions::DispositionCodeRow;
use omnivox_store::{Scoped, commit};
use uuid::Uuid;

/// When and for whom a `callback` disposition calls the contact back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Callback {
    pub at: DateTime<Utc>,
    /// Kept for this agent: only they get the lead. None: anyone.
    pub agent: Option<UserId>,
}

/// The instant of `local`, a wall-clock time where the contact of campaign
/// call `call` lives (the zones of the dialed number, narrowed by the
/// contact's address; the tenant's zone when none is known). Where the
/// number may ring in several zones, the latest of the instants: a
/// callback may come a little late, never before the hour agreed.
pub async fn contact_local_instant(
    state: &AppState,
    tenant: TenantId,
    call: Uuid,
    local: NaiveDateTime,
) -> ApiResult<DateTime<Utc>> {
    let s = Scoped::new(state.store.reader(), tenant);
    let attempt = s.attempt_by_call(call).await?.ok_or_else(|| {
        ApiError::field(
            "callback_local",
            "not_campaign_call",
            "a local callback time needs a campaign call's contact: give callback_at",
        )
    })?;
    let contact = s.get_contact(attempt.contact_id).await?;
    let mut zones = crate::compliance::zones_of(&attempt.phone, &contact.row)?;
    if zones.is_empty() {
        zones.push(crate::auth::principal::tenant_zone(state, tenant).await?);
    }
    zones
        .iter()
        // An hour skipped by a clock change has no instant in that zone.
        .filter_map(|tz| tz.from_local_datetime(&local).latest())
        .map(|t| t.with_timezone(&Utc))
        .max()
        .ok_or_else(|| {
            ApiError::field(
                "callback_local",
                "no_such_time",
                "that time does not exist where the contact is (a clock change)",
            )
        })
}

/// Apply `code` to the campaign attempt of `call`; `None` when no campaign
/// placed the call (an inbound or manual call: nothing to apply).
pub async fn apply(
    state: &AppState,
    tenant: TenantId,
    actor: Actor,
    call: Uuid,
    code: &DispositionCodeRow,
    callback: Option<Callback>,
) -> ApiResult<Option<Uuid>> {
    let tx = state.store.begin().await?;
    let s = Scoped::new(&tx, tenant);
    let Some(attempt) = s.attempt_by_call(call).await? else {
        return Ok(None);
    };
    let campaign = s.get_campaign(attempt.campaign_id).await?;
    let settings = super::hopper::settings_of(&campaign)?;
    let now = state.clock.now();
    let mut kept_for = None;
    let (status, next_at) = match code.effect.as_str() {
        "recycle" => {
            let has_rule = settings.retry.iter().any(|r| r.on == code.code);
            let lead_row = s.get_lead(attempt.campaign_id, attempt.contact_id).await?;
            let at = if has_rule {
                settings.next_attempt(&code.code, lead_row.attempts as u32, now)
            } else if settings
                .max_attempts_total
                .is_some_and(|m| lead_row.attempts as u32 >= m)
            {
                None
            } else {
                Some(now + TimeDelta::seconds(i64::from(code.delay_seconds.unwrap_or(3600))))
            };
            match at {
                Some(t) => (lead::WAITING, Some(t)),
                None => (lead::DONE, None),
            }
        }
        "callback" => {
            let callback = callback.ok_or_else(|| {
                ApiError::unprocessable("callback_time_required", "give callback_at")
            })?;
            kept_for = callback.agent.map(|a| a.0);
            (lead::WAITING, Some(callback.at))
        }
        "dnc" => {
            s.record_consent(NewConsentEvent {
                contact_id: attempt.contact_id,
                phone: Some(&attempt.phone),
                channel: "voice",
                kind: "opt_out",
                method: "agent_disposition",
                actor,
                evidence: Some(&format!("disposition {} on call {call}", code.code)),
            })
            .await?;
            (lead::DONE, None)
        }
        _ => (lead::DONE, None),
    };
    s.dispose_attempt(&attempt, &code.code, status, next_at, kept_for)
        .await?;
    commit(tx).await?;
    super::publish(
        state,
        tenant,
        "campaign.disposition",
        serde_json::json!({"campaign_id": attempt.campaign_id, "attempt_id": attempt.id,
            "contact_id": attempt.contact_id, "call_id": call, "code": code.code,
            "lead_status": status, "next_at": next_at, "callback_agent": kept_for}),
    );
    Ok(Some(attempt.id))
}
