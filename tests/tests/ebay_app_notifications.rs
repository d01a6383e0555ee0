//! The app's one eBay notification endpoint, through the worker under `wrangler dev`: a seller
//! connected in one click (the fake eBay's consent) is subscribed on the app's destination, so
//! eBay notifies `/webhooks/ebay`. Its challenge answers with the app's verification token and
//! endpoint; an ORDER_CONFIRMATION signed with the fake's key is routed by the seller's userId to
//! that seller's tenant and connection and delivered; one naming a userId no connection has is
//! acknowledged with a 204 and dropped; an AUTHORIZATION_REVOCATION of the connected seller asks
//! for a reconnect with an alert, one of another seller changes nothing for this one.

use std::time::{Duration, Instant};

use e2e::harness::error_code;
use e2e::harness::fake_ebay::{self, OTHER_SELLER_TOKEN, OTHER_SELLER_USER_ID, SELLER_USER_ID};
use e2e::harness::fake_ebay_oauth::RU_NAME;
use e2e::harness::wrangler::EBAY_APP_VERIFICATION_TOKEN;
use e2e::{EbayTestKey, EdgeSystem, OriginApi, SystemOptions};
use reqwest::Method;
use reqwest::redirect::Policy;
use serde_json::{Value, json};
use shared::ebay::ebay_challenge_response;

/// The system's public https address, as eBay's RuName has it.
const PUBLIC_HTTPS: &str = "https://yoursender.test";
const ORDER: &[u8] = include_bytes!("../../fixtures/ebay/notification-order-confirmation.body");
const REVOCATION: &[u8] =
    include_bytes!("../../fixtures/ebay/notification-authorization-revocation.body");
const CHALLENGE_CODE: &str = "7c2f0a4e-9d1b-4e3a-8f6c-5b2d1e0a9c8f";
/// A userId no connection speaks for.
const UNKNOWN_USER_ID: &str = "Nx0nobodyHas";

async fn wait_for(what: &str, mut ready: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(40);
    while !ready().await {
        assert!(Instant::now() < deadline, "{what} never happened");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The fixture notification about `user_id` instead of the fixture's seller, under a
/// notification id of its own (the origin dedupes on it).
fn about(body: &[u8], user_id: &str, notification_id: &str) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(body).unwrap();
    value["notification"]["notificationId"] = notification_id.into();
    let data = &mut value["notification"]["data"];
    match data.get_mut("user") {
        Some(seller) => seller["userId"] = user_id.into(),
        None => data["userId"] = user_id.into(),
    }
    serde_json::to_vec(&value).unwrap()
}

/// Connects the fake eBay's seller to the tenant through eBay's consent page and the edge's
/// callback, as the seller's browser goes; the connection as listed.
async fn connect_in_one_click(system: &EdgeSystem, api: &OriginApi) -> Value {
    let path = "/api/v1/connections/ebay/authorize";
    let (status, started) = api.call(Method::POST, path, Some(json!({}))).await;
    assert_eq!(status, 201, "{started}");
    let browser = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let url = started["data"]["url"].as_str().unwrap();
    let consent = browser.get(url).send().await.unwrap();
    assert_eq!(consent.status(), 302);
    let location = consent.headers()["location"].to_str().unwrap();
    let callback = system
        .edge
        .url(location.strip_prefix(PUBLIC_HTTPS).unwrap());
    let back = browser.get(callback).send().await.unwrap();
    assert_eq!(back.status(), 200);
    let (_, listed) = api.call(Method::GET, "/api/v1/connections", None).await;
    listed["data"][0].clone()
}

async fn connection_status(api: &OriginApi, id: &str) -> String {
    let (status, body) = api
        .call(Method::GET, &format!("/api/v1/connections/{id}"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"]["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn alerts(api: &OriginApi) -> Vec<Value> {
    let (status, body) = api.call(Method::GET, "/api/v1/alerts", None).await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_to_the_app_endpoint_reach_the_connection_of_the_seller_they_name() {
    let env = [
        ("CONNECT_CALLBACK_BASE_URL", PUBLIC_HTTPS),
        ("EBAY_CLIENT_ID", fake_ebay::CLIENT_ID),
        ("EBAY_CLIENT_SECRET", fake_ebay::CLIENT_SECRET),
        ("EBAY_RU_NAME", RU_NAME),
        ("EBAY_NOTIFICATION_DESTINATION_ID", "dest-app-1"),
    ];
    let system = EdgeSystem::start(SystemOptions {
        origin_env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..SystemOptions::default()
    })
    .await;
    let ebay = &system.ebay;
    ebay.consents()
        .set_accept_url(&format!("{PUBLIC_HTTPS}/connect/ebay/callback"));
    let (tenant, api) = system.tenant("eBay app seller");
    for (sku, mapping, code) in [
        (
            "APP-LIC",
            json!({"ebay_item_id": "296512345678"}),
            "LIC-APP-1",
        ),
        (
            "APP-BOOK",
            json!({"ebay_sku": "EBOOK-RUST-PDF"}),
            "BOOK-APP-1",
        ),
    ] {
        let product = json!({"sku": sku, "name": sku, "type": "CODE", "mappings": mapping});
        let (status, made) = api
            .call(Method::POST, "/api/v1/products", Some(product))
            .await;
        assert_eq!(status, 201, "{made}");
        let codes = format!(
            "/api/v1/products/{}/codes",
            made["data"]["id"].as_str().unwrap()
        );
        let (status, added) = api
            .call(
                Method::POST,
                &codes,
                Some(json!([code, format!("{code}-2")])),
            )
            .await;
        assert_eq!(status, 200, "{added}");
    }

    // Connected in one click: notified at the app's endpoint, with no token of its own.
    let connection = connect_in_one_click(&system, &api).await;
    let connection_id = connection["id"].as_str().unwrap().to_owned();
    assert_eq!(connection["status"], "active", "{connection}");
    assert_eq!(connection["account_id"], SELLER_USER_ID);
    assert_eq!(
        connection["endpoint_url"],
        format!("{}/webhooks/ebay", system.origin.base_url)
    );
    let secrets = connection["secrets_set"].as_array().unwrap();
    assert!(
        !secrets.iter().any(|s| s == "verification_token"),
        "{connection}"
    );
    let subscriptions = ebay.consents().subscriptions();
    assert_eq!(subscriptions.len(), 1);
    assert_eq!(subscriptions[0].body["destinationId"], "dest-app-1");

    // The challenge of the app's endpoint: the app's token and URL, not a tenant's.
    let client = reqwest::Client::new();
    let endpoint = system.edge.ebay_app_endpoint();
    let answer = client
        .get(format!("{endpoint}?challenge_code={CHALLENGE_CODE}"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    let expected = ebay_challenge_response(CHALLENGE_CODE, EBAY_APP_VERIFICATION_TOKEN, &endpoint);
    assert_eq!(body, json!({ "challengeResponse": expected }));
    let missing = client.get(&endpoint).send().await.unwrap();
    assert_eq!(missing.status(), 400);
    assert_eq!(error_code(missing).await, "INVALID_REQUEST");
    let tenant_route = system
        .edge
        .url(&format!("/webhooks/ebay/{}", tenant.tenant_id));
    let own = client
        .get(format!("{tenant_route}?challenge_code={CHALLENGE_CODE}"))
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 404, "the tenant has no endpoint of its own");

    // The seller's ORDER_CONFIRMATION, signed by eBay: routed to this tenant and delivered.
    let key = EbayTestKey::generate("0d7c3b2a-4e5f-4a6b-9c8d-7e6f5a4b3c2d");
    ebay.add_key(&key.kid, &key.public_key_pem_one_line());
    let sent = system
        .send_ebay_to_app(ORDER, Some(&key.signature_header(ORDER)))
        .await;
    assert_eq!(sent.status(), 204);
    wait_for("the order delivered", async || {
        let (_, page) = api.call(Method::GET, "/api/v1/orders", None).await;
        page["data"][0]["status"] == "delivered"
    })
    .await;
    let events = api.events("platform=ebay").await;
    assert!(
        events
            .iter()
            .all(|e| e["connection_id"] == connection_id.as_str()),
        "the events name the seller's connection: {events:?}"
    );

    // A tampered notification is refused as on a tenant's route.
    let tampered = about(ORDER, SELLER_USER_ID, "tampered");
    let refused = system
        .send_ebay_to_app(&tampered, Some(&key.signature_header(ORDER)))
        .await;
    assert_eq!(refused.status(), 412);
    assert_eq!(error_code(refused).await, "SIGNATURE_MISMATCH");

    // An order of a seller nobody connected: acknowledged, dropped, nothing fetched.
    let order_requests = ebay.order_requests();
    let unknown = about(ORDER, UNKNOWN_USER_ID, "order-of-nobody");
    let sent = system
        .send_ebay_to_app(&unknown, Some(&key.signature_header(&unknown)))
        .await;
    assert_eq!(sent.status(), 204);
    wait_for("the drop logged", async || {
        system
            .edge
            .log_text()
            .contains(&format!("eBay user {UNKNOWN_USER_ID}, whom no connection"))
    })
    .await;

    // Another seller, connected by hand to another tenant (its own token and route).
    let (_other, other_api) = system.tenant("Another eBay seller");
    let pasted = json!({"platform": "ebay", "verification_token": "v".repeat(40),
        "access_token": OTHER_SELLER_TOKEN});
    let (status, other) = other_api
        .call(Method::POST, "/api/v1/connections", Some(pasted))
        .await;
    assert_eq!(status, 201, "{other}");
    assert_eq!(other["data"]["account_id"], OTHER_SELLER_USER_ID);
    let other_id = other["data"]["id"].as_str().unwrap().to_owned();

    // Revocations: of nobody's user (dropped), of the other seller (their connection only).
    for (user_id, notification_id) in [
        (UNKNOWN_USER_ID, "revoke-nobody"),
        (OTHER_SELLER_USER_ID, "revoke-other"),
    ] {
        let revocation = about(REVOCATION, user_id, notification_id);
        let sent = system
            .send_ebay_to_app(&revocation, Some(&key.signature_header(&revocation)))
            .await;
        assert_eq!(sent.status(), 204);
    }
    wait_for("the other seller asked to reconnect", async || {
        connection_status(&other_api, &other_id).await == "needs_reconnect"
    })
    .await;
    assert_eq!(connection_status(&api, &connection_id).await, "active");
    assert!(alerts(&api).await.is_empty());
    let events = api.events("platform=ebay").await;
    assert!(
        !events.iter().any(|e| e["dedupe_key"]
            .as_str()
            .is_some_and(|k| k.contains("nobody"))),
        "nothing about nobody's user was stored here: {events:?}"
    );
    assert_eq!(ebay.order_requests(), order_requests, "nothing fetched");
    let (_, orders) = api.call(Method::GET, "/api/v1/orders", None).await;
    assert_eq!(orders["data"].as_array().unwrap().len(), 1, "{orders}");

    // The connected seller revokes the app: their connection needs a reconnect, with an alert.
    let sent = system
        .send_ebay_to_app(REVOCATION, Some(&key.signature_header(REVOCATION)))
        .await;
    assert_eq!(sent.status(), 204);
    wait_for("the seller asked to reconnect", async || {
        connection_status(&api, &connection_id).await == "needs_reconnect"
    })
    .await;
    let raised = alerts(&api).await;
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert_eq!(raised[0]["kind"], "connection_needs_reconnect");
    assert_eq!(raised[0]["subject"], connection_id.as_str());
    assert_eq!(raised[0]["detail"]["reason"], "authorization_revoked");
}
