use super::*;
use gridshift_core::scheduling::deferral::{DeferralRequest, DeferralSpec};
use jiff::SignedDuration;
use serde_json::json;

fn zone_map(v: &str) -> Option<Zone> {
    match v {
        "eu-west-2" => Some(Zone::known("GB")),
        "us-west-2" => Some(Zone::known("US-NW-BPAT")),
        _ => None,
    }
}

fn node(labels: serde_json::Value) -> Node {
    serde_json::from_value(json!({
        "metadata": {"name": "n1", "labels": labels},
        "spec": {
            "unschedulable": true,
            "taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
                       {"key": "odd", "effect": "Whatever"}]
        },
        "status": {
            "allocatable": {"cpu": "3920m", "memory": "15Gi", "ephemeral-storage": "100G", "pods": "110",
                            "nvidia.com/gpu": "2", "hugepages-2Mi": "0"},
            "conditions": [{"type": "Ready", "status": "False"}]
        }
    }))
    .unwrap()
}

#[test]
fn nodes_convert_with_allocatable_taints_readiness_and_zone() {
    let n = node_info(
        &node(json!({"topology.kubernetes.io/region": "eu-west-2"})),
        &ZoneConfig::default(),
        &zone_map,
    );
    assert_eq!(n.name, "n1");
    assert_eq!(n.allocatable.milli_cpu, 3920);
    assert_eq!(n.allocatable.memory, 15 << 30);
    assert_eq!(n.allocatable.ephemeral_storage, 100_000_000_000);
    assert_eq!(n.allocatable.scalar("nvidia.com/gpu"), 2);
    assert_eq!(n.allowed_pods, 110);
    assert_eq!(n.taints, vec![Taint::new("dedicated", "gpu", TaintEffect::NoSchedule)]);
    assert!(n.unschedulable);
    assert_eq!(n.readiness, Readiness::NotReady);
    assert_eq!(n.grid_zone.as_deref(), Some("GB"));
}

#[test]
fn carbon_zone_label_wins_then_topology_labels_then_the_default() {
    let cfg = ZoneConfig { default_zone: Some(Zone::known("US-CAL-CISO")), ..Default::default() };
    let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    };
    let both = labels(&[(CARBON_ZONE_LABEL, "DE"), ("topology.kubernetes.io/region", "eu-west-2")]);
    assert_eq!(cfg.resolve(&both, &zone_map).as_deref(), Some("DE"));
    let zone_unknown =
        labels(&[("topology.kubernetes.io/zone", "mars-1a"), ("topology.kubernetes.io/region", "us-west-2")]);
    assert_eq!(cfg.resolve(&zone_unknown, &zone_map).as_deref(), Some("US-NW-BPAT"));
    assert_eq!(cfg.resolve(&labels(&[]), &zone_map).as_deref(), Some("US-CAL-CISO"));
    assert_eq!(ZoneConfig::default().resolve(&labels(&[]), &zone_map), None);
}

#[test]
fn pods_convert_requests_sidecars_overhead_affinity_ports_claims_and_annotations() {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "job", "namespace": "batch", "uid": "u-1",
                     "creationTimestamp": "2022-01-11T17:00:00Z",
                     "annotations": {"gridshift.io/max-delay": "6h", "gridshift.io/expected-runtime": "30m"}},
        "spec": {
            "schedulerName": "carbon-aware-scheduler",
            "containers": [
                {"name": "app", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
                 "ports": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 81}]},
                {"name": "limits-only", "resources": {"limits": {"cpu": "1", "nvidia.com/gpu": "1"}}}
            ],
            "initContainers": [
                {"name": "log-shipper", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}},
                {"name": "migrate", "resources": {"requests": {"cpu": "2", "memory": "512Mi"}}}
            ],
            "overhead": {"cpu": "50m"},
            "tolerations": [{"key": "dedicated", "operator": "Exists"}, {"operator": "Exists", "effect": "NoExecute"}],
            "nodeSelector": {"disk": "ssd"},
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["8"]}],
                 "matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}
            ]}}},
            "schedulingGates": [{"name": "wait"}],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data-claim"}},
                        {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}},
                        {"name": "tmp", "emptyDir": {}}]
        }
    }))
    .unwrap();
    assert!(is_ours(&pod, "carbon-aware-scheduler"));
    assert!(!is_ours(&pod, "default-scheduler"));
    let p = pod_info(&pod, &|ns, claim| {
        assert_eq!(ns, "batch");
        if claim == "data-claim" {
            ClaimState::Bound { node_affinity: None }
        } else {
            ClaimState::WaitForFirstConsumer
        }
    });
    assert_eq!((p.uid.as_str(), p.namespace.as_str(), p.name.as_str()), ("u-1", "batch", "job"));
    // app 500m + limits-only 1 + sidecar 100m = 1600m vs migrate 2000m + sidecar 100m.
    assert_eq!(p.requests.requests.milli_cpu, 2100 + 50);
    assert_eq!(p.requests.requests.memory, 1 << 30);
    assert_eq!(p.requests.requests.scalar("nvidia.com/gpu"), 1);
    assert_eq!(p.host_ports, vec![HostPort::tcp(8080)]);
    assert_eq!(p.tolerations.len(), 2);
    assert_eq!(p.tolerations[1].effect, Some(TaintEffect::NoExecute));
    assert_eq!(p.node_selector.get("disk").map(String::as_str), Some("ssd"));
    let term = &p.required_affinity.as_ref().unwrap().terms[0];
    assert_eq!(term.match_expressions[0].operator, SelectorOperator::Gt);
    assert_eq!(term.match_fields[0].key, "metadata.name");
    assert_eq!(p.scheduling_gates, ["wait"]);
    assert_eq!(
        p.volume_claims.iter().map(|c| (c.name.as_str(), &c.state)).collect::<Vec<_>>(),
        [
            ("data-claim", &ClaimState::Bound { node_affinity: None }),
            ("job-scratch", &ClaimState::WaitForFirstConsumer)
        ]
    );
    assert_eq!(
        p.deferral,
        DeferralRequest::Defer(DeferralSpec {
            max_delay: Some(SignedDuration::from_hours(6)),
            deadline: None,
            expected_runtime: SignedDuration::from_mins(30),
        })
    );
    assert_eq!(p.created, "2022-01-11T17:00:00Z".parse().unwrap());
}

#[test]
fn claim_state_follows_binding_and_storage_class_mode() {
    let pvc = |volume: Option<&str>| -> PersistentVolumeClaim {
        serde_json::from_value(json!({"metadata": {"name": "c"}, "spec": {"volumeName": volume}})).unwrap()
    };
    let class = |mode: &str| -> StorageClass {
        serde_json::from_value(
            json!({"metadata": {"name": "s"}, "provisioner": "x", "volumeBindingMode": mode}),
        )
        .unwrap()
    };
    let pv: PersistentVolume =
        serde_json::from_value(json!({"metadata": {"name": "pv"}, "spec": {"nodeAffinity": {
        "required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": ["n2"]}]}]}}}}))
        .unwrap();
    assert_eq!(claim_state(None, None, None), ClaimState::Missing);
    let ClaimState::Bound { node_affinity: Some(sel) } = claim_state(Some(&pvc(Some("pv"))), Some(&pv), None)
    else {
        panic!()
    };
    assert_eq!(sel.terms[0].match_expressions[0].values, ["n2"]);
    let wffc = class("WaitForFirstConsumer");
    assert_eq!(claim_state(Some(&pvc(None)), None, Some(&wffc)), ClaimState::WaitForFirstConsumer);
    assert_eq!(claim_state(Some(&pvc(None)), None, Some(&class("Immediate"))), ClaimState::PendingImmediate);
}
