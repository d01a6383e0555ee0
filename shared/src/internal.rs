//! The contract between edge and origin on the origin's internal routes.
//!
//! Every request on these routes carries the edge signature from [`crate::forward`]. The shapes
//! here are the only thing the two halves agree on besides that signature, so both sides
//! (de)serialise exactly these types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `GET` — the webhook-verification facts the edge needs for one tenant.
pub fn edge_config_path(tenant_id: &str) -> String {
    format!("/internal/v1/tenants/{tenant_id}/edge-config")
}

/// `POST` a [`ForwardedEvent`]; the origin answers 2xx only once the event is stored.
pub const INGEST_PATH: &str = "/internal/v1/events";

/// `POST` a [`DeadLetter`]: an event the edge gave up forwarding.
pub const DEAD_LETTER_PATH: &str = "/internal/v1/dead-letters";

/// Header carrying the request id the edge assigned, so both halves log the same id.
pub const REQUEST_ID_HEADER: &str = "X-Request-Id";

/// Header on the origin's answer to an authenticated API call: the tenant of the key, so the
/// edge can count that tenant's calls in a window of their own from the key's next call on.
pub const KEY_TENANT_HEADER: &str = "X-YS-Key-Tenant";

/// The platforms events come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Woocommerce,
    Ebay,
    Etsy,
}

impl Platform {
    pub const fn as_str(self) -> &'static str {
        match self {
            Platform::Woocommerce => "woocommerce",
            Platform::Ebay => "ebay",
            Platform::Etsy => "etsy",
        }
    }
}

/// What the edge needs to verify a tenant's webhooks. Absent platforms are not connected.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeConfig {
    pub tenant_id: String,
    #[serde(default)]
    pub woocommerce: Option<WooEdgeConfig>,
    #[serde(default)]
    pub ebay: Option<EbayEdgeConfig>,
}

/// A tenant's WooCommerce connections. Each delivery is verified against one connection only:
/// the one its URL names (`/webhooks/woocommerce/{tenant}/{connection}`), or on the tenant-wide
/// route the one whose store URL is the delivery's `X-WC-Webhook-Source`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WooEdgeConfig {
    #[serde(default)]
    pub connections: Vec<WooConnectionConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WooConnectionConfig {
    pub id: String,
    /// Without a trailing slash, as the connection was made.
    pub store_url: String,
    /// The secrets this connection's deliveries may be signed with: one, or two while a
    /// rotated secret's overlap lasts.
    pub secrets: Vec<WooSecret>,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WooSecret {
    pub secret: String,
    /// Unix milliseconds after which this secret no longer verifies; None: no end.
    #[serde(default)]
    pub valid_until_ms: Option<u64>,
}

impl WooSecret {
    pub fn is_valid_at(&self, now_ms: u64) -> bool {
        self.valid_until_ms.is_none_or(|until| now_ms < until)
    }
}

impl WooEdgeConfig {
    /// The connection a delivery belongs to: the one named by id when the URL names one, else
    /// the one whose store URL the `X-WC-Webhook-Source` header names (an active one first),
    /// else the only connection when the tenant has just one (stores whose site URL differs
    /// from the one they were connected with). None: nothing to verify against.
    pub fn connection_for(
        &self,
        connection_id: Option<&str>,
        source: Option<&str>,
    ) -> Option<&WooConnectionConfig> {
        if let Some(id) = connection_id {
            return self.connections.iter().find(|c| c.id == id);
        }
        let by_source = source.map(normalise_store_url).and_then(|source| {
            self.connections
                .iter()
                .filter(|c| normalise_store_url(&c.store_url) == source)
                .max_by_key(|c| c.active)
        });
        match (by_source, self.connections.as_slice()) {
            (Some(found), _) => Some(found),
            (None, [only]) => Some(only),
            _ => None,
        }
    }
}

impl WooConnectionConfig {
    /// Whether `verify` accepts the delivery with one of the secrets valid at `now_ms`.
    pub fn verifies(&self, now_ms: u64, verify: impl Fn(&[u8]) -> bool) -> bool {
        self.secrets
            .iter()
            .filter(|s| s.is_valid_at(now_ms))
            .any(|s| verify(s.secret.as_bytes()))
    }
}

/// A store URL as compared with `X-WC-Webhook-Source` (`home_url('/')`): scheme and host in
/// lower case, without the trailing slash.
pub fn normalise_store_url(url: &str) -> String {
    // Whitespace and slashes in any order: `…/ /` is the store URL too, and normalising a
    // normalised URL changes nothing.
    let url = url.trim_matches(char::is_whitespace);
    let url = url.trim_end_matches(|c: char| c == '/' || c.is_whitespace());
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            format!(
                "{}://{}{path}",
                scheme.to_ascii_lowercase(),
                host.to_ascii_lowercase()
            )
        }
        None => url.to_ascii_lowercase(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EbayEdgeConfig {
    pub verification_token: String,
    /// The endpoint exactly as registered with eBay; the challenge hashes it.
    pub endpoint_url: String,
    pub active: bool,
}

/// Where the deliveries to an app-wide endpoint for one platform account go (an Etsy shop:
/// `shared::etsy::etsy_shop_route_path`; an eBay user: `shared::ebay::app::ebay_seller_route_path`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionRoute {
    pub tenant_id: String,
    pub connection_id: String,
    pub active: bool,
}

/// A verified platform delivery, as queued at the edge and ingested by the origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardedEvent {
    /// Assigned by the edge when it accepted the delivery; stable across queue retries.
    pub edge_event_id: String,
    pub tenant_id: String,
    pub platform: Platform,
    /// The connection whose secret verified the delivery (WooCommerce), or the one the
    /// account an app-wide endpoint routes by belongs to (an Etsy shop, an eBay user); None
    /// from an older edge or from eBay's per-tenant route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    /// Unix milliseconds when the edge accepted it.
    pub received_at_ms: u64,
    /// The platform's delivery headers worth keeping (topic, delivery id, …), names lower case.
    pub headers: BTreeMap<String, String>,
    /// The body exactly as the platform sent it.
    pub body: String,
}

/// An event the edge could not hand to the origin after every retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub event: ForwardedEvent,
    pub attempts: u32,
    pub last_error: String,
}

/// Whether a path segment can be a tenant id (checked before any lookup or URL building).
pub fn is_plausible_tenant_id(segment: &str) -> bool {
    (1..=64).contains(&segment.len())
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_path_safe() {
        assert!(is_plausible_tenant_id("ten_01HZX3"));
        assert!(is_plausible_tenant_id(
            "6f1c2d3e-0000-4000-8000-000000000001"
        ));
        for bad in ["", "../x", "a/b", "a b", "x?y=1", &"a".repeat(65)] {
            assert!(!is_plausible_tenant_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn edge_config_tolerates_absent_platforms() {
        let config: EdgeConfig = serde_json::from_str(r#"{"tenant_id":"t1"}"#).unwrap();
        assert_eq!(config.woocommerce, None);
        assert_eq!(config.ebay, None);
    }

    fn woo(id: &str, store_url: &str, active: bool) -> WooConnectionConfig {
        WooConnectionConfig {
            id: id.into(),
            store_url: store_url.into(),
            secrets: vec![WooSecret {
                secret: format!("secret-{id}"),
                valid_until_ms: None,
            }],
            active,
        }
    }

    #[test]
    fn a_delivery_belongs_to_one_woocommerce_connection() {
        let config = WooEdgeConfig {
            connections: vec![
                woo("con_a", "https://a.example.com", false),
                woo("con_b", "https://B.example.com/shop", true),
            ],
        };
        let id = |c: Option<&WooConnectionConfig>| c.map(|c| c.id.clone());
        assert_eq!(
            id(config.connection_for(Some("con_a"), None)),
            Some("con_a".into())
        );
        assert_eq!(id(config.connection_for(Some("con_x"), None)), None);
        assert_eq!(
            id(config.connection_for(None, Some("https://b.example.com/shop/"))),
            Some("con_b".into())
        );
        assert_eq!(
            id(config.connection_for(None, Some("https://a.example.com/"))),
            Some("con_a".into())
        );
        assert_eq!(
            id(config.connection_for(None, Some("https://c.example.com/"))),
            None
        );
        assert_eq!(id(config.connection_for(None, None)), None);
        let single = WooEdgeConfig {
            connections: vec![woo("con_a", "https://a.example.com", true)],
        };
        assert_eq!(
            id(single.connection_for(None, Some("http://www.a.example.com/"))),
            Some("con_a".into())
        );
    }

    #[test]
    fn store_urls_normalise_once_and_for_all() {
        // Found by the `envelope` fuzz target: a slash before trailing whitespace was kept,
        // so normalising twice gave another URL than normalising once.
        for (url, normalised) in [
            ("https://Shop.Example.com/ /", "https://shop.example.com"),
            (
                "https://shop.example.com/\u{2028}",
                "https://shop.example.com",
            ),
            (" HTTPS://shop.example.com// \t", "https://shop.example.com"),
            (
                "https://shop.example.com/Store/",
                "https://shop.example.com/Store",
            ),
        ] {
            assert_eq!(normalise_store_url(url), normalised, "{url:?}");
            assert_eq!(normalise_store_url(normalised), normalised);
        }
        let config = WooEdgeConfig {
            connections: vec![
                woo("con_1", "https://shop.example.com", true),
                woo("con_2", "https://other.example.com", true),
            ],
        };
        let found = config.connection_for(None, Some("https://shop.example.com/ /"));
        assert_eq!(found.map(|c| c.id.as_str()), Some("con_1"));
    }

    #[test]
    fn a_secret_verifies_until_its_end_only() {
        let mut connection = woo("con_a", "https://a.example.com", true);
        connection.secrets.push(WooSecret {
            secret: "old".into(),
            valid_until_ms: Some(1_000),
        });
        assert!(connection.verifies(999, |s| s == b"old"));
        assert!(!connection.verifies(1_000, |s| s == b"old"));
        assert!(connection.verifies(5_000, |s| s == b"secret-con_a"));
    }

    #[test]
    fn forwarded_event_round_trips() {
        let event = ForwardedEvent {
            edge_event_id: "evt_1".into(),
            tenant_id: "t1".into(),
            platform: Platform::Woocommerce,
            connection_id: Some("con_1".into()),
            received_at_ms: 1,
            headers: BTreeMap::from([("x-wc-webhook-topic".into(), "order.created".into())]),
            body: r#"{"id":727}"#.into(),
        };
        let json = serde_json::to_string(&event).unwrap();
        assert!(json.contains(r#""platform":"woocommerce""#));
        assert_eq!(
            serde_json::from_str::<ForwardedEvent>(&json).unwrap(),
            event
        );
    }
}
