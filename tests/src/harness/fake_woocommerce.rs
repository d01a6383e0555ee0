//! A local stand-in for a WooCommerce store's REST API (orders list, webhook registration) that
//! can also act as the store's webhook sender: signed deliveries and the creation ping, with the
//! headers and PHP-style JSON bytes WooCommerce sends (see `fixtures/woocommerce/`).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

pub const CONSUMER_KEY: &str = "ck_fixture0a1b2c3d4e5f60718293a4b5c6d7e8f9";
pub const CONSUMER_SECRET: &str = "cs_fixture9f8e7d6c5b4a39281706f5e4d3c2b1a0";
const USER_AGENT: &str = "WooCommerce/9.4.1 Hookshot (WordPress/6.7.1)";

/// A webhook the store was asked to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredWebhook {
    pub id: u64,
    pub topic: String,
    pub delivery_url: String,
    pub secret: Option<String>,
    /// What the creation ping got back (WooCommerce wants exactly 200).
    pub ping_status: Option<u16>,
}

#[derive(Default)]
pub(super) struct StoreState {
    pub(super) granted_keys: GrantedKeys,
    /// The key grant flow's switches and record (`fake_woocommerce_auth`).
    pub(super) auth: super::fake_woocommerce_auth::AuthState,
    orders: Mutex<Vec<Value>>,
    webhooks: Mutex<Vec<RegisteredWebhook>>,
    next_webhook_id: AtomicU64,
    order_list_requests: AtomicUsize,
    /// When set: the `X-WP-TotalPages` the orders list claims, every page past the real ones
    /// repeating the last (a store whose pages never end).
    claimed_pages: Mutex<Option<usize>>,
    /// How long each orders list request takes.
    list_delay: Mutex<Duration>,
    /// The `page` of every orders list request, in order.
    pages_requested: Mutex<Vec<usize>>,
    /// Each order's refunds, as `GET …/orders/{id}/refunds` lists them.
    refunds: Mutex<Vec<(u64, Value)>>,
    refund_list_requests: AtomicUsize,
    /// While set, the refunds list answers 503 (a store that is down).
    refunds_down: std::sync::atomic::AtomicBool,
    pub(super) order_updates: Arc<super::fake_woocommerce_orders::OrderUpdates>,
}

/// The running fake store; stops when dropped.
pub struct FakeWooCommerce {
    pub base_url: String,
    /// The products and variations the REST API lists.
    pub catalog: super::fake_woocommerce_products::Catalog,
    pub(super) state: Arc<StoreState>,
    server: JoinHandle<()>,
}

impl FakeWooCommerce {
    pub async fn start() -> Self {
        let state = Arc::new(StoreState {
            next_webhook_id: AtomicU64::new(42),
            ..StoreState::default()
        });
        let catalog = super::fake_woocommerce_products::Catalog::new(state.granted_keys.clone());
        let app = Router::new()
            .route("/wp-json/wc/v3/orders", get(list_orders))
            .route("/wp-json/wc/v3/orders/{id}/refunds", get(list_refunds))
            .route("/wp-json/wc/v3/webhooks", post(create_webhook))
            .route("/wp-json/wc/v3/webhooks/{id}", put(update_webhook))
            .merge(super::fake_woocommerce_auth::routes())
            .merge(super::fake_woocommerce_orders::routes())
            .merge(super::fake_woocommerce_products::routes(catalog.clone()))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake WooCommerce store");
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("fake WooCommerce serves");
        });
        FakeWooCommerce {
            base_url,
            catalog,
            state,
            server,
        }
    }

    /// Adds (or replaces, by `id`) an order the REST API lists.
    pub fn put_order(&self, order: Value) {
        let mut orders = self.state.orders.lock().unwrap();
        orders.retain(|o| o["id"] != order["id"]);
        orders.push(order);
    }

    /// Adds a refund of order `order_id` (as [`line_refund`] builds it) to its refunds list.
    pub fn add_refund(&self, order_id: u64, refund: Value) {
        self.state.refunds.lock().unwrap().push((order_id, refund));
    }

    pub fn refund_list_requests(&self) -> usize {
        self.state.refund_list_requests.load(Ordering::SeqCst)
    }

    /// From now on (until called with false) the refunds list answers 503.
    pub fn take_refunds_down(&self, down: bool) {
        self.state.refunds_down.store(down, Ordering::SeqCst);
    }

    /// `PUT …/orders/{id}`: what arrived, and switches for the store's refusals.
    pub fn order_updates(&self) -> &super::fake_woocommerce_orders::OrderUpdates {
        &self.state.order_updates
    }

    pub fn webhooks(&self) -> Vec<RegisteredWebhook> {
        self.state.webhooks.lock().unwrap().clone()
    }

    pub fn order_list_requests(&self) -> usize {
        self.state.order_list_requests.load(Ordering::SeqCst)
    }

    /// From now on the orders list answers `X-WP-TotalPages: pages` and never runs out: a
    /// page past the real ones repeats the last real page (at least one order is listed).
    pub fn claim_endless_pages(&self, pages: usize) {
        *self.state.claimed_pages.lock().unwrap() = Some(pages);
    }

    /// From now on each orders list request takes `delay` before it answers.
    pub fn slow_down_order_lists(&self, delay: Duration) {
        *self.state.list_delay.lock().unwrap() = delay;
    }

    /// The `page` parameter of every orders list request so far, in order.
    pub fn pages_requested(&self) -> Vec<usize> {
        self.state.pages_requested.lock().unwrap().clone()
    }

    /// Sends `body` to `delivery_url` as WooCommerce delivers a webhook, signed with `secret`.
    pub async fn deliver(
        delivery_url: &str,
        secret: &str,
        topic: &str,
        body: &[u8],
    ) -> reqwest::Response {
        Self::deliver_from(
            "https://shop.example.com/",
            delivery_url,
            secret,
            topic,
            body,
        )
        .await
    }

    /// [`FakeWooCommerce::deliver`] from the store whose `home_url('/')` is `source`.
    pub async fn deliver_from(
        source: &str,
        delivery_url: &str,
        secret: &str,
        topic: &str,
        body: &[u8],
    ) -> reqwest::Response {
        let (resource, event) = topic.split_once('.').unwrap_or((topic, ""));
        let signature = shared::woo::woocommerce_signature(secret.as_bytes(), body);
        reqwest::Client::new()
            .post(delivery_url)
            .header("Content-Type", "application/json")
            .header("User-Agent", USER_AGENT)
            .header("X-WC-Webhook-Source", source)
            .header("X-WC-Webhook-Topic", topic)
            .header("X-WC-Webhook-Resource", resource)
            .header("X-WC-Webhook-Event", event)
            .header("X-WC-Webhook-Signature", signature)
            .header("X-WC-Webhook-ID", "42")
            .header(
                "X-WC-Webhook-Delivery-ID",
                "b1946ac92492d2347c6235b4d2611184",
            )
            .body(body.to_vec())
            .send()
            .await
            .expect("deliver the webhook")
    }
}

impl Drop for FakeWooCommerce {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// JSON as PHP's `json_encode` writes it (WooCommerce's wire format): compact, `/` as `\/`,
/// every non-ASCII character as `\uXXXX`.
pub fn php_json_encode(value: &Value) -> Vec<u8> {
    let compact = serde_json::to_string(value).expect("JSON values serialise");
    let mut out = String::with_capacity(compact.len());
    for ch in compact.chars() {
        match ch {
            '/' => out.push_str("\\/"),
            c if c.is_ascii() => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.into_bytes()
}

pub(super) fn rest_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({ "code": code, "message": message, "data": { "status": status.as_u16() } });
    (status, Json(body)).into_response()
}

/// Keys the store granted through `/wc-auth/v1/authorize` (and did not delete).
pub(super) type GrantedKeys = Arc<Mutex<Vec<(String, String)>>>;

/// HTTP Basic with the consumer key and secret, or the same pair as query parameters.
pub(super) fn authorised(
    state: &StoreState,
    headers: &HeaderMap,
    query_key: Option<&str>,
    query_secret: Option<&str>,
) -> bool {
    key_authorised(&state.granted_keys, headers, query_key, query_secret)
}

/// [`authorised`], for a handler that holds only the granted keys.
pub(super) fn key_authorised(
    granted_keys: &GrantedKeys,
    headers: &HeaderMap,
    query_key: Option<&str>,
    query_secret: Option<&str>,
) -> bool {
    let granted = granted_keys.lock().unwrap().iter().any(|(key, secret)| {
        let basic = format!("Basic {}", BASE64.encode(format!("{key}:{secret}")));
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            == Some(basic.as_str())
    });
    let expected = format!(
        "Basic {}",
        BASE64.encode(format!("{CONSUMER_KEY}:{CONSUMER_SECRET}"))
    );
    granted
        || headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            == Some(expected.as_str())
        || (query_key == Some(CONSUMER_KEY) && query_secret == Some(CONSUMER_SECRET))
}

#[derive(Deserialize)]
struct OrdersQuery {
    status: Option<String>,
    modified_after: Option<String>,
    per_page: Option<usize>,
    page: Option<usize>,
    consumer_key: Option<String>,
    consumer_secret: Option<String>,
}

async fn list_orders(
    State(state): State<Arc<StoreState>>,
    headers: HeaderMap,
    Query(query): Query<OrdersQuery>,
) -> Response {
    state.order_list_requests.fetch_add(1, Ordering::SeqCst);
    let delay = *state.list_delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let page = query.page.unwrap_or(1).max(1);
    state.pages_requested.lock().unwrap().push(page);
    if !authorised(
        &state,
        &headers,
        query.consumer_key.as_deref(),
        query.consumer_secret.as_deref(),
    ) {
        return rest_error(
            StatusCode::UNAUTHORIZED,
            "woocommerce_rest_cannot_view",
            "Sorry, you cannot list resources.",
        );
    }
    let per_page = query.per_page.unwrap_or(10);
    if !(1..=100).contains(&per_page) {
        return rest_error(
            StatusCode::BAD_REQUEST,
            "rest_invalid_param",
            "Invalid parameter(s): per_page",
        );
    }
    let statuses: Option<Vec<&str>> = query.status.as_deref().map(|s| s.split(',').collect());
    let mut matching: Vec<Value> = state
        .orders
        .lock()
        .unwrap()
        .iter()
        .filter(|order| {
            statuses
                .as_ref()
                .is_none_or(|s| s.contains(&order["status"].as_str().unwrap_or_default()))
        })
        .filter(|order| {
            // Same fixed-width format, so string order is time order.
            query
                .modified_after
                .as_deref()
                .is_none_or(|after| order["date_modified_gmt"].as_str().unwrap_or_default() > after)
        })
        .cloned()
        .collect();
    matching.sort_by(|a, b| {
        let key = |o: &Value| {
            (
                o["date_modified_gmt"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                o["id"].as_u64(),
            )
        };
        key(a).cmp(&key(b))
    });
    let total = matching.len();
    let mut pages = total.div_ceil(per_page).max(1);
    let claimed = *state.claimed_pages.lock().unwrap();
    // An endless store answers a page past its real ones with its last real page.
    let shown = match claimed {
        Some(claimed) => {
            let real = pages;
            pages = claimed;
            page.min(real)
        }
        None => page,
    };
    let body: Vec<Value> = matching
        .into_iter()
        .skip((shown - 1) * per_page)
        .take(per_page)
        .collect();
    (
        [
            ("X-WP-Total", total.to_string()),
            ("X-WP-TotalPages", pages.to_string()),
        ],
        Json(Value::Array(body)),
    )
        .into_response()
}

/// A refund of order `order_id` as `GET /wp-json/wc/v3/orders/{id}/refunds` lists it, taking
/// back `quantity` units of the order line `line` (an item of the order's `line_items`): its own line item with a
/// negative quantity and total, and the refunded line's id in the `_refunded_item_id` meta.
pub fn line_refund(order_id: u64, id: u64, reason: &str, line: &Value, quantity: u64) -> Value {
    let units = line["quantity"].as_u64().unwrap_or(1).max(1) as f64;
    let line_total: f64 = line["total"].as_str().unwrap_or("0").parse().unwrap_or(0.0);
    let total = line_total / units * quantity as f64;
    let negative = -(quantity as i64);
    json!({
        "id": id,
        "date_created": "2025-03-22T10:00:00",
        "date_created_gmt": "2025-03-22T09:00:00",
        "amount": format!("{total:.2}"),
        "reason": reason,
        "refunded_by": 1,
        "refunded_payment": true,
        "meta_data": [],
        "line_items": [{
            "id": id * 10 + 1,
            "name": line["name"],
            "product_id": line["product_id"],
            "variation_id": line["variation_id"],
            "quantity": negative,
            "tax_class": "",
            "subtotal": format!("{:.2}", -total),
            "subtotal_tax": "0.00",
            "total": format!("{:.2}", -total),
            "total_tax": "0.00",
            "taxes": [],
            "meta_data": [{"id": id * 10 + 2, "key": "_refunded_item_id",
                           "value": line["id"].to_string(), "display_key": "_refunded_item_id",
                           "display_value": line["id"].to_string()}],
            "sku": line["sku"],
            "price": -(line_total / units),
        }],
        "shipping_lines": [],
        "tax_lines": [],
        "fee_lines": [],
        "_links": {
            "self": [{"href": format!("https://shop.example.com/wp-json/wc/v3/orders/{order_id}/refunds/{id}")}],
        },
    })
}

#[derive(Deserialize)]
struct AuthQuery {
    consumer_key: Option<String>,
    consumer_secret: Option<String>,
}

/// `GET /wp-json/wc/v3/orders/{id}/refunds`: the order's refunds, newest first, as
/// WooCommerce lists them; 404 `woocommerce_rest_shop_order_invalid_id` for an unknown order.
async fn list_refunds(
    State(state): State<Arc<StoreState>>,
    Path(id): Path<u64>,
    headers: HeaderMap,
    Query(query): Query<AuthQuery>,
) -> Response {
    state.refund_list_requests.fetch_add(1, Ordering::SeqCst);
    if !authorised(
        &state,
        &headers,
        query.consumer_key.as_deref(),
        query.consumer_secret.as_deref(),
    ) {
        return rest_error(
            StatusCode::UNAUTHORIZED,
            "woocommerce_rest_cannot_view",
            "Sorry, you cannot list resources.",
        );
    }
    if state.refunds_down.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response();
    }
    let refunds: Vec<Value> = state
        .refunds
        .lock()
        .unwrap()
        .iter()
        .rev()
        .filter(|(order, _)| *order == id)
        .map(|(_, refund)| refund.clone())
        .collect();
    let known = state.orders.lock().unwrap().iter().any(|o| o["id"] == id);
    if refunds.is_empty() && !known {
        return rest_error(
            StatusCode::NOT_FOUND,
            "woocommerce_rest_shop_order_invalid_id",
            "Invalid ID.",
        );
    }
    let total = refunds.len();
    (
        [
            ("X-WP-Total", total.to_string()),
            ("X-WP-TotalPages", "1".to_owned()),
        ],
        Json(Value::Array(refunds)),
    )
        .into_response()
}

#[derive(Deserialize)]
struct WebhookIn {
    name: Option<String>,
    topic: Option<String>,
    delivery_url: Option<String>,
    secret: Option<String>,
}

/// `PUT /wp-json/wc/v3/webhooks/{id}` with a new `secret`: the webhook's answer, or 404
/// `woocommerce_rest_shop_webhook_invalid_id` as WooCommerce answers for an unknown id.
async fn update_webhook(
    State(state): State<Arc<StoreState>>,
    Path(id): Path<u64>,
    headers: HeaderMap,
    Json(input): Json<WebhookIn>,
) -> Response {
    if !authorised(&state, &headers, None, None) {
        return rest_error(
            StatusCode::UNAUTHORIZED,
            "woocommerce_rest_cannot_edit",
            "Sorry, you are not allowed to edit this resource.",
        );
    }
    let mut webhooks = state.webhooks.lock().unwrap();
    let Some(hook) = webhooks.iter_mut().find(|h| h.id == id) else {
        return rest_error(
            StatusCode::NOT_FOUND,
            "woocommerce_rest_shop_webhook_invalid_id",
            "Invalid ID.",
        );
    };
    if let Some(secret) = input.secret {
        hook.secret = Some(secret);
    }
    Json(json!({
        "id": hook.id,
        "status": "active",
        "topic": hook.topic,
        "delivery_url": hook.delivery_url,
    }))
    .into_response()
}

async fn create_webhook(
    State(state): State<Arc<StoreState>>,
    headers: HeaderMap,
    Json(input): Json<WebhookIn>,
) -> Response {
    if !authorised(&state, &headers, None, None) {
        return rest_error(
            StatusCode::UNAUTHORIZED,
            "woocommerce_rest_cannot_create",
            "Sorry, you are not allowed to create resources.",
        );
    }
    let topic = match input.topic.as_deref() {
        Some(t @ ("order.created" | "order.updated" | "order.deleted" | "order.restored")) => {
            t.to_owned()
        }
        _ => {
            return rest_error(
                StatusCode::BAD_REQUEST,
                "woocommerce_rest_shop_webhook_invalid_topic",
                "Webhook topic is required and must be valid.",
            );
        }
    };
    let delivery_url = match input.delivery_url {
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => url,
        _ => {
            return rest_error(
                StatusCode::BAD_REQUEST,
                "woocommerce_rest_shop_webhook_invalid_delivery_url",
                "Webhook delivery URL must be a valid URL starting with http:// or https://.",
            );
        }
    };
    let id = state.next_webhook_id.fetch_add(1, Ordering::SeqCst);
    // The ping goes out synchronously, before the 201; its result does not change the answer.
    let ping_status = reqwest::Client::new()
        .post(&delivery_url)
        .header("User-Agent", USER_AGENT)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("webhook_id={id}"))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16());
    state.webhooks.lock().unwrap().push(RegisteredWebhook {
        id,
        topic: topic.clone(),
        delivery_url: delivery_url.clone(),
        secret: input.secret,
        ping_status,
    });
    let (resource, event) = topic.split_once('.').unwrap_or((&topic, ""));
    let location = format!("https://shop.example.com/wp-json/wc/v3/webhooks/{id}");
    let body = json!({
        "id": id,
        "name": input.name.unwrap_or_else(|| format!("Webhook created on {}", "2025-03-01")),
        "status": "active",
        "topic": topic,
        "resource": resource,
        "event": event,
        "hooks": [format!("woocommerce_{}_{}", if event == "created" { "new" } else { event }, resource)],
        "delivery_url": delivery_url,
        "date_created": "2025-03-01T12:00:03",
        "date_created_gmt": "2025-03-01T11:00:03",
        "date_modified": "2025-03-01T12:00:03",
        "date_modified_gmt": "2025-03-01T11:00:03",
        "_links": { "self": [{ "href": location }], "collection": [{ "href": "https://shop.example.com/wp-json/wc/v3/webhooks" }] }
    });
    (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn php_encoding_matches_the_recorded_delivery() {
        let body = include_bytes!("../../../fixtures/woocommerce/order-created.body");
        let value: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(php_json_encode(&value), body.to_vec());
    }
}
