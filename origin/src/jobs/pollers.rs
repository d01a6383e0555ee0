//! The pollers: Etsy receipts (Etsy has no push for most apps), WooCommerce reconciliation
//! (WooCommerce never retries a failed webhook) and eBay reconciliation ([`ebay`]: eBay retries
//! notifications but does not promise them). Each runs from a leased `pollers` row whose
//! checkpoint survives restarts; what it finds is stored as events, deduplicated with what the
//! webhooks delivered, and processed like them.
//!
//! A run is bounded whatever the platform answers: at most `poll_max_pages` pages and until
//! its deadline, after which it stops and leaves the page (or offset) it reached on its row
//! for the next run. Only the holder of the poller's newest claim records the outcome.

mod ebay;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{POLLED_HEADER, Pipeline, ProcessError};
use crate::domain::events::event_key;
use crate::domain::orders::PlatformOrder;
use crate::ids::{new_id, now_ms};
use crate::platforms::client::PlatformError;
use crate::platforms::etsy::{RateBudget, next_poll_delay};
use crate::platforms::woocommerce::WooRestClient;
use crate::store::EventRow;
use crate::store::pipeline::{PollerOutcome, PollerRow};

/// How long past its deadline a run may take to finish the page in flight (an outbound
/// request's own timeout) before it is cut off.
const DEADLINE_GRACE: Duration = Duration::from_secs(30);

/// How long a poller's claim holds: longer than a run can take, so a live run keeps its lease.
pub fn lease_ms(pipeline: &Pipeline) -> i64 {
    let longest = pipeline.settings.bounds.poll_run_deadline + DEADLINE_GRACE;
    i64::try_from(longest.as_millis())
        .unwrap_or(i64::MAX / 4)
        .saturating_add(pipeline.settings.lease_ms)
}

/// Runs one claimed poller and records the outcome on its row.
pub async fn run(pipeline: &Pipeline, poller: PollerRow) {
    let deadline = pipeline.settings.bounds.poll_run_deadline;
    let bound = Bound {
        deadline: Instant::now() + deadline,
        max_pages: pipeline.settings.bounds.poll_max_pages,
    };
    let work = async {
        match poller.platform.as_str() {
            "etsy" => poll_etsy(pipeline, &poller, bound).await,
            "woocommerce" => reconcile_woocommerce(pipeline, &poller, bound).await,
            "ebay" => ebay::reconcile_ebay(pipeline, &poller, bound).await,
            _ => Err(ProcessError::Permanent(
                "no poller for this platform".into(),
            )),
        }
    };
    let outcome = tokio::time::timeout(deadline + DEADLINE_GRACE, work)
        .await
        .unwrap_or_else(|_| {
            Err(ProcessError::Retry(
                "the run passed its deadline and was cut off".into(),
            ))
        });
    // A failed run keeps its place: the next one reads the same page again (repeats dedupe).
    let outcome = outcome.unwrap_or_else(|error| {
        let message = match error {
            ProcessError::Retry(m) | ProcessError::Permanent(m) => m,
        };
        PollerOutcome {
            checkpoint: poller.checkpoint,
            continuation: poller.continuation,
            high_water: poller.high_water,
            next_run_at: now_ms() + interval_ms(pipeline, &poller.platform),
            error: Some(message),
        }
    });
    if let Some(error) = &outcome.error {
        tracing::warn!(poller = %poller.id, %error, "poll did not complete");
    }
    let token = poller.claim_token.as_deref().unwrap_or_default();
    match pipeline
        .store
        .finish_poller(&poller.id, token, &outcome, now_ms())
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(poller = %poller.id, "a newer claim took the poller over; this run's outcome is dropped")
        }
        Err(error) => {
            tracing::warn!(poller = %poller.id, %error, "recording the poll failed; its lease will expire")
        }
    }
}

/// What one run may read: pages, and time.
#[derive(Debug, Clone, Copy)]
struct Bound {
    deadline: Instant,
    max_pages: u32,
}

impl Bound {
    /// Whether a run that has read `pages` pages must stop here and leave the rest.
    fn reached(&self, pages: u32) -> bool {
        pages >= self.max_pages || Instant::now() >= self.deadline
    }
}

/// Where a run starts: the sweep's checkpoint, the page or offset it reached, the newest
/// modification it saw.
struct Sweep {
    since: i64,
    continuation: i64,
    high_water: i64,
}

impl Sweep {
    fn of(pipeline: &Pipeline, poller: &PollerRow, created_at_ms: i64) -> Sweep {
        let since = start_checkpoint(pipeline, poller, created_at_ms);
        if poller.continuation > 0 {
            Sweep {
                since,
                continuation: poller.continuation,
                high_water: poller.high_water.max(since),
            }
        } else {
            Sweep {
                since,
                continuation: 0,
                high_water: since,
            }
        }
    }

    /// The sweep stopped at `continuation`: the next run goes on from there.
    fn unfinished(&self, continuation: i64, next_run_at: i64) -> PollerOutcome {
        PollerOutcome {
            checkpoint: self.since,
            continuation,
            high_water: self.high_water,
            next_run_at,
            error: None,
        }
    }

    /// The sweep read everything: the next one starts from the newest modification seen.
    fn finished(&self, next_run_at: i64) -> PollerOutcome {
        PollerOutcome {
            checkpoint: self.high_water,
            continuation: 0,
            high_water: 0,
            next_run_at,
            error: None,
        }
    }
}

fn interval_ms(pipeline: &Pipeline, platform: &str) -> i64 {
    let interval = match platform {
        "etsy" => pipeline.settings.etsy_poll_interval,
        "ebay" => pipeline.settings.ebay_reconcile_interval,
        _ => pipeline.settings.woo_reconcile_interval,
    };
    i64::try_from(interval.as_millis()).unwrap_or(i64::MAX / 2)
}

/// The first run of a new connection starts a little before it was made, never at the dawn
/// of the shop (that would deliver every past order again).
fn start_checkpoint(pipeline: &Pipeline, poller: &PollerRow, created_at_ms: i64) -> i64 {
    if poller.checkpoint > 0 {
        poller.checkpoint
    } else {
        (created_at_ms / 1000 - pipeline.settings.poll_initial_lookback_secs).max(1)
    }
}

/// Stores a polled order as an event under the platform's identity; whether it was new.
async fn store_polled(
    pipeline: &Pipeline,
    poller: &PollerRow,
    identity: String,
    order: &PlatformOrder,
) -> Result<bool, ProcessError> {
    let seen = Observed {
        tenant_id: &poller.tenant_id,
        connection_id: &poller.connection_id,
        how: "poll",
        source: &poller.id,
    };
    store_observed(pipeline, seen, identity, order).await
}

/// Where an order read from a platform's API came from: a poller, or the fetch a webhook
/// asked for.
pub(super) struct Observed<'a> {
    pub tenant_id: &'a str,
    pub connection_id: &'a str,
    /// `poll` or `webhook`.
    pub how: &'a str,
    /// The poller's id, or the webhook event's.
    pub source: &'a str,
}

/// Stores an order read from a platform's API as an event keyed with the platform's
/// identity of it (`domain::events`), whoever read it: the same observation read by a poller
/// and for a webhook is stored once. Whether it was new.
pub(super) async fn store_observed(
    pipeline: &Pipeline,
    seen: Observed<'_>,
    identity: String,
    order: &PlatformOrder,
) -> Result<bool, ProcessError> {
    let now = now_ms();
    let platform = order.platform;
    let headers = BTreeMap::from([(POLLED_HEADER.to_owned(), seen.source.to_owned())]);
    let event = EventRow {
        id: new_id("evt"),
        tenant_id: seen.tenant_id.to_owned(),
        platform: platform.as_str().to_owned(),
        status: "received".into(),
        dedupe_key: event_key(platform, Some(seen.connection_id), &identity),
        edge_event_id: format!("{}:{}:{identity}", seen.how, seen.connection_id),
        headers: serde_json::to_string(&headers).unwrap_or_default(),
        body: serde_json::to_string(order).map_err(|e| ProcessError::Permanent(e.to_string()))?,
        received_at: now,
        stored_at: now,
        attempts: 1,
        last_error: None,
        connection_id: Some(seen.connection_id.to_owned()),
    };
    Ok(pipeline.store.insert_polled_event(&event).await?)
}

async fn poll_etsy(
    pipeline: &Pipeline,
    poller: &PollerRow,
    bound: Bound,
) -> Result<PollerOutcome, ProcessError> {
    let connection = pipeline
        .store
        .get_connection(&poller.tenant_id, &poller.connection_id)
        .await?
        .ok_or_else(|| ProcessError::Permanent("connection gone".into()))?;
    let mut secrets = pipeline.open_secrets(&connection)?;
    let shop_id = connection.shop_id.clone().unwrap_or_default();
    let settings = &pipeline.settings;
    let client = pipeline
        .etsy_client(&secrets)
        .map_err(|e| ProcessError::Retry(format!("Etsy receipts: {e}")))?;
    let mut sweep = Sweep::of(pipeline, poller, connection.created_at);
    let mut offset = u32::try_from(sweep.continuation).unwrap_or(0);
    let mut refreshed = false;
    let mut budget = RateBudget::default();
    let mut found_new = false;
    let mut pages = 0;
    let finished = loop {
        if bound.reached(pages) {
            break false;
        }
        let token = secrets.access_token.clone().unwrap_or_default();
        let since_secs = u64::try_from(sweep.since).unwrap_or(0);
        match client
            .paid_receipts_since(&shop_id, &token, since_secs, offset)
            .await
        {
            Ok((page, page_budget)) => {
                budget = page_budget;
                pages += 1;
                let count = page.receipts.len();
                for receipt in &page.receipts {
                    found_new |=
                        store_polled(pipeline, poller, receipt.identity(), &receipt.order).await?;
                    let updated = i64::try_from(receipt.updated_at).unwrap_or(0);
                    sweep.high_water = sweep.high_water.max(updated);
                }
                offset = offset.saturating_add(u32::try_from(count).unwrap_or(u32::MAX));
                // Etsy's `count` may end the sweep early, never prolong it: the page bound does.
                if count == 0 || u64::from(offset) >= page.total {
                    break true;
                }
            }
            // An access token Etsy no longer takes (its hour is over): refreshed now, once,
            // single-flight with the refresh job and any other caller.
            Err(PlatformError::Unauthorized { status: 401 }) if !refreshed => {
                secrets = pipeline.refresh_now(&connection).await?;
                refreshed = true;
            }
            Err(PlatformError::RateLimited { retry_after_secs }) => {
                // What was stored stays stored; the next run goes on from this offset.
                let wait = i64::try_from(retry_after_secs).unwrap_or(60).max(1) * 1000;
                let mut outcome = sweep.unfinished(i64::from(offset), now_ms() + wait);
                outcome.error = Some(format!(
                    "rate limited by Etsy, retry after {retry_after_secs} s"
                ));
                return Ok(outcome);
            }
            Err(error) => return Err(ProcessError::Retry(format!("Etsy receipts: {error}"))),
        }
    };
    if found_new {
        pipeline
            .store
            .touch_connection(&connection.id, now_ms())
            .await?;
    }
    // An unfinished sweep goes on soon, as soon as the daily budget allows.
    let interval = if finished {
        settings.etsy_poll_interval
    } else {
        settings.tick
    };
    let delay = next_poll_delay(interval, budget);
    let next_run_at = now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
    Ok(if finished {
        sweep.finished(next_run_at)
    } else {
        sweep.unfinished(i64::from(offset), next_run_at)
    })
}

async fn reconcile_woocommerce(
    pipeline: &Pipeline,
    poller: &PollerRow,
    bound: Bound,
) -> Result<PollerOutcome, ProcessError> {
    let interval = interval_ms(pipeline, "woocommerce");
    let connection = pipeline
        .store
        .get_connection(&poller.tenant_id, &poller.connection_id)
        .await?
        .ok_or_else(|| ProcessError::Permanent("connection gone".into()))?;
    let secrets = pipeline.open_secrets(&connection)?;
    let (Some(key), Some(secret), Some(store_url)) = (
        &secrets.consumer_key,
        &secrets.consumer_secret,
        &connection.store_url,
    ) else {
        // A manual set-up (webhook secret only) has no REST access to reconcile with.
        return Ok(PollerOutcome {
            checkpoint: poller.checkpoint,
            continuation: 0,
            high_water: 0,
            next_run_at: now_ms() + interval,
            error: None,
        });
    };
    let client = WooRestClient::new(pipeline.http.clone(), store_url, key, secret)
        .map_err(|e| ProcessError::Permanent(format!("WooCommerce orders: {e}")))?;
    let mut sweep = Sweep::of(pipeline, poller, connection.created_at);
    let after = chrono::DateTime::from_timestamp(sweep.since, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    let mut missed = 0;
    let mut page = u32::try_from(sweep.continuation.max(1)).unwrap_or(1);
    let mut pages = 0;
    // `X-WP-TotalPages` may end the sweep, never prolong a run: the page bound does.
    let finished = loop {
        if bound.reached(pages) {
            break false;
        }
        let orders = client
            .paid_orders_modified_after(&after, page)
            .await
            .map_err(|e| ProcessError::Retry(format!("WooCommerce orders: {e}")))?;
        for event in &orders.orders {
            if store_polled(pipeline, poller, event.identity(), &event.order).await? {
                missed += 1;
            }
            if let Ok(modified) =
                chrono::NaiveDateTime::parse_from_str(&event.modified_gmt, "%Y-%m-%dT%H:%M:%S")
            {
                sweep.high_water = sweep.high_water.max(modified.and_utc().timestamp());
            }
        }
        pages += 1;
        if page >= orders.total_pages || orders.orders.is_empty() {
            break true;
        }
        page = page.saturating_add(1);
    };
    let warning = (missed > 0).then(|| {
        format!("{missed} paid order(s) reached YourSender only through reconciliation: webhook deliveries are failing or the webhook was disabled in WooCommerce")
    });
    // Webhooks arriving since the last run, with nothing missed, mean deliveries work again.
    let webhooks_arrived = matches!(
        (connection.last_event_at, poller.last_run_at),
        (Some(event), Some(run)) if event > run
    );
    if warning.is_some() || (connection.last_error.is_some() && webhooks_arrived) {
        pipeline
            .store
            .set_connection_warning(&connection.id, warning.as_deref())
            .await?;
    }
    Ok(if finished {
        sweep.finished(now_ms() + interval)
    } else {
        sweep.unfinished(i64::from(page), now_ms())
    })
}
