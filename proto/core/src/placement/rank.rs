//! Ranking member clusters by the carbon intensity of their grid zone. Pure: the caller
//! supplies the forecasts and the time.
use super::Candidate;
use crate::forecasts::Forecasts;
use crate::zone::Zone;
use jiff::{SignedDuration, Timestamp};
use std::cmp::Ordering;

/// What a cluster is ranked by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Current,
    /// Mean over `[now, now + window)`.
    ForecastMean(SignedDuration),
}

#[derive(Clone, Debug, PartialEq)]
pub struct RankedCluster {
    pub name: String,
    /// `None`: no source knows the cluster's zone.
    pub zone: Option<Zone>,
    /// gCO2eq/kWh; `None` means invalid (no fresh data) and the cluster is never chosen.
    pub intensity: Option<f64>,
    pub valid_from: Option<Timestamp>,
    pub valid_to: Option<Timestamp>,
}

impl RankedCluster {
    pub fn is_valid(&self) -> bool {
        self.intensity.is_some()
    }
}

/// Clusters cleanest first (ties by name), invalid ones last (by name).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ranking {
    pub clusters: Vec<RankedCluster>,
}

impl Ranking {
    pub fn valid(&self) -> impl Iterator<Item = &RankedCluster> {
        self.clusters.iter().filter(|c| c.is_valid())
    }

    /// The best `desired` valid clusters, in rank order (all valid ones if fewer).
    pub fn desired(&self, desired: usize) -> Vec<String> {
        self.valid().take(desired).map(|c| c.name.clone()).collect()
    }

    pub fn intensity_of(&self, name: &str) -> Option<f64> {
        self.clusters.iter().find(|c| c.name == name).and_then(|c| c.intensity)
    }

    /// Mean intensity of those `names` that have data; `None` if none has.
    pub fn mean_of<'a>(&self, names: impl IntoIterator<Item = &'a String>) -> Option<f64> {
        let vals: Vec<f64> = names.into_iter().filter_map(|n| self.intensity_of(n)).collect();
        (!vals.is_empty()).then(|| vals.iter().sum::<f64>() / vals.len() as f64)
    }
}

/// Ranks `clusters` by what `forecasts` says of their zones at `now`.
pub fn rank(clusters: &[Candidate], forecasts: &Forecasts, signal: Signal, now: Timestamp) -> Ranking {
    let mut ranked: Vec<RankedCluster> = clusters
        .iter()
        .map(|c| {
            let mut out = RankedCluster {
                name: c.name.clone(),
                zone: c.zone.clone(),
                intensity: None,
                valid_from: None,
                valid_to: None,
            };
            let Some(series) = c.zone.as_deref().and_then(|z| forecasts.usable(z, now)) else { return out };
            let current = series.point_at(now);
            let forecast = match signal {
                Signal::ForecastMean(window) if window > SignedDuration::ZERO => {
                    series.mean_over(now, now + window).map(|m| (m, now, now + window))
                }
                _ => None,
            };
            // A forecast that does not cover the whole window falls back to the current value
            // rather than invalidating the cluster: missing forecasts must fail open (§3.4).
            let chosen = forecast.or_else(|| current.map(|p| (p.value, p.start, p.end())));
            if let Some((value, from, to)) = chosen {
                out.intensity = Some(value);
                out.valid_from = Some(from);
                out.valid_to = Some(to);
            }
            out
        })
        .collect();
    ranked.sort_by(|a, b| match (a.intensity, b.intensity) {
        (Some(x), Some(y)) => x.total_cmp(&y).then_with(|| a.name.cmp(&b.name)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.name.cmp(&b.name),
    });
    Ranking { clusters: ranked }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::series::Series;
    use crate::testing::hourly_from;
    use std::collections::HashMap;

    pub fn t0() -> Timestamp {
        "2026-03-01T00:00:00Z".parse().unwrap()
    }

    /// Hourly points from `t0()`, the first measured and the rest forecast.
    pub fn hourly(zone: &str, values: &[f64]) -> Series {
        hourly_from(zone, t0(), values)
    }

    pub fn locs(pairs: &[(&str, &str)]) -> Vec<Candidate> {
        pairs.iter().map(|(n, l)| Candidate { name: n.to_string(), zone: Zone::new(l).ok() }).collect()
    }

    fn with_bound(zones: &HashMap<String, Series>, bound: SignedDuration) -> Forecasts {
        Forecasts::from_series(zones.values().cloned(), bound)
    }

    pub fn rank_now(clusters: &[Candidate], zones: &HashMap<String, Series>, now: Timestamp) -> Ranking {
        rank(clusters, &with_bound(zones, SignedDuration::from_hours(48)), Signal::Current, now)
    }

    fn names(r: &Ranking) -> Vec<&str> {
        r.clusters.iter().map(|c| c.name.as_str()).collect()
    }

    fn zones(entries: &[(&str, &[f64])]) -> HashMap<String, Series> {
        entries.iter().map(|(z, v)| (z.to_string(), hourly(z, v))).collect()
    }

    #[test]
    fn cleanest_two_of_three() {
        let z = zones(&[("DE", &[300.0]), ("FR", &[50.0]), ("ES", &[120.0])]);
        let r = rank_now(&locs(&[("de", "DE"), ("fr", "FR"), ("es", "ES")]), &z, t0());
        assert_eq!(names(&r), ["fr", "es", "de"]);
        assert_eq!(r.desired(2), ["fr", "es"]);
        assert_eq!(r.intensity_of("de"), Some(300.0));
    }

    #[test]
    fn failed_provider_is_invalid_and_never_desired() {
        // PL has no series at all (its provider failed); it would otherwise be cleanest.
        let z = zones(&[("DE", &[300.0]), ("FR", &[50.0])]);
        let r = rank_now(&locs(&[("pl", "PL"), ("de", "DE"), ("fr", "FR")]), &z, t0());
        assert_eq!(names(&r), ["fr", "de", "pl"]);
        assert!(!r.clusters[2].is_valid());
        assert_eq!(r.desired(3), ["fr", "de"], "more desired than valid -> all valid ones");
    }

    #[test]
    fn stale_or_uncovered_data_is_invalid() {
        let z = zones(&[("DE", &[300.0]), ("FR", &[50.0])]);
        let cl = locs(&[("de", "DE"), ("fr", "FR")]);
        // 3h later: no point covers now.
        let later = t0() + SignedDuration::from_hours(3);
        assert!(rank_now(&cl, &z, later).valid().next().is_none());
        // Covered, but older than the staleness bound.
        let r = rank(
            &cl,
            &with_bound(&z, SignedDuration::from_mins(10)),
            Signal::Current,
            t0() + SignedDuration::from_mins(30),
        );
        assert!(r.valid().next().is_none());
    }

    #[test]
    fn ties_broken_by_name_and_invalid_sorted_by_name() {
        let z = zones(&[("A", &[100.0]), ("B", &[100.0])]);
        let r = rank_now(&locs(&[("zz", "X"), ("b", "B"), ("a", "A"), ("yy", "Y")]), &z, t0());
        assert_eq!(names(&r), ["a", "b", "yy", "zz"]);
    }

    #[test]
    fn forecast_mean_ranks_by_window() {
        // Now DE is cleaner, but over the next 3 hours FR is.
        let z = zones(&[("DE", &[100.0, 400.0, 400.0]), ("FR", &[150.0, 150.0, 150.0])]);
        let cl = locs(&[("de", "DE"), ("fr", "FR")]);
        let fc = |w: i64| {
            rank(
                &cl,
                &with_bound(&z, SignedDuration::from_hours(1)),
                Signal::ForecastMean(SignedDuration::from_hours(w)),
                t0(),
            )
        };
        assert_eq!(rank_now(&cl, &z, t0()).desired(1), ["de"]);
        let r = fc(3);
        assert_eq!(r.desired(1), ["fr"]);
        assert_eq!(r.intensity_of("de"), Some(300.0));
        assert_eq!(r.clusters[0].valid_to, Some(t0() + SignedDuration::from_hours(3)));
        // A window beyond the forecast horizon falls back to the current value.
        assert_eq!(fc(5).intensity_of("de"), Some(100.0));
    }
}
