//! Fulfilment calls: made due in the transaction that records units sent (`refresh_orders`
//! calls [`queue_fulfilments`]), leased under a claim token, finished with their audit row.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::json;

use super::batch::audit_in;
use super::platform_delivery::{release_in, reserve_in, settle_in};
use super::*;
use crate::domain::fulfilment::{
    DELIVER, DONE, LineState, PENDING, REFUSED, SKIPPED, audit as fulfilment_audit, calls_due,
};
use crate::domain::ledger::DeliveryPolicy;
use crate::ids::new_id;
use crate::store::ConnectionRow;
use crate::store::fulfilment::{FulfilmentOutcome, FulfilmentRow, FulfilmentStore, Reservation};

/// One line of an order that has units sent, as `calls_due` reads it.
#[derive(sqlx::FromRow)]
struct LineOfOrder {
    order_id: String,
    platform: String,
    platform_order_id: String,
    connection_id: String,
    status: String,
    delivery_status: String,
    line_item_id: String,
    units_sent: i64,
}

/// Makes the calls `domain::fulfilment::calls_due` says these orders are due, once per
/// target ever: a call already made (or skipped, or refused) is never made again, whatever
/// is replayed or resent. Runs in the caller's transaction, after the items' status is
/// recomputed.
pub(super) async fn queue_fulfilments(
    tx: &mut Tx<'_>,
    tenant_id: &str,
    order_ids: &[String],
    now: i64,
) -> StoreResult<()> {
    let mut query = QueryBuilder::<Db>::new(
        "SELECT o.id AS order_id, o.platform, o.platform_order_id, o.connection_id, o.status, \
         i.delivery_status, \
         COALESCE((SELECT MIN(d.line_item_id) FROM deliveries d \
           WHERE d.order_item_id = i.id), '') AS line_item_id, \
         (SELECT COUNT(*) FROM deliveries d WHERE d.order_item_id = i.id \
           AND d.status = 'sent') AS units_sent \
         FROM orders o JOIN order_items i ON i.order_id = o.id AND i.tenant_id = o.tenant_id \
         WHERE EXISTS (SELECT 1 FROM deliveries s WHERE s.order_id = o.id \
           AND s.status = 'sent') AND o.tenant_id = ",
    );
    query.push_bind(tenant_id);
    push_id_list(&mut query, "o.id", order_ids);
    query.push(" ORDER BY o.id, i.id");
    let lines: Vec<LineOfOrder> = query.build_query_as().fetch_all(&mut **tx).await?;
    if lines.is_empty() {
        return Ok(());
    }
    let mut by_order: BTreeMap<&str, Vec<&LineOfOrder>> = BTreeMap::new();
    for line in &lines {
        by_order.entry(&line.order_id).or_default().push(line);
    }
    let mut rows: Vec<(&LineOfOrder, String, i64)> = Vec::new();
    for order_lines in by_order.values() {
        let first = order_lines[0];
        let states: Vec<LineState> = order_lines
            .iter()
            .map(|line| LineState {
                line_item_id: line.line_item_id.clone(),
                delivery_status: line.delivery_status.clone(),
                units_sent: line.units_sent,
            })
            .collect();
        for call in calls_due(&first.platform, &first.status, &states) {
            rows.push((first, call.target, call.quantity));
        }
    }
    // Twelve binds a row.
    for chunk in rows.chunks(40) {
        let mut query = QueryBuilder::<Db>::new(
            "INSERT INTO fulfilments (id, tenant_id, order_id, platform, platform_order_id, \
             connection_id, target, quantity, status, next_attempt_at, created_at, updated_at) ",
        );
        query.push_values(chunk, |mut row, (order, target, quantity)| {
            row.push_bind(new_id("ful"))
                .push_bind(tenant_id)
                .push_bind(&order.order_id)
                .push_bind(&order.platform)
                .push_bind(&order.platform_order_id)
                .push_bind(&order.connection_id)
                .push_bind(target)
                .push_bind(*quantity)
                .push_bind(PENDING)
                .push_bind(now)
                .push_bind(now)
                .push_bind(now);
        });
        query.push(" ON CONFLICT (tenant_id, order_id, target) DO NOTHING");
        query.build().execute(&mut **tx).await?;
    }
    Ok(())
}

#[async_trait]
impl FulfilmentStore for Backend {
    async fn claim_fulfilments(
        &self,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<FulfilmentRow>> {
        let _writer = self.write_gate().await;
        let sql = format!(
            "UPDATE fulfilments SET lease_until = $1, claim_token = $4, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM fulfilments WHERE status = 'pending' \
             AND next_attempt_at <= $2 AND lease_until <= $2 ORDER BY next_attempt_at, id \
             LIMIT $3{SKIP_LOCKED}) RETURNING *"
        );
        Ok(sqlx::query_as(&sql)
            .bind(now + lease_ms)
            .bind(now)
            .bind(limit)
            .bind(new_id("claim"))
            .fetch_all(&self.pool)
            .await?)
    }

    async fn finish_fulfilment(
        &self,
        id: &str,
        claim_token: &str,
        outcome: &FulfilmentOutcome,
        now: i64,
    ) -> StoreResult<bool> {
        let _writer = self.write_gate().await;
        let mut tx = self.begin_write().await?;
        let (status, next_attempt_at, error, platform_ref, done_at) = match outcome {
            FulfilmentOutcome::Done { platform_ref, .. } => {
                (DONE, 0, None, platform_ref.as_deref(), Some(now))
            }
            FulfilmentOutcome::Retry { at, error, .. } => {
                (PENDING, *at, Some(error.as_str()), None, None)
            }
            FulfilmentOutcome::Refused { error } => (REFUSED, 0, Some(error.as_str()), None, None),
            FulfilmentOutcome::Skipped { reason } => {
                (SKIPPED, 0, Some(reason.as_str()), None, None)
            }
        };
        let row: Option<FulfilmentRow> = sqlx::query_as(
            "UPDATE fulfilments SET status = $1, next_attempt_at = $2, lease_until = 0, \
             claim_token = NULL, last_error = $3, platform_ref = COALESCE($4, platform_ref), \
             done_at = $5, updated_at = $6 \
             WHERE id = $7 AND claim_token = $8 AND status = 'pending' RETURNING *",
        )
        .bind(status)
        .bind(next_attempt_at)
        .bind(error)
        .bind(platform_ref)
        .bind(done_at)
        .bind(now)
        .bind(id)
        .bind(claim_token)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        if row.kind == DELIVER {
            let (tenant_id, order_id) = (row.tenant_id.as_str(), row.order_id.as_str());
            match outcome {
                FulfilmentOutcome::Done { .. } => {
                    settle_in(&mut tx, tenant_id, order_id, &row.platform, now).await?;
                }
                FulfilmentOutcome::Refused { error: why }
                | FulfilmentOutcome::Skipped { reason: why } => {
                    release_in(&mut tx, tenant_id, order_id, why, now).await?;
                }
                FulfilmentOutcome::Retry { .. } => {}
            }
        }
        let mut detail = json!({
            "fulfilment": row.id, "platform": row.platform, "attempts": row.attempts,
        });
        if !row.target.is_empty() {
            detail["line_item_id"] = row.target.clone().into();
            detail["quantity"] = row.quantity.into();
        }
        let action = match outcome {
            FulfilmentOutcome::Done { platform_ref, note } => {
                if let Some(reference) = platform_ref {
                    detail["reference"] = reference.clone().into();
                }
                if let Some(note) = note {
                    detail["note"] = note.clone().into();
                }
                fulfilment_audit::FULFILMENT_DONE
            }
            FulfilmentOutcome::Retry { audited: false, .. } => {
                tx.commit().await?;
                return Ok(true);
            }
            FulfilmentOutcome::Retry { at, error, .. } => {
                detail["error"] = error.clone().into();
                detail["retry_at"] = crate::ids::rfc3339(*at).into();
                fulfilment_audit::FULFILMENT_RETRY
            }
            FulfilmentOutcome::Refused { error } => {
                detail["error"] = error.clone().into();
                fulfilment_audit::FULFILMENT_REFUSED
            }
            FulfilmentOutcome::Skipped { reason } => {
                detail["reason"] = reason.clone().into();
                fulfilment_audit::FULFILMENT_SKIPPED
            }
        };
        audit_in(&mut tx, &row.tenant_id, &row.order_id, now, action, &detail).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn reserve_for_platform_delivery(
        &self,
        tenant_id: &str,
        order_id: &str,
        policy: DeliveryPolicy,
        now: i64,
    ) -> StoreResult<Reservation> {
        let _writer = self.write_gate().await;
        let mut tx = self.begin_write().await?;
        let reservation = reserve_in(&mut tx, tenant_id, order_id, policy, now).await?;
        // All or nothing: only a whole reservation is kept.
        if matches!(reservation, Reservation::Reserved { earlier: false, .. }) {
            tx.commit().await?;
        }
        Ok(reservation)
    }

    async fn order_fulfilments(
        &self,
        tenant_id: &str,
        order_id: &str,
    ) -> StoreResult<Vec<FulfilmentRow>> {
        tenant_rows(&self.pool, "fulfilments", "order_id", tenant_id, order_id).await
    }

    async fn set_connection_settings(
        &self,
        tenant_id: &str,
        id: &str,
        settings: &str,
        now: i64,
    ) -> StoreResult<Option<ConnectionRow>> {
        let _writer = self.write_gate().await;
        Ok(sqlx::query_as(
            "UPDATE connections SET settings = $1, updated_at = $2 \
             WHERE tenant_id = $3 AND id = $4 RETURNING *",
        )
        .bind(settings)
        .bind(now)
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }
}
