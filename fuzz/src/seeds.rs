//! The recorded platform fixtures the corpora start from, compiled in so a run needs no files.

use serde_json::Value;

pub const WOO_CREATED_BODY: &[u8] = include_bytes!("../../fixtures/woocommerce/order-created.body");
pub const WOO_CREATED_HEADERS: &str =
    include_str!("../../fixtures/woocommerce/order-created.headers.json");
pub const WOO_REFUNDED_BODY: &[u8] =
    include_bytes!("../../fixtures/woocommerce/order-updated-refunded.body");
pub const WOO_REFUNDED_HEADERS: &str =
    include_str!("../../fixtures/woocommerce/order-updated-refunded.headers.json");
pub const WOO_REST_ERRORS: &[u8] = include_bytes!("../../fixtures/woocommerce/rest-errors.json");

pub const EBAY_VECTOR: &str = include_str!("../../fixtures/ebay/signed-test-vector.json");
pub const EBAY_DELETION: &[u8] =
    include_bytes!("../../fixtures/ebay/notification-account-deletion.body");
pub const EBAY_ORDER: &[u8] =
    include_bytes!("../../fixtures/ebay/notification-order-confirmation.body");
pub const EBAY_REVOCATION: &[u8] =
    include_bytes!("../../fixtures/ebay/notification-authorization-revocation.body");
pub const EBAY_KEY_RESPONSE: &[u8] = include_bytes!("../../fixtures/ebay/public-key-response.json");
pub const EBAY_KEY_ERRORS: &[u8] = include_bytes!("../../fixtures/ebay/public-key-errors.json");

/// A WooCommerce delivery as recorded: (secret, body, `X-WC-Webhook-Signature`).
pub fn woo_deliveries() -> Vec<(String, &'static [u8], String)> {
    [
        (WOO_CREATED_HEADERS, WOO_CREATED_BODY),
        (WOO_REFUNDED_HEADERS, WOO_REFUNDED_BODY),
    ]
    .into_iter()
    .map(|(headers, body)| {
        let headers: Value = serde_json::from_str(headers).expect("the fixture is JSON");
        let secret = headers["secret"]
            .as_str()
            .expect("the fixture names its secret");
        let signature = headers["headers"][shared::woo::SIGNATURE_HEADER]
            .as_str()
            .expect("the fixture carries its signature");
        (secret.to_owned(), body, signature.to_owned())
    })
    .collect()
}

pub fn ebay_vector() -> Value {
    serde_json::from_str(EBAY_VECTOR).expect("the fixture is JSON")
}

/// The body file a vector case names.
pub fn ebay_body(name: &str) -> &'static [u8] {
    match name {
        n if n.ends_with("notification-account-deletion.body") => EBAY_DELETION,
        n if n.ends_with("notification-order-confirmation.body") => EBAY_ORDER,
        n if n.ends_with("notification-authorization-revocation.body") => EBAY_REVOCATION,
        other => panic!("the vector names an unknown body {other}"),
    }
}
