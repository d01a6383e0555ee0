//! eBay's `createShippingFulfillment` for the fake eBay API (`PLATFORMS.md` §1.6): `POST
//! /sell/fulfillment/v1/order/{orderId}/shipping_fulfillment` with the seller's user token,
//! 201 and `Location: …/shipping_fulfillment/999` for a line without tracking, and eBay's
//! error envelope for its refusals: `32200` (a line eBay does not know), `32210` (a line twice
//! in one request), `32300` (carrier without tracking number or the reverse), `34500` (new
//! tracking for a line already fulfilled: eBay wants a PUT), 409 without a body (the line is
//! fulfilled already), 500 `30500`. Every request is recorded for tests to assert.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::fake_ebay::SELLER_USER_ID;
use super::fake_ebay_tokens::UserTokens;

/// One `createShippingFulfillment` request as it arrived, and the status it got.
#[derive(Debug, Clone)]
pub struct FulfillmentCall {
    pub order_id: String,
    pub body: Value,
    pub status: u16,
}

#[derive(Default)]
pub struct Fulfillments {
    calls: Mutex<Vec<FulfillmentCall>>,
    /// `(orderId, lineItemId)` → units fulfilled.
    fulfilled: Mutex<HashMap<(String, String), u64>>,
    /// Line ids eBay answers `32200` for.
    unknown_lines: Mutex<HashSet<String>>,
    /// How many of the next requests answer 500 `30500`.
    failing_next: AtomicUsize,
}

impl Fulfillments {
    /// Every request so far, in order (refused ones too).
    pub fn calls(&self) -> Vec<FulfillmentCall> {
        self.calls.lock().unwrap().clone()
    }

    /// Requests eBay took (201).
    pub fn created(&self) -> Vec<FulfillmentCall> {
        self.calls()
            .into_iter()
            .filter(|c| c.status == 201)
            .collect()
    }

    /// eBay does not know `line_item_id`: a request naming it gets `32200`.
    pub fn forget_line(&self, line_item_id: &str) {
        self.unknown_lines
            .lock()
            .unwrap()
            .insert(line_item_id.to_owned());
    }

    /// The next `count` requests answer 500 `30500` (eBay's system error).
    pub fn fail_next(&self, count: usize) {
        self.failing_next.store(count, Ordering::SeqCst);
    }
}

/// The route, merged into the fake eBay API's router; the seller's user tokens are those
/// `tokens` takes.
pub(super) fn routes(state: Arc<Fulfillments>, tokens: Arc<UserTokens>) -> Router {
    Router::new()
        .route(
            "/sell/fulfillment/v1/order/{order_id}/shipping_fulfillment",
            post(create_shipping_fulfillment),
        )
        .with_state((state, tokens))
}

fn fulfillment_error(status: StatusCode, error_id: u64, category: &str, message: &str) -> Response {
    let body = json!({ "errors": [{ "errorId": error_id, "domain": "API_FULFILLMENT",
        "category": category, "message": message }]});
    (status, Json(body)).into_response()
}

async fn create_shipping_fulfillment(
    State((state, tokens)): State<(Arc<Fulfillments>, Arc<UserTokens>)>,
    Path(order_id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let response = answer(&state, &tokens, &order_id, &headers, &parsed);
    state.calls.lock().unwrap().push(FulfillmentCall {
        order_id,
        body: parsed,
        status: response.status().as_u16(),
    });
    response
}

fn answer(
    state: &Fulfillments,
    tokens: &UserTokens,
    order_id: &str,
    headers: &HeaderMap,
    body: &Value,
) -> Response {
    let header = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    if state
        .failing_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return fulfillment_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            30500,
            "APPLICATION",
            "System error",
        );
    }
    let authorization = header(header::AUTHORIZATION);
    let user = authorization
        .strip_prefix("Bearer ")
        .and_then(|token| tokens.user_of(token));
    if user.as_deref() != Some(SELLER_USER_ID) {
        let body = json!({ "errors": [{ "errorId": 1001, "domain": "OAuth", "category": "REQUEST",
            "message": "Invalid access token" }]});
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    if !header(header::CONTENT_TYPE).starts_with("application/json") {
        return fulfillment_error(
            StatusCode::BAD_REQUEST,
            32600,
            "REQUEST",
            "Invalid input data",
        );
    }
    let Some(lines) = body["lineItems"].as_array().filter(|l| !l.is_empty()) else {
        return fulfillment_error(
            StatusCode::BAD_REQUEST,
            32600,
            "REQUEST",
            "Invalid input data",
        );
    };
    let tracking = body["trackingNumber"].as_str().is_some();
    if tracking != body["shippingCarrierCode"].as_str().is_some() {
        return fulfillment_error(
            StatusCode::BAD_REQUEST,
            32300,
            "REQUEST",
            "Invalid shipment tracking number or carrier",
        );
    }
    let mut named = HashSet::new();
    let mut asked = Vec::new();
    for line in lines {
        let (Some(id), quantity) = (line["lineItemId"].as_str(), line["quantity"].as_u64()) else {
            return fulfillment_error(
                StatusCode::BAD_REQUEST,
                32200,
                "REQUEST",
                "Invalid line item id",
            );
        };
        if state.unknown_lines.lock().unwrap().contains(id) {
            return fulfillment_error(
                StatusCode::BAD_REQUEST,
                32200,
                "REQUEST",
                "Invalid line item id",
            );
        }
        if !named.insert(id.to_owned()) {
            return fulfillment_error(
                StatusCode::BAD_REQUEST,
                32210,
                "REQUEST",
                "Duplicate line item in the request",
            );
        }
        asked.push((id.to_owned(), quantity.unwrap_or(1)));
    }
    let mut fulfilled = state.fulfilled.lock().unwrap();
    if asked
        .iter()
        .any(|(id, _)| fulfilled.contains_key(&(order_id.to_owned(), id.clone())))
    {
        if tracking {
            return fulfillment_error(
                StatusCode::BAD_REQUEST,
                34500,
                "REQUEST",
                "Please use PUT operation for updating shipping fulfillment",
            );
        }
        return StatusCode::CONFLICT.into_response();
    }
    for (id, quantity) in asked {
        fulfilled.insert((order_id.to_owned(), id), quantity);
    }
    // Without tracking, the fulfillment id "defaults to an arbitrary number such as 999".
    let location = format!(
        "http://{}/sell/fulfillment/v1/order/{order_id}/shipping_fulfillment/999",
        header(header::HOST)
    );
    (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(json!({})),
    )
        .into_response()
}
