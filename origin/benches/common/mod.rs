//! What the origin's benchmarks share: settings from the environment and a PostgreSQL schema
//! of their own for each run.

use origin::ids::new_id;

/// `name` from the environment, parsed, or `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A fresh schema on the PostgreSQL at `TEST_DATABASE_URL` (default the local server), dropped
/// by [`BenchSchema::drop`]. Fails loudly when PostgreSQL is unreachable.
pub struct BenchSchema {
    pool: sqlx::PgPool,
    schema: String,
    /// A database URL whose search path is the new schema.
    pub url: String,
}

impl BenchSchema {
    pub async fn create() -> Self {
        let admin_url = std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let pool = sqlx::PgPool::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin_url} is unreachable: {e}"));
        let schema = format!("bench_{}", new_id("x").trim_start_matches("x_"));
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&pool)
            .await
            .unwrap();
        let separator = if admin_url.contains('?') { '&' } else { '?' };
        let url = format!("{admin_url}{separator}options=-c%20search_path%3D{schema}");
        BenchSchema { pool, schema, url }
    }

    pub async fn drop(self) {
        sqlx::query(&format!("DROP SCHEMA {} CASCADE", self.schema))
            .execute(&self.pool)
            .await
            .unwrap();
    }
}
