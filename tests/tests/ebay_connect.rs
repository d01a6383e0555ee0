//! Connecting an eBay seller in one click, through the worker under `wrangler dev`: the API
//! answers eBay's consent page, the fake eBay approves and sends the seller's browser back to
//! the edge with a URL-encoded code, the origin exchanges it, names the seller with getUser and
//! subscribes them to ORDER_CONFIRMATION. The seller's user tokens live three seconds, so the
//! token is refreshed before the signed ORDER_CONFIRMATION arrives, and the order is still
//! fetched, delivered and marked shipped on eBay.

use std::time::Duration;

use e2e::harness::connect_pages::visit;
use e2e::harness::fake_ebay::{self, SELLER_USER_ID};
use e2e::harness::fake_ebay_oauth::RU_NAME;
use e2e::harness::wait_for;
use e2e::{EbayTestKey, EdgeSystem, PUBLIC_HTTPS, SystemOptions};
use serde_json::json;

const EBAY_ORDER: &[u8] =
    include_bytes!("../../fixtures/ebay/notification-order-confirmation.body");
/// How long each step may take.
const PATIENCE: Duration = Duration::from_secs(40);

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
    api.code_product(
        "EBAY-LIC",
        json!({"ebay_item_id": "296512345678"}),
        &["LIC-1"],
    )
    .await;
    api.code_product(
        "EBAY-BOOK",
        json!({"ebay_sku": "EBOOK-RUST-PDF"}),
        &["BOOK-1", "BOOK-2"],
    )
    .await;

    let started = api.authorize("ebay", json!({})).await;
    let location = visit(started["url"].as_str().unwrap())
        .await
        .expect("eBay's consent page sends the seller back");
    assert!(location.contains("&code=v%5E1.1%23"), "{location}");
    let (status, page) = system.return_page(&location).await;
    assert_eq!(status, 200);
    assert!(page.contains("eBay account connected"));

    let connections = api.connections().await;
    let connection = &connections[0];
    assert_eq!(connection["status"], "active", "{connections:?}");
    assert_eq!(connection["account_id"], SELLER_USER_ID);
    assert!(connection["last_error"].is_null(), "{connection}");
    let subscriptions = ebay.consents().subscriptions();
    assert_eq!(subscriptions.len(), 1);
    assert_eq!(subscriptions[0].body["topicId"], "ORDER_CONFIRMATION");

    // The first user token ends after three seconds: a refresh replaces it.
    wait_for("a refresh", PATIENCE, async || {
        (ebay.user_token_refreshes() >= 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    let key = EbayTestKey::generate("3c1f8a20-6b7d-4e59-a1c2-0d9e8f7a6b5c");
    ebay.add_key(&key.kid, &key.public_key_pem_one_line());
    // To the app's one endpoint: where the seller's ORDER_CONFIRMATION subscription delivers.
    let answer = system
        .send_ebay_to_app(EBAY_ORDER, Some(&key.signature_header(EBAY_ORDER)))
        .await;
    assert_eq!(answer.status(), 204);

    wait_for("the order delivered", PATIENCE, async || {
        let orders = api.orders("limit=100").await;
        (orders.first().is_some_and(|o| o["status"] == "delivered")).then_some(())
    })
    .await;
    assert!(ebay.order_requests() >= 1);
    wait_for("both lines marked shipped", PATIENCE, async || {
        (ebay.fulfillments().created().len() == 2).then_some(())
    })
    .await;
    let emails = system.outbox();
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
