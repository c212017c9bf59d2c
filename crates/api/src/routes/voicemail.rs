//! Voicemail over HTTP: a tenant's boxes (`voicemail_read` to see them,
//! `voicemail_manage` to create, change and delete them) and the messages
//! callers left in them (list newest first, metadata, the WAV with HTTP
//! Range, heard marks, deletion).
//!
//! Roles without `voicemail_read` that work as agents reach only the
//! messages of the box they own (`owner: {kind: agent, id: <their user>}`);
//! anything else is 404, so ids of other boxes reveal nothing. A box's
//! notification secret is write-only: responses and the audit trail carry
//! `notify_secret_set`, never the value. Box changes, listening (a download
//! from the first byte), heard marks and deletions are audited; a deleted
//! message's file is removed after its row, and a deleted box's message
//! files go with it. A file a crash left without its row is dealt with at
//! start-up ([`repair`]).
//!
//! A box outlives nothing it belongs to by accident: a queue or flow that
//! owns a box cannot be deleted (409 `in_use`, see
//! `crate::routes::queues::refuse_if_owns_box`). A member removed from the
//! organization keeps their box and its messages (supervisors still reach
//! them; the box can be given another owner or deleted); the box is theirs
//! again if they come back.

pub mod repair;

use crate::auth::principal::TenantCtx;
use crate::error::{ApiError, ApiResult, ErrorBody, FieldError, exists, range};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::routes::agents::{agent_problem, require_any};
use crate::routes::audio;
use crate::routes::dto::{PageOut, PageQuery, json, page_request};
use crate::routes::queues::{queues_using, refuse_if_used};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use omnivox_domain::Permission;
use omnivox_media::record::{LocalStore, RecordError, RecordingKey, RecordingStore};
use omnivox_store::seal::Field;
use omnivox_store::voicemail::{
    MessageFilter, NAME_TAKEN, OWNER_TAKEN, VoicemailBoxRow, VoicemailBoxValues,
    VoicemailMessageRow,
};
use omnivox_store::{ConnectionTrait, Page, Scoped, StoreError, audit, commit};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

const OWNER_KINDS: [&str; 3] = ["agent", "queue", "flow"];
const DEFAULT_MAX_SECONDS: i64 = 120;
const MAX_URL_LEN: usize = 2048;

// ------------------------------------------------------------------ types --

/// Who a box belongs to.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BoxOwner {
    /// `agent` (a member who works as an agent), `queue` or `flow`.
    pub kind: String,
    /// The user, queue or flow id.
    pub id: Uuid,
}

/// A voicemail box.
#[derive(Serialize, ToSchema)]
pub struct VoicemailBoxOut {
    pub id: Uuid,
    pub name: String,
    pub owner: BoxOwner,
    /// A prompt name of the tenant's library played before the beep
    /// (null: a spoken default).
    pub greeting_prompt: Option<String>,
    /// The longest message recorded (10-600 s).
    pub max_message_seconds: i64,
    /// Where each new message's metadata is POSTed (signed).
    pub notify_url: Option<String>,
    /// Whether a notification secret is set (the secret is never returned).
    pub notify_secret_set: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<VoicemailBoxRow> for VoicemailBoxOut {
    fn from(r: VoicemailBoxRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            owner: BoxOwner {
                kind: r.owner_kind,
                id: r.owner_id,
            },
            greeting_prompt: r.greeting_prompt,
            max_message_seconds: i64::from(r.max_message_seconds),
            notify_url: r.notify_url,
            notify_secret_set: r.notify_secret.is_some(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A new box. `name` (1-64 characters, unique in the organization, not a
/// UUID) and `owner` (one box per owner) are required.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVoicemailBox {
    pub name: String,
    pub owner: BoxOwner,
    /// A prompt name of the tenant's library.
    pub greeting_prompt: Option<String>,
    /// 10-600 s, default 120.
    pub max_message_seconds: Option<i64>,
    /// An http or https URL, at most 2048 characters.
    pub notify_url: Option<String>,
    /// The HMAC key of notifications, 16-256 characters; write-only.
    pub notify_secret: Option<String>,
}

/// A change to a box: absent fields stay, `null` clears `greeting_prompt`,
/// `notify_url` or `notify_secret`. The result is checked as a whole.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateVoicemailBox {
    pub name: Option<String>,
    pub owner: Option<BoxOwner>,
    #[serde(default, deserialize_with = "crate::routes::dto::nullable")]
    #[schema(value_type = Option<String>)]
    pub greeting_prompt: Option<Option<String>>,
    pub max_message_seconds: Option<i64>,
    #[serde(default, deserialize_with = "crate::routes::dto::nullable")]
    #[schema(value_type = Option<String>)]
    pub notify_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::routes::dto::nullable")]
    #[schema(value_type = Option<String>)]
    pub notify_secret: Option<Option<String>>,
}

/// A message left in a box.
#[derive(Serialize, ToSchema)]
pub struct VoicemailMessageOut {
    pub id: Uuid,
    pub box_id: Uuid,
    pub call_id: Uuid,
    /// Who called.
    pub caller: String,
    /// The number called.
    pub called: String,
    pub duration_ms: i64,
    /// Size of the WAV file.
    pub size_bytes: i64,
    /// sha256 of the WAV file (hex).
    pub sha256: String,
    pub heard: bool,
    /// When it was first marked heard.
    pub heard_at: Option<DateTime<Utc>>,
    /// Who marked it heard (null for an API key).
    pub heard_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    /// The notification to the box's URL.
    pub notification: NotificationOut,
}

/// Where a message's notification stands.
#[derive(Serialize, ToSchema)]
pub struct NotificationOut {
    /// `none` (the box had no URL), `pending` (being retried), `delivered`
    /// or `failed` (refused with a 4xx, or still failing a day later).
    pub state: String,
    pub attempts: i32,
    /// When the next attempt is due, while pending.
    pub next_at: Option<DateTime<Utc>>,
    /// What the last failed attempt met, e.g. `HTTP 503`.
    pub last_error: Option<String>,
}

impl From<VoicemailMessageRow> for VoicemailMessageOut {
    fn from(r: VoicemailMessageRow) -> Self {
        Self {
            id: r.id,
            box_id: r.box_id,
            call_id: r.call_id,
            caller: r.caller,
            called: r.called,
            duration_ms: r.duration_ms,
            size_bytes: r.size_bytes,
            sha256: r.sha256,
            heard: r.heard_at.is_some(),
            heard_at: r.heard_at,
            heard_by: r.heard_by,
            created_at: r.created_at,
            notification: NotificationOut {
                state: r.notify_state,
                attempts: r.notify_attempts,
                next_at: r.notify_next_at,
                last_error: r.notify_error,
            },
        }
    }
}

/// Page through messages, newest first.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MessageQuery {
    /// Only this box's messages (agents: their own box, the default).
    pub box_id: Option<Uuid>,
    /// Only heard (`true`) or new (`false`) messages.
    pub heard: Option<bool>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u64>,
}

/// Mark a message heard or new.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeardIn {
    pub heard: bool,
}

// ----------------------------------------------------------------- access --

/// Which messages the caller reaches.
enum Reach {
    /// Every box's (`voicemail_read` / `voicemail_manage`).
    All,
    /// Only this box's: the agent's own (none without a box).
    Own(Option<Uuid>),
}

impl Reach {
    fn allows(&self, box_id: Uuid) -> bool {
        match self {
            Reach::All => true,
            Reach::Own(own) => *own == Some(box_id),
        }
    }
}

/// `full` reaches every message; roles that work as agents reach their own
/// box's; others are refused naming `full`.
async fn reach(state: &AppState, ctx: &TenantCtx, full: Permission) -> ApiResult<Reach> {
    if ctx.role.grants(full) {
        return Ok(Reach::All);
    }
    require_any(ctx, &[full, Permission::AgentWork])?;
    let own = match ctx.user_id() {
        Some(me) => ctx
            .scoped(state.store.reader())
            .voicemail_box_of("agent", me.0)
            .await?
            .map(|b| b.id),
        None => None,
    };
    Ok(Reach::Own(own))
}

/// The message, if the caller reaches it (404 otherwise: no probing).
async fn reachable<C: ConnectionTrait>(
    scoped: &Scoped<'_, C>,
    reach: &Reach,
    id: Uuid,
) -> ApiResult<VoicemailMessageRow> {
    let row = scoped.get_voicemail_message(id).await?;
    if reach.allows(row.box_id) {
        Ok(row)
    } else {
        Err(ApiError::NotFound)
    }
}

// ------------------------------------------------------------- validation --

fn url_ok(u: &str) -> bool {
    reqwest::Url::parse(u)
        .is_ok_and(|p| matches!(p.scheme(), "http" | "https") && p.host_str().is_some())
}

/// Every problem of `v` at once (the secret is never echoed). The owner's
/// existence is checked when `check_owner` (a new box, or a changed owner):
/// a box whose agent has left the organization can still be changed.
async fn problems<C: ConnectionTrait>(
    scoped: &Scoped<'_, C>,
    v: &VoicemailBoxValues,
    max_seconds: i64,
    check_owner: bool,
    new_secret: Option<&str>,
) -> ApiResult<Vec<FieldError>> {
    let mut e = Vec::new();
    let n = v.name.chars().count();
    if n == 0 || n > 64 || v.name.trim() != v.name {
        e.push(FieldError::new(
            "name",
            "invalid_name",
            "1-64 characters, no leading or trailing space",
        ));
    } else if Uuid::parse_str(&v.name).is_ok() {
        e.push(FieldError::new(
            "name",
            "invalid_name",
            "a name cannot be a UUID: flows name a box by its name or its id",
        ));
    }
    if !OWNER_KINDS.contains(&v.owner_kind.as_str()) {
        e.push(FieldError::new(
            "owner.kind",
            "invalid_choice",
            "one of agent, queue, flow",
        ));
    } else if check_owner {
        owner_problems(scoped, &v.owner_kind, v.owner_id, &mut e).await?;
    }
    if let Some(p) = &v.greeting_prompt
        && !exists(scoped.prompt_by_name(p).await)?
    {
        e.push(FieldError::new(
            "greeting_prompt",
            "unknown_prompt",
            format!("no prompt named `{p}` in the prompt library"),
        ));
    }
    range(&mut e, "max_message_seconds", max_seconds, 10, 600, " s");
    if let Some(u) = &v.notify_url {
        if u.chars().count() > MAX_URL_LEN {
            e.push(FieldError::new(
                "notify_url",
                "too_long",
                format!("at most {MAX_URL_LEN} characters"),
            ));
        } else if !url_ok(u) {
            e.push(FieldError::new(
                "notify_url",
                "invalid_url",
                "an absolute http or https URL",
            ));
        }
    }
    if let Some(s) = new_secret
        && !(16..=256).contains(&s.chars().count())
    {
        e.push(FieldError::new(
            "notify_secret",
            "invalid_length",
            "16 to 256 characters",
        ));
    }
    // Notifications are always signed: a URL without a secret would never
    // be told anything.
    if v.notify_url.is_some() && v.notify_secret.is_none() {
        e.push(FieldError::new(
            "notify_secret",
            "required",
            "a notification URL needs a secret to sign with",
        ));
    }
    Ok(e)
}

/// The owner must exist in the tenant: an agent is a member whose role
/// works as an agent (as for agent states), a queue or flow one of the
/// tenant's.
async fn owner_problems<C: ConnectionTrait>(
    scoped: &Scoped<'_, C>,
    kind: &str,
    id: Uuid,
    e: &mut Vec<FieldError>,
) -> ApiResult<()> {
    match kind {
        "agent" => e.extend(agent_problem(scoped, "owner.id", id).await?),
        "queue" => {
            if !exists(scoped.get_queue(id).await)? {
                e.push(FieldError::new(
                    "owner.id",
                    "unknown_queue",
                    format!("no queue {id} in this organization"),
                ));
            }
        }
        _ => {
            if !exists(scoped.get_flow(id).await)? {
                e.push(FieldError::new(
                    "owner.id",
                    "unknown_flow",
                    format!("no flow {id} in this organization"),
                ));
            }
        }
    }
    Ok(())
}

/// `v` with `max_seconds`, once every field is valid (the owner only when
/// `check_owner`, see [`problems`]).
async fn checked<C: ConnectionTrait>(
    scoped: &Scoped<'_, C>,
    mut v: VoicemailBoxValues,
    max_seconds: i64,
    check_owner: bool,
    new_secret: Option<&str>,
) -> ApiResult<VoicemailBoxValues> {
    let errors = problems(scoped, &v, max_seconds, check_owner, new_secret).await?;
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    v.max_message_seconds = i32::try_from(max_seconds).map_err(ApiError::internal)?;
    Ok(v)
}

fn taken(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(what) if what == NAME_TAKEN => ApiError::conflict(
            "voicemail_box_name_taken",
            "the organization already has a voicemail box with this name",
        ),
        StoreError::Conflict(what) if what == OWNER_TAKEN => ApiError::conflict(
            "voicemail_box_owner_taken",
            "this owner already has a voicemail box",
        ),
        e => e.into(),
    }
}

// ------------------------------------------------------------------ files --

/// Removes message files whose rows are gone (a file already missing is
/// fine; another failure is logged, the rows stay deleted).
async fn remove_files(local: &LocalStore, keys: Vec<String>) {
    if keys.is_empty() {
        return;
    }
    let local = local.clone();
    let done = tokio::task::spawn_blocking(move || {
        for storage_key in keys {
            match RecordingKey::from_storage_key(&storage_key).and_then(|k| local.delete(&k)) {
                Ok(()) | Err(RecordError::NotFound) => {}
                Err(e) => {
                    tracing::warn!(file = %storage_key, error = %e, "voicemail file not removed");
                }
            }
        }
    })
    .await;
    if let Err(e) = done {
        tracing::warn!(error = %e, "voicemail files not removed");
    }
}

// ------------------------------------------------------------ box routes --

/// The organization's voicemail boxes, oldest first.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/voicemail/boxes", tag = "voicemail",
    params(("tenant_id" = Uuid, Path), PageQuery),
    responses((status = 200, body = PageOut<VoicemailBoxOut>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_boxes(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<PageOut<VoicemailBoxOut>>> {
    ctx.require(Permission::VoicemailRead)?;
    let page = ctx
        .scoped(state.store.reader())
        .list_voicemail_boxes(&q.page()?)
        .await?;
    Ok(Json(PageOut::from_page(page)))
}

/// Add a box. Every invalid field is reported at once (400
/// `validation_failed`); a name the organization uses is 409
/// `voicemail_box_name_taken`, an owner with a box 409
/// `voicemail_box_owner_taken`.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/voicemail/boxes", tag = "voicemail",
    params(("tenant_id" = Uuid, Path)), request_body = CreateVoicemailBox,
    responses((status = 201, body = VoicemailBoxOut), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_box(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiJson(body): ApiJson<CreateVoicemailBox>,
) -> ApiResult<(StatusCode, Json<VoicemailBoxOut>)> {
    ctx.require(Permission::VoicemailManage)?;
    let max_seconds = body.max_message_seconds.unwrap_or(DEFAULT_MAX_SECONDS);
    let values = VoicemailBoxValues {
        name: body.name,
        owner_kind: body.owner.kind,
        owner_id: body.owner.id,
        greeting_prompt: body.greeting_prompt,
        max_message_seconds: 0,
        notify_url: body.notify_url,
        // Sealed now; its length is checked with the rest (`problems`).
        notify_secret: state
            .sealer
            .seal_opt(Field::NotifySecret, body.notify_secret.as_deref())?,
    };
    let tx = state.store.begin().await?;
    let s = ctx.scoped(&tx);
    let values = checked(&s, values, max_seconds, true, body.notify_secret.as_deref()).await?;
    let row = s.create_voicemail_box(values).await.map_err(taken)?;
    let out = VoicemailBoxOut::from(row);
    audit::record(
        &tx,
        ctx.audit(
            "voicemail.box_created",
            "voicemail_box",
            out.id,
            None,
            json(&out),
        ),
    )
    .await?;
    commit(tx).await?;
    Ok((StatusCode::CREATED, Json(out)))
}

/// One box.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/voicemail/boxes/{box_id}", tag = "voicemail",
    params(("tenant_id" = Uuid, Path), ("box_id" = Uuid, Path)),
    responses((status = 200, body = VoicemailBoxOut), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_box(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<VoicemailBoxOut>> {
    ctx.require(Permission::VoicemailRead)?;
    let row = ctx
        .scoped(state.store.reader())
        .get_voicemail_box(ids.1)
        .await?;
    Ok(Json(row.into()))
}

/// Change a box; the result is checked as a whole (every problem at once),
/// the owner only when it changes (a box whose agent left the organization
/// can still be changed, or given to another owner).
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant_id}/voicemail/boxes/{box_id}", tag = "voicemail",
    params(("tenant_id" = Uuid, Path), ("box_id" = Uuid, Path)), request_body = UpdateVoicemailBox,
    responses((status = 200, body = VoicemailBoxOut), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_box(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<UpdateVoicemailBox>,
) -> ApiResult<Json<VoicemailBoxOut>> {
    ctx.require(Permission::VoicemailManage)?;
    let tx = state.store.begin().await?;
    let s = ctx.scoped(&tx);
    let cur = s.get_voicemail_box(ids.1).await?;
    let mut v = VoicemailBoxValues::from(&cur);
    if let Some(name) = body.name {
        v.name = name;
    }
    if let Some(owner) = body.owner {
        v.owner_kind = owner.kind;
        v.owner_id = owner.id;
    }
    if let Some(p) = body.greeting_prompt {
        v.greeting_prompt = p;
    }
    if let Some(u) = body.notify_url {
        v.notify_url = u;
    }
    if let Some(secret) = &body.notify_secret {
        v.notify_secret = state
            .sealer
            .seal_opt(Field::NotifySecret, secret.as_deref())?;
    }
    let max_seconds = body
        .max_message_seconds
        .unwrap_or(i64::from(cur.max_message_seconds));
    let owner_changed = v.owner_kind != cur.owner_kind || v.owner_id != cur.owner_id;
    let new_secret = body.notify_secret.as_ref().and_then(Option::as_deref);
    let v = checked(&s, v, max_seconds, owner_changed, new_secret).await?;
    let (before, after) = s.update_voicemail_box(ids.1, v).await.map_err(taken)?;
    let (before, out) = (VoicemailBoxOut::from(before), VoicemailBoxOut::from(after));
    audit::record(
        &tx,
        ctx.audit(
            "voicemail.box_updated",
            "voicemail_box",
            out.id,
            json(&before),
            json(&out),
        ),
    )
    .await?;
    commit(tx).await?;
    Ok(Json(out))
}

/// Delete a box with its messages: 204; the messages' files are removed. A
/// box a queue overflows to is 409 `in_use`.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/voicemail/boxes/{box_id}", tag = "voicemail",
    params(("tenant_id" = Uuid, Path), ("box_id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_box(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    ctx.require(Permission::VoicemailManage)?;
    let tx = state.store.begin().await?;
    let s = ctx.scoped(&tx);
    let users = queues_using(&s, |q| {
        q.overflow.iter().any(|r| r.mailbox_id == Some(ids.1))
    })
    .await?;
    refuse_if_used("voicemail box", &users)?;
    let (row, keys) = s.delete_voicemail_box(ids.1).await?;
    let mut before = json(&VoicemailBoxOut::from(row));
    if let Some(serde_json::Value::Object(m)) = before.as_mut() {
        m.insert("messages_deleted".into(), keys.len().into());
    }
    audit::record(
        &tx,
        ctx.audit(
            "voicemail.box_deleted",
            "voicemail_box",
            ids.1,
            before,
            None,
        ),
    )
    .await?;
    commit(tx).await?;
    remove_files(&state.voicemail, keys).await;
    Ok(StatusCode::NO_CONTENT)
}

// -------------------------------------------------------- message routes --

/// Messages, newest first (`voicemail_read`; agents: their own box's).
/// `box_id` of a box the caller does not reach is 404.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/voicemail/messages", tag = "voicemail",
    params(("tenant_id" = Uuid, Path), MessageQuery),
    responses((status = 200, body = PageOut<VoicemailMessageOut>), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_messages(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiQuery(q): ApiQuery<MessageQuery>,
) -> ApiResult<Json<PageOut<VoicemailMessageOut>>> {
    let reach = reach(&state, &ctx, Permission::VoicemailRead).await?;
    let page = page_request(q.cursor.as_deref(), q.limit)?;
    let s = ctx.scoped(state.store.reader());
    let box_id = match (&reach, q.box_id) {
        (Reach::All, Some(b)) => {
            s.get_voicemail_box(b).await?;
            Some(b)
        }
        (Reach::All, None) => None,
        (Reach::Own(own), Some(b)) if *own != Some(b) => return Err(ApiError::NotFound),
        (Reach::Own(Some(own)), _) => Some(*own),
        // An agent without a box has no messages.
        (Reach::Own(None), _) => {
            return Ok(Json(PageOut::from_page(Page::<VoicemailMessageRow> {
                items: Vec::new(),
                next_cursor: None,
            })));
        }
    };
    let filter = MessageFilter {
        box_id,
        heard: q.heard,
    };
    let rows = match s.list_voicemail_messages(filter, &page).await {
        Err(StoreError::NotFound) => {
            return Err(ApiError::bad_request(
                "invalid_cursor",
                "the cursor names a message that is gone; start again without it",
            ));
        }
        r => r?,
    };
    Ok(Json(PageOut::from_page(rows)))
}

/// One message's metadata.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/voicemail/messages/{message_id}", tag = "voicemail",
    params(("tenant_id" = Uuid, Path), ("message_id" = Uuid, Path)),
    responses((status = 200, body = VoicemailMessageOut), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_message(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<VoicemailMessageOut>> {
    let reach = reach(&state, &ctx, Permission::VoicemailRead).await?;
    let row = reachable(&ctx.scoped(state.store.reader()), &reach, ids.1).await?;
    Ok(Json(row.into()))
}

/// The message's audio: a WAV. Supports a single HTTP `Range`
/// (`bytes=0-99`, `bytes=100-`, `bytes=-50`): 206 with `Content-Range`;
/// 416 with `Content-Range: bytes */<size>` when it starts past the end.
/// A download from the first byte is audited as `voicemail.listened`.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/voicemail/messages/{message_id}/audio", tag = "voicemail",
    params(("tenant_id" = Uuid, Path), ("message_id" = Uuid, Path)),
    responses((status = 200, content_type = "audio/wav", body = Vec<u8>),
        (status = 206, content_type = "audio/wav", body = Vec<u8>),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 416, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn message_audio(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let reach = reach(&state, &ctx, Permission::VoicemailRead).await?;
    let row = reachable(&ctx.scoped(state.store.reader()), &reach, ids.1).await?;
    let key = RecordingKey::from_storage_key(&row.storage_key)
        .map_err(|e| audio::store_err("message", e))?;
    let opened = audio::open_wav(&state.voicemail, key, &headers, "message").await?;
    if opened.starts_at_first_byte() {
        audit::record(
            state.store.writer(),
            ctx.audit(
                "voicemail.listened",
                "voicemail_message",
                row.id,
                None,
                Some(serde_json::json!({ "box_id": row.box_id, "call_id": row.call_id })),
            ),
        )
        .await?;
    }
    opened.into_response("message")
}

/// Mark a message heard (by the caller; the first time counts) or new
/// again.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant_id}/voicemail/messages/{message_id}/heard", tag = "voicemail",
    params(("tenant_id" = Uuid, Path), ("message_id" = Uuid, Path)), request_body = HeardIn,
    responses((status = 200, body = VoicemailMessageOut), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn set_heard(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<HeardIn>,
) -> ApiResult<Json<VoicemailMessageOut>> {
    let reach = reach(&state, &ctx, Permission::VoicemailRead).await?;
    let tx = state.store.begin().await?;
    let s = ctx.scoped(&tx);
    reachable(&s, &reach, ids.1).await?;
    let (before, after) = s
        .set_voicemail_heard(ids.1, body.heard, ctx.user_id())
        .await?;
    let state_of = |r: &VoicemailMessageRow| serde_json::json!({ "heard": r.heard_at.is_some(), "heard_at": r.heard_at, "heard_by": r.heard_by });
    audit::record(
        &tx,
        ctx.audit(
            "voicemail.heard",
            "voicemail_message",
            ids.1,
            Some(state_of(&before)),
            Some(state_of(&after)),
        ),
    )
    .await?;
    commit(tx).await?;
    Ok(Json(after.into()))
}

/// Delete a message (`voicemail_manage`; agents: their own box's): 204;
/// the row goes, then its file.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/voicemail/messages/{message_id}", tag = "voicemail",
    params(("tenant_id" = Uuid, Path), ("message_id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_message(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    let reach = reach(&state, &ctx, Permission::VoicemailManage).await?;
    let tx = state.store.begin().await?;
    let s = ctx.scoped(&tx);
    reachable(&s, &reach, ids.1).await?;
    let row = s.delete_voicemail_message(ids.1).await?;
    audit::record(
        &tx,
        ctx.audit(
            "voicemail.deleted",
            "voicemail_message",
            ids.1,
            json(&VoicemailMessageOut::from(row.clone())),
            None,
        ),
    )
    .await?;
    commit(tx).await?;
    remove_files(&state.voicemail, vec![row.storage_key]).await;
    Ok(StatusCode::NO_CONTENT)
}
