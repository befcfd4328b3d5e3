//! The one answer to "what is the intensity of zone Z at t, and may it be acted on":
//! every zone's latest series under one staleness bound. The hub's placement, the
//! agent's KEDA capper, ConfigMap writer and scheduler, and the what-if simulator all
//! read forecasts through this type, so the rules of validity live here, once.
use crate::series::Series;
use crate::zone::Zone;
use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Data older than this (from when it was obtained) is not acted upon, unless a hub
/// announces (or an operator configures) another bound.
pub const DEFAULT_STALENESS_BOUND: SignedDuration = SignedDuration::from_hours(6);

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
    /// Within the staleness bound, and a point covers the instant: act on it.
    Usable(&'a Series),
    /// Older than the staleness bound: fail open.
    Stale(&'a Series),
    /// Recent, but no point covers the instant: fail open.
    Uncovered(&'a Series),
    /// Nothing received for the zone.
    Missing,
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
        match self.get(zone) {
            None => ZoneData::Missing,
            Some(s) if s.age(now) > self.staleness_bound => ZoneData::Stale(s),
            Some(s) if s.point_at(now).is_none() => ZoneData::Uncovered(s),
            Some(s) => ZoneData::Usable(s),
        }
    }

    /// The zone's series if it may be acted upon at `now`; `None` means fail open.
    #[inline]
    pub fn usable(&self, zone: &str, now: Timestamp) -> Option<&Series> {
        match self.data(zone, now) {
            ZoneData::Usable(s) => Some(s),
            _ => None,
        }
    }

    /// Whether data obtained at `generated_at` is too old to act on at `now`.
    pub fn is_stale_at(&self, generated_at: Timestamp, now: Timestamp) -> bool {
        now.duration_since(generated_at) > self.staleness_bound
    }

    /// The first instant at which the zone's current data is too old to act on.
    #[inline]
    pub fn stale_from(&self, zone: &str) -> Option<Timestamp> {
        let s = self.get(zone)?;
        s.generated_at.checked_add(self.staleness_bound).ok()?.checked_add(SignedDuration::from_nanos(1)).ok()
    }

    /// The usable value of `zone` at `now`.
    #[inline]
    pub fn value_at(&self, zone: &str, now: Timestamp) -> Option<f64> {
        self.usable(zone, now).and_then(|s| s.value_at(now))
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
    fn usable_needs_recent_data_covering_now() {
        let f = Forecasts::from_series(
            [hourly("GB", "2022-01-01T00:00:00Z", &[100.0, 200.0])],
            SignedDuration::from_hours(1),
        );
        assert_eq!(f.value_at("GB", ts("2022-01-01T00:30:00Z")), Some(100.0));
        assert!(matches!(f.data("GB", ts("2022-01-01T01:30:00Z")), ZoneData::Stale(_)));
        assert!(f.usable("GB", ts("2022-01-01T01:30:00Z")).is_none());
        let long = f.clone().with_staleness_bound(SignedDuration::from_hours(5));
        assert!(matches!(long.data("GB", ts("2022-01-01T02:00:00Z")), ZoneData::Uncovered(_)));
        assert_eq!(long.data("DE", ts("2022-01-01T00:00:00Z")), ZoneData::Missing);
        assert_eq!(f.stale_from("GB"), Some(ts("2022-01-01T01:00:00.000000001Z")));
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
