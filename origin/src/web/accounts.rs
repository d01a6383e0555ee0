//! Accounts: `/app` (where a visitor starts), sign-up (a new tenant and its owner), sign-in
//! with email and password, limited per account and per client address, and sign-out. Errors
//! are shown next to their field, in words, with the API's stable code; with htmx a form is
//! redrawn in place (its `form` block), without it the whole page is.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum_htmx::HxRequest;
use serde::Deserialize;
use shared::ErrorCode;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::csrf;
use super::page::{FormErrors, Layout, PageError, SIGN_IN_PATH, go_to, render, with_retry_after};
use super::session::{self, SESSION_COOKIE, SignedIn, with_cookies};
use crate::domain::accounts::{self, SignInLimit};
use crate::http::AppState;
use crate::ids::{new_id, now_ms, rfc3339};
use crate::store::TenantRow;
use crate::store::accounts::{AccountRow, SignUp};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start))
        .routes(routes!(sign_up_page, sign_up))
        .routes(routes!(sign_in_page, sign_in))
        .routes(routes!(sign_out))
}

/// The client's address as the edge forwarded it; requests without one share one counter.
fn client_address(headers: &HeaderMap) -> String {
    headers
        .get(shared::forward::CLIENT_ADDRESS_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|value| !value.is_empty() && value.len() <= 64)
        .unwrap_or("unknown")
        .to_owned()
}

/// The overview of the account's first tenant.
fn home_of(tenant_id: &str) -> String {
    format!("/app/{tenant_id}")
}

#[utoipa::path(get, path = "/app", tag = "dashboard",
    responses((status = 303, description = "Signed in: to the overview of the account's first tenant; else to the sign-in page"),
        super::page::EdgeOnly))]
pub async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let Some(signed_in) = SignedIn::find(&headers, &state).await? else {
        return Ok(super::page::see_other(SIGN_IN_PATH));
    };
    let memberships = state.store.memberships(&signed_in.account_id).await?;
    Ok(match memberships.first() {
        Some(first) => super::page::see_other(&home_of(&first.tenant_id)),
        None => super::page::see_other(SIGN_IN_PATH),
    })
}

/// The sign-up form as sent. Missing fields read as empty, and are refused in words.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct SignUpForm {
    #[serde(default)]
    pub shop_name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
    /// The page's CSRF token.
    #[serde(default)]
    pub csrf: String,
}

#[derive(Template)]
#[template(path = "sign_up.html", blocks = ["form"])]
struct SignUpPage {
    layout: Layout,
    shop_name: String,
    email: String,
    errors: FormErrors,
}

#[utoipa::path(get, path = "/app/sign-up", tag = "dashboard",
    responses((status = 200, description = "The sign-up form (shop name, email, password)", content_type = "text/html", body = String),
        super::page::EdgeOnly))]
pub async fn sign_up_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (token, cookie) = csrf::for_signed_out_page(&headers, &state);
    let page = SignUpPage {
        layout: Layout::public("Create your account", token),
        shop_name: String::new(),
        email: String::new(),
        errors: FormErrors::default(),
    };
    with_cookies(render(StatusCode::OK, &page), cookie)
}

#[utoipa::path(post, path = "/app/sign-up", tag = "dashboard",
    request_body(content = SignUpForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "The tenant and its owner account are made and signed in: to the new tenant's overview"),
        (status = 400, description = "VALIDATION_FAILED: the form again, the error next to its field (shop name, email, password); nothing made", content_type = "text/html", body = String),
        (status = 403, description = "FORBIDDEN: a page saying the form's CSRF token is missing or wrong; nothing made", content_type = "text/html", body = String),
        (status = 409, description = "CONFLICT: the form again, saying next to the email that an account has it; nothing made", content_type = "text/html", body = String),
        super::page::EdgeOnly))]
pub async fn sign_up(
    State(state): State<AppState>,
    headers: HeaderMap,
    HxRequest(htmx): HxRequest,
    Form(form): Form<SignUpForm>,
) -> Result<Response, PageError> {
    let mut errors = FormErrors::default();
    let shop_name = accounts::shop_name(&form.shop_name)
        .map_err(|refusal| errors.push(refusal))
        .ok();
    let email = accounts::normalise_email(&form.email)
        .map_err(|refusal| errors.push(refusal))
        .ok();
    if let Err(refusal) =
        accounts::check_new_password(&form.password, email.as_deref().unwrap_or(""))
    {
        errors.push(refusal);
    }
    let (token, _) = csrf::for_signed_out_page(&headers, &state);
    let again = |errors: FormErrors| {
        let page = SignUpPage {
            layout: Layout::public("Create your account", token.clone()),
            shop_name: form.shop_name.trim().to_owned(),
            email: form.email.trim().to_owned(),
            errors,
        };
        let status = page.errors.status();
        if htmx {
            render(status, &page.as_form())
        } else {
            render(status, &page)
        }
    };
    let (Some(shop_name), Some(email), true) = (shop_name, email, errors.is_empty()) else {
        return Ok(again(errors));
    };
    let password = form.password.clone();
    let password_hash = tokio::task::spawn_blocking(move || accounts::hash_password(&password))
        .await
        .map_err(PageError::internal)?;
    let now = now_ms();
    let tenant = TenantRow {
        id: new_id("ten"),
        name: shop_name,
        tokens: 0,
        created_at: now,
    };
    let owner = AccountRow {
        id: new_id("acc"),
        email,
        password_hash,
        created_at: now,
        email_verified_at: None,
    };
    if state.store.sign_up(&tenant, &owner).await? == SignUp::EmailTaken {
        return Ok(again(FormErrors::one(
            "email",
            "An account with this email already exists. Sign in instead.",
            ErrorCode::Conflict,
        )));
    }
    let cookie = session::start(&state, &owner.id).await?;
    Ok(with_cookies(go_to(htmx, &home_of(&tenant.id)), [cookie]))
}

/// The sign-in form as sent.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct SignInForm {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
    /// The page's CSRF token.
    #[serde(default)]
    pub csrf: String,
}

#[derive(Template)]
#[template(path = "sign_in.html", blocks = ["form"])]
struct SignInPage {
    layout: Layout,
    email: String,
    errors: FormErrors,
}

#[utoipa::path(get, path = "/app/sign-in", tag = "dashboard",
    responses((status = 200, description = "The sign-in form (email, password)", content_type = "text/html", body = String),
        super::page::EdgeOnly))]
pub async fn sign_in_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (token, cookie) = csrf::for_signed_out_page(&headers, &state);
    let page = SignInPage {
        layout: Layout::public("Sign in", token),
        email: String::new(),
        errors: FormErrors::default(),
    };
    with_cookies(render(StatusCode::OK, &page), cookie)
}

/// The words of a limited sign-in: what holds it back, and when to try again.
fn limited_words(limit: &SignInLimit, now: i64) -> String {
    let minutes = (limit.retry_after_secs(now) + 59) / 60;
    let unit = if minutes == 1 { "minute" } else { "minutes" };
    format!(
        "{} Try again in {minutes} {unit} (after {} UTC).",
        limit.message(),
        rfc3339(limit.retry_at).get(11..16).unwrap_or_default()
    )
}

#[utoipa::path(post, path = "/app/sign-in", tag = "dashboard",
    request_body(content = SignInForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Signed in: to the overview of the account's first tenant"),
        (status = 400, description = "VALIDATION_FAILED: the form again, saying next to the email that it is not an address", content_type = "text/html", body = String),
        (status = 401, description = "UNAUTHORIZED: the form again, saying next to the password that the email or password is wrong (counted as a failure)", content_type = "text/html", body = String),
        (status = 403, description = "FORBIDDEN: a page saying the form's CSRF token is missing or wrong", content_type = "text/html", body = String),
        (status = 429, description = "RATE_LIMITED: too many failed sign-ins to this account or from this address; the form again saying when to try again (also Retry-After); the password was not checked", content_type = "text/html", body = String),
        super::page::EdgeOnly))]
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    HxRequest(htmx): HxRequest,
    Form(form): Form<SignInForm>,
) -> Result<Response, PageError> {
    let (token, _) = csrf::for_signed_out_page(&headers, &state);
    let again = |errors: FormErrors| {
        let page = SignInPage {
            layout: Layout::public("Sign in", token.clone()),
            email: form.email.trim().to_owned(),
            errors,
        };
        let status = page.errors.status();
        if htmx {
            render(status, &page.as_form())
        } else {
            render(status, &page)
        }
    };
    let email = match accounts::normalise_email(&form.email) {
        Ok(email) => email,
        Err(refusal) => {
            let mut errors = FormErrors::default();
            errors.push(refusal);
            return Ok(again(errors));
        }
    };
    let address = client_address(&headers);
    let now = now_ms();
    let (by_account, by_address) = state
        .store
        .sign_in_failures(&email, &address, accounts::sign_in_failures_cutoff(now))
        .await?;
    if let Some(limit) = accounts::sign_in_limit(&by_account, &by_address, now) {
        let errors = FormErrors::one(
            "password",
            limited_words(&limit, now),
            ErrorCode::RateLimited,
        );
        return Ok(with_retry_after(again(errors), limit.retry_after_secs(now)));
    }
    let account = state.store.find_account_by_email(&email).await?;
    let password = form.password.clone();
    let stored = account.as_ref().map(|a| a.password_hash.clone());
    let verified = tokio::task::spawn_blocking(move || {
        accounts::verify_password(&password, stored.as_deref())
    })
    .await
    .map_err(PageError::internal)?;
    let Some(account) = account.filter(|_| verified) else {
        state
            .store
            .record_sign_in_failure(
                &email,
                &address,
                now,
                accounts::sign_in_failures_cutoff(now),
            )
            .await?;
        return Ok(again(FormErrors::one(
            "password",
            "The email or password is wrong.",
            ErrorCode::Unauthorized,
        )));
    };
    state.store.clear_sign_in_failures(&email).await?;
    let cookie = session::start(&state, &account.id).await?;
    let memberships = state.store.memberships(&account.id).await?;
    let home = memberships
        .first()
        .map_or_else(|| "/app".to_owned(), |m| home_of(&m.tenant_id));
    Ok(with_cookies(go_to(htmx, &home), [cookie]))
}

#[utoipa::path(post, path = "/app/sign-out", tag = "dashboard",
    request_body(content = inline(CsrfOnlyForm), content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "The session is ended (in the store and the browser): to the sign-in page"),
        (status = 403, description = "FORBIDDEN: a page saying the form's CSRF token is missing or wrong; still signed in", content_type = "text/html", body = String),
        super::page::EdgeOnly))]
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    HxRequest(htmx): HxRequest,
) -> Result<Response, PageError> {
    if let Some(token) = session::cookie(&headers, SESSION_COOKIE) {
        state
            .store
            .delete_session(&accounts::session_token_hash(token))
            .await?;
    }
    Ok(with_cookies(
        go_to(htmx, SIGN_IN_PATH),
        [session::cleared_session_cookie(&state)],
    ))
}

/// A form that carries nothing but its CSRF token (a button).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CsrfOnlyForm {
    pub csrf: String,
}
