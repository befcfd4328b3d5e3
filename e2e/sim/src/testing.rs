//! Fixtures for tests that run Gridshift's controllers against simulated clusters
//! (feature `test-util`): clusters with the CRDs applied, a Karmada host with its
//! member clusters, and waits that end on watch events.
use crate::{SimConfig, SimKarmada, SimKarmadaConfig, SimServer};
use futures::StreamExt;
use gridshift_core::SharedClock;
use jiff::SignedDuration;
use kube::Resource;
use kube::api::Api;
use kube::runtime::watcher;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::fmt::Debug;
use std::path::PathBuf;
use std::time::Duration;

/// Guard against hangs only; every wait ends on an observed condition first.
pub const LIMIT: Duration = Duration::from_secs(20);

/// A path inside the repository.
pub fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
}

/// A simulated cluster with Karmada's and KEDA's CRDs (`e2e/crds`), ours (`crds`), and
/// these namespaces.
pub async fn cluster(namespaces: &[&str]) -> SimServer {
    let sim = SimServer::start(SimConfig::default()).await.expect("start sim");
    sim.apply_dir(&repo("e2e/crds")).expect("third-party CRDs");
    sim.apply_dir(&repo("crds")).expect("Gridshift CRDs");
    for ns in namespaces {
        sim.upsert(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
            .expect("namespace");
    }
    sim
}

/// A Karmada host: a [`cluster`] with a Karmada `Cluster` object per member (pull mode)
/// and the simulated Karmada reporting a new cluster healthy `apply_delay` after it is
/// placed, on `clock`.
pub async fn karmada_host(
    members: &[&str],
    namespaces: &[&str],
    clock: SharedClock,
    apply_delay: SignedDuration,
) -> (SimServer, SimKarmada) {
    let sim = cluster(namespaces).await;
    for name in members {
        sim.upsert(json!({"apiVersion": "cluster.karmada.io/v1alpha1", "kind": "Cluster",
            "metadata": {"name": name}, "spec": {"syncMode": "Pull"}}))
            .expect("cluster");
    }
    let karmada = SimKarmada::start(sim.client().expect("client"), SimKarmadaConfig::new(clock, apply_delay));
    (sim, karmada)
}

/// Waits until the object `name` (None: absent) satisfies `ok`, watching it; returns it.
/// Injected watch faults are retried as a controller would.
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
    match tokio::time::timeout(LIMIT, wait).await {
        Ok(found) => found,
        Err(_) => panic!("timed out waiting for {what}; last seen: {current:#?}"),
    }
}
