//! The inbound call controller: callers Omnivox answered for a queue meet
//! the tenant's ACD; callers answered for a flow go through it first
//! ([`flow`]).
//!
//! The SIP layer answers a call to a DID routed to a queue or a flow and
//! publishes `CallNotice::Answered`. A flow's caller is handed to a flow
//! task, which gets the call's prompt ends, digits and offer ends from
//! here and may hand the caller back to be queued. A queued caller hears
//! music. From there:
//! - the call is enqueued in the tenant's ACD (`CallEnqueued`);
//! - the ACD's decisions, from any input or tick (see
//!   [`crate::agents::AgentService`]), come here: `Offer` rings the agent's
//!   phone (`CallCommand::Offer`, with the offer's deadline plus a margin
//!   as ring timeout: the ACD's own timeout normally fires first and sends
//!   `CancelOffer`), `CancelOffer` withdraws it, an overflow to another
//!   queue enqueues the call there, an overflow to a flow runs the flow,
//!   one to voicemail takes a message, one to a callback lets the caller
//!   go keeping their place, and the maximum wait hangs up;
//! - the end of each offer (`CallNotice::OfferEnded`) goes back to the ACD:
//!   answered, or rejected (busy, declined, unreachable). Offers we
//!   withdrew ourselves are already settled in the ACD and are not
//!   reported again;
//! - the end of the call goes to the ACD as `CallEnded` (abandoned while
//!   waiting, or the agent's wrap-up after a connected call).

mod callback;
mod flow;
pub mod tts;
mod voicemail;
mod webhook;

use crate::state::AppState;
use flow::{FlowCall, FlowInput, Handoff, Start};
use omnivox_acd::{Decision, Event, OverflowTarget};
use omnivox_domain::call::HangupCause;
use omnivox_domain::call::LegId;
use omnivox_domain::ids::{CallId, QueueId};
use omnivox_domain::{TenantId, UserId};
use omnivox_sip::{Application, CallCommand, CallNotice, Endpoint};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Ring time added to an offer's deadline for the phone's own timeout.
const RING_MARGIN_SECS: i64 = 3;

/// Starts the controller: the ACD's decisions are sent to it from now on.
pub fn start(state: &AppState, stop: CancellationToken) {
    let Some(sip) = state.sip.clone() else {
        return;
    };
    let (tx, rx) = mpsc::unbounded_channel();
    state.agents.set_decision_sink(tx);
    let notices = sip.calls().subscribe();
    let (handoff, handoffs) = mpsc::unbounded_channel();
    let controller = Controller {
        state: state.clone(),
        queued: HashMap::new(),
        flows: HashMap::new(),
        callbacks: callback::Callbacks::default(),
        tts: Arc::new(tts::Espeak::default()),
        handoff,
    };
    tokio::spawn(controller.run(notices, rx, handoffs, stop));
}

/// A caller in the ACD.
struct Queued {
    /// Their number (E.164 when it parsed), for a callback.
    caller: String,
    /// The DID they called.
    did: Option<String>,
}

struct Controller {
    state: AppState,
    /// Calls in the ACD (answered for a queue, or queued by a flow) and not
    /// yet ended.
    queued: HashMap<Uuid, Queued>,
    /// Calls in a flow: their flow task's inputs.
    flows: HashMap<Uuid, mpsc::UnboundedSender<FlowInput>>,
    callbacks: callback::Callbacks,
    tts: Arc<dyn tts::Tts>,
    handoff: mpsc::UnboundedSender<Handoff>,
}

impl Controller {
    async fn run(
        mut self,
        mut notices: tokio::sync::broadcast::Receiver<CallNotice>,
        mut decisions: mpsc::UnboundedReceiver<(TenantId, Decision)>,
        mut handoffs: mpsc::UnboundedReceiver<Handoff>,
        stop: CancellationToken,
    ) {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                n = notices.recv() => match n {
                    Ok(n) => self.on_notice(n).await,
                    Err(RecvError::Lagged(n)) => {
                        tracing::error!(missed = n, "inbound controller missed call notices");
                    }
                    Err(RecvError::Closed) => return,
                },
                Some((tenant, d)) = decisions.recv() => self.on_decision(tenant, d).await,
                Some(h) = handoffs.recv() => self.on_handoff(h).await,
            }
        }
    }

    /// Forwards `input` to the call's flow task, if it has one still
    /// listening.
    fn forward_to_flow(&mut self, call: Uuid, input: FlowInput) {
        if let Some(tx) = self.flows.get(&call)
            && tx.send(input).is_err()
        {
            self.flows.remove(&call);
        }
    }

    fn start_flow(&mut self, call: FlowCall, start: Start) {
        let id = call.call;
        let tx = flow::spawn(
            self.state.clone(),
            self.tts.clone(),
            call,
            start,
            self.handoff.clone(),
        );
        self.flows.insert(id, tx);
    }

    /// The ACD let a waiting caller go to a flow or a voicemail box: the
    /// call's task takes them from the music.
    fn leave_queue(&mut self, tenant: TenantId, call: Uuid, start: Start) {
        self.queued.remove(&call);
        let snapshot = self
            .state
            .sip
            .as_ref()
            .and_then(|s| s.calls().get(tenant, call));
        let Some(snapshot) = snapshot else {
            return;
        };
        let call = FlowCall {
            tenant,
            call,
            caller: snapshot.from,
            called: snapshot.did.unwrap_or(snapshot.to),
        };
        self.start_flow(call, start);
    }

    /// A flow routed its caller to a queue: music, then the ACD.
    async fn on_handoff(&mut self, h: Handoff) {
        self.flows.remove(&h.call);
        if !command(&self.state, h.tenant, h.call, CallCommand::Music).await {
            // The caller is gone (or connected): nothing to queue.
            return;
        }
        let queued = Queued {
            caller: h.caller,
            did: Some(h.called).filter(|d| !d.is_empty()),
        };
        self.queued.insert(h.call, queued);
        enqueue(&self.state, h.tenant, h.call, h.queue).await;
    }

    async fn on_notice(&mut self, notice: CallNotice) {
        match notice {
            CallNotice::Answered {
                tenant_id,
                call_id,
                application: Application::Queue { queue_id },
                caller,
                did,
            } => {
                let queued = Queued { caller, did };
                self.queued.insert(call_id, queued);
                enqueue(&self.state, tenant_id, call_id, QueueId(queue_id)).await;
            }
            CallNotice::Answered {
                tenant_id,
                call_id,
                application: Application::Flow { flow_id },
                caller,
                did,
            } => self.start_flow(
                FlowCall {
                    tenant: tenant_id,
                    call: call_id,
                    caller,
                    called: did.unwrap_or_default(),
                },
                Start::Flow(flow_id),
            ),
            CallNotice::PromptEnded { call_id, tag, .. } => {
                self.forward_to_flow(call_id, FlowInput::Prompt { tag });
            }
            CallNotice::Dtmf {
                call_id,
                leg: LegId::A,
                digit,
                ..
            } => self.forward_to_flow(call_id, FlowInput::Digit(digit)),
            CallNotice::OfferEnded {
                tenant_id,
                call_id,
                to: Endpoint::Agent { agent_id },
                answered,
                cause,
            } if self.queued.contains_key(&call_id) => {
                offer_ended(&self.state, tenant_id, call_id, agent_id, answered, cause).await;
            }
            CallNotice::OfferEnded {
                call_id, answered, ..
            } => self.forward_to_flow(call_id, FlowInput::Offer { answered }),
            CallNotice::Update(u) => {
                self.callbacks.on_update(&self.state, &u).await;
                if !u.to.is_ended() {
                    return;
                }
                self.forward_to_flow(u.call.id, FlowInput::Ended);
                self.flows.remove(&u.call.id);
                if self.queued.remove(&u.call.id).is_some() {
                    let ended = Event::CallEnded {
                        call: CallId(u.call.id),
                    };
                    // Unknown to the ACD (never enqueued, or already gone):
                    // nothing to settle.
                    let _ = self
                        .state
                        .agents
                        .apply(&self.state, u.call.tenant_id, ended, None, None)
                        .await;
                }
            }
            _ => {}
        }
    }
}

/// Puts the caller in `queue`; a queue the ACD does not know ends the call
/// rather than leaving the caller in music forever.
async fn enqueue(state: &AppState, tenant: TenantId, call: Uuid, queue: QueueId) {
    let event = Event::CallEnqueued {
        call: CallId(call),
        queue,
        priority: 0,
    };
    if let Err(e) = state.agents.apply(state, tenant, event, None, None).await {
        tracing::warn!(call_id = %call, queue_id = %queue.0, error = %e,
            "call not queued: hanging up");
        command(state, tenant, call, CallCommand::Hangup).await;
    }
}

async fn offer_ended(
    state: &AppState,
    tenant: TenantId,
    call: Uuid,
    agent: UserId,
    answered: bool,
    cause: Option<HangupCause>,
) {
    let call_id = CallId(call);
    let event = match (answered, cause) {
        (true, _) => Event::OfferAnswered {
            call: call_id,
            agent,
        },
        // We withdrew it: the ACD already moved on.
        (false, Some(HangupCause::Cancelled)) => return,
        (false, Some(HangupCause::NoAnswer)) => Event::OfferTimedOut {
            call: call_id,
            agent,
        },
        (false, _) => Event::OfferRejected {
            call: call_id,
            agent,
        },
    };
    if let Err(e) = state.agents.apply(state, tenant, event, None, None).await {
        if answered {
            // The phone answered as the ACD gave up on it: the caller is
            // with the agent, but the ACD has them elsewhere.
            tracing::warn!(call_id = %call, agent_id = %agent.0, error = %e,
                "an offer answered after the ACD withdrew it");
        } else {
            tracing::debug!(call_id = %call, error = %e, "offer end not applied");
        }
    }
}

impl Controller {
    async fn on_decision(&mut self, tenant: TenantId, decision: Decision) {
        let state = &self.state;
        match decision {
            Decision::Offer {
                call,
                agent,
                deadline,
                ..
            } => {
                let offer = CallCommand::Offer {
                    to: Endpoint::Agent { agent_id: agent },
                    ring_timeout_secs: ring_secs(deadline),
                };
                if !command(state, tenant, call.0, offer).await {
                    let rejected = Event::OfferRejected { call, agent };
                    let _ = state
                        .agents
                        .apply(state, tenant, rejected, None, None)
                        .await;
                }
            }
            Decision::CancelOffer { call, .. } => {
                if !self.callbacks.withdraw(state, call).await {
                    command(state, tenant, call.0, CallCommand::CancelOffer).await;
                }
            }
            Decision::Overflow {
                call,
                target: OverflowTarget::Queue { queue },
                ..
            } => enqueue(state, tenant, call.0, queue).await,
            Decision::Overflow {
                call,
                target: OverflowTarget::Flow { flow },
                ..
            } => self.leave_queue(tenant, call.0, Start::Flow(flow)),
            Decision::Overflow {
                call,
                target: OverflowTarget::Voicemail { mailbox },
                ..
            } => self.leave_queue(tenant, call.0, Start::Voicemail(mailbox)),
            Decision::Overflow {
                call,
                target: OverflowTarget::Callback,
                ..
            } => {
                // The entry keeps its place; the caller is let go.
                let Some(q) = self.queued.remove(&call.0) else {
                    return;
                };
                let tts = self.tts.clone();
                self.callbacks
                    .release(state, tts, tenant, call, q.caller, q.did)
                    .await;
            }
            Decision::MaxWaitReached { call, .. } => {
                tracing::info!(call_id = %call.0, "maximum wait reached: hanging up");
                self.queued.remove(&call.0);
                command(state, tenant, call.0, CallCommand::Hangup).await;
            }
            Decision::CallbackDue {
                call,
                agent,
                deadline,
                ..
            } => {
                self.callbacks
                    .due(state, call, agent, ring_secs(deadline))
                    .await;
            }
            Decision::Announce { .. } => {}
        }
    }
}

/// Ring time for an offer due by `deadline`, with the margin.
fn ring_secs(deadline: chrono::DateTime<chrono::Utc>) -> u32 {
    let secs = (deadline - omnivox_store::now()).num_seconds() + RING_MARGIN_SECS;
    u32::try_from(secs.max(5)).unwrap_or(u32::MAX)
}

/// Sends `command` to the call; false (logged) when it was refused.
async fn command(state: &AppState, tenant: TenantId, call: Uuid, command: CallCommand) -> bool {
    let Some(sip) = &state.sip else {
        return false;
    };
    match sip.calls().command(tenant, call, command).await {
        Ok(()) => true,
        Err(e) => {
            tracing::info!(call_id = %call, error = %e, "inbound call command refused");
            false
        }
    }
}
