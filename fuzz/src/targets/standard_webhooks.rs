//! `shared::standard_webhooks`: the `webhook-id`, `webhook-timestamp` and `webhook-signature`
//! headers Etsy signs its deliveries with.
//!
//! Properties: what the signer makes verifies at its own timestamp; a delivery verifies
//! exactly when its id is well formed, its timestamp is digits within five minutes of the
//! clock, and one `v1,` entry of the signature list is (byte for byte) the signer's
//! signature, so no mutated entry, body, id or secret is accepted; other versions never
//! count; and the list parser only ever returns `v1` entries' values.

use shared::standard_webhooks::{
    StandardWebhookError, TOLERANCE_SECS, WebhookHeaders, WebhookSecret, parse_timestamp, sign,
    v1_signatures, verify,
};

use crate::engine::{Case, Target, le_u64};

const SECRET: usize = 0;
const ID: usize = 1;
const TIMESTAMP: usize = 2;
const SIGNATURE: usize = 3;
const BODY: usize = 4;
/// 2 bytes of clock skew (signed seconds) between the sender and the receiver.
const SKEW: usize = 5;

// PLATFORMS.md §4.2.
const VECTOR_KEY: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const VECTOR_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
const VECTOR_TS: &str = "1649367553";
const VECTOR_BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
const VECTOR_SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

pub fn target() -> Target {
    Target {
        name: "standard_webhooks",
        fields: &["secret", "id", "timestamp", "signature", "body", "skew"],
        dictionary: &[
            b"v1,", b"v1a,", b"v2,", b" ", b",", b".", b"=", b"+", b"/", b"whsec_",
        ],
        seeds,
        check,
        max_field_len: 8 * 1024,
    }
}

fn seeds() -> Vec<Case> {
    let key = WebhookSecret::parse(VECTOR_KEY).expect("the vector's secret parses");
    let etsy_body = br#"{"event_type":"order.paid","resource_url":"https://openapi.etsy.com/v3/application/shops/12345/receipts/54321","shop_id":12345}"#;
    let etsy_signature = sign(&key, "msg_2f3", 1_764_000_000, etsy_body);
    let rotated = format!("v1a,aGVsbG8= v1,AAAA {VECTOR_SIGNATURE}");
    let key_bytes = key_bytes(&key);
    vec![
        Case::new([
            key_bytes.as_slice(),
            VECTOR_ID.as_bytes(),
            VECTOR_TS.as_bytes(),
            VECTOR_SIGNATURE.as_bytes(),
            VECTOR_BODY,
            &0i16.to_le_bytes(),
        ]),
        Case::new([
            key_bytes.as_slice(),
            b"msg_2f3",
            b"1764000000",
            etsy_signature.as_bytes(),
            etsy_body,
            &300i16.to_le_bytes(),
        ]),
        Case::new([
            key_bytes.as_slice(),
            VECTOR_ID.as_bytes(),
            VECTOR_TS.as_bytes(),
            rotated.as_bytes(),
            VECTOR_BODY,
            &(-301i16).to_le_bytes(),
        ]),
    ]
}

/// The raw key of a parsed secret (the fuzzed field is the key, not its `whsec_` text).
fn key_bytes(secret: &WebhookSecret) -> Vec<u8> {
    use base64::Engine as _;
    let encoded = secret.encoded();
    base64::engine::general_purpose::STANDARD
        .decode(encoded.trim_start_matches("whsec_"))
        .expect("encoded() is base64")
}

fn check(case: &Case) -> &'static str {
    let key = case.field(SECRET);
    if key.is_empty() {
        return "empty key";
    }
    let secret = WebhookSecret::from_key(key);
    assert_eq!(
        WebhookSecret::parse(&secret.encoded()).as_ref(),
        Ok(&secret),
        "a secret's whsec_ form reads back as the same key"
    );
    let (id, timestamp, header, body) = (
        case.text(ID),
        case.text(TIMESTAMP),
        case.text(SIGNATURE),
        case.field(BODY),
    );
    let skew = i64::from(le_u64(case.field(SKEW)) as u16 as i16);
    let headers = WebhookHeaders {
        id: Some(&id),
        timestamp: Some(&timestamp),
        signature: Some(&header),
    };

    let entries = v1_signatures(&header);
    for entry in &entries {
        assert!(
            header
                .split_ascii_whitespace()
                .any(|e| e.strip_prefix("v1,") == Some(*entry)),
            "{entry:?} is the value of a v1 entry of {header:?}"
        );
    }

    let Ok(sent_at) = parse_timestamp(&timestamp) else {
        let verdict = verify(&secret, headers, body, 1_764_000_000);
        assert!(
            matches!(
                verdict,
                Err(StandardWebhookError::InvalidTimestamp | StandardWebhookError::InvalidId)
            ),
            "{verdict:?} for timestamp {timestamp:?}"
        );
        return "bad timestamp";
    };
    let now = sent_at.saturating_add_signed(skew);
    let verdict = verify(&secret, headers, body, now);
    if id.is_empty() || id.len() > 256 || id.contains('.') {
        assert_eq!(verdict, Err(StandardWebhookError::InvalidId), "{id:?}");
        return "bad id";
    }
    // The signed content holds the timestamp's digits as sent; the signer writes them without
    // leading zeros, so only then is its signature the one to compare with.
    if sent_at.to_string() != timestamp {
        return "non-canonical timestamp";
    }
    let expected = sign(&secret, &id, sent_at, body);
    let own = WebhookHeaders {
        id: Some(&id),
        timestamp: Some(&timestamp),
        signature: Some(&expected),
    };
    assert_eq!(
        verify(&secret, own, body, sent_at),
        Ok(()),
        "a signature made by sign() must verify at its own timestamp"
    );
    let wanted = if now.abs_diff(sent_at) > TOLERANCE_SECS {
        Err(if now > sent_at {
            StandardWebhookError::TooOld
        } else {
            StandardWebhookError::TooNew
        })
    } else if entries.is_empty() {
        Err(StandardWebhookError::NoV1Signature)
    } else if entries.contains(&&expected[3..]) {
        Ok(())
    } else {
        Err(StandardWebhookError::Mismatch)
    };
    assert_eq!(
        verdict, wanted,
        "header {header:?}, expected {expected:?}, skew {skew}"
    );
    match verdict {
        Ok(()) => "accepted",
        Err(StandardWebhookError::TooOld | StandardWebhookError::TooNew) => "out of window",
        Err(StandardWebhookError::NoV1Signature) => "no v1",
        Err(_) => "mismatch",
    }
}
