//! The inbound call controller: callers Omnivox answered for a queue meet
//! the tenant's ACD; callers answered for a flow go through it first
//! ([`flow`]).
//!
//! The SIP layer answers a call to a DID routed to a queue or a flow and
//! publishes `CallNotice::Answered`. A flow's caller is handed to a flow
//! task, which gets the call's prompt ends, digits and offer ends from
//! here and may hand the caller back to be queued. A queued caller hears
//! music. From there:
//! - the call is enqueued in the tenant's ACD (`CallEnqueued`, with the
//!   queue's priority) and hears the queue's music ([`waiting`]);
//! - `Announce` plays the caller's place, estimated wait and the comfort
//!   prompt, then the music again;
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
pub(crate) mod voicemail;
mod waiting;
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

/// The key a waiting caller presses to be called back (queues with
/// `callback_in_queue`; the announcements say so).
const CALLBACK_KEY: char = '1';

/// Announcements' prompt tags count up from here: a range a flow's own
/// prompts never reach, so a late end of one is never taken for a flow's.
const FIRST_ANNOUNCEMENT_TAG: u64 = 1 << 63;

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
        last_tag: FIRST_ANNOUNCEMENT_TAG,
    };
    tokio::spawn(controller.run(notices, rx, handoffs, stop));
}

/// A caller in the ACD.
struct Queued {
    /// Their number (E.164 when it parsed), for a callback.
    caller: String,
    /// The DID they called.
    did: Option<String>,
    /// The queue they wait in.
    queue: QueueId,
    /// The tag of the announcement playing to them, if one is.
    announcing: Option<u64>,
}

impl Queued {
    fn new(caller: String, did: Option<String>, queue: QueueId) -> Self {
        Self {
            caller,
            did,
            queue,
            announcing: None,
        }
    }
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
    /// The last announcement's tag.
    last_tag: u64,
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
        let did = Some(h.called).filter(|d| !d.is_empty());
        self.queued
            .insert(h.call, Queued::new(h.caller, did, h.queue));
        if !enqueue(&self.state, h.tenant, h.call, h.queue).await {
            self.queued.remove(&h.call);
        }
    }

    /// The ACD says it is time to tell a waiting caller where they are:
    /// the announcement is put together off the controller's loop and
    /// played; its end (`PromptEnded` with its tag) brings the music back.
    fn announce(
        &mut self,
        tenant: TenantId,
        call: Uuid,
        position: usize,
        ewt: Option<chrono::TimeDelta>,
    ) {
        let Some(q) = self.queued.get_mut(&call) else {
            return;
        };
        self.last_tag += 1;
        let tag = self.last_tag;
        q.announcing = Some(tag);
        let (state, tts, queue) = (self.state.clone(), self.tts.clone(), q.queue);
        tokio::spawn(async move {
            let prompt =
                waiting::announcement(&state, tts.as_ref(), tenant, queue, position, ewt).await;
            if let Some(prompt) = prompt {
                let play = CallCommand::Play {
                    prompt,
                    tag,
                    barge_in: false,
                };
                command(&state, tenant, call, play).await;
            }
        });
    }

    /// The entry of a waiting caller became a callback in its place (the
    /// queue's overflow rule, or the caller's key): the caller is let go.
    async fn release_for_callback(&mut self, tenant: TenantId, call: CallId) {
        let Some(q) = self.queued.remove(&call.0) else {
            return;
        };
        let tts = self.tts.clone();
        self.callbacks
            .release(&self.state, tts, tenant, call, q.caller, q.did)
            .await;
    }

    /// A waiting caller pressed a key: [`CALLBACK_KEY`] in a queue that
    /// offers callbacks turns their entry into one.
    async fn on_queued_digit(&mut self, tenant: TenantId, call: Uuid, digit: char) {
        let Some(q) = self.queued.get(&call) else {
            return;
        };
        if digit != CALLBACK_KEY {
            return;
        }
        let offered = waiting::settings(&self.state, tenant, q.queue)
            .await
            .is_some_and(|s| s.callback_in_queue);
        if !offered {
            return;
        }
        let convert = Event::ConvertToCallback { call: CallId(call) };
        if let Err(e) = self
            .state
            .agents
            .apply(&self.state, tenant, convert, None, None)
            .await
        {
            tracing::info!(call_id = %call, error = %e, "callback request not taken");
            return;
        }
        self.release_for_callback(tenant, CallId(call)).await;
    }

    /// A prompt ended: an announcement's end brings the queue's music
    /// back; anything else is the flow's.
    fn on_prompt_ended(&mut self, tenant: TenantId, call: Uuid, tag: u64) {
        let Some(q) = self.queued.get_mut(&call) else {
            self.forward_to_flow(call, FlowInput::Prompt { tag });
            return;
        };
        if q.announcing != Some(tag) {
            return;
        }
        q.announcing = None;
        let (state, queue) = (self.state.clone(), q.queue);
        tokio::spawn(async move {
            if let Some(settings) = waiting::settings(&state, tenant, queue).await {
                let music = waiting::music(&state, tenant, &settings).await;
                command(&state, tenant, call, CallCommand::Music { music }).await;
            }
        });
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
                let queue = QueueId(queue_id);
                self.queued.insert(call_id, Queued::new(caller, did, queue));
                if !enqueue(&self.state, tenant_id, call_id, queue).await {
                    self.queued.remove(&call_id);
                }
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
            CallNotice::PromptEnded {
                tenant_id,
                call_id,
                tag,
                ..
            } => self.on_prompt_ended(tenant_id, call_id, tag),
            CallNotice::Dtmf {
                tenant_id,
                call_id,
                leg: LegId::A,
                digit,
                ..
            } => {
                if self.queued.contains_key(&call_id) {
                    self.on_queued_digit(tenant_id, call_id, digit).await;
                } else {
                    self.forward_to_flow(call_id, FlowInput::Digit(digit));
                }
            }
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

/// Puts the caller in `queue` at the queue's priority, with its music.
/// False when the caller is not queued: gone or connected already (the
/// music is refused), or the queue is unknown to the store or the ACD,
/// which ends the call rather than leaving the caller in music forever.
async fn enqueue(state: &AppState, tenant: TenantId, call: Uuid, queue: QueueId) -> bool {
    let Some(settings) = waiting::settings(state, tenant, queue).await else {
        command(state, tenant, call, CallCommand::Hangup).await;
        return false;
    };
    let music = waiting::music(state, tenant, &settings).await;
    if !command(state, tenant, call, CallCommand::Music { music }).await {
        return false;
    }
    // The queue's recording policy rules the call it connects.
    if let Some(policy) = crate::sip::calls::policy_named(settings.recording.as_deref()) {
        command(state, tenant, call, CallCommand::RecordingPolicy { policy }).await;
    }
    let event = Event::CallEnqueued {
        call: CallId(call),
        queue,
        // Validated to 0..=100 when stored.
        priority: i32::try_from(settings.priority).unwrap_or_default(),
    };
    if let Err(e) = state.agents.apply(state, tenant, event, None, None).await {
        tracing::warn!(call_id = %call, queue_id = %queue.0, error = %e,
            "call not queued: hanging up");
        command(state, tenant, call, CallCommand::Hangup).await;
        return false;
    }
    true
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
            } => {
                if let Some(q) = self.queued.get_mut(&call.0) {
                    q.queue = queue;
                    q.announcing = None;
                }
                if !enqueue(state, tenant, call.0, queue).await {
                    self.queued.remove(&call.0);
                }
            }
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
            } => self.release_for_callback(tenant, call).await,
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
                    .due(state, tenant, call, agent, ring_secs(deadline))
                    .await;
            }
            Decision::Announce {
                call,
                position,
                ewt,
                ..
            } => self.announce(tenant, call.0, position, ewt),
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
