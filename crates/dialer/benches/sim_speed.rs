//! How long the simulator takes for an 8-hour, 100-agent shift (the
//! issue's target: under 2 s in release), with `predictive` against the
//! `progressive` baseline measured in the same run. Prints one JSON object.
//!
//! `cargo bench -p omnivox-dialer --bench sim_speed`

use std::time::Instant;

use omnivox_dialer::sim::run;
use omnivox_dialer::{Scenario, policy_from_name};

const SCENARIO: &str = r#"
name = "8 h, 100 agents"
agents = 100
shift_s = 28800
p_answer = 0.30
ring_mean_s = 9.0
ring_cv = 0.5
dial_timeout_s = 26.0
fail_fast_frac = 0.4
fail_fast_s = 4.0
talk_mean_s = 120.0
talk_cv = 1.0
wrap_s = 15.0
grace_s = 2.0
dial_tick_s = 1.0
abandon_target = 0.03
"#;

fn time_policy(sc: &Scenario, name: &str, seeds: &[i64]) -> Result<(f64, f64), String> {
    let mut best = f64::INFINITY;
    let mut worst = 0.0f64;
    for &seed in seeds {
        let mut p = policy_from_name(name).map_err(|e| e.to_string())?;
        let t0 = Instant::now();
        let m = run(sc, seed, p.as_mut());
        let dt = t0.elapsed().as_secs_f64();
        std::hint::black_box(m);
        best = best.min(dt);
        worst = worst.max(dt);
    }
    Ok((best, worst))
}

fn main() -> Result<(), String> {
    let sc = Scenario::from_toml(SCENARIO).map_err(|e| e.to_string())?;
    let seeds = [1, 2, 3];
    let (pb, pw) = time_policy(&sc, "predictive", &seeds)?;
    let (bb, bw) = time_policy(&sc, "progressive", &seeds)?;
    println!(
        "{}",
        serde_json::json!({
            "bench": "sim_8h_100_agents",
            "seeds": seeds.len(),
            "predictive_s": {"min": pb, "max": pw},
            "baseline_progressive_s": {"min": bb, "max": bw},
            "target_s": 2.0,
            "within_target": pw < 2.0,
        })
    );
    Ok(())
}
