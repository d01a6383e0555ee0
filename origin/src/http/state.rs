//! What handlers share: the store, the secrets they check or derive from, where files live,
//! and the event ingest batcher. Built by `Application::build`.

use std::path::PathBuf;
use std::sync::Arc;

use secrecy::SecretString;

use crate::config::ConnectionSettings;
use crate::config::StorageQuota;
use crate::crypto::MasterKey;
use crate::domain::ledger::DeliveryPolicy;
use crate::platforms::outbound::Outbound;
use crate::store::Store;
use crate::store::group_commit::IngestBatcher;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub edge_secret: SecretString,
    pub master_key: MasterKey,
    /// Without a trailing `/`.
    pub public_base_url: String,
    pub files_dir: PathBuf,
    pub max_upload_bytes: u64,
    /// What one tenant may keep in uploaded files.
    pub storage_quota: StorageQuota,
    /// Most usable API keys a tenant may hold.
    pub max_keys_per_tenant: i64,
    /// How long idempotency keys and their answers are kept, in ms.
    pub idempotency_retention_ms: i64,
    /// The connection cap and the secret overlap.
    pub connections: ConnectionSettings,
    /// Where eBay's `getUser` is (without a trailing `/`).
    pub ebay_identity_base_url: String,
    /// Event ingest with group commit (many requests, one transaction).
    pub ingest: IngestBatcher,
    /// The guarded client for platform calls made while answering (webhook registration).
    pub outbound: Outbound,
    /// What the API's own allocations apply (an approved order, lines a new mapping resumes).
    pub delivery_policy: DeliveryPolicy,
    /// Where the platform APIs the listing pickers read are, and the Etsy app's key.
    pub platform_apis: PlatformApis,
}

/// The platform APIs handlers call while answering (the listing pickers).
#[derive(Clone)]
pub struct PlatformApis {
    /// eBay's API base (the Trading API's `/ws/api.dll` is on it).
    pub ebay_api_base_url: String,
    pub etsy_api_base_url: String,
    pub etsy_api_key: Option<String>,
    pub etsy_shared_secret: Option<SecretString>,
    /// How long before an access token ends it is refreshed (`TOKEN_REFRESH_MARGIN_SECS`), in
    /// ms: the first refresh of tokens a connect flow obtained.
    pub token_refresh_margin_ms: i64,
}

/// The JSON body limit of one router, carried in each request's extensions so that apps in
/// one process keep their own (for the 413 answer; the limit itself is `DefaultBodyLimit`).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);
