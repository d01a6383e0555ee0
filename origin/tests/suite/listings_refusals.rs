//! The listing pickers' refusals (bad cursors and limits, each platform's refusal as a clear
//! error), products mapped by picking an entry, and the route's OpenAPI entry.

use crate::common;

use common::{Backend, TestApp, assert_error};
use e2e::harness::fake_ebay::{self, FakeEbay};
use e2e::harness::fake_etsy::FakeEtsy;
use e2e::harness::fake_woocommerce::{self, FakeWooCommerce};
use e2e::harness::fake_woocommerce_products::product;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::listings::{
    SHOP_ID, connect, ebay_items, listings_path, product_mapped, spawn, woo_connection,
};

async fn bad_cursors_and_limits_are_refused(backend: Backend) {
    let (ebay, etsy) = (FakeEbay::start().await, FakeEtsy::start().await);
    let app = spawn(backend, &ebay, &etsy).await;
    let tenant = app.tenant(10).await;
    let store = FakeWooCommerce::start().await;
    for n in 0..3 {
        store
            .catalog
            .put_product(product(700 + n, &format!("Plugin {n}"), ""));
    }
    let connection = woo_connection(&app, &tenant, &store).await;
    let path = |query: &str| listings_path(&connection, query);

    let (status, body) = app.get(&path("cursor=not-a-cursor"), &tenant.key).await;
    let error = assert_error(status, &body, StatusCode::BAD_REQUEST, "INVALID_REQUEST");
    assert_eq!(error["field"], "cursor");

    let (_, body) = app.get(&path("limit=1&q=plugin"), &tenant.key).await;
    let searched = body["meta"]["next_cursor"].as_str().unwrap().to_owned();
    let (status, body) = app
        .get(&path(&format!("cursor={searched}")), &tenant.key)
        .await;
    let error = assert_error(status, &body, StatusCode::BAD_REQUEST, "INVALID_REQUEST");
    assert_eq!(error["field"], "cursor", "a cursor of another search");
    let (status, body) = app
        .get(
            &path(&format!("q=plugin&limit=5&cursor={searched}")),
            &tenant.key,
        )
        .await;
    let error = assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(error["field"], "limit");
    let (status, body) = app
        .get(&path(&format!("q=plugin&cursor={searched}")), &tenant.key)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"][0]["title"], "Plugin 1");

    let other = woo_connection(&app, &tenant, &store).await;
    let (status, body) = app
        .get(
            &listings_path(&other, &format!("q=plugin&cursor={searched}")),
            &tenant.key,
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "INVALID_REQUEST");

    for query in ["limit=0", "limit=101"] {
        let (status, body) = app.get(&path(query), &tenant.key).await;
        let error = assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
        assert_eq!(error["field"], "limit");
    }
    let (status, body) = app.get(&path("sort=title"), &tenant.key).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "INVALID_REQUEST");
    let (status, body) = app
        .get(&listings_path("con_missing", ""), &tenant.key)
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let stranger = app.tenant(1).await;
    let (status, body) = app.get(&path(""), &stranger.key).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let narrow = app.key_with_scopes(&tenant, &["connections:read"]).await;
    let (status, body) = app.get(&path(""), &narrow).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
}

async fn platform_refusals_are_clear_errors(backend: Backend) {
    let (ebay, etsy) = (FakeEbay::start().await, FakeEtsy::start().await);
    ebay.trading.put(ebay_items().remove(1));
    let app = spawn(backend, &ebay, &etsy).await;
    let tenant = app.tenant(10).await;
    let store = FakeWooCommerce::start().await;

    let wrong_keys = connect(
        &app,
        &tenant,
        json!({"platform": "woocommerce", "store_url": store.base_url,
               "consumer_key": fake_woocommerce::CONSUMER_KEY, "consumer_secret": "cs_wrong"}),
    )
    .await;
    let (status, body) = app.get(&listings_path(&wrong_keys, ""), &tenant.key).await;
    let error = assert_error(status, &body, StatusCode::BAD_GATEWAY, "PLATFORM_REFUSED");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("WooCommerce") && message.contains("401"),
        "{message}"
    );
    assert!(
        !message.contains("Sorry"),
        "our words, not the store's: {message}"
    );

    let other_seller = connect(
        &app,
        &tenant,
        json!({"platform": "ebay", "verification_token": "v".repeat(40),
               "access_token": fake_ebay::OTHER_SELLER_TOKEN}),
    )
    .await;
    let (status, body) = app
        .get(&listings_path(&other_seller, ""), &tenant.key)
        .await;
    let error = assert_error(status, &body, StatusCode::BAD_GATEWAY, "PLATFORM_REFUSED");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("eBay") && message.contains("21916984"),
        "{message}"
    );

    let etsy_connection = connect(
        &app,
        &tenant,
        json!({"platform": "etsy", "shop_id": SHOP_ID, "access_token": etsy.issue_access_token()}),
    )
    .await;
    etsy.expire_access_tokens();
    let (status, body) = app
        .get(&listings_path(&etsy_connection, ""), &tenant.key)
        .await;
    let error = assert_error(status, &body, StatusCode::BAD_GATEWAY, "PLATFORM_REFUSED");
    assert!(
        error["message"].as_str().unwrap().contains("Etsy"),
        "{error}"
    );

    let manual = connect(
        &app,
        &tenant,
        json!({"platform": "woocommerce", "store_url": "https://shop.example.com",
               "webhook_secret": "s3cret-s3cret"}),
    )
    .await;
    let (status, body) = app.get(&listings_path(&manual, ""), &tenant.key).await;
    assert_error(status, &body, StatusCode::CONFLICT, "CONFLICT");
}

async fn products_are_mapped_by_picking_an_entry(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(10).await;
    let id = product_mapped(
        &app,
        &tenant,
        "PICKED",
        json!({"mappings": {"woocommerce_product_id": 501}, "listing_ids": ["ebay:296512345678"]}),
    )
    .await;
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/products/{id}"),
            &tenant.key,
            Some(json!({"listing_ids": ["ebay:296512345678:EBOOK-PDF", "etsy:42"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"]["mappings"],
        json!({"woocommerce_product_id": 501, "woocommerce_variation_id": null,
               "ebay_item_id": null, "ebay_sku": "EBOOK-PDF", "etsy_listing_id": 42}),
        "picks replace their platform's fields, the typed WooCommerce one stays"
    );

    for (body, field) in [
        (json!({"listing_ids": ["shopify:1"]}), "listing_ids[0]"),
        (
            json!({"listing_ids": ["etsy:1", "woocommerce:x"]}),
            "listing_ids[1]",
        ),
        (json!({"listing_ids": ["etsy:1", "etsy:2"]}), "listing_ids"),
        (
            json!({"mappings": {"etsy_listing_id": 5}, "listing_ids": ["etsy:1"]}),
            "listing_ids",
        ),
    ] {
        let (status, answer) = app
            .call(
                Method::PATCH,
                &format!("/api/v1/products/{id}"),
                &tenant.key,
                Some(body),
            )
            .await;
        let error = assert_error(
            status,
            &answer,
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        );
        assert_eq!(error["field"], field, "{answer}");
    }
    let (_, body) = app
        .get(&format!("/api/v1/products/{id}"), &tenant.key)
        .await;
    assert_eq!(
        body["data"]["mappings"]["ebay_sku"], "EBOOK-PDF",
        "a refused pick changes nothing"
    );
}

async fn the_listings_route_is_documented(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(1).await;
    let (status, doc) = app.get("/api/v1/docs", &tenant.key).await;
    assert_eq!(status, StatusCode::OK);
    let operation = &doc["paths"]["/api/v1/connections/{id}/listings"]["get"];
    let names: Vec<&str> = operation["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["id", "limit", "cursor", "q"]);
    for status in ["200", "400", "404", "409", "502", "503"] {
        assert!(operation["responses"][status].is_object(), "{status}");
    }
    let products = &doc["components"]["schemas"]["ProductIn"]["properties"];
    assert!(products["listing_ids"].is_object(), "{products}");
}

on_both_backends!(
    bad_cursors_and_limits_are_refused,
    platform_refusals_are_clear_errors,
    products_are_mapped_by_picking_an_entry,
    the_listings_route_is_documented,
);
