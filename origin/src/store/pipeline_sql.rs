//! The pipeline's SQL, written once for both backends. `impl_pipeline_store!` takes the
//! backend's write-transaction start, its row-claim suffix (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, so replicas share claims without waiting on each other) and its row-lock
//! suffix (`FOR UPDATE`); both are empty on SQLite, where a write transaction already holds
//! the single writer lock.

macro_rules! impl_pipeline_store {
    ($store:ty, $db:ty, $begin_write:literal, $skip_locked:literal, $lock_row:literal, $writers:expr) => {
        mod pipeline_impl {
            use async_trait::async_trait;
            use sqlx::QueryBuilder;

            use super::super::pipeline::*;
            use super::super::{EventRow, FileRow, OrderRow, StoreResult};
            use super::*;
            use crate::ids::new_id;

            type Tx<'c> = sqlx::Transaction<'c, $db>;

            /// Writers of this backend in this process at once. SQLite has one writer: waiting
            /// here in order is far cheaper than SQLite's busy handler, which sleeps in
            /// growing steps while another connection holds the write lock.
            static WRITE_GATE: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new($writers);

            async fn write_gate() -> tokio::sync::SemaphorePermit<'static> {
                WRITE_GATE.acquire().await.expect("the write gate is never closed")
            }

            /// How one unit's allocation ended.
            #[derive(PartialEq, Eq)]
            enum Allocation {
                Allocated,
                AwaitingStock,
                AwaitingTokens,
            }

            #[async_trait]
            impl PipelineStore for $store {
                async fn claim_events(&self, now: i64, lease_ms: i64, limit: i64) -> StoreResult<Vec<ClaimedEvent>> {
                    let _writer = write_gate().await;
                    let mut claimed: Vec<ClaimedEvent> = sqlx::query_as(concat!(
                        "UPDATE events SET lease_until = $1 WHERE id IN (SELECT id FROM events \
                         WHERE status IN ('received', 'failed') AND next_attempt_at <= $2 AND lease_until <= $2 \
                         ORDER BY next_attempt_at, id LIMIT $3",
                        $skip_locked,
                        ") RETURNING *"
                    ))
                    .bind(now + lease_ms)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                    // RETURNING follows no ORDER BY: ids are time-ordered, so this is arrival order.
                    claimed.sort_by(|a, b| a.event.id.cmp(&b.event.id));
                    Ok(claimed)
                }

                async fn finish_event(&self, event_id: &str) -> StoreResult<()> {
                    let _writer = write_gate().await;
                    sqlx::query("UPDATE events SET status = 'processed', lease_until = 0, last_error = NULL WHERE id = $1")
                        .bind(event_id)
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                }

                async fn fail_event(
                    &self,
                    event_id: &str,
                    attempts: i64,
                    retry_at: Option<i64>,
                    error: &str,
                ) -> StoreResult<()> {
                    let _writer = write_gate().await;
                    let status = if retry_at.is_some() { "failed" } else { "dead" };
                    sqlx::query(
                        "UPDATE events SET status = $1, process_attempts = $2, next_attempt_at = $3, \
                         lease_until = 0, last_error = $4 WHERE id = $5",
                    )
                    .bind(status)
                    .bind(attempts)
                    .bind(retry_at.unwrap_or(0))
                    .bind(error)
                    .bind(event_id)
                    .execute(&self.pool)
                    .await?;
                    Ok(())
                }

                async fn replay_event(&self, tenant_id: &str, event_id: &str) -> StoreResult<Option<EventRow>> {
                    let _writer = write_gate().await;
                    Ok(sqlx::query_as(
                        "UPDATE events SET status = 'received', process_attempts = 0, next_attempt_at = 0, \
                         lease_until = 0 WHERE tenant_id = $1 AND id = $2 RETURNING *",
                    )
                    .bind(tenant_id)
                    .bind(event_id)
                    .fetch_optional(&self.pool)
                    .await?)
                }

                async fn ingest_events(&self, events: &[EventRow]) -> StoreResult<Vec<(String, bool)>> {
                    let _writer = write_gate().await;
                    let mut tx = self.pool.begin_with($begin_write).await?;
                    let inserted = super::insert_events(&mut tx, events).await?;
                    let mut stamps: std::collections::BTreeMap<(&str, &str), i64> = Default::default();
                    for (e, &new) in events.iter().zip(&inserted) {
                        if new {
                            let at = stamps.entry((e.tenant_id.as_str(), e.platform.as_str())).or_default();
                            *at = (*at).max(e.stored_at);
                        }
                    }
                    for ((tenant_id, platform), at) in stamps {
                        sqlx::query(
                            "UPDATE connections SET last_event_at = $1 \
                             WHERE tenant_id = $2 AND platform = $3 AND status = 'active'",
                        )
                        .bind(at)
                        .bind(tenant_id)
                        .bind(platform)
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                    let mut results = Vec::with_capacity(events.len());
                    for (e, new) in events.iter().zip(inserted) {
                        let result = if new {
                            (e.id.clone(), false)
                        } else {
                            (super::existing_event_id(&self.pool, e).await?, true)
                        };
                        results.push(result);
                    }
                    Ok(results)
                }

                async fn insert_polled_event(&self, e: &EventRow) -> StoreResult<bool> {
                    let _writer = write_gate().await;
                    let mut tx = self.pool.begin_with($begin_write).await?;
                    let new = super::insert_events(&mut tx, std::slice::from_ref(e)).await?[0];
                    tx.commit().await?;
                    Ok(new)
                }

                async fn mappable_products(&self, tenant_id: &str) -> StoreResult<Vec<(String, String, String)>> {
                    Ok(sqlx::query_as(
                        "SELECT id, product_type, mappings FROM products WHERE tenant_id = $1 AND status = 'active'",
                    )
                    .bind(tenant_id)
                    .fetch_all(&self.pool)
                    .await?)
                }

                async fn apply_orders(
                    &self,
                    orders: &[(OrderIntake, Option<String>)],
                    policy: DeliveryPolicy,
                    now: i64,
                    lease_ms: i64,
                ) -> StoreResult<Vec<ApplyOutcome>> {
                    let _writer = write_gate().await;
                    let mut tx = self.pool.begin_with($begin_write).await?;
                    let mut deferred = Deferred::default();
                    let mut outcomes = Vec::with_capacity(orders.len());
                    for (intake, event_id) in orders {
                        let outcome = apply_order_in(&mut tx, &mut deferred, intake, event_id.as_deref(), policy, now, lease_ms).await?;
                        outcomes.push(outcome);
                    }
                    deferred.write(&mut tx, now).await?;
                    tx.commit().await?;
                    Ok(outcomes)
                }

                async fn revoke_order(
                    &self,
                    tenant_id: &str,
                    platform: &str,
                    platform_order_id: &str,
                    status: &str,
                    event_id: Option<&str>,
                    now: i64,
                ) -> StoreResult<Option<String>> {
                    let _writer = write_gate().await;
                    let mut tx = self.pool.begin_with($begin_write).await?;
                    let order: Option<(String, String)> = sqlx::query_as(
                        "SELECT id, status FROM orders WHERE tenant_id = $1 AND platform = $2 AND platform_order_id = $3",
                    )
                    .bind(tenant_id)
                    .bind(platform)
                    .bind(platform_order_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some((order_id, previous)) = order else {
                        finish_event_in(&mut tx, event_id).await?;
                        tx.commit().await?;
                        return Ok(None);
                    };
                    if previous == status {
                        finish_event_in(&mut tx, event_id).await?;
                        tx.commit().await?;
                        return Ok(Some(order_id));
                    }
                    sqlx::query("UPDATE orders SET status = $1, updated_at = $2 WHERE id = $3")
                        .bind(status)
                        .bind(now)
                        .bind(&order_id)
                        .execute(&mut *tx)
                        .await?;
                    let codes = sqlx::query(
                        "UPDATE license_codes SET status = 'revoked' WHERE tenant_id = $1 AND status = 'allocated' \
                         AND order_item_id IN (SELECT id FROM order_items WHERE order_id = $2)",
                    )
                    .bind(tenant_id)
                    .bind(&order_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    let links = sqlx::query(
                        "UPDATE download_links SET revoked_at = $1 WHERE revoked_at IS NULL \
                         AND delivery_id IN (SELECT id FROM deliveries WHERE order_id = $2)",
                    )
                    .bind(now)
                    .bind(&order_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    sqlx::query("UPDATE deliveries SET status = 'revoked', lease_until = 0, updated_at = $1 WHERE order_id = $2")
                        .bind(now)
                        .bind(&order_id)
                        .execute(&mut *tx)
                        .await?;
                    let detail = serde_json::json!({ "event_id": event_id, "codes_revoked": codes, "links_revoked": links, "tokens_refunded": 0 });
                    audit(&mut tx, tenant_id, &order_id, now, status, &detail).await?;
                    refresh_orders(&mut tx, &[(tenant_id.to_owned(), order_id.clone())], now).await?;
                    finish_event_in(&mut tx, event_id).await?;
                    tx.commit().await?;
                    Ok(Some(order_id))
                }

                async fn resume_waiting(
                    &self,
                    policy: DeliveryPolicy,
                    now: i64,
                    lease_ms: i64,
                    limit: i64,
                ) -> StoreResult<Vec<UnitRef>> {
                    let waiting: Vec<(String,)> = sqlx::query_as(
                        "SELECT id FROM deliveries WHERE status IN ('awaiting_stock', 'awaiting_tokens') ORDER BY id LIMIT $1",
                    )
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                    let mut allocated = Vec::new();
                    for (id,) in waiting {
                        let _writer = write_gate().await;
                        let mut tx = self.pool.begin_with($begin_write).await?;
                        // Takes the row (and on PostgreSQL its lock): a unit another replica
                        // allocated meanwhile no longer matches.
                        let delivery: Option<DeliveryRow> = sqlx::query_as(
                            "UPDATE deliveries SET updated_at = $1 WHERE id = $2 \
                             AND status IN ('awaiting_stock', 'awaiting_tokens') RETURNING *",
                        )
                        .bind(now)
                        .bind(&id)
                        .fetch_optional(&mut *tx)
                        .await?;
                        let Some(delivery) = delivery else { continue };
                        let mut deferred = Deferred::default();
                        let allocation = allocate_unit(&mut tx, &mut deferred, &delivery, policy, now, lease_ms).await?;
                        deferred.write(&mut tx, now).await?;
                        if allocation == Allocation::Allocated {
                            refresh_orders(&mut tx, &[(delivery.tenant_id.clone(), delivery.order_id.clone())], now).await?;
                            allocated.push((delivery.tenant_id, delivery.order_id, delivery.id));
                        }
                        tx.commit().await?;
                    }
                    Ok(allocated)
                }

                async fn claim_sends(&self, now: i64, lease_ms: i64, limit: i64) -> StoreResult<Vec<UnitRef>> {
                    let _writer = write_gate().await;
                    Ok(sqlx::query_as(concat!(
                        "UPDATE deliveries SET lease_until = $1 WHERE id IN (SELECT id FROM deliveries \
                         WHERE status = 'allocated' AND next_attempt_at <= $2 AND lease_until <= $2 \
                         ORDER BY next_attempt_at, id LIMIT $3",
                        $skip_locked,
                        ") RETURNING tenant_id, order_id, id"
                    ))
                    .bind(now + lease_ms)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?)
                }

                async fn delivery_bundles(&self, units: &[UnitRef]) -> StoreResult<Vec<DeliveryBundle>> {
                    use std::collections::{BTreeMap, BTreeSet};
                    let delivery_ids: Vec<String> = units.iter().map(|(_, _, id)| id.clone()).collect();
                    let order_ids: Vec<String> =
                        units.iter().map(|(_, order, _)| order.clone()).collect::<BTreeSet<_>>().into_iter().collect();
                    let mut deliveries: Vec<DeliveryWithProduct> = Vec::with_capacity(units.len());
                    let mut links: Vec<LinkWithFilename> = Vec::new();
                    for ids in delivery_ids.chunks(ID_CHUNK) {
                        let mut query = QueryBuilder::<$db>::new(
                            "SELECT d.*, p.name AS product_name, p.template_id FROM deliveries d \
                             JOIN products p ON p.id = d.product_id WHERE 1 = 1",
                        );
                        push_id_list(&mut query, "d.id", ids);
                        deliveries.extend(query.build_query_as::<DeliveryWithProduct>().fetch_all(&self.pool).await?);
                        let mut query = QueryBuilder::<$db>::new(
                            "SELECT l.*, f.filename FROM download_links l JOIN product_files f ON f.id = l.file_id \
                             WHERE l.revoked_at IS NULL",
                        );
                        push_id_list(&mut query, "l.delivery_id", ids);
                        links.extend(query.build_query_as::<LinkWithFilename>().fetch_all(&self.pool).await?);
                    }
                    let mut orders: BTreeMap<String, OrderWithShop> = BTreeMap::new();
                    for ids in order_ids.chunks(ID_CHUNK) {
                        let mut query = QueryBuilder::<$db>::new(
                            "SELECT o.*, t.name AS shop_name FROM orders o JOIN tenants t ON t.id = o.tenant_id WHERE 1 = 1",
                        );
                        push_id_list(&mut query, "o.id", ids);
                        for order in query.build_query_as::<OrderWithShop>().fetch_all(&self.pool).await? {
                            orders.insert(order.order.id.clone(), order);
                        }
                    }
                    // Templates: the products' own, and each tenant's default for the rest.
                    let template_ids: Vec<String> =
                        deliveries.iter().filter_map(|d| d.template_id.clone()).collect::<BTreeSet<_>>().into_iter().collect();
                    let tenant_ids: Vec<String> =
                        orders.values().map(|o| o.order.tenant_id.clone()).collect::<BTreeSet<_>>().into_iter().collect();
                    let mut templates: BTreeMap<String, (String, String, String)> = BTreeMap::new();
                    if !template_ids.is_empty() {
                        let mut query = QueryBuilder::<$db>::new("SELECT id, tenant_id, subject, body FROM templates WHERE 1 = 1");
                        push_id_list(&mut query, "id", &template_ids);
                        for (id, tenant_id, subject, body) in
                            query.build_query_as::<(String, String, String, String)>().fetch_all(&self.pool).await?
                        {
                            templates.insert(id, (tenant_id, subject, body));
                        }
                    }
                    let mut defaults: BTreeMap<String, (String, String)> = BTreeMap::new();
                    if !tenant_ids.is_empty() {
                        let mut query =
                            QueryBuilder::<$db>::new("SELECT tenant_id, subject, body FROM templates WHERE is_default = 1");
                        push_id_list(&mut query, "tenant_id", &tenant_ids);
                        for (tenant_id, subject, body) in query.build_query_as::<(String, String, String)>().fetch_all(&self.pool).await? {
                            defaults.insert(tenant_id, (subject, body));
                        }
                    }
                    // Each unit to the order it was claimed for, in the tenant it was claimed in.
                    let wanted: BTreeMap<&str, (&str, &str)> =
                        units.iter().map(|(tenant, order, id)| (id.as_str(), (tenant.as_str(), order.as_str()))).collect();
                    let mut by_order: BTreeMap<String, Vec<BundleUnit>> = BTreeMap::new();
                    deliveries.sort_by(|a, b| a.delivery.id.cmp(&b.delivery.id));
                    links.sort_by(|a, b| a.link.id.cmp(&b.link.id));
                    for DeliveryWithProduct { delivery, product_name, template_id } in deliveries {
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
                        by_order.entry(delivery.order_id.clone()).or_default().push(BundleUnit { delivery, product_name, template, links });
                    }
                    let mut bundles = Vec::with_capacity(by_order.len());
                    for (order_id, units) in by_order {
                        let Some(OrderWithShop { order, shop_name }) = orders.remove(&order_id) else { continue };
                        let default_template = if units.iter().any(|u| u.template.is_some()) {
                            None
                        } else {
                            defaults.get(&order.tenant_id).cloned()
                        };
                        bundles.push(DeliveryBundle { order, shop_name, units, default_template });
                    }
                    Ok(bundles)
                }

                async fn mark_sent(&self, sent: &[SentEmail], now: i64) -> StoreResult<()> {
                    let _writer = write_gate().await;
                    let mut tx = self.pool.begin_with($begin_write).await?;
                    // Set-based: a statement per step for the whole batch, not per order.
                    let delivery_ids: Vec<String> = sent.iter().flat_map(|e| e.delivery_ids.iter().cloned()).collect();
                    let orders: Vec<(String, String)> = sent.iter().map(|e| (e.tenant_id.clone(), e.order_id.clone())).collect();
                    let mut deferred = Deferred::default();
                    for email in sent {
                        for (action, detail) in &email.audit {
                            deferred.audit(&email.tenant_id, &email.order_id, action, detail.clone());
                        }
                    }
                    for ids in delivery_ids.chunks(ID_CHUNK) {
                        let mut query = QueryBuilder::<$db>::new("UPDATE deliveries SET status = 'sent', lease_until = 0, sent_at = ");
                        query.push_bind(now).push(", updated_at = ").push_bind(now);
                        query.push(" WHERE status = 'allocated'");
                        push_id_list(&mut query, "id", ids);
                        query.build().execute(&mut *tx).await?;
                    }
                    deferred.write(&mut tx, now).await?;
                    refresh_orders(&mut tx, &orders, now).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn mark_send_failed(
                    &self,
                    tenant_id: &str,
                    order_id: &str,
                    delivery_ids: &[String],
                    retry_at: Option<i64>,
                    error: &str,
                    now: i64,
                ) -> StoreResult<()> {
                    let _writer = write_gate().await;
                    let mut tx = self.pool.begin_with($begin_write).await?;
                    let mut query = QueryBuilder::<$db>::new("UPDATE deliveries SET send_attempts = send_attempts + 1, lease_until = 0, status = ");
                    query.push_bind(if retry_at.is_some() { "allocated" } else { "failed" });
                    query.push(", next_attempt_at = ").push_bind(retry_at.unwrap_or(0));
                    query.push(", last_error = ").push_bind(error);
                    query.push(", updated_at = ").push_bind(now);
                    query.push(" WHERE status = 'allocated' AND tenant_id = ").push_bind(tenant_id);
                    push_id_list(&mut query, "id", delivery_ids);
                    query.build().execute(&mut *tx).await?;
                    if retry_at.is_none() {
                        let detail = serde_json::json!({ "deliveries": delivery_ids, "reason": error });
                        audit(&mut tx, tenant_id, order_id, now, "failed", &detail).await?;
                    }
                    refresh_orders(&mut tx, &[(tenant_id.to_owned(), order_id.to_owned())], now).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn use_download_link(&self, link_id: &str, now: i64) -> StoreResult<Result<FileRow, DownloadRefusal>> {
                    let _writer = write_gate().await;
                    let mut tx = self.pool.begin_with($begin_write).await?;
                    let link: Option<LinkRow> = sqlx::query_as("SELECT * FROM download_links WHERE id = $1")
                        .bind(link_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let refusal = match &link {
                        None => Some(DownloadRefusal::Unknown),
                        Some(l) if l.revoked_at.is_some() => Some(DownloadRefusal::Revoked),
                        Some(l) if l.expires_at <= now => Some(DownloadRefusal::Expired),
                        Some(l) if l.downloads >= l.max_downloads => Some(DownloadRefusal::Exhausted),
                        Some(_) => None,
                    };
                    if let Some(refusal) = refusal {
                        return Ok(Err(refusal));
                    }
                    let link = link.expect("checked above");
                    let counted = sqlx::query(
                        "UPDATE download_links SET downloads = downloads + 1 WHERE id = $1 AND downloads < max_downloads",
                    )
                    .bind(link_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if counted == 0 {
                        return Ok(Err(DownloadRefusal::Exhausted));
                    }
                    let file: FileRow = sqlx::query_as("SELECT * FROM product_files WHERE id = $1")
                        .bind(&link.file_id)
                        .fetch_one(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(Ok(file))
                }

                async fn anonymise_buyer(
                    &self,
                    tenant_id: &str,
                    platform: &str,
                    buyer_platform_ids: &[String],
                    now: i64,
                ) -> StoreResult<u64> {
                    let _writer = write_gate().await;
                    let mut erased = 0;
                    for buyer in buyer_platform_ids {
                        erased += sqlx::query(
                            "UPDATE orders SET buyer_email = 'erased@invalid', buyer_name = NULL, \
                             buyer_platform_id = NULL, updated_at = $1 \
                             WHERE tenant_id = $2 AND platform = $3 AND buyer_platform_id = $4",
                        )
                        .bind(now)
                        .bind(tenant_id)
                        .bind(platform)
                        .bind(buyer)
                        .execute(&self.pool)
                        .await?
                        .rows_affected();
                    }
                    Ok(erased)
                }

                async fn deactivate_platform(&self, tenant_id: &str, platform: &str, now: i64) -> StoreResult<u64> {
                    let _writer = write_gate().await;
                    Ok(sqlx::query(
                        "UPDATE connections SET status = 'inactive', updated_at = $1 \
                         WHERE tenant_id = $2 AND platform = $3 AND status = 'active'",
                    )
                    .bind(now)
                    .bind(tenant_id)
                    .bind(platform)
                    .execute(&self.pool)
                    .await?
                    .rows_affected())
                }

                async fn update_connection_secrets(&self, connection_id: &str, sealed: &str, now: i64) -> StoreResult<()> {
                    let _writer = write_gate().await;
                    sqlx::query("UPDATE connections SET secrets_sealed = $1, updated_at = $2 WHERE id = $3")
                        .bind(sealed)
                        .bind(now)
                        .bind(connection_id)
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                }

                async fn touch_connection(&self, connection_id: &str, now: i64) -> StoreResult<()> {
                    let _writer = write_gate().await;
                    sqlx::query("UPDATE connections SET last_event_at = $1 WHERE id = $2")
                        .bind(now)
                        .bind(connection_id)
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                }

                async fn set_connection_warning(&self, connection_id: &str, warning: Option<&str>) -> StoreResult<()> {
                    let _writer = write_gate().await;
                    sqlx::query("UPDATE connections SET last_error = $1 WHERE id = $2")
                        .bind(warning)
                        .bind(connection_id)
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                }

                async fn ensure_pollers(&self, _now: i64) -> StoreResult<()> {
                    let _writer = write_gate().await;
                    sqlx::query(
                        "INSERT INTO pollers (id, tenant_id, connection_id, platform, checkpoint, next_run_at, lease_until, runs) \
                         SELECT 'pol_' || id, tenant_id, id, platform, 0, 0, 0, 0 FROM connections \
                         WHERE status = 'active' AND platform IN ('etsy', 'woocommerce') ON CONFLICT DO NOTHING",
                    )
                    .execute(&self.pool)
                    .await?;
                    Ok(())
                }

                async fn claim_pollers(&self, now: i64, lease_ms: i64, limit: i64) -> StoreResult<Vec<PollerRow>> {
                    let _writer = write_gate().await;
                    Ok(sqlx::query_as(concat!(
                        "UPDATE pollers SET lease_until = $1 WHERE id IN (SELECT id FROM pollers \
                         WHERE next_run_at <= $2 AND lease_until <= $2 \
                         AND connection_id IN (SELECT id FROM connections WHERE status = 'active') \
                         ORDER BY next_run_at LIMIT $3",
                        $skip_locked,
                        ") RETURNING *"
                    ))
                    .bind(now + lease_ms)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?)
                }

                async fn finish_poller(
                    &self,
                    poller_id: &str,
                    checkpoint: i64,
                    next_run_at: i64,
                    error: Option<&str>,
                    now: i64,
                ) -> StoreResult<()> {
                    let _writer = write_gate().await;
                    sqlx::query(
                        "UPDATE pollers SET checkpoint = $1, next_run_at = $2, lease_until = 0, runs = runs + 1, \
                         last_run_at = $3, last_error = $4 WHERE id = $5",
                    )
                    .bind(checkpoint)
                    .bind(next_run_at)
                    .bind(now)
                    .bind(error)
                    .bind(poller_id)
                    .execute(&self.pool)
                    .await?;
                    Ok(())
                }

                async fn list_alerts(&self, tenant_id: &str) -> StoreResult<Vec<AlertRow>> {
                    Ok(sqlx::query_as("SELECT * FROM alerts WHERE tenant_id = $1 ORDER BY at DESC, id")
                        .bind(tenant_id)
                        .fetch_all(&self.pool)
                        .await?)
                }
            }

            /// Takes one paid order in, in the caller's transaction: the order and its items
            /// (once), a ledger row per unit (once), allocation and charging of each new unit,
            /// the audit trail, and the event marked processed.
            async fn apply_order_in(
                tx: &mut Tx<'_>,
                deferred: &mut Deferred,
                i: &OrderIntake,
                event_id: Option<&str>,
                policy: DeliveryPolicy,
                now: i64,
                lease_ms: i64,
            ) -> StoreResult<ApplyOutcome> {
                let inserted: Option<(String,)> = sqlx::query_as(
                    "INSERT INTO orders (id, tenant_id, platform, platform_order_id, status, buyer_email, \
                     buyer_name, currency, total_cents, created_at, updated_at, buyer_platform_id) \
                     VALUES ($1, $2, $3, $4, 'processing', $5, $6, $7, NULL, $8, $8, $9) \
                     ON CONFLICT DO NOTHING RETURNING id",
                )
                .bind(new_id("ord"))
                .bind(&i.tenant_id)
                .bind(&i.platform)
                .bind(&i.platform_order_id)
                .bind(i.buyer_email.to_lowercase())
                .bind(i.buyer_name.as_deref())
                .bind(i.currency.as_deref())
                .bind(now)
                .bind(i.buyer_platform_id.as_deref())
                .fetch_optional(&mut **tx)
                .await?;
                let mut outcome = ApplyOutcome::default();
                // An order already taken in has its items and ledger rows: a replayed or
                // repeated event changes nothing.
                let Some((order_id,)) = inserted else {
                    deferred.processed(event_id);
                    return Ok(outcome);
                };
                // The trail reads in order: received, mapped, then each unit's allocation.
                let received = serde_json::json!({ "platform": i.platform, "platform_order_id": i.platform_order_id, "event_id": event_id });
                let (mapped, unmapped): (Vec<&IntakeItem>, Vec<&IntakeItem>) =
                    i.items.iter().partition(|item| item.product.is_some());
                let mapped: Vec<serde_json::Value> = mapped
                    .iter()
                    .map(|item| serde_json::json!({ "line_item_id": item.line_item_id, "product_id": item.product.as_ref().map(|p| &p.0), "quantity": item.quantity }))
                    .collect();
                let unmapped: Vec<&str> = unmapped.iter().map(|item| item.line_item_id.as_str()).collect();
                let detail = serde_json::json!({ "mapped": mapped, "unmapped_line_items": unmapped });
                deferred.audit(&i.tenant_id, &order_id, "received", received.to_string());
                deferred.audit(&i.tenant_id, &order_id, "mapped", detail.to_string());
                for item in &i.items {
                    let item_id = new_id("itm");
                    let status = if item.product.is_some() { "pending" } else { "unmapped" };
                    sqlx::query(
                        "INSERT INTO order_items (id, tenant_id, order_id, product_id, product_type, name, \
                         quantity, delivery_status, license_code, delivered_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL)",
                    )
                    .bind(&item_id)
                    .bind(&i.tenant_id)
                    .bind(&order_id)
                    .bind(item.product.as_ref().map(|p| p.0.as_str()))
                    .bind(item.product.as_ref().map(|p| p.1.as_str()))
                    .bind(&item.name)
                    .bind(item.quantity)
                    .bind(status)
                    .execute(&mut **tx)
                    .await?;
                    let Some((product_id, product_type)) = &item.product else { continue };
                    for unit in 0..item.quantity {
                        let delivery: Option<DeliveryRow> = sqlx::query_as(
                            "INSERT INTO deliveries (id, tenant_id, order_id, order_item_id, product_id, product_type, \
                             platform, platform_order_id, line_item_id, unit, status, created_at, updated_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', $11, $11) \
                             ON CONFLICT DO NOTHING RETURNING *",
                        )
                        .bind(new_id("dlv"))
                        .bind(&i.tenant_id)
                        .bind(&order_id)
                        .bind(&item_id)
                        .bind(product_id)
                        .bind(product_type)
                        .bind(&i.platform)
                        .bind(&i.platform_order_id)
                        .bind(&item.line_item_id)
                        .bind(unit)
                        .bind(now)
                        .fetch_optional(&mut **tx)
                        .await?;
                        let Some(delivery) = delivery else { continue };
                        match allocate_unit(tx, deferred, &delivery, policy, now, lease_ms).await? {
                            Allocation::Allocated => outcome.allocated.push(delivery.id),
                            _ => outcome.waiting += 1,
                        }
                    }
                }
                // Allocated units are pending until their email is recorded, which refreshes
                // the statuses; only waiting units change them now.
                if outcome.waiting > 0 {
                    refresh_orders(tx, &[(i.tenant_id.clone(), order_id.clone())], now).await?;
                }
                deferred.processed(event_id);
                outcome.order_id = Some(order_id);
                Ok(outcome)
            }

            /// Allocates one unit in the caller's transaction: a code (CODE/HYBRID), download
            /// links (FILE/HYBRID) and one token, or none of them and a waiting status.
            async fn allocate_unit(
                tx: &mut Tx<'_>,
                deferred: &mut Deferred,
                d: &DeliveryRow,
                policy: DeliveryPolicy,
                now: i64,
                lease_ms: i64,
            ) -> StoreResult<Allocation> {
                // The balance first: a unit that cannot be paid for takes no code.
                if deferred.balance(tx, &d.tenant_id).await? < 1 {
                    wait(tx, deferred, d, "awaiting_tokens", now).await?;
                    return Ok(Allocation::AwaitingTokens);
                }
                let wants_code = matches!(d.product_type.as_str(), "CODE" | "HYBRID");
                let wants_files = matches!(d.product_type.as_str(), "FILE" | "HYBRID");
                // The code taken, with the product's low-stock threshold read in the same statement.
                let mut code: Option<(String, String, i64)> = None;
                if wants_code {
                    code = sqlx::query_as(concat!(
                        "UPDATE license_codes SET status = 'allocated', order_item_id = $1, allocated_at = $2 \
                         WHERE id = (SELECT id FROM license_codes WHERE product_id = $3 AND status = 'available' \
                         ORDER BY id LIMIT 1",
                        $skip_locked,
                        ") AND status = 'available' \
                         RETURNING id, code, (SELECT low_stock_threshold FROM products WHERE id = $3)"
                    ))
                    .bind(&d.order_item_id)
                    .bind(now)
                    .bind(&d.product_id)
                    .fetch_optional(&mut **tx)
                    .await?;
                    if code.is_none() {
                        wait(tx, deferred, d, "awaiting_stock", now).await?;
                        return Ok(Allocation::AwaitingStock);
                    }
                }
                let balance = deferred.charge(&d.tenant_id);
                let mut links = 0;
                if wants_files {
                    let files: Vec<(String,)> = sqlx::query_as(
                        "SELECT id FROM product_files WHERE product_id = $1 AND status = 'uploaded' ORDER BY id",
                    )
                    .bind(&d.product_id)
                    .fetch_all(&mut **tx)
                    .await?;
                    for (file_id,) in files {
                        sqlx::query(
                            "INSERT INTO download_links (id, tenant_id, delivery_id, file_id, expires_at, max_downloads, \
                             downloads, revoked_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, 0, NULL, $7)",
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
                }
                sqlx::query(
                    "UPDATE deliveries SET status = 'allocated', license_code_id = $1, code = $2, lease_until = $3, \
                     updated_at = $4 WHERE id = $5",
                )
                .bind(code.as_ref().map(|c| c.0.as_str()))
                .bind(code.as_ref().map(|c| c.1.as_str()))
                .bind(now + lease_ms)
                .bind(now)
                .bind(&d.id)
                .execute(&mut **tx)
                .await?;
                let allocated = serde_json::json!({ "delivery_id": d.id, "unit": d.unit, "license_code_id": code.as_ref().map(|c| &c.0), "download_links": links });
                let charged = serde_json::json!({ "delivery_id": d.id, "tokens_charged": 1, "token_balance": balance });
                deferred.audit(&d.tenant_id, &d.order_id, "allocated", allocated.to_string());
                deferred.audit(&d.tenant_id, &d.order_id, "charged", charged.to_string());
                if balance < policy.low_tokens {
                    let detail = serde_json::json!({ "token_balance": balance, "threshold": policy.low_tokens });
                    alert(tx, &d.tenant_id, "low_tokens", &d.tenant_id, &detail, now).await?;
                }
                // Low stock, as the product shows it: available codes down to the threshold.
                if let Some(&(_, _, threshold)) = code.as_ref().filter(|c| c.2 > 0) {
                    let (available,): (i64,) = sqlx::query_as(
                        "SELECT COUNT(*) FROM license_codes WHERE product_id = $1 AND status = 'available'",
                    )
                    .bind(&d.product_id)
                    .fetch_one(&mut **tx)
                    .await?;
                    if available <= threshold {
                        let detail = serde_json::json!({ "available": available, "threshold": threshold });
                        alert(tx, &d.tenant_id, "low_stock", &d.product_id, &detail, now).await?;
                    }
                }
                Ok(Allocation::Allocated)
            }

            /// Parks a unit; the audit trail says so once per change of reason.
            async fn wait(tx: &mut Tx<'_>, deferred: &mut Deferred, d: &DeliveryRow, status: &str, now: i64) -> StoreResult<()> {
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
                if status == "awaiting_stock" {
                    let detail = serde_json::json!({ "available": 0 });
                    alert(tx, &d.tenant_id, "low_stock", &d.product_id, &detail, now).await?;
                }
                Ok(())
            }

            /// Recomputes the items' and the orders' delivery status from the ledger, for
            /// `(tenant id, order id)` pairs: a statement per step and tenant, not per order.
            async fn refresh_orders(tx: &mut Tx<'_>, orders: &[(String, String)], now: i64) -> StoreResult<()> {
                let mut by_tenant: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
                for (tenant_id, order_id) in orders {
                    by_tenant.entry(tenant_id).or_default().push(order_id.clone());
                }
                for (tenant_id, order_ids) in &by_tenant {
                    for ids in order_ids.chunks(ID_CHUNK) {
                        let mut query = QueryBuilder::<$db>::new(
                            "UPDATE order_items SET \
                             delivery_status = COALESCE((SELECT CASE \
                               WHEN SUM(CASE WHEN d.status = 'failed' THEN 1 ELSE 0 END) > 0 THEN 'failed' \
                               WHEN SUM(CASE WHEN d.status = 'awaiting_stock' THEN 1 ELSE 0 END) > 0 THEN 'awaiting_stock' \
                               WHEN SUM(CASE WHEN d.status = 'awaiting_tokens' THEN 1 ELSE 0 END) > 0 THEN 'awaiting_tokens' \
                               WHEN SUM(CASE WHEN d.status = 'revoked' THEN 1 ELSE 0 END) = COUNT(*) THEN 'revoked' \
                               WHEN SUM(CASE WHEN d.status = 'sent' THEN 1 ELSE 0 END) = COUNT(*) THEN 'delivered' \
                               ELSE 'queued' END \
                               FROM deliveries d WHERE d.order_item_id = order_items.id HAVING COUNT(*) > 0), delivery_status), \
                             license_code = COALESCE((SELECT MIN(d.code) FROM deliveries d WHERE d.order_item_id = order_items.id), license_code), \
                             delivered_at = (SELECT MAX(d.sent_at) FROM deliveries d WHERE d.order_item_id = order_items.id) \
                             WHERE tenant_id = ",
                        );
                        query.push_bind(*tenant_id);
                        push_id_list(&mut query, "order_id", ids);
                        query.build().execute(&mut **tx).await?;
                        let mut query = QueryBuilder::<$db>::new("UPDATE orders SET updated_at = ");
                        query.push_bind(now).push(
                            ", status = COALESCE((SELECT CASE \
                               WHEN SUM(CASE WHEN d.status = 'failed' THEN 1 ELSE 0 END) > 0 THEN 'failed' \
                               WHEN SUM(CASE WHEN d.status = 'sent' THEN 1 ELSE 0 END) = COUNT(*) THEN 'delivered' \
                               ELSE 'processing' END \
                               FROM deliveries d WHERE d.order_id = orders.id HAVING COUNT(*) > 0), status) \
                             WHERE status NOT IN ('refunded', 'cancelled') AND tenant_id = ",
                        );
                        query.push_bind(*tenant_id);
                        push_id_list(&mut query, "id", ids);
                        query.build().execute(&mut **tx).await?;
                    }
                }
                Ok(())
            }

            /// Appends ` AND {column} IN (…)` with the ids bound.
            fn push_id_list<'q>(query: &mut QueryBuilder<'q, $db>, column: &str, ids: &'q [String]) {
                query.push(format_args!(" AND {column} IN ("));
                let mut list = query.separated(", ");
                for id in ids {
                    list.push_bind(id);
                }
                query.push(")");
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

            /// Ids bound in one `IN (…)` list: well under SQLite's and PostgreSQL's bind limits.
            const ID_CHUNK: usize = 500;

            /// What a transaction writes once, at its end: audit rows (one insert per chunk
            /// instead of one per order or unit) and the events it processed.
            #[derive(Default)]
            struct Deferred {
                /// `(tenant id, order id, action, detail JSON)`.
                audit: Vec<(String, String, String, String)>,
                processed: Vec<String>,
                /// Per tenant touched: `(balance now, tokens charged in this transaction)`.
                balances: std::collections::BTreeMap<String, (i64, i64)>,
            }

            impl Deferred {
                /// The tenant's balance in this transaction. The first read locks the tenant's
                /// row (`FOR UPDATE` on PostgreSQL; SQLite's write transaction holds the whole
                /// database), so charges counted here are exact when written at the end.
                async fn balance(&mut self, tx: &mut Tx<'_>, tenant_id: &str) -> StoreResult<i64> {
                    if let Some((balance, _)) = self.balances.get(tenant_id) {
                        return Ok(*balance);
                    }
                    let (balance,): (i64,) = sqlx::query_as(concat!("SELECT tokens FROM tenants WHERE id = $1", $lock_row))
                        .bind(tenant_id)
                        .fetch_one(&mut **tx)
                        .await?;
                    self.balances.insert(tenant_id.to_owned(), (balance, 0));
                    Ok(balance)
                }

                /// Charges one token of a balance read by [`Deferred::balance`]; the new balance.
                fn charge(&mut self, tenant_id: &str) -> i64 {
                    let entry = self.balances.get_mut(tenant_id).expect("the balance is read before a charge");
                    entry.0 -= 1;
                    entry.1 += 1;
                    entry.0
                }

                fn audit(&mut self, tenant_id: &str, order_id: &str, action: &str, detail: String) {
                    self.audit.push((tenant_id.to_owned(), order_id.to_owned(), action.to_owned(), detail));
                }

                fn processed(&mut self, event_id: Option<&str>) {
                    self.processed.extend(event_id.map(str::to_owned));
                }

                /// Writes everything collected, in the order it was collected.
                async fn write(self, tx: &mut Tx<'_>, at: i64) -> StoreResult<()> {
                    for (tenant_id, (_, charged)) in self.balances.iter().filter(|(_, (_, c))| *c > 0) {
                        sqlx::query("UPDATE tenants SET tokens = tokens - $1 WHERE id = $2")
                            .bind(charged)
                            .bind(tenant_id)
                            .execute(&mut **tx)
                            .await?;
                    }
                    // Rows per insert: six binds each.
                    for rows in self.audit.chunks(ID_CHUNK) {
                        let mut query = QueryBuilder::<$db>::new(
                            "INSERT INTO order_audit (id, tenant_id, order_id, at, action, detail) ",
                        );
                        query.push_values(rows, |mut row, (tenant_id, order_id, action, detail)| {
                            row.push_bind(new_id("aud"))
                                .push_bind(tenant_id)
                                .push_bind(order_id)
                                .push_bind(at)
                                .push_bind(action)
                                .push_bind(detail);
                        });
                        query.build().execute(&mut **tx).await?;
                    }
                    for ids in self.processed.chunks(ID_CHUNK) {
                        let mut query = QueryBuilder::<$db>::new(
                            "UPDATE events SET status = 'processed', lease_until = 0, last_error = NULL WHERE 1 = 1",
                        );
                        push_id_list(&mut query, "id", ids);
                        query.build().execute(&mut **tx).await?;
                    }
                    Ok(())
                }
            }

            async fn finish_event_in(tx: &mut Tx<'_>, event_id: Option<&str>) -> StoreResult<()> {
                let mut deferred = Deferred::default();
                deferred.processed(event_id);
                deferred.write(tx, 0).await
            }

            async fn audit(
                tx: &mut Tx<'_>,
                tenant_id: &str,
                order_id: &str,
                at: i64,
                action: &str,
                detail: &serde_json::Value,
            ) -> StoreResult<()> {
                let mut deferred = Deferred::default();
                deferred.audit(tenant_id, order_id, action, detail.to_string());
                deferred.write(tx, at).await
            }

            async fn alert(
                tx: &mut Tx<'_>,
                tenant_id: &str,
                kind: &str,
                subject: &str,
                detail: &serde_json::Value,
                now: i64,
            ) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO alerts (id, tenant_id, kind, subject, detail, at) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (tenant_id, kind, subject) DO UPDATE SET detail = excluded.detail, at = excluded.at",
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
        }
    };
}

pub(super) use impl_pipeline_store;
