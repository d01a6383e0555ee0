//! Dashboard sessions, found by their token's hash, and the failed sign-ins that limit the
//! next attempts (pruned as new ones are recorded).

use async_trait::async_trait;

use super::*;
use crate::ids::new_id;
use crate::store::accounts::{SessionRow, SessionStore, SignedInRow};

#[async_trait]
impl SessionStore for Backend {
    async fn insert_session(&self, s: &SessionRow, ended: (i64, i64)) -> StoreResult<()> {
        let _writer = self.write_gate().await;
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM dashboard_sessions WHERE created_at < $1 OR last_seen_at < $2")
            .bind(ended.0)
            .bind(ended.1)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO dashboard_sessions (id, token_hash, account_id, created_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&s.id)
        .bind(&s.token_hash)
        .bind(&s.account_id)
        .bind(s.created_at)
        .bind(s.last_seen_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn find_session(&self, token_hash: &str) -> StoreResult<Option<SignedInRow>> {
        Ok(sqlx::query_as(
            "SELECT s.id AS session_id, s.account_id, a.email, s.created_at, s.last_seen_at \
             FROM dashboard_sessions s JOIN accounts a ON a.id = s.account_id \
             WHERE s.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn touch_session(&self, session_id: &str, now: i64) -> StoreResult<()> {
        let _writer = self.write_gate().await;
        sqlx::query("UPDATE dashboard_sessions SET last_seen_at = $1 WHERE id = $2")
            .bind(now)
            .bind(session_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<bool> {
        let _writer = self.write_gate().await;
        let deleted = sqlx::query("DELETE FROM dashboard_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(deleted > 0)
    }

    async fn record_sign_in_failure(
        &self,
        email: &str,
        client_address: &str,
        now: i64,
        prune_before: i64,
    ) -> StoreResult<()> {
        let _writer = self.write_gate().await;
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM sign_in_failures WHERE at < $1")
            .bind(prune_before)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sign_in_failures (id, email, client_address, at) VALUES ($1, $2, $3, $4)",
        )
        .bind(new_id("sif"))
        .bind(email)
        .bind(client_address)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn sign_in_failures(
        &self,
        email: &str,
        client_address: &str,
        since: i64,
    ) -> StoreResult<(Vec<i64>, Vec<i64>)> {
        let times = |column: &'static str, value: &str| {
            let sql = format!("SELECT at FROM sign_in_failures WHERE {column} = $1 AND at >= $2");
            let value = value.to_owned();
            async move {
                let rows: Vec<(i64,)> = sqlx::query_as(&sql)
                    .bind(value)
                    .bind(since)
                    .fetch_all(&self.pool)
                    .await?;
                StoreResult::Ok(rows.into_iter().map(|(at,)| at).collect::<Vec<i64>>())
            }
        };
        Ok((
            times("email", email).await?,
            times("client_address", client_address).await?,
        ))
    }

    async fn clear_sign_in_failures(&self, email: &str) -> StoreResult<()> {
        let _writer = self.write_gate().await;
        sqlx::query("DELETE FROM sign_in_failures WHERE email = $1")
            .bind(email)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
