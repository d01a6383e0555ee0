//! Measures the worker under `wrangler dev` in front of the real origin, on loopback:
//!
//! 1. CPU per verification inside workerd, from the `BENCH_ROUTES` routes: one request runs the
//!    verification `n` times; timing `n = 1` against a large `n` from outside gives the cost of
//!    one (workerd's clock does not advance during CPU work, so it cannot time itself).
//! 2. A load run of signed 1 KB WooCommerce deliveries (bounded in count and time): accepted/s
//!    and latency percentiles, then how long until the origin has stored every accepted event.
//! 3. The same load shape against `/healthz` on the same `wrangler dev`, as the ceiling.
//!
//! `cargo run -p e2e --bin edge-bench [-- --requests N --concurrency C --seconds S]`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use e2e::{EbayTestKey, EdgeSystem, OriginApi, SystemOptions, woocommerce_signature};
use serde_json::{Value, json};

const SECRET: &str = "benchWooSecret4Tq9Lm2Zx7Rc";
/// Tenants the load is spread over: the webhook limit (1,200/min) is per tenant.
const TENANTS: usize = 8;

struct Args {
    requests: usize,
    concurrency: usize,
    seconds: u64,
}

fn args() -> Args {
    let mut args = Args {
        requests: 3_000,
        concurrency: 32,
        seconds: 30,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let value = pair.get(1).and_then(|v| v.parse().ok());
        match (pair[0].as_str(), value) {
            ("--requests", Some(v)) => args.requests = v,
            ("--concurrency", Some(v)) => args.concurrency = v,
            ("--seconds", Some(v)) => args.seconds = v as u64,
            _ => panic!("usage: edge-bench [--requests N] [--concurrency C] [--seconds S]"),
        }
    }
    args
}

/// A WooCommerce-like order body of exactly `size` bytes, unique per `id`.
fn order_body(id: usize, size: usize) -> Vec<u8> {
    let head =
        format!(r#"{{"id":{id},"status":"processing","currency":"EUR","total":"73.00","pad":""#);
    let mut body = head.into_bytes();
    body.resize(size - 2, b'x');
    body.extend_from_slice(br#""}"#);
    body
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = args();
    let system = EdgeSystem::start(SystemOptions {
        edge_config_ttl_secs: 30,
        vars: vec![("BENCH_ROUTES".to_owned(), "on".to_owned())],
        ..SystemOptions::default()
    })
    .await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();

    println!("== CPU per verification in workerd (1 KB body) ==");
    cpu_per_verification(&system, &client).await;

    let mut tenants = Vec::new();
    for n in 0..TENANTS {
        let (tenant, api) = system.tenant(&format!("Bench Shop {n}"));
        api.connect_woocommerce(&format!("https://bench{n}.example.com"), SECRET)
            .await;
        tenants.push((tenant.tenant_id, api));
    }
    let bodies: Arc<Vec<(String, Vec<u8>, String)>> = Arc::new(
        (0..args.requests)
            .map(|i| {
                let body = order_body(i, 1024);
                let signature = woocommerce_signature(SECRET.as_bytes(), &body);
                let tenant = tenants[i % TENANTS].0.clone();
                (tenant, body, signature)
            })
            .collect(),
    );
    // Warm the edge config cache of every tenant (and the isolate) before measuring.
    for (tenant_id, _) in &tenants {
        let body = order_body(usize::MAX / 2, 1024);
        let signature = woocommerce_signature(SECRET.as_bytes(), &body);
        let response = system
            .send_woocommerce(tenant_id, &body, Some(&signature))
            .await;
        assert_eq!(response.status(), 200);
    }

    println!("\n== load: signed 1 KB WooCommerce deliveries through wrangler dev to the origin ==");
    let edge = system.edge.base_url.clone();
    let woo = run_load(&client, &args, {
        let bodies = bodies.clone();
        move |client: &reqwest::Client, i: usize| {
            let (tenant_id, body, signature) = &bodies[i];
            let mut request = client
                .post(format!("{edge}/webhooks/woocommerce/{tenant_id}"))
                .header("X-WC-Webhook-Signature", signature.as_str())
                .body(body.clone());
            for (name, value) in e2e::harness::system::WOO_DELIVERY_HEADERS {
                request = request.header(name, value);
            }
            request
        }
    })
    .await;
    woo.print("webhooks");

    let drain_start = Instant::now();
    let expected = woo.accepted + TENANTS; // plus the warm-up deliveries
    let mut stored = 0;
    while drain_start.elapsed() < Duration::from_secs(120) {
        stored = 0;
        for (_, api) in &tenants {
            stored += count_events(api).await;
        }
        if stored >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!(
        "  stored at the origin: {stored} of {expected} accepted; queue drained {:.1} s after the load ended",
        drain_start.elapsed().as_secs_f64()
    );

    println!("\n== load: GET /healthz on the same wrangler dev (the empty-route ceiling) ==");
    let edge = system.edge.base_url.clone();
    let health = run_load(&client, &args, move |client: &reqwest::Client, _| {
        client.get(format!("{edge}/healthz"))
    })
    .await;
    health.print("healthz");
}

async fn count_events(api: &OriginApi) -> usize {
    let mut count = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/events?platform=woocommerce&limit=100&cursor={c}"),
            None => "/api/v1/events?platform=woocommerce&limit=100".to_owned(),
        };
        let (status, page) = api.call(reqwest::Method::GET, &path, None).await;
        assert_eq!(status, 200, "{page}");
        count += page["data"].as_array().map_or(0, Vec::len);
        match page["meta"]["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return count,
        }
    }
}

struct LoadResult {
    accepted: usize,
    other: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl LoadResult {
    fn print(&self, what: &str) {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let pct = |p: f64| {
            sorted
                .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
                .map_or(0.0, |d| d.as_secs_f64() * 1e3)
        };
        println!(
            "  {what}: {} accepted, {} other, in {:.2} s = {:.0}/s; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            self.accepted,
            self.other,
            self.elapsed.as_secs_f64(),
            self.accepted as f64 / self.elapsed.as_secs_f64(),
            pct(0.50),
            pct(0.99),
            pct(1.0),
        );
    }
}

/// Sends up to `args.requests` requests from `args.concurrency` tasks, stopping at `args.seconds`.
async fn run_load<F>(client: &reqwest::Client, args: &Args, make: F) -> LoadResult
where
    F: Fn(&reqwest::Client, usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let (client, make, next) = (client.clone(), make.clone(), next.clone());
        let total = args.requests;
        tasks.push(tokio::spawn(async move {
            let (mut accepted, mut other, mut latencies) = (0, 0, Vec::new());
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= total || Instant::now() > deadline {
                    break;
                }
                let sent = Instant::now();
                match make(&client, i).send().await {
                    Ok(response) if response.status() == 200 => {
                        let _ = response.bytes().await;
                        accepted += 1;
                    }
                    _ => other += 1,
                }
                latencies.push(sent.elapsed());
            }
            (accepted, other, latencies)
        }));
    }
    let mut result = LoadResult {
        accepted: 0,
        other: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for task in tasks {
        let (accepted, other, latencies) = task.await.unwrap();
        result.accepted += accepted;
        result.other += other;
        result.latencies.extend(latencies);
    }
    result.elapsed = start.elapsed();
    result
}

/// Times `n = 1` and a large `n` of each bench route and prints the CPU per verification.
async fn cpu_per_verification(system: &EdgeSystem, client: &reqwest::Client) {
    let body = String::from_utf8(order_body(1, 1024)).unwrap();
    let key = EbayTestKey::generate("6c1b0f3e-bench-4000-8000-000000000001");
    let woo_input = json!({
        "secret": SECRET,
        "signature": woocommerce_signature(SECRET.as_bytes(), body.as_bytes()),
        "body": body,
    });
    let ebay_input = json!({
        "key_response": key.key_response().to_string(),
        "ebay_signature": key.signature_header(body.as_bytes()),
        "body": body,
    });
    for (kind, input, large_n) in [
        ("woocommerce", &woo_input, 20_000u32),
        ("ebay-webcrypto", &ebay_input, 2_000),
        ("ebay-webcrypto-cached", &ebay_input, 2_000),
        ("ebay-p256", &ebay_input, 200),
    ] {
        let time = |n: u32| {
            let mut input: Value = input.clone();
            input["n"] = json!(n);
            let url = system.edge.url(&format!("/bench/{kind}"));
            let client = client.clone();
            async move {
                let started = Instant::now();
                let response = client.post(url).json(&input).send().await.unwrap();
                let elapsed = started.elapsed();
                let status = response.status();
                let answer: Value = response.json().await.unwrap_or(Value::Null);
                assert_eq!(status, 200, "{kind}: {answer}");
                assert_eq!(
                    answer["data"]["passed"],
                    json!(n),
                    "{kind}: every verification passes"
                );
                elapsed
            }
        };
        let mut small = Vec::new();
        for _ in 0..15 {
            small.push(time(1).await);
        }
        let mut large = Vec::new();
        for _ in 0..5 {
            large.push(time(large_n).await);
        }
        small.sort();
        large.sort();
        let (one, many) = (small[small.len() / 2], large[large.len() / 2]);
        let per_op = (many.as_secs_f64() - one.as_secs_f64()) / f64::from(large_n - 1);
        println!(
            "  {kind:21} n=1 {:7.2} ms, n={large_n:<6} {:8.1} ms  =>  {:7.1} us per verification",
            one.as_secs_f64() * 1e3,
            many.as_secs_f64() * 1e3,
            per_op * 1e6
        );
    }
}
