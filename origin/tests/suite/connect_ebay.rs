//! eBay's connect flow end to end against the fake eBay: authorize → the fake's consent page
//! (auto-approving, its code URL-encoded on the wire) → the seller's browser back at
//! `/connect/ebay/callback` through the stand-in edge → the code exchanged, the seller named
//! by getUser, the connection made with its tokens and their expiries, and the seller
//! subscribed to ORDER_CONFIRMATION. Declines, replays, a double-encoded code, a missing
//! scope and re-authorisation.

use crate::common;

use common::{Backend, PUBLIC_BASE_URL, Tenant, TestApp};
use e2e::harness::fake_ebay::{self, FakeEbay, SELLER_USER_ID};
use e2e::harness::fake_ebay_oauth::RU_NAME;
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

/// The public https address eBay sends the seller back to (the RuName's accepted URL's host).
const CALLBACK_BASE: &str = "https://connect.edge.test";
const DESTINATION: &str = "dest-7f3e0c52-orders";

pub(crate) async fn app_with_ebay(backend: Backend, ebay: &FakeEbay) -> TestApp {
    ebay.consents()
        .set_accept_url(&format!("{CALLBACK_BASE}/connect/ebay/callback"));
    TestApp::spawn_settings(backend, |s| {
        s.pipeline.enabled = false;
        s.pipeline.ebay_api_base_url = ebay.base_url.clone();
        s.connections.ebay_identity_base_url = Some(ebay.base_url.clone());
        let connect = &mut s.connections.connect;
        connect.callback_base_url = Some(CALLBACK_BASE.to_owned());
        connect.ebay_client_id = Some(fake_ebay::CLIENT_ID.to_owned());
        connect.ebay_client_secret = Some(fake_ebay::CLIENT_SECRET.into());
        connect.ebay_ru_name = Some(RU_NAME.to_owned());
        connect.ebay_auth_base_url = ebay.base_url.clone();
        connect.ebay_notification_destination_id = Some(DESTINATION.to_owned());
    })
    .await
}

/// Starts a connect attempt and follows eBay's consent page: where eBay sends the seller back.
pub(crate) async fn consent(app: &TestApp, tenant: &Tenant, body: Value) -> String {
    let (status, started) = app
        .post("/api/v1/connections/ebay/authorize", &tenant.key, body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let browser = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let page = browser
        .get(started["data"]["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::FOUND);
    let location = page.headers()["location"].to_str().unwrap().to_owned();
    let state = started["data"]["state"].as_str().unwrap();
    assert!(
        location.starts_with(&format!(
            "{CALLBACK_BASE}/connect/ebay/callback?state={state}"
        )),
        "{location}"
    );
    location
}

/// The seller's browser at `location` (under CALLBACK_BASE), through the edge.
pub(crate) async fn come_back(app: &TestApp, location: &str) -> (StatusCode, String) {
    let path = location.strip_prefix(CALLBACK_BASE).unwrap();
    let response = app
        .client
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn connections(app: &TestApp, tenant: &Tenant) -> Vec<Value> {
    let (status, body) = app.get("/api/v1/connections", &tenant.key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].as_array().unwrap().clone()
}

fn ms_of(rfc3339: &Value) -> i64 {
    let text = rfc3339
        .as_str()
        .unwrap_or_else(|| panic!("{rfc3339} is a time"));
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .timestamp_millis()
}

async fn ebay_connect_makes_an_active_connection_of_the_seller(backend: Backend) {
    let ebay = FakeEbay::start().await;
    let app = app_with_ebay(backend, &ebay).await;
    let tenant = app.tenant(0).await;
    let location = consent(&app, &tenant, json!({})).await;
    assert!(location.contains("&code=v%5E1.1%23i%5E1%23"), "{location}");
    assert!(location.ends_with("&expires_in=299"), "{location}");

    let before = origin::ids::now_ms();
    let (status, page) = come_back(&app, &location).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("eBay account connected"), "{page}");

    // The code went to eBay exactly as it arrived, with the RuName.
    let exchanges = ebay.consents().exchanges();
    assert_eq!(exchanges.len(), 1);
    let wire_code = location
        .split("&code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    assert!(
        exchanges[0].contains(&format!("code={wire_code}&")),
        "{exchanges:?}"
    );
    assert!(exchanges[0].starts_with("grant_type=authorization_code&"));
    assert!(exchanges[0].ends_with(&format!("redirect_uri={RU_NAME}")));

    let made = connections(&app, &tenant).await;
    assert_eq!(made.len(), 1, "{made:?}");
    let connection = &made[0];
    assert_eq!(connection["platform"], "ebay");
    assert_eq!(connection["status"], "active");
    assert_eq!(connection["account_id"], SELLER_USER_ID);
    // Notified at the app's one endpoint, whose challenge the app's token answers.
    assert_eq!(
        connection["endpoint_url"],
        format!("{PUBLIC_BASE_URL}/webhooks/ebay")
    );
    assert!(connection["last_error"].is_null(), "{connection}");
    let names = connection["secrets_set"].as_array().unwrap();
    assert_eq!(names, &["access_token", "refresh_token"], "{connection}");
    // 7200 s and 47304000 s from the exchange.
    let access = ms_of(&connection["access_token_expires_at"]) - before;
    assert!((7_190_000..=7_210_000).contains(&access), "{connection}");
    let refresh = ms_of(&connection["refresh_token_expires_at"]) - before;
    assert!(
        (47_303_990_000..=47_304_010_000).contains(&refresh),
        "{connection}"
    );

    // Subscribed to ORDER_CONFIRMATION with the seller's own token.
    let subscriptions = ebay.consents().subscriptions();
    assert_eq!(subscriptions.len(), 1, "{subscriptions:?}");
    assert_eq!(subscriptions[0].user_id, SELLER_USER_ID);
    assert_eq!(subscriptions[0].body["topicId"], "ORDER_CONFIRMATION");
    assert_eq!(subscriptions[0].body["destinationId"], DESTINATION);

    // The same return again: the state is used, nothing more happens.
    let (status, page) = come_back(&app, &location).await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    assert!(page.contains("already been used"), "{page}");
    assert_eq!(ebay.consents().exchanges().len(), 1);
    assert_eq!(connections(&app, &tenant).await.len(), 1);
}

async fn a_double_encoded_or_stale_code_is_refused(backend: Backend) {
    let ebay = FakeEbay::start().await;
    let app = app_with_ebay(backend, &ebay).await;
    let tenant = app.tenant(0).await;
    // A code encoded once more on its way (`%5E` as `%255E`) is not the code eBay gave.
    let location = consent(&app, &tenant, json!({})).await;
    let (head, tail) = location.split_once("&code=").unwrap();
    let (code, rest) = tail.split_once('&').unwrap();
    let doubled = format!("{head}&code={}&{rest}", code.replace('%', "%25"));
    let (status, page) = come_back(&app, &doubled).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(page.contains("eBay refused the approval"), "{page}");
    assert!(
        ebay.consents().exchanges()[0].contains("code=v%255E1.1"),
        "the refused code is the doubled one"
    );
    // Its state is spent: the right code cannot complete it any more.
    let (status, _) = come_back(&app, &location).await;
    assert_eq!(status, StatusCode::CONFLICT);

    // A code past its 5 minutes.
    let location = consent(&app, &tenant, json!({})).await;
    ebay.consents().expire_codes();
    let (status, page) = come_back(&app, &location).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(connections(&app, &tenant).await.is_empty());

    // A state that was never issued.
    let unknown = location.replacen("state=cst_", "state=cst_0", 1);
    let (status, page) = come_back(&app, &unknown).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{page}");
    assert!(connections(&app, &tenant).await.is_empty());
    assert!(ebay.consents().subscriptions().is_empty());
}

async fn a_declined_consent_changes_nothing(backend: Backend) {
    let ebay = FakeEbay::start().await;
    let app = app_with_ebay(backend, &ebay).await;
    let tenant = app.tenant(0).await;
    ebay.consents().set_declining(true);
    let location = consent(&app, &tenant, json!({})).await;
    assert!(!location.contains("code="), "{location}");
    let (status, page) = come_back(&app, &location).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(page.contains("Nothing was changed"), "{page}");
    assert!(ebay.consents().exchanges().is_empty());
    assert!(connections(&app, &tenant).await.is_empty());
}

async fn reauthorising_keeps_the_connection(backend: Backend) {
    let ebay = FakeEbay::start().await;
    let app = app_with_ebay(backend, &ebay).await;
    let tenant = app.tenant(0).await;
    // Granted without the subscription scope: connected, with the refusal as a warning.
    ebay.consents().set_without_subscription_scope(true);
    let location = consent(&app, &tenant, json!({})).await;
    let (status, page) = come_back(&app, &location).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let first = connections(&app, &tenant).await[0].clone();
    assert_eq!(first["status"], "active");
    let warning = first["last_error"].as_str().unwrap_or_default();
    assert!(
        warning.contains("ORDER_CONFIRMATION") && warning.contains("195011"),
        "{first}"
    );
    let id = first["id"].as_str().unwrap();
    let (status, _) = app
        .post(
            &format!("/api/v1/connections/{id}/deactivate"),
            &tenant.key,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    ebay.consents().set_without_subscription_scope(false);
    let location = consent(&app, &tenant, json!({ "connection_id": id })).await;
    let (status, page) = come_back(&app, &location).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let now = connections(&app, &tenant).await;
    assert_eq!(now.len(), 1, "{now:?}");
    assert_eq!(now[0]["id"], id);
    assert_eq!(now[0]["status"], "active");
    assert_eq!(now[0]["account_id"], SELLER_USER_ID);
    assert!(now[0]["last_error"].is_null(), "{}", now[0]);
    assert!(now[0]["access_token_expires_at"].is_string());
    assert_eq!(ebay.consents().exchanges().len(), 2);
    assert_eq!(ebay.consents().subscriptions().len(), 1);
}

on_both_backends!(
    ebay_connect_makes_an_active_connection_of_the_seller,
    a_double_encoded_or_stale_code_is_refused,
    a_declined_consent_changes_nothing,
    reauthorising_keeps_the_connection,
);
