//! End to end: the forecast store replays a real trace into the hub, and an
//! agent connected over mTLS receives it, and later the next hour's data.
mod common;

use common::*;
use gridshift_carbon::providers::ReplayProvider;
use gridshift_carbon::{ForecastStore, ProviderChain, StoreConfig, StoreOptions};
use gridshift_core::{ManualClock, SharedClock};
use gridshift_hub::distribution::Distributor;
use jiff::{SignedDuration, Timestamp};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

fn traces() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../e2e/data/carbon-intensity-open")
}

/// The recorded GB value for the hour starting at `t`, read straight from the CSV.
fn recorded(t: Timestamp) -> f64 {
    let csv = std::fs::read_to_string(traces().join("GB.csv")).unwrap();
    let stamp = t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    csv.lines()
        .find_map(|l| l.strip_prefix(&format!("{stamp},GB,")))
        .unwrap_or_else(|| panic!("no GB row for {stamp}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn an_agent_receives_the_replayed_forecast() {
    let t0: Timestamp = "2022-06-01T00:00:00Z".parse().unwrap();
    let manual = ManualClock::new(t0);
    let clock: SharedClock = Arc::new(manual.clone());
    let replay = ReplayProvider::from_dir(&traces(), SignedDuration::from_hours(24), clock.clone()).unwrap();
    let chain = ProviderChain::new(vec![Arc::new(replay)]).unwrap();
    let distributor = Distributor::new(9);
    let wanted = distributor.clone();
    let store = ForecastStore::with_options(
        StoreConfig::default(),
        chain,
        clock.clone(),
        Arc::new(distributor.clone()),
        StoreOptions::default().wanted_zones(move || wanted.wanted_zones()).jitter(|| 0.0),
    );

    let pki = Pki::new();
    let hub = start_hub(&pki, &distributor, loopback()).await;
    let mut wanted_changes = distributor.watch_wanted();
    let mut agent = start_agent(&pki, hub.local_addr(), "member-gb", &["GB"]);
    let connected = async {
        while !distributor.wanted_zones().contains("GB") {
            wanted_changes.changed().await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(10), connected).await.expect("the agent registers its zone");

    // One refresh: the store fetches GB (the zone the agent asked for) and publishes it.
    store.refresh_once().await;
    let view = wait_view(&mut agent, "replayed GB", |v| v.series("GB").is_some()).await;
    let gb = view.series("GB").unwrap();
    assert_eq!(gb.value_at(t0), Some(recorded(t0)));
    assert_eq!(gb.points[0].provider.as_ref(), "replay");
    let next_day = t0 + SignedDuration::from_hours(23);
    assert_eq!(gb.value_at(next_day), Some(recorded(next_day)), "the forecast reaches ahead");

    // An hour later the next refresh brings the next hour.
    let t1 = t0 + SignedDuration::from_hours(1);
    manual.set(t1);
    store.refresh_once().await;
    let horizon_before = gb.horizon();
    let view =
        wait_view(&mut agent, "the next hour", |v| v.series("GB").and_then(|s| s.horizon()) > horizon_before)
            .await;
    assert_eq!(view.series("GB").unwrap().value_at(t1), Some(recorded(t1)));
    hub.shutdown(Duration::from_secs(5)).await;
}
