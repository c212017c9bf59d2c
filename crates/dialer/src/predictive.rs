//! The predictive policy: a model-based look-ahead against the abandonment
//! budget.
//!
//! Every tick it asks, for one more call placed now: if this call is
//! answered, what is the chance that no agent is free for it within the
//! grace period? The answer comes from the learned model ([`Estimator`]):
//!
//! - the new call's ring time if answered (quadrature over its learned
//!   distribution, `quad_points` equal-probability nodes `tau`);
//! - demand by `tau`: answered calls already waiting, each call in flight
//!   answered within `tau` given its age, the other new calls of this tick;
//! - supply by `tau + grace`: ready agents, and each busy agent free by then
//!   given its state and time in state (talk then wrap, wrap, pause; the
//!   learned pause rate lowers it; leaving agents never come back).
//!
//! The call drops when demand reaches supply. Demand minus supply is a sum
//! of independent Bernoulli terms: computed exactly (a tail-truncated
//! Poisson-binomial) when small, by a normal approximation when large.
//! Calls are added while that drop probability stays under a threshold
//! `theta`, never fewer than progressive would place.
//!
//! `theta` is steered by three loops:
//! - fast: the predicted drop share of recent answers tracks the aim;
//! - calibration: realized drops over predicted drops (`kappa`) corrects
//!   what the model misses (calls placed at later ticks competing);
//! - budget: the aim is the target times `aim_share`, raised a little when
//!   the regulatory windows (rolling 30 days, 24 hours) have room and cut
//!   as they run short, and cut hard when one more drop would push the
//!   rolling 15-minute window over `window_cap`. With no budget left it
//!   places only calls with no predicted risk: it becomes progressive.

use crate::estimator::{Estimator, done_within};
use crate::ledger::AbandonLedger;
use crate::observe::{AgentState, Observation, Outcome, PacingPolicy};
use crate::stats::{LogNormal, normal_cdf};

/// Tuning of [`Predictive`]. The defaults are what the simulator results in
/// the README were measured with.
#[derive(Debug, Clone)]
pub struct PredictiveConfig {
    /// The share of the abandonment target to aim at (room for chance).
    pub aim_share: f64,
    /// The most any rolling `window_s` may abandon.
    pub window_cap: f64,
    /// The largest chance a new call may add of filling the rolling
    /// window's remaining drops (the call dropping along with as many others
    /// as the window still takes).
    pub window_risk: f64,
    /// Raise the threshold by this share per ready agent that the calls
    /// in flight are not expected to reach (their idle time is certain).
    pub idle_boost: f64,
    /// The largest chance a new call may drop together with another.
    pub pair_risk: f64,
    pub window_a: f64,
    pub window_b: f64,
    pub window_floor: f64,
    /// Over- or under-spending is paid back over this many seconds.
    pub budget_horizon_s: f64,
    /// Regulatory windows with at least this many answers and no room left
    /// at the target stop all risky calls.
    pub hard_min_answers: u64,
    /// Value calls by the chance the agent they take would otherwise still
    /// be idle this many seconds after the answer (0: no weighting).
    pub idle_delta_s: f64,
    /// How strongly that value moves the threshold (0: not at all).
    pub idle_weight: f64,
    /// Half-life of the learned statistics (seconds).
    pub half_life_s: f64,
    /// Quadrature nodes over the new call's ring time.
    pub quad_points: usize,
    /// Estimated share of AMD "machine" results that were live people.
    pub amd_false_positive: f64,
    /// At most this many new calls per logged-in agent per tick.
    pub max_dials_per_agent: f64,
    /// Exact Poisson-binomial when terms x support stay under this.
    pub exact_limit: usize,
    /// Warm-up: outcomes needed before leaving progressive.
    pub min_dials: u64,
    pub min_answers: u64,
    pub min_talks: u64,
    /// Fast loop: half-life of the predicted drop share, and its gain.
    pub fast_half_life_s: f64,
    pub fast_gain: f64,
    /// Calibration half-life.
    pub calib_half_life_s: f64,
}

impl Default for PredictiveConfig {
    fn default() -> Self {
        PredictiveConfig {
            aim_share: 0.85,
            window_cap: 0.05,
            window_risk: 0.003,
            idle_boost: 0.0,
            pair_risk: 1.0,
            window_a: 0.5,
            window_b: 3.5,
            window_floor: 0.15,
            budget_horizon_s: 7200.0,
            hard_min_answers: 200,
            idle_delta_s: 9.0,
            idle_weight: 0.0,
            half_life_s: 900.0,
            quad_points: 6,
            amd_false_positive: 0.0,
            max_dials_per_agent: 2.0,
            exact_limit: 6000,
            min_dials: 40,
            min_answers: 12,
            min_talks: 8,
            fast_half_life_s: 120.0,
            fast_gain: 0.01,
            calib_half_life_s: 7200.0,
        }
    }
}

const WINDOW_S: f64 = 900.0;
/// How many drops beyond the new call's own the exact tail keeps.
const TAIL: usize = 4;

/// One node's demand-minus-supply: `c + sum of Bernoulli(p_i)`.
#[derive(Debug, Clone, Default)]
struct Node {
    c: i64,
    probs: Vec<f64>,
    /// P(new call answered by this node's time).
    p_new: f64,
    // Evaluation state.
    exact: bool,
    m: i64,
    dist: Vec<f64>,
    mean: f64,
    var: f64,
}

impl Node {
    fn clear(&mut self) {
        self.c = 0;
        self.probs.clear();
    }

    fn push(&mut self, p: f64) {
        if p >= 1.0 - 1e-9 {
            self.c += 1;
        } else if p > 1e-9 {
            self.probs.push(p);
        }
    }

    /// Set up the distribution of the sum; `exact_limit` picks the method.
    /// The exact distribution is kept up to `m + TAIL`, the last cell
    /// holding everything above.
    fn init(&mut self, exact_limit: usize) {
        self.m = -self.c;
        self.mean = self.probs.iter().sum();
        self.var = self.probs.iter().map(|p| p * (1.0 - p)).sum();
        let cells = (self.m.max(0) as usize) + TAIL + 1;
        self.exact = self.probs.len() * cells <= exact_limit;
        if self.exact {
            self.dist.clear();
            self.dist.resize(cells, 0.0);
            self.dist[0] = 1.0;
            let probs = std::mem::take(&mut self.probs);
            for &p in &probs {
                self.add_exact(p);
            }
            self.probs = probs;
        }
    }

    fn add_exact(&mut self, p: f64) {
        let top = self.dist.len() - 1;
        if top == 0 {
            return;
        }
        self.dist[top] += self.dist[top - 1] * p;
        for i in (1..top).rev() {
            self.dist[i] = self.dist[i] * (1.0 - p) + self.dist[i - 1] * p;
        }
        self.dist[0] *= 1.0 - p;
    }

    /// P(sum >= m + extra): at least `extra + 1` calls find no agent (the
    /// new one among them). `extra` <= TAIL.
    fn p_tail(&self, extra: usize) -> f64 {
        let k = self.m + extra as i64;
        if k <= 0 {
            return 1.0;
        }
        if self.exact {
            let k = k as usize;
            return self.dist.get(k..).map(|t| t.iter().sum()).unwrap_or(0.0);
        }
        if self.var < 1e-12 {
            return if self.mean >= k as f64 - 1e-9 { 1.0 } else { 0.0 };
        }
        1.0 - normal_cdf((k as f64 - 0.5 - self.mean) / self.var.sqrt())
    }

    fn p_drop(&self) -> f64 {
        self.p_tail(0)
    }

    /// Another new call placed alongside.
    fn add_new(&mut self) {
        let p = self.p_new;
        self.mean += p;
        self.var += p * (1.0 - p);
        if self.exact {
            self.add_exact(p);
        }
    }
}

/// The learned durations that make agents free.
struct Supply<'a> {
    talk: &'a LogNormal,
    wrap: Option<&'a LogNormal>,
    wrap_mean: f64,
    pause: Option<&'a LogNormal>,
    stay: f64,
}

/// How a busy agent may come free, precomputed per tick.
#[derive(Debug, Clone, Copy)]
enum Busy {
    /// Talking for `e`: free after the rest of the talk plus wrap.
    Talk { e: f64 },
    Wrap { e: f64 },
    Pause { e: f64 },
}

/// The predictive policy. See the module documentation.
#[derive(Debug, Clone)]
pub struct Predictive {
    cfg: PredictiveConfig,
    est: Estimator,
    ledger: Option<AbandonLedger>,
    start_s: Option<f64>,
    last_s: Option<f64>,
    theta: f64,
    fast_drop: f64,
    fast_ans: f64,
    calib_real: f64,
    calib_pred: f64,
    nodes: Vec<Node>,
    idle_nodes: Vec<Node>,
    busy: Vec<Busy>,
    elapsed: Vec<f64>,
    pub debug_q: Option<Vec<(f64, f64)>>,
    /// Drops the rolling window still takes under its cap.
    window_slots: i64,
    /// Recent new calls per second (this policy's own decisions).
    dial_rate: f64,
}

impl Predictive {
    pub fn new(mut cfg: PredictiveConfig) -> Self {
        if let Ok(v) = std::env::var("PCFG") {
            for kv in v.split(',') {
                if let Some((k, val)) = kv.split_once('=') {
                    let x: f64 = val.parse().unwrap_or(0.0);
                    match k {
                        "aim" => cfg.aim_share = x,
                        "cap" => cfg.window_cap = x,
                        "wr" => cfg.window_risk = x,
                        "wa" => cfg.window_a = x,
                        "pr" => cfg.pair_risk = x,
                        "boost" => cfg.idle_boost = x,
                        "wb" => cfg.window_b = x,
                        "wf" => cfg.window_floor = x,
                        "horizon" => cfg.budget_horizon_s = x,
                        "delta" => cfg.idle_delta_s = x,
                        "iw" => cfg.idle_weight = x,
                        "q" => cfg.quad_points = x as usize,
                        "hl" => cfg.half_life_s = x,
                        "gain" => cfg.fast_gain = x,
                        "fasthl" => cfg.fast_half_life_s = x,
                        "exact" => cfg.exact_limit = x as usize,
                        _ => {}
                    }
                }
            }
        }
        let est = Estimator::new(cfg.half_life_s);
        Predictive {
            cfg,
            est,
            ledger: None,
            start_s: None,
            last_s: None,
            theta: 0.02,
            fast_drop: 0.0,
            fast_ans: 0.0,
            calib_real: 0.0,
            calib_pred: 0.0,
            nodes: Vec::new(),
            idle_nodes: Vec::new(),
            busy: Vec::new(),
            dial_rate: 0.0,
            window_slots: i64::MAX,
            debug_q: None,
            elapsed: Vec::new(),
        }
    }

    /// Start from a campaign's existing abandonment history (live use: the
    /// last 30 days), so the budget carries across shifts.
    pub fn with_ledger(cfg: PredictiveConfig, ledger: AbandonLedger) -> Self {
        let mut p = Predictive::new(cfg);
        p.ledger = Some(ledger);
        p
    }

    /// The campaign's abandonment ledger as this policy has recorded it.
    pub fn ledger(&self) -> Option<&AbandonLedger> {
        self.ledger.as_ref()
    }

    /// The learned statistics.
    pub fn estimator(&self) -> &Estimator {
        &self.est
    }

    fn learn(&mut self, obs: &Observation<'_>) {
        let ledger = self
            .ledger
            .get_or_insert_with(|| AbandonLedger::new(obs.abandon_target, self.cfg.amd_false_positive));
        for o in obs.outcomes {
            self.est.observe(o);
            match *o {
                Outcome::Connected { at_s, waited_s } => ledger.record_answer(at_s - waited_s, false),
                Outcome::Dropped { at_s, waited_s } => {
                    ledger.record_answer(at_s - waited_s, true);
                    self.calib_real += 1.0;
                }
                Outcome::MachineDetected { at_s } => ledger.record_machine(at_s),
                _ => {}
            }
        }
        self.est.advance(obs.now_s);
        self.est.prepare();
        if let Some(last) = self.last_s {
            let dt = (obs.now_s - last).max(0.0);
            let f = 0.5f64.powf(dt / self.cfg.fast_half_life_s);
            self.fast_drop *= f;
            self.fast_ans *= f;
            let g = 0.5f64.powf(dt / self.cfg.calib_half_life_s);
            self.calib_real *= g;
            self.calib_pred *= g;
        }
        self.last_s = Some(obs.now_s);
    }

    fn warm(&self) -> bool {
        self.est.n_dials >= self.cfg.min_dials
            && self.est.n_answers >= self.cfg.min_answers
            && self.est.n_talks >= self.cfg.min_talks
            && self.est.talk().is_some()
    }

    /// The drop share to aim at now (before calibration).
    fn aim(&mut self, obs: &Observation<'_>) -> f64 {
        let target = obs.abandon_target;
        let aim_base = target * self.cfg.aim_share;
        let now = obs.now_s;
        let elapsed = now - self.start_s.unwrap_or(now);
        let Some(ledger) = self.ledger.as_mut() else {
            return aim_base;
        };
        let hour = ledger.last_hour(now);
        let span = elapsed.clamp(60.0, 3600.0);
        let ans_rate = (hour.answers as f64 / span).max(1e-3);
        // The regulatory windows: pay back (or spend) the difference from
        // the aim over the next `budget_horizon_s`.
        let expect = (ans_rate * self.cfg.budget_horizon_s).max(20.0);
        let slack = |r: &crate::ledger::AbandonRate, share: f64| {
            let den = r.answers as f64 + r.amd_humans;
            share * den - (r.drops as f64 + r.amd_humans)
        };
        let us = ledger.us_30d(now);
        let uk = ledger.uk_24h(now);
        let mut aim =
            (aim_base + slack(&us, aim_base).min(slack(&uk, aim_base)) / expect).clamp(0.0, target);
        // Out of budget at the target itself: only riskless calls.
        let hard = slack(&us, target).min(slack(&uk, target));
        if us.answers.min(uk.answers) >= self.cfg.hard_min_answers && hard < 1.0 {
            aim = aim.min(aim_base * 0.05);
        }
        // The rolling window: the drops it can still take, spread over the
        // answers of the next window, less a margin for drops already on
        // their way.
        let w = ledger.last_15min(now);
        let window_answers = w.answers as f64 + ans_rate * (WINDOW_S - elapsed).max(0.0);
        let allowed = (self.cfg.window_cap * window_answers).floor() - w.drops as f64;
        self.window_slots = allowed.max(0.0) as i64;
        let mult = ((allowed - self.cfg.window_a) / self.cfg.window_b).clamp(self.cfg.window_floor, 1.0);
        aim * mult
    }

    fn build_nodes(&mut self, obs: &Observation<'_>) -> Option<()> {
        self.elapsed.clear();
        self.elapsed.extend(
            obs.agents
                .iter()
                .filter(|a| a.state == AgentState::Talking)
                .map(|a| a.in_state_s),
        );
        let talk = self.est.talk_censored(&self.elapsed)?;
        let wrap = self.est.wrap();
        let wrap_mean = wrap.map(|w| w.mean()).unwrap_or(0.0);
        let pause = self.est.pause();
        let stay = 1.0 - self.est.pause_prob();
        let q = self.cfg.quad_points.max(1);
        self.nodes.resize_with(q, Node::default);
        self.busy.clear();
        let mut ready = 0i64;
        for a in obs.agents {
            if a.leaving {
                continue;
            }
            let e = a.in_state_s.max(0.0);
            match a.state {
                AgentState::Ready => ready += 1,
                AgentState::Talking => self.busy.push(Busy::Talk { e }),
                AgentState::Wrap => self.busy.push(Busy::Wrap { e }),
                AgentState::Paused => {
                    if pause.is_some() {
                        self.busy.push(Busy::Pause { e });
                    }
                }
            }
        }
        let base_c = obs.waiting.len() as i64 - ready;
        let delta = self.cfg.idle_delta_s;
        let mut nodes = std::mem::take(&mut self.nodes);
        let mut idle = std::mem::take(&mut self.idle_nodes);
        idle.resize_with(if delta > 0.0 { q } else { 0 }, Node::default);
        for i in 0..q {
            let tau = self.est.ring_quantile((i as f64 + 0.5) / q as f64);
            let ctx = Supply {
                talk: &talk,
                wrap: wrap.as_ref(),
                wrap_mean,
                pause: pause.as_ref(),
                stay,
            };
            self.fill(&mut nodes[i], obs, base_c, tau, tau + obs.grace_s, &ctx);
            if let Some(node) = idle.get_mut(i) {
                self.fill(node, obs, base_c, tau + delta, tau + delta, &ctx);
                node.p_new = self.est.answered_by(tau + delta);
            }
            nodes[i].p_new = self.est.answered_by(tau);
        }
        self.nodes = nodes;
        self.idle_nodes = idle;
        Some(())
    }

    /// Demand answered by `demand_t` against agents free by `supply_t`.
    fn fill(
        &self,
        node: &mut Node,
        obs: &Observation<'_>,
        base_c: i64,
        demand_t: f64,
        supply_t: f64,
        sup: &Supply<'_>,
    ) {
        node.clear();
        node.c = base_c;
        for call in obs.calls {
            node.push(self.est.answer_within(call.age_s, demand_t));
        }
        for b in &self.busy {
            let f = match *b {
                Busy::Talk { e } => sup.stay * done_within(sup.talk, e, supply_t - sup.wrap_mean),
                Busy::Wrap { e } => {
                    sup.stay * sup.wrap.map(|w| done_within(w, e, supply_t)).unwrap_or(1.0)
                }
                Busy::Pause { e } => sup.pause.map(|p| done_within(p, e, supply_t)).unwrap_or(0.0),
            };
            // A supply term: -1 with probability f, i.e. -1 + Bernoulli(1 - f).
            if f > 1e-9 {
                node.c -= 1;
                node.push(1.0 - f);
            }
        }
        node.init(self.cfg.exact_limit);
    }

    /// P(the agent a new call would take stays idle otherwise): the value
    /// of the call.
    fn idle_value(&self) -> f64 {
        if self.idle_nodes.is_empty() {
            return 1.0;
        }
        let n = self.idle_nodes.len() as f64;
        self.idle_nodes.iter().map(|x| 1.0 - x.p_drop()).sum::<f64>() / n
    }

    fn marginal(&self) -> f64 {
        let n = self.nodes.len().max(1) as f64;
        self.nodes.iter().map(Node::p_drop).sum::<f64>() / n
    }

    /// P(this call and at least one other drop together).
    fn pair_risk(&self) -> f64 {
        let n = self.nodes.len().max(1) as f64;
        self.nodes.iter().map(|x| x.p_tail(1)).sum::<f64>() / n
    }

    /// P(this call and enough others drop together to fill the rolling
    /// window's remaining slots); 0 when the window has room to spare.
    fn window_risk(&self) -> f64 {
        if self.window_slots > TAIL as i64 + 1 {
            return 0.0;
        }
        let extra = (self.window_slots - 1).max(0) as usize;
        let n = self.nodes.len().max(1) as f64;
        self.nodes.iter().map(|x| x.p_tail(extra)).sum::<f64>() / n
    }
}

impl PacingPolicy for Predictive {
    fn name(&self) -> String {
        "predictive".into()
    }

    fn decide(&mut self, obs: &Observation<'_>) -> u32 {
        self.start_s.get_or_insert(obs.now_s);
        self.learn(obs);
        let floor = obs.unmatched_ready() as u32;
        if !self.warm() || self.build_nodes(obs).is_none() {
            if let Some(v) = self.debug_q.as_mut() { for _ in 0..floor { v.push((-1.0, -1.0)); } }
            return floor;
        }
        let target = obs.abandon_target.max(1e-6);
        let aim_base = target * self.cfg.aim_share;
        let aim = self.aim(obs);
        let theta_eff = self.theta * (aim / aim_base);
        let agents = obs.agents.iter().filter(|a| !a.leaving).count() as f64;
        let cap = (self.cfg.max_dials_per_agent * agents).ceil() as u32 + 2;
        let pa = self.est.answer_rate();
        let ready = obs
            .agents
            .iter()
            .filter(|a| a.state == AgentState::Ready && !a.leaving)
            .count() as f64;
        let coming: f64 = obs
            .calls
            .iter()
            .map(|c| self.est.answer_within(c.age_s, 1e4))
            .sum();
        let excess0 = ready - obs.waiting.len() as f64 - coming;
        let mut k = 0u32;
        while k < cap {
            let q = self.marginal();
            let excess = (excess0 - k as f64 * pa).max(0.0);
            let value = self.idle_value();
            let theta_k = theta_eff
                * (1.0 + self.cfg.idle_boost * excess)
                * (self.cfg.idle_weight * (value - 0.5)).exp();
            if k >= floor
                && (q > theta_k
                    || self.window_risk() > self.cfg.window_risk
                    || self.pair_risk() > self.cfg.pair_risk)
            {
                break;
            }
            if self.debug_q.is_some() {
                let extra = self.nodes.iter().map(|x| x.p_tail(1)).sum::<f64>() / self.nodes.len() as f64;
                if let Some(v) = self.debug_q.as_mut() { v.push((q, extra)); }
            }
            self.fast_drop += pa * q;
            self.fast_ans += pa;
            self.calib_pred += pa * q;
            for node in self.nodes.iter_mut().chain(self.idle_nodes.iter_mut()) {
                node.add_new();
            }
            k += 1;
        }
        // Fast loop: steer theta so the predicted drop share meets the aim
        // corrected by the calibration. Frozen while the budget holds the
        // aim down, so it does not wind up.
        let kappa = ((self.calib_real + 1.0) / (self.calib_pred + 1.0)).clamp(0.3, 5.0);
        let goal = aim_base / kappa;
        if self.fast_ans > 3.0 && aim >= 0.7 * aim_base {
            let ratio = self.fast_drop / self.fast_ans;
            let step = if ratio > 1e-9 {
                (goal / ratio).ln().clamp(-3.0, 3.0)
            } else {
                3.0
            };
            self.theta = (self.theta * (self.cfg.fast_gain * step).exp()).clamp(1e-4, 0.3);
        }
        let placed = k.max(floor);
        let tick = obs.tick_s.max(1e-3);
        let f = 0.5f64.powf(tick / 30.0);
        self.dial_rate = self.dial_rate * f + (1.0 - f) * placed as f64 / tick;
        if let Ok(v) = std::env::var("PTRACE2") {
            let t0: f64 = v.parse().unwrap_or(0.0);
            if obs.now_s >= t0 && obs.now_s <= t0 + 40.0 {
                let st: Vec<String> = obs.agents.iter().filter(|a| a.state != AgentState::Talking).map(|a| format!("{:?}{:.0}", a.state, a.in_state_s)).collect();
                let ages: Vec<String> = obs.calls.iter().map(|c| format!("{:.0}", c.age_s)).collect();
                eprintln!("t {:.0} k {} floor {} th {:.4} waiting {} calls [{}] agents {:?} talking {} outc {:?}", obs.now_s, k, floor, theta_eff, obs.waiting.len(), ages.join(","), st, obs.count(AgentState::Talking),
                  obs.outcomes.iter().filter_map(|o| match o { Outcome::Dropped{..} => Some("DROP"), Outcome::DialEnded{answered: true, ..} => Some("ANS"), _ => None }).collect::<Vec<_>>());
            }
        }
        if std::env::var("PTRACE").is_ok() && (obs.now_s as u64) % 60 == 0 {
            let w = self.ledger.as_mut().map(|l| l.last_15min(obs.now_s));
            eprintln!("t {:6.0} theta {:.4} eff {:.4} aim {:.4} kappa {:.2} fast {:.4} k {} floor {} calls {} ready {} w15 {:?} pa {:.3}",
                obs.now_s, self.theta, theta_eff, aim, kappa, self.fast_drop / self.fast_ans.max(1e-9), k, floor, obs.calls.len(),
                obs.count(AgentState::Ready), w.map(|w| (w.answers, w.drops)), pa);
        }
        placed
    }
}
