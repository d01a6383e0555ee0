//! Configuration: every flag (each also an environment variable) and its resolution into the
//! one [`Settings`] that `Application::build` takes. Secrets are wrapped so they never appear
//! in `Debug` output or logs. Nothing else reads flags or fills in defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};

use crate::crypto::MasterKey;

mod admin;
pub mod connect;
pub mod sending;
mod storage;
pub mod tokens;
mod work_bounds;

pub use admin::AdminCommand;
pub use storage::{RetentionArgs, RetentionSettings, StorageQuota, StorageQuotaArgs};
pub use work_bounds::{WorkBounds, WorkBoundsArgs};

/// `--max-body-bytes` unless given: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// `--max-upload-bytes` unless given: 100 MiB.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 100 * 1024 * 1024;
/// `--max-keys-per-tenant` unless given.
pub const DEFAULT_MAX_KEYS_PER_TENANT: i64 = 50;
/// `--idempotency-retention-secs` unless given: a day, as Stripe keeps keys.
pub const DEFAULT_IDEMPOTENCY_RETENTION_SECS: u64 = 86_400;
/// `--public-base-url` unless given.
pub const DEFAULT_PUBLIC_BASE_URL: &str = "http://127.0.0.1:8787";

#[derive(Debug, Parser)]
#[command(
    name = "origin",
    version,
    about = "YourSender origin: the durable backend"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API and the edge's internal routes (migrates first).
    Serve(Box<ServeArgs>),
    /// Apply the database migrations and exit.
    Migrate(DatabaseArgs),
    /// Operator commands; each prints one JSON line.
    Admin {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Directory for the SQLite file, uploaded files and the generated master key.
    #[arg(long, env = "DATA_DIR", default_value = "./data", global = true)]
    pub data_dir: PathBuf,
    /// `postgres://…` for PostgreSQL; otherwise a SQLite URL. Default: `<data-dir>/origin.db`.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    pub database_url: Option<String>,
}

impl DatabaseArgs {
    /// The database to open: the URL given, or the SQLite file in the data dir.
    pub fn resolved_url(&self) -> String {
        match &self.database_url {
            Some(url) if !url.is_empty() => url.clone(),
            _ => format!("sqlite://{}", self.data_dir.join("origin.db").display()),
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Address to listen on.
    #[arg(long, env = "ORIGIN_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// HMAC secret shared with the edge; signs every forwarded request.
    #[arg(long, env = "EDGE_SHARED_SECRET", hide_env_values = true, value_parser = secret)]
    pub edge_shared_secret: SecretString,
    /// 64 hex digits sealing platform secrets at rest. Default: generated once into
    /// `<data-dir>/master.key`.
    #[arg(long, env = "MASTER_KEY", hide_env_values = true, value_parser = secret)]
    pub master_key: Option<SecretString>,
    /// Public base URL of the system (the edge), for eBay endpoints and signed upload URLs.
    #[arg(long, env = "PUBLIC_BASE_URL", default_value = DEFAULT_PUBLIC_BASE_URL)]
    pub public_base_url: String,
    /// Largest JSON body accepted, in bytes (larger → 413).
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// Largest file upload accepted, in bytes (larger → 413).
    #[arg(long, env = "MAX_UPLOAD_BYTES", default_value_t = DEFAULT_MAX_UPLOAD_BYTES)]
    pub max_upload_bytes: u64,
    /// Most usable (neither revoked nor expired) API keys a tenant may hold; creating or
    /// rotating past it → 409 KEY_LIMIT_REACHED. The operator's CLI is not capped.
    #[arg(long, env = "MAX_KEYS_PER_TENANT", default_value_t = DEFAULT_MAX_KEYS_PER_TENANT,
        value_parser = clap::value_parser!(i64).range(1..))]
    pub max_keys_per_tenant: i64,
    /// How long an `Idempotency-Key` and its stored answer are kept, in seconds; after it the
    /// key may be used again for any request.
    #[arg(long, env = "IDEMPOTENCY_RETENTION_SECS", default_value_t = DEFAULT_IDEMPOTENCY_RETENTION_SECS,
        value_parser = clap::value_parser!(u64).range(1..))]
    pub idempotency_retention_secs: u64,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    #[command(flatten)]
    pub connections: ConnectionArgs,
    #[command(flatten)]
    pub storage_quota: StorageQuotaArgs,
}

/// Platform connections: how many a tenant may have, how long a rotated webhook secret keeps
/// verifying, where eBay says who connected.
#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
    /// Connections one tenant may have (more → 409 TOO_MANY_CONNECTIONS).
    #[arg(long, env = "MAX_CONNECTIONS_PER_TENANT", default_value_t = 20)]
    pub max_connections_per_tenant: i64,
    /// How long a rotated WooCommerce webhook secret keeps verifying beside the new one, in
    /// seconds.
    #[arg(long, env = "WOO_SECRET_OVERLAP_SECS", default_value_t = 86_400)]
    pub woo_secret_overlap_secs: u64,
    /// eBay Identity API base (`getUser`: the seller's userId when an eBay connection is made).
    /// Default: `EBAY_API_BASE_URL` with `api.` as `apiz.` (`https://apiz.ebay.com`).
    #[arg(long, env = "EBAY_IDENTITY_BASE_URL")]
    pub ebay_identity_base_url: Option<String>,
    #[command(flatten)]
    pub connect: connect::ConnectArgs,
}

/// [`ConnectionArgs`] resolved.
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    pub max_per_tenant: i64,
    pub woo_secret_overlap_ms: i64,
    /// None: derived from the eBay API base ([`ConnectionSettings::ebay_identity_base`]).
    pub ebay_identity_base_url: Option<String>,
    /// The connect flows.
    pub connect: connect::ConnectSettings,
}

impl ConnectionSettings {
    pub fn resolve(args: &ConnectionArgs) -> Self {
        ConnectionSettings {
            max_per_tenant: args.max_connections_per_tenant,
            woo_secret_overlap_ms: i64::try_from(args.woo_secret_overlap_secs)
                .unwrap_or(i64::MAX / 1000)
                .saturating_mul(1000),
            ebay_identity_base_url: args.ebay_identity_base_url.clone(),
            connect: connect::ConnectSettings::resolve(&args.connect),
        }
    }

    /// The Identity API base, without a trailing `/`: the configured one, else eBay's API
    /// base with `api.` as `apiz.` (production and sandbox alike), else that base itself.
    pub fn ebay_identity_base(&self, ebay_api_base_url: &str) -> String {
        let base = match &self.ebay_identity_base_url {
            Some(url) => url.clone(),
            None => ebay_api_base_url.replacen("://api.", "://apiz.", 1),
        };
        base.trim_end_matches('/').to_owned()
    }
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        ConnectionSettings {
            max_per_tenant: 20,
            woo_secret_overlap_ms: 86_400_000,
            ebay_identity_base_url: None,
            connect: connect::ConnectSettings::default(),
        }
    }
}

/// The delivery pipeline: event processing, email, download links, platform pollers.
#[derive(Debug, Clone, Args)]
pub struct PipelineArgs {
    /// Run the pipeline's workers in this process (several processes may share PostgreSQL).
    #[arg(long, env = "PIPELINE_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub pipeline_enabled: bool,
    /// SMTP server for delivery emails (`smtps://user:pass@host:465`); unset → the outbox.
    #[arg(long, env = "SMTP_URL", hide_env_values = true, value_parser = secret)]
    pub smtp_url: Option<SecretString>,
    /// Folder of `.eml` files used when no SMTP server is set. Default: `<data-dir>/outbox`.
    #[arg(long, env = "OUTBOX_DIR")]
    pub outbox_dir: Option<PathBuf>,
    /// Sender of delivery emails.
    #[arg(
        long,
        env = "MAIL_FROM",
        default_value = "YourSender <deliveries@yoursender.local>"
    )]
    pub mail_from: String,
    /// Base URL of download links (`{base}/d/{token}`). Default: PUBLIC_BASE_URL.
    #[arg(long, env = "DOWNLOAD_BASE_URL")]
    pub download_base_url: Option<String>,
    /// How long a download link works, in hours.
    #[arg(long, env = "DOWNLOAD_LINK_TTL_HOURS", default_value_t = 7 * 24)]
    pub download_link_ttl_hours: u64,
    /// Downloads allowed per link.
    #[arg(long, env = "DOWNLOAD_LINK_MAX_DOWNLOADS", default_value_t = 5)]
    pub download_link_max_downloads: i64,
    /// A token balance under this records a low-tokens alert.
    #[arg(long, env = "LOW_TOKENS_THRESHOLD", default_value_t = 10)]
    pub low_tokens_threshold: i64,
    /// eBay API base (Fulfillment `getOrder`).
    #[arg(
        long,
        env = "EBAY_API_BASE_URL",
        default_value = "https://api.ebay.com"
    )]
    pub ebay_api_base_url: String,
    /// Addresses or CIDR ranges, comma separated (`127.0.0.1`, `10.1.0.0/16`, `::1`), that
    /// platform calls may reach although they are loopback or private: local runs and tests
    /// with their fakes on 127.0.0.1. Empty (the default): no such address is ever called.
    #[arg(long, env = "OUTBOUND_ALLOW_HOSTS", value_delimiter = ',')]
    pub outbound_allow_hosts: Vec<String>,
    /// Etsy Open API base.
    #[arg(
        long,
        env = "ETSY_API_BASE_URL",
        default_value = "https://api.etsy.com"
    )]
    pub etsy_api_base_url: String,
    /// The Etsy app's keystring (a connection's own `api_key` wins).
    #[arg(long, env = "ETSY_API_KEY", hide_env_values = true)]
    pub etsy_api_key: Option<String>,
    /// The Etsy app's shared secret.
    #[arg(long, env = "ETSY_SHARED_SECRET", hide_env_values = true, value_parser = secret)]
    pub etsy_shared_secret: Option<SecretString>,
    /// Seconds between Etsy receipt polls per connection (Etsy has no push).
    #[arg(long, env = "ETSY_POLL_INTERVAL_SECS", default_value_t = 300)]
    pub etsy_poll_interval_secs: u64,
    /// Seconds between WooCommerce reconciliation polls per connection with API keys.
    #[arg(long, env = "WOO_RECONCILE_INTERVAL_SECS", default_value_t = 300)]
    pub woo_reconcile_interval_secs: u64,
    /// Seconds between eBay reconciliation polls (`getOrders`) per connection with a user token.
    #[arg(long, env = "EBAY_RECONCILE_INTERVAL_SECS", default_value_t = 600)]
    pub ebay_reconcile_interval_secs: u64,
    /// How far back the first poll of a new connection looks, in seconds.
    #[arg(long, env = "POLL_INITIAL_LOOKBACK_SECS", default_value_t = 86_400)]
    pub poll_initial_lookback_secs: u64,
    /// How long a worker's claim on a row holds before another worker may take it over (a
    /// crashed process's work resumes after this), in seconds.
    #[arg(long, env = "PIPELINE_LEASE_SECS", default_value_t = 60)]
    pub pipeline_lease_secs: u64,
    /// How often idle workers look for work, in milliseconds.
    #[arg(long, env = "PIPELINE_TICK_MS", default_value_t = 200)]
    pub pipeline_tick_ms: u64,
    /// Events a worker claims at once; their paid orders are taken in by one transaction.
    #[arg(long, env = "PIPELINE_BATCH", default_value_t = 64)]
    pub pipeline_batch: u32,
    /// Events read and emails sent at once by a worker (platform fetches, outbox or SMTP).
    #[arg(long, env = "PIPELINE_CONCURRENCY", default_value_t = 8)]
    pub pipeline_concurrency: u32,
    #[command(flatten)]
    pub retention: RetentionArgs,
    #[command(flatten)]
    pub bounds: WorkBoundsArgs,
    #[command(flatten)]
    pub sending: sending::SendArgs,
    #[command(flatten)]
    pub tokens: tokens::TokenArgs,
}

fn secs_to_ms(secs: u64) -> i64 {
    i64::try_from(secs)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000)
}

fn secret(value: &str) -> Result<SecretString, String> {
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    Ok(SecretString::from(value))
}

/// Everything `Application::build` needs, resolved: defaults filled in, the master key read
/// or generated, URLs trimmed.
pub struct Settings {
    pub listen: SocketAddr,
    pub database_url: String,
    pub data_dir: PathBuf,
    pub edge_shared_secret: SecretString,
    pub master_key: MasterKey,
    /// Without a trailing `/`.
    pub public_base_url: String,
    pub max_body_bytes: usize,
    pub max_upload_bytes: u64,
    pub max_keys_per_tenant: i64,
    /// How long idempotency keys and their answers are kept, in ms.
    pub idempotency_retention_ms: i64,
    /// The background jobs (event intake, sends, resumption, pollers).
    pub pipeline: PipelineSettings,
    pub connections: ConnectionSettings,
    /// What one tenant may keep in uploaded files.
    pub storage_quota: StorageQuota,
}

/// The background jobs' settings, resolved from [`PipelineArgs`].
#[derive(Clone)]
pub struct PipelineSettings {
    /// Whether this process runs the jobs at all.
    pub enabled: bool,
    pub smtp_url: Option<SecretString>,
    pub outbox_dir: PathBuf,
    pub mail_from: String,
    /// Without a trailing `/`.
    pub download_base_url: String,
    /// How long a download link works, in ms.
    pub link_ttl_ms: i64,
    pub max_downloads: i64,
    /// A token balance under this records a low-tokens alert.
    pub low_tokens: i64,
    pub ebay_api_base_url: String,
    pub etsy_api_base_url: String,
    /// Raw `--outbound-allow-hosts` entries; `Application::build` refuses a bad one.
    pub outbound_allow_hosts: Vec<String>,
    pub etsy_api_key: Option<String>,
    pub etsy_shared_secret: Option<SecretString>,
    pub etsy_poll_interval: Duration,
    pub woo_reconcile_interval: Duration,
    pub ebay_reconcile_interval: Duration,
    pub poll_initial_lookback_secs: i64,
    pub tick: Duration,
    /// Events claimed at once.
    pub batch: i64,
    /// Events read and emails sent at once.
    pub concurrency: usize,
    /// How long a claim holds before another worker may take the row over, in ms.
    pub lease_ms: i64,
    /// What the retention job prunes, and how often.
    pub retention: RetentionSettings,
    /// Pollers' pages, deadline and concurrency; the waiting units' sweep.
    pub bounds: WorkBounds,
    /// SMTP timeout and the retries of delivery emails.
    pub sending: sending::SendSettings,
    /// The token refresh job.
    pub tokens: tokens::TokenSettings,
}

impl Settings {
    /// The settings of `origin serve` from its arguments.
    pub fn resolve(args: ServeArgs) -> anyhow::Result<Settings> {
        let data_dir = args.database.data_dir.clone();
        let master_key = resolve_master_key(&data_dir, args.master_key.as_ref())?;
        let mut pipeline =
            PipelineSettings::resolve(&args.pipeline, &data_dir, &args.public_base_url);
        pipeline.tokens = pipeline.tokens.with_ebay_app(&args.connections.connect);
        Ok(Settings {
            listen: args.listen,
            database_url: args.database.resolved_url(),
            data_dir,
            edge_shared_secret: args.edge_shared_secret,
            master_key,
            public_base_url: args.public_base_url.trim_end_matches('/').to_owned(),
            max_body_bytes: args.max_body_bytes,
            max_upload_bytes: args.max_upload_bytes,
            max_keys_per_tenant: args.max_keys_per_tenant,
            idempotency_retention_ms: secs_to_ms(args.idempotency_retention_secs),
            pipeline,
            connections: ConnectionSettings::resolve(&args.connections),
            storage_quota: StorageQuota::resolve(&args.storage_quota),
        })
    }

    /// `origin serve`'s defaults on a random port, for tests and benchmarks: the caller names
    /// the data dir, database, edge secret and master key, then adjusts what it needs.
    pub fn for_tests(
        data_dir: &Path,
        database_url: impl Into<String>,
        edge_shared_secret: &str,
        master_key: MasterKey,
    ) -> Settings {
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.into(),
            data_dir: data_dir.to_owned(),
            edge_shared_secret: SecretString::from(edge_shared_secret),
            master_key,
            public_base_url: DEFAULT_PUBLIC_BASE_URL.to_owned(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            max_keys_per_tenant: DEFAULT_MAX_KEYS_PER_TENANT,
            idempotency_retention_ms: secs_to_ms(DEFAULT_IDEMPOTENCY_RETENTION_SECS),
            pipeline: PipelineSettings::defaults(data_dir, DEFAULT_PUBLIC_BASE_URL),
            connections: ConnectionSettings::default(),
            storage_quota: StorageQuota::default(),
        }
    }
}

impl PipelineSettings {
    pub fn resolve(args: &PipelineArgs, data_dir: &Path, public_base_url: &str) -> Self {
        PipelineSettings {
            enabled: args.pipeline_enabled,
            smtp_url: args.smtp_url.clone(),
            outbox_dir: args
                .outbox_dir
                .clone()
                .unwrap_or_else(|| data_dir.join("outbox")),
            mail_from: args.mail_from.clone(),
            download_base_url: args
                .download_base_url
                .clone()
                .unwrap_or_else(|| public_base_url.to_owned())
                .trim_end_matches('/')
                .to_owned(),
            link_ttl_ms: i64::try_from(args.download_link_ttl_hours)
                .unwrap_or(i64::MAX / 3_600_000)
                .saturating_mul(3_600_000),
            max_downloads: args.download_link_max_downloads,
            low_tokens: args.low_tokens_threshold,
            ebay_api_base_url: args.ebay_api_base_url.clone(),
            etsy_api_base_url: args.etsy_api_base_url.clone(),
            outbound_allow_hosts: args.outbound_allow_hosts.clone(),
            etsy_api_key: args.etsy_api_key.clone(),
            etsy_shared_secret: args.etsy_shared_secret.clone(),
            etsy_poll_interval: Duration::from_secs(args.etsy_poll_interval_secs),
            woo_reconcile_interval: Duration::from_secs(args.woo_reconcile_interval_secs),
            ebay_reconcile_interval: Duration::from_secs(args.ebay_reconcile_interval_secs),
            poll_initial_lookback_secs: i64::try_from(args.poll_initial_lookback_secs)
                .unwrap_or(86_400),
            tick: Duration::from_millis(args.pipeline_tick_ms.max(10)),
            batch: i64::from(args.pipeline_batch.max(1)),
            concurrency: usize::try_from(args.pipeline_concurrency.max(1)).unwrap_or(8),
            lease_ms: i64::try_from(args.pipeline_lease_secs.max(1))
                .unwrap_or(60)
                .saturating_mul(1000),
            retention: RetentionSettings::resolve(&args.retention),
            bounds: WorkBounds::resolve(&args.bounds),
            sending: sending::SendSettings::resolve(&args.sending),
            tokens: tokens::TokenSettings::resolve(&args.tokens),
        }
    }

    /// The defaults, as `origin serve` has them with no pipeline flag set.
    pub fn defaults(data_dir: &Path, public_base_url: &str) -> Self {
        #[derive(Parser)]
        struct Defaults {
            #[command(flatten)]
            pipeline: PipelineArgs,
        }
        let args = Defaults::parse_from(["origin"]).pipeline;
        Self::resolve(&args, data_dir, public_base_url)
    }
}

/// The master key given, or the one generated on first start into `<data_dir>/master.key`.
pub fn resolve_master_key(
    data_dir: &Path,
    given: Option<&SecretString>,
) -> anyhow::Result<MasterKey> {
    if let Some(key) = given {
        return MasterKey::from_hex(key.expose_secret()).context("MASTER_KEY");
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating the data dir {}", data_dir.display()))?;
    let path = data_dir.join("master.key");
    if !path.exists() {
        std::fs::write(&path, crate::crypto::random_hex(32))
            .with_context(|| format!("writing {}", path.display()))?;
        restrict_permissions(&path)?;
        tracing::warn!(path = %path.display(), "no MASTER_KEY given: generated one; back it up");
    }
    let hex =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    MasterKey::from_hex(&hex).with_context(|| format!("the master key in {}", path.display()))
}

#[cfg(unix)]
fn restrict_permissions(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn restrict_permissions(_path: &Path) -> std::io::Result<()> {
    Ok(())
}
