//! Telling the marketplace an order is done: claims the due fulfilment calls (made in the
//! transaction that recorded the units sent), makes each through the platform's client with
//! the connection's current token, and records the outcome with its audit row. Only the
//! holder of a call's claim records it; a call whose lease ran out (a crash mid-call) is made
//! again, which the platforms take as done (eBay answers 409, the others are idempotent).
//! Network trouble, 5xx, 429 and refused tokens retry on the delivery emails' backoff; any
//! other refusal is final and shows on the order with the platform's message.

use futures_util::StreamExt;

use super::{Pipeline, ProcessError};
use crate::domain::connections::{ACTIVE, ConnectionSecrets};
use crate::domain::fulfilment::{ConnectionSettings, DELIVER, Failure, Verdict, verdict};
use crate::ids::now_ms;
use crate::platforms::client::PlatformError;
use crate::platforms::ebay::EbayClient;
use crate::platforms::refusal::Refusal;
use crate::platforms::woocommerce::WooRestClient;
use crate::store::fulfilment::{FulfilmentOutcome, FulfilmentRow, Reservation};
use crate::store::pipeline::UnitRef;
use crate::store::{ConnectionRow, StoreError};

/// Why a call could not be made this time, before the platform said anything.
enum NotNow {
    /// Try again later (no usable connection yet, the store unavailable).
    Retry(String),
    /// Nothing to call (the setting is off, or the connection has no API access).
    Skip(String),
}

impl Pipeline {
    /// Claims a batch of due fulfilment calls and makes them, several at once; how many.
    pub async fn run_fulfilments_once(&self) -> Result<usize, StoreError> {
        let claimed = self
            .store
            .claim_fulfilments(now_ms(), self.settings.lease_ms, self.settings.batch)
            .await?;
        let count = claimed.len();
        futures_util::stream::iter(claimed)
            .map(|row| self.fulfil(row))
            .buffer_unordered(self.settings.concurrency)
            .collect::<Vec<()>>()
            .await;
        Ok(count)
    }

    async fn fulfil(&self, row: FulfilmentRow) {
        let outcome = self.fulfilment_outcome(&row).await;
        let token = row.claim_token.as_deref().unwrap_or_default();
        match self
            .store
            .finish_fulfilment(&row.id, token, &outcome, now_ms())
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(fulfilment = %row.id, "a newer claim took the call over; this outcome is dropped")
            }
            Err(error) => {
                tracing::warn!(fulfilment = %row.id, %error, "recording a fulfilment call failed; its lease will expire")
            }
        }
    }

    async fn fulfilment_outcome(&self, row: &FulfilmentRow) -> FulfilmentOutcome {
        let (connection, secrets) = match self.fulfilment_connection(row).await {
            Ok(found) => found,
            Err(NotNow::Skip(reason)) => return FulfilmentOutcome::Skipped { reason },
            Err(NotNow::Retry(error)) => return self.retry_or_give_up(row, error, None),
        };
        if row.kind == DELIVER {
            return match row.platform.as_str() {
                "etsy" => self.deliver_through_etsy(row, &connection, &secrets).await,
                other => FulfilmentOutcome::Refused {
                    error: format!("{other} does not deliver orders itself"),
                },
            };
        }
        let called = match row.platform.as_str() {
            "ebay" => self.call_ebay(row, &secrets).await,
            "etsy" => self.call_etsy(row, &connection, &secrets).await,
            "woocommerce" => self.call_woocommerce(row, &connection, &secrets).await,
            other => {
                return FulfilmentOutcome::Refused {
                    error: format!("no fulfilment call for {other}"),
                };
            }
        };
        match called {
            Ok(platform_ref) => FulfilmentOutcome::Done {
                platform_ref,
                note: None,
            },
            Err(refusal) => self.refused_outcome(row, &refusal),
        }
    }

    /// What a failed call comes to: done after all, retried, or refused for good.
    fn refused_outcome(&self, row: &FulfilmentRow, refusal: &Refusal) -> FulfilmentOutcome {
        let failure = Failure {
            status: refusal.status,
            error_id: refusal.error_id,
            transient: refusal.error.is_retryable(),
            platform: &row.platform,
        };
        match verdict(failure) {
            Verdict::Done => FulfilmentOutcome::Done {
                platform_ref: None,
                note: Some(format!("already fulfilled: {}", refusal.describe())),
            },
            Verdict::Retry => {
                let wait = match refusal.error {
                    PlatformError::RateLimited { retry_after_secs } => {
                        Some(i64::try_from(retry_after_secs).unwrap_or(60) * 1000)
                    }
                    _ => None,
                };
                self.retry_or_give_up(row, refusal.describe(), wait)
            }
            Verdict::Refused => FulfilmentOutcome::Refused {
                error: refusal.describe(),
            },
        }
    }

    /// An Etsy order without a usable buyer email, delivered in the note of its shipment,
    /// which Etsy emails to the buyer: its units reserved (codes and links taken, tokens held),
    /// the note rendered from the seller's template as the email would be, and the receipt
    /// shipped with it. Recording the outcome charges the units (done) or releases them
    /// (refused). A retry after an attempt whose outcome was never recorded asks Etsy first
    /// whether that attempt's shipment landed, so the buyer is not sent the note twice.
    async fn deliver_through_etsy(
        &self,
        row: &FulfilmentRow,
        connection: &ConnectionRow,
        secrets: &ConnectionSecrets,
    ) -> FulfilmentOutcome {
        let reserved = self
            .store
            .reserve_for_platform_delivery(&row.tenant_id, &row.order_id, self.policy(), now_ms())
            .await;
        let (units, earlier) = match reserved {
            Ok(Reservation::Reserved { units, earlier }) => (units, earlier),
            Ok(Reservation::NotYet(why)) => return self.retry_or_give_up(row, why, None),
            Ok(Reservation::Gone(reason)) => return FulfilmentOutcome::Skipped { reason },
            Err(error) => return self.retry_or_give_up(row, error.to_string(), None),
        };
        let Some(token) = secrets.access_token.as_deref() else {
            let why = "the Etsy connection has no access token".to_owned();
            return self.retry_or_give_up(row, why, None);
        };
        let client = match self.etsy_client(secrets) {
            Ok(client) => client,
            Err(error) => return self.retry_or_give_up(row, error.to_string(), None),
        };
        let shop_id = connection.shop_id.as_deref().unwrap_or_default();
        if earlier {
            match client.receipt(shop_id, &row.platform_order_id, token).await {
                Ok(receipt) if receipt.shipped => {
                    return FulfilmentOutcome::Done {
                        platform_ref: None,
                        note: Some("shipped with its note by an earlier attempt".to_owned()),
                    };
                }
                Ok(_) => {}
                Err(error) => return self.refused_outcome(row, &Refusal::from(error)),
            }
        }
        let note = match self.platform_note(row, &units).await {
            Ok(note) => note,
            Err(why) => return self.retry_or_give_up(row, why, None),
        };
        let shipped = client
            .create_receipt_shipment(shop_id, token, &row.platform_order_id, Some(&note))
            .await;
        match shipped {
            Ok(()) => FulfilmentOutcome::Done {
                platform_ref: None,
                note: Some("delivered in the note of the shipment".to_owned()),
            },
            Err(refusal) => self.refused_outcome(row, &refusal),
        }
    }

    /// The delivery email's text for these units, as the seller's template renders it.
    async fn platform_note(
        &self,
        row: &FulfilmentRow,
        units: &[UnitRef],
    ) -> Result<String, String> {
        let bundles = self
            .store
            .delivery_bundles(units)
            .await
            .map_err(|e| e.to_string())?;
        let bundle = bundles
            .into_iter()
            .next()
            .ok_or_else(|| "the reserved units are gone".to_owned())?;
        let rendered = self
            .render(&bundle, row.id.clone())
            .await
            .map_err(|e| e.to_string())?;
        Ok(rendered.email.text_body)
    }

    /// Retried on the delivery emails' backoff (at least `min_wait_ms` away), or refused once
    /// the retry window is used up.
    fn retry_or_give_up(
        &self,
        row: &FulfilmentRow,
        error: String,
        min_wait_ms: Option<i64>,
    ) -> FulfilmentOutcome {
        let now = now_ms();
        match self.settings.sending.retry_at(row.attempts, now) {
            Some(at) => FulfilmentOutcome::Retry {
                at: at.max(now + min_wait_ms.unwrap_or(0)),
                error,
                audited: row.attempts <= 1,
            },
            None => FulfilmentOutcome::Refused {
                error: format!("gave up after {} attempts: {error}", row.attempts),
            },
        }
    }

    /// The connection the call goes through (the order's WooCommerce connection, else the
    /// platform's current one), its secrets, and whether its setting allows the call.
    async fn fulfilment_connection(
        &self,
        row: &FulfilmentRow,
    ) -> Result<(ConnectionRow, ConnectionSecrets), NotNow> {
        let retry = |error: ProcessError| match error {
            ProcessError::Retry(m) | ProcessError::Permanent(m) => NotNow::Retry(m),
        };
        let found = if row.connection_id.is_empty() {
            let found = self
                .active_connection(&row.tenant_id, &row.platform)
                .await
                .map_err(retry)?;
            if found.is_none() {
                let connections = self
                    .store
                    .all_connections(&row.tenant_id)
                    .await
                    .map_err(|e| NotNow::Retry(e.to_string()))?;
                if !connections.iter().any(|c| c.platform == row.platform) {
                    // Nothing to tell it through, and nothing a retry could find.
                    return Err(NotNow::Skip(format!("no {} connection", row.platform)));
                }
            }
            found
        } else {
            let connection = self
                .store
                .get_connection(&row.tenant_id, &row.connection_id)
                .await
                .map_err(|e| NotNow::Retry(e.to_string()))?
                .ok_or_else(|| NotNow::Skip("the order's connection was deleted".to_owned()))?;
            if connection.status != ACTIVE {
                None
            } else {
                let secrets = self.open_secrets(&connection).map_err(retry)?;
                Some((connection, secrets))
            }
        };
        let (connection, secrets) =
            found.ok_or_else(|| NotNow::Retry(format!("no active {} connection", row.platform)))?;
        if !ConnectionSettings::from_stored(&connection.settings).mark_fulfilled {
            return Err(NotNow::Skip(
                "the connection's mark_fulfilled setting is off".to_owned(),
            ));
        }
        let rest_access = secrets.consumer_key.is_some()
            && secrets.consumer_secret.is_some()
            && connection.store_url.is_some();
        if row.platform == "woocommerce" && !rest_access {
            // A manual set-up (webhook secret only) cannot complete the order.
            return Err(NotNow::Skip(
                "the connection has no REST API keys to complete the order with".to_owned(),
            ));
        }
        Ok((connection, secrets))
    }

    async fn call_ebay(
        &self,
        row: &FulfilmentRow,
        secrets: &ConnectionSecrets,
    ) -> Result<Option<String>, Refusal> {
        let token = secrets
            .access_token
            .as_deref()
            .ok_or_else(|| Refusal::from(PlatformError::Unauthorized { status: 401 }))?;
        let client = EbayClient::new(self.http.clone(), &self.settings.ebay_api_base_url)?;
        let shipped = chrono::DateTime::from_timestamp_millis(row.created_at)
            .unwrap_or_default()
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string();
        client
            .create_shipping_fulfillment(
                token,
                &row.platform_order_id,
                &row.target,
                row.quantity,
                &shipped,
            )
            .await
    }

    async fn call_etsy(
        &self,
        row: &FulfilmentRow,
        connection: &ConnectionRow,
        secrets: &ConnectionSecrets,
    ) -> Result<Option<String>, Refusal> {
        let token = secrets
            .access_token
            .as_deref()
            .ok_or_else(|| Refusal::from(PlatformError::Unauthorized { status: 401 }))?;
        let client = self.etsy_client(secrets)?;
        let shop_id = connection.shop_id.as_deref().unwrap_or_default();
        client
            .create_receipt_shipment(shop_id, token, &row.platform_order_id, None)
            .await?;
        Ok(None)
    }

    async fn call_woocommerce(
        &self,
        row: &FulfilmentRow,
        connection: &ConnectionRow,
        secrets: &ConnectionSecrets,
    ) -> Result<Option<String>, Refusal> {
        let (Some(key), Some(secret), Some(store_url)) = (
            &secrets.consumer_key,
            &secrets.consumer_secret,
            &connection.store_url,
        ) else {
            // Checked with the connection (`fulfilment_connection`): skipped before this.
            return Err(PlatformError::Unauthorized { status: 401 }.into());
        };
        let client = WooRestClient::new(self.http.clone(), store_url, key, secret)?;
        client.complete_order(&row.platform_order_id).await?;
        Ok(None)
    }
}
