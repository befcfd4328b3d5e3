//! When to refresh a zone: pure functions over times and durations.
use crate::providers::floor_to;
use jiff::{SignedDuration, Timestamp};

/// Refresh timing knobs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefreshTiming {
    /// Never refresh a zone more often than this, whatever the data resolution.
    pub min_interval: SignedDuration,
    /// Upstreams publish a slot a little after it starts; ask this long after
    /// the boundary.
    pub offset: SignedDuration,
    /// Up to this much random delay on top, so a fleet of hubs (and the many
    /// zones of one hub) do not hit an API on the same second.
    pub jitter: SignedDuration,
}

impl Default for RefreshTiming {
    fn default() -> Self {
        Self {
            min_interval: SignedDuration::from_mins(5),
            offset: SignedDuration::from_mins(2),
            jitter: SignedDuration::from_mins(2),
        }
    }
}

/// The next refresh after a success at `now` for data of `resolution`: the
/// next `step` boundary (plus offset) strictly after `now`, plus jitter
/// (`jitter` in `[0, 1)`), where `step` is the resolution but at least
/// `min_interval`.
pub fn next_refresh(now: Timestamp, resolution: SignedDuration, t: &RefreshTiming, jitter: f64) -> Timestamp {
    let step = resolution.max(t.min_interval).max(SignedDuration::from_secs(1));
    let boundary = floor_to(now - t.offset, step) + step + t.offset;
    boundary + SignedDuration::from_secs_f64(t.jitter.as_secs_f64().max(0.0) * jitter.clamp(0.0, 1.0))
}

/// When data generated at `generated_at` should be refreshed: used after a
/// restart, so data fetched moments before the restart is not fetched again.
pub fn next_refresh_after_restore(
    generated_at: Timestamp,
    resolution: SignedDuration,
    t: &RefreshTiming,
    jitter: f64,
) -> Timestamp {
    next_refresh(generated_at, resolution, t, jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn aligns_to_resolution_with_offset_and_jitter() {
        let t = RefreshTiming {
            min_interval: SignedDuration::from_mins(5),
            offset: SignedDuration::from_mins(2),
            jitter: SignedDuration::from_mins(2),
        };
        let hour = SignedDuration::from_hours(1);
        assert_eq!(next_refresh(ts("2024-01-01T10:01:00Z"), hour, &t, 0.0), ts("2024-01-01T10:02:00Z"));
        assert_eq!(next_refresh(ts("2024-01-01T10:02:00Z"), hour, &t, 0.0), ts("2024-01-01T11:02:00Z"));
        assert_eq!(next_refresh(ts("2024-01-01T10:30:00Z"), hour, &t, 0.5), ts("2024-01-01T11:03:00Z"));
        let half = SignedDuration::from_mins(30);
        assert_eq!(next_refresh(ts("2024-01-01T10:40:00Z"), half, &t, 0.0), ts("2024-01-01T11:02:00Z"));
        // 5-minute data is not polled faster than min_interval allows.
        let t10 = RefreshTiming { min_interval: SignedDuration::from_mins(10), ..t };
        let next = next_refresh(ts("2024-01-01T10:03:00Z"), SignedDuration::from_mins(5), &t10, 0.0);
        assert_eq!(next, ts("2024-01-01T10:12:00Z"));
    }
}
