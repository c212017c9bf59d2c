//! An agent's disposition of a campaign call, applied to the lead and the
//! compliance ledger in one transaction: `final` and `sale` end the lead;
//! `recycle` tries it again after the campaign's rule for that code, else
//! the code's delay; `callback` at the agreed time; `dnc` records an
//! opt-out of the number (binding every campaign) and ends the lead.

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use chrono::{DateTime, TimeDelta, Utc};
use omnivox_domain::TenantId;
use omnivox_store::audit::Actor;
use omnivox_store::campaigns::lead;
use omnivox_store::consent::NewConsentEvent;
use omnivox_store::dispositions::DispositionCodeRow;
use omnivox_store::{Scoped, commit};
use uuid::Uuid;

/// Apply `code` to the campaign attempt of `call`; `None` when no campaign
/// placed the call (an inbound or manual call: nothing to apply).
pub async fn apply(
    state: &AppState,
    tenant: TenantId,
    actor: Actor,
    call: Uuid,
    code: &DispositionCodeRow,
    callback_at: Option<DateTime<Utc>>,
) -> ApiResult<Option<Uuid>> {
    let tx = state.store.begin().await?;
    let s = Scoped::new(&tx, tenant);
    let Some(attempt) = s.attempt_by_call(call).await? else {
        return Ok(None);
    };
    let campaign = s.get_campaign(attempt.campaign_id).await?;
    let settings = super::hopper::settings_of(&campaign)?;
    let now = state.clock.now();
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
            let at = callback_at.ok_or_else(|| {
                ApiError::unprocessable("callback_time_required", "give callback_at")
            })?;
            (lead::WAITING, Some(at))
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
    s.dispose_attempt(&attempt, &code.code, status, next_at)
        .await?;
    commit(tx).await?;
    super::publish(
        state,
        tenant,
        "campaign.disposition",
        serde_json::json!({"campaign_id": attempt.campaign_id, "attempt_id": attempt.id,
            "contact_id": attempt.contact_id, "call_id": call, "code": code.code,
            "lead_status": status, "next_at": next_at}),
    );
    Ok(Some(attempt.id))
}
