//! Connecting an eBay seller in one click, through the worker under `wrangler dev`: the API
//! answers eBay's consent page, the fake eBay approves and sends the seller's browser back to
//! the edge with a URL-encoded code, the origin exchanges it, names the seller with getUser and
//! subscribes them to ORDER_CONFIRMATION. The seller's user tokens live three seconds, so the
//! token is refreshed before the signed ORDER_CONFIRMATION arrives, and the order is still
//! fetched, delivered and marked shipped on eBay.

use std::time::{Duration, Instant};

use e2e::harness::fake_ebay::{self, SELLER_USER_ID};
use e2e::harness::fake_ebay_oauth::RU_NAME;
use e2e::harness::outbox::read_outbox;
use e2e::{EbayTestKey, EdgeSystem, OriginApi, SystemOptions};
use reqwest::Method;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

/// The system's public https address, as eBay's RuName has it.
const PUBLIC_HTTPS: &str = "https://yoursender.test";
const EBAY_ORDER: &[u8] =
    include_bytes!("../../fixtures/ebay/notification-order-confirmation.body");

async fn code_product(api: &OriginApi, sku: &str, mappings: Value, codes: &[&str]) {
    let (status, product) = api
        .call(
            Method::POST,
            "/api/v1/products",
            Some(json!({"sku": sku, "name": format!("Licence {sku}"), "type": "CODE", "mappings": mappings})),
        )
        .await;
    assert_eq!(status, 201, "{product}");
    let path = format!(
        "/api/v1/products/{}/codes",
        product["data"]["id"].as_str().unwrap()
    );
    let (status, answer) = api.call(Method::POST, &path, Some(json!(codes))).await;
    assert_eq!(status, 200, "{answer}");
}

async fn wait_for(what: &str, mut ready: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(40);
    while !ready().await {
        assert!(Instant::now() < deadline, "{what} never happened");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ebay_seller_connected_in_one_click_has_the_next_order_delivered_across_a_refresh() {
    let env = [
        ("CONNECT_CALLBACK_BASE_URL", PUBLIC_HTTPS),
        ("EBAY_CLIENT_ID", fake_ebay::CLIENT_ID),
        ("EBAY_CLIENT_SECRET", fake_ebay::CLIENT_SECRET),
        ("EBAY_RU_NAME", RU_NAME),
        ("EBAY_NOTIFICATION_DESTINATION_ID", "dest-orders-1"),
    ];
    let system = EdgeSystem::start(SystemOptions {
        origin_env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..SystemOptions::default()
    })
    .await;
    let ebay = &system.ebay;
    ebay.consents()
        .set_accept_url(&format!("{PUBLIC_HTTPS}/connect/ebay/callback"));
    ebay.set_user_token_lifetime(3);
    let (_tenant, api) = system.tenant("eBay one-click seller");
    code_product(
        &api,
        "EBAY-LIC",
        json!({"ebay_item_id": "296512345678"}),
        &["LIC-1"],
    )
    .await;
    code_product(
        &api,
        "EBAY-BOOK",
        json!({"ebay_sku": "EBOOK-RUST-PDF"}),
        &["BOOK-1", "BOOK-2"],
    )
    .await;

    let (status, started) = api
        .call(
            Method::POST,
            "/api/v1/connections/ebay/authorize",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 201, "{started}");
    let browser = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let consent = browser
        .get(started["data"]["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(consent.status(), 302);
    let location = consent.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.contains("&code=v%5E1.1%23"), "{location}");
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
    assert!(
        back.text()
            .await
            .unwrap()
            .contains("eBay account connected")
    );

    let (_, listed) = api.call(Method::GET, "/api/v1/connections", None).await;
    let connection = &listed["data"][0];
    assert_eq!(connection["status"], "active", "{listed}");
    assert_eq!(connection["account_id"], SELLER_USER_ID);
    assert!(connection["last_error"].is_null(), "{connection}");
    let subscriptions = ebay.consents().subscriptions();
    assert_eq!(subscriptions.len(), 1);
    assert_eq!(subscriptions[0].body["topicId"], "ORDER_CONFIRMATION");

    // The first user token ends after three seconds: a refresh replaces it.
    wait_for("a refresh", async || ebay.user_token_refreshes() >= 1).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    let key = EbayTestKey::generate("3c1f8a20-6b7d-4e59-a1c2-0d9e8f7a6b5c");
    ebay.add_key(&key.kid, &key.public_key_pem_one_line());
    // To the app's one endpoint: where the seller's ORDER_CONFIRMATION subscription delivers.
    let answer = system
        .send_ebay_to_app(EBAY_ORDER, Some(&key.signature_header(EBAY_ORDER)))
        .await;
    assert_eq!(answer.status(), 204);

    wait_for("the order delivered", async || {
        let (_, page) = api.call(Method::GET, "/api/v1/orders", None).await;
        page["data"][0]["status"] == "delivered"
    })
    .await;
    assert!(ebay.order_requests() >= 1);
    wait_for("both lines marked shipped", async || {
        ebay.fulfillments().created().len() == 2
    })
    .await;
    let emails = read_outbox(&system.origin.data_dir().join("outbox"));
    assert!(
        emails
            .iter()
            .any(|e| e.contains("LIC-1") && e.contains("BOOK-1")),
        "{emails:?}"
    );

    // No token reached a log.
    let log = system.origin.log_text();
    assert!(
        !log.contains("seller-user-token"),
        "a user token was logged"
    );
    assert!(
        !log.contains("seller-refresh-token"),
        "the refresh token was logged"
    );
    assert!(!log.contains("v^1.1#i^1#r^1"), "the code was logged");
}
