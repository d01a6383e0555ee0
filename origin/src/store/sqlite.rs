//! The SQLite backend: one file under the data dir, WAL, the default for a single origin.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};

pub struct SqliteStore {
    pool: SqlitePool,
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
        Ok(SqliteStore { pool })
    }

    fn migrator() -> Migrator {
        sqlx::migrate!("./migrations/sqlite")
    }
}

super::sql::impl_store!(SqliteStore, Sqlite, "sqlite", "BEGIN IMMEDIATE", "");
super::pipeline_sql::impl_pipeline_store!(SqliteStore, Sqlite, "BEGIN IMMEDIATE", "", "", 1);
