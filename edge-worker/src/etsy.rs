//! `POST /webhooks/etsy`: Etsy's one webhook endpoint per app, for every connected shop.
//!
//! The delivery is size-checked, then verified with the app's Standard Webhooks secret
//! (`ETSY_WEBHOOK_SECRET`, `shared::standard_webhooks`): a bad or stale signature is a 401,
//! counted per client address like every unverified request. The flat payload is read with
//! `shared::etsy`, its `shop_id` routed to the tenant whose connection has that shop
//! (`account_routes.rs`), and the event queued for that tenant's origin ingest. A shop no
//! connection has is acknowledged with a 200 and logged: Etsy would otherwise retry it for
//! days, and an endpoint that keeps failing is disabled for every shop of the app.

use std::collections::BTreeMap;

use shared::ErrorCode;
use shared::etsy::parse_etsy_webhook;
use shared::internal::Platform;
use shared::standard_webhooks::{
    ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookHeaders, WebhookSecret, verify,
};
use worker::{Request, Response, Result, RouteContext};

use crate::account_routes::{Account, AccountRoute, account_route};
use crate::webhooks::{Delivery, WEBHOOK_BODY_LIMIT, enqueue, spend_tenant_budget, unverified};
use crate::{respond, settings};

/// The worker setting holding the app's `whsec_…` signing secret.
pub const SECRET_SETTING: &str = "ETSY_WEBHOOK_SECRET";

pub async fn etsy_webhook(mut req: Request, ctx: RouteContext<()>) -> Result<Response> {
    let Some(body) = respond::read_body_within(&mut req, WEBHOOK_BODY_LIMIT).await? else {
        return respond::too_large(WEBHOOK_BODY_LIMIT);
    };
    let request_id = respond::new_id("req");
    let secret =
        settings::string(&ctx.env, SECRET_SETTING).and_then(|s| WebhookSecret::parse(&s).ok());
    let Some(secret) = secret else {
        // Etsy retries: the delivery lands once the secret is set.
        worker::console_error!("{request_id}: {SECRET_SETTING} is not set or not a whsec_ secret");
        return respond::error(
            ErrorCode::InternalError,
            "Etsy webhooks are not configured at this endpoint; retry later",
        );
    };
    let id = req.headers().get(ID_HEADER)?;
    let timestamp = req.headers().get(TIMESTAMP_HEADER)?;
    let signature = req.headers().get(SIGNATURE_HEADER)?;
    let headers = WebhookHeaders {
        id: id.as_deref(),
        timestamp: timestamp.as_deref(),
        signature: signature.as_deref(),
    };
    let now_secs = worker::Date::now().as_millis() / 1_000;
    if let Err(refused) = verify(&secret, headers, &body, now_secs) {
        let reason = refused.to_string();
        return unverified(
            &ctx.env,
            &req,
            &request_id,
            ErrorCode::Unauthorized,
            &reason,
        )
        .await;
    }
    let webhook = match parse_etsy_webhook(&body) {
        Ok(webhook) => webhook,
        Err(e) => {
            return respond::error(
                ErrorCode::InvalidRequest,
                &format!("the Etsy webhook payload is unreadable: {e}"),
            );
        }
    };
    let shop = Account::EtsyShop(&webhook.shop_id);
    let route = match account_route(&ctx.env, shop, &request_id).await? {
        AccountRoute::Known(route) => route,
        AccountRoute::Unknown => {
            worker::console_warn!(
                "{request_id}: Etsy {} for shop {}, which no connection has: acknowledged, not queued",
                webhook.event_type,
                webhook.shop_id
            );
            return respond::json(
                200,
                &serde_json::json!({ "accepted": false, "reason": "no connection has this shop" }),
            );
        }
        AccountRoute::Unavailable => {
            return respond::error(
                ErrorCode::UpstreamUnavailable,
                "the shop's connection cannot be looked up right now; retry later",
            );
        }
    };
    if let Err(refusal) = spend_tenant_budget(&ctx.env, &route.tenant_id, &request_id).await? {
        return Ok(refusal);
    }
    // An inactive connection's event is still queued: the origin keeps it, ignored and
    // replayable, and Etsy is not made to retry what one shop's state decides.
    let mut forwarded = BTreeMap::new();
    for (name, value) in [(ID_HEADER, id), (TIMESTAMP_HEADER, timestamp)] {
        if let Some(value) = value {
            forwarded.insert(name.to_owned(), value);
        }
    }
    let delivery = Delivery {
        tenant_id: &route.tenant_id,
        platform: Platform::Etsy,
        connection_id: Some(route.connection_id),
    };
    let event_id = enqueue(&ctx.env, delivery, forwarded, body).await?;
    respond::json(
        200,
        &serde_json::json!({ "accepted": true, "event_id": event_id }),
    )
}
