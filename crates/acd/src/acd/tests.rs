use chrono::TimeZone;
use omnivox_domain::ids::{CallId, QueueId, TenantId};

use super::*;
use crate::agent::{AgentState, StateKind};
use crate::queue::Strategy;
use crate::types::{Level, Skill, SkillRequirement};

pub(super) fn t(s: i64) -> Time {
    chrono::Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap()
}

pub(super) fn skills(pairs: &[(&str, u8)]) -> SkillSet {
    pairs
        .iter()
        .map(|(s, l)| (Skill::new(*s), Level::new(*l).unwrap()))
        .collect()
}

pub(super) fn acd_with(strategy: Strategy) -> (Acd, QueueId) {
    let mut acd = Acd::new(TenantId::new(), TenantRules::default());
    let q = QueueId::new();
    let mut cfg = QueueConfig::new(q);
    cfg.strategy = strategy;
    acd.upsert_queue(cfg);
    (acd, q)
}

pub(super) fn login(acd: &mut Acd, now: Time, queues: &[QueueId], sk: &[(&str, u8)]) -> AgentId {
    let id = AgentId::new();
    acd.handle(
        now,
        Event::AgentLogin {
            agent: id,
            skills: skills(sk),
            queues: queues.to_vec(),
            campaigns: Vec::new(),
        },
    )
    .unwrap();
    id
}

pub(super) fn enqueue(acd: &mut Acd, now: Time, q: QueueId, priority: i32) -> (CallId, Output) {
    let call = CallId::new();
    let out = acd
        .handle(
            now,
            Event::CallEnqueued {
                call,
                queue: q,
                priority,
            },
        )
        .unwrap();
    (call, out)
}

pub(super) fn offers(out: &Output) -> Vec<(CallId, AgentId)> {
    out.decisions
        .iter()
        .filter_map(|d| match d {
            Decision::Offer { call, agent, .. } => Some((*call, *agent)),
            _ => None,
        })
        .collect()
}

/// Answer and end a call with no wrap-up so the agent is free again.
pub(super) fn serve(acd: &mut Acd, now: Time, call: CallId, agent: AgentId) {
    acd.handle(now, Event::OfferAnswered { call, agent })
        .unwrap();
    acd.handle(now, Event::CallEnded { call }).unwrap();
    if acd.agent(&agent).unwrap().state.kind() == StateKind::WrapUp {
        acd.handle(
            now,
            Event::WrapUpDone {
                agent,
                disposition_given: true,
            },
        )
        .unwrap();
    }
}

#[test]
fn longest_idle_picks_the_agent_idle_longest() {
    let (mut acd, q) = acd_with(Strategy::LongestIdle);
    let a = login(&mut acd, t(0), &[q], &[]);
    let b = login(&mut acd, t(5), &[q], &[]);
    let (c1, out) = enqueue(&mut acd, t(10), q, 0);
    assert_eq!(offers(&out), vec![(c1, a)]);
    let (c2, out) = enqueue(&mut acd, t(11), q, 0);
    assert_eq!(offers(&out), vec![(c2, b)]);
    // a frees up later than b would: b serves first, then is idle longer.
    serve(&mut acd, t(20), c2, b);
    serve(&mut acd, t(30), c1, a);
    let (c3, out) = enqueue(&mut acd, t(40), q, 0);
    assert_eq!(offers(&out), vec![(c3, b)]);
}

#[test]
fn fewest_calls_today_picks_the_least_busy() {
    let (mut acd, q) = acd_with(Strategy::FewestCallsToday);
    let a = login(&mut acd, t(0), &[q], &[]);
    for i in 0..2 {
        let (c, out) = enqueue(&mut acd, t(10 + i), q, 0);
        assert_eq!(offers(&out), vec![(c, a)]);
        serve(&mut acd, t(10 + i), c, a);
    }
    let b = login(&mut acd, t(50), &[q], &[]);
    // a is idle longer but has 2 calls; b has none.
    let (c, out) = enqueue(&mut acd, t(100), q, 0);
    assert_eq!(offers(&out), vec![(c, b)]);
    serve(&mut acd, t(101), c, b);
    // Equal counts: the longest idle breaks the tie.
    let (c, out) = enqueue(&mut acd, t(102), q, 0);
    assert_eq!(offers(&out), vec![(c, b)], "b has 1 call, a has 2");
    serve(&mut acd, t(103), c, b);
    let (c, out) = enqueue(&mut acd, t(104), q, 0);
    assert_eq!(offers(&out), vec![(c, a)], "2 each, a idle since t(11)");
    acd.reset_daily_counts();
    assert_eq!(acd.agent(&a).unwrap().calls_today, 0);
}

#[test]
fn round_robin_rotates_through_members() {
    let (mut acd, q) = acd_with(Strategy::RoundRobin);
    let ids: Vec<AgentId> = (0..3).map(|i| login(&mut acd, t(i), &[q], &[])).collect();
    let mut got = Vec::new();
    for i in 0..6 {
        let (c, out) = enqueue(&mut acd, t(10 + i), q, 0);
        let o = offers(&out);
        assert_eq!(o.len(), 1);
        got.push(o[0].1);
        serve(&mut acd, t(10 + i), c, o[0].1);
    }
    let expect: Vec<AgentId> = ids.iter().chain(ids.iter()).copied().collect();
    assert_eq!(got, expect);
}

#[test]
fn skill_weighted_picks_the_best_match() {
    let (mut acd, q) = acd_with(Strategy::SkillWeighted);
    let mut cfg = acd.queue(&q).unwrap().config.clone();
    cfg.required_skills = vec![
        SkillRequirement::new("es", Level::new(3).unwrap()),
        SkillRequirement {
            skill: Skill::new("billing"),
            min_level: Level::MIN,
            weight: 2,
        },
    ];
    acd.upsert_queue(cfg);
    let _low = login(&mut acd, t(0), &[q], &[("es", 3), ("billing", 2)]); // 3 + 4
    let best = login(&mut acd, t(1), &[q], &[("es", 4), ("billing", 5)]); // 4 + 10
    let _mid = login(&mut acd, t(2), &[q], &[("es", 9), ("billing", 1)]); // 9 + 2
    let (c, out) = enqueue(&mut acd, t(10), q, 0);
    assert_eq!(offers(&out), vec![(c, best)]);
}

#[test]
fn skills_and_levels_gate_eligibility() {
    let (mut acd, q) = acd_with(Strategy::LongestIdle);
    let mut cfg = acd.queue(&q).unwrap().config.clone();
    cfg.required_skills = vec![SkillRequirement::new("es", Level::new(5).unwrap())];
    acd.upsert_queue(cfg);
    let _too_low = login(&mut acd, t(0), &[q], &[("es", 4)]);
    let _wrong = login(&mut acd, t(0), &[q], &[("fr", 10)]);
    let (c, out) = enqueue(&mut acd, t(10), q, 0);
    assert!(offers(&out).is_empty());
    assert_eq!(acd.staffed(&q), 0);
    let ok = login(&mut acd, t(20), &[q], &[("es", 5)]);
    let out = acd.tick(t(20));
    assert!(offers(&out).is_empty(), "login already offered it");
    let e = acd.entry(&c).unwrap();
    assert_eq!(e.offered_to, vec![ok]);
}

#[test]
fn ring_all_rings_everyone_and_first_answer_wins() {
    let (mut acd, q) = acd_with(Strategy::RingAll);
    let a = login(&mut acd, t(0), &[q], &[]);
    let b = login(&mut acd, t(0), &[q], &[]);
    let c = login(&mut acd, t(0), &[q], &[]);
    acd.handle(
        t(1),
        Event::AgentNotReady {
            agent: c,
            reason: ReasonCode::new("break"),
        },
    )
    .unwrap();
    let (call, out) = enqueue(&mut acd, t(10), q, 0);
    let mut rung: Vec<AgentId> = offers(&out).into_iter().map(|(_, a)| a).collect();
    rung.sort();
    assert_eq!(rung, vec![a, b]);
    let out = acd
        .handle(t(12), Event::OfferAnswered { call, agent: b })
        .unwrap();
    assert_eq!(
        out.decisions,
        vec![Decision::CancelOffer { call, agent: a }]
    );
    assert_eq!(acd.agent(&a).unwrap().state, AgentState::Available);
    assert_eq!(acd.agent(&a).unwrap().missed_in_row, 0);
    assert_eq!(acd.agent(&b).unwrap().state.kind(), StateKind::OnCall);
}

#[test]
fn priority_first_then_fifo() {
    let (mut acd, q) = acd_with(Strategy::LongestIdle);
    let (c1, _) = enqueue(&mut acd, t(0), q, 0);
    let (c2, _) = enqueue(&mut acd, t(1), q, 5);
    let (c3, _) = enqueue(&mut acd, t(2), q, 0);
    let (c4, _) = enqueue(&mut acd, t(3), q, 5);
    let a = login(&mut acd, t(10), &[q], &[]);
    let mut served = Vec::new();
    for i in 0..4 {
        let AgentState::Reserved { call, .. } = acd.agent(&a).unwrap().state else {
            panic!("agent should ring");
        };
        served.push(call);
        serve(&mut acd, t(20 + i), call, a);
    }
    assert_eq!(served, vec![c2, c4, c1, c3]);
}

#[test]
fn across_queues_an_agent_takes_the_best_head() {
    let mut acd = Acd::new(TenantId::new(), TenantRules::default());
    let q1 = QueueId::new();
    let q2 = QueueId::new();
    acd.upsert_queue(QueueConfig::new(q1));
    acd.upsert_queue(QueueConfig::new(q2));
    let (_old, _) = enqueue(&mut acd, t(0), q1, 0);
    let (urgent, _) = enqueue(&mut acd, t(5), q2, 9);
    let a = login(&mut acd, t(10), &[q1, q2], &[]);
    assert!(
        matches!(acd.agent(&a).unwrap().state, AgentState::Reserved { call, .. } if call == urgent)
    );
}

#[test]
fn offer_timeout_goes_to_next_agent_and_misses_lead_to_not_ready() {
    let (mut acd, q) = acd_with(Strategy::LongestIdle);
    acd.set_rules(TenantRules {
        max_missed_offers: 2,
        ..TenantRules::default()
    });
    let a = login(&mut acd, t(0), &[q], &[]);
    let b = login(&mut acd, t(1), &[q], &[]);
    let (c1, out) = enqueue(&mut acd, t(10), q, 0);
    assert_eq!(offers(&out), vec![(c1, a)]);
    // Deadline is 15 s later; nothing before.
    assert!(acd.tick(t(24)).transitions.is_empty());
    let out = acd.tick(t(25));
    assert_eq!(offers(&out), vec![(c1, b)], "the next agent");
    assert!(
        out.decisions
            .contains(&Decision::CancelOffer { call: c1, agent: a }),
        "the timed-out agent stops ringing: {:?}",
        out.decisions
    );
    assert_eq!(acd.agent(&a).unwrap().missed_in_row, 1);
    assert_eq!(acd.agent(&a).unwrap().state, AgentState::Available);
    // b rejects: a is the only one left and gets it again.
    let out = acd
        .handle(t(26), Event::OfferRejected { call: c1, agent: b })
        .unwrap();
    assert_eq!(offers(&out), vec![(c1, a)]);
    assert_eq!(acd.agent(&b).unwrap().missed_in_row, 1);
    // a misses a second time in a row: not ready with missed_offers.
    let out = acd.tick(t(41));
    let to_nr = out.transitions.iter().find(|tr| tr.agent == a).unwrap();
    assert_eq!(
        to_nr.to,
        AgentState::NotReady {
            reason: ReasonCode::missed_offers()
        }
    );
    assert_eq!(to_nr.at, t(41));
    assert_eq!(offers(&out), vec![(c1, b)]);
}

#[test]
fn an_agents_own_miss_limit_beats_the_tenants() {
    let (mut acd, q) = acd_with(Strategy::LongestIdle);
    // The tenant allows three misses; this agent's profile says one.
    let a = login(&mut acd, t(0), &[q], &[]);
    acd.set_miss_limit(a, Some(1));
    acd.set_miss_limit(AgentId::new(), Some(1)); // unknown: ignored
    let (c1, out) = enqueue(&mut acd, t(10), q, 0);
    assert_eq!(offers(&out), vec![(c1, a)]);
    acd.handle(t(11), Event::OfferRejected { call: c1, agent: a })
        .unwrap();
    assert_eq!(
        acd.agent(&a).unwrap().state,
        AgentState::NotReady {
            reason: ReasonCode::missed_offers()
        }
    );
    // Back, on the tenant's limit of three: the waiting call comes back to
    // them, and one more miss is not enough.
    acd.set_miss_limit(a, None);
    let out = acd.handle(t(12), Event::AgentReady { agent: a }).unwrap();
    assert_eq!(offers(&out), vec![(c1, a)]);
    acd.handle(t(13), Event::OfferRejected { call: c1, agent: a })
        .unwrap();
    assert_ne!(
        acd.agent(&a).unwrap().state,
        AgentState::NotReady {
            reason: ReasonCode::missed_offers()
        }
    );
}

#[test]
fn not_ready_agent_is_never_offered() {
    let (mut acd, q) = acd_with(Strategy::LongestIdle);
    let a = login(&mut acd, t(0), &[q], &[]);
    acd.handle(
        t(1),
        Event::AgentNotReady {
            agent: a,
            reason: ReasonCode::new("lunch"),
        },
    )
    .unwrap();
    for i in 0..5 {
        let (_, out) = enqueue(&mut acd, t(2 + i), q, i as i32);
        assert!(offers(&out).is_empty());
    }
    for s in 0..100 {
        let out = acd.tick(t(10 + s));
        assert!(offers(&out).is_empty());
    }
    assert_eq!(acd.waiting_count(&q), 5);
    let out = acd.handle(t(200), Event::AgentReady { agent: a }).unwrap();
    assert_eq!(offers(&out).len(), 1);
}

#[test]
fn wrap_up_timer_then_next_call() {
    let (mut acd, q) = acd_with(Strategy::LongestIdle);
    let a = login(&mut acd, t(0), &[q], &[]);
    let (c1, _) = enqueue(&mut acd, t(1), q, 0);
    let (c2, _) = enqueue(&mut acd, t(2), q, 0);
    acd.handle(t(3), Event::OfferAnswered { call: c1, agent: a })
        .unwrap();
    acd.handle(t(63), Event::CallEnded { call: c1 }).unwrap();
    assert_eq!(acd.agent(&a).unwrap().state.kind(), StateKind::WrapUp);
    assert!(offers(&acd.tick(t(92))).is_empty());
    let out = acd.tick(t(93));
    assert_eq!(offers(&out), vec![(c2, a)]);
}
