//! The storage settings: how long the retention job keeps event bodies, audit rows and
//! download links, and the per-tenant quota on uploaded files.

use std::time::Duration;

use clap::Args;

const DAY_MS: i64 = 86_400_000;

/// How long stored data is kept (`jobs::retention` prunes what is older).
#[derive(Debug, Clone, Args)]
pub struct RetentionArgs {
    /// Days an event's body is kept once the event is done with (processed, ignored or dead);
    /// then the body is dropped and its dedupe key, status and times kept, so a replay of it
    /// is still a duplicate. A dead or ignored event is replayable until then.
    #[arg(long, env = "EVENT_BODY_RETENTION_DAYS", default_value_t = 30,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub event_body_retention_days: u32,
    /// Days an order's and a tenant's audit rows are kept.
    #[arg(long, env = "AUDIT_RETENTION_DAYS", default_value_t = 365,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub audit_retention_days: u32,
    /// Days a download link is kept after it expired or was revoked.
    #[arg(long, env = "DOWNLOAD_LINK_RETENTION_DAYS", default_value_t = 30,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub download_link_retention_days: u32,
    /// Seconds between runs of the retention job.
    #[arg(long, env = "RETENTION_INTERVAL_SECS", default_value_t = 3600)]
    pub retention_interval_secs: u64,
    /// Rows one retention statement touches (each batch is one short write transaction).
    #[arg(long, env = "RETENTION_BATCH", default_value_t = 500,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub retention_batch: u32,
}

/// [`RetentionArgs`] resolved.
#[derive(Debug, Clone)]
pub struct RetentionSettings {
    /// How long a finished event keeps its body, in ms.
    pub event_body_ms: i64,
    /// How long audit rows are kept, in ms.
    pub audit_ms: i64,
    /// How long a link is kept after it expired or was revoked, in ms.
    pub link_ms: i64,
    pub interval: Duration,
    pub batch: i64,
}

impl RetentionSettings {
    pub fn resolve(args: &RetentionArgs) -> Self {
        RetentionSettings {
            event_body_ms: i64::from(args.event_body_retention_days) * DAY_MS,
            audit_ms: i64::from(args.audit_retention_days) * DAY_MS,
            link_ms: i64::from(args.download_link_retention_days) * DAY_MS,
            interval: Duration::from_secs(args.retention_interval_secs.max(1)),
            batch: i64::from(args.retention_batch),
        }
    }
}

/// What one tenant may keep in uploaded files.
#[derive(Debug, Clone, Args)]
pub struct StorageQuotaArgs {
    /// Bytes of uploaded files one tenant may keep (an upload past it → 409
    /// STORAGE_QUOTA_EXCEEDED, nothing stored).
    #[arg(long, env = "STORAGE_QUOTA_BYTES", default_value_t = 10 * 1024 * 1024 * 1024,
        value_parser = clap::value_parser!(i64).range(0..))]
    pub storage_quota_bytes: i64,
    /// Files one tenant may have (uploaded, or awaiting an upload whose URL is still valid).
    #[arg(long, env = "STORAGE_QUOTA_FILES", default_value_t = 1000,
        value_parser = clap::value_parser!(i64).range(0..))]
    pub storage_quota_files: i64,
}

/// [`StorageQuotaArgs`] resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageQuota {
    pub max_bytes: i64,
    pub max_files: i64,
}

impl StorageQuota {
    pub fn resolve(args: &StorageQuotaArgs) -> Self {
        StorageQuota {
            max_bytes: args.storage_quota_bytes,
            max_files: args.storage_quota_files,
        }
    }
}

impl Default for StorageQuota {
    fn default() -> Self {
        StorageQuota {
            max_bytes: 10 * 1024 * 1024 * 1024,
            max_files: 1000,
        }
    }
}
