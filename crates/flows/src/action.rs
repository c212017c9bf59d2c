//! The interpreter's vocabulary with the call actor: the context a call starts with, the
//! actions the actor must carry out, the inputs it reports back, and the trace both a live
//! call and a simulation produce.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::RouteTarget;
use crate::webhook::{WebhookFailure, WebhookRequest, WebhookResponse};

/// Limits that stop a broken flow from spinning: node entries without caller input in one
/// `step`, and node entries over the whole call. Hitting either takes the fallback route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepBudget {
    pub per_step: u32,
    pub per_call: u32,
}

impl Default for StepBudget {
    fn default() -> Self {
        StepBudget {
            per_step: 256,
            per_call: 2_000,
        }
    }
}

/// Everything the interpreter knows about the call. The clock is here, not read from the
/// system, so a simulation at a given instant behaves exactly like a live call then.
#[derive(Clone)]
pub struct CallContext {
    pub call_id: String,
    pub flow_id: String,
    /// The caller's E.164 number.
    pub caller: String,
    pub called: String,
    /// ISO 3166 alpha-2 country of the caller, resolved by the actor from the number.
    pub caller_country: Option<String>,
    pub now: DateTime<Utc>,
    pub variables: BTreeMap<String, String>,
    /// Webhook signing secrets by name.
    pub secrets: BTreeMap<String, Vec<u8>>,
    /// The tenant's safe route, used when the flow names none.
    pub fallback: Option<RouteTarget>,
    pub budget: StepBudget,
}

impl CallContext {
    pub fn new(
        call_id: &str,
        flow_id: &str,
        caller: &str,
        called: &str,
        now: DateTime<Utc>,
    ) -> Self {
        CallContext {
            call_id: call_id.into(),
            flow_id: flow_id.into(),
            caller: caller.into(),
            called: called.into(),
            caller_country: None,
            now,
            variables: BTreeMap::new(),
            secrets: BTreeMap::new(),
            fallback: None,
            budget: StepBudget::default(),
        }
    }
}

impl fmt::Debug for CallContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secrets are named, never printed.
        f.debug_struct("CallContext")
            .field("call_id", &self.call_id)
            .field("flow_id", &self.flow_id)
            .field("caller", &self.caller)
            .field("called", &self.called)
            .field("caller_country", &self.caller_country)
            .field("now", &self.now)
            .field("variables", &self.variables)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("fallback", &self.fallback)
            .field("budget", &self.budget)
            .finish()
    }
}

/// Digit collection parameters; `prompts` play in order with barge-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectDigits {
    pub prompts: Vec<String>,
    pub min_digits: u8,
    pub max_digits: u8,
    pub terminator: Option<char>,
    pub first_digit_timeout_ms: u32,
    pub inter_digit_timeout_ms: u32,
}

/// What the call actor must do next. `Route`, `Voicemail` and `Hangup` end the flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Play a prompt, then report `Input::Played`.
    Play(String),
    /// Synthesize and play text through the TTS provider, then report `Input::Played`.
    Say {
        text: String,
        voice: Option<String>,
    },
    /// Collect digits, then report `Digits` or `Timeout`.
    CollectDigits(CollectDigits),
    /// Send the request; with `wait` report `WebhookResponse`/`WebhookFailed` (the actor
    /// enforces `request.timeout_ms`), without it report `Sent` at once.
    Webhook {
        request: WebhookRequest,
        wait: bool,
    },
    /// Record a message, then report `Recorded` (or `Timeout` if nothing was said).
    Record {
        prompt: Option<String>,
        max_seconds: u32,
        beep: bool,
    },
    Route(RouteTarget),
    Voicemail {
        mailbox: String,
        greeting: Option<String>,
    },
    Hangup,
}

impl Action {
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Action::Route(_) | Action::Voicemail { .. } | Action::Hangup
        )
    }
}

/// A recording made for a `record` node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recording {
    pub id: String,
    pub duration_ms: u32,
}

/// What the actor reports after carrying out an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// The call was answered; the first `step` takes this.
    Start,
    Played,
    Digits(String),
    Timeout,
    WebhookResponse(WebhookResponse),
    WebhookFailed(WebhookFailure),
    /// A fire-and-forget webhook was handed off.
    Sent,
    Recorded(Recording),
    CallerHangup,
}

/// How the flow ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Route(RouteTarget),
    Voicemail { mailbox: String },
    Hangup,
    CallerHangup,
}

/// One entry of the trace, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TraceEvent {
    Input {
        input: Input,
    },
    Enter {
        node: String,
    },
    Action {
        action: Action,
    },
    Set {
        name: String,
        value: String,
    },
    Branch {
        node: String,
        edge: String,
    },
    Error {
        node: String,
        message: String,
    },
    Fallback {
        node: Option<String>,
        reason: String,
    },
}

/// The record of one call through the flow: identical for a live call and a simulation fed
/// the same inputs, which is what makes the simulator trustworthy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    pub events: Vec<TraceEvent>,
    /// Nodes entered, in order (repeats included).
    pub nodes: Vec<String>,
    /// Prompt names played (including prompts of digit collection, voicemail and record).
    pub prompts: Vec<String>,
    /// Texts spoken through TTS, after interpolation.
    pub spoken: Vec<String>,
    /// Variables at the end (context variables plus everything set).
    pub variables: BTreeMap<String, String>,
    /// Survey answers by question.
    pub survey: BTreeMap<String, String>,
    pub outcome: Option<Outcome>,
    /// Why the fallback route was taken, if it was.
    pub fallback_reason: Option<String>,
}
