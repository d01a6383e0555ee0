//! The connect flows: `POST /api/v1/connections/{platform}/authorize` and WooCommerce's key
//! grant end to end against the fake store (its page auto-approving, its synchronous key POST
//! reaching the origin through the stand-in edge), the state's rules (single use, expiry,
//! tenant), declines, re-authorisation and the refusals' envelopes.

use crate::common;

use common::{Backend, Tenant, TestApp};
use e2e::harness::fake_woocommerce::FakeWooCommerce;
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

/// The public https address the platforms return to (a TLS terminator in front of the edge).
pub(crate) const CALLBACK_BASE: &str = "https://connect.edge.test";

async fn app_with_connect(backend: Backend) -> TestApp {
    TestApp::spawn_settings(backend, |s| {
        s.pipeline.enabled = false;
        s.connections.connect.callback_base_url = Some(CALLBACK_BASE.to_owned());
        s.connections.connect.ebay_client_id = Some("YourSend-app-PRD-1234".to_owned());
        s.connections.connect.ebay_ru_name =
            Some("YourSender_Inc-YourSend-app-PR-abcde".to_owned());
        s.connections.connect.ebay_auth_base_url = "https://auth.ebay.test".to_owned();
        s.connections.connect.etsy_client_id = Some("etsykeystring".to_owned());
    })
    .await
}

async fn fake_store(app: &TestApp) -> FakeWooCommerce {
    let store = FakeWooCommerce::start().await;
    store.reach_https_through(CALLBACK_BASE, &app.base);
    store
}

async fn authorize(
    app: &TestApp,
    tenant: &Tenant,
    platform: &str,
    body: Value,
) -> (StatusCode, Value) {
    app.post(
        &format!("/api/v1/connections/{platform}/authorize"),
        &tenant.key,
        body,
    )
    .await
}

/// The seller's browser at the store's grant page: where it is sent next (the store's 302),
/// or the page's status when it stays.
pub(crate) async fn visit(url: &str) -> Result<String, (StatusCode, String)> {
    let browser = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let response = browser.get(url).send().await.unwrap();
    match response.headers().get("location") {
        Some(location) if response.status() == StatusCode::FOUND => {
            Ok(location.to_str().unwrap().to_owned())
        }
        _ => Err((response.status(), response.text().await.unwrap())),
    }
}

/// The return page `location` (under CALLBACK_BASE) shows, reached through the edge.
pub(crate) async fn return_page(app: &TestApp, location: &str) -> (StatusCode, String) {
    let path = location
        .strip_prefix(CALLBACK_BASE)
        .unwrap_or_else(|| panic!("{location} is not under {CALLBACK_BASE}"));
    let response = app
        .client
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

pub(crate) async fn connections(app: &TestApp, tenant: &Tenant) -> Vec<Value> {
    let (status, body) = app.get("/api/v1/connections", &tenant.key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].as_array().unwrap().clone()
}

/// A state's attempt made to expire, as ten minutes passing would.
async fn expire(app: &TestApp, state: &str) {
    let sql = "UPDATE connect_attempts SET expires_at = 0 WHERE id = $1";
    if app.database_url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
        sqlx::query(sql).bind(state).execute(&pool).await.unwrap();
    } else {
        let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
        sqlx::query(sql).bind(state).execute(&pool).await.unwrap();
    }
}

async fn woocommerce_connect_makes_an_active_connection_with_webhooks(backend: Backend) {
    let app = app_with_connect(backend).await;
    let store = fake_store(&app).await;
    let tenant = app.tenant(0).await;
    let (status, started) = authorize(
        &app,
        &tenant,
        "woocommerce",
        json!({ "store_url": store.base_url }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let url = started["data"]["url"].as_str().unwrap();
    let state = started["data"]["state"].as_str().unwrap();
    assert!(started["data"]["expires_at"].is_string(), "{started}");
    let expected_page = format!(
        "{}/wc-auth/v1/authorize?app_name=YourSender&scope=read_write&user_id={state}\
         &return_url=https%3A%2F%2Fconnect.edge.test%2Fconnect%2Fwoocommerce%2Fcallback\
         &callback_url=https%3A%2F%2Fconnect.edge.test%2Fconnect%2Fwoocommerce%2Fkeys",
        store.base_url
    );
    assert_eq!(url, expected_page);

    let location = visit(url).await.expect("the store sends the seller back");
    assert_eq!(
        location,
        format!("{CALLBACK_BASE}/connect/woocommerce/callback?success=1&user_id={state}")
    );
    let grants = store.grants();
    assert_eq!(grants.len(), 1);
    assert_eq!(
        grants[0].callback_status,
        Some(200),
        "exactly 200 keeps the key"
    );
    assert!(grants[0].kept);

    let (status, page) = return_page(&app, &location).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Store connected"), "{page}");

    let made = connections(&app, &tenant).await;
    assert_eq!(made.len(), 1, "{made:?}");
    let connection = &made[0];
    assert_eq!(connection["platform"], "woocommerce");
    assert_eq!(connection["status"], "active");
    assert_eq!(connection["store_url"], store.base_url);
    assert!(connection["last_error"].is_null(), "{connection}");
    let names = connection["secrets_set"].as_array().unwrap();
    for name in ["webhook_secret", "consumer_key", "consumer_secret"] {
        assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
    }
    assert!(!connection.to_string().contains(&grants[0].consumer_secret));
    let webhooks = store.webhooks();
    let topics: Vec<&str> = webhooks.iter().map(|w| w.topic.as_str()).collect();
    assert_eq!(topics, ["order.created", "order.updated"]);
    for webhook in &webhooks {
        assert_eq!(
            webhook.delivery_url,
            connection["webhook_url"].as_str().unwrap()
        );
        assert!(webhook.secret.as_deref().is_some_and(|s| s.len() >= 32));
    }

    // WooCommerce's POST again with the same state: refused, so a second key would be deleted.
    let replay = json!({
        "key_id": 7, "user_id": state, "consumer_key": "ck_x", "consumer_secret": "cs_x",
        "key_permissions": "read_write",
    });
    let (status, body) = common::send(
        app.client
            .post(format!("{}/connect/woocommerce/keys", app.base))
            .json(&replay),
    )
    .await;
    common::assert_error(status, &body, StatusCode::CONFLICT, "CONFLICT");
    assert_eq!(connections(&app, &tenant).await.len(), 1);
}

async fn a_bad_state_is_refused_and_the_store_deletes_the_key(backend: Backend) {
    let app = app_with_connect(backend).await;
    let store = fake_store(&app).await;
    let tenant = app.tenant(0).await;
    // A grant page reached with a state the origin never issued.
    let forged = format!(
        "{}/wc-auth/v1/authorize?app_name=YourSender&scope=read_write&user_id=cst_{}\
         &return_url={CALLBACK_BASE}/connect/woocommerce/callback\
         &callback_url={CALLBACK_BASE}/connect/woocommerce/keys",
        store.base_url,
        "0".repeat(48)
    );
    let (status, page) = visit(&forged).await.expect_err("the store shows its error");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("unable to send the consumer data"), "{page}");
    let grants = store.grants();
    assert_eq!(grants[0].callback_status, Some(404));
    assert!(!grants[0].kept);

    // An expired state: refused the same way, nothing made.
    let (_, started) = authorize(
        &app,
        &tenant,
        "woocommerce",
        json!({ "store_url": store.base_url }),
    )
    .await;
    expire(&app, started["data"]["state"].as_str().unwrap()).await;
    let (status, _) = visit(started["data"]["url"].as_str().unwrap())
        .await
        .expect_err("the store shows its error");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(store.grants()[1].callback_status, Some(409));
    assert!(connections(&app, &tenant).await.is_empty());
    assert!(store.webhooks().is_empty());

    // A state of another platform, and one of no shape at all.
    let (_, ebay) = authorize(&app, &tenant, "ebay", json!({})).await;
    for user_id in [ebay["data"]["state"].as_str().unwrap(), "42"] {
        let body = json!({
            "key_id": 1, "user_id": user_id, "consumer_key": "ck_x", "consumer_secret": "cs_x",
            "key_permissions": "read_write",
        });
        let (status, body) = common::send(
            app.client
                .post(format!("{}/connect/woocommerce/keys", app.base))
                .json(&body),
        )
        .await;
        common::assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    // A body that is not WooCommerce's.
    let (status, body) = common::send(
        app.client
            .post(format!("{}/connect/woocommerce/keys", app.base))
            .json(&json!({ "user_id": 5 })),
    )
    .await;
    common::assert_error(status, &body, StatusCode::BAD_REQUEST, "INVALID_REQUEST");
    assert!(connections(&app, &tenant).await.is_empty());
}

async fn a_declined_grant_changes_nothing(backend: Backend) {
    let app = app_with_connect(backend).await;
    let store = fake_store(&app).await;
    store.approve_grants(false);
    let tenant = app.tenant(0).await;
    let (_, started) = authorize(
        &app,
        &tenant,
        "woocommerce",
        json!({ "store_url": store.base_url }),
    )
    .await;
    let state = started["data"]["state"].as_str().unwrap();
    let location = visit(started["data"]["url"].as_str().unwrap())
        .await
        .unwrap();
    assert!(
        location.ends_with(&format!("?success=0&user_id={state}")),
        "{location}"
    );
    let (status, page) = return_page(&app, &location).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        page.contains("was not connected. Nothing was changed."),
        "{page}"
    );
    assert!(store.grants().is_empty());
    assert!(connections(&app, &tenant).await.is_empty());
    // A return naming no attempt.
    let (status, page) = return_page(
        &app,
        &format!("{CALLBACK_BASE}/connect/woocommerce/callback?success=1&user_id=cst_nothing"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("unknown"), "{page}");
}

async fn reauthorising_gives_the_same_connection_new_keys(backend: Backend) {
    let app = app_with_connect(backend).await;
    let store = fake_store(&app).await;
    let tenant = app.tenant(0).await;
    let (_, first) = authorize(
        &app,
        &tenant,
        "woocommerce",
        json!({ "store_url": store.base_url }),
    )
    .await;
    visit(first["data"]["url"].as_str().unwrap()).await.unwrap();
    let id = connections(&app, &tenant).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, again) =
        authorize(&app, &tenant, "woocommerce", json!({ "connection_id": id })).await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    let location = visit(again["data"]["url"].as_str().unwrap()).await.unwrap();
    assert!(
        return_page(&app, &location)
            .await
            .1
            .contains("Store connected")
    );
    let after = connections(&app, &tenant).await;
    assert_eq!(after.len(), 1, "the same connection, not a second one");
    assert_eq!(after[0]["id"], id.as_str());
    assert_eq!(after[0]["status"], "active");
    assert_eq!(store.grants().len(), 2);
    assert_eq!(store.webhooks().len(), 2, "its webhooks stay as they were");

    // Another tenant cannot re-authorise it, and a connection of another platform is refused.
    let other = app.tenant(0).await;
    let (status, body) =
        authorize(&app, &other, "woocommerce", json!({ "connection_id": id })).await;
    common::assert_error(status, &body, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, body) = authorize(&app, &tenant, "ebay", json!({ "connection_id": id })).await;
    let error = common::assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(error["field"], "connection_id");
}

async fn authorize_builds_each_platform_page_and_refuses_bad_input(backend: Backend) {
    let app = app_with_connect(backend).await;
    let tenant = app.tenant(0).await;
    let (status, ebay) = authorize(&app, &tenant, "ebay", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{ebay}");
    let state = ebay["data"]["state"].as_str().unwrap();
    assert_eq!(
        ebay["data"]["url"],
        format!(
            "https://auth.ebay.test/oauth2/authorize?client_id=YourSend-app-PRD-1234\
             &redirect_uri=YourSender_Inc-YourSend-app-PR-abcde&response_type=code\
             &scope=https%3A%2F%2Fapi.ebay.com%2Foauth%2Fapi_scope\
             %20https%3A%2F%2Fapi.ebay.com%2Foauth%2Fapi_scope%2Fsell.fulfillment\
             %20https%3A%2F%2Fapi.ebay.com%2Foauth%2Fapi_scope%2Fcommerce.identity.readonly\
             %20https%3A%2F%2Fapi.ebay.com%2Foauth%2Fapi_scope%2Fcommerce.notification.subscription\
             &state={state}"
        )
    );
    let (status, etsy) = authorize(&app, &tenant, "etsy", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{etsy}");
    let url = reqwest::Url::parse(etsy["data"]["url"].as_str().unwrap()).unwrap();
    assert_eq!(
        url.as_str().split('?').next(),
        Some("https://www.etsy.com/oauth/connect")
    );
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["client_id"], "etsykeystring");
    assert_eq!(
        query["redirect_uri"],
        format!("{CALLBACK_BASE}/connect/etsy/callback")
    );
    assert_eq!(
        query["scope"],
        "transactions_r transactions_w listings_r shops_r"
    );
    assert_eq!(query["state"], etsy["data"]["state"].as_str().unwrap());
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["code_challenge"].len(), 43, "base64url of a SHA-256");
    assert_ne!(state, query["state"], "every attempt has its own state");

    let refusals = [
        (
            "woocommerce",
            json!({}),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
            Some("store_url"),
        ),
        (
            "woocommerce",
            json!({ "store_url": "http://10.0.0.7" }),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
            Some("store_url"),
        ),
        (
            "woocommerce",
            json!({ "store_url": "ftp://shop.example.com" }),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
            Some("store_url"),
        ),
        (
            "ebay",
            json!({ "store_url": "https://shop.example.com" }),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
            Some("store_url"),
        ),
        (
            "woocommerce",
            json!({ "store_url": "https://shop.example.com", "shop": 1 }),
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            None,
        ),
        (
            "amazon",
            json!({}),
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            None,
        ),
        (
            "woocommerce",
            json!({ "connection_id": "con_missing" }),
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            None,
        ),
    ];
    for (platform, body, expected, code, field) in refusals {
        let (status, answer) = authorize(&app, &tenant, platform, body.clone()).await;
        let error = common::assert_error(status, &answer, expected, code);
        if let Some(field) = field {
            assert_eq!(error["field"], field, "{platform} {body}: {answer}");
        }
    }
    // Without the write scope.
    let reader = app.key_with_scopes(&tenant, &["connections:read"]).await;
    let (status, body) = app
        .post("/api/v1/connections/ebay/authorize", &reader, json!({}))
        .await;
    common::assert_error(status, &body, StatusCode::FORBIDDEN, "FORBIDDEN");

    // An eBay app the operator has not configured.
    let bare = TestApp::spawn(backend).await;
    let tenant = bare.tenant(0).await;
    let (status, body) = authorize(&bare, &tenant, "ebay", json!({})).await;
    let error = common::assert_error(status, &body, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    assert_eq!(error["field"], "platform");
}

on_both_backends!(
    woocommerce_connect_makes_an_active_connection_with_webhooks,
    a_bad_state_is_refused_and_the_store_deletes_the_key,
    a_declined_grant_changes_nothing,
    reauthorising_gives_the_same_connection_new_keys,
    authorize_builds_each_platform_page_and_refuses_bad_input,
);
