//! Feasibility filters with kube-scheduler's semantics and reason strings.
//!
//! Plugins run in kube-scheduler's default order (NodeUnschedulable, TaintToleration,
//! NodeAffinity, NodePorts, NodeResourcesFit, VolumeBinding) and, like its framework,
//! a node reports the reasons of the first plugin that rejects it only, so the
//! aggregated "0/N nodes are available" message counts the same things kube's does.
use std::fmt;

use super::model::{
    ClaimState, NodeInfo, NodeSelector, PodInfo, Readiness, Requirement, SelectorOperator, SelectorTerm,
    Taint, TaintEffect,
};
use super::snapshot::NodeState;

/// Taints the node lifecycle controller puts on nodes (kube's well-known keys).
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// Why one node cannot take the pod. Borrowed from the pod and node so filtering
/// allocates nothing; `Display` gives kube-scheduler's exact wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason<'a> {
    /// NodeUnschedulable: `spec.unschedulable` and no toleration for it.
    Unschedulable,
    /// TaintToleration: the first NoSchedule/NoExecute taint the pod does not tolerate.
    UntoleratedTaint { key: &'a str, value: &'a str },
    /// NodeAffinity: `nodeSelector` or required node affinity.
    NodeAffinity,
    /// NodePorts.
    FreePorts,
    /// NodeResourcesFit: pod count.
    TooManyPods,
    /// NodeResourcesFit: `cpu`, `memory`, `ephemeral-storage` or an extended resource.
    Insufficient(&'a str),
    /// VolumeBinding: a bound volume's node affinity excludes the node.
    VolumeNodeAffinityConflict,
}

impl fmt::Display for Reason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Unschedulable => f.write_str("node(s) were unschedulable"),
            Reason::UntoleratedTaint { key, value } => {
                write!(f, "node(s) had untolerated taint {{{key}: {value}}}")
            }
            Reason::NodeAffinity => f.write_str("node(s) didn't match Pod's node affinity/selector"),
            Reason::FreePorts => f.write_str("node(s) didn't have free ports for the requested pod ports"),
            Reason::TooManyPods => f.write_str("Too many pods"),
            Reason::Insufficient(resource) => write!(f, "Insufficient {resource}"),
            Reason::VolumeNodeAffinityConflict => f.write_str("node(s) had volume node affinity conflict"),
        }
    }
}

/// kube's VolumeBinding PreFilter message for claims the PV controller has not bound.
pub const MSG_UNBOUND_IMMEDIATE: &str = "pod has unbound immediate PersistentVolumeClaims";
/// Our documented limitation: we do not do WaitForFirstConsumer binding.
pub const MSG_WAIT_FOR_FIRST_CONSUMER: &str = "pod has unbound PersistentVolumeClaims with volumeBindingMode \
     WaitForFirstConsumer; carbon-aware-scheduler does not bind such volumes (schedule this pod with the \
     default scheduler, or use pre-bound or Immediate volumes)";

/// Checks that reject the pod whatever the node (kube's PreFilter stage). `Some(msg)`
/// becomes the whole "0/N nodes are available: msg." diagnosis.
pub fn pre_filter(pod: &PodInfo) -> Option<String> {
    // Same precedence as kube's VolumeBinding PreFilter: missing claims first.
    if let Some(c) = pod.volume_claims.iter().find(|c| c.state == ClaimState::Missing) {
        return Some(format!("persistentvolumeclaim \"{}\" not found", c.name));
    }
    if pod.volume_claims.iter().any(|c| c.state == ClaimState::PendingImmediate) {
        return Some(MSG_UNBOUND_IMMEDIATE.to_string());
    }
    if pod.volume_claims.iter().any(|c| c.state == ClaimState::WaitForFirstConsumer) {
        return Some(MSG_WAIT_FOR_FIRST_CONSUMER.to_string());
    }
    None
}

/// Runs every filter on one node; on rejection pushes the failing plugin's reasons.
pub fn filter_node<'a>(pod: &'a PodInfo, node: &'a NodeState, out: &mut Vec<Reason<'a>>) -> bool {
    let start = out.len();
    if let Some(r) = node_unschedulable(pod, &node.info) {
        out.push(r);
    } else if let Some(r) = taint_toleration(pod, &node.info) {
        out.push(r);
    } else if !node_affinity(pod, &node.info) {
        out.push(Reason::NodeAffinity);
    } else if !node_ports(pod, node) {
        out.push(Reason::FreePorts);
    } else {
        resources_fit(pod, node, out);
        if out.len() == start && !volume_node_affinity(pod, &node.info) {
            out.push(Reason::VolumeNodeAffinityConflict);
        }
    }
    out.len() == start
}

/// NodeUnschedulable: a cordoned node takes only pods that tolerate its taint.
pub fn node_unschedulable<'a>(pod: &PodInfo, node: &NodeInfo) -> Option<Reason<'a>> {
    if !node.unschedulable {
        return None;
    }
    let taint = Taint::new(TAINT_UNSCHEDULABLE, "", TaintEffect::NoSchedule);
    (!pod.tolerations.iter().any(|t| t.tolerates(&taint))).then_some(Reason::Unschedulable)
}

/// TaintToleration. kube-scheduler has no readiness filter of its own: the node
/// lifecycle controller taints NotReady / unreachable nodes and this filter rejects
/// them. Where a node's condition says not ready but the taint is not there (yet, or
/// no lifecycle controller runs), we apply the taint it would get, so the outcome and
/// the wording match kube's, and pods tolerating it (DaemonSet-like) still fit.
pub fn taint_toleration<'a>(pod: &PodInfo, node: &'a NodeInfo) -> Option<Reason<'a>> {
    let untolerated = |t: &Taint| {
        matches!(t.effect, TaintEffect::NoSchedule | TaintEffect::NoExecute)
            && !pod.tolerations.iter().any(|tol| tol.tolerates(t))
    };
    if let Some(t) = node.taints.iter().find(|t| untolerated(t)) {
        return Some(Reason::UntoleratedTaint { key: &t.key, value: &t.value });
    }
    let implied = match node.readiness {
        Readiness::Ready => return None,
        Readiness::NotReady => TAINT_NOT_READY,
        Readiness::Unknown => TAINT_UNREACHABLE,
    };
    if node.taints.iter().any(|t| t.key == implied) {
        return None; // the real taint was checked above
    }
    let taint = Taint::new(implied, "", TaintEffect::NoSchedule);
    untolerated(&taint).then_some(Reason::UntoleratedTaint { key: implied, value: "" })
}

/// NodeAffinity: every `nodeSelector` pair and, if present, one required term.
pub fn node_affinity(pod: &PodInfo, node: &NodeInfo) -> bool {
    pod.node_selector.iter().all(|(k, v)| node.labels.get(k) == Some(v))
        && pod.required_affinity.as_ref().is_none_or(|sel| selector_matches(sel, node))
}

/// Terms are ORed; an empty selector matches nothing (as kube's NodeSelector does).
pub fn selector_matches(sel: &NodeSelector, node: &NodeInfo) -> bool {
    sel.terms.iter().any(|t| term_matches(t, node))
}

fn term_matches(term: &SelectorTerm, node: &NodeInfo) -> bool {
    if term.match_expressions.is_empty() && term.match_fields.is_empty() {
        return false;
    }
    term.match_expressions.iter().all(|r| requirement_matches(r, node.labels.get(&r.key).map(String::as_str)))
        && term.match_fields.iter().all(|r| {
            // metadata.name is the only node field kube supports; other keys are invalid.
            r.key == "metadata.name"
                && matches!(r.operator, SelectorOperator::In | SelectorOperator::NotIn)
                && requirement_matches(r, Some(&node.name))
        })
}

/// kube's `labels.Requirement.Matches`, with its validation: a malformed requirement
/// (In without values, Exists with values, Gt with a non-integer) matches nothing.
fn requirement_matches(r: &Requirement, value: Option<&str>) -> bool {
    match r.operator {
        SelectorOperator::In => {
            !r.values.is_empty() && value.is_some_and(|v| r.values.iter().any(|x| x == v))
        }
        SelectorOperator::NotIn => {
            !r.values.is_empty() && value.is_none_or(|v| !r.values.iter().any(|x| x == v))
        }
        SelectorOperator::Exists => r.values.is_empty() && value.is_some(),
        SelectorOperator::DoesNotExist => r.values.is_empty() && value.is_none(),
        SelectorOperator::Gt | SelectorOperator::Lt => {
            let [bound] = r.values.as_slice() else { return false };
            let (Ok(bound), Some(Ok(v))) = (bound.parse::<i64>(), value.map(str::parse::<i64>)) else {
                return false;
            };
            if r.operator == SelectorOperator::Gt { v > bound } else { v < bound }
        }
        SelectorOperator::Invalid(_) => false,
    }
}

/// NodePorts: none of the pod's host ports may clash with one in use on the node.
pub fn node_ports(pod: &PodInfo, node: &NodeState) -> bool {
    pod.host_ports.iter().all(|p| !node.used_ports.iter().any(|u| u.conflicts(p)))
}

/// NodeResourcesFit (`fitsRequest`): pod count first, then each requested resource
/// against allocatable minus what the node's pods (bound or assumed) request.
pub fn resources_fit<'a>(pod: &'a PodInfo, node: &NodeState, out: &mut Vec<Reason<'a>>) {
    let alloc = &node.info.allocatable;
    let used = &node.requested;
    let req = &pod.requests.requests;
    if node.pod_count + 1 > node.info.allowed_pods {
        out.push(Reason::TooManyPods);
    }
    if req.milli_cpu > 0 && req.milli_cpu > alloc.milli_cpu - used.milli_cpu {
        out.push(Reason::Insufficient("cpu"));
    }
    if req.memory > 0 && req.memory > alloc.memory - used.memory {
        out.push(Reason::Insufficient("memory"));
    }
    if req.ephemeral_storage > 0 && req.ephemeral_storage > alloc.ephemeral_storage - used.ephemeral_storage {
        out.push(Reason::Insufficient("ephemeral-storage"));
    }
    for (name, amount) in &req.scalar {
        if *amount > 0 && *amount > alloc.scalar(name) - used.scalar(name) {
            out.push(Reason::Insufficient(name));
        }
    }
}

/// VolumeBinding Filter for bound claims: the volume's node affinity must admit the node.
pub fn volume_node_affinity(pod: &PodInfo, node: &NodeInfo) -> bool {
    pod.volume_claims.iter().all(|c| match &c.state {
        ClaimState::Bound { node_affinity: Some(sel) } => selector_matches(sel, node),
        _ => true,
    })
}

#[cfg(test)]
mod tests;
