//! API keys: minting a key (random secret, stored hash, display prefix), how long a rotated
//! key keeps working, and what a key may do to keys and data: it hands out at most what it
//! holds, a test key never acts on live keys or live data. The HTTP API and the operator CLI
//! mint keys the same way.

use shared::ErrorCode;
use shared::apikey::KeyEnvironment;

use super::scopes::{Grant, Scope};
use crate::ids::{new_id, now_ms};

/// How long a rotated key keeps working.
pub const ROTATION_GRACE_MS: i64 = 24 * 60 * 60 * 1000;

/// The `action` of each entry of a tenant's audit log.
pub mod audit {
    pub const CREATED: &str = "key.created";
    pub const ROTATED: &str = "key.rotated";
    pub const REVOKED: &str = "key.revoked";
    /// A key operation refused for what it would have granted; `reason` is the error code.
    pub const REFUSED: &str = "key.refused";
}

/// A freshly minted key: what to store, and the secret to show once.
pub struct MintedKey {
    pub id: String,
    /// The first characters of the key, safe to show (`ys_live_abcdef`).
    pub prefix: String,
    /// SHA-256 of the secret: the only form the key is stored in.
    pub key_hash: String,
    pub environment: KeyEnvironment,
    /// The stored scope list (`*`, or names space separated).
    pub scopes: String,
    pub created_at: i64,
    pub secret: String,
}

/// Mints a key holding `grant` in `environment`.
pub fn make_key(grant: &Grant, environment: KeyEnvironment) -> MintedKey {
    let mut random = [0u8; shared::apikey::RANDOM_BYTES];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut random);
    let key = shared::apikey::generate_api_key(environment, random);
    MintedKey {
        id: new_id("key"),
        prefix: key.display_prefix,
        key_hash: key.hash,
        environment,
        scopes: grant.stored(),
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

/// What a key holds: its scopes and its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    pub grant: Grant,
    pub environment: KeyEnvironment,
}

impl Holding {
    /// A stored key's holding, from its `scopes` and `environment` columns.
    pub fn stored(scopes: &str, environment: &str) -> Holding {
        Holding {
            grant: Grant::from_stored(scopes),
            environment: environment_of(environment),
        }
    }
}

/// Why a key may not do what it asked; each has its own stable error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The other key holds this scope (`*`: every scope) and the caller does not.
    ScopeEscalation(&'static str),
    /// A test key acting on a live key.
    EnvironmentEscalation,
    /// A test key on a route that reads or changes live data.
    TestKeyLiveData(Scope),
    /// The tenant already holds as many usable keys as it may.
    KeyLimitReached(i64),
    /// The key to rotate has stopped working; rotating it would revive it.
    Expired,
}

impl Refusal {
    pub fn code(&self) -> ErrorCode {
        match self {
            Refusal::ScopeEscalation(_) => ErrorCode::ScopeEscalation,
            Refusal::EnvironmentEscalation => ErrorCode::EnvironmentEscalation,
            Refusal::TestKeyLiveData(_) => ErrorCode::TestKeyLiveData,
            Refusal::KeyLimitReached(_) => ErrorCode::KeyLimitReached,
            Refusal::Expired => ErrorCode::Conflict,
        }
    }

    /// How the caller gets what it wanted.
    pub fn hint(&self) -> &'static str {
        match self {
            Refusal::ScopeEscalation(_) => {
                "ask for a subset of this key's scopes, or use a key that holds them"
            }
            Refusal::EnvironmentEscalation => "use a ys_live_ key to manage ys_live_ keys",
            Refusal::TestKeyLiveData(_) => {
                "use a ys_live_ key; test keys reach only GET /api/v1/tenant and test keys"
            }
            Refusal::KeyLimitReached(_) => "revoke keys that are no longer used",
            Refusal::Expired => "rotate its successor, or create a new key",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::ScopeEscalation(scope) => {
                write!(f, "this key cannot hand out {scope}: it does not hold it")
            }
            Refusal::EnvironmentEscalation => f.write_str("a test key cannot act on live keys"),
            Refusal::TestKeyLiveData(scope) => write!(
                f,
                "test keys do not reach live data ({} is live data)",
                scope.as_str()
            ),
            Refusal::KeyLimitReached(cap) => {
                write!(
                    f,
                    "the account already holds {cap} usable keys, the most it may"
                )
            }
            Refusal::Expired => f.write_str("this key has expired"),
        }
    }
}

impl std::error::Error for Refusal {}

/// Whether `caller` may create, rotate or revoke a key holding `target`: only a key that
/// holds every scope of the target, and a test key only test keys.
pub fn may_manage(caller: &Holding, target: &Holding) -> Result<(), Refusal> {
    if caller.environment == KeyEnvironment::Test && target.environment == KeyEnvironment::Live {
        return Err(Refusal::EnvironmentEscalation);
    }
    caller
        .grant
        .covers(&target.grant)
        .map_err(Refusal::ScopeEscalation)
}

/// Whether a key of `environment` may use `scope`. Until test keys have data of their own,
/// they may only manage keys (and of those only test keys: [`may_manage`]); every other
/// scope reads or changes live orders, codes, files, connections or tokens.
pub fn may_use(environment: KeyEnvironment, scope: Scope) -> Result<(), Refusal> {
    match (environment, scope) {
        (KeyEnvironment::Live, _) | (KeyEnvironment::Test, Scope::KeysRead | Scope::KeysWrite) => {
            Ok(())
        }
        (KeyEnvironment::Test, scope) => Err(Refusal::TestKeyLiveData(scope)),
    }
}

/// Whether a key that expires at `expires_at` (None: never) may be rotated at `now`.
pub fn rotatable(expires_at: Option<i64>, now: i64) -> Result<(), Refusal> {
    match expires_at {
        Some(at) if at <= now => Err(Refusal::Expired),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holding(scopes: &str, environment: &str) -> Holding {
        Holding::stored(scopes, environment)
    }

    #[test]
    fn a_minted_key_is_stored_as_its_hash_only() {
        let key = make_key(&Grant::Only(vec![Scope::OrdersRead]), KeyEnvironment::Test);
        assert!(key.secret.starts_with("ys_test_"));
        assert!(key.secret.starts_with(&key.prefix));
        assert_ne!(key.key_hash, key.secret);
        assert_eq!(key.scopes, "orders:read");
        assert_eq!(make_key(&Grant::Every, KeyEnvironment::Live).scopes, "*");
    }

    #[test]
    fn a_key_hands_out_at_most_what_it_holds() {
        let keys_only = holding("keys:write", "live");
        assert_eq!(
            may_manage(&keys_only, &holding("*", "live")),
            Err(Refusal::ScopeEscalation("*"))
        );
        assert_eq!(
            may_manage(&keys_only, &holding("", "live")),
            Err(Refusal::ScopeEscalation("*")),
            "a legacy empty list is every scope"
        );
        assert_eq!(
            may_manage(&keys_only, &holding("keys:write orders:read", "live")),
            Err(Refusal::ScopeEscalation("orders:read"))
        );
        assert_eq!(
            may_manage(&keys_only, &holding("keys:write", "test")),
            Ok(())
        );
        assert_eq!(
            may_manage(&holding("*", "live"), &holding("*", "live")),
            Ok(())
        );
    }

    #[test]
    fn a_test_key_never_reaches_live_keys_or_live_data() {
        let test = holding("*", "test");
        assert_eq!(
            may_manage(&test, &holding("orders:read", "live")),
            Err(Refusal::EnvironmentEscalation)
        );
        assert_eq!(may_manage(&test, &holding("*", "test")), Ok(()));
        assert_eq!(may_use(KeyEnvironment::Test, Scope::KeysWrite), Ok(()));
        for scope in Scope::ALL {
            assert_eq!(may_use(KeyEnvironment::Live, scope), Ok(()));
            if !matches!(scope, Scope::KeysRead | Scope::KeysWrite) {
                assert_eq!(
                    may_use(KeyEnvironment::Test, scope),
                    Err(Refusal::TestKeyLiveData(scope))
                );
            }
        }
    }

    #[test]
    fn an_expired_key_is_not_rotated() {
        assert_eq!(rotatable(None, 10), Ok(()));
        assert_eq!(rotatable(Some(11), 10), Ok(()));
        assert_eq!(rotatable(Some(10), 10), Err(Refusal::Expired));
        assert_eq!(Refusal::Expired.code(), ErrorCode::Conflict);
        assert_eq!(
            Refusal::ScopeEscalation("*").code().http_status(),
            403,
            "escalations answer like missing scopes"
        );
    }
}
