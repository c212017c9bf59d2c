//! The agent service: one [`omnivox_acd::Acd`] per tenant, created on first
//! use and rebuilt from the store (agent profiles and each agent's last
//! stored state), then kept in memory behind a per-tenant lock.
//!
//! Every change goes through the ACD, which validates the transition. Each
//! input is applied to a copy first; the transitions it returns are written
//! to `agent_state_history` and only then does the copy replace the live
//! state, so the stored history and the in-memory state never disagree (a
//! failed write leaves both unchanged). Written transitions are published on
//! the event bus as `agent.state`. A tick task ends timed wrap-ups once a
//! second for every tenant with a live ACD.
//!
//! The ACD's decisions (offer a queued call to an agent, stop ringing one,
//! overflow, ...) from every input and tick go, once the transitions are
//! stored, to the decision sink: the inbound call controller
//! (`crate::inbound`) carries them out on the calls.
//!
//! After a restart no call survives (the SIP layer closes orphans); the
//! callbacks in queue still waiting in the store are back in line. A
//! rebuild puts an agent stored as ringing back to available and an agent
//! stored on a call into wrap-up (with the profile's wrap-up time and
//! disposition rule); both corrections are written and published like any
//! other transition.

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use omnivox_acd::queue::{Entry, EntryKind, Ewma};
use omnivox_acd::{
    Acd, AcdError, Agent, AgentError, AgentState, CampaignRef, Decision, Event, Level, Output,
    QueueConfig, QueueSnapshot, ReasonCode, Skill, SkillSet, Snapshot, TenantRules, Time,
    Transition,
};
use omnivox_domain::ids::{CallId, QueueId};
use omnivox_domain::{TenantId, UserId};
use omnivox_store::agents::{AgentProfileRow, AgentStateRow, NewAgentState};
use omnivox_store::{Scoped, StoreError};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The event kind of agent state changes on the bus.
pub const EVENT_KIND: &str = "agent.state";

type Slot = Arc<tokio::sync::Mutex<Option<Acd>>>;

/// The tenants' ACDs (see the module docs).
#[derive(Default)]
pub struct AgentService {
    tenants: std::sync::Mutex<HashMap<TenantId, Slot>>,
    /// Where the ACD's decisions go (set once at start-up).
    decisions: std::sync::OnceLock<DecisionSink>,
}

/// The receiving end of the ACD's decisions, per tenant.
pub type DecisionSink = tokio::sync::mpsc::UnboundedSender<(TenantId, Decision)>;

/// The name of a state as stored and shown (`not_ready`, ...).
pub fn state_name(s: &AgentState) -> &'static str {
    match s {
        AgentState::LoggedOut => "logged_out",
        AgentState::Available => "available",
        AgentState::Reserved { .. } => "reserved",
        AgentState::OnCall { .. } => "on_call",
        AgentState::WrapUp { .. } => "wrap_up",
        AgentState::NotReady { .. } => "not_ready",
    }
}

/// The reason of a not-ready state.
pub fn state_reason(s: &AgentState) -> Option<String> {
    match s {
        AgentState::NotReady { reason } => Some(reason.0.clone()),
        _ => None,
    }
}

/// The call of a ringing, on-call or wrap-up state.
pub fn state_call(s: &AgentState) -> Option<Uuid> {
    match s {
        AgentState::Reserved { call, .. }
        | AgentState::OnCall { call, .. }
        | AgentState::WrapUp { call, .. } => Some(call.0),
        _ => None,
    }
}

/// A profile's stored skills as the ACD's skill set. The API only stores
/// validated levels, so anything else is corrupt data.
pub fn parse_skills(text: &str) -> Result<SkillSet, StoreError> {
    let raw: BTreeMap<String, u8> = serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("agent skills: {e}")))?;
    raw.into_iter()
        .map(|(k, v)| {
            Level::new(v)
                .map(|l| (Skill::new(k), l))
                .map_err(|e| StoreError::Corrupt(format!("agent skill `{v}`: {e}")))
        })
        .collect()
}

fn acd_error(e: AcdError) -> ApiError {
    match e {
        AcdError::Agent(AgentError::DispositionRequired { .. }) => ApiError::unprocessable(
            "disposition_required",
            "this wrap-up needs a disposition code",
        ),
        e => ApiError::conflict("invalid_transition", e.to_string()),
    }
}

fn wrap_up_of(p: Option<&AgentProfileRow>) -> (chrono::TimeDelta, bool) {
    p.map_or((chrono::TimeDelta::zero(), false), |p| {
        (
            chrono::TimeDelta::seconds(i64::from(p.wrap_up_seconds.max(0))),
            p.disposition_required,
        )
    })
}

/// The state a stored history row describes, before restart corrections.
fn stored_state(row: &AgentStateRow, profile: Option<&AgentProfileRow>) -> ApiResult<AgentState> {
    let call = || {
        row.call_id
            .map(CallId)
            .ok_or_else(|| ApiError::internal(format!("history row {} has no call id", row.id)))
    };
    Ok(match row.state.as_str() {
        "logged_out" => AgentState::LoggedOut,
        "available" => AgentState::Available,
        "not_ready" => AgentState::NotReady {
            reason: ReasonCode::new(row.reason.clone().unwrap_or_default()),
        },
        "reserved" => AgentState::Reserved {
            call: call()?,
            queue: None,
            deadline: row.at,
        },
        "on_call" => AgentState::OnCall {
            call: call()?,
            queue: None,
        },
        "wrap_up" => {
            let (wrap, required) = wrap_up_of(profile);
            AgentState::WrapUp {
                call: call()?,
                until: row.at + wrap,
                disposition_required: required,
            }
        }
        other => {
            return Err(ApiError::internal(format!(
                "history row {} has unknown state `{other}`",
                row.id
            )));
        }
    })
}

/// A tenant's ACD from the store, and the corrections a restart implies.
async fn rebuild(
    state: &AppState,
    tenant: TenantId,
    now: Time,
) -> ApiResult<(Acd, Vec<Transition>)> {
    let s = Scoped::new(state.store.reader(), tenant);
    let queue_rows = s.list_queues().await?;
    let queues = queue_rows
        .iter()
        .map(crate::routes::queues::queue_config)
        .collect::<ApiResult<Vec<QueueConfig>>>()?;
    let profiles: HashMap<Uuid, AgentProfileRow> = s
        .list_agent_profiles()
        .await?
        .into_iter()
        .map(|p| (p.user_id, p))
        .collect();
    let mut agents = Vec::new();
    let mut fixes = Vec::new();
    for row in s.last_agent_states().await? {
        let user = UserId(row.user_id);
        // A removed member's history stays for reports, but they take no
        // more calls.
        if s.role_of(user).await?.is_none() {
            continue;
        }
        let profile = profiles.get(&row.user_id);
        let mut a = Agent::new(user, row.at);
        if let Some(p) = profile {
            a.skills = parse_skills(&p.skills)?;
            a.max_missed_offers = u32::try_from(p.max_missed_offers).ok();
        }
        // Still logged in: the campaigns of that login hold.
        if row.state != "logged_out"
            && let Some(text) = s.last_login_campaigns(user).await?
        {
            let ids: Vec<Uuid> = serde_json::from_str(&text)
                .map_err(|e| ApiError::internal(format!("stored login campaigns: {e}")))?;
            a.campaigns = ids.into_iter().map(CampaignRef).collect();
        }
        // And its queues, those that still exist.
        if row.state != "logged_out"
            && let Some(text) = s.last_login_queues(user).await?
        {
            let ids: Vec<Uuid> = serde_json::from_str(&text)
                .map_err(|e| ApiError::internal(format!("stored login queues: {e}")))?;
            a.queues = ids
                .into_iter()
                .map(QueueId)
                .filter(|q| queues.iter().any(|c| c.id == *q))
                .collect();
        }
        let stored = stored_state(&row, profile)?;
        let fixed = match &stored {
            // The offer did not survive the restart.
            AgentState::Reserved { .. } => Some(AgentState::Available),
            // The call ended with the restart: wrap it up.
            AgentState::OnCall { call, .. } => {
                let (wrap, required) = wrap_up_of(profile);
                Some(AgentState::WrapUp {
                    call: *call,
                    until: now + wrap,
                    disposition_required: required,
                })
            }
            _ => None,
        };
        a.state = match fixed {
            Some(to) => {
                fixes.push(Transition {
                    agent: user,
                    at: now,
                    from: stored,
                    to: to.clone(),
                });
                to
            }
            None => stored,
        };
        agents.push(a);
    }
    // Callbacks in queue outlive a restart: back in line, in their order.
    let entries: Vec<Entry> = s
        .waiting_queue_callbacks()
        .await?
        .into_iter()
        .filter(|c| queues.iter().any(|q| q.id.0 == c.queue_id))
        .zip(0..)
        .map(|(c, seq)| Entry {
            call: CallId(c.id),
            queue: QueueId(c.queue_id),
            priority: c.priority,
            seq,
            enqueued_at: c.requested_at,
            kind: EntryKind::Callback,
            tried: Vec::new(),
            offered_to: Vec::new(),
            deadline: None,
            last_announced: None,
        })
        .collect();
    let next_seq = u64::try_from(entries.len()).unwrap_or(u64::MAX);
    let acd = Acd::rebuild(Snapshot {
        tenant,
        rules: crate::routes::acd_settings::stored_rules(&s).await?,
        queues: queues
            .into_iter()
            .zip(&queue_rows)
            .map(|(config, row)| QueueSnapshot {
                config,
                // The estimates go on from the handle time measured so far.
                handle_time: Ewma {
                    value_ms: row.handle_time_ms,
                    ..Ewma::new(HANDLE_TIME_ALPHA)
                },
                rr_last: None,
            })
            .collect(),
        agents,
        entries,
        // The dialer's lines did not survive the restart.
        dialer_holds: Vec::new(),
        next_seq,
    })
    .map_err(|e| ApiError::internal(format!("rebuilding the ACD: {e}")))?;
    Ok((acd, fixes))
}

/// The weight of each new handle time in a queue's average.
const HANDLE_TIME_ALPHA: f64 = 0.2;

/// Replaces the live `acd` with `next`, the result of a step whose output
/// is `out`; returns the queues whose measured handle time moved (a handled
/// call ended), with the new value.
fn advance(acd: &mut Acd, next: Acd, out: &Output) -> Vec<(QueueId, f64)> {
    let moved = if out.transitions.is_empty() {
        Vec::new()
    } else {
        next.queue_ids()
            .filter_map(|id| {
                let now = next.queue(&id)?.handle_time.value_ms?;
                let was = acd.queue(&id).and_then(|q| q.handle_time.value_ms);
                (was != Some(now)).then_some((id, now))
            })
            .collect()
    };
    *acd = next;
    moved
}

/// Keep the queues' new handle times (a failure costs only the estimate
/// after a restart: logged).
async fn persist_handle_times(state: &AppState, tenant: TenantId, moved: &[(QueueId, f64)]) {
    let s = Scoped::new(state.store.writer(), tenant);
    for (queue, ms) in moved {
        if let Err(e) = s.set_queue_handle_time(queue.0, *ms).await {
            tracing::warn!(queue_id = %queue.0, error = %e, "queue handle time not stored");
        }
    }
}

/// Store transitions in the history (in order). `disposition` goes on the
/// transition that leaves a wrap-up.
async fn persist(
    state: &AppState,
    tenant: TenantId,
    transitions: &[Transition],
    disposition: Option<&str>,
    login_campaigns: Option<&[CampaignRef]>,
    login_queues: Option<&[QueueId]>,
) -> Result<(), StoreError> {
    let campaigns = login_campaigns
        .map(|c| serde_json::to_string(&c.iter().map(|r| r.0).collect::<Vec<_>>()))
        .transpose()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let rows = transitions
        .iter()
        .map(|t| NewAgentState {
            user: t.agent,
            state: state_name(&t.to).to_owned(),
            reason: state_reason(&t.to),
            call_id: state_call(&t.to),
            disposition: if matches!(t.from, AgentState::WrapUp { .. }) {
                disposition.map(str::to_owned)
            } else {
                None
            },
            campaigns: if matches!(t.from, AgentState::LoggedOut) {
                campaigns.clone()
            } else {
                None
            },
            at: t.at,
        })
        .collect();
    let Some(queues) = login_queues else {
        return Scoped::new(state.store.writer(), tenant)
            .record_agent_states(rows)
            .await;
    };
    // A login's queues go on its row, in the same transaction.
    let queues = serde_json::to_string(&queues.iter().map(|q| q.0).collect::<Vec<_>>())
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let tx = state.store.begin().await?;
    let s = Scoped::new(&tx, tenant);
    s.record_agent_states(rows).await?;
    for t in transitions {
        if matches!(t.from, AgentState::LoggedOut)
            && !s.set_login_queues(t.agent, t.at, &queues).await?
        {
            return Err(StoreError::Corrupt(format!(
                "the login row of agent {} at {} is missing",
                t.agent, t.at
            )));
        }
    }
    omnivox_store::commit(tx).await
}

fn publish(
    state: &AppState,
    tenant: TenantId,
    transitions: &[Transition],
    disposition: Option<&str>,
    extra: Option<&serde_json::Value>,
) {
    for t in transitions {
        let leaves_wrap_up = matches!(t.from, AgentState::WrapUp { .. });
        let mut data = serde_json::json!({
            "user_id": t.agent.0,
            "state": state_name(&t.to),
            "reason": state_reason(&t.to),
            "call_id": state_call(&t.to),
            "from": state_name(&t.from),
            "at": t.at,
        });
        if leaves_wrap_up {
            data["disposition"] = serde_json::json!(disposition);
            if let Some(x) = extra {
                data["disposition_details"] = x.clone();
            }
        }
        state
            .events
            .publish(tenant, EVENT_KIND, Some(t.agent.0.to_string()), data);
    }
}

impl AgentService {
    fn slot(&self, tenant: TenantId) -> Slot {
        self.tenants
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(tenant)
            .or_default()
            .clone()
    }

    /// The tenant's live ACD, rebuilt from the store on first use.
    async fn live<'g>(
        state: &AppState,
        tenant: TenantId,
        guard: &'g mut Option<Acd>,
    ) -> ApiResult<&'g mut Acd> {
        if guard.is_none() {
            let now = omnivox_store::now();
            let (acd, fixes) = rebuild(state, tenant, now).await?;
            persist(state, tenant, &fixes, None, None, None).await?;
            publish(state, tenant, &fixes, None, None);
            if !fixes.is_empty() {
                tracing::info!(tenant_id = %tenant, corrected = fixes.len(),
                    "agent states corrected after a restart");
            }
            *guard = Some(acd);
        }
        guard
            .as_mut()
            .ok_or_else(|| ApiError::internal("ACD missing after rebuild"))
    }

    /// Apply `event` to the tenant's ACD at the current time: validated by
    /// the ACD, stored, then published. `disposition` (and `details`, sent
    /// with the event) label a transition that ends a wrap-up.
    pub async fn apply(
        &self,
        state: &AppState,
        tenant: TenantId,
        event: Event,
        disposition: Option<&str>,
        details: Option<&serde_json::Value>,
    ) -> ApiResult<Output> {
        let slot = self.slot(tenant);
        let mut guard = slot.lock().await;
        let acd = Self::live(state, tenant, &mut guard).await?;
        let now = omnivox_store::now();
        let mut next = acd.clone();
        let (login_campaigns, login_queues) = match &event {
            Event::AgentLogin {
                campaigns, queues, ..
            } => (Some(campaigns.clone()), Some(queues.clone())),
            _ => (None, None),
        };
        let out = next.handle(now, event).map_err(acd_error)?;
        persist(
            state,
            tenant,
            &out.transitions,
            disposition,
            login_campaigns.as_deref(),
            login_queues.as_deref(),
        )
        .await?;
        let moved = advance(acd, next, &out);
        persist_handle_times(state, tenant, &moved).await;
        publish(state, tenant, &out.transitions, disposition, details);
        self.forward(tenant, &out.decisions);
        Ok(out)
    }

    /// Sends the ACD's decisions to the inbound call controller. Until a
    /// sink is set (no SIP endpoint), there are no calls to act on.
    pub fn set_decision_sink(&self, sink: DecisionSink) {
        let _ = self.decisions.set(sink);
    }

    fn forward(&self, tenant: TenantId, decisions: &[Decision]) {
        if let Some(sink) = self.decisions.get() {
            for d in decisions {
                let _ = sink.send((tenant, d.clone()));
            }
        }
    }

    /// The current state of `users` (logged out when the ACD has never seen
    /// them).
    pub async fn states(
        &self,
        state: &AppState,
        tenant: TenantId,
        users: &[UserId],
    ) -> ApiResult<Vec<AgentState>> {
        let slot = self.slot(tenant);
        let mut guard = slot.lock().await;
        let acd = Self::live(state, tenant, &mut guard).await?;
        Ok(users
            .iter()
            .map(|u| {
                acd.agent(u)
                    .map_or(AgentState::LoggedOut, |a| a.state.clone())
            })
            .collect())
    }

    /// One tick for every tenant with a live ACD: wrap-ups that end, offer
    /// timeouts, routing. A failed write leaves that tenant's state as it
    /// was; the next tick tries again.
    pub async fn tick_all(&self, state: &AppState) {
        let slots: Vec<(TenantId, Slot)> = self
            .tenants
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(t, s)| (*t, s.clone()))
            .collect();
        for (tenant, slot) in slots {
            let mut guard = slot.lock().await;
            let Some(acd) = guard.as_mut() else {
                continue;
            };
            let now = omnivox_store::now();
            let mut next = acd.clone();
            let out = next.tick(now);
            match persist(state, tenant, &out.transitions, None, None, None).await {
                Ok(()) => {
                    let moved = advance(acd, next, &out);
                    persist_handle_times(state, tenant, &moved).await;
                    publish(state, tenant, &out.transitions, None, None);
                    self.forward(tenant, &out.decisions);
                }
                Err(e) => {
                    tracing::warn!(tenant_id = %tenant, error = %e, "agent tick not stored; retrying");
                }
            }
        }
    }
}

/// Tick every live ACD once a second until `stop`.
pub async fn tick_task(state: AppState, stop: CancellationToken) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = every.tick() => state.agents.tick_all(&state).await,
        }
    }
}

impl AgentService {
    /// How many agents logged into `campaign` are in each state.
    pub async fn campaign_agent_states(
        &self,
        state: &AppState,
        tenant: TenantId,
        campaign: Uuid,
    ) -> ApiResult<BTreeMap<String, u64>> {
        let slot = self.slot(tenant);
        let mut guard = slot.lock().await;
        let acd = Self::live(state, tenant, &mut guard).await?;
        let mut out = BTreeMap::new();
        for a in acd.snapshot().agents {
            if a.campaigns.contains(&CampaignRef(campaign)) && a.is_logged_in() {
                *out.entry(state_name(&a.state).to_owned()).or_insert(0) += 1;
            }
        }
        Ok(out)
    }

    /// Available agents logged into `campaign`, longest idle first (the
    /// dialer's choice of agent for a progressive line).
    pub async fn available_for_campaign(
        &self,
        state: &AppState,
        tenant: TenantId,
        campaign: Uuid,
    ) -> ApiResult<Vec<UserId>> {
        let slot = self.slot(tenant);
        let mut guard = slot.lock().await;
        let acd = Self::live(state, tenant, &mut guard).await?;
        let mut agents: Vec<_> = acd
            .snapshot()
            .agents
            .into_iter()
            .filter(|a| {
                a.is_available()
                    && a.campaigns.contains(&CampaignRef(campaign))
                    && acd.may_dialer_take(&a.id)
            })
            .map(|a| (a.idle_since, a.id))
            .collect();
        agents.sort();
        Ok(agents.into_iter().map(|(_, id)| id).collect())
    }
}

impl AgentService {
    /// Add or change a queue in the tenant's live ACD. A tenant whose ACD is
    /// not live yet loads its queues from the store on first use.
    pub async fn upsert_queue(&self, tenant: TenantId, config: QueueConfig) {
        let slot = self.slot(tenant);
        let mut guard = slot.lock().await;
        if let Some(acd) = guard.as_mut() {
            acd.upsert_queue(config);
        }
    }

    /// Remove a deleted queue from the tenant's live ACD: agents logged in
    /// to it leave it, calls still in it are dropped (the route refuses to
    /// delete a queue with calls).
    pub async fn remove_queue(&self, tenant: TenantId, queue: QueueId) -> ApiResult<()> {
        let slot = self.slot(tenant);
        let mut guard = slot.lock().await;
        let Some(acd) = guard.as_mut() else {
            return Ok(());
        };
        let mut snap = acd.snapshot();
        snap.queues.retain(|q| q.config.id != queue);
        let before = snap.entries.len();
        snap.entries.retain(|e| e.queue != queue);
        if snap.entries.len() != before {
            tracing::warn!(tenant_id = %tenant, queue_id = %queue,
                dropped = before - snap.entries.len(), "calls dropped with a deleted queue");
        }
        for a in &mut snap.agents {
            a.queues.retain(|q| *q != queue);
        }
        *acd = Acd::rebuild(snap)
            .map_err(|e| ApiError::internal(format!("removing queue {queue}: {e}")))?;
        Ok(())
    }

    /// `agent`'s own limit of missed offers (their profile's) in the
    /// tenant's live ACD.
    pub async fn set_miss_limit(&self, tenant: TenantId, agent: UserId, limit: Option<u32>) {
        let slot = self.slot(tenant);
        let mut guard = slot.lock().await;
        if let Some(acd) = guard.as_mut() {
            acd.set_miss_limit(agent, limit);
        }
    }

    /// New tenant-wide rules for the tenant's live ACD (one not live yet
    /// reads them from the store when it is built).
    pub async fn set_rules(&self, tenant: TenantId, rules: TenantRules) {
        let slot = self.slot(tenant);
        let mut guard = slot.lock().await;
        if let Some(acd) = guard.as_mut() {
            acd.set_rules(rules);
        }
    }

    /// Read the tenant's live ACD (rebuilt from the store on first use).
    pub async fn with_acd<R>(
        &self,
        state: &AppState,
        tenant: TenantId,
        f: impl FnOnce(&Acd) -> R,
    ) -> ApiResult<R> {
        let slot = self.slot(tenant);
        let mut guard = slot.lock().await;
        let acd = Self::live(state, tenant, &mut guard).await?;
        Ok(f(acd))
    }
}
