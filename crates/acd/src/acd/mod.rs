//! The per-tenant ACD: events in, decisions out.
//!
//! One [`Acd`] holds a tenant's agents, queues and waiting calls in memory.
//! The caller owns it in one task (no locks inside), feeds it [`Event`]s and
//! [`Acd::tick`]s with the current time, and acts on the returned
//! [`Decision`]s (ring an agent, move a call, play an announcement). The store
//! is written asynchronously from the returned [`Transition`]s; after a
//! restart [`Acd::rebuild`] restores the state from a [`Snapshot`].

mod events;
mod routing;
mod snapshot;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_queueing;

use std::collections::{BTreeSet, HashMap};

use chrono::TimeDelta;
use omnivox_domain::ids::{CallId, QueueId, TenantId};
use serde::{Deserialize, Serialize};

use crate::agent::{Agent, AgentError, AgentId, Transition, WrapUpPolicy};
use crate::queue::{Entry, EntryKind, OverflowTarget, Queue, QueueConfig};
use crate::types::{CampaignRef, ReasonCode, SkillSet, Time};

pub use snapshot::{QueueSnapshot, Snapshot};

/// How inbound calls and the dialer's outbound lines share agents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlendRule {
    /// The dialer may not take an agent while any of the agent's queues has
    /// a call waiting.
    pub inbound_first: bool,
    /// The dialer may not take an agent if that leaves fewer than this many
    /// available agents in any of the agent's queues.
    pub keep_available_per_queue: usize,
}

/// Tenant-wide ACD settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRules {
    /// Missed offers in a row before `not_ready(missed_offers)`; 0 = never.
    pub max_missed_offers: u32,
    pub blend: BlendRule,
    /// Wrap-up after outbound calls (dispositions are required there).
    pub outbound_wrap_up: WrapUpPolicy,
}

impl Default for TenantRules {
    fn default() -> Self {
        Self {
            max_missed_offers: 3,
            blend: BlendRule {
                inbound_first: true,
                keep_available_per_queue: 0,
            },
            outbound_wrap_up: WrapUpPolicy {
                duration: TimeDelta::seconds(60),
                disposition_required: true,
            },
        }
    }
}

/// An input to the ACD.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    AgentLogin {
        agent: AgentId,
        skills: SkillSet,
        queues: Vec<QueueId>,
        campaigns: Vec<CampaignRef>,
    },
    AgentLogout {
        agent: AgentId,
    },
    AgentNotReady {
        agent: AgentId,
        reason: ReasonCode,
    },
    AgentReady {
        agent: AgentId,
    },
    /// The agent ended wrap-up, with a disposition or without one.
    WrapUpDone {
        agent: AgentId,
        disposition_given: bool,
    },
    CallEnqueued {
        call: CallId,
        queue: QueueId,
        priority: i32,
    },
    /// The caller hung up before being connected.
    CallAbandoned {
        call: CallId,
    },
    /// The waiting caller asked to be called back; the entry keeps its place.
    ConvertToCallback {
        call: CallId,
    },
    /// A callback enters the queue at the end of its priority class (one
    /// kept in the store after a restart, or tried again after its customer
    /// was not reached); `requested_at` is when the caller first joined.
    CallbackEnqueued {
        call: CallId,
        queue: QueueId,
        priority: i32,
        requested_at: Time,
    },
    OfferAnswered {
        call: CallId,
        agent: AgentId,
    },
    OfferRejected {
        call: CallId,
        agent: AgentId,
    },
    OfferTimedOut {
        call: CallId,
        agent: AgentId,
    },
    /// A connected call (inbound or outbound) ended.
    CallEnded {
        call: CallId,
    },
    /// The dialer holds an available agent for a line it is about to dial
    /// (or connect): no inbound call is offered to them until the line is
    /// connected (`OutboundConnected`) or let go (`DialerRelease`). Refused
    /// when the dialer may not take the agent ([`Acd::may_dialer_take`]).
    DialerHold {
        agent: AgentId,
    },
    /// The dialer's line for the agent ended without connecting them.
    DialerRelease {
        agent: AgentId,
    },
    /// The dialer connected an outbound call to an available agent.
    OutboundConnected {
        agent: AgentId,
        call: CallId,
    },
}

/// What the caller should do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Ring `agent` with `call` until `deadline`.
    Offer {
        call: CallId,
        agent: AgentId,
        queue: QueueId,
        deadline: Time,
    },
    /// Stop ringing `agent` for `call` (abandoned, or another agent answered
    /// a ring-all offer).
    CancelOffer { call: CallId, agent: AgentId },
    /// A callback entry reached an agent: reserve `agent` and dial the
    /// customer back.
    CallbackDue {
        call: CallId,
        agent: AgentId,
        queue: QueueId,
        deadline: Time,
    },
    /// Move the call to `target`. For [`OverflowTarget::Callback`] the entry
    /// already became a callback in place; the caller can be released.
    Overflow {
        call: CallId,
        queue: QueueId,
        target: OverflowTarget,
    },
    /// The call waited the queue's maximum and left the queue.
    MaxWaitReached { call: CallId, queue: QueueId },
    /// Tell the caller their place and the estimated wait (`None`: unknown,
    /// nobody is logged in).
    Announce {
        call: CallId,
        queue: QueueId,
        position: usize,
        ewt: Option<TimeDelta>,
    },
}

/// The result of one input: decisions to act on and state changes to store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    pub decisions: Vec<Decision>,
    pub transitions: Vec<Transition>,
}

/// An input the ACD cannot apply; the state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcdError {
    #[error(transparent)]
    Agent(#[from] AgentError),
    #[error("unknown agent {0}")]
    UnknownAgent(AgentId),
    #[error("unknown queue {0}")]
    UnknownQueue(QueueId),
    #[error("call {0} is not in any queue or connected")]
    UnknownCall(CallId),
    #[error("call {0} is already queued or connected")]
    DuplicateCall(CallId),
    #[error("call {call} is not ringing at agent {agent}")]
    NotOffered { call: CallId, agent: AgentId },
    #[error("snapshot is inconsistent: {0}")]
    BadSnapshot(String),
    #[error("agent {0} cannot take an outbound line now")]
    NotTakeable(AgentId),
}

/// One tenant's ACD.
#[derive(Clone, Debug)]
pub struct Acd {
    tenant: TenantId,
    rules: TenantRules,
    agents: HashMap<AgentId, Agent>,
    queues: HashMap<QueueId, Queue>,
    /// Agents logged in to each queue with its required skills, sorted by id
    /// (the round-robin order).
    members: HashMap<QueueId, Vec<AgentId>>,
    /// Waiting and ringing calls.
    entries: HashMap<CallId, Entry>,
    /// Connected calls and their agent.
    connected: HashMap<CallId, AgentId>,
    /// Available agents the dialer holds for a line being dialled.
    dialer_holds: BTreeSet<AgentId>,
    next_seq: u64,
}

impl Acd {
    pub fn new(tenant: TenantId, rules: TenantRules) -> Self {
        Self {
            tenant,
            rules,
            agents: HashMap::new(),
            queues: HashMap::new(),
            members: HashMap::new(),
            entries: HashMap::new(),
            connected: HashMap::new(),
            dialer_holds: BTreeSet::new(),
            next_seq: 0,
        }
    }

    /// Whether `a` may be offered an inbound call now: available and not
    /// held by the dialer.
    pub(super) fn takes_inbound(&self, a: &Agent) -> bool {
        a.is_available() && !self.dialer_holds.contains(&a.id)
    }

    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    pub fn rules(&self) -> &TenantRules {
        &self.rules
    }

    pub fn set_rules(&mut self, rules: TenantRules) {
        self.rules = rules;
    }

    /// Add or change a queue. Membership is recomputed from the logged-in
    /// agents' skills; waiting calls stay. Calls that the new settings make
    /// routable are offered on the next [`Acd::tick`].
    pub fn upsert_queue(&mut self, config: QueueConfig) {
        let id = config.id;
        match self.queues.get_mut(&id) {
            Some(q) => q.config = config,
            None => {
                self.queues.insert(id, Queue::new(config));
            }
        }
        self.recompute_members(id);
    }

    fn recompute_members(&mut self, id: QueueId) {
        let Some(q) = self.queues.get(&id) else {
            return;
        };
        let mut m: Vec<AgentId> = self
            .agents
            .values()
            .filter(|a| {
                a.is_logged_in()
                    && a.queues.contains(&id)
                    && crate::types::meets(&a.skills, &q.config.required_skills)
            })
            .map(|a| a.id)
            .collect();
        m.sort_unstable();
        self.members.insert(id, m);
    }

    /// Start of a new day for the fewest-calls strategy.
    pub fn reset_daily_counts(&mut self) {
        for a in self.agents.values_mut() {
            a.calls_today = 0;
        }
    }

    pub fn agent(&self, id: &AgentId) -> Option<&Agent> {
        self.agents.get(id)
    }

    /// Give `agent` their own limit of missed offers in a row (`None`: the
    /// tenant's). An agent the ACD does not know yet is ignored: the limit
    /// is set again when they log in.
    pub fn set_miss_limit(&mut self, agent: AgentId, limit: Option<u32>) {
        if let Some(a) = self.agents.get_mut(&agent) {
            a.max_missed_offers = limit;
        }
    }

    /// The ids of the queues.
    pub fn queue_ids(&self) -> impl Iterator<Item = QueueId> + '_ {
        self.queues.keys().copied()
    }

    pub fn queue(&self, id: &QueueId) -> Option<&Queue> {
        self.queues.get(id)
    }

    /// A waiting or ringing call.
    pub fn entry(&self, call: &CallId) -> Option<&Entry> {
        self.entries.get(call)
    }

    /// Calls waiting in `queue` (not counting those ringing at an agent).
    pub fn waiting_count(&self, queue: &QueueId) -> usize {
        self.queues.get(queue).map_or(0, |q| q.waiting.len())
    }

    /// Agents logged in to `queue` with its skills.
    pub fn staffed(&self, queue: &QueueId) -> usize {
        self.members.get(queue).map_or(0, Vec::len)
    }

    /// Place (1-based) and estimated wait of a waiting call, for
    /// announcements on demand; `None` when the call is not waiting (unknown,
    /// or ringing at an agent).
    pub fn position_and_ewt(&self, call: &CallId) -> Option<(usize, Option<TimeDelta>)> {
        let e = self.entries.get(call)?;
        if !e.offered_to.is_empty() {
            return None;
        }
        let q = self.queues.get(&e.queue)?;
        let pos = q.position(e.key());
        Some((pos, q.ewt(pos, self.staffed(&e.queue))))
    }

    /// May the dialer connect an outbound line to this agent now? Only an
    /// available agent logged in to a campaign, and (by the tenant's blend
    /// rule) not while inbound calls wait in the agent's queues or when
    /// that would leave a queue short of available agents.
    pub fn may_dialer_take(&self, agent: &AgentId) -> bool {
        let Some(a) = self.agents.get(agent) else {
            return false;
        };
        if !a.is_available() || a.campaigns.is_empty() || self.dialer_holds.contains(agent) {
            return false;
        }
        let blend = self.rules.blend;
        for qid in &a.queues {
            let Some(members) = self.members.get(qid) else {
                continue;
            };
            if members.binary_search(agent).is_err() {
                continue;
            }
            if blend.inbound_first && self.waiting_count(qid) > 0 {
                return false;
            }
            if blend.keep_available_per_queue > 0 {
                let others = members
                    .iter()
                    .filter(|m| *m != agent)
                    .filter(|m| self.agents.get(*m).is_some_and(Agent::is_available))
                    .count();
                if others < blend.keep_available_per_queue {
                    return false;
                }
            }
        }
        true
    }

    fn agent_mut(&mut self, id: AgentId) -> Result<&mut Agent, AcdError> {
        self.agents.get_mut(&id).ok_or(AcdError::UnknownAgent(id))
    }

    /// Record a transition; when a call's handling ends (the agent leaves
    /// on-call or wrap-up for anything else) its handle time feeds the
    /// queue's EWMA.
    fn note(&mut self, tr: Transition, out: &mut Output) {
        use crate::agent::StateKind::{OnCall, WrapUp};
        let busy_before = matches!(tr.from.kind(), OnCall | WrapUp);
        let busy_after = matches!(tr.to.kind(), OnCall | WrapUp);
        if busy_before
            && !busy_after
            && let Some(a) = self.agents.get_mut(&tr.agent)
        {
            let started = a.handle_started.take();
            let queue = a.handle_queue.take();
            if let (Some(s), Some(q)) = (started, queue)
                && let Some(q) = self.queues.get_mut(&q)
            {
                q.handle_time.add(tr.at - s);
            }
        }
        out.transitions.push(tr);
    }

    fn entry_kind_decision(e: &Entry, agent: AgentId, deadline: Time) -> Decision {
        match e.kind {
            EntryKind::Call => Decision::Offer {
                call: e.call,
                agent,
                queue: e.queue,
                deadline,
            },
            EntryKind::Callback => Decision::CallbackDue {
                call: e.call,
                agent,
                queue: e.queue,
                deadline,
            },
        }
    }
}
