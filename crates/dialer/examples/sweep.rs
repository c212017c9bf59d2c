// Temporary tuning harness (removed before hand-off).
use omnivox_dialer::report::run_policy;
use omnivox_dialer::Scenario;
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (files, pols): (Vec<_>, Vec<_>) = args.iter().partition(|a| a.ends_with(".toml"));
    for f in &files {
        let sc = Scenario::load(std::path::Path::new(f)).unwrap();
        if std::env::var("DROPS").is_ok() {
            let mut w = Rec { inner: omnivox_dialer::policy_from_name(&pols[0]).unwrap(), drops: vec![], ans: vec![] };
            let m = omnivox_dialer::sim::run(&sc, sc.seeds[0], &mut w);
            println!("w15 {:.4} drops {}", m.worst_abandon_15min, m.counts.drops);
            let mut line = String::new();
            for d in &w.drops { line += &format!("{:.0} ", d); }
            println!("{line}");
            // worst windows
            let n = sc.shift_s as usize + 1;
            let mut a = vec![0u32; n]; let mut d = vec![0u32; n];
            for &(t, dr) in &w.ans { let i = (t as usize).min(n-1); a[i]+=1; if dr { d[i]+=1; } }
            let mut res = vec![];
            for s0 in (0..n.saturating_sub(900)).step_by(30) { let aa: u32 = a[s0..s0+900].iter().sum(); let dd: u32 = d[s0..s0+900].iter().sum(); if aa>0 && dd as f64/aa as f64 > 0.05 { res.push(format!("{}:{}/{}", s0, dd, aa)); } }
            println!("over: {}", res.join(" "));
            continue;
        }
        if std::env::var("CALIB").is_ok() {
            let mut bins = vec![(0u64, 0u64, 0.0f64, 0.0f64); 12];
            for &seed in &sc.seeds {
                let mut p = omnivox_dialer::Predictive::new(omnivox_dialer::PredictiveConfig::default());
                p.debug_q = Some(vec![]);
                let (_m, tr) = omnivox_dialer::sim::run_with(&sc, seed, &mut p, omnivox_dialer::sim::RunOptions { trace: true });
                let qs = p.debug_q.take().unwrap();
                for (i, t) in tr.iter().enumerate() {
                    let (q, ex) = qs[i];
                    if q < 0.0 || !t.answered { continue; }
                    let b = if q <= 0.0 { 0 } else { ((q.log10() + 4.0) * 2.0).clamp(1.0, 11.0) as usize };
                    bins[b].0 += 1; if t.dropped { bins[b].1 += 1; } bins[b].2 += q; bins[b].3 += ex;
                }
            }
            for (b, (n, d, qs, ex)) in bins.iter().enumerate() { if *n > 0 { println!("bin {b:2} n {n:6} predicted {:.4} realized {:.4} p2 {:.4}", qs / *n as f64, *d as f64 / *n as f64, ex / *n as f64); } }
            continue;
        }
        if std::env::var("MAXW").is_ok() {
            for p in &pols {
                let (mut t, mut ab, mut mab, mut mw, mut w, mut n) = (0.0, 0.0, 0.0f64, 0.0f64, 0.0, 0.0);
                let mut mint = f64::MAX;
                for &seed in &sc.seeds {
                    let mut pol = omnivox_dialer::policy_from_name(p).unwrap();
                    let m = omnivox_dialer::sim::run(&sc, seed, pol.as_mut());
                    t += m.talk_min_per_agent_hour; ab += m.abandon_rate; mab = mab.max(m.abandon_rate); mw = mw.max(m.worst_abandon_15min); w += m.worst_abandon_15min; n += 1.0;
                    mint = mint.min(m.talk_min_per_agent_hour);
                }
                println!("{:22} {:24} talk {:6.2} (min {:6.2}) ab {:.4} (max {:.4}) w15 {:.4} (max {:.4})", sc.name, p, t/n, mint, ab/n, mab, w/n, mw);
            }
            continue;
        }
        if std::env::var("SEEDS").is_ok() {
            for p in &pols {
                for &seed in &sc.seeds {
                    let mut pol = omnivox_dialer::policy_from_name(p).unwrap();
                    let m = omnivox_dialer::sim::run(&sc, seed, pol.as_mut());
                    println!("{:22} {:20} seed {} talk {:6.2} ab {:.4} w15 {:.4} w60 {:.4} ans {} drops {} dials {}", sc.name, p, seed, m.talk_min_per_agent_hour, m.abandon_rate, m.worst_abandon_15min, m.worst_abandon_60min, m.counts.answers, m.counts.drops, m.counts.dials);
                }
            }
            continue;
        }
        for p in &pols {
            let r = run_policy(&sc, p).unwrap();
            println!("{:22} {:30} talk {:6.2} [{:5.2},{:5.2}] occ {:.3} ab {:.4} w15 {:.4} w60 {:.4} dial {:6.1} a2a {:5.2} idle {:6.1} t {:.2}s",
                sc.name, r.policy, r.talk_min_per_agent_hour.mean, r.talk_min_per_agent_hour.ci95[0], r.talk_min_per_agent_hour.ci95[1],
                r.occupancy.mean, r.abandon_rate.mean, r.worst_abandon_15min.mean, r.worst_abandon_60min.mean,
                r.dials_per_agent_hour.mean, r.answer_to_agent_p95_s.mean, r.idle_between_calls_p95_s.mean, r.max_run_s);
        }
    }
}
#[allow(dead_code)]
fn unused() {}

struct Rec { inner: Box<dyn omnivox_dialer::PacingPolicy>, drops: Vec<f64>, ans: Vec<(f64, bool)> }
impl omnivox_dialer::PacingPolicy for Rec {
    fn name(&self) -> String { self.inner.name() }
    fn decide(&mut self, obs: &omnivox_dialer::Observation<'_>) -> u32 {
        for o in obs.outcomes { match o { omnivox_dialer::Outcome::Dropped { at_s, waited_s } => { self.drops.push(*at_s); self.ans.push((at_s - waited_s, true)); } omnivox_dialer::Outcome::Connected { at_s, waited_s } => self.ans.push((at_s - waited_s, false)), _ => {} } }
        self.inner.decide(obs)
    }
}
