//! A buyer's erasure (an eBay account deletion): everything the tenant holds that names the
//! buyer is found first by reading (no write lock held while a tenant's event bodies are
//! searched), then changed in one write transaction together with marking the request's
//! event processed.
//!
//! * orders of the buyer: anonymised and kept (email `erased@invalid`, no name, no platform
//!   id), with an audit row saying so;
//! * the platform's events whose body or error names the buyer (the deletion notification
//!   itself included): the body dropped as retention drops it, the dedupe key kept; one still
//!   waiting to be processed is `ignored`, so it cannot bring the buyer back;
//! * audit details and delivery errors of the buyer's orders, and connection and poller
//!   errors, that name them: replaced by a note.
//!
//! The outbox (`.eml` files of the local dev sink) is not a table and is not reached.

use super::*;
use crate::store::retention::{BuyerErasure, ErasureReport};

/// An anonymised order's address.
const ERASED_EMAIL: &str = "erased@invalid";
/// What replaces an error text that named the buyer.
const ERASED_NOTE: &str = "erased: the buyer's account was deleted";
/// Identifiers shorter than this are not searched for in free text (too many false hits).
const MIN_NEEDLE: usize = 3;

pub(super) async fn erase_buyer(
    store: &Backend,
    e: BuyerErasure<'_>,
    now: i64,
) -> StoreResult<ErasureReport> {
    let pool = &store.pool;
    let mut order_ids = Vec::new();
    let mut needles: Vec<String> = e.buyer_ids.iter().map(|id| id.to_lowercase()).collect();
    for buyer in e.buyer_ids {
        let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT id, buyer_email, buyer_name FROM orders \
             WHERE tenant_id = $1 AND platform = $2 AND buyer_platform_id = $3",
        )
        .bind(e.tenant_id)
        .bind(e.platform)
        .bind(buyer)
        .fetch_all(pool)
        .await?;
        for (id, email, name) in rows {
            order_ids.push(id);
            needles.push(email.to_lowercase());
            needles.extend(name.map(|n| n.trim().to_lowercase()));
        }
    }
    needles.retain(|n| n.chars().count() >= MIN_NEEDLE && n != ERASED_EMAIL);
    needles.sort();
    needles.dedup();
    let mut event_ids: Vec<String> = e.event_id.map(str::to_owned).into_iter().collect();
    for needle in &needles {
        let ids: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM events WHERE tenant_id = $1 AND platform = $2 \
             AND ((body_pruned_at IS NULL AND LOWER(body) LIKE $3 ESCAPE '\\') \
             OR LOWER(COALESCE(last_error, '')) LIKE $3 ESCAPE '\\')",
        )
        .bind(e.tenant_id)
        .bind(e.platform)
        .bind(contains_pattern(needle))
        .fetch_all(pool)
        .await?;
        event_ids.extend(ids.into_iter().map(|(id,)| id));
    }
    event_ids.sort();
    event_ids.dedup();

    let _writer = store.write_gate().await;
    let mut tx = store.begin_write().await?;
    let mut report = ErasureReport::default();
    let erased_detail = serde_json::json!({ "erased": ERASED_NOTE }).to_string();
    let done_detail = serde_json::json!({ "event_id": e.event_id }).to_string();
    for chunk in order_ids.chunks(ID_CHUNK) {
        let mut query = QueryBuilder::<Db>::new("UPDATE orders SET buyer_email = ");
        query
            .push_bind(ERASED_EMAIL)
            .push(", buyer_name = NULL, buyer_platform_id = NULL, updated_at = ")
            .push_bind(now)
            .push(" WHERE tenant_id = ")
            .push_bind(e.tenant_id);
        push_id_list(&mut query, "id", chunk);
        report.orders += query.build().execute(&mut *tx).await?.rows_affected();
        for needle in &needles {
            let pattern = contains_pattern(needle);
            let audit = scrub(
                &mut tx,
                ("order_audit", "detail", &erased_detail),
                e,
                &pattern,
                chunk,
            );
            report.audit_rows += audit.await?;
            let errors = scrub(
                &mut tx,
                ("deliveries", "last_error", ERASED_NOTE),
                e,
                &pattern,
                chunk,
            );
            report.deliveries += errors.await?;
        }
    }
    for order_id in &order_ids {
        sqlx::query(
            "INSERT INTO order_audit (id, tenant_id, order_id, at, action, detail) \
             VALUES ($1, $2, $3, $4, 'buyer_erased', $5)",
        )
        .bind(crate::ids::new_id("aud"))
        .bind(e.tenant_id)
        .bind(order_id)
        .bind(now)
        .bind(&done_detail)
        .execute(&mut *tx)
        .await?;
    }
    for chunk in event_ids.chunks(ID_CHUNK) {
        // An event still to be processed would take the buyer in again: it is not processed.
        let mut query = QueryBuilder::<Db>::new(
            "UPDATE events SET body = '', lease_until = 0, body_pruned_at = ",
        );
        query
            .push_bind(now)
            .push(", status = CASE WHEN status IN ('received', 'failed') THEN 'ignored' ELSE status END, last_error = CASE WHEN last_error IS NULL AND status NOT IN ('received', 'failed') THEN NULL ELSE ")
            .push_bind(ERASED_NOTE)
            .push(" END WHERE tenant_id = ")
            .push_bind(e.tenant_id);
        push_id_list(&mut query, "id", chunk);
        report.events += query.build().execute(&mut *tx).await?.rows_affected();
    }
    for needle in &needles {
        for table in ["connections", "pollers"] {
            sqlx::query(&format!(
                "UPDATE {table} SET last_error = $1 WHERE tenant_id = $2 \
                 AND LOWER(last_error) LIKE $3 ESCAPE '\\'"
            ))
            .bind(ERASED_NOTE)
            .bind(e.tenant_id)
            .bind(contains_pattern(needle))
            .execute(&mut *tx)
            .await?;
        }
    }
    if let Some(event_id) = e.event_id {
        sqlx::query(
            "UPDATE events SET status = 'processed', lease_until = 0, last_error = NULL \
             WHERE id = $1",
        )
        .bind(event_id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(report)
}

/// Replaces `column` of the rows of `table` (of the orders in `order_ids`) that contain
/// `pattern` by `replacement`; how many.
async fn scrub(
    tx: &mut Tx<'_>,
    (table, column, replacement): (&str, &str, &str),
    e: BuyerErasure<'_>,
    pattern: &str,
    order_ids: &[String],
) -> StoreResult<u64> {
    let mut query = QueryBuilder::<Db>::new(format!("UPDATE {table} SET {column} = "));
    query
        .push_bind(replacement.to_owned())
        .push(" WHERE tenant_id = ")
        .push_bind(e.tenant_id.to_owned())
        .push(format_args!(" AND LOWER({column}) LIKE "))
        .push_bind(pattern.to_owned())
        .push(" ESCAPE '\\'");
    push_id_list(&mut query, "order_id", order_ids);
    Ok(query.build().execute(&mut **tx).await?.rows_affected())
}
