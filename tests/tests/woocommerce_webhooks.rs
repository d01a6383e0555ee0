//! WooCommerce deliveries through the worker to the real origin: only verified deliveries of an
//! active connection are queued; the ping, forgeries and oversized bodies never reach the origin.

use std::time::Duration;

use e2e::harness::error_code;
use e2e::{EdgeSystem, SystemOptions, accepted_event_id, events_matching, woocommerce_signature};
use shared::internal::{ForwardedEvent, INGEST_PATH};

const SECRET: &str = "wcE2eSecret7Qm2Lx9Vb4Nc8Zr1";
const FIXTURE_BODY: &[u8] = include_bytes!("../../fixtures/woocommerce/order-created.body");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn woocommerce_deliveries_are_verified_before_they_are_queued() {
    let system = EdgeSystem::start(SystemOptions {
        observe_origin: true,
        ..SystemOptions::default()
    })
    .await;
    let (tenant, api) = system.tenant("Woo Shop");
    api.connect_woocommerce("https://shop.example.com", SECRET)
        .await;
    let tenant_id = tenant.tenant_id.as_str();

    // The creation ping: unsigned form body, answered exactly 200, nothing queued.
    let ping = reqwest::Client::new()
        .post(
            system
                .edge
                .url(&format!("/webhooks/woocommerce/{tenant_id}")),
        )
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("webhook_id=42")
        .send()
        .await
        .unwrap();
    assert_eq!(ping.status(), 200);

    // Forged: signed with another secret.
    let forged = system
        .send_woocommerce(
            tenant_id,
            FIXTURE_BODY,
            Some(&woocommerce_signature(b"not-the-secret", FIXTURE_BODY)),
        )
        .await;
    assert_eq!(forged.status(), 401);
    assert_eq!(error_code(forged).await, "UNAUTHORIZED");

    // Missing signature on a JSON body.
    let unsigned = system.send_woocommerce(tenant_id, FIXTURE_BODY, None).await;
    assert_eq!(unsigned.status(), 401);
    assert_eq!(error_code(unsigned).await, "UNAUTHORIZED");

    // Oversized: validly signed but over 1 MB, refused before verification.
    let mut big = br#"{"id":1,"pad":""#.to_vec();
    big.resize(1024 * 1024 + 16, b'x');
    big.extend_from_slice(br#""}"#);
    let oversized = system
        .send_woocommerce(
            tenant_id,
            &big,
            Some(&woocommerce_signature(SECRET.as_bytes(), &big)),
        )
        .await;
    assert_eq!(oversized.status(), 413);
    assert_eq!(error_code(oversized).await, "PAYLOAD_TOO_LARGE");

    // Valid: the recorded delivery bytes, signed with the tenant's secret.
    let valid = system
        .send_woocommerce(
            tenant_id,
            FIXTURE_BODY,
            Some(&woocommerce_signature(SECRET.as_bytes(), FIXTURE_BODY)),
        )
        .await;
    let event_id = accepted_event_id(valid).await;

    let events = api
        .wait_for_events("platform=woocommerce", Duration::from_secs(30), |events| {
            !events.is_empty()
        })
        .await;
    assert_eq!(
        events.len(),
        1,
        "exactly the valid delivery reaches the origin: {events:?}"
    );
    assert_eq!(
        events_matching(&events, "edge_event_id", &event_id).len(),
        1,
        "{events:?}"
    );

    // What the worker handed the origin: the exact bytes, the platform headers, signed.
    let forwarded = system.proxy.as_ref().unwrap().seen(INGEST_PATH);
    assert_eq!(forwarded.len(), 1, "one forward, acknowledged at once");
    assert!(forwarded[0].header("x-ys-edge-signature").is_some());
    let event: ForwardedEvent = serde_json::from_slice(&forwarded[0].body).unwrap();
    assert_eq!(event.edge_event_id, event_id);
    assert_eq!(event.tenant_id, tenant.tenant_id);
    assert_eq!(event.body.as_bytes(), FIXTURE_BODY);
    assert_eq!(event.headers["x-wc-webhook-topic"], "order.created");
    assert_eq!(
        event.headers["x-wc-webhook-delivery-id"],
        "b1946ac92492d2347c6235b4d2611184"
    );
    assert_eq!(
        event.headers["x-wc-webhook-source"],
        "https://shop.example.com/"
    );
    assert_eq!(event.headers.len(), 6, "{:?}", event.headers);

    // A tenant the origin does not know.
    let unknown = system
        .send_woocommerce(
            "no-such-tenant",
            FIXTURE_BODY,
            Some(&woocommerce_signature(SECRET.as_bytes(), FIXTURE_BODY)),
        )
        .await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(error_code(unknown).await, "NOT_FOUND");

    // Nothing else trickles in afterwards.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(api.events("platform=woocommerce").await.len(), 1);

    // A delivery too large for one queue message (128 KB) but within the webhook limit waits in
    // KV and still reaches the origin byte for byte.
    let mut large = br#"{"id":5150,"status":"processing","note":""#.to_vec();
    large.resize(300 * 1024, b'n');
    large.extend_from_slice(br#""}"#);
    let response = system
        .send_woocommerce(
            tenant_id,
            &large,
            Some(&woocommerce_signature(SECRET.as_bytes(), &large)),
        )
        .await;
    let large_id = accepted_event_id(response).await;
    let events = api
        .wait_for_events("platform=woocommerce", Duration::from_secs(30), |events| {
            events.len() >= 2
        })
        .await;
    assert_eq!(
        events_matching(&events, "edge_event_id", &large_id).len(),
        1,
        "{events:?}"
    );
    let forwarded = system.proxy.as_ref().unwrap().seen(INGEST_PATH);
    let event: ForwardedEvent = serde_json::from_slice(&forwarded.last().unwrap().body).unwrap();
    assert_eq!(event.edge_event_id, large_id);
    assert_eq!(event.body.as_bytes(), &large[..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_deactivated_at_the_origin_is_refused_with_409_within_the_cache_time() {
    let system = EdgeSystem::start(SystemOptions::default()).await;
    let (tenant, api) = system.tenant("Closed Shop");
    let connection = api
        .connect_woocommerce("https://closed.example.com", SECRET)
        .await;
    let signed = |body: &[u8]| woocommerce_signature(SECRET.as_bytes(), body);

    // Accepted while active: the edge now holds the tenant's config in its cache.
    let before = br#"{"id":4241,"status":"processing"}"#;
    let response = system
        .send_woocommerce(&tenant.tenant_id, before, Some(&signed(before)))
        .await;
    let accepted = accepted_event_id(response).await;
    let stored = api
        .wait_for_events("platform=woocommerce", Duration::from_secs(30), |e| {
            !e.is_empty()
        })
        .await;
    assert_eq!(stored.len(), 1, "{stored:?}");

    // Deactivated at the origin; past the edge's cache time (1 s here) the change is in force.
    api.deactivate_connection(&connection).await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let body = br#"{"id":4242,"status":"processing"}"#;
    let response = system
        .send_woocommerce(&tenant.tenant_id, body, Some(&signed(body)))
        .await;
    assert_eq!(response.status(), 409);
    assert_eq!(error_code(response).await, "CONNECTION_INACTIVE");

    // A forgery is still a 401: the connection's state is not revealed to unsigned callers.
    let forged = system
        .send_woocommerce(
            &tenant.tenant_id,
            body,
            Some(&woocommerce_signature(b"guess", body)),
        )
        .await;
    assert_eq!(forged.status(), 401);

    tokio::time::sleep(Duration::from_secs(2)).await;
    let events = api.events("platform=woocommerce").await;
    assert_eq!(
        events.len(),
        1,
        "only the delivery made while active: {events:?}"
    );
    assert_eq!(
        events_matching(&events, "edge_event_id", &accepted).len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_tenant_is_asked_about_once_and_never_written_to_kv() {
    let system = EdgeSystem::start(SystemOptions {
        observe_origin: true,
        edge_config_ttl_secs: 60,
        ..SystemOptions::default()
    })
    .await;
    let (known, api) = system.tenant("Known shop");
    api.connect_woocommerce("https://known.example.com", SECRET)
        .await;
    let unknown = "ten_made_up_0123456789abcdef";
    let signature = woocommerce_signature(SECRET.as_bytes(), FIXTURE_BODY);

    for _ in 0..5 {
        let answer = system
            .send_woocommerce(unknown, FIXTURE_BODY, Some(&signature))
            .await;
        assert_eq!(answer.status(), 404);
        assert_eq!(error_code(answer).await, "NOT_FOUND");
    }
    let verified = system
        .send_woocommerce(&known.tenant_id, FIXTURE_BODY, Some(&signature))
        .await;
    assert_eq!(verified.status(), 200);

    let proxy = system.proxy.as_ref().unwrap();
    let asked = proxy
        .seen(&shared::internal::edge_config_path(unknown))
        .len();
    assert_eq!(
        asked, 1,
        "the origin is asked once while the answer is cached"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        system
            .edge
            .kv_contains(&format!("edge-config:v2:{}", known.tenant_id)),
        "a known tenant's config is cached in KV"
    );
    assert!(
        !system.edge.kv_contains(unknown),
        "a made-up tenant id is not written to KV"
    );
}
