//! The store's small per-resource traits for what the HTTP API keeps: tenants and tokens,
//! API keys, connections, events, products with their codes and files, orders, templates.
//! Each backend implements every one (in `sql/`); [`super::Store`] is all of them at once.

use async_trait::async_trait;

use super::{
    ApiKeyRow, AuditRow, CodeStock, ConnectionRow, EventFilter, EventRow, FileRow, KeyChange,
    KeyWrite, OrderFilter, OrderItemRow, OrderRow, PageQuery, ProductFilter, ProductRow,
    ResendOutcome, StoreResult, TemplateRow, TenantAuditRow, TenantRow,
};

/// The backend itself: its schema and its name.
#[async_trait]
pub trait StoreBackend: Send + Sync {
    /// Applies this backend's migrations (idempotent).
    async fn migrate(&self) -> StoreResult<()>;
    /// Which backend this is, for logs and benchmarks.
    fn backend(&self) -> &'static str;
}

/// Tenants and their token balance.
#[async_trait]
pub trait TenantStore: Send + Sync {
    async fn create_tenant(&self, tenant: &TenantRow, first_key: &ApiKeyRow) -> StoreResult<()>;
    async fn get_tenant(&self, tenant_id: &str) -> StoreResult<Option<TenantRow>>;
    /// Adds (or with a negative amount, removes, never below zero) tokens; the new balance.
    async fn add_tokens(&self, tenant_id: &str, amount: i64) -> StoreResult<Option<i64>>;
}

/// API keys, stored by hash, and the tenant audit log every key change writes to (in the
/// change's own transaction).
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Stores a key unless the tenant would then hold more usable keys than the change allows.
    async fn insert_api_key(
        &self,
        key: &ApiKeyRow,
        change: &KeyChange,
    ) -> StoreResult<KeyWrite<()>>;
    /// The key with this hash if it is neither revoked nor past its rotation grace period.
    async fn find_usable_api_key(&self, hash: &str, now: i64) -> StoreResult<Option<ApiKeyRow>>;
    /// Records the key's last use; callers treat a failure as nothing worse than a stale stamp.
    async fn touch_api_key(&self, key_id: &str, now: i64) -> StoreResult<()>;
    async fn get_api_key(&self, tenant_id: &str, key_id: &str) -> StoreResult<Option<ApiKeyRow>>;
    async fn list_api_keys(&self, tenant_id: &str, page: &PageQuery)
    -> StoreResult<Vec<ApiKeyRow>>;
    /// Revokes a key; `tenant_id` None is the operator (CLI) acting on any tenant.
    async fn revoke_api_key(
        &self,
        tenant_id: Option<&str>,
        key_id: &str,
        change: &KeyChange,
    ) -> StoreResult<Option<ApiKeyRow>>;
    /// Inserts `new_key` and lets the old one (usable at `change.now`) expire at
    /// `grace_until`, in one transaction, under the change's cap; answers the old key.
    async fn rotate_api_key(
        &self,
        tenant_id: &str,
        old_key_id: &str,
        new_key: &ApiKeyRow,
        grace_until: i64,
        change: &KeyChange,
    ) -> StoreResult<KeyWrite<ApiKeyRow>>;
    /// Records an entry of its own (a refused key operation).
    async fn record_audit(&self, entry: &TenantAuditRow) -> StoreResult<()>;
    async fn list_audit(
        &self,
        tenant_id: &str,
        page: &PageQuery,
    ) -> StoreResult<Vec<TenantAuditRow>>;
}

/// Platform connections, and what the pipeline stamps on them.
#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// Inserts the connection unless the tenant already has `max` connections; whether it did.
    async fn insert_connection(&self, connection: &ConnectionRow, max: i64) -> StoreResult<bool>;
    async fn list_connections(
        &self,
        tenant_id: &str,
        page: &PageQuery,
    ) -> StoreResult<Vec<ConnectionRow>>;
    async fn all_connections(&self, tenant_id: &str) -> StoreResult<Vec<ConnectionRow>>;
    /// The `(id, platform, status)` of each of the tenant's connections, or None when there
    /// is no such tenant: what ingest checks of every event, in one read.
    async fn connection_states(
        &self,
        tenant_id: &str,
    ) -> StoreResult<Option<Vec<crate::domain::connections::ConnectionState>>>;
    /// Deletes a connection and its poller; whether it existed. Orders and events it brought
    /// stay.
    async fn delete_connection(&self, tenant_id: &str, id: &str) -> StoreResult<bool>;
    async fn get_connection(&self, tenant_id: &str, id: &str)
    -> StoreResult<Option<ConnectionRow>>;
    async fn set_connection_status(
        &self,
        tenant_id: &str,
        id: &str,
        status: &str,
        now: i64,
    ) -> StoreResult<Option<ConnectionRow>>;
    async fn update_connection_secrets(
        &self,
        connection_id: &str,
        sealed: &str,
        now: i64,
    ) -> StoreResult<()>;
    /// Every tenant's connections of one platform account, oldest first (the app-wide
    /// endpoints are routed by account, and an account belongs to one connection): the one
    /// lookup of connections not scoped by a tenant.
    async fn account_connections(
        &self,
        account: PlatformAccount<'_>,
    ) -> StoreResult<Vec<ConnectionRow>>;
    /// Stamps a connection with the time it last brought an event.
    async fn touch_connection(&self, connection_id: &str, now: i64) -> StoreResult<()>;
    async fn set_connection_warning(
        &self,
        connection_id: &str,
        warning: Option<&str>,
    ) -> StoreResult<()>;
}

/// A platform account a connection speaks for, whichever tenant's it is.
#[derive(Debug, Clone, Copy)]
pub enum PlatformAccount<'a> {
    /// An Etsy shop, by its numeric id (the connection's `shop_id`).
    EtsyShop(&'a str),
    /// An eBay user, by their immutable userId (the connection's `account_id`).
    EbaySeller(&'a str),
}

/// Events from the edge and from pollers, stored once per dedupe key.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Stores an event once per `(tenant, dedupe_key)`; answers the stored id and whether it
    /// was already there. Also stamps the platform's connections with the event time.
    async fn ingest_event(&self, event: &EventRow) -> StoreResult<(String, bool)>;
    /// Stores events in one transaction, each once per dedupe key (or edge id), stamping
    /// their platform's active connections: per event, the stored id and whether it was
    /// already there. The batched form of [`EventStore::ingest_event`].
    async fn ingest_events(&self, events: &[EventRow]) -> StoreResult<Vec<(String, bool)>>;
    /// Stores an event found by a poller once per dedupe key; whether it was new.
    async fn insert_polled_event(&self, event: &EventRow) -> StoreResult<bool>;
    /// Records an event the edge gave up on, once per `(tenant, edge_event_id)`.
    async fn record_dead_letter(&self, event: &EventRow) -> StoreResult<(String, bool)>;
    async fn list_events(
        &self,
        tenant_id: &str,
        filter: &EventFilter,
    ) -> StoreResult<Vec<EventRow>>;
}

/// Products and what maps platform items to them.
#[async_trait]
pub trait ProductStore: Send + Sync {
    async fn insert_product(&self, product: &ProductRow) -> StoreResult<()>;
    async fn update_product(&self, product: &ProductRow) -> StoreResult<()>;
    async fn get_product(&self, tenant_id: &str, id: &str) -> StoreResult<Option<ProductRow>>;
    async fn list_products(
        &self,
        tenant_id: &str,
        filter: &ProductFilter,
    ) -> StoreResult<Vec<ProductRow>>;
    /// The tenant's active products with their mappings JSON: `(id, type, mappings)`.
    async fn mappable_products(
        &self,
        tenant_id: &str,
    ) -> StoreResult<Vec<(String, String, String)>>;
}

/// A product's license codes.
#[async_trait]
pub trait CodeStore: Send + Sync {
    async fn code_stock(&self, tenant_id: &str, product_id: &str) -> StoreResult<CodeStock>;
    /// Inserts the codes not already stored for the product; how many were new. Stored in
    /// chunks, each its own transaction: after a failure the chunks before it stay, and
    /// importing the same codes again counts them as already stored.
    async fn import_codes(
        &self,
        tenant_id: &str,
        product_id: &str,
        codes: &[String],
        now: i64,
    ) -> StoreResult<u64>;
}

/// A product's downloadable files.
#[async_trait]
pub trait FileStore: Send + Sync {
    async fn insert_file(&self, file: &FileRow) -> StoreResult<()>;
    async fn get_file(&self, file_id: &str) -> StoreResult<Option<FileRow>>;
    async fn list_files(&self, tenant_id: &str, product_id: &str) -> StoreResult<Vec<FileRow>>;
}

/// Orders, their items and audit trail, and what an operator does to them.
#[async_trait]
pub trait OrderStore: Send + Sync {
    /// Imports orders as they are; a delivered item of a product gets its `sent` ledger units.
    async fn insert_orders(&self, orders: &[(OrderRow, Vec<OrderItemRow>)]) -> StoreResult<()>;
    async fn list_orders(
        &self,
        tenant_id: &str,
        filter: &OrderFilter,
    ) -> StoreResult<Vec<OrderRow>>;
    async fn get_order(&self, tenant_id: &str, id: &str) -> StoreResult<Option<OrderRow>>;
    async fn order_items(&self, tenant_id: &str, order_id: &str) -> StoreResult<Vec<OrderItemRow>>;
    async fn order_audit(&self, tenant_id: &str, order_id: &str) -> StoreResult<Vec<AuditRow>>;
    /// Queues every delivered or failed unit again and charges one token per delivered unit
    /// (a failed unit is free), atomically. A refunded or cancelled order: `OrderClosed`,
    /// nothing charged.
    async fn resend_order(
        &self,
        tenant_id: &str,
        order_id: &str,
        now: i64,
    ) -> StoreResult<ResendOutcome>;
    /// Gives a CODE item a fresh code, marks the old one replaced, charges one token. A
    /// refunded or cancelled order: `OrderClosed`, nothing charged.
    async fn replace_item_code(
        &self,
        tenant_id: &str,
        order_id: &str,
        item_id: &str,
        now: i64,
    ) -> StoreResult<(OrderItemRow, i64)>;
}

/// Email templates.
#[async_trait]
pub trait TemplateStore: Send + Sync {
    /// Inserts or updates; when the template is the default, every other one stops being it.
    async fn save_template(&self, template: &TemplateRow, is_new: bool) -> StoreResult<()>;
    async fn get_template(&self, tenant_id: &str, id: &str) -> StoreResult<Option<TemplateRow>>;
    async fn list_templates(
        &self,
        tenant_id: &str,
        page: &PageQuery,
    ) -> StoreResult<Vec<TemplateRow>>;
}

/// Idempotency keys of state-changing requests (`domain::idempotency` judges them).
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Claims `request.key` for the request, or says why not. Also deletes a few keys past
    /// the retention, so the table holds about one retention's worth of keys.
    async fn claim_idempotency_key(
        &self,
        request: &IdempotentRequest<'_>,
    ) -> StoreResult<IdempotencyClaim>;
    /// Stores the answer of the claim `claim_token` holds (nothing if another claim took the
    /// key over meanwhile).
    async fn answer_idempotency_key(
        &self,
        tenant_id: &str,
        key: &str,
        claim_token: &str,
        answer: &StoredAnswer,
        now: i64,
    ) -> StoreResult<()>;
    /// Frees the key of an unanswered claim (the request failed and may be retried).
    async fn release_idempotency_key(
        &self,
        tenant_id: &str,
        key: &str,
        claim_token: &str,
    ) -> StoreResult<()>;
}

/// A request with an idempotency key, at `now`, keys being kept `retention_ms`.
#[derive(Debug, Clone)]
pub struct IdempotentRequest<'a> {
    pub tenant_id: &'a str,
    pub key: &'a str,
    pub fingerprint: &'a str,
    pub now: i64,
    pub retention_ms: i64,
}

/// The answer kept for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// What claiming a key gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The request may run; its answer is stored (or the key released) with this token.
    Claimed { claim_token: String },
    /// The same request was answered: this answer.
    Replay(StoredAnswer),
    /// The key belongs to another request.
    Mismatch,
    /// The same request is still being answered.
    InFlight,
}
