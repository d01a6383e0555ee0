//! The edge → origin signature: proof that a request came through the edge, recently, unchanged.
//!
//! The edge signs `v1 \n timestamp \n METHOD \n path?query \n body` with HMAC-SHA256 under a
//! secret only the two halves hold, and sends `X-YS-Edge-Signature: t=<unix secs>,v1=<hex>`.
//! The origin recomputes it and refuses anything unsigned, altered, or outside the freshness
//! window (either direction, so a skewed clock cannot mint long-lived signatures).

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "X-YS-Edge-Signature";

/// How far a signature's timestamp may be from the verifier's clock.
pub const FRESHNESS_WINDOW_SECS: u64 = 300;

/// Why a forwarded request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ForwardSignatureError {
    #[error("the edge signature header is missing")]
    Missing,
    #[error("the edge signature header is malformed")]
    Malformed,
    #[error("the edge signature is {age_secs} s away from now, outside the freshness window")]
    Stale { age_secs: u64 },
    #[error("the edge signature does not match the request")]
    Mismatch,
}

/// The header value for a request the edge forwards at `timestamp_secs`.
pub fn sign_forwarded_request(
    secret: &[u8],
    timestamp_secs: u64,
    method: &str,
    path_and_query: &str,
    body: &[u8],
) -> String {
    let mac = signed_parts(secret, timestamp_secs, method, path_and_query, body);
    format!(
        "t={timestamp_secs},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Verifies a forwarded request at `now_secs`. Any of `secrets` may match, so the shared secret
/// can be rotated without refusing traffic signed with the previous one.
pub fn verify_forwarded_request(
    secrets: &[&[u8]],
    header: Option<&str>,
    now_secs: u64,
    method: &str,
    path_and_query: &str,
    body: &[u8],
) -> Result<(), ForwardSignatureError> {
    let (timestamp, claimed) = parse_header(header.ok_or(ForwardSignatureError::Missing)?)?;
    let age_secs = now_secs.abs_diff(timestamp);
    if age_secs > FRESHNESS_WINDOW_SECS {
        return Err(ForwardSignatureError::Stale { age_secs });
    }
    let matches = secrets.iter().any(|secret| {
        signed_parts(secret, timestamp, method, path_and_query, body)
            .verify_slice(&claimed)
            .is_ok()
    });
    if matches {
        Ok(())
    } else {
        Err(ForwardSignatureError::Mismatch)
    }
}

fn parse_header(value: &str) -> Result<(u64, Vec<u8>), ForwardSignatureError> {
    let mut timestamp = None;
    let mut signature = None;
    for part in value.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) if timestamp.is_none() => timestamp = t.parse::<u64>().ok(),
            Some(("v1", v)) if signature.is_none() => signature = hex::decode(v).ok(),
            _ => return Err(ForwardSignatureError::Malformed),
        }
    }
    match (timestamp, signature) {
        (Some(t), Some(s)) if s.len() == 32 => Ok((t, s)),
        _ => Err(ForwardSignatureError::Malformed),
    }
}

fn signed_parts(
    secret: &[u8],
    timestamp_secs: u64,
    method: &str,
    path_and_query: &str,
    body: &[u8],
) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(b"v1\n");
    mac.update(timestamp_secs.to_string().as_bytes());
    mac.update(b"\n");
    mac.update(method.to_ascii_uppercase().as_bytes());
    mac.update(b"\n");
    mac.update(path_and_query.as_bytes());
    mac.update(b"\n");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"edge-origin-shared-secret";
    const NOW: u64 = 1_764_000_000;
    const PATH: &str = "/internal/v1/events?source=woocommerce";
    const BODY: &[u8] = br#"{"id":727}"#;

    fn signed() -> String {
        sign_forwarded_request(SECRET, NOW, "POST", PATH, BODY)
    }

    fn verify(
        header: &str,
        now: u64,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<(), ForwardSignatureError> {
        verify_forwarded_request(&[SECRET], Some(header), now, method, path, body)
    }

    #[test]
    fn header_has_the_documented_format() {
        let header = signed();
        assert!(header.starts_with(&format!("t={NOW},v1=")));
        assert_eq!(header.len(), format!("t={NOW},v1=").len() + 64);
    }

    #[test]
    fn a_fresh_unchanged_request_verifies() {
        assert_eq!(verify(&signed(), NOW, "POST", PATH, BODY), Ok(()));
        assert_eq!(verify(&signed(), NOW + 300, "post", PATH, BODY), Ok(()));
        assert_eq!(verify(&signed(), NOW - 300, "POST", PATH, BODY), Ok(()));
    }

    #[test]
    fn replays_outside_the_window_fail() {
        assert_eq!(
            verify(&signed(), NOW + 301, "POST", PATH, BODY),
            Err(ForwardSignatureError::Stale { age_secs: 301 })
        );
        assert_eq!(
            verify(&signed(), NOW - 301, "POST", PATH, BODY),
            Err(ForwardSignatureError::Stale { age_secs: 301 })
        );
    }

    #[test]
    fn any_change_to_a_signed_part_fails() {
        let header = signed();
        assert_eq!(
            verify(&header, NOW, "PUT", PATH, BODY),
            Err(ForwardSignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                &header,
                NOW,
                "POST",
                "/internal/v1/events?source=ebay",
                BODY
            ),
            Err(ForwardSignatureError::Mismatch)
        );
        assert_eq!(
            verify(&header, NOW, "POST", "/internal/v1/events", BODY),
            Err(ForwardSignatureError::Mismatch)
        );
        assert_eq!(
            verify(&header, NOW, "POST", PATH, br#"{"id":728}"#),
            Err(ForwardSignatureError::Mismatch)
        );
        // Moving the timestamp (to refresh a replay) breaks the MAC.
        let moved = header.replacen(&NOW.to_string(), &(NOW + 100).to_string(), 1);
        assert_eq!(
            verify(&moved, NOW + 100, "POST", PATH, BODY),
            Err(ForwardSignatureError::Mismatch)
        );
        assert_eq!(
            verify_forwarded_request(&[b"other"], Some(&header), NOW, "POST", PATH, BODY),
            Err(ForwardSignatureError::Mismatch)
        );
    }

    #[test]
    fn a_rotated_secret_still_verifies_old_signatures() {
        let header = signed();
        assert_eq!(
            verify_forwarded_request(
                &[b"new-secret", SECRET],
                Some(&header),
                NOW,
                "POST",
                PATH,
                BODY
            ),
            Ok(())
        );
    }

    #[test]
    fn missing_and_malformed_headers_fail() {
        assert_eq!(
            verify_forwarded_request(&[SECRET], None, NOW, "POST", PATH, BODY),
            Err(ForwardSignatureError::Missing)
        );
        let good_mac = &signed()[format!("t={NOW},v1=").len()..];
        for bad in [
            String::new(),
            "t=abc,v1=00".to_owned(),
            format!("v1={good_mac}"),
            format!("t={NOW}"),
            format!("t={NOW},v1={}", &good_mac[..62]),
            format!("t={NOW},v1={good_mac},v1={good_mac}"),
            format!("t={NOW},v2={good_mac}"),
        ] {
            assert_eq!(
                verify(&bad, NOW, "POST", PATH, BODY),
                Err(ForwardSignatureError::Malformed),
                "{bad}"
            );
        }
    }
}
