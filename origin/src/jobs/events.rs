//! Event intake: claims due events, reads each into the order it is about (parsing webhook
//! bodies, fetching eBay orders, applying account deletions and revocations), and takes paid
//! orders into the ledger in one transaction; refunds and cancellations revoke. Failures are
//! retried on the schedule of `domain::intake::retry_at`, then the event is dead.

use std::collections::BTreeMap;

use futures_util::StreamExt;

use super::pollers::{Observed, store_observed};
use super::{POLLED_HEADER, Pipeline, ProcessError};
use crate::domain::connections::{ConnectionSecrets, foreign_ebay_seller};
use crate::domain::events::order_scope;
use crate::domain::intake::{intake, retry_at};
use crate::domain::orders::{OrderState, PlatformOrder};
use crate::domain::tokens::ReconnectReason;
use crate::ids::{new_id, now_ms};
use crate::platforms::client::PlatformError;
use crate::platforms::ebay::{EbayClient, NotificationKind, parse_notification};
use crate::platforms::woocommerce::{WooRestClient, apply_refunds, parse_order_webhook};
use crate::store::pipeline::{
    ApplyOutcome, ClaimedEvent, OrderIntake, OrderKey, SendClaim, SendLease, UnitRef,
};
use crate::store::retention::BuyerErasure;
use crate::store::tokens::Reconnect;
use crate::store::{ConnectionRow, EventRow, StoreError};

impl Pipeline {
    /// Claims and processes one batch of due events, emails included; how many there were.
    pub async fn run_events_once(&self) -> Result<usize, StoreError> {
        let (count, allocated) = self.take_events_once().await?;
        self.send_claimed(allocated).await;
        Ok(count)
    }

    /// Claims one batch of due events and takes them in: how many there were, and the units
    /// allocated, claimed for the caller to send in the transactions that allocated them.
    ///
    /// Events are read concurrently (parsing, platform fetches), then taken in claim order:
    /// paid orders go to the ledger together in one transaction, and a refund or cancellation
    /// is applied only after the paid orders before it.
    pub(super) async fn take_events_once(&self) -> Result<(usize, SendClaim), StoreError> {
        let claimed = self
            .store
            .claim_events(now_ms(), self.settings.lease_ms, self.settings.batch)
            .await?;
        let count = claimed.len();
        let opened: Vec<_> = futures_util::stream::iter(claimed)
            .map(|event| async move {
                let order = self.open_event(&event).await;
                (event, order)
            })
            .buffered(self.settings.concurrency)
            .collect()
            .await;
        let mut paid = Vec::new();
        let mut allocated = SendClaim {
            token: new_id("claim"),
            units: Vec::new(),
        };
        for (event, order) in opened {
            match order {
                Ok(Some(order)) if order.state == OrderState::Paid => paid.push((event, order)),
                Ok(Some(order)) => {
                    let units = self.take_paid(std::mem::take(&mut paid), &allocated.token);
                    allocated.units.extend(units.await);
                    let settled = self.settle_unpaid(&event.event, &order).await;
                    self.record_outcome(&event, settled).await;
                }
                Ok(None) => {}
                Err(error) => self.record_outcome(&event, Err(error)).await,
            }
        }
        let units = self.take_paid(paid, &allocated.token).await;
        allocated.units.extend(units);
        Ok((count, allocated))
    }

    /// Records a failed attempt at an event: retried later, or dead.
    async fn record_outcome(&self, claimed: &ClaimedEvent, outcome: Result<(), ProcessError>) {
        let Err(error) = outcome else { return };
        let id = &claimed.event.id;
        let attempts = claimed.process_attempts + 1;
        let (next, message) = match error {
            ProcessError::Retry(message) => (retry_at(attempts, now_ms()), message),
            ProcessError::Permanent(message) => (None, message),
        };
        tracing::warn!(event_id = %id, attempts, dead = next.is_none(), error = %message, "event processing failed");
        if let Err(error) = self.store.fail_event(id, attempts, next, &message).await {
            tracing::warn!(event_id = %id, %error, "recording the event outcome failed; its lease will expire");
        }
    }

    /// The order an event is about, with the lines of the refunds it names without them read
    /// from the platform. Events about anything else (the WooCommerce creation ping, eBay
    /// account deletions and revocations) are handled here and answer None.
    async fn open_event(
        &self,
        claimed: &ClaimedEvent,
    ) -> Result<Option<PlatformOrder>, ProcessError> {
        let Some(mut order) = self.read_event(claimed).await? else {
            return Ok(None);
        };
        if order.state == OrderState::Paid && !order.refunds_to_read.is_empty() {
            self.read_woo_refunds(&claimed.event, &mut order).await?;
        }
        Ok(Some(order))
    }

    /// A paid WooCommerce order naming refunds without their lines: the store's refunds list
    /// says which lines they take back, read with the connection's REST keys (outside any
    /// transaction). Any failure is retried, so a refund is never taken in as amount-only.
    async fn read_woo_refunds(
        &self,
        event: &EventRow,
        order: &mut PlatformOrder,
    ) -> Result<(), ProcessError> {
        let connection = match event.connection_id.as_deref() {
            Some(id) => self.store.get_connection(&event.tenant_id, id).await?,
            None => None,
        };
        let connection = match connection {
            Some(connection) => connection,
            None => {
                self.active_connection(&event.tenant_id, "woocommerce")
                    .await?
                    .ok_or_else(|| ProcessError::Retry("no WooCommerce connection".into()))?
                    .0
            }
        };
        let secrets = self.open_secrets(&connection)?;
        let (Some(key), Some(secret), Some(store_url)) = (
            &secrets.consumer_key,
            &secrets.consumer_secret,
            &connection.store_url,
        ) else {
            // A manual set-up (webhook secret only) cannot read which lines were refunded.
            tracing::warn!(event_id = %event.id, "a WooCommerce refund names no lines and the connection has no REST keys to read them with");
            return Ok(());
        };
        let refunds = WooRestClient::new(self.http.clone(), store_url, key, secret)
            .map_err(|e| ProcessError::Retry(format!("WooCommerce refunds: {e}")))?
            .order_refunds(&order.order_id)
            .await
            .map_err(|e| ProcessError::Retry(format!("WooCommerce refunds: {e}")))?;
        apply_refunds(order, &refunds);
        Ok(())
    }

    /// The order an event carries or names, as read (see [`Pipeline::open_event`]).
    async fn read_event(
        &self,
        claimed: &ClaimedEvent,
    ) -> Result<Option<PlatformOrder>, ProcessError> {
        let event = &claimed.event;
        let polled = serde_json::from_str::<BTreeMap<String, String>>(&event.headers)
            .map(|h| h.contains_key(POLLED_HEADER))
            .unwrap_or(false);
        if polled {
            return serde_json::from_str(&event.body)
                .map(Some)
                .map_err(|e| ProcessError::Permanent(format!("polled order unreadable: {e}")));
        }
        match event.platform.as_str() {
            "woocommerce" => {
                // The creation ping is acknowledged and has nothing to deliver.
                if event.body.starts_with("webhook_id=") {
                    self.store.finish_event(&event.id).await?;
                    return Ok(None);
                }
                let woo = parse_order_webhook(event.body.as_bytes())
                    .map_err(|e| ProcessError::Permanent(e.to_string()))?;
                Ok(Some(woo.order))
            }
            "ebay" => self.open_ebay(event).await,
            "etsy" => self.open_etsy_webhook(event).await,
            other => Err(ProcessError::Permanent(format!(
                "no processing for pushed {other} events"
            ))),
        }
    }

    async fn open_ebay(&self, event: &EventRow) -> Result<Option<PlatformOrder>, ProcessError> {
        let (tenant_id, event_id) = (event.tenant_id.as_str(), event.id.as_str());
        let notification = parse_notification(event.body.as_bytes())
            .map_err(|e| ProcessError::Permanent(e.to_string()))?;
        let now = now_ms();
        match notification.kind {
            NotificationKind::OrderConfirmation {
                order_id,
                seller_user_id,
                ..
            } => {
                let Some((connection, secrets)) = self.ebay_connection_of(event).await? else {
                    let reason =
                        "the eBay connection the notification was routed to no longer exists";
                    self.store.ignore_event(event_id, reason).await?;
                    return Ok(None);
                };
                // A notification naming another seller is not this tenant's order. One naming
                // none is fetched with this seller's token, which reads only their orders.
                if let Some(reason) =
                    foreign_ebay_seller(connection.account_id.as_deref(), seller_user_id.as_deref())
                {
                    self.store.ignore_event(event_id, &reason).await?;
                    return Ok(None);
                }
                let token = secrets.access_token.ok_or_else(|| {
                    ProcessError::Retry("the eBay connection has no seller access_token".into())
                })?;
                let client = EbayClient::new(self.http.clone(), &self.settings.ebay_api_base_url)
                    .map_err(|e| ProcessError::Retry(format!("getOrder: {e}")))?;
                let read = match client.get_order_observed(&token, &order_id).await {
                    // "Invalid access token": refreshed now (single-flight), asked once more.
                    Err(PlatformError::Unauthorized { status: 401 }) => {
                        let fresh = self.refresh_now(&connection).await?;
                        let token = fresh.access_token.unwrap_or_default();
                        client.get_order_observed(&token, &order_id).await
                    }
                    other => other,
                };
                // Every getOrder failure is retried: a fresh order may not be readable yet.
                let read = read.map_err(|e| ProcessError::Retry(format!("getOrder: {e}")))?;
                // The order as read is stored under the identity the reconciliation poll gives
                // it and taken in from there: one state of an order, whether the notification
                // or the poll read it first, is one event.
                let seen = Observed {
                    tenant_id,
                    connection_id: &connection.id,
                    how: "notification",
                    source: event_id,
                };
                store_observed(self, seen, read.identity, &read.order).await?;
            }
            // About a buyer, not a seller: eBay sends it to every app, and the erasure it asks
            // for applies wherever that buyer is. Only this tenant's orders of that buyer are
            // touched, so a replay at another tenant erases only what that tenant must erase.
            NotificationKind::AccountDeletion { user_id, username } => {
                let ids: Vec<String> = std::iter::once(user_id).chain(username).collect();
                let erasure = BuyerErasure {
                    tenant_id,
                    platform: "ebay",
                    buyer_ids: &ids,
                    event_id: Some(event_id),
                };
                // Marks this event processed too (its body names the buyer and is dropped).
                let erased = self.store.erase_buyer(erasure, now).await?;
                tracing::info!(
                    orders = erased.orders,
                    events = erased.events,
                    audit_rows = erased.audit_rows,
                    "eBay account deletion applied"
                );
                return Ok(None);
            }
            // eBay signs the body only and sends it to every app: only the connection of the
            // seller it names needs to be connected again (its tokens are dead), with an alert.
            NotificationKind::AuthorizationRevocation { user_id, .. } => {
                let reason = ReconnectReason::AuthorizationRevoked;
                let mut detail = reason.alert_detail("", "ebay", None);
                detail["account_id"] = user_id.clone().into();
                let which = Reconnect::Account {
                    platform: "ebay",
                    account_id: &user_id,
                };
                let marked = self
                    .store
                    .mark_needs_reconnect(tenant_id, which, &detail, now)
                    .await?;
                if marked == 0 {
                    let reason = "the revocation names an eBay user none of this tenant's active eBay connections speaks for";
                    self.store.ignore_event(event_id, reason).await?;
                    return Ok(None);
                }
            }
            NotificationKind::Other => {}
        }
        self.store.finish_event(event_id).await?;
        Ok(None)
    }

    /// The connection an eBay order notification is read with: the one the event belongs to
    /// (from the app's endpoint, the connection of the seller it names; from a tenant's own
    /// route, the newest active one when it arrived), None when that one is gone; an event
    /// that belongs to none, the tenant's newest active eBay connection.
    async fn ebay_connection_of(
        &self,
        event: &EventRow,
    ) -> Result<Option<(ConnectionRow, ConnectionSecrets)>, ProcessError> {
        let Some(id) = event.connection_id.as_deref() else {
            return self
                .active_connection(&event.tenant_id, "ebay")
                .await?
                .ok_or_else(|| ProcessError::Retry("no active eBay connection".into()))
                .map(Some);
        };
        let connection = self.store.get_connection(&event.tenant_id, id).await?;
        match connection.filter(|c| c.platform == "ebay") {
            Some(connection) => {
                let secrets = self.open_secrets(&connection)?;
                Ok(Some((connection, secrets)))
            }
            None => Ok(None),
        }
    }

    /// Takes paid orders into the ledger in one transaction (one by one when the batch
    /// fails, so one bad order cannot hold back the others); the units allocated, claimed
    /// with `claim` for sending.
    async fn take_paid(
        &self,
        paid: Vec<(ClaimedEvent, PlatformOrder)>,
        claim: &str,
    ) -> Vec<UnitRef> {
        if paid.is_empty() {
            return Vec::new();
        }
        let mut products: BTreeMap<String, Vec<(String, String, String)>> = BTreeMap::new();
        let mut taken = Vec::with_capacity(paid.len());
        for (event, order) in paid {
            let tenant_id = event.event.tenant_id.clone();
            if !products.contains_key(&tenant_id) {
                match self.store.mappable_products(&tenant_id).await {
                    Ok(list) => products.insert(tenant_id.clone(), list),
                    Err(error) => {
                        self.record_outcome(&event, Err(error.into())).await;
                        continue;
                    }
                };
            }
            let connection_id = event.event.connection_id.as_deref();
            let intake = intake(&tenant_id, connection_id, &order, &products[&tenant_id]);
            taken.push((event, intake));
        }
        // Stable by tenant: a tenant's orders keep their order, and transactions on
        // PostgreSQL take tenant rows in one order.
        taken.sort_by(|a, b| a.1.tenant_id.cmp(&b.1.tenant_id));
        let (events, orders): (Vec<ClaimedEvent>, Vec<(OrderIntake, Option<String>)>) = taken
            .into_iter()
            .map(|(event, intake)| {
                let id = event.event.id.clone();
                (event, (intake, Some(id)))
            })
            .unzip();
        let policy = self.policy();
        let lease = SendLease {
            claim,
            lease_ms: self.settings.lease_ms,
        };
        let outcomes = match self
            .store
            .apply_orders(&orders, policy, now_ms(), lease)
            .await
        {
            Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
            Err(error) => {
                tracing::warn!(%error, orders = orders.len(), "taking in a batch of orders failed; taking them one by one");
                let mut each = Vec::with_capacity(orders.len());
                for order in &orders {
                    let one = self
                        .store
                        .apply_orders(std::slice::from_ref(order), policy, now_ms(), lease)
                        .await;
                    each.push(one.map(|mut outcome| outcome.remove(0)));
                }
                each
            }
        };
        let mut allocated = Vec::new();
        for (event, outcome) in events.iter().zip(outcomes) {
            match outcome {
                Ok(ApplyOutcome {
                    order_id: Some(order_id),
                    allocated: units,
                    ..
                }) => allocated.extend(
                    units
                        .into_iter()
                        .map(|unit| (event.event.tenant_id.clone(), order_id.clone(), unit)),
                ),
                Ok(_) => {}
                Err(error) => self.record_outcome(event, Err(error.into())).await,
            }
        }
        allocated
    }

    /// A refunded or cancelled order is revoked; an unpaid one waits for its paid event.
    async fn settle_unpaid(
        &self,
        event: &EventRow,
        order: &PlatformOrder,
    ) -> Result<(), ProcessError> {
        match order.state {
            OrderState::Refunded | OrderState::Cancelled => {
                let key = OrderKey {
                    tenant_id: &event.tenant_id,
                    platform: order.platform.as_str(),
                    connection_id: order_scope(order.platform, event.connection_id.as_deref()),
                    platform_order_id: &order.order_id,
                };
                self.store
                    .revoke_order(key, order.state.as_str(), Some(&event.id), now_ms())
                    .await?;
            }
            OrderState::Unpaid | OrderState::Paid => self.store.finish_event(&event.id).await?,
        }
        Ok(())
    }
}
