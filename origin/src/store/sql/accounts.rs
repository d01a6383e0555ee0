//! Accounts and the tenants they are members of; sign-up writes a tenant, its owner and the
//! membership in one transaction.

use async_trait::async_trait;

use super::tenants::insert_tenant;
use super::*;
use crate::domain::accounts::roles;
use crate::store::TenantRow;
use crate::store::accounts::{AccountRow, AccountStore, MembershipRow, SignUp};

/// A membership with its tenant's name.
const MEMBERSHIP_SELECT: &str = "SELECT m.tenant_id, t.name AS tenant_name, m.account_id, m.role \
     FROM tenant_members m JOIN tenants t ON t.id = m.tenant_id";

#[async_trait]
impl AccountStore for Backend {
    async fn sign_up(&self, tenant: &TenantRow, owner: &AccountRow) -> StoreResult<SignUp> {
        let _writer = self.write_gate().await;
        let mut tx = self.begin_write().await?;
        insert_tenant(&mut *tx, tenant).await?;
        let inserted = sqlx::query(
            "INSERT INTO accounts (id, email, password_hash, created_at, email_verified_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (email) DO NOTHING",
        )
        .bind(&owner.id)
        .bind(&owner.email)
        .bind(&owner.password_hash)
        .bind(owner.created_at)
        .bind(owner.email_verified_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            // Dropping the transaction rolls the tenant back with it.
            return Ok(SignUp::EmailTaken);
        }
        sqlx::query(
            "INSERT INTO tenant_members (tenant_id, account_id, role, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&tenant.id)
        .bind(&owner.id)
        .bind(roles::OWNER)
        .bind(owner.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(SignUp::Created)
    }

    async fn find_account_by_email(&self, email: &str) -> StoreResult<Option<AccountRow>> {
        Ok(sqlx::query_as("SELECT * FROM accounts WHERE email = $1")
            .bind(email)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn memberships(&self, account_id: &str) -> StoreResult<Vec<MembershipRow>> {
        let sql = format!(
            "{MEMBERSHIP_SELECT} WHERE m.account_id = $1 ORDER BY m.created_at, m.tenant_id"
        );
        Ok(sqlx::query_as(&sql)
            .bind(account_id)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn membership(
        &self,
        account_id: &str,
        tenant_id: &str,
    ) -> StoreResult<Option<MembershipRow>> {
        let sql = format!("{MEMBERSHIP_SELECT} WHERE m.account_id = $1 AND m.tenant_id = $2");
        Ok(sqlx::query_as(&sql)
            .bind(account_id)
            .bind(tenant_id)
            .fetch_optional(&self.pool)
            .await?)
    }
}
