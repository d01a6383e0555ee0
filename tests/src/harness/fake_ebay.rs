//! A local stand-in for eBay's OAuth token and notification public-key endpoints, the
//! Fulfillment API's `getOrder` (and `getOrders`, in `fake_ebay_orders`) and the Identity
//! API's `getUser`, answering with the shapes in `fixtures/ebay/` and `PLATFORMS.md` §1.4. Its
//! base URL is passed to the worker as `EBAY_API_BASE_URL`; it can be switched to failing
//! (500, like eBay's `195000`) to test the key service being down.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::json;
use tokio::task::JoinHandle;

pub const CLIENT_ID: &str = "YourSend-edge-PRD-test";
pub const CLIENT_SECRET: &str = "PRD-test-client-secret";
const ACCESS_TOKEN: &str =
    "v^1.1#i^1#p^1#r^0#I^3#f^0#t^H4sIAAAAAAAAAOVYFIXTUREfakeTokenBodyOnlyForTests==";

#[derive(Default)]
struct FakeState {
    /// kid → the `key` field eBay returns (PEM with line breaks stripped).
    keys: Mutex<HashMap<String, String>>,
    failing: AtomicBool,
    token_requests: AtomicUsize,
    key_requests: AtomicUsize,
    order_requests: AtomicUsize,
    /// What getOrder answers instead of the fixture (its `orderId` still the asked one).
    order: Mutex<Option<serde_json::Value>>,
    fulfillments: Arc<super::fake_ebay_fulfillment::Fulfillments>,
    /// Sellers' user tokens and their refresh grant (`fake_ebay_tokens`).
    user_tokens: Arc<super::fake_ebay_tokens::UserTokens>,
    /// The consent page, the code grant and createSubscription (`fake_ebay_oauth`).
    consents: Arc<super::fake_ebay_oauth::Consents>,
    orders: Arc<super::fake_ebay_orders::EbayOrders>,
}

/// The seller's user token the Fulfillment API accepts.
pub const SELLER_TOKEN: &str = "v^1.1#i^1#p^3#r^1#seller-user-token";
/// The userId of [`SELLER_TOKEN`]'s seller: the one the fixture notifications name.
pub const SELLER_USER_ID: &str = "Qp3mV8sLkTw";
/// Another seller's user token (getUser answers [`OTHER_SELLER_USER_ID`]).
pub const OTHER_SELLER_TOKEN: &str = "v^1.1#i^1#p^3#r^1#other-seller-user-token";
pub const OTHER_SELLER_USER_ID: &str = "Zr8nB2wQxYd";
const GET_ORDER: &str = include_str!("../../../fixtures/ebay/get-order.response.json");

/// The running fake; stops when dropped.
pub struct FakeEbay {
    pub base_url: String,
    /// The seller's active listings the Trading API's GetMyeBaySelling pages through.
    pub trading: super::fake_ebay_trading::ActiveListings,
    state: Arc<FakeState>,
    server: JoinHandle<()>,
}

impl FakeEbay {
    pub async fn start() -> Self {
        let state = Arc::new(FakeState::default());
        let trading = super::fake_ebay_trading::ActiveListings::default();
        let app = Router::new()
            .route("/identity/v1/oauth2/token", post(token))
            .route(
                "/commerce/notification/v1/public_key/{kid}",
                get(public_key),
            )
            .route("/sell/fulfillment/v1/order/{order_id}", get(get_order))
            .route("/commerce/identity/v1/user/", get(get_user))
            .merge(super::fake_ebay_trading::routes(trading.clone()))
            .merge(super::fake_ebay_orders::routes(state.orders.clone()))
            .merge(super::fake_ebay_oauth::routes(
                state.consents.clone(),
                state.user_tokens.clone(),
            ))
            .with_state(state.clone())
            .merge(super::fake_ebay_fulfillment::routes(
                state.fulfillments.clone(),
                state.user_tokens.clone(),
            ));
        let (base_url, server) = super::serve_on_loopback("the fake eBay API", app).await;
        FakeEbay {
            base_url,
            trading,
            state,
            server,
        }
    }

    /// Publishes a key under `kid`, as eBay's `key` field (PEM without line breaks).
    pub fn add_key(&self, kid: &str, pem_one_line: &str) {
        self.state
            .keys
            .lock()
            .unwrap()
            .insert(kid.to_owned(), pem_one_line.to_owned());
    }

    /// While failing, both endpoints answer 500.
    pub fn set_failing(&self, failing: bool) {
        self.state.failing.store(failing, Ordering::SeqCst);
    }

    pub fn token_requests(&self) -> usize {
        self.state.token_requests.load(Ordering::SeqCst)
    }

    pub fn key_requests(&self) -> usize {
        self.state.key_requests.load(Ordering::SeqCst)
    }

    /// How many `getOrder` calls arrived.
    /// From now on getOrder answers `order` (under the asked id) instead of the fixture.
    pub fn set_order(&self, order: serde_json::Value) {
        *self.state.order.lock().unwrap() = Some(order);
    }

    pub fn order_requests(&self) -> usize {
        self.state.order_requests.load(Ordering::SeqCst)
    }

    /// createShippingFulfillment: what arrived, and switches for eBay's refusals.
    pub fn fulfillments(&self) -> &super::fake_ebay_fulfillment::Fulfillments {
        &self.state.fulfillments
    }

    /// A new user token of the seller (with [`super::fake_ebay_tokens::SELLER_REFRESH_TOKEN`]
    /// as its refresh token), living the configured lifetime.
    pub fn issue_user_token(&self) -> String {
        self.state.user_tokens.issue()
    }

    /// User tokens issued from now on live `secs` seconds (eBay: 7200).
    pub fn set_user_token_lifetime(&self, secs: u64) {
        self.state.user_tokens.set_lifetime(secs);
    }

    /// While set, every refresh grant answers `invalid_grant`.
    pub fn set_refresh_refused(&self, refused: bool) {
        self.state.user_tokens.set_refused(refused);
    }

    /// Every issued user token ends now.
    pub fn expire_user_tokens(&self) {
        self.state.user_tokens.expire_all();
    }

    /// Refresh grants answered with a new token.
    pub fn user_token_refreshes(&self) -> usize {
        self.state.user_tokens.refreshes()
    }

    /// The form bodies of every refresh grant, in order.
    pub fn refresh_bodies(&self) -> Vec<String> {
        self.state.user_tokens.bodies()
    }

    /// Whether eBay takes `token` as a user token now.
    pub fn user_token_works(&self, token: &str) -> bool {
        self.state.user_tokens.user_of(token).is_some()
    }

    /// The consent flow: where it sends the seller, its switches, what it was sent.
    pub fn consents(&self) -> &super::fake_ebay_oauth::Consents {
        &self.state.consents
    }

    /// The orders `getOrders` lists (`fake_ebay_orders`).
    pub fn orders(&self) -> &super::fake_ebay_orders::EbayOrders {
        &self.state.orders
    }
}

impl Drop for FakeEbay {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// `GET /sell/fulfillment/v1/order/{orderId}`: the fixture order under the asked id, for the
/// seller's user token only (an application token is not enough, as on eBay).
async fn get_order(
    State(state): State<Arc<FakeState>>,
    Path(order_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    state.order_requests.fetch_add(1, Ordering::SeqCst);
    if state.failing.load(Ordering::SeqCst) {
        return internal_error();
    }
    let user = bearer(&headers).and_then(|token| state.user_tokens.user_of(token));
    if user.as_deref() != Some(SELLER_USER_ID) {
        let body = json!({ "errors": [{ "errorId": 1001, "domain": "OAuth", "category": "REQUEST",
            "message": "Invalid access token" }]});
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    let set = state.order.lock().unwrap().clone();
    let mut order: serde_json::Value =
        set.unwrap_or_else(|| serde_json::from_str(GET_ORDER).expect("fixture order"));
    order["orderId"] = order_id.into();
    Json(order).into_response()
}

/// `GET /commerce/identity/v1/user/`: who the user token belongs to, as eBay's Identity API
/// answers (`userId`, `username`, `accountType`, `registrationMarketplaceId`, `status`).
async fn get_user(State(state): State<Arc<FakeState>>, headers: HeaderMap) -> Response {
    if state.failing.load(Ordering::SeqCst) {
        return internal_error();
    }
    let user = bearer(&headers).and_then(|token| state.user_tokens.user_of(token));
    let (user_id, username) = match user.as_deref() {
        Some(SELLER_USER_ID) => (SELLER_USER_ID, "pixelforge_digital"),
        Some(OTHER_SELLER_USER_ID) => (OTHER_SELLER_USER_ID, "other_digital_shop"),
        _ => {
            let body = json!({ "errors": [{ "errorId": 1001, "domain": "OAuth", "category": "REQUEST",
                "message": "Invalid access token" }]});
            return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
        }
    };
    Json(json!({
        "userId": user_id,
        "username": username,
        "accountType": "BUSINESS",
        "registrationMarketplaceId": "EBAY_US",
        "status": "CONFIRMED"
    }))
    .into_response()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

fn internal_error() -> Response {
    let body = json!({ "errors": [{
        "errorId": 195000, "domain": "API_NOTIFICATION", "category": "APPLICATION",
        "message": "There was a problem with an eBay internal system or process. Contact eBay developer support for assistance."
    }]});
    (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
}

async fn token(State(state): State<Arc<FakeState>>, headers: HeaderMap, body: String) -> Response {
    state.token_requests.fetch_add(1, Ordering::SeqCst);
    if state.failing.load(Ordering::SeqCst) {
        return internal_error();
    }
    let expected = format!(
        "Basic {}",
        BASE64.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    let authorised =
        headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str());
    if authorised && body.contains("grant_type=refresh_token") {
        return state.user_tokens.refresh(&body);
    }
    if authorised && body.contains("grant_type=authorization_code") {
        return state.consents.exchange(&body, &state.user_tokens);
    }
    if !authorised || !body.contains("grant_type=client_credentials") {
        let body = json!({ "error": "invalid_client", "error_description": "client authentication failed" });
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    Json(json!({
        "access_token": ACCESS_TOKEN,
        "expires_in": 7200,
        "token_type": "Application Access Token"
    }))
    .into_response()
}

async fn public_key(
    State(state): State<Arc<FakeState>>,
    Path(kid): Path<String>,
    headers: HeaderMap,
) -> Response {
    state.key_requests.fetch_add(1, Ordering::SeqCst);
    if state.failing.load(Ordering::SeqCst) {
        return internal_error();
    }
    let expected = format!("Bearer {ACCESS_TOKEN}");
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        let body = json!({ "errors": [{ "errorId": 1001, "domain": "OAuth", "category": "REQUEST",
            "message": "Invalid access token" }]});
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    match state.keys.lock().unwrap().get(&kid) {
        Some(key) => {
            Json(json!({ "key": key, "algorithm": "ECDSA", "digest": "SHA1" })).into_response()
        }
        None => {
            let body = json!({ "errors": [{ "errorId": 195001, "domain": "API_NOTIFICATION",
                "category": "REQUEST", "message": "The specified key id is invalid." }]});
            (StatusCode::NOT_FOUND, Json(body)).into_response()
        }
    }
}
