//! Simulator scenarios: the TOML schema of `bench/dialer/*.toml`.

use serde::Deserialize;

use crate::DialerError;

/// Call and agent parameters that a `[[phase]]` may change.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub p_answer: f64,
    pub ring_mean_s: f64,
    pub ring_cv: f64,
    pub dial_timeout_s: f64,
    pub fail_fast_frac: f64,
    pub fail_fast_s: f64,
    pub talk_mean_s: f64,
    pub talk_cv: f64,
    pub wrap_s: f64,
    pub pause_prob: f64,
    pub pause_s: f64,
}

/// From time `at_s` on, the given parameters change.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Phase {
    pub at_s: f64,
    pub p_answer: Option<f64>,
    pub ring_mean_s: Option<f64>,
    pub ring_cv: Option<f64>,
    pub dial_timeout_s: Option<f64>,
    pub fail_fast_frac: Option<f64>,
    pub fail_fast_s: Option<f64>,
    pub talk_mean_s: Option<f64>,
    pub talk_cv: Option<f64>,
    pub wrap_s: Option<f64>,
    /// How many agents stay logged in (the others log out after their
    /// current call; a larger number logs more agents in).
    pub agents: Option<u32>,
    pub pause_prob: Option<f64>,
    pub pause_s: Option<f64>,
}

impl Phase {
    pub fn apply(&self, p: &mut Params) {
        let set = |dst: &mut f64, v: Option<f64>| {
            if let Some(v) = v {
                *dst = v;
            }
        };
        set(&mut p.p_answer, self.p_answer);
        set(&mut p.ring_mean_s, self.ring_mean_s);
        set(&mut p.ring_cv, self.ring_cv);
        set(&mut p.dial_timeout_s, self.dial_timeout_s);
        set(&mut p.fail_fast_frac, self.fail_fast_frac);
        set(&mut p.fail_fast_s, self.fail_fast_s);
        set(&mut p.talk_mean_s, self.talk_mean_s);
        set(&mut p.talk_cv, self.talk_cv);
        set(&mut p.wrap_s, self.wrap_s);
        set(&mut p.pause_prob, self.pause_prob);
        set(&mut p.pause_s, self.pause_s);
    }
}

fn d_ring_cv() -> f64 {
    0.5
}
fn d_timeout() -> f64 {
    26.0
}
fn d_fail_fast_s() -> f64 {
    4.0
}
fn d_one() -> f64 {
    1.0
}
fn d_grace() -> f64 {
    2.0
}
fn d_target() -> f64 {
    0.03
}
fn d_seeds() -> Vec<i64> {
    vec![1]
}

/// One scenario file. Unknown keys are ignored; everything but the team,
/// the shift and the call and talk means has a default.
#[derive(Debug, Clone, Deserialize)]
pub struct Scenario {
    #[serde(default)]
    pub name: String,
    pub agents: u32,
    pub shift_s: f64,
    pub p_answer: f64,
    pub ring_mean_s: f64,
    #[serde(default = "d_ring_cv")]
    pub ring_cv: f64,
    #[serde(default = "d_timeout")]
    pub dial_timeout_s: f64,
    #[serde(default)]
    pub fail_fast_frac: f64,
    #[serde(default = "d_fail_fast_s")]
    pub fail_fast_s: f64,
    pub talk_mean_s: f64,
    #[serde(default = "d_one")]
    pub talk_cv: f64,
    #[serde(default)]
    pub wrap_s: f64,
    #[serde(default = "d_grace")]
    pub grace_s: f64,
    #[serde(default = "d_one")]
    pub dial_tick_s: f64,
    #[serde(default = "d_target")]
    pub abandon_target: f64,
    #[serde(default = "d_seeds")]
    pub seeds: Vec<i64>,
    /// Each agent's login offset (seconds); missing entries log in at 0.
    #[serde(default)]
    pub login_s: Vec<f64>,
    #[serde(default)]
    pub pause_prob: f64,
    #[serde(default)]
    pub pause_s: f64,
    #[serde(default, rename = "phase")]
    pub phases: Vec<Phase>,
}

impl Scenario {
    /// Parse and validate TOML text.
    pub fn from_toml(text: &str) -> Result<Self, DialerError> {
        let mut s: Scenario =
            toml::from_str(text).map_err(|e| DialerError::Scenario(e.to_string()))?;
        s.phases.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
        s.validate()?;
        Ok(s)
    }

    /// Read a scenario file.
    pub fn load(path: &std::path::Path) -> Result<Self, DialerError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| DialerError::Scenario(format!("{}: {e}", path.display())))?;
        let mut s = Self::from_toml(&text).map_err(|e| match e {
            DialerError::Scenario(m) => DialerError::Scenario(format!("{}: {m}", path.display())),
            other => other,
        })?;
        if s.name.is_empty() {
            s.name = path
                .file_stem()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
        }
        Ok(s)
    }

    /// The parameters in force at the start of the shift.
    pub fn initial_params(&self) -> Params {
        Params {
            p_answer: self.p_answer,
            ring_mean_s: self.ring_mean_s,
            ring_cv: self.ring_cv,
            dial_timeout_s: self.dial_timeout_s,
            fail_fast_frac: self.fail_fast_frac,
            fail_fast_s: self.fail_fast_s,
            talk_mean_s: self.talk_mean_s,
            talk_cv: self.talk_cv,
            wrap_s: self.wrap_s,
            pause_prob: self.pause_prob,
            pause_s: self.pause_s,
        }
    }

    /// The largest team any phase asks for.
    pub fn max_agents(&self) -> u32 {
        self.phases
            .iter()
            .filter_map(|p| p.agents)
            .fold(self.agents, u32::max)
    }

    fn validate(&self) -> Result<(), DialerError> {
        let bad = |m: String| Err(DialerError::Scenario(m));
        if !(self.shift_s > 0.0 && self.shift_s.is_finite()) {
            return bad(format!("shift_s must be positive, got {}", self.shift_s));
        }
        if !(self.dial_tick_s > 0.0 && self.dial_tick_s.is_finite()) {
            return bad(format!(
                "dial_tick_s must be positive, got {}",
                self.dial_tick_s
            ));
        }
        if !(self.grace_s >= 0.0 && self.grace_s.is_finite()) {
            return bad(format!("grace_s must be >= 0, got {}", self.grace_s));
        }
        if self.seeds.is_empty() {
            return bad("seeds must not be empty".into());
        }
        if self.max_agents() > 100_000 {
            return bad("more than 100000 agents".into());
        }
        if self.login_s.iter().any(|t| !t.is_finite()) {
            return bad("login_s must be finite".into());
        }
        let mut all = vec![self.initial_params()];
        for ph in &self.phases {
            if !ph.at_s.is_finite() {
                return bad("phase at_s must be finite".into());
            }
            let mut p = all[all.len() - 1].clone();
            ph.apply(&mut p);
            all.push(p);
        }
        for p in &all {
            let prob = |name: &str, v: f64| {
                if (0.0..=1.0).contains(&v) {
                    Ok(())
                } else {
                    Err(DialerError::Scenario(format!(
                        "{name} must be in [0, 1], got {v}"
                    )))
                }
            };
            prob("p_answer", p.p_answer)?;
            prob("fail_fast_frac", p.fail_fast_frac)?;
            prob("pause_prob", p.pause_prob)?;
            let pos = |name: &str, v: f64| {
                if v > 0.0 && v.is_finite() {
                    Ok(())
                } else {
                    Err(DialerError::Scenario(format!(
                        "{name} must be positive, got {v}"
                    )))
                }
            };
            pos("ring_mean_s", p.ring_mean_s)?;
            pos("dial_timeout_s", p.dial_timeout_s)?;
            pos("talk_mean_s", p.talk_mean_s)?;
            let nonneg = |name: &str, v: f64| {
                if v >= 0.0 && v.is_finite() {
                    Ok(())
                } else {
                    Err(DialerError::Scenario(format!(
                        "{name} must be >= 0, got {v}"
                    )))
                }
            };
            nonneg("ring_cv", p.ring_cv)?;
            nonneg("talk_cv", p.talk_cv)?;
            nonneg("fail_fast_s", p.fail_fast_s)?;
            nonneg("wrap_s", p.wrap_s)?;
            nonneg("pause_s", p.pause_s)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_phases_and_defaults() {
        let s = Scenario::from_toml(
            r#"
            name = "x"
            agents = 10
            shift_s = 3600
            p_answer = 0.3
            ring_mean_s = 9.0
            talk_mean_s = 120.0
            login_s = [0, 60]
            [[phase]]
            at_s = 1800
            agents = 12
            p_answer = 0.2
            [[phase]]
            at_s = 600
            pause_prob = 0.1
            pause_s = 300
            "#,
        )
        .unwrap();
        assert_eq!(s.seeds, vec![1]);
        assert_eq!(s.grace_s, 2.0);
        assert_eq!(s.phases[0].at_s, 600.0);
        assert_eq!(s.max_agents(), 12);
        let mut p = s.initial_params();
        s.phases[1].apply(&mut p);
        assert_eq!(p.p_answer, 0.2);
        assert_eq!(p.talk_mean_s, 120.0);
    }

    #[test]
    fn rejects_nonsense() {
        let base = "agents = 1\nshift_s = 60\nring_mean_s = 9\ntalk_mean_s = 60\n";
        assert!(Scenario::from_toml(&format!("{base}p_answer = 1.5\n")).is_err());
        assert!(Scenario::from_toml(&format!("{base}p_answer = 0.5\ndial_tick_s = 0\n")).is_err());
        assert!(Scenario::from_toml("agents = 1").is_err());
    }
}
