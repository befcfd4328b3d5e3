//! Running the scheduler controller against gridshift-sim: nodes, pods, forecasts
//! from the repository's real 2022 traces, and waits that end on events.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use gridshift_agent::forecast::{ForecastHandle, ForecastView};
use gridshift_agent::scheduler::controller::{
    self, ControllerConfig, ControllerError, Deps, SchedulerMetrics,
};
use gridshift_agent::status::StatusReporter;
use gridshift_core::testing::{forecast_from_trace, trace};
use gridshift_core::{Series, SharedClock, Zone};
use gridshift_ops::runtime::Shutdown;
use gridshift_proto::v1::AgentStatus;
use gridshift_sim::SimServer;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::wait::await_condition;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Guard against hangs only: every wait ends on a watch event or a metric.
pub const LIMIT: Duration = Duration::from_secs(30);

pub fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

pub async fn sim() -> SimServer {
    gridshift_sim::testing::cluster(&["gridshift-system"]).await
}

/// A ready node in a grid zone (the `carbon-zone` label names it directly).
pub fn node(name: &str, zone: &str, cpu: &str, labels: Value) -> Value {
    let mut l = json!({"carbon-zone": zone, "kubernetes.io/hostname": name});
    if let Value::Object(extra) = labels {
        l.as_object_mut().unwrap().extend(extra);
    }
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": l},
        "status": {"allocatable": {"cpu": cpu, "memory": "16Gi", "pods": "110"},
                   "conditions": [{"type": "Ready", "status": "True"}]}})
}

/// A pod for the carbon-aware scheduler requesting `cpu`.
pub fn pod(name: &str, cpu: &str) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": name},
        "spec": {"schedulerName": "carbon-aware-scheduler",
                 "containers": [{"name": "c", "image": "x", "resources": {"requests": {"cpu": cpu}}}]}}))
    .unwrap()
}

pub fn with_annotations(mut p: Pod, pairs: &[(&str, &str)]) -> Pod {
    let a = p.metadata.annotations.get_or_insert_default();
    for (k, v) in pairs {
        a.insert(k.to_string(), v.to_string());
    }
    p
}

/// A perfect forecast issued at `now`: the zone's 2022 trace from the hour containing `now`.
pub fn forecast(zone: &str, now: Timestamp, horizon_h: i64) -> Series {
    forecast_from_trace(zone, &trace(zone), now, horizon_h)
}

/// The trace's value for the hour containing `t`.
pub fn value_at(zone: &str, t: Timestamp) -> f64 {
    let hour = Timestamp::from_second(t.as_second().div_euclid(3600) * 3600).unwrap();
    trace(zone).value_at(hour).unwrap()
}

pub use gridshift_agent::testing::view;

/// One running scheduler replica.
pub struct Replica {
    pub metrics: SchedulerMetrics,
    /// What the replica reports to the hub.
    pub status: watch::Receiver<AgentStatus>,
    pub forecast: watch::Sender<Arc<ForecastView>>,
    shutdown: Shutdown,
    task: JoinHandle<Result<(), ControllerError>>,
}

impl Replica {
    pub fn start(
        client: kube::Client,
        clock: SharedClock,
        view: ForecastView,
        cfg: ControllerConfig,
    ) -> Self {
        Self::start_with_zones(client, clock, view, cfg, None)
    }

    /// Also publishing the nodes' grid zones into `node_zones` (the stream's Hello).
    pub fn start_with_zones(
        client: kube::Client,
        clock: SharedClock,
        view: ForecastView,
        cfg: ControllerConfig,
        node_zones: Option<watch::Sender<Vec<Zone>>>,
    ) -> Self {
        let (forecast, rx) = watch::channel(Arc::new(view));
        let metrics = SchedulerMetrics::default();
        let (reporter, status) = StatusReporter::new();
        let deps = Deps {
            client,
            clock,
            forecast: ForecastHandle::new(rx),
            metrics: metrics.clone(),
            node_zones,
            status: Some(reporter),
        };
        let shutdown = Shutdown::new();
        let task = tokio::spawn(controller::run(cfg, deps, shutdown.clone()));
        Self { metrics, status, forecast, shutdown, task }
    }

    /// Waits (10 s at most) until the status reported to the hub satisfies `f`.
    pub async fn status_reaches(&self, what: &str, f: impl Fn(&AgentStatus) -> bool) {
        gridshift_agent::testing::status_reaches(&self.status, what, f).await
    }

    /// Stops the replica; it releases its lease on the way out.
    pub async fn stop(self) {
        self.shutdown.trigger();
        tokio::time::timeout(LIMIT, self.task).await.expect("replica stops").unwrap().unwrap();
    }

    /// Waits until `f` holds for the metrics. Metrics change only in the controller's
    /// loop; this polls them every few milliseconds against the LIMIT.
    pub async fn until(&self, what: &str, f: impl Fn(&SchedulerMetrics) -> bool) {
        let deadline = tokio::time::Instant::now() + LIMIT;
        while !f(&self.metrics) {
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// A replica without leader election (a single replica always leads).
pub fn config(identity: &str) -> ControllerConfig {
    let mut cfg = ControllerConfig::new("carbon-aware-scheduler", identity);
    cfg.leader.enabled = false;
    cfg.queue.initial_backoff = Duration::from_millis(100);
    cfg.queue.max_backoff = Duration::from_millis(500);
    cfg
}

pub async fn create(client: &kube::Client, p: &Pod) -> Pod {
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), p).await.unwrap()
}

/// Waits until the pod is bound; returns it.
pub async fn bound(client: &kube::Client, name: &str) -> Pod {
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let cond = |p: Option<&Pod>| p.and_then(|p| p.spec.as_ref()?.node_name.as_ref()).is_some();
    tokio::time::timeout(LIMIT, await_condition(api, name, cond))
        .await
        .unwrap_or_else(|_| panic!("{name} was not bound in time"))
        .unwrap()
        .unwrap()
}

pub fn node_of(p: &Pod) -> &str {
    p.spec.as_ref().unwrap().node_name.as_deref().unwrap()
}

/// Waits until the pod shows PodScheduled=False with this reason; returns the message.
pub async fn unscheduled(client: &kube::Client, name: &str, reason: &str) -> String {
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let reason = reason.to_string();
    let cond = move |p: Option<&Pod>| {
        p.and_then(|p| {
            p.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "PodScheduled").cloned()
        })
        .is_some_and(|c| c.status == "False" && c.reason.as_deref() == Some(&reason))
    };
    let p = tokio::time::timeout(LIMIT, await_condition(api, name, cond))
        .await
        .unwrap_or_else(|_| panic!("{name} has no PodScheduled=False condition in time"))
        .unwrap()
        .unwrap();
    let conds = p.status.unwrap().conditions.unwrap();
    conds.into_iter().find(|c| c.type_ == "PodScheduled").unwrap().message.unwrap_or_default()
}

/// events.k8s.io events about a pod with a reason.
pub async fn events(client: &kube::Client, pod: &str, reason: &str) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(client.clone(), "default");
    let lp = ListParams::default().fields(&format!("regarding.name={pod},reason={reason}"));
    api.list(&lp).await.unwrap().items
}

/// Waits until there is at least one such event (watching for it).
pub async fn event(client: &kube::Client, pod: &str, reason: &str) -> Event {
    use futures::StreamExt;
    use kube::runtime::{WatchStreamExt, watcher};
    let api: Api<Event> = Api::namespaced(client.clone(), "default");
    let cfg = watcher::Config::default().fields(&format!("regarding.name={pod},reason={reason}"));
    let mut stream = std::pin::pin!(watcher(api, cfg).applied_objects());
    tokio::time::timeout(LIMIT, stream.next())
        .await
        .unwrap_or_else(|_| panic!("no {reason} event for {pod}"))
        .unwrap()
        .unwrap()
}

pub fn annotation<'a>(p: &'a Pod, key: &str) -> Option<&'a str> {
    p.metadata.annotations.as_ref()?.get(key).map(String::as_str)
}
