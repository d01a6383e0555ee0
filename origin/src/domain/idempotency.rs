//! Idempotency keys of state-changing requests, as Stripe and Svix define them: what a valid
//! key is, the fingerprint a key is bound to (method, path and query, body), what a stored
//! key means for a new request with it, and which answers are kept for replay.

use sha2::{Digest, Sha256};

/// The request header carrying the key.
pub const HEADER: &str = "Idempotency-Key";
/// The answer header saying the answer is the stored one of an earlier request.
pub const REPLAYED_HEADER: &str = "Idempotent-Replayed";
/// Longest key accepted.
pub const MAX_KEY_LEN: usize = 255;
/// A claim whose request has not answered after this long is taken to be abandoned (its
/// process died) and the key may be claimed again.
pub const ABANDONED_AFTER_MS: i64 = 5 * 60 * 1000;
/// Expired keys deleted by each new claim: more than one, so the expired rows drain faster
/// than new keys arrive, and few enough to keep a claim short.
pub const PRUNE_PER_CLAIM: i64 = 100;

/// The key, if it is 1 to [`MAX_KEY_LEN`] printable ASCII characters (space to `~`), not all
/// spaces; else what is wrong with it.
pub fn check_key(raw: &[u8]) -> Result<&str, &'static str> {
    if raw.is_empty() || raw.iter().all(|b| *b == b' ') {
        return Err("the Idempotency-Key header is empty");
    }
    if raw.len() > MAX_KEY_LEN {
        return Err("the Idempotency-Key header is longer than 255 characters");
    }
    if !raw.iter().all(|b| (0x20..=0x7e).contains(b)) {
        return Err("the Idempotency-Key header holds characters other than printable ASCII");
    }
    std::str::from_utf8(raw).map_err(|_| "the Idempotency-Key header is not text")
}

/// What a key is bound to: SHA-256 over the method, the path with its query, and the body.
pub fn fingerprint(method: &str, path_and_query: &str, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(method.as_bytes());
    hash.update([0]);
    hash.update(path_and_query.as_bytes());
    hash.update([0]);
    hash.update(body);
    hex::encode(hash.finalize())
}

/// Whether an answer with this status is kept for replay. Server errors are not: the
/// request may not have happened, and the client may retry it with the same key.
pub fn keeps_answer(status: u16) -> bool {
    status < 500
}

/// A key already stored for the tenant, as far as judging a new request goes.
#[derive(Debug, Clone, Copy)]
pub struct StoredKey<'a> {
    pub fingerprint: &'a str,
    pub created_at: i64,
    /// When its current holder claimed it.
    pub locked_at: i64,
    /// Whether its answer is stored.
    pub answered: bool,
}

/// What a request with a key already stored gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The key is free again (expired, or its holder abandoned it): this request takes it.
    Claim,
    /// The stored answer.
    Replay,
    /// 422: the key belongs to another request.
    Mismatch,
    /// 409: the same request is still being answered.
    InFlight,
}

/// Judges a request bound to `fingerprint` against the key stored for it, at `now`, keys
/// being kept `retention_ms`.
pub fn judge(stored: &StoredKey<'_>, fingerprint: &str, now: i64, retention_ms: i64) -> Verdict {
    if stored.created_at <= now - retention_ms {
        return Verdict::Claim;
    }
    if stored.fingerprint != fingerprint {
        return Verdict::Mismatch;
    }
    if stored.answered {
        Verdict::Replay
    } else if stored.locked_at <= now - ABANDONED_AFTER_MS {
        Verdict::Claim
    } else {
        Verdict::InFlight
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_short_printable_ascii() {
        assert_eq!(check_key(b"order-42 retry"), Ok("order-42 retry"));
        assert!(check_key(b"").is_err());
        assert!(check_key(b"   ").is_err());
        assert!(check_key(&[b'k'; 256]).is_err());
        assert!(check_key(&[b'k'; 255]).is_ok());
        assert!(check_key("clé".as_bytes()).is_err());
        assert!(check_key(b"a\tb").is_err());
    }

    #[test]
    fn fingerprints_separate_method_path_and_body() {
        let a = fingerprint("POST", "/a", b"{}");
        assert_eq!(a, fingerprint("POST", "/a", b"{}"));
        assert_ne!(a, fingerprint("POST", "/a", b"{ }"));
        assert_ne!(a, fingerprint("POST", "/b", b"{}"));
        assert_ne!(
            fingerprint("POST", "/a", b"b"),
            fingerprint("POST", "/ab", b"")
        );
    }

    #[test]
    fn stored_keys_are_judged_as_stripe_does() {
        let day = 86_400_000;
        let now = 10 * day;
        let key = |answered, created_at, locked_at| StoredKey {
            fingerprint: "f",
            created_at,
            locked_at,
            answered,
        };
        assert_eq!(
            judge(&key(true, now - 1, now - 1), "f", now, day),
            Verdict::Replay
        );
        assert_eq!(
            judge(&key(true, now - 1, now - 1), "g", now, day),
            Verdict::Mismatch
        );
        assert_eq!(
            judge(&key(false, now - 1, now - 1), "f", now, day),
            Verdict::InFlight
        );
        assert_eq!(
            judge(&key(false, now - 1, now - 1), "g", now, day),
            Verdict::Mismatch
        );
        let abandoned = now - ABANDONED_AFTER_MS;
        assert_eq!(
            judge(&key(false, abandoned, abandoned), "f", now, day),
            Verdict::Claim
        );
        assert_eq!(
            judge(&key(true, now - day, now - day), "g", now, day),
            Verdict::Claim
        );
        assert!(keeps_answer(402) && keeps_answer(200) && !keeps_answer(500));
    }
}
