//! The outbound platform clients against local fakes that answer like the real APIs.

use e2e::harness::fake_etsy::{self, FakeEtsy};
use e2e::harness::fake_woocommerce::{self, FakeWooCommerce};
use origin::domain::orders::OrderState;
use origin::platforms::client::PlatformError;
use origin::platforms::etsy::EtsyClient;
use origin::platforms::oauth::TokenError;
use origin::platforms::woocommerce::WooRestClient;
use serde_json::{Value, json};

use crate::common::outbound_to_fakes;

fn woo_order(id: u64, status: &str, modified_gmt: &str) -> Value {
    let mut order: Value = serde_json::from_slice(include_bytes!(
        "../../../fixtures/woocommerce/order-created.body"
    ))
    .unwrap();
    order["id"] = json!(id);
    order["status"] = json!(status);
    order["date_modified_gmt"] = json!(modified_gmt);
    order
}

#[tokio::test]
async fn woocommerce_orders_are_paged_oldest_first_and_only_paid() {
    let store = FakeWooCommerce::start().await;
    for i in 0..150u64 {
        let status = if i % 10 == 0 { "pending" } else { "processing" };
        store.put_order(woo_order(
            1000 + i,
            status,
            &format!("2025-03-14T10:{:02}:{:02}", i / 60, i % 60),
        ));
    }
    store.put_order(woo_order(999, "completed", "2025-03-13T23:59:59"));
    let client = WooRestClient::new(
        outbound_to_fakes(),
        &store.base_url,
        fake_woocommerce::CONSUMER_KEY,
        fake_woocommerce::CONSUMER_SECRET,
    )
    .unwrap();

    let first = client
        .paid_orders_modified_after("2025-03-14T00:00:00", 1)
        .await
        .unwrap();
    assert_eq!(first.total_pages, 2);
    assert_eq!(first.orders.len(), 100);
    let second = client
        .paid_orders_modified_after("2025-03-14T00:00:00", 2)
        .await
        .unwrap();
    let ids: Vec<u64> = first
        .orders
        .iter()
        .chain(&second.orders)
        .map(|e| e.order.order_id.parse().unwrap())
        .collect();
    assert_eq!(
        ids.len(),
        135,
        "150 orders, 15 pending, the completed one is older"
    );
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "oldest modification first"
    );
    assert!(
        first
            .orders
            .iter()
            .all(|e| e.order.state == OrderState::Paid)
    );
}

#[tokio::test]
async fn woocommerce_refuses_wrong_credentials() {
    let store = FakeWooCommerce::start().await;
    let client =
        WooRestClient::new(outbound_to_fakes(), &store.base_url, "ck_wrong", "cs_wrong").unwrap();
    let error = client
        .paid_orders_modified_after("2025-01-01T00:00:00", 1)
        .await
        .unwrap_err();
    assert!(
        matches!(error, PlatformError::Unauthorized { status: 401, .. }),
        "{error}"
    );
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn woocommerce_webhook_registration_returns_the_store_id_and_keeps_the_secret() {
    let store = FakeWooCommerce::start().await;
    let client = WooRestClient::new(
        outbound_to_fakes(),
        &format!("{}/", store.base_url),
        fake_woocommerce::CONSUMER_KEY,
        fake_woocommerce::CONSUMER_SECRET,
    )
    .unwrap();
    let id = client
        .register_webhook(
            "order.updated",
            "http://127.0.0.1:9/webhooks/woocommerce/t1",
            "s3cret",
        )
        .await
        .unwrap();
    let hooks = store.webhooks();
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0].id, id);
    assert_eq!(hooks[0].topic, "order.updated");
    assert_eq!(hooks[0].secret.as_deref(), Some("s3cret"));

    let error = client
        .register_webhook("order.paid", "http://x/", "s")
        .await
        .unwrap_err();
    assert!(
        matches!(error, PlatformError::Rejected { status: 400, .. }),
        "{error}"
    );
}

fn etsy_receipt(id: u64, updated: u64) -> Value {
    let page: Value = serde_json::from_slice(include_bytes!(
        "../../../fixtures/etsy/get-shop-receipts.response.json"
    ))
    .unwrap();
    let mut receipt = page["results"][0].clone();
    receipt["receipt_id"] = json!(id);
    receipt["update_timestamp"] = json!(updated);
    receipt
}

fn etsy_client(fake: &FakeEtsy) -> EtsyClient {
    EtsyClient::new(
        outbound_to_fakes(),
        &fake.base_url,
        fake_etsy::KEYSTRING,
        fake_etsy::SHARED_SECRET,
    )
    .unwrap()
}

#[tokio::test]
async fn etsy_receipts_page_by_offset_and_report_the_daily_budget() {
    let etsy = FakeEtsy::start().await;
    for i in 0..130 {
        etsy.put_receipt("31415926", etsy_receipt(5000 + i, 1_741_946_000 + i));
    }
    let token = etsy.issue_access_token();
    let client = etsy_client(&etsy);
    let (first, budget) = client
        .paid_receipts_since("31415926", &token, 1_741_946_010, 0)
        .await
        .unwrap();
    assert_eq!(first.total, 120);
    assert_eq!(first.receipts.len(), 100);
    assert_eq!(budget.per_day, Some(fake_etsy::DAILY_LIMIT as u64));
    assert_eq!(
        budget.remaining_today,
        Some(fake_etsy::DAILY_LIMIT as u64 - 1)
    );
    let (second, _) = client
        .paid_receipts_since("31415926", &token, 1_741_946_010, 100)
        .await
        .unwrap();
    assert_eq!(second.receipts.len(), 20);
    assert_eq!(second.receipts.last().unwrap().order.order_id, "5129");
    let query = &etsy.receipt_queries()[0];
    assert!(
        query.contains("sort_on=updated") && query.contains("sort_order=asc"),
        "{query}"
    );
}

#[tokio::test]
async fn etsy_429_carries_retry_after_and_expired_tokens_refresh() {
    let etsy = FakeEtsy::start().await;
    etsy.put_receipt("1", etsy_receipt(1, 10));
    let client = etsy_client(&etsy);
    let token = etsy.issue_access_token();
    etsy.throttle_next(2);
    let error = client
        .paid_receipts_since("1", &token, 0, 0)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            PlatformError::RateLimited {
                retry_after_secs: 2
            }
        ),
        "{error}"
    );
    assert!(error.is_retryable());

    etsy.expire_access_tokens();
    let error = client
        .paid_receipts_since("1", &token, 0, 0)
        .await
        .unwrap_err();
    assert!(
        matches!(error, PlatformError::Unauthorized { status: 401, .. }),
        "{error}"
    );
    let tokens = client.refresh(fake_etsy::REFRESH_TOKEN).await.unwrap();
    assert_eq!(tokens.expires_in, Some(3600));
    // Etsy rotates: a new refresh token, and the one used is dead.
    let rotated = tokens.refresh_token.clone().unwrap();
    assert_ne!(rotated, fake_etsy::REFRESH_TOKEN);
    assert!(!etsy.refresh_token_works(fake_etsy::REFRESH_TOKEN));
    let (page, _) = client
        .paid_receipts_since("1", &tokens.access_token, 0, 0)
        .await
        .unwrap();
    assert_eq!(page.receipts.len(), 1);

    let bad = client.refresh(fake_etsy::REFRESH_TOKEN).await.unwrap_err();
    assert!(matches!(bad, TokenError::InvalidGrant), "{bad}");
    etsy.revoke_tokens();
    let revoked = client.refresh(&rotated).await.unwrap_err();
    assert!(matches!(revoked, TokenError::InvalidGrant), "{revoked}");
}

#[tokio::test]
async fn etsy_without_the_shared_secret_is_refused() {
    let etsy = FakeEtsy::start().await;
    let token = etsy.issue_access_token();
    let client = EtsyClient::new(
        outbound_to_fakes(),
        &etsy.base_url,
        fake_etsy::KEYSTRING,
        "wrong",
    )
    .unwrap();
    let error = client
        .paid_receipts_since("1", &token, 0, 0)
        .await
        .unwrap_err();
    assert!(
        matches!(error, PlatformError::Unauthorized { status: 403, .. }),
        "{error}"
    );
    let error = client
        .paid_receipts_since("1/../2", &token, 0, 0)
        .await
        .unwrap_err();
    assert!(matches!(error, PlatformError::Unreadable(_)), "{error}");
}
