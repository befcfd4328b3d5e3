use super::*;
use crate::forecasts::Forecasts;
use crate::scheduling::model::{
    ClaimState, HostPort, NodeSelector, Protocol, Requirement, SelectorOperator as Op, SelectorTerm,
    Toleration, VolumeClaim,
};
use crate::scheduling::{Decision, SchedulerConfig, schedule_one};
use crate::testing::scheduling::{GIB, node, pod, snapshot};

/// Runs the filters on a single node and renders the reasons as kube would.
fn reasons(pod: &PodInfo, info: NodeInfo) -> Vec<String> {
    reasons_in(pod, &snapshot([info]), 0)
}

fn reasons_in(pod: &PodInfo, snap: &super::super::Snapshot, i: usize) -> Vec<String> {
    let mut out = Vec::new();
    let ok = filter_node(pod, &snap.nodes()[i], &mut out);
    assert_eq!(ok, out.is_empty());
    out.iter().map(ToString::to_string).collect()
}

fn labelled(labels: &[(&str, &str)]) -> NodeInfo {
    let mut n = node("n1", "GB", 4000, 8 * GIB);
    n.labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    n
}

fn with_term(exprs: Vec<Requirement>, fields: Vec<Requirement>) -> PodInfo {
    let mut p = pod("p", 100, GIB);
    p.required_affinity =
        Some(NodeSelector { terms: vec![SelectorTerm { match_expressions: exprs, match_fields: fields }] });
    p
}

#[test]
fn cordoned_node_rejects_unless_tolerated() {
    let mut n = node("n1", "GB", 4000, 8 * GIB);
    n.unschedulable = true;
    let mut p = pod("p", 100, GIB);
    assert_eq!(reasons(&p, n.clone()), ["node(s) were unschedulable"]);
    p.tolerations.push(Toleration::exists(TAINT_UNSCHEDULABLE, Some(TaintEffect::NoSchedule)));
    assert!(reasons(&p, n).is_empty());
}

#[test]
fn untolerated_noschedule_and_noexecute_taints_reject_with_key_and_value() {
    let mut n = node("n1", "GB", 4000, 8 * GIB);
    n.taints = vec![
        Taint::new("soft", "x", TaintEffect::PreferNoSchedule),
        Taint::new("dedicated", "gpu", TaintEffect::NoSchedule),
        Taint::new("evict", "now", TaintEffect::NoExecute),
    ];
    let mut p = pod("p", 100, GIB);
    // PreferNoSchedule is a scoring matter; the first hard taint is reported.
    assert_eq!(reasons(&p, n.clone()), ["node(s) had untolerated taint {dedicated: gpu}"]);
    p.tolerations.push(Toleration::equal("dedicated", "gpu", Some(TaintEffect::NoSchedule)));
    assert_eq!(reasons(&p, n.clone()), ["node(s) had untolerated taint {evict: now}"]);
    p.tolerations.push(Toleration::exists("evict", None));
    assert!(reasons(&p, n).is_empty());
}

#[test]
fn not_ready_and_unreachable_nodes_reject_like_their_lifecycle_taints() {
    let mut n = node("n1", "GB", 4000, 8 * GIB);
    n.readiness = Readiness::NotReady;
    let mut p = pod("p", 100, GIB);
    assert_eq!(reasons(&p, n.clone()), ["node(s) had untolerated taint {node.kubernetes.io/not-ready: }"]);
    n.readiness = Readiness::Unknown;
    assert_eq!(reasons(&p, n.clone()), ["node(s) had untolerated taint {node.kubernetes.io/unreachable: }"]);
    // The real taint, once the lifecycle controller adds it, is not counted twice and
    // its effect (NoExecute here) is what a toleration must match.
    n.taints.push(Taint::new(TAINT_UNREACHABLE, "", TaintEffect::NoExecute));
    p.tolerations.push(Toleration::exists(TAINT_UNREACHABLE, Some(TaintEffect::NoExecute)));
    assert!(reasons(&p, n).is_empty());
}

#[test]
fn node_selector_requires_every_label() {
    let n = labelled(&[("disk", "ssd"), ("tier", "batch")]);
    let mut p = pod("p", 100, GIB);
    p.node_selector.insert("disk".into(), "ssd".into());
    assert!(reasons(&p, n.clone()).is_empty());
    p.node_selector.insert("tier".into(), "web".into());
    assert_eq!(reasons(&p, n), ["node(s) didn't match Pod's node affinity/selector"]);
}

#[test]
fn required_affinity_operators_follow_label_selector_semantics() {
    let n = labelled(&[("zone", "a"), ("cores", "16")]);
    let matches = |r: Requirement| reasons(&with_term(vec![r], vec![]), n.clone()).is_empty();
    assert!(matches(Requirement::new("zone", Op::In, &["a", "b"])));
    assert!(!matches(Requirement::new("zone", Op::In, &["b"])));
    assert!(!matches(Requirement::new("missing", Op::In, &["a"])));
    assert!(matches(Requirement::new("zone", Op::NotIn, &["b"])));
    assert!(matches(Requirement::new("missing", Op::NotIn, &["b"])), "NotIn matches an absent label");
    assert!(!matches(Requirement::new("zone", Op::NotIn, &["a"])));
    assert!(matches(Requirement::new("zone", Op::Exists, &[])));
    assert!(!matches(Requirement::new("missing", Op::Exists, &[])));
    assert!(matches(Requirement::new("missing", Op::DoesNotExist, &[])));
    assert!(!matches(Requirement::new("zone", Op::DoesNotExist, &[])));
    assert!(matches(Requirement::new("cores", Op::Gt, &["8"])));
    assert!(!matches(Requirement::new("cores", Op::Gt, &["16"])));
    assert!(matches(Requirement::new("cores", Op::Lt, &["32"])));
    assert!(!matches(Requirement::new("zone", Op::Gt, &["1"])), "non-integer label");
    assert!(!matches(Requirement::new("cores", Op::Gt, &["1", "2"])), "Gt takes one value");
    assert!(!matches(Requirement::new("zone", Op::In, &[])), "In without values is invalid");
    assert!(!matches(Requirement::new("zone", Op::Invalid("Near".into()), &["a"])));
}

#[test]
fn affinity_terms_are_ored_expressions_anded_and_match_fields_use_the_node_name() {
    let n = labelled(&[("zone", "a")]);
    let by_name =
        |op: Op, name: &str| with_term(vec![], vec![Requirement::new("metadata.name", op, &[name])]);
    assert!(reasons(&by_name(Op::In, "n1"), n.clone()).is_empty());
    assert!(!reasons(&by_name(Op::In, "n2"), n.clone()).is_empty());
    assert!(reasons(&by_name(Op::NotIn, "n2"), n.clone()).is_empty());
    let other_field = with_term(vec![], vec![Requirement::new("metadata.uid", Op::In, &["n1"])]);
    assert!(!reasons(&other_field, n.clone()).is_empty(), "only metadata.name is a node field");

    let anded = with_term(
        vec![Requirement::new("zone", Op::In, &["a"])],
        vec![Requirement::new("metadata.name", Op::In, &["n2"])],
    );
    assert!(!reasons(&anded, n.clone()).is_empty());

    let mut ored = pod("p", 100, GIB);
    ored.required_affinity = Some(NodeSelector {
        terms: vec![
            SelectorTerm {
                match_expressions: vec![Requirement::new("zone", Op::In, &["b"])],
                ..Default::default()
            },
            SelectorTerm::default(), // an empty term matches nothing
            SelectorTerm {
                match_expressions: vec![Requirement::new("zone", Op::In, &["a"])],
                ..Default::default()
            },
        ],
    });
    assert!(reasons(&ored, n.clone()).is_empty());
    ored.required_affinity = Some(NodeSelector::default());
    assert_eq!(reasons(&ored, n), ["node(s) didn't match Pod's node affinity/selector"]);
}

#[test]
fn resources_fit_against_allocatable_minus_every_placed_pod() {
    let mut snap = snapshot([node("n1", "GB", 4000, 8 * GIB)]);
    let mut other = pod("other-scheduler-pod", 3000, 6 * GIB);
    other.node_name = Some("n1".into());
    snap.observe_pod(&other);
    assert!(reasons_in(&pod("fits", 1000, 2 * GIB), &snap, 0).is_empty(), "an exact fit fits");
    assert_eq!(reasons_in(&pod("cpu", 1001, GIB), &snap, 0), ["Insufficient cpu"]);
    assert_eq!(reasons_in(&pod("mem", 100, 2 * GIB + 1), &snap, 0), ["Insufficient memory"]);
    assert_eq!(
        reasons_in(&pod("both", 2000, 4 * GIB), &snap, 0),
        ["Insufficient cpu", "Insufficient memory"]
    );
    let mut eph = pod("eph", 100, GIB);
    eph.requests.requests.ephemeral_storage = 101 * GIB;
    assert_eq!(reasons_in(&eph, &snap, 0), ["Insufficient ephemeral-storage"]);
    // A finished pod holds nothing.
    other.terminal = true;
    snap.observe_pod(&other);
    assert!(reasons_in(&pod("cpu", 4000, GIB), &snap, 0).is_empty());
}

#[test]
fn extended_resources_and_pod_count() {
    let mut n = node("n1", "GB", 4000, 8 * GIB);
    n.allocatable.set_scalar("nvidia.com/gpu", 1);
    n.allowed_pods = 1;
    let mut snap = snapshot([n]);
    let mut gpu = pod("gpu", 100, GIB);
    gpu.requests.requests.set_scalar("nvidia.com/gpu", 2);
    assert_eq!(reasons_in(&gpu, &snap, 0), ["Insufficient nvidia.com/gpu"]);
    let mut fpga = pod("fpga", 100, GIB);
    fpga.requests.requests.set_scalar("example.com/fpga", 1);
    assert_eq!(reasons_in(&fpga, &snap, 0), ["Insufficient example.com/fpga"], "not advertised = none");

    let mut first = pod("first", 0, 0);
    first.node_name = Some("n1".into());
    snap.observe_pod(&first);
    // A pod that requests nothing is still counted against the pod limit.
    assert_eq!(reasons_in(&pod("empty", 0, 0), &snap, 0), ["Too many pods"]);
    assert_eq!(reasons_in(&pod("big", 5000, GIB), &snap, 0), ["Too many pods", "Insufficient cpu"]);
}

#[test]
fn host_ports_in_use_reject() {
    let mut snap = snapshot([node("n1", "GB", 4000, 8 * GIB)]);
    let mut web = pod("web", 100, GIB);
    web.host_ports.push(HostPort::tcp(80));
    web.node_name = Some("n1".into());
    snap.observe_pod(&web);
    let mut p = pod("p", 100, GIB);
    p.host_ports.push(HostPort { ip: "10.0.0.7".into(), ..HostPort::tcp(80) });
    assert_eq!(reasons_in(&p, &snap, 0), ["node(s) didn't have free ports for the requested pod ports"]);
    p.host_ports[0].protocol = Protocol::Udp;
    assert!(reasons_in(&p, &snap, 0).is_empty());
}

#[test]
fn only_the_first_failing_plugin_reports_like_the_kube_framework() {
    let mut n = node("n1", "GB", 1000, GIB);
    n.taints.push(Taint::new("k", "v", TaintEffect::NoSchedule));
    n.unschedulable = true;
    let p = pod("p", 2000, 2 * GIB);
    assert_eq!(reasons(&p, n.clone()), ["node(s) were unschedulable"]);
    n.unschedulable = false;
    assert_eq!(reasons(&p, n), ["node(s) had untolerated taint {k: v}"]);
}

#[test]
fn volume_claims_prefilter_and_bound_volume_affinity() {
    let claim = |state| VolumeClaim { name: "data".into(), state };
    let mut p = pod("p", 100, GIB);
    p.volume_claims = vec![claim(ClaimState::Missing)];
    assert_eq!(pre_filter(&p).as_deref(), Some("persistentvolumeclaim \"data\" not found"));
    p.volume_claims = vec![claim(ClaimState::PendingImmediate)];
    assert_eq!(pre_filter(&p).as_deref(), Some(MSG_UNBOUND_IMMEDIATE));
    p.volume_claims = vec![claim(ClaimState::WaitForFirstConsumer)];
    assert_eq!(pre_filter(&p).as_deref(), Some(MSG_WAIT_FOR_FIRST_CONSUMER));

    let local_to_n2 = NodeSelector {
        terms: vec![SelectorTerm {
            match_expressions: vec![Requirement::new("kubernetes.io/hostname", Op::In, &["n2"])],
            ..Default::default()
        }],
    };
    p.volume_claims = vec![claim(ClaimState::Bound { node_affinity: Some(local_to_n2) })];
    assert_eq!(pre_filter(&p), None);
    let mut n2 = node("n2", "GB", 4000, 8 * GIB);
    n2.labels.insert("kubernetes.io/hostname".into(), "n2".into());
    assert_eq!(reasons(&p, node("n1", "GB", 4000, 8 * GIB)), ["node(s) had volume node affinity conflict"]);
    assert!(reasons(&p, n2).is_empty());
}

#[test]
fn the_aggregated_message_matches_kube_scheduler() {
    let mut tainted = node("t1", "GB", 4000, 8 * GIB);
    tainted.taints.push(Taint::new("dedicated", "gpu", TaintEffect::NoSchedule));
    let mut cordoned = node("c1", "GB", 4000, 8 * GIB);
    cordoned.unschedulable = true;
    let snap = snapshot([
        node("small-1", "GB", 500, 8 * GIB),
        node("small-2", "GB", 500, 8 * GIB),
        node("tiny", "GB", 500, 100),
        tainted,
        cordoned,
    ]);
    let d =
        schedule_one(&SchedulerConfig::default(), &snap, &pod("p", 1000, GIB), &Forecasts::default(), ts());
    assert_eq!(
        d,
        Decision::Unschedulable {
            message: "0/5 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint \
                      {dedicated: gpu}, 1 node(s) were unschedulable, 3 Insufficient cpu."
                .into()
        }
    );
    let mut wffc = pod("p", 100, GIB);
    wffc.volume_claims.push(VolumeClaim { name: "data".into(), state: ClaimState::WaitForFirstConsumer });
    let Decision::Unschedulable { message } =
        schedule_one(&SchedulerConfig::default(), &snap, &wffc, &Forecasts::default(), ts())
    else {
        panic!("a WaitForFirstConsumer claim must not be placed");
    };
    assert_eq!(message, format!("0/5 nodes are available: {MSG_WAIT_FOR_FIRST_CONSUMER}."));
    let empty = super::super::Snapshot::new();
    let d = schedule_one(&SchedulerConfig::default(), &empty, &pod("p", 1, 1), &Forecasts::default(), ts());
    assert_eq!(d, Decision::Unschedulable { message: "no nodes available to schedule pods".into() });
}

#[test]
fn gated_pods_are_not_attempted() {
    let snap = snapshot([node("n1", "GB", 4000, 8 * GIB)]);
    let mut p = pod("p", 100, GIB);
    p.scheduling_gates.push("example.com/quota".into());
    let d = schedule_one(&SchedulerConfig::default(), &snap, &p, &Forecasts::default(), ts());
    assert_eq!(
        d,
        Decision::Gated { message: "Scheduling is blocked due to non-empty scheduling gates".into() }
    );
}

fn ts() -> jiff::Timestamp {
    crate::testing::ts("2022-01-11T17:00:00Z")
}
