//! Connect attempts (the `state` of a connect flow) and what completing one writes to its
//! connection. The state itself is the credential a platform brings back, like a download
//! token: it is looked up by itself, and the row names the tenant it is bound to.

use async_trait::async_trait;
use sqlx::FromRow;

use super::{ConnectionRow, StoreResult};
use crate::domain::connect::AttemptFacts;

#[derive(Debug, Clone, FromRow)]
pub struct ConnectAttemptRow {
    /// The state.
    pub id: String,
    pub tenant_id: String,
    pub platform: String,
    /// The connection being re-authorised; after a new connection is made, that one.
    pub connection_id: Option<String>,
    /// WooCommerce: the store the keys are granted by.
    pub store_url: Option<String>,
    /// Etsy: the PKCE code_verifier, sealed with the master key.
    pub code_verifier_sealed: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    /// What the return page tells the seller: `connected`, or why not.
    pub outcome: Option<String>,
}

impl ConnectAttemptRow {
    /// What `domain::connect` decides on.
    pub fn facts(&self) -> AttemptFacts<'_> {
        AttemptFacts {
            platform: &self.platform,
            expires_at: self.expires_at,
            used_at: self.used_at,
        }
    }
}

#[async_trait]
pub trait ConnectStore: Send + Sync {
    /// Stores a new attempt (and drops attempts that expired more than a day before `now`).
    async fn insert_connect_attempt(
        &self,
        attempt: &ConnectAttemptRow,
        now: i64,
    ) -> StoreResult<()>;
    async fn get_connect_attempt(&self, state: &str) -> StoreResult<Option<ConnectAttemptRow>>;
    /// Marks the attempt used if it is unused and unexpired at `now`; whether this call did
    /// (of two concurrent returns with one state, exactly one gets true).
    async fn use_connect_attempt(&self, state: &str, now: i64) -> StoreResult<bool>;
    /// Records what the return page shows, and the connection the attempt made.
    async fn finish_connect_attempt(
        &self,
        state: &str,
        outcome: &str,
        connection_id: Option<&str>,
    ) -> StoreResult<()>;
    /// Gives the tenant's connection newly granted secrets (and the account they speak for,
    /// when known), active again with no warning: a re-authorisation.
    async fn reauthorise_connection(
        &self,
        tenant_id: &str,
        id: &str,
        secrets_sealed: &str,
        account_id: Option<&str>,
        now: i64,
    ) -> StoreResult<Option<ConnectionRow>>;
}
