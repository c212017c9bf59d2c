//! Request middleware: the client's address, rate limits, idempotency keys,
//! metrics, body limits, draining on shutdown.

pub mod client_addr;
pub mod idempotency;
pub mod observe;
pub mod rate_limit;

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use std::sync::atomic::Ordering;

/// File uploads (CSV, DNC registries) are streamed to disk and have their
/// own, larger limit; every other body is JSON and small.
pub fn is_upload_type(content_type: &str) -> bool {
    let ct = content_type.split(';').next().unwrap_or("").trim();
    matches!(ct, "text/csv" | "text/plain" | "application/octet-stream")
}

/// Refuse a body whose declared length is over the limit before reading it.
/// (Bodies without a length are cut off by `DefaultBodyLimit` as they stream.)
pub async fn declared_body_limit(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let limit = if is_upload_type(content_type) {
        usize::try_from(state.config.imports.max_upload_bytes).unwrap_or(usize::MAX)
    } else if crate::routes::prompts::is_wav_type(content_type) {
        crate::routes::prompts::MAX_PROMPT_UPLOAD_BYTES
    } else {
        state.config.http.body_limit_bytes
    };
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge);
    }
    Ok(next.run(req).await)
}

/// While shutting down, refuse new API work with 503 so in-flight requests
/// can finish and load balancers move on.
pub async fn refuse_when_draining(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if state.draining.load(Ordering::Relaxed) {
        return Err(ApiError::Unavailable);
    }
    Ok(next.run(req).await)
}
