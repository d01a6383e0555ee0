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
    state: Arc<FakeState>,
    server: JoinHandle<()>,
}

impl FakeEbay {
    pub async fn start() -> Self {
        let state = Arc::new(FakeState::default());
        let app = Router::new()
            .route("/identity/v1/oauth2/token", post(token))
            .route(
                "/commerce/notification/v1/public_key/{kid}",
                get(public_key),
            )
            .route("/sell/fulfillment/v1/order/{order_id}", get(get_order))
            .route("/commerce/identity/v1/user/", get(get_user))
            .merge(super::fake_ebay_orders::routes(state.orders.clone()))
            .with_state(state.clone());
        let (base_url, server) = super::serve_on_loopback("the fake eBay API", app).await;
        FakeEbay {
            base_url,
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
    let expected = format!("Bearer {SELLER_TOKEN}");
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
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
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let (user_id, username) = match token {
        Some(SELLER_TOKEN) => (SELLER_USER_ID, "pixelforge_digital"),
        Some(OTHER_SELLER_TOKEN) => (OTHER_SELLER_USER_ID, "other_digital_shop"),
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
