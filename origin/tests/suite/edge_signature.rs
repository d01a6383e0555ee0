//! The origin serves nothing a client sends it directly: the public API, uploads and downloads
//! need the edge signature like the internal routes do (uploads and downloads in the streamed
//! form, which signs a length instead of the body). Only the health probe answers anyone.

use reqwest::StatusCode;
use serde_json::json;
use shared::forward::{SIGNATURE_HEADER, sign_forwarded_request, sign_streamed_request};

use crate::common;
use common::{Backend, EDGE_SECRET, PUBLIC_BASE_URL, TestApp, assert_error};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A FILE product with an upload slot: the product's id and the upload URL's path and query.
async fn upload_slot(app: &TestApp, key: &str) -> (String, String) {
    let (status, product) = app
        .post(
            "/api/v1/products",
            key,
            json!({"sku": "GUIDE", "name": "The guide", "type": "FILE"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{product}");
    let id = product["data"]["id"].as_str().unwrap().to_owned();
    let (status, slot) = app
        .post(
            &format!("/api/v1/products/{id}/files"),
            key,
            json!({"filename": "guide.pdf", "content_type": "application/pdf"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{slot}");
    let upload = slot["data"]["upload_url"]
        .as_str()
        .unwrap()
        .trim_start_matches(PUBLIC_BASE_URL)
        .to_owned();
    (id, upload)
}

/// The status of the product's first file (`pending` until an upload is stored).
async fn file_status(app: &TestApp, key: &str, product_id: &str) -> String {
    let (status, product) = app
        .get(&format!("/api/v1/products/{product_id}"), key)
        .await;
    assert_eq!(status, StatusCode::OK, "{product}");
    product["data"]["files"][0]["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn a_client_that_bypasses_the_edge_is_refused_on_every_route(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(5).await;
    let (product_id, upload) = upload_slot(&app, &tenant.key).await;
    let direct = |path: &str| format!("{}{path}", app.origin);

    // A valid API key is not enough without the edge: the edge's limits would be bypassed.
    let (status, body) = common::send(
        app.client
            .get(direct("/api/v1/orders"))
            .bearer_auth(&tenant.key),
    )
    .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    let (status, body) = common::send(
        app.client
            .post(direct("/api/v1/products"))
            .bearer_auth(&tenant.key)
            .json(&json!({"sku": "X", "name": "X", "type": "CODE"})),
    )
    .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    // Uploads (their signed URL is not enough either), downloads, the docs, unknown paths.
    let (status, body) = common::send(app.client.put(direct(&upload)).body("%PDF")).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    for path in ["/d/dl_0.AAAA", "/api/v1/docs/openapi.json", "/nothing"] {
        let (status, body) = common::send(app.client.get(direct(path))).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    }
    // A body signature does not stand for another method or path.
    let signature =
        sign_forwarded_request(EDGE_SECRET.as_bytes(), now(), "GET", "/api/v1/tenant", b"");
    let (status, body) = common::send(
        app.client
            .get(direct("/api/v1/orders"))
            .bearer_auth(&tenant.key)
            .header(SIGNATURE_HEADER, signature),
    )
    .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");

    // The health probe answers anyone; signed, the same calls are served.
    let health = app.client.get(direct("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let (status, body) = app.get("/api/v1/orders", &tenant.key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        file_status(&app, &tenant.key, &product_id).await,
        "pending",
        "the refused upload stored nothing"
    );
}

async fn a_streamed_upload_is_read_no_further_than_the_signed_length(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(5).await;
    let (product_id, upload) = upload_slot(&app, &tenant.key).await;
    let url = format!("{}{upload}", app.origin);
    let streamed =
        |length: u64| sign_streamed_request(EDGE_SECRET.as_bytes(), now(), "PUT", &upload, length);

    // Signed for 4 bytes, sent 600: refused, nothing stored.
    let (status, body) = common::send(
        app.client
            .put(&url)
            .header(SIGNATURE_HEADER, streamed(4))
            .body(vec![7u8; 600]),
    )
    .await;
    assert!(status.is_client_error(), "{status}: {body}");
    assert_eq!(file_status(&app, &tenant.key, &product_id).await, "pending");

    // Signed for another path: refused.
    let other = sign_streamed_request(EDGE_SECRET.as_bytes(), now(), "PUT", "/api/v1/uploads/x", 4);
    let (status, body) = common::send(
        app.client
            .put(&url)
            .header(SIGNATURE_HEADER, other)
            .body("%PDF"),
    )
    .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");

    // Signed for its length, as the edge relays it: stored.
    let (status, body) = common::send(
        app.client
            .put(&url)
            .header(SIGNATURE_HEADER, streamed(4))
            .body("%PDF"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["size_bytes"], 4, "{body}");
}

on_both_backends!(
    a_client_that_bypasses_the_edge_is_refused_on_every_route,
    a_streamed_upload_is_read_no_further_than_the_signed_length,
);
