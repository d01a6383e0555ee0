//! WooCommerce webhook deliveries: the HMAC signature and the creation ping.
//!
//! WooCommerce signs `base64(HMAC-SHA256(raw body, secret))` into `X-WC-Webhook-Signature`.
//! The raw bytes are what count: its body is PHP `json_encode` output, and any re-serialisation
//! changes the bytes. When a webhook is created, WooCommerce first sends an unsigned form body
//! `webhook_id=N` (the ping) and treats anything but a 200 as failure.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "X-WC-Webhook-Signature";

/// The delivery headers the edge forwards with a verified event.
pub const FORWARDED_HEADERS: [&str; 6] = [
    "X-WC-Webhook-Topic",
    "X-WC-Webhook-Resource",
    "X-WC-Webhook-Event",
    "X-WC-Webhook-ID",
    "X-WC-Webhook-Delivery-ID",
    "X-WC-Webhook-Source",
];

/// Why a delivery's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WooSignatureError {
    #[error("the X-WC-Webhook-Signature header is missing")]
    Missing,
    #[error("the X-WC-Webhook-Signature header is not base64 of a 32-byte HMAC-SHA256")]
    Malformed,
    #[error("the X-WC-Webhook-Signature header does not match the body")]
    Mismatch,
}

/// The signature WooCommerce would send for `body` with `secret`.
pub fn woocommerce_signature(secret: &[u8], body: &[u8]) -> String {
    BASE64.encode(mac(secret, body).finalize().into_bytes())
}

/// Checks `X-WC-Webhook-Signature` against the raw body, comparing in constant time.
pub fn verify_woocommerce_signature(
    secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), WooSignatureError> {
    let header = header.ok_or(WooSignatureError::Missing)?.trim();
    let claimed = BASE64
        .decode(header)
        .map_err(|_| WooSignatureError::Malformed)?;
    if claimed.len() != 32 {
        return Err(WooSignatureError::Malformed);
    }
    mac(secret, body)
        .verify_slice(&claimed)
        .map_err(|_| WooSignatureError::Mismatch)
}

fn mac(secret: &[u8], body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    mac
}

/// The webhook id of a creation ping, or `None` when the delivery is not one.
///
/// A ping is an unsigned form body of exactly `webhook_id=<digits>`; a signed delivery never is.
pub fn creation_ping_webhook_id(body: &[u8], signature_present: bool) -> Option<u64> {
    if signature_present {
        return None;
    }
    let digits = body.strip_prefix(b"webhook_id=")?;
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"my-secret";
    const BODY: &[u8] = br#"{"id":727,"status":"processing"}"#;
    const VECTOR: &str = "COIS5cgYq/OhXqQTCYVAvKQa9IZI58EWNwvDxVPVk2Q=";

    #[test]
    fn signs_the_published_vector() {
        assert_eq!(woocommerce_signature(SECRET, BODY), VECTOR);
    }

    #[test]
    fn accepts_the_published_vector() {
        assert_eq!(
            verify_woocommerce_signature(SECRET, BODY, Some(VECTOR)),
            Ok(())
        );
    }

    #[test]
    fn refuses_a_changed_body() {
        let body = br#"{"id":728,"status":"processing"}"#;
        assert_eq!(
            verify_woocommerce_signature(SECRET, body, Some(VECTOR)),
            Err(WooSignatureError::Mismatch)
        );
    }

    #[test]
    fn refuses_a_reserialised_body() {
        // Same JSON value, other bytes: WooCommerce signs bytes, not values.
        let body = br#"{"id": 727, "status": "processing"}"#;
        assert_eq!(
            verify_woocommerce_signature(SECRET, body, Some(VECTOR)),
            Err(WooSignatureError::Mismatch)
        );
    }

    #[test]
    fn refuses_another_secret() {
        assert_eq!(
            verify_woocommerce_signature(b"other-secret", BODY, Some(VECTOR)),
            Err(WooSignatureError::Mismatch)
        );
    }

    #[test]
    fn refuses_missing_and_malformed_headers() {
        assert_eq!(
            verify_woocommerce_signature(SECRET, BODY, None),
            Err(WooSignatureError::Missing)
        );
        for bad in ["", "not base64!", "AAAA", &VECTOR[..20]] {
            assert_eq!(
                verify_woocommerce_signature(SECRET, BODY, Some(bad)),
                Err(WooSignatureError::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn verifies_the_recorded_delivery_fixture() {
        // order-created.body with the secret and signature recorded beside it.
        let body = include_bytes!("../../fixtures/woocommerce/order-created.body");
        let headers: serde_json::Value = serde_json::from_str(include_str!(
            "../../fixtures/woocommerce/order-created.headers.json"
        ))
        .unwrap();
        let secret = fixture_secret(&headers);
        let signature = headers["headers"][SIGNATURE_HEADER].as_str().unwrap();
        assert_eq!(
            verify_woocommerce_signature(secret.as_bytes(), body, Some(signature)),
            Ok(())
        );
        let mut tampered = body.to_vec();
        tampered[10] ^= 1;
        assert_eq!(
            verify_woocommerce_signature(secret.as_bytes(), &tampered, Some(signature)),
            Err(WooSignatureError::Mismatch)
        );
    }

    fn fixture_secret(headers: &serde_json::Value) -> String {
        headers["secret"]
            .as_str()
            .or_else(|| headers["webhook_secret"].as_str())
            .expect("the fixture names its secret")
            .to_owned()
    }

    #[test]
    fn recognises_the_creation_ping() {
        assert_eq!(creation_ping_webhook_id(b"webhook_id=42", false), Some(42));
        assert_eq!(creation_ping_webhook_id(b"webhook_id=42", true), None);
        for not_ping in [
            &b"webhook_id="[..],
            b"webhook_id=4x",
            b"webhook_id=42&x=1",
            b"{\"id\":727}",
            b"",
            b"webhook_id=99999999999999999999",
        ] {
            assert_eq!(
                creation_ping_webhook_id(not_ping, false),
                None,
                "{not_ping:?}"
            );
        }
    }
}
