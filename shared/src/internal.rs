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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WooEdgeConfig {
    /// Secrets any delivery may be signed with (more than one while a secret is rotated).
    pub webhook_secrets: Vec<String>,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EbayEdgeConfig {
    pub verification_token: String,
    /// The endpoint exactly as registered with eBay; the challenge hashes it.
    pub endpoint_url: String,
    pub active: bool,
}

/// A verified platform delivery, as queued at the edge and ingested by the origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardedEvent {
    /// Assigned by the edge when it accepted the delivery; stable across queue retries.
    pub edge_event_id: String,
    pub tenant_id: String,
    pub platform: Platform,
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

    #[test]
    fn forwarded_event_round_trips() {
        let event = ForwardedEvent {
            edge_event_id: "evt_1".into(),
            tenant_id: "t1".into(),
            platform: Platform::Woocommerce,
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
