//! A simulated member cluster with the KEDA capper running, and what the KEDA tests and
//! benchmark share: creating targets and CRs, waiting on their state, reading metrics.
use super::{FakeHub, fake_hub, t0};
use crate::keda::target::api_resource;
use crate::keda::{self, KedaConfig, KedaMetrics};
use crate::status::StatusReporter;
use futures::StreamExt;
use gridshift_api::keda::{
    CarbonAwareKedaScaler, CarbonAwareKedaScalerSpec, CarbonIntensityConfig, EcoModeOff, KedaTarget,
    KedaTargetRef,
};
use gridshift_core::{Clock, ManualClock, Series, SharedClock};
use gridshift_ops::runtime::Shutdown;
use gridshift_proto::v1::AgentStatus;
use gridshift_sim::SimServer;
use gridshift_sim::testing::{LIMIT, wait_for};
use jiff::SignedDuration;
use k8s_openapi::api::events::v1::Event;
use kube::Client;
use kube::api::{Api, DynamicObject, PostParams};
use kube::runtime::watcher;
use prometheus_client::registry::Registry;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub const NS: &str = "default";
pub const ECO_OFF_MAX: i32 = 55;

pub struct Cluster {
    pub sim: SimServer,
    pub client: Client,
    pub clock: ManualClock,
    pub hub: FakeHub,
    pub registry: Registry,
    /// Triggered to stop the capper; `capper` then ends.
    pub stop: Shutdown,
    pub capper: tokio::task::JoinHandle<()>,
    /// What the capper reports to the hub.
    pub status: watch::Receiver<AgentStatus>,
}

/// A member cluster with the capper running; the clock starts at t0 + 30 min.
pub async fn cluster(series: Option<Series>) -> Cluster {
    let sim = gridshift_sim::testing::cluster(&[]).await;
    let client = sim.client().expect("client");
    let clock = ManualClock::new(t0() + SignedDuration::from_mins(30));
    let (hub, forecast) = fake_hub(series, clock.now());
    let (stop, registry, capper, status) = start_capper(client.clone(), Arc::new(clock.clone()), forecast);
    Cluster { sim, client, clock, hub, registry, stop, capper, status }
}

impl Cluster {
    /// Waits (10 s at most) until the status reported to the hub satisfies `f`.
    pub async fn status_reaches(&self, what: &str, f: impl Fn(&AgentStatus) -> bool) {
        super::status_reaches(&self.status, what, f).await
    }

    pub fn targets(&self, kind: KedaTarget) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), NS, &api_resource(kind))
    }

    pub fn scalers(&self) -> Api<CarbonAwareKedaScaler> {
        Api::namespaced(self.client.clone(), NS)
    }

    pub async fn create_target(&self, kind: KedaTarget, name: &str, spec: Value, annotations: Value) {
        let (k, target_ref) = match kind {
            KedaTarget::ScaledObjects => ("ScaledObject", json!({"scaleTargetRef": {"name": "worker"}})),
            KedaTarget::ScaledJobs => ("ScaledJob", json!({"jobTargetRef": {"template": {}}})),
        };
        let mut spec_full = target_ref;
        spec_full["triggers"] = json!([{"type": "cpu", "metadata": {"value": "50"}}]);
        for (key, v) in spec.as_object().expect("spec object") {
            spec_full[key] = v.clone();
        }
        let obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "keda.sh/v1alpha1", "kind": k,
            "metadata": {"name": name, "namespace": NS, "annotations": annotations},
            "spec": spec_full,
        }))
        .expect("object");
        self.targets(kind).create(&PostParams::default(), &obj).await.expect("create target");
    }

    pub async fn create_scaler(&self, name: &str, spec: CarbonAwareKedaScalerSpec) {
        let cr = CarbonAwareKedaScaler::new(name, spec);
        self.scalers().create(&PostParams::default(), &cr).await.expect("create scaler");
    }

    /// Waits until the target's `maxReplicaCount` is `want` (None: unset).
    pub async fn wait_max(&self, kind: KedaTarget, name: &str, want: Option<i64>) -> DynamicObject {
        let what = format!("{name} maxReplicaCount {want:?}");
        wait_for(&self.targets(kind), name, &what, |o| o.is_some_and(|o| max_of(o) == want))
            .await
            .expect("target")
    }

    pub async fn wait_ready(&self, name: &str, reason: &str) -> CarbonAwareKedaScaler {
        let what = format!("{name} Ready reason {reason}");
        wait_for(&self.scalers(), name, &what, |cr| {
            cr.is_some_and(|cr| ready(cr).is_some_and(|(_, r, _)| r == reason))
        })
        .await
        .expect("scaler")
    }

    /// Waits for an event with `reason` about the scaler `name`.
    pub async fn wait_event(&self, name: &str, reason: &str) -> Event {
        let api: Api<Event> = Api::namespaced(self.client.clone(), NS);
        let config = watcher::Config::default().fields(&format!("regarding.name={name},reason={reason}"));
        let mut events = watcher(api, config).boxed();
        let wait = async {
            loop {
                if let Ok(watcher::Event::Apply(e) | watcher::Event::InitApply(e)) =
                    events.next().await.expect("watch")
                {
                    return e;
                }
            }
        };
        tokio::time::timeout(LIMIT, wait).await.unwrap_or_else(|_| panic!("no {reason} event for {name}"))
    }

    pub fn metrics_text(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("encode");
        out
    }
}

pub fn max_of(o: &DynamicObject) -> Option<i64> {
    o.data["spec"].get("maxReplicaCount").and_then(Value::as_i64)
}

/// (status, reason, message) of the Ready condition.
pub fn ready(cr: &CarbonAwareKedaScaler) -> Option<(String, String, String)> {
    let c = cr.status.as_ref()?.conditions.iter().find(|c| c.type_ == "Ready")?;
    Some((c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// The original operator's thresholds, unsorted: [{100→10}, {90→20}, {40→80}].
pub fn spec(kind: KedaTarget, target: &str) -> CarbonAwareKedaScalerSpec {
    CarbonAwareKedaScalerSpec {
        keda_target: kind,
        keda_target_ref: KedaTargetRef { name: target.into(), namespace: NS.into() },
        carbon_intensity_forecast_data_source: Default::default(),
        max_replicas_by_carbon_intensity: [(100, 10), (90, 20), (40, 80)]
            .into_iter()
            .map(|(t, m)| CarbonIntensityConfig { carbon_intensity_threshold: t, max_replicas: m })
            .collect(),
        eco_mode_off: EcoModeOff {
            max_replicas: ECO_OFF_MAX,
            carbon_intensity_duration: None,
            custom_schedule: vec![],
            recurring_schedule: vec![],
        },
    }
}

pub const SO: KedaTarget = KedaTarget::ScaledObjects;

/// Starts the capper on `client` with `clock` and `forecast`; it stops when the returned
/// shutdown is triggered.
pub fn start_capper(
    client: Client,
    clock: SharedClock,
    forecast: crate::forecast::ForecastHandle,
) -> (Shutdown, Registry, tokio::task::JoinHandle<()>, watch::Receiver<AgentStatus>) {
    let metrics = KedaMetrics::default();
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let (reporter, status) = StatusReporter::new();
    let config = KedaConfig {
        error_requeue: Duration::from_millis(20),
        report: Some(reporter),
        ..KedaConfig::default()
    };
    let stop = Shutdown::new();
    let capper = tokio::spawn(keda::run(client, clock, forecast, metrics, config, stop.clone()));
    (stop, registry, capper, status)
}
