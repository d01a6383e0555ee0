//! The PostgreSQL backend: for several origin replicas sharing one database. Opens the pool
//! and names its dialect; the SQL itself is `sql/`, compiled here for PostgreSQL.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::Semaphore;

/// What the shared SQL in `sql/` is compiled against for PostgreSQL.
mod dialect {
    pub type Db = sqlx::Postgres;
    pub type Backend = super::PostgresStore;
    pub const NAME: &str = "postgres";
    pub const BEGIN_WRITE: &str = "BEGIN";
    /// Replicas share claims without waiting on each other's locked rows.
    pub const SKIP_LOCKED: &str = " FOR UPDATE SKIP LOCKED";
    /// Locks a row read to be written later in the same transaction (a tenant's balance).
    pub const LOCK_ROW: &str = " FOR UPDATE";
    /// Writers of this store at once.
    pub const WRITERS: usize = 64;
}

// The same SQL is compiled once per backend, against this file's `dialect`: on purpose.
#[allow(clippy::duplicate_mod)]
#[path = "sql/mod.rs"]
mod sql;

pub struct PostgresStore {
    pool: PgPool,
    /// The write gate every writing method passes ([`dialect::WRITERS`] at once).
    writers: Semaphore,
}

impl PostgresStore {
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        Ok(PostgresStore {
            pool,
            writers: Semaphore::new(dialect::WRITERS),
        })
    }

    fn migrator() -> Migrator {
        sqlx::migrate!("./migrations/postgres")
    }
}
