//! `ApiError`: every way a request can fail, turned into the `{data, meta, error}` envelope in
//! exactly one place. Handlers return `Result<_, ApiError>` and never build an error body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use shared::ErrorCode;
use shared::envelope::{Envelope, ErrorBody};

use crate::domain::keys::Refusal;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request cannot be parsed (JSON, types, unknown fields, query parameters).
    #[error("{message}")]
    InvalidRequest {
        message: String,
        field: Option<String>,
        hint: Option<String>,
    },
    /// The request parsed but a value breaks a rule.
    #[error("{message}")]
    Validation {
        message: String,
        field: Option<String>,
        hint: Option<String>,
    },
    #[error("{0}")]
    Unauthorized(&'static str),
    /// A request that did not come through the edge (no valid edge signature).
    #[error("requests reach the origin through the edge: missing, stale or invalid edge signature")]
    NotThroughTheEdge,
    #[error("this key lacks the scope {0}")]
    Forbidden(&'static str),
    /// What a key may not do to keys or live data (its own code each), or the key cap.
    #[error("{0}")]
    Refused(#[from] Refusal),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("no route for this path")]
    NoRoute,
    #[error("the route does not accept this method")]
    MethodNotAllowed,
    #[error("a product with this SKU already exists")]
    DuplicateSku,
    #[error("{0}")]
    Conflict(String),
    /// A resend or replacement of a refunded or cancelled order.
    #[error("{0}")]
    OrderClosed(String),
    /// An approval of an order that does not wait for review.
    #[error("{0}")]
    NotInReview(String),
    #[error("this tenant already has {max} connections, the most it may have")]
    TooManyConnections { max: i64 },
    /// The eBay user or Etsy shop already has an active connection; which tenant's is not said.
    #[error("this {0} already has an active connection")]
    AccountAlreadyConnected(&'static str),
    /// An upload past the tenant's storage quota (`GET /api/v1/tenant` shows use and quota).
    #[error(
        "the upload would pass the tenant's storage quota: {used_bytes} of {quota_bytes} bytes \
         and {files} of {max_files} files in use"
    )]
    StorageQuotaExceeded {
        used_bytes: i64,
        quota_bytes: i64,
        files: i64,
        max_files: i64,
    },
    #[error("the token balance ({balance}) cannot pay for {needed} item(s)")]
    InsufficientTokens { balance: i64, needed: i64 },
    #[error("a request with this Idempotency-Key is still being answered")]
    IdempotencyKeyInUse,
    #[error("this Idempotency-Key was used for a different request (method, path or body)")]
    IdempotencyKeyReused,
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge { limit: u64 },
    #[error("{0}")]
    UnsupportedMediaType(&'static str),
    /// A platform call made for the request failed: PLATFORM_REFUSED when the platform
    /// refused it, UPSTREAM_UNAVAILABLE when it could not be reached (then `hint` says when
    /// to retry). The message is ours, never the platform's words.
    #[error("{message}")]
    Platform {
        message: String,
        refused: bool,
        hint: String,
    },
    /// Details go to the log, never to the client.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(
        field: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        ApiError::InvalidRequest {
            message: message.into(),
            field: Some(field.into()),
            hint: Some(hint.into()),
        }
    }

    pub fn validation(
        field: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        ApiError::Validation {
            message: message.into(),
            field: Some(field.into()),
            hint: Some(hint.into()),
        }
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        ApiError::Internal(cause.to_string())
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::InvalidRequest { .. } => ErrorCode::InvalidRequest,
            ApiError::Validation { .. } => ErrorCode::ValidationFailed,
            ApiError::Unauthorized(_) | ApiError::NotThroughTheEdge => ErrorCode::Unauthorized,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::Refused(refusal) => refusal.code(),
            ApiError::NotFound(_) | ApiError::NoRoute => ErrorCode::NotFound,
            ApiError::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            ApiError::DuplicateSku => ErrorCode::DuplicateSku,
            ApiError::Conflict(_) => ErrorCode::Conflict,
            ApiError::OrderClosed(_) => ErrorCode::OrderClosed,
            ApiError::NotInReview(_) => ErrorCode::OrderNotInReview,
            ApiError::InsufficientTokens { .. } => ErrorCode::InsufficientTokens,
            ApiError::TooManyConnections { .. } => ErrorCode::TooManyConnections,
            ApiError::AccountAlreadyConnected(_) => ErrorCode::AccountAlreadyConnected,
            ApiError::StorageQuotaExceeded { .. } => ErrorCode::StorageQuotaExceeded,
            ApiError::IdempotencyKeyInUse => ErrorCode::IdempotencyKeyInUse,
            ApiError::IdempotencyKeyReused => ErrorCode::IdempotencyKeyReused,
            ApiError::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            ApiError::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            ApiError::Platform { refused: true, .. } => ErrorCode::PlatformRefused,
            ApiError::Platform { refused: false, .. } => ErrorCode::UpstreamUnavailable,
            ApiError::Internal(_) => ErrorCode::InternalError,
        }
    }

    fn body(&self) -> ErrorBody {
        let mut body = ErrorBody::new(self.code(), self.to_string());
        match self {
            ApiError::InvalidRequest { field, hint, .. }
            | ApiError::Validation { field, hint, .. } => {
                body.field = field.clone();
                body.hint = hint.clone();
            }
            ApiError::Forbidden(scope) => {
                body = body.with_hint(format!("create a key with the {scope} scope"));
            }
            ApiError::Refused(refusal) => body = body.with_hint(refusal.hint()),
            ApiError::Platform { hint, .. } => body = body.with_hint(hint.clone()),
            ApiError::Unauthorized(_) => {
                body = body.with_hint("send Authorization: Bearer ys_live_… with an active key");
            }
            ApiError::NotThroughTheEdge => {
                body = body.with_hint("call the public address (the edge), not the origin's own");
            }
            ApiError::DuplicateSku => body = body.with_field("sku").with_hint("choose another SKU"),
            ApiError::InsufficientTokens { .. } => {
                body = body.with_hint("add tokens to the account")
            }
            ApiError::TooManyConnections { .. } => {
                body = body.with_hint("delete a connection you no longer use")
            }
            ApiError::AccountAlreadyConnected(_) => {
                body = body.with_hint(
                    "re-authorise the existing connection (POST /api/v1/connections/{platform}/authorize with its connection_id), or deactivate it first",
                )
            }
            ApiError::StorageQuotaExceeded { .. } => {
                body = body.with_hint(
                    "GET /api/v1/tenant shows the storage in use and the quota (data.storage)",
                )
            }
            ApiError::IdempotencyKeyInUse => {
                body = body
                    .with_field("Idempotency-Key")
                    .with_hint("retry after the first request has answered (see Retry-After)")
            }
            ApiError::IdempotencyKeyReused => {
                body = body
                    .with_field("Idempotency-Key")
                    .with_hint("use a new Idempotency-Key for a different request")
            }
            _ => {}
        }
        body
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::DuplicateSku => ApiError::DuplicateSku,
            StoreError::AccountAlreadyConnected => {
                ApiError::AccountAlreadyConnected("eBay user or Etsy shop")
            }
            StoreError::InsufficientTokens { balance, needed } => {
                ApiError::InsufficientTokens { balance, needed }
            }
            StoreError::OrderClosed(reason) => ApiError::OrderClosed(reason),
            StoreError::NotInReview(reason) => ApiError::NotInReview(reason),
            StoreError::TooLarge(reason) => ApiError::Conflict(reason),
            StoreError::OutOfStock => {
                ApiError::Conflict("no license code is available for this product".into())
            }
            other => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(%cause, "request failed");
        }
        let status = StatusCode::from_u16(self.code().http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut envelope: Envelope<Value> = Envelope::failure(self.body());
        envelope.meta.request_id = super::request_id::current();
        (status, axum::Json(envelope)).into_response()
    }
}
