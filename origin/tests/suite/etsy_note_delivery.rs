//! Etsy orders without a usable buyer email, against the fake Etsy API on both backends: the
//! order waits as `needs_address`, and Etsy delivers it instead, in the `note_to_buyer` of its
//! createReceiptShipment (Etsy emails it to the buyer), charged only once Etsy takes it. A
//! refusal gives the code and the token back; an address the seller enters first sends the
//! reserved code by email, charged once.

use crate::common;

use common::{Backend, Tenant, TestApp};
use e2e::harness::fake_etsy::FakeEtsy;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::fulfilment::{etsy_shop, paid_receipt};
use crate::order_rules::{actions, balance, outbox, outbox_settles_at, wait_order};
use crate::pipeline_platforms::orders;

/// A paid receipt of listing 4242 whose buyer email Etsy withheld.
fn put_receipt_without_email(etsy: &FakeEtsy, receipt_id: u64) {
    let mut receipt = paid_receipt(receipt_id);
    receipt["buyer_email"] = Value::Null;
    etsy.put_receipt("12345678", receipt);
}

/// Codes of the tenant's only product still in stock.
async fn stock(app: &TestApp, tenant: &Tenant) -> i64 {
    let (_, list) = app.get("/api/v1/products", &tenant.key).await;
    let id = list["data"][0]["id"].as_str().unwrap();
    let (_, body) = app
        .get(&format!("/api/v1/products/{id}"), &tenant.key)
        .await;
    body["data"]["stock"]["available"]
        .as_i64()
        .unwrap_or_else(|| panic!("{body}"))
}

async fn address_alerts(app: &TestApp, tenant: &Tenant) -> usize {
    let (_, body) = app.get("/api/v1/alerts", &tenant.key).await;
    let alerts = body["data"].as_array().unwrap().iter();
    alerts
        .filter(|a| a["kind"] == "order_needs_address")
        .count()
}

/// The seller enters the buyer's address.
async fn enter_address(app: &TestApp, tenant: &Tenant, order: &Value) {
    let id = order["id"].as_str().unwrap();
    let path = format!("/api/v1/orders/{id}/buyer-email");
    let email = json!({ "buyer_email": "buyer@example.com" });
    let (status, body) = app.call(Method::PUT, &path, &tenant.key, Some(email)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

fn count(order: &Value, action: &str) -> usize {
    actions(order).iter().filter(|a| *a == action).count()
}

async fn an_etsy_order_without_an_email_is_delivered_in_the_note_of_its_shipment(backend: Backend) {
    let etsy = FakeEtsy::start().await;
    let (app, tenant) = etsy_shop(backend, &etsy, None).await;
    put_receipt_without_email(&etsy, 7_100_001);
    let order = wait_order(&app, &tenant, "7100001", "delivered through Etsy", |o| {
        o["status"] == "delivered"
    })
    .await;
    let code = order["items"][0]["license_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let shipped = etsy.shipments().shipped();
    assert_eq!(shipped.len(), 1, "{shipped:?}");
    let note = shipped[0].fields["note_to_buyer"].as_str().unwrap();
    assert!(note.contains(&code), "the note carries the code: {note}");
    assert!(shipped[0].fields.get("tracking_code").is_none());
    assert_eq!(order["items"][0]["delivery_status"], "delivered");
    assert_eq!(order["fulfilment"][0]["status"], "done", "{order}");
    assert_eq!(balance(&app, &tenant).await, 9, "one token, charged once");
    assert_eq!(stock(&app, &tenant).await, 4);
    assert_eq!(count(&order, "reserved"), 1, "{order}");
    assert_eq!(count(&order, "charged"), 1, "{order}");
    assert_eq!(count(&order, "delivered_through_platform"), 1, "{order}");
    assert_eq!(address_alerts(&app, &tenant).await, 0);
    assert!(outbox(&app).is_empty(), "no email without an address");
    // Polled again: nothing more is sent or charged.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(etsy.shipments().calls().len(), 1);
    assert_eq!(balance(&app, &tenant).await, 9);
}

async fn a_shipment_whose_answer_was_lost_is_not_sent_again(backend: Backend) {
    let etsy = FakeEtsy::start().await;
    let (app, tenant) = etsy_shop(backend, &etsy, None).await;
    // Etsy takes the shipment (and emails the note) but its answer never arrives.
    etsy.shipments().lose_next_answers(1);
    put_receipt_without_email(&etsy, 7_100_005);
    let order = wait_order(&app, &tenant, "7100005", "delivered through Etsy", |o| {
        o["status"] == "delivered" && o["fulfilment"][0]["status"] == "done"
    })
    .await;
    let calls = etsy.shipments().calls();
    assert_eq!(
        calls.len(),
        1,
        "the retry asks Etsy, it does not ship again: {calls:?}"
    );
    assert_eq!(balance(&app, &tenant).await, 9);
    assert_eq!(count(&order, "charged"), 1, "{order}");
    assert_eq!(count(&order, "fulfilment_retry"), 1, "{order}");
}

async fn an_etsy_refusal_gives_the_code_and_the_token_back(backend: Backend) {
    let etsy = FakeEtsy::start().await;
    let (app, tenant) = etsy_shop(backend, &etsy, None).await;
    etsy.shipments()
        .refuse("7100002", "This receipt cannot be marked as shipped");
    put_receipt_without_email(&etsy, 7_100_002);
    // The order's parts are read one after the other: wait for both.
    let order = wait_order(&app, &tenant, "7100002", "the refusal recorded", |o| {
        o["fulfilment"][0]["status"] == "refused" && count(o, "released") == 1
    })
    .await;
    assert_eq!(order["status"], "needs_address", "{order}");
    let error = order["fulfilment"][0]["error"].as_str().unwrap();
    assert!(error.contains("cannot be marked as shipped"), "{error}");
    assert_eq!(count(&order, "reserved"), 1, "{order}");
    assert_eq!(count(&order, "released"), 1, "{order}");
    assert_eq!(count(&order, "charged"), 0, "{order}");
    assert_eq!(balance(&app, &tenant).await, 10, "the held token is back");
    assert_eq!(stock(&app, &tenant).await, 5, "the code is back in stock");
    assert_eq!(address_alerts(&app, &tenant).await, 1);

    // The seller enters the address: delivered by email, one token.
    enter_address(&app, &tenant, &order).await;
    wait_order(&app, &tenant, "7100002", "delivered by email", |o| {
        o["status"] == "delivered"
    })
    .await;
    outbox_settles_at(&app, 1).await;
    assert_eq!(balance(&app, &tenant).await, 9);
}

async fn an_address_entered_first_sends_the_reserved_code_by_email(backend: Backend) {
    let etsy = FakeEtsy::start().await;
    let (app, tenant) = etsy_shop(backend, &etsy, None).await;
    // Etsy fails for a while: the units are reserved and the call retried.
    etsy.shipments().fail_next(1_000);
    put_receipt_without_email(&etsy, 7_100_003);
    let order = wait_order(&app, &tenant, "7100003", "reserved", |o| {
        count(o, "reserved") == 1 && o["fulfilment"][0]["error"].is_string()
    })
    .await;
    assert_eq!(balance(&app, &tenant).await, 9, "the token is held");
    enter_address(&app, &tenant, &order).await;
    etsy.shipments().fail_next(0);
    let order = wait_order(&app, &tenant, "7100003", "delivered by email", |o| {
        o["status"] == "delivered" && o["fulfilment"][0]["status"] == "done"
    })
    .await;
    let emails = outbox_settles_at(&app, 1).await;
    let code = order["items"][0]["license_code"].as_str().unwrap();
    assert!(emails[0].contains(code), "the reserved code is emailed");
    assert_eq!(balance(&app, &tenant).await, 9, "charged once");
    assert_eq!(count(&order, "charged"), 1, "{order}");
    assert_eq!(stock(&app, &tenant).await, 4);
    // Etsy is told the order shipped, without a note: the email delivered it.
    let shipped = etsy.shipments().shipped();
    assert_eq!(shipped.len(), 1, "{shipped:?}");
    assert!(
        shipped[0].fields.get("note_to_buyer").is_none(),
        "{shipped:?}"
    );
}

async fn with_the_setting_off_the_order_waits_for_the_address(backend: Backend) {
    let etsy = FakeEtsy::start().await;
    let settings = Some(json!({ "mark_fulfilled": false }));
    let (app, tenant) = etsy_shop(backend, &etsy, settings).await;
    put_receipt_without_email(&etsy, 7_100_004);
    let order = wait_order(&app, &tenant, "7100004", "skipped", |o| {
        o["fulfilment"][0]["status"] == "skipped"
    })
    .await;
    assert_eq!(order["status"], "needs_address");
    assert!(etsy.shipments().calls().is_empty());
    assert_eq!(balance(&app, &tenant).await, 10);
    assert_eq!(stock(&app, &tenant).await, 5);
    assert_eq!(orders(&app, &tenant).await.len(), 1);
}

on_both_backends!(
    an_etsy_order_without_an_email_is_delivered_in_the_note_of_its_shipment,
    a_shipment_whose_answer_was_lost_is_not_sent_again,
    an_etsy_refusal_gives_the_code_and_the_token_back,
    an_address_entered_first_sends_the_reserved_code_by_email,
    with_the_setting_off_the_order_waits_for_the_address,
);
