//! When a unit that waits (for stock or tokens) is tried again. The event that unblocks it
//! (codes imported for its product, tokens added to its tenant) retries it at once; the sweep
//! that catches everything else backs off a unit each time it still cannot proceed, so units
//! that wait for ever never take the front of the queue from those that can go.

/// The sweep's backoff: the first wait, doubling up to the longest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResumeBackoff {
    pub first_ms: i64,
    pub max_ms: i64,
}

impl ResumeBackoff {
    /// How long after its `attempts`-th vain try (0 for the first) a unit is tried again.
    pub fn delay_ms(&self, attempts: i64) -> i64 {
        let doublings = u32::try_from(attempts.clamp(0, 30)).unwrap_or(30);
        self.first_ms
            .max(1)
            .saturating_mul(1_i64 << doublings)
            .min(self.max_ms.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_longest_wait() {
        let backoff = ResumeBackoff {
            first_ms: 1_000,
            max_ms: 300_000,
        };
        assert_eq!(backoff.delay_ms(0), 1_000);
        assert_eq!(backoff.delay_ms(1), 2_000);
        assert_eq!(backoff.delay_ms(3), 8_000);
        assert_eq!(backoff.delay_ms(9), 300_000);
        assert_eq!(backoff.delay_ms(i64::MAX), 300_000);
    }
}
