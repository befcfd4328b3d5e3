//! Kubernetes objects the fleet creates: Karmada Clusters, nodes, namespaces,
//! sample workloads. Plain JSON so they read like the manifests users write.
use crate::fleet::MemberSpec;
use serde_json::{Value, json};

pub fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

/// A Karmada member cluster as the host API knows it (region from the member's
/// primary node region, as karmada-agent reports it).
pub fn karmada_cluster(name: &str, region: &str) -> Value {
    json!({
        "apiVersion": "cluster.karmada.io/v1alpha1",
        "kind": "Cluster",
        "metadata": {"name": name, "labels": {"gridshift.io/demo": "true"}},
        "spec": {"syncMode": "Pull", "region": region},
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "ClusterReady",
            "message": "cluster is healthy and ready to accept workloads", "lastTransitionTime": "2022-01-01T00:00:00Z"}]}
    })
}

/// Ready nodes labelled with their cloud region, `<member>-<region>-<i>`.
pub fn nodes(member: &MemberSpec) -> Vec<Value> {
    let mut out = Vec::new();
    for group in &member.node_groups {
        for i in 0..group.count {
            let name = format!("{}-{}-{i}", member.name, group.region.trim_start_matches("kind-"));
            out.push(json!({
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": name, "labels": {
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "topology.kubernetes.io/region": group.region,
                }},
                "spec": {},
                "status": {
                    "capacity": {"cpu": group.cpu, "memory": group.memory, "pods": "110"},
                    "allocatable": {"cpu": group.cpu, "memory": group.memory, "pods": "110"},
                    "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                        "message": "kubelet is posting ready status", "lastHeartbeatTime": "2022-01-01T00:00:00Z",
                        "lastTransitionTime": "2022-01-01T00:00:00Z"}]
                }
            }));
        }
    }
    out
}
