//! What the origin's benchmarks share: settings from the environment and a PostgreSQL schema
//! of their own for each run.

use origin::ids::new_id;

/// The secret the benchmarks' origins share with their (absent) edge.
pub const EDGE_SECRET: &str = "bench-edge-secret";

/// Sends `request` signed as the edge signs it: the origin serves nothing unsigned. The
/// signature covers the request as built (method, path, query, body).
pub async fn send_signed(request: reqwest::RequestBuilder) -> reqwest::Result<reqwest::Response> {
    let (client, request) = request.build_split();
    let mut request = request?;
    let url = request.url();
    let path = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let body = request
        .body()
        .and_then(|b| b.as_bytes())
        .unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is past 1970")
        .as_secs();
    let signature = shared::forward::sign_forwarded_request(
        EDGE_SECRET.as_bytes(),
        now,
        request.method().as_str(),
        &path,
        body,
    );
    request.headers_mut().insert(
        shared::forward::SIGNATURE_HEADER,
        signature.parse().expect("a signature is a header value"),
    );
    client.execute(request).await
}

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
