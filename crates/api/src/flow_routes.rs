//! Where a flow's route targets lead in one tenant. A flow names its
//! targets with free strings (`omnivox_flows::RouteTarget`); this resolves
//! them against the tenant's data the same way at publish time (a flow
//! whose targets do not resolve is refused) and when a live call leaves
//! the flow.
//!
//! - queue: a queue id or the queue's name;
//! - agent: a member's user id or email (membership is what a DID's agent
//!   target needs too);
//! - external: a number, normalised to E.164 as DIDs normalise theirs
//!   (national numbers are read as US numbers; no extension);
//! - flow: a flow id or name that has a published version.

use omnivox_domain::UserId;
use omnivox_flows::RouteTarget;
use omnivox_store::{ConnectionTrait, PageRequest, Scoped, StoreError};
use std::fmt;
use uuid::Uuid;

/// Rows per page when looking a name up (the store's largest page).
const MAX_PAGE: u64 = 200;

/// A route target as the tenant's data names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ResolvedRoute {
    Queue(Uuid),
    Agent(UserId),
    /// E.164 with `+`.
    External(String),
    /// The flow and its published version.
    Flow {
        id: Uuid,
        version: i32,
    },
}

/// Why a route target does not resolve.
#[derive(Debug)]
pub(crate) enum RouteProblem {
    /// The target names nothing usable in this tenant: `code` is
    /// `unknown_queue`, `unknown_agent`, `invalid_number`, `unknown_flow` or
    /// `flow_not_published`.
    Unresolved { code: &'static str, message: String },
    /// The lookup itself failed.
    Store(StoreError),
}

impl RouteProblem {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unresolved {
            code,
            message: message.into(),
        }
    }

    /// The stable code (`lookup_failed` when the store failed).
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Self::Unresolved { code, .. } => code,
            Self::Store(_) => "lookup_failed",
        }
    }
}

impl fmt::Display for RouteProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unresolved { message, .. } => f.write_str(message),
            Self::Store(e) => write!(f, "the route target could not be looked up: {e}"),
        }
    }
}

impl From<StoreError> for RouteProblem {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// Resolve `target` in the tenant `s` is scoped to. An id is tried before
/// a name, so a queue or flow whose name looks like another's id still
/// resolves by id.
pub(crate) async fn resolve_route(
    s: &Scoped<'_, impl ConnectionTrait>,
    target: &RouteTarget,
) -> Result<ResolvedRoute, RouteProblem> {
    match target {
        RouteTarget::Queue { queue } => resolve_queue(s, queue).await,
        RouteTarget::Agent { agent } => resolve_agent(s, agent).await,
        RouteTarget::External { number } => external(number),
        RouteTarget::Flow { flow } => resolve_flow(s, flow).await,
    }
}

/// `Some(found)` for a row found, `None` for `NotFound`, other errors out.
fn found<T>(r: Result<T, StoreError>) -> Result<Option<T>, RouteProblem> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn resolve_queue(
    s: &Scoped<'_, impl ConnectionTrait>,
    name: &str,
) -> Result<ResolvedRoute, RouteProblem> {
    if let Ok(id) = Uuid::parse_str(name)
        && let Some(q) = found(s.get_queue(id).await)?
    {
        return Ok(ResolvedRoute::Queue(q.id));
    }
    s.list_queues()
        .await?
        .into_iter()
        .find(|q| q.name == name)
        .map(|q| ResolvedRoute::Queue(q.id))
        .ok_or_else(|| {
            RouteProblem::new(
                "unknown_queue",
                format!("no queue `{name}` in this organization"),
            )
        })
}

async fn resolve_agent(
    s: &Scoped<'_, impl ConnectionTrait>,
    agent: &str,
) -> Result<ResolvedRoute, RouteProblem> {
    if let Ok(id) = Uuid::parse_str(agent) {
        if let Some(m) = found(s.get_member(UserId(id)).await)? {
            return Ok(ResolvedRoute::Agent(UserId(m.user.id)));
        }
    } else {
        let email = omnivox_store::users::normalize_email(agent);
        let mut page = PageRequest::first(MAX_PAGE);
        loop {
            let members = s.list_members(&page, None).await?;
            if let Some(m) = members.items.iter().find(|m| m.user.email == email) {
                return Ok(ResolvedRoute::Agent(UserId(m.user.id)));
            }
            match members.next_cursor {
                Some(c) => page = next_page(&c)?,
                None => break,
            }
        }
    }
    Err(RouteProblem::new(
        "unknown_agent",
        format!("`{agent}` is not a member of this organization"),
    ))
}

/// Why a number cannot be dialled.
pub(crate) enum NumberError {
    /// It parsed, but carries an extension.
    Extension,
    /// It is no phone number (the reason).
    Invalid(String),
}

/// A number as DIDs and routes store it: E.164, parsed with US as the
/// default region, without an extension.
pub(crate) fn dialable_e164(raw: &str) -> Result<String, NumberError> {
    let region =
        omnivox_contacts::Region::parse("US").map_err(|e| NumberError::Invalid(e.to_string()))?;
    match omnivox_contacts::parse_phone(raw, region) {
        Ok(p) if p.extension.is_none() => Ok(p.e164),
        Ok(_) => Err(NumberError::Extension),
        Err(e) => Err(NumberError::Invalid(e.reason)),
    }
}

/// The number in E.164, normalised as a DID's number is.
fn external(number: &str) -> Result<ResolvedRoute, RouteProblem> {
    dialable_e164(number)
        .map(ResolvedRoute::External)
        .map_err(|e| {
            let why = match e {
                NumberError::Extension => "a route cannot dial an extension".to_string(),
                NumberError::Invalid(why) => why,
            };
            RouteProblem::new(
                "invalid_number",
                format!("`{number}` is not a phone number: {why}"),
            )
        })
}

async fn resolve_flow(
    s: &Scoped<'_, impl ConnectionTrait>,
    name: &str,
) -> Result<ResolvedRoute, RouteProblem> {
    let mut row = None;
    if let Ok(id) = Uuid::parse_str(name) {
        row = found(s.get_flow(id).await)?;
    }
    if row.is_none() {
        let mut page = PageRequest::first(MAX_PAGE);
        loop {
            let flows = s.list_flows(&page).await?;
            if let Some(f) = flows.items.into_iter().find(|f| f.name == name) {
                row = Some(f);
                break;
            }
            match flows.next_cursor {
                Some(c) => page = next_page(&c)?,
                None => break,
            }
        }
    }
    let Some(flow) = row else {
        return Err(RouteProblem::new(
            "unknown_flow",
            format!("no flow `{name}` in this organization"),
        ));
    };
    match flow.published_version {
        Some(version) => Ok(ResolvedRoute::Flow {
            id: flow.id,
            version,
        }),
        None => Err(RouteProblem::new(
            "flow_not_published",
            format!("flow `{}` has no published version", flow.name),
        )),
    }
}

fn next_page(cursor: &str) -> Result<PageRequest, RouteProblem> {
    PageRequest::parse(Some(cursor), Some(MAX_PAGE))
        .map_err(|e| RouteProblem::Store(StoreError::Corrupt(e.to_string())))
}
