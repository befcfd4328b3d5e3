//! Fixtures for the placement controller against gridshift-sim: a simulated Karmada API
//! server with Karmada's CRDs and ours, three member clusters in three grid zones, the
//! forecast store replaying the 2022 traces on a manual clock (with switchable provider
//! failures), the simulated Karmada, and a recorder of every object version.
#![allow(dead_code)]

use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use gridshift_api::policy::CarbonAwareKarmadaPolicy;
use gridshift_carbon::providers::ReplayProvider;
use gridshift_carbon::{ForecastStore, Provider, ProviderChain, ProviderError, StoreConfig, StoreOptions};
use gridshift_core::{Clock, ManualClock, Series, SharedClock, Signal, Zone};
use gridshift_hub::distribution::Distributor;
use gridshift_hub::placement::controller::{ControllerConfig, PolicyController, PolicyMetrics};
use gridshift_ops::runtime::Shutdown;
use gridshift_sim::{SimKarmada, SimServer};
use jiff::{SignedDuration, Timestamp};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, WatchEvent, WatchParams};
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Guards against hangs only; every wait ends on an observed condition.
pub const LIMIT: Duration = Duration::from_secs(30);
pub const NS: &str = "shop";
pub const CLUSTERS: [(&str, &str); 3] =
    [("member-gb", "GB"), ("member-ciso", "US-CAL-CISO"), ("member-pjm", "US-MIDA-PJM")];

pub use gridshift_sim::testing::repo;

pub fn t0() -> Timestamp {
    "2022-06-01T00:00:00Z".parse().unwrap()
}

pub fn ar(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

pub fn pp_resource() -> ApiResource {
    ar("policy.karmada.io", "v1alpha1", "PropagationPolicy", "propagationpolicies")
}

pub fn cpp_resource() -> ApiResource {
    ar("policy.karmada.io", "v1alpha1", "ClusterPropagationPolicy", "clusterpropagationpolicies")
}

pub fn rb_resource() -> ApiResource {
    ar("work.karmada.io", "v1alpha2", "ResourceBinding", "resourcebindings")
}

/// The replay provider, failing for the zones in `failing` (a provider outage).
pub struct Flaky {
    inner: ReplayProvider,
    pub failing: Arc<Mutex<BTreeSet<String>>>,
}

impl Provider for Flaky {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn signal(&self) -> Signal {
        self.inner.signal()
    }
    fn resolution(&self) -> SignedDuration {
        self.inner.resolution()
    }
    fn supports(&self, zone: &str) -> bool {
        self.inner.supports(zone)
    }
    fn fetch<'a>(&'a self, zone: &'a Zone) -> BoxFuture<'a, Result<Series, ProviderError>> {
        if self.failing.lock().contains(zone.as_str()) {
            let err = ProviderError::Http {
                provider: "replay".into(),
                status: 503,
                detail: "simulated outage".into(),
            };
            return Box::pin(async move { Err(err) });
        }
        self.inner.fetch(zone)
    }
}

/// The recorded value of `zone` for the hour containing `t`, straight from the trace.
pub fn recorded(zone: &str, t: Timestamp) -> f64 {
    let hour = Timestamp::from_second(t.as_second().div_euclid(3600) * 3600).unwrap();
    gridshift_core::testing::trace(zone).value_at(hour).unwrap_or_else(|| panic!("no {zone} row for {hour}"))
}

pub struct Fleet {
    pub sim: SimServer,
    pub clock: ManualClock,
    pub shared: SharedClock,
    pub karmada: SimKarmada,
    pub distributor: Distributor,
    pub store: ForecastStore,
    pub failing: Arc<Mutex<BTreeSet<String>>>,
    pub shutdown: Shutdown,
}

impl Fleet {
    /// `apply_delay`: how long the simulated Karmada takes to report a new cluster healthy.
    pub async fn start(apply_delay: SignedDuration) -> Self {
        gridshift_ops::install_crypto_provider();
        let clock = ManualClock::new(t0());
        let shared: SharedClock = Arc::new(clock.clone());
        let members: Vec<&str> = CLUSTERS.iter().map(|(name, _)| *name).collect();
        let (sim, karmada) = gridshift_sim::testing::karmada_host(
            &members,
            &[NS, "karmada-system"],
            shared.clone(),
            apply_delay,
        )
        .await;
        let replay = ReplayProvider::from_dir(
            &repo("e2e/data/carbon-intensity-open"),
            SignedDuration::from_hours(24),
            shared.clone(),
        )
        .unwrap();
        let failing = Arc::new(Mutex::new(BTreeSet::new()));
        let flaky = Flaky { inner: replay, failing: failing.clone() };
        let distributor = Distributor::new(7);
        let wanted = distributor.clone();
        let config = StoreConfig { staleness_bound: SignedDuration::from_hours(3), ..StoreConfig::default() };
        let store = ForecastStore::with_options(
            config,
            ProviderChain::new(vec![Arc::new(flaky)]).unwrap(),
            shared.clone(),
            Arc::new(distributor.clone()),
            StoreOptions::default().wanted_zones(move || wanted.wanted_zones()).jitter(|| 0.0),
        );
        let shutdown = Shutdown::new();
        // As in the hub's main: the store runs on the clock and wakes when new zones are wanted.
        let runner = store.clone();
        let stop_store = shutdown.clone();
        tokio::spawn(async move { runner.run(async move { stop_store.wait().await }).await });
        let (waker, mut wanted_changes) = (store.clone(), distributor.watch_wanted());
        tokio::spawn(async move {
            while wanted_changes.changed().await.is_ok() {
                waker.wake();
            }
        });
        Self { sim, clock, shared, karmada, distributor, store, failing, shutdown }
    }

    pub fn client(&self) -> kube::Client {
        self.sim.client().unwrap()
    }

    /// A controller evaluating at least every `resync` (the test's step).
    pub fn controller(&self, resync: SignedDuration) -> PolicyController {
        self.replica(resync, "test")
    }

    /// A controller naming itself `instance` in events.
    pub fn replica(&self, resync: SignedDuration, instance: &str) -> PolicyController {
        let mut config = ControllerConfig::new(self.shared.clone());
        config.resync = resync;
        config.retry_base = Duration::from_millis(2);
        config.retry_max = Duration::from_millis(20);
        config.instance = instance.into();
        PolicyController::new(
            self.client(),
            config,
            self.store.watch(),
            self.distributor.clone(),
            PolicyMetrics::default(),
        )
    }

    /// Runs `controller` in the background until the fleet shuts down.
    pub fn spawn(&self, controller: Arc<PolicyController>) {
        let stop = self.shutdown.clone();
        tokio::spawn(async move { controller.run(async move { stop.wait().await }).await });
    }

    /// The simulated Karmada catches up with the clock (retrying through injected faults).
    pub async fn sync_karmada(&self) {
        for _ in 0..200 {
            if self.karmada.sync().await.is_ok() {
                return;
            }
        }
        panic!("the simulated Karmada never caught up");
    }

    /// Moves the clock on, lets Karmada catch up, and waits until `cr` was evaluated at the new time.
    pub async fn step(
        &self,
        by: SignedDuration,
        progress: &mut watch::Receiver<BTreeMap<String, Timestamp>>,
        cr: &str,
    ) {
        self.clock.advance(by);
        let now = self.clock.now();
        self.sync_karmada().await;
        wait_progress(progress, cr, now).await;
    }

    /// Steps until `done` holds (checked before each step), at most `max_steps` times.
    pub async fn step_until(
        &self,
        progress: &mut watch::Receiver<BTreeMap<String, Timestamp>>,
        cr: &str,
        what: &str,
        max_steps: usize,
        done: impl AsyncFn() -> bool,
    ) {
        for _ in 0..max_steps {
            if done().await {
                return;
            }
            self.step(SignedDuration::from_mins(10), progress, cr).await;
        }
        assert!(done().await, "{what}: not after {max_steps} steps");
    }

    pub fn stop(&self) {
        self.shutdown.trigger();
    }
}

pub async fn wait_progress(
    progress: &mut watch::Receiver<BTreeMap<String, Timestamp>>,
    cr: &str,
    at: Timestamp,
) {
    let reached = progress.wait_for(|p| p.get(cr).is_some_and(|t| *t >= at));
    tokio::time::timeout(LIMIT, reached)
        .await
        .unwrap_or_else(|_| panic!("{cr} not evaluated at {at}"))
        .unwrap();
}

pub fn propagation_policy(name: &str, clusters: &[&str]) -> Value {
    json!({"apiVersion": "policy.karmada.io/v1alpha1", "kind": "PropagationPolicy",
    "metadata": {"name": name, "namespace": NS,
                 // Karmada's webhook sets this on create; the simulated one would too, later.
                 "labels": {"propagationpolicy.karmada.io/permanent-id": format!("id-{name}")}},
    "spec": {"resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name}],
             "placement": {"clusterAffinity": {
                 "clusterNames": clusters,
                 "labelSelector": {"matchLabels": {"tier": "batch"}}
             }}}})
}

pub fn carbon_policy(name: &str, target: &str, extra: Value) -> Value {
    let locations: Vec<Value> = CLUSTERS.iter().map(|(n, z)| json!({"name": n, "location": z})).collect();
    let mut cr = json!({"apiVersion": "gridshift.io/v1alpha1", "kind": "CarbonAwareKarmadaPolicy",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"clusterLocations": locations, "desiredClusters": 1, "makeBeforeBreakTimeoutSeconds": 3600,
                 "karmadaTarget": "propagationpolicies.policy.karmada.io",
                 "karmadaTargetRef": {"name": target, "namespace": NS}}});
    if let (Value::Object(spec), Value::Object(extra)) = (&mut cr["spec"], extra) {
        spec.extend(extra);
    }
    cr
}

pub fn cluster_names(policy: &Value) -> Vec<String> {
    policy
        .pointer("/spec/placement/clusterAffinity/clusterNames")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

pub async fn get_cr(client: &kube::Client, name: &str) -> CarbonAwareKarmadaPolicy {
    Api::<CarbonAwareKarmadaPolicy>::namespaced(client.clone(), NS).get(name).await.unwrap()
}

pub fn condition<'a>(
    cr: &'a CarbonAwareKarmadaPolicy,
    type_: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    cr.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_)
}

/// One observed version of an object: the global resourceVersion orders all of them.
#[derive(Clone, Debug)]
pub struct Version {
    pub rv: u64,
    /// The clock when the recorder saw it (at most one test step late).
    pub seen_at: Timestamp,
    pub deleted: bool,
    pub object: Value,
}

/// Records every version of the objects of one resource in `NS`, from the start.
#[derive(Clone)]
pub struct Recorder {
    pub versions: Arc<Mutex<Vec<Version>>>,
    count: watch::Sender<usize>,
}

impl Recorder {
    pub fn start(client: kube::Client, resource: ApiResource, clock: SharedClock) -> Self {
        let rec = Recorder { versions: Arc::default(), count: watch::Sender::new(0) };
        let (versions, count) = (rec.versions.clone(), rec.count.clone());
        let api: Api<DynamicObject> = Api::namespaced_with(client, NS, &resource);
        tokio::spawn(async move {
            let mut from = "0".to_string();
            loop {
                let Ok(stream) = api.watch(&WatchParams::default(), &from).await else {
                    tokio::time::sleep(Duration::from_millis(10)).await; // retry pacing
                    continue;
                };
                let mut stream = stream.boxed();
                while let Ok(Some(event)) = stream.try_next().await {
                    let (obj, deleted) = match event {
                        WatchEvent::Added(o) | WatchEvent::Modified(o) => (o, false),
                        WatchEvent::Deleted(o) => (o, true),
                        _ => continue,
                    };
                    let rv = obj.metadata.resource_version.clone().unwrap_or_default();
                    from = rv.clone();
                    let object = serde_json::to_value(&obj).unwrap();
                    let mut all = versions.lock();
                    all.push(Version { rv: rv.parse().unwrap(), seen_at: clock.now(), deleted, object });
                    count.send_replace(all.len());
                }
            }
        });
        rec
    }

    pub fn named(&self, name: &str) -> Vec<Version> {
        self.versions.lock().iter().filter(|v| v.object["metadata"]["name"] == name).cloned().collect()
    }

    /// Waits until a version satisfying `pred` has been recorded.
    pub async fn wait_for(&self, what: &str, pred: impl Fn(&Version) -> bool) {
        let mut count = self.count.subscribe();
        let found = async {
            loop {
                if self.versions.lock().iter().any(&pred) {
                    return;
                }
                count.changed().await.unwrap();
            }
        };
        tokio::time::timeout(LIMIT, found).await.unwrap_or_else(|_| panic!("never saw {what}"));
    }
}
