//! Webhook routes have their own, higher limit, counted per tenant: 1,200 per minute.

use std::time::Duration;

use e2e::harness::{error_code, header_number, unix_now};
use e2e::{EdgeSystem, SystemOptions};

const LIMIT: usize = 1_200;

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
        .connect_ebay(
            "busy-seller-verification-token-0123456789",
            "https://edge.example.com/webhooks/ebay/busy",
        )
        .await;
    quiet_api
        .connect_ebay(
            "quiet-seller-verification-token-0123456789",
            "https://edge.example.com/webhooks/ebay/quiet",
        )
        .await;
    let challenge = |tenant: &str| {
        system
            .edge
            .url(&format!("/webhooks/ebay/{tenant}?challenge_code=c"))
    };

    // The limit is per clock minute: start early in one so every call lands in it.
    let into_minute = unix_now() % 60;
    if into_minute > 15 {
        tokio::time::sleep(Duration::from_secs(61 - into_minute)).await;
    }

    let client = reqwest::Client::new();
    let url = challenge(&busy.tenant_id);
    let mut workers = Vec::new();
    for worker in 0..16 {
        let (client, url) = (client.clone(), url.clone());
        workers.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for _ in (worker..LIMIT).step_by(16) {
                statuses.push(client.get(&url).send().await.unwrap().status().as_u16());
            }
            statuses
        }));
    }
    let mut statuses = Vec::new();
    for worker in workers {
        statuses.extend(worker.await.unwrap());
    }
    assert_eq!(statuses.len(), LIMIT);
    assert!(
        statuses.iter().all(|s| *s == 200),
        "more than 60 per minute pass: {statuses:?}"
    );

    let refused = client.get(&url).send().await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(
        header_number(&refused, "x-ratelimit-limit"),
        Some(LIMIT as u64)
    );
    assert_eq!(header_number(&refused, "x-ratelimit-remaining"), Some(0));
    assert!(header_number(&refused, "retry-after").is_some_and(|s| (1..=60).contains(&s)));
    assert_eq!(error_code(refused).await, "RATE_LIMITED");

    // Another tenant's deliveries are counted on their own.
    let other = client
        .get(challenge(&quiet.tenant_id))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
}
