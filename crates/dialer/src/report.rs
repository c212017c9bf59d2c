//! Runs scenarios for several policies and summarizes them over seeds:
//! what `omnivox sim` prints.

use serde::Serialize;

use crate::scenario::Scenario;
use crate::sim::{RunMetrics, run};
use crate::stats::mean_ci95;
use crate::{DialerError, policy_from_name};

/// A mean and its 95 % interval over seeds (Student t).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    pub mean: f64,
    pub ci95: [f64; 2],
}

impl Estimate {
    fn of(v: &[f64]) -> Self {
        let (mean, lo, hi) = mean_ci95(v);
        Estimate {
            mean,
            ci95: [lo, hi],
        }
    }
}

/// One policy on one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyResult {
    pub scenario: String,
    pub policy: String,
    pub seeds: usize,
    pub talk_min_per_agent_hour: Estimate,
    pub occupancy: Estimate,
    pub abandon_rate: Estimate,
    pub worst_abandon_15min: Estimate,
    pub worst_abandon_60min: Estimate,
    pub dials_per_agent_hour: Estimate,
    pub answer_to_agent_p95_s: Estimate,
    pub idle_between_calls_p95_s: Estimate,
    /// The slowest single shift of this policy, wall-clock seconds.
    pub max_run_s: f64,
}

/// The policies `omnivox sim` runs when none is named.
pub const DEFAULT_POLICIES: &[&str] = &[
    "predictive",
    "progressive",
    "preview",
    "ratio:1.1",
    "ratio:1.2",
    "ratio:1.3",
    "ratio:1.5",
    "ratio:1.8",
    "ratio:2.5",
    "vicidial_adaptive:hard_limit",
    "vicidial_adaptive:average",
    "vicidial_adaptive:tapered",
];

/// Run `policy` on every seed of `sc`.
pub fn run_policy(sc: &Scenario, policy: &str) -> Result<PolicyResult, DialerError> {
    let mut runs: Vec<RunMetrics> = Vec::with_capacity(sc.seeds.len());
    let mut name = policy.to_string();
    let mut max_run_s = 0.0f64;
    for &seed in &sc.seeds {
        let mut p = policy_from_name(policy)?;
        name = p.name();
        let t0 = std::time::Instant::now();
        runs.push(run(sc, seed, p.as_mut()));
        max_run_s = max_run_s.max(t0.elapsed().as_secs_f64());
    }
    let field = |f: fn(&RunMetrics) -> f64| Estimate::of(&runs.iter().map(f).collect::<Vec<_>>());
    Ok(PolicyResult {
        scenario: sc.name.clone(),
        policy: name,
        seeds: runs.len(),
        talk_min_per_agent_hour: field(|m| m.talk_min_per_agent_hour),
        occupancy: field(|m| m.occupancy),
        abandon_rate: field(|m| m.abandon_rate),
        worst_abandon_15min: field(|m| m.worst_abandon_15min),
        worst_abandon_60min: field(|m| m.worst_abandon_60min),
        dials_per_agent_hour: field(|m| m.dials_per_agent_hour),
        answer_to_agent_p95_s: field(|m| m.answer_to_agent_p95_s),
        idle_between_calls_p95_s: field(|m| m.idle_between_calls_p95_s),
        max_run_s,
    })
}

/// `omnivox sim`: run every scenario file with every policy (the default
/// set when `policies` is empty), optionally on other `seeds`, and write one
/// JSON object per line and (scenario, policy) to `out`.
pub fn run_cli(
    scenarios: &[std::path::PathBuf],
    policies: &[String],
    seeds: Option<&[i64]>,
    out: &mut dyn std::io::Write,
) -> Result<(), DialerError> {
    let policies: Vec<String> = if policies.is_empty() {
        DEFAULT_POLICIES.iter().map(|p| p.to_string()).collect()
    } else {
        policies.to_vec()
    };
    // Reject a bad name before spending time on the others.
    for p in &policies {
        policy_from_name(p)?;
    }
    let mut loaded = Vec::with_capacity(scenarios.len());
    for path in scenarios {
        let mut sc = Scenario::load(path)?;
        if let Some(s) = seeds {
            if s.is_empty() {
                return Err(DialerError::Scenario("--seeds must not be empty".into()));
            }
            sc.seeds = s.to_vec();
        }
        loaded.push(sc);
    }
    for sc in &loaded {
        for p in &policies {
            let r = run_policy(sc, p)?;
            let line = serde_json::to_string(&r).map_err(|e| DialerError::Output(e.to_string()))?;
            writeln!(out, "{line}").map_err(|e| DialerError::Output(e.to_string()))?;
        }
    }
    Ok(())
}
