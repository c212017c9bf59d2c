//! Online estimates of the call and agent process, learned only from
//! observed outcomes and forgotten with a half-life so they follow drift.
//!
//! - Dial outcomes: a histogram of how long dials lasted (all endings) and
//!   of ring times of live answers, in 1-second bins. From it: the answer
//!   rate, and for a call still ringing at age `a` the chance it is answered
//!   in `(a, a + t]` (no parametric shape assumed).
//! - Talk, wrap and pause durations: lognormal fits of their logarithms.
//! - Pauses: the share of wrap-ups that end in a pause.

use crate::observe::Outcome;
use crate::stats::LogNormal;

/// Exponentially weighted moments of ln(x).
#[derive(Debug, Clone, Copy, Default)]
struct LogMoments {
    w: f64,
    s1: f64,
    s2: f64,
}

impl LogMoments {
    fn push(&mut self, x: f64) {
        let l = x.max(0.01).ln();
        self.w += 1.0;
        self.s1 += l;
        self.s2 += l * l;
    }
    fn decay(&mut self, f: f64) {
        self.w *= f;
        self.s1 *= f;
        self.s2 *= f;
    }
    fn fit(&self, min_sigma: f64) -> Option<LogNormal> {
        if self.w <= 0.0 {
            return None;
        }
        let mu = self.s1 / self.w;
        let var = (self.s2 / self.w - mu * mu).max(0.0);
        Some(LogNormal {
            mu,
            sigma: var.sqrt().max(min_sigma),
        })
    }
}

/// Learned statistics of a campaign's calls and agents.
#[derive(Debug, Clone)]
pub struct Estimator {
    bin_s: f64,
    /// Weight of live answers by ring time; bin `i` holds `(i, i+1] * bin_s`.
    ans: Vec<f64>,
    /// Weight of all dial endings by duration, same bins.
    end: Vec<f64>,
    cum_ans: Vec<f64>,
    cum_end: Vec<f64>,
    dirty: bool,
    talk: LogMoments,
    wrap: LogMoments,
    pause: LogMoments,
    wraps_w: f64,
    paused_w: f64,
    half_life_s: f64,
    last_decay_s: Option<f64>,
    /// Unweighted counts since the start, for warm-up checks.
    pub n_dials: u64,
    pub n_answers: u64,
    pub n_talks: u64,
    pub n_wraps: u64,
}

const MAX_BINS: usize = 240;

impl Estimator {
    /// `half_life_s`: how fast old observations fade (seconds).
    pub fn new(half_life_s: f64) -> Self {
        Estimator {
            bin_s: 1.0,
            ans: vec![0.0; MAX_BINS],
            end: vec![0.0; MAX_BINS],
            cum_ans: vec![0.0; MAX_BINS + 1],
            cum_end: vec![0.0; MAX_BINS + 1],
            dirty: true,
            talk: LogMoments::default(),
            wrap: LogMoments::default(),
            pause: LogMoments::default(),
            wraps_w: 0.0,
            paused_w: 0.0,
            half_life_s: half_life_s.max(1.0),
            last_decay_s: None,
            n_dials: 0,
            n_answers: 0,
            n_talks: 0,
            n_wraps: 0,
        }
    }

    fn bin_of(&self, d: f64) -> usize {
        let i = (d / self.bin_s).ceil() as i64 - 1;
        i.clamp(0, MAX_BINS as i64 - 1) as usize
    }

    /// Learn from one outcome.
    pub fn observe(&mut self, o: &Outcome) {
        match *o {
            Outcome::DialEnded {
                after_s, answered, ..
            } => {
                let b = self.bin_of(after_s);
                self.end[b] += 1.0;
                self.n_dials += 1;
                if answered {
                    self.ans[b] += 1.0;
                    self.n_answers += 1;
                }
                self.dirty = true;
            }
            Outcome::TalkEnded { talk_s, .. } => {
                self.talk.push(talk_s);
                self.n_talks += 1;
            }
            Outcome::WrapEnded {
                wrap_s,
                paused,
                left,
                ..
            } => {
                self.wrap.push(wrap_s.max(0.05));
                self.n_wraps += 1;
                if !left {
                    self.wraps_w += 1.0;
                    if paused {
                        self.paused_w += 1.0;
                    }
                }
            }
            Outcome::PauseEnded { pause_s, .. } => self.pause.push(pause_s),
            Outcome::MachineDetected { .. }
            | Outcome::Connected { .. }
            | Outcome::Dropped { .. } => {}
        }
    }

    /// Let old observations fade; call with the current time.
    pub fn advance(&mut self, now: f64) {
        let last = *self.last_decay_s.get_or_insert(now);
        let dt = now - last;
        if dt < 10.0 {
            return;
        }
        let f = 0.5f64.powf(dt / self.half_life_s);
        for x in self.ans.iter_mut().chain(self.end.iter_mut()) {
            *x *= f;
        }
        self.talk.decay(f);
        self.wrap.decay(f);
        self.pause.decay(f);
        self.wraps_w *= f;
        self.paused_w *= f;
        self.last_decay_s = Some(now);
        self.dirty = true;
    }

    fn refresh(&mut self) {
        if !self.dirty {
            return;
        }
        let (mut a, mut e) = (0.0, 0.0);
        for i in 0..MAX_BINS {
            self.cum_ans[i] = a;
            self.cum_end[i] = e;
            a += self.ans[i];
            e += self.end[i];
        }
        self.cum_ans[MAX_BINS] = a;
        self.cum_end[MAX_BINS] = e;
        self.dirty = false;
    }

    fn cum(c: &[f64], h: &[f64], bin_s: f64, x: f64) -> f64 {
        if x <= 0.0 {
            return 0.0;
        }
        let pos = x / bin_s;
        let i = pos.floor() as usize;
        if i >= MAX_BINS {
            return c[MAX_BINS];
        }
        c[i] + h[i] * (pos - i as f64)
    }

    /// Prepare the cumulative tables (call once per tick before queries).
    pub fn prepare(&mut self) {
        self.refresh();
    }

    fn total(&self) -> f64 {
        self.cum_end[MAX_BINS]
    }

    /// The share of dials answered by a live person.
    pub fn answer_rate(&self) -> f64 {
        let t = self.total();
        if t > 0.0 {
            self.cum_ans[MAX_BINS] / t
        } else {
            0.0
        }
    }

    /// The mean duration of a dial, all endings (answered, failed, rung
    /// out), in seconds; 0 before any dial has ended.
    pub fn mean_dial_s(&self) -> f64 {
        // Bin `i` holds durations in `(i, i + 1] * bin_s`: its midpoint.
        let (mut weight, mut sum) = (0.0, 0.0);
        for (i, w) in self.end.iter().enumerate() {
            weight += w;
            sum += w * (i as f64 + 0.5) * self.bin_s;
        }
        if weight > 0.0 { sum / weight } else { 0.0 }
    }

    /// P(a new dial is answered within `t` seconds).
    pub fn answered_by(&self, t: f64) -> f64 {
        let tot = self.total();
        if tot <= 0.0 {
            return 0.0;
        }
        Self::cum(&self.cum_ans, &self.ans, self.bin_s, t) / tot
    }

    /// P(a dial still ringing at `age` is answered within the next `dt`).
    pub fn answer_within(&self, age: f64, dt: f64) -> f64 {
        let alive = self.total() - Self::cum(&self.cum_end, &self.end, self.bin_s, age);
        if alive <= 1e-9 {
            return 0.0;
        }
        let a0 = Self::cum(&self.cum_ans, &self.ans, self.bin_s, age);
        let a1 = Self::cum(&self.cum_ans, &self.ans, self.bin_s, age + dt);
        ((a1 - a0) / alive).clamp(0.0, 1.0)
    }

    /// The `p` quantile of the ring time of answered calls.
    pub fn ring_quantile(&self, p: f64) -> f64 {
        let tot = self.cum_ans[MAX_BINS];
        if tot <= 0.0 {
            return 0.0;
        }
        let target = p.clamp(0.0, 1.0) * tot;
        for i in 0..MAX_BINS {
            let next = self.cum_ans[i + 1];
            if next >= target && self.ans[i] > 0.0 {
                let frac = (target - self.cum_ans[i]) / self.ans[i];
                return (i as f64 + frac.clamp(0.0, 1.0)) * self.bin_s;
            }
        }
        MAX_BINS as f64 * self.bin_s
    }

    /// Talk time, when any has been seen.
    pub fn talk(&self) -> Option<LogNormal> {
        self.talk.fit(0.05)
    }

    /// Talk time, counting calls still in progress (their elapsed times) as
    /// censored observations: without them the first minutes of a shift, or
    /// the minutes after calls got longer, see only the short calls that
    /// already ended. Two EM steps of the lognormal fit.
    pub fn talk_censored(&self, elapsed: &[f64]) -> Option<LogNormal> {
        let mut fit = match self.talk.fit(0.05) {
            Some(f) => f,
            None => {
                if elapsed.is_empty() {
                    return None;
                }
                // Nothing has ended yet: start from the elapsed times.
                let m = elapsed.iter().map(|e| e.max(1.0).ln()).sum::<f64>() / elapsed.len() as f64;
                LogNormal {
                    mu: m + 1.0,
                    sigma: 1.0,
                }
            }
        };
        if elapsed.is_empty() {
            return Some(fit);
        }
        for _ in 0..2 {
            let (mut w, mut s1, mut s2) = (self.talk.w, self.talk.s1, self.talk.s2);
            let (mu, sg) = (fit.mu, fit.sigma);
            for &e in elapsed {
                let a = (e.max(0.01).ln() - mu) / sg;
                let lam = if a > 8.0 {
                    a + 1.0 / a
                } else {
                    let tail = 1.0 - crate::stats::normal_cdf(a);
                    let pdf = (-0.5 * a * a).exp() / (2.0 * std::f64::consts::PI).sqrt();
                    if tail > 1e-300 { pdf / tail } else { a }
                };
                w += 1.0;
                s1 += mu + sg * lam;
                s2 += mu * mu + 2.0 * mu * sg * lam + sg * sg * (1.0 + a * lam);
            }
            let m = s1 / w;
            let var = (s2 / w - m * m).max(0.0025);
            fit = LogNormal {
                mu: m,
                sigma: var.sqrt(),
            };
        }
        Some(fit)
    }

    /// Wrap-up time, when any has been seen.
    pub fn wrap(&self) -> Option<LogNormal> {
        self.wrap.fit(0.02)
    }

    /// Pause length, when any has been seen.
    pub fn pause(&self) -> Option<LogNormal> {
        self.pause.fit(0.02)
    }

    /// The share of wrap-ups followed by a pause.
    pub fn pause_prob(&self) -> f64 {
        if self.wraps_w > 0.0 {
            self.paused_w / self.wraps_w
        } else {
            0.0
        }
    }
}

/// P(X <= e + r | X > e) for a duration X already running for `e` seconds.
pub fn done_within(d: &LogNormal, e: f64, r: f64) -> f64 {
    if r <= 0.0 {
        return 0.0;
    }
    done_within_from(d, d.cdf(e), e, r)
}

/// [`done_within`] with `f0 = d.cdf(e)` already known (the same duration
/// asked about at several horizons).
pub fn done_within_from(d: &LogNormal, f0: f64, e: f64, r: f64) -> f64 {
    if r <= 0.0 {
        return 0.0;
    }
    let surv = 1.0 - f0;
    if surv < 1e-9 {
        // Overdue beyond anything the fit expects: assume it ends soon.
        return 1.0 - (-r / 5.0).exp();
    }
    ((d.cdf(e + r) - f0) / surv).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dial(after_s: f64, answered: bool) -> Outcome {
        Outcome::DialEnded {
            at_s: 0.0,
            after_s,
            answered,
        }
    }

    #[test]
    fn conditional_answer_probability() {
        let mut e = Estimator::new(1e9);
        // 30 % answered at 9 s, 30 % fail at 4 s, 40 % ring out at 26 s.
        for _ in 0..3 {
            e.observe(&dial(9.0, true));
            e.observe(&dial(4.0, false));
        }
        for _ in 0..4 {
            e.observe(&dial(26.0, false));
        }
        e.prepare();
        assert!((e.answer_rate() - 0.3).abs() < 1e-12);
        // At age 4 the fast failures are gone: 3 of 7 remaining answer.
        assert!((e.answer_within(4.0, 10.0) - 3.0 / 7.0).abs() < 1e-12);
        // Past the answer times nothing more is answered.
        assert_eq!(e.answer_within(10.0, 20.0), 0.0);
        assert!((e.answered_by(9.0) - 0.3).abs() < 1e-12);
        assert!((e.ring_quantile(0.5) - 8.5).abs() < 1e-9);
        // Mean dial duration at the bins' midpoints: (3 x 8.5 + 3 x 3.5 +
        // 4 x 25.5) / 10.
        assert!((e.mean_dial_s() - 13.8).abs() < 1e-9, "{}", e.mean_dial_s());
        assert_eq!(Estimator::new(60.0).mean_dial_s(), 0.0);
    }

    #[test]
    fn forgets_with_half_life() {
        let mut e = Estimator::new(60.0);
        e.advance(0.0);
        for _ in 0..10 {
            e.observe(&dial(5.0, true));
        }
        e.advance(600.0);
        for _ in 0..10 {
            e.observe(&dial(5.0, false));
        }
        e.prepare();
        assert!(e.answer_rate() < 0.01);
    }

    #[test]
    fn censored_talk_fit_corrects_early_bias() {
        let truth = LogNormal::from_mean_cv(120.0, 1.0);
        let mut e = Estimator::new(1e9);
        // Ten minutes into a shift of 20 agents, only calls shorter than
        // their elapsed time have ended.
        let mut ongoing = Vec::new();
        for i in 0..200 {
            let u = (i as f64 + 0.5) / 200.0;
            let t = truth.quantile(u);
            let started = (i % 20) as f64 * 30.0;
            let elapsed = 600.0 - started;
            if t <= elapsed {
                e.observe(&Outcome::TalkEnded {
                    at_s: 0.0,
                    talk_s: t,
                });
            } else {
                ongoing.push(elapsed);
            }
        }
        let naive = e.talk().unwrap().mean();
        let fixed = e.talk_censored(&ongoing).unwrap().mean();
        assert!(naive < 100.0, "naive {naive}");
        assert!(
            (fixed - 120.0).abs() < (naive - 120.0).abs(),
            "fixed {fixed}"
        );
    }

    #[test]
    fn remaining_time() {
        let d = LogNormal::from_mean_cv(15.0, 0.0);
        let d = LogNormal { sigma: 0.02, ..d };
        assert!(done_within(&d, 10.0, 6.0) > 0.99);
        assert!(done_within(&d, 10.0, 4.0) < 0.01);
    }
}
