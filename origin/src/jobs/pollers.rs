//! The pollers: Etsy receipts (Etsy has no push for most apps) and WooCommerce reconciliation
//! (WooCommerce never retries a failed webhook). Each runs from a leased `pollers` row whose
//! checkpoint survives restarts; what it finds is stored as events, deduplicated with what the
//! webhooks delivered, and processed like them.

use std::collections::BTreeMap;

use secrecy::ExposeSecret;

use super::{POLLED_HEADER, Pipeline, ProcessError};
use crate::domain::events::event_key;
use crate::domain::orders::PlatformOrder;
use crate::ids::{new_id, now_ms};
use crate::platforms::client::PlatformError;
use crate::platforms::etsy::{EtsyClient, RateBudget, next_poll_delay};
use crate::platforms::woocommerce::WooRestClient;
use crate::store::EventRow;
use crate::store::pipeline::PollerRow;

/// What one run ends with: where the next run starts, when, and what went wrong.
struct RunOutcome {
    checkpoint: i64,
    next_run_at: i64,
    error: Option<String>,
}

/// Runs one claimed poller and records the outcome on its row.
pub async fn run(pipeline: &Pipeline, poller: PollerRow) {
    let outcome = match poller.platform.as_str() {
        "etsy" => poll_etsy(pipeline, &poller).await,
        "woocommerce" => reconcile_woocommerce(pipeline, &poller).await,
        _ => Err(ProcessError::Permanent(
            "no poller for this platform".into(),
        )),
    };
    let outcome = outcome.unwrap_or_else(|error| {
        let message = match error {
            ProcessError::Retry(m) | ProcessError::Permanent(m) => m,
        };
        RunOutcome {
            checkpoint: poller.checkpoint,
            next_run_at: now_ms() + interval_ms(pipeline, &poller.platform),
            error: Some(message),
        }
    });
    if let Some(error) = &outcome.error {
        tracing::warn!(poller = %poller.id, %error, "poll did not complete");
    }
    if let Err(error) = pipeline
        .store
        .finish_poller(
            &poller.id,
            outcome.checkpoint,
            outcome.next_run_at,
            outcome.error.as_deref(),
            now_ms(),
        )
        .await
    {
        tracing::warn!(poller = %poller.id, %error, "recording the poll failed; its lease will expire");
    }
}

fn interval_ms(pipeline: &Pipeline, platform: &str) -> i64 {
    let interval = if platform == "etsy" {
        pipeline.settings.etsy_poll_interval
    } else {
        pipeline.settings.woo_reconcile_interval
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
    let now = now_ms();
    let platform = order.platform;
    let headers = BTreeMap::from([(POLLED_HEADER.to_owned(), poller.id.clone())]);
    let event = EventRow {
        id: new_id("evt"),
        tenant_id: poller.tenant_id.clone(),
        platform: poller.platform.clone(),
        status: "received".into(),
        dedupe_key: event_key(platform, Some(&poller.connection_id), &identity),
        edge_event_id: format!("poll:{}:{identity}", poller.connection_id),
        headers: serde_json::to_string(&headers).unwrap_or_default(),
        body: serde_json::to_string(order).map_err(|e| ProcessError::Permanent(e.to_string()))?,
        received_at: now,
        stored_at: now,
        attempts: 1,
        last_error: None,
        connection_id: Some(poller.connection_id.clone()),
    };
    Ok(pipeline.store.insert_polled_event(&event).await?)
}

async fn poll_etsy(pipeline: &Pipeline, poller: &PollerRow) -> Result<RunOutcome, ProcessError> {
    let connection = pipeline
        .store
        .get_connection(&poller.tenant_id, &poller.connection_id)
        .await?
        .ok_or_else(|| ProcessError::Permanent("connection gone".into()))?;
    let mut secrets = pipeline.open_secrets(&connection)?;
    let shop_id = connection.shop_id.clone().unwrap_or_default();
    let settings = &pipeline.settings;
    // The connection's own `keystring:shared_secret` wins over the app's configured one.
    let (keystring, shared_secret) =
        match secrets.api_key.as_deref().and_then(|k| k.split_once(':')) {
            Some((k, s)) => (k.to_owned(), s.to_owned()),
            None => (
                secrets
                    .api_key
                    .clone()
                    .or_else(|| settings.etsy_api_key.clone())
                    .unwrap_or_default(),
                settings
                    .etsy_shared_secret
                    .as_ref()
                    .map(|s| s.expose_secret().to_owned())
                    .unwrap_or_default(),
            ),
        };
    let client = EtsyClient::new(
        pipeline.http.clone(),
        &settings.etsy_api_base_url,
        &keystring,
        &shared_secret,
    )
    .map_err(|e| ProcessError::Retry(format!("Etsy receipts: {e}")))?;
    let since = start_checkpoint(pipeline, poller, connection.created_at);
    let mut checkpoint = since;
    let mut offset = 0u32;
    let mut refreshed = false;
    let mut budget: RateBudget;
    let mut found_new = false;
    loop {
        let token = secrets.access_token.clone().unwrap_or_default();
        let since_secs = u64::try_from(since).unwrap_or(0);
        match client
            .paid_receipts_since(&shop_id, &token, since_secs, offset)
            .await
        {
            Ok((page, page_budget)) => {
                budget = page_budget;
                let count = page.receipts.len();
                for receipt in &page.receipts {
                    found_new |=
                        store_polled(pipeline, poller, receipt.identity(), &receipt.order).await?;
                    checkpoint =
                        checkpoint.max(i64::try_from(receipt.updated_at).unwrap_or(checkpoint));
                }
                offset += u32::try_from(count).unwrap_or(u32::MAX);
                if count == 0 || u64::from(offset) >= page.total {
                    break;
                }
            }
            Err(PlatformError::Unauthorized { .. }) if !refreshed => {
                let refresh_token = secrets.refresh_token.clone().ok_or_else(|| {
                    ProcessError::Retry(
                        "Etsy refused the token and there is no refresh token".into(),
                    )
                })?;
                let tokens = client
                    .refresh(&refresh_token)
                    .await
                    .map_err(|e| ProcessError::Retry(format!("Etsy token refresh: {e}")))?;
                secrets.access_token = Some(tokens.access_token);
                secrets.refresh_token = Some(tokens.refresh_token);
                pipeline
                    .store
                    .update_connection_secrets(
                        &connection.id,
                        &secrets.seal(&pipeline.master_key),
                        now_ms(),
                    )
                    .await?;
                refreshed = true;
            }
            Err(PlatformError::RateLimited { retry_after_secs }) => {
                // What was stored stays stored; the next run starts again from the checkpoint
                // and the repeats dedupe.
                let wait = i64::try_from(retry_after_secs).unwrap_or(60).max(1) * 1000;
                return Ok(RunOutcome {
                    checkpoint: poller.checkpoint,
                    next_run_at: now_ms() + wait,
                    error: Some(format!(
                        "rate limited by Etsy, retry after {retry_after_secs} s"
                    )),
                });
            }
            Err(error) => return Err(ProcessError::Retry(format!("Etsy receipts: {error}"))),
        }
    }
    if found_new {
        pipeline
            .store
            .touch_connection(&connection.id, now_ms())
            .await?;
    }
    let delay = next_poll_delay(settings.etsy_poll_interval, budget);
    Ok(RunOutcome {
        checkpoint,
        next_run_at: now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2),
        error: None,
    })
}

async fn reconcile_woocommerce(
    pipeline: &Pipeline,
    poller: &PollerRow,
) -> Result<RunOutcome, ProcessError> {
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
        return Ok(RunOutcome {
            checkpoint: poller.checkpoint,
            next_run_at: now_ms() + interval,
            error: None,
        });
    };
    let client = WooRestClient::new(pipeline.http.clone(), store_url, key, secret)
        .map_err(|e| ProcessError::Permanent(format!("WooCommerce orders: {e}")))?;
    let since = start_checkpoint(pipeline, poller, connection.created_at);
    let after = chrono::DateTime::from_timestamp(since, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    let mut checkpoint = since;
    let mut missed = 0;
    let mut page = 1;
    loop {
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
                checkpoint = checkpoint.max(modified.and_utc().timestamp());
            }
        }
        if page >= orders.total_pages || orders.orders.is_empty() {
            break;
        }
        page += 1;
    }
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
    Ok(RunOutcome {
        checkpoint,
        next_run_at: now_ms() + interval,
        error: None,
    })
}
