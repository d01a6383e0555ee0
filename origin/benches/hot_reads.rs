//! Hot reads of the API with 100k orders: the order list with filters and a product get, over
//! HTTP against the real application, on SQLite and on PostgreSQL. Prints requests/s and
//! latency percentiles per scenario.
//!
//! `cargo bench -p origin --bench hot_reads` (PostgreSQL at `TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`; `BENCH_SECS` per scenario, default 10;
//! `BENCH_CONCURRENCY`, default 32; `BENCH_ORDERS`, default 100000). Client and server share
//! the machine, so the figures are a floor for the server alone.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{BenchSchema, EDGE_SECRET, env_or, send_signed};
use origin::app::Application;
use origin::config::{AdminCommand, Settings};
use origin::crypto::MasterKey;
use origin::ids::new_id;
use origin::store::{OrderItemRow, OrderRow, Store};
use rand::Rng;

const PLATFORMS: [&str; 3] = ["woocommerce", "ebay", "etsy"];
const STATUSES: [&str; 3] = ["delivered", "pending", "failed"];
const BUYERS: usize = 5_000;
const PRODUCTS: usize = 1_000;
const BASE_MS: i64 = 1_700_000_000_000;

#[tokio::main]
async fn main() {
    let orders: usize = env_or("BENCH_ORDERS", 100_000);
    let secs: u64 = env_or("BENCH_SECS", 10);
    let concurrency: usize = env_or("BENCH_CONCURRENCY", 32);
    println!(
        "hot reads: {orders} orders, {PRODUCTS} products, {concurrency} connections, {secs} s per scenario"
    );

    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    run_backend("sqlite", &sqlite, dir.path(), orders, secs, concurrency).await;

    let postgres = BenchSchema::create().await;
    run_backend(
        "postgres",
        &postgres.url,
        dir.path(),
        orders,
        secs,
        concurrency,
    )
    .await;
    postgres.drop().await;
}

async fn run_backend(
    name: &str,
    database_url: &str,
    dir: &std::path::Path,
    orders: usize,
    secs: u64,
    concurrency: usize,
) {
    let mut settings = Settings::for_tests(
        &dir.join(name),
        database_url,
        EDGE_SECRET,
        MasterKey::from_hex(&"cd".repeat(32)).unwrap(),
    );
    settings.max_upload_bytes = 1 << 20;
    let app = Application::build(settings).await.unwrap();
    let base = format!("http://{}", app.local_addr());
    let store = app.store();
    tokio::spawn(app.run());

    let created = origin::admin::run(
        store.as_ref(),
        AdminCommand::CreateTenant {
            name: "Bench".into(),
            tokens: 0,
        },
    )
    .await
    .unwrap();
    let tenant = created["tenant_id"].as_str().unwrap().to_owned();
    let key = created["api_key"].as_str().unwrap().to_owned();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();

    let started = Instant::now();
    let products = seed_products(&client, &base, &key).await;
    seed_orders(store.as_ref(), &tenant, orders, &products).await;
    refresh_statistics(name, database_url).await;
    println!(
        "\n[{name}] seeded in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let products = Arc::new(products);
    let scenarios: [(&str, PathMaker); 5] = [
        (
            "orders: first page, no filter",
            Arc::new(|_| "/api/v1/orders?limit=50".to_owned()),
        ),
        (
            "orders: platform + status",
            Arc::new(|rng| {
                format!(
                    "/api/v1/orders?limit=50&platform={}&status={}",
                    PLATFORMS[rng.gen_range(0..3)],
                    STATUSES[rng.gen_range(0..3)]
                )
            }),
        ),
        (
            "orders: buyer_email + date range",
            Arc::new(|rng| {
                format!(
                    "/api/v1/orders?limit=50&buyer_email=buyer{}@example.net&created_from=2023-11-14T00:00:00Z&created_to=2024-12-31T00:00:00Z",
                    rng.gen_range(0..BUYERS)
                )
            }),
        ),
        (
            "orders: 30-day created range",
            Arc::new(|rng| {
                let from = BASE_MS + rng.gen_range(0..600) * 86_400_000;
                let iso = |ms: i64| {
                    chrono::DateTime::from_timestamp_millis(ms)
                        .unwrap()
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                };
                format!(
                    "/api/v1/orders?limit=50&created_from={}&created_to={}",
                    iso(from),
                    iso(from + 30 * 86_400_000)
                )
            }),
        ),
        ("product get", {
            let products = products.clone();
            Arc::new(move |rng| {
                format!(
                    "/api/v1/products/{}",
                    products[rng.gen_range(0..products.len())]
                )
            })
        }),
    ];
    for (label, make_path) in scenarios {
        let (rps, p50, p99, errors) =
            load(&client, &base, &key, make_path, secs, concurrency).await;
        println!(
            "[{name}] {label:<36} {rps:>8.0} req/s   p50 {p50:>6.2} ms   p99 {p99:>6.2} ms   errors {errors}"
        );
    }
}

/// PostgreSQL's autovacuum gives a database that has been running a while planner statistics
/// and a visibility map (index-only scans skip the heap); a bulk load leaves both stale, so the
/// benchmark does that work up front. SQLite gathers no statistics by itself and the origin
/// never runs ANALYZE, so its plans are measured as they are.
async fn refresh_statistics(name: &str, database_url: &str) {
    if name == "postgres" {
        let pool = sqlx::PgPool::connect(database_url).await.unwrap();
        sqlx::query("VACUUM ANALYZE").execute(&pool).await.unwrap();
    }
}

async fn seed_products(client: &reqwest::Client, base: &str, key: &str) -> Vec<String> {
    let mut ids = Vec::with_capacity(PRODUCTS);
    for n in 0..PRODUCTS {
        let kind = ["FILE", "CODE", "HYBRID"][n % 3];
        let response = send_signed(
            client
                .post(format!("{base}/api/v1/products"))
                .bearer_auth(key)
                .json(&serde_json::json!({"sku": format!("SKU-{n}"), "name": format!("Product {n}"), "type": kind})),
        )
        .await
        .unwrap();
        let body: serde_json::Value = response.json().await.unwrap();
        ids.push(body["data"]["id"].as_str().unwrap().to_owned());
    }
    ids
}

async fn seed_orders(store: &dyn Store, tenant: &str, count: usize, products: &[String]) {
    let mut rng = rand::thread_rng();
    let mut batch = Vec::with_capacity(5_000);
    for n in 0..count {
        let id = new_id("ord");
        let created_at = BASE_MS + n as i64 * 600_000;
        let product = &products[n % products.len()];
        let items = vec![OrderItemRow {
            id: new_id("itm"),
            tenant_id: tenant.to_owned(),
            order_id: id.clone(),
            product_id: Some(product.clone()),
            product_type: Some("FILE".to_owned()),
            name: "Item".to_owned(),
            quantity: 1,
            delivery_status: "delivered".to_owned(),
            license_code: None,
            delivered_at: Some(created_at),
            status_reason: None,
            refunded_quantity: 0,
        }];
        batch.push((
            OrderRow {
                id,
                tenant_id: tenant.to_owned(),
                platform: PLATFORMS[rng.gen_range(0..3)].to_owned(),
                platform_order_id: format!("P-{n}"),
                status: STATUSES[rng.gen_range(0..3)].to_owned(),
                buyer_email: format!("buyer{}@example.net", rng.gen_range(0..BUYERS)),
                buyer_name: Some("Buyer".to_owned()),
                currency: Some("EUR".to_owned()),
                total_cents: Some(1999),
                created_at,
                updated_at: created_at,
                status_reason: None,
            },
            items,
        ));
        if batch.len() == 5_000 {
            store.insert_orders(&batch).await.unwrap();
            batch.clear();
        }
    }
    if !batch.is_empty() {
        store.insert_orders(&batch).await.unwrap();
    }
}

type PathMaker = Arc<dyn Fn(&mut rand::rngs::ThreadRng) -> String + Send + Sync>;

/// `concurrency` clients request paths from `make_path` for `secs`; req/s, p50, p99, errors.
async fn load(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    make_path: PathMaker,
    secs: u64,
    concurrency: usize,
) -> (f64, f64, f64, usize) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, base, key, make_path) = (
            client.clone(),
            base.to_owned(),
            key.to_owned(),
            make_path.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            while Instant::now() < deadline {
                let path = make_path(&mut rand::thread_rng());
                let start = Instant::now();
                let response =
                    send_signed(client.get(format!("{base}{path}")).bearer_auth(&key)).await;
                let ok = match response {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                latencies.push(start.elapsed());
                if !ok {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (latencies, task_errors) = task.await.unwrap();
        all.extend(latencies);
        errors += task_errors;
    }
    let elapsed = started.elapsed().as_secs_f64().max(secs as f64);
    all.sort();
    let percentile =
        |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64() * 1000.0;
    (
        all.len() as f64 / elapsed,
        percentile(0.50),
        percentile(0.99),
        errors,
    )
}
