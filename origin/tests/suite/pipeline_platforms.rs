//! The pipeline against local fakes of the platforms' APIs: eBay's Fulfillment API for
//! order confirmations, Etsy's receipts for the poller, a WooCommerce store for the connect
//! flow and reconciliation; and two origin processes sharing one PostgreSQL.

use crate::common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{Backend, PUBLIC_BASE_URL, Tenant, TestApp};
use e2e::harness::fake_ebay::{FakeEbay, SELLER_TOKEN};
use e2e::harness::fake_etsy::{self, FakeEtsy};
use e2e::harness::fake_woocommerce::{self, FakeWooCommerce};
use origin::app::Application;
use origin::domain::events::{dedupe_key, event_key};
use origin::platforms::woocommerce::parse_orders_page;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::internal::{INGEST_PATH, Platform};

pub(crate) const EBAY_ORDER: &str =
    include_str!("../../../fixtures/ebay/notification-order-confirmation.body");
pub(crate) const EBAY_DELETION: &str =
    include_str!("../../../fixtures/ebay/notification-account-deletion.body");
const EBAY_REVOCATION: &str =
    include_str!("../../../fixtures/ebay/notification-authorization-revocation.body");
const ETSY_PAGE: &str = include_str!("../../../fixtures/etsy/get-shop-receipts.response.json");
const WOO_BODY: &str = include_str!("../../../fixtures/woocommerce/order-created.body");
const WOO_REFUNDED_BODY: &str =
    include_str!("../../../fixtures/woocommerce/order-updated-refunded.body");

/// The app with its delivery pipeline running, as `origin serve` has it.
async fn pipeline_app(backend: Backend) -> TestApp {
    TestApp::spawn_configured(backend, 64 * 1024, |_| {}).await
}

pub(crate) async fn ingest(
    app: &TestApp,
    tenant: &Tenant,
    platform: &str,
    edge_id: &str,
    body: &str,
) {
    let event = json!({
        "edge_event_id": edge_id, "tenant_id": tenant.id, "platform": platform,
        "received_at_ms": 1_764_000_000_000u64, "headers": {}, "body": body,
    });
    let (status, answer) = app
        .edge(Method::POST, INGEST_PATH, &event.to_string())
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

pub(crate) async fn code_product(
    app: &TestApp,
    tenant: &Tenant,
    mappings: Value,
    codes: usize,
) -> String {
    let (status, body) = app
        .post(
            "/api/v1/products",
            &tenant.key,
            json!({"sku": format!("SKU-{mappings}"), "name": "Licence", "type": "CODE", "mappings": mappings}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    let list: Vec<String> = (0..codes).map(|n| format!("CODE-{n:05}")).collect();
    let (status, body) = app
        .post(
            &format!("/api/v1/products/{id}/codes"),
            &tenant.key,
            json!(list),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    id
}

pub(crate) async fn orders(app: &TestApp, tenant: &Tenant) -> Vec<Value> {
    let (ids, _) = common::all_pages(app, &tenant.key, "/api/v1/orders?limit=100").await;
    let mut full = Vec::new();
    for id in ids {
        let (_, body) = app.get(&format!("/api/v1/orders/{id}"), &tenant.key).await;
        full.push(body["data"].clone());
    }
    full
}

pub(crate) async fn wait_until<F, Fut>(what: &str, seconds: u64, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        match check().await {
            Ok(()) => return,
            Err(state) if Instant::now() > deadline => {
                panic!("timed out waiting for {what}: {state}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(150)).await,
        }
    }
}

pub(crate) async fn delivered_count(app: &TestApp, tenant: &Tenant) -> usize {
    let (ids, _) = common::all_pages(
        app,
        &tenant.key,
        "/api/v1/orders?status=delivered&limit=100",
    )
    .await;
    ids.len()
}

pub(crate) async fn balance(app: &TestApp, tenant: &Tenant) -> i64 {
    let (_, body) = app.get("/api/v1/tenant", &tenant.key).await;
    body["data"]["token_balance"].as_i64().unwrap()
}

fn emails_in(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .path()
                        .extension()
                        .is_some_and(|x| x == "eml")
                })
                .count()
        })
        .unwrap_or(0)
}

/// A pipeline app calling eBay at `ebay_base_url`, and a tenant with an eBay connection.
/// An app whose eBay API is at `ebay_base_url` and whose Identity API (which names the seller
/// when the connection is made) is at `identity_base_url`, with a connected eBay seller.
pub(crate) async fn ebay_app(
    backend: Backend,
    ebay_base_url: String,
    identity_base_url: String,
) -> (TestApp, Tenant) {
    let app = TestApp::spawn_settings(backend, |s| {
        s.pipeline.ebay_api_base_url = ebay_base_url;
        s.connections.ebay_identity_base_url = Some(identity_base_url);
    })
    .await;
    let tenant = app.tenant(10).await;
    let (status, body) = app
        .post(
            "/api/v1/connections",
            &tenant.key,
            json!({"platform": "ebay", "verification_token": "v".repeat(40), "access_token": SELLER_TOKEN}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (app, tenant)
}

async fn ebay_order_confirmation_fetches_the_order_and_delivers_it(backend: Backend) {
    let ebay = FakeEbay::start().await;
    let (app, tenant) = ebay_app(backend, ebay.base_url.clone(), ebay.base_url.clone()).await;
    code_product(&app, &tenant, json!({"ebay_item_id": "296512345678"}), 3).await;
    code_product(&app, &tenant, json!({"ebay_sku": "EBOOK-RUST-PDF"}), 3).await;
    ingest(&app, &tenant, "ebay", "evt_1", EBAY_ORDER).await;
    // eBay retries reuse the notification id; a second notification for the same order
    // (checkout completed again) has a new id and must not deliver twice either.
    ingest(&app, &tenant, "ebay", "evt_2", EBAY_ORDER).await;
    let again = EBAY_ORDER.replace("5d0c1f3e-", "6e1d2f4a-");
    ingest(&app, &tenant, "ebay", "evt_3", &again).await;
    wait_until("the eBay order delivered", 30, || async {
        let all = orders(&app, &tenant).await;
        match all.as_slice() {
            [order] if order["status"] == "delivered" => Ok(()),
            _ => Err(format!("{all:?}")),
        }
    })
    .await;
    let all = orders(&app, &tenant).await;
    assert_eq!(all[0]["platform_order_id"], "13-12345-67890");
    assert_eq!(
        all[0]["buyer_email"],
        "0a1b2c3d4e5f60718293@members.ebay.com"
    );
    assert_eq!(balance(&app, &tenant).await, 7, "1 + 2 units, once");
    assert!(ebay.order_requests() >= 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(emails_in(&app.data_dir.path().join("outbox")), 1);

    // The buyer closed their eBay account: what we hold about them is erased.
    let mut deletion: Value = serde_json::from_str(EBAY_DELETION).unwrap();
    deletion["notification"]["data"]["username"] = "jbuyer_2019".into();
    ingest(&app, &tenant, "ebay", "evt_del", &deletion.to_string()).await;
    wait_until("the buyer anonymised", 10, || async {
        let all = orders(&app, &tenant).await;
        if all[0]["buyer_email"] == "erased@invalid" && all[0]["buyer_name"].is_null() {
            Ok(())
        } else {
            Err(all[0].to_string())
        }
    })
    .await;
    // The seller revoked our access: the connection needs to be connected again.
    ingest(&app, &tenant, "ebay", "evt_rev", EBAY_REVOCATION).await;
    wait_until("the connection needs reconnecting", 10, || async {
        let (_, body) = app.get("/api/v1/connections", &tenant.key).await;
        if body["data"][0]["status"] == "needs_reconnect" {
            Ok(())
        } else {
            Err(body.to_string())
        }
    })
    .await;
}

pub(crate) fn etsy_receipt(
    template: &Value,
    receipt_id: u64,
    listing_id: u64,
    updated: u64,
) -> Value {
    let mut receipt = template.clone();
    receipt["receipt_id"] = receipt_id.into();
    receipt["update_timestamp"] = updated.into();
    receipt["updated_timestamp"] = updated.into();
    receipt["create_timestamp"] = updated.into();
    receipt["status"] = "Paid".into();
    receipt["is_paid"] = true.into();
    let mut transaction = receipt["transactions"][0].clone();
    transaction["transaction_id"] = (receipt_id * 10).into();
    transaction["receipt_id"] = receipt_id.into();
    transaction["listing_id"] = listing_id.into();
    transaction["product_id"] = Value::Null;
    transaction["quantity"] = 1.into();
    receipt["transactions"] = json!([transaction]);
    receipt
}

async fn etsy_poller_delivers_every_receipt_once_through_429_refresh_and_paging(backend: Backend) {
    let etsy = FakeEtsy::start().await;
    let base = etsy.base_url.clone();
    let app = TestApp::spawn_configured(backend, 64 * 1024, |p| {
        p.etsy_api_base_url = base;
        p.etsy_api_key = Some(fake_etsy::KEYSTRING.into());
        p.etsy_shared_secret = Some(fake_etsy::SHARED_SECRET.into());
        p.etsy_poll_interval = Duration::from_secs(1);
        p.tick = Duration::from_millis(50);
    })
    .await;
    let tenant = app.tenant(500).await;
    code_product(&app, &tenant, json!({"etsy_listing_id": 4242}), 120).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let template = serde_json::from_str::<Value>(ETSY_PAGE).unwrap()["results"][0].clone();
    // More than one page (Etsy answers at most 100 per request).
    for n in 0..105 {
        etsy.put_receipt(
            "12345678",
            etsy_receipt(&template, 9_000_000 + n, 4242, now - 100 + n),
        );
    }
    // The stored token has expired and the first receipts request after the refresh is a 429.
    let stale_token = etsy.issue_access_token();
    etsy.expire_access_tokens();
    etsy.throttle_next(1);
    let (status, body) = app
        .post(
            "/api/v1/connections",
            &tenant.key,
            json!({"platform": "etsy", "shop_id": "12345678", "access_token": stale_token,
                   "refresh_token": fake_etsy::REFRESH_TOKEN}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    wait_until("105 Etsy orders delivered", 40, || async {
        match delivered_count(&app, &tenant).await {
            105 => Ok(()),
            n => Err(format!("{n} delivered")),
        }
    })
    .await;
    assert!(etsy.refreshes() >= 1, "the expired token was refreshed");
    let queries = etsy.receipt_queries();
    assert!(queries.iter().all(|q| q.contains("sort_on=updated")
        && q.contains("sort_order=asc")
        && q.contains("was_paid=true")));
    assert!(
        queries.iter().any(|q| q.contains("offset=100")),
        "{queries:?}"
    );
    // Later polls see the same receipts again (the checkpoint is inclusive): nothing doubles.
    let polls = etsy.receipt_requests();
    wait_until("two more polls", 10, || async {
        if etsy.receipt_requests() >= polls + 2 {
            Ok(())
        } else {
            Err("waiting".into())
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(delivered_count(&app, &tenant).await, 105);
    assert_eq!(balance(&app, &tenant).await, 500 - 105);
    let (_, connections) = app.get("/api/v1/connections", &tenant.key).await;
    assert!(
        connections["data"][0]["last_event_at"].is_string(),
        "{connections}"
    );
}

/// A fake WooCommerce store connected with REST keys to a tenant (10 tokens, a CODE product
/// mapped to WooCommerce product 501), reconciled every second; the connection as created.
async fn woocommerce_shop_connected(backend: Backend) -> (FakeWooCommerce, TestApp, Tenant, Value) {
    let store = FakeWooCommerce::start().await;
    let app = TestApp::spawn_configured(backend, 64 * 1024, |p| {
        p.woo_reconcile_interval = Duration::from_secs(1);
        p.tick = Duration::from_millis(50);
    })
    .await;
    let tenant = app.tenant(10).await;
    code_product(&app, &tenant, json!({"woocommerce_product_id": 501}), 5).await;
    let body = connect_with_rest_keys(&app, &tenant, &store).await;
    (store, app, tenant, body)
}

/// Connects `store` to `tenant` with its REST keys; the connection as created.
pub(crate) async fn connect_with_rest_keys(
    app: &TestApp,
    tenant: &Tenant,
    store: &FakeWooCommerce,
) -> Value {
    let (status, body) = app
        .post(
            "/api/v1/connections",
            &tenant.key,
            json!({"platform": "woocommerce", "store_url": store.base_url,
                   "consumer_key": fake_woocommerce::CONSUMER_KEY, "consumer_secret": fake_woocommerce::CONSUMER_SECRET}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn woocommerce_connect_registers_webhooks_and_reconciliation_catches_missed_orders(
    backend: Backend,
) {
    let (store, app, tenant, body) = woocommerce_shop_connected(backend).await;
    assert!(body["data"]["last_error"].is_null(), "{body}");
    let secret = body["data"]["generated_webhook_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        secret.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{secret}"
    );
    let hooks = store.webhooks();
    let topics: Vec<&str> = hooks.iter().map(|h| h.topic.as_str()).collect();
    assert_eq!(topics, ["order.created", "order.updated"]);
    for hook in &hooks {
        // Each connection has its own delivery URL: its secret alone verifies there.
        assert_eq!(
            hook.delivery_url,
            format!(
                "{PUBLIC_BASE_URL}/webhooks/woocommerce/{}/{}",
                tenant.id,
                body["data"]["id"].as_str().unwrap()
            )
        );
        assert_eq!(body["data"]["webhook_url"], hook.delivery_url.as_str());
        assert_eq!(hook.secret.as_deref(), Some(secret.as_str()));
    }
    // A paid order whose webhook never arrived: only the store's REST API knows it.
    let mut order: Value = serde_json::from_str(WOO_BODY).unwrap();
    order["date_modified_gmt"] = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
        .into();
    store.put_order(order);
    wait_until("the missed order delivered", 30, || async {
        match delivered_count(&app, &tenant).await {
            1 => Ok(()),
            n => Err(format!("{n} delivered")),
        }
    })
    .await;
    let (_, connections) = app.get("/api/v1/connections", &tenant.key).await;
    let warning = connections["data"][0]["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(warning.contains("reconciliation"), "{connections}");
    assert!(store.order_list_requests() >= 1);

    // Webhooks arrive again (an order with nothing to deliver): the warning goes.
    let mut nothing: Value = serde_json::from_str(WOO_BODY).unwrap();
    nothing["id"] = 9_999.into();
    nothing["line_items"] = json!([]);
    ingest(
        &app,
        &tenant,
        "woocommerce",
        "evt_back",
        &nothing.to_string(),
    )
    .await;
    wait_until("the warning cleared", 15, || async {
        let (_, connections) = app.get("/api/v1/connections", &tenant.key).await;
        match &connections["data"][0]["last_error"] {
            Value::Null => Ok(()),
            warning => Err(format!("still warning: {warning}")),
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        balance(&app, &tenant).await,
        9,
        "reconciled once, whatever the polls"
    );
}

/// A webhook body and the same order as one item of a reconciliation page (the REST list the
/// poller reads, in WooCommerce's wire encoding) get one identity.
#[test]
fn a_woocommerce_webhook_and_its_reconciliation_share_one_dedupe_key() {
    for body in [WOO_BODY, WOO_REFUNDED_BODY] {
        let order: Value = serde_json::from_str(body).unwrap();
        let page = fake_woocommerce::php_json_encode(&json!([order]));
        let polled = parse_orders_page(&page).unwrap();
        assert_eq!(
            event_key(Platform::Woocommerce, Some("con_1"), &polled[0].identity()),
            dedupe_key(Platform::Woocommerce, Some("con_1"), body, "evt_webhook"),
        );
    }
}

async fn a_woocommerce_order_by_webhook_and_by_reconciliation_is_stored_once(backend: Backend) {
    let (store, app, tenant, _) = woocommerce_shop_connected(backend).await;
    let mut order: Value = serde_json::from_str(WOO_BODY).unwrap();
    order["date_modified_gmt"] = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
        .into();
    // The webhook arrives, and the store's REST API lists the same order.
    ingest(
        &app,
        &tenant,
        "woocommerce",
        "evt_webhook",
        &order.to_string(),
    )
    .await;
    store.put_order(order);
    let polled = store.order_list_requests();
    wait_until("two reconciliations after the webhook", 30, || async {
        match store.order_list_requests() {
            n if n >= polled + 2 => Ok(()),
            n => Err(format!("{n} order list requests")),
        }
    })
    .await;
    wait_until("the order delivered", 30, || async {
        match delivered_count(&app, &tenant).await {
            1 => Ok(()),
            n => Err(format!("{n} delivered")),
        }
    })
    .await;

    let (_, events) = app
        .get("/api/v1/events?platform=woocommerce", &tenant.key)
        .await;
    let events = events["data"].as_array().unwrap();
    assert_eq!(events.len(), 1, "stored once: {events:?}");
    assert_eq!(events[0]["edge_event_id"], "evt_webhook");
    assert_eq!(balance(&app, &tenant).await, 9, "charged once");
    let (_, connections) = app.get("/api/v1/connections", &tenant.key).await;
    assert!(
        connections["data"][0]["last_error"].is_null(),
        "nothing reached us only through reconciliation: {connections}"
    );
}

/// Two origins on one PostgreSQL share the work and deliver each order once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_origins_on_postgres_share_the_work_without_doubling_it() {
    let first = pipeline_app(Backend::Postgres).await;
    let outbox = first.data_dir.path().join("outbox");
    let second_dir = tempfile::tempdir().unwrap();
    let mut settings = common::test_settings(second_dir.path(), &first.database_url);
    settings.max_body_bytes = 64 * 1024;
    settings.pipeline.outbox_dir = outbox.clone();
    let second = Application::build(settings).await.unwrap();
    tokio::spawn(second.run());
    let tenant = first.tenant(1000).await;
    code_product(&first, &tenant, json!({"woocommerce_product_id": 501}), 80).await;
    let sends = (0..80u64).map(|n| {
        let mut order: Value = serde_json::from_str(WOO_BODY).unwrap();
        order["id"] = (20_000 + n).into();
        order["line_items"] = json!([order["line_items"][0].clone()]);
        let (app, tenant) = (&first, &tenant);
        async move {
            ingest(
                app,
                tenant,
                "woocommerce",
                &format!("evt_{n}"),
                &order.to_string(),
            )
            .await
        }
    });
    futures_util::future::join_all(sends).await;
    wait_until("80 orders delivered", 60, || async {
        match delivered_count(&first, &tenant).await {
            80 => Ok(()),
            n => Err(format!("{n} delivered")),
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(balance(&first, &tenant).await, 920);
    assert_eq!(emails_in(&outbox), 80);
    let codes: HashSet<String> = orders(&first, &tenant)
        .await
        .iter()
        .map(|o| o["items"][0]["license_code"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 80, "no code twice");
}

on_both_backends!(
    ebay_order_confirmation_fetches_the_order_and_delivers_it,
    etsy_poller_delivers_every_receipt_once_through_429_refresh_and_paging,
    woocommerce_connect_registers_webhooks_and_reconciliation_catches_missed_orders,
    a_woocommerce_order_by_webhook_and_by_reconciliation_is_stored_once,
);
