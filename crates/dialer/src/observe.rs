//! What a pacing policy may see, and the trait every policy implements.
//!
//! The live campaign runner and the simulator build the same [`Observation`]
//! once per dial tick. It holds only what a real dialer can know: agents by
//! state and time in state, calls in flight and their ages, answered calls
//! waiting for an agent, and the outcomes that happened since the previous
//! tick. It never carries a lead's future (its outcome, ring or talk time).

use serde::Serialize;

/// An agent's state as pacing sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    /// Logged in, idle, waiting for a call.
    Ready,
    /// Connected to a customer.
    Talking,
    /// After-call work.
    Wrap,
    /// Paused (break, coaching, not taking calls).
    Paused,
}

/// One logged-in agent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AgentObs {
    pub state: AgentState,
    /// Seconds since the agent entered `state`.
    pub in_state_s: f64,
    /// The agent asked to log out after the current call (or a supervisor
    /// removed them): they will not take another call.
    pub leaving: bool,
}

/// One dialed call that has neither been answered nor failed yet.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CallObs {
    /// Seconds since the call was placed.
    pub age_s: f64,
}

/// One live-answered call waiting for an agent (inside the grace period).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WaitingObs {
    /// Seconds since the callee answered.
    pub waited_s: f64,
}

/// Something that happened since the previous observation. The live runner
/// derives these from call and agent events; the simulator emits them as
/// they happen. Times are on the observation's clock (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// A dial ended: answered by a live person after `after_s` seconds, or
    /// failed (busy, SIT, no answer, AMD machine) after `after_s`.
    DialEnded {
        at_s: f64,
        after_s: f64,
        answered: bool,
    },
    /// AMD classified an answer as a machine (the call counts as not
    /// answered; abandonment accounting adds its estimate of humans among
    /// these).
    MachineDetected { at_s: f64 },
    /// An answered call reached an agent after waiting `waited_s`.
    Connected { at_s: f64, waited_s: f64 },
    /// An answered call found no agent within the grace period: the
    /// safe-harbor message played and the call counts as abandoned.
    Dropped { at_s: f64, waited_s: f64 },
    /// An agent finished talking after `talk_s`.
    TalkEnded { at_s: f64, talk_s: f64 },
    /// An agent finished after-call work after `wrap_s`; `paused` when they
    /// went into a pause rather than back to ready (or logged out: `left`).
    WrapEnded {
        at_s: f64,
        wrap_s: f64,
        paused: bool,
        left: bool,
    },
    /// An agent came back from a pause that lasted `pause_s`.
    PauseEnded { at_s: f64, pause_s: f64 },
}

/// Everything a policy sees at one dial tick.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    /// Seconds on a monotonic clock (the simulator: since shift start).
    pub now_s: f64,
    /// When the current shift (or the campaign's calling window) ends, on
    /// the same clock, when known.
    pub shift_end_s: Option<f64>,
    /// The seconds between two dial ticks.
    pub tick_s: f64,
    /// The safe-harbor grace period (2 s in the US).
    pub grace_s: f64,
    /// The campaign's abandonment ceiling as a fraction of live answers.
    pub abandon_target: f64,
    /// Logged-in agents of the campaign.
    pub agents: &'a [AgentObs],
    /// Dialed calls not yet answered or failed.
    pub calls: &'a [CallObs],
    /// Answered calls waiting for an agent.
    pub waiting: &'a [WaitingObs],
    /// Outcomes since the previous observation, oldest first.
    pub outcomes: &'a [Outcome],
}

impl Observation<'_> {
    /// Agents in `state` (leaving agents included).
    pub fn count(&self, state: AgentState) -> usize {
        self.agents.iter().filter(|a| a.state == state).count()
    }

    /// Ready agents that no answered call or call in flight is spoken for:
    /// what progressive dialing fills.
    pub fn unmatched_ready(&self) -> usize {
        let ready = self
            .agents
            .iter()
            .filter(|a| a.state == AgentState::Ready && !a.leaving)
            .count();
        ready.saturating_sub(self.calls.len() + self.waiting.len())
    }
}

/// A pacing policy: asked once per dial tick how many new calls to place.
///
/// Implementations keep whatever they learn from `outcomes` themselves; the
/// same object drives the simulator and a live campaign.
pub trait PacingPolicy: Send {
    /// A stable name, as accepted by [`crate::policy_from_name`].
    fn name(&self) -> String;

    /// How many calls to place now.
    fn decide(&mut self, obs: &Observation<'_>) -> u32;
}
