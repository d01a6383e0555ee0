//! Platform connections: their secrets (sealed with the master key as one JSON document,
//! opened only where used), which connection speaks for a platform, who holds a platform
//! account (one eBay user or Etsy shop belongs to one connection), and the edge config the
//! edge verifies deliveries with.

use serde::{Deserialize, Serialize};
use shared::internal::{EbayEdgeConfig, EdgeConfig, WooConnectionConfig, WooEdgeConfig, WooSecret};

use crate::crypto::{MasterKey, SealError};

/// The status of a connection that takes deliveries.
pub const ACTIVE: &str = "active";

/// The secrets of a connection, sealed together as one JSON document.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ConnectionSecrets {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
    /// The webhook secret a rotation replaced, verifying until `previous_webhook_secret_until`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_webhook_secret: Option<String>,
    /// Unix milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_webhook_secret_until: Option<i64>,
    /// The store's ids of the webhooks registered through its REST API (updated on rotation).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhook_ids: Vec<u64>,
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
    /// Opens what [`ConnectionSecrets::seal`] sealed for this tenant's connection (or, once,
    /// what was sealed before secrets were bound to their connection).
    pub fn open(
        master_key: &MasterKey,
        tenant_id: &str,
        connection_id: &str,
        sealed: &str,
    ) -> Result<Self, SecretsError> {
        let context = binding(tenant_id, connection_id);
        Ok(serde_json::from_slice(
            &master_key.open_bound(sealed, &context)?,
        )?)
    }

    /// Seals the secrets for storage on this tenant's connection: copied to another row, they
    /// do not open.
    pub fn seal(&self, master_key: &MasterKey, tenant_id: &str, connection_id: &str) -> String {
        let plain = serde_json::to_vec(self).expect("a map of strings serialises");
        master_key.seal_bound(&plain, &binding(tenant_id, connection_id))
    }

    /// Replaces the webhook secret with `new_secret`; the old one keeps verifying for
    /// `overlap_ms` from `now` (a previous secret still in its overlap is dropped).
    pub fn rotate_webhook_secret(&mut self, new_secret: String, now: i64, overlap_ms: i64) {
        let old = self.webhook_secret.replace(new_secret);
        let keep = old.is_some() && overlap_ms > 0;
        self.previous_webhook_secret = if keep { old } else { None };
        self.previous_webhook_secret_until = keep.then(|| now.saturating_add(overlap_ms));
    }

    /// The webhook secrets a delivery may be signed with at `now`, each with its end.
    pub fn webhook_secrets_at(&self, now: i64) -> Vec<WooSecret> {
        let previous = match (
            &self.previous_webhook_secret,
            self.previous_webhook_secret_until,
        ) {
            (Some(secret), Some(until)) if now < until => Some(WooSecret {
                secret: secret.clone(),
                valid_until_ms: u64::try_from(until).ok(),
            }),
            _ => None,
        };
        let current = self.webhook_secret.clone().map(|secret| WooSecret {
            secret,
            valid_until_ms: None,
        });
        current.into_iter().chain(previous).collect()
    }

    /// The Etsy app key calls for this connection are made with, `(keystring, shared
    /// secret)`: the connection's own `api_key` (`keystring:shared_secret`) wins over the
    /// app's configured ones; a keystring alone goes with the app's shared secret.
    pub fn etsy_app_key(
        &self,
        app_keystring: Option<&str>,
        app_shared_secret: Option<&str>,
    ) -> (String, String) {
        match self.api_key.as_deref().and_then(|k| k.split_once(':')) {
            Some((keystring, secret)) => (keystring.to_owned(), secret.to_owned()),
            None => (
                self.api_key
                    .as_deref()
                    .or(app_keystring)
                    .unwrap_or_default()
                    .to_owned(),
                app_shared_secret.unwrap_or_default().to_owned(),
            ),
        }
    }

    /// Which secrets are set, by name (never their values).
    pub fn names(&self) -> Vec<&'static str> {
        [
            ("webhook_secret", &self.webhook_secret),
            ("previous_webhook_secret", &self.previous_webhook_secret),
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

/// The associated data connection secrets are sealed with: which tenant's which connection.
fn binding(tenant_id: &str, connection_id: &str) -> Vec<u8> {
    format!("connection-secrets\0{tenant_id}\0{connection_id}").into_bytes()
}

/// What the rules here need of a stored connection.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionFacts<'a> {
    pub id: &'a str,
    pub platform: &'a str,
    pub active: bool,
    pub endpoint_url: Option<&'a str>,
    pub store_url: Option<&'a str>,
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

/// Who holds a platform account (an eBay user, an Etsy shop) that a connect flow was just
/// granted for a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountHolder {
    /// No connection has it: a new one may be made.
    Nobody,
    /// The tenant's own connection of it (its active one, else its newest): the grant
    /// re-authorises that one rather than making a second.
    Tenant(String),
    /// Another tenant's active connection has it: the grant is refused.
    OtherTenant,
}

/// Who holds an account, from every connection of it as `(tenant_id, facts)`. An inactive
/// connection of another tenant holds nothing: an account whose connection was deactivated or
/// needs reconnecting may move to the tenant its owner now connects it to.
pub fn account_holder<'a>(
    tenant_id: &str,
    connections: impl IntoIterator<Item = (&'a str, ConnectionFacts<'a>)>,
) -> AccountHolder {
    let mut own = Vec::new();
    let mut held_elsewhere = false;
    for (tenant, facts) in connections {
        if tenant == tenant_id {
            own.push(facts);
        } else {
            held_elsewhere |= facts.active;
        }
    }
    let platform = own.first().map(|c| c.platform).unwrap_or_default();
    match current(own, platform) {
        Some(mine) if mine.active || !held_elsewhere => AccountHolder::Tenant(mine.id.to_owned()),
        _ if held_elsewhere => AccountHolder::OtherTenant,
        _ => AccountHolder::Nobody,
    }
}

/// A connection as ingest sees it: `(id, platform, status)`.
pub type ConnectionState = (String, String, String);

/// Which connection an arriving event belongs to, and why it is kept without processing, if
/// it is. The edge names the connection whose secret verified a WooCommerce delivery; an event
/// without one (an older edge, eBay) belongs to the platform's newest active connection. An
/// event for a connection that is inactive or was deleted after the edge accepted it is kept,
/// unprocessed and replayable, rather than refused (the edge would only retry it).
pub fn attribute_event(
    platform: &str,
    named: Option<&str>,
    connections: &[ConnectionState],
) -> (Option<String>, Option<String>) {
    let of_platform = || connections.iter().filter(|(_, p, _)| p == platform);
    if let Some(id) = named {
        let reason = match of_platform().find(|(c, _, _)| c == id) {
            None => Some(format!("the {platform} connection {id} no longer exists")),
            Some((_, _, status)) if status != ACTIVE => Some(format!(
                "the {platform} connection {id} was inactive when the event arrived"
            )),
            Some(_) => None,
        };
        return (Some(id.to_owned()), reason);
    }
    let newest_active = of_platform()
        .filter(|(_, _, status)| status == ACTIVE)
        .map(|(id, _, _)| id)
        .max();
    match newest_active {
        Some(id) => (Some(id.clone()), None),
        None if of_platform().next().is_some() => (
            None,
            Some(format!(
                "the {platform} connection was inactive when the event arrived"
            )),
        ),
        None => (None, None),
    }
}

/// What the edge verifies a tenant's deliveries with at `now`: each WooCommerce connection
/// with its store URL, status and the secrets valid now (a rotated one until its overlap
/// ends), and the facts of the current eBay connection of the tenant's own route. A connection
/// made through eBay's consent is notified on the app's one endpoint, answered with the app's
/// token: it has no verification token of its own and is not served for the tenant's route.
pub fn edge_config<'a>(
    master_key: &MasterKey,
    tenant_id: String,
    connections: &[ConnectionFacts<'a>],
    now: i64,
) -> Result<EdgeConfig, SecretsError> {
    let open = |c: &ConnectionFacts<'_>| {
        ConnectionSecrets::open(master_key, &tenant_id, c.id, c.sealed_secrets)
    };
    let mut woo = Vec::new();
    for connection in connections.iter().filter(|c| c.platform == "woocommerce") {
        let secrets = open(connection)?;
        woo.push(WooConnectionConfig {
            id: connection.id.to_owned(),
            store_url: connection.store_url.unwrap_or_default().to_owned(),
            secrets: secrets.webhook_secrets_at(now),
            active: connection.active,
        });
    }
    let woocommerce = (!woo.is_empty()).then_some(WooEdgeConfig { connections: woo });
    let mut own_route = Vec::new();
    for connection in connections.iter().filter(|c| c.platform == "ebay") {
        if let Some(token) = open(connection)?.verification_token {
            own_route.push((*connection, token));
        }
    }
    let speaking = current(own_route.iter().map(|(c, _)| *c), "ebay").map(|c| c.id);
    let ebay = own_route
        .into_iter()
        .find(|(c, _)| Some(c.id) == speaking)
        .map(|(connection, verification_token)| EbayEdgeConfig {
            verification_token,
            endpoint_url: connection.endpoint_url.unwrap_or_default().to_owned(),
            active: connection.active,
        });
    Ok(EdgeConfig {
        tenant_id,
        woocommerce,
        ebay,
    })
}

/// Why an eBay order notification naming the seller `seller` is not for the connection that
/// speaks for `account`, if it is not. One naming no seller is the connection's to fetch: its
/// seller's token reads only their own orders.
pub fn foreign_ebay_seller(account: Option<&str>, seller: Option<&str>) -> Option<String> {
    match (account, seller) {
        (Some(account), Some(seller)) if account == seller => None,
        (_, None) => None,
        (Some(_), Some(_)) => {
            Some("the order notification names another eBay seller than this connection's".into())
        }
        (None, Some(_)) => Some(
            "this eBay connection does not know its seller's userId (no access_token when it was made)"
                .into(),
        ),
    }
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
            store_url: None,
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
    fn an_account_belongs_to_one_connection() {
        let all = |rows: &[(&'static str, &'static str, bool)]| {
            rows.iter()
                .map(|&(tenant, id, active)| (tenant, facts(id, "ebay", active)))
                .collect::<Vec<_>>()
        };
        assert_eq!(account_holder("t1", all(&[])), AccountHolder::Nobody);
        // The tenant's own: its active one, else its newest.
        let own = all(&[("t1", "con_1", true), ("t1", "con_2", false)]);
        assert_eq!(
            account_holder("t1", own),
            AccountHolder::Tenant("con_1".into())
        );
        let own = all(&[("t1", "con_1", false), ("t1", "con_2", false)]);
        assert_eq!(
            account_holder("t1", own),
            AccountHolder::Tenant("con_2".into())
        );
        // Another tenant's active connection holds it; an inactive one does not.
        let elsewhere = all(&[("t2", "con_3", true)]);
        assert_eq!(account_holder("t1", elsewhere), AccountHolder::OtherTenant);
        let left = all(&[("t2", "con_3", false)]);
        assert_eq!(account_holder("t1", left), AccountHolder::Nobody);
        let both = all(&[("t1", "con_1", false), ("t2", "con_3", true)]);
        assert_eq!(account_holder("t1", both), AccountHolder::OtherTenant);
        let both = all(&[("t1", "con_1", false), ("t2", "con_3", false)]);
        assert_eq!(
            account_holder("t1", both),
            AccountHolder::Tenant("con_1".into())
        );
    }

    #[test]
    fn the_tenants_ebay_route_serves_only_connections_with_their_own_token() {
        let key = MasterKey::from_hex(&"ab".repeat(32)).unwrap();
        let pasted = ConnectionSecrets {
            verification_token: Some("v".repeat(40)),
            ..Default::default()
        }
        .seal(&key, "t1", "con_1");
        let consented = ConnectionSecrets {
            access_token: Some("user-token".into()),
            ..Default::default()
        }
        .seal(&key, "t1", "con_2");
        let with = |id, sealed_secrets, endpoint_url| ConnectionFacts {
            id,
            platform: "ebay",
            active: true,
            endpoint_url: Some(endpoint_url),
            store_url: None,
            sealed_secrets,
        };
        let both = [
            with("con_1", &pasted, "https://edge.test/webhooks/ebay/t1"),
            with("con_2", &consented, "https://edge.test/webhooks/ebay"),
        ];
        let config = edge_config(&key, "t1".into(), &both, 0).unwrap();
        assert_eq!(
            config.ebay,
            Some(EbayEdgeConfig {
                verification_token: "v".repeat(40),
                endpoint_url: "https://edge.test/webhooks/ebay/t1".into(),
                active: true,
            })
        );
        let config = edge_config(&key, "t1".into(), &both[1..], 0).unwrap();
        assert_eq!(config.ebay, None, "the app's endpoint is not the tenant's");
    }

    #[test]
    fn an_event_belongs_to_the_connection_the_edge_named() {
        let state = |id: &str, status: &str| (id.into(), "woocommerce".into(), status.into());
        let all = [
            state("con_1", "inactive"),
            state("con_2", ACTIVE),
            state("con_3", ACTIVE),
        ];
        assert_eq!(
            attribute_event("woocommerce", Some("con_2"), &all),
            (Some("con_2".into()), None)
        );
        let (id, reason) = attribute_event("woocommerce", Some("con_1"), &all);
        assert_eq!(id.as_deref(), Some("con_1"));
        assert!(reason.unwrap().contains("inactive"));
        let (_, reason) = attribute_event("woocommerce", Some("con_9"), &all);
        assert!(reason.unwrap().contains("no longer exists"));
        assert_eq!(
            attribute_event("woocommerce", None, &all),
            (Some("con_3".into()), None)
        );
        let (id, reason) = attribute_event("woocommerce", None, &all[..1]);
        assert_eq!(id, None);
        assert!(reason.is_some());
        assert_eq!(attribute_event("etsy", None, &all), (None, None));
    }

    #[test]
    fn an_ebay_order_is_the_connections_when_it_names_its_seller() {
        assert_eq!(foreign_ebay_seller(Some("Qp3"), Some("Qp3")), None);
        assert_eq!(foreign_ebay_seller(Some("Qp3"), None), None);
        assert!(foreign_ebay_seller(Some("Qp3"), Some("other")).is_some());
        assert!(foreign_ebay_seller(None, Some("Qp3")).is_some());
    }

    #[test]
    fn sealed_secrets_open_with_the_same_key_only() {
        let key = MasterKey::from_hex(&"ab".repeat(32)).unwrap();
        let secrets = ConnectionSecrets {
            webhook_secret: Some("s3cret".into()),
            ..Default::default()
        };
        let sealed = secrets.seal(&key, "ten_1", "con_1");
        let opened = ConnectionSecrets::open(&key, "ten_1", "con_1", &sealed).unwrap();
        assert_eq!(opened.webhook_secret.as_deref(), Some("s3cret"));
        assert_eq!(opened.names(), ["webhook_secret"]);
        let other = MasterKey::from_hex(&"cd".repeat(32)).unwrap();
        assert!(ConnectionSecrets::open(&other, "ten_1", "con_1", &sealed).is_err());
        assert!(ConnectionSecrets::open(&key, "ten_1", "con_2", &sealed).is_err());
        assert!(ConnectionSecrets::open(&key, "ten_2", "con_1", &sealed).is_err());
    }

    #[test]
    fn a_rotated_secret_verifies_until_the_overlap_ends() {
        let mut secrets = ConnectionSecrets {
            webhook_secret: Some("old".into()),
            ..Default::default()
        };
        secrets.rotate_webhook_secret("new".into(), 1_000, 500);
        let at = |secrets: &ConnectionSecrets, now| -> Vec<String> {
            secrets
                .webhook_secrets_at(now)
                .into_iter()
                .map(|s| s.secret)
                .collect()
        };
        assert_eq!(at(&secrets, 1_499), ["new", "old"]);
        assert_eq!(at(&secrets, 1_500), ["new"]);
        secrets.rotate_webhook_secret("newer".into(), 2_000, 0);
        assert_eq!(at(&secrets, 2_000), ["newer"]);
        assert_eq!(secrets.previous_webhook_secret, None);
    }
}
