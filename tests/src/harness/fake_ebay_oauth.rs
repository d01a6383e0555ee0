//! The fake eBay's consent flow, as PLATFORMS.md §1.1, §1.2 and §1.5 have it: the consent page
//! `/oauth2/authorize` auto-approves and sends the seller to the RuName's accepted URL with
//! `state`, a `code` that is URL-encoded on the wire (`v^1.1#…` as `v%5E1.1%23…`) and
//! `expires_in=299` (or, switched to declining, with no code); codes are single-use and live 5
//! minutes. The token route's `authorization_code` grant (its Basic auth checked by the token
//! route) answers the §1.2 body with a user token the fake then takes as the seller's, and
//! `invalid_grant` for a reused, expired, unknown or double-encoded code or a redirect_uri
//! that is not the RuName. `createSubscription` answers 201 + `Location`, or `195011` for a
//! token granted without the subscription scope.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::fake_ebay::CLIENT_ID;
use super::fake_ebay_tokens::{SELLER_REFRESH_TOKEN, UserTokens};

/// The app's RuName: the `redirect_uri` of the consent page and of the code exchange.
pub const RU_NAME: &str = "YourSender_Inc-YourSend-edge-P-abcdefg";
/// How long a code lives (eBay: ~5 minutes, `expires_in=299`).
const CODE_TTL: Duration = Duration::from_secs(299);
/// eBay's refresh token lifetime (~18 months).
const REFRESH_TOKEN_LIFETIME_SECS: u64 = 47_304_000;
const SUBSCRIPTION_SCOPE: &str =
    "https://api.ebay.com/oauth/api_scope/commerce.notification.subscription";

struct Code {
    issued: Instant,
    used: bool,
    scopes: Vec<String>,
}

/// A subscription `createSubscription` made.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub subscription_id: String,
    /// The userId of the token it was made with.
    pub user_id: String,
    pub body: Value,
}

#[derive(Default)]
pub struct Consents {
    /// The RuName's accepted (and declined) URL.
    accept_url: Mutex<Option<String>>,
    declining: AtomicBool,
    without_subscription_scope: AtomicBool,
    codes: Mutex<HashMap<String, Code>>,
    /// User tokens a code exchange issued → the scopes granted with them.
    granted: Mutex<HashMap<String, Vec<String>>>,
    exchanges: Mutex<Vec<String>>,
    subscriptions: Mutex<Vec<Subscription>>,
    issued: AtomicUsize,
}

impl Consents {
    /// Where the consent page sends the seller (the RuName's accepted URL).
    pub fn set_accept_url(&self, url: &str) {
        *self.accept_url.lock().unwrap() = Some(url.to_owned());
    }

    /// While set, the seller declines: sent back without a code.
    pub fn set_declining(&self, declining: bool) {
        self.declining.store(declining, Ordering::SeqCst);
    }

    /// While set, consents grant every scope asked but the notification subscription one.
    pub fn set_without_subscription_scope(&self, without: bool) {
        self.without_subscription_scope
            .store(without, Ordering::SeqCst);
    }

    /// The form bodies of the authorization_code grants, in order.
    pub fn exchanges(&self) -> Vec<String> {
        self.exchanges.lock().unwrap().clone()
    }

    pub fn subscriptions(&self) -> Vec<Subscription> {
        self.subscriptions.lock().unwrap().clone()
    }

    /// Makes a code's 5 minutes pass.
    pub fn expire_codes(&self) {
        for code in self.codes.lock().unwrap().values_mut() {
            code.issued = Instant::now() - CODE_TTL - Duration::from_secs(1);
        }
    }

    /// The `authorization_code` grant, its Basic auth already checked.
    pub(super) fn exchange(&self, body: &str, tokens: &UserTokens) -> Response {
        self.exchanges.lock().unwrap().push(body.to_owned());
        let form: HashMap<String, String> = form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        let mut codes = self.codes.lock().unwrap();
        let code = form.get("code").and_then(|code| codes.get_mut(code));
        let redirect_ok = form.get("redirect_uri").map(String::as_str) == Some(RU_NAME);
        let Some(code) = code.filter(|c| !c.used && c.issued.elapsed() < CODE_TTL && redirect_ok)
        else {
            let body = json!({ "error": "invalid_grant",
                "error_description": "the provided authorization grant code is invalid or was issued to another client" });
            return (StatusCode::BAD_REQUEST, Json(body)).into_response();
        };
        code.used = true;
        let scopes = code.scopes.clone();
        drop(codes);
        let (access_token, lifetime) = (tokens.issue(), tokens.lifetime_secs());
        self.granted
            .lock()
            .unwrap()
            .insert(access_token.clone(), scopes);
        Json(json!({
            "access_token": access_token,
            "expires_in": lifetime,
            "refresh_token": SELLER_REFRESH_TOKEN,
            "refresh_token_expires_in": REFRESH_TOKEN_LIFETIME_SECS,
            "token_type": "User Access Token"
        }))
        .into_response()
    }
}

struct OauthState {
    consents: Arc<Consents>,
    tokens: Arc<UserTokens>,
}

/// The consent page and createSubscription, merged into the fake's router.
pub(super) fn routes<S: Clone + Send + Sync + 'static>(
    consents: Arc<Consents>,
    tokens: Arc<UserTokens>,
) -> Router<S> {
    Router::new()
        .route("/oauth2/authorize", get(authorize))
        .route(
            "/commerce/notification/v1/subscription",
            post(create_subscription),
        )
        .with_state(Arc::new(OauthState { consents, tokens }))
}

fn bad_request(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        format!("<html><body>{message}</body></html>"),
    )
        .into_response()
}

/// `GET /oauth2/authorize`: the app and RuName checked, then approved at once (or declined).
async fn authorize(
    State(state): State<Arc<OauthState>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let consents = &state.consents;
    if query.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || query.get("redirect_uri").map(String::as_str) != Some(RU_NAME)
        || query.get("response_type").map(String::as_str) != Some("code")
    {
        return bad_request("invalid client_id, redirect_uri or response_type");
    }
    let Some(scope) = query.get("scope").filter(|s| !s.is_empty()) else {
        return bad_request("scope is required");
    };
    let Some(accept) = consents.accept_url.lock().unwrap().clone() else {
        return bad_request("the RuName has no accepted URL");
    };
    let state_param: String = query
        .get("state")
        .map(|s| form_urlencoded::byte_serialize(s.as_bytes()).collect())
        .unwrap_or_default();
    let location = if consents.declining.load(Ordering::SeqCst) {
        format!("{accept}?state={state_param}")
    } else {
        let n = consents.issued.fetch_add(1, Ordering::SeqCst);
        let code = format!("v^1.1#i^1#r^1#I^3#f^0#p^3#t^Ul41XzA6{n:04}QzNDMjM3RkE=");
        let without = consents.without_subscription_scope.load(Ordering::SeqCst);
        let scopes = scope
            .split(' ')
            .filter(|s| !(without && *s == SUBSCRIPTION_SCOPE))
            .map(str::to_owned)
            .collect();
        let wire: String = form_urlencoded::byte_serialize(code.as_bytes()).collect();
        consents.codes.lock().unwrap().insert(
            code,
            Code {
                issued: Instant::now(),
                used: false,
                scopes,
            },
        );
        format!("{accept}?state={state_param}&code={wire}&expires_in=299")
    };
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

/// `POST /commerce/notification/v1/subscription` with a seller's user token.
async fn create_subscription(
    State(state): State<Arc<OauthState>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let Some(user_id) = state.tokens.user_of(token) else {
        let body = json!({ "errors": [{ "errorId": 1001, "domain": "OAuth", "category": "REQUEST",
            "message": "Invalid access token" }]});
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    };
    let scoped = state
        .consents
        .granted
        .lock()
        .unwrap()
        .get(token)
        .is_none_or(|scopes| scopes.iter().any(|s| s == SUBSCRIPTION_SCOPE));
    if !scoped {
        let body = json!({ "errors": [{ "errorId": 195011, "domain": "API_NOTIFICATION",
            "category": "REQUEST",
            "message": "Insufficient permissions to fulfill the request." }]});
        return (StatusCode::FORBIDDEN, Json(body)).into_response();
    }
    let payload = &body["payload"];
    let valid = body["topicId"].as_str().is_some_and(|t| !t.is_empty())
        && body["destinationId"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
        && matches!(body["status"].as_str(), Some("ENABLED") | Some("DISABLED"))
        && payload["format"] == "JSON"
        && payload["deliveryProtocol"] == "HTTPS"
        && payload["schemaVersion"].is_string();
    if !valid {
        let body = json!({ "errors": [{ "errorId": 195002, "domain": "API_NOTIFICATION",
            "category": "REQUEST", "message": "Invalid or missing subscription payload." }]});
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    }
    let mut subscriptions = state.consents.subscriptions.lock().unwrap();
    let subscription_id = format!("sub-{}", subscriptions.len() + 1);
    subscriptions.push(Subscription {
        subscription_id: subscription_id.clone(),
        user_id,
        body,
    });
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let location = format!("http://{host}/commerce/notification/v1/subscription/{subscription_id}");
    (StatusCode::CREATED, [(header::LOCATION, location)]).into_response()
}
