//! The worker starts under `wrangler dev` and answers from Wasm.

use e2e::{WranglerDev, WranglerOptions};
use serde_json::Value;

#[tokio::test]
async fn worker_answers_healthz_and_unknown_routes_in_the_envelope() {
    let edge = WranglerDev::start(WranglerOptions::default()).await;
    let client = reqwest::Client::new();

    let health = client.get(edge.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let body: Value = health.json().await.unwrap();
    assert_eq!(body["data"]["status"], "ok");
    assert_eq!(body["error"], Value::Null);

    let missing = client.get(edge.url("/no/such/route")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["data"], Value::Null);
    assert_eq!(body["error"]["code"], "NOT_FOUND");
}
