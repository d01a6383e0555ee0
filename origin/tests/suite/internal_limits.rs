//! Body limits: the internal ingest route takes what the edge can send (a webhook body at the
//! edge's 1 MB limit, wrapped as a JSON string, is larger than the public API's body limit),
//! and each app keeps its own public JSON limit, even beside another in the same process.

use crate::common;

use common::{Backend, TestApp, assert_error};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::internal::INGEST_PATH;

fn forwarded(tenant: &str, edge_id: &str, body: &str) -> String {
    json!({
        "edge_event_id": edge_id,
        "tenant_id": tenant,
        "platform": "woocommerce",
        "received_at_ms": 1_764_000_000_000u64,
        "headers": {},
        "body": body,
    })
    .to_string()
}

async fn a_webhook_at_the_edge_limit_is_ingested_and_larger_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(0).await;
    // 1 MB of JSON full of quotes: escaping makes the forwarded event ~1.4 MB.
    let mut webhook = String::from(
        r#"{"id":9001,"status":"processing","date_modified_gmt":"2025-03-14T10:21:12","line_items":[],"note":["#,
    );
    while webhook.len() < 1_000_000 - 8 {
        webhook.push_str(r#""a","#);
    }
    webhook.push_str(r#""a"]}"#);
    let event = forwarded(&tenant.id, "evt_big", &webhook);
    assert!(event.len() > 1024 * 1024, "{}", event.len());
    let (status, body) = app.edge(Method::POST, INGEST_PATH, &event).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["duplicate"], false);

    // A body over the limit is refused on its declared length, before the origin reads it.
    let too_big = forwarded(&tenant.id, "evt_huge", &"x".repeat(5 * 1024 * 1024));
    let (status, body) = app.edge_declaring_only(INGEST_PATH, &too_big).await;
    assert_error(
        status,
        &body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    );

    let (status, body) = app.get("/api/v1/events", &tenant.key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stored: Vec<&Value> = body["data"].as_array().unwrap().iter().collect();
    assert_eq!(
        stored.len(),
        1,
        "only the event at the limit is stored: {body}"
    );
}

/// A CODE product of a new tenant in `app`, and the tenant's key.
async fn code_product(app: &TestApp) -> (String, String) {
    let tenant = app.tenant(0).await;
    let (status, body) = app
        .post(
            "/api/v1/products",
            &tenant.key,
            json!({"sku": "LIMIT-1", "name": "Licence", "type": "CODE"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    (body["data"]["id"].as_str().unwrap().to_owned(), tenant.key)
}

async fn two_apps_in_one_process_keep_their_own_body_limits(backend: Backend) {
    // The small app is built first: a process-wide limit would be the big app's afterwards.
    let small = TestApp::spawn_with(backend, 1_000).await;
    let big = TestApp::spawn_with(backend, 100_000).await;
    let codes: Vec<String> = (0..200).map(|n| format!("LIMIT-CODE-{n:012}")).collect();
    let body = json!(codes);
    assert!(body.to_string().len() > 4_000, "over the small limit");

    let (product, key) = code_product(&small).await;
    let (status, answer) = small
        .post(
            &format!("/api/v1/products/{product}/codes"),
            &key,
            body.clone(),
        )
        .await;
    let error = assert_error(
        status,
        &answer,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("larger than 1000 bytes"),
        "the small app names its own limit: {answer}"
    );

    let (product, key) = code_product(&big).await;
    let (status, answer) = big
        .post(&format!("/api/v1/products/{product}/codes"), &key, body)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["data"]["imported"], 200);
}

on_both_backends!(
    a_webhook_at_the_edge_limit_is_ingested_and_larger_is_refused,
    two_apps_in_one_process_keep_their_own_body_limits,
);
