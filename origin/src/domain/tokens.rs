//! The token lifecycle of eBay and Etsy connections, as rules with no I/O: when a token set
//! ends and when its refresh is due, what a refused refresh means, when an eBay refresh token
//! is near its end, and the backoff of a refresh that failed for a while.

/// The status of a connection whose tokens no longer work (refused refresh, revoked consent,
/// refresh token at its end): not polled, not refreshed, refused at the edge, until the seller
/// connects it again.
pub const NEEDS_RECONNECT: &str = "needs_reconnect";

/// The alert raised with [`NEEDS_RECONNECT`] (subject: the connection id), and ahead of an eBay
/// refresh token's end.
pub const NEEDS_RECONNECT_ALERT: &str = "connection_needs_reconnect";

/// Etsy's refresh tokens live 90 days (each refresh issues a new one).
pub const ETSY_REFRESH_TOKEN_LIFETIME_SECS: i64 = 90 * 24 * 3600;

/// How long before its end an eBay refresh token (~18 months) asks the seller to reconnect.
pub const EBAY_REFRESH_TOKEN_WARNING_MS: i64 = 30 * 24 * 3600 * 1000;

/// The expiry of each token of a set, and when its refresh is due. Unix ms; None: unknown
/// (an expiry) or nothing to refresh (the due time).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenTimes {
    pub access_expires_at: Option<i64>,
    pub refresh_expires_at: Option<i64>,
    pub refresh_due_at: Option<i64>,
}

/// When a token set obtained at `now` wants its refresh: `margin` before the access token ends,
/// or half-way through its life when that is shorter than twice the margin (a short-lived token
/// is never refreshed only after it ended). An unknown lifetime is due at once ("refresh soon");
/// without a refresh token nothing is due.
pub fn times_of(
    now: i64,
    access_lifetime_secs: Option<i64>,
    refresh_expires_at: Option<i64>,
    has_refresh_token: bool,
    margin_ms: i64,
) -> TokenTimes {
    let access_expires_at =
        access_lifetime_secs.map(|secs| now.saturating_add(secs.max(0).saturating_mul(1000)));
    let refresh_due_at = has_refresh_token.then(|| match access_lifetime_secs {
        Some(secs) => {
            let lifetime = secs.max(0).saturating_mul(1000);
            now.saturating_add(lifetime - margin_ms.min(lifetime / 2))
        }
        None => now,
    });
    TokenTimes {
        access_expires_at,
        refresh_expires_at,
        refresh_due_at,
    }
}

/// How a refresh failed, as the platform's token endpoint answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshFailure {
    /// `invalid_grant`: the refresh token is dead (revoked, expired, a password change). Only
    /// the seller can fix it, by connecting again.
    Refused,
    /// Anything else (network, 5xx, 429, an answer we cannot read): try again later.
    Transient(String),
}

/// When a refresh that failed `failures` times in a row (1 = the first) is tried again: 30 s,
/// doubling, at most 10 minutes.
pub fn retry_after_failure(now: i64, failures: i64) -> i64 {
    let step = failures.clamp(1, 6) - 1;
    now.saturating_add((30_000_i64 << step).min(600_000))
}

/// Why an eBay connection must be reconnected soon, if it must: its refresh token ends within
/// [`EBAY_REFRESH_TOKEN_WARNING_MS`] of `now`. The connection keeps working until then.
pub fn ebay_refresh_token_ending(refresh_expires_at: Option<i64>, now: i64) -> Option<i64> {
    refresh_expires_at.filter(|end| end.saturating_sub(now) <= EBAY_REFRESH_TOKEN_WARNING_MS)
}

/// Why a connection must be connected again: what its `connection_needs_reconnect` alert says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconnectReason {
    /// The platform answered `invalid_grant` to a refresh (revoked, expired, password change).
    RefreshRefused,
    /// The eBay refresh token reached its end (~18 months after consent).
    RefreshTokenExpired,
    /// The eBay refresh token ends soon: the connection still works until then.
    RefreshTokenEnding,
    /// The access token was refused and there is no refresh token to get another with.
    NoRefreshToken,
    /// The seller revoked the app's access (eBay `AUTHORIZATION_REVOCATION`).
    AuthorizationRevoked,
}

impl ReconnectReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ReconnectReason::RefreshRefused => "refresh_token_refused",
            ReconnectReason::RefreshTokenExpired => "refresh_token_expired",
            ReconnectReason::RefreshTokenEnding => "refresh_token_ending",
            ReconnectReason::NoRefreshToken => "no_refresh_token",
            ReconnectReason::AuthorizationRevoked => "authorization_revoked",
        }
    }

    fn message(self) -> &'static str {
        match self {
            ReconnectReason::RefreshRefused => {
                "the platform refused the connection's refresh token (revoked, expired, or the seller changed their password): connect the store again"
            }
            ReconnectReason::RefreshTokenExpired => {
                "the connection's refresh token has ended: connect the store again"
            }
            ReconnectReason::RefreshTokenEnding => {
                "the connection's refresh token ends soon: connect the store again before it does, or orders stop arriving then"
            }
            ReconnectReason::NoRefreshToken => {
                "the platform refused the access token and the connection has no refresh token: connect the store again"
            }
            ReconnectReason::AuthorizationRevoked => {
                "the seller revoked YourSender's access on the platform: connect the store again"
            }
        }
    }

    /// The alert's detail: which connection, why, and (for an ending token) until when.
    pub fn alert_detail(
        self,
        connection_id: &str,
        platform: &str,
        refresh_expires_at: Option<i64>,
    ) -> serde_json::Value {
        let mut detail = serde_json::json!({
            "connection_id": connection_id,
            "platform": platform,
            "reason": self.as_str(),
            "message": self.message(),
        });
        if let Some(end) = refresh_expires_at {
            detail["refresh_token_expires_at"] = crate::ids::rfc3339(end).into();
        }
        detail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn a_refresh_is_due_a_margin_before_the_end_or_half_way_for_short_tokens() {
        let two_hours = times_of(1_000, Some(7200), None, true, 5 * MIN);
        assert_eq!(two_hours.access_expires_at, Some(1_000 + 7_200_000));
        assert_eq!(two_hours.refresh_due_at, Some(1_000 + 7_200_000 - 5 * MIN));
        let seconds = times_of(1_000, Some(4), None, true, 5 * MIN);
        assert_eq!(seconds.refresh_due_at, Some(1_000 + 2_000));
        let unknown = times_of(1_000, None, None, true, 5 * MIN);
        assert_eq!(unknown.access_expires_at, None);
        assert_eq!(unknown.refresh_due_at, Some(1_000), "refresh soon");
        let no_refresh = times_of(1_000, Some(7200), Some(9), false, 5 * MIN);
        assert_eq!(no_refresh.refresh_due_at, None);
        assert_eq!(no_refresh.refresh_expires_at, Some(9));
    }

    #[test]
    fn failed_refreshes_back_off_to_ten_minutes() {
        assert_eq!(retry_after_failure(0, 1), 30_000);
        assert_eq!(retry_after_failure(0, 2), 60_000);
        assert_eq!(retry_after_failure(0, 5), 480_000);
        assert_eq!(retry_after_failure(0, 6), 600_000);
        assert_eq!(retry_after_failure(0, 60), 600_000);
    }

    #[test]
    fn an_ebay_refresh_token_warns_thirty_days_before_its_end() {
        let day = 24 * 3600 * 1000;
        assert_eq!(ebay_refresh_token_ending(None, 0), None);
        assert_eq!(ebay_refresh_token_ending(Some(31 * day), 0), None);
        assert_eq!(ebay_refresh_token_ending(Some(30 * day), 0), Some(30 * day));
        assert_eq!(ebay_refresh_token_ending(Some(-1), 0), Some(-1));
    }
}
