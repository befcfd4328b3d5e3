//! A day of real grid data (GB, 2022-06-01, from e2e/data) replayed through the KEDA
//! capper on a ScaledClock running 7,200 times faster than real time: every forecast
//! boundary is acted on as it passes, in order, and the cap falls back to
//! ecoModeOff.maxReplicas once the data runs out.
mod common;

use common::cluster::{ECO_OFF_MAX, NS, SO, max_of, spec, start_capper};
use common::{FakeHub, LIMIT, ZONE, sim};
use futures::StreamExt;
use gridshift_agent::keda::target::api_resource;
use gridshift_api::keda::{CarbonAwareKedaScaler, CarbonIntensityConfig};
use gridshift_core::caps::bucket_for;
use gridshift_core::testing::{trace, zone};
use gridshift_core::{ForecastPoint, ScaledClock, Series, Signal};
use jiff::{SignedDuration, Timestamp};
use kube::api::{Api, DynamicObject, PostParams};
use kube::runtime::watcher;
use serde_json::json;
use std::sync::Arc;

/// Hourly GB intensity for `[from, to)` from the repository's open 2022 trace.
fn gb_trace(from: Timestamp, to: Timestamp) -> Series {
    let points = trace(ZONE)
        .points()
        .iter()
        .filter(|(start, _)| from <= *start && *start < to)
        .map(|&(start, value)| ForecastPoint {
            start,
            duration: SignedDuration::from_hours(1),
            value,
            provider: "replay".into(),
            is_estimated: false,
        })
        .collect();
    Series::new(zone(ZONE), from, Signal::Average, points)
}

#[tokio::test]
async fn a_day_of_real_data_replays_in_seconds() {
    let from: Timestamp = "2022-06-01T05:00:00Z".parse().expect("ts");
    let series = gb_trace(from, from + SignedDuration::from_hours(16));
    assert_eq!(series.points.len(), 16);
    let mut cr_spec = spec(SO, "batch");
    cr_spec.max_replicas_by_carbon_intensity = [(235, 30), (260, 15), (1000, 5)]
        .into_iter()
        .map(|(t, m)| CarbonIntensityConfig { carbon_intensity_threshold: t, max_replicas: m })
        .collect();
    // What the capper must do, hour by hour, from the pure rule; consecutive repeats
    // collapse (nothing is written when the cap does not change).
    let mut expected: Vec<i64> = Vec::new();
    for p in &series.points {
        let (_, cap) = bucket_for(Some(p.value), &cr_spec.max_replicas_by_carbon_intensity).expect("bucket");
        if expected.last() != Some(&i64::from(cap)) {
            expected.push(cap.into());
        }
    }
    assert_eq!(expected, [5, 15, 30, 15, 5], "the day has dirty, clean and dirty again hours");
    expected.push(ECO_OFF_MAX.into()); // after the last point: no data, fail open

    let sim = sim().await;
    let client = sim.client().expect("client");
    let targets: Api<DynamicObject> = Api::namespaced_with(client.clone(), NS, &api_resource(SO));
    let so: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
        "metadata": {"name": "batch", "namespace": NS},
        "spec": {"scaleTargetRef": {"name": "batch"}, "maxReplicaCount": 100,
                 "triggers": [{"type": "cpu", "metadata": {"value": "50"}}]},
    }))
    .expect("so");
    targets.create(&PostParams::default(), &so).await.expect("create");
    let mut changes = watcher(targets, watcher::Config::default().fields("metadata.name=batch")).boxed();

    // One simulated hour every 0.5 s.
    let clock = Arc::new(ScaledClock::new(from, 7200.0));
    let (hub, forecast) = FakeHub::new(Some(series), from);
    hub.set_staleness_bound(SignedDuration::from_hours(24));
    let (_stop, _registry, _capper, _status) = start_capper(client.clone(), clock, forecast);
    let scalers: Api<CarbonAwareKedaScaler> = Api::namespaced(client, NS);
    scalers
        .create(&PostParams::default(), &CarbonAwareKedaScaler::new("batch-carbon", cr_spec))
        .await
        .expect("cr");

    let mut seen: Vec<i64> = Vec::new();
    let record = async {
        while seen.last() != expected.last() {
            let event = changes.next().await.expect("watch stream").expect("watch");
            if let watcher::Event::Apply(o) = event
                && let Some(max) = max_of(&o).filter(|&m| m != 100)
                && seen.last() != Some(&max)
            {
                seen.push(max);
            }
        }
    };
    // 17 simulated hours take 8.5 s; LIMIT guards against a hang only.
    tokio::time::timeout(LIMIT, record).await.unwrap_or_else(|_| panic!("caps so far: {seen:?}"));
    assert_eq!(seen, expected);
}
