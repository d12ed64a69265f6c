//! Exponential backoff with full jitter, for whatever waits for a busy service to recover: the
//! tooling's AWS calls and the bulk task's database connection.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Exponential backoff with full jitter: before retry `n` (0-based) it waits a random time up to
/// `min(max_delay, base * 2^n)`, and it gives up after `max_attempts` attempts in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first wait.
    pub base: Duration,
    /// The ceiling of every wait.
    pub max_delay: Duration,
    /// Attempts in all, the first one included.
    pub max_attempts: u32,
}

impl Default for Backoff {
    /// Six attempts over up to about a minute: long enough for throttling to pass, short enough
    /// that a real outage is reported while someone still watches.
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
            max_attempts: 6,
        }
    }
}

impl Backoff {
    /// The ceiling of the wait before retry `retry` (0 for the first retry).
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1_u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max_delay)
    }

    /// The wait before retry `retry`, for a jitter draw in `[0, 1]`.
    pub fn delay(&self, retry: u32, jitter: f64) -> Duration {
        self.ceiling(retry).mul_f64(jitter.clamp(0.0, 1.0))
    }
}

/// A jitter draw in `[0, 1]` from the standard library's randomly keyed hasher.
pub fn jitter() -> f64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0);
    (hasher.finish() >> 11) as f64 / (1_u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_ceiling_and_jitters_below_it() {
        let backoff = Backoff {
            base: Duration::from_millis(500),
            max_delay: Duration::from_secs(5),
            max_attempts: 6,
        };
        let ceilings: Vec<u128> = (0..6).map(|n| backoff.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, [500, 1000, 2000, 4000, 5000, 5000]);
        assert_eq!(backoff.ceiling(200), Duration::from_secs(5));
        assert_eq!(backoff.delay(2, 0.5), Duration::from_secs(1));
        assert_eq!(backoff.delay(2, 0.0), Duration::ZERO);
        assert_eq!(backoff.delay(2, 7.0), Duration::from_secs(2));
        for _ in 0..100 {
            let draw = jitter();
            assert!((0.0..=1.0).contains(&draw), "{draw}");
        }
    }
}
