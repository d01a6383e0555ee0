//! The return of Etsy's connect flow (PLATFORMS.md §2.2): the `authorization_code` grant with
//! the PKCE `code_verifier` (the keystring as `client_id`, no secret, no Basic auth) and
//! `getMe`, which names the user and the shop that granted it.

use super::EtsyClient;
use crate::platforms::client::PlatformError;
use crate::platforms::oauth::{TokenAnswer, TokenError, token_request};
use crate::platforms::{field, id_string, parse_json};

/// Who granted the tokens (`GET /v3/application/users/me`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtsyMe {
    pub user_id: String,
    pub shop_id: String,
}

impl EtsyClient {
    /// Exchanges the code Etsy sent the seller back with for tokens; `redirect_uri` must be
    /// the one the connect page was given, `code_verifier` the one its challenge was made of.
    pub async fn exchange_code(
        &self,
        code: &str,
        code_verifier: &str,
        redirect_uri: &str,
    ) -> Result<TokenAnswer, TokenError> {
        let request = self
            .http
            .post(self.base_url.join(&["v3", "public", "oauth", "token"]))
            .form(&[
                ("grant_type", "authorization_code"),
                ("client_id", self.keystring.as_str()),
                ("redirect_uri", redirect_uri),
                ("code", code),
                ("code_verifier", code_verifier),
            ]);
        token_request(&self.http, request).await
    }

    /// The user the access token speaks for and their shop (scope `shops_r`).
    pub async fn me(&self, access_token: &str) -> Result<EtsyMe, PlatformError> {
        let request = self
            .http
            .get(self.base_url.join(&["v3", "application", "users", "me"]))
            .header("x-api-key", &self.api_key)
            .bearer_auth(access_token);
        let (_, body) = self.http.send(request).await?;
        parse_me(&body)
    }
}

/// Reads `getMe`'s `{"user_id":…,"shop_id":…}` (numbers, or strings of digits).
pub fn parse_me(body: &[u8]) -> Result<EtsyMe, PlatformError> {
    let value = parse_json(body)?;
    let numeric = |name: &'static str| {
        id_string(&value[name])
            .filter(|id| id.bytes().all(|b| b.is_ascii_digit()))
            .ok_or(PlatformError::Unreadable(field(name, "a numeric Etsy id")))
    };
    Ok(EtsyMe {
        user_id: numeric("user_id")?,
        shop_id: numeric("shop_id")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_who_connected() {
        let me = parse_me(br#"{"user_id":456789,"shop_id":123456}"#).unwrap();
        assert_eq!(
            me,
            EtsyMe {
                user_id: "456789".into(),
                shop_id: "123456".into()
            }
        );
        assert!(
            parse_me(br#"{"user_id":456789}"#).is_err(),
            "a user without a shop"
        );
        assert!(parse_me(br#"{"user_id":1,"shop_id":"../x"}"#).is_err());
    }
}
