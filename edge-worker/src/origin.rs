//! The signed channel to the origin: every request carries the edge signature and a request id.
//! Also the readiness view, which says whether the origin answers.

use shared::forward::{SIGNATURE_HEADER, sign_forwarded_request, sign_streamed_request};
use shared::internal::REQUEST_ID_HEADER;
use worker::{
    AbortSignal, Env, Fetch, Headers, Method, Request, RequestInit, RequestRedirect, Response,
    Result, RouteContext,
};

use crate::{respond, settings};

/// Requests to the origin give up after this long, so a hung origin cannot hold a webhook.
pub const DEFAULT_TIMEOUT_MS: u32 = 10_000;

/// A request to the origin, before it is signed.
pub struct OriginRequest<'a> {
    pub method: Method,
    /// Path and query, e.g. `/internal/v1/events`.
    pub path_and_query: &'a str,
    pub body: Option<&'a [u8]>,
    /// Headers passed through besides the signature and request id.
    pub headers: Vec<(&'a str, String)>,
    pub request_id: &'a str,
    pub timeout_ms: u32,
}

/// Sends `request` to `ORIGIN_URL`, signed with `EDGE_SHARED_SECRET`. An `Err` means the origin
/// could not be reached (refused, timed out); any HTTP answer is an `Ok`.
pub async fn send(env: &Env, request: OriginRequest<'_>) -> Result<Response> {
    let base = settings::origin_url(env)?;
    let secret = settings::edge_shared_secret(env)?;
    let body = request.body.unwrap_or_default();
    let now_secs = worker::Date::now().as_millis() / 1_000;
    let signature = sign_forwarded_request(
        secret.as_bytes(),
        now_secs,
        request.method.as_ref(),
        request.path_and_query,
        body,
    );

    let headers = Headers::new();
    for (name, value) in &request.headers {
        headers.set(name, value)?;
    }
    headers.set(SIGNATURE_HEADER, &signature)?;
    headers.set(REQUEST_ID_HEADER, request.request_id)?;
    let mut init = RequestInit::new();
    // A redirect is the origin's answer to pass on (the dashboard's 303s), not one to follow.
    init.with_method(request.method)
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual);
    if request.body.is_some() {
        init.with_body(Some(js_sys::Uint8Array::from(body).into()));
    }
    let outgoing = Request::new_with_init(&format!("{base}{}", request.path_and_query), &init)?;
    let signal = AbortSignal::from(web_sys::AbortSignal::timeout_with_u32(request.timeout_ms));
    Fetch::Request(outgoing).send_with_signal(&signal).await
}

/// Relays a public request to the origin signed (`send`): its method, path and query, `body`
/// and the request headers named in `headers`. An `Err` means the origin could not be reached.
pub async fn relay(
    env: &Env,
    incoming: &Request,
    body: Option<&[u8]>,
    headers: &[&str],
    request_id: &str,
) -> Result<Response> {
    let url = incoming.url()?;
    let path_and_query = path_and_query(&url);
    let mut passed = Vec::new();
    for &name in headers {
        if let Some(value) = incoming.headers().get(name)? {
            passed.push((name, value));
        }
    }
    send(
        env,
        OriginRequest {
            method: incoming.method(),
            path_and_query: &path_and_query,
            body,
            headers: passed,
            request_id,
            timeout_ms: DEFAULT_TIMEOUT_MS,
        },
    )
    .await
}

/// The client's copy of the origin's `answer` to a relayed request: its status and body, the
/// answer headers named in `headers` and the request id.
pub async fn relay_answer(
    mut answer: Response,
    headers: &[&str],
    request_id: &str,
) -> Result<Response> {
    let passed = Headers::new();
    for &name in headers {
        if let Some(value) = answer.headers().get(name)? {
            passed.set(name, &value)?;
        }
    }
    passed.set(REQUEST_ID_HEADER, request_id)?;
    let status = answer.status_code();
    // A null-body status must not be given a body, even an empty one.
    let response = if matches!(status, 204 | 205 | 304) {
        Response::empty()?
    } else {
        Response::from_bytes(answer.bytes().await?)?
    };
    Ok(response.with_status(status).with_headers(passed))
}

/// Reads one internal resource of the origin (an edge config, a shop's route): `Some(Some(data))`
/// on 200, `Some(None)` on 404 (the origin knows no such thing), `None` when the origin did not
/// answer usefully (the caller may then serve a stale copy). `what` names it in warnings.
pub async fn lookup<T: serde::de::DeserializeOwned>(
    env: &Env,
    path: &str,
    what: &str,
    request_id: &str,
) -> Option<Option<T>> {
    let mut response = send(
        env,
        OriginRequest {
            method: Method::Get,
            path_and_query: path,
            body: None,
            headers: vec![("Accept", "application/json".to_owned())],
            request_id,
            timeout_ms: 5_000,
        },
    )
    .await
    .map_err(|e| worker::console_warn!("{what}: origin unreachable: {e}"))
    .ok()?;
    match response.status_code() {
        200 => {
            let envelope: shared::Envelope<T> = response.json().await.ok()?;
            Some(envelope.data)
        }
        404 => Some(None),
        status => {
            worker::console_warn!("{what}: origin answered {status}");
            None
        }
    }
}

/// A public request relayed to the origin as a stream, for bodies too large to buffer (file
/// uploads and downloads). Signed in the streamed form: method, path, query, time and the most
/// body bytes the origin may read, since the edge never holds the body itself. These routes
/// also carry their own credential (a signed URL or download token) that the origin checks.
pub struct StreamedRequest<'a> {
    pub method: Method,
    pub path_and_query: &'a str,
    /// The most body bytes the origin may read (0 for a download).
    pub length: u64,
    /// The incoming request whose body (if any) and listed headers are passed on.
    pub incoming: &'a Request,
    pub headers: &'a [&'a str],
    pub request_id: &'a str,
    pub timeout_ms: u32,
}

/// Relays `request` and answers the origin's response as it streams back. An `Err` means the
/// origin could not be reached.
pub async fn stream(env: &Env, request: StreamedRequest<'_>) -> Result<Response> {
    let headers = Headers::new();
    for name in request.headers {
        if let Some(value) = request.incoming.headers().get(name)? {
            headers.set(name, &value)?;
        }
    }
    headers.set(REQUEST_ID_HEADER, request.request_id)?;
    let secret = settings::edge_shared_secret(env)?;
    let now_secs = worker::Date::now().as_millis() / 1_000;
    let signature = sign_streamed_request(
        secret.as_bytes(),
        now_secs,
        request.method.as_ref(),
        request.path_and_query,
        request.length,
    );
    headers.set(SIGNATURE_HEADER, &signature)?;
    let mut init = RequestInit::new();
    init.with_method(request.method).with_headers(headers);
    init.with_body(request.incoming.inner().body().map(Into::into));
    let base = settings::origin_url(env)?;
    let outgoing = Request::new_with_init(&format!("{base}{}", request.path_and_query), &init)?;
    let signal = AbortSignal::from(web_sys::AbortSignal::timeout_with_u32(request.timeout_ms));
    Fetch::Request(outgoing).send_with_signal(&signal).await
}

/// Path and query of a request URL, as the origin should see them.
pub fn path_and_query(url: &worker::Url) -> String {
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    }
}

/// `GET /readyz`: 200 when the origin's `/healthz` answers 2xx, 503 otherwise.
pub async fn readiness(_req: Request, ctx: RouteContext<()>) -> Result<Response> {
    let request_id = respond::new_id("req");
    let probe = send(
        &ctx.env,
        OriginRequest {
            method: Method::Get,
            path_and_query: "/healthz",
            body: None,
            headers: Vec::new(),
            request_id: &request_id,
            timeout_ms: 2_000,
        },
    )
    .await;
    let origin_up = matches!(&probe, Ok(response) if (200..300).contains(&response.status_code()));
    let status = if origin_up { 200 } else { 503 };
    respond::json(
        status,
        &serde_json::json!({
            "status": if origin_up { "ready" } else { "degraded" },
            "origin": if origin_up { "up" } else { "down" },
        }),
    )
}
