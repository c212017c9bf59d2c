//! `Idempotency-Key` on POST: the first request with a key runs and its
//! response is stored; the same key with the same body replays that response;
//! the same key with a different body is 422. Keys are scoped to the caller.
//! Requests without a caller (sign-in, setup) ignore the header.

use crate::auth::Principal;
use crate::auth::tokens::sha256_hex;
use crate::error::ApiError;
use crate::state::AppState;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use omnivox_store::idempotency::{self, Claim};

pub const HEADER: &str = "idempotency-key";

/// Set on a response (as an extension) whose body carries a secret that is
/// shown once: these top-level fields are stored as `null`, so a replay
/// confirms the outcome without the secret ever resting in the database.
#[derive(Clone, Copy, Debug)]
pub struct SecretFields(pub &'static [&'static str]);
pub const REPLAYED: &str = "idempotent-replayed";

pub async fn idempotency(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if req.method() != Method::POST {
        return Ok(next.run(req).await);
    }
    let Some(key) = req.headers().get(HEADER) else {
        return Ok(next.run(req).await);
    };
    let key = key
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_idempotency_key",
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            )
        })?
        .to_owned();
    let Some(principal) = req.extensions().get::<Principal>().cloned() else {
        return Ok(next.run(req).await);
    };
    // File uploads are streamed to disk, never buffered: no replay for them.
    let upload = req
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(super::is_upload_type);
    if upload {
        return Ok(next.run(req).await);
    }

    let limit = state.config.http.body_limit_bytes;
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge)?;
    let mut fingerprint = format!("{} {}\n", parts.method, parts.uri.path()).into_bytes();
    fingerprint.extend_from_slice(&bytes);
    let request_hash = sha256_hex(&String::from_utf8_lossy(&fingerprint));
    let scope = principal.key();

    match idempotency::claim(state.store.writer(), &scope, &key, &request_hash).await? {
        Claim::Claimed => {}
        Claim::Replay { status, body } => {
            let status = StatusCode::from_u16(status).map_err(ApiError::internal)?;
            let mut resp = (status, body).into_response();
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            h.insert(REPLAYED, HeaderValue::from_static("true"));
            return Ok(resp);
        }
        Claim::InProgress => {
            return Err(ApiError::conflict(
                "idempotency_in_progress",
                "a request with this Idempotency-Key is still being processed",
            ));
        }
        Claim::Mismatch => {
            return Err(ApiError::unprocessable(
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different request",
            ));
        }
    }

    let resp = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (rparts, rbody) = resp.into_parts();
    let rbytes = match to_bytes(rbody, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            idempotency::release(state.store.writer(), &scope, &key).await?;
            return Err(ApiError::internal(e));
        }
    };
    if rparts.status.is_server_error() {
        // Let a retry run the request again.
        idempotency::release(state.store.writer(), &scope, &key).await?;
    } else {
        let mut text = String::from_utf8_lossy(&rbytes).into_owned();
        if let Some(SecretFields(fields)) = rparts.extensions.get::<SecretFields>() {
            text = redact(&text, fields);
        }
        idempotency::complete(
            state.store.writer(),
            &scope,
            &key,
            rparts.status.as_u16(),
            &text,
        )
        .await?;
    }
    Ok(Response::from_parts(rparts, Body::from(rbytes)))
}

fn redact(body: &str, fields: &[&str]) -> String {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(mut v) => {
            if let Some(obj) = v.as_object_mut() {
                for f in fields {
                    if let Some(slot) = obj.get_mut(*f) {
                        *slot = serde_json::Value::Null;
                    }
                }
            }
            v.to_string()
        }
        // Not JSON: store nothing of it rather than risk the secret.
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn secret_fields_are_nulled_and_the_rest_kept() {
        let out = super::redact(r#"{"key":"ovx_a_secret","api_key":{"id":"1"}}"#, &["key"]);
        assert_eq!(out, r#"{"api_key":{"id":"1"},"key":null}"#);
        assert_eq!(super::redact("not json ovx_a_secret", &["key"]), "");
    }
}
