//! The controller's picture of the cluster, kept from the watches: the decision
//! core's [`Snapshot`] (nodes and what every placed pod holds), the volume objects,
//! and the pending pods this scheduler serves.
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::ResourceExt;
use kube::runtime::watcher::Event;

use super::informers::Watched;
use crate::scheduler::adapter::{self, ZoneConfig};
use gridshift_core::Zone;
use gridshift_core::scheduling::Snapshot;
use gridshift_core::scheduling::model::{ClaimState, PodInfo};
use gridshift_core::zone_map::ZoneMap;

/// A pod waiting for this scheduler.
#[derive(Debug, Clone)]
pub struct Pending {
    pub pod: Arc<Pod>,
    /// When the controller first saw it, on the agent's clock.
    pub first_seen: Timestamp,
    /// The first carbon-agnostic baseline computed for it (for the accounting).
    pub baseline: Option<f64>,
    /// The PodScheduled=False condition last written (or found) on it.
    pub condition: Option<super::api::Condition>,
    /// The planned start last announced in an event, so a re-plan to the same time
    /// is not announced again.
    pub announced_start: Option<Timestamp>,
    pub deferred_counted: bool,
}

/// What a watch event changed, for the queue.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Capacity may have appeared: retry unschedulable pods.
    pub cluster: bool,
    pub added: Vec<String>,
    /// Pending pods whose scheduling-relevant content changed.
    pub updated: Vec<String>,
    pub removed: Vec<String>,
}

pub struct ClusterCache {
    pub scheduler_name: String,
    pub zones: ZoneConfig,
    zone_map: ZoneMap,
    pub snapshot: Snapshot,
    pub pending: HashMap<String, Pending>,
    /// Every pod the watch knows (uid → its PodInfo as last seen), for relists and
    /// to tell scheduling-relevant updates from status noise.
    pods: HashMap<String, PodInfo>,
    claims: HashMap<(String, String), PersistentVolumeClaim>,
    volumes: HashMap<String, PersistentVolume>,
    classes: HashMap<String, StorageClass>,
    /// Objects seen during a relist, per kind (see `Watched::kind_index`).
    relisting: [Option<HashSet<String>>; super::informers::KINDS],
}

impl ClusterCache {
    pub fn new(scheduler_name: &str, zones: ZoneConfig, zone_map: ZoneMap) -> Self {
        Self {
            scheduler_name: scheduler_name.to_string(),
            zones,
            zone_map,
            snapshot: Snapshot::new(),
            pending: HashMap::new(),
            pods: HashMap::new(),
            claims: HashMap::new(),
            volumes: HashMap::new(),
            classes: HashMap::new(),
            relisting: Default::default(),
        }
    }

    /// The decision core's view of a pod, with its claims' current state.
    pub fn pod_info(&self, pod: &Pod) -> PodInfo {
        adapter::pod_info(pod, &|ns, claim| self.claim_state(ns, claim))
    }

    fn claim_state(&self, ns: &str, claim: &str) -> ClaimState {
        let pvc = self.claims.get(&(ns.to_string(), claim.to_string()));
        let spec = pvc.and_then(|c| c.spec.as_ref());
        let pv = spec.and_then(|s| s.volume_name.as_ref()).and_then(|v| self.volumes.get(v));
        let class = spec.and_then(|s| s.storage_class_name.as_ref()).and_then(|c| self.classes.get(c));
        adapter::claim_state(pvc, pv, class)
    }

    pub fn apply(&mut self, event: Watched, clock_now: Timestamp) -> Changes {
        let mut ch = Changes::default();
        let kind = event.kind_index();
        match event {
            Watched::Node(e) => self.on_event(kind, e, &mut ch, clock_now, Self::node_seen, Self::node_gone),
            Watched::Pod(e) => self.on_event(kind, e, &mut ch, clock_now, Self::pod_seen, Self::pod_gone),
            Watched::Claim(e) => {
                self.on_event(kind, e, &mut ch, clock_now, Self::claim_seen, Self::claim_gone)
            }
            Watched::Volume(e) => {
                self.on_event(kind, e, &mut ch, clock_now, Self::volume_seen, Self::volume_gone)
            }
            Watched::Class(e) => {
                self.on_event(kind, e, &mut ch, clock_now, Self::class_seen, Self::class_gone)
            }
        }
        ch
    }

    /// A relist (`Init` … `InitDone`) replaces a kind's objects: whatever it no longer
    /// lists was deleted while the watch was down.
    fn on_event<K: kube::Resource<DynamicType = ()>>(
        &mut self,
        kind: usize,
        event: Event<K>,
        ch: &mut Changes,
        now: Timestamp,
        seen: fn(&mut Self, K, &mut Changes, Timestamp),
        gone: fn(&mut Self, &str, &mut Changes),
    ) {
        match event {
            Event::Init => self.relisting[kind] = Some(HashSet::new()),
            Event::InitApply(obj) => {
                if let Some(set) = self.relisting[kind].as_mut() {
                    set.insert(key_of(&obj));
                }
                seen(self, obj, ch, now);
            }
            Event::InitDone => {
                let Some(listed) = self.relisting[kind].take() else { return };
                for key in self.keys(kind).into_iter().filter(|k| !listed.contains(k)) {
                    gone(self, &key, ch);
                }
            }
            Event::Apply(obj) => seen(self, obj, ch, now),
            Event::Delete(obj) => gone(self, &key_of(&obj), ch),
        }
    }

    fn keys(&self, kind: usize) -> Vec<String> {
        match kind {
            0 => self.snapshot.nodes().iter().map(|n| n.info.name.clone()).collect(),
            1 => self.pods.keys().cloned().collect(),
            2 => self.claims.keys().map(|(ns, n)| format!("{ns}/{n}")).collect(),
            3 => self.volumes.keys().cloned().collect(),
            _ => self.classes.keys().cloned().collect(),
        }
    }

    fn node_seen(&mut self, node: Node, ch: &mut Changes, _: Timestamp) {
        let zone_map = &self.zone_map;
        let info = adapter::node_info(&node, &self.zones, &|v| zone_map.zone_of(v).ok().cloned());
        // Heartbeats rewrite node status every few seconds; only a change the filters
        // or the score can see is news.
        if self.snapshot.node(&info.name).is_some_and(|n| n.info == info) {
            return;
        }
        self.snapshot.upsert_node(info);
        ch.cluster = true;
    }

    fn node_gone(&mut self, name: &str, _: &mut Changes) {
        self.snapshot.remove_node(name);
    }

    /// Pods are keyed by UID: a pod deleted and recreated under its name is another pod.
    fn pod_seen(&mut self, pod: Pod, ch: &mut Changes, now: Timestamp) {
        let info = self.pod_info(&pod);
        let uid = info.uid.clone();
        let old = self.pods.insert(uid.clone(), info.clone());
        let held_before = old.as_ref().is_some_and(|o| o.node_name.is_some() && !o.terminal);
        let holds_now = info.node_name.is_some() && !info.terminal;
        self.snapshot.observe_pod(&info);
        if held_before && !holds_now {
            ch.cluster = true;
        }
        if adapter::is_ours(&pod, &self.scheduler_name) {
            match self.pending.get_mut(&uid) {
                Some(p) => {
                    p.pod = Arc::new(pod);
                    if old.as_ref() != Some(&info) {
                        ch.updated.push(uid);
                    }
                }
                None => {
                    let condition = super::api::current_condition(&pod);
                    self.pending.insert(
                        uid.clone(),
                        Pending {
                            pod: Arc::new(pod),
                            first_seen: now,
                            baseline: None,
                            condition,
                            announced_start: None,
                            deferred_counted: false,
                        },
                    );
                    ch.added.push(uid);
                }
            }
        } else if self.pending.remove(&uid).is_some() {
            // Bound (by us or anyone), being deleted, or handed to another scheduler.
            ch.removed.push(uid);
        }
    }

    fn pod_gone(&mut self, uid: &str, ch: &mut Changes) {
        if let Some(old) = self.pods.remove(uid)
            && old.node_name.is_some()
        {
            ch.cluster = true;
        }
        self.snapshot.remove_pod(uid);
        if self.pending.remove(uid).is_some() {
            ch.removed.push(uid.to_string());
        }
    }

    fn claim_seen(&mut self, pvc: PersistentVolumeClaim, ch: &mut Changes, _: Timestamp) {
        let key = (pvc.namespace().unwrap_or_default(), pvc.name_any());
        self.claims.insert(key, pvc);
        self.volumes_changed(ch);
    }

    fn claim_gone(&mut self, key: &str, ch: &mut Changes) {
        if let Some((ns, name)) = key.split_once('/') {
            self.claims.remove(&(ns.to_string(), name.to_string()));
        }
        self.volumes_changed(ch);
    }

    fn volume_seen(&mut self, pv: PersistentVolume, ch: &mut Changes, _: Timestamp) {
        self.volumes.insert(pv.name_any(), pv);
        self.volumes_changed(ch);
    }

    fn volume_gone(&mut self, name: &str, ch: &mut Changes) {
        self.volumes.remove(name);
        self.volumes_changed(ch);
    }

    fn class_seen(&mut self, sc: StorageClass, ch: &mut Changes, _: Timestamp) {
        self.classes.insert(sc.name_any(), sc);
        self.volumes_changed(ch);
    }

    fn class_gone(&mut self, name: &str, ch: &mut Changes) {
        self.classes.remove(name);
        self.volumes_changed(ch);
    }

    /// The zones for the stream's `Hello`: the configured ones first (the first is the
    /// cluster's primary zone), then the grid zones of the nodes, sorted.
    pub fn hello_zones(&self, configured: &[Zone]) -> Vec<Zone> {
        let mut zones = configured.to_vec();
        let mut found: Vec<&Zone> = self.snapshot.zones().iter().collect();
        found.sort();
        for z in found {
            if !zones.contains(z) {
                zones.push(z.clone());
            }
        }
        zones
    }

    /// Pending pods' claim states are re-read at their next attempt; a volume change
    /// may make an unschedulable pod schedulable.
    fn volumes_changed(&mut self, ch: &mut Changes) {
        ch.cluster = true;
    }
}

/// The pod's creation on the agent's clock. On a real clock that is its
/// creationTimestamp (earlier than first sight after an agent restart). Under a
/// simulated clock replaying another time the creationTimestamp lies in the clock's
/// future; then the first sight stands in for it, so a pod's slack is measured on the
/// same clock as its planned start. Either way a pod is never held past its promised
/// latest start as measured from the earlier of the two.
pub fn effective_creation(created: Timestamp, first_seen: Timestamp) -> Timestamp {
    created.min(first_seen)
}

/// Namespaced objects as `ns/name`, cluster-scoped by name, pods by UID.
fn key_of<K: kube::Resource<DynamicType = ()>>(obj: &K) -> String {
    let meta = obj.meta();
    if K::kind(&()) == "Pod" {
        return meta.uid.clone().unwrap_or_else(|| {
            format!(
                "{}/{}",
                meta.namespace.as_deref().unwrap_or("default"),
                meta.name.as_deref().unwrap_or_default()
            )
        });
    }
    match &meta.namespace {
        Some(ns) => format!("{ns}/{}", meta.name.as_deref().unwrap_or_default()),
        None => meta.name.clone().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests;
