//! What a delivery or notification is bound to: a WooCommerce order's identity includes its
//! connection (two stores, one order number), a connection's secret can be rotated with an
//! overlap and a connection deleted, eBay notifications act only for the seller they name, and
//! a tenant's connections are capped.

use crate::common;
use crate::pipeline_platforms::{
    balance, code_product, connect_with_rest_keys, orders, wait_until,
};

use std::time::Duration;

use common::{Backend, Tenant, TestApp, assert_error};
use e2e::harness::fake_ebay::{
    FakeEbay, OTHER_SELLER_TOKEN, OTHER_SELLER_USER_ID, SELLER_TOKEN, SELLER_USER_ID,
};
use e2e::harness::fake_woocommerce::FakeWooCommerce;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::internal::{EdgeConfig, INGEST_PATH, edge_config_path};

const WOO_BODY: &str = include_str!("../../../fixtures/woocommerce/order-created.body");
const WOO_REFUNDED_BODY: &str =
    include_str!("../../../fixtures/woocommerce/order-updated-refunded.body");
const EBAY_ORDER: &str =
    include_str!("../../../fixtures/ebay/notification-order-confirmation.body");
const EBAY_REVOCATION: &str =
    include_str!("../../../fixtures/ebay/notification-authorization-revocation.body");

/// Stores an event as the edge forwards it, from `connection` when named.
async fn ingest_from(
    app: &TestApp,
    tenant: &Tenant,
    platform: &str,
    connection: Option<&str>,
    edge_id: &str,
    body: &str,
) {
    let mut event = json!({
        "edge_event_id": edge_id, "tenant_id": tenant.id, "platform": platform,
        "received_at_ms": 1_764_000_000_000u64, "headers": {}, "body": body,
    });
    if let Some(id) = connection {
        event["connection_id"] = id.into();
    }
    let (status, answer) = app
        .edge(Method::POST, INGEST_PATH, &event.to_string())
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

/// A manual WooCommerce connection of `store_url` signed with `secret`; its id.
async fn woo_connection(app: &TestApp, tenant: &Tenant, store_url: &str, secret: &str) -> String {
    let (status, body) = app
        .post(
            "/api/v1/connections",
            &tenant.key,
            json!({"platform": "woocommerce", "store_url": store_url, "webhook_secret": secret}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"]["id"].as_str().unwrap().to_owned()
}

async fn edge_config(app: &TestApp, tenant: &Tenant) -> EdgeConfig {
    let (status, body) = app
        .edge(Method::GET, &edge_config_path(&tenant.id), "")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_value(body["data"].clone()).unwrap()
}

/// The secrets the edge verifies `connection`'s deliveries with.
async fn secrets_of(app: &TestApp, tenant: &Tenant, connection: &str) -> Vec<String> {
    let config = edge_config(app, tenant).await;
    let woo = config.woocommerce.unwrap_or_default();
    woo.connections
        .into_iter()
        .find(|c| c.id == connection)
        .map(|c| c.secrets.into_iter().map(|s| s.secret).collect())
        .unwrap_or_default()
}

async fn events(app: &TestApp, tenant: &Tenant, platform: &str) -> Vec<Value> {
    let (_, body) = app
        .get(&format!("/api/v1/events?platform={platform}"), &tenant.key)
        .await;
    body["data"].as_array().unwrap().clone()
}

/// A tenant with two WooCommerce stores (both selling product 501 as a code) whose order
/// #1287 has been delivered in each: the app, the tenant and the two connection ids.
async fn two_stores_each_with_order_1287(backend: Backend) -> (TestApp, Tenant, String, String) {
    let app = TestApp::spawn_configured(backend, 64 * 1024, |p| {
        p.tick = Duration::from_millis(50);
    })
    .await;
    let tenant = app.tenant(10).await;
    code_product(&app, &tenant, json!({"woocommerce_product_id": 501}), 5).await;
    let a = woo_connection(&app, &tenant, "https://a.example.com", "secret-a").await;
    let b = woo_connection(&app, &tenant, "https://b.example.com", "secret-b").await;
    ingest_from(&app, &tenant, "woocommerce", Some(&a), "evt_a", WOO_BODY).await;
    ingest_from(&app, &tenant, "woocommerce", Some(&b), "evt_b", WOO_BODY).await;
    wait_until("both stores' #1287 delivered", 30, || async {
        let all = orders(&app, &tenant).await;
        let delivered = all.iter().filter(|o| o["status"] == "delivered").count();
        match delivered {
            2 => Ok(()),
            _ => Err(format!("{all:?}")),
        }
    })
    .await;
    (app, tenant, a, b)
}

async fn two_woocommerce_stores_with_the_same_order_number_are_two_orders(backend: Backend) {
    let (app, tenant, _, _) = two_stores_each_with_order_1287(backend).await;
    let all = orders(&app, &tenant).await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(all.iter().all(|o| o["platform_order_id"] == "1287"));
    assert_eq!(
        balance(&app, &tenant).await,
        8,
        "each store's order charged once"
    );
    assert_eq!(events(&app, &tenant, "woocommerce").await.len(), 2);
}

async fn a_refund_in_one_store_leaves_the_other_stores_codes_alone(backend: Backend) {
    let (app, tenant, a, b) = two_stores_each_with_order_1287(backend).await;
    ingest_from(
        &app,
        &tenant,
        "woocommerce",
        Some(&b),
        "evt_b_refund",
        WOO_REFUNDED_BODY,
    )
    .await;
    wait_until("store B's order refunded", 30, || async {
        let all = orders(&app, &tenant).await;
        match all.iter().any(|o| o["status"] == "refunded") {
            true => Ok(()),
            false => Err(format!("{all:?}")),
        }
    })
    .await;
    let events = events(&app, &tenant, "woocommerce").await;
    let event_of = |connection: &str| {
        events
            .iter()
            .filter(|e| e["connection_id"] == connection)
            .count()
    };
    assert_eq!((event_of(&a), event_of(&b)), (1, 2), "{events:?}");
    let all = orders(&app, &tenant).await;
    let statuses: Vec<&str> = all.iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(
        {
            let mut s = statuses.clone();
            s.sort();
            s
        },
        ["delivered", "refunded"],
        "{all:?}"
    );
    let delivered = all.iter().find(|o| o["status"] == "delivered").unwrap();
    let codes: Vec<&Value> = delivered["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["license_code"].is_string())
        .collect();
    assert_eq!(
        codes.len(),
        1,
        "store A's code is still the buyer's: {delivered}"
    );
}

async fn a_rotated_secret_verifies_both_during_the_overlap_only(backend: Backend) {
    let store = FakeWooCommerce::start().await;
    let app = TestApp::spawn_settings(backend, |s| {
        s.pipeline.enabled = false;
        s.connections.woo_secret_overlap_ms = 1_500;
    })
    .await;
    let tenant = app.tenant(0).await;
    let created = connect_with_rest_keys(&app, &tenant, &store).await;
    let id = created["data"]["id"].as_str().unwrap();
    let old = created["data"]["generated_webhook_secret"]
        .as_str()
        .unwrap();
    assert_eq!(secrets_of(&app, &tenant, id).await, [old]);

    let (status, rotated) = app
        .post(
            &format!("/api/v1/connections/{id}/rotate-secret"),
            &tenant.key,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new = rotated["data"]["generated_webhook_secret"]
        .as_str()
        .unwrap();
    assert_ne!(new, old);
    assert!(rotated["data"]["last_error"].is_null(), "{rotated}");
    // Both verify during the overlap, the new one first; the store signs with the new one.
    assert_eq!(secrets_of(&app, &tenant, id).await, [new, old]);
    let hooks = store.webhooks();
    assert_eq!(hooks.len(), 2);
    assert!(
        hooks.iter().all(|h| h.secret.as_deref() == Some(new)),
        "{hooks:?}"
    );
    // The new secret is answered once: reading the connection shows only that it is set.
    let (_, read) = app
        .get(&format!("/api/v1/connections/{id}"), &tenant.key)
        .await;
    assert!(read["data"]["generated_webhook_secret"].is_null(), "{read}");
    assert!(!read.to_string().contains(new));

    tokio::time::sleep(Duration::from_millis(1_600)).await;
    assert_eq!(
        secrets_of(&app, &tenant, id).await,
        [new],
        "after the overlap"
    );

    // Only WooCommerce connections have a webhook secret.
    let (status, etsy) = app
        .post(
            "/api/v1/connections",
            &tenant.key,
            json!({"platform": "etsy", "shop_id": "12345678"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{etsy}");
    let etsy_id = etsy["data"]["id"].as_str().unwrap();
    let (status, body) = app
        .post(
            &format!("/api/v1/connections/{etsy_id}/rotate-secret"),
            &tenant.key,
            json!({}),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
}

async fn a_deleted_connection_stops_verifying(backend: Backend) {
    let (app, tenant, a, b) = two_stores_each_with_order_1287(backend).await;
    let path = format!("/api/v1/connections/{a}");
    let delete = || app.call(Method::DELETE, &path, &tenant.key, None);
    let (status, body) = delete().await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.get(&path, &tenant.key).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, body) = delete().await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    // The edge no longer has its secret; the other store's is untouched.
    let config = edge_config(&app, &tenant).await;
    let ids: Vec<String> = config
        .woocommerce
        .unwrap()
        .connections
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, [b]);
    // A delivery the edge accepted before it knew is kept, never processed.
    let mut later: Value = serde_json::from_str(WOO_BODY).unwrap();
    later["id"] = 1288.into();
    ingest_from(
        &app,
        &tenant,
        "woocommerce",
        Some(&a),
        "evt_a_late",
        &later.to_string(),
    )
    .await;
    let late = events(&app, &tenant, "woocommerce")
        .await
        .into_iter()
        .find(|e| e["edge_event_id"] == "evt_a_late")
        .unwrap();
    assert_eq!(late["status"], "ignored", "{late}");
    // Orders it brought stay.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(orders(&app, &tenant).await.len(), 2);
}

/// An app on the fake eBay with an eBay connection made with `token`; the connection.
async fn ebay_connected(backend: Backend, token: &str) -> (FakeEbay, TestApp, Tenant, Value) {
    let ebay = FakeEbay::start().await;
    let base = ebay.base_url.clone();
    let app = TestApp::spawn_configured(backend, 64 * 1024, |p| {
        p.ebay_api_base_url = base;
        p.tick = Duration::from_millis(50);
    })
    .await;
    let tenant = app.tenant(10).await;
    let (status, body) = app
        .post(
            "/api/v1/connections",
            &tenant.key,
            json!({"platform": "ebay", "verification_token": "v".repeat(40), "access_token": token}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (ebay, app, tenant, body["data"].clone())
}

async fn event_by_edge_id(app: &TestApp, tenant: &Tenant, edge_id: &str) -> Value {
    events(app, tenant, "ebay")
        .await
        .into_iter()
        .find(|e| e["edge_event_id"] == edge_id)
        .unwrap_or_default()
}

async fn wait_for_event(app: &TestApp, tenant: &Tenant, edge_id: &str, status: &str) -> Value {
    wait_until(&format!("{edge_id} {status}"), 15, || async {
        match event_by_edge_id(app, tenant, edge_id).await {
            event if event["status"] == status => Ok(()),
            other => Err(other.to_string()),
        }
    })
    .await;
    event_by_edge_id(app, tenant, edge_id).await
}

async fn revocation_for_another_ebay_user_changes_nothing(backend: Backend) {
    let (_ebay, app, tenant, connection) = ebay_connected(backend, OTHER_SELLER_TOKEN).await;
    assert_eq!(connection["account_id"], OTHER_SELLER_USER_ID);
    // A genuine revocation of another seller (the fixture names SELLER_USER_ID), replayed here.
    ingest_from(&app, &tenant, "ebay", None, "evt_rev", EBAY_REVOCATION).await;
    let event = wait_for_event(&app, &tenant, "evt_rev", "ignored").await;
    assert!(
        event["last_error"].as_str().unwrap().contains("eBay user"),
        "{event}"
    );
    let (_, body) = app.get("/api/v1/connections", &tenant.key).await;
    assert_eq!(body["data"][0]["status"], "active", "{body}");
    let (_, alerts) = app.get("/api/v1/alerts", &tenant.key).await;
    assert_eq!(alerts["data"], json!([]), "{alerts}");
    assert!(edge_config(&app, &tenant).await.ebay.unwrap().active);
}

async fn a_revocation_of_the_connected_seller_asks_for_a_reconnect(backend: Backend) {
    let (_ebay, app, tenant, connection) = ebay_connected(backend, SELLER_TOKEN).await;
    assert_eq!(connection["account_id"], SELLER_USER_ID);
    ingest_from(&app, &tenant, "ebay", None, "evt_rev", EBAY_REVOCATION).await;
    wait_for_event(&app, &tenant, "evt_rev", "processed").await;
    let (_, body) = app.get("/api/v1/connections", &tenant.key).await;
    assert_eq!(body["data"][0]["status"], "needs_reconnect", "{body}");
    // Never silently: an alert names the connection and why, and the edge refuses its
    // deliveries as it does a deactivated connection's.
    let (_, alerts) = app.get("/api/v1/alerts", &tenant.key).await;
    let alert = &alerts["data"][0];
    assert_eq!(alert["kind"], "connection_needs_reconnect", "{alerts}");
    assert_eq!(alert["subject"], connection["id"], "{alerts}");
    assert_eq!(
        alert["detail"]["reason"], "authorization_revoked",
        "{alerts}"
    );
    assert_eq!(
        alert["detail"]["connection_id"], connection["id"],
        "{alerts}"
    );
    assert!(!edge_config(&app, &tenant).await.ebay.unwrap().active);
}

async fn an_order_notification_for_another_ebay_seller_is_ignored(backend: Backend) {
    let (ebay, app, tenant, _) = ebay_connected(backend, OTHER_SELLER_TOKEN).await;
    code_product(&app, &tenant, json!({"ebay_item_id": "296512345678"}), 3).await;
    ingest_from(&app, &tenant, "ebay", None, "evt_order", EBAY_ORDER).await;
    let event = wait_for_event(&app, &tenant, "evt_order", "ignored").await;
    assert!(
        event["last_error"].as_str().unwrap().contains("seller"),
        "{event}"
    );
    assert_eq!(
        ebay.order_requests(),
        0,
        "not fetched with this seller's token"
    );
    assert!(orders(&app, &tenant).await.is_empty());
    assert_eq!(balance(&app, &tenant).await, 10);
}

async fn an_ebay_token_ebay_does_not_know_connects_nothing(backend: Backend) {
    let ebay = FakeEbay::start().await;
    let base = ebay.base_url.clone();
    let app = TestApp::spawn_configured(backend, 64 * 1024, |p| p.ebay_api_base_url = base).await;
    let tenant = app.tenant(0).await;
    let (status, body) = app
        .post(
            "/api/v1/connections",
            &tenant.key,
            json!({"platform": "ebay", "verification_token": "v".repeat(40), "access_token": "not-a-token"}),
        )
        .await;
    let error = assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(error["field"], "access_token");
    let (_, list) = app.get("/api/v1/connections", &tenant.key).await;
    assert!(list["data"].as_array().unwrap().is_empty(), "{list}");
}

async fn a_tenant_has_at_most_the_configured_number_of_connections(backend: Backend) {
    let app = TestApp::spawn_settings(backend, |s| {
        s.pipeline.enabled = false;
        s.connections.max_per_tenant = 2;
    })
    .await;
    let tenant = app.tenant(0).await;
    woo_connection(&app, &tenant, "https://a.example.com", "secret-a").await;
    woo_connection(&app, &tenant, "https://b.example.com", "secret-b").await;
    let (status, body) = app
        .post(
            "/api/v1/connections",
            &tenant.key,
            json!({"platform": "woocommerce", "store_url": "https://c.example.com", "webhook_secret": "secret-c"}),
        )
        .await;
    let error = assert_error(status, &body, StatusCode::CONFLICT, "TOO_MANY_CONNECTIONS");
    assert!(error["message"].as_str().unwrap().contains('2'), "{error}");
    let (_, list) = app.get("/api/v1/connections", &tenant.key).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    // Another tenant has its own count.
    let other = app.tenant(0).await;
    woo_connection(&app, &other, "https://c.example.com", "secret-c").await;
}

on_both_backends!(
    two_woocommerce_stores_with_the_same_order_number_are_two_orders,
    a_refund_in_one_store_leaves_the_other_stores_codes_alone,
    a_rotated_secret_verifies_both_during_the_overlap_only,
    a_deleted_connection_stops_verifying,
    revocation_for_another_ebay_user_changes_nothing,
    a_revocation_of_the_connected_seller_asks_for_a_reconnect,
    an_order_notification_for_another_ebay_seller_is_ignored,
    an_ebay_token_ebay_does_not_know_connects_nothing,
    a_tenant_has_at_most_the_configured_number_of_connections,
);
