//! What runs on its own: the pipeline's jobs. Each claims rows with a lease (events, units due
//! for email, waiting units, pollers), does the work and records the outcome. Nothing lives
//! only in memory: a process killed at any point leaves rows whose lease runs out and another
//! worker (or the same one after a restart) picks them up; the ledger keeps the repeat from
//! charging or allocating twice. This is the only module with loops.
//!
//! * [`events`]: event intake (platform payloads → orders in the ledger, refunds, deletions)
//! * [`sends`]: rendering and sending delivery emails, and resuming units waiting for stock
//!   or tokens
//! * [`pollers`]: Etsy receipts, WooCommerce and eBay reconciliation
//! * [`fulfilments`]: telling the marketplace a delivered order is done
//! * [`etsy_push`]: Etsy's `order.paid` webhooks, which fetch the receipt the poller would read
//! * [`retention`]: pruning what is kept only for a while (event bodies, audit, links)
//! * [`tokens`]: eBay and Etsy tokens refreshed before they end, or when a call was refused

pub mod etsy_push;
pub mod events;
pub mod fulfilments;
pub mod pollers;
pub mod retention;
pub mod sends;
pub mod tokens;

use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;

use crate::config::PipelineSettings;
use crate::crypto::MasterKey;
use crate::delivery::email::{Mailer, SendError};
use crate::delivery::links::download_link_secret;
use crate::domain::connections::{ConnectionSecrets, current};
use crate::domain::review::QuantityCaps;
use crate::ids::{new_id, now_ms};
use crate::platforms::client::PlatformError;
use crate::platforms::etsy::EtsyClient;
use crate::platforms::outbound::Outbound;
use crate::store::pipeline::{DeliveryPolicy, ResumeBackoff, SendClaim, SendLease};
use crate::store::{ConnectionRow, Store, StoreError};

/// Header on events a poller stored: their body is a `PlatformOrder`.
pub const POLLED_HEADER: &str = "x-yoursender-polled";

/// Why an event (or a poll) could not be processed this time.
#[derive(Debug)]
pub enum ProcessError {
    /// Worth retrying (a platform or the database was unavailable).
    Retry(String),
    /// Retrying cannot help (the payload cannot be read): dead at once.
    Permanent(String),
}

impl From<StoreError> for ProcessError {
    fn from(error: StoreError) -> Self {
        ProcessError::Retry(error.to_string())
    }
}

impl From<crate::domain::connections::SecretsError> for ProcessError {
    fn from(error: crate::domain::connections::SecretsError) -> Self {
        ProcessError::Permanent(error.to_string())
    }
}

/// The running jobs of one origin process.
pub struct Pipeline {
    pub store: Arc<dyn Store>,
    pub master_key: MasterKey,
    pub settings: PipelineSettings,
    pub mailer: Mailer,
    /// Every platform call goes through it (`platforms::outbound`).
    pub http: Outbound,
    link_secret: String,
}

impl Pipeline {
    pub fn new(
        store: Arc<dyn Store>,
        master_key: MasterKey,
        settings: PipelineSettings,
        http: Outbound,
    ) -> Result<Self, SendError> {
        let mailer = Mailer::new(
            settings.smtp_url.as_ref().map(|s| s.expose_secret()),
            &settings.outbox_dir,
            &settings.mail_from,
            settings.sending.smtp_timeout,
        )?;
        Ok(Pipeline {
            link_secret: download_link_secret(&master_key),
            store,
            master_key,
            settings,
            mailer,
            http,
        })
    }

    /// What the ledger applies to new deliveries (link lifetime and downloads, alert floor).
    pub fn policy(&self) -> DeliveryPolicy {
        Self::policy_of(&self.settings)
    }

    /// The policy `settings` give, for the API's own allocations (an approval, a new mapping).
    pub fn policy_of(settings: &PipelineSettings) -> DeliveryPolicy {
        DeliveryPolicy {
            link_ttl_ms: settings.link_ttl_ms,
            max_downloads: settings.max_downloads,
            low_tokens: settings.low_tokens,
            caps: QuantityCaps {
                per_line: settings.bounds.max_units_per_line,
                per_order: settings.bounds.max_units_per_order,
            },
        }
    }

    /// Starts the jobs; they run until the process ends.
    pub fn spawn(self: &Arc<Self>) {
        let me = self.clone();
        tokio::spawn(async move { me.event_loop().await });
        let me = self.clone();
        tokio::spawn(async move { me.send_loop().await });
        let me = self.clone();
        tokio::spawn(async move { me.resume_loop().await });
        let me = self.clone();
        tokio::spawn(async move { me.poll_loop().await });
        let me = self.clone();
        tokio::spawn(async move { me.retention_loop().await });
        let me = self.clone();
        tokio::spawn(async move { me.fulfil_loop().await });
        let me = self.clone();
        tokio::spawn(async move { me.token_loop().await });
    }

    async fn fulfil_loop(self: Arc<Self>) {
        keep_claiming(
            "fulfilments",
            self.settings.batch,
            self.settings.tick,
            || self.run_fulfilments_once(),
        )
        .await;
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
                (0, SendClaim::default())
            });
            if let Some(previous) = sending.take() {
                let _ = previous.await;
            }
            if !allocated.units.is_empty() {
                let me = self.clone();
                sending = Some(tokio::spawn(
                    async move { me.send_claimed(allocated).await },
                ));
            }
            if count < full {
                tokio::time::sleep(self.settings.tick).await;
            }
        }
    }

    async fn send_loop(self: Arc<Self>) {
        keep_claiming("sends", 2 * self.settings.batch, self.settings.tick, || {
            self.run_sends_once()
        })
        .await;
    }

    /// The safety net under the events that unblock waiting units (codes imported, tokens
    /// added): every few ticks, the due waiting units in turns across tenants, each backed
    /// off while it cannot proceed.
    async fn resume_loop(self: Arc<Self>) {
        let every = self.settings.tick * 5;
        let backoff = ResumeBackoff {
            first_ms: i64::try_from(every.as_millis()).unwrap_or(1_000),
            max_ms: i64::try_from(self.settings.bounds.resume_backoff_max.as_millis())
                .unwrap_or(300_000),
        };
        loop {
            tokio::time::sleep(every).await;
            let token = new_id("claim");
            let lease = SendLease {
                claim: &token,
                lease_ms: self.settings.lease_ms,
            };
            match self
                .store
                .resume_waiting(
                    self.policy(),
                    now_ms(),
                    lease,
                    self.settings.bounds.resume_batch,
                    backoff,
                )
                .await
            {
                Ok(units) => self.send_claimed(SendClaim { token, units }).await,
                Err(error) => tracing::warn!(%error, "resuming waiting deliveries failed"),
            }
        }
    }

    /// Runs due pollers side by side, up to `poll_concurrency` at once and `poll_per_tenant`
    /// per tenant, so one tenant's slow or endless store never holds back another's polling.
    async fn poll_loop(self: Arc<Self>) {
        let bounds = self.settings.bounds;
        let mut running = tokio::task::JoinSet::new();
        let mut last_ensure = 0;
        loop {
            while running.try_join_next().is_some() {}
            let now = now_ms();
            if now - last_ensure > 2_000 {
                if let Err(error) = self.store.ensure_pollers(now).await {
                    tracing::warn!(%error, "creating pollers failed");
                }
                last_ensure = now;
            }
            let free = bounds.poll_concurrency.saturating_sub(running.len());
            if free > 0 {
                let limit = i64::try_from(free).unwrap_or(1);
                let lease = pollers::lease_ms(&self);
                match self
                    .store
                    .claim_pollers(now, lease, limit, bounds.poll_per_tenant)
                    .await
                {
                    Ok(claimed) => {
                        for poller in claimed {
                            let me = self.clone();
                            running.spawn(async move { pollers::run(&me, poller).await });
                        }
                    }
                    Err(error) => tracing::warn!(%error, "claiming pollers failed"),
                }
            }
            tokio::time::sleep(self.settings.tick).await;
        }
    }

    /// The connection that speaks for `platform` (`domain::connections::current`) when it is
    /// active, and its opened secrets.
    pub async fn active_connection(
        &self,
        tenant_id: &str,
        platform: &str,
    ) -> Result<Option<(ConnectionRow, ConnectionSecrets)>, ProcessError> {
        let connections = self.store.all_connections(tenant_id).await?;
        let Some(speaking) = current(connections.iter().map(ConnectionRow::facts), platform) else {
            return Ok(None);
        };
        if !speaking.active {
            return Ok(None);
        }
        let id = speaking.id.to_owned();
        let Some(connection) = connections.into_iter().find(|c| c.id == id) else {
            return Ok(None);
        };
        let secrets = self.open_secrets(&connection)?;
        Ok(Some((connection, secrets)))
    }

    /// Etsy's API with the app's key: the connection's own `keystring:shared_secret` wins
    /// over the configured one.
    pub fn etsy_client(&self, secrets: &ConnectionSecrets) -> Result<EtsyClient, PlatformError> {
        let settings = &self.settings;
        let (keystring, shared_secret) = secrets.etsy_app_key(
            settings.etsy_api_key.as_deref(),
            settings
                .etsy_shared_secret
                .as_ref()
                .map(|s| s.expose_secret()),
        );
        EtsyClient::new(
            self.http.clone(),
            &settings.etsy_api_base_url,
            &keystring,
            &shared_secret,
        )
    }

    pub fn open_secrets(
        &self,
        connection: &ConnectionRow,
    ) -> Result<ConnectionSecrets, ProcessError> {
        Ok(ConnectionSecrets::open(
            &self.master_key,
            &connection.tenant_id,
            &connection.id,
            &connection.secrets_sealed,
        )?)
    }
}

/// Runs `claim_batch` forever: again at once after a full batch, after `tick` otherwise.
async fn keep_claiming<F, Fut>(what: &str, batch: i64, tick: Duration, claim_batch: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<usize, StoreError>>,
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
