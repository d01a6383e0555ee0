//! When the edge retries handing an event to the origin, and when it gives up.
//!
//! A queued event that the origin did not store is retried after 1 s, 5 s, 30 s, 5 min and
//! 30 min; after the fifth retry fails it goes to the dead-letter queue. Recording a dead letter
//! at the origin is retried with a capped backoff until it lands. The Queue counts attempts
//! (1 on the first delivery); these functions turn that count into the next delay.

/// Delays, in seconds, before each retry of a forward to the origin's ingest route.
pub const FORWARD_RETRY_DELAYS_SECS: [u32; 5] = [1, 5, 30, 300, 1_800];

/// Retries before an event goes to the dead-letter queue (the Queue's `max_retries`).
pub const FORWARD_MAX_RETRIES: u32 = FORWARD_RETRY_DELAYS_SECS.len() as u32;

/// The longest wait between two attempts to record a dead letter.
pub const DEAD_LETTER_MAX_DELAY_SECS: u32 = 3_600;

/// The delay before retrying after delivery `attempt` (1-based) failed, from `schedule`.
/// Past the end of the schedule the last delay repeats; an empty schedule means no delay.
pub fn forward_retry_delay_secs(schedule: &[u32], attempt: u32) -> u32 {
    let index = attempt.saturating_sub(1) as usize;
    schedule
        .get(index)
        .or(schedule.last())
        .copied()
        .unwrap_or(0)
}

/// The delay before retrying a dead-letter record after `attempt` (1-based) failed:
/// 30 s doubling, capped at an hour, so an origin that is down for days is still reached.
pub fn dead_letter_retry_delay_secs(attempt: u32) -> u32 {
    let doublings = attempt.saturating_sub(1).min(16);
    (30u32 << doublings).min(DEAD_LETTER_MAX_DELAY_SECS)
}

/// The delay after the `attempt`-th failure (1-based) of work retried on the production
/// schedule, or `None` once the schedule is used up (the work is then dead). The origin
/// retries event processing and delivery emails on it; the edge its forwards.
pub fn scheduled_retry_delay_secs(attempt: u32) -> Option<u32> {
    let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
    FORWARD_RETRY_DELAYS_SECS.get(index).copied()
}

/// The delay after the `attempt`-th failure (1-based) of work retried for a time window
/// rather than a number of times (delivery emails while a mail server is down): `schedule`
/// gives the delays, its last one repeating, and the retries stop (`None`) once the next one
/// would wait past `window_secs` counted from the first failure. A schedule's delays add up
/// as attempts go by, so a window of days is spanned by the repeated last (capped) delay.
pub fn capped_retry_delay_secs(schedule: &[u32], attempt: u32, window_secs: u64) -> Option<u32> {
    let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
    let delay = *schedule.get(index).or(schedule.last())?;
    let listed = index.min(schedule.len());
    let waited: u64 = schedule[..listed]
        .iter()
        .map(|d| u64::from(*d))
        .sum::<u64>()
        + u64::try_from(index - listed)
            .unwrap_or(u64::MAX)
            .saturating_mul(u64::from(delay));
    (waited.saturating_add(u64::from(delay)) <= window_secs).then_some(delay)
}

/// Reads a retry schedule written as comma-separated seconds (`"0,0,1"`), as a deployment may
/// configure a shorter one for tests. `None` when any part is not a number or the list is empty.
pub fn parse_retry_schedule(text: &str) -> Option<Vec<u32>> {
    let schedule: Option<Vec<u32>> = text
        .split(',')
        .map(|part| part.trim().parse::<u32>().ok())
        .collect();
    schedule.filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_schedule_is_the_documented_one() {
        let delays: Vec<u32> = (1..=5)
            .map(|attempt| forward_retry_delay_secs(&FORWARD_RETRY_DELAYS_SECS, attempt))
            .collect();
        assert_eq!(delays, [1, 5, 30, 300, 1_800]);
        assert_eq!(FORWARD_MAX_RETRIES, 5);
    }

    #[test]
    fn attempts_past_the_schedule_repeat_its_last_delay() {
        assert_eq!(
            forward_retry_delay_secs(&FORWARD_RETRY_DELAYS_SECS, 6),
            1_800
        );
        assert_eq!(
            forward_retry_delay_secs(&FORWARD_RETRY_DELAYS_SECS, u32::MAX),
            1_800
        );
        // A queue that reports attempt 0 (older runtimes) gets the first delay.
        assert_eq!(forward_retry_delay_secs(&FORWARD_RETRY_DELAYS_SECS, 0), 1);
        assert_eq!(forward_retry_delay_secs(&[], 3), 0);
    }

    #[test]
    fn scheduled_retries_stop_after_the_schedule() {
        let delays: Vec<Option<u32>> = (0..=6).map(scheduled_retry_delay_secs).collect();
        assert_eq!(
            delays,
            [
                None,
                Some(1),
                Some(5),
                Some(30),
                Some(300),
                Some(1_800),
                None
            ]
        );
    }

    #[test]
    fn dead_letter_backoff_doubles_then_caps_at_an_hour() {
        let delays: Vec<u32> = (1..=9).map(dead_letter_retry_delay_secs).collect();
        assert_eq!(delays, [30, 60, 120, 240, 480, 960, 1_920, 3_600, 3_600]);
        assert_eq!(dead_letter_retry_delay_secs(u32::MAX), 3_600);
    }

    #[test]
    fn capped_retries_back_off_then_repeat_until_the_window_is_used_up() {
        let schedule = [30, 60, 3_600];
        let delays: Vec<Option<u32>> = (0..=5)
            .map(|attempt| capped_retry_delay_secs(&schedule, attempt, 3 * 3_600))
            .collect();
        // 30 + 60 + 3600 + 3600 = 7290 s waited before the fifth retry; 10890 > 10800.
        assert_eq!(
            delays,
            [None, Some(30), Some(60), Some(3_600), Some(3_600), None]
        );
        // A 36-minute outage is far inside five days of the default-like schedule.
        let days = 5 * 24 * 3_600;
        let hourly = [30, 60, 120, 300, 600, 1_200, 1_800, 3_600];
        let retries = (1..)
            .take_while(|&a| capped_retry_delay_secs(&hourly, a, days).is_some())
            .count();
        assert!(retries > 100, "{retries}");
        assert_eq!(capped_retry_delay_secs(&hourly, u32::MAX, days), None);
        assert_eq!(capped_retry_delay_secs(&[], 1, days), None);
        assert_eq!(capped_retry_delay_secs(&[0], 1_000_000, 0), Some(0));
    }

    #[test]
    fn parses_a_configured_schedule() {
        assert_eq!(parse_retry_schedule("0,0,1"), Some(vec![0, 0, 1]));
        assert_eq!(parse_retry_schedule(" 2 , 3 "), Some(vec![2, 3]));
        for bad in ["", "1,,2", "1,x", "-1", "1.5"] {
            assert_eq!(parse_retry_schedule(bad), None, "{bad:?}");
        }
    }
}
