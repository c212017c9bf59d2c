//! IVR flows over HTTP: drafts saved as they are (their validation problems
//! shown, never blocking), publish that validates against the tenant's
//! prompt library and its queues, members and flows (every route target
//! must resolve) and freezes a numbered version, rollback, versions, a
//! structural diff, a simulation that runs scripted caller input through
//! the same interpreter live calls use, and the stored runs of live calls.
//!
//! Flow graphs travel and are stored exactly as `omnivox-flows` serializes
//! them (`Flow::to_json`), so what a client posts is what the interpreter
//! reads.

use crate::auth::principal::TenantCtx;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::flow_routes::{RouteProblem, resolve_route};
use crate::routes::dto::{PageOut, PageQuery, json, page_request};
use crate::routes::queues::{queues_using, refuse_if_used};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use omnivox_domain::Permission;
use omnivox_flows::validate::FLOW_LEVEL;
use omnivox_flows::{
    CallContext, Flow, NodeKind, Problem, ProblemKind, RouteTarget, Script, VersionError, diff,
    simulate,
};
use omnivox_store::flow_runs::FlowRunRow;
use omnivox_store::flows::{FlowRow, FlowVersionRow, NewFlow};
use omnivox_store::{ConnectionTrait, Scoped, StoreError, audit, commit};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A flow with its draft and the draft's validation problems.
#[derive(Serialize, ToSchema)]
pub struct FlowOut {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    /// The draft, as `omnivox-flows` serializes a flow; null when there is
    /// none (publish consumes the draft).
    #[schema(value_type = Option<Object>)]
    pub draft: Option<Value>,
    /// The version calls run; null until the first publish.
    pub published_version: Option<i32>,
    /// What the validator finds in the draft against the tenant's prompts
    /// (`node`, `problem`, its fields and a `message`), and the route
    /// targets that do not resolve in the tenant (`problem` is
    /// `unknown_queue`, `unknown_agent`, `invalid_number`, `unknown_flow`
    /// or `flow_not_published`, with `field` and `target`; a fallback's
    /// node is `(flow)`). Saving is never blocked; publishing is, until
    /// this is empty.
    #[schema(value_type = Vec<Object>)]
    pub problems: Vec<Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A flow in a list (no graph).
#[derive(Serialize, ToSchema)]
pub struct FlowItem {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub has_draft: bool,
    pub published_version: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<FlowRow> for FlowItem {
    fn from(f: FlowRow) -> Self {
        Self {
            id: f.id,
            name: f.name,
            description: f.description,
            has_draft: f.draft.is_some(),
            published_version: f.published_version,
            created_at: f.created_at,
            updated_at: f.updated_at,
        }
    }
}

/// A published version with its graph.
#[derive(Serialize, ToSchema)]
pub struct FlowVersionOut {
    pub flow_id: Uuid,
    pub version: i32,
    /// True when this is the version calls run.
    pub published: bool,
    #[schema(value_type = Object)]
    pub definition: Value,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// A version in the list (no graph).
#[derive(Serialize, ToSchema)]
pub struct FlowVersionItem {
    pub version: i32,
    pub published: bool,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct FlowVersionList {
    /// Newest first.
    pub items: Vec<FlowVersionItem>,
}

/// A new flow. `definition` is the flow graph (`start`, `nodes`, optional
/// `fallback`); it must parse, but it is saved as a draft even when the
/// validator finds problems.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFlow {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[schema(value_type = Object)]
    pub definition: Value,
}

/// A replacement draft.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveDraft {
    #[schema(value_type = Object)]
    pub definition: Value,
}

/// The version to publish again.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rollback {
    pub version: u32,
}

/// The two sides of a diff: version numbers, or `draft`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DiffQuery {
    pub from: String,
    pub to: String,
}

/// A simulated call. `version` is a version number or `"draft"` (default:
/// the published version); `at` is the instant the call happens (RFC 3339,
/// default now), which business-hours conditions read.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulateFlow {
    #[schema(value_type = Option<Object>)]
    pub version: Option<Value>,
    pub caller: String,
    pub called: String,
    /// ISO 3166 alpha-2 country of the caller, for country conditions.
    pub caller_country: Option<String>,
    pub at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// Caller inputs in order (`{"digits": "1"}`, `"timeout"`,
    /// `{"recording": {"seconds": 5}}`, `"hangup"`) and webhook answers per
    /// webhook node id (`{"reply": {"status": 200, "body": ...}}`,
    /// `"timeout"`, `{"error": "..."}`).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub script: Script,
}

fn check_names(name: &str, description: &str) -> ApiResult<()> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ' '));
    if name.trim() != name || name.is_empty() || name.chars().count() > 100 || !ok_chars {
        return Err(ApiError::field(
            "name",
            "invalid_name",
            "1-100 letters, digits, '-', '_', '.' or spaces, no leading or trailing space",
        ));
    }
    if description.chars().count() > 500 {
        return Err(ApiError::field(
            "description",
            "invalid_length",
            "at most 500 characters",
        ));
    }
    Ok(())
}

/// A posted definition as a flow and its stored text; what does not parse
/// is 400 `invalid_flow` with serde's message (it names the field and,
/// inside a node, the node id).
fn parse_definition(v: Value) -> ApiResult<(Flow, String)> {
    let flow: Flow = serde_json::from_value(v)
        .map_err(|e| ApiError::bad_request("invalid_flow", format!("invalid flow JSON: {e}")))?;
    let text = flow.to_json().map_err(ApiError::internal)?;
    Ok((flow, text))
}

fn stored_flow(text: &str) -> ApiResult<Flow> {
    Flow::from_json(text).map_err(|e| ApiError::internal(format!("stored flow unreadable: {e}")))
}

fn stored_json(text: &str) -> ApiResult<Value> {
    serde_json::from_str(text)
        .map_err(|e| ApiError::internal(format!("stored flow unreadable: {e}")))
}

/// Problems as JSON, each with a readable `message` beside its fields.
fn problems_json(problems: &[Problem]) -> Vec<Value> {
    problems
        .iter()
        .map(|p| {
            let mut v = serde_json::to_value(p).unwrap_or(Value::Null);
            if let Value::Object(m) = &mut v {
                m.insert("message".into(), Value::String(p.to_string()));
            }
            v
        })
        .collect()
}

/// Every route target of the flow as `(node, field, target)`: route
/// nodes' `target` and the flow's `fallback` (node `(flow)`).
fn route_targets(flow: &Flow) -> Vec<(&str, &'static str, &RouteTarget)> {
    let nodes = flow.nodes.iter().filter_map(|n| match &n.kind {
        NodeKind::Route { target } => Some((n.id.as_str(), "target", target)),
        _ => None,
    });
    flow.fallback
        .iter()
        .map(|t| (FLOW_LEVEL, "fallback", t))
        .chain(nodes)
        .collect()
}

/// The validator's problems and, after them, the route targets, voicemail
/// boxes and webhook secrets that do not resolve in the tenant, as JSON. A target the validator already finds
/// malformed (empty, not E.164) is not looked up again. A `record` node
/// naming no box needs the box of the flow `flow_id` itself (`no_mailbox`).
async fn draft_problems(
    s: &Scoped<'_, impl ConnectionTrait>,
    flow_id: Uuid,
    flow: &Flow,
    prompts: &BTreeSet<String>,
) -> ApiResult<Vec<Value>> {
    let problems = omnivox_flows::validate(flow, prompts);
    let mut out = problems_json(&problems);
    for (node, field, target) in route_targets(flow) {
        let malformed = problems.iter().any(|p| {
            p.node == node
                && matches!(&p.kind, ProblemKind::BadConfig { field: f, .. } if f == field)
        });
        if malformed {
            continue;
        }
        match resolve_route(s, target).await {
            Ok(_) => {}
            Err(RouteProblem::Store(e)) => return Err(e.into()),
            Err(p) => out.push(serde_json::json!({
                "node": node,
                "problem": p.code(),
                "field": field,
                "target": target,
                "message": format!("node `{node}`: `{field}` {p}"),
            })),
        }
    }
    let secrets = if flow.has_webhooks() {
        s.flow_secret_names().await?
    } else {
        BTreeSet::new()
    };
    let own_box =
        flow.records_into_own_box() && s.voicemail_box_of("flow", flow_id).await?.is_some();
    for n in &flow.nodes {
        if let NodeKind::Webhook(w) = &n.kind
            && !secrets.contains(&w.secret)
        {
            out.push(serde_json::json!({
                "node": n.id,
                "problem": "unknown_secret",
                "field": "secret",
                "target": w.secret,
                "message": format!(
                    "node `{}`: `secret` names no flow secret `{}` (PUT /flow-secrets/{})",
                    n.id, w.secret, w.secret
                ),
            }));
        }
        if let Some(mailbox) = n.mailbox()
            && !mailbox.is_empty()
            && s.find_voicemail_box(mailbox).await?.is_none()
        {
            out.push(serde_json::json!({
                "node": n.id,
                "problem": "unknown_mailbox",
                "field": "mailbox",
                "target": mailbox,
                "message": format!(
                    "node `{}`: `mailbox` names no voicemail box `{mailbox}` in this organization",
                    n.id
                ),
            }));
        }
        if let NodeKind::Record(r) = &n.kind
            && r.mailbox.is_none()
            && !own_box
        {
            out.push(serde_json::json!({
                "node": n.id,
                "problem": "no_mailbox",
                "field": "mailbox",
                "message": format!(
                    "node `{}`: records into the flow's own voicemail box and the flow has \
                     none: create a box owned by this flow or name a `mailbox`",
                    n.id
                ),
            }));
        }
    }
    Ok(out)
}

async fn flow_out(s: &Scoped<'_, impl ConnectionTrait>, row: FlowRow) -> ApiResult<FlowOut> {
    let (draft, problems) = match &row.draft {
        Some(text) => {
            let flow = stored_flow(text)?;
            let problems = draft_problems(s, row.id, &flow, &s.prompt_names().await?).await?;
            (Some(stored_json(text)?), problems)
        }
        None => (None, Vec::new()),
    };
    Ok(FlowOut {
        id: row.id,
        name: row.name,
        description: row.description,
        draft,
        published_version: row.published_version,
        problems,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn version_out(v: FlowVersionRow, published: Option<i32>) -> ApiResult<FlowVersionOut> {
    Ok(FlowVersionOut {
        flow_id: v.flow_id,
        published: published == Some(v.version),
        definition: stored_json(&v.definition)?,
        version: v.version,
        created_by: v.created_by,
        created_at: v.created_at,
    })
}

fn no_draft() -> ApiError {
    ApiError::conflict("no_draft", "the flow has no draft")
}

fn version_number(n: u32) -> ApiResult<i32> {
    i32::try_from(n).map_err(|_| ApiError::NotFound)
}

/// Create a flow; its definition becomes the draft. A name already used is
/// 409 `flow_name_taken`; a definition that does not parse is 400
/// `invalid_flow`.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/flows", tag = "flows",
    params(("tenant_id" = Uuid, Path)), request_body = CreateFlow,
    responses((status = 201, body = FlowOut), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_flow(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiJson(body): ApiJson<CreateFlow>,
) -> ApiResult<(StatusCode, Json<FlowOut>)> {
    ctx.require(Permission::TelephonyManage)?;
    check_names(&body.name, &body.description)?;
    let (_, draft) = parse_definition(body.definition)?;
    let tx = state.store.begin().await?;
    let s = ctx.scoped(&tx);
    let row = s
        .create_flow(NewFlow {
            name: body.name,
            description: body.description,
            draft,
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => {
                ApiError::conflict("flow_name_taken", "a flow with this name already exists")
            }
            e => e.into(),
        })?;
    let out = flow_out(&s, row).await?;
    audit::record(
        &tx,
        ctx.audit("flow.created", "flow", out.id, None, json(&out)),
    )
    .await?;
    commit(tx).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// The tenant's flows.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/flows", tag = "flows",
    params(("tenant_id" = Uuid, Path), PageQuery),
    responses((status = 200, body = PageOut<FlowItem>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_flows(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<PageOut<FlowItem>>> {
    ctx.require(Permission::TelephonyRead)?;
    let rows = ctx
        .scoped(state.store.reader())
        .list_flows(&q.page()?)
        .await?;
    Ok(Json(PageOut::from_page(rows)))
}

/// One flow: its draft, the draft's problems and the published version.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/flows/{flow_id}", tag = "flows",
    params(("tenant_id" = Uuid, Path), ("flow_id" = Uuid, Path)),
    responses((status = 200, body = FlowOut), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_flow(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<FlowOut>> {
    ctx.require(Permission::TelephonyRead)?;
    let s = ctx.scoped(state.store.reader());
    let row = s.get_flow(ids.1).await?;
    Ok(Json(flow_out(&s, row).await?))
}

/// Delete a flow and all its versions. A flow a DID routes to, a queue
/// overflows to, or that owns a voicemail box, is 409 `in_use`.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/flows/{flow_id}", tag = "flows",
    params(("tenant_id" = Uuid, Path), ("flow_id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_flow(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    ctx.require(Permission::TelephonyManage)?;
    let tx = state.store.begin().await?;
    let s = ctx.scoped(&tx);
    let dids = s.dids_targeting_flow(ids.1).await?;
    if !dids.is_empty() {
        let numbers: Vec<String> = dids.into_iter().map(|d| d.number).collect();
        return Err(ApiError::conflict(
            "in_use",
            format!("DIDs route to this flow: {}", numbers.join(", ")),
        ));
    }
    let users = queues_using(&s, |q| q.overflow.iter().any(|r| r.flow_id == Some(ids.1))).await?;
    refuse_if_used("flow", &users)?;
    crate::routes::queues::refuse_if_owns_box(&s, "flow", ids.1).await?;
    let before = FlowItem::from(s.delete_flow(ids.1).await?);
    audit::record(
        &tx,
        ctx.audit("flow.deleted", "flow", ids.1, json(&before), None),
    )
    .await?;
    commit(tx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace the draft (same parsing rules as create; problems are shown,
/// not refused).
#[utoipa::path(put, path = "/api/v1/tenants/{tenant_id}/flows/{flow_id}/draft", tag = "flows",
    params(("tenant_id" = Uuid, Path), ("flow_id" = Uuid, Path)), request_body = SaveDraft,
    responses((status = 200, body = FlowOut), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn save_draft(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<SaveDraft>,
) -> ApiResult<Json<FlowOut>> {
    ctx.require(Permission::TelephonyManage)?;
    let (_, draft) = parse_definition(body.definition)?;
    let tx = state.store.begin().await?;
    let s = ctx.scoped(&tx);
    let (before, after) = s.save_flow_draft(ids.1, draft).await?;
    let before = before.draft.as_deref().map(stored_json).transpose()?;
    let out = flow_out(&s, after).await?;
    audit::record(
        &tx,
        ctx.audit(
            "flow.draft_saved",
            "flow",
            out.id,
            Some(serde_json::json!({ "draft": before })),
            Some(serde_json::json!({ "draft": out.draft })),
        ),
    )
    .await?;
    commit(tx).await?;
    Ok(Json(out))
}

/// Publish's failures: an [`ApiError`], or the draft's problems (the
/// validator's and the unresolved route targets, as JSON with a `message`
/// each), which go out as 422 `flow_invalid` with `details.problems`.
pub enum PublishError {
    Api(ApiError),
    Invalid(Vec<Value>),
}

impl From<ApiError> for PublishError {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl From<StoreError> for PublishError {
    fn from(e: StoreError) -> Self {
        Self::Api(e.into())
    }
}

impl IntoResponse for PublishError {
    fn into_response(self) -> Response {
        match self {
            PublishError::Api(e) => e.into_response(),
            PublishError::Invalid(problems) => {
                let first = problems
                    .first()
                    .and_then(|p| p["message"].as_str())
                    .unwrap_or_default();
                let body = serde_json::json!({ "error": {
                    "code": "flow_invalid",
                    "message": format!(
                        "the draft has {} problem(s); first: {first}",
                        problems.len()
                    ),
                    "details": { "problems": problems },
                }});
                (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
            }
        }
    }
}

/// Validate the draft against the tenant's prompts, resolve its route
/// targets (route nodes and the fallback) against the tenant's queues,
/// members and published flows and, when it has no problems, freeze it as
/// the next version and publish it (the draft is consumed). Problems are
/// 422 `flow_invalid` with `details.problems` (each with its node id and
/// `problem` kind: a validator kind, or `unknown_queue`, `unknown_agent`,
/// `invalid_number`, `unknown_flow`, `flow_not_published` for a target,
/// `unknown_secret` for a webhook's secret, `unknown_mailbox` for a
/// voicemail or record node's box, `no_mailbox` for a record node naming
/// none in a flow that owns no box); no draft is 409 `no_draft`.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/flows/{flow_id}/publish", tag = "flows",
    params(("tenant_id" = Uuid, Path), ("flow_id" = Uuid, Path)),
    responses((status = 201, body = FlowVersionOut), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn publish_flow(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> Result<(StatusCode, Json<FlowVersionOut>), PublishError> {
    ctx.require(Permission::TelephonyManage)?;
    let tx = state.store.begin().await?;
    let s = ctx.scoped(&tx);
    let row = s.get_flow(ids.1).await?;
    let draft = row.draft.as_deref().ok_or_else(no_draft)?;
    let flow = stored_flow(draft)?;
    let problems = draft_problems(&s, ids.1, &flow, &s.prompt_names().await?).await?;
    if !problems.is_empty() {
        return Err(PublishError::Invalid(problems));
    }
    let definition = flow.to_json().map_err(ApiError::internal)?;
    let version = s
        .publish_flow(ids.1, definition, ctx.user_id())
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => ApiError::conflict(
                "publish_conflict",
                "another publish of this flow happened at the same time; try again",
            ),
            e => e.into(),
        })?;
    let number = version.version;
    let out = version_out(version, Some(number))?;
    audit::record(
        &tx,
        ctx.audit(
            "flow.published",
            "flow",
            ids.1,
            Some(serde_json::json!({ "published_version": row.published_version })),
            Some(serde_json::json!({ "published_version": out.version })),
        ),
    )
    .await?;
    commit(tx).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// Publish an earlier version again. A missing version is 404; the version
/// already published is 409 `already_published`.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/flows/{flow_id}/rollback", tag = "flows",
    params(("tenant_id" = Uuid, Path), ("flow_id" = Uuid, Path)), request_body = Rollback,
    responses((status = 200, body = FlowOut), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn rollback_flow(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<Rollback>,
) -> ApiResult<Json<FlowOut>> {
    ctx.require(Permission::TelephonyManage)?;
    let to = version_number(body.version)?;
    let tx = state.store.begin().await?;
    let s = ctx.scoped(&tx);
    if s.get_flow(ids.1).await?.published_version == Some(to) {
        return Err(ApiError::conflict(
            "already_published",
            VersionError::AlreadyPublished(body.version).to_string(),
        ));
    }
    let (before, after) = s.rollback_flow(ids.1, to).await?;
    let out = flow_out(&s, after).await?;
    audit::record(
        &tx,
        ctx.audit(
            "flow.rolled_back",
            "flow",
            ids.1,
            Some(serde_json::json!({ "published_version": before.published_version })),
            Some(serde_json::json!({ "published_version": out.published_version })),
        ),
    )
    .await?;
    commit(tx).await?;
    Ok(Json(out))
}

/// The flow's versions, newest first.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/flows/{flow_id}/versions", tag = "flows",
    params(("tenant_id" = Uuid, Path), ("flow_id" = Uuid, Path)),
    responses((status = 200, body = FlowVersionList), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_versions(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<FlowVersionList>> {
    ctx.require(Permission::TelephonyRead)?;
    let s = ctx.scoped(state.store.reader());
    let published = s.get_flow(ids.1).await?.published_version;
    let items = s
        .list_flow_versions(ids.1)
        .await?
        .into_iter()
        .map(|v| FlowVersionItem {
            published: published == Some(v.version),
            version: v.version,
            created_by: v.created_by,
            created_at: v.created_at,
        })
        .collect();
    Ok(Json(FlowVersionList { items }))
}

/// One version with its graph.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/flows/{flow_id}/versions/{version}",
    tag = "flows",
    params(("tenant_id" = Uuid, Path), ("flow_id" = Uuid, Path), ("version" = u32, Path)),
    responses((status = 200, body = FlowVersionOut), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_version(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid, u32)>,
) -> ApiResult<Json<FlowVersionOut>> {
    ctx.require(Permission::TelephonyRead)?;
    let s = ctx.scoped(state.store.reader());
    let flow = s.get_flow(ids.1).await?;
    let v = s.get_flow_version(ids.1, version_number(ids.2)?).await?;
    Ok(Json(version_out(v, flow.published_version)?))
}

/// A version number or the draft.
#[derive(Clone, Copy)]
enum Side {
    Version(u32),
    Draft,
}

impl Side {
    fn parse(field: &str, raw: &str) -> ApiResult<Self> {
        match raw {
            "draft" => Ok(Side::Draft),
            n => n.parse().map(Side::Version).map_err(|_| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("`{field}` is a version number or `draft`"),
                )
            }),
        }
    }

    fn label(self) -> Value {
        match self {
            Side::Version(n) => Value::from(n),
            Side::Draft => Value::from("draft"),
        }
    }
}

/// The flow graph a side names: 404 for a missing version, 409 `no_draft`.
async fn load_side<C: omnivox_store::ConnectionTrait>(
    s: &omnivox_store::Scoped<'_, C>,
    row: &FlowRow,
    side: Side,
) -> ApiResult<Flow> {
    match side {
        Side::Draft => stored_flow(row.draft.as_deref().ok_or_else(no_draft)?),
        Side::Version(n) => {
            let v = s.get_flow_version(row.id, version_number(n)?).await?;
            stored_flow(&v.definition)
        }
    }
}

/// What changed from one version to another (`to` may be `draft`): start
/// node, fallback, added/removed nodes, changed fields per node and changed
/// edges, as `omnivox-flows` computes them, plus `from` and `to`.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/flows/{flow_id}/diff", tag = "flows",
    params(("tenant_id" = Uuid, Path), ("flow_id" = Uuid, Path), DiffQuery),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn diff_flow(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiQuery(q): ApiQuery<DiffQuery>,
) -> ApiResult<Json<Value>> {
    ctx.require(Permission::TelephonyRead)?;
    let (from, to) = (Side::parse("from", &q.from)?, Side::parse("to", &q.to)?);
    let s = ctx.scoped(state.store.reader());
    let row = s.get_flow(ids.1).await?;
    let old = load_side(&s, &row, from).await?;
    let new = load_side(&s, &row, to).await?;
    let mut out = serde_json::to_value(diff(&old, &new)).map_err(ApiError::internal)?;
    if let Value::Object(m) = &mut out {
        m.insert("from".into(), from.label());
        m.insert("to".into(), to.label());
    }
    Ok(Json(out))
}

/// Run a simulated call through the flow and return the interpreter's trace
/// (`events`, `nodes`, `prompts`, `spoken`, `variables`, `survey`,
/// `outcome`, `fallback_reason`). Webhooks are never sent: each waiting
/// webhook node takes its answers from `script.webhooks[node id]` in order
/// and times out when they run out. No webhook signing secret is available
/// to a simulation: requests in the trace are signed with a throw-away key
/// made for this run, so the fixtures, not the secret store, decide the
/// branch. Without a published version (and no `version`) it is 409
/// `not_published`.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/flows/{flow_id}/simulate", tag = "flows",
    params(("tenant_id" = Uuid, Path), ("flow_id" = Uuid, Path)), request_body = SimulateFlow,
    responses((status = 200, body = Object), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn simulate_flow(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<SimulateFlow>,
) -> ApiResult<Json<Value>> {
    ctx.require(Permission::TelephonyRead)?;
    let s = ctx.scoped(state.store.reader());
    let row = s.get_flow(ids.1).await?;
    let side = simulated_side(body.version.as_ref(), row.published_version)?;
    let flow = load_side(&s, &row, side).await?;
    let mut call = CallContext::new(
        &format!("sim-{}", Uuid::new_v4()),
        &row.id.to_string(),
        &body.caller,
        &body.called,
        body.at.unwrap_or_else(omnivox_store::now),
    );
    call.caller_country = body.caller_country;
    call.variables = body.variables;
    call.secrets = simulation_secrets(&flow);
    let trace = simulate(Arc::new(flow), call, &body.script);
    Ok(Json(
        serde_json::to_value(trace).map_err(ApiError::internal)?,
    ))
}

/// The side a simulation runs: the `version` asked for, else the published one.
fn simulated_side(version: Option<&Value>, published: Option<i32>) -> ApiResult<Side> {
    match version {
        None | Some(Value::Null) => published
            .and_then(|n| u32::try_from(n).ok())
            .map(Side::Version)
            .ok_or_else(|| {
                ApiError::conflict(
                    "not_published",
                    "the flow has no published version; simulate the draft with \"version\": \"draft\"",
                )
            }),
        Some(Value::String(v)) if v == "draft" => Ok(Side::Draft),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Side::Version)
            .ok_or_else(|| {
                ApiError::field("version", "invalid_version", "a version number or \"draft\"")
            }),
    }
}

/// One random key per webhook secret name in the flow. Nothing is sent, so
/// the signature only has to exist; the key is never stored or returned.
fn simulation_secrets(flow: &Flow) -> BTreeMap<String, Vec<u8>> {
    flow.nodes
        .iter()
        .filter_map(|n| match &n.kind {
            NodeKind::Webhook(w) => Some(w.secret.clone()),
            _ => None,
        })
        .map(|name| {
            let key = [Uuid::new_v4().into_bytes(), Uuid::new_v4().into_bytes()].concat();
            (name, key)
        })
        .collect()
}

/// One live call's run of the flow.
#[derive(Serialize, ToSchema)]
pub struct FlowRunOut {
    pub id: Uuid,
    pub call_id: Uuid,
    pub flow_id: Uuid,
    /// The flow version the call ran.
    pub version: i32,
    /// `route`, `hangup`, `caller_hangup`, `voicemail` or `error`.
    pub outcome: String,
    /// Why the flow's fallback route was taken, if it was.
    pub fallback_reason: Option<String>,
    /// The interpreter's trace (`events`, `nodes`, `prompts`, `spoken`,
    /// `variables`, `survey`, `outcome`, `fallback_reason`), as the
    /// simulation returns it.
    #[schema(value_type = Object)]
    pub trace: Value,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
}

fn run_out(r: FlowRunRow) -> ApiResult<FlowRunOut> {
    let trace = serde_json::from_str(&r.trace)
        .map_err(|e| ApiError::internal(format!("stored flow trace unreadable: {e}")))?;
    Ok(FlowRunOut {
        id: r.id,
        call_id: r.call_id,
        flow_id: r.flow_id,
        version: r.version,
        outcome: r.outcome,
        fallback_reason: r.fallback_reason,
        trace,
        started_at: r.started_at,
        ended_at: r.ended_at,
    })
}

/// `?call_id=&cursor=&limit=` on a flow's runs.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    /// Only this call's runs.
    pub call_id: Option<Uuid>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u64>,
}

/// The flow's runs by live calls, newest (latest start) first, each with
/// its trace; `call_id` keeps one call's runs. A cursor that is not a run
/// of this flow is 400 `invalid_cursor`.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/flows/{flow_id}/runs", tag = "flows",
    params(("tenant_id" = Uuid, Path), ("flow_id" = Uuid, Path), RunsQuery),
    responses((status = 200, body = PageOut<FlowRunOut>), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_runs(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiQuery(q): ApiQuery<RunsQuery>,
) -> ApiResult<Json<PageOut<FlowRunOut>>> {
    ctx.require(Permission::TelephonyRead)?;
    let page = page_request(q.cursor.as_deref(), q.limit)?;
    let s = ctx.scoped(state.store.reader());
    s.get_flow(ids.1).await?;
    let runs = s
        .list_flow_runs(ids.1, q.call_id, &page)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => {
                ApiError::bad_request("invalid_cursor", "the cursor is not a run of this flow")
            }
            e => e.into(),
        })?;
    Ok(Json(PageOut {
        items: runs
            .items
            .into_iter()
            .map(run_out)
            .collect::<ApiResult<_>>()?,
        next_cursor: runs.next_cursor,
    }))
}
