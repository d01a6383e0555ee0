//! Connecting an Etsy shop through the worker under `wrangler dev`: the API answers Etsy's
//! connect page, the fake Etsy approves and sends the seller back to the edge, the origin
//! exchanges the code with its PKCE verifier and learns the shop; then the shop's next paid
//! order arrives as a signed `order.paid`, is delivered, Etsy is told it shipped, and the
//! next poll of that receipt adds nothing.

use std::time::{Duration, Instant};

use e2e::harness::fake_etsy::oauth::CONNECTED_SHOP_ID;
use e2e::harness::fake_etsy::webhooks::WEBHOOK_SECRET;
use e2e::harness::fake_etsy::{self, FakeEtsy};
use e2e::{EdgeSystem, OriginApi, SystemOptions};
use reqwest::Method;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

/// The system's public https address, as Etsy's app registers it.
const PUBLIC_HTTPS: &str = "https://yoursender.test";
const RECEIPTS: &str = include_str!("../../fixtures/etsy/get-shop-receipts.response.json");
const RECEIPT_ID: u64 = 4_300_001;

/// A paid receipt of listing 4242 (the fixture's first), updated a moment ago.
fn paid_receipt(receipt_id: u64) -> Value {
    let mut receipt = serde_json::from_str::<Value>(RECEIPTS).unwrap()["results"][0].clone();
    let now = e2e::harness::unix_now();
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

async fn wait_for<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(Instant::now() < deadline, "{what} never happened");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn orders(api: &OriginApi) -> Vec<Value> {
    let (_, page) = api
        .call(Method::GET, "/api/v1/orders?limit=100", None)
        .await;
    page["data"].as_array().cloned().unwrap_or_default()
}

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
    let (status, product) = api
        .call(
            Method::POST,
            "/api/v1/products",
            Some(
                json!({"sku": "ETSY-CONNECT", "name": "Licence", "type": "CODE",
                        "mappings": {"etsy_listing_id": 4242}}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{product}");
    let codes = format!(
        "/api/v1/products/{}/codes",
        product["data"]["id"].as_str().unwrap()
    );
    let (status, _) = api
        .call(Method::POST, &codes, Some(json!(["ETSY-CONNECT-CODE-1"])))
        .await;
    assert_eq!(status, 200);

    // The seller at Etsy's connect page: approved and sent back to the edge.
    let (status, started) = api
        .call(
            Method::POST,
            "/api/v1/connections/etsy/authorize",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 201, "{started}");
    let state = started["data"]["state"].as_str().unwrap();
    let browser = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let connect_page = browser
        .get(started["data"]["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(connect_page.status(), 302);
    let location = connect_page.headers()["location"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(location.ends_with(&format!("&state={state}")), "{location}");
    let back = browser
        .get(
            system
                .edge
                .url(location.strip_prefix(PUBLIC_HTTPS).unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), 200);
    assert!(back.text().await.unwrap().contains("Etsy shop connected"));
    let (_, listed) = api.call(Method::GET, "/api/v1/connections", None).await;
    let connections = listed["data"].as_array().unwrap();
    assert_eq!(connections.len(), 1, "{listed}");
    assert_eq!(connections[0]["status"], "active");
    assert_eq!(connections[0]["shop_id"], CONNECTED_SHOP_ID.to_string());

    // The connection's first poll has run with the granted token (nothing there yet).
    wait_for("the first poll", async || {
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

    wait_for("the delivery", async || {
        let found = orders(&api).await;
        (found.len() == 1 && found[0]["status"] == "delivered").then_some(())
    })
    .await;
    assert!(
        etsy.single_receipt_requests() >= 1,
        "the webhook's receipt was fetched"
    );
    let shipped = wait_for("createReceiptShipment", async || {
        let shipped = etsy.shipments().shipped();
        (!shipped.is_empty()).then_some(shipped)
    })
    .await;
    assert_eq!(shipped[0].shop_id, shop);
    assert_eq!(shipped[0].receipt_id, RECEIPT_ID.to_string());

    // Two more polls read the same receipt: still one order, one charge, one shipment.
    let polled = etsy.receipt_requests();
    wait_for("two more polls", async || {
        (etsy.receipt_requests() >= polled + 2).then_some(())
    })
    .await;
    let found = orders(&api).await;
    assert_eq!(found.len(), 1, "delivered once: {found:?}");
    let (_, tenant) = api.call(Method::GET, "/api/v1/tenant", None).await;
    assert_eq!(
        tenant["data"]["token_balance"], 99,
        "charged once: {tenant}"
    );
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
