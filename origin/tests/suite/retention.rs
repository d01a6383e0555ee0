//! Storage that does not grow for ever, on both backends: the retention job prunes old event
//! bodies (keeping what makes a replay a duplicate, and dead letters replayable within
//! retention), audit rows and finished download links; uploads stop at the tenant's quota.
//! Time passing is simulated by moving rows' timestamps back in the database.

use crate::common;

use std::time::Duration;

use common::{Backend, PUBLIC_BASE_URL, Tenant, TestApp, assert_error};
use origin::config::StorageQuota;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::internal::{DEAD_LETTER_PATH, INGEST_PATH};

use crate::pipeline_platforms::{balance, code_product, orders, wait_until};

const DAY_MS: i64 = 86_400_000;
const WOO_BODY: &str = include_str!("../../../fixtures/woocommerce/order-created.body");

/// The test's own connection to the app's database, to see and age rows.
pub(crate) enum Db {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Db {
    pub(crate) async fn open(app: &TestApp) -> Db {
        if app.database_url.starts_with("postgres") {
            Db::Postgres(sqlx::PgPool::connect(&app.database_url).await.unwrap())
        } else {
            Db::Sqlite(sqlx::SqlitePool::connect(&app.database_url).await.unwrap())
        }
    }

    pub(crate) async fn execute(&self, sql: &str) -> u64 {
        match self {
            Db::Sqlite(pool) => sqlx::query(sql)
                .execute(pool)
                .await
                .unwrap()
                .rows_affected(),
            Db::Postgres(pool) => sqlx::query(sql)
                .execute(pool)
                .await
                .unwrap()
                .rows_affected(),
        }
    }

    pub(crate) async fn count(&self, sql: &str) -> i64 {
        match self {
            Db::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
            Db::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        }
    }

    /// Every `(table, column)` of the schema.
    pub(crate) async fn columns(&self) -> Vec<(String, String)> {
        match self {
            Db::Sqlite(pool) => sqlx::query_as(
                "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p \
                 WHERE m.type = 'table'",
            )
            .fetch_all(pool)
            .await
            .unwrap(),
            Db::Postgres(pool) => sqlx::query_as(
                "SELECT table_name::text, column_name::text FROM information_schema.columns \
                 WHERE table_schema = current_schema()",
            )
            .fetch_all(pool)
            .await
            .unwrap(),
        }
    }

    /// `table.column` for every value anywhere in the database that contains `needle`
    /// (case-insensitive).
    pub(crate) async fn cells_containing(&self, needle: &str) -> Vec<String> {
        let needle = needle.to_lowercase().replace('\'', "''");
        let mut found = Vec::new();
        for (table, column) in self.columns().await {
            let sql = format!(
                "SELECT COUNT(*) FROM \"{table}\" WHERE LOWER(CAST(\"{column}\" AS TEXT)) \
                 LIKE '%{needle}%'"
            );
            if self.count(&sql).await > 0 {
                found.push(format!("{table}.{column}"));
            }
        }
        found
    }
}

fn now_ms() -> i64 {
    origin::ids::now_ms()
}

/// A paid WooCommerce order `id` of one unit of WooCommerce product `product_id`.
fn woo_order(id: u64, product_id: u64) -> String {
    let mut order: Value = serde_json::from_str(WOO_BODY).unwrap();
    order["id"] = id.into();
    let mut line = order["line_items"][1].clone();
    line["id"] = (id * 10).into();
    line["product_id"] = product_id.into();
    line["variation_id"] = 0.into();
    line["quantity"] = 1.into();
    order["line_items"] = json!([line]);
    order.to_string()
}

fn forwarded(tenant: &Tenant, edge_id: &str, body: &str) -> Value {
    json!({
        "edge_event_id": edge_id, "tenant_id": tenant.id, "platform": "woocommerce",
        "received_at_ms": 1_764_000_000_000u64, "headers": {}, "body": body,
    })
}

/// Ingests through the edge's route; whether the origin had it already.
async fn ingest(app: &TestApp, tenant: &Tenant, edge_id: &str, body: &str) -> bool {
    let event = forwarded(tenant, edge_id, body).to_string();
    let (status, answer) = app.edge(Method::POST, INGEST_PATH, &event).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer["data"]["duplicate"].as_bool().unwrap()
}

async fn dead_letter(app: &TestApp, tenant: &Tenant, edge_id: &str, body: &str) {
    let letter = json!({
        "event": forwarded(tenant, edge_id, body), "attempts": 5, "last_error": "origin unavailable",
    });
    let (status, answer) = app
        .edge(Method::POST, DEAD_LETTER_PATH, &letter.to_string())
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

async fn event_id(app: &TestApp, tenant: &Tenant, edge_id: &str) -> String {
    let (_, body) = app.get("/api/v1/events?limit=100", &tenant.key).await;
    let events = body["data"].as_array().unwrap();
    let event = events.iter().find(|e| e["edge_event_id"] == edge_id);
    event.unwrap()["id"].as_str().unwrap().to_owned()
}

fn outbox(app: &TestApp) -> usize {
    e2e::harness::outbox::read_outbox(&app.data_dir.path().join("outbox")).len()
}

async fn delivered(app: &TestApp, tenant: &Tenant, platform_order_id: &str) -> bool {
    orders(app, tenant)
        .await
        .iter()
        .any(|o| o["platform_order_id"] == platform_order_id && o["status"] == "delivered")
}

/// An app whose retention job runs every 100 ms and keeps everything one day.
async fn retention_app(backend: Backend) -> TestApp {
    TestApp::spawn_settings(backend, |s| {
        let retention = &mut s.pipeline.retention;
        retention.event_body_ms = DAY_MS;
        retention.audit_ms = DAY_MS;
        retention.link_ms = DAY_MS;
        retention.interval = Duration::from_millis(100);
        // Small batches: a run takes several, each through the write gate on its own.
        retention.batch = 2;
    })
    .await
}

async fn old_event_bodies_are_pruned_and_their_replays_stay_duplicates(backend: Backend) {
    let app = retention_app(backend).await;
    let db = Db::open(&app).await;
    let tenant = app.tenant(10).await;
    code_product(&app, &tenant, json!({"woocommerce_product_id": 501}), 5).await;
    let first = woo_order(9100, 501);
    assert!(!ingest(&app, &tenant, "evt_old", &first).await);
    wait_until("the first order delivered", 15, || async {
        if delivered(&app, &tenant, "9100").await {
            Ok(())
        } else {
            Err(format!("{:?}", orders(&app, &tenant).await))
        }
    })
    .await;
    dead_letter(&app, &tenant, "evt_dead_recent", &woo_order(9101, 501)).await;
    dead_letter(&app, &tenant, "evt_dead_old", &woo_order(9102, 501)).await;
    // Two days pass for the processed event and one dead letter.
    let aged = db
        .execute(&format!(
            "UPDATE events SET stored_at = stored_at - {} \
             WHERE edge_event_id IN ('evt_old', 'evt_dead_old')",
            2 * DAY_MS
        ))
        .await;
    assert_eq!(aged, 2);
    wait_until("the old bodies pruned", 10, || async {
        let pruned = db
            .count(
                "SELECT COUNT(*) FROM events WHERE body = '' AND body_pruned_at IS NOT NULL \
                 AND edge_event_id IN ('evt_old', 'evt_dead_old')",
            )
            .await;
        if pruned == 2 {
            Ok(())
        } else {
            Err(format!("{pruned} pruned"))
        }
    })
    .await;
    // The recent dead letter keeps its body and replays.
    let held = db
        .count("SELECT COUNT(*) FROM events WHERE edge_event_id = 'evt_dead_recent' AND body <> '' AND body_pruned_at IS NULL")
        .await;
    assert_eq!(held, 1);
    let recent = event_id(&app, &tenant, "evt_dead_recent").await;
    let (status, body) = app
        .post(
            &format!("/api/v1/events/{recent}/replay"),
            &tenant.key,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    wait_until("the replayed dead letter delivered", 15, || async {
        if delivered(&app, &tenant, "9101").await {
            Ok(())
        } else {
            Err(format!("{:?}", orders(&app, &tenant).await))
        }
    })
    .await;
    // The old one has nothing left to process.
    let old = event_id(&app, &tenant, "evt_dead_old").await;
    let (status, body) = app
        .post(
            &format!("/api/v1/events/{old}/replay"),
            &tenant.key,
            json!({}),
        )
        .await;
    assert_error(status, &body, StatusCode::CONFLICT, "CONFLICT");
    // The platform sends the old event again, by the same edge id or a new one: a duplicate.
    assert!(ingest(&app, &tenant, "evt_old", &first).await);
    assert!(ingest(&app, &tenant, "evt_old_again", &first).await);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(outbox(&app), 2, "orders 9100 and 9101, each once");
    assert_eq!(balance(&app, &tenant).await, 8);
    let (_, body) = app.get("/api/v1/events?limit=100", &tenant.key).await;
    assert_eq!(body["data"].as_array().unwrap().len(), 3, "{body}");
    // Nothing still to be processed ever loses its body, however old.
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM events WHERE body = '' AND status IN ('received', 'failed')"
        )
        .await,
        0
    );
}

async fn upload(app: &TestApp, tenant: &Tenant, product_id: &str) -> (StatusCode, Value) {
    app.post(
        &format!("/api/v1/products/{product_id}/files"),
        &tenant.key,
        json!({"filename": "guide.pdf"}),
    )
    .await
}

async fn put(app: &TestApp, slot: &Value, bytes: usize) -> (StatusCode, Value) {
    let url = slot["data"]["upload_url"]
        .as_str()
        .unwrap()
        .replace(PUBLIC_BASE_URL, &app.base);
    let response = app
        .client
        .put(url)
        .body(vec![b'x'; bytes])
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

async fn file_product(app: &TestApp, tenant: &Tenant, woo_id: u64) -> String {
    let (status, body) = app
        .post(
            "/api/v1/products",
            &tenant.key,
            json!({"sku": format!("FILE-{woo_id}"), "name": "Guide", "type": "FILE",
                   "mappings": {"woocommerce_product_id": woo_id}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"]["id"].as_str().unwrap().to_owned()
}

async fn audit_rows_and_finished_links_past_retention_are_pruned(backend: Backend) {
    let app = retention_app(backend).await;
    let db = Db::open(&app).await;
    let tenant = app.tenant(10).await;
    let product = file_product(&app, &tenant, 777).await;
    let (_, slot) = upload(&app, &tenant, &product).await;
    assert_eq!(put(&app, &slot, 100).await.0, StatusCode::OK);
    for id in [9200, 9201, 9202] {
        ingest(&app, &tenant, &format!("evt_{id}"), &woo_order(id, 777)).await;
    }
    // Delivered, and done with: the marketplace call (skipped: no connection) is recorded.
    wait_until("three orders delivered", 15, || async {
        let all = orders(&app, &tenant).await;
        let done = all
            .iter()
            .filter(|o| o["status"] == "delivered" && o["fulfilment"][0]["status"] == "skipped")
            .count();
        if done == 3 {
            Ok(())
        } else {
            Err(format!("{all:?}"))
        }
    })
    .await;
    assert_eq!(db.count("SELECT COUNT(*) FROM download_links").await, 3);
    let order = |n: &str| format!("(SELECT id FROM orders WHERE platform_order_id = '{n}')");
    let deliveries = |n: &str| format!("(SELECT id FROM deliveries WHERE order_id = {})", order(n));
    // Order 9200's link expired two days ago, 9201's was revoked two days ago, 9202's is
    // live; 9200's audit trail and the tenant's key audit are two days old.
    let two_days_ago = now_ms() - 2 * DAY_MS;
    db.execute(&format!(
        "UPDATE download_links SET expires_at = {two_days_ago} WHERE delivery_id IN {}",
        deliveries("9200")
    ))
    .await;
    db.execute(&format!(
        "UPDATE download_links SET revoked_at = {two_days_ago} WHERE delivery_id IN {}",
        deliveries("9201")
    ))
    .await;
    let (status, body) = app
        .post(
            "/api/v1/keys",
            &tenant.key,
            json!({"name": "ci", "scopes": ["orders:read"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(db.count("SELECT COUNT(*) FROM tenant_audit").await > 0);
    db.execute(&format!("UPDATE tenant_audit SET at = {two_days_ago}"))
        .await;
    db.execute(&format!(
        "UPDATE order_audit SET at = {two_days_ago} WHERE order_id = {}",
        order("9200")
    ))
    .await;
    wait_until("old links and audit rows pruned", 10, || async {
        let links = db.count("SELECT COUNT(*) FROM download_links").await;
        let old_audit = db
            .count(&format!(
                "SELECT COUNT(*) FROM order_audit WHERE order_id = {}",
                order("9200")
            ))
            .await;
        let keys_audit = db.count("SELECT COUNT(*) FROM tenant_audit").await;
        if links == 1 && old_audit == 0 && keys_audit == 0 {
            Ok(())
        } else {
            Err(format!(
                "links {links}, audit {old_audit}, key audit {keys_audit}"
            ))
        }
    })
    .await;
    // What is within retention stays: the live link and the other orders' trails.
    let live = db
        .count(&format!(
            "SELECT COUNT(*) FROM download_links WHERE delivery_id IN {}",
            deliveries("9202")
        ))
        .await;
    assert_eq!(live, 1);
    let all = orders(&app, &tenant).await;
    let recent = all
        .iter()
        .find(|o| o["platform_order_id"] == "9202")
        .unwrap();
    assert!(
        !recent["audit_trail"].as_array().unwrap().is_empty(),
        "{recent}"
    );
    assert_eq!(all.len(), 3, "orders themselves are kept");
}

/// The tenant's `storage` as `GET /api/v1/tenant` shows it.
async fn storage(app: &TestApp, tenant: &Tenant) -> Value {
    let (status, body) = app.get("/api/v1/tenant", &tenant.key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]["storage"].clone()
}

fn stored_files(app: &TestApp, tenant: &Tenant) -> usize {
    let dir = app.data_dir.path().join("files").join(&tenant.id);
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

async fn uploads_past_the_storage_quota_are_refused_and_store_nothing(backend: Backend) {
    let app = TestApp::spawn_settings(backend, |s| {
        s.pipeline.enabled = false;
        s.storage_quota = StorageQuota {
            max_bytes: 1000,
            max_files: 3,
        };
    })
    .await;
    let tenant = app.tenant(0).await;
    let product = file_product(&app, &tenant, 1).await;
    let (status, first) = upload(&app, &tenant, &product).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(put(&app, &first, 600).await.0, StatusCode::OK);
    let used = json!({"used_bytes": 600, "quota_bytes": 1000, "files": 1, "max_files": 3});
    assert_eq!(storage(&app, &tenant).await, used);
    // The next slot says how much room is left; a body past it is refused, nothing kept.
    let (status, second) = upload(&app, &tenant, &product).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_eq!(second["data"]["max_bytes"], 400);
    let (status, body) = put(&app, &second, 600).await;
    let error = assert_error(
        status,
        &body,
        StatusCode::CONFLICT,
        "STORAGE_QUOTA_EXCEEDED",
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("600 of 1000 bytes"),
        "{error}"
    );
    assert_eq!(storage(&app, &tenant).await["used_bytes"], 600);
    assert_eq!(
        stored_files(&app, &tenant),
        1,
        "no partial or refused file left"
    );
    let (_, detail) = app
        .get(&format!("/api/v1/products/{product}"), &tenant.key)
        .await;
    let pending = detail["data"]["files"].as_array().unwrap();
    assert_eq!(
        pending.iter().filter(|f| f["status"] == "pending").count(),
        1,
        "{detail}"
    );
    // What fits is stored; with the quota full, no new slot is handed out.
    assert_eq!(put(&app, &second, 400).await.0, StatusCode::OK);
    assert_eq!(storage(&app, &tenant).await["used_bytes"], 1000);
    let (status, body) = upload(&app, &tenant, &product).await;
    assert_error(
        status,
        &body,
        StatusCode::CONFLICT,
        "STORAGE_QUOTA_EXCEEDED",
    );
    // The file count is a quota too: slots still usable count.
    let other = app.tenant(0).await;
    let product = file_product(&app, &other, 2).await;
    for _ in 0..3 {
        assert_eq!(upload(&app, &other, &product).await.0, StatusCode::CREATED);
    }
    let (status, body) = upload(&app, &other, &product).await;
    assert_error(
        status,
        &body,
        StatusCode::CONFLICT,
        "STORAGE_QUOTA_EXCEEDED",
    );
    assert_eq!(storage(&app, &other).await["files"], 3);
}

on_both_backends!(
    old_event_bodies_are_pruned_and_their_replays_stay_duplicates,
    audit_rows_and_finished_links_past_retention_are_pruned,
    uploads_past_the_storage_quota_are_refused_and_store_nothing,
);
