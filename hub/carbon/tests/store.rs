//! The forecast store: one fetch per zone per refresh, fallbacks, backoff,
//! staleness, bounded concurrency, persistence, the run loop and metrics.
mod common;

use common::*;
use futures::future::BoxFuture;
use gridshift_carbon::providers::{ElectricityMaps, ElectricityMapsConfig, Provider};
use gridshift_carbon::store::FileBackend;
use gridshift_carbon::{
    ErrorKind, ForecastStore, Metrics, ProviderChain, ProviderError, Secret, StoreConfig, StoreOptions,
};
use gridshift_core::testing::zone;
use gridshift_core::{Clock, ForecastPoint, ManualClock, Series, SharedClock, Signal, Zone};
use jiff::{SignedDuration, Timestamp};
use parking_lot::Mutex;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

type Behaviour = Box<dyn Fn(&str, usize) -> Result<f64, ProviderError> + Send + Sync>;

/// An in-process provider: hourly data from `behaviour(zone, call number)`.
struct Fake {
    name: &'static str,
    clock: SharedClock,
    calls: Mutex<HashMap<String, usize>>,
    behaviour: Behaviour,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    gate: Option<Arc<tokio::sync::Semaphore>>,
}

impl Fake {
    fn new(name: &'static str, clock: SharedClock, behaviour: Behaviour) -> Arc<Self> {
        Arc::new(Self {
            name,
            clock,
            calls: Mutex::new(HashMap::new()),
            behaviour,
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            gate: None,
        })
    }

    fn calls(&self, zone: &str) -> usize {
        self.calls.lock().get(zone).copied().unwrap_or(0)
    }

    fn total(&self) -> usize {
        self.calls.lock().values().sum()
    }
}

fn rate_limited(after: i64) -> ProviderError {
    ProviderError::RateLimited {
        provider: "fake".into(),
        retry_after: Some(SignedDuration::from_secs(after)),
    }
}

fn server_error() -> ProviderError {
    ProviderError::Http { provider: "fake".into(), status: 500, detail: "boom".into() }
}

impl Provider for Fake {
    fn name(&self) -> &str {
        self.name
    }
    fn signal(&self) -> Signal {
        Signal::Average
    }
    fn resolution(&self) -> SignedDuration {
        SignedDuration::from_hours(1)
    }
    fn fetch<'a>(&'a self, zone: &'a Zone) -> BoxFuture<'a, Result<Series, ProviderError>> {
        Box::pin(async move {
            let n = {
                let mut calls = self.calls.lock();
                let c = calls.entry(zone.to_string()).or_default();
                *c += 1;
                *c
            };
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(now, Ordering::SeqCst);
            if let Some(gate) = &self.gate {
                gate.acquire().await.unwrap().forget();
            }
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            let value = (self.behaviour)(zone, n)?;
            let t = self.clock.now();
            let start = Timestamp::from_second(t.as_second() - t.as_second().rem_euclid(3600)).unwrap();
            let points = (0..3)
                .map(|h| ForecastPoint {
                    start: start + SignedDuration::from_hours(h),
                    duration: SignedDuration::from_hours(1),
                    value: value + h as f64,
                    provider: Arc::from(self.name),
                    is_estimated: h > 0,
                })
                .collect();
            Ok(Series::new(zone.clone(), t, Signal::Average, points))
        })
    }
}

fn clock() -> (ManualClock, SharedClock) {
    // Just after the hourly refresh offset (2 min), so the next refresh is the next hour.
    let c = ManualClock::new(ts("2024-03-06T10:05:00Z"));
    let s: SharedClock = Arc::new(c.clone());
    (c, s)
}

fn store_with(
    providers: Vec<Arc<dyn Provider>>,
    clock: SharedClock,
    sink: Arc<RecordingSink>,
    wanted: impl Fn() -> BTreeSet<String> + Send + Sync + 'static,
    cfg: StoreConfig,
) -> ForecastStore {
    ForecastStore::with_options(
        cfg,
        ProviderChain::new(providers).unwrap(),
        clock,
        sink,
        StoreOptions::default()
            .jitter(|| 0.0)
            .wanted_zones(move || wanted().iter().map(|z| zone(z)).collect()),
    )
}

/// 50 clusters and 20 policies all in DE: what the hub would report as wanted.
fn fleet_wanting_de() -> impl Fn() -> BTreeSet<String> + Send + Sync + 'static {
    let consumers: Vec<Vec<String>> = (0..70)
        .map(|i| if i % 7 == 0 { vec!["DE".to_string(), "FR".to_string()] } else { vec!["DE".to_string()] })
        .collect();
    move || consumers.iter().flatten().cloned().collect()
}

#[tokio::test]
async fn many_consumers_of_one_zone_cause_one_call_per_refresh() {
    let (manual, clock) = clock();
    let fake = Fake::new("fake", clock.clone(), Box::new(|_, _| Ok(300.0)));
    let sink = Arc::new(RecordingSink::default());
    let store =
        store_with(vec![fake.clone()], clock, sink.clone(), fleet_wanting_de(), StoreConfig::default());

    // Ten refreshes racing (e.g. several wake-ups at once) still fetch once.
    let handles: Vec<_> = (0..10)
        .map(|_| {
            tokio::spawn({
                let s = store.clone();
                async move { s.refresh_once().await }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(fake.calls("DE"), 1);
    assert_eq!(fake.calls("FR"), 1);
    assert_eq!(sink.publish_count(), 1);

    // Nothing new before the next data slot; one more call once it is due.
    manual.advance(SignedDuration::from_mins(30));
    store.refresh_once().await;
    assert_eq!(fake.calls("DE"), 1);
    manual.set(ts("2024-03-06T11:02:00Z"));
    store.refresh_once().await;
    store.refresh_once().await;
    assert_eq!(fake.calls("DE"), 2);
}

#[tokio::test]
async fn many_clusters_sharing_a_zone_make_one_http_call_per_refresh() {
    install_crypto();
    let server = MockServer::start().await;
    server.set(
        "/v3/carbon-intensity/latest",
        Reply::json(fixture("electricitymaps/carbon-intensity_latest.json")),
    );
    let (manual, clock) = clock();
    let mut cfg = ElectricityMapsConfig::new(Secret::new("k"));
    cfg.base_url = server.url("/v3");
    let em = Arc::new(
        ElectricityMaps::new(cfg, clock.clone(), std::time::Duration::from_secs(5), Metrics::default())
            .unwrap(),
    );
    let sink = Arc::new(RecordingSink::default());
    let store = store_with(vec![em], clock, sink.clone(), fleet_wanting_de(), StoreConfig::default());
    for hour in 0..3 {
        store.refresh_once().await;
        store.refresh_once().await;
        let de = server.requests().iter().filter(|r| r.query.contains("zone=DE")).count();
        assert_eq!(de, hour + 1, "one DE call per refresh period");
        manual.advance(SignedDuration::from_hours(1));
    }
}

#[tokio::test]
async fn fallback_serves_while_the_primary_backs_off_then_primary_returns() {
    let (manual, clock) = clock();
    let primary = Fake::new(
        "primary",
        clock.clone(),
        Box::new(|_, n| if n == 1 { Err(server_error()) } else { Ok(100.0) }),
    );
    let fallback = Fake::new("fallback", clock.clone(), Box::new(|_, _| Ok(500.0)));
    let sink = Arc::new(RecordingSink::default());
    let store = store_with(
        vec![primary.clone(), fallback.clone()],
        clock,
        sink.clone(),
        || ["DE".to_string()].into(),
        StoreConfig::default(),
    );
    let r = store.refresh_once().await;
    assert_eq!(r.fetched, vec![(zone("DE"), "fallback".to_string())]);
    assert_eq!(sink.latest("DE").unwrap().points[0].value, 500.0);

    // Next slot: the primary's backoff (≤ 30 s) is over, so it is asked first again.
    manual.set(ts("2024-03-06T11:02:00Z"));
    let r = store.refresh_once().await;
    assert_eq!(r.fetched, vec![(zone("DE"), "primary".to_string())]);
    assert_eq!((primary.calls("DE"), fallback.calls("DE")), (2, 1));
}

#[tokio::test]
async fn a_rate_limit_pauses_the_provider_for_every_zone() {
    let (manual, clock) = clock();
    let fake = Fake::new("fake", clock.clone(), Box::new(|_, _| Err(rate_limited(600))));
    let sink = Arc::new(RecordingSink::default());
    let cfg = StoreConfig { max_concurrency: 1, ..StoreConfig::default() };
    let store =
        store_with(vec![fake.clone()], clock, sink, || ["DE".into(), "FR".into(), "PL".into()].into(), cfg);
    let r = store.refresh_once().await;
    assert_eq!(fake.total(), 1, "the other zones are not tried against a rate-limited provider");
    assert_eq!(r.failed.len(), 1);
    assert_eq!(r.backing_off.len(), 2);
    manual.advance(SignedDuration::from_secs(599));
    store.refresh_once().await;
    assert_eq!(fake.total(), 1, "Retry-After honoured");
    manual.advance(SignedDuration::from_secs(1));
    store.refresh_once().await;
    assert_eq!(fake.total(), 2, "retried after Retry-After, still one zone at a time");
}

#[tokio::test]
async fn backoff_grows_and_failures_are_not_cached_beyond_it() {
    let (manual, clock) = clock();
    let fake = Fake::new(
        "fake",
        clock.clone(),
        Box::new(|_, n| if n <= 4 { Err(server_error()) } else { Ok(42.0) }),
    );
    let sink = Arc::new(RecordingSink::default());
    let store =
        store_with(vec![fake.clone()], clock, sink.clone(), || ["DE".into()].into(), StoreConfig::default());
    let mut delays = Vec::new();
    for _ in 0..4 {
        let before = manual.now();
        store.refresh_once().await;
        let next = store.status("DE").unwrap().next_refresh;
        delays.push(next.duration_since(before).as_secs());
        manual.set(next);
    }
    // base 30 s, doubling, equal jitter pinned to 0: 15, 30, 60, 120 s.
    assert_eq!(delays, vec![15, 30, 60, 120]);
    assert_eq!(store.status("DE").unwrap().consecutive_failures, 4);
    let r = store.refresh_once().await;
    assert_eq!(r.fetched.len(), 1);
    assert_eq!(sink.latest("DE").unwrap().points[0].value, 42.0);
    assert_eq!(store.status("DE").unwrap().consecutive_failures, 0);
}

#[tokio::test]
async fn last_good_is_kept_until_the_staleness_bound_then_withdrawn() {
    let (manual, clock) = clock();
    let fake = Fake::new(
        "fake",
        clock.clone(),
        Box::new(|_, n| if n == 1 { Ok(200.0) } else { Err(server_error()) }),
    );
    let sink = Arc::new(RecordingSink::default());
    let cfg = StoreConfig { staleness_bound: SignedDuration::from_hours(3), ..StoreConfig::default() };
    let store = store_with(vec![fake.clone()], clock, sink.clone(), || ["DE".into()].into(), cfg);
    store.refresh_once().await;
    let good = store.series("DE").unwrap();
    manual.advance(SignedDuration::from_hours(3));
    let r = store.refresh_once().await;
    assert_eq!(r.failed.len(), 1);
    assert!(r.withdrawn.is_empty());
    assert_eq!(store.series("DE"), Some(good), "exactly at the bound: still good");
    manual.advance(SignedDuration::from_mins(10));
    let r = store.refresh_once().await;
    assert_eq!(r.withdrawn, vec!["DE".to_string()]);
    assert_eq!(store.series("DE"), None, "no data: consumers fail open");
    assert_eq!(*sink.withdrawn.lock(), vec!["DE".to_string()]);
    assert!(store.status("DE").unwrap().last_error.is_some());
}

#[tokio::test]
async fn concurrency_is_bounded() {
    let (_manual, clock) = clock();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let fake = Arc::new(Fake {
        gate: Some(gate.clone()),
        ..Arc::into_inner(Fake::new("fake", clock.clone(), Box::new(|_, _| Ok(1.0)))).unwrap()
    });
    let sink = Arc::new(RecordingSink::default());
    let zones: BTreeSet<String> = (0..10).map(|i| format!("Z{i}")).collect();
    let cfg = StoreConfig { max_concurrency: 3, ..StoreConfig::default() };
    let store = store_with(vec![fake.clone()], clock, sink.clone(), move || zones.clone(), cfg);
    let run = tokio::spawn({
        let s = store.clone();
        async move { s.refresh_once().await }
    });
    while fake.in_flight.load(Ordering::SeqCst) < 3 {
        tokio::task::yield_now().await;
    }
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    assert_eq!(fake.in_flight.load(Ordering::SeqCst), 3, "a fourth fetch never starts while three are open");
    gate.add_permits(10);
    let r = run.await.unwrap();
    assert_eq!(r.fetched.len(), 10);
    assert_eq!(fake.max_in_flight.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn state_survives_a_restart_without_refetching() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let (manual, clock) = clock();
    let fake = Fake::new("fake", clock.clone(), Box::new(|_, _| Ok(321.0)));
    let sink = Arc::new(RecordingSink::default());
    let first = ForecastStore::with_options(
        StoreConfig::default(),
        ProviderChain::new(vec![fake.clone()]).unwrap(),
        clock.clone(),
        sink.clone(),
        StoreOptions::default()
            .jitter(|| 0.0)
            .wanted_zones(|| [zone("DE")].into())
            .persist(Arc::new(FileBackend::new(&path))),
    );
    first.refresh_once().await;
    let good = first.series("DE").unwrap();
    drop(first);

    // "Restart" ten minutes later with a new store, provider and sink.
    manual.advance(SignedDuration::from_mins(10));
    let fake2 = Fake::new("fake", clock.clone(), Box::new(|_, _| Ok(999.0)));
    let sink2 = Arc::new(RecordingSink::default());
    let second = ForecastStore::with_options(
        StoreConfig::default(),
        ProviderChain::new(vec![fake2.clone()]).unwrap(),
        clock,
        sink2.clone(),
        StoreOptions::default()
            .jitter(|| 0.0)
            .wanted_zones(|| [zone("DE")].into())
            .persist(Arc::new(FileBackend::new(&path))),
    );
    assert_eq!(second.restore().await, 1);
    assert_eq!(sink2.latest("DE"), Some(good.clone()), "published at once after restart");
    assert_eq!(second.status("DE").unwrap().age, Some(SignedDuration::from_mins(10)));
    second.refresh_once().await;
    assert_eq!(fake2.total(), 0, "data from before the restart is still current: no fetch");
    manual.set(ts("2024-03-06T11:02:00Z"));
    second.refresh_once().await;
    assert_eq!(fake2.total(), 1);
    assert_eq!(sink2.latest("DE").unwrap().points[0].value, 999.0);
}

#[tokio::test]
async fn a_remembered_rate_limit_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let (manual, clock) = clock();
    let mk = |fake: Arc<Fake>, clock: SharedClock| {
        ForecastStore::with_options(
            StoreConfig::default(),
            ProviderChain::new(vec![fake]).unwrap(),
            clock,
            Arc::new(RecordingSink::default()),
            StoreOptions::default()
                .jitter(|| 0.0)
                .wanted_zones(|| [zone("DE")].into())
                .persist(Arc::new(FileBackend::new(&path))),
        )
    };
    let limited = Fake::new("fake", clock.clone(), Box::new(|_, _| Err(rate_limited(3600))));
    mk(limited, clock.clone()).refresh_once().await;
    manual.advance(SignedDuration::from_mins(5));
    let fresh = Fake::new("fake", clock.clone(), Box::new(|_, _| Ok(1.0)));
    let restarted = mk(fresh.clone(), clock.clone());
    restarted.restore().await;
    restarted.refresh_once().await;
    assert_eq!(fresh.total(), 0, "still inside the provider's Retry-After");
    manual.advance(SignedDuration::from_mins(55));
    restarted.refresh_once().await;
    assert_eq!(fresh.total(), 1);
}

#[tokio::test]
async fn run_loop_follows_the_clock_and_stops_on_shutdown() {
    let (manual, clock) = clock();
    let fake = Fake::new("fake", clock.clone(), Box::new(|_, n| Ok(100.0 * n as f64)));
    let sink = Arc::new(RecordingSink::default());
    let store =
        store_with(vec![fake.clone()], clock, sink.clone(), || ["DE".into()].into(), StoreConfig::default());
    let mut warm = store.warmed_up();
    assert!(!*warm.borrow(), "not warm before the first refresh");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let notified = sink.notify.notified();
    let task = tokio::spawn({
        let s = store.clone();
        async move {
            s.run(async {
                let _ = stop_rx.await;
            })
            .await
        }
    });
    notified.await;
    assert_eq!(sink.latest("DE").unwrap().points[0].value, 100.0);
    warm.wait_for(|w| *w).await.expect("warm after the first refresh");

    let notified = sink.notify.notified();
    manual.set(ts("2024-03-06T11:02:00Z"));
    notified.await;
    assert_eq!(sink.latest("DE").unwrap().points[0].value, 200.0);
    assert_eq!(fake.calls("DE"), 2);
    stop_tx.send(()).unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn a_store_whose_providers_all_fail_still_warms_up() {
    // Readiness must not wait on a provider outage: agents still need the stream
    // (they fail open on "no data") and the next refresh retries with backoff.
    let (_manual, clock) = clock();
    let down = Fake::new("fake", clock.clone(), Box::new(|_, _| Err(server_error())));
    let sink = Arc::new(RecordingSink::default());
    let store = store_with(vec![down.clone()], clock, sink, || ["DE".into()].into(), StoreConfig::default());
    let mut warm = store.warmed_up();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn({
        let s = store.clone();
        async move { s.run(async { drop(stop_rx.await) }).await }
    });
    warm.wait_for(|w| *w).await.expect("warm");
    assert!(down.calls("DE") >= 1, "the zone was tried");
    assert!(store.series("DE").is_none());
    stop_tx.send(()).unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn metrics_show_intensity_age_calls_and_errors() {
    install_crypto();
    let server = MockServer::start().await;
    server.set(
        "/v3/carbon-intensity/latest",
        Reply::json(fixture("electricitymaps/carbon-intensity_latest.json")),
    );
    let manual = ManualClock::new(ts("2024-03-06T19:10:00Z"));
    let clock: SharedClock = Arc::new(manual.clone());
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = Metrics::new(&mut registry);
    let mut cfg = ElectricityMapsConfig::new(Secret::new("k"));
    cfg.base_url = server.url("/v3");
    let em = Arc::new(
        ElectricityMaps::new(cfg, clock.clone(), std::time::Duration::from_secs(5), metrics.clone()).unwrap(),
    );
    let store = ForecastStore::with_options(
        StoreConfig::default(),
        ProviderChain::new(vec![em]).unwrap(),
        clock,
        Arc::new(RecordingSink::default()),
        StoreOptions::default().jitter(|| 0.0).metrics(metrics).wanted_zones(|| [zone("US-CAR-DUK")].into()),
    );
    store.refresh_once().await;
    manual.advance(SignedDuration::from_mins(40));
    store.update_metrics();
    let encode = |registry: &prometheus_client::registry::Registry| {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
        text
    };
    let text = encode(&registry);
    let has = |text: &str, needle: &str| assert!(text.contains(needle), "missing {needle} in\n{text}");
    has(
        &text,
        r#"gridshift_carbon_intensity_gco2_per_kwh{zone="US-CAR-DUK",provider="electricitymaps",estimated="true",carried_forward="false"} 216.0"#,
    );
    has(&text, r#"gridshift_carbon_data_age_seconds{zone="US-CAR-DUK"} 2400.0"#);
    has(&text, r#"gridshift_carbon_upstream_calls_total{provider="electricitymaps",status="200"} 1"#);

    // Next hour: the upstream fails; the last value is carried forward past its hour
    // (one series, relabelled), and the age keeps growing.
    manual.set(ts("2024-03-06T20:03:00Z"));
    server.set("/v3/carbon-intensity/latest", Reply::status(500, "oops"));
    store.refresh_once().await;
    let text = encode(&registry);
    has(&text, r#"gridshift_carbon_upstream_calls_total{provider="electricitymaps",status="500"} 1"#);
    has(&text, r#"gridshift_carbon_upstream_errors_total{provider="electricitymaps",kind="http"} 1"#);
    has(&text, r#"gridshift_carbon_upstream_latency_seconds_count{provider="electricitymaps"} 2"#);
    has(&text, r#"gridshift_carbon_data_age_seconds{zone="US-CAR-DUK"} 3180.0"#);
    has(
        &text,
        r#"gridshift_carbon_intensity_gco2_per_kwh{zone="US-CAR-DUK",provider="electricitymaps",estimated="true",carried_forward="true"} 216.0"#,
    );
    assert_eq!(text.matches("gridshift_carbon_intensity_gco2_per_kwh{").count(), 1, "{text}");
    assert_eq!(store.status("US-CAR-DUK").unwrap().last_error.unwrap().kind(), ErrorKind::Http);
}
