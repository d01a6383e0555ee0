//! eBay's notifications to the app's one endpoint: `GET /webhooks/ebay?challenge_code=…` and
//! `POST /webhooks/ebay`, where eBay delivers everything for the app's notification destination
//! (the ORDER_CONFIRMATION of every seller connected through eBay's consent, every
//! AUTHORIZATION_REVOCATION and MARKETPLACE_ACCOUNT_DELETION).
//!
//! The challenge is answered with the app's verification token and endpoint URL
//! (`EBAY_VERIFICATION_TOKEN`, `EBAY_ENDPOINT_URL`), counted per client address like every
//! request that proves nothing. A notification is verified exactly as on a tenant's own route
//! (`webhooks.rs`), its lookups of unknown keys counted in the app's budget; the eBay user it
//! names (`shared::ebay::app`) is routed to the tenant whose connection speaks for that user
//! (`account_routes.rs`), and the event queued for that tenant and connection. A notification
//! naming a user no connection speaks for is acknowledged with a 204 and logged, not queued:
//! eBay would otherwise retry it, and an endpoint that keeps failing fails every seller.

use shared::ErrorCode;
use shared::ebay::app::{MARKETPLACE_ACCOUNT_DELETION, NotifiedUser, notified_user};
use shared::internal::Platform;
use worker::{Request, Response, Result, RouteContext};

use crate::account_routes::{Account, AccountRoute, account_route};
use crate::ebay_keys::LookupBudget;
use crate::webhooks::{
    Delivery, WEBHOOK_BODY_LIMIT, ebay_challenge_answer, ebay_challenge_code, ebay_headers,
    enqueue, spend_tenant_budget, verify_ebay_delivery,
};
use crate::{respond, settings};

/// `GET /webhooks/ebay?challenge_code=…`: the app's endpoint verification.
pub async fn challenge(req: Request, ctx: RouteContext<()>) -> Result<Response> {
    let request_id = respond::new_id("req");
    let code = match ebay_challenge_code(&ctx.env, &req, &request_id).await? {
        Ok(code) => code,
        Err(refusal) => return Ok(refusal),
    };
    match settings::ebay_app_endpoint(&ctx.env) {
        Ok(endpoint) => ebay_challenge_answer(&endpoint.challenge_response(&code)),
        Err(why) => {
            worker::console_error!(
                "{request_id}: the app's eBay endpoint is not configured: {why}"
            );
            respond::error(
                ErrorCode::InternalError,
                &format!(
                    "eBay notifications are not configured at this endpoint ({why}: set EBAY_VERIFICATION_TOKEN and EBAY_ENDPOINT_URL)"
                ),
            )
        }
    }
}

/// `POST /webhooks/ebay`: 204 when verified and queued, or verified and about no connected
/// user; 412 when the signature does not verify; 429, 500 or 503 when eBay should retry.
pub async fn notification(mut req: Request, ctx: RouteContext<()>) -> Result<Response> {
    let Some(body) = respond::read_body_within(&mut req, WEBHOOK_BODY_LIMIT).await? else {
        return respond::too_large(WEBHOOK_BODY_LIMIT);
    };
    let request_id = respond::new_id("req");
    let budget = LookupBudget::App;
    if let Err(refusal) = verify_ebay_delivery(&ctx.env, &req, &request_id, budget, &body).await? {
        return Ok(refusal);
    }
    let user = match notified_user(&body) {
        Ok(user) => user,
        Err(why) => {
            worker::console_warn!(
                "{request_id}: a verified eBay notification names no user to route by ({why}): acknowledged, not queued"
            );
            return acknowledged();
        }
    };
    let seller = Account::EbaySeller(&user.user_id);
    let route = match account_route(&ctx.env, seller, &request_id).await? {
        AccountRoute::Known(route) => route,
        AccountRoute::Unknown => {
            worker::console_warn!(
                "{request_id}: eBay {} for {}, whom no connection speaks for: acknowledged, not queued",
                user.topic,
                logged_user(&user)
            );
            return acknowledged();
        }
        AccountRoute::Unavailable => {
            return respond::error(
                ErrorCode::UpstreamUnavailable,
                "the eBay user's connection cannot be looked up right now; retry later",
            );
        }
    };
    if let Err(refusal) = spend_tenant_budget(&ctx.env, &route.tenant_id, &request_id).await? {
        return Ok(refusal);
    }
    // An inactive connection's event is still queued: the origin keeps it, ignored and
    // replayable, and eBay is not made to retry what one seller's connection decides.
    let delivery = Delivery {
        tenant_id: &route.tenant_id,
        platform: Platform::Ebay,
        connection_id: Some(route.connection_id),
    };
    enqueue(&ctx.env, delivery, ebay_headers(&req)?, body).await?;
    acknowledged()
}

fn acknowledged() -> Result<Response> {
    Ok(Response::empty()?.with_status(204))
}

/// The user as logged: a seller's public userId, never the id of an account being deleted
/// (its data is being erased).
fn logged_user(user: &NotifiedUser) -> String {
    if user.topic == MARKETPLACE_ACCOUNT_DELETION {
        "a deleted eBay account".to_owned()
    } else {
        format!("eBay user {}", user.user_id)
    }
}
