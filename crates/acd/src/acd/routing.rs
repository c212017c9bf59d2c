//! Matching calls to agents, overflow, announcements and the timer tick.
//!
//! The invariant kept after every input: no queue has a waiting call while
//! an eligible agent is available. So a newly available agent only has to
//! look at the heads of its own queues, and a new call only at its queue's
//! members; a tick re-establishes the invariant for everything.

use std::cmp::Reverse;

use omnivox_domain::ids::{CallId, QueueId};

use super::{Acd, Decision, Output};
use crate::agent::{Agent, AgentId, AgentState};
use crate::queue::{EntryKey, EntryKind, OverflowCondition, OverflowTarget, Strategy};
use crate::types::{Time, skill_score};

impl Acd {
    /// Offer waiting calls of `queue` while its strategy finds agents.
    /// Returns whether anything was offered.
    pub(super) fn dispatch_queue(&mut self, queue: QueueId, now: Time, out: &mut Output) -> bool {
        let mut any = false;
        loop {
            let Some(q) = self.queues.get(&queue) else {
                return any;
            };
            let Some((&key, &call)) = q.waiting.iter().next() else {
                return any;
            };
            let picked = self.select(queue, call);
            if picked.is_empty() {
                return any;
            }
            self.offer(queue, key, call, picked, now, out);
            any = true;
        }
    }

    /// A newly available agent takes the best call at the head of its
    /// queues: highest priority, then earliest arrival across queues.
    pub(super) fn dispatch_for_agent(&mut self, agent: AgentId, now: Time, out: &mut Output) {
        loop {
            let Some(a) = self.agents.get(&agent) else {
                return;
            };
            if !self.takes_inbound(a) {
                return;
            }
            let best = a
                .queues
                .iter()
                .filter(|q| {
                    self.members
                        .get(q)
                        .is_some_and(|m| m.binary_search(&agent).is_ok())
                })
                .filter_map(|q| {
                    let head = self.queues.get(q)?.waiting.keys().next()?;
                    Some((*head, *q))
                })
                .min();
            let Some((_, queue)) = best else {
                return;
            };
            if !self.dispatch_queue(queue, now, out) {
                return;
            }
        }
    }

    /// Every queue, best head first (used by the tick and after a rebuild).
    pub(super) fn dispatch_all(&mut self, now: Time, out: &mut Output) {
        let mut heads: Vec<(EntryKey, QueueId)> = self
            .queues
            .iter()
            .filter_map(|(id, q)| q.waiting.keys().next().map(|k| (*k, *id)))
            .collect();
        heads.sort_unstable();
        for (_, q) in heads {
            self.dispatch_queue(q, now, out);
        }
    }

    /// The agents to ring for `call` by the queue's strategy. Agents who
    /// already missed this call are used only when nobody else is free.
    pub(super) fn select(&self, queue: QueueId, call: CallId) -> Vec<AgentId> {
        let (Some(q), Some(members)) = (self.queues.get(&queue), self.members.get(&queue)) else {
            return Vec::new();
        };
        let tried: &[AgentId] = self.entries.get(&call).map_or(&[], |e| e.tried.as_slice());
        let available: Vec<&Agent> = members
            .iter()
            .filter_map(|id| self.agents.get(id))
            .filter(|a| self.takes_inbound(a))
            .collect();
        if available.is_empty() {
            return Vec::new();
        }
        let fresh: Vec<&Agent> = available
            .iter()
            .copied()
            .filter(|a| !tried.contains(&a.id))
            .collect();
        let cands = if fresh.is_empty() { available } else { fresh };
        let cfg = &q.config;
        let one = match cfg.strategy {
            Strategy::RingAll => return cands.iter().map(|a| a.id).collect(),
            Strategy::LongestIdle => cands.iter().min_by_key(|a| (a.idle_since, a.id)),
            Strategy::FewestCallsToday => cands
                .iter()
                .min_by_key(|a| (a.calls_today, a.idle_since, a.id)),
            Strategy::SkillWeighted => cands.iter().max_by_key(|a| {
                (
                    skill_score(&a.skills, &cfg.required_skills),
                    Reverse(a.idle_since),
                    Reverse(a.id),
                )
            }),
            // Members are sorted by id: take the first after the last one
            // offered, wrapping around.
            Strategy::RoundRobin => cands
                .iter()
                .find(|a| q.rr_last.is_some_and(|last| a.id > last))
                .or_else(|| cands.first()),
        };
        one.map(|a| vec![a.id]).unwrap_or_default()
    }

    fn offer(
        &mut self,
        queue: QueueId,
        key: EntryKey,
        call: CallId,
        agents: Vec<AgentId>,
        now: Time,
        out: &mut Output,
    ) {
        let Some(q) = self.queues.get_mut(&queue) else {
            return;
        };
        let deadline = now + q.config.offer_timeout;
        q.waiting.remove(&key);
        if q.config.strategy == Strategy::RoundRobin {
            q.rr_last = agents.first().copied();
        }
        for a in agents {
            let Some(ag) = self.agents.get_mut(&a) else {
                continue;
            };
            let Ok(tr) = ag.reserve(now, call, Some(queue), deadline) else {
                continue;
            };
            self.note(tr, out);
            if let Some(e) = self.entries.get_mut(&call) {
                e.offered_to.push(a);
                e.deadline = Some(deadline);
                out.decisions
                    .push(Self::entry_kind_decision(e, a, deadline));
            }
        }
    }

    /// Overflow rules and max wait for `queue`, in routing order; the first
    /// matching rule wins for each call. Callback entries never overflow.
    /// `on_event`: only events change the count and logged-in conditions,
    /// so a queue with time rules alone is left to the tick (this keeps a
    /// scan of the whole queue off every enqueue).
    pub(super) fn evaluate_overflow(
        &mut self,
        queue: QueueId,
        now: Time,
        on_event: bool,
        out: &mut Output,
    ) {
        let Some(q) = self.queues.get(&queue) else {
            return;
        };
        let cfg = &q.config;
        if cfg.overflow.is_empty() && cfg.max_wait.is_none() {
            return;
        }
        let event_driven = cfg
            .overflow
            .iter()
            .any(|r| !matches!(r.when, OverflowCondition::WaitedAtLeast { .. }));
        if on_event && !event_driven {
            return;
        }
        let staffed = self.staffed(&queue);
        let mut kept = 0usize;
        let mut actions: Vec<(EntryKey, CallId, Option<OverflowTarget>)> = Vec::new();
        for (key, call) in &q.waiting {
            let Some(e) = self.entries.get(call) else {
                continue;
            };
            if e.kind == EntryKind::Callback {
                kept += 1;
                continue;
            }
            let waited = now - e.enqueued_at;
            let rule = cfg.overflow.iter().find(|r| match r.when {
                OverflowCondition::WaitedAtLeast { wait } => waited >= wait,
                OverflowCondition::WaitingAbove { calls } => kept >= calls,
                OverflowCondition::NoAgentLoggedIn => staffed == 0,
            });
            if let Some(r) = rule {
                actions.push((*key, *call, Some(r.target)));
            } else if cfg.max_wait.is_some_and(|m| waited >= m) {
                actions.push((*key, *call, None));
            } else {
                kept += 1;
            }
        }
        for (key, call, target) in actions {
            match target {
                Some(OverflowTarget::Callback) => {
                    if let Some(e) = self.entries.get_mut(&call) {
                        e.kind = EntryKind::Callback;
                    }
                    out.decisions.push(Decision::Overflow {
                        call,
                        queue,
                        target: OverflowTarget::Callback,
                    });
                }
                Some(target) => {
                    self.remove_waiting(queue, key, call);
                    out.decisions.push(Decision::Overflow {
                        call,
                        queue,
                        target,
                    });
                }
                None => {
                    self.remove_waiting(queue, key, call);
                    out.decisions.push(Decision::MaxWaitReached { call, queue });
                }
            }
        }
    }

    fn remove_waiting(&mut self, queue: QueueId, key: EntryKey, call: CallId) {
        if let Some(q) = self.queues.get_mut(&queue) {
            q.waiting.remove(&key);
        }
        self.entries.remove(&call);
    }

    /// Announce position and EWT to one waiting caller, if the queue
    /// announces at all.
    pub(super) fn announce_one(&mut self, call: CallId, now: Time, out: &mut Output) {
        let Some(e) = self.entries.get(&call) else {
            return;
        };
        if e.kind != EntryKind::Call || !e.offered_to.is_empty() {
            return;
        }
        let Some(q) = self.queues.get(&e.queue) else {
            return;
        };
        if q.config.announce_every.is_none() {
            return;
        }
        let queue = e.queue;
        let position = q.position(e.key());
        let ewt = q.ewt(position, self.staffed(&queue));
        if let Some(e) = self.entries.get_mut(&call) {
            e.last_announced = Some(now);
        }
        out.decisions.push(Decision::Announce {
            call,
            queue,
            position,
            ewt,
        });
    }

    fn announce_due(&mut self, queue: QueueId, now: Time, out: &mut Output) {
        let Some(q) = self.queues.get(&queue) else {
            return;
        };
        let Some(every) = q.config.announce_every else {
            return;
        };
        let staffed = self.staffed(&queue);
        let mut due = Vec::new();
        for (i, call) in q.waiting.values().enumerate() {
            let Some(e) = self.entries.get(call) else {
                continue;
            };
            if e.kind == EntryKind::Call && e.last_announced.is_none_or(|t| now - t >= every) {
                let position = i + 1;
                due.push((*call, position, q.ewt(position, staffed)));
            }
        }
        for (call, position, ewt) in due {
            if let Some(e) = self.entries.get_mut(&call) {
                e.last_announced = Some(now);
            }
            out.decisions.push(Decision::Announce {
                call,
                queue,
                position,
                ewt,
            });
        }
    }

    /// Timers: wrap-ups that end, offers past their deadline (a miss, then
    /// the next agent), then routing, overflow and announcements for all
    /// queues. Call it about once a second.
    pub fn tick(&mut self, now: Time) -> Output {
        let mut out = Output::default();
        let mut ids: Vec<AgentId> = self.agents.keys().copied().collect();
        ids.sort_unstable();
        let mut expired = Vec::new();
        for id in &ids {
            let Some(a) = self.agents.get_mut(id) else {
                continue;
            };
            if let Some(tr) = a.tick(now) {
                self.note(tr, &mut out);
            } else if let AgentState::Reserved {
                call,
                queue: Some(_),
                deadline,
            } = a.state
                && now >= deadline
            {
                expired.push((call, *id));
            }
        }
        for (call, agent) in expired {
            // Cannot fail: the agent rings for this call (checked above).
            let _ = self.missed(now, call, agent, &mut out);
            out.decisions.push(Decision::CancelOffer { call, agent });
        }
        self.dispatch_all(now, &mut out);
        let mut queues: Vec<QueueId> = self.queues.keys().copied().collect();
        queues.sort_unstable();
        for q in queues {
            self.evaluate_overflow(q, now, false, &mut out);
            self.announce_due(q, now, &mut out);
        }
        out
    }
}
