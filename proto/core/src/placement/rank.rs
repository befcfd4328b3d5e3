//! Ranking member clusters by the carbon intensity of their grid zone. Pure: the caller
//! supplies the forecasts and the time.
use super::Candidate;
use crate::forecasts::Forecasts;
use crate::series::Signal as EmissionSignal;
use crate::zone::Zone;
use jiff::{SignedDuration, Timestamp};
use std::cmp::Ordering;

/// What a cluster is ranked by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RankBy {
    Current,
    /// Mean over `[now, now + window)`.
    ForecastMean(SignedDuration),
}

#[derive(Clone, Debug, PartialEq)]
pub struct RankedCluster {
    pub name: String,
    /// `None`: no source knows the cluster's zone.
    pub zone: Option<Zone>,
    /// gCO2eq/kWh; `None` means invalid (no usable data, or a signal the policy does not
    /// compare) and the cluster is never chosen.
    pub intensity: Option<f64>,
    pub valid_from: Option<Timestamp>,
    pub valid_to: Option<Timestamp>,
    /// The value is the zone's last one, carried forward past the end of its point since
    /// this instant (a provider that reports only the current value, or a refresh not yet
    /// done): still the best estimate, until newer data arrives or the bound passes.
    pub carried_since: Option<Timestamp>,
    /// The zone reports this signal, not the one the policy compares; not ranked.
    pub mismatched_signal: Option<EmissionSignal>,
}

impl RankedCluster {
    pub fn is_valid(&self) -> bool {
        self.intensity.is_some()
    }

    pub fn carried_forward(&self) -> bool {
        self.carried_since.is_some()
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

    pub fn get(&self, name: &str) -> Option<&RankedCluster> {
        self.clusters.iter().find(|c| c.name == name)
    }

    pub fn intensity_of(&self, name: &str) -> Option<f64> {
        self.get(name).and_then(|c| c.intensity)
    }

    /// Mean intensity of those `names` that have data; `None` if none has.
    pub fn mean_of<'a>(&self, names: impl IntoIterator<Item = &'a String>) -> Option<f64> {
        let vals: Vec<f64> = names.into_iter().filter_map(|n| self.intensity_of(n)).collect();
        (!vals.is_empty()).then(|| vals.iter().sum::<f64>() / vals.len() as f64)
    }

    /// Clusters whose zone reports another signal than the policy compares.
    pub fn mismatched(&self) -> impl Iterator<Item = &RankedCluster> {
        self.clusters.iter().filter(|c| c.mismatched_signal.is_some())
    }
}

/// Ranks `clusters` by what `forecasts` says of their zones at `now`. Only zones reporting
/// `signal` are compared: an average intensity and a marginal one measure different things.
pub fn rank(
    clusters: &[Candidate],
    forecasts: &Forecasts,
    by: RankBy,
    signal: EmissionSignal,
    now: Timestamp,
) -> Ranking {
    let mut ranked: Vec<RankedCluster> = clusters
        .iter()
        .map(|c| {
            let mut out = RankedCluster {
                name: c.name.clone(),
                zone: c.zone.clone(),
                intensity: None,
                valid_from: None,
                valid_to: None,
                carried_since: None,
                mismatched_signal: None,
            };
            let Some(reading) = c.zone.as_deref().and_then(|z| forecasts.reading(z, now)) else { return out };
            if reading.series.signal != signal {
                out.mismatched_signal = Some(reading.series.signal);
                return out;
            }
            let forecast = match by {
                RankBy::ForecastMean(window) if window > SignedDuration::ZERO => {
                    reading.series.mean_over(now, now + window).map(|m| (m, now, now + window))
                }
                _ => None,
            };
            // A forecast that does not cover the whole window falls back to the current value
            // rather than invalidating the cluster: missing forecasts must fail open (§3.4).
            let (value, from, to) = forecast.unwrap_or_else(|| {
                if reading.carried_forward {
                    out.carried_since = Some(reading.point.end());
                }
                (reading.value(), reading.valid_from(), reading.valid_to(forecasts.staleness_bound()))
            });
            out.intensity = Some(value);
            out.valid_from = Some(from);
            out.valid_to = Some(to);
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
        rank(
            clusters,
            &with_bound(zones, SignedDuration::from_hours(48)),
            RankBy::Current,
            EmissionSignal::Average,
            now,
        )
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
    fn stale_data_is_invalid_but_a_last_value_is_carried_forward() {
        let z = zones(&[("DE", &[300.0]), ("FR", &[50.0])]);
        let cl = locs(&[("de", "DE"), ("fr", "FR")]);
        // 3h later no point covers now: the last values stand, marked as carried forward.
        let later = t0() + SignedDuration::from_hours(3);
        let r = rank_now(&cl, &z, later);
        assert_eq!(r.desired(1), ["fr"]);
        let fr = r.get("fr").unwrap();
        assert_eq!(fr.carried_since, Some(t0() + SignedDuration::from_hours(1)));
        assert_eq!(fr.valid_to, Some(t0() + SignedDuration::from_hours(48)), "until the data turns stale");
        assert!(!rank_now(&cl, &z, t0()).clusters[0].carried_forward());
        // Older than the staleness bound.
        let r = rank(
            &cl,
            &with_bound(&z, SignedDuration::from_mins(10)),
            RankBy::Current,
            EmissionSignal::Average,
            t0() + SignedDuration::from_mins(30),
        );
        assert!(r.valid().next().is_none());
    }

    #[test]
    fn only_the_policys_signal_is_ranked() {
        let mut z = zones(&[("DE", &[300.0]), ("FR", &[50.0])]);
        z.get_mut("FR").unwrap().signal = EmissionSignal::Marginal;
        let cl = locs(&[("de", "DE"), ("fr", "FR")]);
        let f = with_bound(&z, SignedDuration::from_hours(6));
        let avg = rank(&cl, &f, RankBy::Current, EmissionSignal::Average, t0());
        assert_eq!(avg.desired(2), ["de"], "a marginal FR is not compared with an average DE");
        assert_eq!(avg.mismatched().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["fr"]);
        assert_eq!(avg.get("fr").unwrap().mismatched_signal, Some(EmissionSignal::Marginal));
        let marginal = rank(&cl, &f, RankBy::Current, EmissionSignal::Marginal, t0());
        assert_eq!(marginal.desired(2), ["fr"]);
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
                RankBy::ForecastMean(SignedDuration::from_hours(w)),
                EmissionSignal::Average,
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
