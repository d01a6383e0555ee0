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
use crate::store::pipeline::{ClaimedEvent, DeliveryPolicy, UnitRef};
use crate::store::{ConnectionRow, Store};

/// Header on events a poller stored: their body is a [`PlatformOrder`].
pub const POLLED_HEADER: &str = "x-yoursender-polled";

const EVENT_BATCH: i64 = 64;
const SEND_BATCH: i64 = 128;
const CONCURRENCY: usize = 8;

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

    async fn event_loop(self: Arc<Self>) {
        keep_claiming("events", EVENT_BATCH, self.settings.tick, || {
            self.run_events_once()
        })
        .await;
    }

    /// Claims and processes one batch of due events; how many there were.
    pub async fn run_events_once(&self) -> Result<usize, crate::store::StoreError> {
        let claimed = self
            .store
            .claim_events(now_ms(), self.settings.lease_ms, EVENT_BATCH)
            .await?;
        let count = claimed.len();
        futures_util::stream::iter(claimed)
            .for_each_concurrent(CONCURRENCY, |event| async move {
                self.handle_event(event).await;
            })
            .await;
        Ok(count)
    }

    async fn handle_event(&self, claimed: ClaimedEvent) {
        let id = claimed.event.id.clone();
        let outcome = self.process_event(&claimed).await;
        let recorded = match outcome {
            Ok(()) => Ok(()),
            Err(error) => {
                let attempts = claimed.process_attempts + 1;
                let (next, message) = match error {
                    ProcessError::Retry(message) => (retry_at(attempts, now_ms()), message),
                    ProcessError::Permanent(message) => (None, message),
                };
                tracing::warn!(event_id = %id, attempts, dead = next.is_none(), error = %message, "event processing failed");
                self.store.fail_event(&id, attempts, next, &message).await
            }
        };
        if let Err(error) = recorded {
            tracing::warn!(event_id = %id, %error, "recording the event outcome failed; its lease will expire");
        }
    }

    async fn process_event(&self, claimed: &ClaimedEvent) -> Result<(), ProcessError> {
        let event = &claimed.event;
        let polled = serde_json::from_str::<BTreeMap<String, String>>(&event.headers)
            .map(|h| h.contains_key(POLLED_HEADER))
            .unwrap_or(false);
        if polled {
            let order: PlatformOrder = serde_json::from_str(&event.body)
                .map_err(|e| ProcessError::Permanent(format!("polled order unreadable: {e}")))?;
            return self.take_order(&event.tenant_id, &event.id, &order).await;
        }
        match event.platform.as_str() {
            "woocommerce" => {
                // The creation ping is acknowledged and has nothing to deliver.
                if event.body.starts_with("webhook_id=") {
                    self.store.finish_event(&event.id).await?;
                    return Ok(());
                }
                let woo = parse_order_webhook(event.body.as_bytes())
                    .map_err(|e| ProcessError::Permanent(e.to_string()))?;
                self.take_order(&event.tenant_id, &event.id, &woo.order)
                    .await
            }
            "ebay" => {
                self.process_ebay(&event.tenant_id, &event.id, &event.body)
                    .await
            }
            other => Err(ProcessError::Permanent(format!(
                "no processing for pushed {other} events"
            ))),
        }
    }

    async fn process_ebay(
        &self,
        tenant_id: &str,
        event_id: &str,
        body: &str,
    ) -> Result<(), ProcessError> {
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
                return self.take_order(tenant_id, event_id, &order).await;
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
        Ok(())
    }

    /// Delivers a paid order, revokes a refunded or cancelled one, ignores an unpaid one.
    pub async fn take_order(
        &self,
        tenant_id: &str,
        event_id: &str,
        order: &PlatformOrder,
    ) -> Result<(), ProcessError> {
        let now = now_ms();
        let platform = order.platform.as_str();
        match order.state {
            OrderState::Paid => {
                let products = self.store.mappable_products(tenant_id).await?;
                let intake = intake(tenant_id, order, &products);
                let outcome = self
                    .store
                    .apply_order(
                        &intake,
                        Some(event_id),
                        self.settings.policy,
                        now,
                        self.settings.lease_ms,
                    )
                    .await?;
                if let (Some(order_id), false) = (outcome.order_id, outcome.allocated.is_empty()) {
                    self.send(tenant_id, &order_id, &outcome.allocated).await;
                }
            }
            OrderState::Refunded | OrderState::Cancelled => {
                self.store
                    .revoke_order(
                        tenant_id,
                        platform,
                        &order.order_id,
                        order.state.as_str(),
                        Some(event_id),
                        now,
                    )
                    .await?;
            }
            OrderState::Unpaid => self.store.finish_event(event_id).await?,
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

    /// Renders and sends the email for some leased units of one order, then records it.
    pub async fn send(&self, tenant_id: &str, order_id: &str, delivery_ids: &[String]) {
        if let Err(error) = self.try_send(tenant_id, order_id, delivery_ids).await {
            tracing::warn!(%order_id, %error, "recording a send failed; the lease will expire and it is retried");
        }
    }

    async fn try_send(
        &self,
        tenant_id: &str,
        order_id: &str,
        delivery_ids: &[String],
    ) -> Result<(), crate::store::StoreError> {
        let Some(bundle) = self
            .store
            .delivery_bundle(tenant_id, order_id, delivery_ids)
            .await?
        else {
            return Ok(());
        };
        let units: Vec<&crate::store::pipeline::DeliveryRow> = bundle
            .units
            .iter()
            .map(|u| &u.delivery)
            .filter(|d| d.status == "allocated")
            .collect();
        if units.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = units.iter().map(|d| d.id.clone()).collect();
        let generation = units.iter().map(|d| d.generation).max().unwrap_or(0);
        let attempts = units.iter().map(|d| d.send_attempts).max().unwrap_or(0) + 1;
        // Stable for this set of units and generation: a repeat after a crash rewrites the
        // same outbox file and reuses the Message-ID.
        let key = format!("{order_id}-{}-g{generation}", ids[0]);
        let shop = self
            .store
            .get_tenant(tenant_id)
            .await?
            .map(|t| t.name)
            .unwrap_or_default();
        let signer = LinkSigner {
            base_url: &self.settings.download_base_url,
            secret: self.link_secret.as_bytes(),
        };
        let rendered = render_email(&bundle, &shop, &signer, key.clone());
        let now = now_ms();
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
                self.store
                    .mark_sent(tenant_id, order_id, &ids, &audit, now)
                    .await
            }
            Err(error) => {
                let retry = if error.is_permanent() {
                    None
                } else {
                    retry_at(attempts, now)
                };
                tracing::warn!(%order_id, attempts, permanent = retry.is_none(), %error, "delivery email not sent");
                self.store
                    .mark_send_failed(tenant_id, order_id, &ids, retry, &error.to_string(), now)
                    .await
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
        keep_claiming("sends", SEND_BATCH, self.settings.tick, || {
            self.run_sends_once()
        })
        .await;
    }

    /// Claims units whose email is due (new, retried, resent, or left by a crash) and sends.
    pub async fn run_sends_once(&self) -> Result<usize, crate::store::StoreError> {
        let claimed = self
            .store
            .claim_sends(now_ms(), self.settings.lease_ms, SEND_BATCH)
            .await?;
        let count = claimed.len();
        self.send_grouped(claimed).await;
        Ok(count)
    }

    async fn send_grouped(&self, units: Vec<UnitRef>) {
        let mut by_order: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for (tenant, order, delivery) in units {
            by_order.entry((tenant, order)).or_default().push(delivery);
        }
        futures_util::stream::iter(by_order)
            .for_each_concurrent(CONCURRENCY, |((tenant, order), ids)| async move {
                self.send(&tenant, &order, &ids).await;
            })
            .await;
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
