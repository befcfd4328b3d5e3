//! A carbon-intensity series for one grid zone: ordered, non-overlapping points.
use crate::zone::Zone;
use jiff::{SignedDuration, Timestamp};
use std::sync::Arc;

/// Above this no grid has ever been measured (lignite is ~1,100 g/kWh); a larger
/// value is a unit or parsing error, not data.
pub const MAX_PLAUSIBLE_G_PER_KWH: f64 = 3000.0;

/// Checks one intensity value as a provider or trace reports it: finite, not
/// negative, plausible. The error says what is wrong with it (at `at`).
pub fn check_intensity(value: f64, at: &str) -> Result<f64, String> {
    if !value.is_finite() {
        return Err(format!("non-finite value at {at}"));
    }
    if value < 0.0 {
        return Err(format!("negative intensity {value} at {at}"));
    }
    if value > MAX_PLAUSIBLE_G_PER_KWH {
        return Err(format!("implausible intensity {value} g/kWh at {at} (bound {MAX_PLAUSIBLE_G_PER_KWH})"));
    }
    Ok(value)
}

/// Average (what a grid emits per kWh) or marginal (what one more kWh emits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    #[default]
    Average,
    Marginal,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ForecastPoint {
    pub start: Timestamp,
    pub duration: SignedDuration,
    /// gCO2eq/kWh.
    pub value: f64,
    pub provider: Arc<str>,
    /// True for forecasts and provider estimates, false for measured values.
    pub is_estimated: bool,
}

impl ForecastPoint {
    pub fn end(&self) -> Timestamp {
        self.start + self.duration
    }

    /// `start <= t < end`.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.start <= t && t < self.end()
    }
}

/// One zone's intensity over time, as the hub last obtained it.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub zone: Zone,
    /// When the data was obtained; staleness is measured from here.
    pub generated_at: Timestamp,
    pub signal: Signal,
    /// Sorted by start, non-overlapping.
    pub points: Vec<ForecastPoint>,
}

impl Series {
    /// Builds a series, sorting points and dropping ones that overlap an earlier point
    /// (providers occasionally repeat a slot).
    pub fn new(zone: Zone, generated_at: Timestamp, signal: Signal, mut points: Vec<ForecastPoint>) -> Self {
        points.sort_by_key(|p| p.start);
        let mut kept: Vec<ForecastPoint> = Vec::with_capacity(points.len());
        for p in points {
            if p.duration <= SignedDuration::ZERO || !p.value.is_finite() {
                continue;
            }
            if kept.last().is_none_or(|last| last.end() <= p.start) {
                kept.push(p);
            }
        }
        Self { zone, generated_at, signal, points: kept }
    }

    /// The latest point starting at or before `t`, and whether it covers `t` (`false`:
    /// `t` is past its end, in a gap or after the last point).
    pub fn latest_at(&self, t: Timestamp) -> Option<(&ForecastPoint, bool)> {
        let idx = self.points.partition_point(|p| p.start <= t);
        let p = self.points.get(idx.checked_sub(1)?)?;
        Some((p, p.contains(t)))
    }

    /// The point covering instant `t`.
    pub fn point_at(&self, t: Timestamp) -> Option<&ForecastPoint> {
        let idx = self.points.partition_point(|p| p.start <= t);
        let p = self.points.get(idx.checked_sub(1)?)?;
        p.contains(t).then_some(p)
    }

    /// The value at instant `t`.
    pub fn value_at(&self, t: Timestamp) -> Option<f64> {
        self.point_at(t).map(|p| p.value)
    }

    /// The time-weighted mean over `[from, to)`; `None` unless points cover the
    /// whole window (a partial mean would silently favour whatever is known).
    pub fn mean_over(&self, from: Timestamp, to: Timestamp) -> Option<f64> {
        if to <= from {
            return self.value_at(from);
        }
        let mut covered_until = from;
        let mut weighted = 0.0;
        let start_idx = self.points.partition_point(|p| p.end() <= from);
        for p in &self.points[start_idx..] {
            if covered_until >= to {
                break;
            }
            if p.start > covered_until {
                return None; // a gap
            }
            let seg_end = p.end().min(to);
            let secs = seg_end.duration_since(covered_until).as_secs_f64();
            weighted += p.value * secs;
            covered_until = seg_end;
        }
        if covered_until < to {
            return None;
        }
        Some(weighted / to.duration_since(from).as_secs_f64())
    }

    /// The end of the last point, if any.
    pub fn horizon(&self) -> Option<Timestamp> {
        self.points.last().map(ForecastPoint::end)
    }

    /// How old the data is at `now`.
    pub fn age(&self, now: Timestamp) -> SignedDuration {
        now.duration_since(self.generated_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{series, ts};

    fn hourly(start: &str, values: &[f64]) -> Series {
        series("DE", ts(start)).values(values)
    }

    #[test]
    fn value_at_uses_half_open_intervals() {
        let s = hourly("2022-01-01T00:00:00Z", &[100.0, 200.0]);
        assert_eq!(s.value_at(ts("2022-01-01T00:00:00Z")), Some(100.0));
        assert_eq!(s.value_at(ts("2022-01-01T00:59:59Z")), Some(100.0));
        assert_eq!(s.value_at(ts("2022-01-01T01:00:00Z")), Some(200.0));
        assert_eq!(s.value_at(ts("2022-01-01T02:00:00Z")), None);
        assert_eq!(s.value_at(ts("2021-12-31T23:59:59Z")), None);
    }

    #[test]
    fn mean_over_is_time_weighted_and_needs_full_coverage() {
        let s = hourly("2022-01-01T00:00:00Z", &[100.0, 200.0, 400.0]);
        let m = s.mean_over(ts("2022-01-01T00:30:00Z"), ts("2022-01-01T01:30:00Z"));
        assert_eq!(m, Some(150.0));
        let m = s.mean_over(ts("2022-01-01T00:00:00Z"), ts("2022-01-01T03:00:00Z"));
        assert!((m.unwrap() - 700.0 / 3.0).abs() < 1e-9);
        assert_eq!(s.mean_over(ts("2022-01-01T02:30:00Z"), ts("2022-01-01T03:30:00Z")), None);
    }

    #[test]
    fn new_sorts_and_drops_overlaps_and_garbage() {
        let mut s = hourly("2022-01-01T00:00:00Z", &[1.0, 2.0, 3.0]);
        let mut pts = s.points.clone();
        pts.reverse();
        pts.push(ForecastPoint { value: f64::NAN, ..pts[0].clone() });
        pts.push(ForecastPoint { start: pts[1].start + SignedDuration::from_mins(30), ..pts[1].clone() });
        s = Series::new(Zone::known("DE"), s.generated_at, Signal::Average, pts);
        let values: Vec<f64> = s.points.iter().map(|p| p.value).collect();
        assert_eq!(values, vec![1.0, 2.0, 3.0]);
    }

    #[test]
    fn latest_at_is_the_last_point_started() {
        let s = hourly("2022-01-01T00:00:00Z", &[1.0, 2.0]);
        let at = |t: &str| s.latest_at(ts(t)).map(|(p, covers)| (p.value, covers));
        assert_eq!(at("2021-12-31T23:00:00Z"), None, "before the first point");
        assert_eq!(at("2022-01-01T01:30:00Z"), Some((2.0, true)));
        assert_eq!(at("2022-01-01T05:00:00Z"), Some((2.0, false)), "past the last point");
    }
}
