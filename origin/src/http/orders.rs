//! `/api/v1/orders`: list with filters, one order with items, delivery status and audit
//! trail, resend (1 token per item) and code replacement (1 token). The delivery itself is the
//! pipeline's; these routes record the request and charge tokens in one transaction.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::auth::Auth;
use super::error::ApiError;
use super::events::{PLATFORMS, one_of};
use super::extract::{ApiQuery, Page, parse_datetime};
use super::response::{ApiResponse, ApiResult};
use super::state::AppState;
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
        .routes(routes!(resend_order))
        .routes(routes!(replace_item))
}

pub const ORDER_STATUSES: [&str; 6] = [
    "pending",
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
    /// `awaiting_tokens`, `revoked` (refunded or cancelled) or `unmapped` (no product mapping).
    pub delivery_status: String,
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
    pub status: String,
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
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrderParams {
    /// `woocommerce`, `ebay` or `etsy`.
    pub platform: Option<String>,
    /// `pending`, `processing`, `delivered`, `failed`, `refunded` or `cancelled`.
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
    pub items_queued: i64,
    pub tokens_charged: i64,
    pub token_balance: i64,
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
        buyer_email: row.buyer_email,
        buyer_name: row.buyer_name,
        currency: row.currency,
        total_cents: row.total_cents,
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
        items: None,
        audit_trail: None,
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
    let mut out = order_out(row);
    out.items = Some(items.into_iter().map(item_out).collect());
    out.audit_trail = Some(audit.into_iter().map(audit_out).collect());
    Ok(ApiResponse::ok(out))
}

#[utoipa::path(post, path = "/api/v1/orders/{id}/resend", tag = "orders", params(("id" = String, Path, description = "Order id")),
    security(("api_key" = ["orders:write"])),
    responses((status = 200, description = "Every item queued again; 1 token charged per item", body = ResendOut), (status = 402, description = "INSUFFICIENT_TOKENS: nothing charged", body = super::docs::ErrorEnvelope), super::docs::KeyErrors, super::docs::Missing))]
pub async fn resend_order(
    auth: Auth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<ResendOut> {
    auth.require(Scope::OrdersWrite)?;
    let order = find_order(&state, &auth, &id).await?;
    let items = state
        .store
        .order_items(&auth.tenant_id, &order.id)
        .await?
        .len() as i64;
    let token_balance = state
        .store
        .resend_order(&auth.tenant_id, &order.id, now_ms())
        .await?;
    Ok(ApiResponse::ok(ResendOut {
        order_id: order.id,
        items_queued: items,
        tokens_charged: items,
        token_balance,
    }))
}

#[utoipa::path(post, path = "/api/v1/orders/{id}/items/{item_id}/replace", tag = "orders",
    params(("id" = String, Path, description = "Order id"), ("item_id" = String, Path, description = "Item id")),
    security(("api_key" = ["orders:write"])),
    responses((status = 200, description = "A fresh code allocated, the old one marked replaced; 1 token charged", body = ReplaceOut), (status = 402, description = "INSUFFICIENT_TOKENS: nothing charged", body = super::docs::ErrorEnvelope),
        (status = 409, description = "CONFLICT: not a CODE item, or no code in stock", body = super::docs::ErrorEnvelope), super::docs::KeyErrors, super::docs::Missing))]
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
