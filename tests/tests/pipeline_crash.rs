//! A crash in the middle of delivery loses nothing and delivers nothing twice: 1,000 paid
//! orders go to the real origin binary, which is killed with SIGKILL while it works through
//! them, then started again on the same data.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use e2e::OriginApi;
use e2e::harness::origin::OriginProcess;
use reqwest::{Client, Method};
use serde_json::{Value, json};
use shared::internal::INGEST_PATH;

const EDGE_SECRET: &str = "crash-test-edge-secret";
const ORDERS: usize = 1_000;
const WOO_BODY: &str = include_str!("../../fixtures/woocommerce/order-created.body");

fn event(tenant: &str, n: usize) -> String {
    let mut order: Value = serde_json::from_str(WOO_BODY).unwrap();
    order["id"] = (50_000 + n).into();
    order["line_items"] = json!([order["line_items"][0].clone()]);
    json!({
        "edge_event_id": format!("evt_crash_{n}"), "tenant_id": tenant, "platform": "woocommerce",
        "received_at_ms": 1_764_000_000_000u64, "headers": {}, "body": order.to_string(),
    })
    .to_string()
}

async fn ingest(client: &Client, origin: &OriginProcess, body: &str) -> bool {
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
    client
        .post(origin.url(INGEST_PATH))
        .header(shared::forward::SIGNATURE_HEADER, signature)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

async fn get(origin: &OriginProcess, key: &str, path: &str) -> Value {
    let (_, body) = OriginApi::new(&origin.base_url, key, EDGE_SECRET)
        .call(Method::GET, path, None)
        .await;
    body
}

/// Ids of the tenant's delivered orders, every page.
async fn delivered(origin: &OriginProcess, key: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = get(
            origin,
            key,
            &format!("/api/v1/orders?status=delivered&limit=100{cursor}"),
        )
        .await;
        ids.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_str().unwrap().to_owned()),
        );
        match page["meta"]["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return ids,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_in_the_middle_of_1000_orders_delivers_each_exactly_once() {
    let mut origin = OriginProcess::start_with_env(
        EDGE_SECRET,
        &[("PIPELINE_LEASE_SECS", "3"), ("PIPELINE_TICK_MS", "50")],
    )
    .await;
    let tenant = origin.create_tenant("Crash test", ORDERS as u64);
    let client = Client::new();
    let api = OriginApi::new(&origin.base_url, &tenant.api_key, EDGE_SECRET);
    let codes: Vec<String> = (0..ORDERS).map(|n| format!("CRASH-{n:05}")).collect();
    api.code_product("CRASH", json!({"woocommerce_product_id": 501}), &codes)
        .await;

    let bodies: Vec<String> = (0..ORDERS).map(|n| event(&tenant.tenant_id, n)).collect();
    let mut stored = vec![false; ORDERS];
    for chunk in (0..ORDERS).collect::<Vec<_>>().chunks(50) {
        let sends = chunk.iter().map(|&n| {
            let (client, origin, body) = (&client, &origin, &bodies[n]);
            async move { (n, ingest(client, origin, body).await) }
        });
        for (n, ok) in futures_util::future::join_all(sends).await {
            stored[n] = ok;
        }
    }
    assert!(
        stored.iter().all(|s| *s),
        "every event stored before the crash"
    );

    // Kill it while it is delivering.
    let deadline = Instant::now() + Duration::from_secs(60);
    let at_kill = loop {
        let done = delivered(&origin, &tenant.api_key).await.len();
        if done >= 20 {
            break done;
        }
        assert!(
            Instant::now() < deadline,
            "nothing was delivered: {}",
            origin.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    origin.kill();
    assert!(
        at_kill < ORDERS,
        "the crash came after everything was done ({at_kill})"
    );

    // The edge keeps redelivering what it may not have handed on; replays are harmless.
    origin.start_again().await;
    for body in bodies.iter().step_by(7) {
        assert!(ingest(&client, &origin, body).await);
    }
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let done = delivered(&origin, &tenant.api_key).await.len();
        if done == ORDERS {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{done} of {ORDERS} delivered after the restart: {}",
            origin.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    assert_eq!(api.token_balance().await, 0, "exactly one token per order");
    let mut seen_codes = HashSet::new();
    for id in delivered(&origin, &tenant.api_key).await {
        let order = get(&origin, &tenant.api_key, &format!("/api/v1/orders/{id}")).await;
        let actions: Vec<&str> = order["data"]["audit_trail"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["action"].as_str().unwrap())
            .collect();
        let count = |action: &str| actions.iter().filter(|a| **a == action).count();
        assert_eq!(count("allocated"), 1, "{actions:?}");
        assert_eq!(count("charged"), 1, "{actions:?}");
        assert!(count("sent") >= 1, "{actions:?}");
        let code = order["data"]["items"][0]["license_code"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(seen_codes.insert(code), "a code was delivered twice");
    }
    let outbox = origin.data_dir().join("outbox");
    let emails = std::fs::read_dir(&outbox)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "eml")
        })
        .count();
    assert_eq!(emails, ORDERS, "one email per order");
}
