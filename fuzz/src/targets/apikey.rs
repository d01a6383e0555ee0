//! `shared::apikey`: the key format and the `Authorization: Bearer` header.
//!
//! Properties: a key that parses is exactly the key `generate_api_key` makes from the 160 bits
//! its body spells (parse → format round trip), with the display prefix and hash of that key;
//! every generated key parses back; one changed character of a generated key never parses
//! (the CRC-32 catches it); a bearer header parses only around a key that parses.

use shared::apikey::{
    ApiKeyError, KeyEnvironment, RANDOM_BYTES, generate_api_key, hash_api_key, parse_api_key,
    parse_bearer,
};

use crate::engine::{Case, Target};

const PRESENTED: usize = 0;
const RANDOM: usize = 1;
const TYPO: usize = 2;

const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

pub fn target() -> Target {
    Target {
        name: "apikey",
        fields: &["presented", "random", "typo"],
        dictionary: &[
            b"ys_live_",
            b"ys_test_",
            b"Bearer ",
            b"bearer ",
            b" ",
            b"\t",
            b"a",
            b"7",
            b"\xc3\xa9",
        ],
        seeds,
        check,
        max_field_len: 256,
    }
}

fn seeds() -> Vec<Case> {
    let live = generate_api_key(KeyEnvironment::Live, [7; RANDOM_BYTES]).secret;
    let test = generate_api_key(KeyEnvironment::Test, [0xa5; RANDOM_BYTES]).secret;
    let bearer = format!("Bearer {live}");
    vec![
        Case::new([live.as_bytes(), &[0; RANDOM_BYTES], &[9, b'x']]),
        Case::new([test.as_bytes(), &[0xff; RANDOM_BYTES], &[40, b'a']]),
        Case::new([bearer.as_bytes(), b"\x01\x02\x03", &[0, b'7']]),
        Case::new([b"sk_live_abc", b"", b""]),
    ]
}

/// RFC 4648 base32 (lower case, no padding) of exactly 32 characters: the 20 bytes they spell.
fn decode_body(body: &str) -> [u8; RANDOM_BYTES] {
    let mut out = [0u8; RANDOM_BYTES];
    let (mut buffer, mut bits, mut n) = (0u64, 0, 0);
    for c in body.bytes() {
        let value = BASE32.iter().position(|&b| b == c).expect("base32") as u64;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out[n] = (buffer >> bits) as u8;
            n += 1;
        }
    }
    assert_eq!(n, RANDOM_BYTES);
    out
}

fn check(case: &Case) -> &'static str {
    // Generate → parse, and a typo is caught.
    let mut random = [0u8; RANDOM_BYTES];
    for (slot, b) in random.iter_mut().zip(case.field(RANDOM)) {
        *slot = *b;
    }
    let environment = if case.field(RANDOM).len().is_multiple_of(2) {
        KeyEnvironment::Live
    } else {
        KeyEnvironment::Test
    };
    let new = generate_api_key(environment, random);
    let parsed = parse_api_key(&new.secret).expect("a generated key parses");
    assert_eq!(
        (parsed.environment, &parsed.hash, &parsed.display_prefix),
        (environment, &new.hash, &new.display_prefix)
    );
    assert!(
        !format!("{new:?}").contains(&new.secret),
        "Debug hides the secret"
    );
    let typo = case.field(TYPO);
    if let [position, replacement, ..] = typo {
        let position = 8 + usize::from(*position) % (new.secret.len() - 8);
        let mut bytes = new.secret.clone().into_bytes();
        if bytes[position] != *replacement {
            bytes[position] = *replacement;
            let typed = String::from_utf8_lossy(&bytes);
            assert!(
                parse_api_key(&typed).is_err(),
                "a key with one changed character parsed: {typed:?}"
            );
        }
    }

    // Parse → format: whatever parses is the key its body generates.
    let presented = case.text(PRESENTED);
    let bearer = parse_bearer(&presented);
    if let Ok(key) = &bearer {
        let token = presented
            .strip_prefix("Bearer ")
            .or_else(|| presented.strip_prefix("bearer "))
            .expect("a bearer header starts with its scheme");
        assert_eq!(parse_api_key(token.trim()).as_ref(), Ok(key));
    }
    let verdict = parse_api_key(&presented);
    let Ok(key) = verdict else {
        return match (verdict, bearer) {
            (_, Ok(_)) => "bearer accepted",
            (Err(ApiKeyError::UnknownPrefix), _) => "unknown prefix",
            (Err(ApiKeyError::WrongLength), _) => "wrong length",
            (Err(ApiKeyError::InvalidCharacter), _) => "invalid character",
            (Err(ApiKeyError::ChecksumMismatch), _) => "checksum mismatch",
            (Ok(_), _) => unreachable!(),
        };
    };
    assert!(presented.starts_with(key.environment.prefix()));
    let body = &presented[key.environment.prefix().len()..][..32];
    let regenerated = generate_api_key(key.environment, decode_body(body));
    assert_eq!(
        regenerated.secret, presented,
        "parse → format gives the key back"
    );
    assert_eq!(key.hash, hash_api_key(&presented));
    assert_eq!(key.display_prefix, regenerated.display_prefix);
    "accepted"
}
