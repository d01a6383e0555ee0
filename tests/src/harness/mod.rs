//! Reusable pieces for starting and stopping the system under test.

pub mod api;
pub mod browser;
pub mod connect_pages;
pub mod fake_ebay;
pub mod fake_ebay_fulfillment;
pub mod fake_ebay_oauth;
pub mod fake_ebay_orders;
pub mod fake_ebay_tokens;
pub mod fake_ebay_trading;
pub mod fake_etsy;
pub mod fake_etsy_listings;
pub mod fake_etsy_shipment;
pub mod fake_etsy_tokens;
pub mod fake_smtp;
pub mod fake_woocommerce;
pub mod fake_woocommerce_auth;
pub mod fake_woocommerce_orders;
pub mod fake_woocommerce_products;
pub mod fault_proxy;
pub mod origin;
pub mod outbox;
pub mod process;
pub mod signing;
pub mod signing_edge;
pub mod system;
pub mod wrangler;

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The repository root (where `wrangler.toml` and `node_modules/` live).
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository root")
        .to_path_buf()
}

/// Where cargo builds: `CARGO_TARGET_DIR`, else `target/` in the repository root.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_root().join("target"))
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("the OS hands out a free loopback port")
}

/// Serves `app` on a free loopback port in the current runtime; returns its base URL and the
/// task (abort it to stop serving). Used by the platform fakes and the fault proxy.
pub async fn serve_on_loopback(
    name: &str,
    app: axum::Router,
) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind {name}: {e}"));
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let name = name.to_owned();
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            panic!("{name} stopped serving: {e}");
        }
    });
    (base_url, server)
}

/// The `error.code` of an envelope answer, checking that `data` is null beside it.
pub async fn error_code(response: reqwest::Response) -> String {
    let body: serde_json::Value = response.json().await.expect("an envelope");
    assert_eq!(body["data"], serde_json::Value::Null, "{body}");
    body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A numeric response header (`X-RateLimit-*`, `Retry-After`), if present and a number.
pub fn header_number(response: &reqwest::Response, name: &str) -> Option<u64> {
    response.headers().get(name)?.to_str().ok()?.parse().ok()
}

/// Unix seconds now, as the edge's clock-aligned rate-limit windows count them.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}

/// Asks `check` every 200 ms until it finds something, and returns that; fails the test,
/// naming `what`, when `timeout` passes first.
pub async fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(Instant::now() < deadline, "{what} never happened");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
