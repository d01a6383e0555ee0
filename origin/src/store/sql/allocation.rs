//! Allocating one unit of the ledger in the caller's transaction: its token, its code
//! (CODE/HYBRID), its download links (FILE/HYBRID), the audit rows and the alerts it raises,
//! or none of them and a waiting status. `domain::ledger` decides; this file reads and writes.

use super::batch::Deferred;
use super::*;
use crate::domain::fulfilment::audit as fulfilment_audit;
use crate::domain::ledger::{
    self, Allocation, DeliveryPolicy, UnitNeeds, alerts, audit, can_pay_unit, low_stock_fires,
    low_stock_when_out, low_tokens_fires,
};
use crate::ids::new_id;
use crate::store::pipeline::{DeliveryRow, SendLease};

/// How an allocated unit reaches the buyer.
#[derive(Debug, Clone, Copy)]
pub(super) enum Purpose<'a> {
    /// By email: charged now, and leased for sending under the lease when given, else due
    /// for the send loop at once.
    Email(Option<SendLease<'a>>),
    /// Through the marketplace (`domain::fulfilment::DELIVER`): `reserved`, its token held
    /// but not charged until the platform takes the delivery.
    ThroughPlatform,
}

/// Allocates one unit in the caller's transaction: a code (CODE/HYBRID), download links
/// (FILE/HYBRID) and one token, or none of them and a waiting status.
pub(super) async fn allocate_unit(
    tx: &mut Tx<'_>,
    deferred: &mut Deferred,
    d: &DeliveryRow,
    policy: DeliveryPolicy,
    now: i64,
    purpose: Purpose<'_>,
) -> StoreResult<Allocation> {
    let needs = UnitNeeds::of(&d.product_type);
    // The balance first: a unit that cannot be paid for takes no code.
    let balance = deferred.balance(tx, &d.tenant_id).await?;
    if !can_pay_unit(balance) {
        wait(tx, deferred, d, Allocation::AwaitingTokens, now).await?;
        return Ok(Allocation::AwaitingTokens);
    }
    // The code taken, with the product's low-stock threshold read in the same statement.
    let mut code: Option<(String, String, i64)> = None;
    if needs.code {
        let sql = format!(
            "UPDATE license_codes SET status = 'allocated', order_item_id = $1, \
             allocated_at = $2 \
             WHERE id = (SELECT id FROM license_codes WHERE product_id = $3 \
             AND status = 'available' ORDER BY id LIMIT 1{SKIP_LOCKED}) \
             AND status = 'available' \
             RETURNING id, code, (SELECT low_stock_threshold FROM products WHERE id = $3)"
        );
        code = sqlx::query_as(&sql)
            .bind(&d.order_item_id)
            .bind(now)
            .bind(&d.product_id)
            .fetch_optional(&mut **tx)
            .await?;
    }
    let allocation = ledger::allocation(balance, needs, code.is_some());
    if allocation != Allocation::Allocated {
        wait(tx, deferred, d, allocation, now).await?;
        return Ok(allocation);
    }
    let balance = deferred.charge_unit(&d.tenant_id);
    let mut links = 0;
    if needs.files {
        links = insert_links(tx, d, policy, now).await?;
    }
    let (status, lease) = match purpose {
        Purpose::Email(lease) => ("allocated", lease),
        Purpose::ThroughPlatform => ("reserved", None),
    };
    sqlx::query(
        "UPDATE deliveries SET status = $7, license_code_id = $1, code = $2, \
         lease_until = $3, send_claim = $4, updated_at = $5 WHERE id = $6",
    )
    .bind(code.as_ref().map(|c| c.0.as_str()))
    .bind(code.as_ref().map(|c| c.1.as_str()))
    .bind(now + lease.map_or(0, |lease| lease.lease_ms))
    .bind(lease.map(|lease| lease.claim))
    .bind(now)
    .bind(&d.id)
    .bind(status)
    .execute(&mut **tx)
    .await?;
    let mut allocated = serde_json::json!({
        "delivery_id": d.id,
        "unit": d.unit,
        "license_code_id": code.as_ref().map(|c| &c.0),
        "download_links": links,
    });
    if let Purpose::ThroughPlatform = purpose {
        // Held, not charged: the charge is recorded when the platform takes the delivery.
        allocated["tokens_held"] = ledger::TOKENS_PER_UNIT.into();
        allocated["token_balance"] = balance.into();
        let action = fulfilment_audit::RESERVED;
        deferred.audit(&d.tenant_id, &d.order_id, action, allocated.to_string());
    } else {
        let charged = serde_json::json!({
            "delivery_id": d.id,
            "tokens_charged": ledger::TOKENS_PER_UNIT,
            "token_balance": balance,
        });
        let action = audit::ALLOCATED;
        deferred.audit(&d.tenant_id, &d.order_id, action, allocated.to_string());
        deferred.audit(
            &d.tenant_id,
            &d.order_id,
            audit::CHARGED,
            charged.to_string(),
        );
    }
    if low_tokens_fires(balance, policy.low_tokens) {
        let detail =
            serde_json::json!({ "token_balance": balance, "threshold": policy.low_tokens });
        let kind = alerts::LOW_TOKENS;
        raise_alert(tx, &d.tenant_id, kind, &d.tenant_id, &detail, now).await?;
    }
    // Low stock, as the product shows it: available codes down to the threshold.
    if let Some(&(_, _, threshold)) = code.as_ref().filter(|c| c.2 > 0) {
        let (available,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM license_codes WHERE product_id = $1 AND status = 'available'",
        )
        .bind(&d.product_id)
        .fetch_one(&mut **tx)
        .await?;
        if low_stock_fires(available, threshold) {
            let detail = serde_json::json!({ "available": available, "threshold": threshold });
            let kind = alerts::LOW_STOCK;
            raise_alert(tx, &d.tenant_id, kind, &d.product_id, &detail, now).await?;
        }
    }
    Ok(Allocation::Allocated)
}

/// A link to each of the product's uploaded files; how many.
async fn insert_links(
    tx: &mut Tx<'_>,
    d: &DeliveryRow,
    policy: DeliveryPolicy,
    now: i64,
) -> StoreResult<i64> {
    let files: Vec<(String,)> = sqlx::query_as(
        "SELECT id FROM product_files WHERE product_id = $1 AND status = 'uploaded' ORDER BY id",
    )
    .bind(&d.product_id)
    .fetch_all(&mut **tx)
    .await?;
    let mut links = 0;
    for (file_id,) in files {
        sqlx::query(
            "INSERT INTO download_links (id, tenant_id, delivery_id, file_id, expires_at, \
             max_downloads, downloads, revoked_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 0, NULL, $7)",
        )
        .bind(new_id("dl"))
        .bind(&d.tenant_id)
        .bind(&d.id)
        .bind(file_id)
        .bind(now + policy.link_ttl_ms)
        .bind(policy.max_downloads)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        links += 1;
    }
    Ok(links)
}

/// Parks a unit; the audit trail says so once per change of reason.
async fn wait(
    tx: &mut Tx<'_>,
    deferred: &mut Deferred,
    d: &DeliveryRow,
    reason: Allocation,
    now: i64,
) -> StoreResult<()> {
    let status = reason
        .waiting_status()
        .expect("only a waiting allocation parks a unit");
    if d.status == status {
        return Ok(());
    }
    sqlx::query("UPDATE deliveries SET status = $1, updated_at = $2 WHERE id = $3")
        .bind(status)
        .bind(now)
        .bind(&d.id)
        .execute(&mut **tx)
        .await?;
    let detail = serde_json::json!({ "delivery_id": d.id, "unit": d.unit });
    deferred.audit(&d.tenant_id, &d.order_id, status, detail.to_string());
    if reason == Allocation::AwaitingStock {
        let detail = serde_json::json!({ "available": low_stock_when_out() });
        let kind = alerts::LOW_STOCK;
        raise_alert(tx, &d.tenant_id, kind, &d.product_id, &detail, now).await?;
    }
    Ok(())
}

/// Records an alert, or refreshes the one of the same kind and subject.
pub(super) async fn raise_alert(
    tx: &mut Tx<'_>,
    tenant_id: &str,
    kind: &str,
    subject: &str,
    detail: &serde_json::Value,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO alerts (id, tenant_id, kind, subject, detail, at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, kind, subject) \
         DO UPDATE SET detail = excluded.detail, at = excluded.at",
    )
    .bind(new_id("alr"))
    .bind(tenant_id)
    .bind(kind)
    .bind(subject)
    .bind(detail.to_string())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Removes the alert of that kind and subject, if any.
pub(super) async fn clear_alert(
    tx: &mut Tx<'_>,
    tenant_id: &str,
    kind: &str,
    subject: &str,
) -> StoreResult<()> {
    sqlx::query("DELETE FROM alerts WHERE tenant_id = $1 AND kind = $2 AND subject = $3")
        .bind(tenant_id)
        .bind(kind)
        .bind(subject)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
