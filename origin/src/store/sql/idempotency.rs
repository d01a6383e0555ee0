//! Idempotency keys: claimed in one short write transaction (insert, or judge the stored
//! key with `domain::idempotency`), answered or released by the claim's holder only, and
//! pruned a few at a time by each new claim.

use async_trait::async_trait;

use super::*;
use crate::domain::idempotency::{PRUNE_PER_CLAIM, StoredKey, Verdict, judge};
use crate::ids::new_id;
use crate::store::{IdempotencyClaim, IdempotencyStore, IdempotentRequest, StoredAnswer};

type KeyRow = (
    String,
    i64,
    i64,
    Option<i32>,
    Option<String>,
    Option<Vec<u8>>,
);

#[async_trait]
impl IdempotencyStore for Backend {
    async fn claim_idempotency_key(
        &self,
        r: &IdempotentRequest<'_>,
    ) -> StoreResult<IdempotencyClaim> {
        let _writer = self.write_gate().await;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE id IN (SELECT id FROM idempotency_keys \
             WHERE created_at <= $1 ORDER BY created_at LIMIT $2)",
        )
        .bind(r.now - r.retention_ms)
        .bind(PRUNE_PER_CLAIM)
        .execute(&mut *tx)
        .await?;
        let claim_token = new_id("claim");
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (id, tenant_id, idempotency_key, fingerprint, \
             claim_token, created_at, locked_at) VALUES ($1, $2, $3, $4, $5, $6, $6) \
             ON CONFLICT (tenant_id, idempotency_key) DO NOTHING",
        )
        .bind(new_id("idem"))
        .bind(r.tenant_id)
        .bind(r.key)
        .bind(r.fingerprint)
        .bind(&claim_token)
        .bind(r.now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 1 {
            tx.commit().await?;
            return Ok(IdempotencyClaim::Claimed { claim_token });
        }
        let (fingerprint, created_at, locked_at, status, content_type, body): KeyRow =
            sqlx::query_as(&format!(
                "SELECT fingerprint, created_at, locked_at, status, content_type, body \
                 FROM idempotency_keys WHERE tenant_id = $1 AND idempotency_key = $2{LOCK_ROW}"
            ))
            .bind(r.tenant_id)
            .bind(r.key)
            .fetch_one(&mut *tx)
            .await?;
        let stored = StoredKey {
            fingerprint: &fingerprint,
            created_at,
            locked_at,
            answered: status.is_some(),
        };
        let claim = match judge(&stored, r.fingerprint, r.now, r.retention_ms) {
            Verdict::Mismatch => IdempotencyClaim::Mismatch,
            Verdict::InFlight => IdempotencyClaim::InFlight,
            Verdict::Replay => IdempotencyClaim::Replay(StoredAnswer {
                status: status.and_then(|s| u16::try_from(s).ok()).unwrap_or(200),
                content_type,
                body: body.unwrap_or_default(),
            }),
            Verdict::Claim => {
                // An expired key starts afresh; an abandoned one keeps its age.
                let created_at = if created_at <= r.now - r.retention_ms {
                    r.now
                } else {
                    created_at
                };
                sqlx::query(
                    "UPDATE idempotency_keys SET fingerprint = $1, claim_token = $2, \
                     created_at = $3, locked_at = $4, status = NULL, content_type = NULL, \
                     body = NULL, answered_at = NULL \
                     WHERE tenant_id = $5 AND idempotency_key = $6",
                )
                .bind(r.fingerprint)
                .bind(&claim_token)
                .bind(created_at)
                .bind(r.now)
                .bind(r.tenant_id)
                .bind(r.key)
                .execute(&mut *tx)
                .await?;
                IdempotencyClaim::Claimed { claim_token }
            }
        };
        tx.commit().await?;
        Ok(claim)
    }

    async fn answer_idempotency_key(
        &self,
        tenant_id: &str,
        key: &str,
        claim_token: &str,
        answer: &StoredAnswer,
        now: i64,
    ) -> StoreResult<()> {
        let _writer = self.write_gate().await;
        sqlx::query(
            "UPDATE idempotency_keys SET status = $1, content_type = $2, body = $3, \
             answered_at = $4 WHERE tenant_id = $5 AND idempotency_key = $6 \
             AND claim_token = $7 AND status IS NULL",
        )
        .bind(i32::from(answer.status))
        .bind(&answer.content_type)
        .bind(&answer.body)
        .bind(now)
        .bind(tenant_id)
        .bind(key)
        .bind(claim_token)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn release_idempotency_key(
        &self,
        tenant_id: &str,
        key: &str,
        claim_token: &str,
    ) -> StoreResult<()> {
        let _writer = self.write_gate().await;
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND idempotency_key = $2 \
             AND claim_token = $3 AND status IS NULL",
        )
        .bind(tenant_id)
        .bind(key)
        .bind(claim_token)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
