//! One error type for the whole API. Every error has a stable snake_case code;
//! 5xx details are logged with the request id and never sent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use omnivox_store::StoreError;
use serde::Serialize;
use serde_json::json;

/// One field that failed validation.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub code: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("{message}")]
    Unauthorized { code: &'static str, message: String },
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{message}")]
    ForbiddenCode { code: &'static str, message: String },
    #[error("not found")]
    NotFound,
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    /// 422 with machine-readable reasons in `details`.
    #[error("{message}")]
    UnprocessableDetails {
        code: &'static str,
        message: String,
        details: serde_json::Value,
    },
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("{message}")]
    Locked {
        message: String,
        retry_after_secs: u64,
    },
    #[error("service unavailable")]
    Unavailable,
    #[error("internal error: {0}")]
    Internal(String),
}

/// The envelope documented in OpenAPI.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code; clients branch on this, not on the message.
    pub code: String,
    pub message: String,
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unauthorized {
            code,
            message: message.into(),
        }
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unprocessable {
            code,
            message: message.into(),
        }
    }
    pub fn field(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, code, message)])
    }
    pub fn internal(e: impl std::fmt::Display) -> Self {
        Self::Internal(e.to_string())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } | ApiError::Validation(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::ForbiddenCode { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Unprocessable { .. } | ApiError::UnprocessableDetails { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests { .. } | ApiError::Locked { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. }
            | ApiError::Unauthorized { code, .. }
            | ApiError::ForbiddenCode { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::Unprocessable { code, .. }
            | ApiError::UnprocessableDetails { code, .. } => code,
            ApiError::Validation(_) => "validation_failed",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound => "not_found",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::TooManyRequests { .. } => "rate_limited",
            ApiError::Locked { .. } => "locked_out",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal(_) => "internal_error",
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Conflict(what) => ApiError::conflict("conflict", conflict_message(&what)),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// A secret that cannot be sealed or opened is a store fault (500).
impl From<omnivox_store::seal::SealError> for ApiError {
    fn from(e: omnivox_store::seal::SealError) -> Self {
        StoreError::from(e).into()
    }
}

/// Name the field a unique constraint protects, without leaking SQL.
fn conflict_message(what: &str) -> String {
    for field in ["slug", "email", "prefix"] {
        if what.contains(field) {
            return format!("a record with this {field} already exists");
        }
    }
    "a record with these values already exists".to_owned()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let code = self.code();
        let (message, details) = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(error.detail = %detail, "internal error");
                ("internal server error".to_owned(), None)
            }
            ApiError::Validation(fields) => (
                "the request has invalid fields".to_owned(),
                Some(json!({ "fields": fields })),
            ),
            ApiError::UnprocessableDetails {
                message, details, ..
            } => (message.clone(), Some(details.clone())),
            ApiError::TooManyRequests { retry_after_secs } => (
                self.to_string(),
                Some(json!({ "retry_after_secs": retry_after_secs })),
            ),
            other => (other.to_string(), None),
        };
        let body = json!({ "error": { "code": code, "message": message, "details": details } });
        let mut resp = (status, axum::Json(body)).into_response();
        if let ApiError::TooManyRequests { retry_after_secs }
        | ApiError::Locked {
            retry_after_secs, ..
        } = self
            && let Ok(v) = HeaderValue::from_str(&retry_after_secs.max(1).to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Adds `out_of_range` for `field` to `errors` when `v` is outside
/// `lo..=hi` (`unit` follows the bounds in the message: " s").
pub fn range(errors: &mut Vec<FieldError>, field: &str, v: i64, lo: i64, hi: i64, unit: &str) {
    if !(lo..=hi).contains(&v) {
        errors.push(FieldError::new(
            field,
            "out_of_range",
            format!("{lo} to {hi}{unit}"),
        ));
    }
}

/// Whether a tenant-scoped `get` found its row (other errors pass on).
pub fn exists<T>(r: Result<T, StoreError>) -> ApiResult<bool> {
    match r {
        Ok(_) => Ok(true),
        Err(StoreError::NotFound) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
