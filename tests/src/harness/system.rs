//! The whole edge path on loopback: the real origin, the fake eBay API, and the worker under
//! `wrangler dev` configured to use both. Dropping it stops every process it started.

use super::api::OriginApi;
use super::fake_ebay::{self, FakeEbay};
use super::fault_proxy::FaultProxy;
use super::origin::{OriginProcess, Tenant};
use super::signing::EbayTestKey;
use super::wrangler::{WranglerDev, WranglerOptions};

/// The secret the worker signs with and the origin checks, in tests.
pub const EDGE_SECRET: &str = "e2e-edge-shared-secret-0123456789abcdef";
/// The system's public https address, as the platforms' apps and the stores know it (a TLS
/// terminator in front of the worker): where the connect flows send the seller back to.
pub const PUBLIC_HTTPS: &str = "https://yoursender.test";
/// The key id eBay signs [`EdgeSystem::send_signed_ebay`] notifications with.
const EBAY_KEY_ID: &str = "3c1f8a20-6b7d-4e59-a1c2-0d9e8f7a6b5c";

/// What varies between systems.
#[derive(Debug, Clone)]
pub struct SystemOptions {
    /// Seconds a tenant config is cached at the edge (`EDGE_CONFIG_TTL_SECS`).
    pub edge_config_ttl_secs: u64,
    /// `FORWARD_RETRY_DELAYS_SECS`, when a test needs the retries faster than production's.
    pub forward_retry_delays: Option<String>,
    /// Origin paths the worker sees failing with 503 (through a proxy), e.g. the ingest route.
    pub failing_origin_paths: Vec<&'static str>,
    /// Put the recording proxy between worker and origin even when nothing fails, so the test
    /// can see exactly what the worker sent.
    pub observe_origin: bool,
    /// Extra worker vars.
    pub vars: Vec<(String, String)>,
    /// Extra origin environment (e.g. `WOO_SECRET_OVERLAP_SECS`).
    pub origin_env: Vec<(String, String)>,
}

impl Default for SystemOptions {
    fn default() -> Self {
        SystemOptions {
            edge_config_ttl_secs: 1,
            forward_retry_delays: None,
            failing_origin_paths: Vec::new(),
            observe_origin: false,
            vars: Vec::new(),
            origin_env: Vec::new(),
        }
    }
}

pub struct EdgeSystem {
    // Field order is drop order: the worker stops before what it talks to.
    pub edge: WranglerDev,
    pub ebay: FakeEbay,
    pub proxy: Option<FaultProxy>,
    pub origin: OriginProcess,
}

impl EdgeSystem {
    pub async fn start(options: SystemOptions) -> Self {
        // The fake eBay first: the origin fetches paid orders from it.
        let ebay = FakeEbay::start().await;
        let mut origin_env = vec![
            ("EBAY_API_BASE_URL", ebay.base_url.as_str()),
            ("EBAY_AUTH_BASE_URL", ebay.base_url.as_str()),
            ("PIPELINE_TICK_MS", "50"),
        ];
        origin_env.extend(
            options
                .origin_env
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        let origin = OriginProcess::start_with_env(EDGE_SECRET, &origin_env).await;
        let proxy = if options.failing_origin_paths.is_empty() && !options.observe_origin {
            None
        } else {
            Some(FaultProxy::start(&origin.base_url, &options.failing_origin_paths).await)
        };
        let origin_url = proxy
            .as_ref()
            .map_or(origin.base_url.clone(), |p| p.base_url.clone());
        let mut vars = vec![
            ("ORIGIN_URL".to_owned(), origin_url),
            ("EDGE_SHARED_SECRET".to_owned(), EDGE_SECRET.to_owned()),
            ("EBAY_API_BASE_URL".to_owned(), ebay.base_url.clone()),
            ("EBAY_CLIENT_ID".to_owned(), fake_ebay::CLIENT_ID.to_owned()),
            (
                "EBAY_CLIENT_SECRET".to_owned(),
                fake_ebay::CLIENT_SECRET.to_owned(),
            ),
            (
                "EDGE_CONFIG_TTL_SECS".to_owned(),
                options.edge_config_ttl_secs.to_string(),
            ),
        ];
        if let Some(delays) = options.forward_retry_delays {
            vars.push(("FORWARD_RETRY_DELAYS_SECS".to_owned(), delays));
        }
        vars.extend(options.vars);
        let edge = WranglerDev::start(WranglerOptions { vars }).await;
        EdgeSystem {
            edge,
            ebay,
            proxy,
            origin,
        }
    }

    /// A new tenant with tokens, and its API client at the origin.
    pub fn tenant(&self, name: &str) -> (Tenant, OriginApi) {
        let tenant = self.origin.create_tenant(name, 100);
        let api = OriginApi::new(&self.origin.base_url, &tenant.api_key, EDGE_SECRET);
        (tenant, api)
    }

    /// The emails the origin has sent (its outbox), decoded.
    pub fn outbox(&self) -> Vec<String> {
        super::outbox::read_outbox(&self.origin.data_dir().join("outbox"))
    }

    /// The page a connect flow's `location` (under [`PUBLIC_HTTPS`]) shows, reached through
    /// the worker: its status and text.
    pub async fn return_page(&self, location: &str) -> (reqwest::StatusCode, String) {
        super::connect_pages::return_page(&self.edge.url(""), PUBLIC_HTTPS, location).await
    }
}

/// The delivery headers WooCommerce 9.x sends besides the signature (fixtures/woocommerce).
pub const WOO_DELIVERY_HEADERS: [(&str, &str); 8] = [
    ("Content-Type", "application/json"),
    ("User-Agent", "WooCommerce/9.4.1 Hookshot (WordPress/6.7.1)"),
    ("X-WC-Webhook-Source", "https://shop.example.com/"),
    ("X-WC-Webhook-Topic", "order.created"),
    ("X-WC-Webhook-Resource", "order"),
    ("X-WC-Webhook-Event", "created"),
    ("X-WC-Webhook-ID", "42"),
    (
        "X-WC-Webhook-Delivery-ID",
        "b1946ac92492d2347c6235b4d2611184",
    ),
];

impl EdgeSystem {
    /// POSTs a WooCommerce delivery to the worker, with `signature` as `X-WC-Webhook-Signature`.
    pub async fn send_woocommerce(
        &self,
        tenant_id: &str,
        body: &[u8],
        signature: Option<&str>,
    ) -> reqwest::Response {
        let path = format!("/webhooks/woocommerce/{tenant_id}");
        let signature = signature.map(|s| ("X-WC-Webhook-Signature", s));
        self.post_delivery(&path, &WOO_DELIVERY_HEADERS, signature, body)
            .await
    }

    /// POSTs a WooCommerce delivery to `path` as the store whose `home_url('/')` is `source`.
    pub async fn send_woocommerce_from(
        &self,
        path: &str,
        source: &str,
        body: &[u8],
        signature: &str,
    ) -> reqwest::Response {
        let headers: Vec<(&str, &str)> = WOO_DELIVERY_HEADERS
            .iter()
            .map(|&(name, value)| match name {
                "X-WC-Webhook-Source" => (name, source),
                _ => (name, value),
            })
            .collect();
        let signature = Some(("X-WC-Webhook-Signature", signature));
        self.post_delivery(path, &headers, signature, body).await
    }

    /// POSTs an eBay notification to the worker, with `signature` as `X-EBAY-SIGNATURE`.
    pub async fn send_ebay(
        &self,
        tenant_id: &str,
        body: &[u8],
        signature: Option<&str>,
    ) -> reqwest::Response {
        let path = format!("/webhooks/ebay/{tenant_id}");
        let signature = signature.map(|s| ("X-EBAY-SIGNATURE", s));
        let headers = [("Content-Type", "application/json")];
        self.post_delivery(&path, &headers, signature, body).await
    }

    /// POSTs an eBay notification to the app's one endpoint (`/webhooks/ebay`), with
    /// `signature` as `X-EBAY-SIGNATURE`.
    pub async fn send_ebay_to_app(
        &self,
        body: &[u8],
        signature: Option<&str>,
    ) -> reqwest::Response {
        let signature = signature.map(|s| ("X-EBAY-SIGNATURE", s));
        let headers = [("Content-Type", "application/json")];
        self.post_delivery("/webhooks/ebay", &headers, signature, body)
            .await
    }

    /// POSTs an eBay notification to the worker signed as eBay signs it, with a key the fake
    /// eBay publishes.
    pub async fn send_signed_ebay(&self, tenant_id: &str, body: &[u8]) -> reqwest::Response {
        let key = EbayTestKey::generate(EBAY_KEY_ID);
        self.ebay.add_key(&key.kid, &key.public_key_pem_one_line());
        self.send_ebay(tenant_id, body, Some(&key.signature_header(body)))
            .await
    }

    async fn post_delivery(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        signature: Option<(&str, &str)>,
        body: &[u8],
    ) -> reqwest::Response {
        let mut request = reqwest::Client::new()
            .post(self.edge.url(path))
            .body(body.to_vec());
        for (name, value) in headers.iter().chain(signature.as_ref()) {
            request = request.header(*name, *value);
        }
        request.send().await.expect("the worker answers")
    }
}

/// The events (as the origin lists them) whose string `field` contains `needle`, e.g. the
/// `edge_event_id` the worker answered with, or a notification id inside `dedupe_key`.
pub fn events_matching<'a>(
    events: &'a [serde_json::Value],
    field: &str,
    needle: &str,
) -> Vec<&'a serde_json::Value> {
    events
        .iter()
        .filter(|event| {
            event[field]
                .as_str()
                .is_some_and(|value| value.contains(needle))
        })
        .collect()
}

/// The `event_id` the worker answered a WooCommerce delivery with.
pub async fn accepted_event_id(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 200, "the delivery is accepted");
    let body: serde_json::Value = response.json().await.expect("an envelope");
    body["data"]["event_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no event_id in {body}"))
        .to_owned()
}
