//! The edge's internal routes over HTTP: signature enforcement, edge config, event ingest
//! (stored once), dead letters.

use crate::common;

use common::{Backend, EDGE_SECRET, TestApp, assert_error};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::internal::{DEAD_LETTER_PATH, EdgeConfig, INGEST_PATH, edge_config_path};

const WOO_BODY: &str = include_str!("../../../fixtures/woocommerce/order-created.body");
const WOO_REFUNDED: &str =
    include_str!("../../../fixtures/woocommerce/order-updated-refunded.body");
const EBAY_BODY: &str = include_str!("../../../fixtures/ebay/notification-order-confirmation.body");
const EBAY_TOKEN: &str = "verification_token_0123456789_abcdefghijk";

fn event(tenant: &str, platform: &str, edge_id: &str, body: &str) -> String {
    json!({
        "edge_event_id": edge_id,
        "tenant_id": tenant,
        "platform": platform,
        "received_at_ms": 1_764_000_000_000u64,
        "headers": {"x-wc-webhook-delivery-id": edge_id},
        "body": body,
    })
    .to_string()
}

async fn events(app: &TestApp, key: &str, query: &str) -> Vec<Value> {
    let (status, body) = app.get(&format!("/api/v1/events{query}"), key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].as_array().unwrap().clone()
}

async fn unsigned_stale_and_altered_requests_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(0).await;
    let body = event(&tenant.id, "woocommerce", "evt_1", WOO_BODY);
    // Straight to the origin: what a client that bypasses the edge gets.
    let url = format!("{}{INGEST_PATH}", app.origin);

    let (status, answer) = common::send(app.client.post(&url).body(body.clone())).await;
    assert_error(status, &answer, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");

    let stale = shared::forward::sign_forwarded_request(
        EDGE_SECRET.as_bytes(),
        1_000,
        "POST",
        INGEST_PATH,
        body.as_bytes(),
    );
    let (status, answer) = common::send(
        app.client
            .post(&url)
            .header(shared::forward::SIGNATURE_HEADER, stale)
            .body(body.clone()),
    )
    .await;
    assert_error(status, &answer, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let signed = shared::forward::sign_forwarded_request(
        EDGE_SECRET.as_bytes(),
        now,
        "POST",
        INGEST_PATH,
        body.as_bytes(),
    );
    let altered = body.replace("evt_1", "evt_2");
    let (status, answer) = common::send(
        app.client
            .post(&url)
            .header(shared::forward::SIGNATURE_HEADER, &signed)
            .body(altered),
    )
    .await;
    assert_error(status, &answer, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");

    let wrong_secret = shared::forward::sign_forwarded_request(
        b"other",
        now,
        "GET",
        &edge_config_path(&tenant.id),
        b"",
    );
    let (status, answer) = common::send(
        app.client
            .get(format!("{}{}", app.origin, edge_config_path(&tenant.id)))
            .header(shared::forward::SIGNATURE_HEADER, wrong_secret),
    )
    .await;
    assert_error(status, &answer, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");

    assert!(
        events(&app, &tenant.key, "").await.is_empty(),
        "nothing was written"
    );
}

async fn edge_config_carries_decrypted_secrets_and_active_flags(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(0).await;
    let path = edge_config_path(&tenant.id);

    let (status, body) = app.edge(Method::GET, &path, "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let config: EdgeConfig = serde_json::from_value(body["data"].clone()).unwrap();
    assert_eq!(
        config,
        EdgeConfig {
            tenant_id: tenant.id.clone(),
            woocommerce: None,
            ebay: None
        }
    );

    let (status, woo) = app
        .post(
            "/api/v1/connections",
            &tenant.key,
            json!({"platform": "woocommerce", "store_url": "https://shop.example.com", "webhook_secret": "wc-secret-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{woo}");
    let (status, body) = app
        .post(
            "/api/v1/connections",
            &tenant.key,
            json!({"platform": "ebay", "verification_token": EBAY_TOKEN}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let (_, body) = app.edge(Method::GET, &path, "").await;
    let config: EdgeConfig = serde_json::from_value(body["data"].clone()).unwrap();
    let woo_config = config.woocommerce.unwrap();
    let woo_id = woo["data"]["id"].as_str().unwrap();
    assert_eq!(woo_config.connections.len(), 1);
    let connection = &woo_config.connections[0];
    assert_eq!(connection.id, woo_id);
    assert_eq!(connection.store_url, "https://shop.example.com");
    let secrets: Vec<&str> = connection
        .secrets
        .iter()
        .map(|s| s.secret.as_str())
        .collect();
    assert_eq!(secrets, ["wc-secret-1"]);
    assert!(connection.active);
    let ebay = config.ebay.unwrap();
    assert_eq!(ebay.verification_token, EBAY_TOKEN);
    assert_eq!(
        ebay.endpoint_url,
        format!("{}/webhooks/ebay/{}", common::PUBLIC_BASE_URL, tenant.id)
    );
    assert!(ebay.active);

    let (status, body) = app
        .post(
            &format!("/api/v1/connections/{woo_id}/deactivate"),
            &tenant.key,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["status"], "inactive");
    let (_, body) = app.edge(Method::GET, &path, "").await;
    let config: EdgeConfig = serde_json::from_value(body["data"].clone()).unwrap();
    assert!(!config.woocommerce.unwrap().connections[0].active);
    assert!(config.ebay.unwrap().active);

    let (status, body) = app
        .edge(Method::GET, &edge_config_path("ten_missing"), "")
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
}

async fn events_are_stored_once_per_platform_identity(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(0).await;

    let (status, first) = app
        .edge(
            Method::POST,
            INGEST_PATH,
            &event(&tenant.id, "woocommerce", "evt_a", WOO_BODY),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["data"]["duplicate"], false);
    // The same delivery retried, and the same change delivered under another edge id.
    for edge_id in ["evt_a", "evt_b"] {
        let (status, again) = app
            .edge(
                Method::POST,
                INGEST_PATH,
                &event(&tenant.id, "woocommerce", edge_id, WOO_BODY),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(again["data"]["duplicate"], true);
        assert_eq!(again["data"]["event_id"], first["data"]["event_id"]);
    }
    // A later change of the same order is a new event.
    let (_, refunded) = app
        .edge(
            Method::POST,
            INGEST_PATH,
            &event(&tenant.id, "woocommerce", "evt_c", WOO_REFUNDED),
        )
        .await;
    assert_eq!(refunded["data"]["duplicate"], false);
    let (_, ebay) = app
        .edge(
            Method::POST,
            INGEST_PATH,
            &event(&tenant.id, "ebay", "evt_d", EBAY_BODY),
        )
        .await;
    assert_eq!(ebay["data"]["duplicate"], false);
    let (_, ebay_again) = app
        .edge(
            Method::POST,
            INGEST_PATH,
            &event(&tenant.id, "ebay", "evt_e", EBAY_BODY),
        )
        .await;
    assert_eq!(ebay_again["data"]["duplicate"], true);

    let stored = events(&app, &tenant.key, "").await;
    assert_eq!(stored.len(), 3);
    assert!(stored.iter().all(|e| e["status"] == "received"));
    let woo = events(&app, &tenant.key, "?platform=woocommerce").await;
    assert_eq!(woo.len(), 2);
    assert_eq!(woo[1]["edge_event_id"], "evt_a");
    assert!(
        woo[1]["dedupe_key"]
            .as_str()
            .unwrap()
            .starts_with("woocommerce:1287:processing:")
    );

    // Another tenant's identical event is its own.
    let other = app.tenant(0).await;
    let (_, theirs) = app
        .edge(
            Method::POST,
            INGEST_PATH,
            &event(&other.id, "woocommerce", "evt_a", WOO_BODY),
        )
        .await;
    assert_eq!(theirs["data"]["duplicate"], false);

    let (status, body) = app
        .edge(
            Method::POST,
            INGEST_PATH,
            &event("ten_missing", "woocommerce", "evt_z", WOO_BODY),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    // Over what the internal routes read (they take a whole webhook, whatever the API's limit).
    let huge = event(
        &tenant.id,
        "woocommerce",
        "evt_huge",
        &"x".repeat(5 * 1024 * 1024),
    );
    let (status, body) = app.edge_declaring_only(INGEST_PATH, &huge).await;
    assert_error(
        status,
        &body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    );
    let (status, body) = app
        .edge(Method::POST, INGEST_PATH, r#"{"edge_event_id": 5}"#)
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "INVALID_REQUEST");
}

async fn events_for_an_inactive_connection_are_kept_unprocessed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(0).await;
    let (_, connection) = app
        .post(
            "/api/v1/connections",
            &tenant.key,
            json!({"platform": "ebay", "verification_token": EBAY_TOKEN}),
        )
        .await;
    let id = connection["data"]["id"].as_str().unwrap();
    app.post(
        &format!("/api/v1/connections/{id}/deactivate"),
        &tenant.key,
        json!({}),
    )
    .await;
    let (status, body) = app
        .edge(
            Method::POST,
            INGEST_PATH,
            &event(&tenant.id, "ebay", "evt_1", EBAY_BODY),
        )
        .await;
    // Kept, not processed: the edge accepted it before the deactivation reached it.
    assert_eq!(status, StatusCode::OK, "{body}");
    let ignored = events(&app, &tenant.key, "?status=ignored").await;
    assert_eq!(ignored.len(), 1);
    assert_eq!(ignored[0]["id"], body["data"]["event_id"]);
    assert!(
        ignored[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("inactive")
    );
    assert!(
        events(&app, &tenant.key, "?status=received")
            .await
            .is_empty()
    );
}

async fn dead_letters_are_recorded_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(0).await;
    let letter = json!({
        "event": serde_json::from_str::<Value>(&event(&tenant.id, "woocommerce", "evt_dead", WOO_BODY)).unwrap(),
        "attempts": 5,
        "last_error": "origin answered 503",
    })
    .to_string();
    let (status, first) = app.edge(Method::POST, DEAD_LETTER_PATH, &letter).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["data"]["duplicate"], false);
    let (_, again) = app.edge(Method::POST, DEAD_LETTER_PATH, &letter).await;
    assert_eq!(again["data"]["duplicate"], true);

    let dead = events(&app, &tenant.key, "?status=dead").await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["attempts"], 5);
    assert_eq!(dead[0]["last_error"], "origin answered 503");
    assert_eq!(dead[0]["edge_event_id"], "evt_dead");
    assert!(
        events(&app, &tenant.key, "?status=received")
            .await
            .is_empty()
    );
}

/// A burst of repeats, taken in by one batched insert: one event stored, and every repeat
/// (same delivery, or the same order under another delivery id) answered with its id.
async fn concurrent_repeats_are_stored_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(0).await;
    let sends = (0..24).map(|n| {
        let edge_id = format!("evt_burst_{}", n % 3);
        let body = event(&tenant.id, "woocommerce", &edge_id, WOO_BODY);
        let app = &app;
        async move { app.edge(Method::POST, INGEST_PATH, &body).await }
    });
    let answers = futures_util::future::join_all(sends).await;
    let mut ids = std::collections::BTreeSet::new();
    let mut new = 0;
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
        ids.insert(body["data"]["event_id"].as_str().unwrap().to_owned());
        new += usize::from(body["data"]["duplicate"] == false);
    }
    assert_eq!(ids.len(), 1, "{answers:?}");
    assert_eq!(new, 1, "{answers:?}");
    assert_eq!(events(&app, &tenant.key, "").await.len(), 1);
}

on_both_backends!(
    unsigned_stale_and_altered_requests_are_refused,
    edge_config_carries_decrypted_secrets_and_active_flags,
    events_are_stored_once_per_platform_identity,
    events_for_an_inactive_connection_are_kept_unprocessed,
    dead_letters_are_recorded_once,
    concurrent_repeats_are_stored_once,
);
