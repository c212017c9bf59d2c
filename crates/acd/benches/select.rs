//! Agent selection latency with 100 agents and 10,000 queued calls across 20
//! queues (the target: p99 <= 1 ms per decision), plus events per
//! second, against a naive baseline in the same run: a linear scan over all
//! queued calls for each freed agent. Prints one JSON object.
//!
//! `cargo bench -p omnivox-acd --bench select`

use std::time::Instant;

use chrono::{TimeDelta, TimeZone, Utc};
use omnivox_acd::{
    Acd, AgentId, AgentState, Decision, Event, Level, OverflowCondition, OverflowRule,
    OverflowTarget, QueueConfig, Skill, SkillRequirement, SkillSet, Strategy, TenantRules, Time,
    WrapUpPolicy,
};
use omnivox_domain::ids::{CallId, QueueId, TenantId};

const AGENTS: usize = 100;
const QUEUES: usize = 20;
const QUEUED: usize = 10_000;
const DECISIONS: usize = 20_000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn agent_queues(i: usize) -> [usize; 3] {
    [i % QUEUES, (i * 7 + 3) % QUEUES, (i * 13 + 5) % QUEUES]
}

fn percentiles(mut ns: Vec<u64>) -> serde_json::Value {
    ns.sort_unstable();
    let at = |p: f64| ns[((ns.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0;
    serde_json::json!({
        "samples": ns.len(),
        "p50_us": at(0.50),
        "p99_us": at(0.99),
        "max_us": ns.last().copied().unwrap_or(0) as f64 / 1000.0,
    })
}

/// The ACD under test: every agent busy, 10,000 calls waiting; each
/// decision is an agent's call ending (zero wrap-up), which selects the best
/// waiting call across the agent's queues and offers it.
type AcdFigures = (serde_json::Value, serde_json::Value, f64);

fn run_acd(seed: u64) -> Result<AcdFigures, String> {
    let mut rng = Rng(seed);
    let base: Time = Utc
        .timestamp_opt(1_700_000_000, 0)
        .single()
        .ok_or("bad base time")?;
    let mut now = base;
    let mut acd = Acd::new(TenantId::new(), TenantRules::default());
    let strategies = [
        Strategy::LongestIdle,
        Strategy::FewestCallsToday,
        Strategy::RoundRobin,
        Strategy::SkillWeighted,
        Strategy::RingAll,
    ];
    let queues: Vec<QueueId> = (0..QUEUES).map(|_| QueueId::new()).collect();
    let general = SkillRequirement::new("general", Level::MIN);
    for (i, q) in queues.iter().enumerate() {
        let mut cfg = QueueConfig::new(*q);
        cfg.strategy = strategies[i % strategies.len()];
        cfg.required_skills = vec![general.clone()];
        // Realistic per-call work on enqueue and tick: announcements and an
        // overflow rule that is evaluated (but does not fire in this run).
        cfg.announce_every = Some(TimeDelta::seconds(30));
        cfg.overflow = vec![OverflowRule {
            when: OverflowCondition::WaitedAtLeast {
                wait: TimeDelta::hours(2),
            },
            target: OverflowTarget::Callback,
        }];
        cfg.wrap_up = WrapUpPolicy {
            duration: TimeDelta::zero(),
            disposition_required: false,
        };
        acd.upsert_queue(cfg);
    }
    let mut agents = Vec::new();
    for i in 0..AGENTS {
        let id = AgentId::new();
        let mut skills = SkillSet::new();
        let level = Level::new((i % 10) as u8 + 1).map_err(|e| e.to_string())?;
        skills.insert(Skill::new("general"), level);
        let qs = agent_queues(i).iter().map(|q| queues[*q]).collect();
        acd.handle(
            now,
            Event::AgentLogin {
                agent: id,
                skills,
                queues: qs,
                campaigns: Vec::new(),
            },
        )
        .map_err(|e| e.to_string())?;
        agents.push(id);
    }
    let enqueue = |acd: &mut Acd, now: Time, rng: &mut Rng| -> Result<Vec<Decision>, String> {
        let call = CallId::new();
        let queue = queues[rng.below(QUEUES)];
        let priority = rng.below(4) as i32;
        acd.handle(
            now,
            Event::CallEnqueued {
                call,
                queue,
                priority,
            },
        )
        .map(|o| o.decisions)
        .map_err(|e| e.to_string())
    };
    // Fill: first calls take every agent (answer whatever rings), the
    // rest wait.
    let mut connected: Vec<(AgentId, CallId)> = Vec::new();
    while connected.len() < AGENTS {
        now += TimeDelta::milliseconds(1);
        enqueue(&mut acd, now, &mut rng)?;
        loop {
            let ringing = agents
                .iter()
                .find_map(|id| match acd.agent(id).map(|a| &a.state) {
                    Some(AgentState::Reserved { call, .. }) => Some((*id, *call)),
                    _ => None,
                });
            let Some((agent, call)) = ringing else {
                break;
            };
            acd.handle(now, Event::OfferAnswered { call, agent })
                .map_err(|e| e.to_string())?;
            connected.push((agent, call));
        }
    }
    let mut waiting = 0usize;
    for q in &queues {
        waiting += acd.waiting_count(q);
    }
    while waiting < QUEUED {
        now += TimeDelta::milliseconds(1);
        enqueue(&mut acd, now, &mut rng)?;
        waiting += 1;
    }

    let mut latencies = Vec::with_capacity(DECISIONS);
    let mut ticks = Vec::new();
    let mut events = 0u64;
    let mut event_time = 0.0f64;
    for i in 0..DECISIONS {
        now += TimeDelta::milliseconds(10);
        let slot = i % connected.len();
        let (_, call) = connected[slot];
        let t0 = Instant::now();
        let out = acd
            .handle(now, Event::CallEnded { call })
            .map_err(|e| e.to_string())?;
        let dt = t0.elapsed();
        latencies.push(dt.as_nanos() as u64);
        let mut spent = dt.as_secs_f64();
        let offer = out.decisions.iter().find_map(|d| match d {
            Decision::Offer { call, agent, .. } => Some((*call, *agent)),
            _ => None,
        });
        let Some((next, agent)) = offer else {
            return Err("no offer after an agent became free".into());
        };
        let t1 = Instant::now();
        acd.handle(now, Event::OfferAnswered { call: next, agent })
            .map_err(|e| e.to_string())?;
        enqueue(&mut acd, now, &mut rng)?;
        spent += t1.elapsed().as_secs_f64();
        if i % 100 == 99 {
            let t2 = Instant::now();
            std::hint::black_box(acd.tick(now));
            let dt = t2.elapsed();
            ticks.push(dt.as_nanos() as u64);
            spent += dt.as_secs_f64();
            events += 1;
        }
        connected[slot] = (agent, next);
        events += 3;
        event_time += spent;
    }
    let mut still = 0usize;
    for q in &queues {
        still += acd.waiting_count(q);
    }
    if still != QUEUED {
        return Err(format!("queue depth drifted to {still}"));
    }
    Ok((
        percentiles(latencies),
        percentiles(ticks),
        events as f64 / event_time,
    ))
}

/// Baseline: the same workload on a flat list of queued calls, where each
/// freed agent scans every call for the best one in its queues.
fn run_naive(seed: u64) -> serde_json::Value {
    let mut rng = Rng(seed);
    // (queue, priority, seq)
    let mut calls: Vec<(usize, i32, u64)> = Vec::with_capacity(QUEUED + 1);
    let mut seq = 0u64;
    for _ in 0..QUEUED {
        calls.push((rng.below(QUEUES), rng.below(4) as i32, seq));
        seq += 1;
    }
    let mut latencies = Vec::with_capacity(DECISIONS);
    for i in 0..DECISIONS {
        let qs = agent_queues(i % AGENTS);
        let t0 = Instant::now();
        let best = calls
            .iter()
            .enumerate()
            .filter(|(_, c)| qs.contains(&c.0))
            .min_by_key(|(_, c)| (std::cmp::Reverse(c.1), c.2))
            .map(|(idx, _)| idx);
        if let Some(idx) = best {
            std::hint::black_box(calls.remove(idx));
        }
        latencies.push(t0.elapsed().as_nanos() as u64);
        calls.push((rng.below(QUEUES), rng.below(4) as i32, seq));
        seq += 1;
    }
    percentiles(latencies)
}

fn main() -> Result<(), String> {
    let seed = 0x5eed_acd0_u64;
    let (acd, tick, events_per_s) = run_acd(seed)?;
    let naive = run_naive(seed);
    let p99 = acd["p99_us"].as_f64().unwrap_or(f64::INFINITY);
    println!(
        "{}",
        serde_json::json!({
            "bench": "acd_agent_selection",
            "agents": AGENTS,
            "queues": QUEUES,
            "queued_calls": QUEUED,
            "decisions": DECISIONS,
            "acd_decision": acd,
            "acd_tick_10k_waiting": tick,
            "acd_events_per_s": events_per_s.round(),
            "baseline_naive_scan": naive,
            "target_p99_us": 1000.0,
            "within_target": p99 <= 1000.0,
        })
    );
    Ok(())
}
