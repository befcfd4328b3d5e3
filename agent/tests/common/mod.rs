//! Shared setup for the agent's tests against gridshift-sim: a simulated member cluster
//! with KEDA's CRDs and ours, a forecast the test controls, and waiting on watch events.
#![allow(dead_code)]

pub mod cluster;
pub mod status;

use futures::StreamExt;
use gridshift_agent::forecast::{ForecastHandle, ForecastView};
use gridshift_proto::{ForecastPoint, Series, Signal};
use gridshift_sim::{SimConfig, SimServer};
use jiff::{SignedDuration, Timestamp};
use kube::Resource;
use kube::api::Api;
use kube::runtime::watcher;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Guard against hangs only; every wait ends on a watch event.
pub const LIMIT: Duration = Duration::from_secs(20);
pub const ZONE: &str = "GB";
pub const BOUND: SignedDuration = SignedDuration::from_hours(6);

pub fn t0() -> Timestamp {
    "2022-06-01T00:00:00Z".parse().expect("ts")
}

pub async fn sim() -> SimServer {
    // Logs show in a failing test's output (RUST_LOG to choose, e.g. gridshift_agent=debug).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("gridshift_agent=info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    let sim = SimServer::start(SimConfig::default()).await.expect("start sim");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    sim.apply_dir(&root.join("e2e/crds")).expect("KEDA CRDs");
    sim.apply_dir(&root.join("crds")).expect("Gridshift CRDs");
    sim
}

/// Hourly points from `start` with `values`, obtained at `generated_at`.
pub fn hourly(start: Timestamp, generated_at: Timestamp, values: &[f64]) -> Series {
    let points = values
        .iter()
        .enumerate()
        .map(|(i, &value)| ForecastPoint {
            start: start + SignedDuration::from_hours(i64::try_from(i).expect("small")),
            duration: SignedDuration::from_hours(1),
            value,
            provider: "replay".into(),
            is_estimated: false,
        })
        .collect();
    Series::new(ZONE, generated_at, Signal::Average, points)
}

/// A forecast the test drives, standing in for the stream client's output.
pub struct FakeHub {
    pub tx: watch::Sender<Arc<ForecastView>>,
}

impl FakeHub {
    pub fn new(series: Option<Series>, now: Timestamp) -> (Self, ForecastHandle) {
        let mut view = ForecastView::empty(Some(ZONE.into()), BOUND);
        view.zones = Arc::new(series.into_iter().map(|s| (s.zone.clone(), s)).collect::<BTreeMap<_, _>>());
        view.hub_connected = true;
        view.last_hub_contact = Some(now);
        let (tx, rx) = watch::channel(Arc::new(view));
        (Self { tx }, ForecastHandle::new(rx))
    }

    pub fn publish(&self, series: Series) {
        self.tx.send_modify(|v| {
            let v = Arc::make_mut(v);
            v.zones = Arc::new(BTreeMap::from([(series.zone.clone(), series)]));
        });
    }

    pub fn set_staleness_bound(&self, bound: SignedDuration) {
        self.tx.send_modify(|v| Arc::make_mut(v).staleness_bound = bound);
    }

    pub fn disconnect(&self) {
        self.tx.send_modify(|v| Arc::make_mut(v).hub_connected = false);
    }
}

/// Waits until the object `name` (None: absent) satisfies `ok`; returns it.
pub async fn wait_for<K>(
    api: &Api<K>,
    name: &str,
    what: &str,
    mut ok: impl FnMut(Option<&K>) -> bool,
) -> Option<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut events = watcher(api.clone(), config).boxed();
    let mut current: Option<K> = None;
    let mut listing = false;
    let wait = async {
        loop {
            match events.next().await.expect("watch stream ended") {
                Ok(watcher::Event::Init) => {
                    listing = true;
                    current = None;
                }
                Ok(watcher::Event::InitApply(o)) => current = Some(o),
                Ok(watcher::Event::InitDone) => listing = false,
                Ok(watcher::Event::Apply(o)) => current = Some(o),
                Ok(watcher::Event::Delete(_)) => current = None,
                Err(_) => continue, // injected faults: the watcher retries
            }
            if !listing && ok(current.as_ref()) {
                return current.clone();
            }
        }
    };
    let result = tokio::time::timeout(LIMIT, wait).await;
    match result {
        Ok(found) => found,
        Err(_) => panic!("timed out waiting for {what}; last seen: {current:#?}"),
    }
}
