use super::*;
use serde_json::json;

fn now() -> Timestamp {
    "2022-06-14T12:00:00Z".parse().unwrap()
}

fn cache() -> ClusterCache {
    ClusterCache::new(
        "carbon-aware-scheduler",
        ZoneConfig::default(),
        gridshift_core::zone_map::ZoneMap::builtin(),
    )
}

fn node(name: &str, cpu: &str) -> Node {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"carbon-zone": "GB"}},
        "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"}}
    }))
    .unwrap()
}

fn pod(name: &str, uid: &str, scheduler: &str, node: Option<&str>) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "uid": uid},
        "spec": {"schedulerName": scheduler, "nodeName": node,
                 "containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]}
    }))
    .unwrap()
}

#[test]
fn pending_pods_are_ours_and_unbound_and_leave_when_bound() {
    let mut c = cache();
    let ch = c.apply(Watched::Node(Event::Apply(node("n1", "4"))), now());
    assert!(ch.cluster);
    let ch = c.apply(Watched::Pod(Event::Apply(pod("mine", "u1", "carbon-aware-scheduler", None))), now());
    assert_eq!(ch.added, ["u1"]);
    assert_eq!(c.pending["u1"].first_seen, now());
    let ch = c.apply(Watched::Pod(Event::Apply(pod("theirs", "u2", "default-scheduler", None))), now());
    assert!(ch.added.is_empty() && !c.pending.contains_key("u2"));
    // Bound (by us): no longer pending, and it now holds its CPU on n1.
    let ch =
        c.apply(Watched::Pod(Event::Apply(pod("mine", "u1", "carbon-aware-scheduler", Some("n1")))), now());
    assert_eq!(ch.removed, ["u1"]);
    assert_eq!(c.snapshot.node("n1").unwrap().requested.milli_cpu, 1000);
    // Deleting a bound pod frees capacity: unschedulable pods may fit now.
    let ch =
        c.apply(Watched::Pod(Event::Delete(pod("mine", "u1", "carbon-aware-scheduler", Some("n1")))), now());
    assert!(ch.cluster);
    assert_eq!(c.snapshot.node("n1").unwrap().requested.milli_cpu, 0);
}

#[test]
fn node_heartbeats_are_not_cluster_changes_but_capacity_is() {
    let mut c = cache();
    c.apply(Watched::Node(Event::Apply(node("n1", "4"))), now());
    let mut beat = node("n1", "4");
    beat.metadata.resource_version = Some("99".into());
    assert!(!c.apply(Watched::Node(Event::Apply(beat)), now()).cluster);
    assert!(c.apply(Watched::Node(Event::Apply(node("n1", "8"))), now()).cluster);
}

#[test]
fn a_relist_drops_what_was_deleted_while_the_watch_was_down() {
    let mut c = cache();
    c.apply(Watched::Node(Event::Apply(node("n1", "4"))), now());
    c.apply(Watched::Node(Event::Apply(node("n2", "4"))), now());
    c.apply(Watched::Pod(Event::Apply(pod("p", "u1", "carbon-aware-scheduler", None))), now());
    c.apply(Watched::Pod(Event::Init), now());
    c.apply(Watched::Pod(Event::InitApply(pod("q", "u2", "carbon-aware-scheduler", None))), now());
    let ch = c.apply(Watched::Pod(Event::InitDone), now());
    assert_eq!(ch.removed, ["u1"], "deleted while the watch was down");
    assert!(c.pending.contains_key("u2"));
    c.apply(Watched::Node(Event::Init), now());
    c.apply(Watched::Node(Event::InitApply(node("n2", "4"))), now());
    c.apply(Watched::Node(Event::InitDone), now());
    assert!(c.snapshot.node("n1").is_none() && c.snapshot.node("n2").is_some());
}

#[test]
fn only_scheduling_relevant_pod_changes_count_as_updates() {
    let mut c = cache();
    c.apply(Watched::Pod(Event::Apply(pod("p", "u1", "carbon-aware-scheduler", None))), now());
    let mut status_only = pod("p", "u1", "carbon-aware-scheduler", None);
    status_only.status = serde_json::from_value(json!({"conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/1 nodes are available"}]}))
    .unwrap();
    let ch = c.apply(Watched::Pod(Event::Apply(status_only)), now());
    assert!(ch.updated.is_empty(), "our own condition write is not a reason to retry");
    let mut tolerant = pod("p", "u1", "carbon-aware-scheduler", None);
    tolerant.spec.as_mut().unwrap().tolerations =
        Some(vec![serde_json::from_value(json!({"key": "k", "operator": "Exists"})).unwrap()]);
    assert_eq!(c.apply(Watched::Pod(Event::Apply(tolerant)), now()).updated, ["u1"]);
}

#[test]
fn claims_are_read_through_their_volume_and_class() {
    let mut c = cache();
    let mut p = pod("p", "u1", "carbon-aware-scheduler", None);
    p.spec.as_mut().unwrap().volumes = Some(vec![
        serde_json::from_value(json!({"name": "data", "persistentVolumeClaim": {"claimName": "data"}}))
            .unwrap(),
    ]);
    assert_eq!(c.pod_info(&p).volume_claims[0].state, ClaimState::Missing);
    let class = serde_json::from_value(json!({"metadata": {"name": "local"}, "provisioner": "x",
        "volumeBindingMode": "WaitForFirstConsumer"}))
    .unwrap();
    assert!(c.apply(Watched::Class(Event::Apply(class)), now()).cluster);
    let pvc = serde_json::from_value(json!({"metadata": {"name": "data", "namespace": "default"},
        "spec": {"storageClassName": "local"}}))
    .unwrap();
    c.apply(Watched::Claim(Event::Apply(pvc)), now());
    assert_eq!(c.pod_info(&p).volume_claims[0].state, ClaimState::WaitForFirstConsumer);
    let pvc: PersistentVolumeClaim =
        serde_json::from_value(json!({"metadata": {"name": "data", "namespace": "default"},
        "spec": {"storageClassName": "local", "volumeName": "pv1"}}))
        .unwrap();
    c.apply(Watched::Claim(Event::Apply(pvc.clone())), now());
    assert_eq!(c.pod_info(&p).volume_claims[0].state, ClaimState::Bound { node_affinity: None });
    c.apply(Watched::Claim(Event::Delete(pvc)), now());
    assert_eq!(c.pod_info(&p).volume_claims[0].state, ClaimState::Missing);
}

#[test]
fn hello_zones_keep_the_configured_primary_first() {
    let mut c = cache();
    let mut n2 = node("n2", "4");
    n2.metadata.labels.as_mut().unwrap().insert("carbon-zone".into(), "US-CAL-CISO".into());
    c.apply(Watched::Node(Event::Apply(n2)), now());
    c.apply(Watched::Node(Event::Apply(node("n1", "4"))), now());
    assert_eq!(c.hello_zones(&[gridshift_core::Zone::known("FR")]), ["FR", "GB", "US-CAL-CISO"]);
    assert_eq!(c.hello_zones(&[gridshift_core::Zone::known("GB")]), ["GB", "US-CAL-CISO"]);
}

#[test]
fn creation_is_measured_on_the_agent_clock() {
    let (api, seen) = (ts("2026-03-01T10:00:00Z"), ts("2022-01-11T17:00:00Z"));
    assert_eq!(effective_creation(api, seen), seen, "a replayed clock: first sight stands in");
    let (api, seen) = (ts("2022-01-11T16:00:00Z"), ts("2022-01-11T17:00:00Z"));
    assert_eq!(effective_creation(api, seen), api, "after a restart the slack still counts from creation");
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}
