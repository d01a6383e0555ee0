//! Calls a test makes to the origin's public API to set up and inspect data: products with
//! codes, connections, orders, the token balance and stored events. They go to the origin
//! directly, signed like the edge signs, so a test's set-up never spends the API key's rate
//! limit at the edge.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shared::forward::{SIGNATURE_HEADER, sign_forwarded_request};

/// The origin's public API, as one tenant.
pub struct OriginApi {
    base_url: String,
    api_key: String,
    edge_secret: String,
    client: reqwest::Client,
}

impl OriginApi {
    pub fn new(base_url: &str, api_key: &str, edge_secret: &str) -> Self {
        OriginApi {
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
            edge_secret: edge_secret.to_owned(),
            client: reqwest::Client::new(),
        }
    }

    /// Sends a request and returns status and JSON body (`Null` when empty or not JSON).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let bytes = body
            .map(|b| serde_json::to_vec(&b).unwrap())
            .unwrap_or_default();
        let now = super::unix_now();
        let signature = sign_forwarded_request(
            self.edge_secret.as_bytes(),
            now,
            method.as_str(),
            path,
            &bytes,
        );
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base_url))
            .bearer_auth(&self.api_key)
            .header(SIGNATURE_HEADER, signature);
        if !bytes.is_empty() {
            request = request
                .header("Content-Type", "application/json")
                .body(bytes);
        }
        let response = request.send().await.expect("the origin answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Connects a WooCommerce store with `webhook_secret`; returns the connection id.
    pub async fn connect_woocommerce(&self, store_url: &str, webhook_secret: &str) -> String {
        let body = json!({ "platform": "woocommerce", "store_url": store_url, "webhook_secret": webhook_secret });
        self.create_connection(body).await
    }

    /// Connects eBay notifications with the verification token and endpoint; returns the id.
    pub async fn connect_ebay(&self, verification_token: &str, endpoint_url: &str) -> String {
        let body = json!({ "platform": "ebay", "verification_token": verification_token, "endpoint_url": endpoint_url });
        self.create_connection(body).await
    }

    /// Connects an eBay seller by a pasted user `access_token` (its notifications at a made-up
    /// endpoint); returns the id.
    pub async fn connect_ebay_seller(&self, access_token: &str) -> String {
        let body = json!({"platform": "ebay", "verification_token": "t".repeat(40),
                          "endpoint_url": "https://hooks.example.com/ebay", "access_token": access_token});
        self.create_connection(body).await
    }

    /// Starts a connect flow (`POST /api/v1/connections/{platform}/authorize`); the answer's
    /// `data`: the platform page's `url` and the attempt's `state`.
    pub async fn authorize(&self, platform: &str, body: Value) -> Value {
        let path = format!("/api/v1/connections/{platform}/authorize");
        let (status, answer) = self.call(reqwest::Method::POST, &path, Some(body)).await;
        assert_eq!(status, 201, "authorize {platform}: {answer}");
        answer["data"].clone()
    }

    async fn create_connection(&self, body: Value) -> String {
        let (status, answer) = self
            .call(reqwest::Method::POST, "/api/v1/connections", Some(body))
            .await;
        assert_eq!(status, 201, "create connection: {answer}");
        answer["data"]["id"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| answer["data"]["id"].as_i64().map(|id| id.to_string()))
            .unwrap_or_else(|| panic!("no connection id in {answer}"))
    }

    /// The tenant's connections.
    pub async fn connections(&self) -> Vec<Value> {
        let (status, answer) = self
            .call(reqwest::Method::GET, "/api/v1/connections", None)
            .await;
        assert_eq!(status, 200, "list connections: {answer}");
        answer["data"].as_array().cloned().unwrap_or_default()
    }

    pub async fn deactivate_connection(&self, id: &str) {
        let path = format!("/api/v1/connections/{id}/deactivate");
        let (status, answer) = self.call(reqwest::Method::POST, &path, None).await;
        assert!(
            (200..300).contains(&status),
            "deactivate connection: {status} {answer}"
        );
    }

    /// Rotates a WooCommerce connection's webhook secret; the new secret.
    pub async fn rotate_secret(&self, id: &str) -> String {
        let path = format!("/api/v1/connections/{id}/rotate-secret");
        let (status, answer) = self.call(reqwest::Method::POST, &path, None).await;
        assert_eq!(status, 200, "rotate secret: {answer}");
        answer["data"]["generated_webhook_secret"]
            .as_str()
            .unwrap_or_else(|| panic!("no new secret in {answer}"))
            .to_owned()
    }

    pub async fn delete_connection(&self, id: &str) {
        let path = format!("/api/v1/connections/{id}");
        let (status, answer) = self.call(reqwest::Method::DELETE, &path, None).await;
        assert_eq!(status, 200, "delete connection: {answer}");
    }

    /// A CODE product `sku` mapped by `mappings`, with `codes` imported; returns its id.
    pub async fn code_product(
        &self,
        sku: &str,
        mappings: Value,
        codes: &[impl serde::Serialize],
    ) -> String {
        let product = json!({"sku": sku, "name": format!("Licence {sku}"), "type": "CODE",
                             "mappings": mappings});
        let (status, answer) = self
            .call(reqwest::Method::POST, "/api/v1/products", Some(product))
            .await;
        assert_eq!(status, 201, "create product: {answer}");
        let id = answer["data"]["id"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/products/{id}/codes");
        let (status, answer) = self
            .call(reqwest::Method::POST, &path, Some(json!(codes)))
            .await;
        assert_eq!(status, 200, "import codes: {answer}");
        id
    }

    /// `GET /api/v1/orders?{query}`: one page of the tenant's orders.
    pub async fn orders(&self, query: &str) -> Vec<Value> {
        let path = format!("/api/v1/orders?{query}");
        let (status, answer) = self.call(reqwest::Method::GET, &path, None).await;
        assert_eq!(status, 200, "list orders: {answer}");
        answer["data"].as_array().cloned().unwrap_or_default()
    }

    /// The tenant's orders (the first 100) once `ready` holds for them, 30 s at most.
    pub async fn orders_when(&self, ready: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        super::wait_for(
            "the orders as expected",
            Duration::from_secs(30),
            async || {
                let orders = self.orders("limit=100").await;
                ready(&orders).then_some(orders)
            },
        )
        .await
    }

    /// The tenant's token balance.
    pub async fn token_balance(&self) -> i64 {
        let (status, answer) = self
            .call(reqwest::Method::GET, "/api/v1/tenant", None)
            .await;
        assert_eq!(status, 200, "tenant: {answer}");
        answer["data"]["token_balance"]
            .as_i64()
            .unwrap_or_else(|| panic!("no token balance in {answer}"))
    }

    /// `GET /api/v1/events?{query}`: the stored events.
    pub async fn events(&self, query: &str) -> Vec<Value> {
        let path = format!("/api/v1/events?{query}");
        let (status, answer) = self.call(reqwest::Method::GET, &path, None).await;
        assert_eq!(status, 200, "list events: {answer}");
        answer["data"].as_array().cloned().unwrap_or_default()
    }

    /// Polls [`Self::events`] until `done` holds for the list or `timeout` passes; returns the
    /// last list either way, so the caller asserts on what it got.
    pub async fn wait_for_events(
        &self,
        query: &str,
        timeout: Duration,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let events = self.events(query).await;
            if done(&events) || Instant::now() > deadline {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
