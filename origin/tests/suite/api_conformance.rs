//! What schemathesis (`make schemathesis`) found between the served OpenAPI document and the
//! answers: each finding's fix, pinned through HTTP.

use crate::common;

use common::{Backend, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn document(app: &TestApp, key: &str) -> Value {
    let (status, doc) = app.get("/api/v1/docs", key).await;
    assert_eq!(status, StatusCode::OK);
    doc
}

/// Success bodies were documented as the bare `data` type; the wire answer is the envelope.
async fn success_bodies_are_documented_as_the_envelope_they_are(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(10).await;
    let doc = document(&app, &tenant.key).await;
    let schema = |path: &str, method: &str| {
        doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
            .clone()
    };
    let tenant_schema = schema("/api/v1/tenant", "get");
    assert_eq!(tenant_schema["required"], json!(["data", "meta", "error"]));
    assert_eq!(
        tenant_schema["properties"]["error"],
        json!({"type": "null"})
    );
    assert!(
        tenant_schema["properties"]["data"]["$ref"].is_string(),
        "{tenant_schema}"
    );
    let list_schema = schema("/api/v1/orders", "get");
    assert_eq!(list_schema["properties"]["data"]["type"], "array");
    // The document itself is the one answer that is not enveloped.
    assert!(schema("/api/v1/docs", "get")["required"].is_null());
    // And the answer has exactly the documented top level.
    let (status, body) = app.get("/api/v1/tenant", &tenant.key).await;
    assert_eq!(status, StatusCode::OK);
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["data", "meta", "error"]);
}

/// `limit` was documented as any integer; 0 and 101 are refused with 400.
async fn list_limits_are_documented_with_their_bounds(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(10).await;
    let doc = document(&app, &tenant.key).await;
    for path in [
        "/api/v1/orders",
        "/api/v1/products",
        "/api/v1/events",
        "/api/v1/keys",
        "/api/v1/templates",
        "/api/v1/connections",
        "/api/v1/audit-log",
    ] {
        let params = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
        let limit = params.iter().find(|p| p["name"] == "limit").unwrap();
        assert_eq!(limit["schema"]["minimum"], 1, "{path}: {limit}");
        assert_eq!(limit["schema"]["maximum"], 100, "{path}: {limit}");
        for refused in [0, 101] {
            let (status, body) = app
                .get(&format!("{path}?limit={refused}"), &tenant.key)
                .await;
            common::assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
        }
    }
}

/// A 405 carried no `Allow` header (RFC 9110 requires it).
async fn a_405_names_the_methods_the_path_allows(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(10).await;
    for (method, path, allow) in [
        (Method::PUT, "/api/v1/orders", "GET,HEAD"),
        (Method::DELETE, "/api/v1/tenant", "GET,HEAD"),
        (Method::TRACE, "/api/v1/keys/key_1", "DELETE"),
        (Method::GET, "/api/v1/orders/ord_1/resend", "POST"),
        (
            Method::POST,
            "/api/v1/products/prd_1",
            "GET,HEAD,PATCH,DELETE",
        ),
    ] {
        let response = app
            .client
            .request(method.clone(), format!("{}{path}", app.base))
            .bearer_auth(&tenant.key)
            .send()
            .await
            .unwrap();
        let header = response
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().to_owned());
        let (status, body) = common::read(response).await;
        common::assert_error(
            status,
            &body,
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
        );
        assert_eq!(header.as_deref(), Some(allow), "{method} {path}");
    }
}

/// A preview's `data` is documented as an object; `false` or a list rendered with 200.
async fn a_preview_refuses_data_that_is_not_an_object(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(10).await;
    let (status, template) = app
        .post(
            "/api/v1/templates",
            &tenant.key,
            json!({"name": "Plain", "subject": "Hi {{ buyer.name }}", "body": "Thanks"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{template}");
    let preview = format!(
        "/api/v1/templates/{}/preview",
        template["data"]["id"].as_str().unwrap()
    );
    let (status, body) = app
        .call(
            Method::POST,
            &preview,
            &tenant.key,
            Some(json!([{"buyer": {}}])),
        )
        .await;
    common::assert_error(status, &body, StatusCode::BAD_REQUEST, "INVALID_REQUEST");
    for data in [json!(false), json!([1]), json!("x"), json!(3)] {
        let (status, body) = app
            .post(&preview, &tenant.key, json!({ "data": data }))
            .await;
        let error = common::assert_error(status, &body, StatusCode::BAD_REQUEST, "INVALID_REQUEST");
        assert_eq!(error["field"], "data", "{body}");
    }
    let (status, body) = app
        .post(
            &preview,
            &tenant.key,
            json!({"data": {"buyer": {"name": "Ada"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["subject"], "Hi Ada");
    assert_eq!(body["data"]["data"], json!({"buyer": {"name": "Ada"}}));
    // No body at all previews with sample data, so the document calls the body optional.
    let doc = document(&app, &tenant.key).await;
    let documented = &doc["paths"]["/api/v1/templates/{id}/preview"]["post"]["requestBody"];
    assert_ne!(documented["required"], true, "{documented}");
    let request = app
        .client
        .post(format!("{}{preview}", app.base))
        .bearer_auth(&tenant.key);
    let (status, body) = common::send(request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["subject"], "Hi Anna Keller");
}

/// Text limits were undocumented, and counted UTF-8 bytes while the document (JSON Schema
/// `maxLength`) and the error message count characters: a 100-character SKU of `é` was refused.
async fn text_limits_are_documented_and_count_characters(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(10).await;
    let doc = document(&app, &tenant.key).await;
    let product = &doc["components"]["schemas"]["ProductIn"]["properties"];
    assert_eq!(product["sku"]["minLength"], 1, "{product}");
    assert_eq!(product["sku"]["maxLength"], 100, "{product}");
    assert_eq!(product["name"]["maxLength"], 300, "{product}");
    let template = &doc["components"]["schemas"]["TemplateIn"]["properties"];
    assert_eq!(template["name"]["maxLength"], 200, "{template}");

    let sku = "é".repeat(100);
    let (status, body) = app
        .post(
            "/api/v1/products",
            &tenant.key,
            json!({"sku": sku, "name": "ü".repeat(300), "type": "CODE"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["data"]["sku"], sku.as_str());
    let (status, body) = app
        .post(
            "/api/v1/products",
            &tenant.key,
            json!({"sku": "é".repeat(101), "name": "x", "type": "CODE"}),
        )
        .await;
    let error = common::assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(error["field"], "sku");
    let (status, body) = app
        .post(
            "/api/v1/templates",
            &tenant.key,
            json!({"name": "ß".repeat(200), "subject": "ö".repeat(1000), "body": "Thanks"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The limit holds for the name as sent, before the origin trims it.
    let (status, body) = app
        .post(
            "/api/v1/templates",
            &tenant.key,
            json!({"name": format!("\u{c}{}", "*".repeat(200)), "subject": "s", "body": "b"}),
        )
        .await;
    let error = common::assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(error["field"], "name");
}

/// serde reads a struct from an array of its fields in order; the API takes objects only, and
/// an array body changes nothing.
async fn an_array_body_is_refused_where_an_object_is_documented(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(10).await;
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/products",
            &tenant.key,
            // Every field of the product, in order: read as a product before the fix.
            Some(json!(["ARR-1", "Array product", "FILE", null, null, null])),
        )
        .await;
    let error = common::assert_error(status, &body, StatusCode::BAD_REQUEST, "INVALID_REQUEST");
    assert!(
        error["message"].as_str().unwrap().contains("object"),
        "{body}"
    );
    let (status, list) = app.get("/api/v1/products", &tenant.key).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["data"], json!([]), "nothing created: {list}");
}

on_both_backends!(
    an_array_body_is_refused_where_an_object_is_documented,
    text_limits_are_documented_and_count_characters,
    success_bodies_are_documented_as_the_envelope_they_are,
    list_limits_are_documented_with_their_bounds,
    a_405_names_the_methods_the_path_allows,
    a_preview_refuses_data_that_is_not_an_object,
);
