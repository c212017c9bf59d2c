//! The discrete-event model of `bench/dialer/README.md`.
//!
//! - A dial is answered by a live person with probability `p_answer` after a
//!   lognormal ring time (mean `ring_mean_s`, CV `ring_cv`) truncated below
//!   `dial_timeout_s`; otherwise it fails after `fail_fast_s` (a share
//!   `fail_fast_frac`) or rings out at `dial_timeout_s`.
//! - An answered call connects at once to the longest-idle ready agent, or
//!   waits up to `grace_s` and is then dropped (abandoned).
//! - Agents talk lognormal(`talk_mean_s`, `talk_cv`), wrap up `wrap_s`, then
//!   pause `pause_s` with probability `pause_prob`, then are ready again.
//! - The policy decides every `dial_tick_s` from an [`Observation`].
//! - Common random numbers: every draw of lead `k` comes from a hash of
//!   (seed, k), so all policies meet the same callees in the same order.
//!   Draws are uniforms mapped through the parameters in force when used,
//!   so a `[[phase]]` change keeps the pairing.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

use serde::Serialize;

use crate::observe::{
    AgentObs, AgentState, CallObs, Observation, Outcome, PacingPolicy, WaitingObs,
};
use crate::scenario::{Params, Scenario};
use crate::stats::{LogNormal, percentile};

/// The figures of one simulated shift.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunMetrics {
    pub talk_min_per_agent_hour: f64,
    pub occupancy: f64,
    pub abandon_rate: f64,
    pub worst_abandon_15min: f64,
    pub worst_abandon_60min: f64,
    pub dials_per_agent_hour: f64,
    pub answer_to_agent_p95_s: f64,
    pub idle_between_calls_p95_s: f64,
    #[serde(skip)]
    pub counts: Counts,
}

/// Raw totals, for tests and diagnostics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    pub dials: u64,
    pub answers: u64,
    pub drops: u64,
    pub connects: u64,
    pub talk_s: f64,
    pub wrap_s: f64,
    pub logged_in_s: f64,
    /// Model invariant breaches (must stay 0): a call given to an agent
    /// that was not ready, a drop before the grace period ended.
    pub violations: u64,
    /// The shortest wait of a dropped call.
    pub min_drop_wait_s: f64,
}

/// Uniform draws of one lead, from (seed, lead) alone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeadDraws {
    pub answer: f64,
    pub fail_fast: f64,
    pub ring: f64,
    pub talk: f64,
    pub pause: f64,
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn unit(h: u64) -> f64 {
    ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

impl LeadDraws {
    pub fn of(seed: i64, lead: u64) -> Self {
        let base = mix(mix(seed as u64 ^ 0x6F6D_6E69_766F_7821).wrapping_add(lead));
        let f = |k: u64| unit(mix(base ^ k.wrapping_mul(0xA24B_AED4_963E_E407)));
        LeadDraws {
            answer: f(1),
            fail_fast: f(2),
            ring: f(3),
            talk: f(4),
            pause: f(5),
        }
    }
}

/// A lead's ring time if answered, under `p`: lognormal truncated below the
/// dial timeout, by inverse transform of the lead's uniform.
pub fn ring_time(p: &Params, u: f64) -> f64 {
    let d = LogNormal::from_mean_cv(p.ring_mean_s, p.ring_cv);
    let fmax = d.cdf(p.dial_timeout_s);
    if fmax <= 1e-12 {
        return p.dial_timeout_s * 0.999;
    }
    d.quantile(u * fmax).min(p.dial_timeout_s)
}

/// A lead's talk time under `p`.
pub fn talk_time(p: &Params, u: f64) -> f64 {
    LogNormal::from_mean_cv(p.talk_mean_s, p.talk_cv).quantile(u)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ev {
    DialEnd(u32),
    Deadline(u32),
    TalkEnd(u32, u32),
    WrapEnd(u32, u32),
    PauseEnd(u32, u32),
    Login(u32, u32),
    Phase(u32),
    Tick(u64),
}

#[derive(Debug, Clone, Copy)]
struct Item {
    t: f64,
    class: u8,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Item {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Item {}
impl PartialOrd for Item {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Item {
    // Reversed: BinaryHeap is a max-heap and we want the earliest first;
    // at equal times state changes (class 0) come before the tick (1).
    fn cmp(&self, o: &Self) -> Ordering {
        o.t.total_cmp(&self.t)
            .then(o.class.cmp(&self.class))
            .then(o.seq.cmp(&self.seq))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AState {
    Off,
    Ready,
    Talking,
    Wrap,
    Paused,
}

#[derive(Debug, Clone)]
struct Agent {
    state: AState,
    since: f64,
    ready_since: f64,
    login_at: f64,
    leaving: bool,
    wanted: bool,
    login_pending: bool,
    epoch: u32,
    lead: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CState {
    Ringing,
    Waiting,
    Done,
}

#[derive(Debug, Clone)]
struct Call {
    lead: u64,
    dialed_at: f64,
    answered_at: f64,
    answered: bool,
    state: CState,
    pos: usize,
}

/// One lead as it met the dialer: for CRN checks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeadTrace {
    pub lead: u64,
    pub answered: bool,
    pub duration_s: f64,
    /// Set when the answered call was abandoned.
    pub dropped: bool,
}

/// Options of one run.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Keep a [`LeadTrace`] per dial.
    pub trace: bool,
}

struct Sim<'a> {
    sc: &'a Scenario,
    seed: i64,
    p: Params,
    shift: f64,
    heap: BinaryHeap<Item>,
    seq: u64,
    agents: Vec<Agent>,
    calls: Vec<Call>,
    inflight: Vec<u32>,
    waiting: VecDeque<u32>,
    next_lead: u64,
    outcomes: Vec<Outcome>,
    counts: Counts,
    ans_per_s: Vec<u32>,
    drop_per_s: Vec<u32>,
    waits: Vec<f64>,
    idles: Vec<f64>,
    trace: Option<Vec<LeadTrace>>,
    obs_agents: Vec<AgentObs>,
    obs_calls: Vec<CallObs>,
    obs_waiting: Vec<WaitingObs>,
}

impl<'a> Sim<'a> {
    fn push(&mut self, t: f64, class: u8, ev: Ev) {
        self.seq += 1;
        self.heap.push(Item {
            t,
            class,
            seq: self.seq,
            ev,
        });
    }

    fn login_time(&self, i: usize, now: f64) -> f64 {
        self.sc.login_s.get(i).copied().unwrap_or(0.0).max(now)
    }

    fn set_team(&mut self, n: usize, now: f64) {
        for i in 0..self.agents.len() {
            if i < n {
                self.agents[i].wanted = true;
                self.agents[i].leaving = false;
                if self.agents[i].state == AState::Off && !self.agents[i].login_pending {
                    let at = self.login_time(i, now);
                    self.agents[i].login_pending = true;
                    let epoch = self.agents[i].epoch;
                    self.push(at, 0, Ev::Login(i as u32, epoch));
                }
            } else {
                self.agents[i].wanted = false;
                match self.agents[i].state {
                    AState::Off => {}
                    AState::Ready | AState::Paused => self.logout(i, now),
                    AState::Talking | AState::Wrap => self.agents[i].leaving = true,
                }
            }
        }
    }

    fn logout(&mut self, i: usize, now: f64) {
        let a = &mut self.agents[i];
        if a.state != AState::Off {
            self.counts.logged_in_s += now.min(self.shift) - a.login_at;
        }
        a.state = AState::Off;
        a.leaving = false;
        a.epoch += 1;
    }

    fn become_ready(&mut self, i: usize, now: f64) {
        {
            let a = &mut self.agents[i];
            a.state = AState::Ready;
            a.since = now;
            a.ready_since = now;
        }
        if let Some(c) = self.waiting.pop_front() {
            self.connect(i, c, now);
        }
    }

    fn connect(&mut self, i: usize, c: u32, now: f64) {
        if self.agents[i].state != AState::Ready || self.agents[i].leaving {
            self.counts.violations += 1;
        }
        let call = &mut self.calls[c as usize];
        call.state = CState::Done;
        let waited = now - call.answered_at;
        let answered_at = call.answered_at;
        let lead = call.lead;
        self.record_answer(answered_at, false);
        self.counts.connects += 1;
        self.waits.push(waited);
        self.idles.push(now - self.agents[i].ready_since);
        self.outcomes.push(Outcome::Connected {
            at_s: now,
            waited_s: waited,
        });
        let talk = talk_time(&self.p, LeadDraws::of(self.seed, lead).talk);
        self.counts.talk_s += (now + talk).min(self.shift) - now;
        let a = &mut self.agents[i];
        a.state = AState::Talking;
        a.since = now;
        a.lead = lead;
        let epoch = a.epoch;
        self.push(now + talk, 0, Ev::TalkEnd(i as u32, epoch));
    }

    fn record_answer(&mut self, answered_at: f64, dropped: bool) {
        let s = (answered_at.max(0.0) as usize).min(self.ans_per_s.len() - 1);
        self.ans_per_s[s] += 1;
        self.counts.answers += 1;
        if dropped {
            self.drop_per_s[s] += 1;
            self.counts.drops += 1;
        }
    }

    fn after_wrap(&mut self, i: usize, now: f64, wrap_s: f64) {
        let a = &self.agents[i];
        if a.leaving || !a.wanted {
            self.outcomes.push(Outcome::WrapEnded {
                at_s: now,
                wrap_s,
                paused: false,
                left: true,
            });
            self.logout(i, now);
            return;
        }
        let u = LeadDraws::of(self.seed, a.lead).pause;
        if u < self.p.pause_prob && self.p.pause_s > 0.0 {
            self.outcomes.push(Outcome::WrapEnded {
                at_s: now,
                wrap_s,
                paused: true,
                left: false,
            });
            let a = &mut self.agents[i];
            a.state = AState::Paused;
            a.since = now;
            let epoch = a.epoch;
            let end = now + self.p.pause_s;
            self.push(end, 0, Ev::PauseEnd(i as u32, epoch));
        } else {
            self.outcomes.push(Outcome::WrapEnded {
                at_s: now,
                wrap_s,
                paused: false,
                left: false,
            });
            self.become_ready(i, now);
        }
    }

    fn longest_idle(&self) -> Option<usize> {
        let mut best: Option<(usize, f64)> = None;
        for (i, a) in self.agents.iter().enumerate() {
            if a.state == AState::Ready && !a.leaving && best.is_none_or(|(_, t)| a.ready_since < t)
            {
                best = Some((i, a.ready_since));
            }
        }
        best.map(|(i, _)| i)
    }

    fn dial(&mut self, now: f64) {
        let lead = self.next_lead;
        self.next_lead += 1;
        self.counts.dials += 1;
        let d = LeadDraws::of(self.seed, lead);
        let (answered, dur) = if d.answer < self.p.p_answer {
            (true, ring_time(&self.p, d.ring))
        } else if d.fail_fast < self.p.fail_fast_frac {
            (false, self.p.fail_fast_s.min(self.p.dial_timeout_s))
        } else {
            (false, self.p.dial_timeout_s)
        };
        if let Some(tr) = self.trace.as_mut() {
            tr.push(LeadTrace {
                lead,
                answered,
                duration_s: dur,
                dropped: false,
            });
        }
        let id = self.calls.len() as u32;
        self.calls.push(Call {
            lead,
            dialed_at: now,
            answered_at: f64::NAN,
            answered,
            state: CState::Ringing,
            pos: self.inflight.len(),
        });
        self.inflight.push(id);
        self.push(now + dur, 0, Ev::DialEnd(id));
    }

    fn remove_inflight(&mut self, c: u32) {
        let pos = self.calls[c as usize].pos;
        self.inflight.swap_remove(pos);
        if let Some(&moved) = self.inflight.get(pos) {
            self.calls[moved as usize].pos = pos;
        }
    }

    fn on_dial_end(&mut self, c: u32, now: f64) {
        self.remove_inflight(c);
        let (answered, dialed_at) = {
            let call = &self.calls[c as usize];
            (call.answered, call.dialed_at)
        };
        self.outcomes.push(Outcome::DialEnded {
            at_s: now,
            after_s: now - dialed_at,
            answered,
        });
        if !answered {
            self.calls[c as usize].state = CState::Done;
            return;
        }
        self.calls[c as usize].answered_at = now;
        match self.longest_idle() {
            Some(i) => self.connect(i, c, now),
            None => {
                self.calls[c as usize].state = CState::Waiting;
                self.waiting.push_back(c);
                let grace = self.sc.grace_s;
                self.push(now + grace, 0, Ev::Deadline(c));
            }
        }
    }

    fn on_deadline(&mut self, c: u32, now: f64) {
        if self.calls[c as usize].state != CState::Waiting {
            return;
        }
        if let Some(pos) = self.waiting.iter().position(|&x| x == c) {
            self.waiting.remove(pos);
        }
        let call = &mut self.calls[c as usize];
        call.state = CState::Done;
        let waited = now - call.answered_at;
        let answered_at = call.answered_at;
        let lead = call.lead;
        if let Some(tr) = self.trace.as_mut()
            && let Some(t) = tr.get_mut(lead as usize)
        {
            t.dropped = true;
        }
        if waited < self.sc.grace_s - 1e-9 {
            self.counts.violations += 1;
        }
        self.counts.min_drop_wait_s = if self.counts.drops == 0 {
            waited
        } else {
            self.counts.min_drop_wait_s.min(waited)
        };
        self.record_answer(answered_at, true);
        self.outcomes.push(Outcome::Dropped {
            at_s: now,
            waited_s: waited,
        });
    }

    fn tick(&mut self, k: u64, now: f64, policy: &mut dyn PacingPolicy) {
        self.obs_agents.clear();
        for a in &self.agents {
            let state = match a.state {
                AState::Off => continue,
                AState::Ready => AgentState::Ready,
                AState::Talking => AgentState::Talking,
                AState::Wrap => AgentState::Wrap,
                AState::Paused => AgentState::Paused,
            };
            self.obs_agents.push(AgentObs {
                state,
                in_state_s: now - a.since,
                leaving: a.leaving,
            });
        }
        self.obs_calls.clear();
        for &c in &self.inflight {
            self.obs_calls.push(CallObs {
                age_s: now - self.calls[c as usize].dialed_at,
            });
        }
        self.obs_waiting.clear();
        for &c in &self.waiting {
            self.obs_waiting.push(WaitingObs {
                waited_s: now - self.calls[c as usize].answered_at,
            });
        }
        let obs = Observation {
            now_s: now,
            shift_end_s: Some(self.shift),
            tick_s: self.sc.dial_tick_s,
            grace_s: self.sc.grace_s,
            abandon_target: self.sc.abandon_target,
            agents: &self.obs_agents,
            calls: &self.obs_calls,
            waiting: &self.obs_waiting,
            outcomes: &self.outcomes,
        };
        let n = policy.decide(&obs);
        self.outcomes.clear();
        for _ in 0..n {
            self.dial(now);
        }
        let next = (k + 1) as f64 * self.sc.dial_tick_s;
        if next < self.shift {
            self.push(next, 1, Ev::Tick(k + 1));
        }
    }

    fn run(&mut self, policy: &mut dyn PacingPolicy) {
        while let Some(item) = self.heap.pop() {
            let now = item.t;
            if now >= self.shift {
                break;
            }
            match item.ev {
                Ev::Tick(k) => self.tick(k, now, policy),
                Ev::DialEnd(c) => self.on_dial_end(c, now),
                Ev::Deadline(c) => self.on_deadline(c, now),
                Ev::TalkEnd(i, e) => {
                    let i = i as usize;
                    if self.agents[i].epoch != e || self.agents[i].state != AState::Talking {
                        continue;
                    }
                    let talk = now - self.agents[i].since;
                    self.outcomes.push(Outcome::TalkEnded {
                        at_s: now,
                        talk_s: talk,
                    });
                    let w = self.p.wrap_s;
                    if w > 0.0 {
                        self.counts.wrap_s += (now + w).min(self.shift) - now;
                        let a = &mut self.agents[i];
                        a.state = AState::Wrap;
                        a.since = now;
                        self.push(now + w, 0, Ev::WrapEnd(i as u32, e));
                    } else {
                        self.after_wrap(i, now, 0.0);
                    }
                }
                Ev::WrapEnd(i, e) => {
                    let i = i as usize;
                    if self.agents[i].epoch != e || self.agents[i].state != AState::Wrap {
                        continue;
                    }
                    let w = now - self.agents[i].since;
                    self.after_wrap(i, now, w);
                }
                Ev::PauseEnd(i, e) => {
                    let i = i as usize;
                    if self.agents[i].epoch != e || self.agents[i].state != AState::Paused {
                        continue;
                    }
                    let p = now - self.agents[i].since;
                    self.outcomes.push(Outcome::PauseEnded {
                        at_s: now,
                        pause_s: p,
                    });
                    if self.agents[i].leaving || !self.agents[i].wanted {
                        self.logout(i, now);
                    } else {
                        self.become_ready(i, now);
                    }
                }
                Ev::Login(i, e) => {
                    let i = i as usize;
                    let a = &mut self.agents[i];
                    if a.epoch != e {
                        continue;
                    }
                    a.login_pending = false;
                    if !a.wanted || a.state != AState::Off {
                        continue;
                    }
                    a.login_at = now;
                    a.leaving = false;
                    self.become_ready(i, now);
                }
                Ev::Phase(idx) => {
                    let ph = self.sc.phases[idx as usize].clone();
                    ph.apply(&mut self.p);
                    if let Some(n) = ph.agents {
                        self.set_team(n as usize, now);
                    }
                }
            }
        }
        // Close the books at the end of the shift.
        for i in 0..self.agents.len() {
            if self.agents[i].state != AState::Off {
                self.counts.logged_in_s += self.shift - self.agents[i].login_at;
                self.agents[i].state = AState::Off;
            }
        }
    }
}

fn worst_window(ans: &[u32], drops: &[u32], w: usize) -> f64 {
    let n = ans.len();
    if n == 0 {
        return 0.0;
    }
    let ratio = |a: u64, d: u64| if a > 0 { d as f64 / a as f64 } else { 0.0 };
    if n <= w {
        let a: u64 = ans.iter().map(|&x| u64::from(x)).sum();
        let d: u64 = drops.iter().map(|&x| u64::from(x)).sum();
        return ratio(a, d);
    }
    let (mut a, mut d) = (0u64, 0u64);
    for i in 0..w {
        a += u64::from(ans[i]);
        d += u64::from(drops[i]);
    }
    let mut worst = ratio(a, d);
    for i in w..n {
        a += u64::from(ans[i]);
        d += u64::from(drops[i]);
        a -= u64::from(ans[i - w]);
        d -= u64::from(drops[i - w]);
        worst = worst.max(ratio(a, d));
    }
    worst
}

/// Simulate one shift of `sc` with `seed`, paced by `policy`.
pub fn run(sc: &Scenario, seed: i64, policy: &mut dyn PacingPolicy) -> RunMetrics {
    run_with(sc, seed, policy, RunOptions::default()).0
}

/// [`run`], with options; returns the lead trace when asked.
pub fn run_with(
    sc: &Scenario,
    seed: i64,
    policy: &mut dyn PacingPolicy,
    opts: RunOptions,
) -> (RunMetrics, Vec<LeadTrace>) {
    let shift = sc.shift_s;
    let secs = shift.ceil() as usize + 1;
    let pool = sc.max_agents() as usize;
    let mut sim = Sim {
        sc,
        seed,
        p: sc.initial_params(),
        shift,
        heap: BinaryHeap::new(),
        seq: 0,
        agents: vec![
            Agent {
                state: AState::Off,
                since: 0.0,
                ready_since: 0.0,
                login_at: 0.0,
                leaving: false,
                wanted: false,
                login_pending: false,
                epoch: 0,
                lead: 0,
            };
            pool
        ],
        calls: Vec::new(),
        inflight: Vec::new(),
        waiting: VecDeque::new(),
        next_lead: 0,
        outcomes: Vec::new(),
        counts: Counts::default(),
        ans_per_s: vec![0; secs],
        drop_per_s: vec![0; secs],
        waits: Vec::new(),
        idles: Vec::new(),
        trace: opts.trace.then(Vec::new),
        obs_agents: Vec::with_capacity(pool),
        obs_calls: Vec::new(),
        obs_waiting: Vec::new(),
    };
    // Phases at or before the start apply before anyone logs in.
    let mut team = sc.agents as usize;
    for (idx, ph) in sc.phases.iter().enumerate() {
        if ph.at_s <= 0.0 {
            ph.apply(&mut sim.p);
            if let Some(n) = ph.agents {
                team = n as usize;
            }
        } else if ph.at_s < shift {
            sim.push(ph.at_s, 0, Ev::Phase(idx as u32));
        }
    }
    sim.set_team(team, 0.0);
    sim.push(0.0, 1, Ev::Tick(0));
    sim.run(policy);

    let c = sim.counts.clone();
    let hours = c.logged_in_s / 3600.0;
    let per_hour = |x: f64| if hours > 0.0 { x / hours } else { 0.0 };
    let m = RunMetrics {
        talk_min_per_agent_hour: per_hour(c.talk_s / 60.0),
        occupancy: if c.logged_in_s > 0.0 {
            (c.talk_s + c.wrap_s) / c.logged_in_s
        } else {
            0.0
        },
        abandon_rate: if c.answers > 0 {
            c.drops as f64 / c.answers as f64
        } else {
            0.0
        },
        worst_abandon_15min: worst_window(&sim.ans_per_s, &sim.drop_per_s, 900),
        worst_abandon_60min: worst_window(&sim.ans_per_s, &sim.drop_per_s, 3600),
        dials_per_agent_hour: per_hour(c.dials as f64),
        answer_to_agent_p95_s: percentile(&mut sim.waits, 0.95),
        idle_between_calls_p95_s: percentile(&mut sim.idles, 0.95),
        counts: c,
    };
    (m, sim.trace.take().unwrap_or_default())
}
