//! Campaigns as data: dialing modes, the lifecycle, the settings a campaign
//! is created with (validated here, stored as JSON by the API) and the retry
//! rules that decide when a lead is tried again after an outcome.
//!
//! Pure: no store, no clock. The API checks transitions with
//! [`CampaignStatus::can_become`] inside the transaction that changes them.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

pub use crate::schedule::{ActiveWindow, Schedule};

/// How lines are dialed for the agents of a campaign.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DialMode {
    /// The agent sees the lead first, then accepts (dial) or skips it.
    Preview,
    /// One line per ready agent.
    Progressive,
    /// A fixed number of lines per ready agent (`dial_ratio`).
    Power,
    /// Omnivox's model-based pacing inside the abandonment budget.
    Predictive,
    /// No agents: a prompt (or flow) is played to whoever answers.
    Agentless,
}

impl DialMode {
    /// Lines are dialed without an agent reserved first: the law treats
    /// these as automated dialing (consent rules, abandonment budget).
    pub fn is_automated(self) -> bool {
        matches!(
            self,
            DialMode::Power | DialMode::Predictive | DialMode::Agentless
        )
    }

    /// An agent is reserved before each dial.
    pub fn agent_guaranteed(self) -> bool {
        matches!(self, DialMode::Preview | DialMode::Progressive)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DialMode::Preview => "preview",
            DialMode::Progressive => "progressive",
            DialMode::Power => "power",
            DialMode::Predictive => "predictive",
            DialMode::Agentless => "agentless",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            DialMode::Preview,
            DialMode::Progressive,
            DialMode::Power,
            DialMode::Predictive,
            DialMode::Agentless,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }
}

/// Where a campaign is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    /// Being set up; never dials.
    Draft,
    /// Started, waiting for its `start_at`.
    Scheduled,
    /// Dialing (inside its schedule windows).
    Running,
    /// Stopped for now; the hopper is kept.
    Paused,
    /// No new dials; calls in flight finish.
    Stopping,
    /// Done: stopped, or no lead left to dial.
    Completed,
    /// Kept for reports only; read-only.
    Archived,
}

/// What an operator asks a campaign to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LifecycleAction {
    Start,
    Pause,
    Resume,
    Stop,
    Archive,
}

impl CampaignStatus {
    pub const ALL: [CampaignStatus; 7] = [
        CampaignStatus::Draft,
        CampaignStatus::Scheduled,
        CampaignStatus::Running,
        CampaignStatus::Paused,
        CampaignStatus::Stopping,
        CampaignStatus::Completed,
        CampaignStatus::Archived,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Draft => "draft",
            CampaignStatus::Scheduled => "scheduled",
            CampaignStatus::Running => "running",
            CampaignStatus::Paused => "paused",
            CampaignStatus::Stopping => "stopping",
            CampaignStatus::Completed => "completed",
            CampaignStatus::Archived => "archived",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Whether the lifecycle allows going from `self` to `to`.
    pub fn can_become(self, to: CampaignStatus) -> bool {
        use CampaignStatus::*;
        matches!(
            (self, to),
            (Draft | Paused | Completed, Scheduled | Running)
                | (Scheduled, Running | Paused | Draft)
                | (Running, Paused | Stopping | Completed)
                | (Paused, Stopping)
                | (Stopping, Completed)
                | (Draft | Completed, Archived)
        )
    }

    /// Settings may change (lists, pacing, scripts) only while not archived;
    /// the mode only in draft.
    pub fn is_editable(self) -> bool {
        self != CampaignStatus::Archived
    }

    /// The hopper is filled and lines are dialed.
    pub fn dials(self) -> bool {
        self == CampaignStatus::Running
    }

    /// Where `action` leads from here, or why it cannot. `start_in_future`
    /// says whether the campaign's `start_at` is still ahead; `in_flight`
    /// whether calls of the campaign are still up (a stop then waits for
    /// them in `stopping`).
    pub fn after(
        self,
        action: LifecycleAction,
        start_in_future: bool,
        in_flight: bool,
    ) -> Result<CampaignStatus, String> {
        use CampaignStatus::*;
        let to = match action {
            LifecycleAction::Start | LifecycleAction::Resume if start_in_future => Scheduled,
            LifecycleAction::Start | LifecycleAction::Resume => Running,
            LifecycleAction::Pause => Paused,
            LifecycleAction::Stop if in_flight && self == Running => Stopping,
            LifecycleAction::Stop if self == Paused && in_flight => Stopping,
            LifecycleAction::Stop => Completed,
            LifecycleAction::Archive => Archived,
        };
        // A stop of a paused campaign with nothing in flight completes it at once.
        let ok = self.can_become(to) || (self == Paused && to == Completed);
        if ok && !(action == LifecycleAction::Resume && self != Paused) {
            Ok(to)
        } else {
            Err(format!(
                "a {} campaign cannot be {}",
                self.as_str(),
                match action {
                    LifecycleAction::Start => "started",
                    LifecycleAction::Pause => "paused",
                    LifecycleAction::Resume => "resumed",
                    LifecycleAction::Stop => "stopped",
                    LifecycleAction::Archive => "archived",
                }
            ))
        }
    }
}

/// Which leads the hopper takes first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "by")]
pub enum LeadOrder {
    /// Never-tried leads first, then by fewest attempts.
    #[default]
    NewFirst,
    /// Fewest attempts first (new leads included).
    FewestAttempts,
    /// The lead whose last attempt is oldest first (new leads first).
    OldestLastAttempt,
    /// A custom field of the contact, ascending unless `descending`.
    CustomField {
        field: String,
        #[serde(default)]
        descending: bool,
    },
}

/// The number presented to the called party.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum CallerId {
    /// The trunk's own presentation.
    #[default]
    Trunk,
    /// One number for every call.
    Fixed { number: String },
    /// Numbers used in rotation.
    Pool { numbers: Vec<String> },
    /// A number of the tenant with the called party's area code when there
    /// is one, else `fallback`.
    LocalPresence { fallback: String },
}

/// What to do when AMD says a machine answered.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum MachineAction {
    #[default]
    Hangup,
    /// Wait for the beep, then play the prompt.
    LeavePrompt { prompt: String },
}

/// Answering-machine detection for a campaign.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmdSettings {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub on_machine: MachineAction,
    /// Detector thresholds in milliseconds (and words), named as in
    /// Asterisk's `amd.conf`; each one not given keeps the default tuned on
    /// the labelled corpus. Checked together by the media engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_silence_ms: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greeting_ms: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_greeting_silence_ms: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_analysis_ms: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_word_ms: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub between_words_silence_ms: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_words: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_word_ms: Option<u32>,
}

/// When to try a lead again after an outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryRule {
    /// A hangup cause (`busy`, `no_answer`, `congestion`, `unavailable`,
    /// `rejected`, ...), `machine`, `abandoned`, or a disposition code.
    pub on: String,
    /// Seconds to wait before the next attempt; `null`: never retry.
    pub after_s: Option<u32>,
}

/// The outcomes a rule may name besides the tenant's disposition codes.
pub const RETRY_OUTCOMES: [&str; 12] = [
    "busy",
    "no_answer",
    "rejected",
    "invalid_number",
    "congestion",
    "unavailable",
    "cancelled",
    "normal",
    "media_timeout",
    "machine",
    "abandoned",
    "agent_no_answer",
];

/// Everything a campaign is configured with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignSettings {
    #[serde(default)]
    pub lead_order: LeadOrder,
    #[serde(default)]
    pub caller_id: CallerId,
    /// The trunk to dial through (its failover order applies); none: the
    /// tenant's first trunk.
    #[serde(default)]
    pub trunk_id: Option<String>,
    /// Seconds to let a number ring (at least 15, about 4 rings).
    #[serde(default = "default_ring_timeout")]
    pub ring_timeout_s: u32,
    #[serde(default)]
    pub amd: AmdSettings,
    /// Played to an answered call no agent takes within the 2-second grace.
    #[serde(default)]
    pub safe_harbor_prompt: Option<String>,
    /// Played to whoever answers in agentless mode.
    #[serde(default)]
    pub agentless_prompt: Option<String>,
    /// `all`, `none` or `on_demand`; none: the tenant's policy.
    #[serde(default)]
    pub recording: Option<String>,
    #[serde(default)]
    pub schedule: Schedule,
    /// Lines per ready agent in power mode.
    #[serde(default = "default_ratio")]
    pub dial_ratio: f64,
    /// Abandonment budget in percent (at most 3).
    #[serde(default = "default_abandon")]
    pub max_abandon_pct: f64,
    /// Apply UK (Ofcom) rules: 24-hour abandonment, 72-hour lock.
    #[serde(default)]
    pub uk_mode: bool,
    /// Telemarketing: prior express written consent required for automated modes.
    #[serde(default)]
    pub requires_written_consent: bool,
    #[serde(default)]
    pub max_attempts_total: Option<u32>,
    #[serde(default)]
    pub max_attempts_per_day: Option<u32>,
    /// Per outcome; outcomes without a rule use [`default_retry`].
    #[serde(default)]
    pub retry: Vec<RetryRule>,
    #[serde(default)]
    pub excluded_states: Vec<String>,
    #[serde(default)]
    pub excluded_prefixes: Vec<String>,
    /// Leads kept checked and ready per campaign.
    #[serde(default = "default_hopper")]
    pub hopper_size: u32,
    /// Calls at once in agentless mode (nobody waits for an agent, so only
    /// the trunks' capacity and this limit pace it).
    #[serde(default = "default_agentless_lines")]
    pub agentless_lines: u32,
    /// A callback kept for an agent that has waited this many seconds in
    /// the hopper (from when it came due, or was handed over) goes to
    /// anyone; none: it waits for its agent.
    #[serde(default)]
    pub callback_release_after_s: Option<u32>,
}

/// The longest `callback_release_after_s`: a week.
const MAX_CALLBACK_RELEASE_S: u32 = 7 * 24 * 3600;

fn default_ring_timeout() -> u32 {
    25
}
fn default_ratio() -> f64 {
    2.0
}
fn default_abandon() -> f64 {
    3.0
}
fn default_hopper() -> u32 {
    100
}
fn default_agentless_lines() -> u32 {
    10
}

impl Default for CampaignSettings {
    /// The same as `{}` deserialized.
    fn default() -> Self {
        CampaignSettings {
            lead_order: LeadOrder::default(),
            caller_id: CallerId::default(),
            trunk_id: None,
            ring_timeout_s: default_ring_timeout(),
            amd: AmdSettings::default(),
            safe_harbor_prompt: None,
            agentless_prompt: None,
            recording: None,
            schedule: Schedule::default(),
            dial_ratio: default_ratio(),
            max_abandon_pct: default_abandon(),
            uk_mode: false,
            requires_written_consent: false,
            max_attempts_total: None,
            max_attempts_per_day: None,
            retry: Vec::new(),
            excluded_states: Vec::new(),
            excluded_prefixes: Vec::new(),
            hopper_size: default_hopper(),
            agentless_lines: default_agentless_lines(),
            callback_release_after_s: None,
        }
    }
}

/// One problem with a setting: the field's path and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SettingProblem {
    pub field: String,
    pub message: String,
}

fn problem(field: &str, message: impl Into<String>) -> SettingProblem {
    SettingProblem {
        field: field.to_owned(),
        message: message.into(),
    }
}

fn is_e164(n: &str) -> bool {
    n.len() >= 8
        && n.len() <= 16
        && n.starts_with('+')
        && n[1..].bytes().all(|b| b.is_ascii_digit())
        && !n[1..].starts_with('0')
}

impl CampaignSettings {
    /// Every problem at once; empty when the settings are usable for `mode`.
    /// `dispositions` are the tenant's disposition codes (retry rules may
    /// name them).
    pub fn problems(&self, mode: DialMode, dispositions: &[&str]) -> Vec<SettingProblem> {
        let mut out = Vec::new();
        if self.ring_timeout_s < 15 {
            out.push(problem(
                "ring_timeout_s",
                "must be at least 15 seconds (about 4 rings)",
            ));
        } else if self.ring_timeout_s > 120 {
            out.push(problem("ring_timeout_s", "must be at most 120 seconds"));
        }
        if !(self.max_abandon_pct > 0.0 && self.max_abandon_pct <= 3.0) {
            out.push(problem(
                "max_abandon_pct",
                "must be above 0 and at most 3 (percent of answered calls)",
            ));
        }
        if !(1.0..=10.0).contains(&self.dial_ratio) {
            out.push(problem("dial_ratio", "must be between 1 and 10"));
        }
        if !(1..=10_000).contains(&self.hopper_size) {
            out.push(problem("hopper_size", "must be between 1 and 10000"));
        }
        if !(1..=1_000).contains(&self.agentless_lines) {
            out.push(problem("agentless_lines", "must be between 1 and 1000"));
        }
        if self
            .callback_release_after_s
            .is_some_and(|s| !(1..=MAX_CALLBACK_RELEASE_S).contains(&s))
        {
            out.push(problem(
                "callback_release_after_s",
                "must be between 1 second and 7 days (604800)",
            ));
        }
        match &self.caller_id {
            CallerId::Fixed { number } if !is_e164(number) => {
                out.push(problem("caller_id.number", "not an E.164 number"))
            }
            CallerId::Pool { numbers } if numbers.is_empty() => {
                out.push(problem("caller_id.numbers", "the pool is empty"))
            }
            CallerId::Pool { numbers } => {
                for (i, n) in numbers.iter().enumerate() {
                    if !is_e164(n) {
                        out.push(problem(
                            &format!("caller_id.numbers[{i}]"),
                            "not an E.164 number",
                        ));
                    }
                }
            }
            CallerId::LocalPresence { fallback } if !is_e164(fallback) => {
                out.push(problem("caller_id.fallback", "not an E.164 number"))
            }
            _ => {}
        }
        if let Some(r) = &self.recording
            && !matches!(r.as_str(), "all" | "none" | "on_demand")
        {
            out.push(problem("recording", "must be all, none or on_demand"));
        }
        if let LeadOrder::CustomField { field, .. } = &self.lead_order
            && field.trim().is_empty()
        {
            out.push(problem("lead_order.field", "names no field"));
        }
        for (field, message) in self.schedule.problems() {
            out.push(problem(&field, message));
        }
        if self.max_attempts_total == Some(0) || self.max_attempts_per_day == Some(0) {
            out.push(problem(
                "max_attempts_total",
                "attempt limits must be at least 1",
            ));
        }
        for (i, r) in self.retry.iter().enumerate() {
            if !RETRY_OUTCOMES.contains(&r.on.as_str()) && !dispositions.contains(&r.on.as_str()) {
                out.push(problem(
                    &format!("retry[{i}].on"),
                    format!(
                        "`{}` is neither a call outcome nor a disposition code of the tenant",
                        r.on
                    ),
                ));
            }
        }
        if mode == DialMode::Agentless && self.agentless_prompt.is_none() {
            out.push(problem(
                "agentless_prompt",
                "agentless campaigns play a prompt to whoever answers",
            ));
        }
        if mode.is_automated() && mode != DialMode::Agentless && self.safe_harbor_prompt.is_none() {
            out.push(problem(
                "safe_harbor_prompt",
                "power and predictive campaigns must play a safe-harbor message to calls no agent takes in time",
            ));
        }
        out
    }

    /// Prompt names the settings refer to (checked against the library).
    pub fn prompts(&self) -> Vec<&str> {
        let mut p = Vec::new();
        p.extend(self.safe_harbor_prompt.as_deref());
        p.extend(self.agentless_prompt.as_deref());
        if let MachineAction::LeavePrompt { prompt } = &self.amd.on_machine {
            p.push(prompt);
        }
        p
    }

    /// When to try a lead again after `outcome`, given the attempts made so
    /// far (this one included): `None` means the lead is done.
    pub fn next_attempt(
        &self,
        outcome: &str,
        attempts: u32,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        if self.max_attempts_total.is_some_and(|max| attempts >= max) {
            return None;
        }
        let after = match self.retry.iter().find(|r| r.on == outcome) {
            Some(r) => r.after_s,
            None => default_retry(outcome),
        }?;
        Some(now + TimeDelta::seconds(i64::from(after)))
    }
}

/// Retry delays for outcomes without a rule: busy after 15 minutes, no
/// answer or a machine after 2 hours, network trouble after 10 minutes, an
/// abandoned call after 1 hour; a human conversation (`normal`), a rejected
/// or invalid number is not retried.
pub fn default_retry(outcome: &str) -> Option<u32> {
    match outcome {
        "busy" => Some(15 * 60),
        "no_answer" | "machine" => Some(2 * 3600),
        "congestion" | "unavailable" | "media_timeout" | "cancelled" => Some(10 * 60),
        "abandoned" => Some(3600),
        // The agent dialed first never answered: the customer was not called.
        "agent_no_answer" => Some(0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, h, 0, 0).unwrap()
    }

    #[test]
    fn lifecycle_follows_the_documented_paths() {
        use CampaignStatus::*;
        use LifecycleAction::*;
        assert_eq!(Draft.after(Start, false, false), Ok(Running));
        assert_eq!(Draft.after(Start, true, false), Ok(Scheduled));
        assert_eq!(Running.after(Pause, false, false), Ok(Paused));
        assert_eq!(Paused.after(Resume, false, false), Ok(Running));
        assert_eq!(Running.after(Stop, false, true), Ok(Stopping));
        assert_eq!(Running.after(Stop, false, false), Ok(Completed));
        assert_eq!(Paused.after(Stop, false, false), Ok(Completed));
        assert_eq!(Completed.after(Archive, false, false), Ok(Archived));
        assert_eq!(Completed.after(Start, false, false), Ok(Running));
        // Refused paths.
        assert!(Draft.after(Pause, false, false).is_err());
        assert!(Running.after(Archive, false, false).is_err());
        assert!(Running.after(Resume, false, false).is_err());
        assert!(Draft.after(Resume, false, false).is_err());
        assert!(Archived.after(Start, false, false).is_err());
        assert!(Stopping.after(Start, false, false).is_err());
        let msg = Archived.after(Start, false, false).unwrap_err();
        assert_eq!(msg, "a archived campaign cannot be started");
    }

    #[test]
    fn nothing_leaves_archived() {
        for to in CampaignStatus::ALL {
            assert!(!CampaignStatus::Archived.can_become(to));
        }
    }

    #[test]
    fn statuses_and_modes_round_trip_their_names() {
        for s in CampaignStatus::ALL {
            assert_eq!(CampaignStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(DialMode::parse("predictive"), Some(DialMode::Predictive));
        assert_eq!(DialMode::parse("robocall"), None);
    }

    #[test]
    fn defaults_are_valid_for_agent_modes_and_name_what_is_missing_otherwise() {
        let s = CampaignSettings::default();
        assert_eq!(s.ring_timeout_s, 25);
        assert!(s.problems(DialMode::Progressive, &[]).is_empty());
        let p = s.problems(DialMode::Predictive, &[]);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].field, "safe_harbor_prompt");
        let p = s.problems(DialMode::Agentless, &[]);
        assert_eq!(p[0].field, "agentless_prompt");
    }

    #[test]
    fn every_bad_setting_is_reported_with_its_field() {
        let s: CampaignSettings = serde_json::from_value(serde_json::json!({
            "ring_timeout_s": 10,
            "max_abandon_pct": 5.0,
            "dial_ratio": 0.5,
            "caller_id": {"kind": "pool", "numbers": ["+12125550100", "555"]},
            "recording": "sometimes",
            "callback_release_after_s": 0,
            "retry": [{"on": "busy", "after_s": 900}, {"on": "sale_maybe", "after_s": 60}],
            "schedule": {"windows": [{"start": "17:00:00", "end": "09:00:00"}]}
        }))
        .unwrap();
        let fields: Vec<String> = s
            .problems(DialMode::Progressive, &["callback"])
            .into_iter()
            .map(|p| p.field)
            .collect();
        assert_eq!(
            fields,
            [
                "ring_timeout_s",
                "max_abandon_pct",
                "dial_ratio",
                "callback_release_after_s",
                "caller_id.numbers[1]",
                "recording",
                "schedule.windows[0]",
                "retry[1].on",
            ]
        );
        // A disposition code of the tenant is a valid retry trigger.
        let ok: CampaignSettings = serde_json::from_value(
            serde_json::json!({"retry": [{"on": "callback_later", "after_s": 60}]}),
        )
        .unwrap();
        assert!(
            ok.problems(DialMode::Progressive, &["callback_later"])
                .is_empty()
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let e = serde_json::from_value::<CampaignSettings>(serde_json::json!({"ring_timout": 30}))
            .unwrap_err();
        assert!(e.to_string().contains("ring_timout"), "{e}");
    }

    #[test]
    fn retry_rules_override_defaults_and_attempt_limits_end_the_lead() {
        let mut s = CampaignSettings::default();
        assert_eq!(
            s.next_attempt("busy", 1, at(10)),
            Some(at(10) + TimeDelta::minutes(15))
        );
        assert_eq!(s.next_attempt("no_answer", 1, at(10)), Some(at(12)));
        assert_eq!(s.next_attempt("normal", 1, at(10)), None);
        assert_eq!(s.next_attempt("invalid_number", 1, at(10)), None);
        s.retry = vec![
            RetryRule {
                on: "busy".into(),
                after_s: Some(60),
            },
            RetryRule {
                on: "no_answer".into(),
                after_s: None,
            },
        ];
        assert_eq!(
            s.next_attempt("busy", 1, at(10)),
            Some(at(10) + TimeDelta::minutes(1))
        );
        assert_eq!(s.next_attempt("no_answer", 1, at(10)), None);
        s.max_attempts_total = Some(3);
        assert!(s.next_attempt("busy", 2, at(10)).is_some());
        assert_eq!(s.next_attempt("busy", 3, at(10)), None);
    }
}
