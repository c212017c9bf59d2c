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
//!   given its state and time in state (the rest of the talk then wrap,
//!   the rest of the wrap, the rest of a pause; the learned pause rate
//!   lowers it; leaving agents never come back).
//!
//! The call drops when demand reaches supply. Demand minus supply is a sum
//! of independent Bernoulli terms: computed exactly (a Poisson-binomial kept
//! a few cells past the drop point) when small, by a normal approximation
//! when large. Calls are added while
//!
//! - the new call's drop probability stays under a threshold `theta`, and
//! - the chance that, with it placed, more calls drop than the rolling
//!   15-minute windows still take under `window_cap` stays under
//!   `window_risk` divided by kappa^`window_kappa_power` (kappa: realized
//!   over predicted drops, see below). The model misses clusters of drops
//!   by about the same factor whatever their size, so the correction does
//!   not grow with the drops the window still takes. At each node's time
//!   the excess of demand over supply bounds the drops from below, so the
//!   largest node counts, not the mean;
//!
//! and never fewer than progressive would place. A team so small that one
//! drop would take a window over the cap is paced progressively.
//!
//! The windows are those ending now and over the next minutes: they keep
//! the recent drops and lose their oldest answers. The answers they gain
//! meanwhile are projected at the lower of `window_rate_share` of the last
//! hour's answer rate and the rate the agents who stay (not leaving) would
//! answer under progressive pacing: after a cluster of drops pacing comes
//! close to progressive, and when the team shrinks the last hour's rate
//! overstates what is coming.
//!
//! `theta` is steered by three loops:
//! - fast: the predicted drop share of recent answers tracks the aim
//!   (frozen while the window holds pacing back, so it does not wind up);
//! - calibration: realized drops over predicted drops (`kappa`) corrects
//!   what the model misses (calls placed at later ticks competing);
//! - budget: the aim is the target times `aim_share`, corrected by what the
//!   regulatory windows (rolling 30 days, rolling 24 hours, from
//!   [`AbandonLedger`]) have left: overspending is paid back within half an
//!   hour, savings are spent over two hours up to `max_aim_share` of the
//!   target. With no room left at `hard_share` of the target it places only
//!   calls with no predicted risk: it turns progressive.

use crate::estimator::{Estimator, done_within, done_within_from};
use crate::ledger::AbandonLedger;
use crate::observe::{AgentState, Observation, Outcome, PacingPolicy};
use crate::stats::{LogNormal, normal_cdf};

/// Tuning of [`Predictive`]. The defaults are what the simulator results in
/// the README were measured with.
#[derive(Debug, Clone)]
pub struct PredictiveConfig {
    /// The share of the abandonment target to aim at (room for chance).
    pub aim_share: f64,
    /// Savings from quieter hours raise the aim up to this share of the
    /// target, never to the target itself.
    pub max_aim_share: f64,
    /// The most any rolling 15-minute window may abandon.
    pub window_cap: f64,
    /// The largest chance a new call may carry of pushing a rolling window
    /// over `window_cap`: of dropping together with as many others as the
    /// window still takes.
    pub window_risk: f64,
    /// The answer rate assumed for the coming minutes of a window, as a
    /// share of the last hour's; never above the rate the staying agents
    /// would answer under progressive pacing.
    pub window_rate_share: f64,
    /// Over- or under-spending is paid back over this many seconds.
    pub budget_horizon_s: f64,
    /// Regulatory windows with at least this many answers and no room left
    /// at `hard_share` of the target stop all risky calls.
    pub hard_min_answers: u64,
    pub hard_share: f64,
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
    /// The window guard's risk cap is `window_risk / kappa^this` (kappa:
    /// realized over predicted drops, at least 1), whatever the number of
    /// drops the window still takes: the model misses clusters by about the
    /// same factor at every size. 0: no correction.
    pub window_kappa_power: f64,
}

impl Default for PredictiveConfig {
    fn default() -> Self {
        PredictiveConfig {
            aim_share: 0.6,
            max_aim_share: 0.8,
            window_cap: 0.05,
            window_risk: 1e-5,
            window_rate_share: 0.65,
            budget_horizon_s: 7200.0,
            hard_min_answers: 200,
            hard_share: 0.95,
            half_life_s: 900.0,
            quad_points: 6,
            amd_false_positive: 0.0,
            max_dials_per_agent: 2.0,
            exact_limit: 2500,
            min_dials: 40,
            min_answers: 30,
            min_talks: 20,
            fast_half_life_s: 120.0,
            fast_gain: 0.01,
            calib_half_life_s: 1800.0,
            window_kappa_power: 2.0,
        }
    }
}

const WINDOW_S: f64 = 900.0;
/// At most this many drops beyond the new call's own are told apart by the
/// exact tail; the last cell holds everything above (an upper bound).
const TAIL_MAX: usize = 12;

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
    /// The exact distribution is kept up to `m + tail`, the last cell
    /// holding everything above.
    fn init(&mut self, exact_limit: usize, tail: usize) {
        self.m = -self.c;
        self.mean = self.probs.iter().sum();
        self.var = self.probs.iter().map(|p| p * (1.0 - p)).sum();
        let cells = (self.m.max(0) as usize) + tail + 1;
        self.exact = (self.probs.len() + 4) * cells <= exact_limit;
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
    /// new one among them). Past the kept cells the last one, which holds
    /// everything above, gives an upper bound.
    fn p_tail(&self, extra: usize) -> f64 {
        let k = self.m + extra as i64;
        if k <= 0 {
            return 1.0;
        }
        if self.exact {
            let k = (k as usize).min(self.dist.len().saturating_sub(1));
            return self.dist.get(k..).map(|t| t.iter().sum()).unwrap_or(0.0);
        }
        if self.var < 1e-12 {
            return if self.mean >= k as f64 - 1e-9 {
                1.0
            } else {
                0.0
            };
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
    /// Talking for `e` (`f0`: the talk CDF at `e`): free after the rest of
    /// the talk plus wrap.
    Talk {
        e: f64,
        f0: f64,
    },
    Wrap {
        e: f64,
    },
    Pause {
        e: f64,
    },
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
    busy: Vec<Busy>,
    elapsed: Vec<f64>,
    /// Ages of the calls in flight with their counts.
    ages: Vec<(f64, u32)>,
    /// Answers of the last window: (answer time, dropped).
    recent: std::collections::VecDeque<(f64, bool)>,
    /// Drops the rolling window still takes under its cap.
    window_slots: i64,
    /// A single drop would take the rolling window over its cap.
    tiny_team: bool,
}

impl Predictive {
    pub fn new(cfg: PredictiveConfig) -> Self {
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
            busy: Vec::new(),
            window_slots: i64::MAX,
            tiny_team: false,
            elapsed: Vec::new(),
            ages: Vec::new(),
            recent: std::collections::VecDeque::new(),
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
        let ledger = self.ledger.get_or_insert_with(|| {
            AbandonLedger::new(obs.abandon_target, self.cfg.amd_false_positive)
        });
        for o in obs.outcomes {
            self.est.observe(o);
            match *o {
                Outcome::Connected { at_s, waited_s } => {
                    ledger.record_answer(at_s - waited_s, false);
                    self.recent.push_back((at_s - waited_s, false));
                }
                Outcome::Dropped { at_s, waited_s } => {
                    ledger.record_answer(at_s - waited_s, true);
                    self.recent.push_back((at_s - waited_s, true));
                    self.calib_real += 1.0;
                }
                Outcome::MachineDetected { at_s } => ledger.record_machine(at_s),
                _ => {}
            }
        }
        while self
            .recent
            .front()
            .is_some_and(|&(t, _)| t < obs.now_s - WINDOW_S)
        {
            self.recent.pop_front();
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
        let slack = |r: &crate::ledger::AbandonRate, share: f64| {
            let den = r.answers as f64 + r.amd_humans;
            share * den - (r.drops as f64 + r.amd_humans)
        };
        let us = ledger.us_30d(now);
        let uk = ledger.uk_24h(now);
        let room = slack(&us, aim_base).min(slack(&uk, aim_base));
        // Overspending is paid back four times faster than savings are spent.
        let horizon = if room < 0.0 {
            self.cfg.budget_horizon_s / 4.0
        } else {
            self.cfg.budget_horizon_s
        };
        let expect = (ans_rate * horizon).max(20.0);
        let mut aim = (aim_base + room / expect).clamp(0.0, target * self.cfg.max_aim_share);
        // Out of budget at the target itself: only riskless calls.
        let hard =
            slack(&us, target * self.cfg.hard_share).min(slack(&uk, target * self.cfg.hard_share));
        if us.answers.min(uk.answers) >= self.cfg.hard_min_answers && hard < 1.0 {
            aim = aim.min(aim_base * 0.05);
        }
        // The rolling windows ending now and over the next minutes: how
        // many more drops each takes under the cap. They keep the recent
        // drops but lose their oldest answers, and new answers may come
        // slower (`window_rate_share`) while the window holds pacing back,
        // and no faster than the staying team answers under progressive.
        let rate = (ans_rate * self.cfg.window_rate_share).min(self.progressive_answer_rate(obs));
        let start = self.start_s.unwrap_or(now);
        // Windows ending now and over the next minutes; one pass over the
        // recent answers counts them all.
        const GRID: [f64; 10] = [
            0.0, 30.0, 60.0, 120.0, 180.0, 240.0, 300.0, 450.0, 600.0, 750.0,
        ];
        let mut from = [0.0; GRID.len()];
        let mut ahead = [0.0; GRID.len()];
        for (j, h) in GRID.iter().enumerate() {
            // The window (end - 900, end]; none ends before the first full one.
            let end = (now + h).max(start + WINDOW_S);
            from[j] = end - WINDOW_S;
            ahead[j] = end - now;
        }
        let mut a = [0.0f64; GRID.len()];
        let mut d = [0.0f64; GRID.len()];
        for &(t, dropped) in self.recent.iter() {
            for j in 0..GRID.len() {
                if t >= from[j] {
                    a[j] += 1.0;
                    d[j] += f64::from(u8::from(dropped));
                }
            }
        }
        let mut slots = f64::INFINITY;
        let mut cap_drops = f64::INFINITY;
        for j in 0..GRID.len() {
            let cap = (self.cfg.window_cap * (a[j] + rate * ahead[j])).floor();
            cap_drops = cap_drops.min(cap);
            slots = slots.min(cap - d[j]);
        }
        // A team so small that the window holds fewer than two drops: any
        // second drop within it goes over, so stay in the strict mode.
        self.window_slots = if cap_drops < 2.0 {
            0
        } else {
            slots.max(0.0) as i64
        };
        self.tiny_team = cap_drops < 1.0;
        aim
    }

    /// Answers per second the agents who stay (not leaving) would get under
    /// progressive pacing: each answer takes a talk, a wrap-up, the mean
    /// pause per wrap-up and the dialing until someone answers (mean dial
    /// duration over the answer rate), all as learned.
    fn progressive_answer_rate(&self, obs: &Observation<'_>) -> f64 {
        let staying = obs.agents.iter().filter(|a| !a.leaving).count() as f64;
        let answer_rate = self.est.answer_rate();
        if staying == 0.0 || answer_rate <= 0.0 {
            return 0.0;
        }
        let talk = self.est.talk().map(|d| d.mean()).unwrap_or(0.0);
        let wrap = self.est.wrap().map(|d| d.mean()).unwrap_or(0.0);
        let pause = self.est.pause_prob() * self.est.pause().map(|d| d.mean()).unwrap_or(0.0);
        let dialing = self.est.mean_dial_s() / answer_rate;
        staying / (talk + wrap + pause + dialing).max(1e-9)
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
                AgentState::Talking => self.busy.push(Busy::Talk { e, f0: talk.cdf(e) }),
                AgentState::Wrap => self.busy.push(Busy::Wrap { e }),
                AgentState::Paused => {
                    if pause.is_some() {
                        self.busy.push(Busy::Pause { e });
                    }
                }
            }
        }
        let base_c = obs.waiting.len() as i64 - ready;
        // Calls placed at the same tick share an age: one lookup for each.
        self.ages.clear();
        let mut sorted: Vec<f64> = obs.calls.iter().map(|c| c.age_s).collect();
        sorted.sort_by(f64::total_cmp);
        for a in sorted {
            match self.ages.last_mut() {
                Some((last, n)) if *last == a => *n += 1,
                _ => self.ages.push((a, 1)),
            }
        }
        let ctx = Supply {
            talk: &talk,
            wrap: wrap.as_ref(),
            wrap_mean,
            pause: pause.as_ref(),
            stay,
        };
        let mut nodes = std::mem::take(&mut self.nodes);
        for (i, node) in nodes.iter_mut().enumerate() {
            let tau = self.est.ring_quantile((i as f64 + 0.5) / q as f64);
            self.fill(node, base_c, tau, tau + obs.grace_s, &ctx);
            node.p_new = self.est.answered_by(tau);
        }
        self.nodes = nodes;
        Some(())
    }

    /// Demand answered by `demand_t` against agents free by `supply_t`.
    fn fill(&self, node: &mut Node, base_c: i64, demand_t: f64, supply_t: f64, sup: &Supply<'_>) {
        node.clear();
        node.c = base_c;
        for &(age, n) in &self.ages {
            let p = self.est.answer_within(age, demand_t);
            for _ in 0..n {
                node.push(p);
            }
        }
        for b in &self.busy {
            let f = match *b {
                Busy::Talk { e, f0 } => {
                    sup.stay * done_within_from(sup.talk, f0, e, supply_t - sup.wrap_mean)
                }
                Busy::Wrap { e } => {
                    sup.stay * sup.wrap.map(|w| done_within(w, e, supply_t)).unwrap_or(1.0)
                }
                Busy::Pause { e } => sup
                    .pause
                    .map(|p| done_within(p, e, supply_t))
                    .unwrap_or(0.0),
            };
            // A supply term: -1 with probability f, i.e. -1 + Bernoulli(1 - f).
            if f > 1e-9 {
                node.c -= 1;
                node.push(1.0 - f);
            }
        }
        let tail = (self.window_slots + 1).clamp(1, TAIL_MAX as i64) as usize;
        node.init(self.cfg.exact_limit, tail);
    }

    fn marginal(&self) -> f64 {
        let n = self.nodes.len().max(1) as f64;
        self.nodes.iter().map(Node::p_drop).sum::<f64>() / n
    }

    /// The chance that, with this call placed, more calls drop than the
    /// rolling window still takes. At each node's time `t` the calls
    /// answered by `t` (this one included when it is) that no agent
    /// freed by `t + grace` can serve all drop, wherever they answered in
    /// between: a lower bound on the drops, so the largest over the nodes
    /// is taken rather than their mean.
    fn window_risk(&self) -> f64 {
        let s = self.window_slots.max(0) as usize;
        self.nodes
            .iter()
            .map(|x| {
                let above = x.p_tail(s + 1);
                let at = (x.p_tail(s) - above).max(0.0);
                above + x.p_new * at
            })
            .fold(0.0, f64::max)
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
        if !self.warm() {
            return floor;
        }
        let target = obs.abandon_target.max(1e-6);
        let aim_base = target * self.cfg.aim_share;
        let aim = self.aim(obs);
        if self.build_nodes(obs).is_none() {
            return floor;
        }
        if self.tiny_team {
            // Any drop would break the window: progressive, the only pacing
            // without risk.
            return floor;
        }
        let theta_eff = self.theta * (aim / aim_base);
        let agents = obs.agents.iter().filter(|a| !a.leaving).count() as f64;
        let cap = (self.cfg.max_dials_per_agent * agents).ceil() as u32 + 2;
        let pa = self.est.answer_rate();
        let mut k = 0u32;
        let mut held = false;
        // The model misses some drops (kappa > 1), and clusters of them by
        // about the same factor at every size: one flat correction.
        let kappa_now = ((self.calib_real + 1.0) / (self.calib_pred + 1.0)).clamp(0.3, 5.0);
        let risk_cap = self.cfg.window_risk / kappa_now.max(1.0).powf(self.cfg.window_kappa_power);
        while k < cap {
            let q = self.marginal();
            if k >= floor {
                if q > theta_eff {
                    break;
                }
                if self.window_risk() > risk_cap {
                    held = true;
                    break;
                }
            }
            self.fast_drop += pa * q;
            self.fast_ans += pa;
            self.calib_pred += pa * q;
            for node in &mut self.nodes {
                node.add_new();
            }
            k += 1;
        }
        // Fast loop: steer theta so the predicted drop share meets the aim
        // corrected by the calibration. Frozen while the budget holds the
        // aim down, so it does not wind up.
        let kappa = ((self.calib_real + 1.0) / (self.calib_pred + 1.0)).clamp(0.3, 5.0);
        let goal = aim / kappa;
        if self.fast_ans > 3.0 && aim >= 0.5 * aim_base && !held {
            let ratio = self.fast_drop / self.fast_ans;
            let step = if ratio > 1e-9 {
                (goal / ratio).ln().clamp(-3.0, 3.0)
            } else {
                3.0
            };
            self.theta = (self.theta * (self.cfg.fast_gain * step).exp()).clamp(1e-4, 0.3);
        }
        k.max(floor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(c: i64, probs: &[f64], tail: usize) -> Node {
        let mut n = Node {
            c,
            probs: probs.to_vec(),
            ..Node::default()
        };
        n.init(10_000, tail);
        n
    }

    #[test]
    fn exact_tail_matches_enumeration_and_bounds_beyond_kept_cells() {
        // Two agents short of supply (c = -2) against three calls.
        let probs = [0.5, 0.4, 0.3];
        let n = node(-2, &probs, 1);
        // P(sum >= 2) by enumeration.
        let mut p2 = 0.0;
        let mut p3 = 0.0;
        for mask in 0..8u32 {
            let mut p = 1.0;
            for (i, q) in probs.iter().enumerate() {
                p *= if mask & (1 << i) != 0 { *q } else { 1.0 - q };
            }
            let k = mask.count_ones();
            if k >= 2 {
                p2 += p;
            }
            if k >= 3 {
                p3 += p;
            }
        }
        assert!((n.p_drop() - p2).abs() < 1e-12);
        assert!((n.p_tail(1) - p3).abs() < 1e-12);
        // Past the kept cells the answer is an upper bound, never 0.
        assert!(n.p_tail(5) >= 0.0 && n.p_tail(5) <= n.p_tail(1) + 1e-12);
        assert!((n.p_tail(5) - p3).abs() < 1e-12);
    }

    #[test]
    fn progressive_rate_counts_only_the_staying_agents() {
        use crate::observe::AgentObs;
        let mut p = Predictive::new(PredictiveConfig::default());
        // Dials of 10 s, 3 in 10 answered; talks of 120 s, wrap-ups of 15 s
        // of which 1 in 5 ends in a 50-s pause.
        for i in 0..100 {
            p.est.observe(&Outcome::DialEnded {
                at_s: 0.0,
                after_s: 10.0,
                answered: i % 10 < 3,
            });
        }
        for i in 0..50 {
            p.est.observe(&Outcome::TalkEnded {
                at_s: 0.0,
                talk_s: 120.0,
            });
            p.est.observe(&Outcome::WrapEnded {
                at_s: 0.0,
                wrap_s: 15.0,
                paused: i % 5 == 0,
                left: false,
            });
            p.est.observe(&Outcome::PauseEnded {
                at_s: 0.0,
                pause_s: 50.0,
            });
        }
        p.est.prepare();
        let agent = |leaving| AgentObs {
            state: AgentState::Talking,
            in_state_s: 30.0,
            leaving,
        };
        let mut agents = vec![agent(false); 3];
        agents.extend(vec![agent(true); 5]);
        let obs = Observation {
            now_s: 100.0,
            shift_end_s: None,
            tick_s: 1.0,
            grace_s: 2.0,
            abandon_target: 0.03,
            agents: &agents,
            calls: &[],
            waiting: &[],
            outcomes: &[],
        };
        // Per answer: talk + wrap + 0.2 x pause + dialing (9.5 s at the
        // bin's midpoint / 0.3); the fits' means are within 0.2 % of the
        // durations (the smallest spread a fit keeps).
        let cycle = 120.0 + 15.0 + 0.2 * 50.0 + 9.5 / 0.3;
        let want = 3.0 / cycle;
        let got = p.progressive_answer_rate(&obs);
        assert!((got / want - 1.0).abs() < 0.005, "{got} vs {want}");
        // Nobody stays: no answers to project.
        let leaving = vec![agent(true); 4];
        let none = Observation {
            agents: &leaving,
            ..obs
        };
        assert_eq!(p.progressive_answer_rate(&none), 0.0);
    }

    #[test]
    fn window_risk_takes_the_worst_node() {
        let mut p = Predictive::new(PredictiveConfig::default());
        p.window_slots = 0;
        // One node with no risk, one where the new call surely finds no
        // agent if it is answered (p = 0.5): the mean over the nodes would
        // halve the risk, the guard must not.
        let mut safe = node(-3, &[0.1], 1);
        safe.p_new = 0.5;
        let mut bad = node(0, &[], 1);
        bad.p_new = 0.5;
        p.nodes = vec![safe, bad.clone()];
        assert!((p.window_risk() - 0.5).abs() < 1e-12, "{}", p.window_risk());
        // With one slot left two drops are needed: alone the new call
        // cannot break the window...
        p.window_slots = 1;
        let mut b2 = node(0, &[], 2);
        b2.p_new = 0.5;
        p.nodes = vec![b2];
        assert!(p.window_risk().abs() < 1e-12, "{}", p.window_risk());
        // ...but with an answered call already waiting for no agent it can.
        let mut waiting = node(1, &[], 2);
        waiting.p_new = 0.5;
        p.nodes = vec![waiting];
        assert!((p.window_risk() - 0.5).abs() < 1e-12, "{}", p.window_risk());
    }
}
