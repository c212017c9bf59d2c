//! Parameter sweeps of the predictive policy over many seeds (release
//! builds): `cargo run --release -p omnivox-dialer --example sweep --
//! [--seeds 1-20] [--set key=value]... [--policy NAME] SCENARIO.toml...`.
//!
//! `--per-seed` also prints each seed's talk, abandonment and worst window.
//!
//! `--report` instead prints exactly what `omnivox sim` prints (the same
//! `report::run_cli`), for the results tables without building the server.
//!
//! Prints, per scenario, the mean talk time, the mean and worst shift
//! abandonment, the mean and worst 15-minute window and how many seeds had a
//! window over 5 %, so tuning looks at the tail of the seeds and not only at
//! their mean.

use omnivox_dialer::sim::run;
use omnivox_dialer::{
    Outcome, PacingPolicy, Predictive, PredictiveConfig, Scenario, policy_from_name,
};

fn set(cfg: &mut PredictiveConfig, kv: &str) -> Result<(), String> {
    let (k, v) = kv
        .split_once('=')
        .ok_or_else(|| format!("bad --set {kv}"))?;
    let x: f64 = v.parse().map_err(|_| format!("bad value in {kv}"))?;
    match k {
        "aim_share" => cfg.aim_share = x,
        "max_aim_share" => cfg.max_aim_share = x,
        "window_cap" => cfg.window_cap = x,
        "window_risk" => cfg.window_risk = x,
        "window_rate_share" => cfg.window_rate_share = x,

        "budget_horizon_s" => cfg.budget_horizon_s = x,
        "half_life_s" => cfg.half_life_s = x,
        "quad_points" => cfg.quad_points = x as usize,
        "fast_half_life_s" => cfg.fast_half_life_s = x,
        "fast_gain" => cfg.fast_gain = x,
        "calib_half_life_s" => cfg.calib_half_life_s = x,
        "window_kappa_power" => cfg.window_kappa_power = x,
        "hard_share" => cfg.hard_share = x,
        "min_dials" => cfg.min_dials = x as u64,
        "min_answers" => cfg.min_answers = x as u64,
        "min_talks" => cfg.min_talks = x as u64,
        "max_dials_per_agent" => cfg.max_dials_per_agent = x,
        _ => return Err(format!("unknown key {k}")),
    }
    Ok(())
}

fn parse_seeds(s: &str) -> Result<Vec<i64>, String> {
    let mut out = Vec::new();
    for part in s.split(',') {
        if let Some((a, b)) = part.split_once('-') {
            let a: i64 = a.parse().map_err(|_| format!("bad seeds {s}"))?;
            let b: i64 = b.parse().map_err(|_| format!("bad seeds {s}"))?;
            out.extend(a..=b);
        } else {
            out.push(part.parse().map_err(|_| format!("bad seeds {s}"))?);
        }
    }
    Ok(out)
}

/// Records every answer (answer time, dropped) as the policy sees it.
struct Tap {
    inner: Box<dyn PacingPolicy>,
    answers: Vec<(f64, bool)>,
}

impl PacingPolicy for Tap {
    fn name(&self) -> String {
        self.inner.name()
    }
    fn decide(&mut self, obs: &omnivox_dialer::Observation<'_>) -> u32 {
        for o in obs.outcomes {
            match *o {
                Outcome::Connected { at_s, waited_s } => {
                    self.answers.push((at_s - waited_s, false))
                }
                Outcome::Dropped { at_s, waited_s } => self.answers.push((at_s - waited_s, true)),
                _ => {}
            }
        }
        self.inner.decide(obs)
    }
}

/// Print the answers and drops around the worst 15-minute window.
fn diag(answers: &mut [(f64, bool)], shift: f64) {
    answers.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut best, mut best_end) = (0.0, 0.0);
    for &(t, _) in answers.iter() {
        for end in [t, t + 900.0 - 1e-6] {
            if end < 900.0 || end > shift {
                continue;
            }
            let (mut a, mut d) = (0, 0);
            for &(u, dr) in answers.iter() {
                if u > end - 900.0 && u <= end {
                    a += 1;
                    d += usize::from(dr);
                }
            }
            if a > 0 && d as f64 / a as f64 > best {
                best = d as f64 / a as f64;
                best_end = end;
            }
        }
    }
    println!("worst window ends {best_end:.0}: {:.2}%", 100.0 * best);
    // Clusters: drops within 10 s of the previous one.
    let drops: Vec<f64> = answers.iter().filter(|x| x.1).map(|x| x.0).collect();
    let mut sizes = [0usize; 12];
    let mut run = 0usize;
    for (i, &t) in drops.iter().enumerate() {
        if i > 0 && t - drops[i - 1] <= 10.0 {
            run += 1;
        } else {
            if run > 0 {
                sizes[run.min(11)] += 1;
            }
            run = 1;
        }
    }
    if run > 0 {
        sizes[run.min(11)] += 1;
    }
    println!("drops {} cluster sizes {:?}", drops.len(), &sizes[1..]);
    if std::env::var_os("NO_MINUTES").is_some() {
        return;
    }
    let from = best_end - 1500.0;
    let mut line = String::new();
    for m in 0..30 {
        let lo = from + 60.0 * m as f64;
        let hi = lo + 60.0;
        let a = answers.iter().filter(|x| x.0 > lo && x.0 <= hi).count();
        let d: Vec<String> = answers
            .iter()
            .filter(|x| x.1 && x.0 > lo && x.0 <= hi)
            .map(|x| format!("{:.0}", x.0))
            .collect();
        line.push_str(&format!("[{lo:.0}: {a} ans, drops {d:?}]\n"));
    }
    print!("{line}");
}

fn main() -> Result<(), String> {
    let mut cfg = PredictiveConfig::default();
    let mut seeds: Option<Vec<i64>> = None;
    let mut policy: Option<String> = None;
    let mut diag_seed: Option<i64> = None;
    let mut report = false;
    let mut per_seed = false;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seeds" => seeds = Some(parse_seeds(&args.next().ok_or("--seeds needs a value")?)?),
            "--set" => set(&mut cfg, &args.next().ok_or("--set needs a value")?)?,
            "--diag" => {
                diag_seed = Some(
                    args.next()
                        .and_then(|s| s.parse().ok())
                        .ok_or("--diag needs a seed")?,
                )
            }
            "--report" => report = true,
            "--per-seed" => per_seed = true,
            "--policy" => policy = Some(args.next().ok_or("--policy needs a value")?),
            _ => files.push(a),
        }
    }
    if report {
        let paths: Vec<std::path::PathBuf> = files.iter().map(std::path::PathBuf::from).collect();
        let policies: Vec<String> = policy.into_iter().collect();
        let mut out = std::io::stdout().lock();
        return omnivox_dialer::report::run_cli(&paths, &policies, seeds.as_deref(), &mut out)
            .map_err(|e| e.to_string());
    }
    let mut all_over = 0usize;
    for f in &files {
        let mut sc = Scenario::load(std::path::Path::new(f)).map_err(|e| e.to_string())?;
        if let Some(s) = &seeds {
            sc.seeds = s.clone();
        }
        let t0 = std::time::Instant::now();
        let mut talk = Vec::new();
        let mut ab = Vec::new();
        let mut w15 = Vec::new();
        let mut over = Vec::new();
        for &seed in &sc.seeds {
            let mut p: Box<dyn PacingPolicy> = match &policy {
                Some(n) => policy_from_name(n).map_err(|e| e.to_string())?,
                None => Box::new(Predictive::new(cfg.clone())),
            };
            if diag_seed == Some(seed) {
                let mut tap = Tap {
                    inner: p,
                    answers: Vec::new(),
                };
                run(&sc, seed, &mut tap);
                diag(&mut tap.answers, sc.shift_s);

                p = match &policy {
                    Some(n) => policy_from_name(n).map_err(|e| e.to_string())?,
                    None => Box::new(Predictive::new(cfg.clone())),
                };
            }
            let m = run(&sc, seed, p.as_mut());
            if per_seed {
                println!(
                    "  seed {seed}: talk {:.3} ab {:.2}% w15 {:.2}%",
                    m.talk_min_per_agent_hour,
                    100.0 * m.abandon_rate,
                    100.0 * m.worst_abandon_15min
                );
            }
            talk.push(m.talk_min_per_agent_hour);
            ab.push(m.abandon_rate);
            w15.push(m.worst_abandon_15min);
            if m.worst_abandon_15min > 0.05 + 1e-12 {
                over.push((seed, m.worst_abandon_15min));
            }
        }
        let n = talk.len() as f64;
        let mean = |v: &[f64]| v.iter().sum::<f64>() / n;
        let max = |v: &[f64]| v.iter().cloned().fold(f64::MIN, f64::max);
        let min = |v: &[f64]| v.iter().cloned().fold(f64::MAX, f64::min);
        all_over += over.len();
        println!(
            "{:<22} talk {:.2} (min {:.2}) ab {:.2}% (max {:.2}) w15 {:.2}% (max {:.2}) over {:?} [{:.1}s]",
            sc.name,
            mean(&talk),
            min(&talk),
            100.0 * mean(&ab),
            100.0 * max(&ab),
            100.0 * mean(&w15),
            100.0 * max(&w15),
            over.iter()
                .map(|(s, w)| format!("{s}:{:.2}", 100.0 * w))
                .collect::<Vec<_>>(),
            t0.elapsed().as_secs_f64()
        );
    }
    println!("seeds over 5 %: {all_over}");
    let _ = std::io::Write::flush(&mut std::io::stdout());
    Ok(())
}
