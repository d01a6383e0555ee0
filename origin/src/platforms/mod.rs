//! What the three platforms send and answer, read into the one order shape of
//! [`crate::domain::orders`], and the HTTP clients that fetch it. Parsers and clients only:
//! what polls on a schedule lives in `jobs/`.
//!
//! Parsing here is pure (bytes in, `PlatformOrder` out). Every parser keeps the raw
//! identifiers as strings: they are matched against product mappings, never computed with.
//! The identity of what a parser read comes from [`crate::domain::events::platform_identity`],
//! the same function ingest keys webhook bodies with.

pub mod client;
pub mod connect;
pub mod ebay;
pub mod ebay_orders;
pub mod etsy;
pub mod oauth;
pub mod outbound;
pub mod refusal;
pub mod woocommerce;

/// Why a payload could not be read. Names the field so an operator can find the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the payload is not JSON: {0}")]
    NotJson(String),
    #[error("field `{field}` is missing or not {expected}")]
    Field {
        field: &'static str,
        expected: &'static str,
    },
}

pub(crate) fn field(field: &'static str, expected: &'static str) -> ParseError {
    ParseError::Field { field, expected }
}

/// A JSON id that platforms send as a number or a string; empty and zero mean "none".
pub(crate) fn id_string(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Number(n) if n.as_u64() != Some(0) => Some(n.to_string()),
        serde_json::Value::String(s) if !s.is_empty() && s != "0" => Some(s.clone()),
        _ => None,
    }
}

/// A non-empty trimmed string field.
pub(crate) fn non_empty(value: &serde_json::Value) -> Option<String> {
    value
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

pub(crate) fn quantity(value: &serde_json::Value, name: &'static str) -> Result<u32, ParseError> {
    value
        .as_u64()
        .and_then(|q| u32::try_from(q).ok())
        .filter(|q| *q > 0)
        .ok_or(field(name, "a positive integer"))
}

pub(crate) fn parse_json(body: &[u8]) -> Result<serde_json::Value, ParseError> {
    serde_json::from_slice(body).map_err(|e| ParseError::NotJson(e.to_string()))
}
