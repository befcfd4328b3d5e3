//! The replay provider over the shipped 2022 traces (e2e/data, in this repo).
mod common;

use common::*;
use gridshift_carbon::providers::{Provider, ReplayProvider};
use gridshift_carbon::{ForecastStore, ProviderChain, StoreConfig, StoreOptions};
use gridshift_core::testing::zone;
use gridshift_core::{ManualClock, SharedClock};
use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

fn traces_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../e2e/data/carbon-intensity-open")
}

/// The CSV read independently of the provider: zone -> time -> value.
fn csv(zone: &str) -> BTreeMap<Timestamp, f64> {
    let text = std::fs::read_to_string(traces_dir().join(format!("{zone}.csv"))).unwrap();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            Some((c[0].parse().ok()?, c[2].parse().ok()?))
        })
        .collect()
}

fn replay(now: &str) -> (ManualClock, ReplayProvider) {
    let clock = ManualClock::new(ts(now));
    let shared: SharedClock = Arc::new(clock.clone());
    let p = ReplayProvider::from_dir(&traces_dir(), SignedDuration::from_hours(48), shared).unwrap();
    (clock, p)
}

#[tokio::test]
async fn loads_every_shipped_zone() {
    let (_c, p) = replay("2022-06-01T10:30:00Z");
    let zones: Vec<&str> = p.zones().collect();
    for z in gridshift_core::testing::TRACE_ZONES {
        assert!(zones.contains(&z), "{z} missing from {zones:?}");
        assert_eq!(p.trace(z).unwrap().len(), csv(z).len(), "{z}");
    }
}

#[tokio::test]
async fn current_and_forecast_follow_the_clock() {
    let (clock, p) = replay("2022-06-01T10:30:00Z");
    let data = csv("US-CAL-CISO");
    let s = p.fetch(&zone("US-CAL-CISO")).await.unwrap();
    assert_eq!(s.points.len(), 49, "current hour + 48 forecast hours");
    assert_eq!(s.points[0].start, ts("2022-06-01T10:00:00Z"));
    assert!(!s.points[0].is_estimated && s.points[1..].iter().all(|p| p.is_estimated));
    for p in &s.points {
        assert_eq!(Some(&p.value), data.get(&p.start), "{}", p.start);
    }
    assert_eq!(s.value_at(ts("2022-06-01T10:30:00Z")), data.get(&ts("2022-06-01T10:00:00Z")).copied());
    assert_eq!(s.generated_at, ts("2022-06-01T10:30:00Z"));

    clock.advance(SignedDuration::from_hours(5));
    let s = p.fetch(&zone("US-CAL-CISO")).await.unwrap();
    assert_eq!(s.points[0].start, ts("2022-06-01T15:00:00Z"));
    assert_eq!(Some(&s.points[0].value), data.get(&ts("2022-06-01T15:00:00Z")));
}

#[tokio::test]
async fn gaps_in_a_trace_stay_gaps() {
    let data = csv("US-MIDA-PJM");
    let (first, _) = data.first_key_value().map(|(t, v)| (*t, *v)).unwrap();
    let gap = (0..24 * 365)
        .map(|h| first + SignedDuration::from_hours(h))
        .find(|t| !data.contains_key(t))
        .expect("the PJM trace has gaps");
    let (_c, p) = replay(&(gap - SignedDuration::from_hours(2)).to_string());
    let s = p.fetch(&zone("US-MIDA-PJM")).await.unwrap();
    assert!(s.points.iter().all(|pt| pt.start != gap), "no invented value at {gap}");
    assert_eq!(s.value_at(gap), None);
    assert!(s.value_at(gap - SignedDuration::from_hours(1)).is_some());
}

#[tokio::test]
async fn outside_2022_time_wraps_by_whole_weeks() {
    let (_c, p) = replay("2025-03-12T08:15:00Z");
    let s = p.fetch(&zone("GB")).await.unwrap();
    let trace = p.trace("GB").unwrap();
    let data = csv("GB");
    let slot = ts("2025-03-12T08:00:00Z");
    let mapped = trace.map_time(slot);
    assert_eq!(mapped.strftime("%a %H:%M").to_string(), "Wed 08:00", "same weekday and hour as 2025-03-12");
    assert_eq!(mapped.strftime("%Y").to_string(), "2022");
    assert_eq!(s.points[0].start, slot, "served at wall-clock time");
    assert_eq!(Some(&s.points[0].value), data.get(&mapped));
}

#[tokio::test]
async fn unknown_zone_is_unsupported() {
    let (_c, p) = replay("2022-06-01T10:30:00Z");
    assert!(!p.supports("DE"));
    assert!(p.fetch(&zone("DE")).await.is_err());
}

#[tokio::test]
async fn store_publishes_replayed_forecasts_for_wanted_zones() {
    let clock = ManualClock::new(ts("2022-08-01T12:10:00Z"));
    let shared: SharedClock = Arc::new(clock.clone());
    let p = Arc::new(
        ReplayProvider::from_dir(&traces_dir(), SignedDuration::from_hours(24), shared.clone()).unwrap(),
    );
    let sink = Arc::new(RecordingSink::default());
    let store = ForecastStore::with_options(
        StoreConfig::default(),
        ProviderChain::new(vec![p]).unwrap(),
        shared,
        sink.clone(),
        StoreOptions::default().wanted_zones(|| [zone("GB"), zone("US-TEX-ERCO")].into()),
    );
    let r = store.refresh_once().await;
    assert_eq!(r.fetched.len(), 2);
    let gb = sink.latest("GB").unwrap();
    assert_eq!(gb.points.len(), 25);
    assert_eq!(Some(&gb.points[0].value), csv("GB").get(&ts("2022-08-01T12:00:00Z")));
    let fresh = gridshift_core::Forecasts::from_series([gb], SignedDuration::from_hours(1));
    assert!(fresh.reading("GB", ts("2022-08-01T12:10:00Z")).is_some_and(|r| !r.carried_forward));
}
