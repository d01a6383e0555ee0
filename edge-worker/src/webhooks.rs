//! Platform webhooks: WooCommerce deliveries, eBay notifications and eBay's endpoint challenge
//! on a tenant's own routes, and the eBay verification both eBay endpoints share (the app's one
//! endpoint is `ebay_app.rs`).
//!
//! Each delivery is size-checked first, then verified against the tenant's edge config, and only
//! then counted in the tenant's webhook budget: unsigned junk cannot spend a shop's budget. What
//! proves nothing (a bad signature, an unknown tenant or connection, an eBay challenge) is counted
//! per client address in a bucket of its own. Only a verified delivery is queued, and the platform
//! gets its answer as soon as the event is on the Queue (the origin is not waited for).
//!
//! A WooCommerce delivery is verified against one connection only: the one its URL names, or
//! on the tenant-wide route the one whose store URL `X-WC-Webhook-Source` names
//! (`shared::internal::WooEdgeConfig::connection_for`). Another connection's secret, active or
//! not, never verifies it, and the event is forwarded with that connection's id.

use std::collections::BTreeMap;

use shared::ErrorCode;
use shared::ebay::{self, SignatureHeader, compact_json, der_signature_to_raw};
use shared::internal::{EdgeConfig, ForwardedEvent, Platform, is_plausible_tenant_id};
use shared::ratelimit::{LimitClass, WEBHOOK, WEBHOOK_UNVERIFIED, rate_limit_headers};
use shared::woo::{self, creation_ping_webhook_id, verify_woocommerce_signature};
use worker::{Env, Request, Response, Result, RouteContext};

use crate::config::{self, TenantConfig};
use crate::ebay_keys::{self, KeyError, LookupBudget};
use crate::{limiter, queue, respond};

/// Webhook bodies above this are refused with 413 before any verification.
pub const WEBHOOK_BODY_LIMIT: usize = 1024 * 1024;

/// The limiter's family of per-address counters for requests that prove nothing.
const UNVERIFIED_SCOPE: &str = "webhook-unverified";
const TOO_MANY_UNVERIFIED: &str = "too many unverified webhook requests from this address";

/// `POST /webhooks/woocommerce/{tenantId}/{connectionId}` (what the origin registers), and
/// `POST /webhooks/woocommerce/{tenantId}` (stores connected before, told apart by their
/// `X-WC-Webhook-Source`).
pub async fn woocommerce(mut req: Request, ctx: RouteContext<()>) -> Result<Response> {
    let Some(tenant_id) = tenant_param(&ctx) else {
        return no_such_tenant();
    };
    let connection_param = ctx.param("connection").cloned();
    if connection_param
        .as_deref()
        .is_some_and(|id| !is_plausible_tenant_id(id))
    {
        return respond::error(ErrorCode::NotFound, "no such connection");
    }
    let Some(body) = respond::read_body_within(&mut req, WEBHOOK_BODY_LIMIT).await? else {
        return respond::too_large(WEBHOOK_BODY_LIMIT);
    };
    let signature = req.headers().get(woo::SIGNATURE_HEADER)?;
    if let Some(webhook_id) = creation_ping_webhook_id(&body, signature.is_some()) {
        // WooCommerce treats anything but exactly 200 as a failed webhook creation.
        return respond::json(
            200,
            &serde_json::json!({ "ping": true, "webhook_id": webhook_id }),
        );
    }
    let request_id = respond::new_id("req");
    let gate = platform_config(&ctx.env, &req, &tenant_id, &request_id, |c| c.woocommerce).await?;
    let woo_config = match gate {
        Ok(config) => config,
        Err(refusal) => return Ok(refusal),
    };
    let source = req.headers().get("X-WC-Webhook-Source")?;
    let Some(connection) =
        woo_config.connection_for(connection_param.as_deref(), source.as_deref())
    else {
        let (code, reason) = match connection_param {
            Some(_) => (ErrorCode::NotFound, "no such connection"),
            None => (
                ErrorCode::Unauthorized,
                "no WooCommerce connection of this tenant has the store URL X-WC-Webhook-Source names",
            ),
        };
        return unverified(&ctx.env, &req, &request_id, code, reason).await;
    };
    let now_ms = worker::Date::now().as_millis();
    let verified = connection.verifies(now_ms, |secret| {
        verify_woocommerce_signature(secret, &body, signature.as_deref()).is_ok()
    });
    if !verified {
        let reason = match signature {
            None => "the X-WC-Webhook-Signature header is missing",
            Some(_) => "the X-WC-Webhook-Signature header does not match the body",
        };
        return unverified(&ctx.env, &req, &request_id, ErrorCode::Unauthorized, reason).await;
    }
    if let Err(refusal) = spend_tenant_budget(&ctx.env, &tenant_id, &request_id).await? {
        return Ok(refusal);
    }
    if !connection.active {
        return respond::error(
            ErrorCode::ConnectionInactive,
            "the WooCommerce connection is inactive",
        );
    }
    let mut headers = BTreeMap::new();
    for name in woo::FORWARDED_HEADERS {
        if let Some(value) = req.headers().get(name)? {
            headers.insert(name.to_ascii_lowercase(), value);
        }
    }
    let delivery = Delivery {
        tenant_id: &tenant_id,
        platform: Platform::Woocommerce,
        connection_id: Some(connection.id.clone()),
    };
    let event_id = enqueue(&ctx.env, delivery, headers, body).await?;
    respond::json(
        200,
        &serde_json::json!({ "accepted": true, "event_id": event_id }),
    )
}

/// `GET /webhooks/ebay/{tenantId}?challenge_code=…`: eBay's endpoint verification, with the
/// tenant's own verification token and endpoint.
pub async fn ebay_challenge(req: Request, ctx: RouteContext<()>) -> Result<Response> {
    let Some(tenant_id) = tenant_param(&ctx) else {
        return no_such_tenant();
    };
    let request_id = respond::new_id("req");
    let code = match ebay_challenge_code(&ctx.env, &req, &request_id).await? {
        Ok(code) => code,
        Err(refusal) => return Ok(refusal),
    };
    let gate = platform_config(&ctx.env, &req, &tenant_id, &request_id, |c| c.ebay).await?;
    let ebay_config = match gate {
        Ok(config) => config,
        Err(refusal) => return Ok(refusal),
    };
    let answer = ebay::ebay_challenge_response(
        &code,
        &ebay_config.verification_token,
        &ebay_config.endpoint_url,
    );
    ebay_challenge_answer(&answer)
}

/// The `challenge_code` of eBay's endpoint challenge, the request counted per client address
/// (a challenge carries no signature: it never spends a tenant's budget). `Err` holds the
/// refusal: 400 without a code, 429 once the address has sent too many.
pub(crate) async fn ebay_challenge_code(
    env: &Env,
    req: &Request,
    request_id: &str,
) -> Result<std::result::Result<String, Response>> {
    let url = req.url()?;
    let code = url
        .query_pairs()
        .find(|(name, _)| name == "challenge_code")
        .map(|(_, value)| value.into_owned())
        .filter(|code| !code.is_empty());
    let Some(code) = code else {
        return Ok(Err(respond::error(
            ErrorCode::InvalidRequest,
            "the challenge_code query parameter is missing",
        )?));
    };
    let client = limiter::client_key(req, UNVERIFIED_SCOPE)?;
    let counted = count(
        env,
        &WEBHOOK_UNVERIFIED,
        &client,
        request_id,
        TOO_MANY_UNVERIFIED,
    )
    .await?;
    Ok(counted.map(|()| code))
}

/// The challenge's answer: eBay expects this exact object, not the envelope.
pub(crate) fn ebay_challenge_answer(challenge_response: &str) -> Result<Response> {
    Response::from_json(&serde_json::json!({ "challengeResponse": challenge_response }))
}

/// `POST /webhooks/ebay/{tenantId}`: 204 when verified and queued, 412 when the signature does
/// not verify (as eBay's SDKs answer), 500 when eBay's key service fails (eBay then retries).
pub async fn ebay_notification(mut req: Request, ctx: RouteContext<()>) -> Result<Response> {
    let Some(tenant_id) = tenant_param(&ctx) else {
        return no_such_tenant();
    };
    let Some(body) = respond::read_body_within(&mut req, WEBHOOK_BODY_LIMIT).await? else {
        return respond::too_large(WEBHOOK_BODY_LIMIT);
    };
    let request_id = respond::new_id("req");
    let gate = platform_config(&ctx.env, &req, &tenant_id, &request_id, |c| c.ebay).await?;
    let ebay_config = match gate {
        Ok(config) => config,
        Err(refusal) => return Ok(refusal),
    };
    let budget = LookupBudget::Tenant(&tenant_id);
    if let Err(refusal) = verify_ebay_delivery(&ctx.env, &req, &request_id, budget, &body).await? {
        return Ok(refusal);
    }
    if let Err(refusal) = spend_tenant_budget(&ctx.env, &tenant_id, &request_id).await? {
        return Ok(refusal);
    }
    if !ebay_config.active {
        return respond::error(
            ErrorCode::ConnectionInactive,
            "the eBay connection is inactive",
        );
    }
    let delivery = Delivery {
        tenant_id: &tenant_id,
        platform: Platform::Ebay,
        connection_id: None,
    };
    enqueue(&ctx.env, delivery, ebay_headers(&req)?, body).await?;
    Ok(Response::empty()?.with_status(204))
}

/// Checks a notification's `X-EBAY-SIGNATURE` against eBay's key, looked up within `budget`.
/// `Err` holds the refusal: 412 for a signature that does not verify (counted per client
/// address), 429 when the budget of unknown-key lookups is spent and 500 when eBay's key
/// service fails (eBay retries both).
pub(crate) async fn verify_ebay_delivery(
    env: &Env,
    req: &Request,
    request_id: &str,
    budget: LookupBudget<'_>,
    body: &[u8],
) -> Result<std::result::Result<(), Response>> {
    let mismatch = ErrorCode::SignatureMismatch;
    let header = match SignatureHeader::parse(req.headers().get(ebay::SIGNATURE_HEADER)?.as_deref())
    {
        Ok(header) => header,
        Err(e) => {
            return Ok(Err(unverified(
                env,
                req,
                request_id,
                mismatch,
                &e.to_string(),
            )
            .await?));
        }
    };
    let reason = match verify_ebay_notification(env, budget, &header, body).await {
        Ok(true) => return Ok(Ok(())),
        Ok(false) => "the signature does not match the message",
        Err(KeyError::UnknownKid) => "the signature names a key eBay does not know",
        Err(KeyError::LookupsExhausted) => {
            // eBay retries a notification it could not deliver; a new key of eBay's own is
            // looked up then.
            let message = format!(
                "too many lookups of unknown eBay keys for {}; retry later",
                budget.whose()
            );
            return Ok(Err(respond::error(ErrorCode::RateLimited, &message)?));
        }
        Err(KeyError::Unavailable(reason)) => {
            worker::console_error!("{request_id}: eBay public key unavailable: {reason}");
            return Ok(Err(respond::error(
                ErrorCode::InternalError,
                "eBay's public key could not be fetched; retry later",
            )?));
        }
    };
    Ok(Err(
        unverified(env, req, request_id, mismatch, reason).await?
    ))
}

/// The headers of an eBay notification worth forwarding.
pub(crate) fn ebay_headers(req: &Request) -> Result<BTreeMap<String, String>> {
    let mut headers = BTreeMap::new();
    if let Some(content_type) = req.headers().get("Content-Type")? {
        headers.insert("content-type".to_owned(), content_type);
    }
    Ok(headers)
}

/// Verifies with WebCrypto over the raw bytes, then over the compact JSON re-serialisation that
/// eBay's SDKs verify — the same order as `shared::ebay::verify_ebay_signature`.
pub async fn verify_ebay_notification(
    env: &Env,
    budget: LookupBudget<'_>,
    header: &SignatureHeader,
    body: &[u8],
) -> std::result::Result<bool, KeyError> {
    let key = ebay_keys::public_key(env, budget, &header.kid).await?;
    let checked = |e: worker::Error| KeyError::Unavailable(e.to_string());
    let raw = match der_signature_to_raw(&header.signature_der) {
        Ok(raw) => raw,
        Err(_) => return Ok(false),
    };
    if ebay_keys::verify(&key, &raw, body).await.map_err(checked)? {
        return Ok(true);
    }
    match compact_json(body) {
        Some(compact) if compact != body => ebay_keys::verify(&key, &raw, &compact)
            .await
            .map_err(checked),
        _ => Ok(false),
    }
}

/// The tenant id from the path, if it can be one.
fn tenant_param(ctx: &RouteContext<()>) -> Option<String> {
    ctx.param("tenant")
        .filter(|id| is_plausible_tenant_id(id))
        .cloned()
}

fn no_such_tenant() -> Result<Response> {
    respond::error(ErrorCode::NotFound, "no such tenant")
}

/// The tenant's config for one platform (`pick`). `Err` holds the refusal to send: 404 (no such
/// tenant or no such connection, counted per client address as unverified) or 503.
async fn platform_config<T>(
    env: &Env,
    req: &Request,
    tenant_id: &str,
    request_id: &str,
    pick: impl FnOnce(EdgeConfig) -> Option<T>,
) -> Result<std::result::Result<T, Response>> {
    Ok(
        match config::tenant_config(env, tenant_id, request_id).await? {
            TenantConfig::Known(config) => match pick(config) {
                Some(platform) => Ok(platform),
                None => {
                    let reason = "this tenant has no connection for this platform";
                    Err(unverified(env, req, request_id, ErrorCode::NotFound, reason).await?)
                }
            },
            TenantConfig::Unknown => {
                let reason = "no such tenant";
                Err(unverified(env, req, request_id, ErrorCode::NotFound, reason).await?)
            }
            TenantConfig::Unavailable => Err(respond::error(
                ErrorCode::UpstreamUnavailable,
                "the tenant's configuration cannot be loaded right now; retry later",
            )?),
        },
    )
}

/// Counts a verified delivery in the tenant's webhook budget; `Err` holds the 429.
pub(crate) async fn spend_tenant_budget(
    env: &Env,
    tenant_id: &str,
    request_id: &str,
) -> Result<std::result::Result<(), Response>> {
    let message = "too many webhook deliveries for this tenant";
    count(
        env,
        &WEBHOOK,
        &format!("webhook:{tenant_id}"),
        request_id,
        message,
    )
    .await
}

/// The refusal for a request that proved nothing, counted per client address: `code` and
/// `reason`, or 429 once the address has sent too many such requests.
pub(crate) async fn unverified(
    env: &Env,
    req: &Request,
    request_id: &str,
    code: ErrorCode,
    reason: &str,
) -> Result<Response> {
    let client = limiter::client_key(req, UNVERIFIED_SCOPE)?;
    match count(
        env,
        &WEBHOOK_UNVERIFIED,
        &client,
        request_id,
        TOO_MANY_UNVERIFIED,
    )
    .await?
    {
        Ok(()) => respond::error(code, reason),
        Err(refusal) => Ok(refusal),
    }
}

/// Counts one request for `key` under `class`; `Err` holds the 429 with the rate-limit headers.
async fn count(
    env: &Env,
    class: &LimitClass,
    key: &str,
    request_id: &str,
    message: &str,
) -> Result<std::result::Result<(), Response>> {
    match limiter::check(env, class, key).await {
        Ok(decision) if !decision.allowed => {
            let refusal = respond::error(ErrorCode::RateLimited, message)?;
            Ok(Err(respond::with_headers(
                refusal,
                &rate_limit_headers(&decision),
            )?))
        }
        Ok(_) => Ok(Ok(())),
        // A platform delivery is worth more than the limit: let it through if the limiter fails.
        Err(e) => {
            worker::console_error!(
                "{request_id}: webhook rate limiter ({}) failed: {e}",
                class.name
            );
            Ok(Ok(()))
        }
    }
}

/// Whose a verified delivery is.
pub(crate) struct Delivery<'a> {
    pub tenant_id: &'a str,
    pub platform: Platform,
    /// The connection whose secret verified it (WooCommerce), or the one of the account an
    /// app-wide endpoint routed it by (the Etsy shop's, the eBay user's).
    pub connection_id: Option<String>,
}

/// Puts a verified delivery on the Queue; answers only after the Queue has it.
pub(crate) async fn enqueue(
    env: &Env,
    delivery: Delivery<'_>,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
) -> Result<String> {
    let event = ForwardedEvent {
        edge_event_id: respond::new_id("evt"),
        tenant_id: delivery.tenant_id.to_owned(),
        platform: delivery.platform,
        connection_id: delivery.connection_id,
        received_at_ms: worker::Date::now().as_millis(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    queue::enqueue(env, &event).await?;
    Ok(event.edge_event_id)
}
