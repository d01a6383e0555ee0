//! WooCommerce deliveries bound to one connection at the edge: each connection's own URL, the
//! tenant-wide URL told apart by `X-WC-Webhook-Source`, a deactivated or deleted connection's
//! secret verifying nothing while another connection is active, and a rotated secret verifying
//! beside the new one only during its overlap.

use std::time::Duration;

use e2e::harness::error_code;
use e2e::{EdgeSystem, SystemOptions, accepted_event_id, woocommerce_signature};
use shared::internal::{ForwardedEvent, INGEST_PATH};

const SECRET_A: &str = "wcE2eSecretStoreA7Qm2Lx9Vb4";
const SECRET_B: &str = "wcE2eSecretStoreB3Kd8Pw1Zt6";
const STORE_A: &str = "https://a.example.com";
const STORE_B: &str = "https://b.example.com";

fn order(id: u32) -> Vec<u8> {
    format!(
        r#"{{"id":{id},"status":"processing","date_modified_gmt":"2025-03-01T11:00:0{}"}}"#,
        id % 10
    )
    .into_bytes()
}

fn signed(secret: &str, body: &[u8]) -> String {
    woocommerce_signature(secret.as_bytes(), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_or_deleted_connections_secret_verifies_nothing_while_another_is_active() {
    let system = EdgeSystem::start(SystemOptions {
        observe_origin: true,
        ..SystemOptions::default()
    })
    .await;
    let (tenant, api) = system.tenant("Two Shops");
    let a = api.connect_woocommerce(STORE_A, SECRET_A).await;
    let b = api.connect_woocommerce(STORE_B, SECRET_B).await;
    let tenant_id = tenant.tenant_id.as_str();
    let shared_url = format!("/webhooks/woocommerce/{tenant_id}");
    let url_of = |connection: &str| format!("/webhooks/woocommerce/{tenant_id}/{connection}");

    // Each store on its own URL, and on the shared URL by its source: forwarded as its own.
    let body = order(1);
    let on_own = system
        .send_woocommerce_from(
            &url_of(&b),
            "https://b.example.com/",
            &body,
            &signed(SECRET_B, &body),
        )
        .await;
    let on_own = accepted_event_id(on_own).await;
    let body = order(2);
    let by_source = system
        .send_woocommerce_from(
            &shared_url,
            "https://a.example.com/",
            &body,
            &signed(SECRET_A, &body),
        )
        .await;
    let by_source = accepted_event_id(by_source).await;
    // Store A's secret does not verify at store B's URL, nor on the shared URL as store B.
    let body = order(3);
    let crossed = system
        .send_woocommerce_from(
            &url_of(&b),
            "https://b.example.com/",
            &body,
            &signed(SECRET_A, &body),
        )
        .await;
    assert_eq!(crossed.status(), 401);
    let crossed = system
        .send_woocommerce_from(
            &shared_url,
            "https://b.example.com/",
            &body,
            &signed(SECRET_A, &body),
        )
        .await;
    assert_eq!(crossed.status(), 401);
    assert_eq!(error_code(crossed).await, "UNAUTHORIZED");

    // Store A deactivated: past the edge's cache time (1 s) its secret verifies nothing, on
    // any URL, while store B's connection stays active.
    api.deactivate_connection(&a).await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let body = order(4);
    for (path, source) in [
        (shared_url.as_str(), "https://b.example.com/"),
        (url_of(&b).as_str(), "https://b.example.com/"),
    ] {
        let response = system
            .send_woocommerce_from(path, source, &body, &signed(SECRET_A, &body))
            .await;
        assert_eq!(response.status(), 401, "{path}");
    }
    let refused = system
        .send_woocommerce_from(
            &url_of(&a),
            "https://a.example.com/",
            &body,
            &signed(SECRET_A, &body),
        )
        .await;
    assert_eq!(refused.status(), 409);
    assert_eq!(error_code(refused).await, "CONNECTION_INACTIVE");
    let body = order(5);
    let still = system
        .send_woocommerce_from(
            &url_of(&b),
            "https://b.example.com/",
            &body,
            &signed(SECRET_B, &body),
        )
        .await;
    let still = accepted_event_id(still).await;

    // Store B deleted: its URL is gone and its secret verifies nothing.
    api.delete_connection(&b).await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let body = order(6);
    let gone = system
        .send_woocommerce_from(
            &url_of(&b),
            "https://b.example.com/",
            &body,
            &signed(SECRET_B, &body),
        )
        .await;
    assert_eq!(gone.status(), 404);
    assert_eq!(error_code(gone).await, "NOT_FOUND");
    let gone = system
        .send_woocommerce_from(
            &shared_url,
            "https://b.example.com/",
            &body,
            &signed(SECRET_B, &body),
        )
        .await;
    assert_eq!(
        gone.status(),
        401,
        "only store A is left: its secret alone is tried"
    );

    // What reached the origin: the three accepted deliveries, each naming its connection.
    api.wait_for_events("platform=woocommerce", Duration::from_secs(30), |e| {
        e.len() >= 3
    })
    .await;
    let forwarded: Vec<ForwardedEvent> = system
        .proxy
        .as_ref()
        .unwrap()
        .seen(INGEST_PATH)
        .iter()
        .map(|request| serde_json::from_slice(&request.body).unwrap())
        .collect();
    let connection_of = |edge_id: &str| {
        forwarded
            .iter()
            .find(|e| e.edge_event_id == edge_id)
            .and_then(|e| e.connection_id.clone())
    };
    assert_eq!(connection_of(&on_own), Some(b.clone()));
    assert_eq!(connection_of(&by_source), Some(a.clone()));
    assert_eq!(connection_of(&still), Some(b.clone()));
    assert_eq!(forwarded.len(), 3, "{forwarded:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_verifies_beside_the_new_one_during_the_overlap_only() {
    let system = EdgeSystem::start(SystemOptions {
        origin_env: vec![("WOO_SECRET_OVERLAP_SECS".to_owned(), "5".to_owned())],
        ..SystemOptions::default()
    })
    .await;
    let (tenant, api) = system.tenant("Rotating Shop");
    let connection = api.connect_woocommerce(STORE_A, SECRET_A).await;
    let url = format!("/webhooks/woocommerce/{}/{connection}", tenant.tenant_id);
    let send = |secret: String, id: u32| {
        let (system, url) = (&system, url.clone());
        async move {
            let body = order(id);
            system
                .send_woocommerce_from(
                    &url,
                    "https://a.example.com/",
                    &body,
                    &signed(&secret, &body),
                )
                .await
                .status()
                .as_u16()
        }
    };
    assert_eq!(send(SECRET_A.to_owned(), 1).await, 200);

    let new = api.rotate_secret(&connection).await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(send(new.clone(), 2).await, 200, "the new secret verifies");
    assert_eq!(
        send(SECRET_A.to_owned(), 3).await,
        200,
        "and the old one, during the overlap"
    );

    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        send(SECRET_A.to_owned(), 4).await,
        401,
        "the old one no longer"
    );
    assert_eq!(send(new, 5).await, 200);
}
