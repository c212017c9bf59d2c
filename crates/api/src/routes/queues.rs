//! ACD queues over HTTP: the tenant's queues with their routing settings
//! (strategy, required skills, offer timeout, maximum wait, wrap-up,
//! overflow rules, announcements, prompts, callback), and a live snapshot
//! of each queue from the tenant's ACD (`crate::agents`).
//!
//! Every change is checked as a whole and reports every problem at once;
//! it is audited in its transaction and then applied to the live ACD.
//! Agents log in to queues with `POST agents/{user}/state`
//! (`"queues": [...]`).

use crate::auth::principal::TenantCtx;
use crate::error::{ApiError, ApiResult, ErrorBody, FieldError, exists, range};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::routes::agents::require_any;
use crate::routes::dto::{PageOut, PageQuery, json};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, TimeDelta, Utc};
use omnivox_acd::queue::EntryKind;
use omnivox_acd::{
    Acd, Level, OverflowCondition, OverflowRule, OverflowTarget, QueueConfig, Skill,
    SkillRequirement, Strategy, WrapUpPolicy,
};
use omnivox_domain::Permission;
use omnivox_domain::ids::QueueId;
use omnivox_store::queues::{QueueRow, QueueValues};
use omnivox_store::recordings::RecordingPolicy;
use omnivox_store::{ConnectionTrait, Scoped, StoreError, audit, commit};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use utoipa::ToSchema;
use uuid::Uuid;

const MAX_SKILLS: usize = 20;
const MAX_OVERFLOW_RULES: usize = 10;

// ------------------------------------------------------------------ types --

/// How a queue picks among the eligible available agents.
#[derive(Serialize, Deserialize, ToSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum QueueStrategy {
    /// The agent available for the longest time.
    LongestIdle,
    /// The agent with the fewest answered calls today.
    FewestCallsToday,
    /// The next agent after the last one offered.
    RoundRobin,
    /// The highest sum of level x weight over the required skills.
    SkillWeighted,
    /// Every eligible available agent rings; the first answer wins.
    RingAll,
}

impl QueueStrategy {
    fn as_str(self) -> &'static str {
        match self {
            QueueStrategy::LongestIdle => "longest_idle",
            QueueStrategy::FewestCallsToday => "fewest_calls_today",
            QueueStrategy::RoundRobin => "round_robin",
            QueueStrategy::SkillWeighted => "skill_weighted",
            QueueStrategy::RingAll => "ring_all",
        }
    }

    fn acd(self) -> Strategy {
        match self {
            QueueStrategy::LongestIdle => Strategy::LongestIdle,
            QueueStrategy::FewestCallsToday => Strategy::FewestCallsToday,
            QueueStrategy::RoundRobin => Strategy::RoundRobin,
            QueueStrategy::SkillWeighted => Strategy::SkillWeighted,
            QueueStrategy::RingAll => Strategy::RingAll,
        }
    }
}

/// A skill the queue's agents need, at `min_level` (1..10) or above;
/// `weight` (1..100) scales the level in the skill-weighted strategy.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RequiredSkill {
    pub skill: String,
    #[serde(default = "one")]
    pub min_level: i64,
    #[serde(default = "one")]
    pub weight: i64,
}

fn one() -> i64 {
    1
}

/// Wrap-up after a call from the queue (the ACD's `WrapUpPolicy`).
#[derive(Serialize, Deserialize, ToSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WrapUp {
    /// 0..3600, default 30.
    #[serde(default = "thirty")]
    pub seconds: i64,
    /// Whether wrap-up ends only with a disposition code.
    #[serde(default)]
    pub disposition_required: bool,
}

fn thirty() -> i64 {
    30
}

impl Default for WrapUp {
    fn default() -> Self {
        Self {
            seconds: 30,
            disposition_required: false,
        }
    }
}

/// What waiting callers hear about their place: position and/or estimated
/// wait, then the comfort prompt, repeated every `every_seconds` (15..3600,
/// required when either is on or there is a comfort prompt).
#[derive(Serialize, Deserialize, ToSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct Announcements {
    #[serde(default)]
    pub position: bool,
    #[serde(default)]
    pub ewt: bool,
    pub every_seconds: Option<i64>,
}

/// When an overflow rule fires.
#[derive(Serialize, Deserialize, ToSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum OverflowWhen {
    /// The call has waited `seconds` (1..86400).
    WaitedAtLeast,
    /// More than `calls` (0..10000) are waiting.
    WaitingAbove,
    /// No agent with the queue's skills is logged in to it.
    NoAgentLoggedIn,
}

/// Where an overflowing call goes.
#[derive(Serialize, Deserialize, ToSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum OverflowTo {
    /// Another queue of the tenant (`queue_id`).
    Queue,
    /// An IVR flow of the tenant (`flow_id`).
    Flow,
    /// The call becomes a callback in place (needs `callback_in_queue`).
    Callback,
    /// The caller leaves a message in a voicemail box of the tenant
    /// (`mailbox_id`).
    Voicemail,
}

/// One overflow rule; a queue's rules are checked in order, first match
/// wins.
#[derive(Serialize, Deserialize, ToSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OverflowRuleBody {
    pub when: OverflowWhen,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calls: Option<i64>,
    pub to: OverflowTo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailbox_id: Option<Uuid>,
}

/// A queue's settings, whole.
#[derive(Serialize, ToSchema, Clone, Debug)]
pub struct QueueSettings {
    pub name: String,
    pub description: String,
    pub strategy: QueueStrategy,
    pub required_skills: Vec<RequiredSkill>,
    /// The priority (0..100) of calls entering the queue; higher first.
    pub priority: i64,
    /// How long an offer rings at an agent (5..120 s).
    pub offer_timeout_s: i64,
    /// The longest a caller waits (10..86400 s; null: no limit).
    pub max_wait_s: Option<i64>,
    pub wrap_up: WrapUp,
    pub overflow: Vec<OverflowRuleBody>,
    pub announcements: Announcements,
    /// Music on hold: a prompt name of the tenant's prompt library.
    pub music_prompt: Option<String>,
    /// A comfort message played after each announcement, every
    /// `announcements.every_seconds` (a prompt name).
    pub comfort_prompt: Option<String>,
    /// Callers may ask for a callback that keeps their place.
    pub callback_in_queue: bool,
    /// Recording of the calls the queue connects: `all`, `none` or
    /// `on_demand`; null: the organization's policy.
    pub recording: Option<String>,
}

/// A queue.
#[derive(Serialize, ToSchema)]
pub struct QueueOut {
    pub id: Uuid,
    #[serde(flatten)]
    pub settings: QueueSettings,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A new queue. Only `name` is required; see [`QueueSettings`] for the
/// ranges.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateQueue {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "longest_idle")]
    pub strategy: QueueStrategy,
    #[serde(default)]
    pub required_skills: Vec<RequiredSkill>,
    #[serde(default)]
    pub priority: i64,
    #[serde(default = "fifteen")]
    pub offer_timeout_s: i64,
    pub max_wait_s: Option<i64>,
    #[serde(default)]
    pub wrap_up: WrapUp,
    #[serde(default)]
    pub overflow: Vec<OverflowRuleBody>,
    #[serde(default)]
    pub announcements: Announcements,
    pub music_prompt: Option<String>,
    pub comfort_prompt: Option<String>,
    #[serde(default)]
    pub callback_in_queue: bool,
    pub recording: Option<String>,
}

fn longest_idle() -> QueueStrategy {
    QueueStrategy::LongestIdle
}

fn fifteen() -> i64 {
    15
}

/// A change to a queue: absent fields stay, `null` clears a nullable one.
/// The result is checked as a whole.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateQueue {
    pub name: Option<String>,
    pub description: Option<String>,
    pub strategy: Option<QueueStrategy>,
    pub required_skills: Option<Vec<RequiredSkill>>,
    pub priority: Option<i64>,
    pub offer_timeout_s: Option<i64>,
    #[serde(default, deserialize_with = "crate::routes::dto::nullable")]
    #[schema(value_type = Option<i64>)]
    pub max_wait_s: Option<Option<i64>>,
    pub wrap_up: Option<WrapUp>,
    pub overflow: Option<Vec<OverflowRuleBody>>,
    pub announcements: Option<Announcements>,
    #[serde(default, deserialize_with = "crate::routes::dto::nullable")]
    #[schema(value_type = Option<String>)]
    pub music_prompt: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::routes::dto::nullable")]
    #[schema(value_type = Option<String>)]
    pub comfort_prompt: Option<Option<String>>,
    pub callback_in_queue: Option<bool>,
    #[serde(default, deserialize_with = "crate::routes::dto::nullable")]
    #[schema(value_type = Option<String>)]
    pub recording: Option<Option<String>>,
}

/// A call in the queue, in routing order.
#[derive(Serialize, ToSchema)]
pub struct WaitingCallOut {
    pub call_id: Uuid,
    /// `call` (on the line) or `callback` (kept its place after hanging up).
    pub kind: String,
    /// 1-based place among the waiting calls (null while ringing at an agent).
    pub position: Option<usize>,
    /// Estimated wait in seconds (null: ringing, or nobody logged in).
    pub ewt_s: Option<i64>,
    /// The call's priority (the queue's when it entered; higher first).
    pub priority: i32,
    pub enqueued_at: DateTime<Utc>,
}

/// A queue now, from the tenant's live ACD.
#[derive(Serialize, ToSchema)]
pub struct QueueStatsOut {
    pub queue_id: Uuid,
    /// Calls waiting for an offer.
    pub waiting: usize,
    /// Calls ringing at an agent.
    pub ringing: usize,
    /// Agents logged in to the queue with its required skills.
    pub staffed: usize,
    /// Of those, the agents available now.
    pub available: usize,
    /// The average handle time the estimates use, in seconds.
    pub aht_s: i64,
    /// The estimated wait of a caller joining now (null: nobody logged in).
    pub ewt_next_s: Option<i64>,
    pub calls: Vec<WaitingCallOut>,
}

// -------------------------------------------------------------- settings --

/// The names of the tenant's queues whose settings `uses` says depend on
/// something (a queue, flow or voicemail box they overflow to, a prompt
/// they play), so that thing is not deleted from under them.
pub(crate) async fn queues_using<C: omnivox_store::ConnectionTrait>(
    s: &Scoped<'_, C>,
    uses: impl Fn(&QueueSettings) -> bool,
) -> ApiResult<Vec<String>> {
    let mut names = Vec::new();
    for row in s.list_queues().await? {
        if uses(&settings_of(&row)?) {
            names.push(row.name);
        }
    }
    Ok(names)
}

/// 409 `in_use` naming the queues that depend on `what`, if any do.
pub(crate) fn refuse_if_used(what: &str, queues: &[String]) -> ApiResult<()> {
    if queues.is_empty() {
        return Ok(());
    }
    Err(ApiError::conflict(
        "in_use",
        format!("queues use this {what}: {}", queues.join(", ")),
    ))
}

/// 409 `in_use` naming the voicemail box the `kind` (`queue` or `flow`)
/// `id` owns, if it owns one: a box is never left without its owner. The
/// box must be deleted (with its messages) or given another owner first.
pub(crate) async fn refuse_if_owns_box<C: omnivox_store::ConnectionTrait>(
    s: &Scoped<'_, C>,
    kind: &str,
    id: Uuid,
) -> ApiResult<()> {
    match s.voicemail_box_of(kind, id).await? {
        None => Ok(()),
        Some(b) => Err(ApiError::conflict(
            "in_use",
            format!(
                "this {kind} owns the voicemail box `{}` ({}): delete the box (with its \
                 messages) or give it another owner first",
                b.name, b.id
            ),
        )),
    }
}

impl QueueSettings {
    /// Whether waiting callers hear something every
    /// `announcements.every_seconds`: their place, the wait, or the comfort
    /// prompt.
    pub fn announces(&self) -> bool {
        self.announcements.position || self.announcements.ewt || self.comfort_prompt.is_some()
    }
}

impl CreateQueue {
    fn settings(self) -> QueueSettings {
        QueueSettings {
            name: self.name,
            description: self.description,
            strategy: self.strategy,
            required_skills: self.required_skills,
            priority: self.priority,
            offer_timeout_s: self.offer_timeout_s,
            max_wait_s: self.max_wait_s,
            wrap_up: self.wrap_up,
            overflow: self.overflow,
            announcements: self.announcements,
            music_prompt: self.music_prompt,
            comfort_prompt: self.comfort_prompt,
            callback_in_queue: self.callback_in_queue,
            recording: self.recording,
        }
    }
}

impl UpdateQueue {
    fn apply(self, s: &mut QueueSettings) {
        if let Some(v) = self.name {
            s.name = v;
        }
        if let Some(v) = self.description {
            s.description = v;
        }
        if let Some(v) = self.strategy {
            s.strategy = v;
        }
        if let Some(v) = self.required_skills {
            s.required_skills = v;
        }
        if let Some(v) = self.priority {
            s.priority = v;
        }
        if let Some(v) = self.offer_timeout_s {
            s.offer_timeout_s = v;
        }
        if let Some(v) = self.max_wait_s {
            s.max_wait_s = v;
        }
        if let Some(v) = self.wrap_up {
            s.wrap_up = v;
        }
        if let Some(v) = self.overflow {
            s.overflow = v;
        }
        if let Some(v) = self.announcements {
            s.announcements = v;
        }
        if let Some(v) = self.music_prompt {
            s.music_prompt = v;
        }
        if let Some(v) = self.comfort_prompt {
            s.comfort_prompt = v;
        }
        if let Some(v) = self.callback_in_queue {
            s.callback_in_queue = v;
        }
        if let Some(v) = self.recording {
            s.recording = v;
        }
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("stored queue {what}: {e}"))
}

fn parse_strategy(s: &str) -> ApiResult<QueueStrategy> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|e| corrupt("strategy", e))
}

/// The settings a stored row holds.
pub(crate) fn settings_of(r: &QueueRow) -> ApiResult<QueueSettings> {
    Ok(QueueSettings {
        name: r.name.clone(),
        description: r.description.clone(),
        strategy: parse_strategy(&r.strategy)?,
        required_skills: serde_json::from_str(&r.required_skills)
            .map_err(|e| corrupt("skills", e))?,
        priority: i64::from(r.priority),
        offer_timeout_s: i64::from(r.offer_timeout_s),
        max_wait_s: r.max_wait_s.map(i64::from),
        wrap_up: WrapUp {
            seconds: i64::from(r.wrap_up_seconds),
            disposition_required: r.disposition_required,
        },
        overflow: serde_json::from_str(&r.overflow).map_err(|e| corrupt("overflow", e))?,
        announcements: Announcements {
            position: r.announce_position,
            ewt: r.announce_ewt,
            every_seconds: r.announce_every_s.map(i64::from),
        },
        music_prompt: r.music_prompt.clone(),
        comfort_prompt: r.comfort_prompt.clone(),
        callback_in_queue: r.callback_in_queue,
        recording: r.recording.clone(),
    })
}

fn queue_out(r: QueueRow) -> ApiResult<QueueOut> {
    Ok(QueueOut {
        id: r.id,
        settings: settings_of(&r)?,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

/// A stored queue as the ACD's configuration.
pub fn queue_config(r: &QueueRow) -> ApiResult<QueueConfig> {
    let s = settings_of(r)?;
    let mut c = QueueConfig::new(QueueId(r.id));
    c.strategy = s.strategy.acd();
    c.required_skills = s
        .required_skills
        .iter()
        .map(|k| {
            let level = u8::try_from(k.min_level)
                .map_err(|e| corrupt("skill level", e))
                .and_then(|l| Level::new(l).map_err(|e| corrupt("skill level", e)))?;
            Ok(SkillRequirement {
                skill: Skill::new(k.skill.clone()),
                min_level: level,
                weight: u16::try_from(k.weight).map_err(|e| corrupt("skill weight", e))?,
            })
        })
        .collect::<ApiResult<_>>()?;
    c.offer_timeout = TimeDelta::seconds(s.offer_timeout_s);
    c.max_wait = s.max_wait_s.map(TimeDelta::seconds);
    c.wrap_up = WrapUpPolicy {
        duration: TimeDelta::seconds(s.wrap_up.seconds),
        disposition_required: s.wrap_up.disposition_required,
    };
    c.announce_every = if s.announces() {
        s.announcements.every_seconds.map(TimeDelta::seconds)
    } else {
        None
    };
    c.overflow = s
        .overflow
        .iter()
        .map(|o| {
            let when = match o.when {
                OverflowWhen::WaitedAtLeast => OverflowCondition::WaitedAtLeast {
                    wait: TimeDelta::seconds(
                        o.seconds.ok_or_else(|| corrupt("overflow", "no seconds"))?,
                    ),
                },
                OverflowWhen::WaitingAbove => OverflowCondition::WaitingAbove {
                    calls: o
                        .calls
                        .and_then(|c| usize::try_from(c).ok())
                        .ok_or_else(|| corrupt("overflow", "no calls"))?,
                },
                OverflowWhen::NoAgentLoggedIn => OverflowCondition::NoAgentLoggedIn,
            };
            let target = match o.to {
                OverflowTo::Queue => OverflowTarget::Queue {
                    queue: QueueId(o.queue_id.ok_or_else(|| corrupt("overflow", "no queue"))?),
                },
                OverflowTo::Flow => OverflowTarget::Flow {
                    flow: o.flow_id.ok_or_else(|| corrupt("overflow", "no flow"))?,
                },
                OverflowTo::Callback => OverflowTarget::Callback,
                OverflowTo::Voicemail => OverflowTarget::Voicemail {
                    mailbox: o
                        .mailbox_id
                        .ok_or_else(|| corrupt("overflow", "no mailbox"))?,
                },
            };
            Ok(OverflowRule { when, target })
        })
        .collect::<ApiResult<_>>()?;
    Ok(c)
}

// ------------------------------------------------------------- validation --

/// Every problem of `s` at once; `this` is the queue being changed.
async fn problems<C: ConnectionTrait>(
    scoped: &Scoped<'_, C>,
    s: &QueueSettings,
    this: Option<Uuid>,
) -> ApiResult<Vec<FieldError>> {
    let mut e = Vec::new();
    if s.name.is_empty() || s.name.trim() != s.name || s.name.chars().count() > 100 {
        e.push(FieldError::new(
            "name",
            "invalid_name",
            "1-100 characters, no leading or trailing space",
        ));
    }
    if s.description.chars().count() > 1000 {
        e.push(FieldError::new(
            "description",
            "invalid_length",
            "at most 1000 characters",
        ));
    }
    if s.required_skills.len() > MAX_SKILLS {
        e.push(FieldError::new(
            "required_skills",
            "too_many",
            format!("at most {MAX_SKILLS} skills"),
        ));
    }
    let mut seen = BTreeSet::new();
    for (i, k) in s.required_skills.iter().enumerate() {
        let f = |x: &str| format!("required_skills[{i}].{x}");
        let name_ok = !k.skill.is_empty()
            && k.skill.len() <= 50
            && k.skill.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.')
            });
        if !name_ok {
            e.push(FieldError::new(
                &f("skill"),
                "invalid_skill",
                "1-50 of lowercase letters, digits, '_', '-' or '.'",
            ));
        } else if !seen.insert(k.skill.as_str()) {
            e.push(FieldError::new(
                &f("skill"),
                "duplicate_skill",
                format!("`{}` is required twice", k.skill),
            ));
        }
        range(&mut e, &f("min_level"), k.min_level, 1, 10, "");
        range(&mut e, &f("weight"), k.weight, 1, 100, "");
    }
    range(&mut e, "priority", s.priority, 0, 100, "");
    range(&mut e, "offer_timeout_s", s.offer_timeout_s, 5, 120, " s");
    if let Some(w) = s.max_wait_s {
        range(&mut e, "max_wait_s", w, 10, 86_400, " s");
    }
    range(&mut e, "wrap_up.seconds", s.wrap_up.seconds, 0, 3600, " s");
    if let Some(r) = &s.recording
        && RecordingPolicy::parse(r).is_none()
    {
        e.push(FieldError::new(
            "recording",
            "invalid_policy",
            "all, none or on_demand (or null: the organization's policy)",
        ));
    }
    match (s.announces(), s.announcements.every_seconds) {
        (true, None) => e.push(FieldError::new(
            "announcements.every_seconds",
            "required",
            "how often to announce position, wait or the comfort prompt (15 to 3600 s)",
        )),
        (false, Some(_)) => e.push(FieldError::new(
            "announcements.every_seconds",
            "nothing_to_announce",
            "turn on position or ewt, name a comfort prompt, or leave every_seconds out",
        )),
        (true, Some(v)) => range(&mut e, "announcements.every_seconds", v, 15, 3600, " s"),
        (false, None) => {}
    }
    let needs_prompts = s.music_prompt.is_some() || s.comfort_prompt.is_some();
    let prompts = if needs_prompts {
        scoped.prompt_names().await?
    } else {
        BTreeSet::new()
    };
    for (field, p) in [
        ("music_prompt", &s.music_prompt),
        ("comfort_prompt", &s.comfort_prompt),
    ] {
        if let Some(p) = p
            && !prompts.contains(p)
        {
            e.push(FieldError::new(
                field,
                "unknown_prompt",
                format!("no prompt named `{p}` in the prompt library"),
            ));
        }
    }
    if s.overflow.len() > MAX_OVERFLOW_RULES {
        e.push(FieldError::new(
            "overflow",
            "too_many",
            format!("at most {MAX_OVERFLOW_RULES} rules"),
        ));
    }
    for (i, o) in s.overflow.iter().enumerate() {
        overflow_problems(scoped, s, this, i, o, &mut e).await?;
    }
    Ok(e)
}

async fn overflow_problems<C: ConnectionTrait>(
    scoped: &Scoped<'_, C>,
    s: &QueueSettings,
    this: Option<Uuid>,
    i: usize,
    o: &OverflowRuleBody,
    e: &mut Vec<FieldError>,
) -> ApiResult<()> {
    let f = |x: &str| format!("overflow[{i}].{x}");
    let not_allowed = |e: &mut Vec<FieldError>, x: &str, why: &str| {
        e.push(FieldError::new(&f(x), "not_allowed", why.to_owned()));
    };
    let required = |e: &mut Vec<FieldError>, x: &str, why: &str| {
        e.push(FieldError::new(&f(x), "required", why.to_owned()));
    };
    match o.when {
        OverflowWhen::WaitedAtLeast => match o.seconds {
            None => required(e, "seconds", "waited_at_least needs seconds (1 to 86400)"),
            Some(v) => {
                range(e, &f("seconds"), v, 1, 86_400, " s");
                if let Some(max) = s.max_wait_s
                    && v >= max
                {
                    e.push(FieldError::new(
                        &f("seconds"),
                        "after_max_wait",
                        format!("never fires: calls leave the queue after max_wait_s ({max} s)"),
                    ));
                }
            }
        },
        _ if o.seconds.is_some() => {
            not_allowed(e, "seconds", "seconds goes only with waited_at_least")
        }
        _ => {}
    }
    match o.when {
        OverflowWhen::WaitingAbove => match o.calls {
            None => required(e, "calls", "waiting_above needs calls (0 to 10000)"),
            Some(v) => range(e, &f("calls"), v, 0, 10_000, ""),
        },
        _ if o.calls.is_some() => not_allowed(e, "calls", "calls goes only with waiting_above"),
        _ => {}
    }
    if o.to != OverflowTo::Queue && o.queue_id.is_some() {
        not_allowed(e, "queue_id", "queue_id goes only with a queue target");
    }
    if o.to != OverflowTo::Flow && o.flow_id.is_some() {
        not_allowed(e, "flow_id", "flow_id goes only with a flow target");
    }
    if o.to != OverflowTo::Voicemail && o.mailbox_id.is_some() {
        not_allowed(
            e,
            "mailbox_id",
            "mailbox_id goes only with a voicemail target",
        );
    }
    match o.to {
        OverflowTo::Queue => match o.queue_id {
            None => required(e, "queue_id", "a queue target needs queue_id"),
            Some(q) if Some(q) == this => e.push(FieldError::new(
                &f("queue_id"),
                "self_overflow",
                "a queue cannot overflow to itself",
            )),
            Some(q) => {
                if !exists(scoped.get_queue(q).await)? {
                    e.push(FieldError::new(
                        &f("queue_id"),
                        "unknown_queue",
                        format!("no queue {q} in this tenant"),
                    ));
                }
            }
        },
        OverflowTo::Flow => match o.flow_id {
            None => required(e, "flow_id", "a flow target needs flow_id"),
            Some(fl) => {
                if !exists(scoped.get_flow(fl).await)? {
                    e.push(FieldError::new(
                        &f("flow_id"),
                        "unknown_flow",
                        format!("no flow {fl} in this tenant"),
                    ));
                }
            }
        },
        OverflowTo::Voicemail => match o.mailbox_id {
            None => required(e, "mailbox_id", "a voicemail target needs mailbox_id"),
            Some(b) => {
                if !exists(scoped.get_voicemail_box(b).await)? {
                    e.push(FieldError::new(
                        &f("mailbox_id"),
                        "unknown_mailbox",
                        format!("no voicemail box {b} in this tenant"),
                    ));
                }
            }
        },
        OverflowTo::Callback => {
            if !s.callback_in_queue {
                e.push(FieldError::new(
                    &f("to"),
                    "callback_disabled",
                    "overflow to callback needs callback_in_queue",
                ));
            }
        }
    }
    Ok(())
}

async fn checked<C: ConnectionTrait>(
    scoped: &Scoped<'_, C>,
    s: &QueueSettings,
    this: Option<Uuid>,
) -> ApiResult<QueueValues> {
    let errors = problems(scoped, s, this).await?;
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let int = |v: i64| i32::try_from(v).map_err(ApiError::internal);
    Ok(QueueValues {
        name: s.name.clone(),
        description: s.description.clone(),
        strategy: s.strategy.as_str().to_owned(),
        required_skills: serde_json::to_string(&s.required_skills).map_err(ApiError::internal)?,
        priority: int(s.priority)?,
        offer_timeout_s: int(s.offer_timeout_s)?,
        max_wait_s: s.max_wait_s.map(int).transpose()?,
        wrap_up_seconds: int(s.wrap_up.seconds)?,
        disposition_required: s.wrap_up.disposition_required,
        overflow: serde_json::to_string(&s.overflow).map_err(ApiError::internal)?,
        announce_position: s.announcements.position,
        announce_ewt: s.announcements.ewt,
        announce_every_s: s.announcements.every_seconds.map(int).transpose()?,
        music_prompt: s.music_prompt.clone(),
        comfort_prompt: s.comfort_prompt.clone(),
        callback_in_queue: s.callback_in_queue,
        recording: s.recording.clone(),
    })
}

fn name_taken(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(_) => ApiError::conflict(
            "queue_name_taken",
            "the tenant already has a queue with this name",
        ),
        e => e.into(),
    }
}

// ----------------------------------------------------------------- routes --

/// The tenant's queues (`queue_read`, or `agent_work` so agents can pick
/// the queues they log in to).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/queues", tag = "queues",
    params(("tenant_id" = Uuid, Path), PageQuery),
    responses((status = 200, body = PageOut<QueueOut>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_queues(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<PageOut<QueueOut>>> {
    require_any(&ctx, &[Permission::QueueRead, Permission::AgentWork])?;
    let page = ctx
        .scoped(state.store.reader())
        .list_queues_page(&q.page()?)
        .await?;
    Ok(Json(PageOut {
        items: page
            .items
            .into_iter()
            .map(queue_out)
            .collect::<ApiResult<_>>()?,
        next_cursor: page.next_cursor,
    }))
}

/// Add a queue. Every invalid field is reported at once (400
/// `validation_failed`); a name the tenant already uses is 409
/// `queue_name_taken`.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/queues", tag = "queues",
    params(("tenant_id" = Uuid, Path)), request_body = CreateQueue,
    responses((status = 201, body = QueueOut), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_queue(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiJson(body): ApiJson<CreateQueue>,
) -> ApiResult<(StatusCode, Json<QueueOut>)> {
    ctx.require(Permission::QueueManage)?;
    let settings = body.settings();
    let tx = state.store.begin().await?;
    let s = ctx.scoped(&tx);
    let values = checked(&s, &settings, None).await?;
    let row = s.create_queue(values).await.map_err(name_taken)?;
    let config = queue_config(&row)?;
    let out = queue_out(row)?;
    audit::record(
        &tx,
        ctx.audit("queue.created", "queue", out.id, None, json(&out)),
    )
    .await?;
    commit(tx).await?;
    state.agents.upsert_queue(ctx.tenant, config).await;
    Ok((StatusCode::CREATED, Json(out)))
}

/// One queue.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/queues/{queue_id}", tag = "queues",
    params(("tenant_id" = Uuid, Path), ("queue_id" = Uuid, Path)),
    responses((status = 200, body = QueueOut), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_queue(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<QueueOut>> {
    require_any(&ctx, &[Permission::QueueRead, Permission::AgentWork])?;
    let row = ctx.scoped(state.store.reader()).get_queue(ids.1).await?;
    Ok(Json(queue_out(row)?))
}

/// Change a queue; the result is checked as a whole (every problem at
/// once) and applied to the live ACD.
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant_id}/queues/{queue_id}", tag = "queues",
    params(("tenant_id" = Uuid, Path), ("queue_id" = Uuid, Path)), request_body = UpdateQueue,
    responses((status = 200, body = QueueOut), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_queue(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<UpdateQueue>,
) -> ApiResult<Json<QueueOut>> {
    ctx.require(Permission::QueueManage)?;
    let tx = state.store.begin().await?;
    let s = ctx.scoped(&tx);
    let cur = s.get_queue(ids.1).await?;
    let mut settings = settings_of(&cur)?;
    body.apply(&mut settings);
    let values = checked(&s, &settings, Some(ids.1)).await?;
    let (before, after) = s.update_queue(ids.1, values).await.map_err(name_taken)?;
    let config = queue_config(&after)?;
    let (before, out) = (queue_out(before)?, queue_out(after)?);
    audit::record(
        &tx,
        ctx.audit("queue.updated", "queue", out.id, json(&before), json(&out)),
    )
    .await?;
    commit(tx).await?;
    state.agents.upsert_queue(ctx.tenant, config).await;
    Ok(Json(out))
}

/// Delete a queue: 204. Agents logged in to it leave it. A queue another
/// queue overflows to is 409 `queue_in_use`; one a DID routes to, or one
/// that owns a voicemail box, is 409 `in_use`; one with calls in it is 409
/// `queue_not_empty`.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/queues/{queue_id}", tag = "queues",
    params(("tenant_id" = Uuid, Path), ("queue_id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_queue(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    ctx.require(Permission::QueueManage)?;
    let queue = QueueId(ids.1);
    // Checked before the transaction: the ACD lock is never awaited while a
    // write transaction is open.
    let busy = state
        .agents
        .with_acd(&state, ctx.tenant, |acd| calls_in(acd, queue))
        .await?;
    if busy > 0 {
        return Err(ApiError::conflict(
            "queue_not_empty",
            format!("{busy} calls are in this queue"),
        ));
    }
    let tx = state.store.begin().await?;
    let s = ctx.scoped(&tx);
    let row = s.get_queue(ids.1).await?;
    let users = queues_using(&s, |q| q.overflow.iter().any(|r| r.queue_id == Some(ids.1))).await?;
    if !users.is_empty() {
        return Err(ApiError::conflict(
            "queue_in_use",
            format!("queues overflow to this queue: {}", users.join(", ")),
        ));
    }
    let dids = s.dids_targeting_queue(ids.1).await?;
    if !dids.is_empty() {
        let numbers: Vec<String> = dids.into_iter().map(|d| d.number).collect();
        return Err(ApiError::conflict(
            "in_use",
            format!("DIDs route to this queue: {}", numbers.join(", ")),
        ));
    }
    refuse_if_owns_box(&s, "queue", ids.1).await?;
    let before = queue_out(row)?;
    s.delete_queue(ids.1).await?;
    audit::record(
        &tx,
        ctx.audit("queue.deleted", "queue", ids.1, json(&before), None),
    )
    .await?;
    commit(tx).await?;
    state.agents.remove_queue(ctx.tenant, queue).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Calls waiting or ringing in `queue`.
fn calls_in(acd: &Acd, queue: QueueId) -> usize {
    acd.snapshot()
        .entries
        .iter()
        .filter(|e| e.queue == queue)
        .count()
}

/// The queue now, from the live ACD: calls waiting and ringing, agents
/// staffed (logged in with the skills) and available, the EWT of a caller
/// joining now, and each call's place and estimated wait.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/queues/{queue_id}/stats", tag = "queues",
    params(("tenant_id" = Uuid, Path), ("queue_id" = Uuid, Path)),
    responses((status = 200, body = QueueStatsOut), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn queue_stats(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<QueueStatsOut>> {
    ctx.require(Permission::QueueRead)?;
    ctx.scoped(state.store.reader()).get_queue(ids.1).await?;
    let queue = QueueId(ids.1);
    let out = state
        .agents
        .with_acd(&state, ctx.tenant, |acd| stats(acd, queue))
        .await?;
    out.map(Json)
        .ok_or_else(|| ApiError::internal(format!("queue {queue} is not in the live ACD")))
}

fn stats(acd: &Acd, queue: QueueId) -> Option<QueueStatsOut> {
    let q = acd.queue(&queue)?;
    let staffed = acd.staffed(&queue);
    let snap = acd.snapshot();
    let available = snap
        .agents
        .iter()
        .filter(|a| {
            a.is_available()
                && a.queues.contains(&queue)
                && omnivox_acd::types::meets(&a.skills, &q.config.required_skills)
        })
        .count();
    let mut entries: Vec<_> = snap.entries.iter().filter(|e| e.queue == queue).collect();
    entries.sort_by_key(|e| e.key());
    let calls: Vec<WaitingCallOut> = entries
        .iter()
        .map(|e| {
            let placed = acd.position_and_ewt(&e.call);
            WaitingCallOut {
                call_id: e.call.0,
                kind: match e.kind {
                    EntryKind::Call => "call",
                    EntryKind::Callback => "callback",
                }
                .to_owned(),
                position: placed.map(|(p, _)| p),
                ewt_s: placed.and_then(|(_, w)| w).map(|w| w.num_seconds()),
                priority: e.priority,
                enqueued_at: e.enqueued_at,
            }
        })
        .collect();
    let waiting = acd.waiting_count(&queue);
    Some(QueueStatsOut {
        queue_id: queue.0,
        waiting,
        ringing: calls.len() - waiting.min(calls.len()),
        staffed,
        available,
        aht_s: q.aht().num_seconds(),
        ewt_next_s: q.ewt(waiting + 1, staffed).map(|w| w.num_seconds()),
        calls,
    })
}
