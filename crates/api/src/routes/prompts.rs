//! The prompt library: WAV files a tenant uploads for hold music, the
//! safe-harbor message and flows. Any WAV (sample rate, channels, PCM,
//! float, G.711) is converted on upload to 8 kHz mono 16-bit, the form
//! calls play; a corrupt or non-audio upload is refused with the reason.
//! Files live under `<data_dir>/prompts/<tenant>/<id>.wav`.

use crate::auth::principal::TenantCtx;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};
use crate::routes::dto::{PageOut, PageQuery, json};
use crate::routes::queues::{queues_using, refuse_if_used};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use omnivox_domain::{Permission, TenantId};
use omnivox_media::prompt::{ConvertOptions, Prompt};
use omnivox_store::prompts::{NewPrompt, PromptRow};
use omnivox_store::{Scoped, StoreError, audit, commit};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Decoded audio of stored prompts by prompt id, for calls (a stored
/// prompt's audio never changes; a deleted one is no longer found by name).
#[derive(Default)]
pub struct PromptAudio(std::sync::Mutex<std::collections::HashMap<Uuid, Prompt>>);

impl PromptAudio {
    /// The audio of the tenant's prompt `name`.
    pub async fn load(&self, state: &AppState, tenant: TenantId, name: &str) -> ApiResult<Prompt> {
        let row = Scoped::new(state.store.reader(), tenant)
            .prompt_by_name(name)
            .await?;
        if let Some(p) = self.cache().get(&row.id) {
            return Ok(p.clone());
        }
        let path = prompt_path(&state.config.storage.data_dir, tenant.0, row.id);
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|e| ApiError::internal(format!("prompt {} unreadable: {e}", row.id)))?;
        let prompt = Prompt::from_stored_wav(&bytes)
            .map_err(|e| ApiError::internal(format!("prompt {}: {e}", row.id)))?;
        self.cache().insert(row.id, prompt.clone());
        Ok(prompt)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<Uuid, Prompt>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Largest upload accepted (a 6-minute 48 kHz stereo 16-bit WAV).
pub const MAX_PROMPT_UPLOAD_BYTES: usize = 64 * 1024 * 1024;
/// Longest prompt, after conversion.
const MAX_PROMPT_SECONDS: u32 = 600;

#[derive(Serialize, ToSchema)]
pub struct PromptOut {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    /// Length of the audio.
    pub duration_ms: i64,
    /// Size of the stored 8 kHz mono WAV.
    pub size_bytes: i64,
    /// sha256 of the stored WAV (hex).
    pub sha256: String,
    pub created_by: Option<Uuid>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<PromptRow> for PromptOut {
    fn from(p: PromptRow) -> Self {
        Self {
            id: p.id,
            name: p.name,
            description: p.description,
            duration_ms: p.duration_ms,
            size_bytes: p.size_bytes,
            sha256: p.sha256,
            created_by: p.created_by,
            created_at: p.created_at,
        }
    }
}

/// The prompt's name (unique in the organization; letters, digits, `-`,
/// `_`, `.`, space; 1-100 characters) and an optional description.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UploadPrompt {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

fn check_upload(q: &UploadPrompt) -> ApiResult<()> {
    let name = q.name.trim();
    let ok_chars = name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ' '));
    if name.is_empty() || name.chars().count() > 100 || !ok_chars || name != q.name {
        return Err(ApiError::field(
            "name",
            "invalid_name",
            "1-100 letters, digits, '-', '_', '.' or spaces, no leading or trailing space",
        ));
    }
    if q.description.chars().count() > 500 {
        return Err(ApiError::field(
            "description",
            "invalid_length",
            "at most 500 characters",
        ));
    }
    Ok(())
}

/// A content type a prompt upload may have.
pub(crate) fn is_wav_type(content_type: &str) -> bool {
    let ct = content_type.split(';').next().unwrap_or("").trim();
    matches!(
        ct,
        "audio/wav" | "audio/x-wav" | "audio/wave" | "audio/vnd.wave" | "application/octet-stream"
    )
}

pub(crate) fn prompt_path(data_dir: &Path, tenant: Uuid, id: Uuid) -> PathBuf {
    data_dir
        .join("prompts")
        .join(tenant.to_string())
        .join(format!("{id}.wav"))
}

/// Read the body, at most `MAX_PROMPT_UPLOAD_BYTES`.
async fn read_upload(req: Request) -> ApiResult<Vec<u8>> {
    use http_body_util::BodyExt;
    let mut body = req.into_body();
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::bad_request("upload_interrupted", e.to_string()))?;
        if let Ok(chunk) = frame.into_data() {
            if bytes.len() + chunk.len() > MAX_PROMPT_UPLOAD_BYTES {
                return Err(ApiError::PayloadTooLarge);
            }
            bytes.extend_from_slice(&chunk);
        }
    }
    Ok(bytes)
}

/// Write `bytes` to `path` through a temporary file, so a reader never sees
/// a partial prompt.
async fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let part = path.with_extension("wav.part");
    tokio::fs::write(&part, bytes).await?;
    tokio::fs::rename(&part, path).await
}

/// Upload a prompt: the body is a WAV file (`audio/wav`). It is converted
/// to 8 kHz mono; what cannot be read as audio is 400 with the reason
/// (`not_wav`, `corrupt_wav`, `truncated_wav`, `unsupported_encoding`,
/// `unsupported_sample_size`, `unsupported_channels`,
/// `unsupported_sample_rate`, `empty_audio`, `audio_too_long`). A name
/// already used is 409 `prompt_name_taken`.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/prompts", tag = "media",
    params(("tenant_id" = Uuid, Path), UploadPrompt),
    request_body(content = Vec<u8>, content_type = "audio/wav"),
    responses((status = 201, body = PromptOut), (status = 400, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn upload_prompt(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiQuery(q): ApiQuery<UploadPrompt>,
    req: Request,
) -> ApiResult<(StatusCode, Json<PromptOut>)> {
    ctx.require(Permission::TelephonyManage)?;
    check_upload(&q)?;
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !is_wav_type(ct) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let upload = read_upload(req).await?;
    let wav = tokio::task::spawn_blocking(move || {
        let options = ConvertOptions {
            max_seconds: MAX_PROMPT_SECONDS,
        };
        Prompt::convert(&upload, &options).map(|p| (p.duration(), p.to_wav()))
    })
    .await
    .map_err(ApiError::internal)?;
    let (duration, wav) = wav.map_err(|e| ApiError::bad_request(e.code(), e.to_string()))?;

    let id = Uuid::now_v7();
    let path = prompt_path(&state.config.storage.data_dir, ctx.tenant.0, id);
    write_file(&path, &wav).await.map_err(ApiError::internal)?;
    let stored = async {
        let tx = state.store.begin().await?;
        let row = ctx
            .scoped(&tx)
            .create_prompt(NewPrompt {
                id,
                name: q.name,
                description: q.description,
                duration_ms: i64::try_from(duration.as_millis()).unwrap_or(i64::MAX),
                size_bytes: wav.len() as i64,
                sha256: hex(&Sha256::digest(&wav)),
                created_by: ctx.user_id(),
            })
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => ApiError::conflict(
                    "prompt_name_taken",
                    "a prompt with this name already exists",
                ),
                e => e.into(),
            })?;
        let out = PromptOut::from(row);
        audit::record(
            &tx,
            ctx.audit("prompt.created", "prompt", out.id, None, json(&out)),
        )
        .await?;
        commit(tx).await?;
        Ok::<_, ApiError>(out)
    }
    .await;
    match stored {
        Ok(out) => Ok((StatusCode::CREATED, Json(out))),
        Err(e) => {
            // No row, no file.
            if let Err(rm) = tokio::fs::remove_file(&path).await {
                tracing::warn!(error = %rm, path = %path.display(), "prompt file left behind");
            }
            Err(e)
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The tenant's prompts.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/prompts", tag = "media",
    params(("tenant_id" = Uuid, Path), PageQuery),
    responses((status = 200, body = PageOut<PromptOut>), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_prompts(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<PageOut<PromptOut>>> {
    ctx.require(Permission::TelephonyRead)?;
    let rows = ctx
        .scoped(state.store.reader())
        .list_prompts(&q.page()?)
        .await?;
    Ok(Json(PageOut::from_page(rows)))
}

/// One prompt.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/prompts/{prompt_id}", tag = "media",
    params(("tenant_id" = Uuid, Path), ("prompt_id" = Uuid, Path)),
    responses((status = 200, body = PromptOut), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_prompt(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Json<PromptOut>> {
    ctx.require(Permission::TelephonyRead)?;
    let row = ctx.scoped(state.store.reader()).get_prompt(ids.1).await?;
    Ok(Json(row.into()))
}

/// The prompt's audio as stored: 8 kHz mono 16-bit WAV.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/prompts/{prompt_id}/audio", tag = "media",
    params(("tenant_id" = Uuid, Path), ("prompt_id" = Uuid, Path)),
    responses((status = 200, content_type = "audio/wav", body = Vec<u8>), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn prompt_audio(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<Response> {
    ctx.require(Permission::TelephonyRead)?;
    let row = ctx.scoped(state.store.reader()).get_prompt(ids.1).await?;
    let path = prompt_path(&state.config.storage.data_dir, ctx.tenant.0, row.id);
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| ApiError::internal(format!("prompt {} unreadable: {e}", row.id)))?;
    Ok(([(header::CONTENT_TYPE, "audio/wav")], bytes).into_response())
}

/// Delete a prompt and its audio. A prompt a queue plays (music, comfort)
/// is 409 `in_use`.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/prompts/{prompt_id}", tag = "media",
    params(("tenant_id" = Uuid, Path), ("prompt_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_prompt(
    State(state): State<AppState>,
    ctx: TenantCtx,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    ctx.require(Permission::TelephonyManage)?;
    let tx = state.store.begin().await?;
    let s = ctx.scoped(&tx);
    let name = s.get_prompt(ids.1).await?.name;
    let users = queues_using(&s, |q| {
        [&q.music_prompt, &q.comfort_prompt]
            .into_iter()
            .any(|p| p.as_deref() == Some(name.as_str()))
    })
    .await?;
    refuse_if_used("prompt", &users)?;
    let before = PromptOut::from(s.delete_prompt(ids.1).await?);
    audit::record(
        &tx,
        ctx.audit("prompt.deleted", "prompt", ids.1, json(&before), None),
    )
    .await?;
    commit(tx).await?;
    let path = prompt_path(&state.config.storage.data_dir, ctx.tenant.0, ids.1);
    if let Err(e) = tokio::fs::remove_file(&path).await {
        tracing::warn!(error = %e, path = %path.display(), "deleted prompt's file not removed");
    }
    Ok(StatusCode::NO_CONTENT)
}
