//! Every bad upstream response, for every HTTP provider, through the store:
//! each yields a clear, classified error, nothing panics, and the last good
//! data stays in use (and published) while the failure backs off.
mod common;

use common::*;
use gridshift_carbon::providers::{
    ElectricityMaps, ElectricityMapsConfig, Provider, UkCarbonIntensity, UkConfig, WattTime, WattTimeConfig,
};
use gridshift_carbon::{ErrorKind, ForecastStore, Metrics, ProviderChain, Secret, StoreConfig, StoreOptions};
use gridshift_core::testing::zone;
use gridshift_core::{Clock, ManualClock, SharedClock};
use jiff::SignedDuration;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const SECRET: &str = "top-secret-credential-42";
const TIMEOUT: Duration = Duration::from_millis(300);

#[derive(Clone, Copy, Debug)]
enum Kind {
    Em,
    Wt,
    Uk,
}

struct Target {
    zone: &'static str,
    /// The path whose replies the cases replace.
    path: &'static str,
    good: String,
}

fn target(kind: Kind) -> Target {
    match kind {
        Kind::Em => Target {
            zone: "DK-DK2",
            path: "/v3/carbon-intensity/forecast",
            good: fixture("electricitymaps/carbon-intensity_forecast.json"),
        },
        Kind::Wt => {
            Target { zone: "US-CAL-CISO", path: "/v3/forecast", good: fixture("watttime/v3_forecast.json") }
        }
        Kind::Uk => Target {
            zone: "GB",
            path: "/intensity/",
            good: fixture("carbonintensity-uk/intensity_fw24h_captured-2020-05-21.json"),
        },
    }
}

/// The good body with every intensity value replaced by `x`.
fn with_values(kind: Kind, good: &str, x: Value) -> String {
    let mut v: Value = serde_json::from_str(good).unwrap();
    match kind {
        Kind::Em => {
            v["forecast"].as_array_mut().unwrap().iter_mut().for_each(|e| e["carbonIntensity"] = x.clone())
        }
        Kind::Wt => v["data"].as_array_mut().unwrap().iter_mut().for_each(|e| e["value"] = x.clone()),
        Kind::Uk => v["data"].as_array_mut().unwrap().iter_mut().for_each(|e| {
            e["intensity"]["forecast"] = x.clone();
            e["intensity"]["actual"] = Value::Null;
        }),
    }
    v.to_string()
}

fn with_empty_array(kind: Kind, good: &str) -> String {
    let mut v: Value = serde_json::from_str(good).unwrap();
    let key = if matches!(kind, Kind::Em) { "forecast" } else { "data" };
    v[key] = json!([]);
    v.to_string()
}

fn cases(kind: Kind, good: &str) -> Vec<(&'static str, Reply, ErrorKind)> {
    vec![
        ("non-JSON", Reply::json("<html><body>502 Bad Gateway</body></html>"), ErrorKind::Decode),
        ("truncated body", Reply::json(&good[..good.len() / 2]), ErrorKind::Decode),
        ("empty body", Reply::json(""), ErrorKind::Decode),
        ("missing fields", Reply::json("{}"), ErrorKind::Decode),
        ("nulls", Reply::json(with_values(kind, good, Value::Null)), ErrorKind::InvalidData),
        ("negative values", Reply::json(with_values(kind, good, json!(-12.5))), ErrorKind::InvalidData),
        ("absurd values", Reply::json(with_values(kind, good, json!(250000))), ErrorKind::InvalidData),
        ("wrong type", Reply::json(with_values(kind, good, json!("high"))), ErrorKind::Decode),
        ("empty array", Reply::json(with_empty_array(kind, good)), ErrorKind::InvalidData),
        ("401", Reply::status(401, r#"{"message":"Invalid token"}"#), ErrorKind::Unauthorized),
        ("403", Reply::status(403, r#"{"message":"Forbidden"}"#), ErrorKind::Unauthorized),
        ("404", Reply::status(404, r#"{"message":"Not found"}"#), ErrorKind::NotFound),
        (
            "429 with Retry-After",
            Reply::status(429, r#"{"message":"Too many requests"}"#).header("retry-after", "900"),
            ErrorKind::RateLimited,
        ),
        ("500", Reply::status(500, "internal error"), ErrorKind::Http),
        ("slower than the timeout", Reply::hang(), ErrorKind::Timeout),
    ]
}

async fn provider(kind: Kind, server: &MockServer, clock: SharedClock) -> Arc<dyn Provider> {
    match kind {
        Kind::Em => {
            let mut cfg = ElectricityMapsConfig::new(Secret::new(SECRET));
            cfg.base_url = server.url("/v3");
            cfg.forecast = true;
            server.set(
                "/v3/carbon-intensity/latest",
                Reply::json(fixture("electricitymaps/carbon-intensity_latest.json")),
            );
            Arc::new(ElectricityMaps::new(cfg, clock, TIMEOUT, Metrics::default()).unwrap())
        }
        Kind::Wt => {
            let mut cfg = WattTimeConfig::new("user", Secret::new(SECRET));
            cfg.base_url = server.base.clone();
            server.set("/login", Reply::json(fixture("watttime/login.json")));
            Arc::new(WattTime::new(cfg, clock, TIMEOUT, Metrics::default()).unwrap())
        }
        Kind::Uk => Arc::new(
            UkCarbonIntensity::new(
                UkConfig { base_url: server.base.clone() },
                clock,
                TIMEOUT,
                Metrics::default(),
            )
            .unwrap(),
        ),
    }
}

async fn run_cases(kind: Kind) {
    install_crypto();
    let t = target(kind);
    for (name, reply, expected) in cases(kind, &t.good) {
        let server = MockServer::start().await;
        let clock = ManualClock::new(ts("2020-05-21T20:40:00Z"));
        let shared: SharedClock = Arc::new(clock.clone());
        let p = provider(kind, &server, shared.clone()).await;
        server.set(t.path, Reply::json(t.good.clone()));
        let sink = Arc::new(RecordingSink::default());
        let store = ForecastStore::with_options(
            StoreConfig::default(),
            ProviderChain::new(vec![p]).unwrap(),
            shared,
            sink.clone(),
            StoreOptions::default().jitter(|| 0.0).wanted_zones(move || [zone(t.zone)].into()),
        );

        let first = store.refresh_once().await;
        assert_eq!(first.fetched.len(), 1, "{kind:?}/{name}: good data first: {first:?}");
        let good = store.series(t.zone).unwrap();

        // Next refresh is due; the upstream now misbehaves.
        clock.advance(SignedDuration::from_hours(1));
        server.set(t.path, reply);
        let report = store.refresh_once().await;
        assert_eq!(report.failed.len(), 1, "{kind:?}/{name}: {report:?}");
        let err = &report.failed[0].1;
        assert_eq!(err.kind(), expected, "{kind:?}/{name}: {err}");
        let msg = err.to_string();
        assert!(!msg.contains(SECRET), "{kind:?}/{name}: secret leaked: {msg}");
        assert!(!msg.is_empty());

        // The last good data is still served, with its age.
        let status = store.status(t.zone).unwrap();
        assert_eq!(status.last_good.as_ref(), Some(&good), "{kind:?}/{name}");
        assert_eq!(status.age, Some(SignedDuration::from_hours(1)));
        assert_eq!(status.last_error.as_ref().map(|e| e.kind()), Some(expected));
        assert_eq!(sink.publish_count(), 1, "{kind:?}/{name}: nothing new published");
        assert_eq!(sink.latest(t.zone), Some(good.clone()));
        assert!(sink.withdrawn.lock().is_empty());

        // Backoff, not a cached failure: a retry happens once it has passed
        // (and not before), and then the good data flows again.
        let now = clock.now();
        assert!(status.next_refresh > now, "{kind:?}/{name}: backs off");
        if expected == ErrorKind::RateLimited {
            assert!(status.next_refresh >= now + SignedDuration::from_secs(900), "Retry-After honoured");
        }
        let calls = server.calls(t.path);
        assert!(store.refresh_once().await.failed.is_empty());
        assert_eq!(server.calls(t.path), calls, "{kind:?}/{name}: no call during backoff");
        server.set(t.path, Reply::json(t.good.clone()));
        clock.set(status.next_refresh);
        let report = store.refresh_once().await;
        assert_eq!(report.fetched.len(), 1, "{kind:?}/{name}: recovered: {report:?}");
        assert!(store.status(t.zone).unwrap().last_error.is_none());
    }
}

#[tokio::test]
async fn electricity_maps_bad_responses() {
    run_cases(Kind::Em).await;
}

#[tokio::test]
async fn watttime_bad_responses() {
    run_cases(Kind::Wt).await;
}

#[tokio::test]
async fn uk_bad_responses() {
    run_cases(Kind::Uk).await;
}
