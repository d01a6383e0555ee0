//! The SQL both backends run, written once: `sqlite.rs` and `postgres.rs` each include this
//! module (`#[path = "sql/mod.rs"] mod sql;`) after naming their dialect in a `dialect`
//! module (`Db`, `Backend`, `BEGIN_WRITE`, `SKIP_LOCKED`, `LOCK_ROW`, `WRITERS`), so the same
//! plain Rust is compiled once per backend against concrete types. Both databases accept `$n`
//! placeholders, `ON CONFLICT`, `RETURNING` and partial indexes, so one text serves both; the
//! backends differ only in how a write transaction begins and in row locking. This file holds
//! the helpers the table families share and the write gate; each family has its own file.

mod accounts;
mod alerts;
mod allocation;
mod batch;
mod codes;
mod connect_attempts;
mod connections;
mod erasure;
mod event_queue;
mod events;
mod fulfilments;
mod idempotency;
mod keys;
mod ledger;
mod links;
mod orders;
mod platform_delivery;
mod pollers;
mod products;
mod quotas;
mod refunds;
mod resume;
mod retention;
mod review;
mod sends;
mod sessions;
mod templates;
mod tenants;
mod tokens;
mod units;

use async_trait::async_trait;
use sqlx::QueryBuilder;
use tokio::sync::SemaphorePermit;

use super::dialect::{BEGIN_WRITE, Backend, Db, LOCK_ROW, NAME, SKIP_LOCKED};

use crate::store::{PageQuery, StoreBackend, StoreError, StoreResult};

type Tx<'c> = sqlx::Transaction<'c, Db>;
type Pool = sqlx::Pool<Db>;

/// Ids bound in one `IN (…)` list: well under SQLite's and PostgreSQL's bind limits.
const ID_CHUNK: usize = 500;

impl Backend {
    /// Waits for a turn to write. Every method that writes passes here first, reads do not;
    /// the gate belongs to this store, so two stores in one process do not share it.
    async fn write_gate(&self) -> SemaphorePermit<'_> {
        self.writers
            .acquire()
            .await
            .expect("the write gate is never closed")
    }

    /// Begins a write transaction (on SQLite it takes the write lock at once).
    async fn begin_write(&self) -> StoreResult<Tx<'static>> {
        Ok(self.pool.begin_with(BEGIN_WRITE).await?)
    }
}

#[async_trait]
impl StoreBackend for Backend {
    async fn migrate(&self) -> StoreResult<()> {
        Self::migrator().run(&self.pool).await?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        NAME
    }
}

/// Whether a database error is a unique-constraint violation.
fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|db| db.is_unique_violation())
}

/// `%`/`_`-escaped `LIKE` pattern matching `needle` anywhere, lower case.
fn contains_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for ch in needle.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(ch);
    }
    pattern.push('%');
    pattern
}

/// Appends `AND column = value` when the filter is set.
fn push_eq<'a, T>(query: &mut QueryBuilder<'a, Db>, column: &str, value: Option<T>)
where
    T: 'a + sqlx::Encode<'a, Db> + sqlx::Type<Db>,
{
    if let Some(value) = value {
        query
            .push(format_args!(" AND {column} = "))
            .push_bind(value);
    }
}

/// Appends the keyset condition and order of a newest-first page.
fn push_page<'a>(query: &mut QueryBuilder<'a, Db>, page: &'a PageQuery) {
    if let Some(after) = page.after.as_deref() {
        query.push(" AND id < ").push_bind(after);
    }
    query.push(" ORDER BY id DESC LIMIT ").push_bind(page.fetch);
}

/// Appends ` AND {column} IN (…)` with the ids bound.
fn push_id_list<'q>(query: &mut QueryBuilder<'q, Db>, column: &str, ids: &'q [String]) {
    query.push(format_args!(" AND {column} IN ("));
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(id);
    }
    query.push(")");
}

/// `SELECT *` of one tenant's rows in `table`, for a list query to add filters to.
fn tenant_query<'a>(table: &str, tenant_id: &'a str) -> QueryBuilder<'a, Db> {
    let mut query = QueryBuilder::new(format!("SELECT * FROM {table} WHERE tenant_id = "));
    query.push_bind(tenant_id);
    query
}

/// Finishes a list query with the keyset page and runs it.
async fn fetch_page<'a, R>(
    pool: &Pool,
    mut query: QueryBuilder<'a, Db>,
    page: &'a PageQuery,
) -> StoreResult<Vec<R>>
where
    R: for<'r> sqlx::FromRow<'r, <Db as sqlx::Database>::Row> + Send + Unpin,
{
    push_page(&mut query, page);
    Ok(query.build_query_as().fetch_all(pool).await?)
}

/// One row of a tenant by id; another tenant's id is the same as a missing one.
async fn tenant_row<R>(
    pool: &Pool,
    table: &str,
    tenant_id: &str,
    id: &str,
) -> StoreResult<Option<R>>
where
    R: for<'r> sqlx::FromRow<'r, <Db as sqlx::Database>::Row> + Send + Unpin,
{
    let sql = format!("SELECT * FROM {table} WHERE tenant_id = $1 AND id = $2");
    Ok(sqlx::query_as(&sql)
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(pool)
        .await?)
}

/// A tenant's rows in `table` whose `column` is `value`, oldest first.
async fn tenant_rows<R>(
    pool: &Pool,
    table: &str,
    column: &str,
    tenant_id: &str,
    value: &str,
) -> StoreResult<Vec<R>>
where
    R: for<'r> sqlx::FromRow<'r, <Db as sqlx::Database>::Row> + Send + Unpin,
{
    let sql = format!("SELECT * FROM {table} WHERE tenant_id = $1 AND {column} = $2 ORDER BY id");
    Ok(sqlx::query_as(&sql)
        .bind(tenant_id)
        .bind(value)
        .fetch_all(pool)
        .await?)
}

/// The one unique violation a connection write can hit: a platform account's second active
/// connection.
fn account_conflict(error: sqlx::Error) -> StoreError {
    if is_unique_violation(&error) {
        StoreError::AccountAlreadyConnected
    } else {
        StoreError::Database(error)
    }
}

/// A duplicate SKU is the one unique violation a product write can hit.
fn sku_conflict(error: sqlx::Error) -> StoreError {
    if is_unique_violation(&error) {
        StoreError::DuplicateSku
    } else {
        StoreError::Database(error)
    }
}
