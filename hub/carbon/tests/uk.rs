//! GB Carbon Intensity API contract tests.
mod common;

use common::*;
use gridshift_carbon::providers::{Provider, UkCarbonIntensity, UkConfig};
use gridshift_carbon::{ErrorKind, Metrics};
use gridshift_core::testing::zone;
use gridshift_core::{ManualClock, SharedClock};
use jiff::SignedDuration;
use std::sync::Arc;
use std::time::Duration;

async fn setup(now: &str) -> (MockServer, UkCarbonIntensity) {
    install_crypto();
    let server = MockServer::start().await;
    let clock: SharedClock = Arc::new(ManualClock::new(ts(now)));
    let uk = UkCarbonIntensity::new(
        UkConfig { base_url: server.base.clone() },
        clock,
        Duration::from_secs(5),
        Metrics::default(),
    )
    .unwrap();
    (server, uk)
}

#[tokio::test]
async fn national_forecast_uses_forecast_when_actual_is_null() {
    let (server, uk) = setup("2020-05-21T20:40:00Z").await;
    let body = fixture("carbonintensity-uk/intensity_fw24h_captured-2020-05-21.json");
    server.set("/intensity/", Reply::json(body.clone()));
    let s = uk.fetch(&zone("GB")).await.unwrap();
    let raw: serde_json::Value = serde_json::from_str(&body).unwrap();
    let expected: Vec<f64> = raw["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["intensity"]["forecast"].as_f64().unwrap())
        .collect();
    assert_eq!(s.points.len(), expected.len());
    assert_eq!(s.points.iter().map(|p| p.value).collect::<Vec<_>>(), expected);
    assert!(s.points.iter().all(|p| p.is_estimated && p.duration == SignedDuration::from_mins(30)));
    assert_eq!(s.value_at(ts("2020-05-21T20:40:00Z")), Some(expected[0]));
    // Asked from the half-hour containing now, in the API's minute format.
    let req = server.requests().pop().unwrap();
    assert_eq!(req.path, "/intensity/2020-05-21T20:30Z/fw48h");
}

#[tokio::test]
async fn national_actual_wins_over_forecast() {
    let (server, uk) = setup("2018-01-20T12:10:00Z").await;
    server.set("/intensity/", Reply::json(fixture("carbonintensity-uk/intensity.json")));
    let s = uk.fetch(&zone("GB")).await.unwrap();
    assert_eq!(s.points.len(), 1);
    assert_eq!(s.points[0].value, 263.0);
    assert!(!s.points[0].is_estimated);
}

#[tokio::test]
async fn regional_picks_one_region() {
    let (server, uk) = setup("2023-03-10T11:40:00Z").await;
    server.set("/regional/intensity/", Reply::json(fixture("carbonintensity-uk/regional.json")));
    let london = uk.fetch(&zone("GB-UKCI-13")).await.unwrap();
    assert_eq!(london.points.len(), 1);
    assert_eq!(london.points[0].value, 121.0);
    assert!(london.points[0].is_estimated, "regional data is forecast only");
    let scotland = uk.fetch(&zone("GB-UKCI-1")).await.unwrap();
    assert_eq!(scotland.points[0].value, 22.0);
    assert_eq!(server.requests()[0].path, "/regional/intensity/2023-03-10T11:30Z/fw48h");
}

#[tokio::test]
async fn other_zones_are_refused_without_a_call() {
    let (server, uk) = setup("2023-03-10T11:40:00Z").await;
    assert!(!uk.supports("DE"));
    let err = uk.fetch(&zone("DE")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnsupportedZone);
    assert_eq!(server.total_calls(), 0);
}
