//! Delivery emails: units leased for sending, everything their emails need read in a few
//! statements per batch, and the outcome recorded (sent, retried, failed) set-based.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;

use super::batch::{Deferred, audit_in, refresh_orders};
use super::*;
use crate::domain::ledger::audit;
use crate::ids::new_id;
use crate::store::OrderRow;
use crate::store::pipeline::{
    BundleUnit, DeliveryBundle, DeliveryRow, LinkRow, SendClaim, SendStore, SentEmail, UnitRef,
};

#[async_trait]
impl SendStore for Backend {
    async fn claim_sends(&self, now: i64, lease_ms: i64, limit: i64) -> StoreResult<SendClaim> {
        let _writer = self.write_gate().await;
        let token = new_id("claim");
        // A unit whose lease ran out is taken over with a new token: its old holder can no
        // longer record anything about it.
        let sql = format!(
            "UPDATE deliveries SET lease_until = $1, send_claim = $4 WHERE id IN (SELECT id \
             FROM deliveries WHERE status = 'allocated' AND next_attempt_at <= $2 \
             AND lease_until <= $2 ORDER BY next_attempt_at, id LIMIT $3{SKIP_LOCKED}) \
             RETURNING tenant_id, order_id, id"
        );
        let units = sqlx::query_as(&sql)
            .bind(now + lease_ms)
            .bind(now)
            .bind(limit)
            .bind(&token)
            .fetch_all(&self.pool)
            .await?;
        Ok(SendClaim { token, units })
    }

    async fn renew_sends(&self, claim: &str, now: i64, lease_ms: i64) -> StoreResult<u64> {
        let _writer = self.write_gate().await;
        Ok(sqlx::query(
            "UPDATE deliveries SET lease_until = $1 \
             WHERE send_claim = $2 AND status = 'allocated'",
        )
        .bind(now + lease_ms)
        .bind(claim)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    async fn delivery_bundles(&self, units: &[UnitRef]) -> StoreResult<Vec<DeliveryBundle>> {
        let delivery_ids: Vec<String> = units.iter().map(|(_, _, id)| id.clone()).collect();
        let order_ids: Vec<String> = units
            .iter()
            .map(|(_, order, _)| order.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut deliveries: Vec<DeliveryWithProduct> = Vec::with_capacity(units.len());
        let mut links: Vec<LinkWithFilename> = Vec::new();
        for ids in delivery_ids.chunks(ID_CHUNK) {
            let mut query = QueryBuilder::<Db>::new(
                "SELECT d.*, p.name AS product_name, p.template_id FROM deliveries d \
                 JOIN products p ON p.id = d.product_id WHERE 1 = 1",
            );
            push_id_list(&mut query, "d.id", ids);
            deliveries.extend(
                query
                    .build_query_as::<DeliveryWithProduct>()
                    .fetch_all(&self.pool)
                    .await?,
            );
            let mut query = QueryBuilder::<Db>::new(
                "SELECT l.*, f.filename FROM download_links l \
                 JOIN product_files f ON f.id = l.file_id WHERE l.revoked_at IS NULL",
            );
            push_id_list(&mut query, "l.delivery_id", ids);
            links.extend(
                query
                    .build_query_as::<LinkWithFilename>()
                    .fetch_all(&self.pool)
                    .await?,
            );
        }
        let mut orders: BTreeMap<String, OrderWithShop> = BTreeMap::new();
        for ids in order_ids.chunks(ID_CHUNK) {
            let mut query = QueryBuilder::<Db>::new(
                "SELECT o.*, t.name AS shop_name FROM orders o \
                 JOIN tenants t ON t.id = o.tenant_id WHERE 1 = 1",
            );
            push_id_list(&mut query, "o.id", ids);
            for order in query
                .build_query_as::<OrderWithShop>()
                .fetch_all(&self.pool)
                .await?
            {
                orders.insert(order.order.id.clone(), order);
            }
        }
        // Templates: the products' own, and each tenant's default for the rest.
        let template_ids: Vec<String> = deliveries
            .iter()
            .filter_map(|d| d.template_id.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let tenant_ids: Vec<String> = orders
            .values()
            .map(|o| o.order.tenant_id.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut templates: BTreeMap<String, (String, String, String)> = BTreeMap::new();
        if !template_ids.is_empty() {
            let mut query = QueryBuilder::<Db>::new(
                "SELECT id, tenant_id, subject, body FROM templates WHERE 1 = 1",
            );
            push_id_list(&mut query, "id", &template_ids);
            for (id, tenant_id, subject, body) in query
                .build_query_as::<(String, String, String, String)>()
                .fetch_all(&self.pool)
                .await?
            {
                templates.insert(id, (tenant_id, subject, body));
            }
        }
        let mut defaults: BTreeMap<String, (String, String)> = BTreeMap::new();
        if !tenant_ids.is_empty() {
            let mut query = QueryBuilder::<Db>::new(
                "SELECT tenant_id, subject, body FROM templates WHERE is_default = 1",
            );
            push_id_list(&mut query, "tenant_id", &tenant_ids);
            for (tenant_id, subject, body) in query
                .build_query_as::<(String, String, String)>()
                .fetch_all(&self.pool)
                .await?
            {
                defaults.insert(tenant_id, (subject, body));
            }
        }
        // Each unit to the order it was claimed for, in the tenant it was claimed in.
        let wanted: BTreeMap<&str, (&str, &str)> = units
            .iter()
            .map(|(tenant, order, id)| (id.as_str(), (tenant.as_str(), order.as_str())))
            .collect();
        let mut by_order: BTreeMap<String, Vec<BundleUnit>> = BTreeMap::new();
        deliveries.sort_by(|a, b| a.delivery.id.cmp(&b.delivery.id));
        links.sort_by(|a, b| a.link.id.cmp(&b.link.id));
        for DeliveryWithProduct {
            delivery,
            product_name,
            template_id,
        } in deliveries
        {
            let claimed_for = wanted.get(delivery.id.as_str()).copied();
            if claimed_for != Some((delivery.tenant_id.as_str(), delivery.order_id.as_str())) {
                continue;
            }
            let template = template_id
                .and_then(|id| templates.get(&id))
                .filter(|(tenant_id, _, _)| *tenant_id == delivery.tenant_id)
                .map(|(_, subject, body)| (subject.clone(), body.clone()));
            let links = links
                .iter()
                .filter(|l| l.link.delivery_id == delivery.id)
                .map(|l| (l.link.clone(), l.filename.clone()))
                .collect();
            by_order
                .entry(delivery.order_id.clone())
                .or_default()
                .push(BundleUnit {
                    delivery,
                    product_name,
                    template,
                    links,
                });
        }
        let mut bundles = Vec::with_capacity(by_order.len());
        for (order_id, units) in by_order {
            let Some(OrderWithShop { order, shop_name }) = orders.remove(&order_id) else {
                continue;
            };
            let default_template = if units.iter().any(|u| u.template.is_some()) {
                None
            } else {
                defaults.get(&order.tenant_id).cloned()
            };
            bundles.push(DeliveryBundle {
                order,
                shop_name,
                units,
                default_template,
            });
        }
        Ok(bundles)
    }

    async fn mark_sent(&self, sent: &[SentEmail], now: i64) -> StoreResult<u64> {
        let _writer = self.write_gate().await;
        let mut tx = self.begin_write().await?;
        // Set-based: a statement per claim and chunk for the whole batch, not per order. Only
        // units the email's claim still holds are recorded: a unit taken over after its lease
        // ran out, or replaced while this email was in flight, is someone else's to record.
        let mut by_claim: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for email in sent {
            by_claim
                .entry(email.claim.as_str())
                .or_default()
                .extend(email.delivery_ids.iter().cloned());
        }
        let mut recorded: BTreeSet<String> = BTreeSet::new();
        for (claim, delivery_ids) in &by_claim {
            for ids in delivery_ids.chunks(ID_CHUNK) {
                let mut query = QueryBuilder::<Db>::new(
                    "UPDATE deliveries SET status = 'sent', lease_until = 0, send_claim = NULL, \
                     last_error = NULL, sent_at = ",
                );
                query.push_bind(now).push(", updated_at = ").push_bind(now);
                query.push(" WHERE status = 'allocated' AND send_claim = ");
                query.push_bind(*claim);
                push_id_list(&mut query, "id", ids);
                query.push(" RETURNING id");
                for (id,) in query
                    .build_query_as::<(String,)>()
                    .fetch_all(&mut *tx)
                    .await?
                {
                    recorded.insert(id);
                }
            }
        }
        let mut deferred = Deferred::default();
        let mut orders: Vec<(String, String)> = Vec::new();
        for email in sent {
            if !email.delivery_ids.iter().any(|id| recorded.contains(id)) {
                continue;
            }
            orders.push((email.tenant_id.clone(), email.order_id.clone()));
            for (action, detail) in &email.audit {
                deferred.audit(&email.tenant_id, &email.order_id, action, detail.clone());
            }
        }
        deferred.write(&mut tx, now).await?;
        refresh_orders(&mut tx, &orders, now).await?;
        tx.commit().await?;
        Ok(recorded.len() as u64)
    }

    async fn mark_send_failed(
        &self,
        claim: &str,
        tenant_id: &str,
        order_id: &str,
        delivery_ids: &[String],
        retry_at: Option<i64>,
        error: &str,
        now: i64,
    ) -> StoreResult<u64> {
        let _writer = self.write_gate().await;
        let mut tx = self.begin_write().await?;
        let mut query = QueryBuilder::<Db>::new(
            "UPDATE deliveries SET send_attempts = send_attempts + 1, lease_until = 0, \
             send_claim = NULL, status = ",
        );
        query.push_bind(if retry_at.is_some() {
            "allocated"
        } else {
            "failed"
        });
        query
            .push(", next_attempt_at = ")
            .push_bind(retry_at.unwrap_or(0));
        query.push(", last_error = ").push_bind(error);
        query.push(", updated_at = ").push_bind(now);
        query
            .push(" WHERE status = 'allocated' AND send_claim = ")
            .push_bind(claim);
        query.push(" AND tenant_id = ").push_bind(tenant_id);
        push_id_list(&mut query, "id", delivery_ids);
        let recorded = query.build().execute(&mut *tx).await?.rows_affected();
        if recorded == 0 {
            // Not ours any more: whoever holds the units now records them.
            return Ok(0);
        }
        if retry_at.is_none() {
            let detail = serde_json::json!({ "deliveries": delivery_ids, "reason": error });
            audit_in(&mut tx, tenant_id, order_id, now, audit::FAILED, &detail).await?;
        }
        refresh_orders(&mut tx, &[(tenant_id.to_owned(), order_id.to_owned())], now).await?;
        tx.commit().await?;
        Ok(recorded)
    }
}

/// An order with its tenant's name, as an email shows it.
#[derive(sqlx::FromRow)]
struct OrderWithShop {
    #[sqlx(flatten)]
    order: OrderRow,
    shop_name: String,
}

#[derive(sqlx::FromRow)]
struct DeliveryWithProduct {
    #[sqlx(flatten)]
    delivery: DeliveryRow,
    product_name: String,
    template_id: Option<String>,
}

#[derive(sqlx::FromRow)]
struct LinkWithFilename {
    #[sqlx(flatten)]
    link: LinkRow,
    filename: String,
}
