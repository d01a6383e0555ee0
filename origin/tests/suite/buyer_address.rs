//! Orders without a usable buyer email, through signed webhooks and the API on both
//! backends: such an order waits as `needs_address` with an alert, takes no code and no
//! token, and is delivered once the seller enters the address.

use crate::common;

use std::time::Duration;

use common::{Backend, Tenant, TestApp, assert_error};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::internal::INGEST_PATH;

use crate::order_rules::{
    actions, balance, outbox, outbox_settles_at, product, wait_order, woo_order,
};

/// A paid WooCommerce order `id` of one line of `quantity` of product 501, billed to `email`.
fn order_to(id: u64, quantity: u64, email: &str) -> Value {
    let mut order = woo_order(id, &[(1, 501, quantity)]);
    order["billing"]["email"] = email.into();
    order
}

async fn ingest(app: &TestApp, tenant: &Tenant, edge_id: &str, body: &Value) {
    let forwarded = json!({
        "edge_event_id": edge_id,
        "tenant_id": tenant.id,
        "platform": "woocommerce",
        "received_at_ms": 1_764_000_000_000u64,
        "headers": {},
        "body": body.to_string(),
    });
    let (status, answer) = app
        .edge(Method::POST, INGEST_PATH, &forwarded.to_string())
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

async fn set_email(
    app: &TestApp,
    tenant: &Tenant,
    order_id: &str,
    email: &str,
) -> (StatusCode, Value) {
    let path = format!("/api/v1/orders/{order_id}/buyer-email");
    app.call(
        Method::PUT,
        &path,
        &tenant.key,
        Some(json!({ "buyer_email": email })),
    )
    .await
}

async fn address_alerts(app: &TestApp, tenant: &Tenant) -> Vec<Value> {
    let (status, body) = app.get("/api/v1/alerts", &tenant.key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let alerts = body["data"].as_array().unwrap().iter();
    alerts
        .filter(|a| a["kind"] == "order_needs_address")
        .cloned()
        .collect()
}

async fn available_codes(app: &TestApp, tenant: &Tenant, product_id: &str) -> i64 {
    let (_, body) = app
        .get(&format!("/api/v1/products/{product_id}"), &tenant.key)
        .await;
    body["data"]["stock"]["available"]
        .as_i64()
        .unwrap_or_else(|| panic!("{body}"))
}

async fn an_order_without_a_usable_email_waits_for_the_sellers_address(backend: Backend) {
    let app = TestApp::spawn_configured(backend, 64 * 1024, |_| {}).await;
    let tenant = app.tenant(10).await;
    let product_id = product(&app, &tenant, "CODE", 501, 3).await;
    ingest(&app, &tenant, "evt_none", &order_to(7001, 1, "")).await;
    ingest(
        &app,
        &tenant,
        "evt_bad",
        &order_to(7002, 1, "anna at example"),
    )
    .await;
    for id in ["7001", "7002"] {
        let order = wait_order(&app, &tenant, id, "the address hold", |o| {
            o["status"] == "needs_address"
        })
        .await;
        let reason = order["status_reason"].as_str().unwrap();
        assert!(reason.contains("enter the buyer's address"), "{order:#}");
        assert_eq!(order["items"][0]["delivery_status"], "needs_address");
        assert!(actions(&order).contains(&"needs_address".to_owned()));
    }
    // No code taken, no token charged, no email; an alert per order.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(balance(&app, &tenant).await, 10);
    assert_eq!(available_codes(&app, &tenant, &product_id).await, 3);
    assert!(outbox(&app).is_empty());
    assert_eq!(address_alerts(&app, &tenant).await.len(), 2);
    let (_, list) = app
        .get("/api/v1/orders?status=needs_address", &tenant.key)
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2, "{list}");

    // An address no email can go to is refused and changes nothing.
    let order = wait_order(&app, &tenant, "7001", "the order", |_| true).await;
    let order_id = order["id"].as_str().unwrap();
    let (status, body) = set_email(&app, &tenant, order_id, "still not an address").await;
    let error = assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(error["field"], "buyer_email", "{body}");
    let unchanged = wait_order(&app, &tenant, "7001", "the order", |_| true).await;
    assert_eq!(unchanged["status"], "needs_address");
    assert_eq!(unchanged["buyer_email"], "");

    // The seller enters it: the order is delivered to it and charged once.
    let (status, body) = set_email(&app, &tenant, order_id, "Anna.Keller@Example.net").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["units_allocated"], 1, "{body}");
    assert_eq!(
        body["data"]["order"]["buyer_email"],
        "anna.keller@example.net"
    );
    let done = wait_order(&app, &tenant, "7001", "delivery", |o| {
        o["status"] == "delivered"
    })
    .await;
    assert!(done.get("status_reason").is_none(), "{done:#}");
    assert!(actions(&done).contains(&"buyer_email_changed".to_owned()));
    let emails = outbox_settles_at(&app, 1).await;
    assert!(
        emails[0].contains("<anna.keller@example.net>"),
        "{}",
        emails[0]
    );
    assert!(emails[0].contains("C501-000"));
    assert_eq!(balance(&app, &tenant).await, 9);
    let left = address_alerts(&app, &tenant).await;
    assert_eq!(left.len(), 1, "only the other order still waits: {left:?}");

    // On a delivered order the address changes and nothing is sent again by itself.
    let (status, body) = set_email(&app, &tenant, order_id, "anna@example.org").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["units_allocated"], 0, "{body}");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(outbox(&app).len(), 1);
    assert_eq!(balance(&app, &tenant).await, 9);

    // Another tenant's order answers like a missing one.
    let other = app.tenant(10).await;
    let (status, body) = set_email(&app, &other, order_id, "anna@example.org").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
}

/// An order over the quantity caps and without an address: approving it moves it on to wait
/// for the address, and only then is it delivered.
async fn an_approved_order_without_an_address_waits_for_one(backend: Backend) {
    let app = TestApp::spawn_configured(backend, 64 * 1024, |pipeline| {
        pipeline.bounds.max_units_per_line = 1;
    })
    .await;
    let tenant = app.tenant(10).await;
    product(&app, &tenant, "CODE", 501, 3).await;
    ingest(&app, &tenant, "evt_wide", &order_to(7003, 2, "")).await;
    let order = wait_order(&app, &tenant, "7003", "review", |o| {
        o["status"] == "needs_review"
    })
    .await;
    let order_id = order["id"].as_str().unwrap();
    let path = format!("/api/v1/orders/{order_id}/approve");
    let (status, body) = app.post(&path, &tenant.key, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["units_allocated"], 0, "{body}");
    assert_eq!(body["data"]["order"]["status"], "needs_address", "{body}");
    assert_eq!(address_alerts(&app, &tenant).await.len(), 1);
    assert_eq!(balance(&app, &tenant).await, 10);

    let (status, body) = set_email(&app, &tenant, order_id, "buyer@example.com").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["units_allocated"], 2, "{body}");
    wait_order(&app, &tenant, "7003", "delivery", |o| {
        o["status"] == "delivered"
    })
    .await;
    outbox_settles_at(&app, 1).await;
    assert_eq!(balance(&app, &tenant).await, 8);
    assert!(address_alerts(&app, &tenant).await.is_empty());
}

on_both_backends!(
    an_order_without_a_usable_email_waits_for_the_sellers_address,
    an_approved_order_without_an_address_waits_for_one,
);
