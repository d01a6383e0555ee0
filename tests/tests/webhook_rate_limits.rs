//! Webhook routes have their own, higher limit, counted per tenant (1,200 per minute) and only
//! for deliveries that verify. What proves nothing (a bad signature, an eBay challenge) is
//! counted per client address in a bucket of its own, so junk cannot starve a shop.

use std::time::Duration;

use e2e::harness::{error_code, header_number, unix_now};
use e2e::{EdgeSystem, SystemOptions, WOO_DELIVERY_HEADERS, woocommerce_signature};

const LIMIT: usize = 1_200;
/// Unverified requests one client address may send per minute.
const UNVERIFIED_LIMIT: usize = 60;
const SECRET: &str = "wcRateLimitSecret4Hq8Zt2Nv6";

/// Waits, if needed, so that the next `seconds` fall into one clock minute.
async fn start_early_in_a_minute(seconds: u64) {
    let into_minute = unix_now() % 60;
    if into_minute > 60 - seconds {
        tokio::time::sleep(Duration::from_secs(61 - into_minute)).await;
    }
}

/// POSTs `count` WooCommerce deliveries to `url` from 16 concurrent clients; their statuses.
/// Each body is distinct; `secret` None sends them with a signature that does not verify.
async fn deliver_many(url: &str, count: usize, secret: Option<&str>) -> Vec<u16> {
    let client = reqwest::Client::new();
    let mut workers = Vec::new();
    for worker in 0..16 {
        let (client, url) = (client.clone(), url.to_owned());
        let secret = secret.map(str::to_owned);
        workers.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for n in (worker..count).step_by(16) {
                let body = format!(r#"{{"webhook_id":7,"n":{n}}}"#).into_bytes();
                let key = secret.as_deref().unwrap_or("not-the-secret");
                let mut request = client.post(&url).header(
                    "X-WC-Webhook-Signature",
                    woocommerce_signature(key.as_bytes(), &body),
                );
                for (name, value) in WOO_DELIVERY_HEADERS {
                    request = request.header(name, value);
                }
                statuses.push(request.body(body).send().await.unwrap().status().as_u16());
            }
            statuses
        }));
    }
    let mut statuses = Vec::new();
    for worker in workers {
        statuses.extend(worker.await.unwrap());
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_limit_is_per_tenant_and_higher_than_the_api_limit() {
    let system = EdgeSystem::start(SystemOptions {
        edge_config_ttl_secs: 60,
        ..SystemOptions::default()
    })
    .await;
    let (busy, busy_api) = system.tenant("Busy Seller");
    let (quiet, quiet_api) = system.tenant("Quiet Seller");
    busy_api
        .connect_woocommerce("https://busy.example.com", SECRET)
        .await;
    busy_api
        .connect_ebay(
            "busy-seller-verification-token-0123456789",
            "https://edge.example.com/webhooks/ebay/busy",
        )
        .await;
    quiet_api
        .connect_woocommerce("https://quiet.example.com", SECRET)
        .await;
    let deliveries = |tenant: &str| system.edge.url(&format!("/webhooks/woocommerce/{tenant}"));

    start_early_in_a_minute(45).await;
    let statuses = deliver_many(&deliveries(&busy.tenant_id), LIMIT, Some(SECRET)).await;
    assert_eq!(statuses.len(), LIMIT);
    assert!(
        statuses.iter().all(|s| *s == 200),
        "a busy shop's burst gets through: {statuses:?}"
    );

    let client = reqwest::Client::new();
    let body = br#"{"webhook_id":7,"n":"over"}"#;
    let mut over = client.post(deliveries(&busy.tenant_id)).header(
        "X-WC-Webhook-Signature",
        woocommerce_signature(SECRET.as_bytes(), body),
    );
    for (name, value) in WOO_DELIVERY_HEADERS {
        over = over.header(name, value);
    }
    let refused = over.body(body.to_vec()).send().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(
        header_number(&refused, "x-ratelimit-limit"),
        Some(LIMIT as u64)
    );
    assert_eq!(header_number(&refused, "x-ratelimit-remaining"), Some(0));
    assert!(header_number(&refused, "retry-after").is_some_and(|s| (1..=60).contains(&s)));
    assert_eq!(error_code(refused).await, "RATE_LIMITED");

    // Another tenant's deliveries are counted on their own...
    let other = deliver_many(&deliveries(&quiet.tenant_id), 1, Some(SECRET)).await;
    assert_eq!(other, [200]);
    // ...and eBay's challenge, which proves nothing, is not counted in the tenant's budget.
    let challenge = client
        .get(system.edge.url(&format!(
            "/webhooks/ebay/{}?challenge_code=c",
            busy.tenant_id
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(challenge.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_junk_does_not_spend_the_tenant_webhook_budget() {
    let system = EdgeSystem::start(SystemOptions {
        edge_config_ttl_secs: 60,
        ..SystemOptions::default()
    })
    .await;
    let (shop, api) = system.tenant("Targeted Shop");
    api.connect_woocommerce("https://targeted.example.com", SECRET)
        .await;
    let url = system
        .edge
        .url(&format!("/webhooks/woocommerce/{}", shop.tenant_id));

    // More junk than the whole tenant budget, from one address, inside one minute.
    start_early_in_a_minute(45).await;
    let statuses = deliver_many(&url, LIMIT + 1, None).await;
    let unauthorized = statuses.iter().filter(|s| **s == 401).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(
        (unauthorized, limited),
        (UNVERIFIED_LIMIT, LIMIT + 1 - UNVERIFIED_LIMIT),
        "the address is refused once it has sent {UNVERIFIED_LIMIT} unverified deliveries"
    );

    // The shop's real deliveries still get through, from that address too.
    let genuine = deliver_many(&url, 3, Some(SECRET)).await;
    assert_eq!(genuine, [200, 200, 200]);
}
