//! The rate-limit algorithm the edge's per-key Durable Object runs.
//!
//! Two fixed windows per key, aligned to the clock: a short one (60 requests per minute for API
//! keys) and a long one (the 1,000 per hour soft cap). A request is allowed only when both have
//! room; a refused request counts against neither. The state is a few integers, persisted by
//! the caller between requests; time comes in as an argument.

use serde::{Deserialize, Serialize};

/// At most `limit` requests per `seconds`-long window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub limit: u32,
    pub seconds: u64,
}

/// The limits a family of routes is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitClass {
    pub name: &'static str,
    pub short: Window,
    pub long: Window,
}

/// Public API calls, per API key: 60 per minute, 1,000 per hour.
pub const API_KEY: LimitClass = LimitClass {
    name: "api",
    short: Window {
        limit: 60,
        seconds: 60,
    },
    long: Window {
        limit: 1_000,
        seconds: 3_600,
    },
};

/// Platform webhook deliveries, per tenant: a busy shop's order burst must get through.
pub const WEBHOOK: LimitClass = LimitClass {
    name: "webhook",
    short: Window {
        limit: 1_200,
        seconds: 60,
    },
    long: Window {
        limit: 36_000,
        seconds: 3_600,
    },
};

/// Public API calls, per client address, counted before the key's own windows: well-formed keys
/// cost nothing to make up (their checksum is public), so a fresh key must not mean a fresh
/// budget. Room for a few honest integrations behind one address.
pub const API_CLIENT: LimitClass = LimitClass {
    name: "api-client",
    short: Window {
        limit: 300,
        seconds: 60,
    },
    long: Window {
        limit: 5_000,
        seconds: 3_600,
    },
};

/// Public API calls, per tenant, whatever key they use: a tenant's keys together get a few
/// keys' worth. Below [`API_CLIENT`], so one busy tenant behind an address is held first.
pub const API_TENANT: LimitClass = LimitClass {
    name: "api-tenant",
    short: Window {
        limit: 240,
        seconds: 60,
    },
    long: Window {
        limit: 4_000,
        seconds: 3_600,
    },
};

/// Webhook requests that prove nothing, per client address: deliveries whose signature does not
/// verify, and eBay challenges (which carry no signature). Counted apart from the tenant's
/// [`WEBHOOK`] budget, so junk from one address cannot starve a shop's real deliveries.
pub const WEBHOOK_UNVERIFIED: LimitClass = LimitClass {
    name: "webhook-unverified",
    short: Window {
        limit: 60,
        seconds: 60,
    },
    long: Window {
        limit: 600,
        seconds: 3_600,
    },
};

/// Lookups of eBay public keys the edge does not have yet, per tenant: each is a call to eBay,
/// and a notification can name any key id.
pub const EBAY_KEY_LOOKUP: LimitClass = LimitClass {
    name: "ebay-key-lookup",
    short: Window {
        limit: 10,
        seconds: 60,
    },
    long: Window {
        limit: 100,
        seconds: 3_600,
    },
};

/// Every class, as a limiter is told which to apply by name.
pub const CLASSES: [&LimitClass; 6] = [
    &API_KEY,
    &API_CLIENT,
    &API_TENANT,
    &WEBHOOK,
    &WEBHOOK_UNVERIFIED,
    &EBAY_KEY_LOOKUP,
];

/// The limit class called `name` (one of [`CLASSES`]).
pub fn limit_class(name: &str) -> Option<&'static LimitClass> {
    CLASSES.into_iter().find(|class| class.name == name)
}

/// Counters for one key, as persisted between requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimiterState {
    pub short_window_start: u64,
    pub short_count: u32,
    pub long_window_start: u64,
    pub long_count: u32,
}

/// The answer for one request, with everything the `X-RateLimit-*` headers need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub allowed: bool,
    /// The limit of the window that binds now (the one with less room left).
    pub limit: u32,
    /// Requests left in that window after this one.
    pub remaining: u32,
    /// Unix time (seconds) when that window starts over.
    pub reset_at: u64,
    /// Seconds to wait before a retry can succeed; set only when refused.
    pub retry_after: Option<u64>,
}

/// Decides one request at `now_secs` (Unix seconds) and updates `state`.
pub fn check_rate_limit(state: &mut LimiterState, class: &LimitClass, now_secs: u64) -> Decision {
    let short_start = window_start(now_secs, class.short);
    let long_start = window_start(now_secs, class.long);
    if state.short_window_start != short_start {
        state.short_window_start = short_start;
        state.short_count = 0;
    }
    if state.long_window_start != long_start {
        state.long_window_start = long_start;
        state.long_count = 0;
    }

    let short_full = state.short_count >= class.short.limit;
    let long_full = state.long_count >= class.long.limit;
    let allowed = !short_full && !long_full;
    if allowed {
        state.short_count += 1;
        state.long_count += 1;
    }

    let short_left = class.short.limit.saturating_sub(state.short_count);
    let long_left = class.long.limit.saturating_sub(state.long_count);
    let short_reset = short_start + class.short.seconds;
    let long_reset = long_start + class.long.seconds;
    // Report the long window only once it is the tighter of the two.
    let (limit, remaining, reset_at) = if long_left < short_left || long_full {
        (class.long.limit, long_left, long_reset)
    } else {
        (class.short.limit, short_left, short_reset)
    };
    let retry_after = (!allowed).then(|| {
        let until = if long_full { long_reset } else { short_reset };
        until.saturating_sub(now_secs).max(1)
    });
    Decision {
        allowed,
        limit,
        remaining,
        reset_at,
        retry_after,
    }
}

/// The headers every rate-limited answer carries: `X-RateLimit-Limit`, `-Remaining`, `-Reset`
/// (Unix seconds when the binding window starts over) and, when refused, `Retry-After` (seconds).
pub fn rate_limit_headers(decision: &Decision) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("X-RateLimit-Limit", decision.limit.to_string()),
        ("X-RateLimit-Remaining", decision.remaining.to_string()),
        ("X-RateLimit-Reset", decision.reset_at.to_string()),
    ];
    if let Some(retry_after) = decision.retry_after {
        headers.push(("Retry-After", retry_after.to_string()));
    }
    headers
}

fn window_start(now_secs: u64, window: Window) -> u64 {
    now_secs - now_secs % window.seconds
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_020; // 40 s into a minute, 820 s into an hour

    fn run(state: &mut LimiterState, class: &LimitClass, now: u64, times: u32) -> Decision {
        let mut last = None;
        for _ in 0..times {
            last = Some(check_rate_limit(state, class, now));
        }
        last.expect("times > 0")
    }

    #[test]
    fn sixty_per_minute_then_the_61st_is_refused() {
        let mut state = LimiterState::default();
        let first = check_rate_limit(&mut state, &API_KEY, T0);
        assert_eq!(
            (first.allowed, first.limit, first.remaining),
            (true, 60, 59)
        );
        let sixtieth = run(&mut state, &API_KEY, T0, 59);
        assert!(sixtieth.allowed);
        assert_eq!(sixtieth.remaining, 0);
        let refused = check_rate_limit(&mut state, &API_KEY, T0 + 5);
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        assert_eq!(refused.reset_at, T0 + 20);
        assert_eq!(refused.retry_after, Some(15));
    }

    #[test]
    fn the_next_minute_starts_over() {
        let mut state = LimiterState::default();
        run(&mut state, &API_KEY, T0, 60);
        assert!(!check_rate_limit(&mut state, &API_KEY, T0 + 19).allowed);
        let next = check_rate_limit(&mut state, &API_KEY, T0 + 20);
        assert!(next.allowed);
        assert_eq!(next.remaining, 59);
    }

    #[test]
    fn refused_requests_do_not_count() {
        let mut state = LimiterState::default();
        run(&mut state, &API_KEY, T0, 100);
        assert_eq!(state.short_count, 60);
        assert_eq!(state.long_count, 60);
    }

    #[test]
    fn the_hourly_cap_binds_across_minutes() {
        let mut state = LimiterState::default();
        let hour_start = T0 - T0 % 3_600;
        // 16 full minutes of 60 = 960, then 40 more in the 17th minute.
        for minute in 0..16 {
            run(&mut state, &API_KEY, hour_start + minute * 60, 60);
        }
        let d = run(&mut state, &API_KEY, hour_start + 16 * 60, 40);
        assert!(d.allowed);
        assert_eq!((d.limit, d.remaining), (1_000, 0));
        let refused = check_rate_limit(&mut state, &API_KEY, hour_start + 16 * 60 + 1);
        assert!(!refused.allowed);
        assert_eq!(refused.limit, 1_000);
        assert_eq!(refused.reset_at, hour_start + 3_600);
        assert_eq!(refused.retry_after, Some(3_600 - 16 * 60 - 1));
        // A new minute does not help; a new hour does.
        assert!(!check_rate_limit(&mut state, &API_KEY, hour_start + 17 * 60).allowed);
        assert!(check_rate_limit(&mut state, &API_KEY, hour_start + 3_600).allowed);
    }

    #[test]
    fn long_window_is_reported_once_it_is_tighter() {
        let mut state = LimiterState {
            long_window_start: T0 - T0 % 3_600,
            long_count: 990,
            ..LimiterState::default()
        };
        let d = check_rate_limit(&mut state, &API_KEY, T0);
        assert_eq!((d.limit, d.remaining), (1_000, 9));
    }

    #[test]
    fn webhook_class_is_higher_than_the_api_class() {
        let mut api = LimiterState::default();
        let mut webhook = LimiterState::default();
        assert!(!run(&mut api, &API_KEY, T0, 61).allowed);
        assert!(run(&mut webhook, &WEBHOOK, T0, 61).allowed);
        let d = run(&mut webhook, &WEBHOOK, T0, WEBHOOK.short.limit - 61);
        assert!(d.allowed);
        assert!(!check_rate_limit(&mut webhook, &WEBHOOK, T0).allowed);
    }

    #[test]
    fn classes_are_found_by_name() {
        assert_eq!(limit_class("api"), Some(&API_KEY));
        assert_eq!(limit_class("webhook"), Some(&WEBHOOK));
        for class in CLASSES {
            assert_eq!(limit_class(class.name), Some(class));
        }
        assert_eq!(limit_class("other"), None);
    }

    #[test]
    fn retry_after_is_never_zero() {
        let mut state = LimiterState::default();
        let minute_end = T0 - T0 % 60 + 59;
        run(&mut state, &API_KEY, minute_end, 60);
        let refused = check_rate_limit(&mut state, &API_KEY, minute_end);
        assert_eq!(refused.retry_after, Some(1));
    }

    #[test]
    fn headers_carry_limit_remaining_reset_and_retry_after_only_when_refused() {
        let mut state = LimiterState::default();
        let first = check_rate_limit(&mut state, &API_KEY, T0);
        assert_eq!(
            rate_limit_headers(&first),
            vec![
                ("X-RateLimit-Limit", "60".to_owned()),
                ("X-RateLimit-Remaining", "59".to_owned()),
                ("X-RateLimit-Reset", (T0 + 20).to_string()),
            ]
        );
        run(&mut state, &API_KEY, T0, 59);
        let refused = check_rate_limit(&mut state, &API_KEY, T0 + 5);
        let headers = rate_limit_headers(&refused);
        assert_eq!(headers.len(), 4);
        assert_eq!(headers[1], ("X-RateLimit-Remaining", "0".to_owned()));
        assert_eq!(headers[3], ("Retry-After", "15".to_owned()));
    }

    #[test]
    fn state_round_trips_through_json() {
        let mut state = LimiterState::default();
        run(&mut state, &API_KEY, T0, 3);
        let json = serde_json::to_string(&state).unwrap();
        assert_eq!(serde_json::from_str::<LimiterState>(&json).unwrap(), state);
    }
}
