//! Partial refunds as the platforms really describe them. WooCommerce: an `order.updated`
//! body lists each refund as `{id, reason, total}` only, and the lines it takes back are read
//! from the store's `GET /wp-json/wc/v3/orders/{id}/refunds` with the connection's REST keys;
//! a store that cannot answer leaves the event to be retried. eBay: getOrder's
//! `lineItems[].refunds` name amounts, taken as whole units of the line's price. Nothing is
//! lost, nothing revoked twice.

use crate::common;
use crate::order_rules::{
    actions, assert_only_the_refunded_line_is_revoked, balance, download, kept_and_refunded_links,
    outbox, outbox_settles_at, product, wait_order, woo_order,
};
use crate::pipeline::upload_file;
use crate::pipeline_platforms::{
    EBAY_ORDER, code_product, connect_with_rest_keys, ebay_app, ingest,
};

use std::time::Duration;

use common::{Backend, Tenant, TestApp};
use e2e::harness::fake_ebay::FakeEbay;
use e2e::harness::fake_woocommerce::{FakeWooCommerce, line_refund, php_json_encode};
use e2e::harness::outbox::download_paths;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::internal::INGEST_PATH;

/// Forwards a webhook body of `connection_id` as the edge does once its signature checked.
async fn deliver(
    app: &TestApp,
    tenant: &Tenant,
    connection_id: &str,
    edge_id: &str,
    order: &Value,
) {
    let body = String::from_utf8(php_json_encode(order)).unwrap();
    let forwarded = json!({
        "edge_event_id": edge_id,
        "tenant_id": tenant.id,
        "platform": "woocommerce",
        "connection_id": connection_id,
        "received_at_ms": 1_764_000_000_000u64,
        "headers": {"x-wc-webhook-topic": "order.updated"},
        "body": body,
    });
    let (status, answer) = app
        .edge(Method::POST, INGEST_PATH, &forwarded.to_string())
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

async fn last_event_error(app: &TestApp, tenant: &Tenant) -> Option<String> {
    let (_, body) = app
        .get("/api/v1/events?platform=woocommerce", &tenant.key)
        .await;
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|e| e["last_error"].as_str().map(str::to_owned))
}

async fn a_refund_listed_without_lines_revokes_the_lines_the_store_lists(backend: Backend) {
    let store = FakeWooCommerce::start().await;
    let app = TestApp::spawn_configured(backend, 64 * 1024, |p| {
        p.tick = Duration::from_millis(50);
    })
    .await;
    let tenant = app.tenant(10).await;
    let kept = product(&app, &tenant, "FILE", 601, 0).await;
    upload_file(&app, &tenant, &kept, b"%PDF kept guide").await;
    let refunded = product(&app, &tenant, "FILE", 602, 0).await;
    upload_file(&app, &tenant, &refunded, b"%PDF refunded guide").await;
    let connection = connect_with_rest_keys(&app, &tenant, &store).await;
    let connection_id = connection["data"]["id"].as_str().unwrap().to_owned();
    let mut order = woo_order(9501, &[(71, 601, 1), (72, 602, 1)]);
    deliver(&app, &tenant, &connection_id, "evt_created", &order).await;
    wait_order(&app, &tenant, "9501", "delivery", |o| {
        o["status"] == "delivered"
    })
    .await;
    let emails = outbox_settles_at(&app, 1).await;
    let (kept_link, refunded_link) = kept_and_refunded_links(&app, &emails[0]).await;
    assert_eq!(store.refund_list_requests(), 0, "no refund, nothing read");

    // The seller refunds line 72 in WooCommerce; the store is down when the update arrives.
    store.take_refunds_down(true);
    let line = order["line_items"][1].clone();
    store.add_refund(9501, line_refund(9501, 1601, "wrong book", &line, 1));
    order["status"] = "completed".into();
    order["date_modified_gmt"] = "2025-03-22T09:00:00".into();
    order["refunds"] = json!([{"id": 1601, "reason": "wrong book", "total": "-13.86"}]);
    deliver(&app, &tenant, &connection_id, "evt_updated", &order).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let error = loop {
        if let Some(error) = last_event_error(&app, &tenant).await {
            break error;
        }
        assert!(std::time::Instant::now() < deadline, "no failed attempt");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(error.contains("WooCommerce refunds"), "{error}");
    let (status, _) = download(&app, &refunded_link).await;
    assert_eq!(status, StatusCode::OK, "nothing revoked yet");

    // The store is back: the retry reads the refund's lines and revokes line 72 only.
    store.take_refunds_down(false);
    wait_order(&app, &tenant, "9501", "the partial refund", |o| {
        actions(o).contains(&"partially_refunded".to_owned())
    })
    .await;
    // The same update delivered again revokes nothing more.
    deliver(&app, &tenant, &connection_id, "evt_updated_again", &order).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let after = wait_order(&app, &tenant, "9501", "settled", |_| true).await;
    assert_only_the_refunded_line_is_revoked(
        &app,
        &after,
        "72",
        (&refunded, &refunded_link),
        (&kept, &kept_link),
    )
    .await;
    assert!(
        store.refund_list_requests() >= 2,
        "read again after the failure"
    );
    assert_eq!(balance(&app, &tenant).await, 8, "no token comes back");
    assert_eq!(outbox(&app).len(), 1);
}

/// An order reconciliation finds with a refund already made (listed without its lines): the
/// refunded line is never delivered, the other one is.
async fn a_reconciled_order_refunded_before_intake_delivers_only_the_kept_line(backend: Backend) {
    let store = FakeWooCommerce::start().await;
    let app = TestApp::spawn_configured(backend, 64 * 1024, |p| {
        p.woo_reconcile_interval = Duration::from_secs(1);
        p.tick = Duration::from_millis(50);
    })
    .await;
    let tenant = app.tenant(10).await;
    let kept = product(&app, &tenant, "FILE", 601, 0).await;
    upload_file(&app, &tenant, &kept, b"%PDF kept guide").await;
    let refunded = product(&app, &tenant, "FILE", 602, 0).await;
    upload_file(&app, &tenant, &refunded, b"%PDF refunded guide").await;
    connect_with_rest_keys(&app, &tenant, &store).await;
    let mut order = woo_order(9601, &[(81, 601, 1), (82, 602, 1)]);
    let line = order["line_items"][1].clone();
    store.add_refund(9601, line_refund(9601, 1701, "wrong book", &line, 1));
    order["status"] = "completed".into();
    order["refunds"] = json!([{"id": 1701, "reason": "wrong book", "total": "-13.86"}]);
    order["date_modified_gmt"] = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
        .into();
    store.put_order(order);
    let after = wait_order(&app, &tenant, "9601", "delivery", |o| {
        o["status"] == "delivered"
    })
    .await;
    let items = after["items"].as_array().unwrap();
    let item = |product: &str| items.iter().find(|i| i["product_id"] == product).unwrap();
    assert_eq!(item(&refunded)["refunded_quantity"], 1, "{after:#}");
    assert_eq!(item(&kept)["delivery_status"], "delivered", "{after:#}");
    assert!(store.refund_list_requests() >= 1);
    let emails = outbox_settles_at(&app, 1).await;
    let links = download_paths(&emails[0]);
    assert_eq!(
        links.len(),
        1,
        "the refunded line has no link: {}",
        emails[0]
    );
    assert_eq!(balance(&app, &tenant).await, 9, "one unit charged");
}

const EBAY_GET_ORDER: &str = include_str!("../../../fixtures/ebay/get-order.response.json");

async fn an_ebay_line_refunded_revokes_its_refunded_units_only(backend: Backend) {
    let ebay = FakeEbay::start().await;
    let (app, tenant) = ebay_app(backend, ebay.base_url.clone(), ebay.base_url.clone()).await;
    let licence = code_product(&app, &tenant, json!({"ebay_item_id": "296512345678"}), 3).await;
    let ebook = code_product(&app, &tenant, json!({"ebay_sku": "EBOOK-RUST-PDF"}), 3).await;
    ingest(&app, &tenant, "ebay", "evt_1", EBAY_ORDER).await;
    wait_order(&app, &tenant, "13-12345-67890", "delivery", |o| {
        o["status"] == "delivered"
    })
    .await;
    assert_eq!(balance(&app, &tenant).await, 7, "1 + 2 units");

    // The seller refunds one of the two ebooks (9.99 of 19.98); eBay notifies the order again.
    let mut order: Value = serde_json::from_str(EBAY_GET_ORDER).unwrap();
    order["orderPaymentStatus"] = "PARTIALLY_REFUNDED".into();
    order["lastModifiedDate"] = "2025-06-21T10:00:00.000Z".into();
    order["lineItems"][1]["refunds"] = json!([{"amount": {"value": "9.99", "currency": "USD"},
        "refundDate": "2025-06-21T10:00:00.000Z", "refundId": "5012345678",
        "refundReferenceId": "ref-1"}]);
    ebay.set_order(order);
    let again = EBAY_ORDER.replace("5d0c1f3e-", "6e1d2f4a-");
    ingest(&app, &tenant, "ebay", "evt_2", &again).await;
    wait_order(&app, &tenant, "13-12345-67890", "the partial refund", |o| {
        actions(o).contains(&"partially_refunded".to_owned())
    })
    .await;
    let once_more = EBAY_ORDER.replace("5d0c1f3e-", "7f2e3a5b-");
    ingest(&app, &tenant, "ebay", "evt_3", &once_more).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let after = wait_order(&app, &tenant, "13-12345-67890", "settled", |_| true).await;
    let trail = after["audit_trail"].as_array().unwrap();
    let partial: Vec<&Value> = trail
        .iter()
        .filter(|a| a["action"] == "partially_refunded")
        .collect();
    assert_eq!(partial.len(), 1, "{trail:#?}");
    assert_eq!(partial[0]["detail"]["line_item_id"], "10071234567913");
    assert_eq!(partial[0]["detail"]["units_revoked"], 1);
    assert_eq!(partial[0]["detail"]["codes_revoked"], 1);
    let items = after["items"].as_array().unwrap();
    let item = |product: &str| items.iter().find(|i| i["product_id"] == product).unwrap();
    assert_eq!(item(&ebook)["refunded_quantity"], 1, "{after:#}");
    assert_eq!(item(&licence)["refunded_quantity"], 0, "{after:#}");
    assert_eq!(item(&licence)["delivery_status"], "delivered", "{after:#}");
    assert_eq!(balance(&app, &tenant).await, 7, "no token comes back");
}

on_both_backends!(
    a_refund_listed_without_lines_revokes_the_lines_the_store_lists,
    a_reconciled_order_refunded_before_intake_delivers_only_the_kept_line,
    an_ebay_line_refunded_revokes_its_refunded_units_only,
);
