//! The stable error codes of the public API and the HTTP status each one always travels with.
//!
//! Clients match on `error.code`; renaming or re-numbering one is a breaking change.

use serde::{Deserialize, Serialize};

/// Every `error.code` YourSender answers with, edge or origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// The request cannot be parsed: bad JSON, unknown field, wrong type, bad query parameter.
    InvalidRequest,
    /// The request parsed but a value breaks a rule (empty name, limit out of range, …).
    ValidationFailed,
    /// No credentials, or credentials that are malformed, unknown, revoked or badly signed.
    Unauthorized,
    /// Valid credentials without the scope the route needs.
    Forbidden,
    /// A key asked to create or rotate a key with a scope it does not hold itself.
    ScopeEscalation,
    /// A `ys_test_` key asked to create, rotate or revoke a `ys_live_` key.
    EnvironmentEscalation,
    /// A `ys_test_` key on a route that reads or changes live data (orders, products, …).
    TestKeyLiveData,
    /// The resource does not exist for this tenant (another tenant's id answers the same).
    NotFound,
    /// The route exists but not with this method.
    MethodNotAllowed,
    /// A product with this SKU already exists for the tenant.
    DuplicateSku,
    /// The request conflicts with the resource's current state.
    Conflict,
    /// A resend or code replacement of a refunded or cancelled order: nothing charged.
    OrderClosed,
    /// An approval of an order that does not wait for review (`needs_review`).
    OrderNotInReview,
    /// The tenant already has as many usable API keys as it may; revoke one first.
    KeyLimitReached,
    /// The platform connection the event or request belongs to is deactivated.
    ConnectionInactive,
    /// The tenant's token balance cannot pay for the delivery.
    InsufficientTokens,
    /// The tenant already has as many platform connections as it may.
    TooManyConnections,
    /// The eBay user or Etsy shop already has an active connection (this tenant's, or another
    /// tenant's): one platform account belongs to one connection.
    AccountAlreadyConnected,
    /// The upload would take the tenant's uploaded files past its storage quota (bytes or
    /// files); nothing was stored.
    StorageQuotaExceeded,
    /// A request with this `Idempotency-Key` is still being answered; retry shortly.
    IdempotencyKeyInUse,
    /// This `Idempotency-Key` was used for a different request (method, path or body).
    IdempotencyKeyReused,
    /// An eBay notification whose signature does not verify (eBay's SDKs answer 412).
    SignatureMismatch,
    /// The body is larger than the route accepts.
    PayloadTooLarge,
    /// The body's content type is not one the route reads.
    UnsupportedMediaType,
    /// Too many requests for this key or tenant; see `Retry-After`.
    RateLimited,
    /// Something failed on our side; retrying later is safe.
    InternalError,
    /// A service we depend on (the origin, a platform API) did not answer in time.
    UpstreamUnavailable,
    /// A platform API refused the call made for the request (credentials refused, a request
    /// it will not take) or answered something unreadable; the message names which.
    PlatformRefused,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 28] = [
        ErrorCode::InvalidRequest,
        ErrorCode::ValidationFailed,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::ScopeEscalation,
        ErrorCode::EnvironmentEscalation,
        ErrorCode::TestKeyLiveData,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::DuplicateSku,
        ErrorCode::Conflict,
        ErrorCode::OrderClosed,
        ErrorCode::OrderNotInReview,
        ErrorCode::KeyLimitReached,
        ErrorCode::ConnectionInactive,
        ErrorCode::InsufficientTokens,
        ErrorCode::TooManyConnections,
        ErrorCode::AccountAlreadyConnected,
        ErrorCode::StorageQuotaExceeded,
        ErrorCode::IdempotencyKeyInUse,
        ErrorCode::IdempotencyKeyReused,
        ErrorCode::SignatureMismatch,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::RateLimited,
        ErrorCode::InternalError,
        ErrorCode::UpstreamUnavailable,
        ErrorCode::PlatformRefused,
    ];

    /// The HTTP status this code is always sent with.
    pub const fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidRequest | ErrorCode::ValidationFailed => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::InsufficientTokens => 402,
            ErrorCode::Forbidden
            | ErrorCode::ScopeEscalation
            | ErrorCode::EnvironmentEscalation
            | ErrorCode::TestKeyLiveData => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::DuplicateSku
            | ErrorCode::Conflict
            | ErrorCode::OrderClosed
            | ErrorCode::OrderNotInReview
            | ErrorCode::KeyLimitReached
            | ErrorCode::ConnectionInactive
            | ErrorCode::TooManyConnections
            | ErrorCode::AccountAlreadyConnected
            | ErrorCode::StorageQuotaExceeded => 409,
            ErrorCode::IdempotencyKeyInUse => 409,
            ErrorCode::SignatureMismatch => 412,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::IdempotencyKeyReused => 422,
            ErrorCode::RateLimited => 429,
            ErrorCode::InternalError => 500,
            ErrorCode::PlatformRefused => 502,
            ErrorCode::UpstreamUnavailable => 503,
        }
    }

    /// The code as it appears on the wire, e.g. `"DUPLICATE_SKU"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "INVALID_REQUEST",
            ErrorCode::ValidationFailed => "VALIDATION_FAILED",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::ScopeEscalation => "SCOPE_ESCALATION",
            ErrorCode::EnvironmentEscalation => "ENVIRONMENT_ESCALATION",
            ErrorCode::TestKeyLiveData => "TEST_KEY_LIVE_DATA",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorCode::DuplicateSku => "DUPLICATE_SKU",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::OrderClosed => "ORDER_CLOSED",
            ErrorCode::OrderNotInReview => "ORDER_NOT_IN_REVIEW",
            ErrorCode::KeyLimitReached => "KEY_LIMIT_REACHED",
            ErrorCode::ConnectionInactive => "CONNECTION_INACTIVE",
            ErrorCode::InsufficientTokens => "INSUFFICIENT_TOKENS",
            ErrorCode::TooManyConnections => "TOO_MANY_CONNECTIONS",
            ErrorCode::AccountAlreadyConnected => "ACCOUNT_ALREADY_CONNECTED",
            ErrorCode::StorageQuotaExceeded => "STORAGE_QUOTA_EXCEEDED",
            ErrorCode::IdempotencyKeyInUse => "IDEMPOTENCY_KEY_IN_USE",
            ErrorCode::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            ErrorCode::SignatureMismatch => "SIGNATURE_MISMATCH",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::InternalError => "INTERNAL_ERROR",
            ErrorCode::UpstreamUnavailable => "UPSTREAM_UNAVAILABLE",
            ErrorCode::PlatformRefused => "PLATFORM_REFUSED",
        }
    }

    /// Whether a client may retry the same request unchanged later.
    pub const fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::RateLimited
                | ErrorCode::InternalError
                | ErrorCode::UpstreamUnavailable
                | ErrorCode::IdempotencyKeyInUse
        )
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_serde_names() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            let back: ErrorCode = serde_json::from_str(&json).unwrap();
            assert_eq!(back, code);
        }
    }

    #[test]
    fn documented_codes_have_documented_statuses() {
        // The API document: 400 validation, 401/403 auth, 404 missing, 409 conflicts, 429 limits.
        assert_eq!(ErrorCode::InvalidRequest.http_status(), 400);
        assert_eq!(ErrorCode::ValidationFailed.http_status(), 400);
        assert_eq!(ErrorCode::Unauthorized.http_status(), 401);
        assert_eq!(ErrorCode::Forbidden.http_status(), 403);
        assert_eq!(ErrorCode::NotFound.http_status(), 404);
        assert_eq!(ErrorCode::DuplicateSku.http_status(), 409);
        assert_eq!(ErrorCode::ConnectionInactive.http_status(), 409);
        assert_eq!(ErrorCode::RateLimited.http_status(), 429);
        assert_eq!(ErrorCode::InsufficientTokens.http_status(), 402);
        // What a key may not do is 403 like a missing scope; a full key list is a conflict.
        assert_eq!(ErrorCode::ScopeEscalation.http_status(), 403);
        assert_eq!(ErrorCode::EnvironmentEscalation.http_status(), 403);
        assert_eq!(ErrorCode::TestKeyLiveData.http_status(), 403);
        assert_eq!(ErrorCode::KeyLimitReached.http_status(), 409);
        // A tenant's limit, like the key cap: the same upload fits another tenant.
        assert_eq!(ErrorCode::StorageQuotaExceeded.http_status(), 409);
        // A platform account held by a connection conflicts like a full connection list.
        assert_eq!(ErrorCode::AccountAlreadyConnected.http_status(), 409);
        // As Stripe and Svix answer them: a key in flight conflicts, a reused key is
        // unprocessable for the other request.
        assert_eq!(ErrorCode::IdempotencyKeyInUse.http_status(), 409);
        assert_eq!(ErrorCode::IdempotencyKeyReused.http_status(), 422);
    }

    #[test]
    fn every_code_is_an_error_status() {
        for code in ErrorCode::ALL {
            assert!((400..600).contains(&code.http_status()), "{code}");
        }
        assert!(!ErrorCode::NotFound.is_retryable());
        assert!(ErrorCode::RateLimited.is_retryable());
    }
}
