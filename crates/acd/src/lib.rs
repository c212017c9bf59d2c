//! Automatic call distribution for Omnivox: agent states, queues and
//! routing as pure, in-memory logic.
//!
//! No IO and no clock: the caller passes the current time with every input,
//! owns one [`Acd`] per tenant in one task, feeds it [`Event`]s and ticks,
//! and acts on the returned [`Decision`]s. Agent state changes come back as
//! timestamped [`Transition`]s for the store and the event stream, which the
//! API layer writes asynchronously; [`Acd::rebuild`] restores the state from
//! the store after a restart.

pub mod acd;
pub mod agent;
pub mod queue;
pub mod types;

pub use acd::{
    Acd, AcdError, BlendRule, Decision, Event, Output, QueueSnapshot, Snapshot, TenantRules,
};
pub use agent::{Agent, AgentError, AgentId, AgentState, StateKind, Transition, WrapUpPolicy};
pub use queue::{
    EntryKind, OverflowCondition, OverflowRule, OverflowTarget, QueueConfig, Strategy,
};
pub use types::{
    CampaignRef, Level, LevelError, ReasonCode, Skill, SkillRequirement, SkillSet, Time,
};
