//! The marketplace is told an order is done, against the platform fakes: eBay's
//! createShippingFulfillment per line once its last unit is sent, Etsy's createReceiptShipment
//! and WooCommerce's order completion once every line is; retried after a 5xx, a refusal shown
//! on the order with the platform's message, nothing called with the setting off, and never a
//! second call for a replayed event or a resent order.

use crate::common;

use std::time::Duration;

use common::{Backend, Tenant, TestApp};
use e2e::harness::fake_ebay::FakeEbay;
use e2e::harness::fake_etsy::{self, FakeEtsy};
use e2e::harness::fake_woocommerce::{self, FakeWooCommerce};
use origin::store::fulfilment::FulfilmentOutcome;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::pipeline_platforms::{
    EBAY_ORDER, code_product, ebay_app, etsy_receipt, ingest, orders, wait_until,
};

const ETSY_PAGE: &str = include_str!("../../../fixtures/etsy/get-shop-receipts.response.json");
const WOO_BODY: &str = include_str!("../../../fixtures/woocommerce/order-created.body");
const LINE_ONE: &str = "10071234567813";
const LINE_TWO: &str = "10071234567913";

/// The tenant's only order, in full.
async fn the_order(app: &TestApp, tenant: &Tenant) -> Value {
    let all = orders(app, tenant).await;
    assert_eq!(all.len(), 1, "{all:?}");
    all[0].clone()
}

/// The tenant's first order, once there is one.
async fn first_order(app: &TestApp, tenant: &Tenant) -> Result<Value, String> {
    orders(app, tenant)
        .await
        .first()
        .cloned()
        .ok_or_else(|| "no order yet".to_owned())
}

/// Waits until the order's `fulfilment` entries have these statuses, in order.
async fn wait_for_fulfilment(app: &TestApp, tenant: &Tenant, statuses: &[&str]) -> Value {
    wait_until("the fulfilment calls", 30, || async {
        let all = orders(app, tenant).await;
        let got: Vec<String> = all
            .first()
            .and_then(|o| o["fulfilment"].as_array())
            .map(|f| {
                f.iter()
                    .map(|c| c["status"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        if got == statuses {
            Ok(())
        } else {
            Err(format!("{all:?}"))
        }
    })
    .await;
    the_order(app, tenant).await
}

fn actions(order: &Value) -> Vec<String> {
    order["audit_trail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap().to_owned())
        .collect()
}

/// Retries a second apart, so a retried call is seen within a test.
async fn fast_ebay_app(backend: Backend, ebay: &FakeEbay) -> (TestApp, Tenant) {
    let base = ebay.base_url.clone();
    let app = TestApp::spawn_settings(backend, |s| {
        s.pipeline.ebay_api_base_url = base.clone();
        s.connections.ebay_identity_base_url = Some(base);
        s.pipeline.sending.retry_schedule_secs = vec![1];
        s.pipeline.tick = Duration::from_millis(50);
    })
    .await;
    let tenant = app.tenant(10).await;
    let (status, body) = app
        .post(
            "/api/v1/connections",
            &tenant.key,
            json!({"platform": "ebay", "verification_token": "v".repeat(40),
                   "access_token": e2e::harness::fake_ebay::SELLER_TOKEN}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["data"]["settings"], json!({"mark_fulfilled": true}));
    (app, tenant)
}

async fn ebay_is_told_each_line_once_its_last_unit_is_sent(backend: Backend) {
    let ebay = FakeEbay::start().await;
    let (app, tenant) = ebay_app(backend, ebay.base_url.clone(), ebay.base_url.clone()).await;
    code_product(&app, &tenant, json!({"ebay_item_id": "296512345678"}), 3).await;
    // Line two has two units and one code: its second unit waits for stock.
    let ebook = code_product(&app, &tenant, json!({"ebay_sku": "EBOOK-RUST-PDF"}), 1).await;
    ingest(&app, &tenant, "ebay", "evt_1", EBAY_ORDER).await;
    let order = wait_for_fulfilment(&app, &tenant, &["done"]).await;
    let calls = ebay.fulfillments().created();
    assert_eq!(calls.len(), 1, "line two is not delivered yet: {calls:?}");
    assert_eq!(calls[0].order_id, "13-12345-67890");
    assert_eq!(
        calls[0].body["lineItems"],
        json!([{"lineItemId": LINE_ONE, "quantity": 1}])
    );
    assert!(calls[0].body.get("trackingNumber").is_none());
    assert!(calls[0].body.get("shippingCarrierCode").is_none());
    let shipped = calls[0].body["shippedDate"].as_str().unwrap();
    assert!(
        chrono::NaiveDateTime::parse_from_str(shipped, "%Y-%m-%dT%H:%M:%S%.3fZ").is_ok()
            && shipped.len() == 24,
        "{shipped}"
    );
    let entry = &order["fulfilment"][0];
    assert_eq!(entry["platform"], "ebay");
    assert_eq!(entry["line_item_id"], LINE_ONE);
    assert_eq!(entry["reference"], "999", "the id from Location");
    assert!(actions(&order).contains(&"fulfilment_done".to_owned()));

    // The missing code arrives: line two's last unit goes out, and then its call.
    let (status, body) = app
        .post(
            &format!("/api/v1/products/{ebook}/codes"),
            &tenant.key,
            json!(["CODE-LATE"]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let order = wait_for_fulfilment(&app, &tenant, &["done", "done"]).await;
    assert_eq!(order["status"], "delivered");
    let calls = ebay.fulfillments().created();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        calls[1].body["lineItems"],
        json!([{"lineItemId": LINE_TWO, "quantity": 2}])
    );

    // The notification again (a new id) and a resend: emails again, no second call.
    let again = EBAY_ORDER.replace("5d0c1f3e-", "6e1d2f4a-");
    ingest(&app, &tenant, "ebay", "evt_2", &again).await;
    let id = order["id"].as_str().unwrap();
    let (status, body) = app
        .post(
            &format!("/api/v1/orders/{id}/resend"),
            &tenant.key,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    wait_until("the resend delivered", 30, || async {
        let order = first_order(&app, &tenant).await?;
        let resent = actions(&order).iter().filter(|a| *a == "resent").count();
        if order["status"] == "delivered" && resent > 0 {
            Ok(())
        } else {
            Err(format!("{order}"))
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        ebay.fulfillments().calls().len(),
        2,
        "one call per line, ever"
    );
}

async fn an_ebay_5xx_is_retried_and_a_refusal_shows_on_the_order(backend: Backend) {
    let ebay = FakeEbay::start().await;
    let (app, tenant) = fast_ebay_app(backend, &ebay).await;
    code_product(&app, &tenant, json!({"ebay_item_id": "296512345678"}), 3).await;
    code_product(&app, &tenant, json!({"ebay_sku": "EBOOK-RUST-PDF"}), 3).await;
    // eBay is down for the first call; it does not know line two at all.
    ebay.fulfillments().fail_next(1);
    ebay.fulfillments().forget_line(LINE_TWO);
    ingest(&app, &tenant, "ebay", "evt_1", EBAY_ORDER).await;
    wait_until("both calls settled", 30, || async {
        let order = first_order(&app, &tenant).await?;
        let statuses: Vec<&str> = order["fulfilment"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| f["status"].as_str().unwrap_or_default())
            .collect();
        let mut sorted = statuses.clone();
        sorted.sort();
        if sorted == ["done", "refused"] {
            Ok(())
        } else {
            Err(format!("{order}"))
        }
    })
    .await;
    let order = the_order(&app, &tenant).await;
    let by_line = |line: &str| {
        order["fulfilment"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["line_item_id"] == line)
            .cloned()
            .unwrap()
    };
    let refused = by_line(LINE_TWO);
    assert_eq!(refused["status"], "refused");
    let error = refused["error"].as_str().unwrap();
    assert!(error.contains("32200 Invalid line item id"), "{error}");
    // Whichever call met the 500 was retried; the refusal is not (retries are a second apart).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        ebay.fulfillments().calls().len(),
        3,
        "a 500, a retry, a refusal"
    );
    let statuses: Vec<u16> = ebay
        .fulfillments()
        .calls()
        .iter()
        .map(|c| c.status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 500).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 400).count(),
        1,
        "{statuses:?}"
    );
    assert!(by_line(LINE_ONE)["attempts"].as_i64().unwrap() >= 1);
    let trail = actions(&order);
    assert!(trail.contains(&"fulfilment_retry".to_owned()), "{trail:?}");
    assert!(
        trail.contains(&"fulfilment_refused".to_owned()),
        "{trail:?}"
    );
    assert!(trail.contains(&"fulfilment_done".to_owned()), "{trail:?}");
    let detail = order["audit_trail"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "fulfilment_refused")
        .unwrap()["detail"]
        .clone();
    assert_eq!(detail["line_item_id"], LINE_TWO);
    assert!(
        detail["error"].as_str().unwrap().contains("32200"),
        "{detail}"
    );
}

async fn a_call_taken_over_after_its_lease_is_recorded_by_its_new_holder_only(backend: Backend) {
    let ebay = FakeEbay::start().await;
    let (app, tenant) = ebay_app(backend, ebay.base_url.clone(), ebay.base_url.clone()).await;
    code_product(&app, &tenant, json!({"ebay_item_id": "296512345678"}), 3).await;
    // The first attempt fails; the next is half a minute away (the default backoff).
    ebay.fulfillments().fail_next(1);
    ingest(&app, &tenant, "ebay", "evt_1", EBAY_ORDER).await;
    wait_for_fulfilment(&app, &tenant, &["pending"]).await;
    wait_until("the first attempt recorded", 30, || async {
        let order = first_order(&app, &tenant).await?;
        match order["fulfilment"][0]["attempts"].as_i64() {
            Some(1) if order["fulfilment"][0]["error"].is_string() => Ok(()),
            _ => Err(format!("{order}")),
        }
    })
    .await;
    // A worker claims the due call and stalls past its lease; another takes it over.
    let due = origin::ids::now_ms() + 120_000;
    let first = app.store.claim_fulfilments(due, 1_000, 10).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(
        app.store
            .claim_fulfilments(due + 500, 1_000, 10)
            .await
            .unwrap()
            .is_empty(),
        "held while its lease runs"
    );
    let second = app
        .store
        .claim_fulfilments(due + 2_000, 1_000, 10)
        .await
        .unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(first[0].id, second[0].id);
    let (stale, current) = (
        first[0].claim_token.clone().unwrap(),
        second[0].claim_token.clone().unwrap(),
    );
    assert_ne!(stale, current);
    let done = FulfilmentOutcome::Done {
        platform_ref: Some("999".into()),
        note: None,
    };
    let now = origin::ids::now_ms();
    let store = &app.store;
    assert!(
        !store
            .finish_fulfilment(&first[0].id, &stale, &done, now)
            .await
            .unwrap()
    );
    assert!(
        store
            .finish_fulfilment(&first[0].id, &current, &done, now)
            .await
            .unwrap()
    );
    assert!(
        !store
            .finish_fulfilment(&first[0].id, &current, &done, now)
            .await
            .unwrap(),
        "recorded once"
    );
    let order = the_order(&app, &tenant).await;
    assert_eq!(order["fulfilment"][0]["status"], "done");
    let trail = actions(&order);
    assert_eq!(trail.iter().filter(|a| *a == "fulfilment_done").count(), 1);
    assert_eq!(
        ebay.fulfillments().calls().len(),
        1,
        "only the failed attempt reached eBay"
    );
}

/// An app polling `etsy` every second and a tenant with an Etsy connection (`settings`
/// given on create when set) whose listing 4242 maps to a product with codes.
pub(crate) async fn etsy_shop(
    backend: Backend,
    etsy: &FakeEtsy,
    settings: Option<Value>,
) -> (TestApp, Tenant) {
    let base = etsy.base_url.clone();
    let app = TestApp::spawn_configured(backend, 64 * 1024, |p| {
        p.etsy_api_base_url = base;
        p.etsy_api_key = Some(fake_etsy::KEYSTRING.into());
        p.etsy_shared_secret = Some(fake_etsy::SHARED_SECRET.into());
        p.etsy_poll_interval = Duration::from_secs(1);
        p.tick = Duration::from_millis(50);
        p.sending.retry_schedule_secs = vec![1];
    })
    .await;
    let tenant = app.tenant(10).await;
    code_product(&app, &tenant, json!({"etsy_listing_id": 4242}), 5).await;
    let mut connection = json!({"platform": "etsy", "shop_id": "12345678",
        "access_token": etsy.issue_access_token(), "refresh_token": fake_etsy::REFRESH_TOKEN});
    if let Some(settings) = settings {
        connection["settings"] = settings;
    }
    let (status, body) = app
        .post("/api/v1/connections", &tenant.key, connection)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (app, tenant)
}

pub(crate) fn put_receipt(etsy: &FakeEtsy, receipt_id: u64) {
    etsy.put_receipt("12345678", paid_receipt(receipt_id));
}

/// A paid receipt of shop 12345678 for one unit of listing 4242.
pub(crate) fn paid_receipt(receipt_id: u64) -> Value {
    let page: Value = serde_json::from_str(ETSY_PAGE).unwrap();
    let now = e2e::harness::unix_now();
    etsy_receipt(&page["results"][0], receipt_id, 4242, now - 10)
}

async fn etsy_marks_the_receipt_shipped_once_and_shows_a_refusal(backend: Backend) {
    let etsy = FakeEtsy::start().await;
    let (app, tenant) = etsy_shop(backend, &etsy, None).await;
    etsy.shipments().fail_next(1);
    put_receipt(&etsy, 7_000_001);
    let order = wait_for_fulfilment(&app, &tenant, &["done"]).await;
    let shipped = etsy.shipments().shipped();
    assert_eq!(shipped.len(), 1, "{shipped:?}");
    assert_eq!(shipped[0].shop_id, "12345678");
    assert_eq!(shipped[0].receipt_id, "7000001");
    assert!(shipped[0].fields.get("tracking_code").is_none());
    assert_eq!(etsy.shipments().calls().len(), 2, "a 500, then the retry");
    assert_eq!(order["fulfilment"][0]["platform"], "etsy");
    assert!(order["fulfilment"][0].get("line_item_id").is_none());
    assert!(actions(&order).contains(&"fulfilment_retry".to_owned()));
    // Polled again and again: the receipt is the same order, told once.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(etsy.shipments().calls().len(), 2);

    // Etsy refuses the next receipt: the order shows Etsy's own words.
    etsy.shipments()
        .refuse("7000002", "This receipt cannot be marked as shipped");
    put_receipt(&etsy, 7_000_002);
    wait_until("the refusal recorded", 30, || async {
        let all = orders(&app, &tenant).await;
        let refused = all.iter().find(|o| o["platform_order_id"] == "7000002");
        match refused {
            Some(o) if o["fulfilment"][0]["status"] == "refused" => Ok(()),
            _ => Err(format!("{all:?}")),
        }
    })
    .await;
    let all = orders(&app, &tenant).await;
    let refused = all
        .iter()
        .find(|o| o["platform_order_id"] == "7000002")
        .unwrap();
    let error = refused["fulfilment"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("HTTP 409") && error.contains("This receipt cannot be marked as shipped"),
        "{error}"
    );
}

async fn with_the_setting_off_etsy_is_not_called(backend: Backend) {
    let etsy = FakeEtsy::start().await;
    let (app, tenant) = etsy_shop(backend, &etsy, Some(json!({"mark_fulfilled": false}))).await;
    let (_, connections) = app.get("/api/v1/connections", &tenant.key).await;
    assert_eq!(
        connections["data"][0]["settings"],
        json!({"mark_fulfilled": false})
    );
    put_receipt(&etsy, 7_000_003);
    let order = wait_for_fulfilment(&app, &tenant, &["skipped"]).await;
    assert_eq!(order["status"], "delivered");
    assert!(etsy.shipments().calls().is_empty());
    assert!(actions(&order).contains(&"fulfilment_skipped".to_owned()));
}

async fn woocommerce_completes_the_order_once_every_line_is_delivered(backend: Backend) {
    let store = FakeWooCommerce::start().await;
    let app = TestApp::spawn_configured(backend, 64 * 1024, |p| {
        p.tick = Duration::from_millis(50);
    })
    .await;
    let tenant = app.tenant(10).await;
    code_product(&app, &tenant, json!({"woocommerce_product_id": 501}), 5).await;
    code_product(&app, &tenant, json!({"woocommerce_product_id": 777}), 5).await;
    let (status, body) = app
        .post(
            "/api/v1/connections",
            &tenant.key,
            json!({"platform": "woocommerce", "store_url": store.base_url,
                   "consumer_key": fake_woocommerce::CONSUMER_KEY,
                   "consumer_secret": fake_woocommerce::CONSUMER_SECRET}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    ingest(&app, &tenant, "woocommerce", "evt_1", WOO_BODY).await;
    let order = wait_for_fulfilment(&app, &tenant, &["done"]).await;
    let applied = store.order_updates().applied();
    assert_eq!(applied.len(), 1, "{applied:?}");
    assert_eq!(
        applied[0].order_id,
        order["platform_order_id"].as_str().unwrap()
    );
    assert_eq!(applied[0].body, json!({"status": "completed"}));
    assert_eq!(order["fulfilment"][0]["quantity"], 3, "1 + 2 units");
    // The same webhook again: one call.
    ingest(&app, &tenant, "woocommerce", "evt_2", WOO_BODY).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(store.order_updates().calls().len(), 1);
}

async fn a_woocommerce_order_with_an_unmapped_line_stays_open(backend: Backend) {
    let store = FakeWooCommerce::start().await;
    let app = TestApp::spawn_configured(backend, 64 * 1024, |p| {
        p.tick = Duration::from_millis(50);
    })
    .await;
    let tenant = app.tenant(10).await;
    // Only line 501 is ours: line 777 (maybe shipped by hand) keeps the order open.
    code_product(&app, &tenant, json!({"woocommerce_product_id": 501}), 5).await;
    let (status, body) = app
        .post(
            "/api/v1/connections",
            &tenant.key,
            json!({"platform": "woocommerce", "store_url": store.base_url,
                   "consumer_key": fake_woocommerce::CONSUMER_KEY,
                   "consumer_secret": fake_woocommerce::CONSUMER_SECRET}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    ingest(&app, &tenant, "woocommerce", "evt_1", WOO_BODY).await;
    wait_until("line 501 delivered", 30, || async {
        let order = first_order(&app, &tenant).await?;
        if order["items"][0]["delivery_status"] == "delivered" {
            Ok(())
        } else {
            Err(format!("{order}"))
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let order = the_order(&app, &tenant).await;
    assert_eq!(order["fulfilment"], json!([]));
    assert!(store.order_updates().calls().is_empty());
}

async fn connection_settings_are_changed_with_patch(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(10).await;
    let (status, body) = app
        .post(
            "/api/v1/connections",
            &tenant.key,
            json!({"platform": "etsy", "shop_id": "12345678", "settings": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["data"]["settings"], json!({"mark_fulfilled": true}));
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    let patch = |body: Value| {
        let request = app
            .client
            .patch(format!("{}/api/v1/connections/{id}", app.base))
            .bearer_auth(&tenant.key)
            .json(&body);
        common::send(request)
    };
    let (status, body) = patch(json!({"settings": {"mark_fulfilled": false}})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["settings"], json!({"mark_fulfilled": false}));
    let (_, body) = app
        .get(&format!("/api/v1/connections/{id}"), &tenant.key)
        .await;
    assert_eq!(body["data"]["settings"], json!({"mark_fulfilled": false}));
    // A field left out keeps its value.
    let (status, body) = patch(json!({"settings": {}})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["settings"], json!({"mark_fulfilled": false}));
    // Bad input changes nothing.
    for bad in [
        json!({"settings": {"mark_fulfilled": "no"}}),
        json!({"settings": {"ship": true}}),
        json!({"mark_fulfilled": true}),
    ] {
        let (status, body) = patch(bad.clone()).await;
        assert!(status.is_client_error(), "{bad}: {status} {body}");
        assert!(body["error"]["code"].is_string(), "{body}");
        assert_eq!(body["data"], Value::Null);
    }
    let (_, body) = app
        .get(&format!("/api/v1/connections/{id}"), &tenant.key)
        .await;
    assert_eq!(body["data"]["settings"], json!({"mark_fulfilled": false}));
    // Another tenant's connection is a missing one.
    let other = app.tenant(1).await;
    let (status, body) = common::send(
        app.client
            .patch(format!("{}/api/v1/connections/{id}", app.base))
            .bearer_auth(&other.key)
            .json(&json!({"settings": {"mark_fulfilled": true}})),
    )
    .await;
    common::assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
}

on_both_backends!(
    ebay_is_told_each_line_once_its_last_unit_is_sent,
    an_ebay_5xx_is_retried_and_a_refusal_shows_on_the_order,
    a_call_taken_over_after_its_lease_is_recorded_by_its_new_holder_only,
    etsy_marks_the_receipt_shipped_once_and_shows_a_refusal,
    with_the_setting_off_etsy_is_not_called,
    woocommerce_completes_the_order_once_every_line_is_delivered,
    a_woocommerce_order_with_an_unmapped_line_stays_open,
    connection_settings_are_changed_with_patch,
);
