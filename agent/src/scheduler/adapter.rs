//! From k8s-openapi objects to the plain data of `gridshift_core::scheduling::model`.
//! Everything that needs the API (claims, storage classes, the zone map) comes in as
//! data or closures, so this stays pure too.
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, Node, NodeSelector as KNodeSelector, PersistentVolume, PersistentVolumeClaim, Pod,
};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use gridshift_core::Zone;
use gridshift_core::scheduling::deferral::parse_annotations;
use gridshift_core::scheduling::model::{
    ClaimState, ContainerRequests, HostPort, NodeInfo, NodeSelector, PodInfo, PodRequests, Protocol,
    Readiness, Requirement, Resources, SelectorOperator, SelectorTerm, Taint, TaintEffect, Toleration,
    TolerationOperator, VolumeClaim,
};
use gridshift_core::scheduling::quantity::{parse_milli, parse_value};

/// The label users of the earlier carbon-aware scheduler put on nodes: it names the
/// grid zone directly (DESIGN §2).
pub const CARBON_ZONE_LABEL: &str = "carbon-zone";

/// How a node's grid zone is found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ZoneConfig {
    /// Checked first; its value is the grid zone itself.
    pub carbon_zone_label: String,
    /// Then these, in order, each value mapped through the zone map.
    pub topology_labels: Vec<String>,
    /// For nodes none of the above resolves.
    pub default_zone: Option<Zone>,
}

impl Default for ZoneConfig {
    fn default() -> Self {
        Self {
            carbon_zone_label: CARBON_ZONE_LABEL.into(),
            topology_labels: vec![
                "topology.kubernetes.io/zone".into(),
                "topology.kubernetes.io/region".into(),
            ],
            default_zone: None,
        }
    }
}

impl ZoneConfig {
    /// `zone_map` turns a cloud region/zone label value into a grid zone
    /// (`gridshift_core::zone_map` in production). A `carbon-zone` label that is not a
    /// zone name is passed over.
    pub fn resolve(
        &self,
        labels: &BTreeMap<String, String>,
        zone_map: &dyn Fn(&str) -> Option<Zone>,
    ) -> Option<Zone> {
        if let Some(z) = labels.get(&self.carbon_zone_label).and_then(|z| Zone::new(z).ok()) {
            return Some(z);
        }
        self.topology_labels
            .iter()
            .filter_map(|l| labels.get(l))
            .find_map(|v| zone_map(v))
            .or_else(|| self.default_zone.clone())
    }
}

fn q_milli(q: &Quantity) -> i64 {
    // An unparsable quantity never passes API validation; count it as zero.
    parse_milli(&q.0).unwrap_or(0)
}

fn q_value(q: &Quantity) -> i64 {
    parse_value(&q.0).unwrap_or(0)
}

/// A resource list as kube's `NewResource`: native resources by name, the rest
/// (extended resources, hugepages) as scalars. `pods` and `storage` are not requests.
pub fn resources(list: &BTreeMap<String, Quantity>) -> Resources {
    let mut r = Resources::default();
    for (name, q) in list {
        match name.as_str() {
            "cpu" => r.milli_cpu = q_milli(q),
            "memory" => r.memory = q_value(q),
            "ephemeral-storage" => r.ephemeral_storage = q_value(q),
            "pods" | "storage" => {}
            other => r.set_scalar(other, q_value(q)),
        }
    }
    r
}

pub fn node_info(node: &Node, zones: &ZoneConfig, zone_map: &dyn Fn(&str) -> Option<Zone>) -> NodeInfo {
    let labels = node.metadata.labels.clone().unwrap_or_default();
    let spec = node.spec.as_ref();
    let status = node.status.as_ref();
    // kube-scheduler reads allocatable only; a node that reports just capacity (a
    // hand-written or simulated node) is taken at its capacity rather than as empty.
    let alloc = status.and_then(|s| s.allocatable.as_ref().or(s.capacity.as_ref()));
    let empty = BTreeMap::new();
    let alloc = alloc.unwrap_or(&empty);
    // kube-scheduler ignores conditions (the lifecycle controller's taints speak for
    // them); only an explicit Ready=False/Unknown is turned into the taint it implies.
    let readiness = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .map_or(Readiness::Ready, |c| match c.status.as_str() {
            "True" => Readiness::Ready,
            "False" => Readiness::NotReady,
            _ => Readiness::Unknown,
        });
    NodeInfo {
        name: node.metadata.name.clone().unwrap_or_default(),
        grid_zone: zones.resolve(&labels, zone_map),
        labels,
        taints: spec
            .and_then(|s| s.taints.as_ref())
            .map(|ts| {
                ts.iter()
                    .filter_map(|t| {
                        Some(Taint {
                            key: t.key.clone(),
                            value: t.value.clone().unwrap_or_default(),
                            effect: taint_effect(&t.effect)?,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default(),
        unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
        readiness,
        allocatable: resources(alloc),
        allowed_pods: alloc.get("pods").map_or(0, q_value),
    }
}

fn taint_effect(s: &str) -> Option<TaintEffect> {
    match s {
        "NoSchedule" => Some(TaintEffect::NoSchedule),
        "PreferNoSchedule" => Some(TaintEffect::PreferNoSchedule),
        "NoExecute" => Some(TaintEffect::NoExecute),
        _ => None,
    }
}

/// A container's requests; a resource with a limit but no request requests its limit
/// (the API server's defaulting, applied here too for objects that skipped it).
fn container_requests(c: &Container) -> ContainerRequests {
    let res = c.resources.as_ref();
    let mut list = res.and_then(|r| r.limits.clone()).unwrap_or_default();
    list.extend(res.and_then(|r| r.requests.clone()).unwrap_or_default());
    ContainerRequests {
        requests: resources(&list),
        cpu_set: list.contains_key("cpu"),
        memory_set: list.contains_key("memory"),
        restartable_init: c.restart_policy.as_deref() == Some("Always"),
    }
}

fn selector(sel: &KNodeSelector) -> NodeSelector {
    let reqs = |v: &Option<Vec<k8s_openapi::api::core::v1::NodeSelectorRequirement>>| {
        v.iter()
            .flatten()
            .map(|r| Requirement {
                key: r.key.clone(),
                operator: SelectorOperator::parse(&r.operator),
                values: r.values.clone().unwrap_or_default(),
            })
            .collect()
    };
    NodeSelector {
        terms: sel
            .node_selector_terms
            .iter()
            .map(|t| SelectorTerm {
                match_expressions: reqs(&t.match_expressions),
                match_fields: reqs(&t.match_fields),
            })
            .collect(),
    }
}

/// The claim's state from the objects the controller's informers hold.
pub fn claim_state(
    pvc: Option<&PersistentVolumeClaim>,
    pv: Option<&PersistentVolume>,
    class: Option<&StorageClass>,
) -> ClaimState {
    let Some(pvc) = pvc else { return ClaimState::Missing };
    let bound_to = pvc.spec.as_ref().and_then(|s| s.volume_name.as_deref()).filter(|v| !v.is_empty());
    if bound_to.is_some() {
        let node_affinity =
            pv.and_then(|pv| pv.spec.as_ref()?.node_affinity.as_ref()?.required.as_ref()).map(selector);
        return ClaimState::Bound { node_affinity };
    }
    match class.and_then(|c| c.volume_binding_mode.as_deref()) {
        Some("WaitForFirstConsumer") => ClaimState::WaitForFirstConsumer,
        _ => ClaimState::PendingImmediate,
    }
}

/// `claim(namespace, claim name)` gives each claim's state (see [`claim_state`]).
pub fn pod_info(pod: &Pod, claim: &dyn Fn(&str, &str) -> ClaimState) -> PodInfo {
    let meta = &pod.metadata;
    let namespace = meta.namespace.clone().unwrap_or_else(|| "default".into());
    let name = meta.name.clone().unwrap_or_default();
    let spec = pod.spec.clone().unwrap_or_default();
    let containers: Vec<ContainerRequests> = spec.containers.iter().map(container_requests).collect();
    let init: Vec<ContainerRequests> =
        spec.init_containers.iter().flatten().map(container_requests).collect();
    let overhead = spec.overhead.as_ref().map(resources).unwrap_or_default();
    let mut requests = PodRequests::compute(&containers, &init, &overhead);
    // Pod-level resources (PodLevelResources): where set, they replace the containers'
    // aggregate for CPU and memory, overhead still on top.
    if let Some(pod_level) = spec.resources.as_ref().and_then(|r| r.requests.as_ref()) {
        if let Some(q) = pod_level.get("cpu") {
            requests.requests.milli_cpu = q_milli(q) + overhead.milli_cpu;
            requests.non_zero_milli_cpu = requests.requests.milli_cpu;
        }
        if let Some(q) = pod_level.get("memory") {
            requests.requests.memory = q_value(q) + overhead.memory;
            requests.non_zero_memory = requests.requests.memory;
        }
    }
    let host_ports = spec
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .filter(|p| p.host_port.is_some_and(|hp| hp > 0))
        .map(|p| HostPort {
            ip: p.host_ip.clone().filter(|ip| !ip.is_empty()).unwrap_or_else(|| HostPort::ANY_IP.into()),
            protocol: match p.protocol.as_deref() {
                Some("UDP") => Protocol::Udp,
                Some("SCTP") => Protocol::Sctp,
                _ => Protocol::Tcp,
            },
            port: p.host_port.unwrap_or(0),
        })
        .collect();
    let volume_claims = spec
        .volumes
        .iter()
        .flatten()
        .filter_map(|v| {
            // Generic ephemeral volumes get a claim named <pod>-<volume>.
            let claim_name = match (&v.persistent_volume_claim, &v.ephemeral) {
                (Some(pvc), _) => pvc.claim_name.clone(),
                (None, Some(_)) => format!("{name}-{}", v.name),
                _ => return None,
            };
            Some(VolumeClaim { state: claim(&namespace, &claim_name), name: claim_name })
        })
        .collect();
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    PodInfo {
        uid: meta.uid.clone().unwrap_or_else(|| format!("{namespace}/{name}")),
        created: meta.creation_timestamp.as_ref().map_or(jiff::Timestamp::UNIX_EPOCH, |t| t.0),
        scheduling_gates: spec.scheduling_gates.iter().flatten().map(|g| g.name.clone()).collect(),
        requests,
        tolerations: spec
            .tolerations
            .iter()
            .flatten()
            .filter_map(|t| {
                let effect = match t.effect.as_deref().unwrap_or("") {
                    "" => None,
                    e => Some(taint_effect(e)?), // an unknown effect can match no taint
                };
                let operator = match t.operator.as_deref() {
                    Some("Exists") => TolerationOperator::Exists,
                    None | Some("Equal") | Some("") => TolerationOperator::Equal,
                    Some(_) => return None,
                };
                Some(Toleration {
                    key: t.key.clone().unwrap_or_default(),
                    operator,
                    value: t.value.clone().unwrap_or_default(),
                    effect,
                })
            })
            .collect(),
        node_selector: spec.node_selector.clone().unwrap_or_default(),
        required_affinity: spec
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|na| na.required_during_scheduling_ignored_during_execution.as_ref())
            .map(selector),
        host_ports,
        volume_claims,
        deferral: parse_annotations(meta.annotations.as_ref().unwrap_or(&BTreeMap::new())),
        node_name: spec.node_name.clone().filter(|n| !n.is_empty()),
        terminal: matches!(phase, Some("Succeeded") | Some("Failed")),
        namespace,
        name,
    }
}

/// Whether this scheduler should place the pod: ours by name, unbound, not finished,
/// not being deleted.
pub fn is_ours(pod: &Pod, scheduler_name: &str) -> bool {
    let spec = pod.spec.as_ref();
    spec.and_then(|s| s.scheduler_name.as_deref()) == Some(scheduler_name)
        && spec.and_then(|s| s.node_name.as_deref()).is_none_or(str::is_empty)
        && pod.metadata.deletion_timestamp.is_none()
        && !matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded") | Some("Failed"))
}

#[cfg(test)]
mod tests;
