//! The dashboard's accounts, the tenants they are members of, their browser sessions and the
//! failed sign-ins that limit the next ones. A session is found by its token's hash, as an API
//! key is; what a session may see is decided by the membership of its account.

use async_trait::async_trait;
use sqlx::FromRow;

use super::{StoreResult, TenantRow};

#[derive(Debug, Clone, FromRow)]
pub struct AccountRow {
    pub id: String,
    /// Normalised (`domain::accounts::normalise_email`); unique.
    pub email: String,
    /// argon2id, PHC string.
    pub password_hash: String,
    pub created_at: i64,
    pub email_verified_at: Option<i64>,
}

/// An account's place in a tenant, with the tenant's name for the page header.
#[derive(Debug, Clone, FromRow)]
pub struct MembershipRow {
    pub tenant_id: String,
    pub tenant_name: String,
    pub account_id: String,
    /// One of `domain::accounts::roles`.
    pub role: String,
}

#[derive(Debug, Clone, FromRow)]
pub struct SessionRow {
    pub id: String,
    /// SHA-256 of the cookie's token.
    pub token_hash: String,
    pub account_id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
}

/// A live session and the account it signs in.
#[derive(Debug, Clone, FromRow)]
pub struct SignedInRow {
    pub session_id: String,
    pub account_id: String,
    pub email: String,
    pub created_at: i64,
    pub last_seen_at: i64,
}

/// What sign-up writes: a tenant and its owner, together or not at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignUp {
    Created,
    /// An account already has this email; nothing was written.
    EmailTaken,
}

#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Makes the tenant, the account and its owner membership in one transaction.
    async fn sign_up(&self, tenant: &TenantRow, owner: &AccountRow) -> StoreResult<SignUp>;
    async fn find_account_by_email(&self, email: &str) -> StoreResult<Option<AccountRow>>;
    /// The account's memberships, oldest first.
    async fn memberships(&self, account_id: &str) -> StoreResult<Vec<MembershipRow>>;
    /// The account's membership of `tenant_id`; None also when there is no such tenant.
    async fn membership(
        &self,
        account_id: &str,
        tenant_id: &str,
    ) -> StoreResult<Option<MembershipRow>>;
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a new session, dropping the sessions that ended (made before `ended.0` or last
    /// used before `ended.1`: `domain::accounts::ended_session_cutoffs`).
    async fn insert_session(&self, session: &SessionRow, ended: (i64, i64)) -> StoreResult<()>;
    /// The session with this token hash and its account, live or not (the caller decides).
    async fn find_session(&self, token_hash: &str) -> StoreResult<Option<SignedInRow>>;
    async fn touch_session(&self, session_id: &str, now: i64) -> StoreResult<()>;
    /// Ends the session with this token hash; whether there was one.
    async fn delete_session(&self, token_hash: &str) -> StoreResult<bool>;
    /// Records a failed sign-in to `email` from `client_address`, dropping failures from
    /// before `prune_before`.
    async fn record_sign_in_failure(
        &self,
        email: &str,
        client_address: &str,
        now: i64,
        prune_before: i64,
    ) -> StoreResult<()>;
    /// The times of the failed sign-ins since `since`: to `email`, and from `client_address`.
    async fn sign_in_failures(
        &self,
        email: &str,
        client_address: &str,
        since: i64,
    ) -> StoreResult<(Vec<i64>, Vec<i64>)>;
    /// Forgets the failed sign-ins to `email` (its owner just signed in).
    async fn clear_sign_in_failures(&self, email: &str) -> StoreResult<()>;
}
