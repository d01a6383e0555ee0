//! How delivery emails are sent and retried: the SMTP command timeout, and the backoff a
//! failed send retries on. A mail server that is down or answers "try later" is retried for
//! days; only its permanent refusal of the message fails the unit.

use std::time::Duration;

use clap::Args;

/// `--send-retry-schedule-secs` unless given: 30 s doubling to an hour, then hourly.
pub const DEFAULT_SEND_RETRY_SCHEDULE: &str = "30,60,120,300,600,1200,1800,3600";
/// `--send-retry-for-hours` unless given: five days.
pub const DEFAULT_SEND_RETRY_FOR_HOURS: u64 = 5 * 24;
/// `--smtp-timeout-secs` unless given: well under the default 60 s lease.
pub const DEFAULT_SMTP_TIMEOUT_SECS: u64 = 15;

#[derive(Debug, Clone, Args)]
pub struct SendArgs {
    /// Timeout of each SMTP command (connect, greeting, each reply), in seconds. Keep it well
    /// under PIPELINE_LEASE_SECS; the lease of units being sent is renewed meanwhile.
    #[arg(long, env = "SMTP_TIMEOUT_SECS", default_value_t = DEFAULT_SMTP_TIMEOUT_SECS,
        value_parser = clap::value_parser!(u64).range(1..))]
    pub smtp_timeout_secs: u64,
    /// Delays between retries of a delivery email that could not be sent (the mail server
    /// unreachable, timing out or answering 4xx), comma-separated seconds; past the end the
    /// last delay repeats.
    #[arg(long, env = "SEND_RETRY_SCHEDULE_SECS", default_value = DEFAULT_SEND_RETRY_SCHEDULE,
        value_parser = retry_schedule)]
    pub send_retry_schedule_secs: String,
    /// How long a delivery email keeps being retried before its units fail, in hours.
    #[arg(long, env = "SEND_RETRY_FOR_HOURS", default_value_t = DEFAULT_SEND_RETRY_FOR_HOURS)]
    pub send_retry_for_hours: u64,
}

fn retry_schedule(text: &str) -> Result<String, String> {
    match shared::retry::parse_retry_schedule(text) {
        Some(_) => Ok(text.to_owned()),
        None => Err("comma-separated whole seconds, at least one".to_owned()),
    }
}

/// [`SendArgs`] resolved.
#[derive(Debug, Clone)]
pub struct SendSettings {
    pub smtp_timeout: Duration,
    /// Seconds before each retry; the last repeats.
    pub retry_schedule_secs: Vec<u32>,
    /// Retries stop once they would wait past this much time since the first failure.
    pub retry_for_secs: u64,
}

impl SendSettings {
    pub fn resolve(args: &SendArgs) -> Self {
        SendSettings {
            smtp_timeout: Duration::from_secs(args.smtp_timeout_secs.max(1)),
            retry_schedule_secs: shared::retry::parse_retry_schedule(
                &args.send_retry_schedule_secs,
            )
            .unwrap_or_else(|| vec![30]),
            retry_for_secs: args.send_retry_for_hours.saturating_mul(3_600),
        }
    }

    /// When to retry after the `attempts`-th failure (from 1) of a send at `now` (ms), or
    /// None when the retry window is used up.
    pub fn retry_at(&self, attempts: i64, now: i64) -> Option<i64> {
        let attempt = u32::try_from(attempts).ok()?;
        shared::retry::capped_retry_delay_secs(
            &self.retry_schedule_secs,
            attempt,
            self.retry_for_secs,
        )
        .map(|delay| now + i64::from(delay) * 1000)
    }
}
