//! eBay reconciliation: eBay retries a notification but does not promise it, so each eBay
//! connection with a seller token reads its orders modified since the poller's checkpoint
//! (`getOrders`, by offset, a bounded run like the other pollers) and stores each as an event.
//! A paid order is taken in like a notification's `getOrder`, and the ledger delivers it once
//! whichever came first; a cancellation or refund found there revokes as one would.

use super::{Bound, Sweep, interval_ms, store_polled};
use crate::ids::now_ms;
use crate::jobs::{Pipeline, ProcessError};
use crate::platforms::client::PlatformError;
use crate::platforms::ebay::EbayClient;
use crate::store::pipeline::{PollerOutcome, PollerRow};

/// How far before its checkpoint a sweep starts reading: eBay's search over
/// `lastmodifieddate` may list a change a little after it was made, and a re-read order
/// dedupes.
const MODIFIED_OVERLAP_SECS: i64 = 300;

/// The start of the warning a refused token leaves on the connection: a run that gets through
/// again clears it (and only it).
const TOKEN_REFUSED: &str = "eBay refused the seller's access token";

pub(super) async fn reconcile_ebay(
    pipeline: &Pipeline,
    poller: &PollerRow,
    bound: Bound,
) -> Result<PollerOutcome, ProcessError> {
    let interval = interval_ms(pipeline, "ebay");
    let connection = pipeline
        .store
        .get_connection(&poller.tenant_id, &poller.connection_id)
        .await?
        .ok_or_else(|| ProcessError::Permanent("connection gone".into()))?;
    let secrets = pipeline.open_secrets(&connection)?;
    let Some(mut token) = secrets.access_token else {
        // Notifications only (no seller token): nothing to read orders with.
        return Ok(PollerOutcome {
            checkpoint: poller.checkpoint,
            continuation: 0,
            high_water: 0,
            next_run_at: now_ms() + interval,
            error: None,
        });
    };
    let client = EbayClient::new(pipeline.http.clone(), &pipeline.settings.ebay_api_base_url)
        .map_err(|e| ProcessError::Retry(format!("eBay getOrders: {e}")))?;
    let mut sweep = Sweep::of(pipeline, poller, connection.created_at);
    let since = sweep.since - MODIFIED_OVERLAP_SECS;
    let mut offset = u32::try_from(sweep.continuation).unwrap_or(0);
    let mut pages = 0;
    let mut refreshed = false;
    // `total` and `next` may end the sweep, never prolong a run: the page bound does.
    let finished = loop {
        if bound.reached(pages) {
            break false;
        }
        match client.orders_modified_since(&token, since, offset).await {
            Ok(page) => {
                pages += 1;
                for polled in &page.orders {
                    store_polled(pipeline, poller, polled.identity.clone(), &polled.order).await?;
                    sweep.high_water = sweep.high_water.max(polled.modified_at);
                }
                let count = u32::try_from(page.orders.len()).unwrap_or(u32::MAX);
                offset = offset.saturating_add(count);
                if count == 0 || !page.has_next || u64::from(offset) >= page.total {
                    break true;
                }
            }
            Err(PlatformError::Unauthorized { status: 401 }) if !refreshed => {
                // "Invalid access token": refreshed now (single-flight), asked once more.
                refreshed = true;
                if let Some(fresh) = pipeline.refresh_now(&connection).await?.access_token {
                    token = fresh;
                }
            }
            Err(PlatformError::Unauthorized { status }) => {
                // The token is still refused: the seller sees it on the connection, and the
                // next run tries again from the same place.
                let warning = format!(
                    "{TOKEN_REFUSED} (HTTP {status}): orders are not reconciled until it is accepted again"
                );
                pipeline
                    .store
                    .set_connection_warning(&connection.id, Some(&warning))
                    .await?;
                let mut outcome = sweep.unfinished(i64::from(offset), now_ms() + interval);
                outcome.error = Some(warning);
                return Ok(outcome);
            }
            Err(PlatformError::RateLimited { retry_after_secs }) => {
                // What was stored stays stored; the next run goes on from this offset.
                let wait = i64::try_from(retry_after_secs).unwrap_or(60).max(1) * 1000;
                let mut outcome = sweep.unfinished(i64::from(offset), now_ms() + wait);
                outcome.error = Some(format!(
                    "rate limited by eBay, retry after {retry_after_secs} s"
                ));
                return Ok(outcome);
            }
            Err(error) => return Err(ProcessError::Retry(format!("eBay getOrders: {error}"))),
        }
    };
    if connection
        .last_error
        .as_deref()
        .is_some_and(|error| error.starts_with(TOKEN_REFUSED))
    {
        pipeline
            .store
            .set_connection_warning(&connection.id, None)
            .await?;
    }
    Ok(if finished {
        sweep.finished(now_ms() + interval)
    } else {
        sweep.unfinished(i64::from(offset), now_ms())
    })
}
