//! `/connect/*`: the connect flows' returns. WooCommerce's server-to-server key POST
//! (`POST /connect/woocommerce/keys`) and the seller's browser coming back
//! (`GET /connect/{platform}/callback`) are relayed to the origin signed like every forward,
//! counted per client address; the origin's answer (its page, redirect or envelope) goes
//! back as it is. The state they carry is checked by the origin only.

use shared::ErrorCode;
use shared::ratelimit::{API_CLIENT, rate_limit_headers};
use worker::{Method, Request, Response, Result, RouteContext};

use crate::origin;
use crate::{limiter, respond};

/// WooCommerce's key body is a few hundred bytes.
const KEYS_BODY_LIMIT: usize = 16 * 1024;

const FORWARDED_REQUEST_HEADERS: [&str; 1] = ["Content-Type"];
const FORWARDED_RESPONSE_HEADERS: [&str; 3] = ["Content-Type", "Location", "Cache-Control"];

/// `POST /connect/woocommerce/keys` and `GET /connect/:platform/callback`.
pub async fn relay(mut req: Request, ctx: RouteContext<()>) -> Result<Response> {
    let request_id = respond::new_id("req");
    let decision = limiter::check_client(&ctx.env, &API_CLIENT, "connect", &req).await?;
    if !decision.allowed {
        return respond::with_headers(
            respond::error(
                ErrorCode::RateLimited,
                "too many connect requests from this address",
            )?,
            &rate_limit_headers(&decision),
        );
    }
    let method = req.method();
    let body = if method == Method::Post {
        match respond::read_body_within(&mut req, KEYS_BODY_LIMIT).await? {
            Some(body) => Some(body),
            None => return respond::too_large(KEYS_BODY_LIMIT),
        }
    } else {
        None
    };
    let answer = origin::relay(
        &ctx.env,
        &req,
        body.as_deref(),
        &FORWARDED_REQUEST_HEADERS,
        &request_id,
    )
    .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(e) => {
            worker::console_error!("{request_id}: origin unreachable for a connect return: {e}");
            return respond::error(
                ErrorCode::UpstreamUnavailable,
                "the service is unavailable; retry later",
            );
        }
    };
    origin::relay_answer(answer, &FORWARDED_RESPONSE_HEADERS, &request_id).await
}
