//! Snapshot and rebuild: the state that must survive a restart, in a
//! canonical order so two snapshots of the same state compare equal.

use omnivox_domain::ids::{QueueId, TenantId};
use serde::{Deserialize, Serialize};

use super::{Acd, AcdError, Output, TenantRules};
use crate::agent::{Agent, AgentId, AgentState};
use crate::queue::{Entry, Ewma, Queue, QueueConfig};
use crate::types::Time;

/// One queue's settings and measured statistics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueSnapshot {
    pub config: QueueConfig,
    pub handle_time: Ewma,
    pub rr_last: Option<AgentId>,
}

/// Everything [`Acd::rebuild`] needs: stored agents (with their last state),
/// queues and waiting calls. Vectors are sorted by id (entries by arrival).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub tenant: TenantId,
    pub rules: TenantRules,
    pub queues: Vec<QueueSnapshot>,
    pub agents: Vec<Agent>,
    pub entries: Vec<Entry>,
    /// Agents the dialer holds for lines being dialled.
    #[serde(default)]
    pub dialer_holds: Vec<AgentId>,
    pub next_seq: u64,
}

impl Acd {
    /// The current state in canonical form.
    pub fn snapshot(&self) -> Snapshot {
        let mut queues: Vec<QueueSnapshot> = self
            .queues
            .values()
            .map(|q| QueueSnapshot {
                config: q.config.clone(),
                handle_time: q.handle_time,
                rr_last: q.rr_last,
            })
            .collect();
        queues.sort_unstable_by_key(|q| q.config.id);
        let mut agents: Vec<Agent> = self.agents.values().cloned().collect();
        agents.sort_unstable_by_key(|a| a.id);
        let mut entries: Vec<Entry> = self.entries.values().cloned().collect();
        entries.sort_unstable_by_key(|e| e.seq);
        Snapshot {
            tenant: self.tenant,
            rules: self.rules,
            queues,
            agents,
            entries,
            dialer_holds: self.dialer_holds.iter().copied().collect(),
            next_seq: self.next_seq,
        }
    }

    /// Rebuild after a restart. Checks that the snapshot is consistent
    /// (every entry's queue exists, ringing entries match reserved agents)
    /// so a damaged store is reported instead of routing on bad state.
    pub fn rebuild(snapshot: Snapshot) -> Result<Acd, AcdError> {
        let mut acd = Acd::new(snapshot.tenant, snapshot.rules);
        for qs in snapshot.queues {
            let mut q = Queue::new(qs.config);
            q.handle_time = qs.handle_time;
            q.rr_last = qs.rr_last;
            acd.queues.insert(q.config.id, q);
        }
        for a in snapshot.agents {
            if let Some(bad) = a.queues.iter().find(|q| !acd.queues.contains_key(q)) {
                return Err(AcdError::UnknownQueue(*bad));
            }
            match a.state {
                AgentState::OnCall { call, .. } => {
                    acd.connected.insert(call, a.id);
                }
                AgentState::Reserved { call, .. } => {
                    let ok = snapshot
                        .entries
                        .iter()
                        .any(|e| e.call == call && e.offered_to.contains(&a.id));
                    if !ok {
                        return Err(AcdError::BadSnapshot(format!(
                            "agent {} rings for call {call} which is not offered to it",
                            a.id
                        )));
                    }
                }
                _ => {}
            }
            acd.agents.insert(a.id, a);
        }
        let mut max_seq = 0;
        for e in snapshot.entries {
            let Some(q) = acd.queues.get_mut(&e.queue) else {
                return Err(AcdError::UnknownQueue(e.queue));
            };
            for a in &e.offered_to {
                let rings = matches!(
                    acd.agents.get(a).map(|a| &a.state),
                    Some(AgentState::Reserved { call, .. }) if *call == e.call
                );
                if !rings {
                    return Err(AcdError::BadSnapshot(format!(
                        "call {} is offered to agent {a} which is not ringing for it",
                        e.call
                    )));
                }
            }
            if e.offered_to.is_empty() {
                q.waiting.insert(e.key(), e.call);
            }
            max_seq = max_seq.max(e.seq + 1);
            if acd.entries.insert(e.call, e).is_some() {
                return Err(AcdError::BadSnapshot("a call is in two entries".into()));
            }
        }
        acd.next_seq = snapshot.next_seq.max(max_seq);
        for a in snapshot.dialer_holds {
            if !acd.agents.contains_key(&a) {
                return Err(AcdError::UnknownAgent(a));
            }
            acd.dialer_holds.insert(a);
        }
        let ids: Vec<QueueId> = acd.queues.keys().copied().collect();
        for id in ids {
            acd.recompute_members(id);
        }
        Ok(acd)
    }

    /// Rebuild from the store's view after a restart, then route what the
    /// stored state allows (agents available while calls wait).
    pub fn rebuild_and_route(snapshot: Snapshot, now: Time) -> Result<(Acd, Output), AcdError> {
        let mut acd = Acd::rebuild(snapshot)?;
        let mut out = Output::default();
        acd.dispatch_all(now, &mut out);
        Ok((acd, out))
    }
}
