//! eBay's notifications to the app's one endpoint (`/webhooks/ebay`): the app-level
//! verification token and endpoint URL its challenge is answered with, which eBay user a
//! notification is about, and the edge ↔ origin contract that routes it to the connection of
//! that user.
//!
//! A seller connected through eBay's consent is subscribed on the app's notification
//! destination, so eBay sends the ORDER_CONFIRMATION of every connected seller, and every
//! AUTHORIZATION_REVOCATION and MARKETPLACE_ACCOUNT_DELETION, to one URL: the userId in the
//! payload is what tells tenants apart.

use serde_json::Value;

use super::ebay_challenge_response;

pub const ORDER_CONFIRMATION: &str = "ORDER_CONFIRMATION";
pub const AUTHORIZATION_REVOCATION: &str = "AUTHORIZATION_REVOCATION";
pub const MARKETPLACE_ACCOUNT_DELETION: &str = "MARKETPLACE_ACCOUNT_DELETION";

/// The longest topic name kept in an error (it comes from the body).
const TOPIC_SHOWN_CHARS: usize = 64;

/// Whether `token` is of the form eBay accepts for a destination's verification token: 32 to
/// 80 characters of letters, digits, `_` and `-`.
pub fn is_verification_token(token: &str) -> bool {
    (32..=80).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The app's endpoint as registered on its eBay notification destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppEndpoint {
    verification_token: String,
    endpoint_url: String,
}

/// Why the app's endpoint settings cannot answer a challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AppEndpointError {
    #[error("the app's verification token is not set")]
    NoToken,
    #[error("the app's verification token is not 32 to 80 characters of letters, digits, _ and -")]
    BadToken,
    #[error("the app's endpoint URL is not set")]
    NoEndpoint,
    #[error("the app's endpoint URL is not an http(s) URL")]
    BadEndpoint,
}

impl AppEndpoint {
    /// The settings, checked: both set, the token of eBay's form, the URL an http(s) one (it is
    /// hashed exactly as given: eBay hashes the URL registered on the destination).
    pub fn new(
        verification_token: Option<&str>,
        endpoint_url: Option<&str>,
    ) -> Result<Self, AppEndpointError> {
        let token = verification_token
            .filter(|t| !t.is_empty())
            .ok_or(AppEndpointError::NoToken)?;
        if !is_verification_token(token) {
            return Err(AppEndpointError::BadToken);
        }
        let url = endpoint_url
            .filter(|u| !u.is_empty())
            .ok_or(AppEndpointError::NoEndpoint)?;
        let has_host = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
        if !has_host || url.chars().any(char::is_whitespace) {
            return Err(AppEndpointError::BadEndpoint);
        }
        Ok(AppEndpoint {
            verification_token: token.to_owned(),
            endpoint_url: url.to_owned(),
        })
    }

    /// `challengeResponse` for eBay's `challenge_code`.
    pub fn challenge_response(&self, challenge_code: &str) -> String {
        ebay_challenge_response(challenge_code, &self.verification_token, &self.endpoint_url)
    }

    pub fn endpoint_url(&self) -> &str {
        &self.endpoint_url
    }
}

/// Whom a notification to the app's endpoint is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifiedUser {
    pub topic: &'static str,
    /// eBay's immutable public userId (a connection's `account_id`).
    pub user_id: String,
}

/// Why a notification names no user to route it by.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifiedUserError {
    #[error("the body is not a JSON object")]
    NotAnObject,
    #[error("metadata.topic is missing or not a string")]
    NoTopic,
    #[error("topic {0:?} is not routed by user")]
    UnroutedTopic(String),
    #[error("the notification names no plausible eBay userId")]
    NoUserId,
}

/// The eBay user a notification is about: the seller (`notification.data.user.userId`) of an
/// ORDER_CONFIRMATION, the user (`notification.data.userId`) of an AUTHORIZATION_REVOCATION or
/// a MARKETPLACE_ACCOUNT_DELETION.
pub fn notified_user(body: &[u8]) -> Result<NotifiedUser, NotifiedUserError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| NotifiedUserError::NotAnObject)?;
    if !value.is_object() {
        return Err(NotifiedUserError::NotAnObject);
    }
    let topic = value
        .pointer("/metadata/topic")
        .and_then(Value::as_str)
        .ok_or(NotifiedUserError::NoTopic)?;
    let (topic, pointer) = match topic {
        ORDER_CONFIRMATION => (ORDER_CONFIRMATION, "/notification/data/user/userId"),
        AUTHORIZATION_REVOCATION => (AUTHORIZATION_REVOCATION, "/notification/data/userId"),
        MARKETPLACE_ACCOUNT_DELETION => (MARKETPLACE_ACCOUNT_DELETION, "/notification/data/userId"),
        other => {
            let shown = other.chars().take(TOPIC_SHOWN_CHARS).collect();
            return Err(NotifiedUserError::UnroutedTopic(shown));
        }
    };
    let user_id = value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|id| is_plausible_user_id(id))
        .ok_or(NotifiedUserError::NoUserId)?;
    Ok(NotifiedUser {
        topic,
        user_id: user_id.to_owned(),
    })
}

/// Whether `s` can be an eBay userId, checked before it goes into a lookup path: 1 to 64
/// letters, digits, `_`, `-` and `.`, starting with a letter or digit.
pub fn is_plausible_user_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// `GET` — which tenant's connection speaks for eBay user `user_id`
/// ([`crate::internal::ConnectionRoute`]), 404 if none.
pub fn ebay_seller_route_path(user_id: &str) -> String {
    format!("/internal/v1/ebay/sellers/{user_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDER: &[u8] =
        include_bytes!("../../../fixtures/ebay/notification-order-confirmation.body");
    const REVOCATION: &[u8] =
        include_bytes!("../../../fixtures/ebay/notification-authorization-revocation.body");
    const DELETION: &[u8] =
        include_bytes!("../../../fixtures/ebay/notification-account-deletion.body");
    const CHALLENGE: &str = include_str!("../../../fixtures/ebay/challenge.json");

    #[test]
    fn the_fixtures_name_their_user() {
        for (body, topic, user_id) in [
            (ORDER, ORDER_CONFIRMATION, "Qp3mV8sLkTw"),
            (REVOCATION, AUTHORIZATION_REVOCATION, "Qp3mV8sLkTw"),
            (DELETION, MARKETPLACE_ACCOUNT_DELETION, "ma8vp1jySJC"),
        ] {
            assert_eq!(
                notified_user(body),
                Ok(NotifiedUser {
                    topic,
                    user_id: user_id.to_owned()
                })
            );
        }
    }

    #[test]
    fn an_order_is_routed_by_its_seller_not_by_a_user_beside_it() {
        // An ORDER_CONFIRMATION's user is `data.user`: a `data.userId` is not read for it.
        let body = br#"{"metadata":{"topic":"ORDER_CONFIRMATION"},"notification":{"data":{"userId":"buyer1","order":{"orderId":"1"}}}}"#;
        assert_eq!(notified_user(body), Err(NotifiedUserError::NoUserId));
        let body = br#"{"metadata":{"topic":"AUTHORIZATION_REVOCATION"},"notification":{"data":{"user":{"userId":"Qp3"}}}}"#;
        assert_eq!(notified_user(body), Err(NotifiedUserError::NoUserId));
    }

    #[test]
    fn unreadable_or_unrouted_notifications_name_no_user() {
        assert_eq!(notified_user(b"nope"), Err(NotifiedUserError::NotAnObject));
        assert_eq!(notified_user(b"[1]"), Err(NotifiedUserError::NotAnObject));
        assert_eq!(
            notified_user(br#"{"metadata":{}}"#),
            Err(NotifiedUserError::NoTopic)
        );
        let other = br#"{"metadata":{"topic":"ITEM_SOLD"},"notification":{"data":{"userId":"a"}}}"#;
        assert_eq!(
            notified_user(other),
            Err(NotifiedUserError::UnroutedTopic("ITEM_SOLD".into()))
        );
        let long = format!(
            r#"{{"metadata":{{"topic":"{}"}}}}"#,
            "T".repeat(TOPIC_SHOWN_CHARS * 4)
        );
        match notified_user(long.as_bytes()) {
            Err(NotifiedUserError::UnroutedTopic(shown)) => {
                assert_eq!(shown.len(), TOPIC_SHOWN_CHARS)
            }
            other => panic!("{other:?}"),
        }
        for bad in ["", "../x", "a/b", "a b", ".hidden", "x?y=1"] {
            let body = format!(
                r#"{{"metadata":{{"topic":"AUTHORIZATION_REVOCATION"}},"notification":{{"data":{{"userId":"{bad}"}}}}}}"#
            );
            assert_eq!(
                notified_user(body.as_bytes()),
                Err(NotifiedUserError::NoUserId),
                "{bad:?}"
            );
        }
        assert!(!is_plausible_user_id(&"a".repeat(65)));
        assert!(is_plausible_user_id("test_user.1-x"));
    }

    #[test]
    fn the_app_endpoint_answers_the_sdk_challenge_with_its_own_token() {
        let fixture: Value = serde_json::from_str(CHALLENGE).unwrap();
        let token = fixture["verificationToken"].as_str().unwrap();
        let endpoint = fixture["endpoint"].as_str().unwrap();
        let app = AppEndpoint::new(Some(token), Some(endpoint)).unwrap();
        assert_eq!(app.endpoint_url(), endpoint);
        assert_eq!(
            app.challenge_response(fixture["challengeCode"].as_str().unwrap()),
            fixture["response"]["body"]["challengeResponse"]
                .as_str()
                .unwrap()
        );
        // Another token or another endpoint is another answer: both are the app's.
        let code = "a8628072-3d33-45ee-9004-bee86830a22d";
        let other_token = AppEndpoint::new(Some(&"t".repeat(40)), Some(endpoint)).unwrap();
        let other_url =
            AppEndpoint::new(Some(token), Some("https://edge.example.com/webhooks/ebay")).unwrap();
        assert_eq!(
            other_url.challenge_response(code),
            ebay_challenge_response(code, token, "https://edge.example.com/webhooks/ebay")
        );
        assert_ne!(
            other_token.challenge_response(code),
            app.challenge_response(code)
        );
        assert_ne!(
            other_url.challenge_response(code),
            app.challenge_response(code)
        );
    }

    #[test]
    fn the_app_endpoint_needs_both_settings_well_formed() {
        let token = "71745723-d031-455c-bfa5-f90d11b4f20a";
        let url = "https://edge.example.com/webhooks/ebay";
        assert_eq!(
            AppEndpoint::new(None, Some(url)),
            Err(AppEndpointError::NoToken)
        );
        assert_eq!(
            AppEndpoint::new(Some(""), Some(url)),
            Err(AppEndpointError::NoToken)
        );
        for bad in [
            "short",
            "has space in it but is long enough to pass",
            &"x".repeat(81),
        ] {
            assert_eq!(
                AppEndpoint::new(Some(bad), Some(url)),
                Err(AppEndpointError::BadToken),
                "{bad:?}"
            );
        }
        assert_eq!(
            AppEndpoint::new(Some(token), None),
            Err(AppEndpointError::NoEndpoint)
        );
        for bad in [
            "edge.example.com/webhooks/ebay",
            "https://",
            "https:///x",
            "ftp://x",
        ] {
            assert_eq!(
                AppEndpoint::new(Some(token), Some(bad)),
                Err(AppEndpointError::BadEndpoint),
                "{bad:?}"
            );
        }
        assert!(is_verification_token(&"a".repeat(32)));
        assert!(!is_verification_token(&"a".repeat(31)));
    }
}
