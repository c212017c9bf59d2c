//! Outbound dialer pacing.
//!
//! - [`PacingPolicy`]: asked once per dial tick how many calls to place,
//!   given an [`Observation`] (agents by state and time in state, calls in
//!   flight and their ages, answered calls waiting, outcomes since the last
//!   tick). The same objects pace the simulator and live campaigns.
//! - Policies: [`Predictive`] (model-based look-ahead against the
//!   abandonment budget), [`Progressive`], [`Preview`], [`Ratio`] (power) and
//!   [`VicidialAdaptive`] (a baseline re-implementing VICIdial's adaptive
//!   modes).
//! - [`AbandonLedger`]: abandonment per campaign over rolling 30 days (US)
//!   and 24 hours (UK, with AMD false positives), plus short windows.
//! - [`sim`]: the discrete-event model of `bench/dialer/README.md`, and
//!   [`report`]: runs over seeds with means and 95 % intervals.

pub mod baseline;
pub mod campaign;
pub mod estimator;
pub mod ledger;
pub mod observe;
pub mod predictive;
pub mod report;
pub mod scenario;
pub mod schedule;
pub mod sim;
#[cfg(test)]
mod sim_tests;
pub mod stats;
pub mod vicidial;

pub use baseline::{Preview, Progressive, Ratio};
pub use estimator::Estimator;
pub use ledger::{AbandonLedger, AbandonRate};
pub use observe::{AgentObs, AgentState, CallObs, Observation, Outcome, PacingPolicy, WaitingObs};
pub use predictive::{Predictive, PredictiveConfig};
pub use scenario::Scenario;
pub use vicidial::{AdaptMode, VicidialAdaptive};

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum DialerError {
    #[error(
        "unknown pacing policy {0:?} (predictive, progressive, preview[:SECONDS], ratio:LEVEL, vicidial_adaptive:hard_limit|average|tapered)"
    )]
    UnknownPolicy(String),
    #[error("invalid scenario: {0}")]
    Scenario(String),
    #[error("writing results: {0}")]
    Output(String),
}

/// Build a policy by name: `predictive`, `progressive`, `preview` or
/// `preview:SECONDS`, `ratio:LEVEL` (or `power:LEVEL`),
/// `vicidial_adaptive:hard_limit|average|tapered`.
pub fn policy_from_name(name: &str) -> Result<Box<dyn PacingPolicy>, DialerError> {
    let unknown = || DialerError::UnknownPolicy(name.to_string());
    let (head, arg) = match name.split_once(':') {
        Some((h, a)) => (h.trim(), Some(a.trim())),
        None => (name.trim(), None),
    };
    let num = |a: Option<&str>| -> Result<Option<f64>, DialerError> {
        match a {
            None => Ok(None),
            Some(s) => match s.parse::<f64>() {
                Ok(v) if v.is_finite() && v >= 0.0 => Ok(Some(v)),
                _ => Err(unknown()),
            },
        }
    };
    Ok(match head {
        "predictive" if arg.is_none() => Box::new(Predictive::new(PredictiveConfig::default())),
        "progressive" if arg.is_none() => Box::new(Progressive),
        "preview" => Box::new(Preview {
            preview_s: num(arg)?.unwrap_or(10.0),
        }),
        "ratio" | "power" => {
            let level = num(arg)?.ok_or_else(unknown)?;
            Box::new(Ratio { level })
        }
        "vicidial_adaptive" => {
            let mode = match arg {
                Some("hard_limit") => AdaptMode::HardLimit,
                Some("average") => AdaptMode::Average,
                Some("tapered") => AdaptMode::Tapered,
                _ => return Err(unknown()),
            };
            Box::new(VicidialAdaptive::new(mode))
        }
        _ => return Err(unknown()),
    })
}
