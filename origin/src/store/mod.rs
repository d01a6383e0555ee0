//! Storage: the [`Store`] trait every handler talks to (all the small per-resource traits at
//! once), its row types, and the two backends.
//!
//! Both backends compile the same SQL (written once in `sql/`, included by `sqlite.rs` and
//! `postgres.rs` against their own dialect) and run it against their own migrations; every
//! method that touches tenant data takes the tenant id and filters on it, so a handler cannot
//! forget tenant scoping. Timestamps are Unix milliseconds, booleans 0/1, ids text. The store
//! holds rows; the rules it applies in its transactions are `domain::ledger`'s.

pub mod accounts;
mod connect;
pub mod fulfilment;
pub mod group_commit;
pub mod pipeline;
mod postgres;
mod resources;
pub mod retention;
mod rows;
mod sqlite;
pub mod tokens;

use std::sync::Arc;

pub use accounts::{AccountStore, SessionStore};
pub use connect::{ConnectAttemptRow, ConnectStore};
pub use fulfilment::FulfilmentStore;

pub use pipeline::{
    AlertStore, EventQueueStore, LedgerStore, LinkStore, PipelineStore, PollerStore, SendStore,
};
pub use postgres::PostgresStore;
pub use resources::{
    CodeStore, ConnectionStore, EventStore, FileStore, IdempotencyClaim, IdempotencyStore,
    IdempotentRequest, KeyStore, OrderStore, PlatformAccount, ProductStore, StoreBackend,
    StoredAnswer, TemplateStore, TenantStore,
};
pub use retention::{QuotaStore, RetentionStore};
pub use rows::*;
pub use sqlite::SqliteStore;
pub use tokens::TokenStore;

/// `use crate::store::prelude::*;` brings [`Store`] and every small trait into scope, to call
/// store methods on a concrete backend or name a narrower bound.
pub mod prelude {
    pub use super::Store;
    pub use super::accounts::{AccountStore, SessionStore};
    pub use super::connect::ConnectStore;
    pub use super::fulfilment::FulfilmentStore;
    pub use super::pipeline::{
        AlertStore, EventQueueStore, LedgerStore, LinkStore, PipelineStore, PollerStore, SendStore,
    };
    pub use super::resources::{
        CodeStore, ConnectionStore, EventStore, FileStore, IdempotencyStore, KeyStore, OrderStore,
        ProductStore, StoreBackend, TemplateStore, TenantStore,
    };
    pub use super::retention::{QuotaStore, RetentionStore};
    pub use super::tokens::TokenStore;
}

/// Why a store call failed, in terms a handler can turn into an answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a product with this SKU already exists")]
    DuplicateSku,
    /// A connection write that would give an eBay user or Etsy shop a second active
    /// connection (the database's one-active-connection-per-account indexes refused it).
    #[error("the eBay user or Etsy shop already has an active connection")]
    AccountAlreadyConnected,
    #[error("the tenant's token balance is too low")]
    InsufficientTokens { balance: i64, needed: i64 },
    #[error("no license code is available for this product")]
    OutOfStock,
    /// A resend or replacement of a refunded or cancelled order: nothing done or charged.
    #[error("{0}")]
    OrderClosed(String),
    /// An approval of an order that does not wait for review: nothing done.
    #[error("{0}")]
    NotInReview(String),
    /// An approval of an order with more units than one approval makes: nothing done.
    #[error("{0}")]
    TooLarge(String),
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

/// Everything the origin keeps: every per-resource trait at once, so `Arc<dyn Store>` reaches
/// them all. One implementation per database; the same tests run on both. Implemented for
/// any type that implements every part.
pub trait Store:
    StoreBackend
    + TenantStore
    + KeyStore
    + ConnectionStore
    + ConnectStore
    + EventStore
    + ProductStore
    + CodeStore
    + FileStore
    + OrderStore
    + TemplateStore
    + IdempotencyStore
    + PipelineStore
    + RetentionStore
    + QuotaStore
    + FulfilmentStore
    + TokenStore
    + AccountStore
    + SessionStore
    + Send
    + Sync
    + 'static
{
}

impl<T> Store for T where
    T: StoreBackend
        + TenantStore
        + KeyStore
        + ConnectionStore
        + ConnectStore
        + EventStore
        + ProductStore
        + CodeStore
        + FileStore
        + OrderStore
        + TemplateStore
        + IdempotencyStore
        + PipelineStore
        + RetentionStore
        + QuotaStore
        + FulfilmentStore
        + TokenStore
        + AccountStore
        + SessionStore
        + Send
        + Sync
        + 'static
{
}
