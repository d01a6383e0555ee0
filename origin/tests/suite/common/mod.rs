//! Test harness: the real application on a random port over a fresh database, SQLite (a temp
//! dir) or PostgreSQL (a new schema in `TEST_DATABASE_URL`, dropped afterwards). When
//! PostgreSQL is unreachable the PostgreSQL tests fail with a message saying so.

#![allow(dead_code)]

pub mod dashboard;
pub mod edge;

use std::sync::Arc;

use origin::app::Application;
use origin::config::{AdminCommand, PipelineSettings, Settings};
use origin::crypto::MasterKey;
use origin::store::Store;
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub const EDGE_SECRET: &str = "test-edge-shared-secret";
pub const PUBLIC_BASE_URL: &str = "http://edge.test";
/// Where the platform fakes listen: the one address the test apps' platform calls may reach.
pub const FAKES_ON: &str = "127.0.0.1";

/// The platform client of a test app (loopback allowed, for the fakes).
pub fn outbound_to_fakes() -> origin::platforms::outbound::Outbound {
    origin::platforms::outbound::Outbound::new(
        origin::domain::outbound::AllowList::parse(&[FAKES_ON]).unwrap(),
    )
}

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Declares `mod name { sqlite, postgres }` running `async fn name(Backend)` on each backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::common::Backend::Postgres).await;
            }
        }
    )*};
}

pub struct TestApp {
    /// The app behind a stand-in edge that signs every request (see `edge`).
    pub base: String,
    /// The app itself, for what an unsigned client (or a hand-signed one) gets.
    pub origin: String,
    pub client: reqwest::Client,
    pub store: Arc<dyn Store>,
    pub data_dir: tempfile::TempDir,
    pub database_url: String,
    _schema: Option<SchemaGuard>,
}

/// Drops the test's PostgreSQL schema when the test ends, pass or fail.
struct SchemaGuard {
    admin_url: String,
    schema: String,
}

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        let (url, schema) = (self.admin_url.clone(), self.schema.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(pool) = sqlx::PgPool::connect(&url).await {
                    let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                        .execute(&pool)
                        .await;
                }
            });
        })
        .join();
    }
}

pub fn postgres_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A fresh, empty database for one test: its URL and (for PostgreSQL) the guard dropping it.
async fn fresh_database(backend: Backend, dir: &std::path::Path) -> (String, Option<SchemaGuard>) {
    match backend {
        Backend::Sqlite => (
            format!("sqlite://{}", dir.join("origin.db").display()),
            None,
        ),
        Backend::Postgres => {
            let admin_url = postgres_admin_url();
            let pool = sqlx::PgPool::connect(&admin_url).await.unwrap_or_else(|e| {
                panic!("PostgreSQL at {admin_url} is unreachable ({e}); start it or set TEST_DATABASE_URL")
            });
            let schema = format!("t_{}", uuid_like());
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&pool)
                .await
                .expect("create schema");
            pool.close().await;
            let separator = if admin_url.contains('?') { '&' } else { '?' };
            let url = format!("{admin_url}{separator}options=-c%20search_path%3D{schema}");
            (url, Some(SchemaGuard { admin_url, schema }))
        }
    }
}

fn uuid_like() -> String {
    origin::ids::new_id("x").replace("x_", "")
}

/// The settings every test app starts from: the edge secret, master key and public base URL
/// the helpers sign and expect, uploads limited to 1 KiB.
pub fn test_settings(data_dir: &std::path::Path, database_url: &str) -> Settings {
    let master_key = MasterKey::from_hex(&"ab".repeat(32)).unwrap();
    let mut settings = Settings::for_tests(data_dir, database_url, EDGE_SECRET, master_key);
    settings.public_base_url = PUBLIC_BASE_URL.to_owned();
    settings.pipeline = PipelineSettings::defaults(data_dir, PUBLIC_BASE_URL);
    // The platform fakes listen on loopback, which platform calls never reach unless allowed.
    settings.pipeline.outbound_allow_hosts = vec![FAKES_ON.to_owned()];
    settings.max_upload_bytes = 1024;
    settings
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, 64 * 1024).await
    }

    pub async fn spawn_with(backend: Backend, max_body_bytes: usize) -> TestApp {
        // The store and API suites see stored events stay as stored: no pipeline workers.
        Self::spawn_configured(backend, max_body_bytes, |p| p.enabled = false).await
    }

    /// An app whose delivery pipeline `configure` adjusts (fakes' base URLs, poll intervals).
    pub async fn spawn_configured(
        backend: Backend,
        max_body_bytes: usize,
        configure: impl FnOnce(&mut PipelineSettings),
    ) -> TestApp {
        Self::spawn_settings(backend, |settings| {
            settings.max_body_bytes = max_body_bytes;
            configure(&mut settings.pipeline);
        })
        .await
    }

    /// An app whose settings `configure` adjusts, pipeline running.
    pub async fn spawn_settings(
        backend: Backend,
        configure: impl FnOnce(&mut Settings),
    ) -> TestApp {
        let data_dir = tempfile::tempdir().unwrap();
        let (database_url, schema) = fresh_database(backend, data_dir.path()).await;
        let mut settings = test_settings(data_dir.path(), &database_url);
        configure(&mut settings);
        let app = Application::build(settings)
            .await
            .expect("the application builds");
        let origin = format!("http://{}", app.local_addr());
        let store = app.store();
        tokio::spawn(app.run());
        TestApp {
            base: edge::start(origin.clone()).await,
            origin,
            client: reqwest::Client::new(),
            store,
            data_dir,
            database_url,
            _schema: schema,
        }
    }

    /// A tenant with `tokens` and its first (all-scopes) key, made as the CLI makes them.
    pub async fn tenant(&self, tokens: i64) -> Tenant {
        let out = origin::admin::run(
            self.store.as_ref(),
            AdminCommand::CreateTenant {
                name: "Test shop".into(),
                tokens,
            },
        )
        .await
        .unwrap();
        Tenant {
            id: out["tenant_id"].as_str().unwrap().to_owned(),
            key: out["api_key"].as_str().unwrap().to_owned(),
        }
    }

    /// A key of `tenant` limited to `scopes`.
    pub async fn key_with_scopes(&self, tenant: &Tenant, scopes: &[&str]) -> String {
        let out = origin::admin::run(
            self.store.as_ref(),
            AdminCommand::CreateKey {
                tenant: tenant.id.clone(),
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                test: false,
                name: "scoped".into(),
            },
        )
        .await
        .unwrap();
        out["api_key"].as_str().unwrap().to_owned()
    }

    /// A JSON API call with `key`; answers status and body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, key, None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, key, Some(body)).await
    }

    /// A request signed as the edge signs it.
    pub async fn edge(&self, method: Method, path: &str, body: &str) -> (StatusCode, Value) {
        let signature = edge_signature(method.as_str(), path, body.as_bytes());
        let response = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header(shared::forward::SIGNATURE_HEADER, signature)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        read(response).await
    }

    /// Sends the headers of a signed POST for `body` (with its real length) and none of the
    /// body, then reads the answer: what a sender sees when the origin refuses on the length
    /// (sending the body too would race the origin closing the connection).
    pub async fn edge_declaring_only(&self, path: &str, body: &str) -> (StatusCode, Value) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let signature = edge_signature("POST", path, body.as_bytes());
        let address = self.origin.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n{}: {signature}\r\n\r\n",
            body.len(),
            shared::forward::SIGNATURE_HEADER,
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        let answer = String::from_utf8(answer).unwrap();
        let (head, json) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
        let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
        (
            StatusCode::from_u16(status).unwrap(),
            serde_json::from_str(json).unwrap_or_else(|_| panic!("not JSON: {answer}")),
        )
    }
}

/// `X-YS-Edge-Signature` for a request signed now, as the edge signs it.
pub fn edge_signature(method: &str, path: &str, body: &[u8]) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    shared::forward::sign_forwarded_request(EDGE_SECRET.as_bytes(), now, method, path, body)
}

/// Sends a request built by hand (other headers, raw bodies); answers status and body.
pub async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    read(request.send().await.unwrap()).await
}

pub async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    let value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, value)
}

pub struct Tenant {
    pub id: String,
    pub key: String,
}

/// Asserts an error envelope with `code` and returns its error object.
pub fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, code: &str) -> Value {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["error"]["status"], expected.as_u16(), "{body}");
    assert!(body["data"].is_null(), "{body}");
    assert!(body["meta"]["request_id"].is_string(), "{body}");
    body["error"].clone()
}

/// An order as the pipeline would store it, for list and action tests.
pub struct SeedOrder {
    pub platform: &'static str,
    pub status: &'static str,
    pub buyer_email: String,
    pub created_at: i64,
    /// (product id, product type) per item.
    pub items: Vec<(Option<String>, &'static str)>,
}

impl SeedOrder {
    pub fn simple(n: usize) -> SeedOrder {
        SeedOrder {
            platform: ["woocommerce", "ebay", "etsy"][n % 3],
            status: ["delivered", "pending"][n % 2],
            buyer_email: format!("buyer{}@example.net", n % 10),
            created_at: 1_700_000_000_000 + n as i64 * 60_000,
            items: vec![(None, "FILE")],
        }
    }
}

/// Stores orders for `tenant`; answers their ids in insertion order.
pub async fn seed_orders(
    app: &TestApp,
    tenant: &Tenant,
    orders: Vec<SeedOrder>,
) -> Vec<(String, Vec<String>)> {
    use origin::ids::new_id;
    use origin::store::{OrderItemRow, OrderRow};
    let mut rows = Vec::new();
    let mut ids = Vec::new();
    for (n, seed) in orders.into_iter().enumerate() {
        let order_id = new_id("ord");
        let items: Vec<OrderItemRow> = seed
            .items
            .iter()
            .map(|(product_id, product_type)| OrderItemRow {
                id: new_id("itm"),
                tenant_id: tenant.id.clone(),
                order_id: order_id.clone(),
                product_id: product_id.clone(),
                product_type: Some((*product_type).to_owned()),
                name: format!("Item of order {n}"),
                quantity: 1,
                delivery_status: "delivered".to_owned(),
                license_code: None,
                delivered_at: Some(seed.created_at),
                status_reason: None,
                refunded_quantity: 0,
            })
            .collect();
        ids.push((
            order_id.clone(),
            items.iter().map(|i| i.id.clone()).collect(),
        ));
        rows.push((
            OrderRow {
                id: order_id,
                tenant_id: tenant.id.clone(),
                platform: seed.platform.to_owned(),
                platform_order_id: format!("P-{n}"),
                status: seed.status.to_owned(),
                buyer_email: seed.buyer_email,
                buyer_name: Some("Anna Keller".to_owned()),
                currency: Some("EUR".to_owned()),
                total_cents: Some(7300),
                created_at: seed.created_at,
                updated_at: seed.created_at,
                status_reason: None,
            },
            items,
        ));
    }
    app.store.insert_orders(&rows).await.unwrap();
    ids
}

/// Follows `meta.next_cursor` from `path` (which has a `?`), collecting every `data[].id`.
pub async fn all_pages(app: &TestApp, key: &str, path: &str) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}&cursor={c}"),
            None => path.to_owned(),
        };
        let (status, body) = app.get(&url, key).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        pages += 1;
        ids.extend(
            body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_str().unwrap().to_owned()),
        );
        match body["meta"]["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages < 1000, "pagination does not end");
    }
    (ids, pages)
}
