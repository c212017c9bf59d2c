//! The validator: every problem in one pass, each tied to a node id, so an editor can mark
//! all of them at once instead of making the author fix one error per save.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;

use serde::Serialize;

use crate::model::{Flow, Node, NodeKind, RouteTarget};
use crate::schedule::Condition;
use crate::template;

/// The node id used for problems that belong to the flow itself (its fallback route).
pub const FLOW_LEVEL: &str = "(flow)";

const MAX_RETRIES: u8 = 10;
const MAX_TIMEOUT_MS: u32 = 60_000;
const MAX_DIGITS: u8 = 64;
const MAX_RECORD_SECONDS: u32 = 3_600;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub node: String,
    #[serde(flatten)]
    pub kind: ProblemKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum ProblemKind {
    /// `start` names no node (the problem's node is the missing id).
    MissingStart,
    DuplicateNode,
    DanglingEdge {
        edge: String,
        target: String,
    },
    Unreachable,
    /// A cycle that can repeat without waiting for the caller; lists its nodes.
    InputlessLoop {
        cycle: Vec<String>,
    },
    MissingPrompt {
        prompt: String,
    },
    BadConfig {
        field: String,
        reason: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = &self.node;
        match &self.kind {
            ProblemKind::MissingStart => write!(f, "start node `{n}` does not exist"),
            ProblemKind::DuplicateNode => write!(f, "node id `{n}` is used more than once"),
            ProblemKind::DanglingEdge { edge, target } => {
                write!(
                    f,
                    "node `{n}`: edge `{edge}` points at missing node `{target}`"
                )
            }
            ProblemKind::Unreachable => write!(f, "node `{n}` cannot be reached from the start"),
            ProblemKind::InputlessLoop { cycle } => write!(
                f,
                "node `{n}`: loop {} can repeat without caller input",
                cycle.join(" -> ")
            ),
            ProblemKind::MissingPrompt { prompt } => {
                write!(f, "node `{n}`: prompt `{prompt}` does not exist")
            }
            ProblemKind::BadConfig { field, reason } => write!(f, "node `{n}`: `{field}` {reason}"),
        }
    }
}

/// The prompt names known to the tenant.
pub trait PromptSet {
    fn contains_prompt(&self, name: &str) -> bool;
}

impl PromptSet for BTreeSet<String> {
    fn contains_prompt(&self, name: &str) -> bool {
        self.contains(name)
    }
}

impl PromptSet for HashSet<String> {
    fn contains_prompt(&self, name: &str) -> bool {
        self.contains(name)
    }
}

/// Returns every problem found; an empty list means the flow may be published.
pub fn validate(flow: &Flow, prompts: &dyn PromptSet) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, node) in flow.nodes.iter().enumerate() {
        // First definition wins, as in the interpreter; later twins are the duplicates.
        match index.entry(node.id.as_str()) {
            Entry::Occupied(_) => out.push(problem(&node.id, ProblemKind::DuplicateNode)),
            Entry::Vacant(slot) => {
                slot.insert(i);
            }
        }
        if !template::valid_name(&node.id) {
            out.push(bad(&node.id, "id", "must be letters, digits, `_` or `.`"));
        }
    }
    let start_ok = index.contains_key(flow.start.as_str());
    if !start_ok {
        out.push(problem(&flow.start, ProblemKind::MissingStart));
    }
    if let Some(target) = &flow.fallback {
        check_route(FLOW_LEVEL, "fallback", target, &mut out);
    }
    for node in &flow.nodes {
        for (edge, target) in node.edges() {
            if !index.contains_key(target) {
                out.push(problem(
                    &node.id,
                    ProblemKind::DanglingEdge {
                        edge,
                        target: target.to_string(),
                    },
                ));
            }
        }
        for prompt in node.prompts() {
            if !prompts.contains_prompt(prompt) {
                out.push(problem(
                    &node.id,
                    ProblemKind::MissingPrompt {
                        prompt: prompt.to_string(),
                    },
                ));
            }
        }
        check_config(node, &mut out);
    }
    if start_ok {
        unreachable(flow, &index, &mut out);
    }
    inputless_loops(flow, &index, &mut out);
    out
}

fn problem(node: &str, kind: ProblemKind) -> Problem {
    Problem {
        node: node.to_string(),
        kind,
    }
}

fn bad(node: &str, field: &str, reason: &str) -> Problem {
    problem(
        node,
        ProblemKind::BadConfig {
            field: field.into(),
            reason: reason.into(),
        },
    )
}

fn unreachable(flow: &Flow, index: &HashMap<&str, usize>, out: &mut Vec<Problem>) {
    let mut seen = vec![false; flow.nodes.len()];
    let mut stack: Vec<usize> = index
        .get(flow.start.as_str())
        .copied()
        .into_iter()
        .collect();
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        for (_, target) in flow.nodes[i].edges() {
            if let Some(&j) = index.get(target) {
                stack.push(j);
            }
        }
    }
    for (i, node) in flow.nodes.iter().enumerate() {
        // A duplicate id shadows its twin; only the indexed one counts as the node.
        if !seen[i] && index.get(node.id.as_str()) == Some(&i) {
            out.push(problem(&node.id, ProblemKind::Unreachable));
        }
    }
}

/// Strongly connected components of the graph restricted to nodes that do not wait for
/// input (iterative Tarjan, so a huge flow cannot overflow the stack).
fn inputless_loops(flow: &Flow, index: &HashMap<&str, usize>, out: &mut Vec<Problem>) {
    let n = flow.nodes.len();
    let adj: Vec<Vec<usize>> = flow
        .nodes
        .iter()
        .map(|node| {
            if node.waits_for_input() {
                return Vec::new();
            }
            node.edges()
                .into_iter()
                .filter_map(|(_, t)| index.get(t).copied())
                .filter(|&j| !flow.nodes[j].waits_for_input())
                .collect()
        })
        .collect();
    let mut idx = vec![usize::MAX; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut counter = 0;
    for root in 0..n {
        if idx[root] != usize::MAX || flow.nodes[root].waits_for_input() {
            continue;
        }
        let mut call: Vec<(usize, usize)> = vec![(root, 0)];
        idx[root] = counter;
        low[root] = counter;
        counter += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut next)) = call.last_mut() {
            if let Some(&w) = adj[v].get(*next) {
                *next += 1;
                if idx[w] == usize::MAX {
                    idx[w] = counter;
                    low[w] = counter;
                    counter += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    call.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(idx[w]);
                }
                continue;
            }
            call.pop();
            if let Some(&(parent, _)) = call.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == idx[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                let is_cycle = component.len() > 1 || adj[v].contains(&v);
                if is_cycle {
                    let mut ids: Vec<String> = component
                        .iter()
                        .map(|&i| flow.nodes[i].id.clone())
                        .collect();
                    ids.sort();
                    ids.dedup();
                    let first = ids.first().cloned().unwrap_or_default();
                    out.push(problem(&first, ProblemKind::InputlessLoop { cycle: ids }));
                }
            }
        }
    }
}

fn check_config(node: &Node, out: &mut Vec<Problem>) {
    let id = node.id.as_str();
    let mut push = |field: &str, reason: &str| out.push(bad(id, field, reason));
    let digit_key = |s: &str| {
        s.len() == 1
            && s.chars()
                .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
    };
    match &node.kind {
        NodeKind::Play { prompt, .. } if prompt.is_empty() => push("prompt", "is empty"),
        NodeKind::Play { .. } => {}
        NodeKind::Say { text, .. } => {
            if text.trim().is_empty() {
                push("text", "is empty");
            }
            if let Err(e) = template::check(text) {
                push("text", &e.to_string());
            }
        }
        NodeKind::Gather(g) => {
            if g.max_digits == 0 || g.max_digits > MAX_DIGITS {
                push("max_digits", "must be between 1 and 64");
            }
            if g.min_digits > g.max_digits {
                push("min_digits", "must not exceed max_digits");
            }
            if let Some(t) = g.terminator
                && !digit_key(&t.to_string())
            {
                push("terminator", "must be a DTMF key (0-9, * or #)");
            }
            timeout(
                g.first_digit_timeout_ms,
                "first_digit_timeout_ms",
                &mut push,
            );
            timeout(
                g.inter_digit_timeout_ms,
                "inter_digit_timeout_ms",
                &mut push,
            );
            retries(g.retries, &mut push);
            variable(&g.variable, &mut push);
        }
        NodeKind::Menu(m) => {
            if m.options.is_empty() {
                push("options", "must offer at least one key");
            }
            for key in m.options.keys() {
                if !digit_key(key) {
                    push(
                        &format!("options.{key}"),
                        "must be a single DTMF key (0-9, * or #)",
                    );
                }
            }
            timeout(m.timeout_ms, "timeout_ms", &mut push);
            retries(m.retries, &mut push);
        }
        NodeKind::Condition { test, .. } => check_condition(test, &mut push),
        NodeKind::Set {
            variable: v, value, ..
        } => {
            variable(v, &mut push);
            if let Err(e) = template::check(value) {
                push("value", &e.to_string());
            }
        }
        NodeKind::Webhook(w) => {
            if !(w.url.starts_with("https://") || w.url.starts_with("http://")) {
                push("url", "must be an http(s) URL");
            }
            if w.secret.is_empty() {
                push("secret", "must name a signing secret");
            }
            if w.timeout_ms == 0 || w.timeout_ms > 30_000 {
                push("timeout_ms", "must be between 1 and 30000");
            }
            if !w.wait && (!w.choices.is_empty() || w.error.is_some() || w.timeout.is_some()) {
                push(
                    "wait",
                    "a fire-and-forget webhook cannot have choices or error/timeout branches",
                );
            }
        }
        NodeKind::Route { target } => check_route(id, "target", target, out),
        NodeKind::Voicemail { mailbox, .. } if mailbox.is_empty() => push("mailbox", "is empty"),
        NodeKind::Voicemail { .. } => {}
        NodeKind::Record(r) => {
            if r.max_seconds == 0 || r.max_seconds > MAX_RECORD_SECONDS {
                push("max_seconds", "must be between 1 and 3600");
            }
            variable(&r.variable, &mut push);
            if r.mailbox.as_deref() == Some("") {
                push(
                    "mailbox",
                    "is empty (leave it out to record into the flow's own box)",
                );
            }
        }
        NodeKind::Survey(s) => {
            if s.max > 9 || s.min > s.max {
                push("max", "answers must be single keys with min <= max <= 9");
            }
            if s.question.is_empty() {
                push("question", "is empty");
            }
            timeout(s.timeout_ms, "timeout_ms", &mut push);
            retries(s.retries, &mut push);
            variable(&s.variable, &mut push);
        }
        NodeKind::Hangup { .. } => {}
    }
}

fn timeout(ms: u32, field: &str, push: &mut impl FnMut(&str, &str)) {
    if ms == 0 || ms > MAX_TIMEOUT_MS {
        push(field, "must be between 1 and 60000 ms");
    }
}

fn retries(n: u8, push: &mut impl FnMut(&str, &str)) {
    if n > MAX_RETRIES {
        push("retries", "must be at most 10");
    }
}

fn variable(name: &str, push: &mut impl FnMut(&str, &str)) {
    if !template::valid_name(name) {
        push("variable", "must be letters, digits, `_` or `.`");
    }
}

fn check_condition(test: &Condition, push: &mut impl FnMut(&str, &str)) {
    match test {
        Condition::BusinessHours(s) => {
            if s.weekly.is_empty() {
                push("if.weekly", "must list at least one opening window");
            }
            for w in &s.weekly {
                if w.days.is_empty() {
                    push("if.weekly.days", "must list at least one day");
                }
                if w.open >= w.close {
                    push(
                        "if.weekly",
                        &format!("window {}-{} must open before it closes", w.open, w.close),
                    );
                }
            }
        }
        Condition::TimeOfDay { from, to, .. } if from == to => {
            push("if.to", "must differ from `from`")
        }
        Condition::TimeOfDay { .. } => {}
        Condition::Variable { name, .. } => {
            if !template::valid_name(name) {
                push("if.name", "must be letters, digits, `_` or `.`");
            }
        }
        Condition::CallerPrefix { prefixes } => {
            let ok = |p: &String| {
                p.len() > 1 && p.starts_with('+') && p[1..].chars().all(|c| c.is_ascii_digit())
            };
            if prefixes.is_empty() || !prefixes.iter().all(ok) {
                push("if.prefixes", "must be non-empty E.164 prefixes like +1212");
            }
        }
        Condition::CallerCountry { countries } => {
            let ok = |c: &String| c.len() == 2 && c.chars().all(|ch| ch.is_ascii_alphabetic());
            if countries.is_empty() || !countries.iter().all(ok) {
                push("if.countries", "must be non-empty ISO 3166 alpha-2 codes");
            }
        }
    }
}

fn check_route(node: &str, field: &str, target: &RouteTarget, out: &mut Vec<Problem>) {
    let empty = match target {
        RouteTarget::Queue { queue: s }
        | RouteTarget::Agent { agent: s }
        | RouteTarget::Flow { flow: s } => s.is_empty(),
        RouteTarget::External { number } => {
            let digits = number.strip_prefix('+').unwrap_or("");
            if !(8..=15).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
                out.push(bad(
                    node,
                    field,
                    "external number must be E.164 (+ and 8-15 digits)",
                ));
            }
            false
        }
    };
    if empty {
        out.push(bad(node, field, "names no target"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: usize, close_loop: bool) -> Flow {
        let mut nodes: Vec<serde_json::Value> = (0..n)
            .map(|i| {
                let next = if i + 1 < n { format!("n{}", i + 1) } else if close_loop { "n0".into() } else { "end".into() };
                serde_json::json!({"id": format!("n{i}"), "type": "set", "variable": "x", "value": "1", "next": next})
            })
            .collect();
        nodes.push(serde_json::json!({"id": "end", "type": "hangup"}));
        serde_json::from_value(serde_json::json!({"start": "n0", "nodes": nodes})).unwrap()
    }

    #[test]
    fn long_chains_do_not_overflow_and_long_loops_are_found() {
        let none = BTreeSet::new();
        assert_eq!(validate(&chain(20_000, false), &none), vec![]);
        let ps = validate(&chain(20_000, true), &none);
        // `end` is unreachable once the chain closes on itself.
        assert_eq!(ps.len(), 2, "{:?}", &ps[..ps.len().min(3)]);
        assert!(ps.contains(&Problem {
            node: "end".into(),
            kind: ProblemKind::Unreachable
        }));
        let cycle = ps.iter().find_map(|p| match &p.kind {
            ProblemKind::InputlessLoop { cycle } => Some((p.node.as_str(), cycle.len())),
            _ => None,
        });
        assert_eq!(cycle, Some(("n0", 20_000)));
    }

    #[test]
    fn record_nodes_check_their_length_variable_and_mailbox() {
        let f: Flow = serde_json::from_value(serde_json::json!({"start": "a", "nodes": [
            {"id": "a", "type": "record", "variable": "msg", "max_seconds": 0, "next": "b"},
            {"id": "b", "type": "record", "variable": "m sg", "max_seconds": 3601,
             "mailbox": "", "next": "c"},
            {"id": "c", "type": "record", "variable": "ok", "max_seconds": 3600,
             "mailbox": "sales", "next": "d"},
            {"id": "d", "type": "record", "variable": "ok2", "max_seconds": 1, "next": "e"},
            {"id": "e", "type": "hangup"}
        ]}))
        .unwrap();
        let mut found: Vec<(String, String)> = validate(&f, &BTreeSet::new())
            .into_iter()
            .map(|p| match p.kind {
                ProblemKind::BadConfig { field, .. } => (p.node, field),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        found.sort();
        assert_eq!(
            found,
            [
                ("a".to_string(), "max_seconds".to_string()),
                ("b".to_string(), "mailbox".to_string()),
                ("b".to_string(), "max_seconds".to_string()),
                ("b".to_string(), "variable".to_string()),
            ]
        );
    }

    #[test]
    fn two_loops_are_two_problems_and_a_gather_breaks_a_third() {
        let f: Flow = serde_json::from_value(serde_json::json!({"start": "a", "nodes": [
            {"id": "a", "type": "condition", "if": {"kind": "variable", "name": "x", "op": "exists"}, "then": "b", "else": "c"},
            {"id": "b", "type": "set", "variable": "x", "value": "1", "next": "a"},
            {"id": "c", "type": "say", "text": "hi", "next": "d"},
            {"id": "d", "type": "say", "text": "again", "next": "c"},
            {"id": "g", "type": "gather", "variable": "v", "min_digits": 1, "max_digits": 2, "next": "a"}
        ]}))
        .unwrap();
        let ps = validate(&f, &BTreeSet::new());
        let loops: Vec<&Problem> = ps
            .iter()
            .filter(|p| matches!(p.kind, ProblemKind::InputlessLoop { .. }))
            .collect();
        let mut heads: Vec<&str> = loops.iter().map(|p| p.node.as_str()).collect();
        heads.sort();
        assert_eq!(heads, ["a", "c"], "{ps:?}");
    }
}
