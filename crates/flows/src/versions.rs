//! Versions of one flow as a pure model: one editable draft, immutable numbered versions,
//! a published pointer that publish moves forward and rollback moves back, and a structural
//! diff. The store persists this; keeping the rules here means they are tested without SQL.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::{Flow, Node};
use crate::validate::{Problem, PromptSet, validate};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VersionError {
    #[error("there is no draft to publish")]
    NoDraft,
    #[error("the draft has {} problem(s); first: {}", .0.len(), .0.first().map(ToString::to_string).unwrap_or_default())]
    Invalid(Vec<Problem>),
    #[error("version {0} does not exist")]
    UnknownVersion(u32),
    #[error("version {0} is already the published one")]
    AlreadyPublished(u32),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowVersion {
    pub number: u32,
    pub flow: Flow,
    pub created_at: DateTime<Utc>,
}

/// Who was published when: publish and rollback both append here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishRecord {
    pub version: u32,
    pub at: DateTime<Utc>,
    pub rollback: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FlowVersions {
    draft: Option<Flow>,
    versions: Vec<FlowVersion>,
    published: Option<u32>,
    history: Vec<PublishRecord>,
}

impl FlowVersions {
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the draft; drafts are never validated on save so work in progress is kept.
    pub fn save_draft(&mut self, flow: Flow) {
        self.draft = Some(flow);
    }

    pub fn draft(&self) -> Option<&Flow> {
        self.draft.as_ref()
    }

    pub fn discard_draft(&mut self) {
        self.draft = None;
    }

    /// Starts a draft from an existing version (to edit after a rollback, say).
    pub fn edit_from(&mut self, number: u32) -> Result<(), VersionError> {
        let flow = self
            .version(number)
            .ok_or(VersionError::UnknownVersion(number))?
            .flow
            .clone();
        self.draft = Some(flow);
        Ok(())
    }

    /// Validates the draft and, when it has no problems, freezes it as the next version and
    /// publishes it. An invalid draft stays a draft and the published version is untouched.
    pub fn publish(
        &mut self,
        prompts: &dyn PromptSet,
        now: DateTime<Utc>,
    ) -> Result<u32, VersionError> {
        let draft = self.draft.as_ref().ok_or(VersionError::NoDraft)?;
        let problems = validate(draft, prompts);
        if !problems.is_empty() {
            return Err(VersionError::Invalid(problems));
        }
        let number = self.versions.last().map_or(1, |v| v.number + 1);
        let flow = self.draft.take().ok_or(VersionError::NoDraft)?;
        self.versions.push(FlowVersion {
            number,
            flow,
            created_at: now,
        });
        self.published = Some(number);
        self.history.push(PublishRecord {
            version: number,
            at: now,
            rollback: false,
        });
        Ok(number)
    }

    /// Points the published pointer back at an earlier (already validated) version.
    pub fn rollback(&mut self, to: u32, now: DateTime<Utc>) -> Result<(), VersionError> {
        if self.version(to).is_none() {
            return Err(VersionError::UnknownVersion(to));
        }
        if self.published == Some(to) {
            return Err(VersionError::AlreadyPublished(to));
        }
        self.published = Some(to);
        self.history.push(PublishRecord {
            version: to,
            at: now,
            rollback: true,
        });
        Ok(())
    }

    pub fn published(&self) -> Option<&FlowVersion> {
        self.published.and_then(|n| self.version(n))
    }

    pub fn version(&self, number: u32) -> Option<&FlowVersion> {
        self.versions.iter().find(|v| v.number == number)
    }

    pub fn versions(&self) -> &[FlowVersion] {
        &self.versions
    }

    pub fn history(&self) -> &[PublishRecord] {
        &self.history
    }
}

/// What changed between two versions of a flow.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FlowDiff {
    pub start: Option<(String, String)>,
    pub fallback_changed: bool,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<NodeChange>,
    /// Edge changes of nodes present in both versions (added/removed nodes bring their
    /// edges with them and are listed above).
    pub edges: Vec<EdgeChange>,
}

impl FlowDiff {
    pub fn is_empty(&self) -> bool {
        self == &FlowDiff::default()
    }
}

/// A node whose configuration (not its edges) changed; `fields` are the JSON field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeChange {
    pub node: String,
    pub type_before: String,
    pub type_after: String,
    pub fields: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EdgeChange {
    pub node: String,
    pub edge: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// JSON fields that hold edges, compared as edges rather than as configuration.
const EDGE_FIELDS: [&str; 9] = [
    "next",
    "invalid",
    "timeout",
    "error",
    "then",
    "else",
    "options",
    "choices",
    "no_answer",
];

/// A structural diff from `old` to `new`, in node-id order.
pub fn diff(old: &Flow, new: &Flow) -> FlowDiff {
    let by_id = |f: &Flow| -> BTreeMap<String, Node> {
        let mut m = BTreeMap::new();
        for n in &f.nodes {
            m.entry(n.id.clone()).or_insert_with(|| n.clone());
        }
        m
    };
    let (a, b) = (by_id(old), by_id(new));
    let mut out = FlowDiff {
        start: (old.start != new.start).then(|| (old.start.clone(), new.start.clone())),
        fallback_changed: old.fallback != new.fallback,
        added: b.keys().filter(|k| !a.contains_key(*k)).cloned().collect(),
        removed: a.keys().filter(|k| !b.contains_key(*k)).cloned().collect(),
        ..FlowDiff::default()
    };
    for (id, before) in &a {
        let Some(after) = b.get(id) else { continue };
        let fields = changed_fields(before, after);
        if !fields.is_empty() || before.type_name() != after.type_name() {
            out.changed.push(NodeChange {
                node: id.clone(),
                type_before: before.type_name().into(),
                type_after: after.type_name().into(),
                fields,
            });
        }
        let eb: BTreeMap<String, &str> = before.edges().into_iter().collect();
        let ea: BTreeMap<String, &str> = after.edges().into_iter().collect();
        let labels: BTreeSet<&String> = eb.keys().chain(ea.keys()).collect();
        for label in labels {
            let (x, y) = (eb.get(label).copied(), ea.get(label).copied());
            if x != y {
                out.edges.push(EdgeChange {
                    node: id.clone(),
                    edge: label.clone(),
                    before: x.map(str::to_string),
                    after: y.map(str::to_string),
                });
            }
        }
    }
    out
}

fn changed_fields(before: &Node, after: &Node) -> Vec<String> {
    let to_map = |n: &Node| match serde_json::to_value(&n.kind) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let (x, y) = (to_map(before), to_map(after));
    let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
    keys.into_iter()
        .filter(|k| k.as_str() != "type" && !EDGE_FIELDS.contains(&k.as_str()))
        .filter(|k| x.get(*k) != y.get(*k))
        .cloned()
        .collect()
}
