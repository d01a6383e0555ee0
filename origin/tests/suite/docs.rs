//! The OpenAPI document at `/api/v1/docs`: valid OpenAPI 3.1 (checked against the official
//! schema, vendored in `tests/schemas/`), every `$ref` resolves, every route of the API
//! document is in it, and the router serves exactly the methods it documents.

use crate::common;

use common::{Backend, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Routes the API document and the issue name; each must be documented.
const REQUIRED: [(&str, &str); 48] = [
    ("get", "/healthz"),
    ("get", "/api/v1/docs"),
    ("get", "/api/v1/docs/ui"),
    ("get", "/api/v1/tenant"),
    ("get", "/api/v1/keys"),
    ("post", "/api/v1/keys"),
    ("delete", "/api/v1/keys/{id}"),
    ("post", "/api/v1/keys/{id}/rotate"),
    ("get", "/api/v1/audit-log"),
    ("get", "/api/v1/products"),
    ("post", "/api/v1/products"),
    ("get", "/api/v1/products/{id}"),
    ("patch", "/api/v1/products/{id}"),
    ("delete", "/api/v1/products/{id}"),
    ("post", "/api/v1/products/{id}/files"),
    ("put", "/api/v1/uploads/{file_id}"),
    ("post", "/api/v1/products/{id}/codes"),
    ("get", "/api/v1/orders"),
    ("get", "/api/v1/orders/{id}"),
    ("post", "/api/v1/orders/{id}/resend"),
    ("post", "/api/v1/orders/{id}/items/{item_id}/replace"),
    ("post", "/api/v1/orders/{id}/approve"),
    ("get", "/api/v1/templates"),
    ("post", "/api/v1/templates"),
    ("get", "/api/v1/templates/{id}"),
    ("patch", "/api/v1/templates/{id}"),
    ("post", "/api/v1/templates/{id}/preview"),
    ("get", "/api/v1/connections"),
    ("post", "/api/v1/connections"),
    ("post", "/api/v1/connections/{id}/deactivate"),
    ("patch", "/api/v1/connections/{id}"),
    ("post", "/api/v1/connections/{platform}/authorize"),
    ("post", "/connect/woocommerce/keys"),
    ("get", "/connect/woocommerce/callback"),
    ("get", "/api/v1/events"),
    ("get", "/internal/v1/tenants/{tenant_id}/edge-config"),
    ("post", "/internal/v1/events"),
    ("post", "/internal/v1/dead-letters"),
    ("get", "/internal/v1/etsy/shops/{shop_id}"),
    ("get", "/internal/v1/ebay/sellers/{user_id}"),
    ("get", "/app"),
    ("get", "/app/sign-up"),
    ("post", "/app/sign-up"),
    ("get", "/app/sign-in"),
    ("post", "/app/sign-in"),
    ("post", "/app/sign-out"),
    ("get", "/app/{tenant_id}"),
    ("get", "/app/assets/{file}"),
];

async fn document(app: &TestApp) -> Value {
    let response = app
        .client
        .get(format!("{}/api/v1/docs", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn the_document_is_valid_openapi_3_1(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let doc = document(&app).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );

    let schema: Value = serde_json::from_str(include_str!("schemas/openapi-3.1.json")).unwrap();
    let validator = jsonschema::draft202012::new(&schema).expect("the OpenAPI 3.1 schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "not valid OpenAPI 3.1: {errors:#?}");
    // The validator does reject broken documents.
    let mut without_info = doc.clone();
    without_info.as_object_mut().unwrap().remove("info");
    assert!(!validator.is_valid(&without_info));
    let mut bad_responses = doc.clone();
    bad_responses["paths"]["/healthz"]["get"]["responses"] = Value::String("ok".into());
    assert!(!validator.is_valid(&bad_responses));

    // The schema cannot see references; every one must point at a component that exists.
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for reference in refs {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("external ref {reference}"));
        assert!(doc.pointer(pointer).is_some(), "dangling $ref {reference}");
    }
    // Operation ids are unique, and every operation documents its errors with the envelope.
    let mut ids = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(ids.insert(id.to_owned()), "duplicate operationId {id}");
            let responses = operation["responses"].as_object().unwrap();
            let needs_errors = !matches!(
                path.as_str(),
                "/healthz" | "/api/v1/docs" | "/api/v1/docs/ui"
            );
            assert!(
                !needs_errors || responses.keys().any(|s| s.starts_with('4')),
                "{method} {path} documents no error"
            );
        }
    }
    // A sample of the error vocabulary is described on the error body.
    let codes = doc
        .pointer("/components/schemas/ErrorBodyDoc/properties/code/description")
        .unwrap()
        .as_str()
        .unwrap();
    for code in shared::ErrorCode::ALL {
        if code != shared::ErrorCode::SignatureMismatch {
            assert!(codes.contains(code.as_str()), "{code} undocumented");
        }
    }
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                out.push(reference.clone());
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

async fn the_router_serves_exactly_what_the_document_lists(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let doc = document(&app).await;
    let paths = doc["paths"].as_object().unwrap();
    for (method, path) in REQUIRED {
        assert!(
            paths.get(path).and_then(|item| item.get(method)).is_some(),
            "{method} {path} is not documented"
        );
    }
    for (path, item) in paths {
        let concrete = path.replace(['{', '}'], "");
        for method in METHODS {
            let documented = item.get(method).is_some();
            let response = app
                .client
                .request(
                    Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    format!("{}{concrete}", app.base),
                )
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let unrouted = status == StatusCode::METHOD_NOT_ALLOWED
                || (status == StatusCode::NOT_FOUND
                    && body["error"]["message"] == "no route for this path");
            assert_eq!(
                !unrouted, documented,
                "{method} {path}: served = {}, documented = {documented} ({status} {body})",
                !unrouted
            );
        }
    }
    // Anything else is the enveloped 404 / 405.
    let (status, body) = common::send(app.client.get(format!("{}/api/v1/nothing", app.base))).await;
    common::assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, body) = common::send(app.client.put(format!("{}/api/v1/orders", app.base))).await;
    common::assert_error(
        status,
        &body,
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    );
}

async fn the_document_has_a_readable_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .client
        .get(format!("{}/api/v1/docs/ui", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = response.text().await.unwrap();
    assert!(page.contains("/api/v1/orders/{id}/items/{item_id}/replace"));
    assert!(!page.contains("<script"), "nothing to download or run");
}

on_both_backends!(
    the_document_has_a_readable_page,
    the_document_is_valid_openapi_3_1,
    the_router_serves_exactly_what_the_document_lists
);
