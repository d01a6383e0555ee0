//! What every page shares: the [`Layout`] the base template draws (title, navigation, the CSRF
//! token its forms carry, the asset URLs), the [`FormErrors`] a form shows next to its fields
//! (in words, with the API's stable code), and [`PageError`], every way a page can fail, drawn
//! as a page in words. Handlers return `Result<impl IntoResponse, PageError>` and use `?`.

use askama::Template;
use axum::http::header::{LOCATION, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum_htmx::HxRedirect;
use shared::ErrorCode;

use super::assets;
use crate::domain::accounts::FieldRefusal;
use crate::store::StoreError;

/// Where a signed-out visitor is sent.
pub const SIGN_IN_PATH: &str = "/app/sign-in";

/// The frame of every page: `base.html` draws it.
pub struct Layout {
    /// The page's own title (the `<title>` adds the product's name).
    pub title: String,
    /// The token every form of the page carries (`csrf` field, `X-CSRF-Token` for htmx).
    pub csrf: String,
    /// Set on the pages of a tenant: who is signed in, for which tenant, and which page.
    pub nav: Option<Nav>,
    pub stylesheet: &'static str,
    pub htmx: &'static str,
}

impl Layout {
    /// The frame of a page seen before signing in (no navigation).
    pub fn public(title: &str, csrf: String) -> Self {
        Layout {
            title: title.to_owned(),
            csrf,
            nav: None,
            stylesheet: assets::stylesheet_path(),
            htmx: assets::HTMX_PATH,
        }
    }
}

/// The navigation of a tenant's pages. Only pages that exist are linked.
pub struct Nav {
    pub tenant_id: String,
    pub tenant_name: String,
    pub email: String,
    /// The page shown, as named in [`Nav::PAGES`] (`aria-current` marks its link).
    pub current: &'static str,
}

impl Nav {
    /// `(name, label, path under the tenant)` of every page of a tenant, in menu order.
    pub const PAGES: [(&'static str, &'static str, &'static str); 1] =
        [("overview", "Overview", "")];

    /// Whether `page` (a [`Nav::PAGES`] name) is the page shown.
    pub fn is_current(&self, page: &str) -> bool {
        self.current == page
    }

    /// The URL of `page_path` (a [`Nav::PAGES`] path) for this tenant.
    pub fn href(&self, page_path: &str) -> String {
        format!("/app/{}{page_path}", self.tenant_id)
    }
}

/// One field's error: the words shown next to it and the stable code behind them.
#[derive(Debug, Clone)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
    pub code: ErrorCode,
}

/// The errors of a submitted form, by field.
#[derive(Debug, Clone, Default)]
pub struct FormErrors(Vec<FieldError>);

impl FormErrors {
    pub fn one(field: &'static str, message: impl Into<String>, code: ErrorCode) -> Self {
        FormErrors(vec![FieldError {
            field,
            message: message.into(),
            code,
        }])
    }

    pub fn push(&mut self, refusal: FieldRefusal) {
        self.0.push(FieldError {
            field: refusal.field,
            message: refusal.message,
            code: refusal.code,
        });
    }

    /// The error of `field`, for the template to show beside it.
    pub fn get(&self, field: &str) -> Option<&FieldError> {
        self.0.iter().find(|error| error.field == field)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The status the page answers with: the first error's code's (as the API's).
    pub fn status(&self) -> StatusCode {
        self.0
            .first()
            .and_then(|error| StatusCode::from_u16(error.code.http_status()).ok())
            .unwrap_or(StatusCode::OK)
    }
}

/// A rendered template as an HTML answer with `status` (a failed render is a 500 page).
pub fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => PageError::Internal(error.to_string()).into_response(),
    }
}

/// `303 See Other` to `location`: where a form that worked sends the browser.
pub fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

/// Where a form that worked sends the browser: `303 See Other`, or for htmx (which would
/// otherwise swap the next page into the form) `HX-Redirect`, which it follows as a navigation.
pub fn go_to(htmx: bool, location: &str) -> Response {
    if htmx {
        (HxRedirect(location.to_owned()), StatusCode::OK).into_response()
    } else {
        see_other(location)
    }
}

/// Every way a page can fail, each drawn as a page saying so in words, with its code.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// No live session: the browser is sent to the sign-in page.
    #[error("sign in to see this page")]
    SignInRequired,
    /// No such page for this account (another tenant's answers the same).
    #[error("page not found")]
    NotFound,
    /// A form without its token, or with another's.
    #[error("the form's security token is missing or does not match")]
    CsrfRefused,
    /// Details go to the log, never to the page.
    #[error("internal error")]
    Internal(String),
}

impl PageError {
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        PageError::Internal(cause.to_string())
    }

    fn code(&self) -> ErrorCode {
        match self {
            PageError::SignInRequired => ErrorCode::Unauthorized,
            PageError::NotFound => ErrorCode::NotFound,
            PageError::CsrfRefused => ErrorCode::Forbidden,
            PageError::Internal(_) => ErrorCode::InternalError,
        }
    }
}

impl From<StoreError> for PageError {
    fn from(error: StoreError) -> Self {
        PageError::internal(error)
    }
}

/// `error.html`: a failure in words.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    heading: &'static str,
    message: &'static str,
    code: ErrorCode,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (heading, message) = match &self {
            PageError::SignInRequired => return see_other(SIGN_IN_PATH),
            PageError::NotFound => (
                "Page not found",
                "There is no such page in your dashboard. It may belong to another account, \
                 or the link may be mistyped.",
            ),
            PageError::CsrfRefused => (
                "This form could not be accepted",
                "The form was sent without its security token, or with one that does not \
                 belong to your session, so nothing was changed. This happens when a form \
                 was opened before signing in or out, or was sent from another site. Go back, \
                 reload the page and send it again.",
            ),
            PageError::Internal(cause) => {
                tracing::error!(%cause, "page failed");
                (
                    "Something went wrong",
                    "The page could not be shown because of a problem on our side. Nothing \
                     you sent was lost; try again in a moment.",
                )
            }
        };
        let page = ErrorPage {
            layout: Layout::public(heading, String::new()),
            heading,
            message,
            code: self.code(),
        };
        let status = StatusCode::from_u16(self.code().http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            // The error page itself failed: plain words rather than nothing.
            Err(_) => (status, message).into_response(),
        }
    }
}

/// The answer of every dashboard route to a request that did not come through the edge (the
/// router's, in the API's envelope: no page is rendered for it).
#[derive(utoipa::IntoResponses)]
pub enum EdgeOnly {
    /// UNAUTHORIZED: no valid edge signature; open the dashboard at the public address.
    #[response(status = 401)]
    NotThroughTheEdge(crate::http::docs::ErrorEnvelope),
}

/// Adds `Retry-After` (seconds) to an answer.
pub fn with_retry_after(mut response: Response, seconds: i64) -> Response {
    if let Ok(value) = HeaderValue::from_str(&seconds.max(1).to_string()) {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    response
}
