//! Simulation: scripted caller input and webhook fixtures fed through the same
//! [`Interpreter`] a live call uses, answering each action the way the call actor would.
//! The trace is the interpreter's own, so it equals a live call's trace for the same input.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::action::{Action, CallContext, Input, Recording, Trace};
use crate::interpreter::Interpreter;
use crate::model::Flow;
use crate::webhook::{WebhookFailure, WebhookResponse};

/// One thing the simulated caller does when the flow waits for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CallerInput {
    Digits(String),
    Timeout,
    /// Leaves a message of this length when a `record` node asks.
    Recording {
        seconds: u32,
    },
    Hangup,
}

/// A canned webhook answer; `body` strings are sent verbatim (to test garbage), other JSON
/// values are serialized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum WebhookFixture {
    Reply {
        #[serde(default = "ok_status")]
        status: u16,
        #[serde(default)]
        body: serde_json::Value,
    },
    Timeout,
    Error(String),
}

fn ok_status() -> u16 {
    200
}

/// Caller inputs in order and webhook answers per webhook node id (in order of calls).
/// When the inputs run out the caller stays silent (timeouts); when a node's fixtures run
/// out its webhook times out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    #[serde(default)]
    pub inputs: Vec<CallerInput>,
    #[serde(default)]
    pub webhooks: BTreeMap<String, Vec<WebhookFixture>>,
}

/// Runs the flow to its end with the script and returns the trace.
pub fn simulate(flow: Arc<Flow>, ctx: CallContext, script: &Script) -> Trace {
    let mut interpreter = Interpreter::new(flow, ctx);
    let mut inputs = script.inputs.iter();
    let mut hook_cursor: BTreeMap<String, usize> = BTreeMap::new();
    let mut recordings = 0u32;
    let mut action = interpreter.step(Input::Start);
    // The interpreter's per-call budget ends every flow; this bound only guards the driver.
    for _ in 0..1_000_000u32 {
        if interpreter.is_finished() {
            break;
        }
        let input = match &action {
            Action::Play(_) | Action::Say { .. } => Input::Played,
            Action::CollectDigits(_) => match inputs.next() {
                Some(CallerInput::Digits(d)) => Input::Digits(d.clone()),
                Some(CallerInput::Hangup) => Input::CallerHangup,
                Some(CallerInput::Timeout | CallerInput::Recording { .. }) | None => Input::Timeout,
            },
            Action::Record { .. } => match inputs.next() {
                Some(CallerInput::Recording { seconds }) => {
                    recordings += 1;
                    Input::Recorded(Recording {
                        id: format!("sim-recording-{recordings}"),
                        duration_ms: seconds.saturating_mul(1000),
                    })
                }
                Some(CallerInput::Hangup) => Input::CallerHangup,
                Some(CallerInput::Digits(_) | CallerInput::Timeout) | None => Input::Timeout,
            },
            Action::Webhook { wait: false, .. } => Input::Sent,
            Action::Webhook { wait: true, .. } => {
                let node = interpreter.current_node().unwrap_or_default().to_string();
                let fixtures = script
                    .webhooks
                    .get(&node)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let cursor = hook_cursor.entry(node).or_insert(0);
                let fixture = fixtures.get(*cursor);
                *cursor += 1;
                match fixture {
                    Some(WebhookFixture::Reply { status, body }) => {
                        Input::WebhookResponse(WebhookResponse {
                            status: *status,
                            body: match body {
                                serde_json::Value::String(s) => s.clone(),
                                serde_json::Value::Null => String::new(),
                                other => other.to_string(),
                            },
                        })
                    }
                    Some(WebhookFixture::Error(e)) => {
                        Input::WebhookFailed(WebhookFailure::Transport(e.clone()))
                    }
                    Some(WebhookFixture::Timeout) | None => {
                        Input::WebhookFailed(WebhookFailure::Timeout)
                    }
                }
            }
            Action::Route(_) | Action::Voicemail { .. } | Action::Hangup => break,
        };
        action = interpreter.step(input);
    }
    interpreter.into_trace()
}
