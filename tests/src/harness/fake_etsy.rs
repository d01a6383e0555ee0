//! A local stand-in for Etsy's Open API v3: `getShopReceipts` with its rate-limit headers and
//! 429s, and the OAuth refresh grant, rotating (see `fixtures/etsy/` and `fake_etsy_tokens`);
//! `getShopReceipt` and the signed `order.paid` webhook sender in [`webhooks`], the connect
//! flow and `getMe` in [`oauth`].

#[path = "fake_etsy_webhooks.rs"]
pub mod webhooks;

#[path = "fake_etsy_oauth.rs"]
pub mod oauth;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

pub const KEYSTRING: &str = "1aa2bb33c44d55eeeeee6fff";
pub const SHARED_SECRET: &str = "fixturesharedsecret";
pub const USER_ID: &str = "87654321";
pub const REFRESH_TOKEN: &str = "87654321.JNGIJtvLmwfDMhlYoOJl8aLR1BWottyHC6yhNcET";
pub const DAILY_LIMIT: i64 = 10_000;

pub(super) struct EtsyState {
    /// shop id → receipts as Etsy would return them.
    receipts: Arc<Mutex<BTreeMap<String, Vec<Value>>>>,
    tokens: Arc<super::fake_etsy_tokens::EtsyTokens>,
    /// Shops' listings and inventories.
    pub(super) listings: super::fake_etsy_listings::Shops,
    /// `retry-after` seconds of the next answers that will be 429s.
    throttled: Mutex<VecDeque<u64>>,
    remaining_today: AtomicI64,
    receipt_requests: AtomicUsize,
    single_receipt_requests: AtomicUsize,
    /// Query strings of every receipts request, in order.
    queries: Mutex<Vec<String>>,
    shipments: Arc<super::fake_etsy_shipment::Shipments>,
    oauth: oauth::OAuth,
}

/// The running fake; stops when dropped.
pub struct FakeEtsy {
    pub base_url: String,
    state: Arc<EtsyState>,
    server: JoinHandle<()>,
}

impl FakeEtsy {
    pub async fn start() -> Self {
        let tokens: Arc<super::fake_etsy_tokens::EtsyTokens> = Arc::default();
        let honoured = tokens.clone();
        let receipt_store: Arc<Mutex<BTreeMap<String, Vec<Value>>>> = Arc::default();
        let shipped_receipts = receipt_store.clone();
        // A shipment Etsy took shows on the receipt as `is_shipped`. Its status and update
        // time are left as the test set them, so a test's timeline stays its own.
        let on_shipped = move |shop_id: &str, receipt_id: &str| {
            let mut shops = shipped_receipts.lock().unwrap();
            let receipts = shops.get_mut(shop_id).into_iter().flatten();
            let id = receipt_id.parse::<u64>().ok();
            for receipt in receipts.filter(|r| r["receipt_id"].as_u64() == id) {
                receipt["is_shipped"] = json!(true);
            }
        };
        let state = Arc::new(EtsyState {
            receipts: receipt_store,
            tokens: tokens.clone(),
            throttled: Mutex::default(),
            remaining_today: AtomicI64::new(DAILY_LIMIT),
            receipt_requests: AtomicUsize::new(0),
            single_receipt_requests: AtomicUsize::new(0),
            queries: Mutex::default(),
            shipments: Arc::new(super::fake_etsy_shipment::Shipments::new(
                Arc::new(move |token| honoured.access_token_works(token)),
                Arc::new(on_shipped),
            )),
            listings: Default::default(),
            oauth: Default::default(),
        });
        let app = Router::new()
            .route("/v3/application/shops/{shop_id}/receipts", get(receipts))
            .merge(super::fake_etsy_listings::routes())
            .merge(webhooks::routes())
            .merge(oauth::routes())
            .with_state(state.clone())
            .merge(super::fake_etsy_shipment::routes(state.shipments.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake Etsy API");
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("fake Etsy API serves");
        });
        FakeEtsy {
            base_url,
            state,
            server,
        }
    }

    /// Adds (or replaces, by `receipt_id`) a receipt of `shop_id`.
    pub fn put_receipt(&self, shop_id: &str, receipt: Value) {
        let mut shops = self.state.receipts.lock().unwrap();
        let receipts = shops.entry(shop_id.to_owned()).or_default();
        receipts.retain(|r| r["receipt_id"] != receipt["receipt_id"]);
        receipts.push(receipt);
    }

    /// A valid access token, as the connect flow would have obtained.
    pub fn issue_access_token(&self) -> String {
        self.state.tokens.issue_access_token()
    }

    /// Every access token stops working (as after its hour), forcing a refresh.
    pub fn expire_access_tokens(&self) {
        self.state.tokens.expire_access_tokens();
    }

    /// Access tokens issued from now on live `secs` (Etsy: 3600).
    pub fn set_access_token_lifetime(&self, secs: u64) {
        self.state.tokens.set_access_lifetime(secs);
    }

    /// Each refresh answers only after `delay` (two refreshes then overlap).
    pub fn set_refresh_delay(&self, delay: std::time::Duration) {
        self.state.tokens.set_refresh_delay(delay);
    }

    /// The seller changed their password: every token is dead, and a refresh answers
    /// `invalid_grant` / `refresh_token is revoked`.
    pub fn revoke_tokens(&self) {
        self.state.tokens.revoke_all();
    }

    /// Whether Etsy would still take `refresh_token` (a rotated-away one it would not).
    pub fn refresh_token_works(&self, refresh_token: &str) -> bool {
        self.state.tokens.refresh_token_works(refresh_token)
    }

    /// Whether Etsy takes `access_token` now.
    pub fn access_token_works(&self, access_token: &str) -> bool {
        self.state.tokens.access_token_works(access_token)
    }

    /// The next receipts request answers 429 with `retry-after: seconds`.
    pub fn throttle_next(&self, retry_after_secs: u64) {
        self.state
            .throttled
            .lock()
            .unwrap()
            .push_back(retry_after_secs);
    }

    pub fn set_remaining_today(&self, remaining: i64) {
        self.state
            .remaining_today
            .store(remaining, Ordering::SeqCst);
    }

    pub fn receipt_requests(&self) -> usize {
        self.state.receipt_requests.load(Ordering::SeqCst)
    }

    /// createReceiptShipment: what arrived, and switches for Etsy's refusals.
    pub fn shipments(&self) -> &super::fake_etsy_shipment::Shipments {
        &self.state.shipments
    }

    /// Refreshes Etsy granted (refused ones do not count).
    pub fn refreshes(&self) -> usize {
        self.state.tokens.refreshes()
    }

    pub fn receipt_queries(&self) -> Vec<String> {
        self.state.queries.lock().unwrap().clone()
    }

    /// The shops' listings and inventories the listings routes answer.
    pub fn listings(&self) -> &super::fake_etsy_listings::Shops {
        &self.state.listings
    }
}

impl Drop for FakeEtsy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub(super) fn etsy_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// The 403 / 401 Etsy answers a call without the app's `x-api-key` (`keystring:secret`) or a
/// current access token; None when both are good.
pub(super) fn credentials_refused(state: &EtsyState, headers: &HeaderMap) -> Option<Response> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    match header("x-api-key").split_once(':') {
        None => {
            return Some(etsy_error(
                StatusCode::FORBIDDEN,
                "Shared secret is required in x-api-key header.",
            ));
        }
        Some((key, secret)) if key != KEYSTRING || secret != SHARED_SECRET => {
            return Some(etsy_error(
                StatusCode::FORBIDDEN,
                "Invalid API key: should be in the format 'keystring:shared_secret'.",
            ));
        }
        Some(_) => {}
    }
    let token = header("authorization")
        .strip_prefix("Bearer ")
        .unwrap_or_default();
    if !state.tokens.access_token_works(token) {
        return Some(super::fake_etsy_tokens::refused_access_token());
    }
    None
}

#[derive(Deserialize)]
struct ReceiptsQuery {
    min_last_modified: Option<u64>,
    was_paid: Option<bool>,
    sort_on: Option<String>,
    sort_order: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

async fn receipts(
    State(state): State<Arc<EtsyState>>,
    Path(shop_id): Path<String>,
    headers: HeaderMap,
    raw_query: axum::extract::RawQuery,
    Query(query): Query<ReceiptsQuery>,
) -> Response {
    state.receipt_requests.fetch_add(1, Ordering::SeqCst);
    state
        .queries
        .lock()
        .unwrap()
        .push(raw_query.0.unwrap_or_default());
    if let Some(refusal) = credentials_refused(&state, &headers) {
        return refusal;
    }
    if let Some(retry_after) = state.throttled.lock().unwrap().pop_front() {
        // Older docs: no x-limit-* headers on a 429.
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", retry_after.to_string())],
            Json(json!({ "error": "You have exceeded your quota." })),
        )
            .into_response();
    }
    let limit = query.limit.unwrap_or(25);
    if !(1..=100).contains(&limit) {
        return etsy_error(
            StatusCode::BAD_REQUEST,
            "Expected int limit to be between 1 and 100.",
        );
    }
    let sort_key = match query.sort_on.as_deref().unwrap_or("created") {
        "created" => "create_timestamp",
        "updated" => "update_timestamp",
        "receipt_id" => "receipt_id",
        _ => return etsy_error(StatusCode::BAD_REQUEST, "Invalid sort_on."),
    };
    let mut matching: Vec<Value> = state
        .receipts
        .lock()
        .unwrap()
        .get(&shop_id)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|r| {
            query
                .min_last_modified
                .is_none_or(|min| r["update_timestamp"].as_u64().unwrap_or(0) >= min)
        })
        .filter(|r| {
            query
                .was_paid
                .is_none_or(|paid| r["is_paid"].as_bool() == Some(paid))
        })
        .collect();
    matching.sort_by_key(|r| (r[sort_key].as_u64(), r["receipt_id"].as_u64()));
    if query.sort_order.as_deref().unwrap_or("desc") == "desc" {
        matching.reverse();
    }
    let count = matching.len();
    let results: Vec<Value> = matching
        .into_iter()
        .skip(query.offset.unwrap_or(0))
        .take(limit)
        .collect();
    let remaining = state.remaining_today.fetch_sub(1, Ordering::SeqCst) - 1;
    (
        [
            ("x-limit-per-second", "10".to_owned()),
            ("x-remaining-this-second", "9".to_owned()),
            ("x-limit-per-day", DAILY_LIMIT.to_string()),
            ("x-remaining-today", remaining.max(0).to_string()),
        ],
        Json(json!({ "count": count, "results": results })),
    )
        .into_response()
}
