//! Etsy's connect flow end to end against the fake Etsy: authorize, the seller's browser at
//! Etsy's connect page (auto-approving), its return to `/connect/etsy/callback` through the
//! stand-in edge, the PKCE code exchange and `getMe`; what the connection then holds, and
//! what a tampered verifier, a reused state and a decline leave behind.

use crate::common;
use crate::connect::{CALLBACK_BASE, connections, return_page, visit};

use common::{Backend, Tenant, TestApp};
use e2e::harness::fake_etsy::oauth::CONNECTED_SHOP_ID;
use e2e::harness::fake_etsy::{self, FakeEtsy};
use origin::crypto::MasterKey;
use origin::domain::connections::ConnectionSecrets;
use origin::ids::now_ms;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The public https address Etsy returns the seller to.
const REDIRECT_URI: &str = "https://connect.edge.test/connect/etsy/callback";

pub(crate) async fn etsy_app(backend: Backend, etsy: &FakeEtsy) -> TestApp {
    etsy.allow_redirect_uri(REDIRECT_URI);
    let base_url = etsy.base_url.clone();
    TestApp::spawn_settings(backend, move |s| {
        s.pipeline.enabled = false;
        s.pipeline.etsy_api_base_url = base_url.clone();
        s.pipeline.etsy_shared_secret = Some(fake_etsy::SHARED_SECRET.to_owned().into());
        s.connections.connect.callback_base_url = Some(CALLBACK_BASE.to_owned());
        s.connections.connect.etsy_client_id = Some(fake_etsy::KEYSTRING.to_owned());
        s.connections.connect.etsy_connect_base_url = base_url;
    })
    .await
}

fn master_key() -> MasterKey {
    MasterKey::from_hex(&"ab".repeat(32)).unwrap()
}

/// Starts a connect: the Etsy page to send the seller to and the state.
pub(crate) async fn start(app: &TestApp, tenant: &Tenant, body: Value) -> (String, String) {
    let (status, started) = app
        .post("/api/v1/connections/etsy/authorize", &tenant.key, body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let data = &started["data"];
    (
        data["url"].as_str().unwrap().to_owned(),
        data["state"].as_str().unwrap().to_owned(),
    )
}

/// Runs `sql` with `state` as `$1` (and `value` as `$2`) on the app's database.
async fn execute(app: &TestApp, sql: &str, state: &str, value: &str) {
    if app.database_url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
        let query = sqlx::query(sql).bind(state).bind(value);
        query.execute(&pool).await.unwrap();
    } else {
        let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
        let query = sqlx::query(sql).bind(state).bind(value);
        query.execute(&pool).await.unwrap();
    }
}

async fn etsy_connect_makes_an_active_shop_connection_with_its_tokens(backend: Backend) {
    let etsy = FakeEtsy::start().await;
    let app = etsy_app(backend, &etsy).await;
    let tenant = app.tenant(0).await;
    let (url, state) = start(&app, &tenant, json!({})).await;
    assert!(
        url.starts_with(&format!("{}/oauth/connect?", etsy.base_url)),
        "{url}"
    );

    let location = visit(&url).await.expect("Etsy sends the seller back");
    assert!(
        location.starts_with(&format!("{REDIRECT_URI}?code=")),
        "{location}"
    );
    assert!(location.ends_with(&format!("&state={state}")), "{location}");
    let before = now_ms();
    let (status, page) = return_page(&app, &location).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Etsy shop connected"), "{page}");
    assert!(page.contains(&CONNECTED_SHOP_ID.to_string()), "{page}");

    // The exchange as Etsy wants it: the keystring, the same redirect_uri, the verifier, no
    // secret and no Basic auth.
    let exchanges = etsy.code_exchanges();
    assert_eq!(exchanges.len(), 1, "{exchanges:?}");
    let exchange = &exchanges[0];
    assert_eq!(exchange.status, 200);
    assert!(!exchange.had_authorization);
    assert_eq!(exchange.form["client_id"], fake_etsy::KEYSTRING);
    assert_eq!(exchange.form["redirect_uri"], REDIRECT_URI);
    assert!(!exchange.form.contains_key("client_secret"));

    let made = connections(&app, &tenant).await;
    assert_eq!(made.len(), 1, "{made:?}");
    let connection = &made[0];
    assert_eq!(connection["platform"], "etsy");
    assert_eq!(connection["status"], "active");
    assert_eq!(connection["shop_id"], CONNECTED_SHOP_ID.to_string());
    assert_eq!(connection["account_id"], fake_etsy::USER_ID);
    for name in ["api_key", "access_token", "refresh_token"] {
        let names = connection["secrets_set"].as_array().unwrap();
        assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
    }
    assert!(
        connection["access_token_expires_at"].is_string(),
        "{connection}"
    );
    assert!(
        connection["refresh_token_expires_at"].is_string(),
        "{connection}"
    );

    let id = connection["id"].as_str().unwrap();
    let row = app
        .store
        .get_connection(&tenant.id, id)
        .await
        .unwrap()
        .unwrap();
    let after = now_ms();
    let access_end = row.tokens.access_expires_at.unwrap();
    assert!(
        (before + 3_600_000..=after + 3_600_000).contains(&access_end),
        "an hour: {access_end}"
    );
    let refresh_end = row.tokens.refresh_expires_at.unwrap();
    let ninety_days = 90 * 24 * 3_600_000;
    assert!((before + ninety_days..=after + ninety_days).contains(&refresh_end));
    let due = row.tokens.refresh_due_at.unwrap();
    assert!(
        due > before && due < access_end,
        "refreshed before it ends: {due}"
    );
    assert_eq!(
        row.tokens.token_generation, 1,
        "saved once through save_tokens"
    );
    let secrets =
        ConnectionSecrets::open(&master_key(), &tenant.id, id, &row.secrets_sealed).unwrap();
    let access = secrets.access_token.unwrap();
    let refresh = secrets.refresh_token.unwrap();
    assert!(etsy.access_token_works(&access), "the token Etsy granted");
    assert!(etsy.refresh_token_works(&refresh));
    assert_eq!(secrets.api_key.as_deref(), Some(fake_etsy::KEYSTRING));
    assert!(!connection.to_string().contains(&access));

    // The same return again: the state is used; nothing more is made or exchanged.
    let (status, page) = return_page(&app, &location).await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    assert!(page.contains("already been used"), "{page}");
    assert_eq!(etsy.code_exchanges().len(), 1);
    assert_eq!(connections(&app, &tenant).await.len(), 1);

    // Re-authorising the connection gives it new tokens under the same id.
    let (url, _) = start(&app, &tenant, json!({ "connection_id": id })).await;
    let location = visit(&url).await.unwrap();
    let (status, page) = return_page(&app, &location).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let made = connections(&app, &tenant).await;
    assert_eq!(made.len(), 1, "{made:?}");
    assert_eq!(made[0]["id"], id);
    let row = app
        .store
        .get_connection(&tenant.id, id)
        .await
        .unwrap()
        .unwrap();
    let renewed =
        ConnectionSecrets::open(&master_key(), &tenant.id, id, &row.secrets_sealed).unwrap();
    assert_ne!(renewed.access_token.as_deref(), Some(access.as_str()));
    assert!(etsy.access_token_works(renewed.access_token.as_deref().unwrap()));
}

async fn a_wrong_verifier_is_refused_by_etsy_and_shown_as_a_failed_connect(backend: Backend) {
    let etsy = FakeEtsy::start().await;
    let app = etsy_app(backend, &etsy).await;
    let tenant = app.tenant(0).await;
    let (url, state) = start(&app, &tenant, json!({})).await;
    // The attempt's verifier replaced by another one (its challenge no longer matches).
    let other = master_key().seal("0123456789abcdef0123456789abcdef0123456789abcdef".as_bytes());
    let sql = "UPDATE connect_attempts SET code_verifier_sealed = $2 WHERE id = $1";
    execute(&app, sql, &state, &other).await;

    let location = visit(&url).await.unwrap();
    let (status, page) = return_page(&app, &location).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(page.contains("Not connected"), "{page}");
    assert!(page.contains("Etsy refused the authorization"), "{page}");
    let exchanges = etsy.code_exchanges();
    assert_eq!(exchanges.len(), 1);
    assert_eq!(exchanges[0].status, 400, "the fake refused the verifier");
    assert!(connections(&app, &tenant).await.is_empty());
    // The state is spent: the same link cannot be tried again.
    let (status, _) = return_page(&app, &location).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

async fn a_declined_etsy_connect_changes_nothing(backend: Backend) {
    let etsy = FakeEtsy::start().await;
    let app = etsy_app(backend, &etsy).await;
    let tenant = app.tenant(0).await;
    etsy.deny_connect(true);
    let (url, state) = start(&app, &tenant, json!({})).await;
    let location = visit(&url).await.unwrap();
    assert_eq!(
        location,
        format!(
            "{REDIRECT_URI}?error=access_denied&error_description=The+user+denied+the+request&state={state}"
        )
    );
    let (status, page) = return_page(&app, &location).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(page.contains("Access was not granted on Etsy"), "{page}");
    assert!(page.contains("Nothing was changed"), "{page}");
    assert!(etsy.code_exchanges().is_empty());
    assert!(connections(&app, &tenant).await.is_empty());
    let attempt = app
        .store
        .get_connect_attempt(&state)
        .await
        .unwrap()
        .unwrap();
    assert!(attempt.used_at.is_none() && attempt.outcome.is_none());

    // A state never issued, and a redirect URL Etsy does not know: pages, nothing made.
    let forged = format!("/connect/etsy/callback?code=x&state=cst_{}", "0".repeat(48));
    let (status, page) = return_page(&app, &format!("{CALLBACK_BASE}{forged}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{page}");
    let unregistered = url.replace("connect.edge.test", "elsewhere.test");
    let (status, page) = visit(&unregistered).await.unwrap_err();
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        page.contains("The requested redirect URL is not permitted."),
        "{page}"
    );
    assert!(connections(&app, &tenant).await.is_empty());
}

on_both_backends!(
    etsy_connect_makes_an_active_shop_connection_with_its_tokens,
    a_wrong_verifier_is_refused_by_etsy_and_shown_as_a_failed_connect,
    a_declined_etsy_connect_changes_nothing,
);
