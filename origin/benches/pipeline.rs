//! The delivery pipeline's throughput on SQLite and PostgreSQL: events ingested per second
//! through the signed ingest route (with p50/p99 latency), then orders delivered per second
//! (event claimed, order and ledger written, code allocated, token charged, template
//! rendered, `.eml` written to the outbox, unit marked sent).
//!
//! `cargo bench -p origin --bench pipeline` (PostgreSQL at `TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`; `BENCH_EVENTS`, default 10000;
//! `BENCH_CONCURRENCY`, default 64; the pipeline's own settings from their environment
//! variables, e.g. `PIPELINE_BATCH`). Bounded by the event count; client and server share
//! the machine, so the figures are a floor for the server alone.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{BenchSchema, EDGE_SECRET, env_or, send_signed};
use origin::app::Application;
use origin::config::{AdminCommand, Settings};
use origin::crypto::MasterKey;
use origin::domain::outbound::AllowList;
use origin::jobs::Pipeline;
use origin::platforms::outbound::Outbound;
use origin::store::Store;
use serde_json::{Value, json};
use shared::internal::INGEST_PATH;

const WOO_BODY: &str = include_str!("../../fixtures/woocommerce/order-created.body");

#[tokio::main]
async fn main() {
    let events: usize = env_or("BENCH_EVENTS", 10_000);
    let concurrency: usize = env_or("BENCH_CONCURRENCY", 64);
    println!(
        "pipeline: {events} paid WooCommerce orders of one CODE item, {concurrency} connections"
    );
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    run_backend("sqlite", &sqlite, dir.path(), events, concurrency).await;

    let postgres = BenchSchema::create().await;
    run_backend("postgres", &postgres.url, dir.path(), events, concurrency).await;
    postgres.drop().await;
}

fn order_body(n: usize) -> String {
    let mut order: Value = serde_json::from_str(WOO_BODY).unwrap();
    order["id"] = (100_000 + n).into();
    order["line_items"] = json!([order["line_items"][0].clone()]);
    order.to_string()
}

async fn run_backend(
    name: &str,
    database_url: &str,
    dir: &std::path::Path,
    events: usize,
    concurrency: usize,
) {
    let data_dir = dir.join(name);
    let master_key = MasterKey::from_hex(&"cd".repeat(32)).unwrap();
    let mut settings =
        Settings::for_tests(&data_dir, database_url, EDGE_SECRET, master_key.clone());
    settings.max_upload_bytes = 1 << 20;
    // Ingest is measured alone: the pipeline starts once every event is stored.
    settings.pipeline.enabled = false;
    let mut pipeline = settings.pipeline.clone();
    let app = Application::build(settings).await.unwrap();
    let base = format!("http://{}", app.local_addr());
    let store = app.store();
    tokio::spawn(app.run());
    let created = origin::admin::run(
        store.as_ref(),
        AdminCommand::CreateTenant {
            name: "Bench".into(),
            tokens: events as i64,
        },
    )
    .await
    .unwrap();
    let tenant = created["tenant_id"].as_str().unwrap().to_owned();
    let key = created["api_key"].as_str().unwrap().to_owned();
    let product_id = seed_product(&base, &key, events).await;
    println!("\n[{name}] product {product_id} with {events} codes");

    let bodies: Arc<Vec<String>> = Arc::new(
        (0..events)
            .map(|n| {
                json!({
                    "edge_event_id": format!("evt_bench_{n}"), "tenant_id": tenant, "platform": "woocommerce",
                    "received_at_ms": 1_764_000_000_000u64, "headers": {}, "body": order_body(n),
                })
                .to_string()
            })
            .collect(),
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, base, bodies, next) =
                (client.clone(), base.clone(), bodies.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(n) else { break };
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_secs();
                    let signature = shared::forward::sign_forwarded_request(
                        EDGE_SECRET.as_bytes(),
                        now,
                        "POST",
                        INGEST_PATH,
                        body.as_bytes(),
                    );
                    let sent = Instant::now();
                    let response = client
                        .post(format!("{base}{INGEST_PATH}"))
                        .header(shared::forward::SIGNATURE_HEADER, signature)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                        .unwrap();
                    assert!(
                        response.status().is_success(),
                        "{}",
                        response.text().await.unwrap()
                    );
                    latencies.push(sent.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(events);
    for worker in workers {
        latencies.extend(worker.await.unwrap());
    }
    let ingest_secs = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "[{name}] ingest: {events} events in {ingest_secs:.2} s = {:.0} events/s, p50 {:.1} ms, p99 {:.1} ms",
        events as f64 / ingest_secs,
        pct(0.50).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
    );

    pipeline.enabled = true;
    pipeline.tick = Duration::from_millis(20);
    let runner = Arc::new(
        Pipeline::new(
            store.clone(),
            master_key,
            pipeline.clone(),
            // No platform is called: the events carry whole orders.
            Outbound::new(AllowList::default()),
        )
        .unwrap(),
    );
    let started = Instant::now();
    runner.spawn();
    // Counting delivered orders reads them all: it waits for every email to be in the
    // outbox first, so the count does not compete with the pipeline it measures.
    loop {
        let emails = std::fs::read_dir(&pipeline.outbox_dir).map_or(0, |d| d.count());
        if emails >= events && store.tenant_delivered_count(&tenant).await >= events {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "delivery stalled at {emails} emails"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let deliver_secs = started.elapsed().as_secs_f64();
    let emails = std::fs::read_dir(&pipeline.outbox_dir).unwrap().count();
    let balance = store.get_tenant(&tenant).await.unwrap().unwrap().tokens;
    println!(
        "[{name}] delivery: {events} orders in {deliver_secs:.2} s = {:.0} orders/s ({emails} emails in the outbox, {balance} tokens left)",
        events as f64 / deliver_secs
    );
}

async fn seed_product(base: &str, key: &str, codes: usize) -> String {
    let client = reqwest::Client::new();
    let product: Value = send_signed(
        client
            .post(format!("{base}/api/v1/products"))
            .bearer_auth(key)
            .json(
                &json!({"sku": "BENCH", "name": "Bench licence", "type": "CODE",
                          "mappings": {"woocommerce_product_id": 501}}),
            ),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let id = product["data"]["id"].as_str().unwrap().to_owned();
    for chunk in (0..codes).collect::<Vec<_>>().chunks(5_000) {
        let batch: Vec<String> = chunk.iter().map(|n| format!("BENCH-{n:08}")).collect();
        let answer = send_signed(
            client
                .post(format!("{base}/api/v1/products/{id}/codes"))
                .bearer_auth(key)
                .json(&batch),
        )
        .await
        .unwrap();
        assert!(
            answer.status().is_success(),
            "{}",
            answer.text().await.unwrap()
        );
    }
    id
}

/// How many of the tenant's orders are delivered, read through the store's order list.
trait DeliveredCount {
    async fn tenant_delivered_count(&self, tenant: &str) -> usize;
}

impl DeliveredCount for Arc<dyn Store> {
    async fn tenant_delivered_count(&self, tenant: &str) -> usize {
        let mut count = 0;
        let mut filter = origin::store::OrderFilter {
            status: Some("delivered".into()),
            page: origin::store::PageQuery {
                after: None,
                fetch: 1000,
            },
            ..Default::default()
        };
        loop {
            let page = self.list_orders(tenant, &filter).await.unwrap();
            count += page.len();
            match page.last() {
                Some(last) if page.len() == 1000 => filter.page.after = Some(last.id.clone()),
                _ => return count,
            }
        }
    }
}
