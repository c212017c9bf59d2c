//! The agent state machine.
//!
//! Pure: the caller passes `now`, every accepted input returns the
//! [`Transition`] it caused (for history, reports and adherence), and an input
//! that makes no sense in the current state is a typed [`AgentError`] and
//! changes nothing.

use chrono::TimeDelta;
use omnivox_domain::ids::{CallId, QueueId, UserId};
use serde::{Deserialize, Serialize};

use crate::types::{CampaignRef, ReasonCode, SkillSet, Time};

/// An agent is a user with the agent role.
pub type AgentId = UserId;

/// Where an agent is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AgentState {
    LoggedOut,
    Available,
    /// An offer is ringing at the agent until `deadline`. `queue` is `None`
    /// for an outbound line reserved by the dialer.
    Reserved {
        call: CallId,
        queue: Option<QueueId>,
        deadline: Time,
    },
    OnCall {
        call: CallId,
        queue: Option<QueueId>,
    },
    /// After a call. Without a required disposition the agent is back to
    /// available at `until`; with one, only a submitted disposition ends it.
    WrapUp {
        call: CallId,
        until: Time,
        disposition_required: bool,
    },
    NotReady {
        reason: ReasonCode,
    },
}

impl AgentState {
    pub fn kind(&self) -> StateKind {
        match self {
            AgentState::LoggedOut => StateKind::LoggedOut,
            AgentState::Available => StateKind::Available,
            AgentState::Reserved { .. } => StateKind::Reserved,
            AgentState::OnCall { .. } => StateKind::OnCall,
            AgentState::WrapUp { .. } => StateKind::WrapUp,
            AgentState::NotReady { .. } => StateKind::NotReady,
        }
    }
}

/// The state without its data, for errors and quick checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateKind {
    LoggedOut,
    Available,
    Reserved,
    OnCall,
    WrapUp,
    NotReady,
}

/// One timestamped state change, returned for the history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub agent: AgentId,
    pub at: Time,
    pub from: AgentState,
    pub to: AgentState,
}

/// An input the agent's current state does not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    #[error("agent {agent}: `{input}` is not valid in state {from:?}")]
    InvalidTransition {
        agent: AgentId,
        from: StateKind,
        input: &'static str,
    },
    #[error("agent {agent}: call {got} is not the agent's current call")]
    WrongCall { agent: AgentId, got: CallId },
    #[error("agent {agent}: wrap-up needs a disposition")]
    DispositionRequired { agent: AgentId },
}

/// How a call's wrap-up goes, from the queue (or campaign) it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrapUpPolicy {
    pub duration: TimeDelta,
    pub disposition_required: bool,
}

/// An agent as the ACD sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    pub id: AgentId,
    pub state: AgentState,
    pub skills: SkillSet,
    pub queues: Vec<QueueId>,
    pub campaigns: Vec<CampaignRef>,
    /// Since when the agent has been available (longest-idle strategy).
    pub idle_since: Time,
    /// Answered calls since the last daily reset (fewest-calls strategy).
    pub calls_today: u32,
    /// Offers not answered or rejected in a row; reset by an answer.
    pub missed_in_row: u32,
    /// When the current call was answered, to measure handle time.
    pub handle_started: Option<Time>,
    /// The queue the current call came from (`None` for outbound).
    pub handle_queue: Option<QueueId>,
    /// The agent's own limit of missed offers in a row (their profile's);
    /// `None`: the tenant's ([`crate::TenantRules::max_missed_offers`]).
    #[serde(default)]
    pub max_missed_offers: Option<u32>,
}

impl Agent {
    pub fn new(id: AgentId, now: Time) -> Self {
        Self {
            id,
            state: AgentState::LoggedOut,
            skills: SkillSet::new(),
            queues: Vec::new(),
            campaigns: Vec::new(),
            idle_since: now,
            calls_today: 0,
            missed_in_row: 0,
            handle_started: None,
            handle_queue: None,
            max_missed_offers: None,
        }
    }

    fn invalid(&self, input: &'static str) -> AgentError {
        AgentError::InvalidTransition {
            agent: self.id,
            from: self.state.kind(),
            input,
        }
    }

    fn go(&mut self, now: Time, to: AgentState) -> Transition {
        if to == AgentState::Available {
            self.idle_since = now;
        }
        let from = std::mem::replace(&mut self.state, to.clone());
        Transition {
            agent: self.id,
            at: now,
            from,
            to,
        }
    }

    /// Log in (to the queues and campaigns set on the agent) as available.
    pub fn login(&mut self, now: Time) -> Result<Transition, AgentError> {
        match self.state {
            AgentState::LoggedOut => {
                self.missed_in_row = 0;
                Ok(self.go(now, AgentState::Available))
            }
            _ => Err(self.invalid("login")),
        }
    }

    /// Log out; not while an offer rings or a call is up.
    pub fn logout(&mut self, now: Time) -> Result<Transition, AgentError> {
        match self.state {
            AgentState::Available | AgentState::NotReady { .. } | AgentState::WrapUp { .. } => {
                Ok(self.go(now, AgentState::LoggedOut))
            }
            _ => Err(self.invalid("logout")),
        }
    }

    /// Go not ready with a reason, from available, not ready or wrap-up
    /// (a disposition still required blocks leaving wrap-up).
    pub fn not_ready(&mut self, now: Time, reason: ReasonCode) -> Result<Transition, AgentError> {
        match &self.state {
            AgentState::Available | AgentState::NotReady { .. } => {
                Ok(self.go(now, AgentState::NotReady { reason }))
            }
            AgentState::WrapUp {
                disposition_required: true,
                ..
            } => Err(AgentError::DispositionRequired { agent: self.id }),
            AgentState::WrapUp { .. } => Ok(self.go(now, AgentState::NotReady { reason })),
            _ => Err(self.invalid("not_ready")),
        }
    }

    /// Back to available from not ready.
    pub fn ready(&mut self, now: Time) -> Result<Transition, AgentError> {
        match self.state {
            AgentState::NotReady { .. } => {
                self.missed_in_row = 0;
                Ok(self.go(now, AgentState::Available))
            }
            _ => Err(self.invalid("ready")),
        }
    }

    /// Ring an offer at the agent until `deadline`.
    pub fn reserve(
        &mut self,
        now: Time,
        call: CallId,
        queue: Option<QueueId>,
        deadline: Time,
    ) -> Result<Transition, AgentError> {
        match self.state {
            AgentState::Available => Ok(self.go(
                now,
                AgentState::Reserved {
                    call,
                    queue,
                    deadline,
                },
            )),
            _ => Err(self.invalid("reserve")),
        }
    }

    fn check_reserved(
        &self,
        call: CallId,
        input: &'static str,
    ) -> Result<Option<QueueId>, AgentError> {
        match &self.state {
            AgentState::Reserved { call: c, queue, .. } if *c == call => Ok(*queue),
            AgentState::Reserved { .. } => Err(AgentError::WrongCall {
                agent: self.id,
                got: call,
            }),
            _ => Err(self.invalid(input)),
        }
    }

    /// The agent answered the offer.
    pub fn answer(&mut self, now: Time, call: CallId) -> Result<Transition, AgentError> {
        let queue = self.check_reserved(call, "answer")?;
        self.missed_in_row = 0;
        self.calls_today = self.calls_today.saturating_add(1);
        self.handle_started = Some(now);
        self.handle_queue = queue;
        Ok(self.go(now, AgentState::OnCall { call, queue }))
    }

    /// The offer was not answered or was rejected: it counts as missed, and
    /// `max_in_row` misses in a row put the agent in not ready
    /// (`missed_offers`). `max_in_row == 0` disables that rule.
    pub fn miss(
        &mut self,
        now: Time,
        call: CallId,
        max_in_row: u32,
    ) -> Result<Transition, AgentError> {
        self.check_reserved(call, "miss")?;
        self.missed_in_row = self.missed_in_row.saturating_add(1);
        if max_in_row > 0 && self.missed_in_row >= max_in_row {
            Ok(self.go(
                now,
                AgentState::NotReady {
                    reason: ReasonCode::missed_offers(),
                },
            ))
        } else {
            // Keep the idle time from before the offer: a miss is not work.
            let idle = self.idle_since;
            let t = self.go(now, AgentState::Available);
            self.idle_since = idle;
            Ok(t)
        }
    }

    /// The offer was withdrawn (the caller hung up, or another agent answered
    /// a ring-all offer): not the agent's fault, so no miss is counted.
    pub fn withdraw(&mut self, now: Time, call: CallId) -> Result<Transition, AgentError> {
        self.check_reserved(call, "withdraw")?;
        let idle = self.idle_since;
        let t = self.go(now, AgentState::Available);
        self.idle_since = idle;
        Ok(t)
    }

    /// An outbound call from the dialer connected to this available agent.
    pub fn connect_outbound(&mut self, now: Time, call: CallId) -> Result<Transition, AgentError> {
        match self.state {
            AgentState::Available => {
                self.calls_today = self.calls_today.saturating_add(1);
                self.handle_started = Some(now);
                self.handle_queue = None;
                Ok(self.go(now, AgentState::OnCall { call, queue: None }))
            }
            _ => Err(self.invalid("connect_outbound")),
        }
    }

    /// The call ended: into wrap-up, or straight to available when the
    /// policy has no wrap-up time and no disposition.
    pub fn end_call(
        &mut self,
        now: Time,
        call: CallId,
        wrap: WrapUpPolicy,
    ) -> Result<Transition, AgentError> {
        match &self.state {
            AgentState::OnCall { call: c, .. } if *c == call => {}
            AgentState::OnCall { .. } => {
                return Err(AgentError::WrongCall {
                    agent: self.id,
                    got: call,
                });
            }
            _ => return Err(self.invalid("end_call")),
        }
        if wrap.duration <= TimeDelta::zero() && !wrap.disposition_required {
            return Ok(self.go(now, AgentState::Available));
        }
        Ok(self.go(
            now,
            AgentState::WrapUp {
                call,
                until: now + wrap.duration,
                disposition_required: wrap.disposition_required,
            },
        ))
    }

    /// The agent finished wrap-up (with or without a disposition).
    pub fn finish_wrap_up(
        &mut self,
        now: Time,
        disposition_given: bool,
    ) -> Result<Transition, AgentError> {
        match self.state {
            AgentState::WrapUp {
                disposition_required,
                ..
            } => {
                if disposition_required && !disposition_given {
                    return Err(AgentError::DispositionRequired { agent: self.id });
                }
                Ok(self.go(now, AgentState::Available))
            }
            _ => Err(self.invalid("finish_wrap_up")),
        }
    }

    /// Timers: a wrap-up without a required disposition ends at its time.
    pub fn tick(&mut self, now: Time) -> Option<Transition> {
        match self.state {
            AgentState::WrapUp {
                until,
                disposition_required: false,
                ..
            } if now >= until => Some(self.go(now, AgentState::Available)),
            _ => None,
        }
    }

    pub fn is_available(&self) -> bool {
        self.state == AgentState::Available
    }

    pub fn is_logged_in(&self) -> bool {
        self.state != AgentState::LoggedOut
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> Time {
        chrono::Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap()
    }

    fn agent() -> Agent {
        let mut a = Agent::new(AgentId::new(), t(0));
        a.login(t(0)).unwrap();
        a
    }

    #[test]
    fn full_call_cycle_is_timestamped() {
        let mut a = agent();
        let call = CallId::new();
        let q = QueueId::new();
        let r = a.reserve(t(10), call, Some(q), t(25)).unwrap();
        assert_eq!(r.at, t(10));
        assert_eq!(r.from, AgentState::Available);
        let on = a.answer(t(12), call).unwrap();
        assert_eq!(
            on.to,
            AgentState::OnCall {
                call,
                queue: Some(q)
            }
        );
        assert_eq!(a.calls_today, 1);
        let wrap = WrapUpPolicy {
            duration: TimeDelta::seconds(30),
            disposition_required: false,
        };
        let w = a.end_call(t(100), call, wrap).unwrap();
        assert_eq!(w.to.kind(), StateKind::WrapUp);
        assert!(a.tick(t(129)).is_none());
        let back = a.tick(t(130)).unwrap();
        assert_eq!(back.to, AgentState::Available);
        assert_eq!(back.at, t(130));
        assert_eq!(a.idle_since, t(130));
    }

    #[test]
    fn disposition_required_blocks_timer_and_finish() {
        let mut a = agent();
        let call = CallId::new();
        a.reserve(t(0), call, None, t(15)).unwrap();
        a.answer(t(1), call).unwrap();
        let wrap = WrapUpPolicy {
            duration: TimeDelta::seconds(5),
            disposition_required: true,
        };
        a.end_call(t(10), call, wrap).unwrap();
        assert!(a.tick(t(1000)).is_none());
        assert!(matches!(
            a.finish_wrap_up(t(1000), false),
            Err(AgentError::DispositionRequired { .. })
        ));
        assert!(matches!(
            a.not_ready(t(1000), ReasonCode::new("break")),
            Err(AgentError::DispositionRequired { .. })
        ));
        assert_eq!(
            a.finish_wrap_up(t(1001), true).unwrap().to,
            AgentState::Available
        );
    }

    #[test]
    fn zero_wrap_up_goes_straight_to_available() {
        let mut a = agent();
        let call = CallId::new();
        a.connect_outbound(t(0), call).unwrap();
        let wrap = WrapUpPolicy {
            duration: TimeDelta::zero(),
            disposition_required: false,
        };
        assert_eq!(
            a.end_call(t(5), call, wrap).unwrap().to,
            AgentState::Available
        );
    }

    #[test]
    fn invalid_transitions_are_typed_errors_and_change_nothing() {
        let mut a = Agent::new(AgentId::new(), t(0));
        let call = CallId::new();
        let err = a.reserve(t(1), call, None, t(2)).unwrap_err();
        assert_eq!(
            err,
            AgentError::InvalidTransition {
                agent: a.id,
                from: StateKind::LoggedOut,
                input: "reserve"
            }
        );
        assert_eq!(a.state, AgentState::LoggedOut);
        a.login(t(1)).unwrap();
        assert!(a.login(t(2)).is_err());
        a.reserve(t(3), call, None, t(10)).unwrap();
        assert!(a.logout(t(4)).is_err());
        assert!(matches!(
            a.answer(t(4), CallId::new()),
            Err(AgentError::WrongCall { .. })
        ));
        assert!(a.not_ready(t(4), ReasonCode::new("lunch")).is_err());
        assert_eq!(a.state.kind(), StateKind::Reserved);
    }

    #[test]
    fn missed_offers_in_a_row_go_not_ready() {
        let mut a = agent();
        for i in 0..2 {
            let c = CallId::new();
            a.reserve(t(i * 20), c, None, t(i * 20 + 15)).unwrap();
            assert_eq!(
                a.miss(t(i * 20 + 15), c, 3).unwrap().to,
                AgentState::Available
            );
        }
        // An answer resets the run.
        let c = CallId::new();
        a.reserve(t(100), c, None, t(115)).unwrap();
        a.answer(t(101), c).unwrap();
        assert_eq!(a.missed_in_row, 0);
        a.end_call(
            t(110),
            c,
            WrapUpPolicy {
                duration: TimeDelta::zero(),
                disposition_required: false,
            },
        )
        .unwrap();
        for i in 0..3 {
            let c = CallId::new();
            a.reserve(t(200 + i), c, None, t(300)).unwrap();
            let tr = a.miss(t(201 + i), c, 3).unwrap();
            if i < 2 {
                assert_eq!(tr.to, AgentState::Available);
            } else {
                assert_eq!(
                    tr.to,
                    AgentState::NotReady {
                        reason: ReasonCode::missed_offers()
                    }
                );
            }
        }
        assert_eq!(a.ready(t(400)).unwrap().to, AgentState::Available);
        assert_eq!(a.missed_in_row, 0);
    }

    #[test]
    fn withdraw_counts_no_miss_and_keeps_idle_time() {
        let mut a = agent();
        let c = CallId::new();
        a.reserve(t(50), c, None, t(65)).unwrap();
        a.withdraw(t(52), c).unwrap();
        assert_eq!(a.missed_in_row, 0);
        assert_eq!(a.idle_since, t(0));
    }

    #[test]
    fn not_ready_and_logout_paths() {
        let mut a = agent();
        let tr = a.not_ready(t(5), ReasonCode::new("lunch")).unwrap();
        assert_eq!(
            tr.to,
            AgentState::NotReady {
                reason: ReasonCode::new("lunch")
            }
        );
        assert!(a.reserve(t(6), CallId::new(), None, t(20)).is_err());
        assert_eq!(a.logout(t(7)).unwrap().to, AgentState::LoggedOut);
        assert!(a.ready(t(8)).is_err());
    }
}
