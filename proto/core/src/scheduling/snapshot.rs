//! The scheduler's view of the cluster: nodes plus what every non-terminal pod on
//! them requests (whoever scheduled it), plus pods we have *assumed* onto a node but
//! whose binding the informer has not confirmed yet — so back-to-back decisions never
//! double-book a node (kube-scheduler's assume/forget/confirm cache).
use std::collections::HashMap;

use super::model::{HostPort, NodeInfo, PodInfo, PodRequests, PodUid};
use crate::zone::Zone;

/// A node as the filters and scores see it.
#[derive(Debug, Clone)]
pub struct NodeState {
    pub info: NodeInfo,
    /// Index into [`Snapshot::zones`] (interned so a decision looks each zone up once).
    pub zone: Option<usize>,
    /// Sum of the requests of the pods placed here.
    pub requested: super::model::Resources,
    pub non_zero_milli_cpu: i64,
    pub non_zero_memory: i64,
    pub pod_count: i64,
    pub used_ports: Vec<HostPort>,
}

/// What a placed pod holds on its node.
#[derive(Debug, Clone, PartialEq)]
struct Placement {
    node: String,
    requests: PodRequests,
    ports: Vec<HostPort>,
    /// Placed by us, not yet seen bound by the informer.
    assumed: bool,
    /// The API server accepted our binding (the informer may still lag behind).
    binding_finished: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    #[error("node {0} is not in the cache")]
    UnknownNode(String),
    #[error("pod {0} is already placed on node {1}")]
    AlreadyPlaced(PodUid, String),
}

#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    nodes: Vec<NodeState>,
    by_name: HashMap<String, usize>,
    zones: Vec<Zone>,
    zone_index: HashMap<Zone, usize>,
    pods: HashMap<PodUid, Placement>,
}

impl Snapshot {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn nodes(&self) -> &[NodeState] {
        &self.nodes
    }

    pub fn node(&self, name: &str) -> Option<&NodeState> {
        self.by_name.get(name).map(|&i| &self.nodes[i])
    }

    /// Distinct grid zones of the nodes, indexed by [`NodeState::zone`].
    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }

    pub fn is_assumed(&self, uid: &str) -> bool {
        self.pods.get(uid).is_some_and(|p| p.assumed)
    }

    /// Where the cache has the pod (bound or assumed).
    pub fn pod_node(&self, uid: &str) -> Option<&str> {
        self.pods.get(uid).map(|p| p.node.as_str())
    }

    /// Adds or replaces a node; pods already known to be on it keep counting.
    pub fn upsert_node(&mut self, info: NodeInfo) {
        let zone = info.grid_zone.as_ref().map(|z| self.intern_zone(z));
        if let Some(&i) = self.by_name.get(&info.name) {
            let n = &mut self.nodes[i];
            n.info = info;
            n.zone = zone;
            return;
        }
        let mut state = NodeState {
            info,
            zone,
            requested: Default::default(),
            non_zero_milli_cpu: 0,
            non_zero_memory: 0,
            pod_count: 0,
            used_ports: Vec::new(),
        };
        // Pods can arrive before their node (informers are independent).
        let name = state.info.name.clone();
        for p in self.pods.values().filter(|p| p.node == name) {
            apply(&mut state, p, 1);
        }
        self.by_name.insert(state.info.name.clone(), self.nodes.len());
        self.nodes.push(state);
    }

    pub fn remove_node(&mut self, name: &str) {
        let Some(i) = self.by_name.remove(name) else { return };
        self.nodes.swap_remove(i);
        if let Some(moved) = self.nodes.get(i) {
            self.by_name.insert(moved.info.name.clone(), i);
        }
    }

    /// The informer's view of a pod (add or update). A bound, non-terminal pod holds
    /// resources on its node; this also confirms an assumed pod (kube's `AddPod` on an
    /// assumed pod), moving it if the API server put it elsewhere.
    pub fn observe_pod(&mut self, pod: &PodInfo) {
        match (&pod.node_name, pod.terminal) {
            (Some(node), false) => {
                let placement = Placement {
                    node: node.clone(),
                    requests: pod.requests.clone(),
                    ports: pod.host_ports.clone(),
                    assumed: false,
                    binding_finished: true,
                };
                self.place(&pod.uid, placement);
            }
            // Unbound and not assumed: nothing held. Unbound but assumed: the binding is
            // in flight, keep the assumption. Terminal: frees its resources.
            (None, false) if self.is_assumed(&pod.uid) => {}
            _ => self.remove_pod(&pod.uid),
        }
    }

    /// The pod is gone (deleted) or no longer holds resources.
    pub fn remove_pod(&mut self, uid: &str) {
        if let Some(old) = self.pods.remove(uid) {
            self.unapply(&old);
        }
    }

    /// Books `pod` onto `node` before the binding call, so the next decision sees it.
    pub fn assume(&mut self, pod: &PodInfo, node: &str) -> Result<(), CacheError> {
        if !self.by_name.contains_key(node) {
            return Err(CacheError::UnknownNode(node.to_string()));
        }
        if let Some(p) = self.pods.get(&pod.uid) {
            return Err(CacheError::AlreadyPlaced(pod.uid.clone(), p.node.clone()));
        }
        let placement = Placement {
            node: node.into(),
            requests: pod.requests.clone(),
            ports: pod.host_ports.clone(),
            assumed: true,
            binding_finished: false,
        };
        self.place(&pod.uid, placement);
        Ok(())
    }

    /// The binding failed: release what [`Snapshot::assume`] booked. A pod whose binding
    /// was accepted, or that the informer shows bound, is left alone.
    pub fn forget(&mut self, uid: &str) {
        if self.pods.get(uid).is_some_and(|p| p.assumed && !p.binding_finished) {
            self.remove_pod(uid);
        }
    }

    /// The binding call succeeded. The booking stays assumed until the informer shows
    /// the pod bound, so a stale "unbound" event cannot release it in between.
    pub fn confirm(&mut self, uid: &str) {
        if let Some(p) = self.pods.get_mut(uid) {
            p.binding_finished = true;
        }
    }

    fn place(&mut self, uid: &str, placement: Placement) {
        if self.pods.get(uid) == Some(&placement) {
            return;
        }
        self.remove_pod(uid);
        if let Some(&i) = self.by_name.get(&placement.node) {
            apply(&mut self.nodes[i], &placement, 1);
        }
        self.pods.insert(uid.to_string(), placement);
    }

    fn unapply(&mut self, p: &Placement) {
        if let Some(&i) = self.by_name.get(&p.node) {
            apply(&mut self.nodes[i], p, -1);
        }
    }

    fn intern_zone(&mut self, zone: &Zone) -> usize {
        if let Some(&i) = self.zone_index.get(zone) {
            return i;
        }
        self.zones.push(zone.clone());
        self.zone_index.insert(zone.clone(), self.zones.len() - 1);
        self.zones.len() - 1
    }
}

fn apply(node: &mut NodeState, p: &Placement, sign: i64) {
    node.requested.add(&p.requests.requests, sign);
    node.non_zero_milli_cpu += sign * p.requests.non_zero_milli_cpu;
    node.non_zero_memory += sign * p.requests.non_zero_memory;
    node.pod_count += sign;
    if sign > 0 {
        node.used_ports.extend(p.ports.iter().cloned());
    } else {
        for port in &p.ports {
            if let Some(i) = node.used_ports.iter().position(|u| u == port) {
                node.used_ports.swap_remove(i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduling::model::Resources;

    fn node(name: &str) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            allocatable: Resources::new(4000, 8 << 30),
            allowed_pods: 110,
            grid_zone: Some(Zone::known("GB")),
            ..Default::default()
        }
    }

    fn pod(name: &str, cpu: i64) -> PodInfo {
        let mut p =
            PodInfo::new("ns", name, "2022-01-01T00:00:00Z".parse().unwrap(), Resources::new(cpu, 1 << 20));
        p.host_ports.push(HostPort::tcp(8080));
        p
    }

    #[test]
    fn assume_books_resources_and_forget_releases_them() {
        let mut s = Snapshot::new();
        s.upsert_node(node("a"));
        let p = pod("p", 500);
        s.assume(&p, "a").unwrap();
        let n = s.node("a").unwrap();
        assert_eq!((n.requested.milli_cpu, n.pod_count, n.used_ports.len()), (500, 1, 1));
        assert!(s.is_assumed(&p.uid));
        assert_eq!(s.assume(&p, "a"), Err(CacheError::AlreadyPlaced(p.uid.clone(), "a".into())));
        s.forget(&p.uid);
        let n = s.node("a").unwrap();
        assert_eq!((n.requested.milli_cpu, n.pod_count, n.used_ports.len()), (0, 0, 0));
        assert_eq!(s.assume(&p, "nope"), Err(CacheError::UnknownNode("nope".into())));
    }

    #[test]
    fn informer_confirmation_does_not_double_count_and_can_move_the_pod() {
        let mut s = Snapshot::new();
        s.upsert_node(node("a"));
        s.upsert_node(node("b"));
        let mut p = pod("p", 500);
        s.assume(&p, "a").unwrap();
        // The informer still shows it unbound: the assumption stays.
        s.observe_pod(&p);
        assert_eq!(s.node("a").unwrap().pod_count, 1);
        p.node_name = Some("a".into());
        s.observe_pod(&p);
        assert!(!s.is_assumed(&p.uid));
        assert_eq!(s.node("a").unwrap().requested.milli_cpu, 500);
        s.forget(&p.uid); // a late forget must not undo a confirmed pod
        assert_eq!(s.node("a").unwrap().pod_count, 1);
        let q = pod("q", 100);
        s.assume(&q, "a").unwrap();
        s.confirm(&q.uid);
        s.observe_pod(&q); // a stale unbound event after the bind succeeded
        s.forget(&q.uid);
        assert_eq!(s.node("a").unwrap().pod_count, 2, "an accepted binding stays booked");
        p.node_name = Some("b".into());
        s.observe_pod(&p);
        // p moved to b; q is still booked on a.
        assert_eq!((s.node("a").unwrap().pod_count, s.node("b").unwrap().pod_count), (1, 1));
        assert_eq!(s.node("a").unwrap().requested.milli_cpu, 100);
    }

    #[test]
    fn terminal_and_deleted_pods_free_their_node_and_early_pods_count() {
        let mut s = Snapshot::new();
        let mut p = pod("p", 700);
        p.node_name = Some("late".into());
        s.observe_pod(&p); // before its node is known
        s.upsert_node(node("late"));
        assert_eq!(s.node("late").unwrap().requested.milli_cpu, 700);
        p.terminal = true;
        s.observe_pod(&p);
        assert_eq!(s.node("late").unwrap().pod_count, 0);
        p.terminal = false;
        s.observe_pod(&p);
        s.remove_pod(&p.uid);
        assert_eq!(s.node("late").unwrap().pod_count, 0);
    }

    #[test]
    fn removing_a_node_keeps_the_index_consistent() {
        let mut s = Snapshot::new();
        for n in ["a", "b", "c"] {
            s.upsert_node(node(n));
        }
        s.remove_node("a");
        assert!(s.node("a").is_none());
        assert_eq!(s.node("c").unwrap().info.name, "c");
        assert_eq!(s.nodes().len(), 2);
        assert_eq!(s.zones(), [Zone::known("GB")]);
    }
}
