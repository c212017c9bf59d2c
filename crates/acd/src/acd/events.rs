//! Applying events. Each handler validates first, so an error leaves the
//! ACD unchanged.

use omnivox_domain::ids::{CallId, QueueId};

use super::{Acd, AcdError, Decision, Event, Output};
use crate::agent::{Agent, AgentError, AgentId, AgentState};
use crate::queue::{Entry, EntryKind};
use crate::types::{CampaignRef, SkillSet, Time};

impl Acd {
    /// Apply one event at `now`.
    pub fn handle(&mut self, now: Time, event: Event) -> Result<Output, AcdError> {
        let mut out = Output::default();
        match event {
            Event::AgentLogin {
                agent,
                skills,
                queues,
                campaigns,
            } => self.login(now, agent, skills, queues, campaigns, &mut out)?,
            Event::AgentLogout { agent } => {
                let tr = self.agent_mut(agent)?.logout(now)?;
                self.note(tr, &mut out);
                let queues = self
                    .agents
                    .get(&agent)
                    .map(|a| a.queues.clone())
                    .unwrap_or_default();
                for q in &queues {
                    if let Some(m) = self.members.get_mut(q)
                        && let Ok(i) = m.binary_search(&agent)
                    {
                        m.remove(i);
                    }
                }
                for q in queues {
                    self.evaluate_overflow(q, now, true, &mut out);
                }
            }
            Event::AgentNotReady { agent, reason } => {
                let tr = self.agent_mut(agent)?.not_ready(now, reason)?;
                self.note(tr, &mut out);
            }
            Event::AgentReady { agent } => {
                let tr = self.agent_mut(agent)?.ready(now)?;
                self.note(tr, &mut out);
                self.dispatch_for_agent(agent, now, &mut out);
            }
            Event::WrapUpDone {
                agent,
                disposition_given,
            } => {
                let tr = self
                    .agent_mut(agent)?
                    .finish_wrap_up(now, disposition_given)?;
                self.note(tr, &mut out);
                self.dispatch_for_agent(agent, now, &mut out);
            }
            Event::CallEnqueued {
                call,
                queue,
                priority,
            } => {
                let entry = self.new_entry(call, queue, priority, EntryKind::Call, now)?;
                self.enqueue(now, entry, &mut out);
            }
            Event::CallbackEnqueued {
                call,
                queue,
                priority,
                requested_at,
            } => {
                let kind = EntryKind::Callback;
                let entry = self.new_entry(call, queue, priority, kind, requested_at)?;
                self.enqueue(now, entry, &mut out);
            }
            Event::CallAbandoned { call } => self.abandon(now, call, &mut out)?,
            Event::ConvertToCallback { call } => self.convert_to_callback(now, call, &mut out)?,
            Event::OfferAnswered { call, agent } => self.answered(now, call, agent, &mut out)?,
            Event::OfferRejected { call, agent } | Event::OfferTimedOut { call, agent } => {
                self.missed(now, call, agent, &mut out)?;
                if let Some(q) = self.entries.get(&call).map(|e| e.queue) {
                    self.dispatch_queue(q, now, &mut out);
                }
                self.dispatch_for_agent(agent, now, &mut out);
            }
            Event::CallEnded { call } => {
                if self.entries.contains_key(&call) {
                    self.abandon(now, call, &mut out)?;
                } else {
                    self.call_ended(now, call, &mut out)?;
                }
            }
            Event::DialerHold { agent } => {
                self.agent_mut(agent)?;
                if !self.may_dialer_take(&agent) {
                    return Err(AcdError::NotTakeable(agent));
                }
                self.dialer_holds.insert(agent);
            }
            Event::DialerRelease { agent } => {
                if self.dialer_holds.remove(&agent) {
                    self.dispatch_for_agent(agent, now, &mut out);
                }
            }
            Event::OutboundConnected { agent, call } => {
                if self.entries.contains_key(&call) || self.connected.contains_key(&call) {
                    return Err(AcdError::DuplicateCall(call));
                }
                let tr = self.agent_mut(agent)?.connect_outbound(now, call)?;
                self.connected.insert(call, agent);
                self.dialer_holds.remove(&agent);
                self.note(tr, &mut out);
            }
        }
        Ok(out)
    }

    fn login(
        &mut self,
        now: Time,
        id: AgentId,
        skills: SkillSet,
        queues: Vec<QueueId>,
        campaigns: Vec<CampaignRef>,
        out: &mut Output,
    ) -> Result<(), AcdError> {
        if let Some(q) = queues.iter().find(|q| !self.queues.contains_key(q)) {
            return Err(AcdError::UnknownQueue(*q));
        }
        let agent = self.agents.entry(id).or_insert_with(|| Agent::new(id, now));
        if agent.is_logged_in() {
            return Err(AgentError::InvalidTransition {
                agent: id,
                from: agent.state.kind(),
                input: "login",
            }
            .into());
        }
        agent.skills = skills;
        agent.queues = queues.clone();
        agent.campaigns = campaigns;
        let tr = agent.login(now)?;
        self.note(tr, out);
        for q in queues {
            self.recompute_members(q);
        }
        self.dispatch_for_agent(id, now, out);
        Ok(())
    }

    /// A new entry at the end of its priority class, once the call is
    /// known to be new and the queue to exist.
    fn new_entry(
        &mut self,
        call: CallId,
        queue: QueueId,
        priority: i32,
        kind: EntryKind,
        enqueued_at: Time,
    ) -> Result<Entry, AcdError> {
        if self.entries.contains_key(&call) || self.connected.contains_key(&call) {
            return Err(AcdError::DuplicateCall(call));
        }
        if !self.queues.contains_key(&queue) {
            return Err(AcdError::UnknownQueue(queue));
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        Ok(Entry {
            call,
            queue,
            priority,
            seq,
            enqueued_at,
            kind,
            tried: Vec::new(),
            offered_to: Vec::new(),
            deadline: None,
            last_announced: None,
        })
    }

    fn enqueue(&mut self, now: Time, entry: Entry, out: &mut Output) {
        let (call, queue) = (entry.call, entry.queue);
        if let Some(q) = self.queues.get_mut(&queue) {
            q.waiting.insert(entry.key(), call);
        }
        self.entries.insert(call, entry);
        self.dispatch_queue(queue, now, out);
        self.evaluate_overflow(queue, now, true, out);
        self.announce_one(call, now, out);
    }

    /// Take a ringing call back from its agents without counting a miss.
    fn withdraw_offers(&mut self, now: Time, call: CallId, out: &mut Output) -> Vec<AgentId> {
        let agents = match self.entries.get_mut(&call) {
            Some(e) => {
                e.deadline = None;
                std::mem::take(&mut e.offered_to)
            }
            None => Vec::new(),
        };
        for a in &agents {
            if let Some(ag) = self.agents.get_mut(a)
                && let Ok(tr) = ag.withdraw(now, call)
            {
                self.note(tr, out);
            }
            out.decisions
                .push(Decision::CancelOffer { call, agent: *a });
        }
        agents
    }

    fn abandon(&mut self, now: Time, call: CallId, out: &mut Output) -> Result<(), AcdError> {
        let Some(e) = self.entries.get(&call) else {
            return Err(AcdError::UnknownCall(call));
        };
        let (queue, key) = (e.queue, e.key());
        let freed = self.withdraw_offers(now, call, out);
        if let Some(q) = self.queues.get_mut(&queue) {
            q.waiting.remove(&key);
        }
        self.entries.remove(&call);
        for a in freed {
            self.dispatch_for_agent(a, now, out);
        }
        Ok(())
    }

    fn convert_to_callback(
        &mut self,
        now: Time,
        call: CallId,
        out: &mut Output,
    ) -> Result<(), AcdError> {
        let Some(e) = self.entries.get_mut(&call) else {
            return Err(AcdError::UnknownCall(call));
        };
        if e.kind == EntryKind::Callback {
            return Ok(());
        }
        e.kind = EntryKind::Callback;
        let (queue, key, ringing) = (e.queue, e.key(), !e.offered_to.is_empty());
        if ringing {
            // The caller is gone: ring again as a callback, same place.
            let freed = self.withdraw_offers(now, call, out);
            if let Some(q) = self.queues.get_mut(&queue) {
                q.waiting.insert(key, call);
            }
            self.dispatch_queue(queue, now, out);
            for a in freed {
                self.dispatch_for_agent(a, now, out);
            }
        }
        Ok(())
    }

    fn answered(
        &mut self,
        now: Time,
        call: CallId,
        agent: AgentId,
        out: &mut Output,
    ) -> Result<(), AcdError> {
        let ringing = self
            .entries
            .get(&call)
            .is_some_and(|e| e.offered_to.contains(&agent));
        if !ringing {
            return Err(AcdError::NotOffered { call, agent });
        }
        let tr = self.agent_mut(agent)?.answer(now, call)?;
        self.note(tr, out);
        if let Some(e) = self.entries.get_mut(&call) {
            e.offered_to.retain(|a| *a != agent);
        }
        // Ring-all: everyone else stops ringing.
        let others = self.withdraw_offers(now, call, out);
        self.entries.remove(&call);
        self.connected.insert(call, agent);
        for a in others {
            self.dispatch_for_agent(a, now, out);
        }
        Ok(())
    }

    /// An offer was rejected or timed out: a miss for the agent, and the
    /// call goes back to its place once nobody rings for it any more.
    pub(super) fn missed(
        &mut self,
        now: Time,
        call: CallId,
        agent: AgentId,
        out: &mut Output,
    ) -> Result<(), AcdError> {
        let ringing = self
            .entries
            .get(&call)
            .is_some_and(|e| e.offered_to.contains(&agent));
        if !ringing {
            return Err(AcdError::NotOffered { call, agent });
        }
        let own = self.agents.get(&agent).and_then(|a| a.max_missed_offers);
        let max = own.unwrap_or(self.rules.max_missed_offers);
        let tr = self.agent_mut(agent)?.miss(now, call, max)?;
        self.note(tr, out);
        if let Some(e) = self.entries.get_mut(&call) {
            e.offered_to.retain(|a| *a != agent);
            if !e.tried.contains(&agent) {
                e.tried.push(agent);
            }
            if e.offered_to.is_empty() {
                e.deadline = None;
                let (queue, key) = (e.queue, e.key());
                if let Some(q) = self.queues.get_mut(&queue) {
                    q.waiting.insert(key, call);
                }
            }
        }
        Ok(())
    }

    fn call_ended(&mut self, now: Time, call: CallId, out: &mut Output) -> Result<(), AcdError> {
        let Some(&agent) = self.connected.get(&call) else {
            return Err(AcdError::UnknownCall(call));
        };
        let wrap = match self.agents.get(&agent).map(|a| &a.state) {
            Some(AgentState::OnCall { queue: Some(q), .. }) => self
                .queues
                .get(q)
                .map_or(self.rules.outbound_wrap_up, |q| q.config.wrap_up),
            _ => self.rules.outbound_wrap_up,
        };
        let tr = self.agent_mut(agent)?.end_call(now, call, wrap)?;
        self.connected.remove(&call);
        self.note(tr, out);
        self.dispatch_for_agent(agent, now, out);
        Ok(())
    }
}
