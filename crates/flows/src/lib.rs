//! IVR flows: the JSON flow graph ([`model`]), its validator ([`validate`]), versions and
//! diffs ([`versions`]), the step-machine [`Interpreter`] the call actor drives, and the
//! [`simulate`] driver that runs scripted input through that same interpreter.
//!
//! Pure logic: no database, no SIP, no clock or network access. The call actor carries out
//! each [`Action`] (play, collect digits, send the signed webhook, route) and reports the
//! result as an [`Input`].

pub mod action;
pub mod error;
pub mod interpreter;
pub mod model;
pub mod schedule;
pub mod simulate;
pub mod template;
pub mod validate;
pub mod versions;
pub mod webhook;

pub use action::{
    Action, CallContext, CollectDigits, Input, Outcome, Recording, StepBudget, Trace, TraceEvent,
};
pub use error::FlowError;
pub use interpreter::Interpreter;
pub use model::{DEFAULT_FALLBACK_QUEUE, Flow, Node, NodeId, NodeKind, RouteTarget};
pub use schedule::{Condition, Schedule};
pub use simulate::{CallerInput, Script, WebhookFixture, simulate};
pub use validate::{Problem, ProblemKind, PromptSet, validate};
pub use versions::{FlowDiff, FlowVersions, VersionError, diff};
pub use webhook::{WebhookFailure, WebhookRequest, WebhookResponse};
