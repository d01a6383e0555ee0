//! Typed configuration: every option is a flag and an environment variable, secrets are
//! wrapped so they never appear in `Debug` output or logs.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;

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
    #[arg(long, env = "PUBLIC_BASE_URL", default_value = "http://127.0.0.1:8787")]
    pub public_base_url: String,
    /// Largest JSON body accepted, in bytes (larger → 413).
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Largest file upload accepted, in bytes (larger → 413).
    #[arg(long, env = "MAX_UPLOAD_BYTES", default_value_t = 100 * 1024 * 1024)]
    pub max_upload_bytes: u64,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
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
}

#[derive(Debug, Clone, Subcommand)]
pub enum AdminCommand {
    /// Create a tenant and its first live API key (shown only here).
    CreateTenant {
        #[arg(long)]
        name: String,
        #[arg(long, default_value_t = 0)]
        tokens: i64,
    },
    /// Create an API key for a tenant.
    CreateKey {
        #[arg(long)]
        tenant: String,
        /// Scopes, comma or space separated; none means every scope.
        #[arg(long, num_args = 0.., value_delimiter = ',')]
        scopes: Vec<String>,
        /// A `ys_test_` key instead of `ys_live_`.
        #[arg(long)]
        test: bool,
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// Revoke an API key at once.
    RevokeKey {
        #[arg(long)]
        key_id: String,
    },
    /// Add tokens to a tenant's balance.
    AddTokens {
        #[arg(long)]
        tenant: String,
        /// Negative to take tokens back (never below zero).
        #[arg(long, allow_negative_numbers = true)]
        amount: i64,
    },
}

fn secret(value: &str) -> Result<SecretString, String> {
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    Ok(SecretString::from(value))
}
