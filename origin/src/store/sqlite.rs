//! The SQLite backend: one file under the data dir, WAL, the default for a single origin.
//! Opens the pool and names its dialect; the SQL itself is `sql/`, compiled here for SQLite.

use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::Semaphore;

/// What the shared SQL in `sql/` is compiled against for SQLite.
mod dialect {
    pub type Db = sqlx::Sqlite;
    pub type Backend = super::SqliteStore;
    pub const NAME: &str = "sqlite";
    /// Takes the write lock at the start, so a reader never has to upgrade mid-transaction.
    pub const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";
    /// Claims need no row locks: a write transaction holds the single writer lock.
    pub const SKIP_LOCKED: &str = "";
    pub const LOCK_ROW: &str = "";
    /// SQLite has one writer: waiting at the write gate in order is far cheaper than SQLite's
    /// busy handler, which sleeps in growing steps while another connection writes.
    pub const WRITERS: usize = 1;
}

// The same SQL is compiled once per backend, against this file's `dialect`: on purpose.
#[allow(clippy::duplicate_mod)]
#[path = "sql/mod.rs"]
mod sql;

pub struct SqliteStore {
    pool: SqlitePool,
    /// The write gate every writing method passes ([`dialect::WRITERS`] at once).
    writers: Semaphore,
}

impl SqliteStore {
    /// Opens (creating if needed) the database `url` names (`sqlite://path` or a bare path).
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        let url = if url.starts_with("sqlite:") {
            url.to_owned()
        } else {
            format!("sqlite://{url}")
        };
        let options = SqliteConnectOptions::from_str(&url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // Delivering an order touches ~25 pages; with the default 1,000-page WAL, SQLite
            // checkpoints (and syncs) every few dozen orders. A larger WAL and page cache
            // let a burst of deliveries checkpoint ten times less often.
            .pragma("wal_autocheckpoint", "10000")
            .pragma("cache_size", "-65536");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        Ok(SqliteStore {
            pool,
            writers: Semaphore::new(dialect::WRITERS),
        })
    }

    fn migrator() -> Migrator {
        sqlx::migrate!("./migrations/sqlite")
    }
}
