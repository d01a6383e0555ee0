//! Partial refunds, in the caller's transaction: the refunded units of some lines revoked
//! (their codes and download links with them), the other lines left delivered. A full refund
//! or a cancellation revokes the whole order instead (`ledger.rs`).

use super::batch::Deferred;
use super::units::line_item_id;
use super::*;
use crate::domain::review::{PARTIALLY_REFUNDED, units_to_revoke};

/// Lines of one order the platform says were refunded: `(line item id, units refunded in
/// all)`, and the event that says so.
pub(super) struct RefundedLines<'a> {
    pub tenant_id: &'a str,
    pub order_id: &'a str,
    pub event_id: Option<&'a str>,
    pub lines: &'a [(&'a str, i64)],
}

/// Applies the refunds it does not know yet; whether any line changed. A refunded or
/// cancelled order has nothing left to revoke.
pub(super) async fn refund_lines_in(
    tx: &mut Tx<'_>,
    deferred: &mut Deferred,
    refund: &RefundedLines<'_>,
    now: i64,
) -> StoreResult<bool> {
    let tenant_id = refund.tenant_id;
    let items: Vec<(String, i64, i64, Option<String>, String)> = sqlx::query_as(
        "SELECT i.id, i.quantity, i.refunded_quantity, i.platform_line, o.status \
         FROM order_items i JOIN orders o ON o.id = i.order_id \
         WHERE i.tenant_id = $1 AND i.order_id = $2 ORDER BY i.id",
    )
    .bind(tenant_id)
    .bind(refund.order_id)
    .fetch_all(&mut **tx)
    .await?;
    let mut changed = false;
    for (item_id, quantity, known, platform_line, status) in items {
        if matches!(status.as_str(), "refunded" | "cancelled") {
            return Ok(false);
        }
        let line_id = line_item_id(platform_line.as_deref(), &item_id);
        let Some(&(_, refunded)) = refund.lines.iter().find(|(id, _)| *id == line_id) else {
            continue;
        };
        let refunded = refunded.min(quantity);
        if refunded <= known {
            continue;
        }
        sqlx::query("UPDATE order_items SET refunded_quantity = $1 WHERE id = $2")
            .bind(refunded)
            .bind(&item_id)
            .execute(&mut **tx)
            .await?;
        let (made, revoked): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN status = 'revoked' THEN 1 ELSE 0 END), 0) \
             FROM deliveries WHERE order_item_id = $1",
        )
        .bind(&item_id)
        .fetch_one(&mut **tx)
        .await?;
        let revoke = units_to_revoke(quantity, made, refunded, revoked);
        // The last units go first, so the unit numbers still delivered stay 0..n.
        let units: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM deliveries WHERE order_item_id = $1 AND status <> 'revoked' \
             ORDER BY unit DESC LIMIT $2",
        )
        .bind(&item_id)
        .bind(revoke)
        .fetch_all(&mut **tx)
        .await?;
        let ids: Vec<String> = units.into_iter().map(|(id,)| id).collect();
        let (mut codes, mut links) = (0, 0);
        for chunk in ids.chunks(ID_CHUNK) {
            let (c, l) = revoke_units(tx, tenant_id, chunk, now).await?;
            (codes, links) = (codes + c, links + l);
        }
        let detail = serde_json::json!({
            "event_id": refund.event_id,
            "item_id": item_id,
            "line_item_id": line_id,
            "units_refunded": refunded,
            "units_revoked": ids.len(),
            "codes_revoked": codes,
            "links_revoked": links,
            "tokens_refunded": 0,
        });
        let (order_id, action) = (refund.order_id, PARTIALLY_REFUNDED);
        deferred.audit(tenant_id, order_id, action, detail.to_string());
        changed = true;
    }
    Ok(changed)
}

/// Revokes these units, their codes and their links; how many codes and links.
async fn revoke_units(
    tx: &mut Tx<'_>,
    tenant_id: &str,
    ids: &[String],
    now: i64,
) -> StoreResult<(u64, u64)> {
    if ids.is_empty() {
        return Ok((0, 0));
    }
    // A unit reserved for a delivery through the platform was never charged: its held token
    // goes back.
    let mut query = QueryBuilder::<Db>::new(
        "UPDATE tenants SET tokens = tokens + (SELECT COUNT(*) FROM deliveries \
         WHERE status = 'reserved'",
    );
    push_id_list(&mut query, "id", ids);
    query.push(") WHERE id = ").push_bind(tenant_id);
    query.build().execute(&mut **tx).await?;
    let mut query = QueryBuilder::<Db>::new(
        "UPDATE license_codes SET status = 'revoked' WHERE status = 'allocated' AND tenant_id = ",
    );
    query.push_bind(tenant_id).push(
        " AND id IN (SELECT license_code_id FROM deliveries WHERE license_code_id IS NOT NULL",
    );
    push_id_list(&mut query, "id", ids);
    query.push(")");
    let codes = query.build().execute(&mut **tx).await?.rows_affected();
    let mut query = QueryBuilder::<Db>::new("UPDATE download_links SET revoked_at = ");
    query.push_bind(now).push(" WHERE revoked_at IS NULL");
    push_id_list(&mut query, "delivery_id", ids);
    let links = query.build().execute(&mut **tx).await?.rows_affected();
    let mut query = QueryBuilder::<Db>::new(
        "UPDATE deliveries SET status = 'revoked', lease_until = 0, updated_at = ",
    );
    query.push_bind(now).push(" WHERE 1 = 1");
    push_id_list(&mut query, "id", ids);
    query.build().execute(&mut **tx).await?;
    Ok((codes, links))
}
