//! IVR flows on live calls: one task per call drives the flow's published
//! version through the same [`Interpreter`] the simulator uses, carrying
//! out each action on the call and reporting the result back as the
//! interpreter's input.
//!
//! - `play`, `say` and the prompts of digit collection are prompts on the
//!   call (`CallCommand::Play`; `say` is synthesized by [`Tts`]). A prompt
//!   that cannot be loaded or spoken is skipped (logged) rather than
//!   leaving the caller in silence.
//! - Digit collection plays its prompts with barge-in: the first digit
//!   stops them. It ends at the terminator, at the most digits, or when
//!   the caller is silent for the first-digit or inter-digit timeout.
//!   Digits pressed outside a collection are not kept.
//! - The route ends the flow: a queue is handed to the queue controller
//!   (the caller hears music), an agent or an outside number is offered
//!   the call, another flow runs next (at most [`MAX_FLOWS`] per call).
//!   A target that does not resolve and a failed offer hang up with a
//!   log, never leave the caller in silence.
//! - A `voicemail` node takes a message for the box it names
//!   ([`super::voicemail`]); so does a queue's overflow to voicemail,
//!   which starts a task with [`Start::Voicemail`].
//! - A `record` node plays its prompt (barge-in), the beep, and records
//!   the caller until a key, its `max_seconds` or the hangup, as a
//!   voicemail message of the box it names or of the flow's own box
//!   (stored, published and notified like any message). The interpreter
//!   gets the message's id and length; a message without speech is
//!   discarded and taken as no input, as is a box that no longer exists.
//! - A webhook node's signed request is sent ([`super::webhook`]) with the
//!   tenant's secrets (`/flow-secrets`); its answer, timeout or failure
//!   picks the branch as in a simulation with that answer.
//! - Each flow's trace is stored as a flow run, readable from the API,
//!   and equals a simulation's trace for the same caller input.

use super::tts::Tts;
use super::voicemail::Taken;
use crate::flow_routes::{ResolvedRoute, resolve_route};
use crate::state::AppState;
use omnivox_domain::TenantId;
use omnivox_domain::ids::QueueId;
use omnivox_flows::{
    Action, CallContext, CollectDigits, Flow, Input, Interpreter, Node, Outcome, Recording, Trace,
};
use omnivox_media::prompt::Prompt;
use omnivox_sip::{CallCommand, Endpoint};
use omnivox_store::Scoped;
use omnivox_store::flow_runs::NewFlowRun;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use uuid::Uuid;

/// Flows one call may run in a row (route nodes naming flows).
pub const MAX_FLOWS: usize = 8;
/// How long an agent or an outside number routed to by a flow may ring.
const ROUTE_RING_SECS: u32 = 30;
/// Slack on a prompt's length before its end is given up for lost.
const PROMPT_SLACK: Duration = Duration::from_secs(5);

/// What the controller forwards to a call's flow task.
#[derive(Debug)]
pub(super) enum FlowInput {
    /// The prompt played with this tag ended.
    Prompt { tag: u64 },
    /// The caller pressed a digit.
    Digit(char),
    /// An offer made for a route ended.
    Offer { answered: bool },
    /// The call is over.
    Ended,
}

/// A caller a flow routed to a queue: the controller queues them.
#[derive(Debug)]
pub(super) struct Handoff {
    pub tenant: TenantId,
    pub call: Uuid,
    pub queue: QueueId,
    pub caller: String,
    pub called: String,
}

/// What the call's task does first.
#[derive(Debug, Clone, Copy)]
pub(super) enum Start {
    /// Runs this flow.
    Flow(Uuid),
    /// Takes a message for this voicemail box (a queue's overflow).
    Voicemail(Uuid),
}

/// The call a flow (or a voicemail) answers.
#[derive(Debug, Clone)]
pub(super) struct FlowCall {
    pub tenant: TenantId,
    pub call: Uuid,
    pub caller: String,
    pub called: String,
}

/// Starts the call's flow task; its inputs go to the returned sender.
pub(super) fn spawn(
    state: AppState,
    tts: Arc<dyn Tts>,
    call: FlowCall,
    start: Start,
    handoff: mpsc::UnboundedSender<Handoff>,
) -> mpsc::UnboundedSender<FlowInput> {
    let (tx, rx) = mpsc::unbounded_channel();
    let runner = Runner {
        state,
        tts,
        call,
        rx,
        handoff,
        tags: 0,
        ended: false,
    };
    tokio::spawn(runner.run(start));
    tx
}

/// A call's task: its flow, a voicemail.
pub(super) struct Runner {
    pub(super) state: AppState,
    pub(super) tts: Arc<dyn Tts>,
    pub(super) call: FlowCall,
    rx: mpsc::UnboundedReceiver<FlowInput>,
    handoff: mpsc::UnboundedSender<Handoff>,
    /// The last tag given to a prompt or a message.
    pub(super) tags: u64,
    /// The caller has gone.
    pub(super) ended: bool,
}

/// What follows a flow.
pub(super) enum Next {
    Done,
    /// This flow's version, as the route resolved it.
    Flow {
        id: Uuid,
        version: i32,
    },
    Hangup,
}

impl Runner {
    async fn run(mut self, start: Start) {
        let mut flow_id = match start {
            Start::Flow(flow) => flow,
            Start::Voicemail(mailbox) => {
                let next = self.voicemail(&mailbox.to_string(), None).await;
                return self.finish(next).await;
            }
        };
        // The DID's flow runs its published version; a routed-to flow the
        // version the route resolved.
        let mut version = None;
        for _ in 0..MAX_FLOWS {
            let next = match self.load(flow_id, version).await {
                Ok((flow, version)) => self.run_flow(flow_id, flow, version).await,
                Err(e) => {
                    tracing::warn!(call_id = %self.call.call, %flow_id, error = %e,
                        "flow not runnable: hanging up");
                    Next::Hangup
                }
            };
            match next {
                Next::Flow { id, version: v } => {
                    flow_id = id;
                    version = Some(v);
                }
                done => return self.finish(done).await,
            }
        }
        tracing::warn!(call_id = %self.call.call, "{MAX_FLOWS} flows in a row: hanging up");
        self.command(CallCommand::Hangup).await;
    }

    /// Hangs up when `next` says so.
    async fn finish(&self, next: Next) {
        if matches!(next, Next::Hangup) {
            self.command(CallCommand::Hangup).await;
        }
    }

    /// The flow's `version`, by default its published one.
    async fn load(&self, flow_id: Uuid, version: Option<i32>) -> Result<(Flow, i32), String> {
        let s = Scoped::new(self.state.store.reader(), self.call.tenant);
        let version = match version {
            Some(v) => v,
            None => s
                .get_flow(flow_id)
                .await
                .map_err(|e| e.to_string())?
                .published_version
                .ok_or_else(|| "the flow has no published version".to_string())?,
        };
        let v = s
            .get_flow_version(flow_id, version)
            .await
            .map_err(|e| e.to_string())?;
        let flow = Flow::from_json(&v.definition).map_err(|e| e.to_string())?;
        Ok((flow, version))
    }

    async fn run_flow(&mut self, flow_id: Uuid, flow: Flow, version: i32) -> Next {
        let started_at = self.state.clock.now();
        let mut ctx = CallContext::new(
            &self.call.call.to_string(),
            &flow_id.to_string(),
            &self.call.caller,
            &self.call.called,
            started_at,
        );
        ctx.caller_country = omnivox_contacts::country_of(&self.call.caller).map(str::to_string);
        // The webhook nodes' signing secrets (read only for a flow that has
        // webhook nodes); without them a webhook node takes its error
        // branch.
        if flow.has_webhooks() {
            let s = Scoped::new(self.state.store.reader(), self.call.tenant);
            match s.flow_secrets(&self.state.sealer).await {
                Ok(secrets) => ctx.secrets = secrets,
                Err(e) => {
                    tracing::error!(call_id = %self.call.call, error = %e, "flow secrets not read");
                }
            }
        }
        let flow = Arc::new(flow);
        let mut interpreter = Interpreter::new(Arc::clone(&flow), ctx);
        let mut action = interpreter.step(Input::Start);
        while !interpreter.is_finished() {
            let input = match &action {
                Action::Play(name) => self.play_named(name).await,
                Action::Say { text, voice } => self.say(text, voice.as_deref()).await,
                Action::CollectDigits(c) => self.collect(c).await,
                Action::Webhook { request, wait } => {
                    let private = self.state.config.inbound.private_webhooks;
                    let input = super::webhook::send(request, *wait, private).await;
                    self.still_there(input)
                }
                Action::Record {
                    prompt,
                    max_seconds,
                    beep,
                } => {
                    // The action leaves the box to the actor: the node's.
                    let mailbox = interpreter
                        .current_node()
                        .and_then(|id| flow.node(id))
                        .and_then(Node::mailbox);
                    let limit = Duration::from_secs(u64::from(*max_seconds));
                    self.record(flow_id, mailbox, prompt.as_deref(), limit, *beep)
                        .await
                }
                Action::Route(_) | Action::Voicemail { .. } | Action::Hangup => break,
            };
            interpreter.set_now(self.state.clock.now());
            action = interpreter.step(input);
        }
        let trace = interpreter.into_trace();
        self.store_run(flow_id, version, &trace, started_at).await;
        match action {
            _ if matches!(trace.outcome, Some(Outcome::CallerHangup)) => Next::Done,
            Action::Route(target) => self.route(&target).await,
            Action::Voicemail { mailbox, greeting } => {
                self.voicemail(&mailbox, greeting.as_deref()).await
            }
            _ => Next::Hangup,
        }
    }

    async fn store_run(
        &self,
        flow_id: Uuid,
        version: i32,
        trace: &Trace,
        started_at: chrono::DateTime<chrono::Utc>,
    ) {
        let outcome = match &trace.outcome {
            Some(Outcome::Route(_)) => "route",
            Some(Outcome::Voicemail { .. }) => "voicemail",
            Some(Outcome::Hangup) => "hangup",
            Some(Outcome::CallerHangup) => "caller_hangup",
            None => "error",
        };
        let text = match serde_json::to_string(trace) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(call_id = %self.call.call, error = %e, "flow trace not serializable");
                return;
            }
        };
        let run = NewFlowRun {
            call_id: self.call.call,
            flow_id,
            version,
            outcome: outcome.into(),
            fallback_reason: trace.fallback_reason.clone(),
            trace: text,
            started_at,
            ended_at: self.state.clock.now(),
        };
        let s = Scoped::new(self.state.store.writer(), self.call.tenant);
        if let Err(e) = s.record_flow_run(run).await {
            tracing::error!(call_id = %self.call.call, error = %e, "flow run not stored");
        }
    }

    /// Carries out the route the flow ended with.
    async fn route(&mut self, target: &omnivox_flows::RouteTarget) -> Next {
        let s = Scoped::new(self.state.store.reader(), self.call.tenant);
        let to = match resolve_route(&s, target).await {
            Ok(ResolvedRoute::Queue(queue)) => {
                let handoff = Handoff {
                    tenant: self.call.tenant,
                    call: self.call.call,
                    queue: QueueId(queue),
                    caller: self.call.caller.clone(),
                    called: self.call.called.clone(),
                };
                return match self.handoff.send(handoff) {
                    Ok(()) => Next::Done,
                    Err(_) => Next::Hangup,
                };
            }
            Ok(ResolvedRoute::Flow { id, version }) => return Next::Flow { id, version },
            Ok(ResolvedRoute::Agent(agent_id)) => Endpoint::Agent { agent_id },
            Ok(ResolvedRoute::External(number)) => Endpoint::Number { number },
            Err(problem) => {
                tracing::warn!(call_id = %self.call.call, ?target, %problem,
                    "flow route does not resolve: hanging up");
                return Next::Hangup;
            }
        };
        let agent = match &to {
            Endpoint::Agent { agent_id } => Some(*agent_id),
            Endpoint::Number { .. } => None,
        };
        let offer = CallCommand::Offer {
            to,
            ring_timeout_secs: ROUTE_RING_SECS,
        };
        if !self.command(offer).await {
            return Next::Hangup;
        }
        loop {
            match self.recv().await {
                Some(FlowInput::Offer { answered: true }) => return Next::Done,
                Some(FlowInput::Offer { answered: false }) => break,
                Some(_) => {}
                None => return Next::Done,
            }
        }
        // Not answered: an agent's own box takes the caller's message.
        if let Some(agent) = agent
            && let Some(mailbox) = self.agent_box(agent).await
        {
            return self.leave_message(&mailbox, None).await;
        }
        tracing::info!(call_id = %self.call.call, ?target, "flow route not answered: hanging up");
        Next::Hangup
    }

    /// The voicemail box `agent` owns, if any (a failed read is logged).
    async fn agent_box(
        &self,
        agent: omnivox_domain::UserId,
    ) -> Option<omnivox_store::voicemail::VoicemailBoxRow> {
        let s = Scoped::new(self.state.store.reader(), self.call.tenant);
        match s.voicemail_box_of("agent", agent.0).await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(call_id = %self.call.call, error = %e, "agent's box not read");
                None
            }
        }
    }

    /// The tenant's prompt `name`; `None` (logged) when it cannot be had.
    pub(super) async fn prompt(&self, name: &str) -> Option<Prompt> {
        let audio = &self.state.prompt_audio;
        match audio.load(&self.state, self.call.tenant, name).await {
            Ok(prompt) => Some(prompt),
            Err(e) => {
                tracing::warn!(call_id = %self.call.call, prompt = name, error = %e,
                    "prompt not played");
                None
            }
        }
    }

    async fn play_named(&mut self, name: &str) -> Input {
        match self.prompt(name).await {
            Some(prompt) => self.play_to_end(prompt).await,
            None => self.still_there(Input::Played),
        }
    }

    async fn say(&mut self, text: &str, voice: Option<&str>) -> Input {
        match self.tts.synthesize(text, voice).await {
            Ok(prompt) => self.play_to_end(prompt).await,
            Err(e) => {
                tracing::warn!(call_id = %self.call.call, error = %e, "text not spoken");
                self.still_there(Input::Played)
            }
        }
    }

    async fn play_to_end(&mut self, prompt: Prompt) -> Input {
        if self.play(prompt, None).await {
            Input::Played
        } else {
            Input::CallerHangup
        }
    }

    /// `input`, unless the caller has gone.
    fn still_there(&self, input: Input) -> Input {
        if self.ended {
            Input::CallerHangup
        } else {
            input
        }
    }

    /// Plays `prompt` to its end; with `digits`, the caller's digits are
    /// kept there and the first stops the prompt. False once the caller
    /// has gone.
    pub(super) async fn play(&mut self, prompt: Prompt, mut digits: Option<&mut String>) -> bool {
        if self.ended {
            return false;
        }
        self.tags += 1;
        let tag = self.tags;
        let barge_in = digits.is_some();
        let deadline = Instant::now() + prompt.duration() + PROMPT_SLACK;
        let play = CallCommand::Play {
            prompt,
            tag,
            barge_in,
        };
        if !self.command(play).await {
            return !self.ended;
        }
        loop {
            match tokio::time::timeout_at(deadline, self.recv()).await {
                Err(_) => {
                    tracing::warn!(call_id = %self.call.call, tag, "prompt end never came");
                    return true;
                }
                Ok(None) => return false,
                Ok(Some(FlowInput::Prompt { tag: t, .. })) if t == tag => return true,
                Ok(Some(FlowInput::Digit(d))) => {
                    if let Some(buf) = digits.as_deref_mut() {
                        buf.push(d);
                        if buf.len() == 1 {
                            // INFO digits do not stop a prompt by themselves.
                            self.command(CallCommand::StopPlay).await;
                        }
                    }
                }
                Ok(Some(_)) => {}
            }
        }
    }

    /// Digit collection: prompts with barge-in, then the caller's digits
    /// until the terminator, the most digits, or a timeout.
    async fn collect(&mut self, c: &CollectDigits) -> Input {
        let mut digits = String::new();
        for name in &c.prompts {
            if !digits.is_empty() {
                break;
            }
            let Some(prompt) = self.prompt(name).await else {
                continue;
            };
            if !self.play(prompt, Some(&mut digits)).await {
                return Input::CallerHangup;
            }
        }
        let complete = |d: &str| {
            c.terminator.is_some_and(|t| d.contains(t))
                || d.chars().count() >= usize::from(c.max_digits)
        };
        let wait = |d: &str| {
            let ms = if d.is_empty() {
                c.first_digit_timeout_ms
            } else {
                c.inter_digit_timeout_ms
            };
            Instant::now() + Duration::from_millis(u64::from(ms))
        };
        let mut deadline = wait(&digits);
        while !complete(&digits) {
            match tokio::time::timeout_at(deadline, self.recv()).await {
                Err(_) => break,
                Ok(None) => return Input::CallerHangup,
                Ok(Some(FlowInput::Digit(d))) => {
                    digits.push(d);
                    deadline = wait(&digits);
                }
                Ok(Some(_)) => {}
            }
        }
        if digits.is_empty() {
            Input::Timeout
        } else {
            Input::Digits(digits)
        }
    }

    /// A `record` node: its prompt (a key stops it), the beep, and the
    /// caller's message into `mailbox` (a box's name or id) or, without
    /// one, the box of the flow `flow_id`, until a key, `limit` or the
    /// hangup. The stored message's id and length, else no input.
    async fn record(
        &mut self,
        flow_id: Uuid,
        mailbox: Option<&str>,
        prompt: Option<&str>,
        limit: Duration,
        beep: bool,
    ) -> Input {
        let s = Scoped::new(self.state.store.reader(), self.call.tenant);
        let found = match mailbox {
            Some(name) => s.find_voicemail_box(name).await,
            None => s.voicemail_box_of("flow", flow_id).await,
        };
        let mailbox_row = match found {
            Ok(Some(b)) => b,
            Ok(None) => {
                tracing::warn!(call_id = %self.call.call, %flow_id, ?mailbox,
                    "the record node's voicemail box does not exist: nothing recorded");
                return self.still_there(Input::Timeout);
            }
            Err(e) => {
                tracing::error!(call_id = %self.call.call, %flow_id, ?mailbox, error = %e,
                    "the record node's voicemail box not read: nothing recorded");
                return self.still_there(Input::Timeout);
            }
        };
        if let Some(name) = prompt
            && let Some(p) = self.prompt(name).await
        {
            let mut skipped = String::new();
            if !self.play(p, Some(&mut skipped)).await {
                return Input::CallerHangup;
            }
        }
        let taken = self.take_message(&mailbox_row, limit, beep).await;
        match taken {
            Taken::Kept { id, duration_ms } => self.still_there(Input::Recorded(Recording {
                id: id.to_string(),
                duration_ms: u32::try_from(duration_ms).unwrap_or(u32::MAX),
            })),
            Taken::Discarded | Taken::NotStarted => self.still_there(Input::Timeout),
        }
    }

    /// The next input; `None` once the call is over.
    pub(super) async fn recv(&mut self) -> Option<FlowInput> {
        if self.ended {
            return None;
        }
        match self.rx.recv().await {
            Some(FlowInput::Ended) | None => {
                self.ended = true;
                None
            }
            Some(input) => Some(input),
        }
    }

    pub(super) async fn command(&self, command: CallCommand) -> bool {
        super::command(&self.state, self.call.tenant, self.call.call, command).await
    }
}
