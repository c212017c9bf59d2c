//! The outbound side of the server: the campaign supervisor task that
//! keeps hoppers full, releases callbacks kept for an agent who did not
//! take them in time, and moves campaigns along their lifecycle on its own
//! (scheduled -> running at `start_at`, stopping -> completed once no call
//! is in flight, running -> completed when no lead is left), and the
//! start-up recovery of attempts a crash left open.

pub mod automated;
pub mod disposition;
pub mod hopper;
pub mod runner;

use crate::error::ApiResult;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use omnivox_dialer::campaign::CampaignStatus;
use omnivox_domain::TenantId;
use omnivox_store::Scoped;
use omnivox_store::campaigns::{self as store, CampaignRow, lead};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The dialer's clock: the system clock moved by a fixed offset. The
/// offset is zero in the server; tests set it (through
/// `BuildOptions::clock_offset`) to run campaigns on a chosen weekday and
/// hour, so calling windows are exercised for real.
#[derive(Default)]
pub struct Clock {
    offset_micros: AtomicI64,
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        omnivox_store::now()
            + chrono::TimeDelta::microseconds(self.offset_micros.load(Ordering::Relaxed))
    }

    pub fn set_offset(&self, offset: chrono::TimeDelta) {
        let micros = offset.num_microseconds().unwrap_or(0);
        self.offset_micros.store(micros, Ordering::Relaxed);
    }
}

/// How often the supervisor looks at the campaigns.
const SUPERVISE_EVERY: Duration = Duration::from_secs(1);

/// A lead whose attempt a crash interrupted waits this long before its next
/// try: the call may have reached the person just before the crash.
pub const INTERRUPTED_RETRY: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

/// Settle the attempts a crash left `dialing` (before any campaign runs).
pub async fn recover(state: &AppState) -> anyhow::Result<usize> {
    let settled = store::recover_interrupted(state.store.writer(), INTERRUPTED_RETRY).await?;
    let cards = store::release_previews(state.store.writer()).await?;
    if cards > 0 {
        tracing::info!(
            cards,
            "preview cards held before the restart are back in their hoppers"
        );
    }
    for a in &settled {
        tracing::warn!(
            tenant_id = %a.tenant_id, campaign_id = %a.campaign_id, attempt_id = %a.id,
            "dial attempt interrupted by the last shutdown"
        );
    }
    Ok(settled.len())
}

/// Publish a campaign event on the tenant's stream (subject: the campaign).
pub fn publish(state: &AppState, tenant: TenantId, kind: &str, data: serde_json::Value) {
    let subject = data
        .get("campaign_id")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    state.events.publish(tenant, kind, subject, data);
}

/// Say on the tenant's stream that a campaign went from `from` to `to`.
pub fn publish_status(state: &AppState, tenant: TenantId, campaign: Uuid, from: &str, to: &str) {
    publish(
        state,
        tenant,
        "campaign.status",
        serde_json::json!({"campaign_id": campaign, "from": from, "to": to}),
    );
}

/// Change a campaign's status (checked by the lifecycle) and say so.
pub async fn transition(
    state: &AppState,
    tenant: TenantId,
    c: &CampaignRow,
    to: CampaignStatus,
) -> ApiResult<CampaignRow> {
    let row = Scoped::new(state.store.writer(), tenant)
        .set_campaign_status(c.id, &c.status, to.as_str())
        .await?;
    publish_status(state, tenant, c.id, &c.status, to.as_str());
    if matches!(to, CampaignStatus::Completed | CampaignStatus::Archived) {
        // What pacing learned is of no use to a campaign that is over.
        runner::lock(&state.runner.pacers).remove(&c.id);
    }
    Ok(row)
}

/// One look at one campaign at `at`.
pub async fn supervise_one(state: &AppState, c: &CampaignRow, at: DateTime<Utc>) -> ApiResult<()> {
    let tenant = TenantId(c.tenant_id);
    let Some(status) = CampaignStatus::parse(&c.status) else {
        return Ok(());
    };
    let scoped = Scoped::new(state.store.reader(), tenant);
    match status {
        CampaignStatus::Scheduled => {
            let s = hopper::settings_of(c)?;
            if s.schedule.start_at.is_none_or(|t| t <= at) {
                transition(state, tenant, c, CampaignStatus::Running).await?;
            }
        }
        CampaignStatus::Stopping => {
            let drained = scoped.attempts_in_flight(c.id).await? == 0;
            if drained {
                transition(state, tenant, c, CampaignStatus::Completed).await?;
            }
        }
        CampaignStatus::Running => {
            let s = hopper::settings_of(c)?;
            if s.schedule.end_at.is_some_and(|t| t <= at) {
                let next = if scoped.attempts_in_flight(c.id).await? > 0 {
                    CampaignStatus::Stopping
                } else {
                    CampaignStatus::Completed
                };
                transition(state, tenant, c, next).await?;
                return Ok(());
            }
            if let Some(secs) = s.callback_release_after_s {
                release_kept_callbacks(state, tenant, c.id, secs).await?;
            }
            let report = hopper::fill(state, tenant, c, at).await?;
            runner::pace(state, c, at).await?;
            if report.checked > 0 {
                publish(
                    state,
                    tenant,
                    "campaign.hopper",
                    serde_json::json!({"campaign_id": c.id, "fill": report}),
                );
            }
            let counts = scoped.lead_counts(c.id).await?;
            let open: u64 = [
                lead::NEW,
                lead::QUEUED,
                lead::DIALING,
                lead::WAITING,
                lead::DEFERRED,
            ]
            .iter()
            .map(|s| counts.get(*s).copied().unwrap_or(0))
            .sum();
            if open == 0 && state.runner.lines_of(c.id) == 0 {
                transition(state, tenant, c, CampaignStatus::Completed).await?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Callbacks kept for an agent who has not taken them within the
/// campaign's `callback_release_after_s` go to anyone, each announced.
async fn release_kept_callbacks(
    state: &AppState,
    tenant: TenantId,
    campaign: Uuid,
    secs: u32,
) -> ApiResult<()> {
    let after = Duration::from_secs(u64::from(secs));
    let released = Scoped::new(state.store.writer(), tenant)
        .release_kept_callbacks(campaign, after)
        .await?;
    for (contact, agent) in released {
        tracing::info!(campaign_id = %campaign, contact_id = %contact, agent_id = %agent,
            "kept callback released to anyone");
        publish(
            state,
            tenant,
            "campaign.callback_released",
            serde_json::json!({"campaign_id": campaign, "contact_id": contact, "agent_id": agent}),
        );
    }
    Ok(())
}

/// The supervisor loop: every campaign that is scheduled, running or
/// stopping, every few seconds, until shutdown.
pub async fn supervise(state: AppState, stop: CancellationToken) {
    let mut tick = tokio::time::interval(SUPERVISE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let campaigns = match store::active_campaigns(state.store.reader()).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "listing active campaigns");
                continue;
            }
        };
        let at = state.clock.now();
        for c in &campaigns {
            if let Err(e) = supervise_one(&state, c, at).await {
                tracing::warn!(campaign_id = %c.id, error = %e, "supervising campaign");
            }
        }
    }
}
