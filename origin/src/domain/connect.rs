//! Connect attempts: the `state` a connect flow carries to the platform and back (WooCommerce
//! echoes it as `user_id`). A state is unguessable, single-use, short-lived and bound to the
//! tenant, the platform and (when re-authorising) the connection; this module decides whether
//! a returning state may be used. Also the PKCE (S256) pair Etsy's flow needs. No HTTP, no SQL.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// How long a connect attempt may be completed, from its start: ten minutes.
pub const CONNECT_STATE_TTL_MS: i64 = 10 * 60 * 1000;

/// The platforms a connect flow exists for.
pub const CONNECT_PLATFORMS: [&str; 3] = ["woocommerce", "ebay", "etsy"];

const STATE_PREFIX: &str = "cst_";
/// 24 random bytes, as 48 hex digits after the prefix.
const STATE_HEX_LEN: usize = 48;

/// A new state: `cst_` and 24 random bytes in hex (192 bits, not guessable).
pub fn new_state() -> String {
    format!(
        "{STATE_PREFIX}{}",
        crate::crypto::random_hex(STATE_HEX_LEN / 2)
    )
}

/// Whether `state` has the shape [`new_state`] gives (anything else is refused unread).
pub fn is_plausible_state(state: &str) -> bool {
    state
        .strip_prefix(STATE_PREFIX)
        .is_some_and(|hex| hex.len() == STATE_HEX_LEN && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// What the rules need of a stored attempt.
#[derive(Debug, Clone, Copy)]
pub struct AttemptFacts<'a> {
    pub platform: &'a str,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

/// Why a returning state may not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StateRefusal {
    /// Never issued, or issued to another tenant (which answers the same).
    #[error("this connect link is unknown; start connecting again")]
    Unknown,
    #[error("this connect link was made for another platform; start connecting again")]
    WrongPlatform,
    #[error("this connect link has expired; start connecting again")]
    Expired,
    #[error("this connect link has already been used; start connecting again")]
    Used,
}

/// Whether the attempt a state names may be completed for `platform` at `now`: known, for
/// this platform, unused and not expired (checked in that order, so a used link says so
/// even once it has also expired).
pub fn check_attempt(
    attempt: Option<AttemptFacts<'_>>,
    platform: &str,
    now: i64,
) -> Result<(), StateRefusal> {
    let attempt = attempt.ok_or(StateRefusal::Unknown)?;
    if attempt.platform != platform {
        return Err(StateRefusal::WrongPlatform);
    }
    if attempt.used_at.is_some() {
        return Err(StateRefusal::Used);
    }
    if now >= attempt.expires_at {
        return Err(StateRefusal::Expired);
    }
    Ok(())
}

/// When an attempt started at `now` expires.
pub fn expires_at(now: i64) -> i64 {
    now.saturating_add(CONNECT_STATE_TTL_MS)
}

/// A PKCE code verifier: 64 characters of `[0-9a-f]` (RFC 7636 asks 43 to 128 unreserved).
pub fn new_code_verifier() -> String {
    crate::crypto::random_hex(32)
}

/// The S256 code challenge of `verifier`: base64url (no padding) of its SHA-256.
pub fn code_challenge_s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(platform: &str, expires_at: i64, used_at: Option<i64>) -> AttemptFacts<'_> {
        AttemptFacts {
            platform,
            expires_at,
            used_at,
        }
    }

    #[test]
    fn a_fresh_unused_attempt_for_its_platform_is_valid() {
        assert_eq!(
            check_attempt(Some(facts("woocommerce", 1_000, None)), "woocommerce", 999),
            Ok(())
        );
    }

    #[test]
    fn unknown_other_platform_used_and_expired_attempts_are_refused() {
        assert_eq!(check_attempt(None, "ebay", 0), Err(StateRefusal::Unknown));
        assert_eq!(
            check_attempt(Some(facts("etsy", 1_000, None)), "ebay", 0),
            Err(StateRefusal::WrongPlatform)
        );
        assert_eq!(
            check_attempt(Some(facts("ebay", 1_000, Some(5))), "ebay", 10),
            Err(StateRefusal::Used)
        );
        assert_eq!(
            check_attempt(Some(facts("ebay", 1_000, None)), "ebay", 1_000),
            Err(StateRefusal::Expired)
        );
        assert_eq!(
            check_attempt(Some(facts("ebay", 1_000, Some(5))), "ebay", 2_000),
            Err(StateRefusal::Used),
            "a used link says it was used, even once expired"
        );
    }

    #[test]
    fn attempts_live_ten_minutes() {
        assert_eq!(expires_at(1_000), 1_000 + 600_000);
    }

    #[test]
    fn states_are_random_and_recognisable() {
        let (a, b) = (new_state(), new_state());
        assert_ne!(a, b);
        assert!(is_plausible_state(&a), "{a}");
        assert!(!is_plausible_state("cst_short"));
        assert!(!is_plausible_state(&a.replace("cst_", "xxx_")));
        assert!(!is_plausible_state(&format!("{}z", &a[..a.len() - 1])));
    }

    #[test]
    fn code_challenge_is_rfc_7636_s256() {
        // RFC 7636 appendix B.
        assert_eq!(
            code_challenge_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let verifier = new_code_verifier();
        assert!((43..=128).contains(&verifier.len()));
        assert_ne!(verifier, new_code_verifier());
    }
}
