//! Connecting an Etsy shop through the worker under `wrangler dev`: the API answers Etsy's
//! connect page, the fake Etsy approves and sends the seller back to the edge, the origin
//! exchanges the code with its PKCE verifier and learns the shop; then the shop's next paid
//! order arrives as a signed `order.paid`, is delivered, Etsy is told it shipped, and the
//! next poll of that receipt adds nothing.

use std::time::Duration;

use e2e::harness::connect_pages::visit;
use e2e::harness::fake_etsy::oauth::CONNECTED_SHOP_ID;
use e2e::harness::fake_etsy::webhooks::{WEBHOOK_SECRET, paid_receipt};
use e2e::harness::fake_etsy::{self, FakeEtsy};
use e2e::harness::wait_for;
use e2e::{EdgeSystem, PUBLIC_HTTPS, SystemOptions};
use serde_json::{Value, json};

const RECEIPT_ID: u64 = 4_300_001;
/// How long each step may take.
const PATIENCE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_etsy_shop_connected_through_the_edge_has_its_paid_order_delivered_once() {
    let etsy = FakeEtsy::start().await;
    etsy.allow_redirect_uri(&format!("{PUBLIC_HTTPS}/connect/etsy/callback"));
    let system = EdgeSystem::start(SystemOptions {
        vars: vec![("ETSY_WEBHOOK_SECRET".into(), WEBHOOK_SECRET.into())],
        origin_env: vec![
            ("CONNECT_CALLBACK_BASE_URL".into(), PUBLIC_HTTPS.into()),
            ("ETSY_CLIENT_ID".into(), fake_etsy::KEYSTRING.into()),
            ("ETSY_CONNECT_BASE_URL".into(), etsy.base_url.clone()),
            ("ETSY_API_BASE_URL".into(), etsy.base_url.clone()),
            ("ETSY_SHARED_SECRET".into(), fake_etsy::SHARED_SECRET.into()),
            ("ETSY_POLL_INTERVAL_SECS".into(), "2".into()),
        ],
        ..SystemOptions::default()
    })
    .await;
    let (_tenant, api) = system.tenant("Etsy connect shop");
    api.code_product(
        "ETSY-CONNECT",
        json!({"etsy_listing_id": 4242}),
        &["ETSY-CONNECT-CODE-1"],
    )
    .await;

    // The seller at Etsy's connect page: approved and sent back to the edge.
    let started = api.authorize("etsy", json!({})).await;
    let state = started["state"].as_str().unwrap();
    let location = visit(started["url"].as_str().unwrap())
        .await
        .expect("Etsy's connect page sends the seller back");
    assert!(location.ends_with(&format!("&state={state}")), "{location}");
    let (status, page) = system.return_page(&location).await;
    assert_eq!(status, 200);
    assert!(page.contains("Etsy shop connected"));
    let connections = api.connections().await;
    assert_eq!(connections.len(), 1, "{connections:?}");
    assert_eq!(connections[0]["status"], "active");
    assert_eq!(connections[0]["shop_id"], CONNECTED_SHOP_ID.to_string());

    // The connection's first poll has run with the granted token (nothing there yet).
    wait_for("the first poll", PATIENCE, async || {
        (etsy.receipt_requests() > 0).then_some(())
    })
    .await;
    let shop = CONNECTED_SHOP_ID.to_string();
    etsy.put_receipt(&shop, paid_receipt(RECEIPT_ID));
    let answer = etsy
        .post_order_paid(
            &system.edge.url("/webhooks/etsy"),
            WEBHOOK_SECRET,
            CONNECTED_SHOP_ID,
            RECEIPT_ID,
        )
        .await;
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["data"]["accepted"], true, "{body}");

    api.orders_when(|o| o.len() == 1 && o[0]["status"] == "delivered")
        .await;
    assert!(
        etsy.single_receipt_requests() >= 1,
        "the webhook's receipt was fetched"
    );
    let shipped = wait_for("createReceiptShipment", PATIENCE, async || {
        let shipped = etsy.shipments().shipped();
        (!shipped.is_empty()).then_some(shipped)
    })
    .await;
    assert_eq!(shipped[0].shop_id, shop);
    assert_eq!(shipped[0].receipt_id, RECEIPT_ID.to_string());

    // Two more polls read the same receipt: still one order, one charge, one shipment.
    let polled = etsy.receipt_requests();
    wait_for("two more polls", PATIENCE, async || {
        (etsy.receipt_requests() >= polled + 2).then_some(())
    })
    .await;
    let found = api.orders("limit=100").await;
    assert_eq!(found.len(), 1, "delivered once: {found:?}");
    assert_eq!(api.token_balance().await, 99, "charged once");
    assert_eq!(etsy.shipments().shipped().len(), 1);

    // Neither the tokens Etsy granted nor its code reached the log.
    let log = system.origin.log_text();
    for secret in [
        format!("{}.granted", fake_etsy::USER_ID),
        format!("{}.access", fake_etsy::USER_ID),
        "etsycode".to_owned(),
    ] {
        assert!(!log.contains(&secret), "{secret} logged");
    }
}
