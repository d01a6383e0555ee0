//! What keeps storage bounded: the retention job's pruning (event bodies, audit rows, download
//! links), a buyer's erasure everywhere the tenant holds them, and the per-tenant quota on
//! uploaded files. The SQL is in `sql/retention.rs`, `sql/erasure.rs` and `sql/quotas.rs`.

use async_trait::async_trait;

use super::StoreResult;

/// What one retention statement prunes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prunable {
    /// Bodies of events done with (`processed`, `ignored`, `dead`) stored before the cutoff:
    /// the body is dropped, the row (dedupe key, edge id, status, times) kept. Events still to
    /// be processed (`received`, `failed`) keep theirs whatever their age.
    EventBodies,
    /// Order audit rows written before the cutoff.
    OrderAudit,
    /// Tenant audit rows (keys) written before the cutoff.
    TenantAudit,
    /// Download links that expired or were revoked before the cutoff.
    DownloadLinks,
}

impl Prunable {
    pub const ALL: [Prunable; 4] = [
        Prunable::EventBodies,
        Prunable::OrderAudit,
        Prunable::TenantAudit,
        Prunable::DownloadLinks,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Prunable::EventBodies => "event_bodies",
            Prunable::OrderAudit => "order_audit",
            Prunable::TenantAudit => "tenant_audit",
            Prunable::DownloadLinks => "download_links",
        }
    }
}

/// A buyer to erase from one tenant's data: asked for by `event_id` (marked processed in the
/// same transaction, so a crash cannot leave the request undone while its body is gone).
#[derive(Debug, Clone, Copy)]
pub struct BuyerErasure<'a> {
    pub tenant_id: &'a str,
    pub platform: &'a str,
    /// The platform's ids of the buyer (eBay: the userId and the username).
    pub buyer_ids: &'a [String],
    pub event_id: Option<&'a str>,
}

/// What an erasure touched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErasureReport {
    pub orders: u64,
    pub events: u64,
    pub audit_rows: u64,
    pub deliveries: u64,
}

#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Prunes at most `limit` rows of `what` older than `before`, in one short write
    /// transaction; how many.
    async fn prune(&self, what: Prunable, before: i64, now: i64, limit: i64) -> StoreResult<u64>;
    /// When the event's body was pruned (or erased); None when it is held or there is no such
    /// event of the tenant.
    async fn event_body_pruned_at(
        &self,
        tenant_id: &str,
        event_id: &str,
    ) -> StoreResult<Option<i64>>;
    /// Erases the buyer from the tenant's orders (anonymised, kept), the bodies of the
    /// platform's events that name them (dropped, dedupe keys kept; pending ones are not
    /// processed any more), and every audit detail, delivery error and connection or poller
    /// error that names them.
    async fn erase_buyer(&self, erasure: BuyerErasure<'_>, now: i64) -> StoreResult<ErasureReport>;
}

/// What a tenant keeps in uploaded files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StorageUsage {
    /// Bytes of uploaded files.
    pub bytes: i64,
    /// Uploaded files, and files whose upload URL (created after the cutoff given) still works.
    pub files: i64,
}

#[async_trait]
pub trait QuotaStore: Send + Sync {
    /// The tenant's usage; pending files created before `pending_since` are not counted
    /// (their upload URL has expired).
    async fn storage_usage(&self, tenant_id: &str, pending_since: i64)
    -> StoreResult<StorageUsage>;
    /// Records a pending file uploaded (a file no longer pending is left as it is), unless the
    /// tenant's uploaded bytes would pass `max_bytes`: then nothing changes and the answer is
    /// the usage without it.
    async fn complete_file_within(
        &self,
        file_id: &str,
        size_bytes: i64,
        sha256: &str,
        now: i64,
        max_bytes: i64,
    ) -> StoreResult<Result<(), StorageUsage>>;
}
