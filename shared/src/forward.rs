//! The edge → origin signature: proof that a request came through the edge, recently, unchanged.
//!
//! The edge signs `v1 \n timestamp \n METHOD \n path?query \n body` with HMAC-SHA256 under a
//! secret only the two halves hold, and sends `X-YS-Edge-Signature: t=<unix secs>,v1=<hex>`.
//! The origin recomputes it and refuses anything unsigned, altered, or outside the freshness
//! window (either direction, so a skewed clock cannot mint long-lived signatures).
//!
//! A streamed body (a file upload, or the empty body of a download) is never held by the edge,
//! so it cannot be signed. As S3 signs `UNSIGNED-PAYLOAD`, such a request signs
//! `v1-streamed \n timestamp \n METHOD \n path?query \n length` instead, sent as
//! `t=<unix secs>,l=<length>,v1s=<hex>`: the origin reads no more than `length` bytes of it.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "X-YS-Edge-Signature";

/// The client's address as the edge saw it (`CF-Connecting-IP`), set by the edge on the
/// forwards of browser routes (`/app/*`) in place of anything the client sent. Like the other
/// passed headers it is outside the signature; the origin reads it only on requests whose
/// signature verified, to count failed sign-ins per address.
pub const CLIENT_ADDRESS_HEADER: &str = "X-YS-Client-Address";

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

/// The header value for a request whose body of at most `length` bytes is streamed through.
pub fn sign_streamed_request(
    secret: &[u8],
    timestamp_secs: u64,
    method: &str,
    path_and_query: &str,
    length: u64,
) -> String {
    let mac = streamed_parts(secret, timestamp_secs, method, path_and_query, length);
    format!(
        "t={timestamp_secs},l={length},v1s={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Whether a signature header is of the streamed form (its body is not signed).
pub fn is_streamed_signature(header: &str) -> bool {
    header
        .split(',')
        .any(|part| part.trim().starts_with("v1s="))
}

/// Verifies a streamed request at `now_secs`; the most body bytes the signature allows.
pub fn verify_streamed_request(
    secrets: &[&[u8]],
    header: Option<&str>,
    now_secs: u64,
    method: &str,
    path_and_query: &str,
) -> Result<u64, ForwardSignatureError> {
    let parsed = parse_header(header.ok_or(ForwardSignatureError::Missing)?)?;
    let Some(length) = parsed.length else {
        return Err(ForwardSignatureError::Malformed);
    };
    check_mac(secrets, &parsed, now_secs, |secret| {
        streamed_parts(secret, parsed.timestamp, method, path_and_query, length)
    })?;
    Ok(length)
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
    let parsed = parse_header(header.ok_or(ForwardSignatureError::Missing)?)?;
    if parsed.length.is_some() {
        // A streamed signature covers no body: it never stands for one.
        return Err(ForwardSignatureError::Malformed);
    }
    check_mac(secrets, &parsed, now_secs, |secret| {
        signed_parts(secret, parsed.timestamp, method, path_and_query, body)
    })
}

/// The header is fresh and one of `secrets` makes the MAC it claims (`mac` computes it).
fn check_mac(
    secrets: &[&[u8]],
    parsed: &ParsedHeader,
    now_secs: u64,
    mac: impl Fn(&[u8]) -> Hmac<Sha256>,
) -> Result<(), ForwardSignatureError> {
    check_freshness(parsed.timestamp, now_secs)?;
    if secrets
        .iter()
        .any(|secret| mac(secret).verify_slice(&parsed.mac).is_ok())
    {
        Ok(())
    } else {
        Err(ForwardSignatureError::Mismatch)
    }
}

/// A signature header's parts: `t` and `v1` (a signed body), or `t`, `l` and `v1s` (streamed).
struct ParsedHeader {
    timestamp: u64,
    length: Option<u64>,
    mac: Vec<u8>,
}

fn parse_header(value: &str) -> Result<ParsedHeader, ForwardSignatureError> {
    let mut timestamp = None;
    let mut length = None;
    let mut signature = None;
    let mut streamed = false;
    // Each part appears once and its value must read: a part that does not read is not
    // skipped, or a second copy of it after it would be taken instead.
    let malformed = |_| ForwardSignatureError::Malformed;
    for part in value.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) if timestamp.is_none() => {
                timestamp = Some(t.parse::<u64>().map_err(malformed)?);
            }
            Some(("l", l)) if length.is_none() => {
                length = Some(l.parse::<u64>().map_err(malformed)?);
            }
            Some(("v1", v)) if signature.is_none() => {
                signature = Some(hex::decode(v).map_err(|_| ForwardSignatureError::Malformed)?);
            }
            Some(("v1s", v)) if signature.is_none() => {
                streamed = true;
                signature = Some(hex::decode(v).map_err(|_| ForwardSignatureError::Malformed)?);
            }
            _ => return Err(ForwardSignatureError::Malformed),
        }
    }
    let length = match (streamed, length) {
        (true, Some(length)) => Some(length),
        (false, None) => None,
        _ => return Err(ForwardSignatureError::Malformed),
    };
    match (timestamp, signature) {
        (Some(timestamp), Some(mac)) if mac.len() == 32 => Ok(ParsedHeader {
            timestamp,
            length,
            mac,
        }),
        _ => Err(ForwardSignatureError::Malformed),
    }
}

fn check_freshness(timestamp: u64, now_secs: u64) -> Result<(), ForwardSignatureError> {
    let age_secs = now_secs.abs_diff(timestamp);
    if age_secs > FRESHNESS_WINDOW_SECS {
        return Err(ForwardSignatureError::Stale { age_secs });
    }
    Ok(())
}

fn streamed_parts(
    secret: &[u8],
    timestamp_secs: u64,
    method: &str,
    path_and_query: &str,
    length: u64,
) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(b"v1-streamed\n");
    mac.update(timestamp_secs.to_string().as_bytes());
    mac.update(b"\n");
    mac.update(method.to_ascii_uppercase().as_bytes());
    mac.update(b"\n");
    mac.update(path_and_query.as_bytes());
    mac.update(b"\n");
    mac.update(length.to_string().as_bytes());
    mac
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

    #[test]
    fn a_part_that_does_not_read_is_not_replaced_by_a_second_copy() {
        // Found by the `forward` fuzz target: an unreadable first `v1` (or `t`, `l`) was
        // skipped, and a valid copy after it accepted, though every part may appear only once.
        let mac = &signed()[format!("t={NOW},v1=").len()..];
        for bad in [
            format!("t={NOW},v1=zz,v1={mac}"),
            format!("t={NOW},v1=6aa00,v1={mac}"),
            format!("t=soon,t={NOW},v1={mac}"),
        ] {
            assert_eq!(
                verify(&bad, NOW, "POST", PATH, BODY),
                Err(ForwardSignatureError::Malformed),
                "{bad}"
            );
        }
        let streamed = sign_streamed_request(SECRET, NOW, "PUT", PATH, 5);
        let smac = &streamed[format!("t={NOW},l=5,v1s=").len()..];
        for bad in [
            format!("t={NOW},l=x,l=5,v1s={smac}"),
            format!("t={NOW},l=5,v1s=zz,v1s={smac}"),
        ] {
            assert_eq!(
                verify_streamed_request(&[SECRET], Some(&bad), NOW, "PUT", PATH),
                Err(ForwardSignatureError::Malformed),
                "{bad}"
            );
        }
        assert_eq!(
            verify_streamed_request(&[SECRET], Some(&streamed), NOW, "PUT", PATH),
            Ok(5)
        );
    }

    #[test]
    fn a_streamed_signature_binds_method_path_time_and_length() {
        const UPLOAD: &str = "/api/v1/uploads/file_1?expires=1764000600&signature=abc";
        let header = sign_streamed_request(SECRET, NOW, "PUT", UPLOAD, 1_000);
        assert!(header.starts_with(&format!("t={NOW},l=1000,v1s=")));
        assert!(is_streamed_signature(&header));
        assert!(!is_streamed_signature(&signed()));
        let check = |header: &str, now, method, path| {
            verify_streamed_request(&[SECRET], Some(header), now, method, path)
        };
        assert_eq!(check(&header, NOW, "PUT", UPLOAD), Ok(1_000));
        assert_eq!(
            check(&header, NOW, "POST", UPLOAD),
            Err(ForwardSignatureError::Mismatch)
        );
        assert_eq!(
            check(&header, NOW, "PUT", "/api/v1/uploads/file_2"),
            Err(ForwardSignatureError::Mismatch)
        );
        assert_eq!(
            check(&header, NOW + 301, "PUT", UPLOAD),
            Err(ForwardSignatureError::Stale { age_secs: 301 })
        );
        let longer = header.replacen("l=1000", "l=1000000", 1);
        assert_eq!(
            check(&longer, NOW, "PUT", UPLOAD),
            Err(ForwardSignatureError::Mismatch)
        );
    }

    #[test]
    fn the_two_forms_never_stand_for_each_other() {
        let streamed = sign_streamed_request(SECRET, NOW, "POST", PATH, 0);
        assert_eq!(
            verify(&streamed, NOW, "POST", PATH, b""),
            Err(ForwardSignatureError::Malformed)
        );
        assert_eq!(
            verify_streamed_request(&[SECRET], Some(&signed()), NOW, "POST", PATH),
            Err(ForwardSignatureError::Malformed)
        );
        let mac = &signed()[format!("t={NOW},v1=").len()..];
        for bad in [
            format!("t={NOW},v1s={mac}"),
            format!("t={NOW},l=x,v1s={mac}"),
            format!("t={NOW},l=5,v1={mac}"),
            format!("t={NOW},l=5,v1s={mac},v1={mac}"),
        ] {
            assert_eq!(
                verify_streamed_request(&[SECRET], Some(&bad), NOW, "POST", PATH),
                Err(ForwardSignatureError::Malformed),
                "{bad}"
            );
        }
    }
}
