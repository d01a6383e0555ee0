//! The `{ data, meta, error }` envelope every JSON answer is wrapped in, edge and origin alike.
//!
//! A success carries `data` and `error: null`; a failure carries `data: null` and an
//! [`ErrorBody`] whose `code` and `status` always agree (both come from [`ErrorCode`]).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ErrorCode;

/// The wire shape of every JSON answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub data: Option<T>,
    #[serde(default)]
    pub meta: Meta,
    pub error: Option<ErrorBody>,
}

/// Facts about the answer rather than the resource: request id, pagination.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub request_id: Option<String>,
    /// Opaque cursor for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub next_cursor: Option<String>,
    /// Anything else a route wants to say about the answer (counts, limits, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What went wrong, in a form a program can match on and a person can act on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    pub status: u16,
    /// The request field at fault, as a JSON path or query parameter name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub field: Option<String>,
    /// How to fix it, when we can tell.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub hint: Option<String>,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody {
            code,
            message: message.into(),
            status: code.http_status(),
            field: None,
            hint: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl<T> Envelope<T> {
    pub fn ok(data: T) -> Self {
        Envelope {
            data: Some(data),
            meta: Meta::default(),
            error: None,
        }
    }

    pub fn with_meta(mut self, meta: Meta) -> Self {
        self.meta = meta;
        self
    }
}

impl Envelope<Value> {
    pub fn failure(error: ErrorBody) -> Self {
        Envelope {
            data: None,
            meta: Meta::default(),
            error: Some(error),
        }
    }
}

/// The serialised error envelope, for callers that only need the bytes (the edge).
pub fn error_json(code: ErrorCode, message: &str, request_id: Option<&str>) -> String {
    let mut envelope = Envelope::failure(ErrorBody::new(code, message));
    envelope.meta.request_id = request_id.map(str::to_owned);
    serde_json::to_string(&envelope).expect("an envelope of strings always serialises")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn success_has_data_and_null_error() {
        let env = Envelope::ok(json!({"id": "p_1"}));
        let value = serde_json::to_value(&env).unwrap();
        assert_eq!(
            value,
            json!({"data": {"id": "p_1"}, "meta": {}, "error": null})
        );
    }

    #[test]
    fn failure_has_null_data_and_status_from_code() {
        let body = ErrorBody::new(ErrorCode::DuplicateSku, "SKU taken")
            .with_field("sku")
            .with_hint("choose another SKU");
        let value = serde_json::to_value(Envelope::failure(body)).unwrap();
        assert_eq!(
            value,
            json!({
                "data": null,
                "meta": {},
                "error": {
                    "code": "DUPLICATE_SKU",
                    "message": "SKU taken",
                    "status": 409,
                    "field": "sku",
                    "hint": "choose another SKU"
                }
            })
        );
    }

    #[test]
    fn error_json_carries_request_id_and_round_trips() {
        let text = error_json(ErrorCode::RateLimited, "slow down", Some("req_1"));
        let back: Envelope<Value> = serde_json::from_str(&text).unwrap();
        assert_eq!(back.data, None);
        assert_eq!(back.meta.request_id.as_deref(), Some("req_1"));
        let error = back.error.unwrap();
        assert_eq!(error.code, ErrorCode::RateLimited);
        assert_eq!(error.status, 429);
    }

    #[test]
    fn meta_extra_fields_are_flattened() {
        let mut meta = Meta {
            next_cursor: Some("c2".into()),
            ..Meta::default()
        };
        meta.extra.insert("limit".into(), json!(50));
        let value = serde_json::to_value(Envelope::ok(json!([])).with_meta(meta)).unwrap();
        assert_eq!(value["meta"], json!({"next_cursor": "c2", "limit": 50}));
    }
}
