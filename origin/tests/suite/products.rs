//! Products over HTTP: create/list/filter/get/update/archive, duplicate SKUs, code import,
//! signed file upload, and templates.

use crate::common;

use std::collections::HashSet;

use common::{Backend, TestApp, all_pages, assert_error};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn create(app: &TestApp, key: &str, body: Value) -> Value {
    let (status, answer) = app.post("/api/v1/products", key, body).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    answer["data"].clone()
}

fn ids(body: &Value) -> Vec<&str> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect()
}

async fn products_are_created_filtered_updated_and_archived(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.tenant(0).await;
    let ebook = create(
        &app,
        &t.key,
        json!({"sku": "EBOOK-1", "name": "Rust Cookbook", "type": "FILE"}),
    )
    .await;
    let key = create(
        &app,
        &t.key,
        json!({"sku": "KEY-1", "name": "Photo Editor licence", "type": "CODE", "low_stock_threshold": 2,
               "mappings": {"woocommerce_product_id": 55, "ebay_sku": "PE-1"}}),
    )
    .await;
    let bundle = create(
        &app,
        &t.key,
        json!({"sku": "BUNDLE-1", "name": "Editor + manual", "type": "HYBRID"}),
    )
    .await;
    assert_eq!(key["type"], "CODE");
    assert_eq!(key["mappings"]["woocommerce_product_id"], 55);
    assert_eq!(
        key["stock"],
        json!({"available": 0, "allocated": 0, "low_stock": true})
    );
    assert_eq!(ebook["files"], json!([]));

    let (status, body) = app
        .post(
            "/api/v1/products",
            &t.key,
            json!({"sku": "KEY-1", "name": "again", "type": "CODE"}),
        )
        .await;
    let error = assert_error(status, &body, StatusCode::CONFLICT, "DUPLICATE_SKU");
    assert_eq!(error["field"], "sku");

    let (_, all) = app.get("/api/v1/products", &t.key).await;
    assert_eq!(
        ids(&all),
        [
            bundle["id"].as_str().unwrap(),
            key["id"].as_str().unwrap(),
            ebook["id"].as_str().unwrap()
        ]
    );
    let (_, codes) = app.get("/api/v1/products?type=CODE", &t.key).await;
    assert_eq!(ids(&codes), [key["id"].as_str().unwrap()]);
    let (_, by_sku) = app.get("/api/v1/products?sku=EBOOK-1", &t.key).await;
    assert_eq!(ids(&by_sku), [ebook["id"].as_str().unwrap()]);
    let (_, search) = app.get("/api/v1/products?search=EDITOR", &t.key).await;
    assert_eq!(ids(&search).len(), 2, "name match, case-insensitive");
    let (_, search) = app.get("/api/v1/products?search=book-", &t.key).await;
    assert_eq!(ids(&search), [ebook["id"].as_str().unwrap()], "SKU match");
    let (_, none) = app.get("/api/v1/products?search=100%25", &t.key).await;
    assert!(ids(&none).is_empty(), "% is literal");
    let (status, body) = app.get("/api/v1/products?type=BOOK", &t.key).await;
    assert_eq!(
        assert_error(status, &body, StatusCode::BAD_REQUEST, "INVALID_REQUEST")["field"],
        "type"
    );

    let tpl = app
        .post(
            "/api/v1/templates",
            &t.key,
            json!({"name": "Keys", "subject": "Your key", "body": "{{ items[0].code }}"}),
        )
        .await
        .1["data"]["id"]
        .clone();
    let path = format!("/api/v1/products/{}", key["id"].as_str().unwrap());
    let (status, updated) = app
        .call(
            reqwest::Method::PATCH,
            &path,
            &t.key,
            Some(json!({"name": "Photo Editor Pro", "template_id": tpl, "mappings": {"etsy_listing_id": 9, "ebay_item_id": "1234"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["data"]["name"], "Photo Editor Pro");
    assert_eq!(updated["data"]["sku"], "KEY-1");
    assert_eq!(updated["data"]["template_id"], tpl);
    assert_eq!(
        updated["data"]["mappings"],
        json!({"woocommerce_product_id": null, "woocommerce_variation_id": null,
        "ebay_item_id": "1234", "ebay_sku": null, "etsy_listing_id": 9})
    );
    let (_, cleared) = app
        .call(
            reqwest::Method::PATCH,
            &path,
            &t.key,
            Some(json!({"template_id": null})),
        )
        .await;
    assert!(cleared["data"]["template_id"].is_null());
    let (status, body) = app
        .call(
            reqwest::Method::PATCH,
            &path,
            &t.key,
            Some(json!({"sku": "EBOOK-1"})),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "DUPLICATE_SKU");
    let (status, body) = app
        .call(
            reqwest::Method::PATCH,
            &path,
            &t.key,
            Some(json!({"template_id": "tpl_missing"})),
        )
        .await;
    assert_eq!(
        assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_FAILED")["field"],
        "template_id"
    );
    let (status, body) = app
        .call(
            reqwest::Method::PATCH,
            &path,
            &t.key,
            Some(json!({"type": "FILE"})),
        )
        .await;
    assert_eq!(
        assert_error(status, &body, StatusCode::BAD_REQUEST, "INVALID_REQUEST")["field"],
        "type"
    );

    let (status, archived) = app.call(reqwest::Method::DELETE, &path, &t.key, None).await;
    assert_eq!(status, StatusCode::OK, "{archived}");
    assert_eq!(archived["data"]["status"], "archived");
    let (_, active) = app.get("/api/v1/products", &t.key).await;
    assert_eq!(ids(&active).len(), 2);
    let (_, archived_list) = app.get("/api/v1/products?status=archived", &t.key).await;
    assert_eq!(ids(&archived_list), [key["id"].as_str().unwrap()]);
    let (status, still) = app.get(&path, &t.key).await;
    assert_eq!(
        (status, still["data"]["status"].clone()),
        (StatusCode::OK, json!("archived"))
    );

    // Another tenant: the same SKU is free, and our ids are 404.
    let other = app.tenant(0).await;
    create(
        &app,
        &other.key,
        json!({"sku": "KEY-1", "name": "Theirs", "type": "CODE"}),
    )
    .await;
    let (status, body) = app.get(&path, &other.key).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, body) = app
        .call(
            reqwest::Method::PATCH,
            &path,
            &other.key,
            Some(json!({"name": "x"})),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, body) = app
        .call(reqwest::Method::DELETE, &path, &other.key, None)
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, body) = app
        .post(&format!("{path}/codes"), &other.key, json!(["X"]))
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (_, theirs) = app.get("/api/v1/products", &other.key).await;
    assert_eq!(ids(&theirs).len(), 1);
}

async fn product_pages_cover_every_row_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.tenant(0).await;
    for n in 0..255 {
        app.post(
            "/api/v1/products",
            &t.key,
            json!({"sku": format!("SKU-{n}"), "name": "P", "type": "FILE"}),
        )
        .await;
    }
    let (ids, pages) = all_pages(&app, &t.key, "/api/v1/products?limit=100").await;
    assert_eq!((ids.len(), pages), (255, 3));
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 255);
}

async fn license_codes_import_deduplicated_with_counts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.tenant(0).await;
    let product = create(
        &app,
        &t.key,
        json!({"sku": "K", "name": "Key", "type": "CODE", "low_stock_threshold": 3}),
    )
    .await;
    let path = format!("/api/v1/products/{}/codes", product["id"].as_str().unwrap());

    let (status, body) = app
        .post(&path, &t.key, json!(["A-1", "A-2", "A-2", " A-3 ", ""]))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"],
        json!({"received": 4, "imported": 3, "duplicates": 1,
        "stock": {"available": 3, "allocated": 0, "low_stock": true}})
    );

    let (status, body) = common::send(
        app.client
            .post(format!("{}{path}", app.base))
            .bearer_auth(&t.key)
            .header("content-type", "text/plain")
            .body("A-3\nB-1\r\nB-2\n\nB-3\n"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["imported"], 3);
    assert_eq!(body["data"]["duplicates"], 1);
    assert_eq!(
        body["data"]["stock"],
        json!({"available": 6, "allocated": 0, "low_stock": false})
    );

    let (status, body) = app.post(&path, &t.key, json!([])).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    let (status, body) = app.post(&path, &t.key, json!({"codes": ["A"]})).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "INVALID_REQUEST");
    let (status, body) = app.post(&path, &t.key, json!([1, 2])).await;
    assert_eq!(
        assert_error(status, &body, StatusCode::BAD_REQUEST, "INVALID_REQUEST")["field"],
        "[0]"
    );
    let (status, body) = common::send(
        app.client
            .post(format!("{}{path}", app.base))
            .bearer_auth(&t.key)
            .header("content-type", "text/csv")
            .body("A"),
    )
    .await;
    assert_error(
        status,
        &body,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
    );

    let file = create(
        &app,
        &t.key,
        json!({"sku": "F", "name": "File", "type": "FILE"}),
    )
    .await;
    let (status, body) = app
        .post(
            &format!("/api/v1/products/{}/codes", file["id"].as_str().unwrap()),
            &t.key,
            json!(["A"]),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "CONFLICT");
}

async fn files_upload_through_a_signed_url_with_a_size_limit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.tenant(0).await;
    let product = create(
        &app,
        &t.key,
        json!({"sku": "F", "name": "Manual", "type": "HYBRID"}),
    )
    .await;
    let product_path = format!("/api/v1/products/{}", product["id"].as_str().unwrap());
    let slot = |name: &'static str| {
        let app = &app;
        let key = t.key.clone();
        let path = format!("{product_path}/files");
        async move {
            let (status, body) = app
                .post(
                    &path,
                    &key,
                    json!({"filename": name, "content_type": "application/pdf"}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            body["data"].clone()
        }
    };
    let upload = slot("manual.pdf").await;
    assert_eq!(upload["upload_method"], "PUT");
    assert_eq!(upload["file"]["status"], "pending");
    let url = upload["upload_url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/api/v1/uploads/", common::PUBLIC_BASE_URL)),
        "{url}"
    );
    let local = url.replace(common::PUBLIC_BASE_URL, &app.base);

    let (status, body) = common::send(
        app.client
            .put(local.replace("signature=", "signature=00"))
            .body("x"),
    )
    .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    let (status, body) = common::send(app.client.put(&local).body(vec![7u8; 600])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["status"], "uploaded");
    assert_eq!(body["data"]["size_bytes"], 600);
    let (status, body) = common::send(app.client.put(&local).body("again")).await;
    assert_error(status, &body, StatusCode::CONFLICT, "CONFLICT");

    // The test app allows 1024 bytes per upload.
    let big = slot("big.bin").await;
    let big_url = big["upload_url"]
        .as_str()
        .unwrap()
        .replace(common::PUBLIC_BASE_URL, &app.base);
    let (status, body) = common::send(app.client.put(&big_url).body(vec![1u8; 5000])).await;
    assert_error(
        status,
        &body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    );

    let (_, got) = app.get(&product_path, &t.key).await;
    let files = got["data"]["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["filename"], "manual.pdf");
    assert_eq!(files[0]["status"], "uploaded");
    assert_eq!(
        files[1]["status"], "pending",
        "the oversized upload stored nothing"
    );
    let stored = std::fs::read_dir(app.data_dir.path().join("files").join(&t.id))
        .unwrap()
        .count();
    assert_eq!(stored, 1);

    let (status, body) = app
        .post(
            &format!("{product_path}/files"),
            &t.key,
            json!({"filename": "../etc/passwd"}),
        )
        .await;
    assert_eq!(
        assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_FAILED")["field"],
        "filename"
    );
    let codes = create(
        &app,
        &t.key,
        json!({"sku": "C", "name": "Codes", "type": "CODE"}),
    )
    .await;
    let (status, body) = app
        .post(
            &format!("/api/v1/products/{}/files", codes["id"].as_str().unwrap()),
            &t.key,
            json!({"filename": "a.pdf"}),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "CONFLICT");
}

async fn templates_keep_one_default_and_preview(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.tenant(0).await;
    let (status, first) = app
        .post(
            "/api/v1/templates",
            &t.key,
            json!({"name": "Plain", "subject": "Order {{ order.platform_order_id }}",
            "body": "Hi {{ buyer.name }}"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(
        first["data"]["is_default"], true,
        "the first template is the default"
    );
    let first_id = first["data"]["id"].as_str().unwrap().to_owned();
    let (_, second) = app
        .post(
            "/api/v1/templates",
            &t.key,
            json!({"name": "Fancy", "subject": "S", "body": "B", "is_default": true}),
        )
        .await;
    assert_eq!(second["data"]["is_default"], true);
    let (_, list) = app.get("/api/v1/templates", &t.key).await;
    let defaults: Vec<&Value> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["is_default"] == true)
        .collect();
    assert_eq!(defaults.len(), 1);
    assert_eq!(defaults[0]["name"], "Fancy");

    let path = format!("/api/v1/templates/{first_id}");
    let (status, updated) = app
        .call(
            reqwest::Method::PATCH,
            &path,
            &t.key,
            Some(json!({"is_default": true, "body": "Hello {{ buyer.name }}"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["data"]["is_default"], true);
    let (_, got) = app
        .get(
            &format!(
                "/api/v1/templates/{}",
                second["data"]["id"].as_str().unwrap()
            ),
            &t.key,
        )
        .await;
    assert_eq!(got["data"]["is_default"], false);
    let (status, body) = app
        .call(
            reqwest::Method::PATCH,
            &path,
            &t.key,
            Some(json!({"is_default": false})),
        )
        .await;
    assert_eq!(
        assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_FAILED")["field"],
        "is_default"
    );

    let (status, bare) = common::send(
        app.client
            .post(format!("{}{path}/preview", app.base))
            .bearer_auth(&t.key),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "no body previews sample data: {bare}"
    );
    assert_eq!(bare["data"]["subject"], "Order 1287");
    let (status, preview) = app
        .post(&format!("{path}/preview"), &t.key, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["data"]["subject"], "Order 1287");
    assert_eq!(preview["data"]["body"], "Hello Anna Keller");
    let (_, custom) = app
        .post(
            &format!("{path}/preview"),
            &t.key,
            json!({"data": {"buyer": {"name": "Bo"}, "order": {"platform_order_id": "9"}}}),
        )
        .await;
    assert_eq!(custom["data"]["body"], "Hello Bo");
    let (status, body) = app
        .post(
            &format!("{path}/preview"),
            &t.key,
            json!({"data": {"buyer": {}}}),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");

    let (status, body) = app
        .post(
            "/api/v1/templates",
            &t.key,
            json!({"name": "Bad", "subject": "S", "body": "{% for %}"}),
        )
        .await;
    let error = assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(error["field"], "body");
    let (_, list) = app.get("/api/v1/templates", &t.key).await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        2,
        "nothing written on error"
    );

    let other = app.tenant(0).await;
    for (status, body) in [
        app.get(&path, &other.key).await,
        app.post(&format!("{path}/preview"), &other.key, json!({}))
            .await,
        app.call(
            reqwest::Method::PATCH,
            &path,
            &other.key,
            Some(json!({"name": "x"})),
        )
        .await,
    ] {
        assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    }
}

on_both_backends!(
    products_are_created_filtered_updated_and_archived,
    product_pages_cover_every_row_once,
    license_codes_import_deduplicated_with_counts,
    files_upload_through_a_signed_url_with_a_size_limit,
    templates_keep_one_default_and_preview,
);
