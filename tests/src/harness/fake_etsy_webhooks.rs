//! Etsy's push side in the fake: `getShopReceipt` (the one receipt a webhook names) and a
//! Standard Webhooks sender that POSTs the flat `order.paid` envelope Etsy sends
//! (`{event_type, resource_url, shop_id}`, PLATFORMS.md §2.3), signed `v1,<base64>`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use shared::standard_webhooks::{
    ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookSecret, sign,
};

use super::{EtsyState, FakeEtsy, etsy_error};

/// The app's webhook signing secret the tests configure on both sides (`whsec_` + base64).
pub const WEBHOOK_SECRET: &str = "whsec_ZmFrZS1ldHN5LXdlYmhvb2stc2lnbmluZy1rZXk=";

/// The single-receipt route, merged into the fake's router.
pub(super) fn routes() -> Router<Arc<EtsyState>> {
    Router::new().route(
        "/v3/application/shops/{shop_id}/receipts/{receipt_id}",
        get(receipt),
    )
}

async fn receipt(
    State(state): State<Arc<EtsyState>>,
    Path((shop_id, receipt_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    state.single_receipt_requests.fetch_add(1, Ordering::SeqCst);
    if let Some(refusal) = super::credentials_refused(&state, &headers) {
        return refusal;
    }
    let wanted = receipt_id.parse::<u64>().ok();
    let found = state
        .receipts
        .lock()
        .unwrap()
        .get(&shop_id)
        .and_then(|receipts| {
            receipts
                .iter()
                .find(|r| wanted.is_some() && r["receipt_id"].as_u64() == wanted)
                .cloned()
        });
    match found {
        Some(receipt) => axum::Json(receipt).into_response(),
        None => etsy_error(
            StatusCode::NOT_FOUND,
            &format!("Receipt {receipt_id} does not exist."),
        ),
    }
}

/// A signed delivery as Etsy makes it: body and the three Standard Webhooks headers.
pub struct SignedDelivery {
    pub id: String,
    pub timestamp: u64,
    pub signature: String,
    pub body: String,
}

const RECEIPTS: &str = include_str!("../../../fixtures/etsy/get-shop-receipts.response.json");

/// A paid receipt of listing 4242 (the fixture's first), updated a moment ago: what an
/// `order.paid` names once [`FakeEtsy::put_receipt`] holds it.
pub fn paid_receipt(receipt_id: u64) -> Value {
    let mut receipt = serde_json::from_str::<Value>(RECEIPTS).unwrap()["results"][0].clone();
    let now = super::super::unix_now();
    receipt["receipt_id"] = receipt_id.into();
    receipt["status"] = "Paid".into();
    receipt["is_paid"] = true.into();
    receipt["update_timestamp"] = now.into();
    receipt["updated_timestamp"] = now.into();
    let mut line = receipt["transactions"][0].clone();
    line["transaction_id"] = (receipt_id * 10).into();
    line["receipt_id"] = receipt_id.into();
    line["listing_id"] = 4242.into();
    line["product_id"] = Value::Null;
    line["quantity"] = 1.into();
    receipt["transactions"] = json!([line]);
    receipt
}

/// The flat `order.paid` envelope Etsy sends for `receipt_id` of `shop_id` (a JSON number).
pub fn order_paid_body(shop_id: u64, receipt_id: u64) -> String {
    json!({
        "event_type": "order.paid",
        "resource_url": format!("https://openapi.etsy.com/v3/application/shops/{shop_id}/receipts/{receipt_id}"),
        "shop_id": shop_id,
    })
    .to_string()
}

/// `body` signed with `secret` as message `id` at `timestamp` (unix seconds).
pub fn signed(secret: &str, id: &str, timestamp: u64, body: String) -> SignedDelivery {
    let key = WebhookSecret::parse(secret).expect("a whsec_ secret");
    SignedDelivery {
        id: id.to_owned(),
        timestamp,
        signature: sign(&key, id, timestamp, body.as_bytes()),
        body,
    }
}

impl FakeEtsy {
    /// How many single receipts were requested (`getShopReceipt`).
    pub fn single_receipt_requests(&self) -> usize {
        self.state.single_receipt_requests.load(Ordering::SeqCst)
    }

    /// POSTs `delivery` to `url` as Etsy's webhook sender does.
    pub async fn deliver(&self, url: &str, delivery: &SignedDelivery) -> reqwest::Response {
        reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .header(ID_HEADER, &delivery.id)
            .header(TIMESTAMP_HEADER, delivery.timestamp.to_string())
            .header(SIGNATURE_HEADER, &delivery.signature)
            .body(delivery.body.clone())
            .send()
            .await
            .expect("the webhook endpoint answers")
    }

    /// Signs and POSTs `order.paid` for a receipt of `shop_id` to `url`, now.
    pub async fn post_order_paid(
        &self,
        url: &str,
        secret: &str,
        shop_id: u64,
        receipt_id: u64,
    ) -> reqwest::Response {
        let id = format!("msg_{receipt_id}_{}", super::super::unix_now());
        let delivery = signed(
            secret,
            &id,
            super::super::unix_now(),
            order_paid_body(shop_id, receipt_id),
        );
        self.deliver(url, &delivery).await
    }
}
