//! Outbound calls on a tenant's behalf: a WooCommerce store URL can send the origin neither to
//! its own machine, its private networks or the metadata service (as a literal or through a
//! host name, checked when the connection is made and again at connect time), nor steer the
//! path; answers are bounded and never quoted back to the tenant. Local fakes are reached only
//! through the operator's allow-list.

use crate::common;

use std::sync::{Arc, Mutex};

use crate::pipeline_platforms::{EBAY_ORDER, ebay_app, ingest, wait_until};
use axum::body::Body;
use axum::http::{StatusCode as AxumStatus, Uri};
use axum::response::{IntoResponse, Response};
use common::{Backend, Tenant, TestApp, assert_error};
use e2e::harness::fake_ebay::FakeEbay;
use e2e::harness::fake_woocommerce::{self, FakeWooCommerce};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Something in the remote answer a leak would carry along.
const CANARY: &str = "ami-secret-7f3c9e";
const HUGE: usize = 5 * 1024 * 1024;

#[derive(Clone, Copy)]
enum Answer {
    Status(u16),
    /// A 200 with more than the cap, with a content-length or chunked.
    Huge {
        chunked: bool,
    },
}

/// What a hostile tenant points `store_url` at: records every path asked for, answers every
/// call with `answer` (error bodies carry the canary).
struct HostileServer {
    port: u16,
    paths: Arc<Mutex<Vec<String>>>,
    server: tokio::task::JoinHandle<()>,
}

impl HostileServer {
    async fn start(answer: Answer) -> Self {
        let paths = Arc::new(Mutex::new(Vec::new()));
        let seen = paths.clone();
        let app = axum::Router::new().fallback(move |uri: Uri| {
            seen.lock().unwrap().push(uri.to_string());
            async move { answer_with(answer) }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        HostileServer {
            port,
            paths,
            server,
        }
    }

    fn paths(&self) -> Vec<String> {
        self.paths.lock().unwrap().clone()
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn answer_with(answer: Answer) -> Response {
    match answer {
        Answer::Status(status) => (
            AxumStatus::from_u16(status).unwrap(),
            format!(r#"{{"code":"{CANARY}","message":"instance credentials {CANARY}"}}"#),
        )
            .into_response(),
        Answer::Huge { chunked: false } => vec![b' '; HUGE].into_response(),
        Answer::Huge { chunked: true } => {
            let chunks = (0..HUGE / 65_536 + 1)
                .map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b' '; 65_536])));
            Body::from_stream(futures_util::stream::iter(chunks)).into_response()
        }
    }
}

/// An app whose platform calls reach no private address: the operator's allow-list is empty.
async fn strict_app(backend: Backend) -> TestApp {
    TestApp::spawn_configured(backend, 64 * 1024, |p| {
        p.enabled = false;
        p.outbound_allow_hosts.clear();
    })
    .await
}

async fn connect_store(app: &TestApp, tenant: &Tenant, store_url: &str) -> (StatusCode, Value) {
    app.post(
        "/api/v1/connections",
        &tenant.key,
        json!({
            "platform": "woocommerce", "store_url": store_url,
            "consumer_key": fake_woocommerce::CONSUMER_KEY,
            "consumer_secret": fake_woocommerce::CONSUMER_SECRET,
        }),
    )
    .await
}

async fn connection_count(app: &TestApp, tenant: &Tenant) -> usize {
    let (status, body) = app.get("/api/v1/connections", &tenant.key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].as_array().unwrap().len()
}

/// The connection made, its `last_error`, and the whole of what the API answered about it.
async fn connect_and_read_error(app: &TestApp, tenant: &Tenant, store_url: &str) -> String {
    let (status, created) = connect_store(app, tenant, store_url).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["data"]["id"].as_str().unwrap();
    let (_, fetched) = app
        .get(&format!("/api/v1/connections/{id}"), &tenant.key)
        .await;
    let (_, listed) = app.get("/api/v1/connections", &tenant.key).await;
    for answer in [&created, &fetched, &listed] {
        assert!(!answer.to_string().contains(CANARY), "{answer}");
    }
    fetched["data"]["last_error"]
        .as_str()
        .unwrap_or_else(|| panic!("a last_error: {fetched}"))
        .to_owned()
}

async fn a_store_url_on_a_private_network_is_refused(backend: Backend) {
    let app = strict_app(backend).await;
    let tenant = app.tenant(0).await;
    let listening = HostileServer::start(Answer::Status(200)).await;
    for (store_url, reason) in [
        (format!("http://127.0.0.1:{}", listening.port), "loopback"),
        ("http://10.0.0.1".to_owned(), "private network"),
        ("http://192.168.1.20/shop".to_owned(), "private network"),
        ("http://169.254.169.254".to_owned(), "link-local"),
        ("http://100.64.0.1".to_owned(), "CGNAT"),
        (format!("http://[::1]:{}", listening.port), "loopback"),
        (
            format!("http://[::ffff:127.0.0.1]:{}", listening.port),
            "loopback",
        ),
        ("http://[fd00::1]".to_owned(), "unique-local"),
        (format!("http://2130706433:{}", listening.port), "loopback"),
    ] {
        let (status, body) = connect_store(&app, &tenant, &store_url).await;
        let error = assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
        assert_eq!(error["field"], "store_url", "{store_url}: {body}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(reason), "{store_url}: {message}");
    }
    assert_eq!(connection_count(&app, &tenant).await, 0, "nothing stored");
    assert!(listening.paths().is_empty(), "{:?}", listening.paths());
}

async fn a_store_url_that_could_steer_the_call_is_refused(backend: Backend) {
    let app = strict_app(backend).await;
    let tenant = app.tenant(0).await;
    for (store_url, says) in [
        ("https://admin:pw@shop.example.com", "user name or password"),
        ("https://shop.example.com/?x=", "query"),
        ("https://shop.example.com/wp-json/wc/v3/orders?", "query"),
        ("https://shop.example.com/#frag", "fragment"),
        ("ftp://shop.example.com", "http(s)"),
        ("shop.example.com", "not a URL"),
    ] {
        let (status, body) = connect_store(&app, &tenant, store_url).await;
        let error = assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
        assert_eq!(error["field"], "store_url", "{store_url}: {body}");
        assert!(
            error["message"].as_str().unwrap().contains(says),
            "{store_url}: {body}"
        );
    }
    assert_eq!(connection_count(&app, &tenant).await, 0, "nothing stored");
}

async fn a_store_host_resolving_to_loopback_is_refused_at_connect_time(backend: Backend) {
    let app = strict_app(backend).await;
    let tenant = app.tenant(0).await;
    let store = HostileServer::start(Answer::Status(200)).await;
    // A name passes the URL check: only its addresses, when the call connects, can tell.
    let error =
        connect_and_read_error(&app, &tenant, &format!("http://localhost:{}", store.port)).await;
    assert_eq!(
        error,
        "webhook registration for order.created failed: refused to call a loopback address"
    );
    assert!(store.paths().is_empty(), "{:?}", store.paths());
}

async fn an_answer_larger_than_the_cap_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(0).await;
    for chunked in [false, true] {
        let store = HostileServer::start(Answer::Huge { chunked }).await;
        let error =
            connect_and_read_error(&app, &tenant, &format!("http://127.0.0.1:{}", store.port))
                .await;
        assert_eq!(
            error,
            "webhook registration for order.created failed: the platform's answer is larger than 4194304 bytes",
            "chunked: {chunked}"
        );
    }
}

async fn a_stores_answer_never_reaches_the_tenant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(0).await;
    for (status, says) in [
        (400, "the platform refused the request (HTTP 400)"),
        (403, "the platform refused our credentials (HTTP 403)"),
        (404, "the platform has no such resource (HTTP 404)"),
        (500, "the platform is unavailable (HTTP 500)"),
    ] {
        let store = HostileServer::start(Answer::Status(status)).await;
        let error =
            connect_and_read_error(&app, &tenant, &format!("http://127.0.0.1:{}", store.port))
                .await;
        assert_eq!(
            error,
            format!("webhook registration for order.created failed: {says}")
        );
    }
    // The real store's refusal, too, is named by its status only.
    let woo = FakeWooCommerce::start().await;
    let (status, created) = app
        .post(
            "/api/v1/connections",
            &tenant.key,
            json!({"platform": "woocommerce", "store_url": woo.base_url,
                   "consumer_key": "ck_wrong", "consumer_secret": "cs_wrong"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created["data"]["last_error"],
        "webhook registration for order.created failed: the platform refused our credentials (HTTP 401)"
    );
    assert!(!created.to_string().contains("Sorry"), "{created}");
}

async fn the_allow_list_admits_only_the_addresses_it_names(backend: Backend) {
    // The test apps allow 127.0.0.1, where the fakes listen: they are reached as before.
    let app = TestApp::spawn(backend).await;
    let tenant = app.tenant(0).await;
    let woo = FakeWooCommerce::start().await;
    let (status, created) = connect_store(&app, &tenant, &woo.base_url).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(created["data"]["last_error"].is_null(), "{created}");
    assert_eq!(woo.webhooks().len(), 2);
    // Its neighbour on loopback is not on the list.
    let port = woo.base_url.rsplit(':').next().unwrap();
    let (status, body) = connect_store(&app, &tenant, &format!("http://127.0.0.2:{port}")).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(connection_count(&app, &tenant).await, 1);
}

async fn an_ebay_answer_never_reaches_the_events_api(backend: Backend) {
    let ebay = HostileServer::start(Answer::Status(500)).await;
    // eBay's Identity API answers (the seller is connected); its Fulfillment API fails.
    let identity = FakeEbay::start().await;
    let (app, tenant) = ebay_app(
        backend,
        format!("http://127.0.0.1:{}", ebay.port),
        identity.base_url.clone(),
    )
    .await;
    ingest(&app, &tenant, "ebay", "evt_1", EBAY_ORDER).await;
    wait_until("the failed getOrder recorded", 20, || async {
        let (_, events) = app.get("/api/v1/events", &tenant.key).await;
        match events["data"][0]["last_error"].is_string() {
            true => Ok(()),
            false => Err(events.to_string()),
        }
    })
    .await;
    let (_, events) = app.get("/api/v1/events", &tenant.key).await;
    assert_eq!(
        events["data"][0]["last_error"],
        "getOrder: the platform is unavailable (HTTP 500)"
    );
    assert!(!events.to_string().contains(CANARY), "{events}");
    let paths = ebay.paths();
    assert!(
        !paths.is_empty()
            && paths
                .iter()
                .all(|p| p == "/sell/fulfillment/v1/order/13-12345-67890"),
        "getOrder's path, built by segments: {paths:?}"
    );
}

on_both_backends!(
    a_store_url_on_a_private_network_is_refused,
    a_store_url_that_could_steer_the_call_is_refused,
    a_store_host_resolving_to_loopback_is_refused_at_connect_time,
    an_answer_larger_than_the_cap_is_refused,
    a_stores_answer_never_reaches_the_tenant,
    the_allow_list_admits_only_the_addresses_it_names,
    an_ebay_answer_never_reaches_the_events_api,
);

#[tokio::test]
async fn a_bad_allow_list_entry_stops_the_origin_from_starting() {
    let data_dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", data_dir.path().join("origin.db").display());
    let mut settings = common::test_settings(data_dir.path(), &url);
    settings.pipeline.outbound_allow_hosts = vec!["localhost".into()];
    let error = match origin::app::Application::build(settings).await {
        Ok(_) => panic!("an origin with a bad OUTBOUND_ALLOW_HOSTS started"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("OUTBOUND_ALLOW_HOSTS"), "{error}");
    assert!(error.contains("\"localhost\""), "{error}");
}
