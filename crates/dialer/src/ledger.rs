//! Abandonment accounting per campaign.
//!
//! - US (TCPA/TSR): abandoned calls <= 3 % of live-answered calls per campaign
//!   over a rolling 30 days (or the campaign, if shorter).
//! - UK (Ofcom): <= 3 % per campaign per rolling 24 hours, counting an
//!   estimate of the live people that answering-machine detection wrongly
//!   classified as machines (they were hung up on, so they were abandoned).
//!
//! A call answered by a person that finds no agent within the grace period
//! hears the safe-harbor message and is recorded with `dropped = true`.
//! The ledger keeps bucketed rolling windows with running sums, so queries
//! are cheap enough for every dial tick.

use std::collections::VecDeque;

/// Counts in one bucket or window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Live answers (dropped ones included).
    pub answers: u64,
    /// Live answers that were abandoned (safe-harbor message).
    pub drops: u64,
    /// Answers that AMD classified as machines.
    pub machines: u64,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.answers += o.answers;
        self.drops += o.drops;
        self.machines += o.machines;
    }
    fn sub(&mut self, o: &Tally) {
        self.answers = self.answers.saturating_sub(o.answers);
        self.drops = self.drops.saturating_sub(o.drops);
        self.machines = self.machines.saturating_sub(o.machines);
    }
}

/// A rolling sum over `window_s` seconds kept in buckets of `bucket_s`.
/// A bucket leaves the window once all of it is older than `window_s`, so
/// the window may reach up to one bucket further back (the safe side).
#[derive(Debug, Clone)]
pub struct RollingCounter {
    window_s: f64,
    bucket_s: f64,
    buckets: VecDeque<(i64, Tally)>,
    sum: Tally,
}

impl RollingCounter {
    pub fn new(window_s: f64, bucket_s: f64) -> Self {
        RollingCounter {
            window_s,
            bucket_s: bucket_s.max(1e-3),
            buckets: VecDeque::new(),
            sum: Tally::default(),
        }
    }

    pub fn window_s(&self) -> f64 {
        self.window_s
    }

    fn add(&mut self, t: f64, tally: Tally) {
        let b = (t / self.bucket_s).floor() as i64;
        match self.buckets.back_mut() {
            Some((last, acc)) if *last == b => acc.add(&tally),
            Some((last, _)) if *last > b => {
                // Out of order (a late event): fold into the newest bucket.
                if let Some((_, acc)) = self.buckets.back_mut() {
                    acc.add(&tally);
                }
            }
            _ => self.buckets.push_back((b, tally)),
        }
        self.sum.add(&tally);
    }

    /// The totals of the window ending at `now`.
    pub fn at(&mut self, now: f64) -> Tally {
        while let Some(&(b, tally)) = self.buckets.front() {
            if (b + 1) as f64 * self.bucket_s <= now - self.window_s {
                self.sum.sub(&tally);
                self.buckets.pop_front();
            } else {
                break;
            }
        }
        self.sum
    }
}

/// An abandonment rate with its parts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AbandonRate {
    pub answers: u64,
    pub drops: u64,
    /// Estimated live people among AMD "machine" classifications.
    pub amd_humans: f64,
    /// (drops + amd_humans) / (answers + amd_humans); 0 with no answers.
    pub rate: f64,
    /// How many more abandons the window takes before passing the target,
    /// at its current number of answers (may be negative).
    pub headroom: f64,
}

/// The abandonment ledger of one campaign.
#[derive(Debug, Clone)]
pub struct AbandonLedger {
    target: f64,
    amd_false_positive: f64,
    total: Tally,
    us_30d: RollingCounter,
    uk_24h: RollingCounter,
    hour: RollingCounter,
    quarter: RollingCounter,
}

pub const DAY_S: f64 = 86_400.0;

impl AbandonLedger {
    /// `target`: the ceiling as a fraction (0.03). `amd_false_positive`: the
    /// estimated share of AMD "machine" results that were live people.
    pub fn new(target: f64, amd_false_positive: f64) -> Self {
        AbandonLedger {
            target,
            amd_false_positive: amd_false_positive.clamp(0.0, 1.0),
            total: Tally::default(),
            us_30d: RollingCounter::new(30.0 * DAY_S, 3600.0),
            uk_24h: RollingCounter::new(DAY_S, 60.0),
            hour: RollingCounter::new(3600.0, 10.0),
            quarter: RollingCounter::new(900.0, 5.0),
        }
    }

    pub fn target(&self) -> f64 {
        self.target
    }

    fn add(&mut self, t: f64, tally: Tally) {
        self.total.add(&tally);
        self.us_30d.add(t, tally);
        self.uk_24h.add(t, tally);
        self.hour.add(t, tally);
        self.quarter.add(t, tally);
    }

    /// A live answer at `t`; `dropped` when it was abandoned.
    pub fn record_answer(&mut self, t: f64, dropped: bool) {
        self.add(
            t,
            Tally {
                answers: 1,
                drops: u64::from(dropped),
                machines: 0,
            },
        );
    }

    /// An answer AMD classified as a machine.
    pub fn record_machine(&mut self, t: f64) {
        self.add(
            t,
            Tally {
                answers: 0,
                drops: 0,
                machines: 1,
            },
        );
    }

    fn rate_of(&self, t: Tally) -> AbandonRate {
        let amd_humans = t.machines as f64 * self.amd_false_positive;
        let den = t.answers as f64 + amd_humans;
        let num = t.drops as f64 + amd_humans;
        AbandonRate {
            answers: t.answers,
            drops: t.drops,
            amd_humans,
            rate: if den > 0.0 { num / den } else { 0.0 },
            headroom: self.target * den - num,
        }
    }

    /// Everything recorded in this ledger (the campaign or the shift).
    pub fn total(&self) -> AbandonRate {
        self.rate_of(self.total)
    }

    /// The US rule: rolling 30 days.
    pub fn us_30d(&mut self, now: f64) -> AbandonRate {
        let t = self.us_30d.at(now);
        self.rate_of(t)
    }

    /// The UK rule: rolling 24 hours.
    pub fn uk_24h(&mut self, now: f64) -> AbandonRate {
        let t = self.uk_24h.at(now);
        self.rate_of(t)
    }

    /// The last hour.
    pub fn last_hour(&mut self, now: f64) -> AbandonRate {
        let t = self.hour.at(now);
        self.rate_of(t)
    }

    /// The last 15 minutes.
    pub fn last_15min(&mut self, now: f64) -> AbandonRate {
        let t = self.quarter.at(now);
        self.rate_of(t)
    }

    /// The smallest headroom of the two regulatory windows.
    pub fn headroom(&mut self, now: f64) -> f64 {
        let us = self.us_30d(now).headroom;
        let uk = self.uk_24h(now).headroom;
        us.min(uk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_roll() {
        let mut l = AbandonLedger::new(0.03, 0.0);
        // Day 0: 100 answers, 5 drops.
        for i in 0..100 {
            l.record_answer(i as f64 * 60.0, i % 20 == 0);
        }
        let now = 100.0 * 60.0;
        assert_eq!(l.uk_24h(now).drops, 5);
        assert!((l.uk_24h(now).rate - 0.05).abs() < 1e-12);
        // A day and an hour later the UK window is empty, the US one is not.
        let later = now + DAY_S + 3600.0;
        l.record_answer(later, false);
        assert_eq!(l.uk_24h(later).answers, 1);
        assert_eq!(l.uk_24h(later).drops, 0);
        assert_eq!(l.us_30d(later).answers, 101);
        assert_eq!(l.us_30d(later).drops, 5);
        // 31 days later the US window has forgotten day 0 too.
        let much_later = later + 30.0 * DAY_S + 3600.0;
        l.record_answer(much_later, true);
        let us = l.us_30d(much_later);
        assert_eq!((us.answers, us.drops), (1, 1));
        assert_eq!(l.total().answers, 102);
    }

    #[test]
    fn amd_false_positives_count_as_abandoned() {
        let mut l = AbandonLedger::new(0.03, 0.1);
        for i in 0..97 {
            l.record_answer(i as f64, false);
        }
        for i in 0..30 {
            l.record_machine(100.0 + i as f64);
        }
        // 3 estimated humans hung up on: 3 / (97 + 3) = 3 %.
        let uk = l.uk_24h(200.0);
        assert!((uk.amd_humans - 3.0).abs() < 1e-9);
        assert!((uk.rate - 0.03).abs() < 1e-12);
        assert!(uk.headroom.abs() < 1e-9);
        l.record_answer(201.0, true);
        assert!(l.headroom(202.0) < 0.0);
    }

    #[test]
    fn quarter_hour_window() {
        let mut l = AbandonLedger::new(0.03, 0.0);
        l.record_answer(10.0, true);
        l.record_answer(20.0, false);
        assert_eq!(l.last_15min(30.0).drops, 1);
        assert_eq!(l.last_15min(10.0 + 900.0 + 5.0).drops, 0);
        assert_eq!(l.last_15min(10.0 + 900.0 + 5.0).answers, 1);
    }
}
