//! Sending: renders the delivery email of an order's leased units, sends it (SMTP or the
//! outbox) and records every sent email of a batch in one transaction. Units are sent under a
//! claim token whose lease is renewed while the batch works; only the claim's holder records
//! the outcome, so a send that outlives its lease or a replaced code never records the wrong
//! email. A send the mail server could not take is retried on the capped backoff of
//! `config::sending` for days; only a permanent refusal of the message fails its units.

use futures_util::StreamExt;

use super::Pipeline;
use crate::delivery::email::Mailer;
use crate::delivery::render::{LinkSigner, RenderedEmail, render_email};
use crate::domain::templates::{RENDER_DEADLINE, TemplateError};
use crate::ids::now_ms;
use crate::store::StoreError;
use crate::store::pipeline::{DeliveryBundle, DeliveryRow, SendClaim, SentEmail};

impl Pipeline {
    /// Renders and sends the email for the leased units of one order. A sent email is
    /// answered for the caller to record; a failed one is recorded here.
    async fn send(&self, claim: &str, bundle: DeliveryBundle) -> Option<SentEmail> {
        let order_id = bundle.order.id.clone();
        match self.try_send(claim, bundle).await {
            Ok(sent) => sent,
            Err(error) => {
                tracing::warn!(%order_id, %error, "recording a send failed; the lease will expire and it is retried");
                None
            }
        }
    }

    async fn try_send(
        &self,
        claim: &str,
        bundle: DeliveryBundle,
    ) -> Result<Option<SentEmail>, StoreError> {
        let (tenant_id, order_id) = (bundle.order.tenant_id.as_str(), bundle.order.id.as_str());
        let units: Vec<&DeliveryRow> = bundle
            .units
            .iter()
            .map(|u| &u.delivery)
            .filter(|d| d.status == "allocated")
            .collect();
        if units.is_empty() {
            return Ok(None);
        }
        let ids: Vec<String> = units.iter().map(|d| d.id.clone()).collect();
        let generation = units.iter().map(|d| d.generation).max().unwrap_or(0);
        let attempts = units.iter().map(|d| d.send_attempts).max().unwrap_or(0) + 1;
        // Stable for this set of units and generation: a repeat after a crash rewrites the
        // same outbox file and reuses the Message-ID.
        let key = format!("{order_id}-{}-g{generation}", ids[0]);
        let rendered = match self.render(&bundle, key.clone()).await {
            Ok(rendered) => rendered,
            Err(error) => {
                // Too much work for any retry to fix: the units fail with the reason.
                let reason = format!("the delivery email cannot be rendered: {}", error.message);
                tracing::warn!(%order_id, %reason, "delivery email not rendered");
                self.store
                    .mark_send_failed(claim, tenant_id, order_id, &ids, None, &reason, now_ms())
                    .await?;
                return Ok(None);
            }
        };
        match self.mailer.send(&rendered.email).await {
            Ok(()) => {
                let units_json = serde_json::json!(ids);
                let mut audit = vec![
                    (
                        "rendered".to_owned(),
                        serde_json::json!({ "deliveries": units_json, "template": rendered.template }).to_string(),
                    ),
                    (
                        "sent".to_owned(),
                        serde_json::json!({ "deliveries": units_json, "message_key": key, "transport": self.transport() }).to_string(),
                    ),
                ];
                if generation > 0 {
                    audit.push((
                        "resent".to_owned(),
                        serde_json::json!({ "deliveries": units_json, "generation": generation })
                            .to_string(),
                    ));
                }
                Ok(Some(SentEmail {
                    claim: claim.to_owned(),
                    tenant_id: tenant_id.to_owned(),
                    order_id: order_id.to_owned(),
                    delivery_ids: ids,
                    audit,
                }))
            }
            Err(error) => {
                let now = now_ms();
                let retry = if error.is_permanent() {
                    None
                } else {
                    self.settings.sending.retry_at(attempts, now)
                };
                tracing::warn!(%order_id, attempts, permanent = retry.is_none(), %error, "delivery email not sent");
                let reason = error.to_string();
                self.store
                    .mark_send_failed(claim, tenant_id, order_id, &ids, retry, &reason, now)
                    .await?;
                Ok(None)
            }
        }
    }

    /// Renders the email off the async runtime, within the render deadline: a seller's
    /// template never holds up the workers of other tenants.
    pub(super) async fn render(
        &self,
        bundle: &DeliveryBundle,
        key: String,
    ) -> Result<RenderedEmail, TemplateError> {
        let (bundle, base_url) = (bundle.clone(), self.settings.download_base_url.clone());
        let secret = self.link_secret.clone();
        let rendering = tokio::task::spawn_blocking(move || {
            let signer = LinkSigner {
                base_url: &base_url,
                secret: secret.as_bytes(),
            };
            render_email(&bundle, &signer, key)
        });
        match tokio::time::timeout(RENDER_DEADLINE, rendering).await {
            Ok(Ok(rendered)) => rendered,
            Ok(Err(_)) | Err(_) => Err(TemplateError::deadline()),
        }
    }

    fn transport(&self) -> &'static str {
        match self.mailer {
            Mailer::Smtp { .. } => "smtp",
            Mailer::Outbox { .. } => "outbox",
        }
    }

    /// Claims units whose email is due (new, retried, resent, or left by a crash) and sends.
    pub async fn run_sends_once(&self) -> Result<usize, StoreError> {
        let claim = self
            .store
            .claim_sends(now_ms(), self.settings.lease_ms, 2 * self.settings.batch)
            .await?;
        let count = claim.units.len();
        self.send_claimed(claim).await;
        Ok(count)
    }

    /// Sends the claimed units' emails, one per order and several at once, then records every
    /// sent email in one transaction. The claim's lease is renewed until then, so a slow mail
    /// server never lets another worker send the same units again; a crash before the record
    /// commits sends them again, to the same outbox file and with the same Message-ID.
    pub(super) async fn send_claimed(&self, claim: SendClaim) {
        if claim.units.is_empty() {
            return;
        }
        let bundles = match self.store.delivery_bundles(&claim.units).await {
            Ok(bundles) => bundles,
            Err(error) => {
                tracing::warn!(%error, units = claim.units.len(), "reading what to send failed; the leases will expire and it is retried");
                return;
            }
        };
        let token = claim.token.as_str();
        let sending = futures_util::stream::iter(bundles)
            .map(|bundle| self.send(token, bundle))
            .buffer_unordered(self.settings.concurrency)
            .filter_map(std::future::ready)
            .collect::<Vec<SentEmail>>();
        let sent = tokio::select! {
            sent = sending => sent,
            never = self.renew_lease(token) => match never {},
        };
        if sent.is_empty() {
            return;
        }
        if let Err(error) = self.store.mark_sent(&sent, now_ms()).await {
            tracing::warn!(%error, emails = sent.len(), "recording sent emails failed; their leases will expire and they are sent again");
        }
    }

    /// Extends the claim's lease every third of it, for as long as it is polled.
    async fn renew_lease(&self, claim: &str) -> std::convert::Infallible {
        let lease_ms = self.settings.lease_ms;
        let every =
            std::time::Duration::from_millis(u64::try_from(lease_ms / 3).unwrap_or(1).max(1));
        loop {
            tokio::time::sleep(every).await;
            if let Err(error) = self.store.renew_sends(claim, now_ms(), lease_ms).await {
                tracing::warn!(%error, "renewing the lease of units being sent failed");
            }
        }
    }
}
