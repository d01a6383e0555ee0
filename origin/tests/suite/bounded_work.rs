//! Work one tenant could make unbounded for everyone: a store whose pages never end must not
//! hold back another tenant's polling, a poller run that outlived its claim must not record
//! its outcome, and units that wait for ever must not keep another tenant's waiting units from
//! resuming. Through the real pipeline (and the store for the claims), on both backends.

use crate::common;

use std::time::Duration;

use common::{Backend, Tenant, TestApp};
use e2e::harness::fake_etsy::{self, FakeEtsy};
use e2e::harness::fake_woocommerce::FakeWooCommerce;
use origin::config::AdminCommand;
use origin::ids::now_ms;
use origin::store::pipeline::PollerOutcome;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared::internal::INGEST_PATH;

use crate::pipeline_platforms::{connect_with_rest_keys, delivered_count, orders, wait_until};

const ETSY_PAGE: &str = include_str!("../../../fixtures/etsy/get-shop-receipts.response.json");
const WOO_BODY: &str = include_str!("../../../fixtures/woocommerce/order-created.body");

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A paid WooCommerce order `id` of one line: `quantity` × WooCommerce product `product_id`,
/// modified now.
fn woo_order(id: u64, product_id: u64, quantity: u64) -> Value {
    let mut order: Value = serde_json::from_str(WOO_BODY).unwrap();
    order["id"] = id.into();
    let mut line = order["line_items"][1].clone();
    line["id"] = (id * 10).into();
    line["product_id"] = product_id.into();
    line["variation_id"] = 0.into();
    line["quantity"] = quantity.into();
    order["line_items"] = json!([line]);
    order["date_modified_gmt"] = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
        .into();
    order
}

/// A paid receipt of one unit of `listing_id`, shaped like the fixture's first receipt.
fn etsy_receipt(receipt_id: u64, listing_id: u64, updated: u64) -> Value {
    let template = serde_json::from_str::<Value>(ETSY_PAGE).unwrap()["results"][0].clone();
    crate::pipeline_platforms::etsy_receipt(&template, receipt_id, listing_id, updated)
}

/// A CODE product with `mappings` and `codes` codes (none: it waits for stock).
async fn code_product(app: &TestApp, tenant: &Tenant, mappings: Value, codes: usize) -> String {
    let (status, body) = app
        .post(
            "/api/v1/products",
            &tenant.key,
            json!({"sku": format!("SKU-{mappings}"), "name": "Licence", "type": "CODE", "mappings": mappings}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    if codes > 0 {
        import_codes(app, tenant, &id, "C", codes).await;
    }
    id
}

async fn import_codes(app: &TestApp, tenant: &Tenant, product_id: &str, prefix: &str, n: usize) {
    let list: Vec<String> = (0..n).map(|i| format!("{prefix}-{i:05}")).collect();
    let (status, body) = app
        .post(
            &format!("/api/v1/products/{product_id}/codes"),
            &tenant.key,
            json!(list),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn connect_etsy(app: &TestApp, tenant: &Tenant, etsy: &FakeEtsy) {
    let (status, body) = app
        .post(
            "/api/v1/connections",
            &tenant.key,
            json!({"platform": "etsy", "shop_id": "12345678", "access_token": etsy.issue_access_token(),
                   "refresh_token": fake_etsy::REFRESH_TOKEN}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn an_endless_woocommerce_store_does_not_hold_back_another_tenants_etsy_polling(
    backend: Backend,
) {
    let etsy = FakeEtsy::start().await;
    let endless = [
        FakeWooCommerce::start().await,
        FakeWooCommerce::start().await,
    ];
    let base = etsy.base_url.clone();
    let app = TestApp::spawn_configured(backend, 64 * 1024, |p| {
        p.etsy_api_base_url = base;
        p.etsy_api_key = Some(fake_etsy::KEYSTRING.into());
        p.etsy_shared_secret = Some(fake_etsy::SHARED_SECRET.into());
        p.etsy_poll_interval = Duration::from_secs(1);
        p.woo_reconcile_interval = Duration::from_secs(1);
        p.tick = Duration::from_millis(50);
        p.bounds.poll_max_pages = 3;
        p.bounds.poll_concurrency = 2;
        p.bounds.poll_per_tenant = 1;
    })
    .await;
    // Tenant W: two stores that claim a million pages, each page slow and never empty.
    let hostile = app.tenant(10).await;
    for (n, store) in endless.iter().enumerate() {
        connect_with_rest_keys(&app, &hostile, store).await;
        store.put_order(woo_order(70 + n as u64, 999, 1));
        store.claim_endless_pages(1_000_000);
        store.slow_down_order_lists(Duration::from_millis(200));
    }
    // Tenant E: an Etsy shop, connected after W's stores (its poller is the newest).
    let tenant = app.tenant(10).await;
    code_product(&app, &tenant, json!({"etsy_listing_id": 4343}), 3).await;
    connect_etsy(&app, &tenant, &etsy).await;
    wait_until("the endless stores read", 30, || async {
        match endless[0].pages_requested().len() {
            n if n >= 2 => Ok(()),
            n => Err(format!("{n} pages")),
        }
    })
    .await;
    etsy.put_receipt("12345678", etsy_receipt(8_100_001, 4343, unix_now()));
    wait_until("the Etsy receipt delivered", 20, || async {
        match delivered_count(&app, &tenant).await {
            1 => Ok(()),
            n => Err(format!("{n} delivered")),
        }
    })
    .await;
    // Each run of an endless store stopped after 3 pages and the next went on from there:
    // the pages only ever advance, past one run's worth.
    wait_until("the endless sweep carried across runs", 30, || async {
        let pages = endless[0].pages_requested();
        match pages.last() {
            Some(&last) if last > 6 => Ok(()),
            _ => Err(format!("{pages:?}")),
        }
    })
    .await;
    for store in &endless {
        let pages = store.pages_requested();
        assert!(
            pages.windows(2).all(|w| w[1] == w[0] + 1),
            "never restarted, never skipped: {pages:?}"
        );
    }
}

/// A tenant with `stores.len()` WooCommerce connections (REST keys) on an app without workers.
async fn woo_tenant(app: &TestApp, stores: &[FakeWooCommerce]) -> Tenant {
    let tenant = app.tenant(1).await;
    for store in stores {
        connect_with_rest_keys(app, &tenant, store).await;
    }
    tenant
}

fn outcome(checkpoint: i64, continuation: i64, next_run_at: i64) -> PollerOutcome {
    PollerOutcome {
        checkpoint,
        continuation,
        high_water: checkpoint + 5,
        next_run_at,
        error: None,
    }
}

async fn a_poller_run_that_outlived_its_claim_cannot_record_its_outcome(backend: Backend) {
    let store = FakeWooCommerce::start().await;
    let app = TestApp::spawn(backend).await;
    woo_tenant(&app, std::slice::from_ref(&store)).await;
    let now = now_ms();
    app.store.ensure_pollers(now).await.unwrap();
    let first = app.store.claim_pollers(now, 1_000, 10, 5).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(
        app.store
            .claim_pollers(now + 500, 1_000, 10, 5)
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );
    // The first run outlives its lease and another worker claims the poller.
    let second = app
        .store
        .claim_pollers(now + 1_500, 1_000, 10, 5)
        .await
        .unwrap();
    assert_eq!(second.len(), 1);
    let (stale, newest) = (&first[0], &second[0]);
    assert_ne!(stale.claim_token, newest.claim_token);
    let written = app
        .store
        .finish_poller(
            &stale.id,
            stale.claim_token.as_deref().unwrap(),
            &outcome(111, 7, now),
            now + 1_600,
        )
        .await
        .unwrap();
    assert!(!written, "the stale run records nothing");
    // The newest claim still holds the lease: the stale finish did not free it.
    assert!(
        app.store
            .claim_pollers(now + 1_700, 1_000, 10, 5)
            .await
            .unwrap()
            .is_empty()
    );
    let written = app
        .store
        .finish_poller(
            &newest.id,
            newest.claim_token.as_deref().unwrap(),
            &outcome(222, 3, now + 2_000),
            now + 1_800,
        )
        .await
        .unwrap();
    assert!(written);
    let next = app
        .store
        .claim_pollers(now + 2_000, 1_000, 10, 5)
        .await
        .unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(
        (next[0].checkpoint, next[0].continuation, next[0].high_water),
        (222, 3, 227),
        "the newest claim's outcome, continuation included"
    );
}

async fn one_tenants_pollers_take_at_most_their_share_of_the_claims(backend: Backend) {
    let many = [
        FakeWooCommerce::start().await,
        FakeWooCommerce::start().await,
        FakeWooCommerce::start().await,
    ];
    let one = [FakeWooCommerce::start().await];
    let app = TestApp::spawn(backend).await;
    let busy = woo_tenant(&app, &many).await;
    let other = woo_tenant(&app, &one).await;
    let now = now_ms();
    app.store.ensure_pollers(now).await.unwrap();
    let claimed = app.store.claim_pollers(now, 60_000, 10, 1).await.unwrap();
    let mut tenants: Vec<&str> = claimed.iter().map(|p| p.tenant_id.as_str()).collect();
    tenants.sort_unstable();
    let mut expected = vec![busy.id.as_str(), other.id.as_str()];
    expected.sort_unstable();
    assert_eq!(tenants, expected, "one poller per tenant, not three of one");
    assert!(
        app.store
            .claim_pollers(now, 60_000, 10, 1)
            .await
            .unwrap()
            .is_empty(),
        "the busy tenant's running poller counts against its share"
    );
    let running = claimed.iter().find(|p| p.tenant_id == busy.id).unwrap();
    app.store
        .finish_poller(
            &running.id,
            running.claim_token.as_deref().unwrap(),
            &outcome(1, 0, now + 60_000),
            now,
        )
        .await
        .unwrap();
    let next = app.store.claim_pollers(now, 60_000, 10, 1).await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].tenant_id, busy.id);
    assert_ne!(next[0].id, running.id);
}

async fn etsy_receipts_page_on_across_runs(backend: Backend) {
    let etsy = FakeEtsy::start().await;
    let base = etsy.base_url.clone();
    let app = TestApp::spawn_configured(backend, 64 * 1024, |p| {
        p.etsy_api_base_url = base;
        p.etsy_api_key = Some(fake_etsy::KEYSTRING.into());
        p.etsy_shared_secret = Some(fake_etsy::SHARED_SECRET.into());
        p.etsy_poll_interval = Duration::from_secs(1);
        p.tick = Duration::from_millis(50);
        p.bounds.poll_max_pages = 1;
    })
    .await;
    let tenant = app.tenant(200).await;
    code_product(&app, &tenant, json!({"etsy_listing_id": 4242}), 110).await;
    let now = unix_now();
    for n in 0..105 {
        etsy.put_receipt("12345678", etsy_receipt(9_000_000 + n, 4242, now - 100 + n));
    }
    connect_etsy(&app, &tenant, &etsy).await;
    wait_until("105 Etsy orders delivered", 40, || async {
        match delivered_count(&app, &tenant).await {
            105 => Ok(()),
            n => Err(format!("{n} delivered")),
        }
    })
    .await;
    // One page per run: the second page came from the next run, at the offset the first
    // left on the poller's row.
    let queries = etsy.receipt_queries();
    let second = queries
        .iter()
        .position(|q| q.contains("offset=100"))
        .unwrap_or_else(|| panic!("{queries:?}"));
    assert!(
        queries[..second].iter().all(|q| q.contains("offset=0")),
        "{queries:?}"
    );
}

async fn ingest(app: &TestApp, tenant: &Tenant, edge_id: &str, order: &Value) {
    let event = json!({
        "edge_event_id": edge_id, "tenant_id": tenant.id, "platform": "woocommerce",
        "received_at_ms": 1_764_000_000_000u64, "headers": {}, "body": order.to_string(),
    });
    let (status, answer) = app
        .edge(Method::POST, INGEST_PATH, &event.to_string())
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

/// The delivery status of every item of the tenant's orders.
async fn item_statuses(app: &TestApp, tenant: &Tenant) -> Vec<String> {
    orders(app, tenant)
        .await
        .iter()
        .flat_map(|o| o["items"].as_array().unwrap().clone())
        .map(|i| i["delivery_status"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn wait_statuses(app: &TestApp, tenant: &Tenant, what: &str, expected: &[&str], secs: u64) {
    wait_until(what, secs, || async {
        let statuses = item_statuses(app, tenant).await;
        if statuses == expected {
            Ok(())
        } else {
            Err(format!("{statuses:?}"))
        }
    })
    .await;
}

async fn waiting_units_of_one_tenant_do_not_starve_another_tenants(backend: Backend) {
    let app = TestApp::spawn_configured(backend, 64 * 1024, |p| {
        p.tick = Duration::from_millis(50);
        p.bounds.resume_batch = 5;
    })
    .await;
    // Tenant A: 12 units, oldest of all, waiting for stock that never comes.
    let a = app.tenant(100).await;
    code_product(&app, &a, json!({"woocommerce_product_id": 801}), 0).await;
    for n in 0..4 {
        ingest(&app, &a, &format!("evt_a{n}"), &woo_order(100 + n, 801, 3)).await;
    }
    wait_statuses(&app, &a, "A's units waiting", &["awaiting_stock"; 4], 30).await;
    // Tenant B: a unit waiting for tokens; tenant C: two waiting for codes.
    let b = app.tenant(0).await;
    code_product(&app, &b, json!({"woocommerce_product_id": 802}), 2).await;
    ingest(&app, &b, "evt_b", &woo_order(200, 802, 1)).await;
    let c = app.tenant(10).await;
    let c_product = code_product(&app, &c, json!({"woocommerce_product_id": 803}), 0).await;
    ingest(&app, &c, "evt_c", &woo_order(300, 803, 2)).await;
    wait_statuses(&app, &b, "B's unit waiting", &["awaiting_tokens"], 30).await;
    wait_statuses(&app, &c, "C's units waiting", &["awaiting_stock"], 30).await;
    // Long enough for the sweep to go round A's backlog several times.
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    origin::admin::run(
        app.store.as_ref(),
        AdminCommand::AddTokens {
            tenant: b.id.clone(),
            amount: 5,
        },
    )
    .await
    .unwrap();
    wait_statuses(
        &app,
        &b,
        "B's unit delivered after its top-up",
        &["delivered"],
        10,
    )
    .await;
    import_codes(&app, &c, &c_product, "NEW", 2).await;
    wait_statuses(
        &app,
        &c,
        "C's units delivered after the import",
        &["delivered"],
        10,
    )
    .await;
    assert_eq!(item_statuses(&app, &a).await, ["awaiting_stock"; 4]);
}

on_both_backends!(
    an_endless_woocommerce_store_does_not_hold_back_another_tenants_etsy_polling,
    a_poller_run_that_outlived_its_claim_cannot_record_its_outcome,
    one_tenants_pollers_take_at_most_their_share_of_the_claims,
    etsy_receipts_page_on_across_runs,
    waiting_units_of_one_tenant_do_not_starve_another_tenants,
);
