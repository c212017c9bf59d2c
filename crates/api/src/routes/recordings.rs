//! Call recordings: control on a live call (start, stop, pause, resume,
//! with `call_control`, agents on their own calls only), the tenant's
//! finished recordings (`recording_read`: list, metadata, audio with HTTP
//! Range), deletion and the recording settings (`recording_manage`).
//!
//! The audio is a stereo 16-bit 8 kHz WAV, customer left and agent right.
//! Deleting a recording marks its row deleted (kept for the audit trail,
//! no longer listed) and removes the file.

use crate::auth::principal::TenantCtx;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::recordings::{remove_file, row_json};
use crate::routes::audio;
use crate::routes::calls::{CallOut, control};
use crate::routes::dto::PageOut;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use omnivox_domain::Permission;
use omnivox_media::record::RecordingKey;
use omnivox_sip::CallCommand;
use omnivox_store::recordings::{RecordingPolicy, RecordingRow, RecordingSettings};
use omnivox_store::{audit, commit, now};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Serialize, ToSchema)]
pub struct PausedSpanOut {
    pub start_ms: u64,
    pub end_ms: u64,
}

#[derive(Serialize, ToSchema)]
pub struct RecordedLegOut {
    /// `a`, `b`.
    pub leg: String,
    /// `customer` (left) or `agent` (right).
    pub channel: String,
}

#[derive(Serialize, ToSchema)]
pub struct RecordingOut {
    pub id: Uuid,
    pub call_id: Uuid,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub duration_ms: i64,
    /// Size of the WAV file.
    pub size_bytes: i64,
    /// sha256 of the WAV file (hex).
    pub sha256: String,
    /// Stretches written as silence while recording was paused.
    pub paused_spans: Vec<PausedSpanOut>,
    /// The legs recorded and their side (empty for a recording repaired
    /// after a crash).
    pub legs: Vec<RecordedLegOut>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<RecordingRow> for RecordingOut {
    fn from(r: RecordingRow) -> Self {
        let spans = r
            .paused_spans
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| {
                        Some(PausedSpanOut {
                            start_ms: s.get("start_ms")?.as_u64()?,
                            end_ms: s.get("end_ms")?.as_u64()?,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let legs = r
            .legs
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|l| {
                        Some(RecordedLegOut {
                            leg: l.get("leg")?.as_str()?.to_owned(),
                            channel: l.get("channel")?.as_str()?.to_owned(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            id: r.id,
            call_id: r.call_id,
            started_at: r.started_at,
            duration_ms: r.duration_ms,
            size_bytes: r.size_bytes,
            sha256: r.sha256,
            paused_spans: spans,
            legs,
            created_at: r.created_at,
        }
    }
}

// ----- control on a live call ------------------------------------------------

/// Start recording the call (refused with 409 when the organization's
/// policy is `none` or the call is already recorded).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/calls/{call_id}/recording/start", tag = "calls",
    params(("tenant_id" = Uuid, Path), ("call_id" = Uuid, Path)),
    responses((status = 200, body = CallOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn start_recording(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<CallOut>> {
    let detail = serde_json::json!({});
    let command = CallCommand::StartRecording;
    control(
        &state,
        &ctx,
        ids.1,
        "call.recording_started",
        command,
        detail,
    )
    .await
}

/// Stop recording: the recording is finished and listed.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/calls/{call_id}/recording/stop", tag = "calls",
    params(("tenant_id" = Uuid, Path), ("call_id" = Uuid, Path)),
    responses((status = 200, body = CallOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn stop_recording(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<CallOut>> {
    let detail = serde_json::json!({});
    let command = CallCommand::StopRecording;
    control(
        &state,
        &ctx,
        ids.1,
        "call.recording_stopped",
        command,
        detail,
    )
    .await
}

/// Pause recording (silence is written, and the span reported).
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/calls/{call_id}/recording/pause", tag = "calls",
    params(("tenant_id" = Uuid, Path), ("call_id" = Uuid, Path)),
    responses((status = 200, body = CallOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn pause_recording(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<CallOut>> {
    let detail = serde_json::json!({});
    let command = CallCommand::PauseRecording;
    control(
        &state,
        &ctx,
        ids.1,
        "call.recording_paused",
        command,
        detail,
    )
    .await
}

/// Resume a paused recording.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/calls/{call_id}/recording/resume", tag = "calls",
    params(("tenant_id" = Uuid, Path), ("call_id" = Uuid, Path)),
    responses((status = 200, body = CallOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn resume_recording(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<CallOut>> {
    let detail = serde_json::json!({});
    let command = CallCommand::ResumeRecording;
    control(
        &state,
        &ctx,
        ids.1,
        "call.recording_resumed",
        command,
        detail,
    )
    .await
}

// ----- finished recordings ---------------------------------------------------

/// Page through recordings, optionally of one call.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RecordingQuery {
    pub call_id: Option<Uuid>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u64>,
}

/// The tenant's recordings (not deleted), oldest first.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/recordings", tag = "recordings",
    params(("tenant_id" = Uuid, Path), RecordingQuery),
    responses((status = 200, body = PageOut<RecordingOut>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_recordings(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiQuery(q): ApiQuery<RecordingQuery>,
) -> ApiResult<Json<PageOut<RecordingOut>>> {
    ctx.require(Permission::RecordingRead)?;
    let page = crate::routes::dto::page_request(q.cursor.as_deref(), q.limit)?;
    let rows = ctx
        .scoped(state.store.reader())
        .list_recordings(&page, q.call_id)
        .await?;
    Ok(Json(PageOut::from_page(rows)))
}

/// One recording's metadata.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/recordings/{recording_id}", tag = "recordings",
    params(("tenant_id" = Uuid, Path), ("recording_id" = Uuid, Path)),
    responses((status = 200, body = RecordingOut), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_recording(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<RecordingOut>> {
    ctx.require(Permission::RecordingRead)?;
    let row = ctx
        .scoped(state.store.reader())
        .get_recording(ids.1)
        .await?;
    Ok(Json(row.into()))
}

/// The recording's audio: a stereo WAV (customer left, agent right).
/// Supports a single HTTP `Range` (`bytes=0-99`, `bytes=100-`,
/// `bytes=-50`): 206 with `Content-Range`; 416 with `Content-Range:
/// bytes */<size>` when it starts past the end.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/recordings/{recording_id}/audio", tag = "recordings",
    params(("tenant_id" = Uuid, Path), ("recording_id" = Uuid, Path)),
    responses((status = 200, content_type = "audio/wav", body = Vec<u8>),
        (status = 206, content_type = "audio/wav", body = Vec<u8>),
        (status = 404, body = ErrorBody), (status = 416, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn recording_audio(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    ctx.require(Permission::RecordingRead)?;
    let row = ctx
        .scoped(state.store.reader())
        .get_recording(ids.1)
        .await?;
    let key = RecordingKey::from_storage_key(&row.storage_key)
        .map_err(|e| audio::store_err("recording", e))?;
    audio::open_wav(&state.recordings, key, &headers, "recording")
        .await?
        .into_response("recording")
}

/// Delete a recording: its file is removed, its row kept as deleted.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/recordings/{recording_id}", tag = "recordings",
    params(("tenant_id" = Uuid, Path), ("recording_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_recording(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    ctx.require(Permission::RecordingManage)?;
    let tx = state.store.begin().await?;
    let row = ctx.scoped(&tx).delete_recording(ids.1, now()).await?;
    audit::record(
        &tx,
        ctx.audit(
            "recording.deleted",
            "recording",
            ids.1,
            Some(row_json(&row)),
            None,
        ),
    )
    .await?;
    commit(tx).await?;
    remove_file(&state.recordings, &row).await;
    Ok(StatusCode::NO_CONTENT)
}

// ----- settings --------------------------------------------------------------

/// When calls are recorded and how long recordings are kept.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordingSettingsIo {
    /// `all` (every call, from the bridge), `none`, or `on_demand`.
    pub recording: String,
    /// Days a recording is kept before the retention sweep deletes it;
    /// 0 keeps recordings (0-3650).
    pub recording_retention_days: u32,
}

impl From<RecordingSettings> for RecordingSettingsIo {
    fn from(s: RecordingSettings) -> Self {
        Self {
            recording: s.policy.as_str().to_owned(),
            recording_retention_days: s.retention_days,
        }
    }
}

/// The organization's recording settings.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/recording-settings", tag = "recordings",
    params(("tenant_id" = Uuid, Path)),
    responses((status = 200, body = RecordingSettingsIo), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_settings(
    State(state): State<AppState>,
    ctx: TenantCtx,
) -> ApiResult<Json<RecordingSettingsIo>> {
    ctx.require(Permission::RecordingRead)?;
    let s = ctx
        .scoped(state.store.reader())
        .recording_settings()
        .await?;
    Ok(Json(s.into()))
}

/// Change the recording settings.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant_id}/recording-settings", tag = "recordings",
    params(("tenant_id" = Uuid, Path)), request_body = RecordingSettingsIo,
    responses((status = 200, body = RecordingSettingsIo), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_settings(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiJson(req): ApiJson<RecordingSettingsIo>,
) -> ApiResult<Json<RecordingSettingsIo>> {
    ctx.require(Permission::RecordingManage)?;
    let Some(policy) = RecordingPolicy::parse(&req.recording) else {
        return Err(ApiError::field(
            "recording",
            "invalid_choice",
            "one of all, none, on_demand",
        ));
    };
    if req.recording_retention_days > 3650 {
        return Err(ApiError::field(
            "recording_retention_days",
            "out_of_range",
            "0 (keep) to 3650 days",
        ));
    }
    let new = RecordingSettings {
        policy,
        retention_days: req.recording_retention_days,
    };
    let tx = state.store.begin().await?;
    let before = ctx.scoped(&tx).set_recording_settings(new).await?;
    audit::record(
        &tx,
        ctx.audit(
            "recording.settings_updated",
            "tenant",
            ctx.tenant.0,
            serde_json::to_value(RecordingSettingsIo::from(before)).ok(),
            serde_json::to_value(RecordingSettingsIo::from(new)).ok(),
        ),
    )
    .await?;
    commit(tx).await?;
    Ok(Json(new.into()))
}
