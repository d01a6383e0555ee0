//! API keys: `ys_live_…` / `ys_test_…`, how they are made, shown, stored and parsed.
//!
//! A key is `ys_<env>_` + 32 base32 characters (160 random bits, passed in by the caller) +
//! a 7-character CRC-32 checksum of everything before it. The checksum lets the edge refuse a
//! mistyped or invented key without asking the origin. Keys are stored only as SHA-256 hex;
//! the short display prefix (`ys_live_abcdef`) reveals 30 of the 160 bits and is safe to show.

use sha2::{Digest, Sha256};

/// Random bytes a key is made of (160 bits).
pub const RANDOM_BYTES: usize = 20;
const BODY_LEN: usize = 32; // base32 of 20 bytes
const CHECKSUM_LEN: usize = 7; // base32 of 4 bytes
const DISPLAY_BODY_CHARS: usize = 6;
const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// Live keys act on real data; test keys are for integration work (see the API document).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyEnvironment {
    Live,
    Test,
}

impl KeyEnvironment {
    pub const fn prefix(self) -> &'static str {
        match self {
            KeyEnvironment::Live => "ys_live_",
            KeyEnvironment::Test => "ys_test_",
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            KeyEnvironment::Live => "live",
            KeyEnvironment::Test => "test",
        }
    }
}

/// A freshly made key. `secret` is shown to its owner once and then only its hash is kept.
#[derive(Clone, PartialEq, Eq)]
pub struct NewApiKey {
    pub secret: String,
    pub display_prefix: String,
    pub hash: String,
    pub environment: KeyEnvironment,
}

impl std::fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApiKey")
            .field("secret", &"[redacted]")
            .field("display_prefix", &self.display_prefix)
            .field("environment", &self.environment)
            .finish()
    }
}

/// A well-formed key presented by a client: what to look it up by and how to show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedApiKey {
    pub environment: KeyEnvironment,
    pub display_prefix: String,
    pub hash: String,
}

/// Why a presented key is not a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ApiKeyError {
    #[error("the key does not start with ys_live_ or ys_test_")]
    UnknownPrefix,
    #[error("the key has the wrong length")]
    WrongLength,
    #[error("the key contains characters a key never has")]
    InvalidCharacter,
    #[error("the key's checksum does not match: it was mistyped or truncated")]
    ChecksumMismatch,
}

/// Makes a key from `random` bytes the caller drew from a secure source.
pub fn generate_api_key(environment: KeyEnvironment, random: [u8; RANDOM_BYTES]) -> NewApiKey {
    let mut secret = String::with_capacity(environment.prefix().len() + BODY_LEN + CHECKSUM_LEN);
    secret.push_str(environment.prefix());
    base32_into(&random, &mut secret);
    let checksum = crc32fast::hash(secret.as_bytes()).to_be_bytes();
    base32_into(&checksum, &mut secret);
    NewApiKey {
        display_prefix: display_prefix(&secret),
        hash: hash_api_key(&secret),
        environment,
        secret,
    }
}

/// Checks a presented key's shape and checksum. Says nothing about whether it exists.
pub fn parse_api_key(presented: &str) -> Result<ParsedApiKey, ApiKeyError> {
    let environment = [KeyEnvironment::Live, KeyEnvironment::Test]
        .into_iter()
        .find(|env| presented.starts_with(env.prefix()))
        .ok_or(ApiKeyError::UnknownPrefix)?;
    let rest = &presented[environment.prefix().len()..];
    if rest.len() != BODY_LEN + CHECKSUM_LEN {
        return Err(ApiKeyError::WrongLength);
    }
    if !rest.bytes().all(|b| BASE32.contains(&b)) {
        return Err(ApiKeyError::InvalidCharacter);
    }
    let (signed, checksum) = presented.split_at(presented.len() - CHECKSUM_LEN);
    let mut expected = String::with_capacity(CHECKSUM_LEN);
    base32_into(
        &crc32fast::hash(signed.as_bytes()).to_be_bytes(),
        &mut expected,
    );
    if expected != checksum {
        return Err(ApiKeyError::ChecksumMismatch);
    }
    Ok(ParsedApiKey {
        environment,
        display_prefix: display_prefix(presented),
        hash: hash_api_key(presented),
    })
}

/// Extracts the key from an `Authorization: Bearer …` header value, then parses it.
pub fn parse_bearer(authorization: &str) -> Result<ParsedApiKey, ApiKeyError> {
    let token = authorization
        .strip_prefix("Bearer ")
        .or_else(|| authorization.strip_prefix("bearer "))
        .ok_or(ApiKeyError::UnknownPrefix)?;
    parse_api_key(token.trim())
}

/// The storage and lookup form of a key: lowercase hex SHA-256 of the whole key.
pub fn hash_api_key(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn display_prefix(secret: &str) -> String {
    let prefix_len = KeyEnvironment::Live.prefix().len();
    secret[..prefix_len + DISPLAY_BODY_CHARS].to_owned()
}

/// RFC 4648 base32, lower case, without padding.
fn base32_into(bytes: &[u8], out: &mut String) {
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(env: KeyEnvironment, seed: u8) -> NewApiKey {
        let mut random = [0u8; RANDOM_BYTES];
        for (i, b) in random.iter_mut().enumerate() {
            *b = seed.wrapping_mul(31).wrapping_add(i as u8 * 7);
        }
        generate_api_key(env, random)
    }

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let live = key(KeyEnvironment::Live, 1);
        assert!(live.secret.starts_with("ys_live_"));
        assert_eq!(live.secret.len(), 8 + 32 + 7);
        assert_eq!(live.display_prefix, &live.secret[..14]);
        assert_eq!(live.hash, hash_api_key(&live.secret));
        assert_eq!(live.hash.len(), 64);
        assert!(key(KeyEnvironment::Test, 1).secret.starts_with("ys_test_"));
    }

    #[test]
    fn keys_carry_160_bits_of_the_given_randomness() {
        let zeros = generate_api_key(KeyEnvironment::Live, [0; RANDOM_BYTES]);
        let ones = generate_api_key(KeyEnvironment::Live, [0xff; RANDOM_BYTES]);
        assert_eq!(&zeros.secret[8..40], "a".repeat(32));
        assert_eq!(&ones.secret[8..40], "7".repeat(32));
        // Every one of the 160 input bits changes the key.
        for bit in 0..RANDOM_BYTES * 8 {
            let mut random = [0u8; RANDOM_BYTES];
            random[bit / 8] = 1 << (bit % 8);
            assert_ne!(
                generate_api_key(KeyEnvironment::Live, random).secret,
                zeros.secret
            );
        }
    }

    #[test]
    fn generated_keys_parse_back() {
        for env in [KeyEnvironment::Live, KeyEnvironment::Test] {
            let new = key(env, 9);
            let parsed = parse_api_key(&new.secret).unwrap();
            assert_eq!(parsed.environment, env);
            assert_eq!(parsed.hash, new.hash);
            assert_eq!(parsed.display_prefix, new.display_prefix);
        }
    }

    #[test]
    fn malformed_keys_are_refused_with_a_reason() {
        let good = key(KeyEnvironment::Live, 3).secret;
        assert_eq!(parse_api_key(""), Err(ApiKeyError::UnknownPrefix));
        assert_eq!(
            parse_api_key("sk_live_abc"),
            Err(ApiKeyError::UnknownPrefix)
        );
        assert_eq!(
            parse_api_key(&good.replace("ys_live_", "ys_prod_")),
            Err(ApiKeyError::UnknownPrefix)
        );
        assert_eq!(
            parse_api_key(&good[..good.len() - 1]),
            Err(ApiKeyError::WrongLength)
        );
        assert_eq!(
            parse_api_key(&format!("{good}a")),
            Err(ApiKeyError::WrongLength)
        );
        let upper = format!("ys_live_{}", good[8..].to_uppercase());
        assert_eq!(parse_api_key(&upper), Err(ApiKeyError::InvalidCharacter));
        let with_one = format!("{}1{}", &good[..10], &good[11..]);
        assert_eq!(parse_api_key(&with_one), Err(ApiKeyError::InvalidCharacter));
    }

    #[test]
    fn a_single_mistyped_character_fails_the_checksum() {
        let good = key(KeyEnvironment::Live, 5).secret;
        for position in 8..good.len() {
            let mut bytes = good.clone().into_bytes();
            bytes[position] = if bytes[position] == b'a' { b'b' } else { b'a' };
            let typo = String::from_utf8(bytes).unwrap();
            assert_eq!(
                parse_api_key(&typo),
                Err(ApiKeyError::ChecksumMismatch),
                "{position}"
            );
        }
        // A live key's body under the test prefix is not a test key.
        let swapped = good.replace("ys_live_", "ys_test_");
        assert_eq!(parse_api_key(&swapped), Err(ApiKeyError::ChecksumMismatch));
    }

    #[test]
    fn bearer_header_is_parsed() {
        let good = key(KeyEnvironment::Test, 2);
        assert_eq!(
            parse_bearer(&format!("Bearer {}", good.secret))
                .unwrap()
                .hash,
            good.hash
        );
        assert_eq!(parse_bearer(&good.secret), Err(ApiKeyError::UnknownPrefix));
        assert_eq!(
            parse_bearer("Basic dXNlcg=="),
            Err(ApiKeyError::UnknownPrefix)
        );
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let new = key(KeyEnvironment::Live, 4);
        assert!(!format!("{new:?}").contains(&new.secret));
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            hash_api_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
