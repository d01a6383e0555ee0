//! The OAuth token endpoints' refresh grant, as eBay (§1.3 of PLATFORMS.md: Basic auth, no
//! new refresh token) and Etsy (§2.2: `client_id` in the form, a new refresh token every time)
//! answer it. What sets a refusal apart is `invalid_grant`: the refresh token is dead and only
//! the seller can mend it. Nothing else the endpoint says is kept (no description, no body).

use serde::Deserialize;

use super::client::{PlatformError, success_body};
use super::outbound::Outbound;
use super::{field, parse_json};

/// The largest error answer read from a token endpoint.
const MAX_ERROR_BYTES: usize = 16 * 1024;

/// A token endpoint's answer to a refresh.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TokenAnswer {
    pub access_token: String,
    /// Seconds the access token lives (eBay 7200, Etsy 3600).
    #[serde(default)]
    pub expires_in: Option<i64>,
    /// Etsy: the new refresh token, the old one is dead. eBay answers none (it keeps its own).
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// eBay's code exchange only: seconds the refresh token lives (~18 months).
    #[serde(default)]
    pub refresh_token_expires_in: Option<i64>,
}

/// Why a refresh gave no tokens.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// `invalid_grant`: the refresh token is revoked, expired or was replaced.
    #[error("the platform refused the refresh token (invalid_grant)")]
    InvalidGrant,
    #[error(transparent)]
    Failed(#[from] PlatformError),
}

/// Sends a token request and reads the answer: the tokens, `invalid_grant`, or the failure.
pub(crate) async fn token_request(
    http: &Outbound,
    request: reqwest::RequestBuilder,
) -> Result<TokenAnswer, TokenError> {
    let mut response = http.execute(request).await?;
    let status = response.status().as_u16();
    if status == 400 || status == 401 {
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(PlatformError::from)? {
            if body.len() + chunk.len() > MAX_ERROR_BYTES {
                break;
            }
            body.extend_from_slice(&chunk);
        }
        let code = parse_json(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned));
        if code.as_deref() == Some("invalid_grant") {
            return Err(TokenError::InvalidGrant);
        }
        return Err(TokenError::Failed(if status == 401 {
            PlatformError::Unauthorized { status }
        } else {
            PlatformError::Rejected { status }
        }));
    }
    let (_, body) = success_body(response).await?;
    serde_json::from_slice(&body).map_err(|_| {
        TokenError::Failed(PlatformError::Unreadable(field(
            "access_token",
            "an OAuth token answer",
        )))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_platforms_token_answers() {
        let ebay: TokenAnswer = serde_json::from_str(
            r#"{"access_token":"v^1.1#a","expires_in":7200,"token_type":"User Access Token"}"#,
        )
        .unwrap();
        assert_eq!(ebay.expires_in, Some(7200));
        assert_eq!(ebay.refresh_token, None);
        let etsy: TokenAnswer = serde_json::from_str(
            r#"{"access_token":"1.a","token_type":"Bearer","expires_in":3600,"refresh_token":"1.r"}"#,
        )
        .unwrap();
        assert_eq!(etsy.refresh_token.as_deref(), Some("1.r"));
    }
}
