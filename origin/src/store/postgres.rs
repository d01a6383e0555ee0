//! The PostgreSQL backend: for several origin replicas sharing one database.

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres};

pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        Ok(PostgresStore { pool })
    }

    fn migrator() -> Migrator {
        sqlx::migrate!("./migrations/postgres")
    }
}

super::sql::impl_store!(
    PostgresStore,
    Postgres,
    "postgres",
    "BEGIN",
    " FOR UPDATE SKIP LOCKED"
);
super::pipeline_sql::impl_pipeline_store!(
    PostgresStore,
    Postgres,
    "BEGIN",
    " FOR UPDATE SKIP LOCKED",
    " FOR UPDATE",
    64
);
