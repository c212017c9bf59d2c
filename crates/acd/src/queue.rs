//! Queue configuration and the ordered book of waiting calls.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use chrono::TimeDelta;
use omnivox_domain::ids::{CallId, QueueId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::agent::WrapUpPolicy;
use crate::types::{SkillRequirement, Time};

/// How a queue picks among the eligible available agents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The agent available for the longest time.
    LongestIdle,
    /// The agent with the fewest answered calls today (ties: longest idle).
    FewestCallsToday,
    /// The next agent after the last one offered, in login order.
    RoundRobin,
    /// The highest sum of level x weight over the required skills
    /// (ties: longest idle).
    SkillWeighted,
    /// Every eligible available agent rings; the first answer wins.
    RingAll,
}

/// When an overflow rule fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "when", rename_all = "snake_case")]
pub enum OverflowCondition {
    /// The call has waited at least this long (callback entries excepted:
    /// they already left the line).
    WaitedAtLeast { wait: TimeDelta },
    /// More than `calls` are waiting; the newest calls beyond that overflow.
    WaitingAbove { calls: usize },
    /// No agent is logged in to the queue with the required skills.
    NoAgentLoggedIn,
}

/// Where an overflowing call goes. Data only: the caller acts on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum OverflowTarget {
    Queue { queue: QueueId },
    Voicemail { mailbox: Uuid },
    Callback,
    Flow { flow: Uuid },
}

/// One overflow rule; a queue's rules are checked in order, first match wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverflowRule {
    pub when: OverflowCondition,
    pub target: OverflowTarget,
}

/// A queue's settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueConfig {
    pub id: QueueId,
    pub required_skills: Vec<SkillRequirement>,
    pub strategy: Strategy,
    /// How long an offer rings before the next agent is tried.
    pub offer_timeout: TimeDelta,
    /// The hard limit on waiting; past it the call leaves with
    /// [`crate::Decision::MaxWaitReached`]. Callback entries are exempt.
    pub max_wait: Option<TimeDelta>,
    pub overflow: Vec<OverflowRule>,
    pub wrap_up: WrapUpPolicy,
    /// Re-announce position and EWT to each waiting call this often.
    pub announce_every: Option<TimeDelta>,
    /// Handle time assumed before any call was measured.
    pub initial_handle_time: TimeDelta,
}

impl QueueConfig {
    /// A queue with no skills, longest idle, a 15 s offer timeout, 30 s
    /// wrap-up, no overflow and no announcements.
    pub fn new(id: QueueId) -> Self {
        Self {
            id,
            required_skills: Vec::new(),
            strategy: Strategy::LongestIdle,
            offer_timeout: TimeDelta::seconds(15),
            max_wait: None,
            overflow: Vec::new(),
            wrap_up: WrapUpPolicy {
                duration: TimeDelta::seconds(30),
                disposition_required: false,
            },
            announce_every: None,
            initial_handle_time: TimeDelta::seconds(180),
        }
    }
}

/// What a queue entry is: a caller on the line, or a callback that kept the
/// caller's place after they hung up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Call,
    Callback,
}

/// The order of a queue: higher priority first, then arrival (a per-ACD
/// sequence number, so equal timestamps stay FIFO).
pub type EntryKey = (Reverse<i32>, u64);

/// A call waiting in (or being offered from) a queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub call: CallId,
    pub queue: QueueId,
    pub priority: i32,
    pub seq: u64,
    pub enqueued_at: Time,
    pub kind: EntryKind,
    /// Agents whose offer for this call timed out or was rejected; they are
    /// tried again only when no one else is free.
    pub tried: Vec<crate::agent::AgentId>,
    /// Agents currently ringing for this call (several for ring-all).
    pub offered_to: Vec<crate::agent::AgentId>,
    pub deadline: Option<Time>,
    pub last_announced: Option<Time>,
}

impl Entry {
    pub fn key(&self) -> EntryKey {
        (Reverse(self.priority), self.seq)
    }
}

/// Exponentially weighted moving average of handle times, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ewma {
    pub value_ms: Option<f64>,
    pub alpha: f64,
}

impl Ewma {
    pub fn new(alpha: f64) -> Self {
        Self {
            value_ms: None,
            alpha,
        }
    }

    pub fn add(&mut self, sample: TimeDelta) {
        let s = sample.num_milliseconds().max(0) as f64;
        self.value_ms = Some(match self.value_ms {
            None => s,
            Some(v) => v + self.alpha * (s - v),
        });
    }
}

/// A queue: its settings, the waiting calls in order and its statistics.
#[derive(Clone, Debug)]
pub struct Queue {
    pub config: QueueConfig,
    /// Calls waiting for an offer, in routing order. Calls ringing at an
    /// agent leave this map and come back with the same key if the offer
    /// fails, so they keep their place.
    pub waiting: BTreeMap<EntryKey, CallId>,
    pub handle_time: Ewma,
    /// Round robin: the last agent offered.
    pub rr_last: Option<crate::agent::AgentId>,
}

impl Queue {
    pub fn new(config: QueueConfig) -> Self {
        Self {
            config,
            waiting: BTreeMap::new(),
            handle_time: Ewma::new(0.2),
            rr_last: None,
        }
    }

    /// 1-based place of a waiting call with `key` among the waiting calls.
    pub fn position(&self, key: EntryKey) -> usize {
        self.waiting.range(..key).count() + 1
    }

    /// The average handle time used for EWT.
    pub fn aht(&self) -> TimeDelta {
        match self.handle_time.value_ms {
            Some(ms) => TimeDelta::milliseconds(ms.round() as i64),
            None => self.config.initial_handle_time,
        }
    }

    /// Estimated wait for the caller at `position` with `staffed` agents
    /// logged in: position x AHT / agents. `None` with nobody logged in.
    pub fn ewt(&self, position: usize, staffed: usize) -> Option<TimeDelta> {
        if staffed == 0 {
            return None;
        }
        let ms = self.aht().num_milliseconds() as f64 * position as f64 / staffed as f64;
        Some(TimeDelta::milliseconds(ms.round() as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ewma_moves_toward_samples() {
        let mut e = Ewma::new(0.5);
        e.add(TimeDelta::seconds(100));
        assert_eq!(e.value_ms, Some(100_000.0));
        e.add(TimeDelta::seconds(200));
        assert_eq!(e.value_ms, Some(150_000.0));
    }

    #[test]
    fn ewt_scales_with_position_and_agents() {
        let mut q = Queue::new(QueueConfig::new(QueueId::new()));
        assert_eq!(q.ewt(3, 0), None);
        // Initial handle time until a sample exists.
        assert_eq!(q.ewt(1, 1), Some(TimeDelta::seconds(180)));
        q.handle_time = Ewma::new(1.0);
        q.handle_time.add(TimeDelta::seconds(60));
        assert_eq!(q.ewt(4, 2), Some(TimeDelta::seconds(120)));
        assert_eq!(q.ewt(1, 4), Some(TimeDelta::seconds(15)));
    }

    #[test]
    fn book_orders_priority_then_fifo() {
        let mut q = Queue::new(QueueConfig::new(QueueId::new()));
        let a = CallId::new();
        let b = CallId::new();
        let c = CallId::new();
        q.waiting.insert((Reverse(0), 1), a);
        q.waiting.insert((Reverse(5), 2), b);
        q.waiting.insert((Reverse(0), 3), c);
        let order: Vec<_> = q.waiting.values().copied().collect();
        assert_eq!(order, vec![b, a, c]);
        assert_eq!(q.position((Reverse(0), 3)), 3);
        assert_eq!(q.position((Reverse(5), 2)), 1);
    }
}
