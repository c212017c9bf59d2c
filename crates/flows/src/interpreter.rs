//! The step machine. The call actor (live) and the simulator both call
//! [`Interpreter::step`] with the result of the previous action and get the next action;
//! there is no IO here, so the two cannot drift apart. Every dead end (exhausted retries
//! without a branch, webhook failure without a branch, a missing node, a runaway loop)
//! takes the safe fallback route instead of leaving the caller in silence.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::action::{Action, CallContext, CollectDigits, Input, Outcome, Trace, TraceEvent};
use crate::model::{DEFAULT_FALLBACK_QUEUE, Flow, NodeId, NodeKind, RouteTarget};
use crate::schedule::ConditionInput;
use crate::template;
use crate::webhook::{self, WebhookError, WebhookFailure};

#[derive(Debug, Clone)]
enum AfterPlay {
    Goto(NodeId),
    Hangup,
}

#[derive(Debug, Clone)]
enum State {
    NotStarted,
    AfterPlay(AfterPlay),
    Collect { node: usize, attempt: u8 },
    Webhook { node: usize },
    WebhookSent { node: usize },
    Record { node: usize },
    Done(Action),
}

/// Why a collection attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Miss {
    Invalid,
    NoInput,
}

/// Drives one call through one flow.
#[derive(Debug)]
pub struct Interpreter {
    flow: Arc<Flow>,
    index: HashMap<String, usize>,
    ctx: CallContext,
    state: State,
    trace: Trace,
    entries_total: u32,
    entries_this_step: u32,
    current: Option<usize>,
}

impl Interpreter {
    pub fn new(flow: Arc<Flow>, ctx: CallContext) -> Interpreter {
        let mut index = HashMap::with_capacity(flow.nodes.len());
        for (i, node) in flow.nodes.iter().enumerate() {
            // First definition wins, as in `Flow::node`.
            index.entry(node.id.clone()).or_insert(i);
        }
        let trace = Trace {
            variables: ctx.variables.clone(),
            ..Trace::default()
        };
        Interpreter {
            flow,
            index,
            ctx,
            state: State::NotStarted,
            trace,
            entries_total: 0,
            entries_this_step: 0,
            current: None,
        }
    }

    /// Advances the call by one input and returns what the actor must do next. After a
    /// terminal action, further steps return that action again and change nothing.
    pub fn step(&mut self, input: Input) -> Action {
        if let State::Done(action) = &self.state {
            return action.clone();
        }
        self.entries_this_step = 0;
        self.trace.events.push(TraceEvent::Input {
            input: input.clone(),
        });
        if input == Input::CallerHangup {
            self.trace.outcome = Some(Outcome::CallerHangup);
            return self.done(Action::Hangup);
        }
        let state = std::mem::replace(&mut self.state, State::NotStarted);
        match state {
            State::Done(action) => action,
            State::NotStarted => {
                let start = self.flow.start.clone();
                self.run_from(&start)
            }
            State::AfterPlay(AfterPlay::Goto(next)) => self.run_from(&next),
            State::AfterPlay(AfterPlay::Hangup) => {
                self.trace.outcome = Some(Outcome::Hangup);
                self.done(Action::Hangup)
            }
            State::Collect { node, attempt } => self.collected(node, attempt, input),
            State::Webhook { node } => self.webhook_result(node, input),
            State::WebhookSent { node } => match &self.flow.nodes[node].kind {
                NodeKind::Webhook(w) => {
                    let next = w.next.clone();
                    self.run_from(&next)
                }
                _ => self.fallback("internal: webhook state on a non-webhook node"),
            },
            State::Record { node } => self.recorded(node, input),
        }
    }

    /// Moves the clock, for a live call whose conditions are evaluated later than it began.
    pub fn set_now(&mut self, now: DateTime<Utc>) {
        self.ctx.now = now;
    }

    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    pub fn into_trace(self) -> Trace {
        self.trace
    }

    pub fn variables(&self) -> &std::collections::BTreeMap<String, String> {
        &self.ctx.variables
    }

    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Done(_))
    }

    /// The node the call is at (the one whose action is outstanding).
    pub fn current_node(&self) -> Option<&str> {
        self.current.map(|i| self.flow.nodes[i].id.as_str())
    }

    fn done(&mut self, action: Action) -> Action {
        self.trace.events.push(TraceEvent::Action {
            action: action.clone(),
        });
        self.state = State::Done(action.clone());
        action
    }

    fn emit(&mut self, state: State, action: Action) -> Action {
        self.trace.events.push(TraceEvent::Action {
            action: action.clone(),
        });
        self.state = state;
        action
    }

    fn fallback(&mut self, reason: &str) -> Action {
        let node = self.current_node().map(str::to_string);
        let target = self
            .flow
            .fallback
            .clone()
            .or_else(|| self.ctx.fallback.clone())
            .unwrap_or(RouteTarget::Queue {
                queue: DEFAULT_FALLBACK_QUEUE.into(),
            });
        self.trace.events.push(TraceEvent::Fallback {
            node,
            reason: reason.to_string(),
        });
        self.trace.fallback_reason = Some(reason.to_string());
        self.trace.outcome = Some(Outcome::Route(target.clone()));
        self.done(Action::Route(target))
    }

    fn set_var(&mut self, name: &str, value: String) {
        self.trace.events.push(TraceEvent::Set {
            name: name.into(),
            value: value.clone(),
        });
        self.trace.variables.insert(name.into(), value.clone());
        self.ctx.variables.insert(name.into(), value);
    }

    fn render(&self, text: &str) -> String {
        let ctx = &self.ctx;
        template::render(text, |name| {
            ctx.variables.get(name).map(String::as_str).or(match name {
                "caller" => Some(ctx.caller.as_str()),
                "called" => Some(ctx.called.as_str()),
                "call_id" => Some(ctx.call_id.as_str()),
                _ => None,
            })
        })
    }

    fn branch(&mut self, node: usize, edge: &str) {
        let id = self.flow.nodes[node].id.clone();
        self.trace.events.push(TraceEvent::Branch {
            node: id,
            edge: edge.into(),
        });
    }

    fn error(&mut self, node: usize, message: String) {
        let id = self.flow.nodes[node].id.clone();
        self.trace
            .events
            .push(TraceEvent::Error { node: id, message });
    }

    /// Enters nodes until one needs the actor; conditions and `set` run inline.
    fn run_from(&mut self, start: &str) -> Action {
        let flow = Arc::clone(&self.flow);
        let mut id: NodeId = start.to_string();
        loop {
            let Some(&i) = self.index.get(id.as_str()) else {
                return self.fallback(&format!("node `{id}` does not exist"));
            };
            self.entries_total += 1;
            self.entries_this_step += 1;
            if self.entries_this_step > self.ctx.budget.per_step {
                return self.fallback("step budget exhausted: the flow loops without caller input");
            }
            if self.entries_total > self.ctx.budget.per_call {
                return self.fallback("call step budget exhausted");
            }
            self.current = Some(i);
            let node = &flow.nodes[i];
            self.trace.nodes.push(node.id.clone());
            self.trace.events.push(TraceEvent::Enter {
                node: node.id.clone(),
            });
            match &node.kind {
                NodeKind::Play { prompt, next } => {
                    self.trace.prompts.push(prompt.clone());
                    return self.emit(
                        State::AfterPlay(AfterPlay::Goto(next.clone())),
                        Action::Play(prompt.clone()),
                    );
                }
                NodeKind::Say { text, voice, next } => {
                    let text = self.render(text);
                    self.trace.spoken.push(text.clone());
                    let action = Action::Say {
                        text,
                        voice: voice.clone(),
                    };
                    return self.emit(State::AfterPlay(AfterPlay::Goto(next.clone())), action);
                }
                NodeKind::Gather(_) | NodeKind::Menu(_) | NodeKind::Survey(_) => {
                    return self.ask(i, 0);
                }
                NodeKind::Condition {
                    test,
                    then,
                    otherwise,
                } => {
                    let input = ConditionInput {
                        now: self.ctx.now,
                        caller: &self.ctx.caller,
                        caller_country: self.ctx.caller_country.as_deref(),
                        variables: &self.ctx.variables,
                    };
                    let taken = test.evaluate(&input);
                    self.branch(i, if taken { "then" } else { "else" });
                    id = if taken {
                        then.clone()
                    } else {
                        otherwise.clone()
                    };
                }
                NodeKind::Set {
                    variable,
                    value,
                    next,
                } => {
                    let value = self.render(value);
                    self.set_var(variable, value);
                    id = next.clone();
                }
                NodeKind::Webhook(w) => {
                    let Some(secret) = self.ctx.secrets.get(&w.secret) else {
                        self.error(i, WebhookError::MissingSecret(w.secret.clone()).to_string());
                        match &w.error {
                            Some(e) => {
                                id = e.clone();
                                continue;
                            }
                            None => {
                                return self.fallback("webhook secret missing and no error branch");
                            }
                        }
                    };
                    let payload = serde_json::json!({
                        "call_id": self.ctx.call_id,
                        "flow_id": self.ctx.flow_id,
                        "node": node.id,
                        "caller": self.ctx.caller,
                        "called": self.ctx.called,
                        "timestamp": self.ctx.now.timestamp(),
                        "variables": self.ctx.variables,
                    });
                    match webhook::build_request(
                        &w.url,
                        secret,
                        self.ctx.now.timestamp(),
                        w.timeout_ms,
                        &payload,
                    ) {
                        Ok(request) => {
                            let state = if w.wait {
                                State::Webhook { node: i }
                            } else {
                                State::WebhookSent { node: i }
                            };
                            return self.emit(
                                state,
                                Action::Webhook {
                                    request,
                                    wait: w.wait,
                                },
                            );
                        }
                        Err(e) => {
                            self.error(i, e.to_string());
                            match &w.error {
                                Some(e) => id = e.clone(),
                                None => {
                                    return self.fallback(
                                        "webhook could not be signed and no error branch",
                                    );
                                }
                            }
                        }
                    }
                }
                NodeKind::Route { target } => {
                    self.trace.outcome = Some(Outcome::Route(target.clone()));
                    return self.done(Action::Route(target.clone()));
                }
                NodeKind::Voicemail { mailbox, greeting } => {
                    self.trace.prompts.extend(greeting.iter().cloned());
                    self.trace.outcome = Some(Outcome::Voicemail {
                        mailbox: mailbox.clone(),
                    });
                    return self.done(Action::Voicemail {
                        mailbox: mailbox.clone(),
                        greeting: greeting.clone(),
                    });
                }
                NodeKind::Record(r) => {
                    self.trace.prompts.extend(r.prompt.iter().cloned());
                    let action = Action::Record {
                        prompt: r.prompt.clone(),
                        max_seconds: r.max_seconds,
                        beep: r.beep,
                    };
                    return self.emit(State::Record { node: i }, action);
                }
                NodeKind::Hangup { prompt: Some(p) } => {
                    self.trace.prompts.push(p.clone());
                    return self.emit(State::AfterPlay(AfterPlay::Hangup), Action::Play(p.clone()));
                }
                NodeKind::Hangup { prompt: None } => {
                    self.trace.outcome = Some(Outcome::Hangup);
                    return self.done(Action::Hangup);
                }
            }
        }
    }

    /// Emits the collection for a gather/menu/survey node; retries replay the invalid
    /// prompt before the main one.
    fn ask(&mut self, node: usize, attempt: u8) -> Action {
        let flow = Arc::clone(&self.flow);
        let retry = attempt > 0;
        let with_retry = |invalid: &Option<String>, main: Option<&String>| -> Vec<String> {
            let mut v = Vec::new();
            if retry {
                v.extend(invalid.iter().cloned());
            }
            v.extend(main.cloned());
            v
        };
        let collect = match &flow.nodes[node].kind {
            NodeKind::Gather(g) => CollectDigits {
                prompts: with_retry(&g.invalid_prompt, g.prompt.as_ref()),
                min_digits: g.min_digits,
                max_digits: g.max_digits,
                terminator: g.terminator,
                first_digit_timeout_ms: g.first_digit_timeout_ms,
                inter_digit_timeout_ms: g.inter_digit_timeout_ms,
            },
            NodeKind::Menu(m) => CollectDigits {
                prompts: with_retry(&m.invalid_prompt, Some(&m.prompt)),
                min_digits: 1,
                max_digits: 1,
                terminator: None,
                first_digit_timeout_ms: m.timeout_ms,
                inter_digit_timeout_ms: m.timeout_ms,
            },
            NodeKind::Survey(s) => CollectDigits {
                prompts: vec![s.prompt.clone()],
                min_digits: 1,
                max_digits: 1,
                terminator: None,
                first_digit_timeout_ms: s.timeout_ms,
                inter_digit_timeout_ms: s.timeout_ms,
            },
            _ => return self.fallback("internal: collection on a node that takes no digits"),
        };
        self.trace.prompts.extend(collect.prompts.iter().cloned());
        self.emit(
            State::Collect { node, attempt },
            Action::CollectDigits(collect),
        )
    }

    fn collected(&mut self, node: usize, attempt: u8, input: Input) -> Action {
        let flow = Arc::clone(&self.flow);
        let entered = match input {
            Input::Digits(d) if !d.is_empty() => Some(d),
            Input::Digits(_) | Input::Timeout => None,
            other => {
                self.error(
                    node,
                    format!(
                        "unexpected input {other:?} while collecting digits; taken as no input"
                    ),
                );
                None
            }
        };
        let outcome: Result<(String, NodeId), Miss> = match &flow.nodes[node].kind {
            NodeKind::Gather(g) => {
                let digits = entered.map(|d| match g.terminator {
                    Some(t) => d.split(t).next().unwrap_or("").to_string(),
                    None => d,
                });
                match digits {
                    None if g.min_digits == 0 => Ok((String::new(), g.next.clone())),
                    None => Err(Miss::NoInput),
                    Some(d) => {
                        let len = d.chars().count();
                        let dtmf = d
                            .chars()
                            .all(|c| c.is_ascii_digit() || c == '*' || c == '#');
                        if dtmf
                            && len >= usize::from(g.min_digits)
                            && len <= usize::from(g.max_digits)
                        {
                            self.set_var(&g.variable, d);
                            Ok((String::new(), g.next.clone()))
                        } else {
                            Err(Miss::Invalid)
                        }
                    }
                }
            }
            NodeKind::Menu(m) => match entered {
                None => Err(Miss::NoInput),
                Some(d) => match m.options.get(&d) {
                    Some(target) => Ok((format!("option:{d}"), target.clone())),
                    None => Err(Miss::Invalid),
                },
            },
            NodeKind::Survey(s) => match entered {
                None => Err(Miss::NoInput),
                Some(d) => match d.parse::<u8>() {
                    Ok(n) if (s.min..=s.max).contains(&n) && d.len() == 1 => {
                        self.set_var(&s.variable, d.clone());
                        self.trace.survey.insert(s.question.clone(), d);
                        Ok((String::new(), s.next.clone()))
                    }
                    _ => Err(Miss::Invalid),
                },
            },
            _ => return self.fallback("internal: digits for a node that takes none"),
        };
        match outcome {
            Ok((edge, next)) => {
                if !edge.is_empty() {
                    self.branch(node, &edge);
                }
                self.run_from(&next)
            }
            Err(miss) => self.missed(node, attempt, miss),
        }
    }

    fn missed(&mut self, node: usize, attempt: u8, miss: Miss) -> Action {
        let flow = Arc::clone(&self.flow);
        let what = if miss == Miss::Invalid {
            "invalid input"
        } else {
            "no input"
        };
        self.error(node, format!("{what} (attempt {})", u32::from(attempt) + 1));
        let (retries, branch) = match &flow.nodes[node].kind {
            NodeKind::Gather(g) => (g.retries, pick(miss, &g.timeout, &g.invalid)),
            NodeKind::Menu(m) => (m.retries, pick(miss, &m.timeout, &m.invalid)),
            // An unanswered survey is not worth losing the caller over: go on unanswered.
            NodeKind::Survey(s) => (
                s.retries,
                Some(
                    s.no_answer
                        .as_ref()
                        .map_or(("next", &s.next), |t| ("no_answer", t)),
                ),
            ),
            _ => (0, None),
        };
        if attempt < retries {
            return self.ask(node, attempt + 1);
        }
        match branch {
            Some((edge, target)) => {
                self.branch(node, edge);
                self.run_from(target)
            }
            None => self.fallback(&format!("{what}: retries exhausted and no branch")),
        }
    }

    fn webhook_result(&mut self, node: usize, input: Input) -> Action {
        let flow = Arc::clone(&self.flow);
        let NodeKind::Webhook(w) = &flow.nodes[node].kind else {
            return self.fallback("internal: webhook result on a non-webhook node");
        };
        let failure = match input {
            Input::WebhookResponse(resp) => match webhook::parse_reply(&resp) {
                Ok((vars, next)) => match next {
                    Some(n) if !w.choices.contains(&n) => {
                        Err(WebhookError::UnknownChoice(n).to_string())
                    }
                    next => {
                        for (k, v) in vars {
                            self.set_var(&k, v);
                        }
                        let (edge, target) = match next {
                            Some(n) => (format!("choice:{n}"), n),
                            None => ("next".to_string(), w.next.clone()),
                        };
                        self.branch(node, &edge);
                        return self.run_from(&target);
                    }
                },
                Err(e) => Err(e.to_string()),
            },
            Input::WebhookFailed(WebhookFailure::Timeout) => Ok(()),
            Input::WebhookFailed(WebhookFailure::Transport(e)) => Err(e),
            other => Err(format!(
                "unexpected input {other:?} while waiting for the webhook"
            )),
        };
        let (edge, target) = match failure {
            Ok(()) => {
                self.error(node, "webhook timed out".into());
                match (&w.timeout, &w.error) {
                    (Some(t), _) => ("timeout", t),
                    (None, Some(e)) => ("error", e),
                    (None, None) => {
                        return self.fallback("webhook timed out and no timeout/error branch");
                    }
                }
            }
            Err(message) => {
                self.error(node, message);
                match &w.error {
                    Some(e) => ("error", e),
                    None => return self.fallback("webhook failed and no error branch"),
                }
            }
        };
        self.branch(node, edge);
        self.run_from(target)
    }

    fn recorded(&mut self, node: usize, input: Input) -> Action {
        let flow = Arc::clone(&self.flow);
        let NodeKind::Record(r) = &flow.nodes[node].kind else {
            return self.fallback("internal: recording on a non-record node");
        };
        match input {
            Input::Recorded(rec) => {
                self.set_var(&r.variable, rec.id);
                self.set_var(&format!("{}_ms", r.variable), rec.duration_ms.to_string());
            }
            Input::Timeout => self.set_var(&r.variable, String::new()),
            other => {
                self.error(
                    node,
                    format!("unexpected input {other:?} while recording; nothing recorded"),
                );
                self.set_var(&r.variable, String::new());
            }
        }
        self.run_from(&r.next)
    }
}

/// The branch after exhausted retries: a timeout branch for silence when there is one,
/// else the invalid-input branch.
fn pick<'a>(
    miss: Miss,
    timeout: &'a Option<NodeId>,
    invalid: &'a Option<NodeId>,
) -> Option<(&'static str, &'a NodeId)> {
    if miss == Miss::NoInput
        && let Some(t) = timeout
    {
        return Some(("timeout", t));
    }
    invalid.as_ref().map(|t| ("invalid", t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Recording;
    use chrono::TimeZone;

    fn run(flow: serde_json::Value) -> Interpreter {
        let flow: Flow = serde_json::from_value(flow).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 1, 5, 12, 0, 0).unwrap();
        let mut ctx = CallContext::new("c", "f", "+15550001111", "+15550002222", now);
        ctx.secrets.insert("s".into(), b"k".to_vec());
        Interpreter::new(Arc::new(flow), ctx)
    }

    #[test]
    fn unexpected_input_while_collecting_counts_as_silence() {
        let mut it = run(serde_json::json!({"start": "m", "nodes": [
            {"id": "m", "type": "menu", "prompt": "p", "options": {"1": "h"}, "timeout": "t", "invalid": "h"},
            {"id": "h", "type": "hangup"},
            {"id": "t", "type": "route", "target": {"type": "queue", "queue": "silent"}}
        ]}));
        it.step(Input::Start);
        let action = it.step(Input::Played);
        assert_eq!(
            action,
            Action::Route(RouteTarget::Queue {
                queue: "silent".into()
            })
        );
        assert!(it.trace().events.iter().any(|e| matches!(e, TraceEvent::Error { message, .. } if message.contains("unexpected input"))));
    }

    #[test]
    fn unexpected_input_while_waiting_for_a_webhook_is_a_failure() {
        let mut it = run(serde_json::json!({"start": "w", "nodes": [
            {"id": "w", "type": "webhook", "url": "https://x.example", "secret": "s", "next": "h", "error": "e"},
            {"id": "h", "type": "hangup"},
            {"id": "e", "type": "voicemail", "mailbox": "errors"}
        ]}));
        it.step(Input::Start);
        assert_eq!(
            it.step(Input::Digits("1".into())),
            Action::Voicemail {
                mailbox: "errors".into(),
                greeting: None
            }
        );
    }

    #[test]
    fn barge_in_during_a_prompt_moves_on_and_silent_recording_is_empty() {
        let mut it = run(serde_json::json!({"start": "p", "nodes": [
            {"id": "p", "type": "play", "prompt": "hello", "next": "r"},
            {"id": "r", "type": "record", "variable": "msg", "max_seconds": 30, "beep": false, "next": "h"},
            {"id": "h", "type": "hangup"}
        ]}));
        assert_eq!(it.step(Input::Start), Action::Play("hello".into()));
        let rec = it.step(Input::Digits("5".into()));
        assert_eq!(
            rec,
            Action::Record {
                prompt: None,
                max_seconds: 30,
                beep: false
            }
        );
        assert_eq!(it.step(Input::Timeout), Action::Hangup);
        assert_eq!(it.variables().get("msg").map(String::as_str), Some(""));
        // A recording delivered late to a finished call changes nothing.
        let before = it.trace().clone();
        assert_eq!(
            it.step(Input::Recorded(Recording {
                id: "x".into(),
                duration_ms: 1
            })),
            Action::Hangup
        );
        assert_eq!(it.trace(), &before);
    }

    #[test]
    fn exhausted_branch_prefers_timeout_for_silence() {
        let (t, i) = (Some("t".to_string()), Some("i".to_string()));
        assert_eq!(pick(Miss::NoInput, &t, &i).map(|x| x.0), Some("timeout"));
        assert_eq!(pick(Miss::Invalid, &t, &i).map(|x| x.0), Some("invalid"));
        assert_eq!(pick(Miss::NoInput, &None, &i).map(|x| x.0), Some("invalid"));
        assert_eq!(pick(Miss::Invalid, &t, &None), None);
    }
}
