//! The placement controller against gridshift-sim, case by case: a missing target and an
//! unknown target kind (a condition, nothing written), dry run (status only), a
//! ClusterPropagationPolicy (events and metrics too), cluster locations from Karmada Clusters
//! and from agents, the weighted form, and leader election (a non-leader writes nothing).
mod placement_common;

use gridshift_core::Clock;
use gridshift_hub::distribution::SubscribeRequest;
use gridshift_hub::placement::controller::run_with_leader_election;
use gridshift_ops::runtime::{LeaderElection, Shutdown};
use jiff::SignedDuration;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use placement_common::*;
use serde_json::{Value, json};
use std::sync::Arc;

const STEP: SignedDuration = SignedDuration::from_mins(10);

async fn events_of(client: &kube::Client, cr: &str) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(client.clone(), NS);
    let all = api.list(&ListParams::default()).await.unwrap().items;
    all.into_iter().filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(cr)).collect()
}

fn clusters_valid(cr: &gridshift_api::policy::CarbonAwareKarmadaPolicy, n: usize) -> bool {
    cr.status.as_ref().is_some_and(|s| s.clusters.len() == n && s.clusters.iter().all(|c| c.is_valid))
}

/// Waits (on the controller's progress) until `pred` holds for the CR.
async fn wait_cr(
    client: &kube::Client,
    progress: &mut tokio::sync::watch::Receiver<std::collections::BTreeMap<String, jiff::Timestamp>>,
    name: &str,
    what: &str,
    pred: impl Fn(&gridshift_api::policy::CarbonAwareKarmadaPolicy) -> bool,
) {
    let reached = async {
        loop {
            if pred(&get_cr(client, name).await) {
                return;
            }
            progress.changed().await.unwrap();
        }
    };
    tokio::time::timeout(LIMIT, reached).await.unwrap_or_else(|_| panic!("{name}: never {what}"));
}

#[tokio::test]
async fn missing_target_and_unknown_kind_set_a_condition_and_write_nothing() {
    let fleet = Fleet::start(STEP).await;
    let client = fleet.client();
    fleet.sim.upsert(carbon_policy("missing", "absent", json!({}))).unwrap();
    let mut unknown = carbon_policy("unknown", "web", json!({}));
    unknown["spec"]["karmadaTarget"] = json!("deployments.apps");
    fleet.sim.upsert(unknown).unwrap();
    let controller = Arc::new(fleet.controller(STEP));
    let mut progress = controller.progress();
    fleet.spawn(controller.clone());

    let not_found = |cr: &gridshift_api::policy::CarbonAwareKarmadaPolicy| {
        condition(cr, "TargetNotFound").is_some_and(|c| c.status == "True")
    };
    wait_cr(&client, &mut progress, "missing", "TargetNotFound", not_found).await;
    wait_cr(&client, &mut progress, "unknown", "TargetNotFound", not_found).await;
    let missing = get_cr(&client, "missing").await;
    assert_eq!(
        condition(&missing, "TargetNotFound").unwrap().message,
        "PropagationPolicy absent in namespace shop not found"
    );
    assert_eq!(condition(&missing, "Ready").unwrap().status, "False");
    assert_eq!(missing.status.as_ref().unwrap().observed_generation, missing.metadata.generation);
    let unknown = get_cr(&client, "unknown").await;
    let msg = &condition(&unknown, "TargetNotFound").unwrap().message;
    assert!(msg.starts_with("unknown karmadaTarget \"deployments.apps\""), "{msg}");
    assert!(unknown.status.as_ref().unwrap().active_clusters.is_empty());
    assert!(events_of(&client, "missing").await.is_empty() && events_of(&client, "unknown").await.is_empty());
    let pps: Api<DynamicObject> = Api::namespaced_with(client.clone(), NS, &pp_resource());
    assert!(pps.list(&ListParams::default()).await.unwrap().items.is_empty(), "nothing was created");

    // The target appearing is noticed (the policy watch), and the CR takes effect.
    fleet.sim.upsert(propagation_policy("absent", &[])).unwrap();
    wait_cr(&client, &mut progress, "missing", "found its target", |cr| {
        condition(cr, "TargetNotFound").is_some_and(|c| c.status == "False")
            && cr.status.as_ref().is_some_and(|s| !s.active_clusters.is_empty())
    })
    .await;
    let placed = cluster_names(&serde_json::to_value(pps.get("absent").await.unwrap()).unwrap());
    assert_eq!(placed, ["member-ciso"], "an empty clusterNames (all clusters) narrowed to the cleanest");
    fleet.stop();
}

#[tokio::test]
async fn dry_run_writes_nothing_but_status() {
    let fleet = Fleet::start(STEP).await;
    let client = fleet.client();
    let created = fleet.sim.upsert(propagation_policy("web", &["member-pjm"])).unwrap();
    fleet.sim.upsert(carbon_policy("web-carbon", "web", json!({"dryRun": true}))).unwrap();
    let controller = Arc::new(fleet.controller(STEP));
    let mut progress = controller.progress();
    fleet.spawn(controller.clone());
    wait_cr(&client, &mut progress, "web-carbon", "ranked", |cr| clusters_valid(cr, 3)).await;
    for _ in 0..3 {
        fleet.step(STEP, &mut progress, "shop/web-carbon").await;
    }
    let cr = get_cr(&client, "web-carbon").await;
    let status = cr.status.as_ref().unwrap();
    assert_eq!(status.active_clusters, ["member-ciso"], "what it would place on");
    assert!(status.pending.is_none() && status.last_switch_time.is_none());
    assert!(condition(&cr, "Switching").unwrap().message.starts_with("dry run, nothing written"));
    let pp: Api<DynamicObject> = Api::namespaced_with(client.clone(), NS, &pp_resource());
    let now = pp.get("web").await.unwrap();
    assert_eq!(
        now.metadata.resource_version.as_deref(),
        created["metadata"]["resourceVersion"].as_str(),
        "the policy is untouched"
    );
    assert!(events_of(&client, "web-carbon").await.is_empty(), "no events in dry run");
    fleet.stop();
}

#[tokio::test]
async fn cluster_propagation_policy_switches_with_events_and_metrics() {
    let fleet = Fleet::start(STEP).await;
    let client = fleet.client();
    fleet
        .sim
        .upsert(json!({"apiVersion": "policy.karmada.io/v1alpha1", "kind": "ClusterPropagationPolicy",
            "metadata": {"name": "global", "labels": {"clusterpropagationpolicy.karmada.io/permanent-id": "id-global"}},
            "spec": {"resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "api", "namespace": NS}],
                     "placement": {"clusterAffinity": {"clusterNames": ["member-pjm"], "exclude": ["legacy"]}}}}))
        .unwrap();
    let mut cr = carbon_policy("global-carbon", "global", json!({}));
    cr["spec"]["karmadaTarget"] = json!("clusterpropagationpolicies.policy.karmada.io");
    cr["spec"]["karmadaTargetRef"]["namespace"] = json!("ignored-for-cluster-scope");
    fleet.sim.upsert(cr).unwrap();
    fleet.sync_karmada().await;
    let controller = Arc::new(fleet.controller(STEP));
    let mut progress = controller.progress();
    fleet.spawn(controller.clone());
    wait_cr(&client, &mut progress, "global-carbon", "switching", |cr| {
        cr.status.as_ref().is_some_and(|s| s.pending.is_some())
    })
    .await;
    let cpp: Api<DynamicObject> = Api::all_with(client.clone(), &cpp_resource());
    let placement = || async { serde_json::to_value(cpp.get("global").await.unwrap()).unwrap() };
    assert_eq!(cluster_names(&placement().await), ["member-ciso", "member-pjm"], "incoming added first");
    let switched = async || cluster_names(&placement().await) == ["member-ciso"];
    fleet
        .step_until(
            &mut progress,
            "shop/global-carbon",
            "outgoing removed once incoming is healthy",
            6,
            switched,
        )
        .await;
    let p = placement().await;
    assert_eq!(p.pointer("/spec/placement/clusterAffinity/exclude"), Some(&json!(["legacy"])));
    let cr = get_cr(&client, "global-carbon").await;
    let status = cr.status.as_ref().unwrap();
    assert!(status.last_switch_time.is_some() && status.estimated_carbon_avoided.unwrap() > 200.0);

    let events = events_of(&client, "global-carbon").await;
    let reasons: Vec<&str> = events.iter().filter_map(|e| e.reason.as_deref()).collect();
    assert!(reasons.contains(&"SwitchStarted") && reasons.contains(&"Switched"), "{reasons:?}");
    let switched = events.iter().find(|e| e.reason.as_deref() == Some("Switched")).unwrap();
    assert!(switched.note.as_deref().unwrap().starts_with("placement [member-ciso]"), "{:?}", switched.note);
    assert_eq!(switched.related.as_ref().unwrap().kind.as_deref(), Some("ClusterPropagationPolicy"));

    let m = controller.metrics();
    let labels = |c: &str, z: &str| gridshift_hub::placement::controller::metrics::ClusterLabels {
        policy: "shop/global-carbon".into(),
        cluster: c.into(),
        zone: z.into(),
        carried_forward: "false".into(),
    };
    assert_eq!(m.cluster_active.get_or_create(&labels("member-ciso", "US-CAL-CISO")).get(), 1);
    assert_eq!(m.cluster_active.get_or_create(&labels("member-pjm", "US-MIDA-PJM")).get(), 0);
    let now = fleet.clock.now();
    assert_eq!(m.cluster_intensity.get_or_create(&labels("member-gb", "GB")).get(), recorded("GB", now));
    fleet.stop();
}

#[tokio::test]
async fn locations_from_karmada_clusters_and_agents_and_their_zones_are_fetched() {
    let fleet = Fleet::start(STEP).await;
    let client = fleet.client();
    let clusters: Api<DynamicObject> =
        Api::all_with(client.clone(), &ar("cluster.karmada.io", "v1alpha1", "Cluster", "clusters"));
    let pp = PatchParams::default();
    let label = json!({"metadata": {"labels": {"gridshift.io/grid-zone": "GB"}}});
    clusters.patch("member-gb", &pp, &Patch::Merge(&label)).await.unwrap();
    clusters
        .patch("member-ciso", &pp, &Patch::Merge(json!({"spec": {"region": "us-west-1"}})))
        .await
        .unwrap();
    // member-pjm: nothing in Karmada; its agent reports its nodes' zone on the stream.
    let (_agent, _) = fleet.distributor.subscribe(SubscribeRequest {
        cluster: "member-pjm".into(),
        node_zones: vec![gridshift_core::Zone::known("US-MIDA-PJM")],
        resume: None,
    });
    fleet.sim.upsert(propagation_policy("web", &["member-pjm"])).unwrap();
    let mut cr = carbon_policy("web-carbon", "web", json!({}));
    cr["spec"]["clusterLocations"] = json!([]); // every Karmada Cluster, located by the hub
    fleet.sim.upsert(cr).unwrap();
    let controller = Arc::new(fleet.controller(STEP));
    let mut progress = controller.progress();
    fleet.spawn(controller.clone());
    wait_cr(&client, &mut progress, "web-carbon", "ranked", |cr| clusters_valid(cr, 3)).await;
    let cr = get_cr(&client, "web-carbon").await;
    let located: Vec<(&str, &str)> =
        cr.status.as_ref().unwrap().clusters.iter().map(|c| (c.name.as_str(), c.location.as_str())).collect();
    assert_eq!(located, [("member-ciso", "US-CAL-CISO"), ("member-gb", "GB"), ("member-pjm", "US-MIDA-PJM")]);
    let wanted = fleet.distributor.wanted_zones();
    assert!(["GB", "US-CAL-CISO", "US-MIDA-PJM"].iter().all(|z| wanted.contains(*z)), "{wanted:?}");
    assert!(fleet.store.series("GB").is_some(), "the store fetched the policy's zones");
    fleet.stop();
}

#[tokio::test]
async fn weighted_form_writes_static_weights() {
    let fleet = Fleet::start(STEP).await;
    let client = fleet.client();
    let mut pp = propagation_policy("web", &["member-pjm"]);
    pp["spec"]["placement"]["replicaScheduling"] = json!({"replicaSchedulingType": "Divided",
        "replicaDivisionPreference": "Weighted", "weightPreference": {"staticWeightList": [
            {"targetCluster": {"clusterNames": ["member-pjm"]}, "weight": 1}]}});
    fleet.sim.upsert(pp).unwrap();
    fleet
        .sim
        .upsert(carbon_policy(
            "web-carbon",
            "web",
            json!({"placementForm": "weighted", "desiredClusters": 2}),
        ))
        .unwrap();
    let controller = Arc::new(fleet.controller(STEP));
    let mut progress = controller.progress();
    fleet.spawn(controller.clone());
    wait_cr(&client, &mut progress, "web-carbon", "switching", |cr| {
        cr.status.as_ref().is_some_and(|s| s.pending.is_some())
    })
    .await;
    let api: Api<DynamicObject> = Api::namespaced_with(client, NS, &pp_resource());
    let get = async || serde_json::to_value(api.get("web").await.unwrap()).unwrap();
    let switched = async || cluster_names(&get().await) == ["member-ciso", "member-gb"];
    fleet.step_until(&mut progress, "shop/web-carbon", "placed on the two cleanest", 5, switched).await;
    let p = get().await;
    let list = p.pointer("/spec/placement/replicaScheduling/weightPreference/staticWeightList").unwrap();
    let weight = |c: &str| {
        list.as_array().unwrap().iter().find(|w| w["targetCluster"]["clusterNames"] == json!([c])).unwrap()["weight"].as_i64().unwrap()
    };
    let (ciso, gb) = (recorded("US-CAL-CISO", fleet.clock.now()), recorded("GB", fleet.clock.now()));
    assert_eq!(weight("member-ciso"), 100, "the cleanest weighs 100");
    assert_eq!(weight("member-gb"), (100.0 * ciso.min(gb) / gb).round() as i64);
    assert_eq!(
        p.pointer("/spec/placement/replicaScheduling/replicaDivisionPreference"),
        Some(&Value::from("Weighted"))
    );
    fleet.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_writes_and_a_standby_takes_over() {
    let fleet = Fleet::start(STEP).await;
    let client = fleet.client();
    fleet.sim.upsert(propagation_policy("web", &["member-pjm"])).unwrap();
    fleet.sim.upsert(carbon_policy("web-carbon", "web", json!({}))).unwrap();
    let election = |id: &str| LeaderElection {
        lease_duration: std::time::Duration::from_secs(4),
        renew_grace: std::time::Duration::from_secs(2),
        ..LeaderElection::new("karmada-system", "gridshift-hub", id)
    };
    let (a, b) = (Arc::new(fleet.replica(STEP, "replica-a")), Arc::new(fleet.replica(STEP, "replica-b")));
    let stop_a = Shutdown::new();
    let task_a = {
        let (a, client, el, stop) = (a.clone(), client.clone(), election("replica-a"), stop_a.clone());
        tokio::spawn(async move { run_with_leader_election(&a, client, el, stop).await })
    };
    let mut progress_a = a.progress();
    wait_cr(&client, &mut progress_a, "web-carbon", "ranked by the leader", |cr| clusters_valid(cr, 3)).await;
    // The standby starts once the lease is held (the simulator does not report apply conflicts).
    {
        let (b, client, el, stop) =
            (b.clone(), client.clone(), election("replica-b"), fleet.shutdown.clone());
        tokio::spawn(async move { run_with_leader_election(&b, client, el, stop).await });
    }
    let pps: Api<DynamicObject> = Api::namespaced_with(client.clone(), NS, &pp_resource());
    let switched = async || {
        cluster_names(&serde_json::to_value(pps.get("web").await.unwrap()).unwrap()) == ["member-ciso"]
    };
    fleet.step_until(&mut progress_a, "shop/web-carbon", "the leader switched", 6, switched).await;
    assert!(b.progress().borrow().is_empty(), "the standby never reconciled");
    assert_eq!((a.metrics().leader.get(), b.metrics().leader.get()), (1, 0));
    let events = events_of(&client, "web-carbon").await;
    assert!(!events.is_empty());
    assert!(
        events.iter().all(|e| e.reporting_instance.as_deref() == Some("replica-a")),
        "only the leader wrote"
    );

    // The leader shuts down and releases the lease: the standby takes over.
    stop_a.trigger();
    task_a.await.unwrap().unwrap();
    assert_eq!(a.metrics().leader.get(), 0);
    let mut progress_b = b.progress();
    fleet.clock.advance(STEP);
    wait_progress(&mut progress_b, "shop/web-carbon", fleet.clock.now()).await;
    assert_eq!(b.metrics().leader.get(), 1);
    fleet.stop();
}
