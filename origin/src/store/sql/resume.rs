//! Waiting units tried again: the sweep takes due units a tenant at a time round the table
//! (every tenant's first, then every tenant's second, ...), so no tenant's backlog hides
//! another's; a unit that still cannot proceed is backed off. The events that unblock units
//! (codes imported, tokens added) make them due at once.

use super::allocation::{Purpose, allocate_unit};
use super::batch::{Deferred, refresh_orders};
use super::*;
use crate::domain::ledger::{Allocation, DeliveryPolicy};
use crate::domain::resumption::ResumeBackoff;
use crate::store::pipeline::{DeliveryRow, SendLease, UnitRef};

/// The units due, in turns across tenants.
const DUE_IN_TURNS: &str = "SELECT id FROM (SELECT id, resume_at, \
     ROW_NUMBER() OVER (PARTITION BY tenant_id ORDER BY resume_at, id) AS turn \
     FROM deliveries WHERE status IN ('awaiting_stock', 'awaiting_tokens') \
     AND resume_at <= $1) due ORDER BY turn, resume_at, id LIMIT $2";

pub(super) async fn resume_due(
    store: &Backend,
    policy: DeliveryPolicy,
    now: i64,
    lease: SendLease<'_>,
    limit: i64,
    backoff: ResumeBackoff,
) -> StoreResult<Vec<UnitRef>> {
    let due: Vec<(String,)> = sqlx::query_as(DUE_IN_TURNS)
        .bind(now)
        .bind(limit)
        .fetch_all(&store.pool)
        .await?;
    let mut allocated = Vec::new();
    for (id,) in due {
        let _writer = store.write_gate().await;
        let mut tx = store.begin_write().await?;
        // Takes the row (and on PostgreSQL its lock): a unit another replica allocated or
        // backed off meanwhile no longer matches.
        let delivery: Option<DeliveryRow> = sqlx::query_as(
            "UPDATE deliveries SET updated_at = $1 WHERE id = $2 AND resume_at <= $1 \
             AND status IN ('awaiting_stock', 'awaiting_tokens') RETURNING *",
        )
        .bind(now)
        .bind(&id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(delivery) = delivery else { continue };
        let mut deferred = Deferred::default();
        let allocation = allocate_unit(
            &mut tx,
            &mut deferred,
            &delivery,
            policy,
            now,
            Purpose::Email(Some(lease)),
        )
        .await?;
        deferred.write(&mut tx, now).await?;
        if allocation == Allocation::Allocated {
            sqlx::query("UPDATE deliveries SET resume_at = 0, resume_attempts = 0 WHERE id = $1")
                .bind(&delivery.id)
                .execute(&mut *tx)
                .await?;
            let touched = [(delivery.tenant_id.clone(), delivery.order_id.clone())];
            refresh_orders(&mut tx, &touched, now).await?;
            allocated.push((delivery.tenant_id, delivery.order_id, delivery.id));
        } else {
            let (attempts,): (i64,) =
                sqlx::query_as("SELECT resume_attempts FROM deliveries WHERE id = $1")
                    .bind(&delivery.id)
                    .fetch_one(&mut *tx)
                    .await?;
            sqlx::query("UPDATE deliveries SET resume_attempts = $1, resume_at = $2 WHERE id = $3")
                .bind(attempts.saturating_add(1))
                .bind(now.saturating_add(backoff.delay_ms(attempts)))
                .bind(&delivery.id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    }
    Ok(allocated)
}

/// Codes arrived for the product: its units waiting for stock are due at once.
pub(super) async fn wake_awaiting_stock(
    store: &Backend,
    tenant_id: &str,
    product_id: &str,
) -> StoreResult<()> {
    let _writer = store.write_gate().await;
    sqlx::query(
        "UPDATE deliveries SET resume_at = 0, resume_attempts = 0 \
         WHERE tenant_id = $1 AND product_id = $2 AND status = 'awaiting_stock'",
    )
    .bind(tenant_id)
    .bind(product_id)
    .execute(&store.pool)
    .await?;
    Ok(())
}

/// Tokens arrived for the tenant, in the caller's statement sequence: its units waiting for
/// tokens are due at once.
pub(super) async fn wake_awaiting_tokens<'e, E>(executor: E, tenant_id: &str) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    sqlx::query(
        "UPDATE deliveries SET resume_at = 0, resume_attempts = 0 \
         WHERE tenant_id = $1 AND status = 'awaiting_tokens'",
    )
    .bind(tenant_id)
    .execute(executor)
    .await?;
    Ok(())
}
