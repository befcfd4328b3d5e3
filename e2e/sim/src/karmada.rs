//! A simulated Karmada (DESIGN §5): the part of Karmada's control plane that Gridshift's
//! placement controller depends on, running against any Kubernetes-compatible API server
//! (normally a [`crate::SimServer`] with the CRDs of `e2e/crds`). It is not Karmada; it
//! plays Karmada's part in tests and the offline demo:
//!
//! - for every PropagationPolicy and ClusterPropagationPolicy it keeps one ResourceBinding
//!   per resource selector, labelled and annotated as Karmada does, whose `spec.clusters`
//!   follows the policy's placement (see [`schedule`] for the rules);
//! - a cluster scheduled at time `t` is reported in `status.aggregatedStatus` as applied and
//!   healthy from `t + apply_delay` (simulated time, from the injected clock); a dropped
//!   cluster disappears from the status at once, as Karmada removes the workload with no grace;
//! - a policy without a permanent-id label gets one (Karmada's webhook sets it on create);
//! - fault: [`SimKarmada::set_never_healthy`] makes a cluster report `Unhealthy` forever.
//!
//! It reacts to policy and Cluster changes, to the clock reaching the next readiness time, and
//! to [`SimKarmada::sync`], which runs one pass at once and returns when it is written (tests
//! use it to know Karmada has caught up with the clock).
pub mod schedule;

use futures::{FutureExt, StreamExt};
use gridshift_core::SharedClock;
use jiff::{SignedDuration, Timestamp};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
    PostParams,
};
use kube::runtime::{WatchStreamExt, watcher};
use parking_lot::Mutex;
use schedule::{DesiredBinding, PolicyKind, desired_bindings};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

const FIELD_MANAGER: &str = "karmada-sim";

#[derive(Clone)]
pub struct SimKarmadaConfig {
    pub clock: SharedClock,
    /// How long after a cluster is scheduled its binding reports it applied and healthy.
    pub apply_delay: SignedDuration,
    /// Real time between retries after an API error.
    pub retry_interval: Duration,
}

impl SimKarmadaConfig {
    pub fn new(clock: SharedClock, apply_delay: SignedDuration) -> Self {
        Self { clock, apply_delay, retry_interval: Duration::from_millis(50) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimKarmadaError {
    #[error("simulated Karmada: {0}")]
    Kube(#[from] kube::Error),
    #[error("the simulated Karmada has stopped")]
    Stopped,
}

enum Command {
    Sync(oneshot::Sender<Result<(), SimKarmadaError>>),
}

struct Shared {
    never_healthy: Mutex<BTreeSet<String>>,
    /// The simulated time of the last completed pass.
    passes: watch::Sender<Option<Timestamp>>,
}

/// A running simulated Karmada. Dropping it stops it.
pub struct SimKarmada {
    shared: Arc<Shared>,
    commands: Option<mpsc::Sender<Command>>,
    task: Option<JoinHandle<()>>,
}

impl SimKarmada {
    pub fn start(client: kube::Client, config: SimKarmadaConfig) -> Self {
        let shared = Arc::new(Shared { never_healthy: Mutex::default(), passes: watch::Sender::new(None) });
        let (tx, rx) = mpsc::channel(16);
        let runner = Runner {
            client,
            config,
            shared: shared.clone(),
            scheduled: HashMap::new(),
            managed: BTreeSet::new(),
            next_due: None,
        };
        Self { shared, commands: Some(tx), task: Some(tokio::spawn(runner.run(rx))) }
    }

    /// Fault: from now on `cluster` reports `Unhealthy` in every binding (or stops doing so).
    pub fn set_never_healthy(&self, cluster: &str, never: bool) {
        let mut set = self.shared.never_healthy.lock();
        if never {
            set.insert(cluster.to_string());
        } else {
            set.remove(cluster);
        }
    }

    /// Runs one pass now (at the clock's current time) and returns once it is written.
    pub async fn sync(&self) -> Result<(), SimKarmadaError> {
        let (reply, done) = oneshot::channel();
        let commands = self.commands.as_ref().ok_or(SimKarmadaError::Stopped)?;
        commands.send(Command::Sync(reply)).await.map_err(|_| SimKarmadaError::Stopped)?;
        done.await.map_err(|_| SimKarmadaError::Stopped)?
    }

    /// The simulated time of each completed pass.
    pub fn passes(&self) -> watch::Receiver<Option<Timestamp>> {
        self.shared.passes.subscribe()
    }

    pub async fn stop(mut self) {
        self.commands.take();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SimKarmada {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

fn policies(kind: PolicyKind) -> ApiResource {
    match kind {
        PolicyKind::Propagation => {
            resource("policy.karmada.io", "v1alpha1", "PropagationPolicy", "propagationpolicies")
        }
        PolicyKind::ClusterPropagation => resource(
            "policy.karmada.io",
            "v1alpha1",
            "ClusterPropagationPolicy",
            "clusterpropagationpolicies",
        ),
    }
}

fn clusters() -> ApiResource {
    resource("cluster.karmada.io", "v1alpha1", "Cluster", "clusters")
}

fn bindings() -> ApiResource {
    resource("work.karmada.io", "v1alpha2", "ResourceBinding", "resourcebindings")
}

fn to_value(o: &DynamicObject) -> Value {
    serde_json::to_value(o).unwrap_or(Value::Null)
}

struct Runner {
    client: kube::Client,
    config: SimKarmadaConfig,
    shared: Arc<Shared>,
    /// (namespace, binding, cluster) → when it was scheduled there.
    scheduled: HashMap<(String, String, String), Timestamp>,
    /// Bindings this simulation created, deleted with their policy.
    managed: BTreeSet<(String, String)>,
    /// When the next scheduled cluster becomes ready.
    next_due: Option<Timestamp>,
}

impl Runner {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let watch = |ar: ApiResource| {
            let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &ar);
            watcher(api, watcher::Config::default()).default_backoff().map(|_| ()).boxed()
        };
        let mut triggers = futures::stream::select_all([
            watch(policies(PolicyKind::Propagation)),
            watch(policies(PolicyKind::ClusterPropagation)),
            watch(clusters()),
        ]);
        let mut failing = false;
        loop {
            let (clock, due) = (self.config.clock.clone(), self.next_due);
            let ready_time = async move {
                match due {
                    Some(t) => clock.sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            let retry = self.config.retry_interval;
            let retry_wait = async move {
                if failing { tokio::time::sleep(retry).await } else { std::future::pending().await }
            };
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(Command::Sync(reply)) => {
                        let result = self.pass().await;
                        failing = result.is_err();
                        let _ = reply.send(result.map_err(SimKarmadaError::from));
                        continue;
                    }
                    None => break,
                },
                Some(()) = triggers.next() => {
                    // Coalesce a burst of changes into one pass.
                    while let Some(Some(())) = triggers.next().now_or_never() {}
                }
                _ = ready_time => {}
                _ = retry_wait => {}
            }
            let result = self.pass().await;
            if let Err(e) = &result {
                tracing::debug!(error = %e, "simulated Karmada pass failed; retrying");
            }
            failing = result.is_err();
        }
    }

    /// Brings every binding in line with the policies and the clock.
    async fn pass(&mut self) -> Result<(), kube::Error> {
        let now = self.config.clock.now();
        let cluster_api: Api<DynamicObject> = Api::all_with(self.client.clone(), &clusters());
        let registered: BTreeSet<String> = cluster_api
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .collect();
        let mut desired = Vec::new();
        for kind in [PolicyKind::Propagation, PolicyKind::ClusterPropagation] {
            let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &policies(kind));
            for policy in api.list(&ListParams::default()).await?.items {
                if policy.metadata.deletion_timestamp.is_some() {
                    continue;
                }
                let id = match policy.metadata.labels.as_ref().and_then(|l| l.get(kind.permanent_id_label()))
                {
                    Some(id) => id.clone(),
                    None => self.claim(kind, &policy).await?,
                };
                desired.extend(desired_bindings(kind, &to_value(&policy), &id, &registered));
            }
        }

        let all: Api<DynamicObject> = Api::all_with(self.client.clone(), &bindings());
        let existing: HashMap<(String, String), Value> = all
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .map(|b| {
                (
                    (
                        b.metadata.namespace.clone().unwrap_or_default(),
                        b.metadata.name.clone().unwrap_or_default(),
                    ),
                    to_value(b),
                )
            })
            .collect();
        let mut next_due = None;
        let mut keep = BTreeSet::new();
        for d in &desired {
            let key = (d.namespace.clone(), d.name.clone());
            self.apply(d, existing.get(&key), now, &mut next_due).await?;
            keep.insert(key);
        }
        for (ns, name) in self.managed.difference(&keep) {
            let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), ns, &bindings());
            match api.delete(name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        self.scheduled.retain(|(ns, name, _), _| keep.contains(&(ns.clone(), name.clone())));
        self.managed = keep;
        self.next_due = next_due;
        self.shared.passes.send_replace(Some(now));
        Ok(())
    }

    /// Karmada's webhook gives every policy a permanent id when it is created.
    async fn claim(&self, kind: PolicyKind, policy: &DynamicObject) -> Result<String, kube::Error> {
        let id = policy.metadata.uid.clone().unwrap_or_else(|| format!("sim-{}", rand::random::<u64>()));
        let name = policy.metadata.name.clone().unwrap_or_default();
        let api: Api<DynamicObject> = match (&policy.metadata.namespace, kind) {
            (Some(ns), PolicyKind::Propagation) => {
                Api::namespaced_with(self.client.clone(), ns, &policies(kind))
            }
            _ => Api::all_with(self.client.clone(), &policies(kind)),
        };
        let patch = json!({"metadata": {"labels": {kind.permanent_id_label(): id}}});
        let params = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..PatchParams::default() };
        api.patch(&name, &params, &Patch::Merge(&patch)).await?;
        Ok(id)
    }

    /// Creates or updates one binding: its scheduled clusters, then its status.
    async fn apply(
        &mut self,
        d: &DesiredBinding,
        existing: Option<&Value>,
        now: Timestamp,
        next_due: &mut Option<Timestamp>,
    ) -> Result<(), kube::Error> {
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), &d.namespace, &bindings());
        let params = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..PatchParams::default() };
        let mut current = match existing {
            Some(v) => v.clone(),
            None => {
                let obj: DynamicObject =
                    serde_json::from_value(d.to_object()).map_err(kube::Error::SerdeError)?;
                to_value(
                    &api.create(
                        &PostParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() },
                        &obj,
                    )
                    .await?,
                )
            }
        };
        if current.pointer("/spec/clusters") != Some(&d.clusters_value()) {
            let patch = json!({"spec": {"clusters": d.clusters_value()}});
            current = to_value(&api.patch(&d.name, &params, &Patch::Merge(&patch)).await?);
        }
        let status = self.status_for(d, &current, now, next_due);
        let unchanged = ["aggregatedStatus", "schedulerObservedGeneration", "schedulerObservedAffinityName"]
            .iter()
            .all(|k| current.pointer(&format!("/status/{k}")).unwrap_or(&Value::Null) == &status[*k]);
        if !unchanged {
            api.patch_status(&d.name, &params, &Patch::Merge(&json!({ "status": status }))).await?;
        }
        Ok(())
    }

    fn status_for(
        &mut self,
        d: &DesiredBinding,
        current: &Value,
        now: Timestamp,
        next_due: &mut Option<Timestamp>,
    ) -> Value {
        let never = self.shared.never_healthy.lock().clone();
        // Dropped clusters are forgotten: scheduled again later, they start from scratch.
        self.scheduled
            .retain(|(ns, name, c), _| !(ns == &d.namespace && name == &d.name) || d.clusters.contains(c));
        let mut entries = Vec::new();
        for c in &d.clusters {
            let since =
                *self.scheduled.entry((d.namespace.clone(), d.name.clone(), c.clone())).or_insert(now);
            let ready_at = since + self.config.apply_delay;
            if now >= ready_at {
                let health = if never.contains(c) { "Unhealthy" } else { "Healthy" };
                entries.push(json!({"clusterName": c, "applied": true, "health": health}));
            } else {
                *next_due = Some(next_due.map_or(ready_at, |t: Timestamp| t.min(ready_at)));
            }
        }
        json!({
            "aggregatedStatus": entries,
            "schedulerObservedGeneration": current.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
            "schedulerObservedAffinityName": d.affinity_name,
        })
    }
}
