//! `shared::forward`: the edge → origin signature, `t=,v1=` over a body and the streamed
//! `t=,l=,v1s=` over a length.
//!
//! Properties: what the edge signs verifies within the freshness window and is `Stale` (with
//! the true age) outside it, in both forms; neither form stands for the other; and a header
//! that verifies is one the signer makes: exactly one `t` and one `v1` (or one `t`, `l` and
//! `v1s`), nothing else, whose values are the signer's for this method, path and body or
//! length. So no mutated, duplicated or padded header is accepted.

use shared::forward::{
    FRESHNESS_WINDOW_SECS, ForwardSignatureError, is_streamed_signature, sign_forwarded_request,
    sign_streamed_request, verify_forwarded_request, verify_streamed_request,
};

use crate::engine::{Case, Target, le_u64};
use crate::seeds;

const HEADER: usize = 0;
const SECRET: usize = 1;
const METHOD: usize = 2;
const PATH: usize = 3;
const BODY: usize = 4;
/// 8 bytes of signing time, then 2 of clock skew (signed) between edge and origin.
const CLOCK: usize = 5;

const NOW: u64 = 1_764_000_000;

pub fn target() -> Target {
    Target {
        name: "forward",
        fields: &["header", "secret", "method", "path", "body", "clock"],
        dictionary: &[
            b"t=", b"v1=", b"v1s=", b"l=", b",", b" ", b"=", b"00", b"ff", b"FF",
        ],
        seeds,
        check,
        max_field_len: 8 * 1024,
    }
}

fn clock(timestamp: u64, skew: i16) -> Vec<u8> {
    let mut bytes = timestamp.to_le_bytes().to_vec();
    bytes.extend_from_slice(&skew.to_le_bytes());
    bytes
}

fn seeds() -> Vec<Case> {
    let secret = b"e2e-edge-shared-secret-0123456789abcdef";
    let ingest = "/internal/v1/events";
    let upload = "/api/v1/uploads/file_1?expires=1764000600&signature=abc";
    let mut cases = Vec::new();
    for (body, skew) in [
        (seeds::WOO_CREATED_BODY, 0),
        (seeds::EBAY_ORDER, 300),
        (b"".as_slice(), -301),
    ] {
        let header = sign_forwarded_request(secret, NOW, "POST", ingest, body);
        cases.push(Case {
            fields: vec![
                header.into_bytes(),
                secret.to_vec(),
                b"POST".to_vec(),
                ingest.as_bytes().to_vec(),
                body.to_vec(),
                clock(NOW, skew),
            ],
        });
    }
    let streamed = sign_streamed_request(secret, NOW, "PUT", upload, 1_000);
    cases.push(Case {
        fields: vec![
            streamed.into_bytes(),
            secret.to_vec(),
            b"PUT".to_vec(),
            upload.as_bytes().to_vec(),
            vec![b'x'; 1_000],
            clock(NOW, -5),
        ],
    });
    cases
}

/// A header as the signer writes it, read without `shared`: its `t`, `l` and MAC, or `None`
/// when it is not exactly one of the two shapes.
fn strict_parts(header: &str) -> Option<(u64, Option<u64>, Vec<u8>)> {
    let mut t = None;
    let mut l = None;
    let mut v1 = None;
    let mut v1s = None;
    for part in header.split(',') {
        let (name, value) = part.trim().split_once('=')?;
        let slot = match name {
            "t" => &mut t,
            "l" => &mut l,
            "v1" => &mut v1,
            "v1s" => &mut v1s,
            _ => return None,
        };
        if slot.replace(value).is_some() {
            return None;
        }
    }
    let timestamp = t?.parse().ok()?;
    match (l, v1, v1s) {
        (None, Some(mac), None) => Some((timestamp, None, hex::decode(mac).ok()?)),
        (Some(length), None, Some(mac)) => Some((
            timestamp,
            Some(length.parse().ok()?),
            hex::decode(mac).ok()?,
        )),
        _ => None,
    }
}

fn check(case: &Case) -> &'static str {
    let secret = case.field(SECRET);
    let (method, path, body) = (case.text(METHOD), case.text(PATH), case.field(BODY));
    let clock = case.field(CLOCK);
    let signed_at = le_u64(clock);
    let skew = i16::from_le_bytes([
        clock.get(8).copied().unwrap_or(0),
        clock.get(9).copied().unwrap_or(0),
    ]);
    let now = signed_at.saturating_add_signed(i64::from(skew));
    let age = now.abs_diff(signed_at);
    let fresh = if age <= FRESHNESS_WINDOW_SECS {
        Ok(())
    } else {
        Err(ForwardSignatureError::Stale { age_secs: age })
    };
    let length = body.len() as u64;

    // What the edge signs verifies, in its own form only.
    let plain = sign_forwarded_request(secret, signed_at, &method, &path, body);
    let streamed = sign_streamed_request(secret, signed_at, &method, &path, length);
    let secrets = [secret];
    let verify =
        |header: &str| verify_forwarded_request(&secrets, Some(header), now, &method, &path, body);
    let verify_streamed =
        |header: &str| verify_streamed_request(&secrets, Some(header), now, &method, &path);
    assert_eq!(verify(&plain), fresh, "{plain}");
    assert_eq!(
        verify_streamed(&streamed),
        fresh.map(|()| length),
        "{streamed}"
    );
    assert!(!is_streamed_signature(&plain) && is_streamed_signature(&streamed));
    assert_eq!(verify(&streamed), Err(ForwardSignatureError::Malformed));
    assert_eq!(
        verify_streamed(&plain),
        Err(ForwardSignatureError::Malformed)
    );
    assert_eq!(
        verify_forwarded_request(&secrets, None, now, &method, &path, body),
        Err(ForwardSignatureError::Missing)
    );

    // A header that verifies is one the signer makes for this request.
    let header = case.text(HEADER);
    let as_plain = verify(&header);
    let as_streamed = verify_streamed(&header);
    for verdict in [as_plain.err(), as_streamed.err()].into_iter().flatten() {
        if let ForwardSignatureError::Stale { age_secs } = verdict {
            assert!(age_secs > FRESHNESS_WINDOW_SECS);
        }
    }
    if as_plain.is_ok() || as_streamed.is_ok() {
        assert!(
            as_plain.is_ok() != as_streamed.is_ok(),
            "one header verified in both forms: {header:?}"
        );
        let (timestamp, signed_length, mac) = strict_parts(&header)
            .unwrap_or_else(|| panic!("accepted a header the signer never writes: {header:?}"));
        assert!(now.abs_diff(timestamp) <= FRESHNESS_WINDOW_SECS);
        let canonical = match signed_length {
            None => sign_forwarded_request(secret, timestamp, &method, &path, body),
            Some(l) => {
                assert_eq!(as_streamed, Ok(l));
                sign_streamed_request(secret, timestamp, &method, &path, l)
            }
        };
        let written = match signed_length {
            None => format!("t={timestamp},v1={}", hex::encode(&mac)),
            Some(l) => format!("t={timestamp},l={l},v1s={}", hex::encode(&mac)),
        };
        assert_eq!(written, canonical, "accepted a MAC the signer did not make");
        assert_eq!(is_streamed_signature(&header), signed_length.is_some());
        return if signed_length.is_some() {
            "accepted streamed"
        } else {
            "accepted"
        };
    }
    let verdict = if is_streamed_signature(&header) {
        as_streamed.map(|_| ())
    } else {
        as_plain
    };
    match verdict {
        Err(ForwardSignatureError::Malformed) => "malformed",
        Err(ForwardSignatureError::Stale { .. }) => "stale",
        Err(ForwardSignatureError::Mismatch) => "mismatch",
        Err(ForwardSignatureError::Missing) => unreachable!("the header was present"),
        Ok(()) => unreachable!("handled above"),
    }
}
