//! The durable hand-off: verified events go on a Queue, and its consumer forwards each one to the
//! origin's signed ingest route. A message is acknowledged only once the origin answered 2xx
//! (it has stored the event); failures retry after 1 s, 5 s, 30 s, 5 min, 30 min, then the Queue
//! moves the message to the dead-letter queue, whose consumer records it at the origin and keeps
//! retrying that until it lands.
//!
//! The consumer is exported by hand rather than with `#[event(queue)]` because the retry delay
//! depends on the message's `attempts`, which workers-rs does not expose.

use serde::{Deserialize, Serialize};
use shared::internal::{DEAD_LETTER_PATH, DeadLetter, ForwardedEvent, INGEST_PATH};
use shared::retry::{FORWARD_MAX_RETRIES, dead_letter_retry_delay_secs, forward_retry_delay_secs};
use wasm_bindgen::prelude::*;
use worker::worker_sys::{Message, MessageBatch};
use worker::{Env, Method, Result};

use crate::config::CACHE_BINDING;
use crate::origin::{self, OriginRequest};
use crate::settings;

/// The producer binding of the events queue in `wrangler.toml`.
pub const EVENTS_BINDING: &str = "EVENTS";
/// The dead-letter queue's name in `wrangler.toml` (`dead_letter_queue` of the events consumer).
pub const DEAD_LETTER_QUEUE: &str = "yoursender-events-dead";

/// Queue messages are limited to 128 KB; a larger event waits in KV and the message points to it.
const INLINE_MESSAGE_LIMIT: usize = 100 * 1024;
/// Longer than any retry schedule plus the Queue's retention.
const SPILL_TTL_SECS: u64 = 15 * 24 * 3_600;
const LAST_ERROR_TTL_SECS: u64 = 15 * 24 * 3_600;

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum QueueMessage {
    Event {
        event: ForwardedEvent,
    },
    Spilled {
        edge_event_id: String,
        kv_key: String,
    },
}

/// Puts `event` on the events queue (through KV when it is too large for a message).
pub async fn enqueue(env: &Env, event: &ForwardedEvent) -> Result<()> {
    let inline = serde_json::to_string(&QueueMessage::Event {
        event: event.clone(),
    })?;
    let message = if inline.len() <= INLINE_MESSAGE_LIMIT {
        inline
    } else {
        let kv_key = format!("spilled-event:{}", event.edge_event_id);
        env.kv(CACHE_BINDING)?
            .put(&kv_key, event)?
            .expiration_ttl(SPILL_TTL_SECS)
            .execute()
            .await?;
        serde_json::to_string(&QueueMessage::Spilled {
            edge_event_id: event.edge_event_id.clone(),
            kv_key,
        })?
    };
    env.queue(EVENTS_BINDING)?.send(message).await
}

/// The Queue consumer entry point the Workers runtime calls with each batch.
#[wasm_bindgen]
pub async fn queue(
    batch: MessageBatch,
    env: Env,
    _ctx: worker::worker_sys::Context,
) -> std::result::Result<JsValue, JsValue> {
    let queue_name: String = batch.queue()?.into();
    let dead_letters = queue_name == DEAD_LETTER_QUEUE;
    let messages: Vec<Message> = batch
        .messages()?
        .iter()
        .map(JsCast::unchecked_into)
        .collect();
    let handled = messages.iter().map(|message| async {
        if dead_letters {
            record_dead_letter(&env, message).await
        } else {
            forward_event(&env, message).await
        }
    });
    futures_util::future::join_all(handled).await;
    Ok(JsValue::UNDEFINED)
}

/// Delivery attempts so far, 1 on the first (the runtime's `message.attempts`).
fn attempts(message: &Message) -> u32 {
    js_sys::Reflect::get(message, &JsValue::from_str("attempts"))
        .ok()
        .and_then(|value| value.as_f64())
        .map_or(1, |n| n as u32)
}

fn retry_after(message: &Message, delay_secs: u32) {
    let options = js_sys::Object::new();
    let _ = js_sys::Reflect::set(
        &options,
        &JsValue::from_str("delaySeconds"),
        &JsValue::from_f64(f64::from(delay_secs)),
    );
    if let Err(e) = message.retry(options.into()) {
        worker::console_error!("queue retry failed: {e:?}");
    }
}

fn ack(message: &Message) {
    if let Err(e) = message.ack() {
        worker::console_error!("queue ack failed: {e:?}");
    }
}

async fn forward_event(env: &Env, message: &Message) {
    let attempt = attempts(message);
    let outcome = match read_event(env, message).await {
        Ok(event) => post_signed(env, INGEST_PATH, &event.edge_event_id, &event)
            .await
            .map_err(|reason| (event.edge_event_id, reason)),
        Err(reason) => Err((String::from("unreadable"), reason)),
    };
    match outcome {
        Ok(()) => ack(message),
        Err((event_id, reason)) => {
            let delay = forward_retry_delay_secs(&settings::forward_retry_schedule(env), attempt);
            worker::console_warn!(
                "forward {event_id} attempt {attempt} failed ({reason}); retry in {delay} s"
            );
            remember_last_error(env, &event_id, attempt, &reason).await;
            retry_after(message, delay);
        }
    }
}

async fn record_dead_letter(env: &Env, message: &Message) {
    let attempt = attempts(message);
    let outcome = match read_event(env, message).await {
        Ok(event) => {
            let last_error = last_error(env, &event.edge_event_id).await;
            let id = format!("{}-dead", event.edge_event_id);
            let record = DeadLetter {
                event,
                attempts: FORWARD_MAX_RETRIES + 1,
                last_error,
            };
            post_signed(env, DEAD_LETTER_PATH, &id, &record).await
        }
        Err(reason) => Err(reason),
    };
    match outcome {
        Ok(()) => ack(message),
        Err(reason) => {
            let delay = dead_letter_retry_delay_secs(attempt);
            worker::console_error!("recording a dead letter failed ({reason}); retry in {delay} s");
            retry_after(message, delay);
        }
    }
}

async fn read_event(env: &Env, message: &Message) -> std::result::Result<ForwardedEvent, String> {
    let body = message.body().map_err(|e| format!("message body: {e:?}"))?;
    let text = body.as_string().ok_or("message body is not a string")?;
    match serde_json::from_str(&text).map_err(|e| format!("message body: {e}"))? {
        QueueMessage::Event { event } => Ok(event),
        QueueMessage::Spilled {
            kv_key,
            edge_event_id,
        } => env
            .kv(CACHE_BINDING)
            .map_err(|e| e.to_string())?
            .get(&kv_key)
            .json::<ForwardedEvent>()
            .await
            .map_err(|e| format!("spilled event {edge_event_id}: {e}"))?
            .ok_or_else(|| format!("spilled event {edge_event_id} is gone from KV")),
    }
}

/// POSTs `payload` as JSON to the origin, signed; `Ok` only on a 2xx answer.
async fn post_signed<T: Serialize>(
    env: &Env,
    path: &str,
    request_id: &str,
    payload: &T,
) -> std::result::Result<(), String> {
    let body = serde_json::to_vec(payload).map_err(|e| e.to_string())?;
    let response = origin::send(
        env,
        OriginRequest {
            method: Method::Post,
            path_and_query: path,
            body: Some(&body),
            headers: vec![("Content-Type", "application/json".to_owned())],
            request_id,
            timeout_ms: origin::DEFAULT_TIMEOUT_MS,
        },
    )
    .await
    .map_err(|e| format!("origin unreachable: {e}"))?;
    match response.status_code() {
        200..=299 => Ok(()),
        status => Err(format!("origin answered {status}")),
    }
}

/// Keeps the latest failure so the dead letter can say why the event never landed.
async fn remember_last_error(env: &Env, event_id: &str, attempt: u32, reason: &str) {
    let Ok(kv) = env.kv(CACHE_BINDING) else {
        return;
    };
    if let Ok(put) = kv.put(
        &format!("last-error:{event_id}"),
        format!("attempt {attempt}: {reason}"),
    ) {
        let _ = put.expiration_ttl(LAST_ERROR_TTL_SECS).execute().await;
    }
}

async fn last_error(env: &Env, event_id: &str) -> String {
    let stored = match env.kv(CACHE_BINDING) {
        Ok(kv) => kv
            .get(&format!("last-error:{event_id}"))
            .text()
            .await
            .ok()
            .flatten(),
        Err(_) => None,
    };
    stored.unwrap_or_else(|| "unknown (no failure was recorded)".to_owned())
}
