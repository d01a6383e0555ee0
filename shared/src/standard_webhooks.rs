//! Standard Webhooks (v1.0.0): the `webhook-id`, `webhook-timestamp` and `webhook-signature`
//! headers Etsy (through Svix) signs its deliveries with, and that YourSender's own outbound
//! webhooks will carry.
//!
//! The signed content is `{webhook-id}.{webhook-timestamp}.{raw body}`; a `v1` signature is
//! `base64(HMAC-SHA256(content, key))` where the key is the base64-decoded secret after its
//! `whsec_` prefix. `webhook-signature` is a space-separated list of `version,signature`
//! entries (several while a secret rotates); versions other than `v1` are ignored. The raw
//! bytes are what count: a re-serialised body does not verify. The clock is an argument.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// How far a delivery's timestamp may be from the receiver's clock, either way (the
/// reference libraries' tolerance).
pub const TOLERANCE_SECS: u64 = 5 * 60;

/// The prefix of a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// Longest `webhook-id` accepted: ids are short (`msg_…`); anything longer is not one.
const MAX_ID_LEN: usize = 256;

/// Why a delivery was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StandardWebhookError {
    #[error("the webhook secret is not `whsec_` followed by base64")]
    InvalidSecret,
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    #[error("the webhook-id header is empty, too long or contains '.'")]
    InvalidId,
    #[error("the webhook-timestamp header is not unix seconds")]
    InvalidTimestamp,
    #[error("the webhook-timestamp is more than five minutes old")]
    TooOld,
    #[error("the webhook-timestamp is more than five minutes in the future")]
    TooNew,
    #[error("the webhook-signature header has no v1 signature")]
    NoV1Signature,
    #[error("no v1 signature in webhook-signature matches the delivery")]
    Mismatch,
}

/// A signing key: the decoded bytes of a `whsec_…` secret.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret {
    key: Vec<u8>,
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

impl WebhookSecret {
    /// Reads `whsec_<base64>` (the prefix is optional, as the reference libraries allow).
    pub fn parse(secret: &str) -> Result<Self, StandardWebhookError> {
        let encoded = secret.trim();
        let encoded = encoded.strip_prefix(SECRET_PREFIX).unwrap_or(encoded);
        let key = BASE64
            .decode(encoded)
            .map_err(|_| StandardWebhookError::InvalidSecret)?;
        if key.is_empty() {
            return Err(StandardWebhookError::InvalidSecret);
        }
        Ok(WebhookSecret { key })
    }

    /// A secret from raw key bytes (a generator's random bytes).
    pub fn from_key(key: &[u8]) -> Self {
        WebhookSecret { key: key.to_vec() }
    }

    /// The `whsec_…` form of this secret.
    pub fn encoded(&self) -> String {
        format!("{SECRET_PREFIX}{}", BASE64.encode(&self.key))
    }

    fn mac(&self, id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC accepts keys of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

/// The three headers of a delivery, as received (None: absent).
#[derive(Debug, Clone, Copy, Default)]
pub struct WebhookHeaders<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// The `webhook-signature` value for a delivery: `v1,<base64>`.
pub fn sign(secret: &WebhookSecret, id: &str, timestamp_secs: u64, body: &[u8]) -> String {
    let mac = secret.mac(id, &timestamp_secs.to_string(), body);
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

/// Verifies a delivery at `now_secs`: headers present and well formed, timestamp within
/// [`TOLERANCE_SECS`], and one `v1` entry of `webhook-signature` the HMAC of the raw body,
/// compared in constant time.
pub fn verify(
    secret: &WebhookSecret,
    headers: WebhookHeaders<'_>,
    body: &[u8],
    now_secs: u64,
) -> Result<(), StandardWebhookError> {
    let id = headers
        .id
        .ok_or(StandardWebhookError::MissingHeader(ID_HEADER))?;
    let timestamp = headers
        .timestamp
        .ok_or(StandardWebhookError::MissingHeader(TIMESTAMP_HEADER))?;
    let signature = headers
        .signature
        .ok_or(StandardWebhookError::MissingHeader(SIGNATURE_HEADER))?;
    if id.is_empty() || id.len() > MAX_ID_LEN || id.contains('.') {
        return Err(StandardWebhookError::InvalidId);
    }
    let sent_at = parse_timestamp(timestamp)?;
    if sent_at.saturating_add(TOLERANCE_SECS) < now_secs {
        return Err(StandardWebhookError::TooOld);
    }
    if sent_at > now_secs.saturating_add(TOLERANCE_SECS) {
        return Err(StandardWebhookError::TooNew);
    }
    let candidates = v1_signatures(signature);
    if candidates.is_empty() {
        return Err(StandardWebhookError::NoV1Signature);
    }
    let mac = secret.mac(id, timestamp, body);
    let matches = candidates
        .iter()
        .filter_map(|encoded| BASE64.decode(encoded).ok())
        .any(|claimed| mac.clone().verify_slice(&claimed).is_ok());
    if matches {
        Ok(())
    } else {
        Err(StandardWebhookError::Mismatch)
    }
}

/// `webhook-timestamp`: unix seconds, ASCII digits only.
pub fn parse_timestamp(value: &str) -> Result<u64, StandardWebhookError> {
    if value.is_empty() || value.len() > 19 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(StandardWebhookError::InvalidTimestamp);
    }
    value
        .parse()
        .map_err(|_| StandardWebhookError::InvalidTimestamp)
}

/// The signatures of the `v1` entries of a `webhook-signature` value, still encoded; entries
/// of other versions (`v1a` ed25519, future ones) and entries without a version are left out.
pub fn v1_signatures(header: &str) -> Vec<&str> {
    header
        .split_ascii_whitespace()
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .map(|(_, signature)| signature)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // PLATFORMS.md §4.2: the reference libraries' `test_sign` vector.
    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const TIMESTAMP: u64 = 1_649_367_553;
    const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    fn secret() -> WebhookSecret {
        WebhookSecret::parse(SECRET).unwrap()
    }

    fn headers<'a>(timestamp: &'a str, signature: &'a str) -> WebhookHeaders<'a> {
        WebhookHeaders {
            id: Some(ID),
            timestamp: Some(timestamp),
            signature: Some(signature),
        }
    }

    fn check(signature: &str, body: &[u8], now: u64) -> Result<(), StandardWebhookError> {
        verify(
            &secret(),
            headers(&TIMESTAMP.to_string(), signature),
            body,
            now,
        )
    }

    #[test]
    fn signs_the_published_vector() {
        assert_eq!(sign(&secret(), ID, TIMESTAMP, BODY), SIGNATURE);
    }

    #[test]
    fn accepts_the_published_vector() {
        assert_eq!(check(SIGNATURE, BODY, TIMESTAMP), Ok(()));
    }

    #[test]
    fn a_secret_without_its_prefix_is_the_same_key_and_round_trips() {
        let bare = WebhookSecret::parse(SECRET.trim_start_matches("whsec_")).unwrap();
        assert_eq!(bare, secret());
        assert_eq!(secret().encoded(), SECRET);
        assert!(
            !format!("{:?}", secret()).contains("C2FV"),
            "no key in Debug"
        );
    }

    #[test]
    fn refuses_another_secret() {
        let other = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let timestamp = TIMESTAMP.to_string();
        assert_eq!(
            verify(&other, headers(&timestamp, SIGNATURE), BODY, TIMESTAMP),
            Err(StandardWebhookError::Mismatch)
        );
        // The secret used as raw bytes instead of base64-decoded gives another key too.
        let undecoded = WebhookSecret::from_key(SECRET.as_bytes());
        assert_eq!(
            verify(&undecoded, headers(&timestamp, SIGNATURE), BODY, TIMESTAMP),
            Err(StandardWebhookError::Mismatch)
        );
    }

    #[test]
    fn refuses_stale_and_future_timestamps_beyond_five_minutes() {
        assert_eq!(check(SIGNATURE, BODY, TIMESTAMP + 300), Ok(()));
        assert_eq!(check(SIGNATURE, BODY, TIMESTAMP - 300), Ok(()));
        assert_eq!(
            check(SIGNATURE, BODY, TIMESTAMP + 301),
            Err(StandardWebhookError::TooOld)
        );
        assert_eq!(
            check(SIGNATURE, BODY, TIMESTAMP - 301),
            Err(StandardWebhookError::TooNew)
        );
    }

    #[test]
    fn refuses_a_signature_without_its_version() {
        let bare = SIGNATURE.trim_start_matches("v1,");
        assert_eq!(
            check(bare, BODY, TIMESTAMP),
            Err(StandardWebhookError::NoV1Signature)
        );
        let other_version = format!("v2,{bare}");
        assert_eq!(
            check(&other_version, BODY, TIMESTAMP),
            Err(StandardWebhookError::NoV1Signature)
        );
    }

    #[test]
    fn refuses_hex_instead_of_base64() {
        let raw = BASE64.decode(&SIGNATURE[3..]).unwrap();
        let hex = format!("v1,{}", hex::encode(raw));
        assert_eq!(
            check(&hex, BODY, TIMESTAMP),
            Err(StandardWebhookError::Mismatch)
        );
    }

    #[test]
    fn refuses_a_reserialised_body() {
        let body = br#"{"email": "test@example.com", "username": "test_user"}"#;
        assert_eq!(
            check(SIGNATURE, body, TIMESTAMP),
            Err(StandardWebhookError::Mismatch)
        );
    }

    #[test]
    fn any_v1_entry_of_a_rotation_list_verifies_and_other_versions_are_ignored() {
        let list = format!("v1a,aGVsbG8= v1,AAAA {SIGNATURE}");
        assert_eq!(check(&list, BODY, TIMESTAMP), Ok(()));
        assert_eq!(
            v1_signatures(&list),
            vec!["AAAA", &SIGNATURE[3..]],
            "v1a is ed25519, not ours"
        );
    }

    #[test]
    fn refuses_missing_and_malformed_headers() {
        let timestamp = TIMESTAMP.to_string();
        let mut missing = headers(&timestamp, SIGNATURE);
        missing.signature = None;
        assert_eq!(
            verify(&secret(), missing, BODY, TIMESTAMP),
            Err(StandardWebhookError::MissingHeader(SIGNATURE_HEADER))
        );
        let mut dotted = headers(&timestamp, SIGNATURE);
        dotted.id = Some("msg.1");
        assert_eq!(
            verify(&secret(), dotted, BODY, TIMESTAMP),
            Err(StandardWebhookError::InvalidId)
        );
        for bad in [
            "",
            "-1",
            "1649367553.0",
            " 1649367553",
            "99999999999999999999",
        ] {
            assert_eq!(
                verify(&secret(), headers(bad, SIGNATURE), BODY, TIMESTAMP),
                Err(StandardWebhookError::InvalidTimestamp),
                "{bad:?}"
            );
        }
        for bad in ["", "whsec_", "whsec_not base64!"] {
            assert_eq!(
                WebhookSecret::parse(bad),
                Err(StandardWebhookError::InvalidSecret),
                "{bad:?}"
            );
        }
    }
}
