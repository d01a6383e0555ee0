//! Orders over HTTP: filters, pagination over more than 250 rows, detail with items and audit
//! trail, resend and code replacement with their token charges.

use crate::common;

use std::collections::HashSet;

use common::{Backend, SeedOrder, TestApp, all_pages, assert_error, seed_orders};
use reqwest::StatusCode;
use serde_json::json;

async fn order_filters_select_exactly_the_matching_orders(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(0).await;
    seed_orders(&app, &tenant, (0..30).map(SeedOrder::simple).collect()).await;
    let count = |body: &serde_json::Value| body["data"].as_array().unwrap().len();

    let (_, all) = app.get("/api/v1/orders?limit=100", &tenant.key).await;
    assert_eq!(count(&all), 30);
    let (_, ebay) = app
        .get("/api/v1/orders?limit=100&platform=ebay", &tenant.key)
        .await;
    assert_eq!(count(&ebay), 10);
    assert!(
        ebay["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["platform"] == "ebay")
    );
    let (_, pending) = app
        .get("/api/v1/orders?limit=100&status=pending", &tenant.key)
        .await;
    assert_eq!(count(&pending), 15);
    let (_, both) = app
        .get(
            "/api/v1/orders?limit=100&status=pending&platform=ebay",
            &tenant.key,
        )
        .await;
    assert_eq!(count(&both), 5);
    let (_, buyer) = app
        .get(
            "/api/v1/orders?limit=100&buyer_email=BUYER3@example.net",
            &tenant.key,
        )
        .await;
    assert_eq!(count(&buyer), 3, "buyer_email is case-insensitive");
    // Orders n = 10..19 were created in [base + 10 min, base + 20 min).
    let (status, window) = app
        .get("/api/v1/orders?limit=100&created_from=2023-11-14T22:23:20Z&created_to=2023-11-14T22:33:20Z", &tenant.key)
        .await;
    assert_eq!(status, StatusCode::OK, "{window}");
    assert_eq!(count(&window), 10);
    let (_, from_only) = app
        .get(
            "/api/v1/orders?limit=100&created_from=2023-11-14T22:33:20%2B00:00",
            &tenant.key,
        )
        .await;
    assert_eq!(count(&from_only), 10);

    let (status, body) = app
        .get("/api/v1/orders?created_from=yesterday", &tenant.key)
        .await;
    let error = assert_error(status, &body, StatusCode::BAD_REQUEST, "INVALID_REQUEST");
    assert_eq!(error["field"], "created_from");
    assert!(error["hint"].as_str().unwrap().contains("RFC 3339"));
    let (status, body) = app.get("/api/v1/orders?platform=amazon", &tenant.key).await;
    assert_eq!(
        assert_error(status, &body, StatusCode::BAD_REQUEST, "INVALID_REQUEST")["field"],
        "platform"
    );
    let (status, body) = app.get("/api/v1/orders?status=lost", &tenant.key).await;
    assert_eq!(
        assert_error(status, &body, StatusCode::BAD_REQUEST, "INVALID_REQUEST")["field"],
        "status"
    );
    let (status, body) = app
        .get(
            "/api/v1/orders?created_from=2024-01-02T00:00:00Z&created_to=2024-01-01T00:00:00Z",
            &tenant.key,
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
}

async fn pagination_over_260_orders_misses_and_repeats_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(0).await;
    let seeded = seed_orders(&app, &tenant, (0..260).map(SeedOrder::simple).collect()).await;
    let expected: HashSet<String> = seeded.into_iter().map(|(id, _)| id).collect();

    for (limit, pages) in [(100, 3), (7, 38)] {
        let (ids, seen_pages) =
            all_pages(&app, &tenant.key, &format!("/api/v1/orders?limit={limit}")).await;
        assert_eq!(seen_pages, pages);
        assert_eq!(ids.len(), 260, "no row repeated");
        assert_eq!(
            ids.iter().cloned().collect::<HashSet<_>>(),
            expected,
            "no row missed"
        );
        let mut sorted = ids.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(ids, sorted, "newest first");
    }
    // Filtered pagination: 130 pending orders over pages of 50.
    let (ids, pages) = all_pages(&app, &tenant.key, "/api/v1/orders?limit=50&status=pending").await;
    assert_eq!((ids.len(), pages), (130, 3));
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 130);

    let (_, body) = app.get("/api/v1/orders", &tenant.key).await;
    assert_eq!(body["data"].as_array().unwrap().len(), 25, "default limit");
    for bad in ["0", "101"] {
        let (status, body) = app
            .get(&format!("/api/v1/orders?limit={bad}"), &tenant.key)
            .await;
        let error = assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
        assert_eq!(error["field"], "limit");
    }
    let (status, body) = app.get("/api/v1/orders?limit=ten", &tenant.key).await;
    assert_eq!(
        assert_error(status, &body, StatusCode::BAD_REQUEST, "INVALID_REQUEST")["field"],
        "limit"
    );
    let (status, body) = app.get("/api/v1/orders?cursor=forged", &tenant.key).await;
    assert_eq!(
        assert_error(status, &body, StatusCode::BAD_REQUEST, "INVALID_REQUEST")["field"],
        "cursor"
    );
}

async fn order_detail_resend_and_replace_charge_tokens_atomically(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(3).await;
    let (_, product) = app
        .post(
            "/api/v1/products",
            &tenant.key,
            json!({"sku": "KEY-1", "name": "Key", "type": "CODE"}),
        )
        .await;
    let product_id = product["data"]["id"].as_str().unwrap().to_owned();
    let (_, file_product) = app
        .post(
            "/api/v1/products",
            &tenant.key,
            json!({"sku": "F-1", "name": "File", "type": "FILE"}),
        )
        .await;
    let file_product_id = file_product["data"]["id"].as_str().unwrap().to_owned();
    let mut seed = SeedOrder::simple(0);
    seed.items = vec![
        (Some(product_id.clone()), "CODE"),
        (Some(file_product_id), "FILE"),
    ];
    let seeded = seed_orders(&app, &tenant, vec![seed]).await;
    let (order_id, items) = seeded[0].clone();

    let (status, order) = app
        .get(&format!("/api/v1/orders/{order_id}"), &tenant.key)
        .await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(order["data"]["items"].as_array().unwrap().len(), 2);
    assert_eq!(order["data"]["items"][0]["delivery_status"], "delivered");
    assert_eq!(order["data"]["audit_trail"][0]["action"], "order_created");

    // Resend: 2 items, 2 tokens (balance 3 → 1).
    let (status, resent) = app
        .post(
            &format!("/api/v1/orders/{order_id}/resend"),
            &tenant.key,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{resent}");
    assert_eq!(resent["data"]["tokens_charged"], 2);
    assert_eq!(resent["data"]["token_balance"], 1);
    // Asked again before the first resend went out: nothing more to send, nothing charged.
    let (status, again) = app
        .post(
            &format!("/api/v1/orders/{order_id}/resend"),
            &tenant.key,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["data"]["tokens_charged"], 0, "{again}");
    // Short of tokens: refused, nothing charged, nothing recorded.
    let mut poor = SeedOrder::simple(1);
    poor.items = vec![
        (Some(product_id.clone()), "CODE"),
        (Some(product_id.clone()), "CODE"),
    ];
    let (poor_id, _) = seed_orders(&app, &tenant, vec![poor]).await[0].clone();
    let (status, body) = app
        .post(
            &format!("/api/v1/orders/{poor_id}/resend"),
            &tenant.key,
            json!({}),
        )
        .await;
    assert_error(
        status,
        &body,
        StatusCode::PAYMENT_REQUIRED,
        "INSUFFICIENT_TOKENS",
    );
    let (_, me) = app.get("/api/v1/tenant", &tenant.key).await;
    assert_eq!(me["data"]["token_balance"], 1);
    let (_, order) = app
        .get(&format!("/api/v1/orders/{order_id}"), &tenant.key)
        .await;
    let actions: Vec<&str> = order["data"]["audit_trail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["order_created", "resend_requested", "resend_requested"]
    );
    assert!(
        order["data"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["delivery_status"] == "queued")
    );

    // Replace: no code in stock → 409 and nothing charged; then a code → allocated, 1 token.
    let replace = format!("/api/v1/orders/{order_id}/items/{}/replace", items[0]);
    let (status, body) = app.post(&replace, &tenant.key, json!({})).await;
    assert_error(status, &body, StatusCode::CONFLICT, "CONFLICT");
    let (_, me) = app.get("/api/v1/tenant", &tenant.key).await;
    assert_eq!(me["data"]["token_balance"], 1);
    app.post(
        &format!("/api/v1/products/{product_id}/codes"),
        &tenant.key,
        json!(["CODE-A", "CODE-B"]),
    )
    .await;
    let (status, replaced) = app.post(&replace, &tenant.key, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["data"]["item"]["license_code"], "CODE-A");
    assert_eq!(replaced["data"]["token_balance"], 0);
    let (status, body) = app.post(&replace, &tenant.key, json!({})).await;
    assert_error(
        status,
        &body,
        StatusCode::PAYMENT_REQUIRED,
        "INSUFFICIENT_TOKENS",
    );
    app.store.add_tokens(&tenant.id, 5).await.unwrap();
    let (_, again) = app.post(&replace, &tenant.key, json!({})).await;
    assert_eq!(again["data"]["item"]["license_code"], "CODE-B");
    let (_, product) = app
        .get(&format!("/api/v1/products/{product_id}"), &tenant.key)
        .await;
    assert_eq!(
        product["data"]["stock"],
        json!({"available": 0, "allocated": 1, "low_stock": true}),
        "CODE-A is replaced"
    );

    // A FILE item has no code to replace; unknown items and orders are 404.
    let (status, body) = app
        .post(
            &format!("/api/v1/orders/{order_id}/items/{}/replace", items[1]),
            &tenant.key,
            json!({}),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "CONFLICT");
    let (status, body) = app
        .post(
            &format!("/api/v1/orders/{order_id}/items/itm_missing/replace"),
            &tenant.key,
            json!({}),
        )
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, body) = app.get("/api/v1/orders/ord_missing", &tenant.key).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");

    // Another tenant sees none of it.
    let other = app.tenant(100).await;
    for (path, post) in [
        (format!("/api/v1/orders/{order_id}"), false),
        (format!("/api/v1/orders/{order_id}/resend"), true),
        (replace.clone(), true),
    ] {
        let (status, body) = if post {
            app.post(&path, &other.key, json!({})).await
        } else {
            app.get(&path, &other.key).await
        };
        assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    let (_, theirs) = app.get("/api/v1/orders", &other.key).await;
    assert!(theirs["data"].as_array().unwrap().is_empty());
    let (_, me) = app.get("/api/v1/tenant", &other.key).await;
    assert_eq!(
        me["data"]["token_balance"], 100,
        "nothing charged to the other tenant"
    );
}

async fn concurrent_charges_never_overdraw_or_share_a_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(5).await;
    let (_, product) = app
        .post(
            "/api/v1/products",
            &tenant.key,
            json!({"sku": "K", "name": "Key", "type": "CODE"}),
        )
        .await;
    let product_id = product["data"]["id"].as_str().unwrap().to_owned();
    let code_item = || SeedOrder {
        items: vec![(Some(product_id.clone()), "CODE")],
        ..SeedOrder::simple(0)
    };
    let seeded = seed_orders(&app, &tenant, (0..8).map(|_| code_item()).collect()).await;

    // 16 resends of eight one-unit orders (each asked twice) race for 5 tokens: exactly 5
    // units are charged, a repeat of a resend not yet sent charges nothing, none overdraws.
    let resends = seeded.iter().flat_map(|(order_id, _)| {
        let path = format!("/api/v1/orders/{order_id}/resend");
        [path.clone(), path]
    });
    let answers = futures_util::future::join_all(resends.map(|path| {
        let app = &app;
        let key = tenant.key.clone();
        async move { app.post(&path, &key, json!({})).await }
    }))
    .await;
    let charged = answers
        .iter()
        .filter(|(status, body)| *status == StatusCode::OK && body["data"]["tokens_charged"] == 1)
        .count();
    assert_eq!(charged, 5, "{answers:?}");
    assert!(
        answers.iter().all(|(status, body)| {
            (*status == StatusCode::OK && body["data"]["tokens_charged"].as_i64() <= Some(1))
                || body["error"]["code"] == "INSUFFICIENT_TOKENS"
        }),
        "{answers:?}"
    );
    let (_, me) = app.get("/api/v1/tenant", &tenant.key).await;
    assert_eq!(me["data"]["token_balance"], 0);
    let mut charges = 0;
    for (order_id, _) in &seeded {
        let (_, order) = app
            .get(&format!("/api/v1/orders/{order_id}"), &tenant.key)
            .await;
        charges += order["data"]["audit_trail"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["action"] == "resend_requested" && a["detail"]["tokens_charged"] == 1)
            .count();
    }
    assert_eq!(charges, 5, "one audit entry per charge");

    // Replacements on eight orders race for three codes: no code goes to two items.
    app.store.add_tokens(&tenant.id, 100).await.unwrap();
    app.post(
        &format!("/api/v1/products/{product_id}/codes"),
        &tenant.key,
        json!(["C-1", "C-2", "C-3"]),
    )
    .await;
    let replaces = seeded.iter().flat_map(|(order, items)| {
        let path = format!("/api/v1/orders/{order}/items/{}/replace", items[0]);
        [path.clone(), path]
    });
    let answers = futures_util::future::join_all(replaces.map(|path| {
        let app = &app;
        let key = tenant.key.clone();
        async move { app.post(&path, &key, json!({})).await }
    }))
    .await;
    let codes: Vec<&str> = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::OK)
        .map(|(_, body)| body["data"]["item"]["license_code"].as_str().unwrap())
        .collect();
    assert_eq!(codes.len(), 3, "{answers:?}");
    assert_eq!(
        codes.iter().collect::<HashSet<_>>().len(),
        3,
        "a code was handed out twice: {codes:?}"
    );
    assert!(
        answers
            .iter()
            .filter(|(status, _)| *status != StatusCode::OK)
            .all(|(_, b)| b["error"]["code"] == "CONFLICT")
    );
    let (_, me) = app.get("/api/v1/tenant", &tenant.key).await;
    assert_eq!(
        me["data"]["token_balance"], 97,
        "only successful replacements are charged"
    );
}

on_both_backends!(
    concurrent_charges_never_overdraw_or_share_a_code,
    order_filters_select_exactly_the_matching_orders,
    pagination_over_260_orders_misses_and_repeats_nothing,
    order_detail_resend_and_replace_charge_tokens_atomically,
);
