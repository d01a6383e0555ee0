//! What a platform said when it refused a call that must show the seller why (telling the
//! marketplace an order is done): the status as a [`PlatformError`], and the platform's own
//! error code and message, read from the shapes the three platforms answer with (eBay's
//! `errors[0].errorId`/`message`, Etsy's `error`, WooCommerce's `code`/`message`). Only those
//! fields are kept, at most [`MAX_MESSAGE_CHARS`] printable characters of them; the rest of
//! the body is dropped unread past [`MAX_REFUSAL_BYTES`].

use serde_json::Value;

use super::client::{PlatformError, status_error, success_body};

/// How much of a refusal's body is read.
pub const MAX_REFUSAL_BYTES: usize = 16 * 1024;
/// How much of the platform's message is kept.
pub const MAX_MESSAGE_CHARS: usize = 300;

/// A failed call: why, sorted as every platform call is, and the platform's own words.
#[derive(Debug)]
pub struct Refusal {
    pub error: PlatformError,
    /// The HTTP status, when the platform answered.
    pub status: Option<u16>,
    /// eBay's numeric `errorId`.
    pub error_id: Option<u64>,
    /// e.g. `32200 Invalid line item id` (eBay), `Receipt already shipped` (Etsy).
    pub message: Option<String>,
}

impl Refusal {
    /// The error and the platform's message, as a seller reads it.
    pub fn describe(&self) -> String {
        match &self.message {
            Some(message) => format!("{}: {message}", self.error),
            None => self.error.to_string(),
        }
    }
}

impl From<PlatformError> for Refusal {
    fn from(error: PlatformError) -> Self {
        Refusal {
            error,
            status: None,
            error_id: None,
            message: None,
        }
    }
}

/// A 2xx answer's headers and body; any other answer as a [`Refusal`] with what the platform
/// said about it.
pub(crate) async fn answer_or_refusal(
    mut response: reqwest::Response,
) -> Result<(reqwest::header::HeaderMap, Vec<u8>), Refusal> {
    let status = response.status();
    if status.is_success() {
        return Ok(success_body(response).await?);
    }
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = MAX_REFUSAL_BYTES.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_REFUSAL_BYTES {
            break;
        }
    }
    let (error_id, message) = platform_words(&body);
    Err(Refusal {
        error: status_error(status.as_u16(), response.headers()),
        status: Some(status.as_u16()),
        error_id,
        message,
    })
}

/// eBay's `errorId` and the message of a refusal body, whichever platform's shape it has.
fn platform_words(body: &[u8]) -> (Option<u64>, Option<String>) {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return (None, None);
    };
    let first = &value["errors"][0];
    if first.is_object() {
        let id = first["errorId"].as_u64();
        let message = first["message"].as_str().map(|m| match id {
            Some(id) => format!("{id} {m}"),
            None => m.to_owned(),
        });
        return (id, message.map(|m| printable(&m)));
    }
    let message = match (&value["error"], &value["message"], &value["code"]) {
        (Value::String(error), _, _) => Some(error.clone()),
        (_, Value::String(message), Value::String(code)) => Some(format!("{code}: {message}")),
        (_, Value::String(message), _) => Some(message.clone()),
        _ => None,
    };
    (None, message.map(|m| printable(&m)))
}

/// At most [`MAX_MESSAGE_CHARS`] characters, control characters dropped.
fn printable(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(MAX_MESSAGE_CHARS)
        .collect::<String>()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_platforms_error_shape() {
        let ebay = br#"{"errors":[{"errorId":32200,"domain":"API_FULFILLMENT","category":"REQUEST","message":"Invalid line item id"}]}"#;
        assert_eq!(
            platform_words(ebay),
            (Some(32200), Some("32200 Invalid line item id".into()))
        );
        let etsy = br#"{"error":"Receipt 1 cannot be shipped"}"#;
        assert_eq!(
            platform_words(etsy),
            (None, Some("Receipt 1 cannot be shipped".into()))
        );
        let woo = br#"{"code":"woocommerce_rest_shop_order_invalid_id","message":"Invalid ID.","data":{"status":400}}"#;
        assert_eq!(
            platform_words(woo).1.as_deref(),
            Some("woocommerce_rest_shop_order_invalid_id: Invalid ID.")
        );
        assert_eq!(platform_words(b"<html>"), (None, None));
        let long = format!(r#"{{"error":"{}\u0007"}}"#, "x".repeat(1000));
        assert_eq!(
            platform_words(long.as_bytes()).1.unwrap().len(),
            MAX_MESSAGE_CHARS
        );
    }
}
