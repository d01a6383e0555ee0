//! eBay reconciliation through the whole system: an `ORDER_CONFIRMATION` signed at the worker
//! under `wrangler dev`, and an order whose notification never came, found by the origin's
//! poll of the fake Fulfillment API's `getOrders`. Each is delivered once.

use std::time::{Duration, Instant};

use e2e::harness::fake_ebay::SELLER_TOKEN;
use e2e::harness::outbox::read_outbox;
use e2e::{EbayTestKey, EdgeSystem, OriginApi, SystemOptions};
use reqwest::Method;
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

async fn delivered(api: &OriginApi) -> Vec<Value> {
    let (_, page) = api
        .call(
            Method::GET,
            "/api/v1/orders?limit=100&status=delivered",
            None,
        )
        .await;
    page["data"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notified_order_and_one_only_the_poll_finds_are_each_delivered_once() {
    let options = SystemOptions {
        origin_env: vec![("EBAY_RECONCILE_INTERVAL_SECS".into(), "1".into())],
        ..SystemOptions::default()
    };
    let system = EdgeSystem::start(options).await;
    let (tenant, api) = system.tenant("eBay Seller");
    code_product(
        &api,
        "EBAY-LIC",
        json!({"ebay_item_id": "296512345678"}),
        &["LIC-1", "LIC-2"],
    )
    .await;
    code_product(
        &api,
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

    let (status, answer) = api
        .call(
            Method::POST,
            "/api/v1/connections",
            Some(json!({"platform": "ebay", "verification_token": "t".repeat(40),
                        "endpoint_url": "https://hooks.example.com/ebay", "access_token": SELLER_TOKEN})),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    let key = EbayTestKey::generate("3c1f8a20-6b7d-4e59-a1c2-0d9e8f7a6b5c");
    system
        .ebay
        .add_key(&key.kid, &key.public_key_pem_one_line());
    let answer = system
        .send_ebay(
            &tenant.tenant_id,
            EBAY_ORDER,
            Some(&key.signature_header(EBAY_ORDER)),
        )
        .await;
    assert_eq!(answer.status(), 204);

    let deadline = Instant::now() + Duration::from_secs(40);
    while delivered(&api).await.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "not both delivered: {:?}",
            delivered(&api).await
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Further polls read both again: nothing doubles.
    let polled = system.ebay.orders().queries().len();
    while system.ebay.orders().queries().len() < polled + 2 {
        assert!(Instant::now() < deadline, "no more polls");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut ids: Vec<String> = delivered(&api)
        .await
        .iter()
        .map(|o| o["platform_order_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    assert_eq!(ids, ["13-12345-67890", "13-99999-00001"]);
    let (_, me) = api.call(Method::GET, "/api/v1/tenant", None).await;
    assert_eq!(
        me["data"]["token_balance"], 96,
        "1 + 2 units notified, 1 polled, once each"
    );
    let emails = read_outbox(&system.origin.data_dir().join("outbox"));
    assert_eq!(emails.len(), 2, "one email per order");
}
