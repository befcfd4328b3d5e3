//! Exponential backoff: the one retry schedule every retry in Gridshift follows (the
//! hub's providers and placement reconciles, the agent's stream, KEDA reconciles and
//! scheduler queue, leader election).
use std::time::Duration;

/// The delay after `failures` consecutive failures (`failures >= 1`):
/// `base × 2^(failures−1)`, capped at `max` (never below `base`), with "equal
/// jitter": half the step is fixed and half scaled by `jitter` in `[0, 1]`, so
/// many clients that failed together spread out yet never retry at once.
/// `jitter = 1` gives the plain exponential schedule.
pub fn delay(base: Duration, max: Duration, failures: u32, jitter: f64) -> Duration {
    let exp = failures.saturating_sub(1).min(30);
    let step = base.saturating_mul(1 << exp).min(max.max(base));
    step / 2 + (step / 2).mul_f64(jitter.clamp(0.0, 1.0))
}

/// Consecutive failures of one thing and the delay before its next attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Self { base, max: max.max(base), failures: 0 }
    }

    /// Counts a failure and returns the delay before the next attempt ([`delay`]).
    /// `jitter` is a uniform sample from `[0, 1]`.
    pub fn next_delay(&mut self, jitter: f64) -> Duration {
        self.failures = self.failures.saturating_add(1);
        delay(self.base, self.max, self.failures, jitter)
    }

    /// After a success: the next failure waits `base` again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_with_jitter_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(b.next_delay(1.0), Duration::from_millis(100));
        assert_eq!(b.next_delay(0.0), Duration::from_millis(100));
        assert_eq!(b.next_delay(1.0), Duration::from_millis(400));
        for _ in 0..10 {
            b.next_delay(0.5);
        }
        assert_eq!(b.next_delay(1.0), Duration::from_secs(1));
        assert_eq!(b.next_delay(0.0), Duration::from_millis(500));
        b.reset();
        assert_eq!(b.next_delay(1.0), Duration::from_millis(100));
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn doubles_then_caps_with_equal_jitter() {
        assert_eq!(delay(S(10), S(300), 1, 0.0), S(5));
        assert_eq!(delay(S(10), S(300), 1, 1.0), S(10));
        assert_eq!(delay(S(10), S(300), 2, 1.0), S(20));
        assert_eq!(delay(S(10), S(300), 3, 0.5), S(30));
        assert_eq!(delay(S(10), S(300), 20, 1.0), S(300));
        assert_eq!(delay(S(10), S(300), u32::MAX, 0.0), S(150));
    }

    #[test]
    fn a_cap_below_the_base_is_the_base_and_jitter_is_clamped() {
        assert_eq!(delay(S(10), S(1), 5, 1.0), S(10));
        assert_eq!(delay(S(10), S(300), 1, 7.0), S(10));
        assert_eq!(delay(S(10), S(300), 1, -1.0), S(5));
        assert_eq!(delay(S(10), S(300), 0, 1.0), S(10));
    }
}
