//! Callback in queue: a caller whose queue overflows to a callback keeps
//! their place in the ACD and is let go with a spoken confirmation; when
//! the entry reaches an agent (`Decision::CallbackDue`), Omnivox rings the
//! agent first and then dials the customer back from the DID they called.
//!
//! The ACD sees the agent's leg as the offer: answered is
//! `OfferAnswered` (the agent is on the call; the customer is dialled
//! next), a phone that fails or rings out is `OfferRejected` /
//! `OfferTimedOut` and the entry, still in its place, goes to the next
//! agent. The end of an answered callback is `CallEnded` (wrap-up).
//! Waiting callbacks live in memory: a restart loses them (README).

use super::tts::Tts;
use crate::state::AppState;
use omnivox_acd::Event;
use omnivox_domain::call::{HangupCause, LegId, LegState};
use omnivox_domain::ids::CallId;
use omnivox_domain::{TenantId, UserId};
use omnivox_sip::{CallCommand, CallUpdate, Endpoint, Originate};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// What the released caller hears before Omnivox hangs up.
const CONFIRMATION: &str =
    "Thank you. Please hang up: we will call you back as soon as an agent is free.";

/// A caller waiting to be called back: their number and the DID they
/// called (the caller ID of the callback).
struct Waiting {
    tenant: TenantId,
    number: String,
    caller_id: Option<String>,
}

/// A callback being placed: the agent's leg rings first.
struct Dialing {
    tenant: TenantId,
    entry: CallId,
    agent: UserId,
    answered: bool,
}

#[derive(Default)]
pub(super) struct Callbacks {
    /// By the ACD entry (the caller's original call).
    waiting: HashMap<Uuid, Waiting>,
    /// By the callback's own call.
    dialing: HashMap<Uuid, Dialing>,
}

impl Callbacks {
    /// The queue turned the caller's entry into a callback: keep their
    /// number, confirm, hang up. A caller without a number to dial back
    /// is let go and the entry dropped.
    pub(super) async fn release(
        &mut self,
        state: &AppState,
        tts: Arc<dyn Tts>,
        tenant: TenantId,
        call: CallId,
        number: String,
        caller_id: Option<String>,
    ) {
        if omnivox_contacts::country_of(&number).is_none() {
            tracing::info!(call_id = %call.0, "no number to call back: the callback is dropped");
            let _ = state
                .agents
                .apply(state, tenant, Event::CallEnded { call }, None, None)
                .await;
            super::command(state, tenant, call.0, CallCommand::Hangup).await;
            return;
        }
        self.waiting.insert(
            call.0,
            Waiting {
                tenant,
                number,
                caller_id,
            },
        );
        tokio::spawn(confirm_and_hang_up(state.clone(), tts, tenant, call.0));
    }

    /// The entry reached `agent`: ring them, then dial the customer. The
    /// entry stays waiting until the agent answers.
    pub(super) async fn due(
        &mut self,
        state: &AppState,
        entry: CallId,
        agent: UserId,
        ring_timeout_secs: u32,
    ) {
        let Some(w) = self.waiting.get(&entry.0) else {
            tracing::error!(call_id = %entry.0, "a callback the controller does not know");
            return;
        };
        let Some(sip) = &state.sip else { return };
        let tenant = w.tenant;
        let placed = sip
            .calls()
            .originate(Originate {
                tenant_id: tenant,
                first: Endpoint::Agent { agent_id: agent },
                second: Some(Endpoint::Number {
                    number: w.number.clone(),
                }),
                caller_id: w.caller_id.clone(),
                ring_timeout_secs: Some(ring_timeout_secs),
                amd: None,
            })
            .await;
        match placed {
            Ok(call) => {
                self.dialing.insert(
                    call.id,
                    Dialing {
                        tenant,
                        entry,
                        agent,
                        answered: false,
                    },
                );
            }
            Err(e) => {
                tracing::info!(call_id = %entry.0, agent_id = %agent.0, error = %e,
                    "callback not placed");
                let rejected = Event::OfferRejected { call: entry, agent };
                let _ = state
                    .agents
                    .apply(state, tenant, rejected, None, None)
                    .await;
            }
        }
    }

    /// The ACD withdrew the callback from `agent`: the ringing call goes.
    /// True when `entry` was a callback.
    pub(super) async fn withdraw(&mut self, state: &AppState, entry: CallId) -> bool {
        let Some((&call, d)) = self
            .dialing
            .iter()
            .find(|(_, d)| d.entry == entry && !d.answered)
        else {
            return self.waiting.contains_key(&entry.0);
        };
        super::command(state, d.tenant, call, CallCommand::Hangup).await;
        true
    }

    /// A callback call's progress goes to the ACD.
    pub(super) async fn on_update(&mut self, state: &AppState, u: &CallUpdate) {
        let Some(d) = self.dialing.get_mut(&u.call.id) else {
            return;
        };
        let (tenant, entry, agent) = (d.tenant, d.entry, d.agent);
        let agent_answered = u
            .legs
            .iter()
            .any(|c| c.leg == LegId::A && c.to == LegState::Answered);
        if agent_answered && !d.answered {
            d.answered = true;
            self.waiting.remove(&entry.0);
            let answered = Event::OfferAnswered { call: entry, agent };
            if let Err(e) = state
                .agents
                .apply(state, tenant, answered, None, None)
                .await
            {
                tracing::warn!(call_id = %entry.0, error = %e, "callback answered after the ACD withdrew it");
            }
        }
        if !u.to.is_ended() {
            return;
        }
        let Some(d) = self.dialing.remove(&u.call.id) else {
            return;
        };
        let event = if d.answered {
            Event::CallEnded { call: entry }
        } else {
            let cause = u.legs.iter().rev().find_map(|c| match c.to {
                LegState::Ended(h) if c.leg == LegId::A => Some(h.cause),
                _ => None,
            });
            match cause {
                Some(HangupCause::NoAnswer | HangupCause::Cancelled) => {
                    Event::OfferTimedOut { call: entry, agent }
                }
                _ => Event::OfferRejected { call: entry, agent },
            }
        };
        if let Err(e) = state.agents.apply(state, tenant, event, None, None).await {
            tracing::debug!(call_id = %entry.0, error = %e, "callback end not applied");
        }
    }
}

/// Speaks the confirmation to the released caller, then hangs up (at once
/// if it cannot be spoken).
async fn confirm_and_hang_up(state: AppState, tts: Arc<dyn Tts>, tenant: TenantId, call: Uuid) {
    match tts.synthesize(CONFIRMATION, None).await {
        Ok(prompt) => {
            let length = prompt.duration();
            let play = CallCommand::Play {
                prompt,
                tag: 1,
                barge_in: false,
            };
            if super::command(&state, tenant, call, play).await {
                tokio::time::sleep(length + Duration::from_millis(300)).await;
            }
        }
        Err(e) => tracing::warn!(call_id = %call, error = %e, "callback confirmation not spoken"),
    }
    super::command(&state, tenant, call, CallCommand::Hangup).await;
}
