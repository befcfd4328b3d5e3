//! Electricity Maps v3 contract tests against recorded responses.
mod common;

use common::*;
use gridshift_carbon::providers::{ElectricityMaps, ElectricityMapsConfig, Provider};
use gridshift_carbon::{ErrorKind, Metrics, ProviderError, Secret};
use gridshift_core::testing::zone;
use gridshift_core::{ManualClock, SharedClock, Signal};
use jiff::SignedDuration;
use std::sync::Arc;
use std::time::Duration;

const KEY: &str = "em-test-key-0123456789";

async fn setup(forecast: bool) -> (MockServer, ElectricityMaps) {
    install_crypto();
    let server = MockServer::start().await;
    let clock: SharedClock = Arc::new(ManualClock::new(ts("2024-03-06T19:10:00Z")));
    let mut cfg = ElectricityMapsConfig::new(Secret::new(KEY));
    cfg.base_url = server.url("/v3");
    cfg.forecast = forecast;
    let em = ElectricityMaps::new(cfg, clock, Duration::from_secs(5), Metrics::default()).unwrap();
    (server, em)
}

#[tokio::test]
async fn latest_is_parsed_with_auth_header_and_zone() {
    let (server, em) = setup(false).await;
    server.set(
        "/v3/carbon-intensity/latest",
        Reply::json(fixture("electricitymaps/carbon-intensity_latest.json")),
    );
    let s = em.fetch(&zone("US-CAR-DUK")).await.unwrap();
    assert_eq!(s.zone, "US-CAR-DUK");
    assert_eq!(s.signal, Signal::Average);
    assert_eq!(s.points.len(), 1);
    let p = &s.points[0];
    assert_eq!(p.start, ts("2024-03-06T19:00:00Z"));
    assert_eq!(p.duration, SignedDuration::from_hours(1));
    assert_eq!(p.value, 216.0);
    assert!(p.is_estimated, "the capture says isEstimated: true");
    assert_eq!(&*p.provider, "electricitymaps");
    let req = server.last("/v3/carbon-intensity/latest").unwrap();
    assert_eq!(req.headers.get("auth-token").unwrap(), KEY);
    assert!(req.query.contains("zone=US-CAR-DUK"), "{}", req.query);
    assert_eq!(server.calls("/v3/carbon-intensity/forecast"), 0, "forecast is opt-in (paid keys)");
}

#[tokio::test]
async fn forecast_is_added_when_enabled_and_marked_estimated() {
    let (server, em) = setup(true).await;
    server.set(
        "/v3/carbon-intensity/latest",
        Reply::json(fixture("electricitymaps/carbon-intensity_latest.json")),
    );
    server.set(
        "/v3/carbon-intensity/forecast",
        Reply::json(fixture("electricitymaps/carbon-intensity_forecast.json")),
    );
    let f = em.forecast("DK-DK2").await.unwrap();
    let values: Vec<f64> = f.iter().map(|p| p.value).collect();
    assert_eq!(values, vec![326.0, 297.0, 194.0]);
    assert!(f.iter().all(|p| p.is_estimated));
    let s = em.fetch(&zone("DK-DK2")).await.unwrap();
    assert_eq!(s.points.len(), 4, "latest + 3 forecast hours");
    assert_eq!(server.calls("/v3/carbon-intensity/forecast"), 2);
}

#[tokio::test]
async fn history_and_past_range_parse() {
    let (server, em) = setup(false).await;
    let history = fixture("electricitymaps/carbon-intensity_history.json");
    server.set("/v3/carbon-intensity/history", Reply::json(history.clone()));
    let h = em.history("DE").await.unwrap();
    assert_eq!(h.len(), 24);
    assert_eq!(h[0].start, ts("2024-03-05T20:00:00Z"));
    assert_eq!(h[0].value, 599.0);
    assert!(!h[0].is_estimated);
    assert!(h[23].is_estimated, "the last point of the capture is estimated");
    // Every value as recorded (read independently of the provider's parser).
    let raw: serde_json::Value = serde_json::from_str(&history).unwrap();
    let expected: Vec<f64> =
        raw["history"].as_array().unwrap().iter().map(|e| e["carbonIntensity"].as_f64().unwrap()).collect();
    assert_eq!(h.iter().map(|p| p.value).collect::<Vec<_>>(), expected);

    // past-range has the same entries under "data".
    server
        .set("/v3/carbon-intensity/past-range", Reply::json(history.replacen("\"history\"", "\"data\"", 1)));
    let r = em.past_range("DE", ts("2024-03-05T20:00:00Z"), ts("2024-03-06T20:00:00Z")).await.unwrap();
    assert_eq!(r, h);
    let q = server.last("/v3/carbon-intensity/past-range").unwrap().query;
    assert!(q.contains("start=2024-03-05T20%3A00%3A00Z") && q.contains("end="), "{q}");
}

#[tokio::test]
async fn null_intensity_entries_are_gaps_but_all_null_is_an_error() {
    let (server, em) = setup(false).await;
    let history = fixture("electricitymaps/carbon-intensity_history.json");
    let one_null = history.replacen("\"carbonIntensity\": 599", "\"carbonIntensity\": null", 1);
    server.set("/v3/carbon-intensity/history", Reply::json(one_null));
    assert_eq!(em.history("DE").await.unwrap().len(), 23);

    let latest = fixture("electricitymaps/carbon-intensity_latest.json").replace("216", "null");
    server.set("/v3/carbon-intensity/latest", Reply::json(latest));
    let err = em.fetch(&zone("US-CAR-DUK")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}");
}

#[tokio::test]
async fn rate_limit_401_is_told_apart_from_a_bad_key() {
    let (server, em) = setup(false).await;
    server.set(
        "/v3/carbon-intensity/latest",
        Reply::status(401, r#"{"message":"Rate limit exceeded. Upgrade your plan."}"#)
            .header("retry-after", "120"),
    );
    let err = em.fetch(&zone("DE")).await.unwrap_err();
    assert!(
        matches!(err, ProviderError::RateLimited { retry_after: Some(d), .. } if d.as_secs() == 120),
        "{err}"
    );

    // A bad key; the body even echoes the key, which must not reach the error.
    server.set(
        "/v3/carbon-intensity/latest",
        Reply::status(401, format!(r#"{{"message":"Invalid authentication token {KEY}"}}"#)),
    );
    let err = em.fetch(&zone("DE")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    let msg = err.to_string();
    assert!(msg.contains("credentials rejected") && msg.contains("[redacted]"), "{msg}");
    assert!(!msg.contains(KEY), "{msg}");
    assert!(!format!("{em:?}").contains(KEY));
}

#[tokio::test]
async fn missing_key_is_a_configuration_error() {
    install_crypto();
    let clock: SharedClock = Arc::new(ManualClock::new(ts("2024-03-06T19:10:00Z")));
    let err = ElectricityMaps::new(
        ElectricityMapsConfig::new(Secret::new("")),
        clock,
        Duration::from_secs(1),
        Metrics::default(),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}
