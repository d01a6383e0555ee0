//! Paid orders through the whole system: signed platform deliveries at the worker under
//! `wrangler dev`, queued, forwarded to the real origin, delivered into its outbox.

use std::time::Duration;

use e2e::harness::fake_ebay::SELLER_TOKEN;
use e2e::harness::fake_woocommerce::php_json_encode;
use e2e::harness::outbox::download_paths;
use e2e::{EdgeSystem, OriginApi, SystemOptions, WranglerDev, woocommerce_signature};
use reqwest::Method;
use serde_json::{Value, json};

const SECRET: &str = "wcPipelineSecret4Xk9Lm2Qr7";
const WOO_BODY: &str = include_str!("../../fixtures/woocommerce/order-created.body");
const EBAY_ORDER: &[u8] =
    include_bytes!("../../fixtures/ebay/notification-order-confirmation.body");

/// A FILE product mapped to WooCommerce product `product_id`, with `bytes` uploaded through
/// the edge at `edge`.
async fn file_product(
    api: &OriginApi,
    edge: &WranglerDev,
    sku: &str,
    product_id: u64,
    bytes: &[u8],
) {
    let (status, product) = api
        .call(
            Method::POST,
            "/api/v1/products",
            Some(json!({"sku": sku, "name": "The guide", "type": "FILE",
                        "mappings": {"woocommerce_product_id": product_id}})),
        )
        .await;
    assert_eq!(status, 201, "{product}");
    let path = format!(
        "/api/v1/products/{}/files",
        product["data"]["id"].as_str().unwrap()
    );
    let (status, slot) = api
        .call(Method::POST, &path, Some(json!({"filename": "guide.pdf"})))
        .await;
    assert_eq!(status, 201, "{slot}");
    // The origin names itself in upload URLs here (it starts before the worker): keep the path
    // and query, send it to the worker.
    let url = reqwest::Url::parse(slot["data"]["upload_url"].as_str().unwrap()).unwrap();
    let path = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let upload = reqwest::Client::new()
        .put(edge.url(&path))
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    assert!(
        upload.status().is_success(),
        "{}",
        upload.text().await.unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paid_orders_through_the_edge_are_delivered_once() {
    let system = EdgeSystem::start(SystemOptions::default()).await;
    let (tenant, api) = system.tenant("Pipeline shop");
    let tenant_id = tenant.tenant_id.as_str();
    api.connect_woocommerce("https://shop.example.com", SECRET)
        .await;
    api.code_product(
        "WOO-1",
        json!({"woocommerce_product_id": 501}),
        &["WOO-CODE-1", "WOO-CODE-2"],
    )
    .await;
    file_product(&api, &system.edge, "GUIDE", 777, b"%PDF-1.7 the guide").await;
    let start = api.token_balance().await;

    // A code line and a file line, signed over WooCommerce's own bytes, delivered and then
    // replayed 5 times.
    let mut order: Value = serde_json::from_str(WOO_BODY).unwrap();
    order["line_items"][1]["quantity"] = json!(1);
    let body = php_json_encode(&order);
    let signature = woocommerce_signature(SECRET.as_bytes(), &body);
    for _ in 0..6 {
        let answer = system
            .send_woocommerce(tenant_id, &body, Some(&signature))
            .await;
        assert_eq!(answer.status(), 200);
    }
    api.orders_when(|o| o.len() == 1 && o[0]["status"] == "delivered")
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let emails = system.outbox();
    assert_eq!(emails.len(), 1, "one email for six deliveries");
    assert!(emails[0].contains("WOO-CODE-1"), "{}", emails[0]);
    assert!(emails[0].contains("anna.keller@example.net"));
    assert_eq!(api.token_balance().await, start - 2, "one token per item");

    // The download link works through the worker, and a forged one does not.
    let links = download_paths(&emails[0]);
    assert_eq!(links.len(), 1, "{}", emails[0]);
    let client = reqwest::Client::new();
    let file = client.get(system.edge.url(&links[0])).send().await.unwrap();
    assert_eq!(file.status(), 200);
    assert_eq!(file.bytes().await.unwrap().as_ref(), b"%PDF-1.7 the guide");
    let forged = links[0].replace("/d/dl_", "/d/dl_0");
    let refused = client.get(system.edge.url(&forged)).send().await.unwrap();
    assert_eq!(refused.status(), 404);

    // eBay: a signed ORDER_CONFIRMATION, the order fetched from the fake Fulfillment API.
    api.connect_ebay_seller(SELLER_TOKEN).await;
    api.code_product(
        "EBAY-1",
        json!({"ebay_item_id": "296512345678"}),
        &["EBAY-CODE-1"],
    )
    .await;
    let answer = system.send_signed_ebay(tenant_id, EBAY_ORDER).await;
    assert_eq!(answer.status(), 204);
    let orders = api
        .orders_when(|o| {
            o.iter()
                .any(|o| o["platform"] == "ebay" && o["status"] == "delivered")
        })
        .await;
    assert_eq!(orders.len(), 2);
    assert!(system.ebay.order_requests() >= 1);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(system.outbox().iter().any(|e| e.contains("EBAY-CODE-1")));
    assert_eq!(
        api.token_balance().await,
        start - 3,
        "two WooCommerce items, one eBay item"
    );

    // The origin's log of the whole run names routes and link ids, never a credential or
    // what a buyer paid for.
    let log = system.origin.log_text();
    let token = links[0].trim_start_matches("/d/");
    let link_id = token.split('.').next().unwrap();
    assert!(
        log.contains(&format!("link_id={link_id}")) && log.contains("route=/d/{token}"),
        "the download's request line names the route and the link:\n{log}"
    );
    for secret in [
        token,
        tenant.api_key.as_str(),
        SECRET,
        SELLER_TOKEN,
        e2e::EDGE_SECRET,
        "WOO-CODE-1",
        "EBAY-CODE-1",
    ] {
        assert!(
            !log.contains(secret),
            "{secret} reached the origin's log:\n{log}"
        );
    }
}
