//! Callback in queue: a caller whose queue overflows to a callback, or who
//! presses 1 in a queue with `callback_in_queue`, keeps their place in the
//! ACD and is let go with a spoken confirmation; when the entry reaches an
//! agent (`Decision::CallbackDue`), Omnivox rings the agent first and then
//! dials the customer back from the DID they called.
//!
//! The ACD sees the agent's leg as the offer: answered is
//! `OfferAnswered` (the agent is on the call; the customer is dialled
//! next), a phone that fails or rings out is `OfferRejected` /
//! `OfferTimedOut` and the entry, still in its place, goes to the next
//! agent. The end of an answered callback is `CallEnded` (wrap-up).
//!
//! Callbacks are kept in the store (`queue_callbacks`) from the moment the
//! caller is let go: a restart puts the waiting ones back in line (see
//! `crate::agents`), and every answered attempt is counted there. A
//! customer who is not reached (no answer, busy, unreachable) is tried
//! again after `inbound.callback_retry_secs`, at the end of the line, until
//! `inbound.callback_attempts` calls were placed; then the callback has
//! `failed`. A supervisor may cancel a waiting one.

use super::tts::Tts;
use crate::state::AppState;
use omnivox_acd::Event;
use omnivox_domain::call::{HangupCause, LegId, LegState};
use omnivox_domain::ids::{CallId, QueueId};
use omnivox_domain::{TenantId, UserId};
use omnivox_sip::{CallCommand, CallUpdate, Endpoint, Originate};
use omnivox_store::queue_callbacks::{CallbackStatus, NewQueueCallback, QueueCallbackRow};
use omnivox_store::{Scoped, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// What the released caller hears before Omnivox hangs up.
const CONFIRMATION: &str =
    "Thank you. Please hang up: we will call you back as soon as an agent is free.";

/// A callback being placed: the agent's leg rings first, then the
/// customer's.
struct Dialing {
    tenant: TenantId,
    entry: CallId,
    agent: UserId,
    /// The agent answered (the ACD has them on the call).
    answered: bool,
    /// The customer answered.
    reached: bool,
}

#[derive(Default)]
pub(super) struct Callbacks {
    /// By the callback's own call.
    dialing: HashMap<Uuid, Dialing>,
}

impl Callbacks {
    /// The caller's entry became a callback: keep it in the store, confirm,
    /// hang up. A caller without a number to dial back, or whose callback
    /// cannot be stored, is let go and the entry dropped.
    pub(super) async fn release(
        &mut self,
        state: &AppState,
        tts: Arc<dyn Tts>,
        tenant: TenantId,
        call: CallId,
        number: String,
        caller_id: Option<String>,
    ) {
        let kept = if omnivox_contacts::country_of(&number).is_none() {
            tracing::info!(call_id = %call.0, "no number to call back: the callback is dropped");
            false
        } else {
            keep(state, tenant, call, number, caller_id).await
        };
        if !kept {
            drop_entry(state, tenant, call).await;
            super::command(state, tenant, call.0, CallCommand::Hangup).await;
            return;
        }
        tokio::spawn(confirm_and_hang_up(state.clone(), tts, tenant, call.0));
    }

    /// The entry reached `agent`: ring them, then dial the customer. The
    /// entry stays waiting until the agent answers. A callback no longer
    /// waiting in the store (cancelled meanwhile) leaves the ACD instead.
    pub(super) async fn due(
        &mut self,
        state: &AppState,
        tenant: TenantId,
        entry: CallId,
        agent: UserId,
        ring_timeout_secs: u32,
    ) {
        let Some(sip) = &state.sip else { return };
        let row = match Scoped::new(state.store.reader(), tenant)
            .get_queue_callback(entry.0)
            .await
        {
            Ok(r) if r.callback_status().ok() == Some(CallbackStatus::Waiting) => r,
            other => {
                tracing::info!(call_id = %entry.0, row = ?other.map(|r| r.status),
                    "a due callback that is not waiting: dropped");
                drop_entry(state, tenant, entry).await;
                return;
            }
        };
        let placed = sip
            .calls()
            .originate(Originate {
                tenant_id: tenant,
                first: Endpoint::Agent { agent_id: agent },
                second: Some(Endpoint::Number { number: row.number }),
                caller_id: row.caller_id,
                ring_timeout_secs: Some(ring_timeout_secs),
                amd: None,
                trunk_id: None,
                recording: None,
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
                        reached: false,
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

    /// The ACD withdrew the callback from its agent: the ringing call goes.
    /// True when `entry` was a callback being placed.
    pub(super) async fn withdraw(&mut self, state: &AppState, entry: CallId) -> bool {
        let Some((&call, d)) = self
            .dialing
            .iter()
            .find(|(_, d)| d.entry == entry && !d.answered)
        else {
            return false;
        };
        super::command(state, d.tenant, call, CallCommand::Hangup).await;
        true
    }

    /// A callback call's progress goes to the ACD; its end, once the agent
    /// answered, is an attempt in the store.
    pub(super) async fn on_update(&mut self, state: &AppState, u: &CallUpdate) {
        let Some(d) = self.dialing.get_mut(&u.call.id) else {
            return;
        };
        let (tenant, entry, agent) = (d.tenant, d.entry, d.agent);
        let answered = |leg: LegId| {
            u.legs
                .iter()
                .any(|c| c.leg == leg && c.to == LegState::Answered)
        };
        d.reached |= answered(LegId::B);
        if answered(LegId::A) && !d.answered {
            d.answered = true;
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
        let ended = |leg: LegId| {
            u.legs.iter().rev().find_map(|c| match c.to {
                LegState::Ended(h) if c.leg == leg => Some(h.cause),
                _ => None,
            })
        };
        let event = if d.answered {
            Event::CallEnded { call: entry }
        } else {
            match ended(LegId::A) {
                Some(HangupCause::NoAnswer | HangupCause::Cancelled) => {
                    Event::OfferTimedOut { call: entry, agent }
                }
                _ => Event::OfferRejected { call: entry, agent },
            }
        };
        if let Err(e) = state.agents.apply(state, tenant, event, None, None).await {
            tracing::debug!(call_id = %entry.0, error = %e, "callback end not applied");
        }
        // After the ACD let the call go, so a retry may enter again.
        if d.answered {
            let cause = (!d.reached).then(|| ended(LegId::B)).flatten();
            attempted(state, tenant, entry, d.reached, cause).await;
        }
    }
}

/// Stores the callback of the entry `call` (its queue, priority and the
/// time the caller joined, from the ACD); false (logged) when it cannot be.
async fn keep(
    state: &AppState,
    tenant: TenantId,
    call: CallId,
    number: String,
    caller_id: Option<String>,
) -> bool {
    let entry = state
        .agents
        .with_acd(state, tenant, |acd| {
            acd.entry(&call)
                .map(|e| (e.queue, e.priority, e.enqueued_at))
        })
        .await;
    let Ok(Some((queue, priority, requested_at))) = entry else {
        tracing::info!(call_id = %call.0, "the callback's entry left the queue");
        return false;
    };
    let new = NewQueueCallback {
        id: call.0,
        queue_id: queue.0,
        number,
        caller_id,
        priority,
        requested_at,
    };
    match Scoped::new(state.store.writer(), tenant)
        .add_queue_callback(&new)
        .await
    {
        Ok(_) => true,
        Err(e) => {
            tracing::error!(call_id = %call.0, error = %e, "callback not stored: dropped");
            false
        }
    }
}

/// One answered callback call ended: counted in the store; a customer not
/// reached with attempts left goes back in line after the retry delay.
async fn attempted(
    state: &AppState,
    tenant: TenantId,
    entry: CallId,
    reached: bool,
    cause: Option<HangupCause>,
) {
    let inbound = &state.config.inbound;
    let max = i32::try_from(inbound.callback_attempts).unwrap_or(i32::MAX);
    let cause = cause.map(|c| c.to_string());
    let row = Scoped::new(state.store.writer(), tenant)
        .callback_attempted(entry.0, reached, cause.as_deref(), max)
        .await;
    let row = match row {
        Ok(r) => r,
        Err(StoreError::Conflict(_)) => {
            tracing::info!(call_id = %entry.0, "callback cancelled during its call: not counted");
            return;
        }
        Err(e) => {
            tracing::warn!(call_id = %entry.0, error = %e, "callback attempt not stored");
            return;
        }
    };
    tracing::info!(call_id = %entry.0, attempts = row.attempts, status = %row.status,
        "callback attempt");
    if row.callback_status().ok() == Some(CallbackStatus::Waiting) {
        let delay = Duration::from_secs(inbound.callback_retry_secs);
        tokio::spawn(retry_after(state.clone(), tenant, row, delay));
    }
}

/// Puts a callback back in line after `delay`, unless it stopped waiting
/// meanwhile (cancelled). A restart during the delay puts it back at once.
async fn retry_after(state: AppState, tenant: TenantId, row: QueueCallbackRow, delay: Duration) {
    tokio::time::sleep(delay).await;
    let now = Scoped::new(state.store.reader(), tenant)
        .get_queue_callback(row.id)
        .await;
    if !matches!(&now, Ok(r) if r.callback_status().ok() == Some(CallbackStatus::Waiting)) {
        return;
    }
    let back = Event::CallbackEnqueued {
        call: CallId(row.id),
        queue: QueueId(row.queue_id),
        priority: row.priority,
        requested_at: row.requested_at,
    };
    if let Err(e) = state.agents.apply(&state, tenant, back, None, None).await {
        tracing::warn!(call_id = %row.id, error = %e, "callback not put back in line");
    }
}

/// Takes the entry out of the ACD (no callback after all).
async fn drop_entry(state: &AppState, tenant: TenantId, entry: CallId) {
    let ended = Event::CallEnded { call: entry };
    let _ = state.agents.apply(state, tenant, ended, None, None).await;
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
