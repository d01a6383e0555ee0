//! API keys: minting a key (random secret, stored hash, display prefix) and how long a
//! rotated key keeps working. The HTTP API and the operator CLI mint keys the same way.

use shared::apikey::KeyEnvironment;

use super::scopes::{Scope, stored};
use crate::ids::{new_id, now_ms};

/// How long a rotated key keeps working.
pub const ROTATION_GRACE_MS: i64 = 24 * 60 * 60 * 1000;

/// A freshly minted key: what to store, and the secret to show once.
pub struct MintedKey {
    pub id: String,
    /// The first characters of the key, safe to show (`ys_live_abcdef`).
    pub prefix: String,
    /// SHA-256 of the secret: the only form the key is stored in.
    pub key_hash: String,
    pub environment: KeyEnvironment,
    /// The stored scope list (space separated; empty is every scope).
    pub scopes: String,
    pub created_at: i64,
    pub secret: String,
}

/// Mints a key with `scopes` (none: every scope) in `environment`.
pub fn make_key(scopes: &[Scope], environment: KeyEnvironment) -> MintedKey {
    let mut random = [0u8; shared::apikey::RANDOM_BYTES];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut random);
    let key = shared::apikey::generate_api_key(environment, random);
    MintedKey {
        id: new_id("key"),
        prefix: key.display_prefix,
        key_hash: key.hash,
        environment,
        scopes: stored(scopes),
        created_at: now_ms(),
        secret: key.secret,
    }
}

/// The environment of a stored key (`test`, else live).
pub fn environment_of(stored: &str) -> KeyEnvironment {
    if stored == "test" {
        KeyEnvironment::Test
    } else {
        KeyEnvironment::Live
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_key_is_stored_as_its_hash_only() {
        let key = make_key(&[Scope::OrdersRead], KeyEnvironment::Test);
        assert!(key.secret.starts_with("ys_test_"));
        assert!(key.secret.starts_with(&key.prefix));
        assert_ne!(key.key_hash, key.secret);
        assert_eq!(key.scopes, "orders:read");
    }
}
