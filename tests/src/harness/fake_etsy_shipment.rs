//! Etsy's `createReceiptShipment` for the fake Etsy API (`PLATFORMS.md` §2.6): `POST
//! /v3/application/shops/{shop_id}/receipts/{receipt_id}/tracking` with the app's `x-api-key`
//! and a user token, its fields as JSON or as a form (older SDKs send form), 200 with the
//! `ShopReceipt` marked shipped; errors as `{"error":"…"}`, including 409 for a receipt Etsy
//! will not ship and 500. Every request is recorded for tests to assert.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use serde_json::{Value, json};

use super::fake_etsy::{KEYSTRING, SHARED_SECRET};

/// One `createReceiptShipment` request: its fields (JSON or form, as a JSON object), the
/// content type it came as, and the status it got.
#[derive(Debug, Clone)]
pub struct ShipmentCall {
    pub shop_id: String,
    pub receipt_id: String,
    pub content_type: String,
    pub fields: Value,
    pub status: u16,
}

/// Whether a bearer token is one the fake Etsy API issued and still honours.
pub type TokenCheck = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Called with `(shop_id, receipt_id)` for each shipment Etsy took.
pub type OnShipped = Arc<dyn Fn(&str, &str) + Send + Sync>;

pub struct Shipments {
    calls: Mutex<Vec<ShipmentCall>>,
    /// receipt id → the message of the 409 Etsy answers for it.
    refused: Mutex<HashMap<String, String>>,
    failing_next: AtomicUsize,
    /// Shipments taken whose answer is then lost (a 500 after the fact).
    losing_next: AtomicUsize,
    token_valid: TokenCheck,
    on_shipped: OnShipped,
}

impl Shipments {
    pub fn new(token_valid: TokenCheck, on_shipped: OnShipped) -> Self {
        Shipments {
            calls: Mutex::default(),
            refused: Mutex::default(),
            failing_next: AtomicUsize::new(0),
            losing_next: AtomicUsize::new(0),
            token_valid,
            on_shipped,
        }
    }

    pub fn calls(&self) -> Vec<ShipmentCall> {
        self.calls.lock().unwrap().clone()
    }

    /// Requests Etsy took (200).
    pub fn shipped(&self) -> Vec<ShipmentCall> {
        self.calls()
            .into_iter()
            .filter(|c| c.status == 200)
            .collect()
    }

    /// Etsy answers 409 `{"error": message}` for `receipt_id`.
    pub fn refuse(&self, receipt_id: &str, message: &str) {
        self.refused
            .lock()
            .unwrap()
            .insert(receipt_id.to_owned(), message.to_owned());
    }

    /// The next `count` shipments are taken (and recorded as taken) but answer 500, as when
    /// the answer is lost on its way back.
    pub fn lose_next_answers(&self, count: usize) {
        self.losing_next.store(count, Ordering::SeqCst);
    }

    /// The next `count` requests answer 500.
    pub fn fail_next(&self, count: usize) {
        self.failing_next.store(count, Ordering::SeqCst);
    }
}

/// The route, merged into the fake Etsy API's router.
pub fn routes(state: Arc<Shipments>) -> Router {
    Router::new()
        .route(
            "/v3/application/shops/{shop_id}/receipts/{receipt_id}/tracking",
            post(create_receipt_shipment),
        )
        .with_state(state)
}

fn etsy_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

async fn create_receipt_shipment(
    State(state): State<Arc<Shipments>>,
    Path((shop_id, receipt_id)): Path<(String, String)>,
    request: Request,
) -> Response {
    let headers = request.headers().clone();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let fields: Option<Value> = if content_type.starts_with("application/json") {
        match Bytes::from_request(request, &()).await {
            Ok(body) => serde_json::from_slice(&body).ok().filter(Value::is_object),
            Err(_) => None,
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        Form::<HashMap<String, String>>::from_request(request, &())
            .await
            .ok()
            .map(|Form(pairs)| {
                Value::Object(
                    pairs
                        .into_iter()
                        .map(|(k, v)| (k, Value::String(v)))
                        .collect(),
                )
            })
    } else {
        None
    };
    let response = answer(&state, &shop_id, &receipt_id, &headers, fields.as_ref());
    state.calls.lock().unwrap().push(ShipmentCall {
        shop_id,
        receipt_id,
        content_type,
        fields: fields.unwrap_or(Value::Null),
        status: response.status().as_u16(),
    });
    let lost = response.status() == StatusCode::OK
        && state
            .losing_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
    if lost {
        return etsy_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    }
    response
}

fn answer(
    state: &Shipments,
    shop_id: &str,
    receipt_id: &str,
    headers: &HeaderMap,
    fields: Option<&Value>,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    match header("x-api-key").split_once(':') {
        None => {
            return etsy_error(
                StatusCode::FORBIDDEN,
                "Shared secret is required in x-api-key header.",
            );
        }
        Some((key, secret)) if key != KEYSTRING || secret != SHARED_SECRET => {
            return etsy_error(
                StatusCode::FORBIDDEN,
                "Invalid API key: should be in the format 'keystring:shared_secret'.",
            );
        }
        Some(_) => {}
    }
    let token = header("authorization")
        .strip_prefix("Bearer ")
        .unwrap_or_default();
    if !(state.token_valid)(token) {
        return etsy_error(StatusCode::UNAUTHORIZED, "invalid_token");
    }
    if state
        .failing_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return etsy_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    }
    let Some(fields) = fields else {
        return etsy_error(
            StatusCode::BAD_REQUEST,
            "The request body must be JSON or form-encoded.",
        );
    };
    // Tracking code and carrier go together; without both the receipt is only marked shipped.
    if fields["tracking_code"].is_string() != fields["carrier_name"].is_string() {
        return etsy_error(
            StatusCode::BAD_REQUEST,
            "tracking_code and carrier_name must be sent together.",
        );
    }
    if let Some(message) = state.refused.lock().unwrap().get(receipt_id) {
        return etsy_error(StatusCode::CONFLICT, message);
    }
    let (Ok(receipt), Ok(shop)) = (receipt_id.parse::<u64>(), shop_id.parse::<u64>()) else {
        return etsy_error(StatusCode::NOT_FOUND, "Receipt not found.");
    };
    let now = super::unix_now();
    (state.on_shipped)(shop_id, receipt_id);
    Json(json!({
        "receipt_id": receipt,
        "receipt_type": 0,
        "seller_user_id": super::fake_etsy::USER_ID.parse::<u64>().unwrap_or_default(),
        "status": "Completed",
        "is_paid": true,
        "is_shipped": true,
        "shop_id": shop,
        "shipments": [{
            "receipt_shipping_id": null,
            "shipment_notification_timestamp": now,
            "carrier_name": fields["carrier_name"],
            "tracking_code": fields["tracking_code"],
        }],
        "update_timestamp": now,
    }))
    .into_response()
}
