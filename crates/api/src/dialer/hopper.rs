//! Filling a campaign's hopper: leads of the attached lists, taken in list
//! priority order (lists of equal priority mixed by weight) and the
//! campaign's lead order, each checked by the compliance engine before it
//! enters. `Allow` queues the lead; `Defer` parks it until its earliest
//! allowed time (no polling before); `Deny` sets it aside with the reasons.
//! Every lead is checked again, and the decision stored, right before it
//! is dialed.

use crate::compliance::{CampaignInput, decide_for};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use chrono::{DateTime, Utc};
use omnivox_compliance::Decision;
use omnivox_dialer::campaign::{CampaignSettings, DialMode, LeadOrder};
use omnivox_domain::TenantId;
use omnivox_store::Scoped;
use omnivox_store::campaigns::{CampaignListRow, CampaignRow, Candidate, CandidateOrder, lead};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// At most this many leads are checked per fill for each hopper slot, so
/// a list full of undialable numbers cannot keep one fill busy for long.
const CHECKS_PER_SLOT: usize = 10;

/// What one fill did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct FillReport {
    /// Leads added to the campaign from its lists (contacts new since the
    /// last fill).
    pub added: u64,
    /// Leads the compliance engine looked at.
    pub checked: u64,
    /// Now in the hopper.
    pub queued: u64,
    /// Parked until their earliest allowed time.
    pub deferred: u64,
    /// Set aside with their reasons.
    pub denied: u64,
    /// Hopper depth after the fill.
    pub depth: u64,
}

/// A campaign's settings as stored (written only after validation).
pub fn settings_of(c: &CampaignRow) -> ApiResult<CampaignSettings> {
    serde_json::from_str(&c.settings)
        .map_err(|e| ApiError::internal(format!("stored campaign settings: {e}")))
}

pub fn mode_of(c: &CampaignRow) -> ApiResult<DialMode> {
    DialMode::parse(&c.mode)
        .ok_or_else(|| ApiError::internal(format!("stored campaign mode {:?}", c.mode)))
}

/// The facts about a campaign (with its parsed settings `s`) the
/// compliance engine weighs.
pub fn compliance_input(c: &CampaignRow, s: &CampaignSettings) -> ApiResult<CampaignInput> {
    let mode = mode_of(c)?;
    Ok(CampaignInput {
        id: Some(c.id),
        automated: mode.is_automated(),
        requires_written_consent: s.requires_written_consent,
        uk_mode: s.uk_mode,
        agent_guaranteed: mode.agent_guaranteed(),
        max_attempts_per_day: s.max_attempts_per_day,
        max_attempts_total: s.max_attempts_total,
        excluded_states: s.excluded_states.clone(),
        excluded_prefixes: s.excluded_prefixes.clone(),
    })
}

/// Why a lead may not be dialed now: parked until `until`, or set aside
/// for good (`None`), with the reasons as JSON.
#[derive(Debug)]
pub struct Refusal {
    pub until: Option<DateTime<Utc>>,
    pub reasons: serde_json::Value,
}

/// Ask the compliance engine about `contact` at `at` (stored as acted on
/// with `acted_on`). `Ok(Ok(number))` may be dialed; `Ok(Err(refusal))`
/// may not, and the lead has been parked or set aside already. A contact
/// that cannot be decided (no phone number) is set aside for good.
pub async fn check_lead(
    state: &AppState,
    scoped: &Scoped<'_, impl omnivox_store::ConnectionTrait>,
    campaign: Uuid,
    contact: Uuid,
    input: &CampaignInput,
    at: DateTime<Utc>,
    acted_on: bool,
) -> ApiResult<Result<String, Refusal>> {
    let tenant = scoped.tenant();
    let refusal = match decide_for(state, tenant, contact, None, input, at, acted_on).await {
        Ok((number, Decision::Allow { .. })) => return Ok(Ok(number)),
        Ok((_, d)) => Refusal {
            until: d.deferred_until(),
            reasons: serde_json::to_value(d.reasons()).map_err(ApiError::internal)?,
        },
        Err(ApiError::Validation(errors)) => Refusal {
            until: None,
            reasons: serde_json::to_value(&errors).map_err(ApiError::internal)?,
        },
        Err(e) => return Err(e),
    };
    scoped
        .set_lead_aside(
            campaign,
            contact,
            refusal.until,
            &refusal.reasons.to_string(),
        )
        .await?;
    Ok(Err(refusal))
}

fn candidate_order(order: &LeadOrder) -> CandidateOrder<'_> {
    match order {
        LeadOrder::NewFirst => CandidateOrder::NewFirst,
        LeadOrder::CustomField { field, descending } => CandidateOrder::CustomField {
            key: field,
            descending: *descending,
        },
        LeadOrder::FewestAttempts => CandidateOrder::FewestAttempts,
        LeadOrder::OldestLastAttempt => CandidateOrder::OldestLastAttempt,
    }
}

/// Interleave per-list candidates by weight (smooth weighted round robin:
/// weights 3 and 1 give a, a, b, a, a, a, b, ... until a list runs out).
pub fn mix_by_weight(mut queues: Vec<(i32, Vec<Candidate>)>, want: usize) -> Vec<Candidate> {
    let total: i64 = queues.iter().map(|(w, _)| i64::from((*w).max(1))).sum();
    let mut credit = vec![0i64; queues.len()];
    for (_, q) in &mut queues {
        q.reverse(); // pop from the end in order
    }
    let mut out = Vec::with_capacity(want);
    while out.len() < want && queues.iter().any(|(_, q)| !q.is_empty()) {
        let mut best: Option<usize> = None;
        for (i, (w, q)) in queues.iter().enumerate() {
            if q.is_empty() {
                continue;
            }
            credit[i] += i64::from((*w).max(1));
            if best.is_none_or(|b| credit[i] > credit[b]) {
                best = Some(i);
            }
        }
        let Some(b) = best else { break };
        credit[b] -= total;
        if let Some(c) = queues[b].1.pop() {
            out.push(c);
        }
    }
    out
}

/// The next leads to check, from the highest-priority lists that have any.
async fn next_candidates(
    scoped: &Scoped<'_, impl omnivox_store::ConnectionTrait>,
    campaign: Uuid,
    lists: &[CampaignListRow],
    order: CandidateOrder<'_>,
    at: DateTime<Utc>,
    want: usize,
) -> ApiResult<Vec<Candidate>> {
    let mut i = 0;
    while i < lists.len() {
        let priority = lists[i].priority;
        let mut queues = Vec::new();
        while i < lists.len() && lists[i].priority == priority {
            let l = &lists[i];
            let c = scoped
                .hopper_candidates(campaign, l.list_id, order, at, want as u64)
                .await?;
            if !c.is_empty() {
                queues.push((l.weight, c));
            }
            i += 1;
        }
        if !queues.is_empty() {
            return Ok(mix_by_weight(queues, want));
        }
    }
    Ok(Vec::new())
}

/// Top the campaign's hopper up to its `hopper_size` (not counting
/// callbacks kept for an agent) at `at`.
pub async fn fill(
    state: &AppState,
    tenant: TenantId,
    campaign: &CampaignRow,
    at: DateTime<Utc>,
) -> ApiResult<FillReport> {
    let settings = settings_of(campaign)?;
    let input = compliance_input(campaign, &settings)?;
    let writer = Scoped::new(state.store.writer(), tenant);
    let mut report = FillReport {
        added: writer.sync_leads(campaign.id).await?,
        ..FillReport::default()
    };
    let counts = writer.lead_counts(campaign.id).await?;
    let depth = counts.get(lead::QUEUED).copied().unwrap_or(0);
    let size = u64::from(settings.hopper_size);
    // Callbacks kept for an agent wait in the hopper for that agent alone:
    // however many there are, they take no one else's room.
    let kept = writer.kept_callbacks_queued(campaign.id).await?;
    let mut room = size.saturating_sub(depth.saturating_sub(kept)) as usize;
    let lists = writer.campaign_lists(campaign.id).await?;
    let order = candidate_order(&settings.lead_order);
    let budget = room * CHECKS_PER_SLOT;
    while room > 0 && (report.checked as usize) < budget {
        let batch = next_candidates(&writer, campaign.id, &lists, order, at, room).await?;
        if batch.is_empty() {
            break;
        }
        let mut allowed = Vec::new();
        for c in batch {
            report.checked += 1;
            match check_lead(state, &writer, campaign.id, c.contact_id, &input, at, false).await? {
                Ok(_) => allowed.push(c.contact_id),
                Err(Refusal { until: Some(_), .. }) => report.deferred += 1,
                Err(Refusal { until: None, .. }) => report.denied += 1,
            }
        }
        let queued = writer.queue_leads(campaign.id, &allowed).await?;
        report.queued += queued;
        room = room.saturating_sub(queued as usize);
    }
    report.depth = depth + report.queued;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cands(list: u128, n: usize) -> Vec<Candidate> {
        (0..n)
            .map(|i| Candidate {
                contact_id: Uuid::from_u128(list * 1000 + i as u128),
                list_id: Uuid::from_u128(list),
                attempts: 0,
            })
            .collect()
    }

    #[test]
    fn weights_mix_lists_in_proportion_and_keep_each_lists_order() {
        let out = mix_by_weight(vec![(3, cands(1, 30)), (1, cands(2, 30))], 20);
        let from_a = out
            .iter()
            .filter(|c| c.list_id == Uuid::from_u128(1))
            .count();
        assert_eq!(from_a, 15);
        assert_eq!(out.len(), 20);
        // Each list's own order is kept.
        let a: Vec<_> = out
            .iter()
            .filter(|c| c.list_id == Uuid::from_u128(1))
            .map(|c| c.contact_id)
            .collect();
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(a, sorted);
    }

    #[test]
    fn a_list_that_runs_out_leaves_the_rest_to_the_others() {
        let out = mix_by_weight(vec![(5, cands(1, 2)), (1, cands(2, 10))], 8);
        assert_eq!(out.len(), 8);
        assert_eq!(
            out.iter()
                .filter(|c| c.list_id == Uuid::from_u128(2))
                .count(),
            6
        );
    }
}
