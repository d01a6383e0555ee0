//! `/api/v1/orders`: list with filters, one order with items, delivery status and audit
//! trail, resend (1 token per unit sent again; a failed unit is free), code replacement (1
//! token), the approval of an order waiting for review and the buyer email set by the seller
//! (which delivers an order that waited for a usable address). The delivery itself is the
//! pipeline's; these routes record the request and charge tokens in one transaction.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::auth::Auth;
use super::error::ApiError;
use super::events::{PLATFORMS, one_of};
use super::extract::{ApiJson, ApiQuery, Page, parse_datetime};
use super::idempotency::idempotent;
use super::response::{ApiResponse, ApiResult};
use super::state::AppState;
use crate::domain::review::{NEEDS_REVIEW, unusable_address};
use crate::domain::scopes::Scope;
use crate::ids::{now_ms, rfc3339};
use crate::store::{AuditRow, OrderFilter, OrderItemRow, OrderRow};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// This resource's routes, each with its OpenAPI entry.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_orders))
        .routes(routes!(get_order))
        .routes(routes!(set_buyer_email))
        .merge(idempotent(
            OpenApiRouter::new()
                .routes(routes!(resend_order))
                .routes(routes!(replace_item))
                .routes(routes!(approve_order)),
        ))
}

pub const ORDER_STATUSES: [&str; 8] = [
    "pending",
    "needs_review",
    "needs_address",
    "processing",
    "delivered",
    "failed",
    "refunded",
    "cancelled",
];

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderItemOut {
    pub id: String,
    pub product_id: Option<String>,
    pub product_type: Option<String>,
    pub name: String,
    pub quantity: i64,
    /// `pending`, `queued` (allocated, email due), `delivered`, `failed`, `awaiting_stock`,
    /// `awaiting_tokens`, `revoked` (refunded or cancelled), `unmapped` (no product mapping
    /// yet: delivered once one matches), `needs_review` (its order waits for approval) or
    /// `needs_address` (its order waits for a usable buyer email).
    pub delivery_status: String,
    /// Why the item waits, e.g. which platform product no product maps (`unmapped`).
    pub status_reason: Option<String>,
    /// Units a partial refund took back: revoked, or never delivered.
    pub refunded_quantity: i64,
    pub license_code: Option<String>,
    pub delivered_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditOut {
    pub at: String,
    pub action: String,
    #[schema(value_type = Object)]
    pub detail: Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderOut {
    pub id: String,
    pub platform: String,
    pub platform_order_id: String,
    /// `pending`, `processing`, `delivered`, `failed`, `refunded`, `cancelled`,
    /// `needs_review` (over the quantity caps, nothing delivered until approved) or
    /// `needs_address` (the buyer email cannot take an email: nothing allocated or charged
    /// until the seller sets one).
    pub status: String,
    /// Why the order waits (`needs_review`, `needs_address`), else absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    pub buyer_email: String,
    pub buyer_name: Option<String>,
    pub currency: Option<String>,
    pub total_cents: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
    /// Only on single-order answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<OrderItemOut>>,
    /// Only on single-order answers, oldest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_trail: Option<Vec<AuditOut>>,
    /// Only on single-order answers: each call telling the marketplace the order (or a line
    /// of it) is done, oldest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fulfilment: Option<Vec<super::order_fulfilment::FulfilmentOut>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrderParams {
    /// `woocommerce`, `ebay` or `etsy`.
    pub platform: Option<String>,
    /// `pending`, `needs_review`, `needs_address`, `processing`, `delivered`, `failed`,
    /// `refunded` or `cancelled`.
    pub status: Option<String>,
    /// RFC 3339; orders created at or after.
    pub created_from: Option<String>,
    /// RFC 3339; orders created before.
    pub created_to: Option<String>,
    /// Exact address, case-insensitive.
    pub buyer_email: Option<String>,
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResendOut {
    pub order_id: String,
    /// Items with a unit sent again.
    pub items_queued: i64,
    /// Units sent again: delivered ones (1 token each) and failed ones (free).
    pub units_queued: i64,
    pub tokens_charged: i64,
    pub token_balance: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApproveOut {
    pub order: OrderOut,
    /// Units allocated and charged now, their email due; units waiting for stock or tokens
    /// follow when those come.
    pub units_allocated: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplaceOut {
    pub item: OrderItemOut,
    pub tokens_charged: i64,
    pub token_balance: i64,
}

fn item_out(row: OrderItemRow) -> OrderItemOut {
    OrderItemOut {
        id: row.id,
        product_id: row.product_id,
        product_type: row.product_type,
        name: row.name,
        quantity: row.quantity,
        delivery_status: row.delivery_status,
        status_reason: row.status_reason,
        refunded_quantity: row.refunded_quantity,
        license_code: row.license_code,
        delivered_at: row.delivered_at.map(rfc3339),
    }
}

fn audit_out(row: AuditRow) -> AuditOut {
    AuditOut {
        at: rfc3339(row.at),
        action: row.action,
        detail: serde_json::from_str(&row.detail).unwrap_or(Value::Null),
    }
}

fn order_out(row: OrderRow) -> OrderOut {
    OrderOut {
        id: row.id,
        platform: row.platform,
        platform_order_id: row.platform_order_id,
        status: row.status,
        status_reason: row.status_reason,
        buyer_email: row.buyer_email,
        buyer_name: row.buyer_name,
        currency: row.currency,
        total_cents: row.total_cents,
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
        items: None,
        audit_trail: None,
        fulfilment: None,
    }
}

async fn find_order(state: &AppState, auth: &Auth, id: &str) -> Result<OrderRow, ApiError> {
    state
        .store
        .get_order(&auth.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound("order"))
}

#[utoipa::path(get, path = "/api/v1/orders", tag = "orders", params(OrderParams), security(("api_key" = ["orders:read"])),
    responses((status = 200, description = "A page of orders, newest first", body = [OrderOut]), super::docs::KeyErrors, super::docs::BadInput))]
pub async fn list_orders(
    auth: Auth,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<OrderParams>,
) -> ApiResult<Vec<OrderOut>> {
    auth.require(Scope::OrdersRead)?;
    let page = Page::new(params.limit, params.cursor.as_deref())?;
    one_of("platform", params.platform.as_deref(), &PLATFORMS)?;
    one_of("status", params.status.as_deref(), &ORDER_STATUSES)?;
    let created_from = parse_datetime("created_from", params.created_from.as_deref())?;
    let created_to = parse_datetime("created_to", params.created_to.as_deref())?;
    if let (Some(from), Some(to)) = (created_from, created_to)
        && from > to
    {
        return Err(ApiError::validation(
            "created_to",
            "created_to is before created_from",
            "swap the two dates",
        ));
    }
    let filter = OrderFilter {
        platform: params.platform,
        status: params.status,
        created_from,
        created_to,
        buyer_email: params.buyer_email.filter(|e| !e.is_empty()),
        page: page.query.clone(),
    };
    let rows = state.store.list_orders(&auth.tenant_id, &filter).await?;
    let (rows, next) = page.finish(rows, |r| &r.id);
    Ok(ApiResponse::ok(rows.into_iter().map(order_out).collect()).with_next_cursor(next))
}

#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "orders", params(("id" = String, Path, description = "Order id")),
    security(("api_key" = ["orders:read"])),
    responses((status = 200, description = "The order with items, delivery status and audit trail", body = OrderOut), super::docs::KeyErrors, super::docs::Missing))]
pub async fn get_order(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<OrderOut> {
    auth.require(Scope::OrdersRead)?;
    let row = find_order(&state, &auth, &id).await?;
    let items = state.store.order_items(&auth.tenant_id, &row.id).await?;
    let audit = state.store.order_audit(&auth.tenant_id, &row.id).await?;
    let fulfilment = super::order_fulfilment::of_order(&state, &auth.tenant_id, &row.id).await?;
    let mut out = order_out(row);
    out.fulfilment = Some(fulfilment);
    out.items = Some(items.into_iter().map(item_out).collect());
    out.audit_trail = Some(audit.into_iter().map(audit_out).collect());
    Ok(ApiResponse::ok(out))
}

#[utoipa::path(post, path = "/api/v1/orders/{id}/resend", tag = "orders", params(("id" = String, Path, description = "Order id")),
    security(("api_key" = ["orders:write"])),
    responses((status = 200, description = "Every delivered or failed unit queued again; 1 token charged per delivered unit, failed units free, unmapped lines nothing", body = ResendOut), (status = 402, description = "INSUFFICIENT_TOKENS: nothing charged", body = super::docs::ErrorEnvelope),
        (status = 409, description = "ORDER_CLOSED: the order is refunded or cancelled; nothing charged", body = super::docs::ErrorEnvelope), super::docs::KeyErrors, super::docs::Missing))]
pub async fn resend_order(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<ResendOut> {
    auth.require(Scope::OrdersWrite)?;
    let order = find_order(&state, &auth, &id).await?;
    let resent = state
        .store
        .resend_order(&auth.tenant_id, &order.id, now_ms())
        .await?;
    Ok(ApiResponse::ok(ResendOut {
        order_id: order.id,
        items_queued: resent.items_queued,
        units_queued: resent.units_queued,
        tokens_charged: resent.tokens_charged,
        token_balance: resent.token_balance,
    }))
}

#[utoipa::path(post, path = "/api/v1/orders/{id}/items/{item_id}/replace", tag = "orders",
    params(("id" = String, Path, description = "Order id"), ("item_id" = String, Path, description = "Item id")),
    security(("api_key" = ["orders:write"])),
    responses((status = 200, description = "A fresh code allocated, the old one marked replaced; 1 token charged. The new code always gets its own email, even when an email of the old one is in flight", body = ReplaceOut), (status = 402, description = "INSUFFICIENT_TOKENS: nothing charged", body = super::docs::ErrorEnvelope),
        (status = 409, description = "CONFLICT: not a CODE item, no code in stock, or the order waits for review; ORDER_CLOSED: the order is refunded or cancelled (nothing charged)", body = super::docs::ErrorEnvelope), super::docs::KeyErrors, super::docs::Missing))]
pub async fn replace_item(
    auth: Auth,
    State(state): State<AppState>,
    Path((id, item_id)): Path<(String, String)>,
) -> ApiResult<ReplaceOut> {
    auth.require(Scope::OrdersWrite)?;
    let order = find_order(&state, &auth, &id).await?;
    let item = state
        .store
        .order_items(&auth.tenant_id, &order.id)
        .await?
        .into_iter()
        .find(|i| i.id == item_id)
        .ok_or(ApiError::NotFound("order item"))?;
    if order.status == NEEDS_REVIEW {
        return Err(ApiError::Conflict(
            "the order waits for review: approve it first".into(),
        ));
    }
    if item.product_type.as_deref() != Some("CODE") || item.product_id.is_none() {
        return Err(ApiError::Conflict(
            "only items of CODE products can get a replacement code".into(),
        ));
    }
    let (item, token_balance) = state
        .store
        .replace_item_code(&auth.tenant_id, &order.id, &item.id, now_ms())
        .await?;
    Ok(ApiResponse::ok(ReplaceOut {
        item: item_out(item),
        tokens_charged: 1,
        token_balance,
    }))
}

#[utoipa::path(post, path = "/api/v1/orders/{id}/approve", tag = "orders", params(("id" = String, Path, description = "Order id")),
    security(("api_key" = ["orders:write"])),
    responses((status = 200, description = "The order, over the quantity caps, approved: its units made, allocated and charged (1 token each) and emailed by the pipeline", body = ApproveOut),
        (status = 409, description = "ORDER_NOT_IN_REVIEW: the order does not wait for review; CONFLICT: more than 10,000 units, more than one approval delivers; nothing done", body = super::docs::ErrorEnvelope), super::docs::KeyErrors, super::docs::Missing))]
pub async fn approve_order(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<ApproveOut> {
    auth.require(Scope::OrdersWrite)?;
    let order = find_order(&state, &auth, &id).await?;
    let policy = state.delivery_policy;
    let units = state
        .store
        .approve_order(&auth.tenant_id, &order.id, policy, now_ms())
        .await?
        .ok_or(ApiError::NotFound("order"))?;
    let row = find_order(&state, &auth, &order.id).await?;
    Ok(ApiResponse::ok(ApproveOut {
        order: order_out(row),
        units_allocated: units.len() as i64,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BuyerEmailIn {
    /// The address the order's delivery emails go to.
    #[schema(example = "buyer@example.com")]
    pub buyer_email: String,
}

#[utoipa::path(put, path = "/api/v1/orders/{id}/buyer-email", tag = "orders", params(("id" = String, Path, description = "Order id")),
    security(("api_key" = ["orders:write"])), request_body = BuyerEmailIn,
    responses((status = 200, description = "The buyer email set. An order that waited for a usable address (`needs_address`) has its units allocated and charged (1 token each) and emailed by the pipeline (units already reserved for a delivery through Etsy are emailed with the codes they hold, and the Etsy delivery is dropped); any other order keeps its deliveries (resend to send them to the new address). A `buyer_email` that is not an address an email can go to is refused with 400 VALIDATION_FAILED", body = ApproveOut),
        (status = 409, description = "ORDER_CLOSED: the order is refunded or cancelled; nothing changed", body = super::docs::ErrorEnvelope),
        super::docs::KeyErrors, super::docs::Missing, super::docs::BadInput, super::docs::TooLarge, super::docs::WrongMediaType))]
pub async fn set_buyer_email(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<BuyerEmailIn>,
) -> ApiResult<ApproveOut> {
    auth.require(Scope::OrdersWrite)?;
    if let Some(reason) = unusable_address(input.buyer_email.trim()) {
        return Err(ApiError::validation(
            "buyer_email",
            reason,
            "an address such as buyer@example.com",
        ));
    }
    let order = find_order(&state, &auth, &id).await?;
    let units = state
        .store
        .set_buyer_email(
            &auth.tenant_id,
            &order.id,
            &input.buyer_email,
            state.delivery_policy,
            now_ms(),
        )
        .await?
        .ok_or(ApiError::NotFound("order"))?;
    let row = find_order(&state, &auth, &order.id).await?;
    Ok(ApiResponse::ok(ApproveOut {
        order: order_out(row),
        units_allocated: units.len() as i64,
    }))
}
