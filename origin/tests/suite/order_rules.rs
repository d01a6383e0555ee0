//! The ledger's rules on orders, through signed webhooks and the API on both backends: the
//! quantity caps (an order over them waits for the seller's approval), unmapped lines resumed
//! by a new mapping, what a resend charges, resends and replacements of closed orders, and
//! partial refunds.

use crate::common;

use std::time::Duration;

use common::{Backend, Tenant, TestApp, assert_error};
use e2e::harness::outbox::{download_paths, read_outbox};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::internal::INGEST_PATH;

use crate::pipeline::upload_file;

const WOO_BODY: &str = include_str!("../../../fixtures/woocommerce/order-created.body");

/// A paid WooCommerce order `id` with one line per `(line id, WooCommerce product, quantity)`.
pub(crate) fn woo_order(id: u64, lines: &[(u64, u64, u64)]) -> Value {
    let mut order: Value = serde_json::from_str(WOO_BODY).unwrap();
    order["id"] = id.into();
    let template = order["line_items"][1].clone();
    let items: Vec<Value> = lines
        .iter()
        .map(|&(line_id, product_id, quantity)| {
            let mut line = template.clone();
            line["id"] = line_id.into();
            line["product_id"] = product_id.into();
            line["variation_id"] = 0.into();
            line["quantity"] = quantity.into();
            line["name"] = format!("Line {line_id}").into();
            line
        })
        .collect();
    order["line_items"] = json!(items);
    order
}

async fn ingest(app: &TestApp, tenant: &Tenant, edge_id: &str, body: &Value) {
    let forwarded = json!({
        "edge_event_id": edge_id,
        "tenant_id": tenant.id,
        "platform": "woocommerce",
        "received_at_ms": 1_764_000_000_000u64,
        "headers": {},
        "body": body.to_string(),
    });
    let (status, answer) = app
        .edge(Method::POST, INGEST_PATH, &forwarded.to_string())
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

/// A product of `kind` mapped to WooCommerce product `woo_id`, with `codes`.
pub(crate) async fn product(
    app: &TestApp,
    tenant: &Tenant,
    kind: &str,
    woo_id: u64,
    codes: usize,
) -> String {
    let (status, body) = app
        .post(
            "/api/v1/products",
            &tenant.key,
            json!({"sku": format!("SKU-{woo_id}"), "name": format!("Product {woo_id}"), "type": kind,
                   "mappings": {"woocommerce_product_id": woo_id}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    if codes > 0 {
        let codes: Vec<String> = (0..codes).map(|n| format!("C{woo_id}-{n:03}")).collect();
        let path = format!("/api/v1/products/{id}/codes");
        let (status, body) = app.post(&path, &tenant.key, json!(codes)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    id
}

pub(crate) async fn balance(app: &TestApp, tenant: &Tenant) -> i64 {
    let (_, body) = app.get("/api/v1/tenant", &tenant.key).await;
    body["data"]["token_balance"]
        .as_i64()
        .unwrap_or_else(|| panic!("{body}"))
}

/// The tenant's order of platform id `platform_order_id`, in full, once `check` holds (or a
/// failure after 30 s showing it).
pub(crate) async fn wait_order(
    app: &TestApp,
    tenant: &Tenant,
    platform_order_id: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, list) = app.get("/api/v1/orders?limit=100", &tenant.key).await;
        let found = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["platform_order_id"] == platform_order_id)
            .map(|o| o["id"].as_str().unwrap().to_owned());
        let mut last = Value::Null;
        if let Some(id) = found {
            let (status, body) = app.get(&format!("/api/v1/orders/{id}"), &tenant.key).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            if check(&body["data"]) {
                return body["data"].clone();
            }
            last = body["data"].clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}: {last:#}"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

pub(crate) fn actions(order: &Value) -> Vec<String> {
    order["audit_trail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap().to_owned())
        .collect()
}

pub(crate) fn outbox(app: &TestApp) -> Vec<String> {
    read_outbox(&app.data_dir.path().join("outbox"))
}

/// The outbox once it holds `n` emails, and still `n` a moment later.
pub(crate) async fn outbox_settles_at(app: &TestApp, n: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while outbox(app).len() < n && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    let emails = outbox(app);
    assert_eq!(emails.len(), n, "{emails:#?}");
    emails
}

async fn alerts(app: &TestApp, tenant: &Tenant, kind: &str) -> Vec<Value> {
    let (status, body) = app.get("/api/v1/alerts", &tenant.key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == kind)
        .cloned()
        .collect()
}

/// Caps of 2 units per line and 3 per order, so that an approved order stays small.
async fn capped_app(backend: Backend) -> TestApp {
    TestApp::spawn_configured(backend, 64 * 1024, |pipeline| {
        pipeline.bounds.max_units_per_line = 2;
        pipeline.bounds.max_units_per_order = 3;
    })
    .await
}

async fn an_order_over_the_quantity_caps_waits_for_review_until_approved(backend: Backend) {
    let app = capped_app(backend).await;
    let tenant = app.tenant(10).await;
    product(&app, &tenant, "CODE", 501, 5).await;
    // 4,294,967,295 units on one line: stored, and not one unit made.
    ingest(
        &app,
        &tenant,
        "evt_huge",
        &woo_order(9001, &[(1, 501, 4_294_967_295)]),
    )
    .await;
    // Within the line cap, over the order cap.
    ingest(
        &app,
        &tenant,
        "evt_wide",
        &woo_order(9002, &[(2, 501, 2), (3, 501, 2)]),
    )
    .await;
    let huge = wait_order(&app, &tenant, "9001", "review", |o| {
        o["status"] == "needs_review"
    })
    .await;
    assert!(
        huge["status_reason"]
            .as_str()
            .unwrap()
            .contains("4294967295 units, over the cap of 2 units per line"),
        "{huge:#}"
    );
    assert_eq!(
        huge["items"][0]["delivery_status"], "needs_review",
        "{huge:#}"
    );
    assert!(actions(&huge).contains(&"needs_review".to_owned()));
    let wide = wait_order(&app, &tenant, "9002", "review", |o| {
        o["status"] == "needs_review"
    })
    .await;
    assert!(
        wide["status_reason"]
            .as_str()
            .unwrap()
            .contains("4 units, over the cap of 3"),
        "{wide:#}"
    );
    // The list shows the status and reason too, and filters on it.
    let (_, list) = app
        .get("/api/v1/orders?status=needs_review", &tenant.key)
        .await;
    let listed = list["data"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{list}");
    assert!(
        listed.iter().all(|o| o["status_reason"].is_string()),
        "{list}"
    );
    // Nothing charged, nothing sent, an alert per order.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(balance(&app, &tenant).await, 10);
    assert!(outbox(&app).is_empty());
    let waiting = alerts(&app, &tenant, "order_needs_review").await;
    assert_eq!(waiting.len(), 2, "{waiting:?}");
    let wide_id = wide["id"].as_str().unwrap();
    assert!(waiting.iter().any(|a| a["subject"] == wide_id));
    assert!(waiting[0]["detail"]["reason"].is_string(), "{waiting:?}");

    // The seller approves the wide order: it is delivered through the pipeline.
    let path = format!("/api/v1/orders/{wide_id}/approve");
    let (status, body) = app.post(&path, &tenant.key, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["units_allocated"], 4, "{body}");
    assert_eq!(body["data"]["order"]["status"], "processing", "{body}");
    let done = wait_order(&app, &tenant, "9002", "delivery", |o| {
        o["status"] == "delivered"
    })
    .await;
    assert!(actions(&done).contains(&"approved".to_owned()));
    assert!(done.get("status_reason").is_none(), "{done:#}");
    let emails = outbox_settles_at(&app, 1).await;
    for code in ["C501-000", "C501-001", "C501-002", "C501-003"] {
        assert!(emails[0].contains(code), "{code}: {}", emails[0]);
    }
    assert_eq!(
        balance(&app, &tenant).await,
        6,
        "charged only after approval"
    );
    let waiting = alerts(&app, &tenant, "order_needs_review").await;
    assert_eq!(waiting.len(), 1, "the approved order's alert is gone");

    // Approving it again, or an order that never waited, changes and charges nothing.
    let (status, body) = app.post(&path, &tenant.key, json!({})).await;
    assert_error(status, &body, StatusCode::CONFLICT, "ORDER_NOT_IN_REVIEW");
    let other = app.tenant(0).await;
    let (status, body) = app.post(&path, &other.key, json!({})).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let read_only = app.key_with_scopes(&tenant, &["orders:read"]).await;
    let huge_path = format!("/api/v1/orders/{}/approve", huge["id"].as_str().unwrap());
    let (status, body) = app.post(&huge_path, &read_only, json!({})).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");
    // Even the seller cannot have four billion units made at once.
    let (status, body) = app.post(&huge_path, &tenant.key, json!({})).await;
    let error = assert_error(status, &body, StatusCode::CONFLICT, "CONFLICT");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("4294967295 units"),
        "{body}"
    );
    let still = wait_order(&app, &tenant, "9001", "review", |o| {
        o["status"] == "needs_review"
    })
    .await;
    assert_eq!(
        still["items"][0]["delivery_status"], "needs_review",
        "{still:#}"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(balance(&app, &tenant).await, 6);
    assert_eq!(outbox(&app).len(), 1);
}

async fn unmapped_lines_resume_when_a_mapping_appears(backend: Backend) {
    let app = TestApp::spawn_configured(backend, 64 * 1024, |_| {}).await;
    let tenant = app.tenant(10).await;
    let product_id = product(&app, &tenant, "CODE", 111, 5).await;
    ingest(&app, &tenant, "evt_u", &woo_order(9101, &[(11, 222, 2)])).await;
    let order = wait_order(&app, &tenant, "9101", "the unmapped line", |o| {
        o["items"][0]["delivery_status"] == "unmapped"
    })
    .await;
    let reason = order["items"][0]["status_reason"].as_str().unwrap();
    assert!(reason.contains("WooCommerce product 222"), "{order:#}");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        balance(&app, &tenant).await,
        10,
        "an unmapped line costs nothing"
    );

    // The seller maps the listing: the waiting line is delivered, once.
    let path = format!("/api/v1/products/{product_id}");
    let mapping = json!({"mappings": {"woocommerce_product_id": 222}});
    let (status, body) = app
        .call(Method::PATCH, &path, &tenant.key, Some(mapping.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let done = wait_order(&app, &tenant, "9101", "delivery", |o| {
        o["status"] == "delivered"
    })
    .await;
    assert_eq!(done["items"][0]["delivery_status"], "delivered", "{done:#}");
    assert!(done["items"][0]["status_reason"].is_null(), "{done:#}");
    let (status, _) = app
        .call(Method::PATCH, &path, &tenant.key, Some(mapping))
        .await;
    assert_eq!(status, StatusCode::OK);
    let emails = outbox_settles_at(&app, 1).await;
    assert!(emails[0].contains("C111-000") && emails[0].contains("C111-001"));
    assert_eq!(balance(&app, &tenant).await, 8);
}

/// Within the template limits for the sample data (two items), over them for ten units.
const GROWING_BODY: &str =
    "{% for item in items %}{% for n in range(2000) %}{{ item.name }}.{% endfor %}{% endfor %}";

async fn a_resend_charges_each_unit_sent_again_and_nothing_for_failed_or_unmapped_ones(
    backend: Backend,
) {
    let app = TestApp::spawn_configured(backend, 64 * 1024, |_| {}).await;
    let tenant = app.tenant(30).await;
    product(&app, &tenant, "CODE", 301, 20).await;
    // Three units of a mapped line and one unmapped line.
    ingest(
        &app,
        &tenant,
        "evt_r",
        &woo_order(9201, &[(21, 301, 3), (22, 999, 1)]),
    )
    .await;
    let order = wait_order(&app, &tenant, "9201", "delivery", |o| {
        o["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["delivery_status"] == "delivered")
    })
    .await;
    outbox_settles_at(&app, 1).await;
    assert_eq!(balance(&app, &tenant).await, 27);
    let path = format!("/api/v1/orders/{}/resend", order["id"].as_str().unwrap());
    let (status, body) = app.post(&path, &tenant.key, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["tokens_charged"], 3, "{body}");
    assert_eq!(body["data"]["units_queued"], 3, "{body}");
    assert_eq!(body["data"]["items_queued"], 1, "{body}");
    assert_eq!(body["data"]["token_balance"], 24, "{body}");
    outbox_settles_at(&app, 2).await;
    assert_eq!(balance(&app, &tenant).await, 24);
    let again = wait_order(&app, &tenant, "9201", "resent", |o| {
        o["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["delivery_status"] == "delivered")
    })
    .await;
    let unmapped = again["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["product_id"].is_null())
        .unwrap();
    assert_eq!(unmapped["delivery_status"], "unmapped", "{again:#}");

    // Units whose email failed: the resend that delivers them is free.
    let (status, saved) = app
        .post(
            "/api/v1/templates",
            &tenant.key,
            json!({"name": "Growing", "subject": "Your order", "body": GROWING_BODY}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    let failing = product(&app, &tenant, "CODE", 302, 20).await;
    let product_path = format!("/api/v1/products/{failing}");
    let template = json!({"template_id": saved["data"]["id"]});
    let (status, body) = app
        .call(Method::PATCH, &product_path, &tenant.key, Some(template))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    ingest(&app, &tenant, "evt_f", &woo_order(9202, &[(31, 302, 10)])).await;
    let failed = wait_order(&app, &tenant, "9202", "the units to fail", |o| {
        o["items"][0]["delivery_status"] == "failed"
    })
    .await;
    assert_eq!(
        balance(&app, &tenant).await,
        14,
        "ten units allocated and charged"
    );
    // The seller fixes the template; the resend that delivers the failed units is free.
    let template_path = format!(
        "/api/v1/templates/{}",
        saved["data"]["id"].as_str().unwrap()
    );
    let fixed =
        json!({"body": "{% for item in items %}{{ item.name }} {{ item.code }}\n{% endfor %}"});
    let (status, body) = app
        .call(Method::PATCH, &template_path, &tenant.key, Some(fixed))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let path = format!("/api/v1/orders/{}/resend", failed["id"].as_str().unwrap());
    let (status, body) = app.post(&path, &tenant.key, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["tokens_charged"], 0, "{body}");
    assert_eq!(body["data"]["units_queued"], 10, "{body}");
    wait_order(&app, &tenant, "9202", "the failed units delivered", |o| {
        o["status"] == "delivered"
    })
    .await;
    outbox_settles_at(&app, 3).await;
    assert_eq!(balance(&app, &tenant).await, 14);
}

async fn resend_and_replace_of_a_refunded_or_cancelled_order_are_refused_and_free(
    backend: Backend,
) {
    let app = TestApp::spawn_configured(backend, 64 * 1024, |_| {}).await;
    let tenant = app.tenant(10).await;
    product(&app, &tenant, "CODE", 401, 5).await;
    let paid = woo_order(9301, &[(41, 401, 1)]);
    ingest(&app, &tenant, "evt_p", &paid).await;
    wait_order(&app, &tenant, "9301", "delivery", |o| {
        o["status"] == "delivered"
    })
    .await;
    let mut cancelled = woo_order(9302, &[(42, 401, 1)]);
    ingest(&app, &tenant, "evt_p2", &cancelled).await;
    wait_order(&app, &tenant, "9302", "delivery", |o| {
        o["status"] == "delivered"
    })
    .await;
    for (edge_id, mut body, status) in [
        ("evt_refund", paid, "refunded"),
        ("evt_cancel", std::mem::take(&mut cancelled), "cancelled"),
    ] {
        body["status"] = status.into();
        body["date_modified_gmt"] = "2025-03-21T10:00:00".into();
        ingest(&app, &tenant, edge_id, &body).await;
    }
    outbox_settles_at(&app, 2).await;
    let before = balance(&app, &tenant).await;
    assert_eq!(before, 8);
    for (platform_id, status) in [("9301", "refunded"), ("9302", "cancelled")] {
        let order = wait_order(&app, &tenant, platform_id, status, |o| {
            o["status"] == status
        })
        .await;
        let id = order["id"].as_str().unwrap();
        let item = order["items"][0]["id"].as_str().unwrap();
        let (code, body) = app
            .post(
                &format!("/api/v1/orders/{id}/resend"),
                &tenant.key,
                json!({}),
            )
            .await;
        let error = assert_error(code, &body, StatusCode::CONFLICT, "ORDER_CLOSED");
        assert!(
            error["message"].as_str().unwrap().contains(status),
            "{body}"
        );
        let replace = format!("/api/v1/orders/{id}/items/{item}/replace");
        let (code, body) = app.post(&replace, &tenant.key, json!({})).await;
        assert_error(code, &body, StatusCode::CONFLICT, "ORDER_CLOSED");
        let after = wait_order(&app, &tenant, platform_id, status, |o| {
            o["status"] == status
        })
        .await;
        assert_eq!(after["items"][0]["delivery_status"], "revoked", "{after:#}");
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(balance(&app, &tenant).await, before, "nothing charged");
    assert_eq!(outbox(&app).len(), 2, "nothing sent again");
}

async fn a_partial_refund_revokes_only_the_refunded_lines_links(backend: Backend) {
    let app = TestApp::spawn_configured(backend, 64 * 1024, |_| {}).await;
    let tenant = app.tenant(10).await;
    let kept = product(&app, &tenant, "FILE", 601, 0).await;
    upload_file(&app, &tenant, &kept, b"%PDF kept guide").await;
    let refunded = product(&app, &tenant, "FILE", 602, 0).await;
    upload_file(&app, &tenant, &refunded, b"%PDF refunded guide").await;
    let mut order = woo_order(9401, &[(61, 601, 1), (62, 602, 1)]);
    ingest(&app, &tenant, "evt_pr", &order).await;
    wait_order(&app, &tenant, "9401", "delivery", |o| {
        o["status"] == "delivered"
    })
    .await;
    let emails = outbox_settles_at(&app, 1).await;
    assert_eq!(download_paths(&emails[0]).len(), 2, "{}", emails[0]);
    let (kept_link, refunded_link) = kept_and_refunded_links(&app, &emails[0]).await;

    // The store refunds line 62 only: WooCommerce keeps the status and adds to `refunds`.
    order["status"] = "completed".into();
    order["date_modified_gmt"] = "2025-03-22T09:00:00".into();
    order["refunds"] = json!([{"id": 1501, "reason": "wrong book", "total": "-13.86",
        "line_items": [{"id": 6201, "product_id": 602, "quantity": -1,
                        "meta_data": [{"key": "_refunded_item_id", "value": "62"}]}]}]);
    ingest(&app, &tenant, "evt_partial", &order).await;
    // The same refund seen again (a redelivery under another edge id) revokes nothing more.
    ingest(&app, &tenant, "evt_partial_again", &order).await;
    wait_order(&app, &tenant, "9401", "the partial refund", |o| {
        actions(o).contains(&"partially_refunded".to_owned())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let after = wait_order(&app, &tenant, "9401", "settled", |_| true).await;
    assert_only_the_refunded_line_is_revoked(
        &app,
        &after,
        "62",
        (&refunded, &refunded_link),
        (&kept, &kept_link),
    )
    .await;
    assert_eq!(balance(&app, &tenant).await, 8, "no token comes back");
    assert_eq!(outbox(&app).len(), 1);
}

/// A buyer's download of `path` through the edge: its status and bytes.
pub(crate) async fn download(app: &TestApp, path: &str) -> (StatusCode, Vec<u8>) {
    let response = app
        .client
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.bytes().await.unwrap().to_vec())
}

/// The email's two links, each downloaded once: `(kept, refunded)`, told apart by the
/// refunded line's file (`%PDF refunded guide`).
pub(crate) async fn kept_and_refunded_links(app: &TestApp, email: &str) -> (String, String) {
    let (mut kept, mut refunded) = (None, None);
    for link in download_paths(email) {
        let (status, bytes) = download(app, &link).await;
        assert_eq!(status, StatusCode::OK);
        if bytes == b"%PDF refunded guide" {
            refunded = Some(link);
        } else {
            kept = Some(link);
        }
    }
    (kept.unwrap(), refunded.unwrap())
}

/// The order after a refund of line `line_item_id` (product `refunded`): one
/// `partially_refunded` entry revoking its link, that line revoked and its link refused, the
/// other line (product `kept`) still delivered and downloadable.
pub(crate) async fn assert_only_the_refunded_line_is_revoked(
    app: &TestApp,
    after: &Value,
    line_item_id: &str,
    (refunded, refunded_link): (&str, &str),
    (kept, kept_link): (&str, &str),
) {
    let trail = after["audit_trail"].as_array().unwrap();
    let partial: Vec<&Value> = trail
        .iter()
        .filter(|a| a["action"] == "partially_refunded")
        .collect();
    assert_eq!(partial.len(), 1, "{trail:#?}");
    assert_eq!(partial[0]["detail"]["line_item_id"], line_item_id);
    assert_eq!(partial[0]["detail"]["links_revoked"], 1);
    assert_eq!(
        after["status"], "delivered",
        "the other line stays delivered: {after:#}"
    );
    let items = after["items"].as_array().unwrap();
    let line = |product: &str| items.iter().find(|i| i["product_id"] == product).unwrap();
    assert_eq!(line(refunded)["delivery_status"], "revoked", "{after:#}");
    assert_eq!(line(refunded)["refunded_quantity"], 1);
    assert_eq!(line(kept)["delivery_status"], "delivered", "{after:#}");
    let (status, _) = download(app, refunded_link).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the refunded line's link is refused"
    );
    let (status, bytes) = download(app, kept_link).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, b"%PDF kept guide");
}

on_both_backends!(
    an_order_over_the_quantity_caps_waits_for_review_until_approved,
    unmapped_lines_resume_when_a_mapping_appears,
    a_resend_charges_each_unit_sent_again_and_nothing_for_failed_or_unmapped_ones,
    resend_and_replace_of_a_refunded_or_cancelled_order_are_refused_and_free,
    a_partial_refund_revokes_only_the_refunded_lines_links,
);
