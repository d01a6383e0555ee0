//! Storage: the [`Store`] trait every handler talks to, its row types, and the two backends.
//!
//! Both backends run the same SQL (written once in [`sql`]) against their own migrations;
//! every method that touches tenant data takes the tenant id and filters on it, so a handler
//! cannot forget tenant scoping. Timestamps are Unix milliseconds, booleans 0/1, ids text.

pub mod group_commit;
pub mod pipeline;
mod pipeline_sql;
mod postgres;
mod rows;
mod sql;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;

pub use postgres::PostgresStore;
pub use rows::*;
pub use sqlite::SqliteStore;

/// Why a store call failed, in terms a handler can turn into an answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a product with this SKU already exists")]
    DuplicateSku,
    #[error("the tenant's token balance is too low")]
    InsufficientTokens { balance: i64, needed: i64 },
    #[error("no license code is available for this product")]
    OutOfStock,
    #[error("the row already exists")]
    AlreadyExists,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Opens the store `database_url` names: `postgres://…` is PostgreSQL, anything else SQLite.
pub async fn connect(database_url: &str) -> StoreResult<Arc<dyn Store>> {
    if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::connect(database_url).await?))
    } else {
        Ok(Arc::new(SqliteStore::connect(database_url).await?))
    }
}

/// Everything the origin keeps. One implementation per database; the same tests run on both.
#[async_trait]
pub trait Store: pipeline::PipelineStore + Send + Sync + 'static {
    /// Applies this backend's migrations (idempotent).
    async fn migrate(&self) -> StoreResult<()>;
    /// Which backend this is, for logs and benchmarks.
    fn backend(&self) -> &'static str;

    // Tenants and tokens.
    async fn create_tenant(&self, tenant: &TenantRow, first_key: &ApiKeyRow) -> StoreResult<()>;
    async fn get_tenant(&self, tenant_id: &str) -> StoreResult<Option<TenantRow>>;
    /// Adds (or with a negative amount, removes, never below zero) tokens; the new balance.
    async fn add_tokens(&self, tenant_id: &str, amount: i64) -> StoreResult<Option<i64>>;

    // API keys.
    async fn insert_api_key(&self, key: &ApiKeyRow) -> StoreResult<()>;
    /// The key with this hash if it is neither revoked nor past its rotation grace period.
    async fn find_usable_api_key(&self, hash: &str, now: i64) -> StoreResult<Option<ApiKeyRow>>;
    async fn touch_api_key(&self, key_id: &str, now: i64) -> StoreResult<()>;
    async fn get_api_key(&self, tenant_id: &str, key_id: &str) -> StoreResult<Option<ApiKeyRow>>;
    async fn list_api_keys(&self, tenant_id: &str, page: &PageQuery)
    -> StoreResult<Vec<ApiKeyRow>>;
    /// Revokes a key; `tenant_id` None is the operator (CLI) acting on any tenant.
    async fn revoke_api_key(
        &self,
        tenant_id: Option<&str>,
        key_id: &str,
        now: i64,
    ) -> StoreResult<Option<ApiKeyRow>>;
    /// Inserts `new_key` and lets the old one expire at `grace_until`, in one transaction.
    async fn rotate_api_key(
        &self,
        tenant_id: &str,
        old_key_id: &str,
        new_key: &ApiKeyRow,
        grace_until: i64,
    ) -> StoreResult<Option<ApiKeyRow>>;

    // Connections.
    async fn insert_connection(&self, connection: &ConnectionRow) -> StoreResult<()>;
    async fn list_connections(
        &self,
        tenant_id: &str,
        page: &PageQuery,
    ) -> StoreResult<Vec<ConnectionRow>>;
    async fn all_connections(&self, tenant_id: &str) -> StoreResult<Vec<ConnectionRow>>;
    /// The `(platform, status)` of each of the tenant's connections, or None when there is
    /// no such tenant: what ingest checks of every event, in one read.
    async fn connection_states(
        &self,
        tenant_id: &str,
    ) -> StoreResult<Option<Vec<(String, String)>>>;
    async fn get_connection(&self, tenant_id: &str, id: &str)
    -> StoreResult<Option<ConnectionRow>>;
    async fn set_connection_status(
        &self,
        tenant_id: &str,
        id: &str,
        status: &str,
        now: i64,
    ) -> StoreResult<Option<ConnectionRow>>;

    // Events from the edge.
    /// Stores an event once per `(tenant, dedupe_key)`; answers the stored id and whether it
    /// was already there. Also stamps the platform's connections with the event time.
    async fn ingest_event(&self, event: &EventRow) -> StoreResult<(String, bool)>;
    /// Records an event the edge gave up on, once per `(tenant, edge_event_id)`.
    async fn record_dead_letter(&self, event: &EventRow) -> StoreResult<(String, bool)>;
    async fn list_events(
        &self,
        tenant_id: &str,
        filter: &EventFilter,
    ) -> StoreResult<Vec<EventRow>>;

    // Products, files and codes.
    async fn insert_product(&self, product: &ProductRow) -> StoreResult<()>;
    async fn update_product(&self, product: &ProductRow) -> StoreResult<()>;
    async fn get_product(&self, tenant_id: &str, id: &str) -> StoreResult<Option<ProductRow>>;
    async fn list_products(
        &self,
        tenant_id: &str,
        filter: &ProductFilter,
    ) -> StoreResult<Vec<ProductRow>>;
    async fn code_stock(&self, tenant_id: &str, product_id: &str) -> StoreResult<CodeStock>;
    /// Inserts the codes not already stored for the product; how many were new.
    async fn import_codes(
        &self,
        tenant_id: &str,
        product_id: &str,
        codes: &[String],
        now: i64,
    ) -> StoreResult<u64>;
    async fn insert_file(&self, file: &FileRow) -> StoreResult<()>;
    async fn get_file(&self, file_id: &str) -> StoreResult<Option<FileRow>>;
    async fn complete_file(
        &self,
        file_id: &str,
        size_bytes: i64,
        sha256: &str,
        now: i64,
    ) -> StoreResult<()>;
    async fn list_files(&self, tenant_id: &str, product_id: &str) -> StoreResult<Vec<FileRow>>;

    // Orders.
    async fn insert_orders(&self, orders: &[(OrderRow, Vec<OrderItemRow>)]) -> StoreResult<()>;
    async fn list_orders(
        &self,
        tenant_id: &str,
        filter: &OrderFilter,
    ) -> StoreResult<Vec<OrderRow>>;
    async fn get_order(&self, tenant_id: &str, id: &str) -> StoreResult<Option<OrderRow>>;
    async fn order_items(&self, tenant_id: &str, order_id: &str) -> StoreResult<Vec<OrderItemRow>>;
    async fn order_audit(&self, tenant_id: &str, order_id: &str) -> StoreResult<Vec<AuditRow>>;
    /// Charges one token per item and queues every item again, atomically; the new balance.
    async fn resend_order(&self, tenant_id: &str, order_id: &str, now: i64) -> StoreResult<i64>;
    /// Gives a CODE item a fresh code, marks the old one replaced, charges one token.
    async fn replace_item_code(
        &self,
        tenant_id: &str,
        order_id: &str,
        item_id: &str,
        now: i64,
    ) -> StoreResult<(OrderItemRow, i64)>;

    // Templates.
    /// Inserts or updates; when the template is the default, every other one stops being it.
    async fn save_template(&self, template: &TemplateRow, is_new: bool) -> StoreResult<()>;
    async fn get_template(&self, tenant_id: &str, id: &str) -> StoreResult<Option<TemplateRow>>;
    async fn list_templates(
        &self,
        tenant_id: &str,
        page: &PageQuery,
    ) -> StoreResult<Vec<TemplateRow>>;
}
