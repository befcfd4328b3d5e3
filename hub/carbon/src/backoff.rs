//! Retry timing as pure functions: exponential backoff with jitter, the
//! `Retry-After` header, and how long each kind of failure keeps a provider
//! away from a zone (DESIGN §3 invariant 5: retried, never cached forever).
use crate::error::ErrorKind;
use jiff::{SignedDuration, Timestamp};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffPolicy {
    /// Delay after the first failure (before jitter).
    pub base: SignedDuration,
    /// Cap of the exponential schedule; also the delay for persistent errors
    /// (bad key, unknown zone), which retrying sooner cannot fix.
    pub max: SignedDuration,
    /// Upper bound on an upstream `Retry-After`, so a bogus header cannot park a
    /// provider for days.
    pub max_retry_after: SignedDuration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self {
            base: SignedDuration::from_secs(30),
            max: SignedDuration::from_mins(30),
            max_retry_after: SignedDuration::from_hours(6),
        }
    }
}

/// The delay after `failures` consecutive failures (`failures >= 1`), with
/// "equal jitter": half the exponential step is fixed, half is random
/// (`jitter` in `[0, 1)`), so retries of many zones spread out but never come
/// back immediately ([`gridshift_core::backoff::delay`] in jiff durations).
pub fn backoff_delay(policy: &BackoffPolicy, failures: u32, jitter: f64) -> SignedDuration {
    let std = |d: SignedDuration| Duration::try_from(d).unwrap_or(Duration::ZERO);
    let delay = gridshift_core::backoff::delay(std(policy.base), std(policy.max), failures, jitter);
    SignedDuration::try_from(delay).unwrap_or(SignedDuration::MAX)
}

/// When a failed (provider, zone) may be tried again.
///
/// - persistent errors wait the policy maximum;
/// - everything else follows [`backoff_delay`];
/// - an upstream `Retry-After` is a floor (capped by `max_retry_after`).
pub fn retry_at(
    now: Timestamp,
    policy: &BackoffPolicy,
    failures: u32,
    kind: ErrorKind,
    retry_after: Option<SignedDuration>,
    jitter: f64,
) -> Timestamp {
    let mut delay = if kind.is_persistent() {
        backoff_delay(policy, u32::MAX, jitter)
    } else {
        backoff_delay(policy, failures, jitter)
    };
    if let Some(after) = retry_after {
        delay = delay.max(after.clamp(SignedDuration::ZERO, policy.max_retry_after));
    }
    now + delay
}

/// Parses a `Retry-After` value: delta-seconds or an HTTP-date.
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<SignedDuration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(SignedDuration::from_secs(secs.min(i64::MAX as u64) as i64));
    }
    let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    Some(at.duration_since(now).max(SignedDuration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> BackoffPolicy {
        BackoffPolicy {
            base: SignedDuration::from_secs(10),
            max: SignedDuration::from_secs(300),
            max_retry_after: SignedDuration::from_hours(1),
        }
    }

    #[test]
    fn doubles_then_caps_with_equal_jitter() {
        let p = policy();
        assert_eq!(backoff_delay(&p, 1, 0.0), SignedDuration::from_secs(5));
        assert_eq!(backoff_delay(&p, 1, 1.0), SignedDuration::from_secs(10));
        assert_eq!(backoff_delay(&p, 2, 1.0), SignedDuration::from_secs(20));
        assert_eq!(backoff_delay(&p, 3, 0.5), SignedDuration::from_secs(30));
        assert_eq!(backoff_delay(&p, 20, 1.0), SignedDuration::from_secs(300));
        assert_eq!(backoff_delay(&p, u32::MAX, 0.0), SignedDuration::from_secs(150));
    }

    #[test]
    fn retry_after_is_a_floor_and_capped() {
        let p = policy();
        let now: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        let t = retry_at(now, &p, 1, ErrorKind::RateLimited, Some(SignedDuration::from_secs(120)), 0.0);
        assert_eq!(t, now + SignedDuration::from_secs(120));
        let t = retry_at(now, &p, 1, ErrorKind::RateLimited, Some(SignedDuration::from_hours(48)), 0.0);
        assert_eq!(t, now + SignedDuration::from_hours(1));
        let t = retry_at(now, &p, 1, ErrorKind::Http, None, 1.0);
        assert_eq!(t, now + SignedDuration::from_secs(10));
    }

    #[test]
    fn persistent_errors_wait_longest() {
        let p = policy();
        let now: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        let t = retry_at(now, &p, 1, ErrorKind::Unauthorized, None, 1.0);
        assert_eq!(t, now + SignedDuration::from_secs(300));
    }

    #[test]
    fn parses_both_retry_after_forms() {
        let now: Timestamp = "2015-10-21T07:28:00Z".parse().unwrap();
        assert_eq!(parse_retry_after("120", now), Some(SignedDuration::from_secs(120)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:30:00 GMT", now),
            Some(SignedDuration::from_secs(120))
        );
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), Some(SignedDuration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
