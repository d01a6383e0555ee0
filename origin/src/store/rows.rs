//! Row types as stored, and the filters list queries take. HTTP DTOs live in `http/`.

use sqlx::FromRow;

use crate::domain::connections::{ACTIVE, ConnectionFacts};
use crate::domain::keys::{Holding, MintedKey, Refusal, audit};
use crate::ids::new_id;

/// Keyset pagination: rows come newest first (ids are time-ordered), strictly after `after`.
#[derive(Debug, Clone, Default)]
pub struct PageQuery {
    /// The id of the last row of the previous page.
    pub after: Option<String>,
    /// How many rows to fetch: the page size plus one, to know whether another page exists.
    pub fetch: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct TenantRow {
    pub id: String,
    pub name: String,
    pub tokens: i64,
    pub created_at: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct ApiKeyRow {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub prefix: String,
    pub key_hash: String,
    pub environment: String,
    /// `*` (every scope) or names space separated; empty (keys made before `*`) is every scope.
    pub scopes: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// Set when the key was rotated: it stops working at this instant.
    pub expires_at: Option<i64>,
}

/// One entry of a tenant's audit log: a key created, rotated, revoked, or an operation refused.
/// Never a secret: keys appear by id and display prefix.
#[derive(Debug, Clone, FromRow)]
pub struct TenantAuditRow {
    pub id: String,
    pub tenant_id: String,
    pub at: i64,
    /// One of `domain::keys::audit`.
    pub action: String,
    /// The key that acted; None: the operator (CLI).
    pub actor_key_id: Option<String>,
    /// The key acted on (a rotation's new key); None when a refused key was never made.
    pub key_id: Option<String>,
    pub key_prefix: Option<String>,
    pub environment: Option<String>,
    /// The scopes the key holds (or, refused, would have held), as stored.
    pub scopes: Option<String>,
    /// A refusal's error code.
    pub reason: Option<String>,
    pub detail: String,
}

/// Who changes a tenant's keys, when, and under which cap: what the store checks and audits.
#[derive(Debug, Clone, Copy)]
pub struct KeyChange<'a> {
    /// The key making the change; None is the operator (CLI).
    pub actor_key_id: Option<&'a str>,
    pub now: i64,
    /// The most usable keys the tenant may hold after the change; None: no cap (operator).
    pub max_usable_keys: Option<i64>,
}

impl KeyChange<'_> {
    /// A change by the operator: no cap.
    pub fn by_operator(now: i64) -> KeyChange<'static> {
        KeyChange {
            actor_key_id: None,
            now,
            max_usable_keys: None,
        }
    }
}

/// What a key write under the tenant's cap did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyWrite<T> {
    Done(T),
    /// No such usable key of the tenant (another tenant's, revoked or expired).
    Missing,
    /// The tenant already holds this many usable keys.
    LimitReached(i64),
}

#[derive(Debug, Clone, FromRow)]
pub struct ConnectionRow {
    pub id: String,
    pub tenant_id: String,
    pub platform: String,
    pub status: String,
    pub store_url: Option<String>,
    pub shop_id: Option<String>,
    pub endpoint_url: Option<String>,
    /// The platform account the connection speaks for (the eBay seller's userId).
    pub account_id: Option<String>,
    /// The platform secrets as JSON, sealed with the master key (see `crypto`).
    pub secrets_sealed: String,
    pub last_event_at: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The connection's settings as JSON (`domain::fulfilment::ConnectionSettings`).
    pub settings: String,
    /// Token expiries, generation and refresh claim (`store::tokens`).
    #[sqlx(flatten)]
    pub tokens: super::tokens::TokenState,
}

#[derive(Debug, Clone, FromRow)]
pub struct EventRow {
    pub id: String,
    pub tenant_id: String,
    pub platform: String,
    pub status: String,
    pub dedupe_key: String,
    pub edge_event_id: String,
    pub headers: String,
    pub body: String,
    pub received_at: i64,
    pub stored_at: i64,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// The connection that brought the event (the one whose secret verified it, or the
    /// poller's), when known.
    pub connection_id: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub status: Option<String>,
    pub platform: Option<String>,
    pub page: PageQuery,
}

#[derive(Debug, Clone, FromRow)]
pub struct ProductRow {
    pub id: String,
    pub tenant_id: String,
    pub sku: String,
    pub name: String,
    pub product_type: String,
    pub status: String,
    pub template_id: Option<String>,
    pub low_stock_threshold: i64,
    /// Platform mappings as JSON (see `http::products::PlatformMappings`).
    pub mappings: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Default)]
pub struct ProductFilter {
    pub product_type: Option<String>,
    pub sku: Option<String>,
    pub search: Option<String>,
    pub status: Option<String>,
    pub page: PageQuery,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CodeStock {
    pub available: i64,
    pub allocated: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct FileRow {
    pub id: String,
    pub tenant_id: String,
    pub product_id: String,
    pub filename: String,
    pub content_type: String,
    pub status: String,
    pub size_bytes: Option<i64>,
    pub sha256: Option<String>,
    pub storage_key: String,
    pub created_at: i64,
    pub uploaded_at: Option<i64>,
}

#[derive(Debug, Clone, FromRow)]
pub struct OrderRow {
    pub id: String,
    pub tenant_id: String,
    pub platform: String,
    pub platform_order_id: String,
    pub status: String,
    pub buyer_email: String,
    pub buyer_name: Option<String>,
    pub currency: Option<String>,
    pub total_cents: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Why the order waits (`needs_review`: over the quantity caps).
    pub status_reason: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub platform: Option<String>,
    pub status: Option<String>,
    pub created_from: Option<i64>,
    pub created_to: Option<i64>,
    pub buyer_email: Option<String>,
    pub page: PageQuery,
}

#[derive(Debug, Clone, FromRow)]
pub struct OrderItemRow {
    pub id: String,
    pub tenant_id: String,
    pub order_id: String,
    pub product_id: Option<String>,
    pub product_type: Option<String>,
    pub name: String,
    pub quantity: i64,
    pub delivery_status: String,
    pub license_code: Option<String>,
    pub delivered_at: Option<i64>,
    /// Why the line waits (`unmapped`: which platform product no product maps).
    pub status_reason: Option<String>,
    /// Units a partial refund took back (revoked, or never delivered).
    pub refunded_quantity: i64,
}

/// What a resend queued and charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResendOutcome {
    /// Items with a unit queued again.
    pub items_queued: i64,
    /// Units queued again: those delivered (charged) and those whose email failed (free).
    pub units_queued: i64,
    pub tokens_charged: i64,
    pub token_balance: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct AuditRow {
    pub id: String,
    pub tenant_id: String,
    pub order_id: String,
    pub at: i64,
    pub action: String,
    pub detail: String,
}

#[derive(Debug, Clone, FromRow)]
pub struct TemplateRow {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub subject: String,
    pub body: String,
    pub is_default: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ApiKeyRow {
    /// The row that stores a freshly minted key of `tenant_id` named `name`.
    pub fn minted(tenant_id: &str, name: &str, key: MintedKey) -> (Self, String) {
        let row = ApiKeyRow {
            id: key.id,
            tenant_id: tenant_id.to_owned(),
            name: name.to_owned(),
            prefix: key.prefix,
            key_hash: key.key_hash,
            environment: key.environment.as_str().to_owned(),
            scopes: key.scopes,
            created_at: key.created_at,
            last_used_at: None,
            revoked_at: None,
            expires_at: None,
        };
        (row, key.secret)
    }
}

impl TenantAuditRow {
    /// An entry about `key`, done by `change`'s actor.
    pub fn about(key: &ApiKeyRow, action: &str, change: &KeyChange, detail: String) -> Self {
        TenantAuditRow {
            id: new_id("aud"),
            tenant_id: key.tenant_id.clone(),
            at: change.now,
            action: action.to_owned(),
            actor_key_id: change.actor_key_id.map(str::to_owned),
            key_id: Some(key.id.clone()),
            key_prefix: Some(key.prefix.clone()),
            environment: Some(key.environment.clone()),
            scopes: Some(key.scopes.clone()),
            reason: None,
            detail,
        }
    }

    /// An entry for a key operation `refusal` stopped: the key it would have made (`asked`),
    /// or the existing `key` it would have rotated or revoked.
    pub fn refused(
        tenant_id: &str,
        change: &KeyChange,
        key: Option<&ApiKeyRow>,
        asked: &Holding,
        refusal: &Refusal,
    ) -> Self {
        TenantAuditRow {
            id: new_id("aud"),
            tenant_id: tenant_id.to_owned(),
            at: change.now,
            action: audit::REFUSED.to_owned(),
            actor_key_id: change.actor_key_id.map(str::to_owned),
            key_id: key.map(|k| k.id.clone()),
            key_prefix: key.map(|k| k.prefix.clone()),
            environment: Some(asked.environment.as_str().to_owned()),
            scopes: Some(asked.grant.stored()),
            reason: Some(refusal.code().as_str().to_owned()),
            detail: refusal.to_string(),
        }
    }
}

impl ConnectionRow {
    /// The stored connection as the connection rules in `domain::connections` see it.
    pub fn facts(&self) -> ConnectionFacts<'_> {
        ConnectionFacts {
            id: &self.id,
            platform: &self.platform,
            active: self.status == ACTIVE,
            endpoint_url: self.endpoint_url.as_deref(),
            store_url: self.store_url.as_deref(),
            sealed_secrets: &self.secrets_sealed,
        }
    }
}
