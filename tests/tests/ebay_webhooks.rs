//! eBay through the worker: the endpoint challenge, and notifications verified with WebCrypto
//! against keys fetched from the (fake) eBay API, agreeing with the shared p256 reference.

use std::time::Duration;

use e2e::harness::error_code;
use e2e::{EbayTestKey, EdgeSystem, SystemOptions, events_matching};
use serde_json::Value;
use shared::ebay::{EbayError, EbayPublicKey, SignatureHeader, SignedForm, verify_ebay_signature};

const VERIFICATION_TOKEN: &str = "71745723-d031-455c-bfa5-f90d11b4f20a";
const ENDPOINT: &str = "http://www.testendpoint.com/webhook";
const CHALLENGE_CODE: &str = "a8628072-3d33-45ee-9004-bee86830a22d";
const CHALLENGE_RESPONSE: &str = "ca527df75caa230092d7e90484071e8f05d63068f1317973d6a3a42593734bbb";
const ORDER_BODY: &[u8] =
    include_bytes!("../../fixtures/ebay/notification-order-confirmation.body");
/// The fixture's `notification.notificationId`, which the origin dedupes on.
const NOTIFICATION_ID: &str =
    "5d0c1f3e-8a62-4b7d-9e1a-2c4f6b8d0e13_7a9b1c2d-3e4f-4a5b-8c6d-9e0f1a2b3c4d";

/// The fixture with another notification id, so the origin stores it as a separate event.
fn with_notification_id(body: &[u8], id: &str) -> Vec<u8> {
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.contains(NOTIFICATION_ID));
    text.replace(NOTIFICATION_ID, id).into_bytes()
}

/// What the shared p256 verifier says about the same key, header and body.
fn reference(key: &EbayTestKey, header: &str, body: &[u8]) -> Result<SignedForm, EbayError> {
    let public =
        EbayPublicKey::from_response_json(key.key_response().to_string().as_bytes()).unwrap();
    verify_ebay_signature(
        &public,
        &SignatureHeader::parse(Some(header)).unwrap(),
        body,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ebay_challenge_answers_with_the_hash_of_code_token_and_endpoint() {
    let system = EdgeSystem::start(SystemOptions::default()).await;
    let (tenant, api) = system.tenant("eBay Seller");
    api.connect_ebay(VERIFICATION_TOKEN, ENDPOINT).await;
    let client = reqwest::Client::new();
    let url = system
        .edge
        .url(&format!("/webhooks/ebay/{}", tenant.tenant_id));

    let answer = client
        .get(format!("{url}?challenge_code={CHALLENGE_CODE}"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let content_type = answer.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let body: Value = answer.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({ "challengeResponse": CHALLENGE_RESPONSE })
    );

    let missing = client.get(&url).send().await.unwrap();
    assert_eq!(missing.status(), 400);
    assert_eq!(error_code(missing).await, "INVALID_REQUEST");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ebay_notifications_are_verified_against_ebays_published_key() {
    let system = EdgeSystem::start(SystemOptions::default()).await;
    let (tenant, api) = system.tenant("eBay Seller");
    api.connect_ebay(VERIFICATION_TOKEN, ENDPOINT).await;
    let tenant_id = tenant.tenant_id.as_str();
    let key = EbayTestKey::generate("5b0a4d52-7c1e-4f7e-9a3b-1d2c3e4f5a6b");
    system
        .ebay
        .add_key(&key.kid, &key.public_key_pem_one_line());

    // Valid: signed over the exact bytes; the shared reference agrees.
    let header = key.signature_header(ORDER_BODY);
    assert_eq!(reference(&key, &header, ORDER_BODY), Ok(SignedForm::Raw));
    let valid = system.send_ebay(tenant_id, ORDER_BODY, Some(&header)).await;
    assert_eq!(valid.status(), 204);

    // Valid the way eBay's SDKs check: signed over the compact re-serialisation of a body that
    // arrives pretty-printed.
    let compact_id = "compact-signed-pretty-body";
    let renamed = with_notification_id(ORDER_BODY, compact_id);
    let pretty =
        serde_json::to_vec_pretty(&serde_json::from_slice::<Value>(&renamed).unwrap()).unwrap();
    let compact = shared::ebay::compact_json(&pretty).unwrap();
    let compact_header = key.signature_header(&compact);
    assert_eq!(
        reference(&key, &compact_header, &pretty),
        Ok(SignedForm::CompactJson)
    );
    let compact_valid = system
        .send_ebay(tenant_id, &pretty, Some(&compact_header))
        .await;
    assert_eq!(compact_valid.status(), 204);

    // Tampered: the body changed after signing; the reference refuses it too.
    let tampered_id = "tampered-after-signing";
    let tampered = with_notification_id(ORDER_BODY, tampered_id);
    assert_eq!(
        reference(&key, &header, &tampered),
        Err(EbayError::Mismatch)
    );
    let refused = system.send_ebay(tenant_id, &tampered, Some(&header)).await;
    assert_eq!(refused.status(), 412);
    assert_eq!(error_code(refused).await, "SIGNATURE_MISMATCH");

    // No signature header at all.
    let unsigned = system.send_ebay(tenant_id, ORDER_BODY, None).await;
    assert_eq!(unsigned.status(), 412);

    // Unknown kid: eBay answers 404 for it, so the notification is not from eBay.
    let stranger = EbayTestKey::generate("00000000-0000-4000-8000-00000000dead");
    let unknown = system
        .send_ebay(
            tenant_id,
            ORDER_BODY,
            Some(&stranger.signature_header(ORDER_BODY)),
        )
        .await;
    assert_eq!(unknown.status(), 412);

    // Key service down: a key not yet cached cannot be fetched → 500, so eBay retries...
    let rotated = EbayTestKey::generate("9e8d7c6b-5a49-4382-b1a0-fedcba987654");
    system
        .ebay
        .add_key(&rotated.kid, &rotated.public_key_pem_one_line());
    system.ebay.set_failing(true);
    let down = system
        .send_ebay(
            tenant_id,
            ORDER_BODY,
            Some(&rotated.signature_header(ORDER_BODY)),
        )
        .await;
    assert_eq!(down.status(), 500);
    assert_eq!(error_code(down).await, "INTERNAL_ERROR");
    // ...while the key already fetched is served from the cache.
    let key_requests = system.ebay.key_requests();
    let cached = system.send_ebay(tenant_id, ORDER_BODY, Some(&header)).await;
    assert_eq!(cached.status(), 204);
    assert_eq!(
        system.ebay.key_requests(),
        key_requests,
        "a cached key is not fetched again"
    );
    system.ebay.set_failing(false);
    assert_eq!(
        system.ebay.token_requests(),
        1,
        "the application token is reused until it expires"
    );

    // The verified notifications reached the origin; the refused ones did not.
    let events = api
        .wait_for_events("platform=ebay", Duration::from_secs(30), |events| {
            events.len() >= 2
        })
        .await;
    assert_eq!(
        events.len(),
        2,
        "the fixture (stored once) and the compact-signed one: {events:?}"
    );
    assert_eq!(
        events_matching(&events, "dedupe_key", NOTIFICATION_ID).len(),
        1,
        "{events:?}"
    );
    assert_eq!(
        events_matching(&events, "dedupe_key", compact_id).len(),
        1,
        "{events:?}"
    );
    assert!(
        events_matching(&events, "dedupe_key", tampered_id).is_empty(),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ebay_key_ids_are_looked_up_once_and_lookups_are_limited_per_tenant() {
    let system = EdgeSystem::start(SystemOptions::default()).await;
    let (tenant, api) = system.tenant("eBay Seller");
    api.connect_ebay(VERIFICATION_TOKEN, ENDPOINT).await;
    let tenant_id = tenant.tenant_id.as_str();
    // The lookup budget is per clock minute: start early in one.
    let into_minute = e2e::harness::unix_now() % 60;
    if into_minute > 30 {
        tokio::time::sleep(Duration::from_secs(61 - into_minute)).await;
    }

    // The same unknown key id, again and again: eBay is asked once, every answer is 412.
    let stranger = EbayTestKey::generate("00000000-0000-4000-8000-00000000beef");
    let header = stranger.signature_header(ORDER_BODY);
    for _ in 0..5 {
        let refused = system.send_ebay(tenant_id, ORDER_BODY, Some(&header)).await;
        assert_eq!(refused.status(), 412);
        assert_eq!(error_code(refused).await, "SIGNATURE_MISMATCH");
    }
    assert_eq!(
        system.ebay.key_requests(),
        1,
        "a 404 from eBay is remembered"
    );

    // A new key id each time: ten lookups a minute for this tenant, then 429 without asking eBay.
    let mut statuses = Vec::new();
    for n in 0..12 {
        let kid = format!("00000000-0000-4000-8000-{n:012}");
        let header = EbayTestKey::generate(&kid).signature_header(ORDER_BODY);
        let answer = system.send_ebay(tenant_id, ORDER_BODY, Some(&header)).await;
        statuses.push(answer.status().as_u16());
    }
    assert_eq!(statuses[..9], [412; 9], "{statuses:?}");
    assert_eq!(statuses[9..], [429; 3], "{statuses:?}");
    assert_eq!(system.ebay.key_requests(), 10);

    // A key eBay does publish, looked up for another tenant: its lookups are counted apart.
    let key = EbayTestKey::generate("5b0a4d52-7c1e-4f7e-9a3b-1d2c3e4f5a6b");
    system
        .ebay
        .add_key(&key.kid, &key.public_key_pem_one_line());
    let (other, other_api) = system.tenant("Another eBay Seller");
    other_api.connect_ebay(VERIFICATION_TOKEN, ENDPOINT).await;
    let valid = system
        .send_ebay(
            &other.tenant_id,
            ORDER_BODY,
            Some(&key.signature_header(ORDER_BODY)),
        )
        .await;
    assert_eq!(
        valid.status(),
        204,
        "another tenant's lookups are counted apart"
    );
}
