//! The bounds on background work one tenant could otherwise make unbounded: how much a poller
//! run may read and for how long, how many pollers run at once (and per tenant), and how the
//! sweep over waiting units is sized and backed off, and how many units an order may ask for
//! before the seller reviews it.

use std::time::Duration;

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct WorkBoundsArgs {
    /// Pages (WooCommerce) or receipt pages (Etsy) one poller run reads at most; a run that
    /// stops there carries its place to the next run.
    #[arg(long, env = "POLL_MAX_PAGES", default_value_t = 10)]
    pub poll_max_pages: u32,
    /// How long one poller run may take, in seconds; it stops reading then (keeping its
    /// place), and is cut off a little later.
    #[arg(long, env = "POLL_RUN_DEADLINE_SECS", default_value_t = 120)]
    pub poll_run_deadline_secs: u64,
    /// Poller runs at once in this process.
    #[arg(long, env = "POLL_CONCURRENCY", default_value_t = 4)]
    pub poll_concurrency: u32,
    /// Poller runs at once per tenant (across every process sharing the database).
    #[arg(long, env = "POLL_PER_TENANT", default_value_t = 1)]
    pub poll_per_tenant: u32,
    /// Waiting units one sweep retries, taken round-robin across tenants.
    #[arg(long, env = "RESUME_BATCH", default_value_t = 200)]
    pub resume_batch: u32,
    /// Longest wait before the sweep retries a unit that still cannot proceed, in seconds
    /// (the wait doubles from one tick; codes imported or tokens added retry it at once).
    #[arg(long, env = "RESUME_BACKOFF_MAX_SECS", default_value_t = 300)]
    pub resume_backoff_max_secs: u64,
    /// Units one order line may ask for; an order with a line over it waits for the seller's
    /// approval (`needs_review`) and makes no delivery until then.
    #[arg(long, env = "MAX_UNITS_PER_LINE", default_value_t = 100, value_parser = clap::value_parser!(i64).range(1..))]
    pub max_units_per_line: i64,
    /// Units one order may ask for, all lines together; over it, the order waits for review.
    #[arg(long, env = "MAX_UNITS_PER_ORDER", default_value_t = 500, value_parser = clap::value_parser!(i64).range(1..))]
    pub max_units_per_order: i64,
}

/// [`WorkBoundsArgs`] resolved.
#[derive(Debug, Clone, Copy)]
pub struct WorkBounds {
    pub poll_max_pages: u32,
    pub poll_run_deadline: Duration,
    pub poll_concurrency: usize,
    pub poll_per_tenant: i64,
    pub resume_batch: i64,
    pub resume_backoff_max: Duration,
    /// Units per line and per order the ledger takes in without the seller's review.
    pub max_units_per_line: i64,
    pub max_units_per_order: i64,
}

impl WorkBounds {
    pub fn resolve(args: &WorkBoundsArgs) -> Self {
        WorkBounds {
            poll_max_pages: args.poll_max_pages.max(1),
            poll_run_deadline: Duration::from_secs(args.poll_run_deadline_secs.max(1)),
            poll_concurrency: usize::try_from(args.poll_concurrency.max(1)).unwrap_or(4),
            poll_per_tenant: i64::from(args.poll_per_tenant.max(1)),
            resume_batch: i64::from(args.resume_batch.max(1)),
            resume_backoff_max: Duration::from_secs(args.resume_backoff_max_secs.max(1)),
            max_units_per_line: args.max_units_per_line,
            max_units_per_order: args.max_units_per_order,
        }
    }
}
