//! An eBay buyer's account deletion erases them everywhere, on both backends: after the
//! notification is taken in, no value in any table of the database names the buyer (their
//! email, username, userId or name), their order is still there anonymised, and the
//! notification, sent again, is a duplicate that brings nothing back.

use crate::common;

use std::time::Duration;

use common::{Backend, TestApp};
use e2e::harness::fake_ebay::FakeEbay;
use serde_json::{Value, json};

use crate::pipeline_platforms::{
    EBAY_DELETION, EBAY_ORDER, code_product, ebay_app, ingest, orders, wait_until,
};
use crate::retention::Db;

/// The buyer of the fixture order (`get-order.response.json`) and their eBay userId.
const BUYER_EMAIL: &str = "0a1b2c3d4e5f60718293@members.ebay.com";
const BUYER_USERNAME: &str = "jbuyer_2019";
const BUYER_NAME: &str = "Jordan Buyer";
const BUYER_USER_ID: &str = "ma8vp1jySJC";

async fn cells_naming_the_buyer(db: &Db) -> Vec<String> {
    let mut found = Vec::new();
    for needle in [BUYER_EMAIL, BUYER_USERNAME, BUYER_NAME, BUYER_USER_ID] {
        for cell in db.cells_containing(needle).await {
            found.push(format!("{cell} ({needle})"));
        }
    }
    found
}

async fn ingest_answer(app: &TestApp, tenant_id: &str, edge_id: &str, body: &str) -> Value {
    let event = json!({
        "edge_event_id": edge_id, "tenant_id": tenant_id, "platform": "ebay",
        "received_at_ms": 1_764_000_000_000u64, "headers": {}, "body": body,
    });
    let (_, answer) = app
        .edge(
            reqwest::Method::POST,
            shared::internal::INGEST_PATH,
            &event.to_string(),
        )
        .await;
    answer
}

async fn ebay_account_deletion_erases_the_buyer_from_every_table(backend: Backend) {
    let ebay = FakeEbay::start().await;
    let (app, tenant) = ebay_app(backend, ebay.base_url.clone(), ebay.base_url.clone()).await;
    let db = Db::open(&app).await;
    code_product(&app, &tenant, json!({"ebay_item_id": "296512345678"}), 3).await;
    code_product(&app, &tenant, json!({"ebay_sku": "EBOOK-RUST-PDF"}), 3).await;
    ingest(&app, &tenant, "ebay", "evt_order", EBAY_ORDER).await;
    wait_until("the eBay order delivered", 30, || async {
        let all = orders(&app, &tenant).await;
        match all.as_slice() {
            [order] if order["status"] == "delivered" => Ok(()),
            _ => Err(format!("{all:?}")),
        }
    })
    .await;
    // A mail server that refused the buyer's address once left it in the trail and on the
    // deliveries (as SMTP answers do: "550 <address>: mailbox unavailable").
    let refusal = format!("smtp: 550 <{BUYER_EMAIL}>: mailbox unavailable");
    db.execute(&format!("UPDATE deliveries SET last_error = '{refusal}'"))
        .await;
    db.execute(&format!(
        "INSERT INTO order_audit (id, tenant_id, order_id, at, action, detail) \
         SELECT 'aud_refused', tenant_id, id, 0, 'failed', '{}' FROM orders",
        json!({ "reason": refusal })
    ))
    .await;
    assert!(
        !cells_naming_the_buyer(&db).await.is_empty(),
        "the set-up names the buyer"
    );

    let mut deletion: Value = serde_json::from_str(EBAY_DELETION).unwrap();
    deletion["notification"]["data"]["username"] = BUYER_USERNAME.into();
    let deletion = deletion.to_string();
    ingest(&app, &tenant, "ebay", "evt_del", &deletion).await;
    wait_until("the buyer erased from every table", 15, || async {
        let left = cells_naming_the_buyer(&db).await;
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("{left:?}"))
        }
    })
    .await;
    let all = orders(&app, &tenant).await;
    let [order] = all.as_slice() else {
        panic!("{all:?}")
    };
    assert_eq!(order["platform_order_id"], "13-12345-67890");
    assert_eq!(order["status"], "delivered");
    assert_eq!(order["buyer_email"], "erased@invalid");
    assert!(order["buyer_name"].is_null(), "{order}");
    let actions: Vec<&str> = order["audit_trail"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    assert!(actions.contains(&"buyer_erased"), "{actions:?}");
    assert!(
        actions.contains(&"sent"),
        "the rest of the trail stays: {actions:?}"
    );
    // The deletion is done with, and its dedupe key kept: eBay's retry is a duplicate.
    let (_, body) = app.get("/api/v1/events?limit=100", &tenant.key).await;
    let events = body["data"].as_array().unwrap();
    let del = events
        .iter()
        .find(|e| e["edge_event_id"] == "evt_del")
        .unwrap();
    assert_eq!(del["status"], "processed", "{del}");
    for edge_id in ["evt_del", "evt_del_retry"] {
        let answer = ingest_answer(&app, &tenant.id, edge_id, &deletion).await;
        assert_eq!(answer["data"]["duplicate"], true, "{answer}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(cells_naming_the_buyer(&db).await, Vec::<String>::new());
}

on_both_backends!(ebay_account_deletion_erases_the_buyer_from_every_table);
