//! Overflow, max wait, callback in queue, EWT, blending and rebuild.

use chrono::TimeDelta;
use omnivox_domain::ids::{CallId, QueueId, TenantId};

use super::tests::{acd_with, enqueue, login, offers, serve, t};
use super::*;
use crate::agent::{AgentId, AgentState};
use crate::queue::{OverflowCondition, OverflowRule, OverflowTarget, Strategy};
use crate::types::{Level, SkillRequirement};

fn with_overflow(rule: OverflowRule) -> (Acd, QueueId) {
    let (mut acd, q) = acd_with(Strategy::LongestIdle);
    let mut cfg = acd.queue(&q).unwrap().config.clone();
    cfg.overflow = vec![rule];
    acd.upsert_queue(cfg);
    (acd, q)
}

#[test]
fn overflow_after_waiting_time_on_tick() {
    let vm = OverflowTarget::Voicemail {
        mailbox: uuid::Uuid::now_v7(),
    };
    let (mut acd, q) = with_overflow(OverflowRule {
        when: OverflowCondition::WaitedAtLeast {
            wait: TimeDelta::seconds(60),
        },
        target: vm,
    });
    let _a = login(&mut acd, t(0), &[q], &[]);
    let (_busy, _) = enqueue(&mut acd, t(0), q, 0);
    let (c, _) = enqueue(&mut acd, t(0), q, 0);
    assert!(
        acd.tick(t(59))
            .decisions
            .iter()
            .all(|d| !matches!(d, Decision::Overflow { .. }))
    );
    let out = acd.tick(t(60));
    assert!(out.decisions.contains(&Decision::Overflow {
        call: c,
        queue: q,
        target: vm
    }));
    assert!(acd.entry(&c).is_none());
}

#[test]
fn overflow_above_n_waiting_on_enqueue() {
    let q2 = QueueId::new();
    let (mut acd, q) = with_overflow(OverflowRule {
        when: OverflowCondition::WaitingAbove { calls: 2 },
        target: OverflowTarget::Queue { queue: q2 },
    });
    let _a = login(&mut acd, t(0), &[q], &[]);
    let (_ringing, _) = enqueue(&mut acd, t(1), q, 0);
    enqueue(&mut acd, t(2), q, 0);
    let (_, out) = enqueue(&mut acd, t(3), q, 0);
    assert!(
        out.decisions
            .iter()
            .all(|d| !matches!(d, Decision::Overflow { .. }))
    );
    let (c4, out) = enqueue(&mut acd, t(4), q, 0);
    assert_eq!(
        out.decisions,
        vec![Decision::Overflow {
            call: c4,
            queue: q,
            target: OverflowTarget::Queue { queue: q2 }
        }]
    );
    assert_eq!(acd.waiting_count(&q), 2);
}

#[test]
fn overflow_when_no_agent_logged_in_on_enqueue_and_logout() {
    let flow = OverflowTarget::Flow {
        flow: uuid::Uuid::now_v7(),
    };
    let (mut acd, q) = with_overflow(OverflowRule {
        when: OverflowCondition::NoAgentLoggedIn,
        target: flow,
    });
    let (c1, out) = enqueue(&mut acd, t(0), q, 0);
    assert_eq!(
        out.decisions,
        vec![Decision::Overflow {
            call: c1,
            queue: q,
            target: flow
        }]
    );
    let a = login(&mut acd, t(1), &[q], &[]);
    acd.handle(
        t(2),
        Event::AgentNotReady {
            agent: a,
            reason: ReasonCode::new("break"),
        },
    )
    .unwrap();
    let (c2, out) = enqueue(&mut acd, t(3), q, 0);
    assert!(
        out.decisions.is_empty(),
        "logged in though not ready: waits"
    );
    let out = acd.handle(t(4), Event::AgentLogout { agent: a }).unwrap();
    assert!(out.decisions.contains(&Decision::Overflow {
        call: c2,
        queue: q,
        target: flow
    }));
}

#[test]
fn overflow_to_callback_keeps_place() {
    let (mut acd, q) = with_overflow(OverflowRule {
        when: OverflowCondition::WaitedAtLeast {
            wait: TimeDelta::seconds(30),
        },
        target: OverflowTarget::Callback,
    });
    let (c1, _) = enqueue(&mut acd, t(0), q, 0);
    let out = acd.tick(t(30));
    assert!(out.decisions.contains(&Decision::Overflow {
        call: c1,
        queue: q,
        target: OverflowTarget::Callback
    }));
    let (_c2, _) = enqueue(&mut acd, t(31), q, 0);
    let a = login(&mut acd, t(40), &[q], &[]);
    assert!(
        matches!(acd.agent(&a).unwrap().state, AgentState::Reserved { call, .. } if call == c1)
    );
}

#[test]
fn max_wait_removes_the_call() {
    let (mut acd, q) = acd_with(Strategy::LongestIdle);
    let mut cfg = acd.queue(&q).unwrap().config.clone();
    cfg.max_wait = Some(TimeDelta::seconds(120));
    acd.upsert_queue(cfg);
    let (c, _) = enqueue(&mut acd, t(0), q, 0);
    assert!(acd.tick(t(119)).decisions.is_empty());
    assert_eq!(
        acd.tick(t(120)).decisions,
        vec![Decision::MaxWaitReached { call: c, queue: q }]
    );
    assert_eq!(acd.waiting_count(&q), 0);
}

#[test]
fn callback_in_queue_keeps_place_and_is_due_when_agent_free() {
    let (mut acd, q) = acd_with(Strategy::LongestIdle);
    let a = login(&mut acd, t(0), &[q], &[]);
    let (busy, _) = enqueue(&mut acd, t(0), q, 0);
    acd.handle(
        t(1),
        Event::OfferAnswered {
            call: busy,
            agent: a,
        },
    )
    .unwrap();
    let (c1, _) = enqueue(&mut acd, t(2), q, 0);
    let (c2, _) = enqueue(&mut acd, t(3), q, 0);
    acd.handle(t(4), Event::ConvertToCallback { call: c1 })
        .unwrap();
    assert_eq!(acd.position_and_ewt(&c1).unwrap().0, 1);
    assert_eq!(acd.position_and_ewt(&c2).unwrap().0, 2);
    // The callback is exempt from max wait/overflow while it waits.
    acd.handle(t(100), Event::CallEnded { call: busy }).unwrap();
    let out = acd
        .handle(
            t(101),
            Event::WrapUpDone {
                agent: a,
                disposition_given: false,
            },
        )
        .unwrap();
    assert_eq!(
        out.decisions,
        vec![Decision::CallbackDue {
            call: c1,
            agent: a,
            queue: q,
            deadline: t(116)
        }]
    );
}

#[test]
fn a_callback_enqueued_again_goes_to_the_end_and_keeps_its_request_time() {
    let (mut acd, q) = acd_with(Strategy::LongestIdle);
    let (waiting, _) = enqueue(&mut acd, t(10), q, 0);
    let back = CallId::new();
    let out = acd
        .handle(
            t(20),
            Event::CallbackEnqueued {
                call: back,
                queue: q,
                priority: 0,
                requested_at: t(0),
            },
        )
        .unwrap();
    assert!(out.decisions.is_empty(), "{out:?}");
    let e = acd.entry(&back).unwrap();
    assert_eq!((e.kind, e.enqueued_at), (EntryKind::Callback, t(0)));
    // Behind the caller already in line, however old the request; a
    // higher priority still goes first.
    assert_eq!(acd.position_and_ewt(&waiting).unwrap().0, 1);
    assert_eq!(acd.position_and_ewt(&back).unwrap().0, 2);
    let urgent = CallId::new();
    acd.handle(
        t(21),
        Event::CallbackEnqueued {
            call: urgent,
            queue: q,
            priority: 5,
            requested_at: t(21),
        },
    )
    .unwrap();
    assert_eq!(acd.position_and_ewt(&urgent).unwrap().0, 1);
    // The first free agent takes the caller on the line; the next, the
    // callback (rung first, the customer dialled after).
    let a = login(&mut acd, t(30), &[q], &[]);
    let b = login(&mut acd, t(31), &[q], &[]);
    let mut rung: Vec<(CallId, AgentId)> = acd
        .snapshot()
        .entries
        .iter()
        .flat_map(|e| e.offered_to.iter().map(move |a| (e.call, *a)))
        .collect();
    rung.sort_by_key(|(c, _)| *c == waiting);
    assert_eq!(rung, [(urgent, a), (waiting, b)], "the back callback waits");
    // A duplicate or an unknown queue is refused and changes nothing.
    let dup = Event::CallbackEnqueued {
        call: back,
        queue: q,
        priority: 0,
        requested_at: t(0),
    };
    assert!(matches!(
        acd.handle(t(40), dup),
        Err(AcdError::DuplicateCall(_))
    ));
    let unknown = Event::CallbackEnqueued {
        call: CallId::new(),
        queue: QueueId::new(),
        priority: 0,
        requested_at: t(0),
    };
    assert!(matches!(
        acd.handle(t(40), unknown),
        Err(AcdError::UnknownQueue(_))
    ));
}

#[test]
fn ewt_and_position_from_measured_handle_times() {
    let (mut acd, q) = acd_with(Strategy::LongestIdle);
    let mut cfg = acd.queue(&q).unwrap().config.clone();
    cfg.announce_every = Some(TimeDelta::seconds(30));
    cfg.wrap_up = WrapUpPolicy {
        duration: TimeDelta::zero(),
        disposition_required: false,
    };
    acd.upsert_queue(cfg);
    let a = login(&mut acd, t(0), &[q], &[]);
    // One measured call of 100 s sets the EWMA to 100 s.
    let (c0, _) = enqueue(&mut acd, t(0), q, 0);
    acd.handle(t(0), Event::OfferAnswered { call: c0, agent: a })
        .unwrap();
    let (c1, out) = enqueue(&mut acd, t(10), q, 0);
    assert_eq!(
        out.decisions,
        vec![Decision::Announce {
            call: c1,
            queue: q,
            position: 1,
            ewt: Some(TimeDelta::seconds(180)),
        }],
        "before any measurement the initial handle time is used"
    );
    acd.handle(t(100), Event::CallEnded { call: c0 }).unwrap();
    // c1 went to a; the next callers queue behind a's new call.
    let (c2, out) = enqueue(&mut acd, t(101), q, 0);
    assert!(out.decisions.contains(&Decision::Announce {
        call: c2,
        queue: q,
        position: 1,
        ewt: Some(TimeDelta::seconds(100)),
    }));
    let (c3, out) = enqueue(&mut acd, t(102), q, 0);
    assert!(out.decisions.contains(&Decision::Announce {
        call: c3,
        queue: q,
        position: 2,
        ewt: Some(TimeDelta::seconds(200)),
    }));
    // Periodic re-announcement only when due.
    let out = acd.tick(t(120));
    assert!(
        out.decisions
            .iter()
            .all(|d| !matches!(d, Decision::Announce { .. }))
    );
    let out = acd.tick(t(132));
    let announced: Vec<CallId> = out
        .decisions
        .iter()
        .filter_map(|d| match d {
            Decision::Announce { call, .. } => Some(*call),
            _ => None,
        })
        .collect();
    assert_eq!(announced, vec![c2, c3]);
}

#[test]
fn abandon_while_ringing_cancels_without_a_miss() {
    let (mut acd, q) = acd_with(Strategy::LongestIdle);
    let a = login(&mut acd, t(0), &[q], &[]);
    let (c1, _) = enqueue(&mut acd, t(1), q, 0);
    let (c2, _) = enqueue(&mut acd, t(2), q, 0);
    let out = acd.handle(t(3), Event::CallAbandoned { call: c1 }).unwrap();
    assert_eq!(
        out.decisions[0],
        Decision::CancelOffer { call: c1, agent: a }
    );
    assert_eq!(offers(&out), vec![(c2, a)]);
    assert_eq!(acd.agent(&a).unwrap().missed_in_row, 0);
    assert!(acd.entry(&c1).is_none());
}

/// An agent logged in to queue `q` and to a campaign.
fn blended(acd: &mut Acd, now: Time, q: QueueId) -> AgentId {
    let a = AgentId::new();
    acd.handle(
        now,
        Event::AgentLogin {
            agent: a,
            skills: SkillSet::new(),
            queues: vec![q],
            campaigns: vec![crate::types::CampaignRef(uuid::Uuid::now_v7())],
        },
    )
    .unwrap();
    a
}

#[test]
fn an_agent_the_dialer_holds_is_offered_no_inbound_call_until_released() {
    let (mut acd, q) = acd_with(Strategy::LongestIdle);
    let a = blended(&mut acd, t(0), q);
    acd.handle(t(1), Event::DialerHold { agent: a }).unwrap();
    assert!(!acd.may_dialer_take(&a), "one line at a time");
    assert_eq!(
        acd.handle(t(1), Event::DialerHold { agent: a }),
        Err(AcdError::NotTakeable(a))
    );
    // A call arriving meanwhile waits rather than ringing the held agent.
    let (call, out) = enqueue(&mut acd, t(2), q, 0);
    assert!(offers(&out).is_empty(), "{out:?}");
    // The line ends without them: the waiting call is offered at once.
    let out = acd.handle(t(3), Event::DialerRelease { agent: a }).unwrap();
    assert_eq!(offers(&out), [(call, a)]);
    // An agent ringing for an inbound call cannot be held.
    assert_eq!(
        acd.handle(t(4), Event::DialerHold { agent: a }),
        Err(AcdError::NotTakeable(a))
    );
    // The snapshot keeps the holds (a queue removed rebuilds from it).
    let b = blended(&mut acd, t(5), q);
    acd.handle(t(6), Event::DialerHold { agent: b }).unwrap();
    let rebuilt = Acd::rebuild(acd.snapshot()).unwrap();
    assert!(!rebuilt.may_dialer_take(&b));
    // Connected by the dialer: the hold is over with the line.
    acd.handle(
        t(7),
        Event::OutboundConnected {
            agent: b,
            call: CallId::new(),
        },
    )
    .unwrap();
    assert_eq!(acd.snapshot().dialer_holds, Vec::<AgentId>::new());
}

#[test]
fn blending_query_respects_inbound_first() {
    let (mut acd, q) = acd_with(Strategy::LongestIdle);
    let a = AgentId::new();
    acd.handle(
        t(0),
        Event::AgentLogin {
            agent: a,
            skills: SkillSet::new(),
            queues: vec![q],
            campaigns: vec![crate::types::CampaignRef(uuid::Uuid::now_v7())],
        },
    )
    .unwrap();
    assert!(acd.may_dialer_take(&a));
    let inbound_only = login(&mut acd, t(0), &[q], &[]);
    assert!(!acd.may_dialer_take(&inbound_only), "no campaign");
    let mut rules = TenantRules::default();
    rules.blend.keep_available_per_queue = 2;
    acd.set_rules(rules);
    assert!(!acd.may_dialer_take(&a), "would leave one available");
    rules.blend.keep_available_per_queue = 1;
    acd.set_rules(rules);
    assert!(acd.may_dialer_take(&a));
    // A waiting call (both agents busy) blocks the dialer.
    enqueue(&mut acd, t(1), q, 0);
    enqueue(&mut acd, t(1), q, 0);
    enqueue(&mut acd, t(1), q, 0);
    assert!(!acd.may_dialer_take(&a));
    // Outbound connection and its wrap-up with a required disposition.
    let (mut acd2, q2) = acd_with(Strategy::LongestIdle);
    let b = AgentId::new();
    acd2.handle(
        t(0),
        Event::AgentLogin {
            agent: b,
            skills: SkillSet::new(),
            queues: vec![q2],
            campaigns: vec![crate::types::CampaignRef(uuid::Uuid::now_v7())],
        },
    )
    .unwrap();
    let out_call = CallId::new();
    acd2.handle(
        t(1),
        Event::OutboundConnected {
            agent: b,
            call: out_call,
        },
    )
    .unwrap();
    assert!(!acd2.may_dialer_take(&b));
    acd2.handle(t(9), Event::CallEnded { call: out_call })
        .unwrap();
    assert!(
        acd2.tick(t(1000)).transitions.is_empty(),
        "disposition required"
    );
    assert!(matches!(
        acd2.handle(
            t(1001),
            Event::WrapUpDone {
                agent: b,
                disposition_given: false
            }
        ),
        Err(AcdError::Agent(AgentError::DispositionRequired { .. }))
    ));
}

#[test]
fn bad_inputs_are_typed_errors() {
    let (mut acd, q) = acd_with(Strategy::LongestIdle);
    let a = login(&mut acd, t(0), &[q], &[]);
    let (c, _) = enqueue(&mut acd, t(1), q, 0);
    let bogus = QueueId::new();
    assert_eq!(
        acd.handle(
            t(2),
            Event::CallEnqueued {
                call: CallId::new(),
                queue: bogus,
                priority: 0
            }
        ),
        Err(AcdError::UnknownQueue(bogus))
    );
    assert_eq!(
        acd.handle(
            t(2),
            Event::CallEnqueued {
                call: c,
                queue: q,
                priority: 0
            }
        ),
        Err(AcdError::DuplicateCall(c))
    );
    let other = CallId::new();
    assert_eq!(
        acd.handle(
            t(2),
            Event::OfferAnswered {
                call: other,
                agent: a
            }
        ),
        Err(AcdError::NotOffered {
            call: other,
            agent: a
        })
    );
    assert!(matches!(
        acd.handle(t(2), Event::AgentLogout { agent: a }),
        Err(AcdError::Agent(AgentError::InvalidTransition { .. }))
    ));
    assert!(matches!(
        acd.handle(
            t(2),
            Event::AgentLogin {
                agent: a,
                skills: SkillSet::new(),
                queues: vec![q],
                campaigns: vec![]
            }
        ),
        Err(AcdError::Agent(AgentError::InvalidTransition { .. }))
    ));
    assert_eq!(
        acd.handle(t(2), Event::CallEnded { call: other }),
        Err(AcdError::UnknownCall(other))
    );
}

/// A busy state: agents in every state, waiting, ringing and callback
/// entries, measured handle times, round-robin position.
fn busy_acd() -> (Acd, QueueId, QueueId) {
    let mut acd = Acd::new(TenantId::new(), TenantRules::default());
    let q1 = QueueId::new();
    let q2 = QueueId::new();
    let mut c1 = QueueConfig::new(q1);
    c1.strategy = Strategy::RoundRobin;
    c1.announce_every = Some(TimeDelta::seconds(20));
    c1.overflow = vec![OverflowRule {
        when: OverflowCondition::WaitedAtLeast {
            wait: TimeDelta::seconds(300),
        },
        target: OverflowTarget::Callback,
    }];
    acd.upsert_queue(c1);
    let mut c2 = QueueConfig::new(q2);
    c2.required_skills = vec![SkillRequirement::new("es", Level::new(2).unwrap())];
    acd.upsert_queue(c2);
    let a = login(&mut acd, t(0), &[q1, q2], &[("es", 3)]);
    let b = login(&mut acd, t(1), &[q1], &[]);
    let c = login(&mut acd, t(2), &[q2], &[("es", 9)]);
    let d = login(&mut acd, t(3), &[q1], &[]);
    acd.handle(
        t(4),
        Event::AgentNotReady {
            agent: d,
            reason: ReasonCode::new("training"),
        },
    )
    .unwrap();
    let (x, _) = enqueue(&mut acd, t(5), q1, 0);
    serve(&mut acd, t(50), x, a);
    for i in 0..6 {
        enqueue(
            &mut acd,
            t(60 + i),
            if i % 2 == 0 { q1 } else { q2 },
            i as i32 % 3,
        );
    }
    // Answer whatever rings at b; c keeps ringing.
    if let AgentState::Reserved { call, .. } = acd.agent(&b).unwrap().state {
        acd.handle(t(70), Event::OfferAnswered { call, agent: b })
            .unwrap();
    }
    let waiting: Vec<CallId> = acd.queue(&q1).unwrap().waiting.values().copied().collect();
    if let Some(w) = waiting.first() {
        acd.handle(t(71), Event::ConvertToCallback { call: *w })
            .unwrap();
    }
    let _ = c;
    (acd, q1, q2)
}

#[test]
fn rebuild_equals_the_state_before() {
    let (acd, q1, q2) = busy_acd();
    let snap = acd.snapshot();
    assert!(!snap.entries.is_empty());
    // Through JSON, as the store would keep it.
    let json = serde_json::to_string(&snap).unwrap();
    let restored: Snapshot = serde_json::from_str(&json).unwrap();
    let mut rebuilt = Acd::rebuild(restored).unwrap();
    assert_eq!(rebuilt.snapshot(), snap);
    for q in [q1, q2] {
        assert_eq!(rebuilt.staffed(&q), acd.staffed(&q));
        assert_eq!(rebuilt.waiting_count(&q), acd.waiting_count(&q));
    }
    // Both behave identically from here on.
    let mut original = acd;
    for s in [80, 90, 200, 400] {
        assert_eq!(original.tick(t(s)), rebuilt.tick(t(s)));
    }
    let call = CallId::new();
    let ev = Event::CallEnqueued {
        call,
        queue: q1,
        priority: 7,
    };
    assert_eq!(
        original.handle(t(401), ev.clone()),
        rebuilt.handle(t(401), ev)
    );
    assert_eq!(original.snapshot(), rebuilt.snapshot());
}

#[test]
fn rebuild_rejects_inconsistent_snapshots() {
    let (acd, _, _) = busy_acd();
    let mut snap = acd.snapshot();
    let ringing = snap
        .entries
        .iter_mut()
        .find(|e| !e.offered_to.is_empty())
        .unwrap();
    ringing.offered_to.clear();
    assert!(matches!(Acd::rebuild(snap), Err(AcdError::BadSnapshot(_))));
    let mut snap = acd.snapshot();
    snap.queues.remove(0);
    assert!(matches!(Acd::rebuild(snap), Err(AcdError::UnknownQueue(_))));
}
