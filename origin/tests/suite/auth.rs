//! Authentication, scopes, keys (create, list, revoke, rotate), tenant, request ids, and the
//! validation answers every route shares (bad JSON, unknown fields, wrong types, 413, 415).

use crate::common;

use common::{Backend, TestApp, assert_error};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn bad_keys_are_401_and_missing_scopes_403(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.tenant(7).await;

    let (status, me) = app.get("/api/v1/tenant", &t.key).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["data"]["id"], t.id.as_str());
    assert_eq!(me["data"]["token_balance"], 7);

    let unknown =
        shared::apikey::generate_api_key(shared::apikey::KeyEnvironment::Live, [9; 20]).secret;
    let mut typo = t.key.clone().into_bytes();
    typo[12] = if typo[12] == b'a' { b'b' } else { b'a' };
    for key in [
        unknown.as_str(),
        std::str::from_utf8(&typo).unwrap(),
        "ys_live_short",
        "sk_live_abc",
        "",
    ] {
        let (status, body) = app.get("/api/v1/orders", key).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    }
    let (status, body) = common::send(app.client.get(format!("{}/api/v1/orders", app.base))).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    let (status, body) = common::send(
        app.client
            .get(format!("{}/api/v1/orders", app.base))
            .header("authorization", format!("Basic {}", t.key)),
    )
    .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");

    let reader = app
        .key_with_scopes(&t, &["orders:read", "products:read"])
        .await;
    let (status, _) = app.get("/api/v1/orders", &reader).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get("/api/v1/products", &reader).await;
    assert_eq!(status, StatusCode::OK);
    let forbidden: [(Method, &str, Option<serde_json::Value>, &str); 12] = [
        (
            Method::POST,
            "/api/v1/products",
            Some(json!({"sku": "A", "name": "A", "type": "FILE"})),
            "products:write",
        ),
        (
            Method::POST,
            "/api/v1/orders/ord_x/resend",
            None,
            "orders:write",
        ),
        (Method::GET, "/api/v1/templates", None, "templates:read"),
        (
            Method::POST,
            "/api/v1/templates",
            Some(json!({"name": "n", "subject": "s", "body": "b"})),
            "templates:write",
        ),
        (Method::GET, "/api/v1/connections", None, "connections:read"),
        (
            Method::POST,
            "/api/v1/connections",
            Some(json!({"platform": "etsy", "shop_id": "1"})),
            "connections:write",
        ),
        (
            Method::POST,
            "/api/v1/connections/con_x/deactivate",
            None,
            "connections:write",
        ),
        (Method::GET, "/api/v1/keys", None, "keys:read"),
        (Method::POST, "/api/v1/keys", Some(json!({})), "keys:write"),
        (Method::DELETE, "/api/v1/keys/key_x", None, "keys:write"),
        (
            Method::POST,
            "/api/v1/keys/key_x/rotate",
            None,
            "keys:write",
        ),
        (Method::GET, "/api/v1/events", None, "events:read"),
    ];
    for (method, path, body, scope) in forbidden {
        let (status, answer) = app.call(method.clone(), path, &reader, body).await;
        let error = assert_error(status, &answer, StatusCode::FORBIDDEN, "FORBIDDEN");
        assert!(
            error["message"].as_str().unwrap().contains(scope),
            "{method} {path}: {answer}"
        );
    }
    let (_, products) = app.get("/api/v1/products", &t.key).await;
    assert!(
        products["data"].as_array().unwrap().is_empty(),
        "a refused request wrote nothing"
    );
}

async fn keys_are_listed_created_revoked_and_rotated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.tenant(0).await;

    let (status, created) = app
        .post(
            "/api/v1/keys",
            &t.key,
            json!({"name": "ci", "scopes": ["orders:read"], "environment": "test"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["data"]["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("ys_test_"));
    assert_eq!(created["data"]["prefix"].as_str().unwrap(), &secret[..14]);
    assert_eq!(created["data"]["scopes"], json!(["orders:read"]));
    let key_id = created["data"]["id"].as_str().unwrap().to_owned();

    // A test key reaches no live data (keys::a_test_key_is_refused_on_every_live_data_route);
    // the tenant route shows it works.
    let (status, _) = app.get("/api/v1/tenant", &secret).await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = app.get("/api/v1/keys", &t.key).await;
    let keys = list["data"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let text = list.to_string();
    assert!(
        !text.contains(&secret) && !text.contains(&t.key),
        "secrets are never listed"
    );
    assert!(keys.iter().all(|k| k.get("secret").is_none()));
    let listed = keys.iter().find(|k| k["id"] == key_id.as_str()).unwrap();
    assert!(listed["last_used_at"].is_string(), "{listed}");
    assert_eq!(listed["environment"], "test");

    let (status, body) = app
        .post("/api/v1/keys", &t.key, json!({"scopes": ["orders:admin"]}))
        .await;
    assert_eq!(
        assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_FAILED")["field"],
        "scopes"
    );
    let (status, body) = app
        .post("/api/v1/keys", &t.key, json!({"environment": "staging"}))
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");

    // Rotate: a new secret with the same scopes; the old one still works during the grace period.
    let (status, rotated) = app
        .post(&format!("/api/v1/keys/{key_id}/rotate"), &t.key, json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rotated}");
    let new_secret = rotated["data"]["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    assert!(new_secret.starts_with("ys_test_"));
    assert_eq!(rotated["data"]["scopes"], json!(["orders:read"]));
    for key in [&secret, &new_secret] {
        let (status, _) = app.get("/api/v1/tenant", key).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (_, list) = app.get("/api/v1/keys", &t.key).await;
    let old = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == key_id.as_str())
        .unwrap()
        .clone();
    let expires = chrono::DateTime::parse_from_rfc3339(old["expires_at"].as_str().unwrap())
        .unwrap()
        .timestamp();
    let hours = (expires - now_secs()) as f64 / 3600.0;
    assert!(
        (23.9..=24.0).contains(&hours),
        "grace period is 24 h, got {hours}"
    );

    // Revoke: the old key stops at once; the rotated key keeps working.
    let (status, revoked) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/keys/{key_id}"),
            &t.key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert!(revoked["data"]["revoked_at"].is_string());
    let (status, body) = app.get("/api/v1/orders", &secret).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    let (status, _) = app.get("/api/v1/tenant", &new_secret).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .post(&format!("/api/v1/keys/{key_id}/rotate"), &t.key, json!({}))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");

    // Another tenant cannot see, revoke or rotate our keys.
    let other = app.tenant(0).await;
    let new_id = rotated["data"]["id"].as_str().unwrap();
    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/keys/{new_id}"),
            &other.key,
            None,
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, body) = app
        .post(
            &format!("/api/v1/keys/{new_id}/rotate"),
            &other.key,
            json!({}),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (_, theirs) = app.get("/api/v1/keys", &other.key).await;
    assert_eq!(theirs["data"].as_array().unwrap().len(), 1);
    let (status, _) = app.get("/api/v1/tenant", &new_secret).await;
    assert_eq!(status, StatusCode::OK);
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn connections_are_created_listed_and_deactivated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.tenant(0).await;
    let (status, woo) = app
        .post(
            "/api/v1/connections",
            &t.key,
            json!({"platform": "woocommerce", "store_url": "https://shop.example.com/",
            "consumer_key": "ck_123", "consumer_secret": "cs_456"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{woo}");
    assert_eq!(woo["data"]["store_url"], "https://shop.example.com");
    assert_eq!(woo["data"]["status"], "active");
    assert_eq!(
        woo["data"]["secrets_set"],
        json!(["webhook_secret", "consumer_key", "consumer_secret"])
    );
    let generated = woo["data"]["generated_webhook_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(generated.len(), 48);

    let (status, ebay) = app
        .post(
            "/api/v1/connections",
            &t.key,
            json!({"platform": "ebay", "verification_token": "x".repeat(40),
            "endpoint_url": "https://hooks.example.com/ebay"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ebay}");
    assert_eq!(
        ebay["data"]["endpoint_url"],
        "https://hooks.example.com/ebay"
    );
    let (status, etsy) = app
        .post(
            "/api/v1/connections",
            &t.key,
            json!({"platform": "etsy", "shop_id": "12345678", "api_key": "k",
            "access_token": "a", "refresh_token": "r"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{etsy}");

    let (_, list) = app.get("/api/v1/connections", &t.key).await;
    let text = list.to_string();
    for secret in ["cs_456", "ck_123", &generated, &"x".repeat(40)] {
        assert!(!text.contains(secret), "secrets are never answered");
    }
    assert_eq!(list["data"].as_array().unwrap().len(), 3);
    assert_eq!(list["data"][0]["platform"], "etsy");
    let (_, page) = app.get("/api/v1/connections?limit=2", &t.key).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert!(page["meta"]["next_cursor"].is_string());

    // Stored sealed: the database holds no secret in clear.
    let sealed: Vec<String> = app
        .store
        .all_connections(&t.id)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.secrets_sealed)
        .collect();
    assert!(
        sealed
            .iter()
            .all(|s| s.starts_with("v2.") && !s.contains("cs_456"))
    );

    let id = woo["data"]["id"].as_str().unwrap();
    let (status, got) = app.get(&format!("/api/v1/connections/{id}"), &t.key).await;
    assert_eq!(
        (status, got["data"]["platform"].clone()),
        (StatusCode::OK, json!("woocommerce"))
    );
    let (status, off) = app
        .post(
            &format!("/api/v1/connections/{id}/deactivate"),
            &t.key,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(off["data"]["status"], "inactive");

    for (body, field) in [
        (
            json!({"platform": "woocommerce", "store_url": "shop.example.com", "webhook_secret": "s"}),
            "store_url",
        ),
        (
            json!({"platform": "woocommerce", "store_url": "https://s.example.com"}),
            "webhook_secret",
        ),
        (
            json!({"platform": "ebay", "verification_token": "short"}),
            "verification_token",
        ),
        (json!({"platform": "etsy", "shop_id": "my-shop"}), "shop_id"),
    ] {
        let (status, answer) = app.post("/api/v1/connections", &t.key, body).await;
        assert_eq!(
            assert_error(
                status,
                &answer,
                StatusCode::BAD_REQUEST,
                "VALIDATION_FAILED"
            )["field"],
            field
        );
    }
    let (status, answer) = app
        .post("/api/v1/connections", &t.key, json!({"platform": "amazon"}))
        .await;
    assert_error(status, &answer, StatusCode::BAD_REQUEST, "INVALID_REQUEST");
    let (_, list) = app.get("/api/v1/connections", &t.key).await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        3,
        "nothing written on error"
    );

    let other = app.tenant(0).await;
    let (status, body) = app
        .get(&format!("/api/v1/connections/{id}"), &other.key)
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, body) = app
        .post(
            &format!("/api/v1/connections/{id}/deactivate"),
            &other.key,
            json!({}),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (_, events) = app
        .get("/api/v1/events?status=dead&platform=ebay", &other.key)
        .await;
    assert!(events["data"].as_array().unwrap().is_empty());
    let (status, body) = app.get("/api/v1/events?status=lost", &other.key).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "INVALID_REQUEST");
}

async fn malformed_requests_get_field_and_hint(backend: Backend) {
    let app = TestApp::spawn_with(backend, 2048).await;
    let t = app.tenant(0).await;
    let raw = |body: &'static str, content_type: &'static str| {
        let app = &app;
        let key = t.key.clone();
        async move {
            common::send(
                app.client
                    .post(format!("{}/api/v1/products", app.base))
                    .bearer_auth(key)
                    .header("content-type", content_type)
                    .body(body),
            )
            .await
        }
    };
    let (status, body) = raw(r#"{"sku": "A", "name": "#, "application/json").await;
    let error = assert_error(status, &body, StatusCode::BAD_REQUEST, "INVALID_REQUEST");
    assert!(
        error["hint"].as_str().unwrap().contains("line 1"),
        "{error}"
    );
    let (status, body) = raw(
        r#"{"sku": "A", "name": "A", "type": "FILE", "colour": "red"}"#,
        "application/json",
    )
    .await;
    let error = assert_error(status, &body, StatusCode::BAD_REQUEST, "INVALID_REQUEST");
    assert_eq!(error["field"], "colour");
    assert!(error["hint"].as_str().unwrap().contains("sku"), "{error}");
    let (status, body) = raw(
        r#"{"sku": "A", "name": "A", "type": "FILE", "low_stock_threshold": "ten"}"#,
        "application/json",
    )
    .await;
    assert_eq!(
        assert_error(status, &body, StatusCode::BAD_REQUEST, "INVALID_REQUEST")["field"],
        "low_stock_threshold"
    );
    let (status, body) = raw(
        r#"{"sku": "A", "name": "A", "type": "BOOK"}"#,
        "application/json",
    )
    .await;
    let error = assert_error(status, &body, StatusCode::BAD_REQUEST, "INVALID_REQUEST");
    assert_eq!(error["field"], "type");
    assert!(error["hint"].as_str().unwrap().contains("HYBRID"));
    let (status, body) = raw(r#"{"sku": "A", "type": "FILE"}"#, "application/json").await;
    assert_eq!(
        assert_error(status, &body, StatusCode::BAD_REQUEST, "INVALID_REQUEST")["field"],
        "name"
    );
    let (status, body) = raw(
        r#"{"sku": "A", "name": "A", "type": "FILE", "mappings": {"shopify": 1}}"#,
        "application/json",
    )
    .await;
    assert_eq!(
        assert_error(status, &body, StatusCode::BAD_REQUEST, "INVALID_REQUEST")["field"],
        "mappings.shopify"
    );
    let (status, body) = raw(
        r#"{"sku": " ", "name": "A", "type": "FILE"}"#,
        "application/json",
    )
    .await;
    assert_eq!(
        assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_FAILED")["field"],
        "sku"
    );
    let (status, body) = raw(r#"{"sku": "A", "name": "A", "type": "FILE"}"#, "text/plain").await;
    assert_error(
        status,
        &body,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
    );
    let big: &'static str = Box::leak(
        format!(
            r#"{{"sku": "A", "name": "{}", "type": "FILE"}}"#,
            "n".repeat(4000)
        )
        .into_boxed_str(),
    );
    let (status, body) = raw(big, "application/json").await;
    assert_error(
        status,
        &body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    );
    let (status, body) = app.get("/api/v1/products?colour=red", &t.key).await;
    assert_eq!(
        assert_error(status, &body, StatusCode::BAD_REQUEST, "INVALID_REQUEST")["field"],
        "colour"
    );

    let (_, products) = app.get("/api/v1/products", &t.key).await;
    assert!(
        products["data"].as_array().unwrap().is_empty(),
        "nothing written on any error"
    );
}

async fn every_response_carries_a_request_id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.tenant(0).await;
    let response = app
        .client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    let header = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["data"], json!({"status": "ok"}));
    assert_eq!(body["meta"]["request_id"], header.as_str());
    assert!(header.starts_with("req_"));

    let response = app
        .client
        .get(format!("{}/api/v1/orders/ord_missing", app.base))
        .bearer_auth(&t.key)
        .header("x-request-id", "edge-req-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "edge-req-42");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["meta"]["request_id"], "edge-req-42");
    let response = app
        .client
        .get(format!("{}/nowhere", app.base))
        .header("x-request-id", "bad id!")
        .send()
        .await
        .unwrap();
    assert_ne!(
        response.headers()["x-request-id"],
        "bad id!",
        "unsafe ids are replaced"
    );
}

async fn a_key_with_the_alerts_scope_reads_alerts_and_others_are_403(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(0).await;
    let alerts = app.key_with_scopes(&tenant, &["alerts:read"]).await;
    let (status, body) = app.get("/api/v1/alerts", &alerts).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["data"].is_array(), "{body}");
    let (status, body) = app.get("/api/v1/alerts", &tenant.key).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the first key holds every scope (*): {body}"
    );

    let orders = app.key_with_scopes(&tenant, &["orders:read"]).await;
    let (status, body) = app.get("/api/v1/alerts", &orders).await;
    let error = assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    assert!(
        error["message"].as_str().unwrap().contains("alerts:read"),
        "{body}"
    );
    // The API hands the scope out too.
    let (status, body) = app
        .post(
            "/api/v1/keys",
            &tenant.key,
            json!({"scopes": ["alerts:read"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["data"]["scopes"], json!(["alerts:read"]));
}

on_both_backends!(
    a_key_with_the_alerts_scope_reads_alerts_and_others_are_403,
    bad_keys_are_401_and_missing_scopes_403,
    keys_are_listed_created_revoked_and_rotated,
    connections_are_created_listed_and_deactivated,
    malformed_requests_get_field_and_hint,
    every_response_carries_a_request_id,
);
