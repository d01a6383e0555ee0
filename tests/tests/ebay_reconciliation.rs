//! eBay reconciliation through the whole system: an `ORDER_CONFIRMATION` signed at the worker
//! under `wrangler dev`, and an order whose notification never came, found by the origin's
//! poll of the fake Fulfillment API's `getOrders`. Each is delivered once.

use std::time::Duration;

use e2e::harness::fake_ebay::SELLER_TOKEN;
use e2e::harness::wait_for;
use e2e::{EdgeSystem, SystemOptions};
use serde_json::{Value, json};

const EBAY_ORDER: &[u8] =
    include_bytes!("../../fixtures/ebay/notification-order-confirmation.body");
const GET_ORDER: &str = include_str!("../../fixtures/ebay/get-order.response.json");

/// `secs` as the Fulfillment API writes dates.
fn ebay_date(secs: u64) -> String {
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.000Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// How long each step may take.
const PATIENCE: Duration = Duration::from_secs(40);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notified_order_and_one_only_the_poll_finds_are_each_delivered_once() {
    let options = SystemOptions {
        origin_env: vec![("EBAY_RECONCILE_INTERVAL_SECS".into(), "1".into())],
        ..SystemOptions::default()
    };
    let system = EdgeSystem::start(options).await;
    let (tenant, api) = system.tenant("eBay Seller");
    api.code_product(
        "EBAY-LIC",
        json!({"ebay_item_id": "296512345678"}),
        &["LIC-1", "LIC-2"],
    )
    .await;
    api.code_product(
        "EBAY-BOOK",
        json!({"ebay_sku": "EBOOK-RUST-PDF"}),
        &["BOOK-1", "BOOK-2", "BOOK-3", "BOOK-4"],
    )
    .await;
    let now = e2e::harness::unix_now();
    // The notified order, listed by getOrders in the state getOrder answers.
    let mut notified: Value = serde_json::from_str(GET_ORDER).unwrap();
    notified["lastModifiedDate"] = ebay_date(now - 20).into();
    system.ebay.set_order(notified.clone());
    system.ebay.orders().put_order(notified);
    // An order whose ORDER_CONFIRMATION never came: one ebook.
    let mut missed: Value = serde_json::from_str(GET_ORDER).unwrap();
    missed["orderId"] = "13-99999-00001".into();
    missed["creationDate"] = ebay_date(now - 90).into();
    missed["lastModifiedDate"] = ebay_date(now - 60).into();
    missed["lineItems"] = json!([missed["lineItems"][1].clone()]);
    missed["lineItems"][0]["lineItemId"] = "10079999900001".into();
    missed["lineItems"][0]["quantity"] = 1.into();
    missed["lineItems"][0]["lineItemCost"] = json!({"value": "9.99", "currency": "USD"});
    system.ebay.orders().put_order(missed);

    api.connect_ebay_seller(SELLER_TOKEN).await;
    let answer = system.send_signed_ebay(&tenant.tenant_id, EBAY_ORDER).await;
    assert_eq!(answer.status(), 204);

    let delivered = async || api.orders("limit=100&status=delivered").await;
    wait_for("both delivered", PATIENCE, async || {
        (delivered().await.len() >= 2).then_some(())
    })
    .await;
    // Further polls read both again: nothing doubles.
    let polled = system.ebay.orders().queries().len();
    wait_for("two more polls", PATIENCE, async || {
        (system.ebay.orders().queries().len() >= polled + 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut ids: Vec<String> = delivered()
        .await
        .iter()
        .map(|o| o["platform_order_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    assert_eq!(ids, ["13-12345-67890", "13-99999-00001"]);
    assert_eq!(
        api.token_balance().await,
        96,
        "1 + 2 units notified, 1 polled, once each"
    );
    let emails = system.outbox();
    assert_eq!(emails.len(), 2, "one email per order");
}
