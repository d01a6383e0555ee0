//! The delivery pipeline over real HTTP and a real database, on both backends: events in
//! through the signed ingest route, emails out in the outbox, tokens and codes accounted.

use crate::common;

use std::collections::HashSet;
use std::time::Duration;

use common::{Backend, PUBLIC_BASE_URL, Tenant, TestApp, assert_error};
use e2e::harness::outbox::{download_paths, read_outbox};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::internal::{DEAD_LETTER_PATH, INGEST_PATH};

const WOO_BODY: &str = include_str!("../../../fixtures/woocommerce/order-created.body");
const WOO_REFUNDED: &str =
    include_str!("../../../fixtures/woocommerce/order-updated-refunded.body");

/// A paid WooCommerce order `id` of one line: `quantity` × WooCommerce product `product_id`.
pub(crate) fn woo_order(id: u64, product_id: u64, quantity: u64) -> String {
    let mut order: Value = serde_json::from_str(WOO_BODY).unwrap();
    order["id"] = id.into();
    let mut line = order["line_items"][1].clone();
    line["id"] = (id * 10).into();
    line["product_id"] = product_id.into();
    line["variation_id"] = 0.into();
    line["quantity"] = quantity.into();
    order["line_items"] = json!([line]);
    order.to_string()
}

/// The app with its delivery pipeline running, as `origin serve` has it.
async fn pipeline_app(backend: Backend) -> TestApp {
    TestApp::spawn_configured(backend, 64 * 1024, |_| {}).await
}

fn forwarded(tenant: &str, platform: &str, edge_id: &str, body: &str) -> String {
    json!({
        "edge_event_id": edge_id,
        "tenant_id": tenant,
        "platform": platform,
        "received_at_ms": 1_764_000_000_000u64,
        "headers": {},
        "body": body,
    })
    .to_string()
}

pub(crate) async fn ingest(
    app: &TestApp,
    tenant: &Tenant,
    platform: &str,
    edge_id: &str,
    body: &str,
) {
    let (status, answer) = app
        .edge(
            Method::POST,
            INGEST_PATH,
            &forwarded(&tenant.id, platform, edge_id, body),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

/// A product of `kind` mapped to WooCommerce product `woo_id`, with `codes`.
pub(crate) async fn product(
    app: &TestApp,
    tenant: &Tenant,
    kind: &str,
    woo_id: u64,
    codes: &[String],
) -> String {
    let (status, body) = app
        .post(
            "/api/v1/products",
            &tenant.key,
            json!({"sku": format!("SKU-{woo_id}"), "name": format!("Product {woo_id}"), "type": kind,
                   "low_stock_threshold": 2,
                   "mappings": {"woocommerce_product_id": woo_id, "etsy_listing_id": woo_id, "ebay_item_id": woo_id.to_string()}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    if !codes.is_empty() {
        import_codes(app, tenant, &id, codes).await;
    }
    id
}

async fn import_codes(app: &TestApp, tenant: &Tenant, product_id: &str, codes: &[String]) {
    let (status, body) = app
        .post(
            &format!("/api/v1/products/{product_id}/codes"),
            &tenant.key,
            json!(codes),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

pub(crate) async fn upload_file(app: &TestApp, tenant: &Tenant, product_id: &str, bytes: &[u8]) {
    let (status, slot) = app
        .post(
            &format!("/api/v1/products/{product_id}/files"),
            &tenant.key,
            json!({"filename": "guide.pdf", "content_type": "application/pdf"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{slot}");
    let url = slot["data"]["upload_url"]
        .as_str()
        .unwrap()
        .replace(PUBLIC_BASE_URL, &app.base);
    let response = app
        .client
        .put(url)
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{}",
        response.text().await.unwrap()
    );
}

pub(crate) fn codes(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i:04}")).collect()
}

async fn orders(app: &TestApp, tenant: &Tenant) -> Vec<Value> {
    let (ids, _) = common::all_pages(app, &tenant.key, "/api/v1/orders?limit=100").await;
    let mut full = Vec::new();
    for id in ids {
        let (status, body) = app.get(&format!("/api/v1/orders/{id}"), &tenant.key).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        full.push(body["data"].clone());
    }
    full
}

async fn balance(app: &TestApp, tenant: &Tenant) -> i64 {
    let (_, body) = app.get("/api/v1/tenant", &tenant.key).await;
    body["data"]["token_balance"]
        .as_i64()
        .unwrap_or_else(|| panic!("{body}"))
}

/// Waits until `check` holds over the tenant's orders (or fails after 30 s, showing them).
pub(crate) async fn wait_orders(
    app: &TestApp,
    tenant: &Tenant,
    what: &str,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let all = orders(app, tenant).await;
        if check(&all) {
            return all;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}: {}",
            serde_json::to_string_pretty(&all).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

pub(crate) fn count_status(orders: &[Value], status: &str) -> usize {
    orders.iter().filter(|o| o["status"] == status).count()
}

pub(crate) fn item_statuses(orders: &[Value], status: &str) -> usize {
    orders
        .iter()
        .flat_map(|o| o["items"].as_array().unwrap().iter())
        .filter(|i| i["delivery_status"] == status)
        .count()
}

/// The emails in the app's outbox, as a buyer reads them.
pub(crate) fn outbox(app: &TestApp) -> Vec<String> {
    read_outbox(&app.data_dir.path().join("outbox"))
}

pub(crate) fn actions(order: &Value) -> Vec<String> {
    order["audit_trail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap().to_owned())
        .collect()
}

async fn woocommerce_order_is_delivered_once_with_code_and_link(backend: Backend) {
    let app = pipeline_app(backend).await;
    let tenant = app.tenant(10).await;
    let code_product = product(&app, &tenant, "CODE", 501, &codes("PBP", 3)).await;
    let file_product = product(&app, &tenant, "FILE", 777, &[]).await;
    upload_file(&app, &tenant, &file_product, b"%PDF-1.7 the guide").await;
    let mut order: Value = serde_json::from_str(WOO_BODY).unwrap();
    order["line_items"][1]["product_id"] = 777.into();
    order["line_items"][1]["quantity"] = 1.into();
    let body = order.to_string();
    // The same webhook, delivered and replayed five times more under other edge ids.
    for n in 0..6 {
        ingest(&app, &tenant, "woocommerce", &format!("evt_{n}"), &body).await;
    }
    let all = wait_orders(&app, &tenant, "the order delivered", |o| {
        count_status(o, "delivered") == 1
    })
    .await;
    assert_eq!(all.len(), 1);
    let order = &all[0];
    assert_eq!(order["platform_order_id"], "1287");
    let trail = actions(order);
    for step in [
        "received",
        "mapped",
        "allocated",
        "charged",
        "rendered",
        "sent",
    ] {
        assert!(
            trail.iter().any(|a| a == step),
            "{step} missing from {trail:?}"
        );
    }
    assert_eq!(
        balance(&app, &tenant).await,
        8,
        "one token per delivered unit"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    let emails = outbox(&app);
    assert_eq!(emails.len(), 1, "exactly one email: {emails:?}");
    let email = &emails[0];
    assert!(
        email.contains("To: \"Anna Keller\" <anna.keller@example.net>"),
        "{email}"
    );
    assert!(email.contains("PBP-0000"), "the first code: {email}");
    let links = download_paths(email);
    assert_eq!(links.len(), 1, "{email}");
    let file = app
        .client
        .get(format!("{}{}", app.base, links[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), StatusCode::OK, "{email}");
    assert_eq!(file.bytes().await.unwrap().as_ref(), b"%PDF-1.7 the guide");
    let forged = links[0].replace("/d/dl_", "/d/dl_0");
    let refused = app
        .client
        .get(format!("{}{forged}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    let (_, events) = app
        .get("/api/v1/events?status=processed", &tenant.key)
        .await;
    assert_eq!(
        events["data"].as_array().unwrap().len(),
        1,
        "stored once: {events}"
    );
    let _ = code_product;

    // A full refund revokes the code and the link; no token comes back.
    ingest(&app, &tenant, "woocommerce", "evt_refund", WOO_REFUNDED).await;
    let all = wait_orders(&app, &tenant, "the refund", |o| {
        count_status(o, "refunded") == 1
    })
    .await;
    assert!(actions(&all[0]).contains(&"refunded".to_owned()));
    let gone = app
        .client
        .get(format!("{}{}", app.base, links[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    assert_eq!(balance(&app, &tenant).await, 8);
}

async fn concurrent_orders_wait_for_stock_and_never_share_a_code(backend: Backend) {
    let app = pipeline_app(backend).await;
    let tenant = app.tenant(100).await;
    let product_id = product(&app, &tenant, "CODE", 900, &codes("A", 10)).await;
    let sends = (0..20u64).map(|n| {
        let body = woo_order(5000 + n, 900, 1);
        let (app, tenant) = (&app, &tenant);
        async move { ingest(app, tenant, "woocommerce", &format!("evt_c{n}"), &body).await }
    });
    futures_util::future::join_all(sends).await;
    let all = wait_orders(&app, &tenant, "10 delivered and 10 waiting", |o| {
        o.len() == 20
            && count_status(o, "delivered") == 10
            && item_statuses(o, "awaiting_stock") == 10
    })
    .await;
    assert_eq!(
        balance(&app, &tenant).await,
        90,
        "waiting units are not charged"
    );
    let (_, alerts) = app.get("/api/v1/alerts", &tenant.key).await;
    assert!(
        alerts["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "low_stock" && a["subject"] == product_id.as_str()),
        "{alerts}"
    );
    drop(all);
    import_codes(&app, &tenant, &product_id, &codes("B", 10)).await;
    let all = wait_orders(&app, &tenant, "all 20 delivered", |o| {
        count_status(o, "delivered") == 20
    })
    .await;
    let delivered: Vec<&str> = all
        .iter()
        .map(|o| o["items"][0]["license_code"].as_str().unwrap())
        .collect();
    let distinct: HashSet<&&str> = delivered.iter().collect();
    assert_eq!(distinct.len(), 20, "no code twice: {delivered:?}");
    assert_eq!(balance(&app, &tenant).await, 80);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(outbox(&app).len(), 20);

    // Stock back above the threshold (2): the alert goes.
    import_codes(&app, &tenant, &product_id, &codes("C", 2)).await;
    assert!(has_alert(&app, &tenant, "low_stock").await, "2 codes <= 2");
    import_codes(&app, &tenant, &product_id, &codes("D", 1)).await;
    assert!(!has_alert(&app, &tenant, "low_stock").await);
}

async fn has_alert(app: &TestApp, tenant: &Tenant, kind: &str) -> bool {
    let (status, alerts) = app.get("/api/v1/alerts", &tenant.key).await;
    assert_eq!(status, StatusCode::OK, "{alerts}");
    alerts["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["kind"] == kind)
}

async fn units_wait_for_tokens_and_resume_when_tokens_are_added(backend: Backend) {
    let app = pipeline_app(backend).await;
    let tenant = app.tenant(1).await;
    product(&app, &tenant, "CODE", 901, &codes("T", 5)).await;
    ingest(
        &app,
        &tenant,
        "woocommerce",
        "evt_t",
        &woo_order(7001, 901, 3),
    )
    .await;
    wait_orders(&app, &tenant, "two units awaiting tokens", |o| {
        item_statuses(o, "awaiting_tokens") == 1
    })
    .await;
    assert_eq!(balance(&app, &tenant).await, 0, "never below zero");
    let (_, alerts) = app.get("/api/v1/alerts", &tenant.key).await;
    assert!(
        alerts["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "low_tokens"),
        "{alerts}"
    );
    app.store.add_tokens(&tenant.id, 5).await.unwrap();
    let all = wait_orders(&app, &tenant, "delivery after top-up", |o| {
        count_status(o, "delivered") == 1
    })
    .await;
    assert!(actions(&all[0]).contains(&"awaiting_tokens".to_owned()));
    assert_eq!(balance(&app, &tenant).await, 3);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let text = outbox(&app).join("\n");
    for code in ["T-0000", "T-0001", "T-0002"] {
        assert!(text.contains(code), "{code} in {text}");
    }

    // The balance back at the threshold (10): the alert goes.
    app.store.add_tokens(&tenant.id, 6).await.unwrap();
    assert!(has_alert(&app, &tenant, "low_tokens").await, "9 < 10");
    app.store.add_tokens(&tenant.id, 1).await.unwrap();
    assert!(!has_alert(&app, &tenant, "low_tokens").await);
}

async fn resend_and_replace_really_deliver(backend: Backend) {
    let app = pipeline_app(backend).await;
    let tenant = app.tenant(10).await;
    product(&app, &tenant, "CODE", 902, &codes("R", 3)).await;
    ingest(
        &app,
        &tenant,
        "woocommerce",
        "evt_r",
        &woo_order(7100, 902, 1),
    )
    .await;
    let all = wait_orders(&app, &tenant, "delivered", |o| {
        count_status(o, "delivered") == 1
    })
    .await;
    let order_id = all[0]["id"].as_str().unwrap().to_owned();
    let item_id = all[0]["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .post(
            &format!("/api/v1/orders/{order_id}/resend"),
            &tenant.key,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    wait_orders(&app, &tenant, "the resend", |o| {
        actions(&o[0]).contains(&"resent".to_owned())
    })
    .await;
    let (status, body) = app
        .post(
            &format!("/api/v1/orders/{order_id}/items/{item_id}/replace"),
            &tenant.key,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let all = wait_orders(&app, &tenant, "the replacement sent", |o| {
        actions(&o[0]).iter().filter(|a| *a == "sent").count() == 3
    })
    .await;
    assert_eq!(all[0]["items"][0]["license_code"], "R-0001");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let emails = outbox(&app);
    assert_eq!(emails.len(), 3, "first, resent, replaced");
    assert!(emails.iter().any(|e| e.contains("R-0001")));
    assert_eq!(balance(&app, &tenant).await, 7, "1 + 1 resend + 1 replace");
}

async fn failing_events_go_dead_and_replay_from_the_api(backend: Backend) {
    let app = pipeline_app(backend).await;
    let tenant = app.tenant(5).await;
    product(&app, &tenant, "CODE", 903, &codes("D", 2)).await;
    // The edge gave up on this one: it is recorded dead, visible, and replayable.
    let letter = json!({
        "event": serde_json::from_str::<Value>(&forwarded(&tenant.id, "woocommerce", "evt_dead", &woo_order(7200, 903, 1))).unwrap(),
        "attempts": 5,
        "last_error": "origin unavailable",
    });
    let (status, body) = app
        .edge(Method::POST, DEAD_LETTER_PATH, &letter.to_string())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // An unreadable payload goes dead at once (retrying cannot help).
    ingest(
        &app,
        &tenant,
        "woocommerce",
        "evt_bad",
        r#"{"id": 1, "status": "processing"}"#,
    )
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let dead = loop {
        let (_, body) = app.get("/api/v1/events?status=dead", &tenant.key).await;
        let dead = body["data"].as_array().unwrap().clone();
        if dead.len() == 2 {
            break dead;
        }
        assert!(std::time::Instant::now() < deadline, "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(dead.iter().any(|e| {
        e["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("date_modified_gmt")
    }));
    assert!(orders(&app, &tenant).await.is_empty());
    let edge_dead = dead
        .iter()
        .find(|e| e["edge_event_id"] == "evt_dead")
        .unwrap();
    let path = format!(
        "/api/v1/events/{}/replay",
        edge_dead["id"].as_str().unwrap()
    );
    let (status, body) = app.post(&path, &tenant.key, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    wait_orders(&app, &tenant, "the replayed event delivered", |o| {
        count_status(o, "delivered") == 1
    })
    .await;
    // Replaying a processed event again changes nothing.
    let (status, _) = app.post(&path, &tenant.key, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(balance(&app, &tenant).await, 4);
    assert_eq!(outbox(&app).len(), 1);
    let other = app.tenant(0).await;
    let (status, _) = app.post(&path, &other.key, json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// One claimed batch: paid orders are taken in together, a refund in the middle applies
/// after the paid order before it (whose email then never goes out), and an unreadable
/// event fails alone.
/// A template whose work grows with the order: within the limits for the sample data (two
/// items), over them for an order of ten units.
const GROWING_BODY: &str =
    "{% for item in items %}{% for n in range(2000) %}{{ item.name }}.{% endfor %}{% endfor %}";

async fn a_runaway_template_is_refused_at_save_and_preview_and_fails_its_delivery(
    backend: Backend,
) {
    let app = pipeline_app(backend).await;
    let tenant = app.tenant(20).await;

    // Two nested loops of 100,000: refused when saved, with the reason and nothing stored.
    let runaway =
        "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}";
    let (status, body) = app
        .post(
            "/api/v1/templates",
            &tenant.key,
            json!({"name": "Runaway", "subject": "Hi", "body": runaway}),
        )
        .await;
    let error = assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(error["field"], "body", "{body}");
    assert!(
        error["message"].as_str().unwrap().contains("too much work"),
        "{body}"
    );
    let (_, list) = app.get("/api/v1/templates", &tenant.key).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0, "{list}");

    // One whose work grows with the order is saved; its preview with a big order is refused.
    let (status, saved) = app
        .post(
            "/api/v1/templates",
            &tenant.key,
            json!({"name": "Growing", "subject": "Your order", "body": GROWING_BODY}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    let template_id = saved["data"]["id"].as_str().unwrap().to_owned();
    let items: Vec<Value> = (0..10)
        .map(|n| json!({"name": format!("Licence {n}"), "type": "CODE", "code": "X"}))
        .collect();
    let (status, body) = app
        .post(
            &format!("/api/v1/templates/{template_id}/preview"),
            &tenant.key,
            json!({"data": {"buyer": {"name": "A", "email": "a@example.net"},
                            "order": {"id": "o", "platform": "woocommerce", "platform_order_id": "1"},
                            "shop": {"name": "S"}, "items": items}}),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");

    // A real order of ten units with that template: the units fail with the reason, no email.
    let codes: Vec<String> = (0..10).map(|n| format!("RUN-{n}")).collect();
    let product_id = product(&app, &tenant, "CODE", 901, &codes).await;
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/products/{product_id}"),
            &tenant.key,
            Some(json!({"template_id": template_id})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    ingest(
        &app,
        &tenant,
        "woocommerce",
        "evt_run",
        &woo_order(7001, 901, 10),
    )
    .await;
    let all = wait_orders(&app, &tenant, "the units to fail", |o| {
        item_statuses(o, "failed") == 1
    })
    .await;
    assert!(outbox(&app).is_empty(), "no half-made email goes out");
    let (_, order) = app
        .get(
            &format!("/api/v1/orders/{}", all[0]["id"].as_str().unwrap()),
            &tenant.key,
        )
        .await;
    assert!(
        order.to_string().contains("cannot be rendered"),
        "the reason is on the order: {order}"
    );
}

async fn one_batch_applies_its_events_in_order_and_fails_them_alone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(10).await;
    let product_id = product(&app, &tenant, "CODE", 904, &codes("B", 3)).await;
    let mut refunded: Value = serde_json::from_str(&woo_order(8001, 904, 1)).unwrap();
    refunded["status"] = "refunded".into();
    let events = [
        ("evt_b1", woo_order(8001, 904, 1)),
        ("evt_b2", woo_order(8002, 904, 1)),
        ("evt_b3", refunded.to_string()),
        (
            "evt_b4",
            r#"{"id": 8004, "status": "processing"}"#.to_owned(),
        ),
        ("evt_b5", woo_order(8005, 904, 2)),
    ];
    for (edge_id, body) in &events {
        ingest(&app, &tenant, "woocommerce", edge_id, body).await;
    }

    let settings = origin::config::PipelineSettings::defaults(app.data_dir.path(), PUBLIC_BASE_URL);
    let pipeline = origin::jobs::Pipeline::new(
        app.store.clone(),
        origin::crypto::MasterKey::from_hex(&"ab".repeat(32)).unwrap(),
        settings,
        crate::common::outbound_to_fakes(),
    )
    .unwrap();
    assert_eq!(pipeline.run_events_once().await.unwrap(), events.len());

    let all = orders(&app, &tenant).await;
    let status_of = |platform_id: &str| {
        let order = all
            .iter()
            .find(|o| o["platform_order_id"] == platform_id)
            .unwrap_or_else(|| panic!("order {platform_id}: {all:?}"));
        order["status"].as_str().unwrap().to_owned()
    };
    assert_eq!(status_of("8001"), "refunded");
    assert_eq!(status_of("8002"), "delivered");
    assert_eq!(status_of("8005"), "processing", "one unit waits for stock");
    assert_eq!(all.len(), 3, "the unreadable event made no order");
    assert_eq!(item_statuses(&all, "awaiting_stock"), 1);
    assert_eq!(
        balance(&app, &tenant).await,
        7,
        "three units charged once each"
    );
    // Emails go out after the batch is taken in: the refunded order's never leaves.
    let emails = outbox(&app);
    assert_eq!(emails.len(), 2, "{emails:?}");
    assert!(
        !emails.iter().any(|e| e.contains("Your order 8001")),
        "{emails:?}"
    );

    let (_, body) = app.get("/api/v1/events?status=dead", &tenant.key).await;
    let dead: Vec<&Value> = body["data"].as_array().unwrap().iter().collect();
    assert_eq!(dead.len(), 1, "{body}");
    assert_eq!(dead[0]["edge_event_id"], "evt_b4");
    let (_, body) = app
        .get(&format!("/api/v1/products/{product_id}"), &tenant.key)
        .await;
    assert_eq!(body["data"]["stock"]["available"], 0, "{body}");
}

on_both_backends!(
    a_runaway_template_is_refused_at_save_and_preview_and_fails_its_delivery,
    woocommerce_order_is_delivered_once_with_code_and_link,
    concurrent_orders_wait_for_stock_and_never_share_a_code,
    units_wait_for_tokens_and_resume_when_tokens_are_added,
    resend_and_replace_really_deliver,
    failing_events_go_dead_and_replay_from_the_api,
    one_batch_applies_its_events_in_order_and_fails_them_alone,
);
