//! The seller's browser in a connect flow, as plain HTTP (the real one is `browser.rs`): it
//! follows no redirect by itself, so a test sees where each page sends it, and it reaches the
//! return page the platform sends it to through the system's public address.

use reqwest::StatusCode;
use reqwest::redirect::Policy;

/// Visits a platform's page: where its 302 sends the browser next, or the page's status and
/// text when it stays.
pub async fn visit(url: &str) -> Result<String, (StatusCode, String)> {
    let browser = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("a browser without redirects");
    let response = browser.get(url).send().await.expect("the page answers");
    match response.headers().get("location") {
        Some(location) if response.status() == StatusCode::FOUND => {
            Ok(location.to_str().expect("a readable Location").to_owned())
        }
        _ => Err((response.status(), response.text().await.unwrap_or_default())),
    }
}

/// The page at `location`, a URL under the public address `public_base` that the system
/// answers at `base`: its status and text.
pub async fn return_page(base: &str, public_base: &str, location: &str) -> (StatusCode, String) {
    let path = location
        .strip_prefix(public_base)
        .unwrap_or_else(|| panic!("{location} is not under {public_base}"));
    let response = reqwest::get(format!("{base}{path}"))
        .await
        .expect("the return page answers");
    (response.status(), response.text().await.unwrap_or_default())
}
