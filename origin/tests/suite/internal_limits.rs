//! The internal ingest route takes what the edge can send: a webhook body at the edge's 1 MB
//! limit, wrapped as a JSON string, is larger than the public API's body limit.

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

on_both_backends!(a_webhook_at_the_edge_limit_is_ingested_and_larger_is_refused);
