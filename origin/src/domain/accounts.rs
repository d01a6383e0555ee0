//! Seller accounts of the dashboard: how an email is normalised, what a password must be and
//! how it is hashed (argon2id), the session token a browser holds (random, stored only as its
//! hash) and how long a session lives, and when sign-in attempts are limited (per account and
//! per client address). No HTTP, no SQL: `web/` and the store ask these.

use std::sync::LazyLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use shared::ErrorCode;

/// The roles an account holds in a tenant.
pub mod roles {
    /// Made the tenant by signing up; may do everything the tenant may.
    pub const OWNER: &str = "owner";
    /// Invited by an owner.
    pub const MEMBER: &str = "member";
}

/// Longest email accepted (RFC 5321's path limit).
pub const MAX_EMAIL_LEN: usize = 254;
/// Shortest password accepted, in characters (NIST SP 800-63B asks at least 8; sellers hold
/// tokens worth money).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted, in characters: argon2 hashes any length, the bound only keeps a
/// request from making it hash megabytes.
pub const MAX_PASSWORD_CHARS: usize = 128;
/// Longest shop name accepted at sign-up, in characters.
pub const MAX_SHOP_NAME_CHARS: usize = 100;

/// A session ends this long after its last use.
pub const SESSION_IDLE_MS: i64 = 24 * 60 * 60 * 1000;
/// A session ends this long after sign-in, however much it is used.
pub const SESSION_LIFETIME_MS: i64 = 7 * 24 * 60 * 60 * 1000;
/// A session's last use is recorded at most this often, so page views stay reads.
pub const SESSION_TOUCH_EVERY_MS: i64 = 5 * 60 * 1000;

/// Failed sign-ins are counted over this window.
pub const SIGN_IN_WINDOW_MS: i64 = 15 * 60 * 1000;
/// Failed sign-ins to one account (its email, known or not) in the window before the next
/// attempt is refused unread.
pub const MAX_FAILURES_PER_ACCOUNT: usize = 5;
/// Failed sign-ins from one client address in the window, whatever the accounts: room for an
/// office behind one address, not for guessing.
pub const MAX_FAILURES_PER_ADDRESS: usize = 20;

/// Random bytes of a session token (256 bits).
const SESSION_TOKEN_BYTES: usize = 32;

/// Why an account field was refused: the field, the words, the stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FieldRefusal {
    /// The form field at fault (`email`, `password`, `shop_name`).
    pub field: &'static str,
    pub message: String,
    pub code: ErrorCode,
}

impl FieldRefusal {
    fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        FieldRefusal {
            field,
            message: message.into(),
            code: ErrorCode::ValidationFailed,
        }
    }
}

/// The email an account is known by: trimmed and lower-cased, so `Anna@Shop.example ` and
/// `anna@shop.example` are one account. Refuses what cannot be an address.
pub fn normalise_email(raw: &str) -> Result<String, FieldRefusal> {
    let email = raw.trim().to_lowercase();
    let refuse = |message: &str| Err(FieldRefusal::invalid("email", message));
    if email.is_empty() {
        return refuse("Enter your email address.");
    }
    if email.len() > MAX_EMAIL_LEN {
        return refuse("This email address is too long.");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return refuse("Enter an email address like name@example.com.");
    };
    let plausible = !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if !plausible {
        return refuse("Enter an email address like name@example.com.");
    }
    Ok(email)
}

/// The shop name a new tenant is made with: trimmed, not empty, bounded.
pub fn shop_name(raw: &str) -> Result<String, FieldRefusal> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(FieldRefusal::invalid(
            "shop_name",
            "Enter the name of your shop.",
        ));
    }
    if name.chars().count() > MAX_SHOP_NAME_CHARS {
        return Err(FieldRefusal::invalid(
            "shop_name",
            format!("Use at most {MAX_SHOP_NAME_CHARS} characters."),
        ));
    }
    Ok(name.to_owned())
}

/// Whether `password` may be the password of the account with (normalised) `email`: long
/// enough, bounded, and not the email itself. No composition rules (NIST SP 800-63B).
pub fn check_new_password(password: &str, email: &str) -> Result<(), FieldRefusal> {
    let chars = password.chars().count();
    let refuse = |message: String| Err(FieldRefusal::invalid("password", message));
    if chars < MIN_PASSWORD_CHARS {
        return refuse(format!(
            "Use at least {MIN_PASSWORD_CHARS} characters; a few words in a row are easy to remember."
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return refuse(format!("Use at most {MAX_PASSWORD_CHARS} characters."));
    }
    if password.trim().to_lowercase() == email {
        return refuse("Your password must not be your email address.".to_owned());
    }
    Ok(())
}

/// The argon2id hash of `password` (PHC string, with its own random salt), as stored.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashes any password up to its limits")
        .to_string()
}

/// A hash no password matches, checked when the email names no account so that an unknown
/// email takes as long to refuse as a wrong password.
static UNKNOWN_ACCOUNT_HASH: LazyLock<String> =
    LazyLock::new(|| hash_password("no account has this password"));

/// Whether `password` matches the stored hash; `None` (no such account) checks it against a
/// hash nothing matches, taking the same time, and answers false.
pub fn verify_password(password: &str, stored: Option<&str>) -> bool {
    let (stored, known) = match stored {
        Some(hash) => (hash, true),
        None => (UNKNOWN_ACCOUNT_HASH.as_str(), false),
    };
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let matches = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    matches && known
}

/// A new session token: the cookie's value, 256 random bits in base64url.
pub fn new_session_token() -> String {
    let mut random = [0u8; SESSION_TOKEN_BYTES];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut random);
    URL_SAFE_NO_PAD.encode(random)
}

/// Whether a cookie value has the shape of [`new_session_token`] (anything else is not looked up).
pub fn is_plausible_session_token(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// The only form a session token is stored in: SHA-256, hex.
pub fn session_token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// When a session made at `created_at` and last used at `last_seen_at` ends.
pub fn session_ends_at(created_at: i64, last_seen_at: i64) -> i64 {
    created_at
        .saturating_add(SESSION_LIFETIME_MS)
        .min(last_seen_at.saturating_add(SESSION_IDLE_MS))
}

/// Whether a session still works at `now`.
pub fn session_is_live(created_at: i64, last_seen_at: i64, now: i64) -> bool {
    now < session_ends_at(created_at, last_seen_at)
}

/// Whether a live session's last use should be recorded again at `now`.
pub fn session_touch_due(last_seen_at: i64, now: i64) -> bool {
    now - last_seen_at >= SESSION_TOUCH_EVERY_MS
}

/// Sessions made before `.0` or last used before `.1` have ended at `now`: the rows to prune.
pub fn ended_session_cutoffs(now: i64) -> (i64, i64) {
    (
        now.saturating_sub(SESSION_LIFETIME_MS),
        now.saturating_sub(SESSION_IDLE_MS),
    )
}

/// Whose failures hold a sign-in back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitedBy {
    Account,
    Address,
}

/// A sign-in refused unread: by whose failures, and from when a new attempt is counted again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInLimit {
    pub by: LimitedBy,
    pub retry_at: i64,
}

impl SignInLimit {
    /// The words the sign-in page shows (the retry time is given beside them).
    pub fn message(&self) -> &'static str {
        match self.by {
            LimitedBy::Account => "Too many failed sign-ins to this account.",
            LimitedBy::Address => "Too many failed sign-ins from your network.",
        }
    }

    /// Whole seconds until `retry_at`, at least one (a `Retry-After` value).
    pub fn retry_after_secs(&self, now: i64) -> i64 {
        ((self.retry_at - now).max(0) + 999) / 1000
    }
}

/// Whether a sign-in attempt at `now` is refused before its password is checked, given the
/// times of the failed attempts to this account and from this address (any order, any age):
/// refused once the window holds as many failures as the limit allows, until the oldest of
/// them leaves it. The account is checked first, so its owner learns what holds them back.
pub fn sign_in_limit(
    account_failures: &[i64],
    address_failures: &[i64],
    now: i64,
) -> Option<SignInLimit> {
    let limit = |failures: &[i64], max: usize, by: LimitedBy| {
        let mut recent: Vec<i64> = failures
            .iter()
            .copied()
            .filter(|at| *at > now - SIGN_IN_WINDOW_MS && *at <= now)
            .collect();
        if recent.len() < max {
            return None;
        }
        recent.sort_unstable();
        // Allowed again once fewer than `max` failures are in the window.
        let retry_at = recent[recent.len() - max] + SIGN_IN_WINDOW_MS;
        Some(SignInLimit { by, retry_at })
    };
    limit(
        account_failures,
        MAX_FAILURES_PER_ACCOUNT,
        LimitedBy::Account,
    )
    .or_else(|| {
        limit(
            address_failures,
            MAX_FAILURES_PER_ADDRESS,
            LimitedBy::Address,
        )
    })
}

/// The failures older than this at `now` no longer count: the rows to prune.
pub fn sign_in_failures_cutoff(now: i64) -> i64 {
    now.saturating_sub(SIGN_IN_WINDOW_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_one_account_whatever_their_case_and_spaces() {
        assert_eq!(
            normalise_email("  Anna@Shop.Example ").unwrap(),
            "anna@shop.example"
        );
        for bad in [
            "",
            "anna",
            "anna@",
            "@shop.example",
            "anna@shop",
            "a b@shop.example",
        ] {
            let refusal = normalise_email(bad).unwrap_err();
            assert_eq!(refusal.field, "email", "{bad}");
            assert_eq!(refusal.code, ErrorCode::ValidationFailed);
        }
        assert!(normalise_email(&format!("{}@shop.example", "a".repeat(250))).is_err());
    }

    #[test]
    fn a_password_is_long_enough_and_not_the_email() {
        assert!(check_new_password("correct horse battery", "anna@shop.example").is_ok());
        assert_eq!(
            check_new_password("short", "anna@shop.example")
                .unwrap_err()
                .field,
            "password"
        );
        assert!(check_new_password(&"x".repeat(129), "a@b.example").is_err());
        assert!(check_new_password("Anna@Shop.Example", "anna@shop.example").is_err());
        // Characters, not bytes: twelve umlauts are twelve characters.
        assert!(check_new_password(&"ü".repeat(12), "a@b.example").is_ok());
    }

    #[test]
    fn passwords_verify_against_their_own_hash_only() {
        let hash = hash_password("correct horse battery");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert_ne!(hash, hash_password("correct horse battery"), "salted");
        assert!(verify_password("correct horse battery", Some(&hash)));
        assert!(!verify_password("correct horse batterY", Some(&hash)));
        assert!(!verify_password("no account has this password", None));
        assert!(!verify_password("anything", Some("not a hash")));
    }

    #[test]
    fn session_tokens_are_random_and_stored_hashed() {
        let token = new_session_token();
        assert!(is_plausible_session_token(&token), "{token}");
        assert_ne!(token, new_session_token());
        assert!(!is_plausible_session_token("short"));
        assert_eq!(session_token_hash(&token).len(), 64);
        assert_ne!(session_token_hash(&token), token);
    }

    #[test]
    fn a_session_ends_when_idle_or_old() {
        let day = 24 * 60 * 60 * 1000;
        assert!(session_is_live(0, 0, day - 1));
        assert!(!session_is_live(0, 0, day), "idle for a day");
        assert!(session_is_live(0, 6 * day, 7 * day - 1));
        assert!(!session_is_live(0, 7 * day - 1, 7 * day), "a week old");
        assert!(!session_touch_due(0, SESSION_TOUCH_EVERY_MS - 1));
        assert!(session_touch_due(0, SESSION_TOUCH_EVERY_MS));
    }

    #[test]
    fn sign_ins_are_limited_per_account_then_per_address() {
        let now = 10 * SIGN_IN_WINDOW_MS;
        let four: Vec<i64> = (1..=4).map(|n| now - n * 1000).collect();
        assert_eq!(sign_in_limit(&four, &four, now), None);
        let five: Vec<i64> = (1..=5).map(|n| now - n * 1000).collect();
        let limit = sign_in_limit(&five, &[], now).unwrap();
        assert_eq!(limit.by, LimitedBy::Account);
        // The oldest of the five leaves the window first.
        assert_eq!(limit.retry_at, now - 5000 + SIGN_IN_WINDOW_MS);
        assert_eq!(
            limit.retry_after_secs(now),
            (SIGN_IN_WINDOW_MS - 5000) / 1000
        );
        // Failures older than the window do not count.
        let old: Vec<i64> = (0..10).map(|n| now - SIGN_IN_WINDOW_MS - n).collect();
        assert_eq!(sign_in_limit(&old, &old, now), None);
        let twenty: Vec<i64> = (1..=20).map(|n| now - n * 1000).collect();
        let by_address = sign_in_limit(&four, &twenty, now).unwrap();
        assert_eq!(by_address.by, LimitedBy::Address);
        assert_eq!(by_address.retry_at, now - 20_000 + SIGN_IN_WINDOW_MS);
    }
}
