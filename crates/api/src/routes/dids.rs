//! DIDs: the phone numbers that route inbound calls to this tenant. A
//! number belongs to one organization at a time.

use crate::auth::principal::TenantCtx;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::flow_routes::{NumberError, dialable_e164};
use crate::routes::dto::{PageOut, PageQuery, json};
use crate::routes::telephony::Check;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use omnivox_domain::{DidId, Permission, UserId};
use omnivox_store::dids::{DidPatch, DidRow, DidTarget, NewDid};
use omnivox_store::{ConnectionTrait, Scoped, StoreError, audit, commit};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Serialize, ToSchema)]
pub struct DidOut {
    pub id: Uuid,
    /// E.164 with `+`.
    pub number: String,
    pub description: String,
    /// `agent`, `number`, `queue` or `flow`.
    pub target_kind: String,
    /// Set when `target_kind` is `agent`.
    pub target_agent_id: Option<Uuid>,
    /// Set when `target_kind` is `number`.
    pub target_number: Option<String>,
    /// Set when `target_kind` is `queue`.
    pub target_queue_id: Option<Uuid>,
    /// Set when `target_kind` is `flow`.
    pub target_flow_id: Option<Uuid>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<DidRow> for DidOut {
    fn from(d: DidRow) -> Self {
        Self {
            id: d.id,
            number: d.number,
            description: d.description,
            target_kind: d.target_kind,
            target_agent_id: d.target_agent_id,
            target_number: d.target_number,
            target_queue_id: d.target_queue_id,
            target_flow_id: d.target_flow_id,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// A new DID. Numbers are normalized to E.164 (national numbers are read
/// as US numbers).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDid {
    pub number: String,
    #[serde(default)]
    pub description: String,
    /// `agent` (ring a member's phones), `number` (forward to a number),
    /// `queue` (answer and queue the caller in an ACD queue) or `flow`
    /// (answer and run an IVR flow's published version). Exactly the
    /// kind's value is given.
    pub target_kind: String,
    pub target_agent_id: Option<Uuid>,
    pub target_number: Option<String>,
    pub target_queue_id: Option<Uuid>,
    pub target_flow_id: Option<Uuid>,
}

/// A change to a DID. A new target names its kind and its value.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDid {
    pub number: Option<String>,
    pub description: Option<String>,
    pub target_kind: Option<String>,
    pub target_agent_id: Option<Uuid>,
    pub target_number: Option<String>,
    pub target_queue_id: Option<Uuid>,
    pub target_flow_id: Option<Uuid>,
}

fn e164(c: &mut Check, field: &str, raw: &str) -> String {
    match dialable_e164(raw) {
        Ok(number) => number,
        Err(NumberError::Extension) => {
            c.err(field, "invalid_number", "a DID has no extension");
            String::new()
        }
        Err(NumberError::Invalid(why)) => {
            c.err(field, "invalid_number", why);
            String::new()
        }
    }
}

/// The target values of a request; exactly the kind's value is given.
struct TargetValues<'a> {
    agent: Option<Uuid>,
    number: Option<&'a str>,
    queue: Option<Uuid>,
    flow: Option<Uuid>,
}

impl TargetValues<'_> {
    fn is_empty(&self) -> bool {
        self.count() == 0
    }

    fn count(&self) -> usize {
        [
            self.agent.is_some(),
            self.number.is_some(),
            self.queue.is_some(),
            self.flow.is_some(),
        ]
        .into_iter()
        .filter(|given| *given)
        .count()
    }
}

fn did_target(c: &mut Check, kind: &str, v: &TargetValues<'_>) -> Option<DidTarget> {
    let only = v.count() == 1;
    let (field, what) = match kind {
        "agent" => match v.agent {
            Some(a) if only => return Some(DidTarget::Agent(UserId(a))),
            _ => ("target_agent_id", "an agent target needs target_agent_id"),
        },
        "number" => match v.number {
            Some(n) if only => return Some(DidTarget::Number(e164(c, "target_number", n))),
            _ => ("target_number", "a number target needs target_number"),
        },
        "queue" => match v.queue {
            Some(q) if only => return Some(DidTarget::Queue(q)),
            _ => ("target_queue_id", "a queue target needs target_queue_id"),
        },
        "flow" => match v.flow {
            Some(f) if only => return Some(DidTarget::Flow(f)),
            _ => ("target_flow_id", "a flow target needs target_flow_id"),
        },
        _ => {
            c.err(
                "target_kind",
                "invalid_target_kind",
                "agent, number, queue or flow",
            );
            return None;
        }
    };
    c.err(
        field,
        "invalid_target",
        format!("{what} (and no other target value)"),
    );
    None
}

fn check_description(c: &mut Check, d: &str) {
    if d.chars().count() > 500 {
        c.err("description", "invalid_length", "at most 500 characters");
    }
}

/// An agent target must be a member of this tenant, a queue target one of
/// its queues and a flow target one of its flows with a published version.
async fn check_target(scoped: &Scoped<'_, impl ConnectionTrait>, t: &DidTarget) -> ApiResult<()> {
    match t {
        DidTarget::Agent(u) => match scoped.get_member(*u).await {
            Ok(_) => Ok(()),
            Err(StoreError::NotFound) => Err(ApiError::field(
                "target_agent_id",
                "not_a_member",
                "the agent is not a member of this organization",
            )),
            Err(e) => Err(e.into()),
        },
        DidTarget::Number(_) => Ok(()),
        DidTarget::Queue(q) => match scoped.get_queue(*q).await {
            Ok(_) => Ok(()),
            Err(StoreError::NotFound) => Err(ApiError::field(
                "target_queue_id",
                "unknown_queue",
                "no such queue in this organization",
            )),
            Err(e) => Err(e.into()),
        },
        DidTarget::Flow(f) => match scoped.get_flow(*f).await {
            Ok(flow) if flow.published_version.is_some() => Ok(()),
            Ok(_) => Err(ApiError::field(
                "target_flow_id",
                "flow_not_published",
                "the flow has no published version",
            )),
            Err(StoreError::NotFound) => Err(ApiError::field(
                "target_flow_id",
                "unknown_flow",
                "no such flow in this organization",
            )),
            Err(e) => Err(e.into()),
        },
    }
}

fn did_taken(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(_) => ApiError::conflict(
            "did_number_taken",
            "this number is already assigned (numbers belong to one organization)",
        ),
        e => e.into(),
    }
}

/// The tenant's DIDs.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/dids", tag = "telephony",
    params(("tenant_id" = Uuid, Path), PageQuery),
    responses((status = 200, body = PageOut<DidOut>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_dids(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<PageOut<DidOut>>> {
    ctx.require(Permission::TelephonyRead)?;
    let rows = ctx
        .scoped(state.store.reader())
        .list_dids(&q.page()?)
        .await?;
    Ok(Json(PageOut::from_page(rows)))
}

/// Add a DID. A number another organization holds is 409 `did_number_taken`.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/dids", tag = "telephony",
    params(("tenant_id" = Uuid, Path)), request_body = CreateDid,
    responses((status = 201, body = DidOut), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_did(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiJson(req): ApiJson<CreateDid>,
) -> ApiResult<(StatusCode, Json<DidOut>)> {
    ctx.require(Permission::TelephonyManage)?;
    let mut c = Check::default();
    let number = e164(&mut c, "number", &req.number);
    check_description(&mut c, &req.description);
    let values = TargetValues {
        agent: req.target_agent_id,
        number: req.target_number.as_deref(),
        queue: req.target_queue_id,
        flow: req.target_flow_id,
    };
    let target = did_target(&mut c, &req.target_kind, &values);
    c.done()?;
    let Some(target) = target else {
        return Err(ApiError::internal("validated DID target missing"));
    };
    let tx = state.store.begin().await?;
    let scoped = ctx.scoped(&tx);
    check_target(&scoped, &target).await?;
    let row = scoped
        .create_did(NewDid {
            number,
            description: req.description,
            target,
        })
        .await
        .map_err(did_taken)?;
    let out = DidOut::from(row);
    audit::record(
        &tx,
        ctx.audit("did.created", "did", out.id, None, json(&out)),
    )
    .await?;
    commit(tx).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// One DID.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/dids/{did_id}", tag = "telephony",
    params(("tenant_id" = Uuid, Path), ("did_id" = Uuid, Path)),
    responses((status = 200, body = DidOut), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_did(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<DidOut>> {
    ctx.require(Permission::TelephonyRead)?;
    let row = ctx
        .scoped(state.store.reader())
        .get_did(DidId(ids.1))
        .await?;
    Ok(Json(row.into()))
}

/// Change a DID.
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant_id}/dids/{did_id}", tag = "telephony",
    params(("tenant_id" = Uuid, Path), ("did_id" = Uuid, Path)), request_body = UpdateDid,
    responses((status = 200, body = DidOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_did(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiJson(req): ApiJson<UpdateDid>,
) -> ApiResult<Json<DidOut>> {
    ctx.require(Permission::TelephonyManage)?;
    let id = DidId(ids.1);
    let mut c = Check::default();
    let number = req.number.as_deref().map(|n| e164(&mut c, "number", n));
    if let Some(d) = &req.description {
        check_description(&mut c, d);
    }
    let values = TargetValues {
        agent: req.target_agent_id,
        number: req.target_number.as_deref(),
        queue: req.target_queue_id,
        flow: req.target_flow_id,
    };
    let target = match &req.target_kind {
        None if values.is_empty() => None,
        Some(kind) => did_target(&mut c, kind, &values),
        None => {
            c.err(
                "target_kind",
                "invalid_target_kind",
                "a new target names its target_kind",
            );
            None
        }
    };
    c.done()?;
    let tx = state.store.begin().await?;
    let scoped = ctx.scoped(&tx);
    if let Some(t) = &target {
        scoped.get_did(id).await?;
        check_target(&scoped, t).await?;
    }
    let (before, after) = scoped
        .update_did(
            id,
            DidPatch {
                number,
                description: req.description,
                target,
            },
        )
        .await
        .map_err(did_taken)?;
    let (before, after) = (DidOut::from(before), DidOut::from(after));
    audit::record(
        &tx,
        ctx.audit("did.updated", "did", id, json(&before), json(&after)),
    )
    .await?;
    commit(tx).await?;
    Ok(Json(after))
}

/// Release a DID.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/dids/{did_id}", tag = "telephony",
    params(("tenant_id" = Uuid, Path), ("did_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_did(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    ctx.require(Permission::TelephonyManage)?;
    let tx = state.store.begin().await?;
    let before = DidOut::from(ctx.scoped(&tx).delete_did(DidId(ids.1)).await?);
    audit::record(
        &tx,
        ctx.audit("did.deleted", "did", ids.1, json(&before), None),
    )
    .await?;
    commit(tx).await?;
    Ok(StatusCode::NO_CONTENT)
}
