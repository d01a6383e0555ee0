//! The hand-off from the edge to the origin survives the origin being down: events are accepted
//! on cached config, delivered once the origin is back, exactly once; an event the origin never
//! stores ends as a dead-letter record there.

use std::time::Duration;

use e2e::{EdgeSystem, SystemOptions, accepted_event_id, events_matching, woocommerce_signature};
use shared::internal::INGEST_PATH;

const SECRET: &str = "wcHandoffSecret3Kp8Vn2Xq7Lz";

fn order(note: &str) -> Vec<u8> {
    format!(r#"{{"id":9001,"status":"processing","customer_note":"{note}"}}"#).into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_sent_while_the_origin_is_down_arrives_once_after_it_restarts() {
    let mut system = EdgeSystem::start(SystemOptions::default()).await;
    let (tenant, api) = system.tenant("Resilient Shop");
    api.connect_woocommerce("https://resilient.example.com", SECRET)
        .await;
    let signed = |body: &[u8]| woocommerce_signature(SECRET.as_bytes(), body);

    // One delivery while the origin is up puts the tenant's config in the edge cache.
    let warm = order("warm-up");
    let response = system
        .send_woocommerce(&tenant.tenant_id, &warm, Some(&signed(&warm)))
        .await;
    accepted_event_id(response).await;
    let events = api
        .wait_for_events("platform=woocommerce", Duration::from_secs(30), |e| {
            !e.is_empty()
        })
        .await;
    assert_eq!(events.len(), 1);

    system.origin.stop();
    let ready = reqwest::get(system.edge.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503);
    let ready: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(ready["data"]["origin"], "down");
    // Past the cache time: the edge must now serve its stale copy.
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    // Verified on the cached config while the origin is down.
    let body = order("sent while the origin is down");
    let response = system
        .send_woocommerce(&tenant.tenant_id, &body, Some(&signed(&body)))
        .await;
    let event_id = accepted_event_id(response).await;

    // Let a couple of forwards fail (1 s, then 5 s backoff), then bring the origin back.
    tokio::time::sleep(Duration::from_secs(3)).await;
    system.origin.start_again().await;
    let ready = reqwest::get(system.edge.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);

    let events = api
        .wait_for_events("platform=woocommerce", Duration::from_secs(90), |e| {
            !events_matching(e, "edge_event_id", &event_id).is_empty()
        })
        .await;
    let delivered = events_matching(&events, "edge_event_id", &event_id);
    assert_eq!(
        delivered.len(),
        1,
        "delivered after the restart: {events:?}"
    );
    // Later retries or redeliveries must not add a second copy.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let events = api.events("platform=woocommerce").await;
    let delivered = events_matching(&events, "edge_event_id", &event_id);
    assert_eq!(delivered.len(), 1, "exactly once: {events:?}");
    assert_eq!(events.len(), 2, "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_the_origin_never_stores_ends_as_a_dead_letter_at_the_origin() {
    let system = EdgeSystem::start(SystemOptions {
        // The production schedule would take 36 minutes; the sequence is what is tested.
        forward_retry_delays: Some("1,1,1,1,1".to_owned()),
        failing_origin_paths: vec![INGEST_PATH],
        ..SystemOptions::default()
    })
    .await;
    let (tenant, api) = system.tenant("Doomed Shop");
    api.connect_woocommerce("https://doomed.example.com", SECRET)
        .await;

    let body = order("always refused by the ingest route");
    let signature = woocommerce_signature(SECRET.as_bytes(), &body);
    let response = system
        .send_woocommerce(&tenant.tenant_id, &body, Some(&signature))
        .await;
    let event_id = accepted_event_id(response).await;

    let dead = api
        .wait_for_events("status=dead", Duration::from_secs(120), |e| {
            !events_matching(e, "edge_event_id", &event_id).is_empty()
        })
        .await;
    let recorded = events_matching(&dead, "edge_event_id", &event_id);
    assert_eq!(recorded.len(), 1, "the dead letter is recorded: {dead:?}");
    // The first delivery and five retries, each refused by the ingest route.
    assert_eq!(recorded[0]["attempts"], 6, "{dead:?}");
    let last_error = recorded[0]["last_error"].as_str().unwrap_or_default();
    assert!(last_error.contains("503"), "{last_error}");
    let ingest_tries = system.proxy.as_ref().unwrap().seen(INGEST_PATH).len();
    assert_eq!(ingest_tries, 6, "the first delivery and five retries");
    let received = api.events("status=received").await;
    assert!(
        events_matching(&received, "edge_event_id", &event_id).is_empty(),
        "{received:?}"
    );
}
