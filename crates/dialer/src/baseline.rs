//! The simple pacing modes: progressive, preview and ratio (power).

use crate::observe::{AgentState, Observation, PacingPolicy};

/// One line per ready agent that no call is already spoken for. Never drops
/// a call while agents stay logged in.
#[derive(Debug, Clone, Default)]
pub struct Progressive;

impl PacingPolicy for Progressive {
    fn name(&self) -> String {
        "progressive".into()
    }

    fn decide(&mut self, obs: &Observation<'_>) -> u32 {
        obs.unmatched_ready() as u32
    }
}

/// Preview: the agent reads the customer card for `preview_s` seconds, then
/// the line is placed. As pacing this is progressive, limited to agents
/// ready for at least `preview_s`.
#[derive(Debug, Clone)]
pub struct Preview {
    pub preview_s: f64,
}

impl PacingPolicy for Preview {
    fn name(&self) -> String {
        format!("preview:{}", self.preview_s)
    }

    fn decide(&mut self, obs: &Observation<'_>) -> u32 {
        let eligible = obs
            .agents
            .iter()
            .filter(|a| {
                a.state == AgentState::Ready && !a.leaving && a.in_state_s >= self.preview_s
            })
            .count();
        eligible.saturating_sub(obs.calls.len() + obs.waiting.len()) as u32
    }
}

/// Lines a VICIdial-style dial level asks for: `round(level x agents not
/// paused) - active calls`, where agents not paused are ready or talking and
/// active calls are ringing, waiting for an agent or talking.
pub fn level_dials(obs: &Observation<'_>, level: f64) -> u32 {
    let mut ready = 0usize;
    let mut talking = 0usize;
    for a in obs.agents {
        match a.state {
            AgentState::Ready if !a.leaving => ready += 1,
            AgentState::Talking => talking += 1,
            _ => {}
        }
    }
    let goal = (level * (ready + talking) as f64).round() as i64;
    let active = (obs.calls.len() + obs.waiting.len() + talking) as i64;
    (goal - active).max(0) as u32
}

/// VICIdial RATIO: a fixed dial level.
#[derive(Debug, Clone)]
pub struct Ratio {
    pub level: f64,
}

impl PacingPolicy for Ratio {
    fn name(&self) -> String {
        format!("ratio:{}", self.level)
    }

    fn decide(&mut self, obs: &Observation<'_>) -> u32 {
        level_dials(obs, self.level)
    }
}
