//! What every outbound platform call can end in, and the one HTTP client they share.

use std::time::Duration;

use super::ParseError;

/// Why a platform call failed, sorted by what the caller should do next.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// Credentials refused: refresh them, or mark the connection broken.
    #[error("the platform refused our credentials ({status}): {body}")]
    Unauthorized { status: u16, body: String },
    /// Slow down: nothing more until `retry_after_secs` have passed.
    #[error("rate limited by the platform, retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("the platform has no such resource: {0}")]
    NotFound(String),
    /// A request the platform will never accept as sent.
    #[error("the platform refused the request ({status}): {body}")]
    Rejected { status: u16, body: String },
    /// Network trouble or a 5xx: retry later.
    #[error("the platform is unavailable: {0}")]
    Unavailable(String),
    #[error("the platform answered something we cannot read: {0}")]
    Unreadable(#[from] ParseError),
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
        // Never include the URL: some platforms take credentials in the query string.
        PlatformError::Unavailable(error.without_url().to_string())
    }
}

/// The HTTP client for platform calls: bounded in time, no redirects followed.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("YourSender/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the HTTP client configuration is valid")
}

/// Reads an answer's body, turning non-2xx statuses into [`PlatformError`]s.
pub(crate) async fn success_body(
    response: reqwest::Response,
) -> Result<(reqwest::header::HeaderMap, Vec<u8>), PlatformError> {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await?.to_vec();
    if status.is_success() {
        return Ok((headers, body));
    }
    let text = String::from_utf8_lossy(&body)
        .chars()
        .take(500)
        .collect::<String>();
    Err(match status.as_u16() {
        401 | 403 => PlatformError::Unauthorized {
            status: status.as_u16(),
            body: text,
        },
        404 => PlatformError::NotFound(text),
        429 => PlatformError::RateLimited {
            retry_after_secs: retry_after_secs(&headers).unwrap_or(60),
        },
        500..=599 => PlatformError::Unavailable(format!("{status}: {text}")),
        code => PlatformError::Rejected {
            status: code,
            body: text,
        },
    })
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
