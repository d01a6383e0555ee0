//! Request parsing with answers a client can act on: which field, what was wrong, how to fix.
//! `ApiJson` and `ApiQuery` replace axum's extractors so every rejection is an [`ApiError`].

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::state::BodyLimit;
use crate::store::PageQuery;

pub const DEFAULT_LIMIT: u32 = 25;
pub const MAX_LIMIT: u32 = 100;

/// A JSON body, parsed strictly (types as declared, unknown fields refused).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                "send the body as Content-Type: application/json",
            ));
        }
        let bytes = read_body(request, state).await?;
        // Every request body of the API is an object; serde would also read a struct from an
        // array of its fields in order, which the document does not allow.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            return Err(ApiError::InvalidRequest {
                message: "the body must be a JSON object, not an array".into(),
                field: None,
                hint: Some("send the fields by name: {\"field\": value, ...}".into()),
            });
        }
        parse_json(&bytes).map(ApiJson)
    }
}

/// A whole body as bytes, whatever its content type; over the limit is an enveloped 413.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        read_body(request, state).await.map(RawBody)
    }
}

/// Reads a whole body, turning an over-limit body into 413 (with this router's limit).
pub async fn read_body<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    let limit = request
        .extensions()
        .get::<BodyLimit>()
        .map_or(0, |limit| limit.0);
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge {
                    limit: limit as u64,
                }
            } else {
                ApiError::InvalidRequest {
                    message: "the body could not be read".into(),
                    field: None,
                    hint: Some(rejection.body_text()),
                }
            }
        })
}

/// Parses JSON, naming the offending field on any error.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let inner = error.inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::InvalidRequest {
                message: "the body is not valid JSON".into(),
                field: None,
                hint: Some(format!("{inner}; check quotes, commas and brackets")),
            };
        }
        let field = field_name(&error.path().to_string(), &inner.to_string());
        ApiError::invalid(field, inner.to_string(), hint_for(&inner.to_string()))
    })?;
    deserializer.end().map_err(|_| ApiError::InvalidRequest {
        message: "the body has data after the JSON value".into(),
        field: None,
        hint: Some("send exactly one JSON object".into()),
    })?;
    Ok(value)
}

/// Query parameters, parsed strictly.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
        serde_path_to_error::deserialize(deserializer)
            .map(ApiQuery)
            .map_err(|error| {
                let message = error.inner().to_string();
                let field = field_name(&error.path().to_string(), &message);
                ApiError::invalid(
                    field,
                    format!("bad query parameter: {message}"),
                    hint_for(&message),
                )
            })
    }
}

fn form_urlencoded_parse(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}

/// `path` from serde_path_to_error, which ends at the unknown field but stops at the parent
/// of a missing one; a missing field's name comes from the message (`missing field `y``).
fn field_name(path: &str, message: &str) -> String {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match (path, missing) {
        (".", Some(name)) | ("", Some(name)) => name.to_owned(),
        (path, Some(name)) => format!("{path}.{name}"),
        (path, None) => path.to_owned(),
    }
}

fn hint_for(message: &str) -> String {
    if message.starts_with("unknown field") {
        if let Some(expected) = message.split("expected ").nth(1) {
            return format!("remove the field; accepted fields: {expected}");
        }
        return "remove the field".into();
    }
    if message.starts_with("missing field") {
        return "add the field".into();
    }
    if message.starts_with("invalid type") || message.starts_with("invalid value") {
        return "send the type the API document gives for this field".into();
    }
    if message.starts_with("unknown variant")
        && let Some(expected) = message.split("expected ").nth(1)
    {
        return format!("use one of {expected}");
    }
    "see the OpenAPI document at /api/v1/docs".into()
}

/// The query of a plain list: a page size and where to continue.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 1 to 100, default 25.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `meta.next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Validated `limit` and `cursor` of a list request.
pub struct Page {
    pub limit: u32,
    pub query: PageQuery,
}

impl Page {
    pub fn new(limit: Option<u32>, cursor: Option<&str>) -> Result<Self, ApiError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::validation(
                "limit",
                format!("limit must be between 1 and {MAX_LIMIT}, got {limit}"),
                format!("use a limit from 1 to {MAX_LIMIT} and follow meta.next_cursor for more"),
            ));
        }
        let after = match cursor {
            None | Some("") => None,
            Some(cursor) => Some(decode_cursor(cursor).ok_or_else(|| {
                ApiError::invalid(
                    "cursor",
                    "the cursor is not one this API issued",
                    "pass meta.next_cursor unchanged",
                )
            })?),
        };
        Ok(Page {
            limit,
            query: PageQuery {
                after,
                fetch: i64::from(limit) + 1,
            },
        })
    }

    /// Cuts the extra row off and returns the cursor of the next page, if there is one.
    pub fn finish<R>(&self, mut rows: Vec<R>, id: impl Fn(&R) -> &str) -> (Vec<R>, Option<String>) {
        let more = rows.len() > self.limit as usize;
        rows.truncate(self.limit as usize);
        let next = more
            .then(|| rows.last().map(|row| encode_cursor(id(row))))
            .flatten();
        (rows, next)
    }
}

fn encode_cursor(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{id}"))
}

fn decode_cursor(cursor: &str) -> Option<String> {
    let raw = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let id = text.strip_prefix("v1:")?;
    shared::internal::is_plausible_tenant_id(id).then(|| id.to_owned())
}

/// Parses an RFC 3339 date-time query parameter into milliseconds.
pub fn parse_datetime(field: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    value
        .map(|v| {
            chrono::DateTime::parse_from_rfc3339(v)
                .map(|t| t.timestamp_millis())
                .map_err(|e| {
                    ApiError::invalid(
                        field,
                        format!("{field} is not a date-time: {e}"),
                        "use RFC 3339, e.g. 2026-01-31T00:00:00Z",
                    )
                })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_forgeries() {
        let cursor = encode_cursor("ord_0190");
        assert_eq!(decode_cursor(&cursor).as_deref(), Some("ord_0190"));
        assert_eq!(decode_cursor("not-base64!"), None);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode("v1:../x")), None);
    }

    #[test]
    fn fields_are_named_from_path_or_message() {
        let unknown = "unknown field `colour`, expected one of `name`";
        assert_eq!(field_name("colour", unknown), "colour");
        assert_eq!(field_name(".", "missing field `name`"), "name");
        assert_eq!(field_name("mappings", "missing field `x`"), "mappings.x");
        assert_eq!(
            field_name("low_stock_threshold", "invalid type: string"),
            "low_stock_threshold"
        );
    }
}
