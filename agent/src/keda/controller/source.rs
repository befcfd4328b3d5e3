//! Where a CarbonAwareKedaScaler's forecast comes from: `mockCarbonForecast` (synthetic
//! data, as in the original), `localConfigMap` (any ConfigMap in the exporter format, so
//! the agent also works with no hub), or, when neither is set, the hub stream's forecast
//! for the cluster's primary zone (Gridshift's default).
use crate::configmap::format::decode;
use crate::forecast::ForecastView;
use gridshift_api::keda::CarbonIntensityForecastDataSource;
use gridshift_core::splitmix::mix;
use gridshift_core::{ForecastPoint, Forecasts, Series, Signal, Zone};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::Api;
use std::sync::Arc;

/// A CR's forecast: the zone the cap is decided on, in forecasts under the hub's bound.
#[derive(Debug, Clone)]
pub struct Sourced {
    pub forecasts: Forecasts,
    /// The zone whose series decides (none: no data, fail open).
    pub zone: Option<Zone>,
    /// Where the data came from, for status.
    pub source: String,
    /// Why there is no data, if there is none.
    pub problem: Option<String>,
}

impl Sourced {
    /// The zone decided on, by name (empty when there is none: no data).
    pub fn zone_name(&self) -> &str {
        self.zone.as_deref().unwrap_or("")
    }
}

/// Reads the forecast `source` names. `view` is the hub stream's; its staleness bound
/// applies to every source.
pub async fn fetch(
    source: &CarbonIntensityForecastDataSource,
    view: &ForecastView,
    client: &Client,
    now: Timestamp,
) -> Sourced {
    let bound = view.staleness_bound();
    let sourced = |series: Option<Series>, source: String, problem: Option<String>| Sourced {
        zone: series.as_ref().map(|s| s.zone.clone()),
        forecasts: Forecasts::from_series(series, bound),
        source,
        problem,
    };
    if source.mock_carbon_forecast {
        return sourced(Some(mock_series(now)), "mock carbon forecast".into(), None);
    }
    if let Some(lcm) = &source.local_config_map {
        let what = format!("ConfigMap {}/{} key {}", lcm.namespace, lcm.name, lcm.key);
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), &lcm.namespace);
        let problem = match api.get_opt(&lcm.name).await {
            Ok(Some(cm)) => match decode(&cm, &lcm.key) {
                Ok(d) => return sourced(Some(d.series), what, None),
                Err(e) => e.to_string(),
            },
            Ok(None) => "not found".into(),
            Err(e) => format!("cannot read it: {e}"),
        };
        return sourced(None, what.clone(), Some(format!("{what}: {problem}")));
    }
    let what = "hub stream".to_owned();
    match (&view.primary_zone, view.primary()) {
        // The hub's own forecasts: shared, not copied.
        (Some(zone), Some(_)) => Sourced {
            forecasts: view.forecasts.clone(),
            zone: Some(zone.clone()),
            source: format!("{what}, zone {zone}"),
            problem: None,
        },
        (Some(zone), None) => {
            let problem = format!("the hub has sent no forecast for zone {zone} yet");
            sourced(None, format!("{what}, zone {zone}"), Some(problem))
        }
        (None, _) => {
            sourced(None, what, Some("no grid zone configured for this cluster (--node-zone)".into()))
        }
    }
}

/// Synthetic data in the original's shape: 5-minute points from 15 minutes ago to 7 days
/// ahead, values in [529, 580). Each point's value depends only on its start, so repeated
/// reconciles see the same forecast.
pub fn mock_series(now: Timestamp) -> Series {
    const STEP_SECS: i64 = 300;
    let slot = now.as_second().div_euclid(STEP_SECS);
    let provider: Arc<str> = Arc::from("mock");
    let points = (slot - 3..=slot + 7 * 24 * 12)
        .filter_map(|i| {
            let start = Timestamp::from_second(i * STEP_SECS).ok()?;
            let unit = (mix(i.cast_unsigned()) >> 11) as f64 / (1u64 << 53) as f64;
            Some(ForecastPoint {
                start,
                duration: SignedDuration::from_secs(STEP_SECS),
                value: 529.0 + 51.0 * unit,
                provider: provider.clone(),
                is_estimated: true,
            })
        })
        .collect();
    Series::new(Zone::known("mock"), now, Signal::Average, points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mock_covers_now_and_a_week_and_is_stable() {
        let now: Timestamp = "2026-03-02T12:07:30Z".parse().expect("ts");
        let s = mock_series(now);
        assert_eq!(s.points.len(), 3 + 7 * 24 * 12 + 1);
        assert!(s.points.iter().all(|p| (529.0..580.0).contains(&p.value)));
        assert!(s.value_at(now).is_some());
        assert!(s.horizon().expect("points") >= now + SignedDuration::from_hours(7 * 24));
        let later = mock_series(now + SignedDuration::from_secs(60));
        assert_eq!(s.value_at(now), later.value_at(now), "same slot, same value");
    }
}
