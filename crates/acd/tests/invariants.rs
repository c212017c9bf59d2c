//! A long random run through the public API (seeded, reproducible), checking
//! after every input the properties the routing relies on:
//! - an offer goes only to an agent that is now ringing for that call, is
//!   logged in to the queue and has its skills (never a not-ready agent);
//! - no queue keeps a call waiting while an eligible agent is available;
//! - a snapshot rebuilds into an ACD with the same snapshot.

use chrono::{TimeDelta, TimeZone, Utc};
use omnivox_acd::{
    Acd, AgentId, AgentState, Decision, Event, Level, OverflowCondition, OverflowRule,
    OverflowTarget, QueueConfig, ReasonCode, Skill, SkillRequirement, SkillSet, Strategy,
    TenantRules, Time,
};
use omnivox_domain::ids::{CallId, QueueId, TenantId};

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn eligible(acd: &Acd, agent: &AgentId, queue: &QueueId) -> bool {
    let (Some(a), Some(q)) = (acd.agent(agent), acd.queue(queue)) else {
        return false;
    };
    a.is_logged_in()
        && a.queues.contains(queue)
        && q.config
            .required_skills
            .iter()
            .all(|r| a.skills.get(&r.skill).is_some_and(|l| *l >= r.min_level))
}

fn check(acd: &Acd, agents: &[AgentId], queues: &[QueueId], decisions: &[Decision], step: usize) {
    for d in decisions {
        if let Decision::Offer {
            call, agent, queue, ..
        }
        | Decision::CallbackDue {
            call, agent, queue, ..
        } = d
        {
            // A later decision in the same output may have withdrawn it
            // (ring-all answered); otherwise it must be ringing now.
            let withdrawn = decisions.iter().any(
                |x| matches!(x, Decision::CancelOffer { call: c, agent: a } if c == call && a == agent),
            );
            let state = &acd.agent(agent).map(|a| a.state.clone());
            assert!(
                withdrawn
                    || matches!(state, Some(AgentState::Reserved { call: c, .. }) if c == call),
                "step {step}: offered agent is in {state:?}"
            );
            assert!(
                eligible(acd, agent, queue),
                "step {step}: ineligible agent offered"
            );
        }
    }
    for q in queues {
        if acd.waiting_count(q) == 0 {
            continue;
        }
        for a in agents {
            let avail = acd.agent(a).is_some_and(|x| x.is_available());
            assert!(
                !(avail && eligible(acd, a, q)),
                "step {step}: call waits in {q} while agent {a} is available"
            );
        }
    }
}

#[test]
fn random_run_keeps_routing_invariants() {
    let base: Time = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
    let mut now = base;
    let mut rng = Rng(0x0dd5_eed5);
    let mut acd = Acd::new(TenantId::new(), TenantRules::default());
    let strategies = [
        Strategy::LongestIdle,
        Strategy::FewestCallsToday,
        Strategy::RoundRobin,
        Strategy::SkillWeighted,
        Strategy::RingAll,
    ];
    let queues: Vec<QueueId> = (0..5).map(|_| QueueId::new()).collect();
    for (i, q) in queues.iter().enumerate() {
        let mut cfg = QueueConfig::new(*q);
        cfg.strategy = strategies[i];
        cfg.offer_timeout = TimeDelta::seconds(5);
        if i % 2 == 0 {
            cfg.required_skills = vec![SkillRequirement::new("es", Level::new(4).unwrap())];
        }
        cfg.overflow = vec![OverflowRule {
            when: OverflowCondition::WaitingAbove { calls: 8 },
            target: OverflowTarget::Callback,
        }];
        cfg.max_wait = Some(TimeDelta::seconds(600));
        cfg.announce_every = Some(TimeDelta::seconds(30));
        acd.upsert_queue(cfg);
    }
    let agents: Vec<AgentId> = (0..12).map(|_| AgentId::new()).collect();
    let mut calls: Vec<CallId> = Vec::new();
    let mut offers = 0usize;
    let mut snapshots = 0usize;
    for step in 0..8_000 {
        now += TimeDelta::milliseconds(200 + rng.below(1500) as i64);
        let agent = agents[rng.below(agents.len())];
        calls.retain(|c| acd.entry(c).is_some());
        let event = match rng.below(12) {
            0 => {
                let mut skills = SkillSet::new();
                skills.insert(
                    Skill::new("es"),
                    Level::new(rng.below(10) as u8 + 1).unwrap(),
                );
                let qs = queues
                    .iter()
                    .filter(|_| rng.below(2) == 0)
                    .copied()
                    .collect();
                Event::AgentLogin {
                    agent,
                    skills,
                    queues: qs,
                    campaigns: Vec::new(),
                }
            }
            1 => Event::AgentLogout { agent },
            2 => Event::AgentNotReady {
                agent,
                reason: ReasonCode::new("break"),
            },
            3 => Event::AgentReady { agent },
            4 => Event::WrapUpDone {
                agent,
                disposition_given: true,
            },
            5 | 6 => {
                let call = CallId::new();
                calls.push(call);
                Event::CallEnqueued {
                    call,
                    queue: queues[rng.below(queues.len())],
                    priority: rng.below(3) as i32,
                }
            }
            7 if !calls.is_empty() => Event::CallAbandoned {
                call: calls[rng.below(calls.len())],
            },
            8 if !calls.is_empty() => Event::ConvertToCallback {
                call: calls[rng.below(calls.len())],
            },
            9 | 10 => match acd.agent(&agent).map(|a| a.state.clone()) {
                Some(AgentState::OnCall { call, .. }) => Event::CallEnded { call },
                _ => Event::WrapUpDone {
                    agent,
                    disposition_given: false,
                },
            },
            _ => match acd.agent(&agent).map(|a| a.state.clone()) {
                Some(AgentState::Reserved { call, .. }) if rng.below(4) > 0 => {
                    Event::OfferAnswered { call, agent }
                }
                Some(AgentState::Reserved { call, .. }) => Event::OfferRejected { call, agent },
                _ => Event::AgentReady { agent },
            },
        };
        // Invalid inputs are fine here (errors leave the state unchanged);
        // the invariants must hold either way.
        let before = acd.snapshot();
        match acd.handle(now, event) {
            Ok(out) => {
                offers += out
                    .decisions
                    .iter()
                    .filter(|d| matches!(d, Decision::Offer { .. } | Decision::CallbackDue { .. }))
                    .count();
                check(&acd, &agents, &queues, &out.decisions, step);
            }
            Err(_) => assert_eq!(
                acd.snapshot(),
                before,
                "step {step}: an error changed state"
            ),
        }
        if step % 10 == 0 {
            let out = acd.tick(now);
            offers += out
                .decisions
                .iter()
                .filter(|d| matches!(d, Decision::Offer { .. } | Decision::CallbackDue { .. }))
                .count();
            check(&acd, &agents, &queues, &out.decisions, step);
        }
        if step % 397 == 0 {
            let snap = acd.snapshot();
            let rebuilt = Acd::rebuild(snap.clone()).unwrap();
            assert_eq!(rebuilt.snapshot(), snap);
            snapshots += 1;
        }
    }
    eprintln!("offers {offers}, snapshots {snapshots}");
    assert!(
        offers > 1000,
        "the run should route many calls, got {offers}"
    );
    assert!(snapshots > 10);
}
