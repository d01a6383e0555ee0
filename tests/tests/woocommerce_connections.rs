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

/// A small order body, distinct per `id`.
fn order(id: u32) -> Vec<u8> {
    format!(
        r#"{{"id":{id},"status":"processing","date_modified_gmt":"2025-03-01T11:00:0{}"}}"#,
        id % 10
    )
    .into_bytes()
}

/// Delivers order `id` to `path` as the store at `store` sends it, signed with `secret`.
async fn deliver(
    system: &EdgeSystem,
    path: &str,
    store: &str,
    secret: &str,
    id: u32,
) -> reqwest::Response {
    let body = order(id);
    let signature = woocommerce_signature(secret.as_bytes(), &body);
    system
        .send_woocommerce_from(path, &format!("{store}/"), &body, &signature)
        .await
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
    let shared = format!("/webhooks/woocommerce/{tenant_id}");
    let (own_a, own_b) = (format!("{shared}/{a}"), format!("{shared}/{b}"));
    let status = |response: reqwest::Response| response.status().as_u16();

    // Each store on its own URL, and on the shared URL by its source: forwarded as its own.
    let on_own = accepted_event_id(deliver(&system, &own_b, STORE_B, SECRET_B, 1).await).await;
    let by_source = accepted_event_id(deliver(&system, &shared, STORE_A, SECRET_A, 2).await).await;
    // Store A's secret does not verify at store B's URL, nor on the shared URL as store B.
    assert_eq!(
        status(deliver(&system, &own_b, STORE_B, SECRET_A, 3).await),
        401
    );
    let crossed = deliver(&system, &shared, STORE_B, SECRET_A, 3).await;
    assert_eq!(crossed.status(), 401);
    assert_eq!(error_code(crossed).await, "UNAUTHORIZED");

    // Store A deactivated: past the edge's cache time (1 s) its secret verifies nothing on
    // store B's URLs, while store B's connection stays active.
    api.deactivate_connection(&a).await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    for path in [&shared, &own_b] {
        let response = deliver(&system, path, STORE_B, SECRET_A, 4).await;
        assert_eq!(status(response), 401, "{path}");
    }
    let refused = deliver(&system, &own_a, STORE_A, SECRET_A, 4).await;
    assert_eq!(refused.status(), 409);
    assert_eq!(error_code(refused).await, "CONNECTION_INACTIVE");
    let still = accepted_event_id(deliver(&system, &own_b, STORE_B, SECRET_B, 5).await).await;

    // Store B deleted: its URL is gone and its secret verifies nothing.
    api.delete_connection(&b).await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let gone = deliver(&system, &own_b, STORE_B, SECRET_B, 6).await;
    assert_eq!(gone.status(), 404);
    assert_eq!(error_code(gone).await, "NOT_FOUND");
    let gone = deliver(&system, &shared, STORE_B, SECRET_B, 6).await;
    assert_eq!(
        status(gone),
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
            let response = deliver(system, &url, STORE_A, &secret, id).await;
            response.status().as_u16()
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
