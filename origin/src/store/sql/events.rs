//! Events from the edge and from pollers: stored once per `(tenant, dedupe key)` (or edge
//! id), one multi-row insert per batch, stamping the platform's connections; dead letters.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;

use super::*;
use crate::store::{EventFilter, EventRow, EventStore};

#[async_trait]
impl EventStore for Backend {
    async fn ingest_event(&self, event: &EventRow) -> StoreResult<(String, bool)> {
        let _writer = self.write_gate().await;
        let mut tx = self.begin_write().await?;
        let inserted = insert_events(&mut tx, std::slice::from_ref(event)).await?[0];
        if inserted {
            stamp_connections(
                &mut tx,
                (
                    &event.tenant_id,
                    &event.platform,
                    event.connection_id.as_deref(),
                ),
                event.stored_at,
            )
            .await?;
        }
        tx.commit().await?;
        if inserted {
            return Ok((event.id.clone(), false));
        }
        Ok((existing_event_id(&self.pool, event).await?, true))
    }

    async fn ingest_events(&self, events: &[EventRow]) -> StoreResult<Vec<(String, bool)>> {
        let _writer = self.write_gate().await;
        let mut tx = self.begin_write().await?;
        let inserted = insert_events(&mut tx, events).await?;
        let mut stamps: BTreeMap<(&str, &str, Option<&str>), i64> = BTreeMap::new();
        for (e, &new) in events.iter().zip(&inserted) {
            if new {
                let key = (
                    e.tenant_id.as_str(),
                    e.platform.as_str(),
                    e.connection_id.as_deref(),
                );
                let at = stamps.entry(key).or_default();
                *at = (*at).max(e.stored_at);
            }
        }
        for (key, at) in stamps {
            stamp_connections(&mut tx, key, at).await?;
        }
        tx.commit().await?;
        let mut results = Vec::with_capacity(events.len());
        for (e, new) in events.iter().zip(inserted) {
            let result = if new {
                (e.id.clone(), false)
            } else {
                (existing_event_id(&self.pool, e).await?, true)
            };
            results.push(result);
        }
        Ok(results)
    }

    async fn insert_polled_event(&self, e: &EventRow) -> StoreResult<bool> {
        let _writer = self.write_gate().await;
        let mut tx = self.begin_write().await?;
        let new = insert_events(&mut tx, std::slice::from_ref(e)).await?[0];
        tx.commit().await?;
        Ok(new)
    }

    async fn record_dead_letter(&self, event: &EventRow) -> StoreResult<(String, bool)> {
        let _writer = self.write_gate().await;
        let mut tx = self.begin_write().await?;
        let inserted = insert_events(&mut tx, std::slice::from_ref(event)).await?[0];
        if inserted {
            sqlx::query(
                "UPDATE connections SET last_error = $1 WHERE tenant_id = $2 AND platform = $3",
            )
            .bind(event.last_error.as_deref())
            .bind(&event.tenant_id)
            .bind(&event.platform)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        if inserted {
            return Ok((event.id.clone(), false));
        }
        Ok((existing_event_id(&self.pool, event).await?, true))
    }

    async fn list_events(&self, tenant_id: &str, f: &EventFilter) -> StoreResult<Vec<EventRow>> {
        let mut query = tenant_query("events", tenant_id);
        push_eq(&mut query, "status", f.status.as_deref());
        push_eq(&mut query, "platform", f.platform.as_deref());
        fetch_page(&self.pool, query, &f.page).await
    }
}

/// Stamps the connection that brought an event (or, when that is unknown, the platform's
/// active connections) with the time it arrived.
async fn stamp_connections(
    tx: &mut Tx<'_>,
    (tenant_id, platform, connection_id): (&str, &str, Option<&str>),
    at: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE connections SET last_event_at = $1 \
         WHERE tenant_id = $2 AND platform = $3 AND status = 'active' \
         AND ($4 IS NULL OR id = $4)",
    )
    .bind(at)
    .bind(tenant_id)
    .bind(platform)
    .bind(connection_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Inserts events with one statement per chunk, each once per dedupe key (or edge id):
/// per event, whether it was new. Duplicates within the batch are caught too: the rows
/// of one insert are checked in order.
async fn insert_events(tx: &mut Tx<'_>, events: &[EventRow]) -> StoreResult<Vec<bool>> {
    let mut new_ids = BTreeSet::new();
    // Thirteen binds per row: well under either backend's bind limit.
    for chunk in events.chunks(250) {
        let mut query = QueryBuilder::<Db>::new(
            "INSERT INTO events (id, tenant_id, platform, status, dedupe_key, edge_event_id, \
             headers, body, received_at, stored_at, attempts, last_error, connection_id) ",
        );
        query.push_values(chunk, |mut row, e| {
            row.push_bind(&e.id)
                .push_bind(&e.tenant_id)
                .push_bind(&e.platform)
                .push_bind(&e.status)
                .push_bind(&e.dedupe_key)
                .push_bind(&e.edge_event_id)
                .push_bind(&e.headers)
                .push_bind(&e.body)
                .push_bind(e.received_at)
                .push_bind(e.stored_at)
                .push_bind(e.attempts)
                .push_bind(e.last_error.as_deref())
                .push_bind(e.connection_id.as_deref());
        });
        query.push(" ON CONFLICT DO NOTHING RETURNING id");
        let ids: Vec<(String,)> = query.build_query_as().fetch_all(&mut **tx).await?;
        new_ids.extend(ids.into_iter().map(|(id,)| id));
    }
    Ok(events.iter().map(|e| new_ids.contains(&e.id)).collect())
}

/// The id of the stored event an insert collided with.
async fn existing_event_id(pool: &Pool, e: &EventRow) -> StoreResult<String> {
    let (id,): (String,) = sqlx::query_as(
        "SELECT id FROM events WHERE tenant_id = $1 AND (dedupe_key = $2 OR edge_event_id = $3) \
         ORDER BY id LIMIT 1",
    )
    .bind(&e.tenant_id)
    .bind(&e.dedupe_key)
    .bind(&e.edge_event_id)
    .fetch_one(pool)
    .await?;
    Ok(id)
}
