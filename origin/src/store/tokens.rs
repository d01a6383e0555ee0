//! Storage of the token lifecycle: each connection's token times, generation and refresh claim
//! (columns of `connections`), and the one trait that saves a token set, claims refreshes and
//! marks a connection `needs_reconnect`. The SQL is `sql/tokens.rs`, on both backends.

use async_trait::async_trait;
use sqlx::FromRow;

use super::{ConnectionRow, StoreResult};
use crate::domain::tokens::TokenTimes;

/// What a connection row holds about its tokens, beside the sealed tokens themselves.
#[derive(Debug, Clone, Default, FromRow)]
pub struct TokenState {
    /// Unix ms; None when unknown.
    pub access_expires_at: Option<i64>,
    pub refresh_expires_at: Option<i64>,
    /// When the refresh job refreshes next; None: nothing to refresh.
    pub refresh_due_at: Option<i64>,
    /// Bumped by every saved token set: what a refresh compares-and-swaps on.
    pub token_generation: i64,
    pub refresh_claim: Option<String>,
    pub refresh_lease_until: i64,
    /// Refreshes failed in a row (their backoff).
    pub refresh_failures: i64,
}

impl TokenState {
    /// The state of a new connection whose tokens have `times`.
    pub fn new(times: TokenTimes) -> Self {
        TokenState {
            access_expires_at: times.access_expires_at,
            refresh_expires_at: times.refresh_expires_at,
            refresh_due_at: times.refresh_due_at,
            ..TokenState::default()
        }
    }
}

/// A token set to save: the connection's secrets sealed with the new tokens in them, and
/// their times.
#[derive(Debug, Clone, Copy)]
pub struct TokenSet<'a> {
    pub secrets_sealed: &'a str,
    pub times: TokenTimes,
}

/// How a token set is saved.
#[derive(Debug, Clone, Copy)]
pub enum SaveTokens<'a> {
    /// Whatever the connection holds (a seller's new consent): the connection becomes active
    /// again (its reconnect alert cleared), and any refresh in flight loses its
    /// compare-and-swap.
    Replace,
    /// A refresh: only while the connection is still at `generation` and active, and the
    /// refresh claim `claim` still holds it (then released).
    Refreshed { generation: i64, claim: &'a str },
}

/// A refresh that could not be made, recorded on the connection.
#[derive(Debug, Clone, Copy)]
pub struct RefreshDeferred<'a> {
    pub claim: &'a str,
    /// When to try again.
    pub retry_at: i64,
}

/// Which connections need to be connected again.
#[derive(Debug, Clone, Copy)]
pub enum Reconnect<'a> {
    /// One active connection, if its tokens are still those of `generation` (None: whatever
    /// they are): marked. A refusal of a refresh token another refresh already replaced
    /// changes nothing.
    Connection {
        connection_id: &'a str,
        generation: Option<i64>,
    },
    /// The tenant's active `platform` connections speaking for `account_id` (a revoked
    /// consent): each marked.
    Account {
        platform: &'a str,
        account_id: &'a str,
    },
    /// A warning ahead of time: the connection's alert raised (or refreshed), its status
    /// unchanged.
    Warning { connection_id: &'a str },
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Saves a connection's token set atomically (secrets, times, a new generation); the new
    /// generation, or None when nothing was saved (no such connection, or a refresh whose
    /// compare-and-swap lost).
    async fn save_tokens(
        &self,
        tenant_id: &str,
        connection_id: &str,
        set: TokenSet<'_>,
        how: SaveTokens<'_>,
        now: i64,
    ) -> StoreResult<Option<i64>>;
    /// Leases up to `limit` active connections whose refresh is due by `now`, soonest first,
    /// under the claim token `claim` until `now + lease_ms`; a connection leased to another
    /// claim is skipped.
    async fn claim_due_refreshes(
        &self,
        claim: &str,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<ConnectionRow>>;
    /// Leases one active connection's refresh under `claim` (a call refused with 401 asks for
    /// it now), unless another claim holds it: the row as claimed, or None.
    async fn claim_refresh(
        &self,
        tenant_id: &str,
        connection_id: &str,
        claim: &str,
        now: i64,
        lease_ms: i64,
    ) -> StoreResult<Option<ConnectionRow>>;
    /// Releases `claim` after a refresh that failed for now: tried again at `retry_at`.
    async fn defer_refresh(
        &self,
        connection_id: &str,
        deferred: RefreshDeferred<'_>,
    ) -> StoreResult<()>;
    /// Releases `claim` with nothing changed (another refresh already saved newer tokens).
    async fn release_refresh(&self, connection_id: &str, claim: &str) -> StoreResult<()>;
    /// Raises the `connection_needs_reconnect` alert of each connection `which` names, with
    /// `detail` (its `connection_id` set to the connection's), and marks those `which` stops
    /// `needs_reconnect`, in one transaction: how many connections it raised the alert for.
    async fn mark_needs_reconnect(
        &self,
        tenant_id: &str,
        which: Reconnect<'_>,
        detail: &serde_json::Value,
        now: i64,
    ) -> StoreResult<u64>;
}
