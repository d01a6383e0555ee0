//! `Idempotency-Key` on state-changing routes, as Stripe and Svix answer it. A resource marks
//! its routes with [`idempotent`], which documents their POST operations as taking the
//! header; the router's [`guard`] serves every operation so documented, so the document and
//! the behaviour cannot disagree.
//!
//! With a key, the first request is bound to it (method, path and query, body) and runs; its
//! answer (any status under 500) is stored for the retention. The same request again gets
//! that answer with `Idempotent-Replayed: true` and changes nothing; another request with the
//! key is 422 `IDEMPOTENCY_KEY_REUSED`; the same request while the first is still running is
//! 409 `IDEMPOTENCY_KEY_IN_USE`. A 5xx frees the key. Without a key a request runs as before.
//! Keys belong to the tenant and the environment (live or test) of the API key sending them.
//! The handler runs in a task of its own, so a client that hangs up does not cut a charge
//! off from its recorded answer.

use std::collections::HashSet;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tracing::Instrument;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, OpenApi, Ref, RefOr, Required, ResponseBuilder,
};
use utoipa_axum::router::OpenApiRouter;

use super::auth::Auth;
use super::error::ApiError;
use super::state::{AppState, BodyLimit};
use crate::domain::idempotency::{
    HEADER, MAX_KEY_LEN, REPLAYED_HEADER, check_key, fingerprint, keeps_answer,
};
use crate::ids::now_ms;
use crate::store::{IdempotencyClaim, IdempotentRequest, StoredAnswer};

/// Marks every POST operation of `router` idempotent: documented with the header and its
/// answers, and so served by [`guard`].
pub fn idempotent(mut router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    for item in router.get_openapi_mut().paths.paths.values_mut() {
        if let Some(operation) = item.post.as_mut() {
            document(operation);
        }
    }
    router
}

fn document(operation: &mut Operation) {
    let schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_KEY_LEN))
        .pattern(Some("^[\\x20-\\x7E]*[\\x21-\\x7E][\\x20-\\x7E]*$"));
    let parameter = ParameterBuilder::new()
        .name(HEADER)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Optional, 1 to 255 printable ASCII characters (a UUID is a good choice). The first \
             request with a key runs and its answer (any status under 500) is kept for \
             IDEMPOTENCY_RETENTION_SECS (a day by default); the same request with the same key \
             gets that answer again, with `Idempotent-Replayed: true`, and changes and charges \
             nothing. A 5xx is not kept: retry with the same key.",
        ))
        .schema(Some(schema))
        .build();
    operation
        .parameters
        .get_or_insert_with(Vec::new)
        .push(parameter);
    let responses = &mut operation.responses.responses;
    for (status, response) in responses.iter_mut() {
        if let (true, RefOr::T(response)) = (status.starts_with('2'), response) {
            let header = HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::String))
                .description(Some("`true` on an answer replayed for an Idempotency-Key"))
                .build();
            response.headers.insert(REPLAYED_HEADER.to_owned(), header);
        }
    }
    let errors = [
        (
            "400",
            "INVALID_REQUEST (field Idempotency-Key): the header is sent twice, or is not 1 to \
             255 printable ASCII characters; nothing done",
        ),
        (
            "409",
            "IDEMPOTENCY_KEY_IN_USE: the first request with this Idempotency-Key is still being \
             answered; retry after Retry-After",
        ),
        (
            "422",
            "IDEMPOTENCY_KEY_REUSED: the Idempotency-Key was used for another request (method, \
             path or body); nothing done",
        ),
    ];
    for (status, description) in errors {
        match responses.get_mut(status) {
            Some(RefOr::T(existing)) => {
                existing.description = format!("{}; {description}", existing.description);
            }
            Some(RefOr::Ref(_)) => {}
            None => {
                let content = ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorEnvelope")))
                    .build();
                let response = ResponseBuilder::new()
                    .description(description)
                    .content("application/json", content)
                    .build();
                responses.insert(status.to_owned(), RefOr::T(response));
            }
        }
    }
}

/// What [`guard`] needs: the app and the paths whose POST the document marks idempotent.
#[derive(Clone)]
pub struct Guard {
    pub state: AppState,
    paths: Arc<HashSet<String>>,
}

impl Guard {
    pub fn new(state: AppState, document: &OpenApi) -> Self {
        let paths = document
            .paths
            .paths
            .iter()
            .filter(|(_, item)| {
                item.post.as_ref().is_some_and(|operation| {
                    operation
                        .parameters
                        .iter()
                        .flatten()
                        .any(|p| p.name == HEADER && p.parameter_in == ParameterIn::Header)
                })
            })
            .map(|(path, _)| path.clone())
            .collect();
        Guard {
            state,
            paths: Arc::new(paths),
        }
    }
}

/// Route middleware: requests with an `Idempotency-Key` to a route marked [`idempotent`]
/// are answered once per key; everything else passes untouched.
pub async fn guard(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let marked = request.method() == Method::POST
        && request
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|path| guard.paths.contains(path.as_str()));
    if !marked || !request.headers().contains_key(HEADER) {
        return next.run(request).await;
    }
    match once_per_key(guard.state, request, next).await {
        Ok(response) => response,
        Err(ApiError::IdempotencyKeyInUse) => {
            let mut response = ApiError::IdempotencyKeyInUse.into_response();
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
        Err(error) => error.into_response(),
    }
}

async fn once_per_key(state: AppState, request: Request, next: Next) -> Result<Response, ApiError> {
    let (mut parts, body) = request.into_parts();
    let auth = Auth::from_request_parts(&mut parts, &state).await?;
    parts.extensions.insert(auth.clone());
    let mut values = parts.headers.get_all(HEADER).iter();
    let raw = values.next().map(HeaderValue::as_bytes).unwrap_or_default();
    let hint = "send one Idempotency-Key of 1 to 255 printable ASCII characters, e.g. a UUID";
    if values.next().is_some() {
        return Err(ApiError::invalid(
            HEADER,
            "more than one Idempotency-Key",
            hint,
        ));
    }
    let key = check_key(raw).map_err(|problem| ApiError::invalid(HEADER, problem, hint))?;
    // Test and live keys of a tenant never share an idempotency key (as Stripe's modes).
    let key = format!("{}:{key}", auth.holding.environment.as_str());
    let limit = parts
        .extensions
        .get::<BodyLimit>()
        .map_or(usize::MAX, |l| l.0);
    let body = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<LengthLimitError>() => {
            return Err(ApiError::PayloadTooLarge {
                limit: limit as u64,
            });
        }
        Err(_) => {
            return Err(ApiError::InvalidRequest {
                message: "the body could not be read".into(),
                field: None,
                hint: None,
            });
        }
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path(), |p| p.as_str());
    let fingerprint = fingerprint(parts.method.as_str(), path, &body);
    let claim = state
        .store
        .claim_idempotency_key(&IdempotentRequest {
            tenant_id: &auth.tenant_id,
            key: &key,
            fingerprint: &fingerprint,
            now: now_ms(),
            retention_ms: state.idempotency_retention_ms,
        })
        .await?;
    let claim_token = match claim {
        IdempotencyClaim::Claimed { claim_token } => claim_token,
        IdempotencyClaim::Replay(answer) => return Ok(replay(answer)),
        IdempotencyClaim::Mismatch => return Err(ApiError::IdempotencyKeyReused),
        IdempotencyClaim::InFlight => return Err(ApiError::IdempotencyKeyInUse),
    };
    let request = Request::from_parts(parts, Body::from(body));
    let answered = async move {
        let response = next.run(request).await;
        record(&state, &auth.tenant_id, &key, &claim_token, response).await
    };
    tokio::spawn(super::request_id::carry(answered).in_current_span())
        .await
        .map_err(ApiError::internal)
}

/// Stores the answer for the key (or frees the key after a 5xx) and hands it on.
async fn record(
    state: &AppState,
    tenant_id: &str,
    key: &str,
    claim_token: &str,
    response: Response,
) -> Response {
    let store = &state.store;
    if !keeps_answer(response.status().as_u16()) {
        if let Err(error) = store
            .release_idempotency_key(tenant_id, key, claim_token)
            .await
        {
            tracing::warn!(%error, "freeing an idempotency key failed");
        }
        return response;
    }
    let (parts, body) = response.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => return ApiError::internal(error).into_response(),
    };
    let answer = StoredAnswer {
        status: parts.status.as_u16(),
        content_type: parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: body.to_vec(),
    };
    // Unstored, the key stays claimed until it counts as abandoned: a retry meanwhile is
    // 409, never a second run.
    if let Err(error) = store
        .answer_idempotency_key(tenant_id, key, claim_token, &answer, now_ms())
        .await
    {
        tracing::warn!(%error, "storing the answer of an idempotency key failed");
    }
    Response::from_parts(parts, Body::from(body))
}

fn replay(answer: StoredAnswer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let mut response = (status, answer.body).into_response();
    let headers = response.headers_mut();
    if let Some(value) = answer
        .content_type
        .and_then(|v| HeaderValue::from_str(&v).ok())
    {
        headers.insert(CONTENT_TYPE, value);
    }
    headers.insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    response
}
