//! WattTime v3 contract tests: login, bearer token renewal, unit conversion.
mod common;

use common::*;
use gridshift_carbon::providers::{Provider, WattTime, WattTimeConfig};
use gridshift_carbon::{ErrorKind, Metrics, Secret};
use gridshift_core::testing::zone;
use gridshift_core::{ManualClock, SharedClock, Signal};
use jiff::SignedDuration;
use std::sync::Arc;
use std::time::Duration;

const PASSWORD: &str = "wt-s3cret-pass";

async fn setup() -> (MockServer, ManualClock, WattTime) {
    install_crypto();
    let server = MockServer::start().await;
    let clock = ManualClock::new(ts("2022-07-15T00:01:00Z"));
    let shared: SharedClock = Arc::new(clock.clone());
    let mut cfg = WattTimeConfig::new("gridshift", Secret::new(PASSWORD));
    cfg.base_url = server.base.clone();
    let wt = WattTime::new(cfg, shared, Duration::from_secs(5), Metrics::default()).unwrap();
    server.set("/login", Reply::json(fixture("watttime/login.json")));
    server.set("/v3/forecast", Reply::json(fixture("watttime/v3_forecast.json")));
    (server, clock, wt)
}

fn token() -> String {
    let v: serde_json::Value = serde_json::from_str(&fixture("watttime/login.json")).unwrap();
    v["token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn forecast_is_converted_from_lbs_per_mwh() {
    let (server, _clock, wt) = setup().await;
    let s = wt.fetch(&zone("US-CAL-CISO")).await.unwrap();
    assert_eq!(s.signal, Signal::Marginal);
    assert_eq!(s.points.len(), 288, "24 h of 5-minute points");
    let p = &s.points[0];
    assert_eq!(p.start, ts("2022-07-15T00:00:00Z"));
    assert_eq!(p.duration, SignedDuration::from_mins(5));
    assert!((p.value - 870.0 * 0.45359237).abs() < 1e-9, "{}", p.value);
    assert!(s.points.iter().all(|p| p.is_estimated));

    // Basic auth on login, bearer on data, zone translated to the WattTime region.
    let login = server.last("/login").unwrap();
    let basic = login.headers.get("authorization").unwrap().to_str().unwrap().to_string();
    assert!(basic.starts_with("Basic "), "{basic}");
    let data = server.last("/v3/forecast").unwrap();
    assert_eq!(data.headers.get("authorization").unwrap().to_str().unwrap(), format!("Bearer {}", token()));
    assert!(data.query.contains("region=CAISO_NORTH"), "{}", data.query);
    assert!(data.query.contains("signal_type=co2_moer"), "{}", data.query);
}

#[tokio::test]
async fn token_is_reused_then_renewed_before_expiry() {
    let (server, clock, wt) = setup().await;
    wt.fetch(&zone("US-CAL-CISO")).await.unwrap();
    clock.advance(SignedDuration::from_mins(20));
    wt.fetch(&zone("US-CAL-CISO")).await.unwrap();
    assert_eq!(server.calls("/login"), 1, "token still valid after 20 minutes");
    clock.advance(SignedDuration::from_mins(6));
    wt.fetch(&zone("US-CAL-CISO")).await.unwrap();
    assert_eq!(server.calls("/login"), 2, "renewed before the 30-minute expiry");
    assert_eq!(server.calls("/v3/forecast"), 3);
}

#[tokio::test]
async fn relogin_on_401_and_403() {
    for status in [401, 403] {
        let (server, _clock, wt) = setup().await;
        wt.fetch(&zone("US-CAL-CISO")).await.unwrap();
        // The token is revoked early: one refusal, then the new token works.
        server.push("/v3/forecast", Reply::status(status, r#"{"error":"token expired"}"#));
        let s = wt.fetch(&zone("US-CAL-CISO")).await.unwrap();
        assert_eq!(s.points.len(), 288);
        assert_eq!(server.calls("/login"), 2, "status {status}: logged in again");
        assert_eq!(server.calls("/v3/forecast"), 3, "status {status}: retried once");
    }
}

#[tokio::test]
async fn persistent_refusal_and_bad_login_are_clear_errors() {
    let (server, _clock, wt) = setup().await;
    server.set("/v3/forecast", Reply::status(403, r#"{"error":"region not in plan"}"#));
    let err = wt.fetch(&zone("US-CAL-CISO")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert_eq!(server.calls("/v3/forecast"), 2, "one retry after re-login, no loop");

    let (server, _clock, wt) = setup().await;
    server.set("/login", Reply::status(401, "Unauthorized"));
    let err = wt.fetch(&zone("US-CAL-CISO")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    let msg = err.to_string();
    assert!(msg.contains("login refused"), "{msg}");
    assert!(!msg.contains(PASSWORD) && !format!("{wt:?}").contains(PASSWORD));
    assert_eq!(server.calls("/v3/forecast"), 0);
}

#[tokio::test]
async fn historical_marks_imputed_points_and_region_lookup_works() {
    let (server, _clock, wt) = setup().await;
    server.set("/v3/historical", Reply::json(fixture("watttime/v3_historical.json")));
    let h =
        wt.historical("CAISO_NORTH", ts("2022-07-15T00:00:00Z"), ts("2022-07-15T00:05:00Z")).await.unwrap();
    assert_eq!(h.len(), 2);
    assert!((h[1].value - 860.0 * 0.45359237).abs() < 1e-9);
    assert!(h.iter().all(|p| p.is_estimated), "imputed_data_used: true");
    assert!(server.last("/v3/historical").unwrap().query.contains("region=CAISO_NORTH"));

    server.set(
        "/v3/region-from-loc",
        Reply::json(r#"{"region":"CAISO_NORTH","region_full_name":"CAISO North","signal_type":"co2_moer"}"#),
    );
    assert_eq!(wt.region_from_loc(37.77, -122.42).await.unwrap().region, "CAISO_NORTH");
}

#[tokio::test]
async fn a_percentile_index_is_not_an_intensity() {
    let (server, _clock, wt) = setup().await;
    server.set("/v3/forecast", Reply::json(fixture("watttime/v3_signal-index.json")));
    let err = wt.fetch(&zone("US-CAL-CISO")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    assert!(err.to_string().contains("percentile"), "{err}");
}
