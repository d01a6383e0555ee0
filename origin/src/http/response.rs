//! Successful answers: data wrapped in the envelope, with the request id and page cursor.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use shared::envelope::{Envelope, Meta};

pub struct ApiResponse<T> {
    status: StatusCode,
    data: T,
    meta: Meta,
}

impl<T: Serialize> ApiResponse<T> {
    pub fn ok(data: T) -> Self {
        ApiResponse {
            status: StatusCode::OK,
            data,
            meta: Meta::default(),
        }
    }

    pub fn created(data: T) -> Self {
        ApiResponse {
            status: StatusCode::CREATED,
            data,
            meta: Meta::default(),
        }
    }

    pub fn with_next_cursor(mut self, cursor: Option<String>) -> Self {
        self.meta.next_cursor = cursor;
        self
    }

    pub fn with_meta(mut self, key: &str, value: Value) -> Self {
        self.meta.extra.insert(key.to_owned(), value);
        self
    }
}

impl<T: Serialize> IntoResponse for ApiResponse<T> {
    fn into_response(mut self) -> Response {
        self.meta.request_id = super::request_id::current();
        let envelope = Envelope::ok(self.data).with_meta(self.meta);
        (self.status, axum::Json(envelope)).into_response()
    }
}

/// The result type of every handler.
pub type ApiResult<T> = Result<ApiResponse<T>, super::error::ApiError>;
