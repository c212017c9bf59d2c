//! The live campaign runner: turns a running campaign's hopper into real
//! calls and every call's end into the lead's next step.
//!
//! Progressive dialing, customer first: for each ready agent logged into
//! the campaign and not already holding one of its lines, the oldest lead
//! of the hopper is checked by the compliance engine once more (the
//! decision is stored as acted on), its number locked and its attempt
//! written, and only then is the call placed: the customer through the
//! campaign's trunk, then the reserved agent's phone when the customer
//! answers. A watcher follows the calls' notices: the agent connected goes
//! `on_call` in the ACD; at the end the attempt gets its outcome (`normal`
//! for a conversation, `abandoned` when the customer answered and no agent
//! was connected, else the hangup cause), the lead its retry time from the
//! campaign's rules, and the agent wrap-up.

use super::hopper::Refusal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use chrono::{DateTime, Utc};
use omnivox_acd::Event;
use omnivox_dialer::campaign::{CallerId, CampaignSettings, DialMode};
use omnivox_domain::call::{CallState, LegId, LegState};
use omnivox_domain::{TenantId, UserId};
use omnivox_sip::{AmdOutcome, CallError, CallNotice, CallUpdate, Endpoint, Originate};
use omnivox_store::Scoped;
use omnivox_store::campaigns::{AttemptEnd, CampaignRow, LeadRow, lead};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A line the runner placed and still follows.
#[derive(Clone, Debug)]
pub(super) struct Line {
    pub tenant: TenantId,
    pub campaign: Uuid,
    pub attempt: Uuid,
    pub contact: Uuid,
    /// The agent reserved for the line (progressive, preview) or found for
    /// the answered customer (power, predictive); none for agentless.
    pub agent: Option<UserId>,
    /// The customer's leg: A when dialed first, B after the agent.
    pub customer_leg: LegId,
    /// The customer's leg was dialed at all.
    pub customer_rung: bool,
    /// The customer picked up.
    pub answered: bool,
    /// The agent was connected.
    pub bridged: bool,
    /// Answering-machine detection runs on the customer's answer.
    pub amd_on: bool,
    /// Its verdict.
    pub amd: Option<AmdOutcome>,
    /// Nobody took the answered call in time: the safe-harbor message
    /// played.
    pub dropped: bool,
    /// A message played to the customer (agentless, or left on a recorder).
    pub message: bool,
    pub placed_at: Instant,
    /// When the customer was known to be a person waiting for an agent.
    pub waiting_since: Option<Instant>,
    pub bridged_at: Option<Instant>,
}

/// How a finished call went, kept briefly for a line registered after its
/// call already ended (a call can end before `originate` returns).
#[derive(Clone, Debug)]
struct Ended {
    update: CallUpdate,
    at: Instant,
}

/// The runner's in-memory book: lines by call id, agents holding a line,
/// and calls that ended before their line was registered.
#[derive(Default)]
pub struct Runner {
    lines: Mutex<HashMap<Uuid, Line>>,
    /// Agents (per tenant) reserved for a line of some campaign.
    reserved: Mutex<HashSet<(TenantId, UserId)>>,
    early_ends: Mutex<HashMap<Uuid, Ended>>,
    /// Originates under way whose line is not registered yet: only while
    /// there are some can a call end before its line is known, so only
    /// then are ends of unknown calls kept.
    placing: AtomicUsize,
    /// Position in caller-ID pools.
    rotation: AtomicUsize,
    /// Pacing state of each power and predictive campaign.
    pub(super) pacers: Mutex<HashMap<Uuid, super::automated::Pacer>>,
    /// The origin of the pacing clock.
    epoch: std::sync::OnceLock<Instant>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Runner {
    /// Lines of `campaign` being dialed or talked on.
    pub fn lines_of(&self, campaign: Uuid) -> usize {
        lock(&self.lines)
            .values()
            .filter(|l| l.campaign == campaign)
            .count()
    }

    pub(super) fn reserve(&self, tenant: TenantId, agent: UserId) -> bool {
        lock(&self.reserved).insert((tenant, agent))
    }

    pub(super) fn release(&self, tenant: TenantId, agent: UserId) {
        lock(&self.reserved).remove(&(tenant, agent));
    }

    /// Seconds on the pacing clock.
    pub(super) fn secs(&self, t: Instant) -> f64 {
        let epoch = *self.epoch.get_or_init(Instant::now);
        t.saturating_duration_since(epoch).as_secs_f64()
    }

    /// The line of call `id`, changed by `f` (`None`: not a campaign call).
    pub(super) fn with_line<R>(&self, id: Uuid, f: impl FnOnce(&mut Line) -> R) -> Option<R> {
        lock(&self.lines).get_mut(&id).map(f)
    }

    /// Lines of `campaign`, copied.
    pub(super) fn lines_of_campaign(&self, campaign: Uuid) -> Vec<Line> {
        lock(&self.lines)
            .values()
            .filter(|l| l.campaign == campaign)
            .cloned()
            .collect()
    }

    /// The agent holds one of the campaigns' lines now.
    pub fn holds_line(&self, tenant: TenantId, agent: UserId) -> bool {
        lock(&self.reserved).contains(&(tenant, agent))
    }

    /// The caller ID for a call to `number`: the trunk's, a fixed number,
    /// the next of a pool, or (local presence) one of the tenant's DIDs in
    /// the called number's North American area code, else the fallback.
    async fn caller_id(
        &self,
        scoped: &Scoped<'_, impl omnivox_store::ConnectionTrait>,
        s: &CampaignSettings,
        number: &str,
    ) -> ApiResult<Option<String>> {
        Ok(match &s.caller_id {
            CallerId::Trunk => None,
            CallerId::Fixed { number } => Some(number.clone()),
            CallerId::Pool { numbers } if !numbers.is_empty() => {
                let i = self.rotation.fetch_add(1, Ordering::Relaxed) % numbers.len();
                Some(numbers[i].clone())
            }
            CallerId::Pool { .. } => None,
            CallerId::LocalPresence { fallback } => {
                let local = match area_prefix(number) {
                    Some(p) => scoped.did_with_prefix(p).await?,
                    None => None,
                };
                Some(local.unwrap_or_else(|| fallback.clone()))
            }
        })
    }
}

/// `+1NPA` of a North American number (where local presence is the norm).
fn area_prefix(e164: &str) -> Option<&str> {
    (e164.starts_with("+1") && e164.len() == 12).then(|| &e164[..5])
}

/// The outcome of an ended call, as retry rules and reports name it.
fn outcome(update: &CallUpdate, line: &Line) -> String {
    if line.bridged {
        return "normal".into();
    }
    if line.amd == Some(AmdOutcome::Machine) {
        return "machine".into();
    }
    if line.dropped {
        return "abandoned".into();
    }
    if line.message {
        // An agentless message reached a person.
        return "normal".into();
    }
    if line.answered {
        return "abandoned".into();
    }
    if !line.customer_rung {
        // The agent dialed first never connected: nobody called the customer.
        return "agent_no_answer".into();
    }
    match &update.to {
        CallState::Ended(h) => h.cause.as_str().to_owned(),
        _ => "normal".into(),
    }
}

fn sip_code(update: &CallUpdate) -> Option<i32> {
    match &update.to {
        CallState::Ended(h) => h.sip_code.map(i32::from),
        _ => None,
    }
}

/// Which party a campaign call rings first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// The customer, then the reserved agent on answer (progressive).
    CustomerFirst,
    /// The agent, then the customer (preview: the agent chose to dial).
    AgentFirst,
}

/// What became of one lead the dialer set out to call.
#[derive(Debug)]
pub enum Dialed {
    /// The call is up; the runner follows it.
    Placed { call_id: Uuid, attempt_id: Uuid },
    /// The compliance engine said no at the last check; the lead is parked
    /// or set aside.
    Refused(Refusal),
    /// The agent holds another line already.
    AgentBusy,
    /// Another campaign is dialing the number; the lead stays.
    NumberBusy,
    /// The call could not be placed; the attempt ended with `outcome`.
    NotPlaced { outcome: &'static str },
}

/// Dial `lead` for `agent`: the last compliance check (stored as acted
/// on), the number's lock and the attempt, then the call. `from_status` is
/// the lead's status now (`queued`, or `previewing` for the agent holding
/// the card). Without an agent (power, predictive, agentless) the customer
/// is dialed alone and the answered call parked until the runner connects
/// it or plays it a message.
#[allow(clippy::too_many_arguments)]
pub async fn dial_lead(
    state: &AppState,
    c: &CampaignRow,
    settings: &CampaignSettings,
    lead: &LeadRow,
    agent: Option<UserId>,
    order: Order,
    from_status: &str,
    at: DateTime<Utc>,
) -> ApiResult<Dialed> {
    let tenant = TenantId(c.tenant_id);
    let sip = state.sip.clone().ok_or(ApiError::Unavailable)?;
    let scoped = Scoped::new(state.store.writer(), tenant);
    let input = super::hopper::compliance_input(c, settings)?;
    let number =
        match super::hopper::check_lead(state, &scoped, c.id, lead.contact_id, &input, at, true)
            .await?
        {
            Ok(number) => number,
            Err(refusal) => return Ok(Dialed::Refused(refusal)),
        };
    let caller_id = state.runner.caller_id(&scoped, settings, &number).await?;
    if let Some(agent) = agent
        && !hold_agent(state, tenant, agent).await
    {
        return Ok(Dialed::AgentBusy);
    }
    let release = || async {
        if let Some(agent) = agent {
            release_agent(state, tenant, agent).await;
        }
    };
    let attempt = match scoped
        .begin_attempt(c.id, lead.contact_id, &number, from_status)
        .await
    {
        Ok(Some(attempt)) => attempt,
        Ok(None) => {
            release().await;
            return Ok(Dialed::NumberBusy);
        }
        Err(e) => {
            release().await;
            return Err(e.into());
        }
    };
    let customer = Endpoint::Number {
        number: number.clone(),
    };
    let agent_end = agent.map(|agent_id| Endpoint::Agent { agent_id });
    let (first, second, customer_leg) = match (order, agent_end) {
        (Order::AgentFirst, Some(agent_end)) => (agent_end, Some(customer), LegId::B),
        (_, second) => (customer, second, LegId::A),
    };
    let amd_on = settings.amd.enabled && customer_leg == LegId::A;
    state.runner.placing.fetch_add(1, Ordering::SeqCst);
    let placed_call = sip
        .calls()
        .originate(Originate {
            tenant_id: tenant,
            first,
            second,
            caller_id,
            ring_timeout_secs: Some(settings.ring_timeout_s),
            amd: amd_on.then(|| super::automated::amd_config(&settings.amd)),
            trunk_id: settings.trunk_id.as_deref().and_then(|t| t.parse().ok()),
            recording: crate::sip::calls::policy_named(settings.recording.as_deref()),
        })
        .await;
    match placed_call {
        Ok(call) => {
            let line = Line {
                tenant,
                campaign: c.id,
                attempt: attempt.id,
                contact: lead.contact_id,
                agent,
                customer_leg,
                customer_rung: false,
                answered: false,
                bridged: false,
                amd_on,
                amd: None,
                dropped: false,
                message: false,
                placed_at: Instant::now(),
                waiting_since: None,
                bridged_at: None,
            };
            super::publish(
                state,
                tenant,
                "campaign.dial",
                serde_json::json!({"campaign_id": c.id, "attempt_id": attempt.id,
                    "contact_id": lead.contact_id, "call_id": call.id, "agent_id": agent}),
            );
            // Followed from here on, whatever happens to the write below
            // (a failed write only costs the attempt its call id).
            lock(&state.runner.lines).insert(call.id, line);
            if let Err(e) = scoped.set_attempt_call(attempt.id, call.id).await {
                tracing::error!(attempt_id = %attempt.id, error = %e,
                    "noting the attempt's call");
            }
            let early = lock(&state.runner.early_ends).remove(&call.id);
            state.runner.placing.fetch_sub(1, Ordering::SeqCst);
            if let Some(e) = early {
                follow(state, &e.update).await;
            }
            Ok(Dialed::Placed {
                call_id: call.id,
                attempt_id: attempt.id,
            })
        }
        Err(e) => {
            state.runner.placing.fetch_sub(1, Ordering::SeqCst);
            release().await;
            let outcome = match &e {
                CallError::Forbidden(_) | CallError::Invalid(_) => "rejected",
                _ => "congestion",
            };
            tracing::warn!(campaign_id = %c.id, error = %e, "campaign dial not placed");
            let next_at = settings.next_attempt(outcome, lead.attempts as u32 + 1, at);
            scoped
                .finish_attempt(
                    attempt.id,
                    AttemptEnd {
                        outcome,
                        sip_code: None,
                        next_at,
                    },
                )
                .await?;
            Ok(Dialed::NotPlaced { outcome })
        }
    }
}

/// Dial what the campaign can take now: progressive, one line per ready
/// agent; power and predictive, what the campaign's pacing policy asks
/// for; agentless, up to its line limit. Returns the number of calls placed.
pub async fn pace(state: &AppState, c: &CampaignRow, at: DateTime<Utc>) -> ApiResult<usize> {
    let tenant = TenantId(c.tenant_id);
    let mode = super::hopper::mode_of(c)?;
    if mode == DialMode::Preview || state.sip.is_none() {
        return Ok(0);
    }
    let settings = super::hopper::settings_of(c)?;
    if !schedule_open(state, tenant, &settings, at).await? {
        return Ok(0);
    }
    let mut ready = ready_agents(state, tenant, c.id).await?;
    // Never more than the trunks take: a call over a trunk's channel or
    // calls-per-second limit would fail as congestion and burn an attempt.
    let mut room = trunk_room(state, tenant, settings.trunk_id.as_deref());
    let mut kept = Vec::new();
    if mode != DialMode::Progressive {
        // A callback kept for an agent waits for them, and is dialed for
        // them alone (customer first, as progressive) before the pacing
        // dials for whoever is free.
        kept = dial_kept_callbacks(state, c, &settings, &ready, room, at).await?;
        ready.retain(|a| !kept.contains(a));
        room -= kept.len();
    }
    let mut lines: Vec<Option<UserId>> = if mode == DialMode::Progressive {
        ready.into_iter().map(Some).collect()
    } else {
        let n = super::automated::lines_wanted(state, c, mode, &settings, ready.len()).await?;
        vec![None; n]
    };
    lines.truncate(room);
    Ok(kept.len() + dial_lines(state, c, &settings, lines, at).await?)
}

/// Dial the callbacks kept for agents of `ready`, one per agent, at most
/// `room` of them. Returns the agents now on those calls.
async fn dial_kept_callbacks(
    state: &AppState,
    c: &CampaignRow,
    settings: &CampaignSettings,
    ready: &[UserId],
    room: usize,
    at: DateTime<Utc>,
) -> ApiResult<Vec<UserId>> {
    let scoped = Scoped::new(state.store.reader(), TenantId(c.tenant_id));
    let ids: Vec<Uuid> = ready.iter().map(|a| a.0).collect();
    let mut taken = Vec::new();
    for lead in scoped.kept_callbacks(c.id, &ids).await? {
        let Some(agent) = lead.callback_agent.map(UserId) else {
            continue;
        };
        if taken.len() >= room || taken.contains(&agent) {
            continue;
        }
        let dialed = dial_lead(
            state,
            c,
            settings,
            &lead,
            Some(agent),
            Order::CustomerFirst,
            lead::QUEUED,
            at,
        )
        .await?;
        if let Dialed::Placed { .. } = dialed {
            taken.push(agent);
        }
    }
    Ok(taken)
}

/// The campaign's schedule lets it dial at `at` (its windows read in the
/// tenant's time zone).
pub async fn schedule_open(
    state: &AppState,
    tenant: TenantId,
    settings: &CampaignSettings,
    at: DateTime<Utc>,
) -> ApiResult<bool> {
    let tz = crate::auth::principal::tenant_zone(state, tenant).await?;
    Ok(settings.schedule.open_at(at, tz))
}

/// New calls the tenant's trunks (the campaign's own, when it names one)
/// can take this second: free channels, at most one second's worth of
/// their calls-per-second limit, on trunks that are up.
fn trunk_room(state: &AppState, tenant: TenantId, trunk: Option<&str>) -> usize {
    let Some(sip) = state.sip.as_ref() else {
        return 0;
    };
    let only = trunk.and_then(|id| id.parse::<Uuid>().ok());
    sip.calls()
        .trunk_status(tenant)
        .iter()
        .filter(|t| t.up && only.is_none_or(|id| id == t.id))
        .map(|t| {
            t.max_channels
                .saturating_sub(t.active_channels)
                .min(t.max_cps) as usize
        })
        .sum()
}

/// Takes `agent` for a line: the runner's mark and the ACD's hold, so no
/// inbound call is offered to them while the line is dialled. False when
/// another line has them or the ACD no longer lets the dialer take them
/// (an inbound offer got there first).
pub(super) async fn hold_agent(state: &AppState, tenant: TenantId, agent: UserId) -> bool {
    if !state.runner.reserve(tenant, agent) {
        return false;
    }
    let hold = Event::DialerHold { agent };
    match state.agents.apply(state, tenant, hold, None, None).await {
        Ok(_) => true,
        Err(e) => {
            tracing::debug!(agent_id = %agent.0, error = %e, "agent not held for a line");
            state.runner.release(tenant, agent);
            false
        }
    }
}

/// Lets `agent` go from a line that did not (or no longer) needs them;
/// inbound calls may be offered to them again.
pub(super) async fn release_agent(state: &AppState, tenant: TenantId, agent: UserId) {
    state.runner.release(tenant, agent);
    let release = Event::DialerRelease { agent };
    if let Err(e) = state.agents.apply(state, tenant, release, None, None).await {
        tracing::debug!(agent_id = %agent.0, error = %e, "agent hold not released");
    }
}

/// Agents of the campaign who could take a call now: available, logged
/// into it, with a registered phone, holding no line; longest idle first.
pub(super) async fn ready_agents(
    state: &AppState,
    tenant: TenantId,
    campaign: Uuid,
) -> ApiResult<Vec<UserId>> {
    let phones = registered_agents(state, tenant);
    Ok(state
        .agents
        .available_for_campaign(state, tenant, campaign)
        .await?
        .into_iter()
        .filter(|a| phones.contains(a) && !state.runner.holds_line(tenant, *a))
        .collect())
}

/// Dial one hopper lead per entry of `lines` (the agent reserved for it,
/// who gets their kept callbacks first, or none), customer first.
async fn dial_lines(
    state: &AppState,
    c: &CampaignRow,
    settings: &CampaignSettings,
    lines: Vec<Option<UserId>>,
    at: DateTime<Utc>,
) -> ApiResult<usize> {
    let scoped = Scoped::new(state.store.reader(), TenantId(c.tenant_id));
    let mut placed = 0;
    let mut lines = lines.into_iter();
    let mut line = lines.next();
    // A lead refused at the last check does not use the line up.
    let mut tries = 0;
    while let Some(agent) = line {
        tries += 1;
        if tries > 50 {
            break;
        }
        let Some(lead) = scoped.next_lead(c.id, agent.map(|a| a.0)).await? else {
            if agent.is_none() {
                break;
            }
            // Nothing for this agent; another may have a kept callback.
            line = lines.next();
            continue;
        };
        match dial_lead(
            state,
            c,
            settings,
            &lead,
            agent,
            Order::CustomerFirst,
            lead::QUEUED,
            at,
        )
        .await?
        {
            Dialed::Refused(_) => continue,
            Dialed::NumberBusy => break,
            Dialed::Placed { .. } => placed += 1,
            Dialed::AgentBusy | Dialed::NotPlaced { .. } => {}
        }
        line = lines.next();
    }
    Ok(placed)
}

/// Agents of `tenant` with a registered phone now.
pub fn registered_agents(state: &AppState, tenant: TenantId) -> HashSet<UserId> {
    state.sip.as_ref().map_or_else(HashSet::new, |sip| {
        sip.registrar()
            .registrations(tenant)
            .into_iter()
            .map(|r| r.agent_id)
            .collect()
    })
}

/// Apply one call notice to the line it belongs to.
async fn follow(state: &AppState, update: &CallUpdate) {
    let id = update.call.id;
    let Some((line, newly_answered)) = state.runner.with_line(id, |line| {
        let mut newly = false;
        for ch in &update.legs {
            if ch.leg == line.customer_leg {
                line.customer_rung = true;
                if ch.to == LegState::Answered && !line.answered {
                    line.answered = true;
                    newly = true;
                }
            }
        }
        (line.clone(), newly)
    }) else {
        return;
    };
    if newly_answered && !line.amd_on {
        // Without AMD every answer is taken for a person.
        super::automated::on_person(state, id, &line).await;
    }
    if matches!(update.to, CallState::Bridged) && !line.bridged {
        state.runner.with_line(id, |l| {
            l.bridged = true;
            l.bridged_at = Some(Instant::now());
        });
        if let Some(agent) = line.agent {
            let r = state
                .agents
                .apply(
                    state,
                    line.tenant,
                    Event::OutboundConnected {
                        agent,
                        call: omnivox_domain::CallId(id),
                    },
                    None,
                    None,
                )
                .await;
            if let Err(e) = r {
                tracing::warn!(call_id = %id, error = %e, "agent not marked on call");
            }
        }
    }
    if let CallState::Ended(_) = update.to {
        let Some(line) = lock(&state.runner.lines).remove(&id) else {
            return;
        };
        if let Err(e) = finish(state, &line, update).await {
            tracing::error!(call_id = %id, attempt_id = %line.attempt, error = %e,
                "closing a campaign attempt");
        }
    }
}

async fn finish(state: &AppState, line: &Line, update: &CallUpdate) -> ApiResult<()> {
    let outcome = outcome(update, line);
    let scoped = Scoped::new(state.store.writer(), line.tenant);
    let campaign = scoped.get_campaign(line.campaign).await?;
    let settings = super::hopper::settings_of(&campaign)?;
    let lead = scoped.get_lead(line.campaign, line.contact).await?;
    let now = state.clock.now();
    let next_at = settings.next_attempt(&outcome, lead.attempts as u32 + 1, now);
    scoped
        .finish_attempt(
            line.attempt,
            AttemptEnd {
                outcome: &outcome,
                sip_code: sip_code(update),
                next_at,
            },
        )
        .await?;
    super::automated::note_end(state, line);
    if let Some(agent) = line.agent {
        release_agent(state, line.tenant, agent).await;
    }
    if line.bridged {
        state
            .agents
            .apply(
                state,
                line.tenant,
                Event::CallEnded {
                    call: omnivox_domain::CallId(update.call.id),
                },
                None,
                None,
            )
            .await?;
    }
    super::publish(
        state,
        line.tenant,
        "campaign.attempt",
        serde_json::json!({"campaign_id": line.campaign, "attempt_id": line.attempt,
            "contact_id": line.contact, "call_id": update.call.id, "outcome": outcome,
            "next_at": next_at}),
    );
    Ok(())
}

/// Follow every call's notices until shutdown.
pub async fn watch(state: AppState, stop: CancellationToken) {
    let Some(sip) = state.sip.clone() else {
        return;
    };
    let mut rx = sip.calls().subscribe();
    loop {
        let notice = tokio::select! {
            _ = stop.cancelled() => return,
            n = rx.recv() => n,
        };
        match notice {
            Ok(CallNotice::Update(u)) => {
                let known = lock(&state.runner.lines).contains_key(&u.call.id);
                if known {
                    follow(&state, &u).await;
                } else if matches!(u.to, CallState::Ended(_))
                    && state.runner.placing.load(Ordering::SeqCst) > 0
                {
                    let mut early = lock(&state.runner.early_ends);
                    early.retain(|_, e| e.at.elapsed() < Duration::from_secs(60));
                    early.insert(
                        u.call.id,
                        Ended {
                            update: (*u).clone(),
                            at: Instant::now(),
                        },
                    );
                }
            }
            Ok(CallNotice::Amd {
                call_id,
                outcome,
                beep_ms,
                ..
            }) => super::automated::on_amd(&state, call_id, outcome, beep_ms.is_some()).await,
            Ok(_) => {}
            Err(RecvError::Lagged(n)) => {
                tracing::error!(missed = n, "campaign runner missed call notices");
            }
            Err(RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::area_prefix;

    #[test]
    fn local_presence_uses_north_american_area_codes_only() {
        assert_eq!(area_prefix("+14155550100"), Some("+1415"));
        assert_eq!(area_prefix("+442071234567"), None);
        assert_eq!(area_prefix("+1415555"), None);
    }
}
