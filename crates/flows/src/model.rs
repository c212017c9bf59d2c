//! The flow graph as it is stored and exchanged: serde types that reject unknown fields so
//! a typo in a hand-written or API-posted flow is an error, not a silently ignored setting.

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::FlowError;
use crate::schedule::Condition;

/// A node id. Plain strings keep the JSON readable and the diff stable.
pub type NodeId = String;

/// One IVR flow: a start node, the nodes, and an optional safe route used whenever the flow
/// cannot go on (exhausted retries without a branch, webhook failure without a branch,
/// a runaway loop), so that a call is never left dead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    pub start: NodeId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<RouteTarget>,
    pub nodes: Vec<Node>,
}

impl Flow {
    /// Whether any node is a webhook (and so needs the tenant's signing
    /// secrets).
    pub fn has_webhooks(&self) -> bool {
        self.nodes
            .iter()
            .any(|n| matches!(n.kind, NodeKind::Webhook(_)))
    }

    /// Parses a flow from JSON; errors carry the line/column and, for node bodies, the node id.
    pub fn from_json(text: &str) -> Result<Flow, FlowError> {
        serde_json::from_str(text).map_err(|e| FlowError::Json {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })
    }

    pub fn to_json(&self) -> Result<String, FlowError> {
        serde_json::to_string_pretty(self).map_err(|e| FlowError::Json {
            line: 0,
            column: 0,
            message: e.to_string(),
        })
    }

    /// Whether any `record` node names no `mailbox` and so records into the box the flow
    /// itself owns.
    pub fn records_into_own_box(&self) -> bool {
        self.nodes
            .iter()
            .any(|n| matches!(&n.kind, NodeKind::Record(r) if r.mailbox.is_none()))
    }

    /// The first node with this id (the validator reports duplicates).
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }
}

/// A node: an id plus its typed configuration. The JSON form is flat:
/// `{"id": "welcome", "type": "play", "prompt": "welcome", "next": "menu"}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub id: NodeId,
    pub kind: NodeKind,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // `flatten` cannot be combined with `deny_unknown_fields`, so the id is split off by
        // hand and the rest is checked strictly; errors name the node they belong to.
        let mut map = serde_json::Map::deserialize(d)?;
        let id = match map.remove("id") {
            Some(serde_json::Value::String(s)) => s,
            Some(_) => return Err(D::Error::custom("node `id` must be a string")),
            None => return Err(D::Error::custom("node is missing its `id`")),
        };
        let kind = NodeKind::deserialize(serde_json::Value::Object(map))
            .map_err(|e| D::Error::custom(format!("node `{id}`: {e}")))?;
        Ok(Node { id, kind })
    }
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let mut value = serde_json::to_value(&self.kind).map_err(S::Error::custom)?;
        if let serde_json::Value::Object(map) = &mut value {
            map.insert("id".into(), serde_json::Value::String(self.id.clone()));
        }
        value.serialize(s)
    }
}

/// Node configurations. Edges are node ids held in the fields named `next`, `invalid`,
/// `timeout`, `error`, `then`/`else`, `options` and `choices`; see [`Node::edges`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum NodeKind {
    /// Plays a recorded prompt by name.
    Play {
        prompt: String,
        next: NodeId,
    },
    /// Speaks text through the TTS provider; `{{var}}` placeholders are interpolated.
    Say {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        voice: Option<String>,
        next: NodeId,
    },
    Gather(Gather),
    Menu(Menu),
    Condition {
        #[serde(rename = "if")]
        test: Condition,
        then: NodeId,
        #[serde(rename = "else")]
        otherwise: NodeId,
    },
    /// Sets a variable to an interpolated template.
    Set {
        variable: String,
        value: String,
        next: NodeId,
    },
    Webhook(Webhook),
    Route {
        target: RouteTarget,
    },
    Voicemail {
        mailbox: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        greeting: Option<String>,
    },
    Record(Record),
    Survey(Survey),
    Hangup {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prompt: Option<String>,
    },
}

/// Collects a digit string into a variable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gather {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Played before the prompt again after an invalid entry or a timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_prompt: Option<String>,
    pub variable: String,
    pub min_digits: u8,
    pub max_digits: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminator: Option<char>,
    #[serde(default = "default_first_digit_ms")]
    pub first_digit_timeout_ms: u32,
    #[serde(default = "default_inter_digit_ms")]
    pub inter_digit_timeout_ms: u32,
    /// Extra attempts after the first one.
    #[serde(default)]
    pub retries: u8,
    pub next: NodeId,
    /// Taken when retries are exhausted (also for timeouts when `timeout` is absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid: Option<NodeId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<NodeId>,
}

/// A single-key menu: digit -> node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Menu {
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_prompt: Option<String>,
    pub options: BTreeMap<String, NodeId>,
    #[serde(default = "default_first_digit_ms")]
    pub timeout_ms: u32,
    #[serde(default)]
    pub retries: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid: Option<NodeId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<NodeId>,
}

/// An HTTP webhook. The request body is signed with the named secret (HMAC-SHA256 over
/// `"{timestamp}.{body}"`); the response may set variables and pick the next node among
/// `choices`, so an outside service can steer the call only along edges the validator saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    pub url: String,
    /// Name of the signing secret, looked up in the call context.
    pub secret: String,
    #[serde(default = "default_webhook_ms")]
    pub timeout_ms: u32,
    /// When false the request is fire-and-forget and the flow goes on at once.
    #[serde(default = "default_true")]
    pub wait: bool,
    pub next: NodeId,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<NodeId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<NodeId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<NodeId>,
}

/// Records a message; the recording id lands in `variable` and its length in ms in
/// `{variable}_ms`. A live call keeps the message as a voicemail message of `mailbox` (a
/// box's name or id) or, without one, of the box the flow itself owns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    pub variable: String,
    pub max_seconds: u32,
    #[serde(default = "default_true")]
    pub beep: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<String>,
    pub next: NodeId,
}

/// A survey question answered with one key in `min..=max`; the answer is stored in
/// `variable` and in the trace's survey results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Survey {
    pub question: String,
    pub prompt: String,
    pub variable: String,
    pub min: u8,
    pub max: u8,
    #[serde(default = "default_first_digit_ms")]
    pub timeout_ms: u32,
    #[serde(default)]
    pub retries: u8,
    pub next: NodeId,
    /// Taken when no valid answer came; without it the flow goes on to `next` unanswered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_answer: Option<NodeId>,
}

/// Where a call leaves the flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RouteTarget {
    Queue { queue: String },
    Agent { agent: String },
    External { number: String },
    Flow { flow: String },
}

/// The queue every call falls back to when neither the flow nor the context names a safe
/// route. A queue is the safest default: the ACD's overflow rules take a caller with no
/// agents on to voicemail, so the call is never dead.
pub const DEFAULT_FALLBACK_QUEUE: &str = "default";

fn default_first_digit_ms() -> u32 {
    5_000
}
fn default_inter_digit_ms() -> u32 {
    3_000
}
fn default_webhook_ms() -> u32 {
    3_000
}
fn default_true() -> bool {
    true
}

impl Node {
    /// Every static edge as `(label, target)`; labels are stable names used by the
    /// validator and the diff (`next`, `invalid`, `option:1`, `choice:sales`, ...).
    pub fn edges(&self) -> Vec<(String, &str)> {
        let mut out: Vec<(String, &str)> = Vec::new();
        match &self.kind {
            NodeKind::Play { next, .. }
            | NodeKind::Say { next, .. }
            | NodeKind::Set { next, .. } => {
                out.push(("next".into(), next.as_str()));
            }
            NodeKind::Gather(g) => {
                out.push(("next".into(), g.next.as_str()));
                if let Some(t) = &g.invalid {
                    out.push(("invalid".into(), t.as_str()));
                }
                if let Some(t) = &g.timeout {
                    out.push(("timeout".into(), t.as_str()));
                }
            }
            NodeKind::Menu(m) => {
                if let Some(t) = &m.invalid {
                    out.push(("invalid".into(), t.as_str()));
                }
                if let Some(t) = &m.timeout {
                    out.push(("timeout".into(), t.as_str()));
                }
                for (digit, t) in &m.options {
                    out.push((format!("option:{digit}"), t.as_str()));
                }
            }
            NodeKind::Condition {
                then, otherwise, ..
            } => {
                out.push(("then".into(), then.as_str()));
                out.push(("else".into(), otherwise.as_str()));
            }
            NodeKind::Webhook(w) => {
                out.push(("next".into(), w.next.as_str()));
                if let Some(t) = &w.error {
                    out.push(("error".into(), t.as_str()));
                }
                if let Some(t) = &w.timeout {
                    out.push(("timeout".into(), t.as_str()));
                }
                for t in &w.choices {
                    out.push((format!("choice:{t}"), t.as_str()));
                }
            }
            NodeKind::Record(r) => out.push(("next".into(), r.next.as_str())),
            NodeKind::Survey(s) => {
                out.push(("next".into(), s.next.as_str()));
                if let Some(t) = &s.no_answer {
                    out.push(("no_answer".into(), t.as_str()));
                }
            }
            NodeKind::Route { .. } | NodeKind::Voicemail { .. } | NodeKind::Hangup { .. } => {}
        }
        out
    }

    /// True for nodes that wait for the caller (or for a remote service) before moving on:
    /// a cycle through at least one of them cannot spin on its own.
    pub fn waits_for_input(&self) -> bool {
        match &self.kind {
            NodeKind::Gather(_) | NodeKind::Menu(_) | NodeKind::Record(_) | NodeKind::Survey(_) => {
                true
            }
            NodeKind::Webhook(w) => w.wait,
            _ => false,
        }
    }

    /// Every prompt name the node plays.
    pub fn prompts(&self) -> Vec<&str> {
        let mut out = Vec::new();
        match &self.kind {
            NodeKind::Play { prompt, .. } => out.push(prompt.as_str()),
            NodeKind::Gather(g) => {
                out.extend(g.prompt.iter().chain(&g.invalid_prompt).map(String::as_str))
            }
            NodeKind::Menu(m) => {
                out.push(m.prompt.as_str());
                out.extend(m.invalid_prompt.as_deref());
            }
            NodeKind::Voicemail { greeting, .. } => out.extend(greeting.as_deref()),
            NodeKind::Record(r) => out.extend(r.prompt.as_deref()),
            NodeKind::Survey(s) => out.push(s.prompt.as_str()),
            NodeKind::Hangup { prompt } => out.extend(prompt.as_deref()),
            _ => {}
        }
        out
    }

    /// The voicemail box a `voicemail` node or a `record` node names (its name or id), if
    /// any; a `record` node without one records into the flow's own box.
    pub fn mailbox(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Voicemail { mailbox, .. } => Some(mailbox.as_str()),
            NodeKind::Record(r) => r.mailbox.as_deref(),
            _ => None,
        }
    }

    /// The `type` tag, for messages and the diff.
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Play { .. } => "play",
            NodeKind::Say { .. } => "say",
            NodeKind::Gather(_) => "gather",
            NodeKind::Menu(_) => "menu",
            NodeKind::Condition { .. } => "condition",
            NodeKind::Set { .. } => "set",
            NodeKind::Webhook(_) => "webhook",
            NodeKind::Route { .. } => "route",
            NodeKind::Voicemail { .. } => "voicemail",
            NodeKind::Record(_) => "record",
            NodeKind::Survey(_) => "survey",
            NodeKind::Hangup { .. } => "hangup",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_serialize_flat_with_their_id() {
        let node: Node = serde_json::from_value(serde_json::json!({
            "id": "m", "type": "menu", "prompt": "p", "options": {"1": "a", "#": "b"}, "invalid": "c"
        }))
        .unwrap();
        let value = serde_json::to_value(&node).unwrap();
        assert_eq!(value["id"], "m");
        assert_eq!(value["type"], "menu");
        assert_eq!(value["retries"], 0);
        let edges: Vec<(String, &str)> = node.edges();
        assert_eq!(
            edges,
            [
                ("invalid".into(), "c"),
                ("option:#".into(), "b"),
                ("option:1".into(), "a")
            ]
        );
        assert!(node.waits_for_input());
        assert_eq!(node.prompts(), ["p"]);
    }

    #[test]
    fn record_nodes_name_a_mailbox_or_use_the_flows_own() {
        let flow: Flow = serde_json::from_value(serde_json::json!({"start": "r", "nodes": [
            {"id": "r", "type": "record", "variable": "msg", "max_seconds": 30, "next": "n"},
            {"id": "n", "type": "record", "variable": "more", "max_seconds": 30,
             "mailbox": "sales", "next": "v"},
            {"id": "v", "type": "voicemail", "mailbox": "night"},
            {"id": "h", "type": "hangup"}
        ]}))
        .unwrap();
        let boxes: Vec<Option<&str>> = flow.nodes.iter().map(Node::mailbox).collect();
        assert_eq!(boxes, [None, Some("sales"), Some("night"), None]);
        assert!(flow.records_into_own_box());
        // Without a mailbox the field is left out, so older flows read back unchanged.
        let r = serde_json::to_value(&flow.nodes[0]).unwrap();
        assert!(r.get("mailbox").is_none(), "{r}");
        assert_eq!(r["beep"], true);
        let n = serde_json::to_value(&flow.nodes[1]).unwrap();
        assert_eq!(n["mailbox"], "sales");
        let back: Flow = serde_json::from_str(&flow.to_json().unwrap()).unwrap();
        assert_eq!(back, flow);

        let named: Flow = serde_json::from_value(serde_json::json!({"start": "r", "nodes": [
            {"id": "r", "type": "record", "variable": "msg", "max_seconds": 30,
             "mailbox": "sales", "next": "h"},
            {"id": "h", "type": "hangup"}
        ]}))
        .unwrap();
        assert!(!named.records_into_own_box());
        let err = serde_json::from_value::<Node>(serde_json::json!({
            "id": "r", "type": "record", "variable": "msg", "max_seconds": 30, "next": "h",
            "mailbox": 5
        }))
        .unwrap_err();
        assert!(err.to_string().contains("node `r`"), "{err}");
    }

    #[test]
    fn id_must_be_a_string() {
        let err = serde_json::from_value::<Node>(serde_json::json!({"id": 7, "type": "hangup"}))
            .unwrap_err();
        assert!(err.to_string().contains("`id` must be a string"));
    }
}
