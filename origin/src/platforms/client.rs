//! What every outbound platform call can end in, and how an answer is read: the status turned
//! into a [`PlatformError`], the body bounded. Nothing a platform (or whatever a tenant's URL
//! points at) answers is ever copied into an error: errors end up in `last_error` and API
//! answers, so they carry the status and a stable reason only. The one exception is a
//! refused fulfilment call, whose platform error code and message the seller must see:
//! `refusal` keeps those two fields, bounded, and nothing else.

use super::ParseError;
use super::outbound::{AddressRefused, UrlRefused};

/// The largest answer body read from a platform; a larger one is refused, not buffered.
pub const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// Why a platform call failed, sorted by what the caller should do next.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// Credentials refused: refresh them, or mark the connection broken.
    #[error("the platform refused our credentials (HTTP {status})")]
    Unauthorized { status: u16 },
    /// Slow down: nothing more until `retry_after_secs` have passed.
    #[error("rate limited by the platform, retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("the platform has no such resource (HTTP 404)")]
    NotFound,
    /// A request the platform will never accept as sent.
    #[error("the platform refused the request (HTTP {status})")]
    Rejected { status: u16 },
    /// Network trouble or a 5xx: retry later.
    #[error("the platform is unavailable ({0})")]
    Unavailable(String),
    /// A 2xx answer that says the call failed (eBay's Trading API answers `Ack` Failure with
    /// HTTP 200), with the platform's numeric error code; `credentials` when the code says
    /// the token was refused.
    #[error("the platform refused the call (its error {code})")]
    CallFailed { code: String, credentials: bool },
    #[error("the platform answered something we cannot read: {0}")]
    Unreadable(#[from] ParseError),
    /// The answer was larger than [`MAX_ANSWER_BYTES`].
    #[error("the platform's answer is larger than {limit} bytes")]
    AnswerTooLarge { limit: usize },
    /// The base URL is not one the origin calls (see [`UrlRefused`]).
    #[error("the base URL {0}")]
    BadBaseUrl(#[from] UrlRefused),
    /// The host is (or resolves to) an address the origin does not call.
    #[error("refused to call a {0} address")]
    DestinationRefused(&'static str),
}

impl PlatformError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            PlatformError::RateLimited { .. } | PlatformError::Unavailable(_)
        )
    }
}

impl From<reqwest::Error> for PlatformError {
    fn from(error: reqwest::Error) -> Self {
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            if let Some(AddressRefused(reason)) = cause.downcast_ref::<AddressRefused>() {
                return PlatformError::DestinationRefused(reason);
            }
            source = cause.source();
        }
        // Our own words only: reqwest's message may carry the URL (some platforms take
        // credentials in the query string) and its causes may quote the peer.
        let what = if error.is_timeout() {
            "timed out"
        } else if error.is_connect() {
            "could not connect"
        } else if error.is_body() || error.is_decode() {
            "the answer broke off"
        } else {
            "the request failed"
        };
        PlatformError::Unavailable(what.to_owned())
    }
}

/// Reads an answer's body (at most [`MAX_ANSWER_BYTES`], chunk by chunk), turning non-2xx
/// statuses into [`PlatformError`]s without reading their bodies.
pub(crate) async fn success_body(
    mut response: reqwest::Response,
) -> Result<(reqwest::header::HeaderMap, Vec<u8>), PlatformError> {
    let status = response.status();
    let headers = response.headers().clone();
    if !status.is_success() {
        return Err(status_error(status.as_u16(), &headers));
    }
    let too_large = PlatformError::AnswerTooLarge {
        limit: MAX_ANSWER_BYTES,
    };
    if response
        .content_length()
        .is_some_and(|length| length > MAX_ANSWER_BYTES as u64)
    {
        return Err(too_large);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok((headers, body))
}

/// What a non-2xx status means for the caller.
pub(crate) fn status_error(status: u16, headers: &reqwest::header::HeaderMap) -> PlatformError {
    match status {
        401 | 403 => PlatformError::Unauthorized { status },
        404 => PlatformError::NotFound,
        429 => PlatformError::RateLimited {
            retry_after_secs: retry_after_secs(headers).unwrap_or(60),
        },
        code @ 500..=599 => PlatformError::Unavailable(format!("HTTP {code}")),
        code => PlatformError::Rejected { status: code },
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not used by these platforms).
pub(crate) fn retry_after_secs(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}
