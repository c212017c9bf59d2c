//! Power, predictive and agentless lines: the customer is dialed with
//! nobody reserved, and what happens at the answer is decided here.
//!
//! - Pacing: power dials `dial_ratio` lines per ready agent, predictive
//!   what the campaign's [`Predictive`](omnivox_dialer::Predictive) policy
//!   asks for, fed the same [`Observation`] the simulator builds (agents by
//!   state, calls in flight and their ages, answered calls waiting, the
//!   outcomes since the last tick), agentless up to `agentless_lines`.
//! - With answering-machine detection the answer is judged first; a
//!   machine is hung up on or gets the campaign's message after its beep.
//! - A person on a power or predictive line is connected to the campaign's
//!   longest-idle ready agent. If none is free within the 2-second grace
//!   the safe-harbor message plays and the call counts as abandoned (in UK
//!   mode the number is then not called for 72 hours: the compliance engine
//!   reads the abandoned attempt).
//! - A person on an agentless line hears the campaign's message.

use super::runner::{Line, lock, ready_agents};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use omnivox_dialer::campaign::{AmdSettings, CampaignSettings, DialMode, MachineAction};
use omnivox_dialer::{
    AgentObs, AgentState, CallObs, Observation, Outcome, PacingPolicy, WaitingObs, policy_from_name,
};
use omnivox_domain::{TenantId, UserId};
use omnivox_media::amd::AmdConfig;
use omnivox_media::prompt::Prompt;
use omnivox_sip::{AmdOutcome, CallCommand, Endpoint};
use omnivox_store::Scoped;
use omnivox_store::campaigns::CampaignRow;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The time an answered person may wait for an agent (FTC TSR
/// 310.4(b)(4)(i); Ofcom's 2 seconds).
pub const GRACE: Duration = Duration::from_secs(2);

/// How often a waiting call looks for a free agent.
const SEEK_EVERY: Duration = Duration::from_millis(50);

/// At most this many calls placed per campaign and tick.
const MAX_DIALS_PER_TICK: u32 = 50;

/// One campaign's pacing policy and what happened since its last tick.
pub struct Pacer {
    name: String,
    policy: Box<dyn PacingPolicy>,
    outcomes: Vec<Outcome>,
}

/// The detector's settings on a campaign's calls: the defaults (tuned on
/// the labelled corpus) with the thresholds the campaign sets, listening
/// for a recorder's beep for up to 10 s.
pub fn amd_config(s: &AmdSettings) -> AmdConfig {
    let d = AmdConfig::default();
    AmdConfig {
        initial_silence_ms: s.initial_silence_ms.unwrap_or(d.initial_silence_ms),
        greeting_ms: s.greeting_ms.unwrap_or(d.greeting_ms),
        after_greeting_silence_ms: s
            .after_greeting_silence_ms
            .unwrap_or(d.after_greeting_silence_ms),
        max_analysis_ms: s.max_analysis_ms.unwrap_or(d.max_analysis_ms),
        min_word_ms: s.min_word_ms.unwrap_or(d.min_word_ms),
        between_words_silence_ms: s
            .between_words_silence_ms
            .unwrap_or(d.between_words_silence_ms),
        max_words: s.max_words.unwrap_or(d.max_words),
        max_word_ms: s.max_word_ms.unwrap_or(d.max_word_ms),
        beep_wait_ms: 10_000,
        ..d
    }
}

/// The pacing policy a campaign in `mode` runs.
fn policy_name(mode: DialMode, s: &CampaignSettings) -> Option<String> {
    match mode {
        DialMode::Predictive => Some("predictive".into()),
        DialMode::Power => Some(format!("ratio:{}", s.dial_ratio)),
        _ => None,
    }
}

/// Tell the campaign's policy what happened.
fn note(state: &AppState, campaign: Uuid, outcome: Outcome) {
    if let Some(p) = lock(&state.runner.pacers).get_mut(&campaign) {
        p.outcomes.push(outcome);
    }
}

fn now_s(state: &AppState) -> f64 {
    state.runner.secs(Instant::now())
}

/// How many calls to place now for an automated campaign with `ready`
/// agents free.
pub(super) async fn lines_wanted(
    state: &AppState,
    c: &CampaignRow,
    mode: DialMode,
    s: &CampaignSettings,
    ready: usize,
) -> ApiResult<usize> {
    if mode == DialMode::Agentless {
        return Ok((s.agentless_lines as usize).saturating_sub(state.runner.lines_of(c.id)));
    }
    let Some(name) = policy_name(mode, s) else {
        return Ok(0);
    };
    let lines = state.runner.lines_of_campaign(c.id);
    let counts = state
        .agents
        .campaign_agent_states(state, TenantId(c.tenant_id), c.id)
        .await?;
    let count = |k: &str| counts.get(k).copied().unwrap_or(0) as usize;
    let now = Instant::now();
    let since = |t: Instant| now.saturating_duration_since(t).as_secs_f64();
    let agent = |state, in_state_s| AgentObs {
        state,
        in_state_s,
        leaving: false,
    };
    let mut agents: Vec<AgentObs> = vec![agent(AgentState::Ready, 0.0); ready];
    let mut calls = Vec::new();
    let mut waiting = Vec::new();
    for l in &lines {
        match (l.agent, l.bridged_at, l.waiting_since) {
            // Talking, or about to (its phone rings).
            (Some(_), Some(b), _) => agents.push(agent(AgentState::Talking, since(b))),
            (Some(_), None, _) => agents.push(agent(AgentState::Talking, 0.0)),
            (None, _, Some(w)) if !l.dropped => waiting.push(WaitingObs { waited_s: since(w) }),
            (None, _, None) if !l.answered || (l.amd_on && l.amd.is_none()) => {
                calls.push(CallObs {
                    age_s: since(l.placed_at),
                })
            }
            _ => {}
        }
    }
    agents.extend(std::iter::repeat_n(
        agent(AgentState::Wrap, 0.0),
        count("wrap_up"),
    ));
    agents.extend(std::iter::repeat_n(
        agent(AgentState::Paused, 0.0),
        count("not_ready"),
    ));
    let mut pacers = lock(&state.runner.pacers);
    if pacers.get(&c.id).is_none_or(|p| p.name != name) {
        // New, or its settings changed.
        let policy = policy_from_name(&name)
            .map_err(|e| ApiError::internal(format!("pacing policy {name}: {e}")))?;
        pacers.insert(
            c.id,
            Pacer {
                name,
                policy,
                outcomes: Vec::new(),
            },
        );
    }
    let Some(pacer) = pacers.get_mut(&c.id) else {
        return Ok(0);
    };
    let outcomes = std::mem::take(&mut pacer.outcomes);
    let obs = Observation {
        now_s: state.runner.secs(now),
        shift_end_s: None,
        tick_s: super::SUPERVISE_EVERY.as_secs_f64(),
        grace_s: GRACE.as_secs_f64(),
        abandon_target: s.max_abandon_pct / 100.0,
        agents: &agents,
        calls: &calls,
        waiting: &waiting,
        outcomes: &outcomes,
    };
    Ok(pacer.policy.decide(&obs).min(MAX_DIALS_PER_TICK) as usize)
}

/// The answered customer of `call` is a person (no AMD, or AMD said human
/// or unsure).
pub(super) async fn on_person(state: &AppState, call: Uuid, line: &Line) {
    note_dial_end(state, line, true);
    if line.agent.is_some() {
        // Progressive with AMD: the call itself dials the reserved agent.
        return;
    }
    let r = async {
        let (c, mode, settings) = campaign(state, line).await?;
        if mode == DialMode::Agentless {
            let name = settings.agentless_prompt.as_deref().unwrap_or_default();
            let prompt = state.prompt_audio.load(state, line.tenant, name).await?;
            state.runner.with_line(call, |l| l.message = true);
            announce(state, line.tenant, call, prompt, false).await;
            return Ok(());
        }
        state
            .runner
            .with_line(call, |l| l.waiting_since = Some(Instant::now()));
        let safe_harbor = match settings.safe_harbor_prompt.as_deref() {
            Some(name) => Some(state.prompt_audio.load(state, line.tenant, name).await?),
            None => None,
        };
        let state = state.clone();
        let line = line.clone();
        tokio::spawn(async move { seek_agent(&state, &c, call, &line, safe_harbor).await });
        ApiResult::Ok(())
    }
    .await;
    if let Err(e) = r {
        tracing::error!(call_id = %call, error = %e, "answered campaign call: hanging up");
        hang_up(state, line.tenant, call).await;
    }
}

/// AMD judged the customer of `call`.
pub(super) async fn on_amd(state: &AppState, call: Uuid, outcome: AmdOutcome, beep: bool) {
    let Some(line) = state.runner.with_line(call, |l| {
        let first = l.amd.is_none();
        l.amd.get_or_insert(outcome);
        first.then(|| l.clone())
    }) else {
        return;
    };
    // The beep after a machine verdict: the call plays its message itself.
    let (Some(line), false) = (line, beep) else {
        return;
    };
    super::publish(
        state,
        line.tenant,
        "campaign.amd",
        serde_json::json!({"campaign_id": line.campaign, "attempt_id": line.attempt,
            "call_id": call, "outcome": outcome.as_str()}),
    );
    if outcome != AmdOutcome::Machine {
        on_person(state, call, &line).await;
        return;
    }
    note(
        state,
        line.campaign,
        Outcome::MachineDetected { at_s: now_s(state) },
    );
    note_dial_end(state, &line, false);
    let r = async {
        let (_, _, settings) = campaign(state, &line).await?;
        match &settings.amd.on_machine {
            MachineAction::Hangup => hang_up(state, line.tenant, call).await,
            MachineAction::LeavePrompt { prompt } => {
                let prompt = state.prompt_audio.load(state, line.tenant, prompt).await?;
                state.runner.with_line(call, |l| l.message = true);
                announce(state, line.tenant, call, prompt, true).await;
            }
        }
        ApiResult::Ok(())
    }
    .await;
    if let Err(e) = r {
        tracing::error!(call_id = %call, error = %e, "machine on a campaign call: hanging up");
        hang_up(state, line.tenant, call).await;
    }
}

/// Find the waiting customer of `call` an agent within the grace, or play
/// the safe-harbor message.
async fn seek_agent(
    state: &AppState,
    c: &CampaignRow,
    call: Uuid,
    line: &Line,
    safe_harbor: Option<Prompt>,
) {
    let tenant = line.tenant;
    let deadline = Instant::now() + GRACE;
    loop {
        let Some(waiting_since) = state.runner.with_line(call, |l| l.waiting_since) else {
            return; // the call ended
        };
        match ready_agents(state, tenant, c.id).await {
            Ok(agents) => {
                for agent in agents {
                    if connect(state, tenant, call, agent).await {
                        note(
                            state,
                            line.campaign,
                            Outcome::Connected {
                                at_s: now_s(state),
                                waited_s: waiting_since.map_or(0.0, |w| w.elapsed().as_secs_f64()),
                            },
                        );
                        return;
                    }
                }
            }
            Err(e) => tracing::warn!(call_id = %call, error = %e, "looking for an agent"),
        }
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(SEEK_EVERY).await;
    }
    // Nobody in time: abandoned, whatever the message does next.
    let Some(waited) = state.runner.with_line(call, |l| {
        l.dropped = true;
        l.waiting_since.map(|w| w.elapsed().as_secs_f64())
    }) else {
        return;
    };
    note(
        state,
        line.campaign,
        Outcome::Dropped {
            at_s: now_s(state),
            waited_s: waited.unwrap_or_default(),
        },
    );
    super::publish(
        state,
        tenant,
        "campaign.drop",
        serde_json::json!({"campaign_id": line.campaign, "attempt_id": line.attempt,
            "call_id": call}),
    );
    match safe_harbor {
        Some(prompt) => announce(state, tenant, call, prompt, false).await,
        None => hang_up(state, tenant, call).await,
    }
}

/// Reserve `agent` and connect the parked `call` to their phone; `false`
/// when the agent was taken meanwhile or the call cannot be connected.
async fn connect(state: &AppState, tenant: TenantId, call: Uuid, agent: UserId) -> bool {
    let Some(sip) = state.sip.as_ref() else {
        return false;
    };
    if !super::runner::hold_agent(state, tenant, agent).await {
        return false;
    }
    // The line names its agent before the call can bridge.
    if state
        .runner
        .with_line(call, |l| l.agent = Some(agent))
        .is_none()
    {
        super::runner::release_agent(state, tenant, agent).await;
        return false;
    }
    let to = Endpoint::Agent { agent_id: agent };
    match sip
        .calls()
        .command(tenant, call, CallCommand::Connect { to })
        .await
    {
        Ok(()) => true,
        Err(e) => {
            tracing::info!(call_id = %call, error = %e, "campaign call not connected");
            state.runner.with_line(call, |l| l.agent = None);
            super::runner::release_agent(state, tenant, agent).await;
            false
        }
    }
}

async fn announce(
    state: &AppState,
    tenant: TenantId,
    call: Uuid,
    prompt: Prompt,
    after_beep: bool,
) {
    let Some(sip) = state.sip.as_ref() else {
        return;
    };
    let command = CallCommand::Announce { prompt, after_beep };
    if let Err(e) = sip.calls().command(tenant, call, command).await {
        tracing::info!(call_id = %call, error = %e, "message not played");
        hang_up(state, tenant, call).await;
    }
}

async fn hang_up(state: &AppState, tenant: TenantId, call: Uuid) {
    if let Some(sip) = state.sip.as_ref()
        && let Err(e) = sip.calls().command(tenant, call, CallCommand::Hangup).await
    {
        tracing::debug!(call_id = %call, error = %e, "campaign call already gone");
    }
}

/// Tell the policy how an ended line went: its talk time, or a dial that
/// never reached a person.
pub(super) fn note_end(state: &AppState, line: &Line) {
    let at_s = now_s(state);
    if let Some(b) = line.bridged_at {
        note(
            state,
            line.campaign,
            Outcome::TalkEnded {
                at_s,
                talk_s: b.elapsed().as_secs_f64(),
            },
        );
    } else if !line.answered {
        note_dial_end(state, line, false);
    }
}

/// The dial of `line` ended: a person answered, or it failed (or a
/// machine answered).
fn note_dial_end(state: &AppState, line: &Line, answered: bool) {
    note(
        state,
        line.campaign,
        Outcome::DialEnded {
            at_s: now_s(state),
            after_s: line.placed_at.elapsed().as_secs_f64(),
            answered,
        },
    );
}

async fn campaign(
    state: &AppState,
    line: &Line,
) -> ApiResult<(CampaignRow, DialMode, CampaignSettings)> {
    let c = Scoped::new(state.store.reader(), line.tenant)
        .get_campaign(line.campaign)
        .await?;
    let mode = super::hopper::mode_of(&c)?;
    let settings = super::hopper::settings_of(&c)?;
    Ok((c, mode, settings))
}
