//! The CarbonAwareKarmadaPolicy controller: a kube-runtime Controller against the
//! Karmada API server that feeds the pure `gridshift_api::policy::evaluate_policy` and
//! writes what it decides. It reconciles a CR when the CR changes, when its target policy
//! or that policy's ResourceBindings change, when any Karmada Cluster changes, when the
//! forecasts or the agents' zones change, and when the injected clock reaches the CR's
//! next deadline (or its resync).
//!
//! Writes (only the leader runs this, see [`serve`]): the target policy's cluster names
//! (or static weights) as a merge patch under the field manager `gridshift-hub`; the CR
//! status; an event per placement change. The zones the policies need are added to what
//! the hub fetches (`Distributor::want_zones`).
//!
//! | file | what |
//! |---|---|
//! | `serve.rs` | the entry point: connect, elect a leader, run |
//! | `reconcile.rs` | one reconcile: read, locate, evaluate, write; the error policy |
//! | `karmada.rs` | the Karmada objects read and patched, as dynamic objects |
//! | `write.rs` | what one reconcile writes, in a make-before-break-safe order |
//! | `metrics.rs` | `gridshift_hub_policy_*` |
mod karmada;
mod lifecycle;
pub mod metrics;
mod reconcile;
mod serve;
mod write;

pub use lifecycle::Released;
pub use metrics::PolicyMetrics;

/// Karmada's Cluster resource (what [`crate::placement::directory`] watches too).
pub(crate) fn karmada_clusters() -> kube::api::ApiResource {
    karmada::clusters()
}
pub use serve::{PlacementComponent, RunOptions, run, run_with_leader_election};

use crate::distribution::Distributor;
use crate::placement::bindings::PolicyKey;
use crate::placement::patch;
use futures::StreamExt;
use gridshift_api::meta::HUB_MANAGER;
use gridshift_api::policy::CarbonAwareKarmadaPolicy as Cr;
use gridshift_core::zone_map::ZoneMap;
use gridshift_core::{Forecasts, SharedClock, Zone};
use gridshift_ops::events::EventWriter;
use gridshift_ops::runtime::{ClockTimers, Retries};
use jiff::{SignedDuration, Timestamp};
use karmada::Karmada;
use kube::ResourceExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_stream::wrappers::WatchStream;

#[derive(Clone)]
#[allow(missing_debug_implementations)]
pub struct ControllerConfig {
    pub clock: SharedClock,
    /// Every CR is evaluated at least this often, in the clock's time.
    pub resync: SignedDuration,
    pub zone_map: ZoneMap,
    /// Names this replica in events (`reportingInstance`): the pod name.
    pub instance: String,
    /// First retry after a failed reconcile (doubling up to `retry_max`), real time.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// How long after a zone's point ends its refresh is awaited before a move is
    /// decided on its carried-forward value (`Settings::refresh_settle`): the providers'
    /// refresh offset + jitter + a margin.
    pub refresh_settle: SignedDuration,
    /// Whether the hub has tried a zone since it started or became the leader; a CR is
    /// evaluated only once all its zones have been. `None`: no gate (tests of the
    /// decisions alone).
    pub zones_settled: Option<ZonesSettled>,
    /// How long a CR with a status may wait for that before its status says so.
    pub warmup_grace: SignedDuration,
}

/// See [`ControllerConfig::zones_settled`].
pub type ZonesSettled = Arc<dyn Fn(&Zone) -> bool + Send + Sync>;

impl ControllerConfig {
    pub fn new(clock: SharedClock) -> Self {
        Self {
            clock,
            resync: SignedDuration::from_mins(5),
            zone_map: ZoneMap::builtin(),
            instance: "gridshift-hub".into(),
            retry_base: Duration::from_millis(100),
            retry_max: Duration::from_secs(60),
            refresh_settle: gridshift_core::placement::Settings::DEFAULT_REFRESH_SETTLE,
            zones_settled: None,
            warmup_grace: SignedDuration::from_mins(1),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Karmada API: {0}")]
    Kube(#[from] kube::Error),
    #[error("encoding the status: {0}")]
    Json(#[from] serde_json::Error),
    #[error("Karmada API client: {0}")]
    Client(#[from] gridshift_ops::runtime::ClientError),
}

impl Error {
    fn kind(&self) -> &'static str {
        match self {
            Error::Kube(_) => "api",
            Error::Json(_) => "serialization",
            Error::Client(_) => "config",
        }
    }
}

pub(crate) struct Context {
    client: kube::Client,
    karmada: Karmada,
    config: ControllerConfig,
    /// The hub's latest forecasts (the forecast store's): read at each reconcile, and
    /// every change wakes every CR.
    forecasts: watch::Receiver<Forecasts>,
    distributor: Distributor,
    events: EventWriter,
    metrics: PolicyMetrics,
    timers: Arc<ClockTimers<ObjectRef<Cr>>>,
    /// Per CR (`namespace/name`): the clock time of its last completed reconcile.
    progress: watch::Sender<BTreeMap<String, Timestamp>>,
    retries: Retries<String>,
    /// Whether this replica leads (runs the controller).
    leading: watch::Sender<bool>,
    /// Per CR: since when it waits for its zones' first fetch (see `reconcile::warming_up`).
    waiting_since: parking_lot::Mutex<BTreeMap<String, Timestamp>>,
}

pub(crate) fn cr_key(cr: &Cr) -> String {
    format!("{}/{}", cr.namespace().unwrap_or_default(), cr.name_any())
}

/// The placement controller. [`PolicyController::run`] may be called again after it returns
/// (a re-elected leader does so); state that matters lives in the CR status.
pub struct PolicyController {
    pub(crate) ctx: Arc<Context>,
}

impl PolicyController {
    /// `client` talks to the Karmada API server; `forecasts` are the forecast store's
    /// (`ForecastStore::watch`); `distributor` says which zones agents report.
    pub fn new(
        client: kube::Client,
        config: ControllerConfig,
        forecasts: watch::Receiver<Forecasts>,
        distributor: Distributor,
        metrics: PolicyMetrics,
    ) -> Self {
        let ctx = Context {
            events: EventWriter::new(client.clone(), HUB_MANAGER, &config.instance),
            karmada: Karmada::new(client.clone()),
            timers: ClockTimers::new(config.clock.clone()),
            retries: Retries::new(config.retry_base, config.retry_max),
            client,
            config,
            forecasts,
            distributor,
            metrics,
            progress: watch::Sender::new(BTreeMap::new()),
            waiting_since: parking_lot::Mutex::new(BTreeMap::new()),
            leading: watch::Sender::new(false),
        };
        Self { ctx: Arc::new(ctx) }
    }

    /// Per CR (`namespace/name`), the clock time of its last completed reconcile: what a
    /// test or demo waits on to know the controller has caught up with the clock.
    pub fn progress(&self) -> watch::Receiver<BTreeMap<String, Timestamp>> {
        self.ctx.progress.subscribe()
    }

    /// "This replica leads and runs the controller", as it changes.
    pub fn leading(&self) -> watch::Receiver<bool> {
        self.ctx.leading.subscribe()
    }

    pub fn metrics(&self) -> &PolicyMetrics {
        &self.ctx.metrics
    }

    /// Runs until `stop` completes. In-flight reconciles are cancelled then; every write
    /// sequence is safe to interrupt (see `write`).
    pub async fn run(&self, stop: impl Future<Output = ()>) {
        let ctx = self.ctx.clone();
        let client = ctx.client.clone();
        let wc = watcher::Config::default();
        let controller = Controller::new(Api::<Cr>::all(client.clone()), wc.clone());
        let store = controller.store();
        let by_policy =
            |store: Store<Cr>| move |o: DynamicObject| targeting(&store, karmada::key_of_policy(&o));
        let by_binding = {
            let store = store.clone();
            move |o: DynamicObject| {
                targeting(&store, crate::placement::bindings::binding_owner(&karmada::to_value(&o)))
            }
        };
        let clusters =
            watcher(Api::<DynamicObject>::all_with(client.clone(), &karmada::clusters()), wc.clone())
                .default_backoff()
                .touched_objects()
                .filter_map(|r| std::future::ready(r.ok().map(|_| ())));
        let forecasts = WatchStream::from_changes(ctx.forecasts.clone()).map(|_| ());
        let agents = WatchStream::from_changes(ctx.distributor.watch_wanted()).map(|_| ());
        let (pp, cpp, rb) = (
            karmada::propagation_policies(),
            karmada::cluster_propagation_policies(),
            karmada::resource_bindings(),
        );
        let applier = controller
            .watches_with(Api::all_with(client.clone(), &pp), pp, wc.clone(), by_policy(store.clone()))
            .watches_with(Api::all_with(client.clone(), &cpp), cpp, wc.clone(), by_policy(store.clone()))
            .watches_with(Api::all_with(client.clone(), &rb), rb, wc, by_binding)
            .reconcile_all_on(clusters)
            .reconcile_all_on(forecasts)
            .reconcile_all_on(agents)
            .reconcile_on(ctx.timers.clone().due_keys())
            .run(reconcile::reconcile, reconcile::error_policy, ctx)
            .for_each(|result| async move {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "policy controller");
                }
            });
        tokio::select! {
            _ = applier => tracing::warn!("policy controller stopped"),
            _ = stop => {}
        }
    }
}

/// The CRs (in the watch cache) whose target is `key`.
fn targeting(store: &Store<Cr>, key: Option<PolicyKey>) -> Vec<ObjectRef<Cr>> {
    let Some(key) = key else { return Vec::new() };
    store
        .state()
        .iter()
        .filter(|cr| {
            let ns = cr.namespace().unwrap_or_default();
            patch::target_ref(&cr.spec, &ns).ok().map(|t| karmada::policy_key(&t)).as_ref() == Some(&key)
        })
        .map(|cr| ObjectRef::from_obj(cr.as_ref()))
        .collect()
}
