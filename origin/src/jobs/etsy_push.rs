//! Etsy's pushed `order.paid`: the webhook names a receipt; the receipt is fetched with the
//! connection's token and stored as the poller stores a receipt it lists, under the same
//! identity (`domain::events`), so a webhook and the next poll of that receipt are one event
//! and one delivery. From there it is the path every polled receipt takes.
//!
//! Only the receipt path of the connection's own shop is ever requested, from the configured
//! Etsy base URL: the delivery's `resource_url` is read for its ids, never fetched. Also the
//! Etsy client and token refresh the poller uses.

use shared::etsy::{ORDER_PAID, parse_etsy_webhook};

use super::pollers::{Observed, store_observed};
use super::{Pipeline, ProcessError};
use crate::domain::orders::PlatformOrder;
use crate::platforms::client::PlatformError;
use crate::platforms::etsy::EtsyReceipt;
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
        let client = self
            .etsy_client(&secrets)
            .map_err(|e| ProcessError::Retry(format!("Etsy receipt: {e}")))?;
        let shop_id = connection.shop_id.as_deref().unwrap_or_default();
        let mut refreshed = false;
        loop {
            let token = secrets.access_token.clone().unwrap_or_default();
            match client.receipt(shop_id, receipt_id, &token).await {
                Ok(receipt) => return Ok(receipt),
                // An access token Etsy no longer takes: refreshed now (single-flight with the
                // refresh job and any other caller), asked once more.
                Err(PlatformError::Unauthorized { status: 401 }) if !refreshed => {
                    secrets = self.refresh_now(connection).await?;
                    refreshed = true;
                }
                Err(error) => {
                    return Err(ProcessError::Retry(format!("Etsy receipt: {error}")));
                }
            }
        }
    }
}
