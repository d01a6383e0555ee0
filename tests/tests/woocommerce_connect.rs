//! Connecting a WooCommerce store in one click, through the worker under `wrangler dev`: the
//! API answers the store's grant page, the fake store's admin approves, the store POSTs the
//! keys to the edge (through its TLS terminator), the origin makes the connection and
//! registers its webhooks with the store, and the next paid order the store signs is
//! delivered and then completed in the store.

use std::time::Duration;

use e2e::harness::connect_pages::visit;
use e2e::harness::fake_woocommerce::{FakeWooCommerce, php_json_encode};
use e2e::harness::wait_for;
use e2e::{EdgeSystem, PUBLIC_HTTPS, SystemOptions};
use serde_json::{Value, json};

const WOO_BODY: &str = include_str!("../../fixtures/woocommerce/order-created.body");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_connected_in_one_click_has_its_next_paid_order_delivered() {
    let system = EdgeSystem::start(SystemOptions {
        origin_env: vec![(
            "CONNECT_CALLBACK_BASE_URL".to_owned(),
            PUBLIC_HTTPS.to_owned(),
        )],
        ..SystemOptions::default()
    })
    .await;
    let store = FakeWooCommerce::start().await;
    store.reach_https_through(PUBLIC_HTTPS, &system.edge.url(""));
    let (tenant, api) = system.tenant("One-click shop");

    let started = api
        .authorize("woocommerce", json!({ "store_url": store.base_url }))
        .await;
    let state = started["state"].as_str().unwrap();

    // The seller's browser at the grant page: approved, keys POSTed, sent back.
    let location = visit(started["url"].as_str().unwrap())
        .await
        .unwrap_or_else(|page| panic!("the grant page stayed: {page:?} {:?}", store.grants()));
    assert_eq!(
        location,
        format!("{PUBLIC_HTTPS}/connect/woocommerce/callback?success=1&user_id={state}")
    );
    let grants = store.grants();
    assert_eq!(grants.len(), 1);
    assert_eq!(
        grants[0].callback_status,
        Some(200),
        "the edge relayed exactly 200"
    );
    assert!(grants[0].kept);
    let (status, page) = system.return_page(&location).await;
    assert_eq!(status, 200);
    assert!(page.contains("Store connected"));

    // The connection is active, with the store's two order webhooks pointing at its own URL.
    let connections = api.connections().await;
    assert_eq!(connections.len(), 1, "{connections:?}");
    let connection = &connections[0];
    assert_eq!(connection["status"], "active");
    assert!(connection["last_error"].is_null(), "{connection}");
    let webhooks = store.webhooks();
    assert_eq!(webhooks.len(), 2, "{webhooks:?}");
    let own_path = format!(
        "/webhooks/woocommerce/{}/{}",
        tenant.tenant_id,
        connection["id"].as_str().unwrap()
    );
    for webhook in &webhooks {
        assert!(webhook.delivery_url.ends_with(&own_path), "{webhook:?}");
    }
    let secret = webhooks[0].secret.clone().unwrap();

    // A paid order, signed by the store with the secret the origin gave it, at the edge.
    api.code_product(
        "ONE-CLICK",
        json!({"woocommerce_product_id": 501}),
        &["ONE-CLICK-CODE-1"],
    )
    .await;
    let mut order: Value = serde_json::from_str(WOO_BODY).unwrap();
    let first_line = order["line_items"][0].clone();
    order["line_items"] = json!([first_line]);
    let body = php_json_encode(&order);
    let delivered = FakeWooCommerce::deliver_from(
        &format!("{}/", store.base_url),
        &system.edge.url(&own_path),
        &secret,
        "order.created",
        &body,
    )
    .await;
    assert_eq!(delivered.status(), 200);
    api.orders_when(|o| o.len() == 1 && o[0]["status"] == "delivered")
        .await;
    let emails = system.outbox();
    assert!(
        emails.iter().any(|e| e.contains("ONE-CLICK-CODE-1")),
        "{emails:?}"
    );

    // The store is told, with the granted keys: the order is completed there, once.
    let completed = wait_for("the order completed", Duration::from_secs(30), async || {
        let applied = store.order_updates().applied();
        (!applied.is_empty()).then_some(applied)
    })
    .await;
    assert_eq!(completed.len(), 1, "{:?}", store.order_updates().calls());
    assert_eq!(completed[0].order_id, order["id"].to_string());
    assert_eq!(completed[0].body["status"], "completed");

    // The granted keys reached no log.
    let log = system.origin.log_text();
    for credential in [&grants[0].consumer_key, &grants[0].consumer_secret, &secret] {
        assert!(!log.contains(credential.as_str()), "{credential} logged");
    }
}
