//! Building answers: the shared `{ data, meta, error }` envelope, request ids, size-limited bodies.

use futures_util::StreamExt;
use serde::Serialize;
use shared::ErrorCode;
use shared::envelope::{Envelope, error_json};
use wasm_bindgen::JsCast;
use worker::{Request, Response, Result};

/// A success envelope around `data`.
pub fn json<T: Serialize>(status: u16, data: &T) -> Result<Response> {
    Ok(Response::from_json(&Envelope::ok(data))?.with_status(status))
}

/// An error envelope whose status comes from the code.
pub fn error(code: ErrorCode, message: &str) -> Result<Response> {
    let mut response =
        Response::ok(error_json(code, message, None))?.with_status(code.http_status());
    response
        .headers_mut()
        .set("Content-Type", "application/json")?;
    Ok(response)
}

/// Adds `headers` to an answer.
pub fn with_headers(mut response: Response, headers: &[(&str, String)]) -> Result<Response> {
    for (name, value) in headers {
        response.headers_mut().set(name, value)?;
    }
    Ok(response)
}

/// A fresh random id with a readable prefix (`req_…`, `evt_…`), from WebCrypto's UUIDs.
pub fn new_id(prefix: &str) -> String {
    let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let uuid = scope
        .crypto()
        .map(|crypto| crypto.random_uuid())
        .unwrap_or_else(|_| worker::Date::now().as_millis().to_string());
    format!("{prefix}_{}", uuid.replace('-', ""))
}

/// Reads the body if it is at most `limit` bytes; `None` when it is larger. A declared
/// `Content-Length` over the limit is refused before a byte is read; a body without one is read
/// only up to the limit.
pub async fn read_body_within(req: &mut Request, limit: usize) -> Result<Option<Vec<u8>>> {
    let declared = req
        .headers()
        .get("Content-Length")?
        .and_then(|value| value.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Ok(None);
    }
    let Ok(mut stream) = req.stream() else {
        return Ok(Some(Vec::new())); // no body at all
    };
    let mut body = Vec::with_capacity(declared.unwrap_or(0) as usize);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// 413 in the envelope, for a body over `limit` bytes.
pub fn too_large(limit: usize) -> Result<Response> {
    error(
        ErrorCode::PayloadTooLarge,
        &format!("the body is larger than {limit} bytes"),
    )
}
