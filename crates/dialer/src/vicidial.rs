//! A re-implementation of VICIdial's adaptive-predictive pacing
//! (`AST_VDadapt.pl` adjusting the level, `AST_VDauto_dial.pl` placing
//! calls), as a baseline.
//!
//! - Every second a sample of ready agents, answered calls waiting for an
//!   agent, and logged-in agents; the last 15 samples are averaged.
//! - Every 15 s: `level *= 1 + (avg ready - avg waiting) / avg agents`
//!   (intensity 0, no differential target), clamped to `[1, max_level]`.
//! - Drop statistics refresh every 60 s. When the last minute had more than
//!   20 calls and over 50 % of them dropped, the level is halved. When more
//!   than 50 calls were placed today and drops / answers passed the target:
//!   `hard_limit` sets the level to 1.0, `average` halves it, `tapered`
//!   scales it by the hours left in the shift / 10 (capped at 1; 1.0 once
//!   the shift is over).
//! - Calls placed per tick: `round(level x (ready + talking agents)) -
//!   (ringing + waiting + talking calls)`.

use std::collections::VecDeque;

use crate::baseline::level_dials;
use crate::observe::{AgentState, Observation, Outcome, PacingPolicy};

/// What happens when the day's drop rate passes the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdaptMode {
    HardLimit,
    Average,
    Tapered,
}

impl AdaptMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AdaptMode::HardLimit => "hard_limit",
            AdaptMode::Average => "average",
            AdaptMode::Tapered => "tapered",
        }
    }
}

/// VICIdial `ADAPT_HARD_LIMIT`, `ADAPT_AVERAGE` or `ADAPT_TAPERED`.
#[derive(Debug, Clone)]
pub struct VicidialAdaptive {
    mode: AdaptMode,
    level: f64,
    max_level: f64,
    samples: VecDeque<(f64, f64, f64)>,
    next_sample_s: Option<f64>,
    next_level_s: Option<f64>,
    next_drops_s: Option<f64>,
    /// End times of dials and drops, for the one-minute window.
    recent_calls: VecDeque<f64>,
    recent_drops: VecDeque<f64>,
    calls_today: u64,
    answers_today: u64,
    drops_today: u64,
    // The snapshot taken by the last 60-second refresh.
    snap_calls_one: usize,
    snap_drops_one: usize,
    snap_calls_today: u64,
    snap_drop_pct_today: f64,
}

impl VicidialAdaptive {
    pub fn new(mode: AdaptMode) -> Self {
        VicidialAdaptive {
            mode,
            level: 1.0,
            max_level: 3.0,
            samples: VecDeque::with_capacity(16),
            next_sample_s: None,
            next_level_s: None,
            next_drops_s: None,
            recent_calls: VecDeque::new(),
            recent_drops: VecDeque::new(),
            calls_today: 0,
            answers_today: 0,
            drops_today: 0,
            snap_calls_one: 0,
            snap_drops_one: 0,
            snap_calls_today: 0,
            snap_drop_pct_today: 0.0,
        }
    }

    /// The current dial level.
    pub fn level(&self) -> f64 {
        self.level
    }

    fn refresh_drops(&mut self, now: f64) {
        while self.recent_calls.front().is_some_and(|&t| t <= now - 60.0) {
            self.recent_calls.pop_front();
        }
        while self.recent_drops.front().is_some_and(|&t| t <= now - 60.0) {
            self.recent_drops.pop_front();
        }
        self.snap_calls_one = self.recent_calls.len();
        self.snap_drops_one = self.recent_drops.len();
        self.snap_calls_today = self.calls_today;
        self.snap_drop_pct_today = if self.drops_today > 0 {
            100.0 * self.drops_today as f64 / self.answers_today.max(1) as f64
        } else {
            0.0
        };
    }

    fn recalc_level(&mut self, obs: &Observation<'_>) {
        let n = self.samples.len().max(1) as f64;
        let (r, w, t) = self.samples.iter().fold((0.0, 0.0, 0.0), |acc, s| {
            (acc.0 + s.0, acc.1 + s.1, acc.2 + s.2)
        });
        let (ready_avg, waiting_avg, agents_avg) = (r / n, w / n, t / n);
        let diff = ready_avg - waiting_avg;
        let mul = if diff != 0.0 && agents_avg != 0.0 {
            diff / agents_avg
        } else {
            0.0
        };
        // Intensity 0: the differential applies as is.
        let mut level = (self.level * (1.0 + mul)).min(self.max_level);
        if level < 1.0 {
            level = 1.0;
        }
        if self.snap_calls_one > 20 && self.snap_drops_one as f64 / self.snap_calls_one as f64 > 0.5
        {
            level /= 2.0;
        }
        let target_pct = obs.abandon_target * 100.0;
        if self.snap_calls_today > 50 && self.snap_drop_pct_today > target_pct {
            level = match self.mode {
                AdaptMode::HardLimit => 1.0,
                AdaptMode::Average => level / 2.0,
                AdaptMode::Tapered => {
                    let hours_left = obs
                        .shift_end_s
                        .map(|end| (end - obs.now_s) / 3600.0)
                        .unwrap_or(10.0);
                    if hours_left < 0.0 {
                        1.0
                    } else {
                        level * (hours_left / 10.0).min(1.0)
                    }
                }
            };
        }
        self.level = level.max(1.0);
    }
}

impl PacingPolicy for VicidialAdaptive {
    fn name(&self) -> String {
        format!("vicidial_adaptive:{}", self.mode.as_str())
    }

    fn decide(&mut self, obs: &Observation<'_>) -> u32 {
        let now = obs.now_s;
        for o in obs.outcomes {
            match *o {
                Outcome::DialEnded { at_s, answered, .. } => {
                    self.calls_today += 1;
                    self.recent_calls.push_back(at_s);
                    if answered {
                        self.answers_today += 1;
                    }
                }
                Outcome::Dropped { at_s, .. } => {
                    self.drops_today += 1;
                    self.recent_drops.push_back(at_s);
                }
                _ => {}
            }
        }
        if self.next_sample_s.is_none_or(|t| now >= t) {
            let ready = obs
                .agents
                .iter()
                .filter(|a| a.state == AgentState::Ready && !a.leaving)
                .count() as f64;
            let waiting = obs.waiting.len() as f64;
            let total = obs.agents.len() as f64;
            if self.samples.len() == 15 {
                self.samples.pop_front();
            }
            self.samples.push_back((ready, waiting, total));
            self.next_sample_s = Some(now + 1.0 - 1e-9);
        }
        if self.next_drops_s.is_none_or(|t| now >= t) {
            self.refresh_drops(now);
            self.next_drops_s = Some(now + 60.0 - 1e-9);
        }
        match self.next_level_s {
            None => self.next_level_s = Some(now + 15.0 - 1e-9),
            Some(t) if now >= t => {
                if !obs.agents.is_empty() {
                    self.recalc_level(obs);
                }
                self.next_level_s = Some(now + 15.0 - 1e-9);
            }
            Some(_) => {}
        }
        level_dials(obs, self.level)
    }
}
