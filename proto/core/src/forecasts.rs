//! The one answer to "what is the intensity of zone Z at t, how old is the information,
//! and may it be acted on": every zone's latest series under one staleness bound. The
//! hub's placement, the agent's KEDA capper, ConfigMap writer and scheduler, and the
//! what-if simulator all read forecasts through this type, so the rules of validity
//! live here, once:
//!
//! - data is usable while it is not older than the staleness bound (from when it was
//!   obtained) and not dated in the future (beyond [`MAX_CLOCK_SKEW`]);
//! - the value at `t` is the point covering `t`; past a point's end (a provider that
//!   reports only the current value, a gap) the last point that started stays the best
//!   estimate, *carried forward*, until newer data replaces it or the bound passes: an
//!   hour boundary never makes a zone invalid by itself;
//! - before the first point there is no value.
use crate::series::{ForecastPoint, Series};
use crate::zone::Zone;
use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Data older than this (from when it was obtained) is not acted upon, unless a hub
/// announces (or an operator configures) another bound.
pub const DEFAULT_STALENESS_BOUND: SignedDuration = SignedDuration::from_hours(6);

/// How far in the future data may say it was obtained before it is distrusted (clocks
/// of the hub, agents and providers differ a little; a forged or broken date a lot).
pub const MAX_CLOCK_SKEW: SignedDuration = SignedDuration::from_mins(5);

/// Zones and their latest series, with the staleness bound that applies to all of them.
///
/// Cheap to clone: the map and each series are shared, so a new value that changes one
/// zone shares every other series with the old one (and [`Forecasts::same_series`]
/// tells two values apart without comparing points).
#[derive(Clone, Debug, PartialEq)]
pub struct Forecasts {
    zones: Arc<BTreeMap<Zone, Arc<Series>>>,
    staleness_bound: SignedDuration,
}

/// What is known of one zone at an instant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ZoneData<'a> {
    /// Within the staleness bound, with a value for the instant: act on it.
    Usable(Reading<'a>),
    /// Older than the staleness bound: fail open.
    Stale(&'a Series),
    /// Obtained in the future (beyond the tolerated clock skew): never trusted.
    Future(&'a Series),
    /// Recent, but no point has started by the instant: fail open.
    Uncovered(&'a Series),
    /// Nothing received for the zone.
    Missing,
}

/// A zone's intensity at an instant that may be acted on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reading<'a> {
    pub series: &'a Series,
    /// The point the value comes from.
    pub point: &'a ForecastPoint,
    /// The point ended before the instant: its value is carried forward as the best
    /// estimate until newer data arrives or the staleness bound passes.
    pub carried_forward: bool,
}

impl Reading<'_> {
    /// gCO2eq/kWh.
    pub fn value(&self) -> f64 {
        self.point.value
    }

    /// Since when the value holds.
    pub fn valid_from(&self) -> Timestamp {
        self.point.start
    }

    /// Until when the value holds: the point's end, or for a carried-forward value the
    /// instant the data turns stale (under `bound`).
    pub fn valid_to(&self, bound: SignedDuration) -> Timestamp {
        if self.carried_forward {
            self.series.generated_at.checked_add(bound).unwrap_or(Timestamp::MAX)
        } else {
            self.point.end()
        }
    }
}

impl Default for Forecasts {
    fn default() -> Self {
        Self::new(DEFAULT_STALENESS_BOUND)
    }
}

impl Forecasts {
    /// No zones yet.
    pub fn new(staleness_bound: SignedDuration) -> Self {
        Self { zones: Arc::default(), staleness_bound }
    }

    /// The given series (a later one of the same zone wins).
    pub fn from_series(series: impl IntoIterator<Item = Series>, staleness_bound: SignedDuration) -> Self {
        let mut f = Self::new(staleness_bound);
        f.extend(series);
        f
    }

    #[inline]
    pub fn staleness_bound(&self) -> SignedDuration {
        self.staleness_bound
    }

    /// The same zones under another bound (the hub announces its own).
    pub fn with_staleness_bound(mut self, bound: SignedDuration) -> Self {
        self.staleness_bound = bound;
        self
    }

    /// Sets the zone's series (the latest wins).
    pub fn insert(&mut self, series: Series) {
        self.insert_shared(Arc::new(series));
    }

    pub fn insert_shared(&mut self, series: Arc<Series>) {
        Arc::make_mut(&mut self.zones).insert(series.zone.clone(), series);
    }

    pub fn extend(&mut self, series: impl IntoIterator<Item = Series>) {
        let zones = Arc::make_mut(&mut self.zones);
        for s in series {
            zones.insert(s.zone.clone(), Arc::new(s));
        }
    }

    /// Forgets a zone; true if it was there.
    pub fn remove(&mut self, zone: &str) -> bool {
        if !self.zones.contains_key(zone) {
            return false;
        }
        Arc::make_mut(&mut self.zones).remove(zone).is_some()
    }

    /// Keeps only the zones `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&Zone, &Series) -> bool) {
        if self.zones.iter().all(|(z, s)| keep(z, s)) {
            return;
        }
        Arc::make_mut(&mut self.zones).retain(|z, s| keep(z, s));
    }

    /// The zone's latest series, whatever its age.
    #[inline]
    pub fn get(&self, zone: &str) -> Option<&Series> {
        self.zones.get(zone).map(|s| &**s)
    }

    /// The zone's latest series, shared.
    pub fn get_shared(&self, zone: &str) -> Option<&Arc<Series>> {
        self.zones.get(zone)
    }

    /// What is known of `zone` at `now`.
    #[inline]
    pub fn data(&self, zone: &str, now: Timestamp) -> ZoneData<'_> {
        let Some(s) = self.get(zone) else { return ZoneData::Missing };
        let age = s.age(now);
        if age > self.staleness_bound {
            return ZoneData::Stale(s);
        }
        if age < -MAX_CLOCK_SKEW {
            return ZoneData::Future(s);
        }
        match s.latest_at(now) {
            None => ZoneData::Uncovered(s),
            Some((point, covers)) => ZoneData::Usable(Reading { series: s, point, carried_forward: !covers }),
        }
    }

    /// The zone's value at `now` if it may be acted upon; `None` means fail open.
    #[inline]
    pub fn reading(&self, zone: &str, now: Timestamp) -> Option<Reading<'_>> {
        match self.data(zone, now) {
            ZoneData::Usable(r) => Some(r),
            _ => None,
        }
    }

    /// The zone's series if it may be acted upon at `now`; `None` means fail open.
    #[inline]
    pub fn usable(&self, zone: &str, now: Timestamp) -> Option<&Series> {
        self.reading(zone, now).map(|r| r.series)
    }

    /// The first instant at which the zone's current data is too old to act on.
    #[inline]
    pub fn stale_from(&self, zone: &str) -> Option<Timestamp> {
        let s = self.get(zone)?;
        s.generated_at.checked_add(self.staleness_bound).ok()?.checked_add(SignedDuration::from_nanos(1)).ok()
    }

    /// The usable value of `zone` at `now` (carried forward past its point's end).
    #[inline]
    pub fn value_at(&self, zone: &str, now: Timestamp) -> Option<f64> {
        self.reading(zone, now).map(|r| r.value())
    }

    /// How old the zone's data is at `now`.
    pub fn age(&self, zone: &str, now: Timestamp) -> Option<SignedDuration> {
        self.get(zone).map(|s| s.age(now))
    }

    /// Every zone and its series, by zone name.
    pub fn iter(&self) -> impl Iterator<Item = (&Zone, &Series)> {
        self.zones.iter().map(|(z, s)| (z, &**s))
    }

    /// Every zone's series, shared.
    pub fn iter_shared(&self) -> impl Iterator<Item = &Arc<Series>> {
        self.zones.values()
    }

    pub fn zones(&self) -> impl Iterator<Item = &Zone> {
        self.zones.keys()
    }

    pub fn contains(&self, zone: &str) -> bool {
        self.zones.contains_key(zone)
    }

    pub fn len(&self) -> usize {
        self.zones.len()
    }

    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }

    /// True when both hold the very same series (shared, not merely equal) under the
    /// same bound: what watchers use to skip work when nothing changed.
    pub fn same_series(&self, other: &Forecasts) -> bool {
        self.staleness_bound == other.staleness_bound && Arc::ptr_eq(&self.zones, &other.zones)
    }
}

/// `forecasts["GB"]`: the zone's series; panics when there is none (as a map does).
impl std::ops::Index<&str> for Forecasts {
    type Output = Series;

    fn index(&self, zone: &str) -> &Series {
        self.get(zone).unwrap_or_else(|| panic!("no series for zone {zone}"))
    }
}

impl FromIterator<Series> for Forecasts {
    fn from_iter<I: IntoIterator<Item = Series>>(iter: I) -> Self {
        Self::from_series(iter, DEFAULT_STALENESS_BOUND)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{series, ts};

    fn hourly(zone: &str, generated_at: &str, values: &[f64]) -> Series {
        series(zone, ts("2022-01-01T00:00:00Z")).generated_at(ts(generated_at)).values(values)
    }

    #[test]
    fn usable_needs_recent_data_started_by_now() {
        let f = Forecasts::from_series(
            [hourly("GB", "2022-01-01T00:00:00Z", &[100.0, 200.0])],
            SignedDuration::from_hours(1),
        );
        assert_eq!(f.value_at("GB", ts("2022-01-01T00:30:00Z")), Some(100.0));
        assert!(matches!(f.data("GB", ts("2022-01-01T01:30:00Z")), ZoneData::Stale(_)));
        assert!(f.usable("GB", ts("2022-01-01T01:30:00Z")).is_none());
        let early = f.clone().with_staleness_bound(SignedDuration::from_hours(5));
        assert!(matches!(early.data("GB", ts("2021-12-31T23:59:00Z")), ZoneData::Uncovered(_)));
        assert_eq!(early.data("DE", ts("2022-01-01T00:00:00Z")), ZoneData::Missing);
        assert_eq!(f.stale_from("GB"), Some(ts("2022-01-01T01:00:00.000000001Z")));
    }

    #[test]
    fn a_last_value_is_carried_forward_until_the_bound() {
        // Latest-only data: one point for the hour it was obtained in.
        let f = Forecasts::from_series(
            [hourly("GB", "2022-01-01T00:10:00Z", &[120.0])],
            SignedDuration::from_hours(3),
        );
        let r = f.reading("GB", ts("2022-01-01T00:30:00Z")).unwrap();
        assert_eq!((r.value(), r.carried_forward), (120.0, false));
        // Past the hour boundary the value stands, marked as carried forward.
        let r = f.reading("GB", ts("2022-01-01T01:05:00Z")).unwrap();
        assert_eq!((r.value(), r.carried_forward), (120.0, true));
        assert_eq!(r.valid_to(f.staleness_bound()), ts("2022-01-01T03:10:00Z"));
        assert_eq!(f.value_at("GB", ts("2022-01-01T03:10:00Z")), Some(120.0), "exactly at the bound");
        assert!(matches!(f.data("GB", ts("2022-01-01T03:10:01Z")), ZoneData::Stale(_)));
    }

    #[test]
    fn data_from_the_future_is_never_usable() {
        let f = Forecasts::from_series(
            [hourly("GB", "2099-01-01T00:00:00Z", &[1.0])],
            SignedDuration::from_hours(6),
        );
        assert!(matches!(f.data("GB", ts("2022-01-01T00:30:00Z")), ZoneData::Future(_)));
        // A little clock skew is tolerated.
        let skewed = Forecasts::from_series(
            [hourly("GB", "2022-01-01T00:02:00Z", &[1.0])],
            SignedDuration::from_hours(6),
        );
        assert_eq!(skewed.value_at("GB", ts("2022-01-01T00:00:30Z")), Some(1.0));
    }

    #[test]
    fn clones_share_series_until_one_changes() {
        let mut a: Forecasts = [hourly("GB", "2022-01-01T00:00:00Z", &[1.0])].into_iter().collect();
        let b = a.clone();
        assert!(a.same_series(&b));
        a.insert(hourly("DE", "2022-01-01T00:00:00Z", &[2.0]));
        assert!(!a.same_series(&b));
        assert!(Arc::ptr_eq(a.get_shared("GB").unwrap(), b.get_shared("GB").unwrap()));
        assert_eq!(b.len(), 1);
        assert!(!a.remove("FR"));
        assert!(a.remove("DE"));
        assert_eq!(a, b);
    }
}
