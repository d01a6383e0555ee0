//! `/app/{tenant_id}`: a tenant's overview. The token balance, the open alerts in words (the
//! ones `GET /api/v1/alerts` lists), and until a store is connected, what to do first.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::page::{Layout, PageError, render};
use super::session::Member;
use crate::domain::ledger::alerts;
use crate::domain::review::{ORDER_NEEDS_ADDRESS_ALERT, ORDER_NEEDS_REVIEW_ALERT};
use crate::domain::tokens::NEEDS_RECONNECT_ALERT;
use crate::http::AppState;
use crate::ids::rfc3339;
use crate::store::pipeline::AlertRow;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(overview))
}

/// One alert as the page says it.
struct AlertView {
    title: &'static str,
    text: String,
    /// RFC 3339, for `<time datetime>`.
    at: String,
    /// `YYYY-MM-DD HH:MM UTC`.
    at_text: String,
}

impl AlertView {
    fn of(alert: &AlertRow) -> Self {
        let detail: Value = serde_json::from_str(&alert.detail).unwrap_or(Value::Null);
        let number = |name: &str| {
            detail[name]
                .as_i64()
                .map_or("?".to_owned(), |n| n.to_string())
        };
        let subject = &alert.subject;
        let (title, text) = match alert.kind.as_str() {
            alerts::LOW_TOKENS => (
                "Few tokens left",
                format!(
                    "{} tokens left. Deliveries wait once the balance cannot pay for them.",
                    number("token_balance")
                ),
            ),
            alerts::LOW_STOCK => (
                "Low stock",
                format!(
                    "Product {subject} has {} license codes left. Import more before it runs out.",
                    number("available")
                ),
            ),
            ORDER_NEEDS_REVIEW_ALERT => (
                "Order waits for review",
                format!("Order {subject} is over the quantity limits and waits for your approval."),
            ),
            ORDER_NEEDS_ADDRESS_ALERT => (
                "Order has no buyer email",
                format!("Order {subject} waits for the buyer's email address to be delivered."),
            ),
            NEEDS_RECONNECT_ALERT => (
                "Store needs reconnecting",
                format!(
                    "Connection {subject} no longer works; connect it again to keep receiving orders."
                ),
            ),
            _ => ("Alert", format!("{} for {subject}.", alert.kind)),
        };
        let at = rfc3339(alert.at);
        let at_text = format!("{} {} UTC", &at[..10], &at[11..16]);
        AlertView {
            title,
            text,
            at,
            at_text,
        }
    }
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    layout: Layout,
    balance: i64,
    alerts: Vec<AlertView>,
    has_connections: bool,
}

#[utoipa::path(get, path = "/app/{tenant_id}", tag = "dashboard",
    params(("tenant_id" = String, Path, description = "A tenant the signed-in account is a member of")),
    responses((status = 200, description = "The overview: token balance, open alerts, and what to do first when no store is connected", content_type = "text/html", body = String),
        (status = 303, description = "No live session: to the sign-in page"),
        (status = 404, description = "NOT_FOUND: a page saying there is no such page (another tenant's answers the same)", content_type = "text/html", body = String),
        super::page::EdgeOnly))]
pub async fn overview(
    member: Member,
    State(state): State<AppState>,
) -> Result<Response, PageError> {
    let tenant = state
        .store
        .get_tenant(&member.tenant_id)
        .await?
        .ok_or(PageError::NotFound)?;
    let alerts = state.store.list_alerts(&member.tenant_id).await?;
    let has_connections = !state
        .store
        .list_connections(
            &member.tenant_id,
            &crate::store::PageQuery {
                after: None,
                fetch: 1,
            },
        )
        .await?
        .is_empty();
    let page = OverviewPage {
        layout: member.layout("Overview", "overview"),
        balance: tenant.tokens,
        alerts: alerts.iter().map(AlertView::of).collect(),
        has_connections,
    };
    Ok(render(StatusCode::OK, &page))
}
