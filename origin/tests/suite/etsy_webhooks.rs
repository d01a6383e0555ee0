//! Etsy's pushed `order.paid`, as the edge hands it on: the origin routes a shop to its
//! connection, fetches the receipt a webhook names from Etsy (the fake) and takes it in under
//! the identity the poller gives that receipt, so a webhook and the next poll of the same
//! receipt deliver once; a webhook naming another shop's receipt fetches nothing.

use crate::common;

use std::time::Duration;

use common::{Backend, Tenant, TestApp};
use e2e::harness::fake_etsy::{self, FakeEtsy, webhooks::order_paid_body};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::internal::INGEST_PATH;

use crate::pipeline_platforms::{balance, code_product, delivered_count, etsy_receipt, wait_until};

const ETSY_PAGE: &str = include_str!("../../../fixtures/etsy/get-shop-receipts.response.json");
const SHOP: &str = "12345678";

/// An app polling the fake Etsy every `poll` and a tenant with 10 tokens, a code product
/// mapped to listing 4242 and an Etsy connection of shop 12345678; the connection's id.
async fn etsy_shop_connected(
    backend: Backend,
    poll: Duration,
) -> (FakeEtsy, TestApp, Tenant, String) {
    let etsy = FakeEtsy::start().await;
    let base = etsy.base_url.clone();
    let app = TestApp::spawn_configured(backend, 64 * 1024, |p| {
        p.etsy_api_base_url = base;
        p.etsy_api_key = Some(fake_etsy::KEYSTRING.into());
        p.etsy_shared_secret = Some(fake_etsy::SHARED_SECRET.into());
        p.etsy_poll_interval = poll;
        p.tick = Duration::from_millis(50);
    })
    .await;
    let tenant = app.tenant(10).await;
    code_product(&app, &tenant, json!({"etsy_listing_id": 4242}), 5).await;
    let (status, body) = app
        .post(
            "/api/v1/connections",
            &tenant.key,
            json!({"platform": "etsy", "shop_id": SHOP, "access_token": etsy.issue_access_token(),
                   "refresh_token": fake_etsy::REFRESH_TOKEN}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let connection = body["data"]["id"].as_str().unwrap().to_owned();
    (etsy, app, tenant, connection)
}

fn now_secs() -> u64 {
    e2e::harness::unix_now()
}

/// A paid receipt of listing 4242, updated a moment ago.
fn paid_receipt(receipt_id: u64) -> Value {
    let template = serde_json::from_str::<Value>(ETSY_PAGE).unwrap()["results"][0].clone();
    etsy_receipt(&template, receipt_id, 4242, now_secs() - 5)
}

/// Hands a webhook body to ingest as the edge does: routed to `connection`.
async fn ingest_webhook(
    app: &TestApp,
    tenant: &Tenant,
    connection: &str,
    edge_id: &str,
    body: &str,
) -> Value {
    let event = json!({
        "edge_event_id": edge_id, "tenant_id": tenant.id, "platform": "etsy",
        "connection_id": connection, "received_at_ms": now_secs() * 1000,
        "headers": {"webhook-id": format!("msg_{edge_id}")}, "body": body,
    });
    let (status, answer) = app
        .edge(Method::POST, INGEST_PATH, &event.to_string())
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["data"].clone()
}

async fn etsy_events(app: &TestApp, tenant: &Tenant) -> Vec<Value> {
    let (status, body) = app
        .get("/api/v1/events?platform=etsy&limit=100", &tenant.key)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].as_array().unwrap().clone()
}

async fn an_etsy_webhook_and_the_next_poll_of_its_receipt_deliver_once(backend: Backend) {
    let (etsy, app, tenant, connection) =
        etsy_shop_connected(backend, Duration::from_secs(1)).await;
    // The poller has read the shop once, before the order was paid.
    wait_until("a first poll", 10, || async {
        match etsy.receipt_requests() {
            0 => Err("no poll yet".into()),
            _ => Ok(()),
        }
    })
    .await;
    etsy.put_receipt(SHOP, paid_receipt(7_000_001));
    let polls_before = etsy.receipt_requests();
    let body = order_paid_body(SHOP.parse().unwrap(), 7_000_001);
    let first = ingest_webhook(&app, &tenant, &connection, "evt_w1", &body).await;
    // Etsy retries the same message: one event.
    let retry = ingest_webhook(&app, &tenant, &connection, "evt_w2", &body).await;
    assert_eq!(retry["duplicate"], true, "{retry}");
    assert_eq!(retry["event_id"], first["event_id"]);
    wait_until("the order delivered", 20, || async {
        match delivered_count(&app, &tenant).await {
            1 => Ok(()),
            n => Err(format!("{n} delivered")),
        }
    })
    .await;
    assert!(
        etsy.single_receipt_requests() >= 1,
        "the receipt was fetched"
    );
    // The next polls list the same receipt: it is the event the webhook brought.
    wait_until("two polls after the webhook", 10, || async {
        if etsy.receipt_requests() >= polls_before + 2 {
            Ok(())
        } else {
            Err(format!("{} polls", etsy.receipt_requests()))
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(delivered_count(&app, &tenant).await, 1);
    assert_eq!(balance(&app, &tenant).await, 10 - 1, "charged once");
    let events = etsy_events(&app, &tenant).await;
    let keys: Vec<&str> = events
        .iter()
        .map(|e| e["dedupe_key"].as_str().unwrap())
        .collect();
    assert_eq!(
        events.len(),
        2,
        "the webhook and one receipt event: {keys:?}"
    );
    assert!(
        keys.contains(&"etsy:7000001:webhook:order.paid"),
        "{keys:?}"
    );
    assert!(keys.contains(&"etsy:7000001:paid"), "{keys:?}");
    assert!(
        events.iter().all(|e| e["status"] == "processed"),
        "{events:?}"
    );
}

async fn an_etsy_webhook_naming_another_shop_fetches_nothing(backend: Backend) {
    let (etsy, app, tenant, connection) =
        etsy_shop_connected(backend, Duration::from_secs(3600)).await;
    etsy.put_receipt("999", paid_receipt(7_000_002));
    // The payload's shop is the connection's, the URL another shop's receipt.
    let body = json!({
        "event_type": "order.paid",
        "resource_url": "https://openapi.etsy.com/v3/application/shops/999/receipts/7000002",
        "shop_id": SHOP.parse::<u64>().unwrap(),
    })
    .to_string();
    ingest_webhook(&app, &tenant, &connection, "evt_x", &body).await;
    // An event type the origin does not act on is kept and ignored too.
    let shipped =
        order_paid_body(SHOP.parse().unwrap(), 7_000_003).replace("order.paid", "order.shipped");
    ingest_webhook(&app, &tenant, &connection, "evt_s", &shipped).await;
    wait_until("both events ignored", 10, || async {
        let events = etsy_events(&app, &tenant).await;
        if events.len() == 2 && events.iter().all(|e| e["status"] == "ignored") {
            Ok(())
        } else {
            Err(format!("{events:?}"))
        }
    })
    .await;
    let events = etsy_events(&app, &tenant).await;
    assert!(
        events.iter().any(|e| e["last_error"]
            .as_str()
            .is_some_and(|m| m.contains("no receipt of the connection's shop 12345678"))),
        "{events:?}"
    );
    assert_eq!(etsy.single_receipt_requests(), 0, "no receipt fetched");
    assert_eq!(delivered_count(&app, &tenant).await, 0);
}

async fn the_edge_learns_which_connection_has_an_etsy_shop(backend: Backend) {
    let (_etsy, app, tenant, connection) =
        etsy_shop_connected(backend, Duration::from_secs(3600)).await;
    let path = shared::etsy::etsy_shop_route_path(SHOP);
    let (status, body) = app.edge(Method::GET, &path, "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"],
        json!({"tenant_id": tenant.id, "connection_id": connection, "active": true})
    );
    for unknown in ["87654321", "12a", "1".repeat(30).as_str()] {
        let path = format!("/internal/v1/etsy/shops/{unknown}");
        let (status, body) = app.edge(Method::GET, &path, "").await;
        common::assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    // Without the edge signature: refused like every internal route.
    let response = reqwest::get(format!("{}{path}", app.origin)).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // A deleted connection routes nothing.
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/connections/{connection}"),
            &tenant.key,
            None,
        )
        .await;
    assert!(status.is_success(), "{status}");
    let (status, body) = app.edge(Method::GET, &path, "").await;
    common::assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
}

on_both_backends!(
    an_etsy_webhook_and_the_next_poll_of_its_receipt_deliver_once,
    an_etsy_webhook_naming_another_shop_fetches_nothing,
    the_edge_learns_which_connection_has_an_etsy_shop,
);
