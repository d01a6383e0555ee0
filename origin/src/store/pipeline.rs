//! Storage of the delivery pipeline: its row types and its small traits (event leases, the
//! delivery ledger, sends, download links, pollers, alerts). Every piece of work that must
//! survive a crash is a row here, claimed with a lease; the SQL is in `sql/` and runs on both
//! backends. The order intake types are the domain's, re-exported here for their old path.

use async_trait::async_trait;
use sqlx::FromRow;

pub use crate::domain::ledger::{DeliveryPolicy, IntakeItem, OrderIntake};
pub use crate::domain::resumption::ResumeBackoff;

use super::resources::{ConnectionStore, EventStore, OrderStore, ProductStore};
use super::{EventRow, FileRow, OrderRow, StoreResult};

/// Which order: the identity a refund or cancellation names (`connection_id` is the order's
/// scope, `domain::events::order_scope`).
#[derive(Debug, Clone, Copy)]
pub struct OrderKey<'a> {
    pub tenant_id: &'a str,
    pub platform: &'a str,
    pub connection_id: &'a str,
    pub platform_order_id: &'a str,
}

/// One unit of work on a delivery: `(tenant id, order id, delivery id)`.
pub type UnitRef = (String, String, String);

/// Units held for sending under one claim token. Only the holder of the token may record
/// their outcome; a later claim (after the lease ran out) or a replace takes the token away.
#[derive(Debug, Clone, Default)]
pub struct SendClaim {
    pub token: String,
    pub units: Vec<UnitRef>,
}

/// Whom the units a call allocates are leased to for sending: the caller's claim token and
/// for how long. The transaction that allocates a unit claims it, so nothing but that caller
/// records its email sent until the lease runs out (then the send loop takes it over).
#[derive(Debug, Clone, Copy)]
pub struct SendLease<'a> {
    pub claim: &'a str,
    pub lease_ms: i64,
}

/// The units of one order whose email went out, and the audit rows that record it.
#[derive(Debug, Clone)]
pub struct SentEmail {
    /// The claim the units were sent under: recorded only while it still holds them.
    pub claim: String,
    pub tenant_id: String,
    pub order_id: String,
    pub delivery_ids: Vec<String>,
    /// `(action, detail JSON)`.
    pub audit: Vec<(String, String)>,
}

/// An event leased to the worker, with how many processing attempts it has had.
#[derive(Debug, Clone, FromRow)]
pub struct ClaimedEvent {
    #[sqlx(flatten)]
    pub event: EventRow,
    pub process_attempts: i64,
}

/// What applying an order did.
#[derive(Debug, Clone, Default)]
pub struct ApplyOutcome {
    pub order_id: Option<String>,
    /// Deliveries allocated and charged by this call, leased to the caller for sending.
    pub allocated: Vec<String>,
    pub waiting: usize,
}

#[derive(Debug, Clone, FromRow)]
pub struct DeliveryRow {
    pub id: String,
    pub tenant_id: String,
    pub order_id: String,
    pub order_item_id: String,
    pub product_id: String,
    pub product_type: String,
    pub platform: String,
    pub platform_order_id: String,
    pub line_item_id: String,
    pub unit: i64,
    pub status: String,
    pub license_code_id: Option<String>,
    pub code: Option<String>,
    pub generation: i64,
    pub send_attempts: i64,
    pub next_attempt_at: i64,
    pub lease_until: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub sent_at: Option<i64>,
}

#[derive(Debug, Clone, FromRow)]
pub struct LinkRow {
    pub id: String,
    pub tenant_id: String,
    pub delivery_id: String,
    pub file_id: String,
    pub expires_at: i64,
    pub max_downloads: i64,
    pub downloads: i64,
    pub revoked_at: Option<i64>,
    pub created_at: i64,
}

/// Everything an email about some deliveries of one order needs.
#[derive(Debug, Clone)]
pub struct DeliveryBundle {
    pub order: OrderRow,
    /// The tenant's name, shown as the shop.
    pub shop_name: String,
    /// With the product's name and template.
    pub units: Vec<BundleUnit>,
    /// The tenant's default template: `(subject, body)`.
    pub default_template: Option<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct BundleUnit {
    pub delivery: DeliveryRow,
    pub product_name: String,
    pub template: Option<(String, String)>,
    pub links: Vec<(LinkRow, String)>,
}

#[derive(Debug, Clone, FromRow)]
pub struct PollerRow {
    pub id: String,
    pub tenant_id: String,
    pub connection_id: String,
    pub platform: String,
    pub checkpoint: i64,
    pub next_run_at: i64,
    pub lease_until: i64,
    pub runs: i64,
    pub last_run_at: Option<i64>,
    pub last_error: Option<String>,
    /// The next page (WooCommerce) or offset (Etsy, eBay) of a sweep a run left unfinished; 0 when
    /// the next run starts a new sweep from `checkpoint`.
    pub continuation: i64,
    /// The newest modification the unfinished sweep has seen.
    pub high_water: i64,
    /// The token of the newest claim: only its holder records the outcome.
    pub claim_token: Option<String>,
}

/// What a poller run records on its row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollerOutcome {
    pub checkpoint: i64,
    pub continuation: i64,
    pub high_water: i64,
    pub next_run_at: i64,
    pub error: Option<String>,
}

#[derive(Debug, Clone, FromRow)]
pub struct AlertRow {
    pub id: String,
    pub tenant_id: String,
    pub kind: String,
    pub subject: String,
    pub detail: String,
    pub at: i64,
}

/// Why a download is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownloadRefusal {
    Unknown,
    Expired,
    Revoked,
    Exhausted,
}

/// Leases on stored events: the worker's queue of events to process.
#[async_trait]
pub trait EventQueueStore: Send + Sync {
    /// Leases up to `limit` events due for processing until `now + lease_ms`, in the order
    /// they arrived.
    async fn claim_events(
        &self,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<ClaimedEvent>>;
    /// Marks an event processed (for events that change no order).
    async fn finish_event(&self, event_id: &str) -> StoreResult<()>;
    /// Marks an event `ignored`, saying why (a notification about someone else): kept, and
    /// never processed.
    async fn ignore_event(&self, event_id: &str, reason: &str) -> StoreResult<()>;
    /// Records a failed attempt: retried at `retry_at`, or `dead` when None.
    async fn fail_event(
        &self,
        event_id: &str,
        attempts: i64,
        retry_at: Option<i64>,
        error: &str,
    ) -> StoreResult<()>;
    /// Puts a dead (or failed) event back in the queue; the event after the change. None when
    /// there is no such event, or its body was pruned (nothing left to process).
    async fn replay_event(&self, tenant_id: &str, event_id: &str) -> StoreResult<Option<EventRow>>;
}

/// The delivery ledger: orders taken in, units allocated and charged, revoked, resumed.
#[async_trait]
pub trait LedgerStore: Send + Sync {
    /// Takes paid orders in, all in one transaction; per order, in the order given: the order
    /// and its items (once), a ledger row per unit (once), allocation and charging of each
    /// new unit, the audit trail, and its event (when given) marked processed. One outcome per
    /// order; an error leaves every order of the batch untouched.
    async fn apply_orders(
        &self,
        orders: &[(OrderIntake, Option<String>)],
        policy: DeliveryPolicy,
        now: i64,
        lease: SendLease<'_>,
    ) -> StoreResult<Vec<ApplyOutcome>>;
    /// Refund or cancellation: the order's status, its codes and links revoked (only the
    /// order of that identity: another store's order of the same number is left alone).
    async fn revoke_order(
        &self,
        order: OrderKey<'_>,
        status: &str,
        event_id: Option<&str>,
        now: i64,
    ) -> StoreResult<Option<String>>;
    /// Approves an order waiting for review: its units made, allocated and charged, due for
    /// email at once. None when there is no such order; `NotInReview` when it does not wait.
    async fn approve_order(
        &self,
        tenant_id: &str,
        order_id: &str,
        policy: DeliveryPolicy,
        now: i64,
    ) -> StoreResult<Option<Vec<UnitRef>>>;
    /// Sets an order's buyer email (a usable address: the caller checks); an order waiting for
    /// one (`needs_address`) has its units made, allocated and charged, due for email at once.
    /// None when there is no such order; `OrderClosed` when it is refunded or cancelled.
    async fn set_buyer_email(
        &self,
        tenant_id: &str,
        order_id: &str,
        buyer_email: &str,
        policy: DeliveryPolicy,
        now: i64,
    ) -> StoreResult<Option<Vec<UnitRef>>>;
    /// Matches the tenant's unmapped lines against its products' mappings now: each line a
    /// mapping now matches gets its units, allocated and due for email at once (a line of an
    /// order waiting for review is mapped and waits with it). The units allocated.
    async fn resume_unmapped(
        &self,
        tenant_id: &str,
        policy: DeliveryPolicy,
        now: i64,
    ) -> StoreResult<Vec<UnitRef>>;
    /// Retries up to `limit` waiting units (stock or tokens) that are due, taking turns
    /// across tenants; a unit that still cannot proceed is tried again after `backoff`.
    /// Those now allocated, leased to the caller.
    async fn resume_waiting(
        &self,
        policy: DeliveryPolicy,
        now: i64,
        lease: SendLease<'_>,
        limit: i64,
        backoff: ResumeBackoff,
    ) -> StoreResult<Vec<UnitRef>>;
    /// Codes arrived for the product: its units waiting for stock are due at once.
    async fn wake_awaiting_stock(&self, tenant_id: &str, product_id: &str) -> StoreResult<()>;
}

/// Delivery emails: leased, bundled, recorded as sent or failed.
#[async_trait]
pub trait SendStore: Send + Sync {
    /// Leases up to `limit` allocated units whose email is due, under a fresh claim token.
    async fn claim_sends(&self, now: i64, lease_ms: i64, limit: i64) -> StoreResult<SendClaim>;
    /// Extends the lease of the units `claim` still holds; how many.
    async fn renew_sends(&self, claim: &str, now: i64, lease_ms: i64) -> StoreResult<u64>;
    /// What the emails of these leased units need, one bundle per order, read in a few
    /// statements for the whole batch. Units that no longer exist are left out.
    async fn delivery_bundles(&self, units: &[UnitRef]) -> StoreResult<Vec<DeliveryBundle>>;
    /// These emails went out: their units `sent`, with the audit rows, in one transaction;
    /// only units their email's claim still holds. How many units were recorded.
    async fn mark_sent(&self, sent: &[SentEmail], now: i64) -> StoreResult<u64>;
    /// The send failed: retried at `retry_at`, or `failed` with the reason when None; only
    /// units `claim` still holds. How many units were recorded.
    #[allow(clippy::too_many_arguments)]
    async fn mark_send_failed(
        &self,
        claim: &str,
        tenant_id: &str,
        order_id: &str,
        delivery_ids: &[String],
        retry_at: Option<i64>,
        error: &str,
        now: i64,
    ) -> StoreResult<u64>;
}

/// Signed download links.
#[async_trait]
pub trait LinkStore: Send + Sync {
    /// Counts one download of a link if it may still be used; its file.
    async fn use_download_link(
        &self,
        link_id: &str,
        now: i64,
    ) -> StoreResult<Result<FileRow, DownloadRefusal>>;
}

/// The platform pollers' rows and leases.
#[async_trait]
pub trait PollerStore: Send + Sync {
    /// Makes sure every active Etsy, WooCommerce and eBay connection has its poller row.
    async fn ensure_pollers(&self, now: i64) -> StoreResult<()>;
    /// Leases up to `limit` due pollers until `now + lease_ms` under a new claim token,
    /// round-robin across tenants and never more than `per_tenant` leased at once for one
    /// tenant (counting the leases other workers hold).
    async fn claim_pollers(
        &self,
        now: i64,
        lease_ms: i64,
        limit: i64,
        per_tenant: i64,
    ) -> StoreResult<Vec<PollerRow>>;
    /// Records a run's outcome and frees the lease, if `claim_token` is still the poller's
    /// newest claim; false (and nothing written) when a newer claim took it over.
    async fn finish_poller(
        &self,
        poller_id: &str,
        claim_token: &str,
        outcome: &PollerOutcome,
        now: i64,
    ) -> StoreResult<bool>;
}

/// The alerts the ledger raises (low stock, low tokens).
#[async_trait]
pub trait AlertStore: Send + Sync {
    async fn list_alerts(&self, tenant_id: &str) -> StoreResult<Vec<AlertRow>>;
}

/// Everything the delivery pipeline uses of the store, as one bound.
pub trait PipelineStore:
    EventQueueStore
    + LedgerStore
    + SendStore
    + LinkStore
    + PollerStore
    + AlertStore
    + EventStore
    + ProductStore
    + OrderStore
    + ConnectionStore
{
}

impl<T> PipelineStore for T where
    T: EventQueueStore
        + LedgerStore
        + SendStore
        + LinkStore
        + PollerStore
        + AlertStore
        + EventStore
        + ProductStore
        + OrderStore
        + ConnectionStore
{
}
