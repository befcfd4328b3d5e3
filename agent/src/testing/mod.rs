//! Fixtures for tests and benchmarks that run the agent's controllers (feature
//! `test-util`): a forecast the test drives in place of the hub's stream, a real stream
//! client for the hub's tests, a member cluster with the KEDA capper running
//! ([`keda`]), and waiting on what the agent reports to the hub.
use crate::forecast::{ForecastHandle, ForecastView};
use gridshift_core::testing::{series, zone};
use gridshift_core::{Forecasts, Series, Zone};
use gridshift_proto::v1::AgentStatus;
use jiff::{SignedDuration, Timestamp};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub mod keda;

/// The test cluster's grid zone and the staleness bound its fake hub announces.
pub const ZONE: &str = "GB";
pub const BOUND: SignedDuration = SignedDuration::from_hours(6);

/// Where the fixtures' clocks start.
pub fn t0() -> Timestamp {
    "2022-06-01T00:00:00Z".parse().expect("ts")
}

/// Hourly points of [`ZONE`] from `start` with `values`, obtained at `generated_at`.
pub fn hourly(start: Timestamp, generated_at: Timestamp, values: &[f64]) -> Series {
    series(ZONE, start).generated_at(generated_at).provider("replay").values(values)
}

/// A fake hub for a cluster in [`ZONE`] under [`BOUND`], connected since `now`.
pub fn fake_hub(series: Option<Series>, now: Timestamp) -> (FakeHub, ForecastHandle) {
    FakeHub::new(zone(ZONE), series, BOUND, now)
}

/// What the agent's stream client publishes once the hub has sent `series` at `at`.
pub fn view(series: Vec<Series>, at: Timestamp, staleness: SignedDuration) -> ForecastView {
    let mut v = ForecastView::empty(None, staleness);
    v.forecasts = Forecasts::from_series(series, staleness);
    v.hub_connected = true;
    v.last_hub_contact = Some(at);
    v.updated_at = Some(at);
    v
}

/// A forecast the test drives, standing in for the stream client's output.
pub struct FakeHub {
    pub tx: watch::Sender<Arc<ForecastView>>,
}

impl FakeHub {
    /// Connected since `now`, with `series` (if any) for the cluster's `primary` zone.
    pub fn new(
        primary: Zone,
        series: Option<Series>,
        staleness: SignedDuration,
        now: Timestamp,
    ) -> (Self, ForecastHandle) {
        let mut view = ForecastView::empty(Some(primary), staleness);
        view.forecasts = Forecasts::from_series(series, staleness);
        view.hub_connected = true;
        view.last_hub_contact = Some(now);
        let (tx, rx) = watch::channel(Arc::new(view));
        (Self { tx }, ForecastHandle::new(rx))
    }

    /// The hub sends `series` (the only zone held from now on).
    pub fn publish(&self, series: Series) {
        self.tx.send_modify(|v| {
            let v = Arc::make_mut(v);
            v.forecasts = Forecasts::from_series([series], v.staleness_bound());
        });
    }

    /// The hub announces another staleness bound.
    pub fn set_staleness_bound(&self, bound: SignedDuration) {
        self.tx.send_modify(|v| {
            let v = Arc::make_mut(v);
            v.forecasts = v.forecasts.clone().with_staleness_bound(bound);
        });
    }

    pub fn disconnect(&self) {
        self.tx.send_modify(|v| Arc::make_mut(v).hub_connected = false);
    }
}

/// Waits (10 s at most) until the status the agent reports to the hub satisfies `f`.
pub async fn status_reaches(
    status: &watch::Receiver<AgentStatus>,
    what: &str,
    f: impl Fn(&AgentStatus) -> bool,
) {
    let mut rx = status.clone();
    tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|s| f(s)))
        .await
        .unwrap_or_else(|_| panic!("status never {what}: {:?}", *status.borrow()))
        .expect("reporter alive");
}

/// A real stream client, for tests and benchmarks of the hub: its forecast handle and
/// what drives its `Hello` and status reports.
pub struct TestAgent {
    pub handle: ForecastHandle,
    pub zones: watch::Sender<Vec<Zone>>,
    pub status: watch::Sender<AgentStatus>,
    pub shutdown: gridshift_ops::runtime::Shutdown,
    pub task: tokio::task::JoinHandle<()>,
    pub metrics: crate::metrics::StreamMetrics,
}

impl TestAgent {
    /// Connects (and keeps reconnecting) with `config`, on the system clock, until
    /// `shutdown`; its nodes are in `zones`.
    pub fn start(
        config: crate::stream::ClientConfig,
        zones: &[&str],
        shutdown: gridshift_ops::runtime::Shutdown,
    ) -> Self {
        let zones = zones.iter().map(|z| Zone::new(z).unwrap_or_else(|e| panic!("{e}"))).collect();
        let (zones_tx, zones_rx) = watch::channel(zones);
        let (status_tx, status_rx) = watch::channel(AgentStatus::default());
        let metrics = crate::metrics::StreamMetrics::default();
        let clock: gridshift_core::SharedClock = Arc::new(gridshift_core::SystemClock);
        let (client, handle) =
            crate::stream::StreamClient::new(config, clock, zones_rx, status_rx, vec![], metrics.clone());
        let task = tokio::spawn(client.run(shutdown.clone()));
        Self { handle, zones: zones_tx, status: status_tx, shutdown, task, metrics }
    }
}
