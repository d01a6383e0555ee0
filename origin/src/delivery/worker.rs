//! The pipeline's workers: they claim rows with a lease (events, units due for email, waiting
//! units, pollers), do the work, and record the outcome. Nothing lives only in memory: a
//! process killed at any point leaves rows whose lease runs out and another worker (or the
//! same one after a restart) picks them up; the ledger keeps the repeat from charging or
//! allocating twice.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use secrecy::{ExposeSecret, SecretString};

use super::email::Mailer;
use super::render::{LinkSigner, render_email};
use crate::config::PipelineArgs;
use crate::crypto::MasterKey;
use crate::domain::intake::{intake, retry_at};
use crate::http::connections::ConnectionSecrets;
use crate::ids::now_ms;
use crate::platforms::client::http_client;
use crate::platforms::ebay::{EbayClient, NotificationKind, parse_notification};
use crate::platforms::woocommerce::parse_order_webhook;
use crate::platforms::{OrderState, PlatformOrder};
use crate::store::pipeline::{
    ApplyOutcome, ClaimedEvent, DeliveryBundle, DeliveryPolicy, OrderIntake, SentEmail, UnitRef,
};
use crate::store::{ConnectionRow, Store};

/// Header on events a poller stored: their body is a [`PlatformOrder`].
pub const POLLED_HEADER: &str = "x-yoursender-polled";

/// Resolved pipeline settings.
#[derive(Clone)]
pub struct PipelineSettings {
    pub enabled: bool,
    pub smtp_url: Option<SecretString>,
    pub outbox_dir: PathBuf,
    pub mail_from: String,
    pub download_base_url: String,
    pub policy: DeliveryPolicy,
    pub ebay_api_base_url: String,
    pub etsy_api_base_url: String,
    pub etsy_api_key: Option<String>,
    pub etsy_shared_secret: Option<SecretString>,
    pub etsy_poll_interval: Duration,
    pub woo_reconcile_interval: Duration,
    pub poll_initial_lookback_secs: i64,
    pub tick: Duration,
    /// Events claimed at once.
    pub batch: i64,
    /// Events read and emails sent at once.
    pub concurrency: usize,
    /// How long a claim holds before another worker may take the row over, in ms.
    pub lease_ms: i64,
}

impl PipelineSettings {
    pub fn from_args(
        args: &PipelineArgs,
        data_dir: &std::path::Path,
        public_base_url: &str,
    ) -> Self {
        PipelineSettings {
            enabled: args.pipeline_enabled,
            smtp_url: args.smtp_url.clone(),
            outbox_dir: args
                .outbox_dir
                .clone()
                .unwrap_or_else(|| data_dir.join("outbox")),
            mail_from: args.mail_from.clone(),
            download_base_url: args
                .download_base_url
                .clone()
                .unwrap_or_else(|| public_base_url.to_owned())
                .trim_end_matches('/')
                .to_owned(),
            policy: DeliveryPolicy {
                link_ttl_ms: i64::try_from(args.download_link_ttl_hours)
                    .unwrap_or(i64::MAX / 3_600_000)
                    .saturating_mul(3_600_000),
                max_downloads: args.download_link_max_downloads,
                low_tokens: args.low_tokens_threshold,
            },
            ebay_api_base_url: args.ebay_api_base_url.clone(),
            etsy_api_base_url: args.etsy_api_base_url.clone(),
            etsy_api_key: args.etsy_api_key.clone(),
            etsy_shared_secret: args.etsy_shared_secret.clone(),
            etsy_poll_interval: Duration::from_secs(args.etsy_poll_interval_secs),
            woo_reconcile_interval: Duration::from_secs(args.woo_reconcile_interval_secs),
            poll_initial_lookback_secs: i64::try_from(args.poll_initial_lookback_secs)
                .unwrap_or(86_400),
            tick: Duration::from_millis(args.pipeline_tick_ms.max(10)),
            batch: i64::from(args.pipeline_batch.max(1)),
            concurrency: usize::try_from(args.pipeline_concurrency.max(1)).unwrap_or(8),
            lease_ms: i64::try_from(args.pipeline_lease_secs.max(1))
                .unwrap_or(60)
                .saturating_mul(1000),
        }
    }

    /// The defaults, as `origin serve` has them with no pipeline flag set.
    pub fn defaults(data_dir: &std::path::Path, public_base_url: &str) -> Self {
        use clap::Parser;
        #[derive(Parser)]
        struct Defaults {
            #[command(flatten)]
            pipeline: PipelineArgs,
        }
        let args = Defaults::parse_from(["origin"]).pipeline;
        Self::from_args(&args, data_dir, public_base_url)
    }
}

/// Why an event could not be processed this time.
#[derive(Debug)]
pub enum ProcessError {
    /// Worth retrying (a platform or the database was unavailable).
    Retry(String),
    /// Retrying cannot help (the payload cannot be read): dead at once.
    Permanent(String),
}

impl From<crate::store::StoreError> for ProcessError {
    fn from(error: crate::store::StoreError) -> Self {
        ProcessError::Retry(error.to_string())
    }
}

/// The running pipeline of one origin process.
pub struct Pipeline {
    pub store: Arc<dyn Store>,
    pub master_key: MasterKey,
    pub settings: PipelineSettings,
    pub mailer: Mailer,
    pub http: reqwest::Client,
    link_secret: String,
}

impl Pipeline {
    pub fn new(
        store: Arc<dyn Store>,
        master_key: MasterKey,
        settings: PipelineSettings,
    ) -> Result<Self, super::email::SendError> {
        let mailer = Mailer::new(
            settings.smtp_url.as_ref().map(|s| s.expose_secret()),
            &settings.outbox_dir,
            &settings.mail_from,
        )?;
        Ok(Pipeline {
            link_secret: download_link_secret(&master_key),
            store,
            master_key,
            settings,
            mailer,
            http: http_client(),
        })
    }

    /// Starts the workers; they run until the process ends.
    pub fn spawn(self: &Arc<Self>) {
        let me = self.clone();
        tokio::spawn(async move { me.event_loop().await });
        let me = self.clone();
        tokio::spawn(async move { me.send_loop().await });
        let me = self.clone();
        tokio::spawn(async move { me.resume_loop().await });
        let me = self.clone();
        tokio::spawn(async move { me.poll_loop().await });
    }

    /// Takes in batch after batch; a batch's emails are sent while the next batch is taken
    /// in (one batch sending at a time). Units stay leased until their email is recorded, so
    /// a crash during either loses nothing.
    async fn event_loop(self: Arc<Self>) {
        let full = usize::try_from(self.settings.batch).unwrap_or(usize::MAX);
        let mut sending: Option<tokio::task::JoinHandle<()>> = None;
        loop {
            let (count, allocated) = self.take_events_once().await.unwrap_or_else(|error| {
                tracing::warn!(%error, "claiming events failed");
                (0, Vec::new())
            });
            if let Some(previous) = sending.take() {
                let _ = previous.await;
            }
            if !allocated.is_empty() {
                let me = self.clone();
                sending = Some(tokio::spawn(
                    async move { me.send_grouped(allocated).await },
                ));
            }
            if count < full {
                tokio::time::sleep(self.settings.tick).await;
            }
        }
    }

    /// Claims and processes one batch of due events, emails included; how many there were.
    pub async fn run_events_once(&self) -> Result<usize, crate::store::StoreError> {
        let (count, allocated) = self.take_events_once().await?;
        self.send_grouped(allocated).await;
        Ok(count)
    }

    /// Claims one batch of due events and takes them in: how many there were, and the units
    /// allocated (leased to the caller for sending).
    ///
    /// Events are read concurrently (parsing, platform fetches), then taken in claim order:
    /// paid orders go to the ledger together in one transaction, and a refund or cancellation
    /// is applied only after the paid orders before it.
    async fn take_events_once(&self) -> Result<(usize, Vec<UnitRef>), crate::store::StoreError> {
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
        let mut allocated = Vec::new();
        for (event, order) in opened {
            match order {
                Ok(Some(order)) if order.state == OrderState::Paid => paid.push((event, order)),
                Ok(Some(order)) => {
                    allocated.extend(self.take_paid(std::mem::take(&mut paid)).await);
                    let settled = self.settle_unpaid(&event.event, &order).await;
                    self.record_outcome(&event, settled).await;
                }
                Ok(None) => {}
                Err(error) => self.record_outcome(&event, Err(error)).await,
            }
        }
        allocated.extend(self.take_paid(paid).await);
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

    /// The order an event is about. Events about anything else (the WooCommerce creation
    /// ping, eBay account deletions and revocations) are handled here and answer None.
    async fn open_event(
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
            "ebay" => {
                self.open_ebay(&event.tenant_id, &event.id, &event.body)
                    .await
            }
            other => Err(ProcessError::Permanent(format!(
                "no processing for pushed {other} events"
            ))),
        }
    }

    async fn open_ebay(
        &self,
        tenant_id: &str,
        event_id: &str,
        body: &str,
    ) -> Result<Option<PlatformOrder>, ProcessError> {
        let notification = parse_notification(body.as_bytes())
            .map_err(|e| ProcessError::Permanent(e.to_string()))?;
        let now = now_ms();
        match notification.kind {
            NotificationKind::OrderConfirmation { order_id, .. } => {
                let (_, secrets) = self
                    .active_connection(tenant_id, "ebay")
                    .await?
                    .ok_or_else(|| ProcessError::Retry("no active eBay connection".into()))?;
                let token = secrets.access_token.ok_or_else(|| {
                    ProcessError::Retry("the eBay connection has no seller access_token".into())
                })?;
                let client = EbayClient::new(self.http.clone(), &self.settings.ebay_api_base_url);
                // Every getOrder failure is retried: a fresh order may not be readable yet.
                let order = client
                    .get_order(&token, &order_id)
                    .await
                    .map_err(|e| ProcessError::Retry(format!("getOrder: {e}")))?;
                return Ok(Some(order));
            }
            NotificationKind::AccountDeletion { user_id, username } => {
                let ids: Vec<String> = std::iter::once(user_id).chain(username).collect();
                let erased = self
                    .store
                    .anonymise_buyer(tenant_id, "ebay", &ids, now)
                    .await?;
                tracing::info!(erased, "eBay account deletion applied");
            }
            NotificationKind::AuthorizationRevocation { .. } => {
                self.store
                    .deactivate_platform(tenant_id, "ebay", now)
                    .await?;
            }
            NotificationKind::Other => {}
        }
        self.store.finish_event(event_id).await?;
        Ok(None)
    }

    /// Takes paid orders into the ledger in one transaction (one by one when the batch
    /// fails, so one bad order cannot hold back the others); the units allocated.
    async fn take_paid(&self, paid: Vec<(ClaimedEvent, PlatformOrder)>) -> Vec<UnitRef> {
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
            let intake = intake(&tenant_id, &order, &products[&tenant_id]);
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
        let (policy, lease_ms) = (self.settings.policy, self.settings.lease_ms);
        let outcomes = match self
            .store
            .apply_orders(&orders, policy, now_ms(), lease_ms)
            .await
        {
            Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
            Err(error) => {
                tracing::warn!(%error, orders = orders.len(), "taking in a batch of orders failed; taking them one by one");
                let mut each = Vec::with_capacity(orders.len());
                for order in &orders {
                    let one = self
                        .store
                        .apply_orders(std::slice::from_ref(order), policy, now_ms(), lease_ms)
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
        event: &crate::store::EventRow,
        order: &PlatformOrder,
    ) -> Result<(), ProcessError> {
        match order.state {
            OrderState::Refunded | OrderState::Cancelled => {
                self.store
                    .revoke_order(
                        &event.tenant_id,
                        order.platform.as_str(),
                        &order.order_id,
                        order.state.as_str(),
                        Some(&event.id),
                        now_ms(),
                    )
                    .await?;
            }
            OrderState::Unpaid | OrderState::Paid => self.store.finish_event(&event.id).await?,
        }
        Ok(())
    }

    /// The newest active connection of `platform` and its opened secrets.
    pub async fn active_connection(
        &self,
        tenant_id: &str,
        platform: &str,
    ) -> Result<Option<(ConnectionRow, ConnectionSecrets)>, ProcessError> {
        let connection = self
            .store
            .all_connections(tenant_id)
            .await?
            .into_iter()
            .filter(|c| c.platform == platform && c.status == "active")
            .max_by(|a, b| a.id.cmp(&b.id));
        let Some(connection) = connection else {
            return Ok(None);
        };
        let secrets = self.open_secrets(&connection)?;
        Ok(Some((connection, secrets)))
    }

    pub fn open_secrets(
        &self,
        connection: &ConnectionRow,
    ) -> Result<ConnectionSecrets, ProcessError> {
        let plain = self
            .master_key
            .open(&connection.secrets_sealed)
            .map_err(|e| ProcessError::Permanent(format!("connection secrets: {e}")))?;
        serde_json::from_slice(&plain)
            .map_err(|e| ProcessError::Permanent(format!("connection secrets: {e}")))
    }

    /// Renders and sends the email for the leased units of one order. A sent email is
    /// answered for the caller to record; a failed one is recorded here.
    async fn send(&self, bundle: DeliveryBundle) -> Option<SentEmail> {
        let order_id = bundle.order.id.clone();
        match self.try_send(bundle).await {
            Ok(sent) => sent,
            Err(error) => {
                tracing::warn!(%order_id, %error, "recording a send failed; the lease will expire and it is retried");
                None
            }
        }
    }

    async fn try_send(
        &self,
        bundle: DeliveryBundle,
    ) -> Result<Option<SentEmail>, crate::store::StoreError> {
        let (tenant_id, order_id) = (bundle.order.tenant_id.as_str(), bundle.order.id.as_str());
        let units: Vec<&crate::store::pipeline::DeliveryRow> = bundle
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
        let signer = LinkSigner {
            base_url: &self.settings.download_base_url,
            secret: self.link_secret.as_bytes(),
        };
        let rendered = render_email(&bundle, &signer, key.clone());
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
                    retry_at(attempts, now)
                };
                tracing::warn!(%order_id, attempts, permanent = retry.is_none(), %error, "delivery email not sent");
                self.store
                    .mark_send_failed(tenant_id, order_id, &ids, retry, &error.to_string(), now)
                    .await?;
                Ok(None)
            }
        }
    }

    fn transport(&self) -> &'static str {
        match self.mailer {
            Mailer::Smtp { .. } => "smtp",
            Mailer::Outbox { .. } => "outbox",
        }
    }

    async fn send_loop(self: Arc<Self>) {
        keep_claiming("sends", 2 * self.settings.batch, self.settings.tick, || {
            self.run_sends_once()
        })
        .await;
    }

    /// Claims units whose email is due (new, retried, resent, or left by a crash) and sends.
    pub async fn run_sends_once(&self) -> Result<usize, crate::store::StoreError> {
        let claimed = self
            .store
            .claim_sends(now_ms(), self.settings.lease_ms, 2 * self.settings.batch)
            .await?;
        let count = claimed.len();
        self.send_grouped(claimed).await;
        Ok(count)
    }

    /// Sends the units' emails, one per order and several at once, then records every sent
    /// email in one transaction. Until that commits the units stay leased: a crash before it
    /// sends them again, to the same outbox file and with the same Message-ID.
    async fn send_grouped(&self, units: Vec<UnitRef>) {
        if units.is_empty() {
            return;
        }
        let bundles = match self.store.delivery_bundles(&units).await {
            Ok(bundles) => bundles,
            Err(error) => {
                tracing::warn!(%error, units = units.len(), "reading what to send failed; the leases will expire and it is retried");
                return;
            }
        };
        let sent: Vec<SentEmail> = futures_util::stream::iter(bundles)
            .map(|bundle| self.send(bundle))
            .buffer_unordered(self.settings.concurrency)
            .filter_map(std::future::ready)
            .collect()
            .await;
        if sent.is_empty() {
            return;
        }
        if let Err(error) = self.store.mark_sent(&sent, now_ms()).await {
            tracing::warn!(%error, emails = sent.len(), "recording sent emails failed; their leases will expire and they are sent again");
        }
    }

    async fn resume_loop(self: Arc<Self>) {
        loop {
            tokio::time::sleep(self.settings.tick * 5).await;
            match self
                .store
                .resume_waiting(self.settings.policy, now_ms(), self.settings.lease_ms, 200)
                .await
            {
                Ok(allocated) => self.send_grouped(allocated).await,
                Err(error) => tracing::warn!(%error, "resuming waiting deliveries failed"),
            }
        }
    }

    async fn poll_loop(self: Arc<Self>) {
        let mut last_ensure = 0;
        loop {
            let now = now_ms();
            if now - last_ensure > 2_000 {
                if let Err(error) = self.store.ensure_pollers(now).await {
                    tracing::warn!(%error, "creating pollers failed");
                }
                last_ensure = now;
            }
            match self
                .store
                .claim_pollers(now, 5 * self.settings.lease_ms, 4)
                .await
            {
                Ok(pollers) => {
                    for poller in pollers {
                        crate::platforms::pollers::run(&self, poller).await;
                    }
                }
                Err(error) => tracing::warn!(%error, "claiming pollers failed"),
            }
            tokio::time::sleep(self.settings.tick).await;
        }
    }
}

/// Runs `claim_batch` forever: again at once after a full batch, after `tick` otherwise.
async fn keep_claiming<F, Fut>(what: &str, batch: i64, tick: Duration, claim_batch: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<usize, crate::store::StoreError>>,
{
    loop {
        let worked = claim_batch().await.unwrap_or_else(|error| {
            tracing::warn!(%error, what, "claiming work failed");
            0
        });
        if worked < usize::try_from(batch).unwrap_or(usize::MAX) {
            tokio::time::sleep(tick).await;
        }
    }
}

/// The key download tokens are signed with, derived from the master key.
pub fn download_link_secret(master_key: &MasterKey) -> String {
    master_key.sign_link("download links v1")
}
