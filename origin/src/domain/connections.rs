//! Platform connections: their secrets (sealed with the master key as one JSON document,
//! opened only where used), which connection speaks for a platform, and the edge config the
//! edge verifies deliveries with.

use serde::{Deserialize, Serialize};
use shared::internal::{EbayEdgeConfig, EdgeConfig, WooEdgeConfig};

use crate::crypto::{MasterKey, SealError};

/// The status of a connection that takes deliveries.
pub const ACTIVE: &str = "active";

/// The secrets of a connection, sealed together as one JSON document.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ConnectionSecrets {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// Sealed secrets that cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("connection secrets: {0}")]
    Sealed(#[from] SealError),
    #[error("connection secrets: {0}")]
    Json(#[from] serde_json::Error),
}

impl ConnectionSecrets {
    /// Opens what [`ConnectionSecrets::seal`] sealed.
    pub fn open(master_key: &MasterKey, sealed: &str) -> Result<Self, SecretsError> {
        Ok(serde_json::from_slice(&master_key.open(sealed)?)?)
    }

    /// Seals the secrets for storage.
    pub fn seal(&self, master_key: &MasterKey) -> String {
        let plain = serde_json::to_vec(self).expect("a map of strings serialises");
        master_key.seal(&plain)
    }

    /// Which secrets are set, by name (never their values).
    pub fn names(&self) -> Vec<&'static str> {
        [
            ("webhook_secret", &self.webhook_secret),
            ("consumer_key", &self.consumer_key),
            ("consumer_secret", &self.consumer_secret),
            ("verification_token", &self.verification_token),
            ("api_key", &self.api_key),
            ("access_token", &self.access_token),
            ("refresh_token", &self.refresh_token),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.as_ref().map(|_| name))
        .collect()
    }
}

/// What the rules here need of a stored connection.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionFacts<'a> {
    pub id: &'a str,
    pub platform: &'a str,
    pub active: bool,
    pub endpoint_url: Option<&'a str>,
    pub sealed_secrets: &'a str,
}

/// The connection that speaks for `platform`: the newest active one, else the newest one (an
/// inactive connection still tells the edge to refuse). Ids sort by creation.
pub fn current<'a>(
    connections: impl IntoIterator<Item = ConnectionFacts<'a>>,
    platform: &str,
) -> Option<ConnectionFacts<'a>> {
    connections
        .into_iter()
        .filter(|c| c.platform == platform)
        .max_by(|a, b| (a.active, a.id).cmp(&(b.active, b.id)))
}

/// What the edge verifies a tenant's deliveries with: the webhook secrets of every
/// WooCommerce connection (active when any is), and the current eBay connection's facts.
pub fn edge_config<'a>(
    master_key: &MasterKey,
    tenant_id: String,
    connections: &[ConnectionFacts<'a>],
) -> Result<EdgeConfig, SecretsError> {
    let woo: Vec<&ConnectionFacts<'a>> = connections
        .iter()
        .filter(|c| c.platform == "woocommerce")
        .collect();
    let woocommerce = if woo.is_empty() {
        None
    } else {
        let mut webhook_secrets = Vec::new();
        for connection in &woo {
            let secrets = ConnectionSecrets::open(master_key, connection.sealed_secrets)?;
            webhook_secrets.extend(secrets.webhook_secret);
        }
        Some(WooEdgeConfig {
            webhook_secrets,
            active: woo.iter().any(|c| c.active),
        })
    };
    let ebay = match current(connections.iter().copied(), "ebay") {
        Some(connection) => {
            let secrets = ConnectionSecrets::open(master_key, connection.sealed_secrets)?;
            Some(EbayEdgeConfig {
                verification_token: secrets.verification_token.unwrap_or_default(),
                endpoint_url: connection.endpoint_url.unwrap_or_default().to_owned(),
                active: connection.active,
            })
        }
        None => None,
    };
    Ok(EdgeConfig {
        tenant_id,
        woocommerce,
        ebay,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(id: &'a str, platform: &'a str, active: bool) -> ConnectionFacts<'a> {
        ConnectionFacts {
            id,
            platform,
            active,
            endpoint_url: None,
            sealed_secrets: "",
        }
    }

    #[test]
    fn the_newest_active_connection_speaks_else_the_newest() {
        let all = [
            facts("con_1", "ebay", true),
            facts("con_2", "ebay", false),
            facts("con_3", "woocommerce", true),
        ];
        assert_eq!(current(all, "ebay").map(|c| c.id), Some("con_1"));
        let inactive = [facts("con_1", "ebay", false), facts("con_2", "ebay", false)];
        assert_eq!(current(inactive, "ebay").map(|c| c.id), Some("con_2"));
        assert!(current(all, "etsy").is_none());
    }

    #[test]
    fn sealed_secrets_open_with_the_same_key_only() {
        let key = MasterKey::from_hex(&"ab".repeat(32)).unwrap();
        let secrets = ConnectionSecrets {
            webhook_secret: Some("s3cret".into()),
            ..Default::default()
        };
        let sealed = secrets.seal(&key);
        let opened = ConnectionSecrets::open(&key, &sealed).unwrap();
        assert_eq!(opened.webhook_secret.as_deref(), Some("s3cret"));
        assert_eq!(opened.names(), ["webhook_secret"]);
        let other = MasterKey::from_hex(&"cd".repeat(32)).unwrap();
        assert!(ConnectionSecrets::open(&other, &sealed).is_err());
    }
}
