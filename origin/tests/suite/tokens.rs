//! Tokens kept alive, against the fakes of eBay's and Etsy's token endpoints: eBay user tokens
//! refreshed before they end (and at once when a call is refused), Etsy's rotating refresh
//! tokens under concurrent refreshes, refused refresh tokens marking the connection
//! `needs_reconnect` with an alert, and one refresh per connection across pipelines sharing a
//! database.

use crate::common;
use crate::pipeline_platforms::{
    EBAY_ORDER, code_product, delivered_count, etsy_receipt, ingest, wait_until,
};

use std::sync::Arc;
use std::time::Duration;

use common::{Backend, PUBLIC_BASE_URL, Tenant, TestApp};
use e2e::harness::fake_ebay::{self, FakeEbay};
use e2e::harness::fake_ebay_tokens::SELLER_REFRESH_TOKEN;
use e2e::harness::fake_etsy::{self, FakeEtsy};
use origin::config::PipelineSettings;
use origin::domain::tokens::TokenTimes;
use origin::jobs::Pipeline;
use origin::store::Store;
use origin::store::tokens::{Reconnect, SaveTokens, TokenSet};
use reqwest::StatusCode;
use serde_json::{Value, json};

const ETSY_PAGE: &str = include_str!("../../../fixtures/etsy/get-shop-receipts.response.json");
const SHOP: &str = "12345678";

/// The pipeline settings of a test app whose eBay and Etsy are the fakes.
fn with_fakes(p: &mut PipelineSettings, ebay: Option<&FakeEbay>, etsy: Option<&FakeEtsy>) {
    if let Some(ebay) = ebay {
        p.ebay_api_base_url = ebay.base_url.clone();
        p.tokens.ebay_client_id = Some(fake_ebay::CLIENT_ID.into());
        p.tokens.ebay_client_secret = Some(fake_ebay::CLIENT_SECRET.into());
    }
    if let Some(etsy) = etsy {
        p.etsy_api_base_url = etsy.base_url.clone();
        p.etsy_api_key = Some(fake_etsy::KEYSTRING.into());
        p.etsy_shared_secret = Some(fake_etsy::SHARED_SECRET.into());
        p.etsy_poll_interval = Duration::from_millis(500);
    }
    p.tick = Duration::from_millis(50);
}

async fn ebay_app(backend: Backend, ebay: &FakeEbay, pipeline: bool) -> TestApp {
    TestApp::spawn_settings(backend, |s| {
        with_fakes(&mut s.pipeline, Some(ebay), None);
        s.pipeline.enabled = pipeline;
        s.connections.ebay_identity_base_url = Some(ebay.base_url.clone());
    })
    .await
}

/// Connects the fake's seller with `access_token` and their refresh token; the connection.
async fn connect_ebay(app: &TestApp, tenant: &Tenant, access_token: &str) -> Value {
    let (status, body) = app
        .post(
            "/api/v1/connections",
            &tenant.key,
            json!({"platform": "ebay", "verification_token": "v".repeat(40),
                   "access_token": access_token, "refresh_token": SELLER_REFRESH_TOKEN}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"].clone()
}

async fn connect_etsy(app: &TestApp, tenant: &Tenant, access_token: &str) -> Value {
    let (status, body) = app
        .post(
            "/api/v1/connections",
            &tenant.key,
            json!({"platform": "etsy", "shop_id": SHOP, "access_token": access_token,
                   "refresh_token": fake_etsy::REFRESH_TOKEN}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"].clone()
}

async fn connection(app: &TestApp, tenant: &Tenant) -> Value {
    let (_, body) = app.get("/api/v1/connections", &tenant.key).await;
    body["data"][0].clone()
}

async fn alerts(app: &TestApp, tenant: &Tenant) -> Vec<Value> {
    let (_, body) = app.get("/api/v1/alerts", &tenant.key).await;
    body["data"].as_array().cloned().unwrap_or_default()
}

async fn wait_for_status(app: &TestApp, tenant: &Tenant, status: &str) -> Value {
    wait_until(&format!("the connection {status}"), 20, || async {
        match connection(app, tenant).await {
            c if c["status"] == status => Ok(()),
            c => Err(c.to_string()),
        }
    })
    .await;
    connection(app, tenant).await
}

/// A pipeline of its own (as another origin process would run) over its own handle on the
/// test app's database.
async fn another_pipeline(
    app: &TestApp,
    configure: impl FnOnce(&mut PipelineSettings),
) -> Pipeline {
    let store: Arc<dyn Store> = origin::store::connect(&app.database_url).await.unwrap();
    let mut settings = PipelineSettings::defaults(app.data_dir.path(), PUBLIC_BASE_URL);
    configure(&mut settings);
    Pipeline::new(
        store,
        origin::crypto::MasterKey::from_hex(&"ab".repeat(32)).unwrap(),
        settings,
        common::outbound_to_fakes(),
    )
    .unwrap()
}

async fn an_ebay_token_of_seconds_is_refreshed_and_orders_are_still_fetched(backend: Backend) {
    let ebay = FakeEbay::start().await;
    let app = ebay_app(backend, &ebay, true).await;
    let tenant = app.tenant(10).await;
    code_product(&app, &tenant, json!({"ebay_item_id": "296512345678"}), 6).await;
    code_product(&app, &tenant, json!({"ebay_sku": "EBOOK-RUST-PDF"}), 6).await;
    // The pasted token lives a few seconds, and so does each one a refresh brings.
    ebay.set_user_token_lifetime(5);
    let first = ebay.issue_user_token();
    ebay.set_user_token_lifetime(3);
    let created = connect_ebay(&app, &tenant, &first).await;
    // A pasted token says nothing of its end: it is refreshed at once, and learns it.
    assert!(created["access_token_expires_at"].is_null(), "{created}");
    wait_until("the first refresh", 10, || async {
        match connection(&app, &tenant).await {
            c if c["access_token_expires_at"].is_string() => Ok(()),
            c => Err(c.to_string()),
        }
    })
    .await;
    wait_until("the first token ended", 10, || async {
        if ebay.user_token_works(&first) {
            Err("still works".into())
        } else {
            Ok(())
        }
    })
    .await;
    ingest(&app, &tenant, "ebay", "evt_1", EBAY_ORDER).await;
    wait_until("the eBay order delivered", 30, || async {
        match delivered_count(&app, &tenant).await {
            1 => Ok(()),
            n => Err(format!("{n} delivered")),
        }
    })
    .await;
    // Tokens of 3 s are refreshed half-way through their life, again and again: a later
    // order, several lifetimes on, is fetched too.
    let refreshes = ebay.user_token_refreshes();
    wait_until("three more refreshes", 15, || async {
        match ebay.user_token_refreshes() {
            n if n >= refreshes + 3 => Ok(()),
            n => Err(format!("{n} refreshes")),
        }
    })
    .await;
    let later = EBAY_ORDER
        .replace("13-12345-67890", "13-12345-67891")
        .replace("5d0c1f3e-", "7f2e3a5b-");
    ingest(&app, &tenant, "ebay", "evt_2", &later).await;
    wait_until("the later order delivered", 30, || async {
        match delivered_count(&app, &tenant).await {
            2 => Ok(()),
            n => Err(format!("{n} delivered")),
        }
    })
    .await;
    for body in ebay.refresh_bodies() {
        assert!(body.contains("grant_type=refresh_token"), "{body}");
        assert!(
            !body.contains("scope="),
            "no scope: all consented ones ({body})"
        );
    }
    assert_eq!(connection(&app, &tenant).await["status"], "active");
    let alerts = alerts(&app, &tenant).await;
    assert!(
        alerts
            .iter()
            .all(|a| a["kind"] != "connection_needs_reconnect"),
        "{alerts:?}"
    );
}

async fn an_ebay_call_refused_with_401_refreshes_at_once(backend: Backend) {
    let ebay = FakeEbay::start().await;
    let app = ebay_app(backend, &ebay, true).await;
    let tenant = app.tenant(10).await;
    code_product(&app, &tenant, json!({"ebay_item_id": "296512345678"}), 3).await;
    code_product(&app, &tenant, json!({"ebay_sku": "EBOOK-RUST-PDF"}), 3).await;
    connect_ebay(&app, &tenant, &ebay.issue_user_token()).await;
    wait_until("the first refresh", 10, || async {
        match ebay.user_token_refreshes() {
            1 => Ok(()),
            n => Err(format!("{n} refreshes")),
        }
    })
    .await;
    // The 2-hour token stops working early (eBay ended it): getOrder's 401 asks for a new one.
    ebay.expire_user_tokens();
    ingest(&app, &tenant, "ebay", "evt_1", EBAY_ORDER).await;
    wait_until("the eBay order delivered", 30, || async {
        match delivered_count(&app, &tenant).await {
            1 => Ok(()),
            n => Err(format!("{n} delivered")),
        }
    })
    .await;
    assert_eq!(ebay.user_token_refreshes(), 2);
}

async fn an_ebay_refresh_refused_with_invalid_grant_asks_for_a_reconnect(backend: Backend) {
    let ebay = FakeEbay::start().await;
    ebay.set_refresh_refused(true);
    let app = ebay_app(backend, &ebay, true).await;
    let tenant = app.tenant(10).await;
    let created = connect_ebay(&app, &tenant, &ebay.issue_user_token()).await;
    let connection = wait_for_status(&app, &tenant, "needs_reconnect").await;
    assert_eq!(connection["id"], created["id"]);
    let alerts = alerts(&app, &tenant).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["kind"], "connection_needs_reconnect");
    assert_eq!(alerts[0]["subject"], created["id"]);
    assert_eq!(alerts[0]["detail"]["reason"], "refresh_token_refused");
    assert_eq!(alerts[0]["detail"]["platform"], "ebay");
    // Not refreshed again: only the seller can mend it.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(ebay.refresh_bodies().len(), 1);
}

async fn a_revoked_etsy_refresh_token_asks_for_a_reconnect(backend: Backend) {
    let etsy = FakeEtsy::start().await;
    let app =
        TestApp::spawn_configured(backend, 64 * 1024, |p| with_fakes(p, None, Some(&etsy))).await;
    let tenant = app.tenant(10).await;
    connect_etsy(&app, &tenant, &etsy.issue_access_token()).await;
    wait_until("the first rotation", 10, || async {
        match etsy.refreshes() {
            1 => Ok(()),
            n => Err(format!("{n} refreshes")),
        }
    })
    .await;
    // The seller changed their Etsy password: every token is dead. The next poll's 401 asks
    // for a refresh, which Etsy refuses: `refresh_token is revoked`.
    etsy.revoke_tokens();
    wait_for_status(&app, &tenant, "needs_reconnect").await;
    let alerts = alerts(&app, &tenant).await;
    assert_eq!(
        alerts[0]["detail"]["reason"], "refresh_token_refused",
        "{alerts:?}"
    );
    assert_eq!(alerts[0]["detail"]["platform"], "etsy");
    // No more polling for it.
    let polls = etsy.receipt_requests();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(etsy.receipt_requests(), polls);
}

async fn two_concurrent_etsy_refreshes_rotate_once_and_the_connection_keeps_working(
    backend: Backend,
) {
    let etsy = FakeEtsy::start().await;
    // No pipeline in the app: the two below are the only ones refreshing.
    let app = TestApp::spawn_configured(backend, 64 * 1024, |p| {
        with_fakes(p, None, Some(&etsy));
        p.enabled = false;
    })
    .await;
    let tenant = app.tenant(10).await;
    code_product(&app, &tenant, json!({"etsy_listing_id": 4242}), 3).await;
    let created = connect_etsy(&app, &tenant, &etsy.issue_access_token()).await;
    let id = created["id"].as_str().unwrap();
    let first = another_pipeline(&app, |p| with_fakes(p, None, Some(&etsy))).await;
    let second = another_pipeline(&app, |p| with_fakes(p, None, Some(&etsy))).await;
    // Both callers saw their access token refused at once; Etsy answers each refresh slowly.
    etsy.expire_access_tokens();
    etsy.set_refresh_delay(Duration::from_millis(400));
    let row = app
        .store
        .get_connection(&tenant.id, id)
        .await
        .unwrap()
        .unwrap();
    let (a, b) = tokio::join!(first.refresh_now(&row), second.refresh_now(&row));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(etsy.refreshes(), 1, "one rotation");
    assert_eq!(
        a.access_token, b.access_token,
        "the loser uses the winner's tokens"
    );
    assert!(etsy.access_token_works(a.access_token.as_deref().unwrap()));
    let rotated = a.refresh_token.clone().unwrap();
    assert!(
        etsy.refresh_token_works(&rotated),
        "the stored refresh token is Etsy's newest"
    );
    assert_eq!(b.refresh_token.as_deref(), Some(rotated.as_str()));

    // The connection still works: polled, and refreshed again with the rotated token.
    etsy.set_refresh_delay(Duration::ZERO);
    let template = serde_json::from_str::<Value>(ETSY_PAGE).unwrap()["results"][0].clone();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    etsy.put_receipt(SHOP, etsy_receipt(&template, 7_000_001, 4242, now));
    let first = Arc::new(first);
    first.spawn();
    wait_until("the receipt delivered", 30, || async {
        match delivered_count(&app, &tenant).await {
            1 => Ok(()),
            n => Err(format!("{n} delivered")),
        }
    })
    .await;
    etsy.expire_access_tokens();
    let row = app
        .store
        .get_connection(&tenant.id, id)
        .await
        .unwrap()
        .unwrap();
    let again = first.refresh_now(&row).await.unwrap();
    assert_eq!(etsy.refreshes(), 2);
    assert_ne!(again.refresh_token.as_deref(), Some(rotated.as_str()));
    assert_eq!(connection(&app, &tenant).await["status"], "active");
}

async fn a_stale_token_set_never_overwrites_a_newer_one(backend: Backend) {
    let etsy = FakeEtsy::start().await;
    let app = TestApp::spawn_configured(backend, 64 * 1024, |p| p.enabled = false).await;
    let tenant = app.tenant(0).await;
    let created = connect_etsy(&app, &tenant, &etsy.issue_access_token()).await;
    let id = created["id"].as_str().unwrap();
    let row = app
        .store
        .get_connection(&tenant.id, id)
        .await
        .unwrap()
        .unwrap();
    let generation = row.tokens.token_generation;
    let times = TokenTimes {
        access_expires_at: Some(1),
        refresh_expires_at: Some(2),
        refresh_due_at: Some(0),
    };
    let refreshed = SaveTokens::Refreshed {
        generation,
        claim: "clm_x",
    };
    let set = |sealed| TokenSet {
        secrets_sealed: sealed,
        times,
    };
    let store = &app.store;
    let won = store
        .save_tokens(&tenant.id, id, set(&row.secrets_sealed), refreshed, 10)
        .await
        .unwrap();
    assert_eq!(won, Some(generation + 1));
    // The slower of two refreshes that read one generation: nothing written.
    let lost = store
        .save_tokens(&tenant.id, id, set("stale"), refreshed, 11)
        .await
        .unwrap();
    assert_eq!(lost, None);
    // Nor may it mark the connection broken for a refresh token already replaced.
    let detail = json!({"reason": "refresh_token_refused"});
    let which = Reconnect::Connection {
        connection_id: id,
        generation: Some(generation),
    };
    let marked = store
        .mark_needs_reconnect(&tenant.id, which, &detail, 12)
        .await
        .unwrap();
    assert_eq!(marked, 0);
    let stored = store.get_connection(&tenant.id, id).await.unwrap().unwrap();
    assert_eq!(stored.secrets_sealed, row.secrets_sealed);
    assert_eq!(stored.status, "active");
    assert_eq!(stored.tokens.access_expires_at, Some(1));
    // Another tenant's id answers like a missing one.
    let other = app.tenant(0).await;
    let replaced = store
        .save_tokens(&other.id, id, set("x"), SaveTokens::Replace, 13)
        .await
        .unwrap();
    assert_eq!(replaced, None);
    let (_, body) = app
        .get(&format!("/api/v1/connections/{id}"), &tenant.key)
        .await;
    assert_eq!(
        body["data"]["access_token_expires_at"],
        "1970-01-01T00:00:00.001Z"
    );
}

async fn two_pipelines_on_one_database_refresh_each_connection_once(backend: Backend) {
    let ebay = FakeEbay::start().await;
    let app = ebay_app(backend, &ebay, false).await;
    // Four tenants' connections with a refresh token each (and no seller named: one eBay seller
    // is one connection, and the fake knows one seller).
    let mut tenants = Vec::new();
    for _ in 0..4 {
        let tenant = app.tenant(0).await;
        let (status, body) = app
            .post(
                "/api/v1/connections",
                &tenant.key,
                json!({"platform": "ebay", "verification_token": "v".repeat(40),
                       "refresh_token": SELLER_REFRESH_TOKEN}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        tenants.push(tenant);
    }
    let first = another_pipeline(&app, |p| with_fakes(p, Some(&ebay), None)).await;
    let second = another_pipeline(&app, |p| with_fakes(p, Some(&ebay), None)).await;
    let (a, b) = tokio::join!(first.refresh_due_once(), second.refresh_due_once());
    assert_eq!(
        a.unwrap() + b.unwrap(),
        4,
        "each due connection claimed once"
    );
    assert_eq!(ebay.user_token_refreshes(), 4);
    // Refreshed, nothing is due for a while: neither refreshes again.
    let (a, b) = tokio::join!(first.refresh_due_once(), second.refresh_due_once());
    assert_eq!(a.unwrap() + b.unwrap(), 0);
    assert_eq!(ebay.user_token_refreshes(), 4);
    for tenant in &tenants {
        let connection = connection(&app, tenant).await;
        assert!(
            connection["access_token_expires_at"].is_string(),
            "{connection}"
        );
    }
}

/// Saves a token set for the connection as a connect callback would: the seller's consent
/// with the refresh token's end eBay answered, the refresh due at once.
async fn consented(app: &TestApp, tenant: &Tenant, id: &str, refresh_expires_at: i64) {
    let row = app
        .store
        .get_connection(&tenant.id, id)
        .await
        .unwrap()
        .unwrap();
    let now = origin::ids::now_ms();
    let set = TokenSet {
        secrets_sealed: &row.secrets_sealed,
        times: TokenTimes {
            access_expires_at: Some(now + 7_200_000),
            refresh_expires_at: Some(refresh_expires_at),
            refresh_due_at: Some(now),
        },
    };
    let saved = app
        .store
        .save_tokens(&tenant.id, id, set, SaveTokens::Replace, now)
        .await
        .unwrap();
    assert_eq!(saved, Some(row.tokens.token_generation + 1));
}

async fn an_ebay_refresh_token_near_its_end_warns_and_at_its_end_asks_for_a_reconnect(
    backend: Backend,
) {
    let ebay = FakeEbay::start().await;
    let app = ebay_app(backend, &ebay, false).await;
    let tenant = app.tenant(0).await;
    let created = connect_ebay(&app, &tenant, &ebay.issue_user_token()).await;
    let id = created["id"].as_str().unwrap();
    let day = 24 * 3600 * 1000;
    consented(&app, &tenant, id, origin::ids::now_ms() + 10 * day).await;
    let pipeline = another_pipeline(&app, |p| with_fakes(p, Some(&ebay), None)).await;
    assert_eq!(pipeline.refresh_due_once().await.unwrap(), 1);
    assert_eq!(
        ebay.user_token_refreshes(),
        1,
        "still refreshed: it works for 10 days"
    );
    let refreshed = connection(&app, &tenant).await;
    assert_eq!(refreshed["status"], "active", "{refreshed}");
    assert!(
        refreshed["refresh_token_expires_at"].is_string(),
        "{refreshed}"
    );
    let warned = alerts(&app, &tenant).await;
    assert_eq!(
        warned[0]["kind"], "connection_needs_reconnect",
        "{warned:?}"
    );
    assert_eq!(warned[0]["detail"]["reason"], "refresh_token_ending");
    assert_eq!(
        warned[0]["detail"]["refresh_token_expires_at"],
        refreshed["refresh_token_expires_at"]
    );

    // Its end passed: not sent to eBay at all, the seller must connect again.
    consented(&app, &tenant, id, origin::ids::now_ms() - 1).await;
    assert_eq!(pipeline.refresh_due_once().await.unwrap(), 1);
    assert_eq!(ebay.user_token_refreshes(), 1);
    assert_eq!(connection(&app, &tenant).await["status"], "needs_reconnect");
    let alerts = alerts(&app, &tenant).await;
    assert_eq!(
        alerts.len(),
        1,
        "one alert per connection, refreshed: {alerts:?}"
    );
    assert_eq!(alerts[0]["detail"]["reason"], "refresh_token_expired");
    // A new consent makes it whole again, and the alert goes.
    consented(&app, &tenant, id, origin::ids::now_ms() + 500 * day).await;
    assert_eq!(connection(&app, &tenant).await["status"], "active");
    let alerts = app.get("/api/v1/alerts", &tenant.key).await.1;
    assert_eq!(alerts["data"], json!([]), "{alerts}");
}

on_both_backends!(
    an_ebay_token_of_seconds_is_refreshed_and_orders_are_still_fetched,
    an_ebay_call_refused_with_401_refreshes_at_once,
    an_ebay_refresh_refused_with_invalid_grant_asks_for_a_reconnect,
    a_revoked_etsy_refresh_token_asks_for_a_reconnect,
    two_concurrent_etsy_refreshes_rotate_once_and_the_connection_keeps_working,
    a_stale_token_set_never_overwrites_a_newer_one,
    two_pipelines_on_one_database_refresh_each_connection_once,
    an_ebay_refresh_token_near_its_end_warns_and_at_its_end_asks_for_a_reconnect,
);
