//! Etsy's pushed `order.paid`: the webhook names a receipt; the receipt is fetched with the
//! connection's token and stored as the poller stores a receipt it lists, under the same
//! identity (`domain::events`), so a webhook and the next poll of that receipt are one event
//! and one delivery. From there it is the path every polled receipt takes.
//!
//! Only the receipt path of the connection's own shop is ever requested, from the configured
//! Etsy base URL: the delivery's `resource_url` is read for its ids, never fetched. Also the
//! Etsy client and token refresh the poller uses.

use secrecy::ExposeSecret;
use shared::etsy::{ORDER_PAID, parse_etsy_webhook};

use super::pollers::{Observed, store_observed};
use super::{Pipeline, ProcessError};
use crate::domain::connections::ConnectionSecrets;
use crate::domain::orders::PlatformOrder;
use crate::ids::now_ms;
use crate::platforms::client::PlatformError;
use crate::platforms::etsy::{EtsyClient, EtsyReceipt};
use crate::store::{ConnectionRow, EventRow};

impl Pipeline {
    /// Reads an Etsy webhook event: fetches and stores the receipt it names (then this event
    /// is done), or ignores it, saying why. Never answers an order itself.
    pub(super) async fn open_etsy_webhook(
        &self,
        event: &EventRow,
    ) -> Result<Option<PlatformOrder>, ProcessError> {
        let webhook = parse_etsy_webhook(event.body.as_bytes())
            .map_err(|e| ProcessError::Permanent(format!("Etsy webhook unreadable: {e}")))?;
        if webhook.event_type != ORDER_PAID {
            let reason = format!(
                "Etsy {} events change nothing here; the poller reads the receipt's state",
                webhook.event_type
            );
            self.store.ignore_event(&event.id, &reason).await?;
            return Ok(None);
        }
        let connection = match event.connection_id.as_deref() {
            Some(id) => self.store.get_connection(&event.tenant_id, id).await?,
            None => None,
        };
        let Some(connection) = connection.filter(|c| c.platform == "etsy") else {
            let reason = "the Etsy connection the webhook was routed to no longer exists";
            self.store.ignore_event(&event.id, reason).await?;
            return Ok(None);
        };
        let shop_id = connection.shop_id.clone().unwrap_or_default();
        let Some(receipt) = webhook.receipt().filter(|r| r.shop_id == shop_id) else {
            let reason = format!(
                "the webhook's resource_url names no receipt of the connection's shop {shop_id}"
            );
            self.store.ignore_event(&event.id, &reason).await?;
            return Ok(None);
        };
        let found = self
            .fetch_etsy_receipt(&connection, &receipt.receipt_id)
            .await?;
        let seen = Observed {
            tenant_id: &connection.tenant_id,
            connection_id: &connection.id,
            how: "webhook",
            source: &event.id,
        };
        store_observed(self, seen, found.identity(), &found.order).await?;
        self.store.finish_event(&event.id).await?;
        Ok(None)
    }

    /// `getShopReceipt` with the connection's token, refreshed once if Etsy refuses it. Every
    /// failure is retried: a receipt just paid may not be readable yet.
    async fn fetch_etsy_receipt(
        &self,
        connection: &ConnectionRow,
        receipt_id: &str,
    ) -> Result<EtsyReceipt, ProcessError> {
        let mut secrets = self.open_secrets(connection)?;
        let client = self.etsy_client(&secrets)?;
        let shop_id = connection.shop_id.as_deref().unwrap_or_default();
        let mut refreshed = false;
        loop {
            let token = secrets.access_token.clone().unwrap_or_default();
            match client.receipt(shop_id, receipt_id, &token).await {
                Ok(receipt) => return Ok(receipt),
                Err(PlatformError::Unauthorized { .. }) if !refreshed => {
                    self.refresh_etsy(&client, &connection.id, &mut secrets)
                        .await?;
                    refreshed = true;
                }
                Err(error) => {
                    return Err(ProcessError::Retry(format!("Etsy receipt: {error}")));
                }
            }
        }
    }

    /// The Etsy client a connection calls with: its own `keystring:shared_secret` wins over
    /// the app's configured one.
    pub(super) fn etsy_client(
        &self,
        secrets: &ConnectionSecrets,
    ) -> Result<EtsyClient, ProcessError> {
        let settings = &self.settings;
        let (keystring, shared_secret) =
            match secrets.api_key.as_deref().and_then(|k| k.split_once(':')) {
                Some((k, s)) => (k.to_owned(), s.to_owned()),
                None => (
                    secrets
                        .api_key
                        .clone()
                        .or_else(|| settings.etsy_api_key.clone())
                        .unwrap_or_default(),
                    settings
                        .etsy_shared_secret
                        .as_ref()
                        .map(|s| s.expose_secret().to_owned())
                        .unwrap_or_default(),
                ),
            };
        EtsyClient::new(
            self.http.clone(),
            &settings.etsy_api_base_url,
            &keystring,
            &shared_secret,
        )
        .map_err(|e| ProcessError::Retry(format!("Etsy: {e}")))
    }

    /// Refreshes the connection's tokens and stores them sealed.
    pub(super) async fn refresh_etsy(
        &self,
        client: &EtsyClient,
        connection_id: &str,
        secrets: &mut ConnectionSecrets,
    ) -> Result<(), ProcessError> {
        let refresh_token = secrets.refresh_token.clone().ok_or_else(|| {
            ProcessError::Retry("Etsy refused the token and there is no refresh token".into())
        })?;
        let tokens = client
            .refresh(&refresh_token)
            .await
            .map_err(|e| ProcessError::Retry(format!("Etsy token refresh: {e}")))?;
        secrets.access_token = Some(tokens.access_token);
        secrets.refresh_token = Some(tokens.refresh_token);
        self.store
            .update_connection_secrets(connection_id, &secrets.seal(&self.master_key), now_ms())
            .await?;
        Ok(())
    }
}
