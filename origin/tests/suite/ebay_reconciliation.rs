//! eBay reconciliation against the fake Fulfillment API's `getOrders`: a paid order whose
//! `ORDER_CONFIRMATION` never came is delivered from the poll, once; one that came both ways
//! is delivered once; a cancellation or refund the poll finds revokes; the poll pages by
//! offset, moves its checkpoint on, and a token eBay refuses with nothing to refresh it by
//! asks the seller to reconnect.

use crate::common;
use crate::order_rules::{actions, wait_order};
use crate::pipeline_platforms::{
    EBAY_ORDER, balance, code_product, delivered_count, ingest, wait_until,
};

use std::time::Duration;

use common::{Backend, Tenant, TestApp};
use e2e::harness::fake_ebay::{FakeEbay, SELLER_TOKEN};
use reqwest::StatusCode;
use serde_json::{Value, json};

const GET_ORDER: &str = include_str!("../../../fixtures/ebay/get-order.response.json");

/// `secs` as the Fulfillment API writes dates.
fn ebay_date(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A paid Fulfillment API order of one unit of listing `item_id`, last modified at `modified`.
fn paid_order(order_id: &str, item_id: &str, modified: i64) -> Value {
    let mut order: Value = serde_json::from_str(GET_ORDER).unwrap();
    order["orderId"] = order_id.into();
    order["legacyOrderId"] = order_id.into();
    order["creationDate"] = ebay_date(modified - 60).into();
    order["lastModifiedDate"] = ebay_date(modified).into();
    let mut line = order["lineItems"][1].clone();
    line["lineItemId"] = format!("{order_id}-1").into();
    line["legacyItemId"] = item_id.into();
    line["sku"] = Value::Null;
    line["quantity"] = 1.into();
    line["lineItemCost"] = json!({"value": "9.99", "currency": "USD"});
    order["lineItems"] = json!([line]);
    order
}

/// An app reconciling eBay every second against `ebay`, and a tenant with `tokens` tokens
/// connected as the fake's seller.
async fn reconciling_app(backend: Backend, ebay: &FakeEbay, tokens: i64) -> (TestApp, Tenant) {
    let base = ebay.base_url.clone();
    let app = TestApp::spawn_settings(backend, |s| {
        s.pipeline.ebay_api_base_url = base.clone();
        s.pipeline.ebay_reconcile_interval = Duration::from_secs(1);
        s.pipeline.tick = Duration::from_millis(50);
        s.connections.ebay_identity_base_url = Some(base);
    })
    .await;
    let tenant = app.tenant(tokens).await;
    (app, tenant)
}

async fn connect(app: &TestApp, tenant: &Tenant) {
    let (status, body) = app
        .post(
            "/api/v1/connections",
            &tenant.key,
            json!({"platform": "ebay", "verification_token": "v".repeat(40), "access_token": SELLER_TOKEN}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Waits until `getOrders` was asked `n` more times than it has been now.
async fn more_polls(ebay: &FakeEbay, n: usize) {
    let before = ebay.orders().queries().len();
    wait_until("more getOrders requests", 20, || async {
        match ebay.orders().queries().len() {
            seen if seen >= before + n => Ok(()),
            seen => Err(format!("{} of {n}", seen - before)),
        }
    })
    .await;
}

async fn connection(app: &TestApp, tenant: &Tenant) -> Value {
    let (_, body) = app.get("/api/v1/connections", &tenant.key).await;
    body["data"][0].clone()
}

async fn orders_only_the_poll_sees_are_delivered_once_across_pages(backend: Backend) {
    let ebay = FakeEbay::start().await;
    let (app, tenant) = reconciling_app(backend, &ebay, 300).await;
    code_product(&app, &tenant, json!({"ebay_item_id": "315000000001"}), 210).await;
    let now = unix_now();
    // More than one page: getOrders lists at most 200 orders a request.
    for n in 0..201 {
        let modified = now - 600 + n;
        ebay.orders().put_order(paid_order(
            &format!("21-{n:05}-00001"),
            "315000000001",
            modified,
        ));
    }
    let newest = now - 600 + 200;
    connect(&app, &tenant).await;
    wait_until("201 eBay orders delivered", 60, || async {
        match delivered_count(&app, &tenant).await {
            201 => Ok(()),
            n => Err(format!("{n} delivered")),
        }
    })
    .await;
    let queries = ebay.orders().queries();
    assert!(
        queries
            .iter()
            .all(|q| q.contains("limit=200") && q.contains("filter=lastmodifieddate%3A%5B")),
        "{queries:?}"
    );
    assert!(
        queries.iter().any(|q| q.contains("offset=200")),
        "{queries:?}"
    );
    // The first sweep started a day before the connection; the next ones start from the
    // newest modification seen, less the overlap.
    let first_from = ebay_date(now - 86_400 - 300);
    assert!(
        queries[0].contains(&first_from[..13]),
        "{} from about {first_from}",
        queries[0]
    );
    let moved_on = format!("lastmodifieddate%3A%5B{}", ebay_date(newest - 300)).replace(':', "%3A");
    wait_until("a sweep from the new checkpoint", 20, || async {
        if ebay
            .orders()
            .queries()
            .iter()
            .any(|q| q.contains(&moved_on))
        {
            Ok(())
        } else {
            Err(format!("{:?}", ebay.orders().queries().last()))
        }
    })
    .await;
    // Later polls read the last orders again (the overlap): nothing doubles.
    more_polls(&ebay, 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(delivered_count(&app, &tenant).await, 201);
    assert_eq!(balance(&app, &tenant).await, 300 - 201, "charged once each");
    assert_eq!(ebay.order_requests(), 0, "the poll needs no getOrder");
}

async fn an_order_by_notification_and_by_poll_is_delivered_once(backend: Backend) {
    let ebay = FakeEbay::start().await;
    let (app, tenant) = reconciling_app(backend, &ebay, 10).await;
    code_product(&app, &tenant, json!({"ebay_item_id": "296512345678"}), 3).await;
    code_product(&app, &tenant, json!({"ebay_sku": "EBOOK-RUST-PDF"}), 3).await;
    // getOrders lists the order the notification names, as getOrder answers it.
    let mut order: Value = serde_json::from_str(GET_ORDER).unwrap();
    let modified = ebay_date(unix_now() - 30);
    order["lastModifiedDate"] = modified.clone().into();
    ebay.set_order(order.clone());
    ebay.orders().put_order(order);
    connect(&app, &tenant).await;
    ingest(&app, &tenant, "ebay", "evt_notification", EBAY_ORDER).await;
    wait_until("the order delivered", 30, || async {
        match delivered_count(&app, &tenant).await {
            1 => Ok(()),
            n => Err(format!("{n} delivered")),
        }
    })
    .await;
    more_polls(&ebay, 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (ids, _) = common::all_pages(&app, &tenant.key, "/api/v1/orders?limit=100").await;
    assert_eq!(ids.len(), 1, "one order");
    assert_eq!(balance(&app, &tenant).await, 7, "1 + 2 units, charged once");
    let emails = std::fs::read_dir(app.data_dir.path().join("outbox"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "eml")
        })
        .count();
    assert_eq!(emails, 1, "one email");
    // The notification, and the order's state read by getOrder and by the polls: one event.
    let (_, events) = app.get("/api/v1/events?platform=ebay", &tenant.key).await;
    let events = events["data"].as_array().unwrap();
    let keys: Vec<&str> = events
        .iter()
        .map(|e| e["dedupe_key"].as_str().unwrap())
        .collect();
    assert_eq!(events.len(), 2, "{keys:?}");
    assert!(
        keys.contains(&format!("ebay:order:13-12345-67890:{modified}").as_str()),
        "{keys:?}"
    );
    assert!(ebay.order_requests() >= 1, "the notification read getOrder");
}

async fn cancellations_and_refunds_the_poll_finds_revoke(backend: Backend) {
    let ebay = FakeEbay::start().await;
    let (app, tenant) = reconciling_app(backend, &ebay, 10).await;
    code_product(&app, &tenant, json!({"ebay_item_id": "315000000002"}), 5).await;
    let now = unix_now();
    let cancelled_id = "22-00001-00001";
    let refunded_id = "22-00002-00001";
    ebay.orders()
        .put_order(paid_order(cancelled_id, "315000000002", now - 120));
    let mut two_units = paid_order(refunded_id, "315000000002", now - 110);
    two_units["lineItems"][0]["quantity"] = 2.into();
    two_units["lineItems"][0]["lineItemCost"] = json!({"value": "19.98", "currency": "USD"});
    ebay.orders().put_order(two_units.clone());
    connect(&app, &tenant).await;
    wait_until("both orders delivered", 30, || async {
        match delivered_count(&app, &tenant).await {
            2 => Ok(()),
            n => Err(format!("{n} delivered")),
        }
    })
    .await;

    // The buyer cancels one order; the seller refunds one unit of the other. No notification
    // says so: the poll finds both.
    let mut cancelled = paid_order(cancelled_id, "315000000002", now - 5);
    cancelled["cancelStatus"]["cancelState"] = "CANCELED".into();
    cancelled["orderPaymentStatus"] = "FULLY_REFUNDED".into();
    ebay.orders().put_order(cancelled);
    let mut refunded = two_units;
    refunded["lastModifiedDate"] = ebay_date(now - 4).into();
    refunded["orderPaymentStatus"] = "PARTIALLY_REFUNDED".into();
    refunded["lineItems"][0]["refunds"] = json!([{"amount": {"value": "9.99", "currency": "USD"},
        "refundDate": ebay_date(now - 4), "refundId": "5099", "refundReferenceId": "ref-9"}]);
    ebay.orders().put_order(refunded);

    let after = wait_order(&app, &tenant, cancelled_id, "the cancellation", |o| {
        o["status"] == "cancelled"
    })
    .await;
    assert!(
        after["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["delivery_status"] == "revoked"),
        "{after:#}"
    );
    let after = wait_order(&app, &tenant, refunded_id, "the partial refund", |o| {
        actions(o).contains(&"partially_refunded".to_owned())
    })
    .await;
    let trail = after["audit_trail"].as_array().unwrap();
    let partial = trail
        .iter()
        .find(|a| a["action"] == "partially_refunded")
        .unwrap();
    assert_eq!(
        partial["detail"]["line_item_id"],
        format!("{refunded_id}-1")
    );
    assert_eq!(partial["detail"]["units_revoked"], 1, "{trail:#?}");
    // Seen again by later polls, nothing is revoked twice.
    more_polls(&ebay, 2).await;
    let again = wait_order(&app, &tenant, refunded_id, "settled", |_| true).await;
    let partials = actions(&again)
        .iter()
        .filter(|a| *a == "partially_refunded")
        .count();
    assert_eq!(partials, 1);
    assert_eq!(
        balance(&app, &tenant).await,
        7,
        "1 + 2 units; no token comes back"
    );
}

/// A token eBay refuses, with no refresh token to replace it: the connection waits for the
/// seller to reconnect, with an alert, and is not polled with it.
async fn a_refused_token_without_a_refresh_token_asks_the_seller_to_reconnect(backend: Backend) {
    let ebay = FakeEbay::start().await;
    let (app, tenant) = reconciling_app(backend, &ebay, 10).await;
    code_product(&app, &tenant, json!({"ebay_item_id": "315000000003"}), 2).await;
    ebay.orders().put_order(paid_order(
        "23-00001-00001",
        "315000000003",
        unix_now() - 60,
    ));
    // The pasted token has expired and there is no refresh token to get another with.
    ebay.orders().refuse_next(3);
    connect(&app, &tenant).await;
    wait_until("the connection waiting for the seller", 20, || async {
        let connection = connection(&app, &tenant).await;
        match connection["status"].as_str() {
            Some("needs_reconnect") => Ok(()),
            _ => Err(connection.to_string()),
        }
    })
    .await;
    let (status, body) = app.get("/api/v1/alerts", &tenant.key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let alerts = body["data"].as_array().unwrap();
    assert!(
        alerts
            .iter()
            .any(|a| a["kind"] == "connection_needs_reconnect"),
        "{body}"
    );
    // Not polled any more: nothing delivered with a token eBay refuses.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(delivered_count(&app, &tenant).await, 0);
}

/// The fake answers `getOrders` as eBay does: more than 200 a page is a 400 in eBay's error
/// envelope, a filter date in another format too, and a page names its `next` only while
/// orders remain.
#[tokio::test]
async fn the_fake_get_orders_answers_like_the_fulfillment_api() {
    let ebay = FakeEbay::start().await;
    for n in 0..3 {
        ebay.orders().put_order(paid_order(
            &format!("24-{n:05}-00001"),
            "1",
            1_780_000_000 + n,
        ));
    }
    let client = reqwest::Client::new();
    let get = |query: &str, token: &'static str| {
        let request = client
            .get(format!(
                "{}/sell/fulfillment/v1/order?{query}",
                ebay.base_url
            ))
            .bearer_auth(token);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = get("limit=201", SELLER_TOKEN).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errors"][0]["domain"], "API_FULFILLMENT");
    let (status, body) = get(
        "filter=lastmodifieddate:%5B2026-01-01T00:00:00Z..%5D",
        SELLER_TOKEN,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errors"][0]["errorId"], 30810);
    let (status, body) = get("limit=2", "another-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["errors"][0]["errorId"], 1001);

    let filter = format!(
        "filter=lastmodifieddate:%5B{}..%5D&limit=2",
        ebay_date(1_780_000_001)
    );
    let (status, page) = get(&filter, SELLER_TOKEN).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(
        (page["total"].as_u64(), page["limit"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(page["orders"].as_array().unwrap().len(), 2);
    assert!(page["next"].is_null(), "{page}");
    assert!(page["href"].as_str().unwrap().contains("offset=0"));
    let (_, page) = get("limit=2", SELLER_TOKEN).await;
    assert_eq!(page["total"], 3);
    assert!(
        page["next"].as_str().unwrap().contains("offset=2"),
        "{page}"
    );
    assert_eq!(
        page["orders"][0]["orderId"], "24-00002-00001",
        "newest first"
    );
}

on_both_backends!(
    orders_only_the_poll_sees_are_delivered_once_across_pages,
    an_order_by_notification_and_by_poll_is_delivered_once,
    cancellations_and_refunds_the_poll_finds_revoke,
    a_refused_token_without_a_refresh_token_asks_the_seller_to_reconnect,
);
