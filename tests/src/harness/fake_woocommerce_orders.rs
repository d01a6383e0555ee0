//! `PUT /wp-json/wc/v3/orders/{id}` for the fake WooCommerce store: the order's status set as
//! asked (`{"status":"completed"}`), with HTTP Basic REST auth, WooCommerce's error envelope
//! (`{code, message, data.status}`) for a bad key (401), an order the store does not have
//! (400 `woocommerce_rest_shop_order_invalid_id`, as WooCommerce answers), and 500. Every
//! request is recorded for tests to assert.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::fake_woocommerce::{StoreState, authorised, rest_error};

/// One order update as it arrived, and the status it got.
#[derive(Debug, Clone)]
pub struct OrderUpdate {
    pub order_id: String,
    pub body: Value,
    pub status: u16,
}

#[derive(Default)]
pub struct OrderUpdates {
    calls: Mutex<Vec<OrderUpdate>>,
    /// Order ids the store does not have.
    missing: Mutex<HashSet<String>>,
    failing_next: AtomicUsize,
}

impl OrderUpdates {
    pub fn calls(&self) -> Vec<OrderUpdate> {
        self.calls.lock().unwrap().clone()
    }

    /// Updates the store took (200).
    pub fn applied(&self) -> Vec<OrderUpdate> {
        self.calls()
            .into_iter()
            .filter(|c| c.status == 200)
            .collect()
    }

    /// The store has no order `order_id` (deleted): updating it answers 400.
    pub fn forget_order(&self, order_id: &str) {
        self.missing.lock().unwrap().insert(order_id.to_owned());
    }

    /// The next `count` requests answer 500.
    pub fn fail_next(&self, count: usize) {
        self.failing_next.store(count, Ordering::SeqCst);
    }
}

/// The route, merged into the fake store's router.
pub(super) fn routes() -> Router<Arc<StoreState>> {
    Router::new().route("/wp-json/wc/v3/orders/{id}", put(update_order))
}

async fn update_order(
    State(store): State<Arc<StoreState>>,
    Path(order_id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let state = &store.order_updates;
    let response = if authorised(&store, &headers, None, None) {
        answer(state, &order_id, &parsed)
    } else {
        rest_error(
            StatusCode::UNAUTHORIZED,
            "woocommerce_rest_authentication_error",
            "Consumer key is invalid.",
        )
    };
    state.calls.lock().unwrap().push(OrderUpdate {
        order_id,
        body: parsed,
        status: response.status().as_u16(),
    });
    response
}

fn answer(state: &OrderUpdates, order_id: &str, body: &Value) -> Response {
    if state
        .failing_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return rest_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_server_error",
            "There has been a critical error on this website.",
        );
    }
    let Ok(id) = order_id.parse::<u64>() else {
        return rest_error(
            StatusCode::NOT_FOUND,
            "rest_no_route",
            "No route was found matching the URL and request method.",
        );
    };
    if state.missing.lock().unwrap().contains(order_id) {
        return rest_error(
            StatusCode::BAD_REQUEST,
            "woocommerce_rest_shop_order_invalid_id",
            "Invalid ID.",
        );
    }
    let Some(status) = body["status"].as_str() else {
        return rest_error(
            StatusCode::BAD_REQUEST,
            "rest_invalid_param",
            "Invalid parameter(s): status",
        );
    };
    Json(json!({ "id": id, "status": status })).into_response()
}
