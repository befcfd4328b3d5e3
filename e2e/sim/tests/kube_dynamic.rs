//! Dynamic clients, discovery and CRDs: the foreign CRD manifests become
//! served resources with schema validation, status subresources, generation.

mod common;

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::core::Status;
use kube::discovery::{Discovery, Scope};
use serde_json::json;

fn api_error(err: kube::Error) -> Status {
    match err {
        kube::Error::Api(status) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn discovery_serves_builtins_and_installed_crds() {
    let sim = common::sim_with_crds().await;
    let discovery = Discovery::new(sim.client().unwrap()).run().await.unwrap();
    let find = |group: &str, kind: &str| {
        discovery
            .groups()
            .flat_map(|g| g.recommended_resources())
            .find(|(ar, _)| ar.group == group && ar.kind == kind)
            .unwrap_or_else(|| panic!("{group}/{kind} not discovered"))
    };
    let (pp, caps) = find("policy.karmada.io", "PropagationPolicy");
    assert_eq!((pp.plural.as_str(), caps.scope.clone()), ("propagationpolicies", Scope::Namespaced));
    let (_, cluster_caps) = find("cluster.karmada.io", "Cluster");
    assert_eq!(cluster_caps.scope, Scope::Cluster);
    let (so, so_caps) = find("keda.sh", "ScaledObject");
    assert_eq!(so.version, "v1alpha1");
    assert!(
        so_caps.subresources.iter().any(|(ar, _)| ar.plural == "status"),
        "status subresource advertised"
    );
    find("coordination.k8s.io", "Lease");
    find("events.k8s.io", "Event");
    let (pods, pod_caps) = find("", "Pod");
    assert_eq!(pods.plural, "pods");
    assert!(pod_caps.subresources.iter().any(|(ar, _)| ar.plural == "binding"));
}

fn scaled_object_api(sim: &gridshift_sim::SimServer) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("keda.sh", "v1alpha1", "ScaledObject");
    Api::namespaced_with(sim.client().unwrap(), "default", &ApiResource::from_gvk(&gvk))
}

fn scaled_object(name: &str, spec: serde_json::Value) -> DynamicObject {
    serde_json::from_value(json!({"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
        "metadata": {"name": name}, "spec": spec}))
    .unwrap()
}

#[tokio::test]
async fn custom_resources_validate_prune_and_version() {
    let sim = common::sim_with_crds().await;
    let api = scaled_object_api(&sim);
    let good = json!({"scaleTargetRef": {"name": "web"}, "minReplicaCount": 1, "maxReplicaCount": 10,
        "triggers": [{"type": "cpu", "metadata": {"value": "50"}}], "advanced": {"kept": true}});
    let created = api.create(&PostParams::default(), &scaled_object("so", good)).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert_eq!(created.data["spec"]["advanced"]["kept"], true, "preserve-unknown-fields keeps extras");

    // Required, type and min>max (KEDA's webhook) are rejected.
    let missing = json!({"scaleTargetRef": {"name": "web"}});
    let err =
        api_error(api.create(&PostParams::default(), &scaled_object("bad1", missing)).await.unwrap_err());
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    assert!(err.message.contains("spec.triggers: Required value"), "{}", err.message);
    let wrong_type = json!({"scaleTargetRef": {"name": "web"}, "maxReplicaCount": "ten", "triggers": []});
    let err =
        api_error(api.create(&PostParams::default(), &scaled_object("bad2", wrong_type)).await.unwrap_err());
    assert!(err.code == 422 && err.message.contains("must be of type integer"), "{}", err.message);
    let err = api_error(
        api.patch(
            "so",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"minReplicaCount": 50, "maxReplicaCount": 3}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(err.code, 400, "{}", err.message);
    assert!(err.message.contains("MinReplicaCount=50 must be less than MaxReplicaCount=3"));

    // Spec changes bump generation; status goes through the subresource only.
    let capped = api
        .patch(
            "so",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"maxReplicaCount": 4}, "status": {"x": 1}})),
        )
        .await
        .unwrap();
    assert_eq!(capped.metadata.generation, Some(2));
    assert!(capped.data.get("status").is_none(), "status ignored on the main resource");
    let with_status = api
        .patch_status(
            "so",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"x": 1}, "spec": {"maxReplicaCount": 99}})),
        )
        .await
        .unwrap();
    assert_eq!(with_status.metadata.generation, Some(2));
    assert_eq!(with_status.data["status"]["x"], 1);
    assert_eq!(with_status.data["spec"]["maxReplicaCount"], 4);

    // Strategic merge patch is not served for custom resources.
    let err = api_error(
        api.patch("so", &PatchParams::default(), &Patch::Strategic(json!({"spec": {}}))).await.unwrap_err(),
    );
    assert_eq!(err.code, 415);

    // A replace needs the resourceVersion for custom resources.
    let mut no_rv = with_status.clone();
    no_rv.metadata.resource_version = None;
    let err = api_error(api.replace("so", &PostParams::default(), &no_rv).await.unwrap_err());
    assert_eq!(err.code, 422);
}

#[tokio::test]
async fn server_side_apply_switches_affinity_without_leftovers() {
    let sim = common::sim_with_crds().await;
    let gvk = GroupVersionKind::gvk("policy.karmada.io", "v1alpha1", "PropagationPolicy");
    let api: Api<DynamicObject> =
        Api::namespaced_with(sim.client().unwrap(), "default", &ApiResource::from_gvk(&gvk));
    let ssa = PatchParams::apply("gridshift-hub").force();
    let selectors = json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}]);
    let first = json!({"apiVersion": "policy.karmada.io/v1alpha1", "kind": "PropagationPolicy",
        "metadata": {"name": "web"},
        "spec": {"resourceSelectors": selectors, "placement": {"clusterAffinity": {"clusterNames": ["a", "b"]}}}});
    api.patch("web", &ssa, &Patch::Apply(&first)).await.unwrap();
    let second = json!({"apiVersion": "policy.karmada.io/v1alpha1", "kind": "PropagationPolicy",
        "metadata": {"name": "web"},
        "spec": {"resourceSelectors": selectors,
            "placement": {"clusterAffinities": [{"affinityName": "clean", "clusterNames": ["c"]}]}}});
    let after = api.patch("web", &ssa, &Patch::Apply(&second)).await.unwrap();
    let placement = &after.data["spec"]["placement"];
    assert!(placement.get("clusterAffinity").is_none(), "{placement}");
    assert_eq!(placement["clusterAffinities"][0]["clusterNames"], json!(["c"]));
    assert_eq!(after.metadata.generation, Some(2));

    let bad_weight = json!({"spec": {"placement": {"replicaScheduling": {"weightPreference": {
        "staticWeightList": [{"targetCluster": {"clusterNames": ["a"]}, "weight": 0}]}}}}});
    let err =
        api_error(api.patch("web", &PatchParams::default(), &Patch::Merge(bad_weight)).await.unwrap_err());
    assert!(err.code == 422 && err.message.contains("greater than or equal to 1"), "{}", err.message);
}
