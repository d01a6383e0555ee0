//! Etsy's `order.paid` through the whole system: the fake Etsy signs the flat envelope with
//! Standard Webhooks and POSTs it to the worker's one endpoint; the worker verifies it, routes
//! the shop to its tenant and queues it; the origin fetches the receipt from the fake and
//! delivers it, once. A bad signature is a 401 and leaves nothing stored.

use std::time::Duration;

use e2e::harness::fake_etsy::webhooks::{WEBHOOK_SECRET, order_paid_body, paid_receipt, signed};
use e2e::harness::fake_etsy::{self, FakeEtsy};
use e2e::harness::{error_code, wait_for};
use e2e::{EdgeSystem, OriginApi, SystemOptions};
use reqwest::Method;
use serde_json::{Value, json};

const SHOP: u64 = 12_345_678;

/// The worker and origin with the fake Etsy behind the origin (polled only hourly, so what
/// arrives comes by webhook) and the app's webhook secret at the worker.
async fn etsy_system() -> (FakeEtsy, EdgeSystem) {
    let etsy = FakeEtsy::start().await;
    let options = SystemOptions {
        vars: vec![("ETSY_WEBHOOK_SECRET".into(), WEBHOOK_SECRET.into())],
        origin_env: vec![
            ("ETSY_API_BASE_URL".into(), etsy.base_url.clone()),
            ("ETSY_API_KEY".into(), fake_etsy::KEYSTRING.into()),
            ("ETSY_SHARED_SECRET".into(), fake_etsy::SHARED_SECRET.into()),
            ("ETSY_POLL_INTERVAL_SECS".into(), "3600".into()),
        ],
        ..SystemOptions::default()
    };
    let system = EdgeSystem::start(options).await;
    (etsy, system)
}

/// A code product mapped to Etsy listing 4242 and a connection of shop 12345678.
async fn connect_shop(api: &OriginApi, etsy: &FakeEtsy) {
    api.code_product(
        "ETSY-KEY",
        json!({"etsy_listing_id": 4242}),
        &["ETSY-CODE-1", "ETSY-CODE-2"],
    )
    .await;
    let (status, connection) = api
        .call(
            Method::POST,
            "/api/v1/connections",
            Some(json!({"platform": "etsy", "shop_id": SHOP.to_string(),
                        "access_token": etsy.issue_access_token(),
                        "refresh_token": fake_etsy::REFRESH_TOKEN})),
        )
        .await;
    assert_eq!(status, 201, "{connection}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_etsy_order_paid_is_fetched_and_delivered_once() {
    let (etsy, system) = etsy_system().await;
    let (_tenant, api) = system.tenant("Etsy shop");
    connect_shop(&api, &etsy).await;
    // The connection's first poll has run (the next is an hour away): what comes, comes by
    // webhook.
    wait_for("the first poll", Duration::from_secs(20), async || {
        (etsy.receipt_requests() > 0).then_some(())
    })
    .await;
    etsy.put_receipt(&SHOP.to_string(), paid_receipt(4_100_001));
    let url = system.edge.url("/webhooks/etsy");

    let answer = etsy
        .post_order_paid(&url, WEBHOOK_SECRET, SHOP, 4_100_001)
        .await;
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["data"]["accepted"], true, "{body}");
    // The same order.paid again (a retry, or a second message about the receipt): nothing new.
    let retry = signed(
        WEBHOOK_SECRET,
        "msg_4100001_retry",
        e2e::harness::unix_now(),
        order_paid_body(SHOP, 4_100_001),
    );
    assert_eq!(etsy.deliver(&url, &retry).await.status(), 200);

    let orders = api
        .orders_when(|o| o.len() == 1 && o[0]["status"] == "delivered")
        .await;
    assert_eq!(orders[0]["platform"], "etsy", "{orders:?}");
    assert!(
        etsy.single_receipt_requests() >= 1,
        "the origin fetched the receipt"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let orders = api.orders("limit=100").await;
    assert_eq!(orders.len(), 1, "delivered once: {orders:?}");
    assert_eq!(api.token_balance().await, 99, "charged once");

    // A shop no connection has: acknowledged (Etsy must not retry it for days), not stored.
    let answer = etsy.post_order_paid(&url, WEBHOOK_SECRET, 999_999, 1).await;
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["data"]["accepted"], false, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_badly_signed_etsy_webhook_is_refused_and_stores_nothing() {
    let (etsy, system) = etsy_system().await;
    let (_tenant, api) = system.tenant("Etsy shop");
    // No receipt at the fake: the poller stores nothing, so any Etsy event is a delivery's.
    connect_shop(&api, &etsy).await;
    let url = system.edge.url("/webhooks/etsy");
    let now = e2e::harness::unix_now();
    let body = order_paid_body(SHOP, 4_200_001);

    let wrong_secret = signed(
        "whsec_b3RoZXItc2VjcmV0LW5vdC1ldHN5cy1rZXk=",
        "msg_bad_1",
        now,
        body.clone(),
    );
    let stale = signed(WEBHOOK_SECRET, "msg_bad_2", now - 600, body.clone());
    let mut reserialised = signed(WEBHOOK_SECRET, "msg_bad_3", now, body.clone());
    reserialised.body =
        serde_json::to_string_pretty(&serde_json::from_str::<Value>(&body).unwrap()).unwrap();
    let mut unversioned = signed(WEBHOOK_SECRET, "msg_bad_4", now, body.clone());
    unversioned.signature = unversioned.signature.trim_start_matches("v1,").to_owned();
    for delivery in [wrong_secret, stale, reserialised, unversioned] {
        let answer = etsy.deliver(&url, &delivery).await;
        assert_eq!(answer.status(), 401, "{}", delivery.id);
        assert_eq!(error_code(answer).await, "UNAUTHORIZED");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        api.events("platform=etsy").await.is_empty(),
        "nothing stored"
    );
    assert_eq!(etsy.single_receipt_requests(), 0, "nothing fetched");
    assert!(api.orders("limit=100").await.is_empty());
}
