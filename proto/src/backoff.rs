//! Exponential backoff: the one retry schedule the hub's providers, the agent's
//! stream and the scheduler's queue share.
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

#[cfg(test)]
mod tests {
    use super::*;

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
