//! What the eBay connect flow calls once the seller approved: the authorization-code grant
//! (PLATFORMS.md §1.2) and the seller's `ORDER_CONFIRMATION` subscription (§1.5).

use super::EbayClient;
use crate::platforms::oauth::{TokenAnswer, TokenError, token_request};
use crate::platforms::refusal::{Refusal, answer_or_refusal};

/// The topic a connected seller is subscribed to.
pub const ORDER_CONFIRMATION: &str = "ORDER_CONFIRMATION";

/// Whether `code` is an authorization code as it arrives in the accepted URL's query: still
/// URL-encoded, so nothing that would end or split a form field (no `&`, `=`, `+`, spaces),
/// and at most 1024 characters once decoded (eBay's bound; encoded, three times that).
pub fn is_wire_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 3 * 1024
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"%-._~*".contains(&b))
}

impl EbayClient {
    /// `POST /identity/v1/oauth2/token` with `grant_type=authorization_code`: the seller's
    /// user and refresh tokens for the code eBay sent the seller back with. `wire_code` goes
    /// into the form exactly as it arrived (it is URL-encoded already; encoding it again makes
    /// eBay answer `invalid_grant`); `redirect_uri` is the RuName.
    pub async fn exchange_code(
        &self,
        client_id: &str,
        client_secret: &str,
        wire_code: &str,
        ru_name: &str,
    ) -> Result<TokenAnswer, TokenError> {
        let ru_name: String = url::form_urlencoded::byte_serialize(ru_name.as_bytes()).collect();
        let body = format!("grant_type=authorization_code&code={wire_code}&redirect_uri={ru_name}");
        let request = self
            .http
            .post(self.base_url.join(&["identity", "v1", "oauth2", "token"]))
            .basic_auth(client_id, Some(client_secret))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body);
        token_request(&self.http, request).await
    }

    /// `POST /commerce/notification/v1/subscription` with the seller's user token: `topic`
    /// delivered to the app's destination `destination_id`, enabled, as JSON over HTTPS. eBay
    /// answers 201 and the subscription's URL in `Location`: its last segment is answered.
    pub async fn create_subscription(
        &self,
        user_token: &str,
        topic: &str,
        destination_id: &str,
    ) -> Result<Option<String>, Refusal> {
        let request = self
            .http
            .post(
                self.base_url
                    .join(&["commerce", "notification", "v1", "subscription"]),
            )
            .bearer_auth(user_token)
            .json(&serde_json::json!({
                "topicId": topic,
                "status": "ENABLED",
                "destinationId": destination_id,
                "payload": { "format": "JSON", "schemaVersion": "1.0", "deliveryProtocol": "HTTPS" },
            }));
        let (headers, _) = answer_or_refusal(self.http.execute(request).await?).await?;
        Ok(headers
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|location| location.trim_end_matches('/').rsplit('/').next())
            .filter(|id| !id.is_empty())
            .map(str::to_owned))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wire_code_is_kept_encoded_and_bounded() {
        assert!(is_wire_code("v%5E1.1%23i%5E1%23r%5E1"));
        assert!(!is_wire_code(""));
        assert!(
            !is_wire_code("v^1.1#i"),
            "decoded characters are not on the wire"
        );
        assert!(!is_wire_code("a&grant_type=refresh_token"));
        assert!(!is_wire_code(&"a".repeat(3 * 1024 + 1)));
    }
}
