//! A product's license codes: their stock, and imports (which clear a low-stock alert the
//! new stock answers), stored in chunks so a large import never holds the write lock for long.
//! Allocation is the ledger's (`ledger.rs`).

use async_trait::async_trait;

use super::*;
use crate::domain::ledger::{alerts, low_stock_clears};
use crate::store::{CodeStock, CodeStore};

/// Codes stored per transaction of an import. A crash mid-import keeps the chunks committed
/// before it; importing the same codes again stores the rest and counts those as duplicates.
const IMPORT_CHUNK: usize = 1_000;

#[async_trait]
impl CodeStore for Backend {
    async fn code_stock(&self, tenant_id: &str, product_id: &str) -> StoreResult<CodeStock> {
        let (available, allocated): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(CASE WHEN status = 'available' THEN 1 END), \
             COUNT(CASE WHEN status = 'allocated' THEN 1 END) \
             FROM license_codes WHERE tenant_id = $1 AND product_id = $2",
        )
        .bind(tenant_id)
        .bind(product_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(CodeStock {
            available,
            allocated,
        })
    }

    async fn import_codes(
        &self,
        tenant_id: &str,
        product_id: &str,
        codes: &[String],
        now: i64,
    ) -> StoreResult<u64> {
        let mut imported = 0;
        // One transaction (and one turn at the write gate) per chunk, so other writers
        // interleave with a large import instead of waiting for all of it.
        for chunk in codes.chunks(IMPORT_CHUNK) {
            let _writer = self.write_gate().await;
            let mut tx = self.begin_write().await?;
            for rows in chunk.chunks(ID_CHUNK) {
                imported += insert_codes(&mut tx, tenant_id, product_id, rows, now).await?;
            }
            tx.commit().await?;
        }
        let _writer = self.write_gate().await;
        let mut tx = self.begin_write().await?;
        let stock: Option<(i64, i64)> = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM license_codes \
             WHERE product_id = $1 AND status = 'available'), low_stock_threshold \
             FROM products WHERE id = $1",
        )
        .bind(product_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((available, threshold)) = stock
            && low_stock_clears(available, threshold)
        {
            sqlx::query("DELETE FROM alerts WHERE tenant_id = $1 AND kind = $2 AND subject = $3")
                .bind(tenant_id)
                .bind(alerts::LOW_STOCK)
                .bind(product_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(imported)
    }
}

/// Inserts the codes the product does not hold yet, in the caller's transaction; how many.
async fn insert_codes(
    tx: &mut Tx<'_>,
    tenant_id: &str,
    product_id: &str,
    codes: &[String],
    now: i64,
) -> StoreResult<u64> {
    let mut query = QueryBuilder::<Db>::new(
        "INSERT INTO license_codes (id, tenant_id, product_id, code, status, created_at) ",
    );
    query.push_values(codes, |mut row, code| {
        row.push_bind(crate::ids::new_id("code"))
            .push_bind(tenant_id)
            .push_bind(product_id)
            .push_bind(code.as_str())
            .push_bind("available")
            .push_bind(now);
    });
    query.push(" ON CONFLICT DO NOTHING");
    Ok(query.build().execute(&mut **tx).await?.rows_affected())
}
