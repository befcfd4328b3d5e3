//! The simulated Karmada against the simulated API server: bindings follow the policies,
//! clusters turn healthy after the apply delay in simulated time, dropped clusters leave the
//! status at once, the never-healthy fault, ClusterPropagationPolicy, and clean-up.

mod common;

use gridshift_core::{ManualClock, SharedClock};
use gridshift_sim::karmada::schedule::{CPP_NAME, PP_NAME, PP_NAMESPACE, PP_PERMANENT_ID};
use gridshift_sim::{SimKarmada, SimKarmadaConfig, SimServer};
use jiff::{SignedDuration, Timestamp};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;

fn karmada_crds() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crds")
}

fn bindings_api(sim: &SimServer, ns: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("work.karmada.io", "v1alpha2", "ResourceBinding"),
        "resourcebindings",
    );
    Api::namespaced_with(sim.client().unwrap(), ns, &ar)
}

async fn binding(sim: &SimServer, ns: &str, name: &str) -> Value {
    serde_json::to_value(bindings_api(sim, ns).get(name).await.unwrap()).unwrap()
}

fn healthy(b: &Value) -> Vec<(String, String)> {
    b.pointer("/status/aggregatedStatus")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|s| {
                    (
                        s["clusterName"].as_str().unwrap().to_string(),
                        s["health"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn pair(c: &str, h: &str) -> (String, String) {
    (c.to_string(), h.to_string())
}

async fn setup() -> (SimServer, ManualClock, SimKarmada) {
    let sim = common::sim().await;
    sim.apply_dir(&karmada_crds()).unwrap();
    sim.upsert(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})).unwrap();
    for c in ["de", "fr", "es"] {
        sim.upsert(json!({"apiVersion": "cluster.karmada.io/v1alpha1", "kind": "Cluster",
            "metadata": {"name": c}, "spec": {"syncMode": "Push"}}))
            .unwrap();
    }
    let t0: Timestamp = "2022-06-01T00:00:00Z".parse().unwrap();
    let clock = ManualClock::new(t0);
    let shared: SharedClock = Arc::new(clock.clone());
    let karmada = SimKarmada::start(
        sim.client().unwrap(),
        SimKarmadaConfig::new(shared, SignedDuration::from_mins(10)),
    );
    (sim, clock, karmada)
}

fn policy(names: &[&str]) -> Value {
    json!({"apiVersion": "policy.karmada.io/v1alpha1", "kind": "PropagationPolicy",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "nginx"}],
                 "placement": {"clusterAffinity": {"clusterNames": names, "exclude": ["es"]}}}})
}

#[tokio::test]
async fn bindings_follow_the_policy_and_turn_healthy_after_the_delay() {
    let (sim, clock, karmada) = setup().await;
    sim.upsert(policy(&["de"])).unwrap();
    karmada.sync().await.unwrap();

    let pp_api: Api<DynamicObject> = Api::namespaced_with(
        sim.client().unwrap(),
        "shop",
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("policy.karmada.io", "v1alpha1", "PropagationPolicy"),
            "propagationpolicies",
        ),
    );
    let pp = serde_json::to_value(pp_api.get("web").await.unwrap()).unwrap();
    let id = pp.pointer("/metadata/labels").and_then(|l| l.get(PP_PERMANENT_ID)).cloned();
    assert!(id.is_some(), "the webhook's permanent id was set on the policy: {pp}");
    let b = binding(&sim, "shop", "nginx-deployment").await;
    assert_eq!(b["metadata"]["labels"][PP_PERMANENT_ID], id.unwrap());
    assert_eq!(b["metadata"]["annotations"][PP_NAME], "web");
    assert_eq!(b["metadata"]["annotations"][PP_NAMESPACE], "shop");
    assert_eq!(b["spec"]["clusters"], json!([{"name": "de"}]));
    assert!(healthy(&b).is_empty(), "nothing is applied before the delay");

    clock.advance(SignedDuration::from_mins(10));
    karmada.sync().await.unwrap();
    assert_eq!(healthy(&binding(&sim, "shop", "nginx-deployment").await), [pair("de", "Healthy")]);

    // Add fr (es is excluded): fr becomes healthy 10 minutes after it was scheduled, not before.
    let set = |names: &[&str]| json!({"spec": {"placement": {"clusterAffinity": {"clusterNames": names}}}});
    pp_api.patch("web", &PatchParams::default(), &Patch::Merge(set(&["de", "fr", "es"]))).await.unwrap();
    karmada.sync().await.unwrap();
    let b = binding(&sim, "shop", "nginx-deployment").await;
    assert_eq!(b["spec"]["clusters"], json!([{"name": "de"}, {"name": "fr"}]));
    assert_eq!(healthy(&b), [pair("de", "Healthy")]);
    clock.advance(SignedDuration::from_mins(9));
    karmada.sync().await.unwrap();
    assert_eq!(healthy(&binding(&sim, "shop", "nginx-deployment").await), [pair("de", "Healthy")]);
    karmada.set_never_healthy("de", true);
    clock.advance(SignedDuration::from_mins(1));
    karmada.sync().await.unwrap();
    assert_eq!(
        healthy(&binding(&sim, "shop", "nginx-deployment").await),
        [pair("de", "Unhealthy"), pair("fr", "Healthy")]
    );

    // Dropping de removes it from the binding and its status at once.
    pp_api.patch("web", &PatchParams::default(), &Patch::Merge(set(&["fr"]))).await.unwrap();
    karmada.sync().await.unwrap();
    let b = binding(&sim, "shop", "nginx-deployment").await;
    assert_eq!(b["spec"]["clusters"], json!([{"name": "fr"}]));
    assert_eq!(healthy(&b), [pair("fr", "Healthy")]);

    // Deleting the policy deletes its bindings.
    pp_api.delete("web", &DeleteParams::default()).await.unwrap();
    karmada.sync().await.unwrap();
    assert!(bindings_api(&sim, "shop").get_opt("nginx-deployment").await.unwrap().is_none());
    karmada.stop().await;
}

#[tokio::test]
async fn reacts_to_the_clock_without_being_asked() {
    let (sim, clock, karmada) = setup().await;
    sim.upsert(policy(&["fr"])).unwrap();
    let mut passes = karmada.passes();
    let api = bindings_api(&sim, "shop");
    // The policy change alone triggers a pass that creates the binding.
    let wait = std::time::Duration::from_secs(10);
    tokio::time::timeout(wait, async {
        while api.get_opt("nginx-deployment").await.unwrap().is_none() {
            passes.changed().await.unwrap();
        }
    })
    .await
    .expect("a binding without a sync");
    // The clock reaching the apply delay triggers the pass that reports it healthy.
    clock.advance(SignedDuration::from_mins(10));
    tokio::time::timeout(wait, async {
        while healthy(&binding(&sim, "shop", "nginx-deployment").await).is_empty() {
            passes.changed().await.unwrap();
        }
    })
    .await
    .expect("healthy once the clock passes the delay");
    karmada.stop().await;
}

#[tokio::test]
async fn cluster_propagation_policies_get_bindings_in_the_resource_namespace() {
    let (sim, clock, karmada) = setup().await;
    sim.upsert(json!({"apiVersion": "policy.karmada.io/v1alpha1", "kind": "ClusterPropagationPolicy",
        "metadata": {"name": "global"},
        "spec": {"resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "api", "namespace": "shop"}],
                 "placement": {"clusterAffinity": {"clusterNames": ["es"]}}}}))
    .unwrap();
    clock.advance(SignedDuration::from_mins(1));
    karmada.sync().await.unwrap();
    clock.advance(SignedDuration::from_mins(10));
    karmada.sync().await.unwrap();
    let b = binding(&sim, "shop", "api-deployment").await;
    assert_eq!(b["metadata"]["annotations"][CPP_NAME], "global");
    assert_eq!(healthy(&b), [pair("es", "Healthy")]);
    karmada.stop().await;
}
