//! Who owns a cap: a retargeted CR gives its old target back, a second CR on the same
//! target waits until the first lets go, and a cap left by a CR that vanished without
//! its finalizer is adopted with the original it recorded.
mod common;

use common::cluster::{NS, SO, cluster, max_of, ready, spec};
use common::{hourly, t0};
use gridshift_api::keda::KedaTarget;
use gridshift_api::meta::{ANNOTATION_ORIGINAL, LABEL_CAPPER_UID};
use kube::ResourceExt;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;

#[tokio::test]
async fn retarget_restores_the_old_target_and_caps_the_new_one() {
    let c = cluster(Some(hourly(t0(), t0(), &[67.0]))).await;
    c.create_target(SO, "a", json!({}), json!({})).await; // maxReplicaCount unset: KEDA's default
    c.create_target(KedaTarget::ScaledJobs, "b", json!({"maxReplicaCount": 50}), json!({})).await;
    c.create_scaler("mover", spec(SO, "a")).await;
    let a = c.wait_max(SO, "a", Some(20)).await;
    assert_eq!(a.annotations()[ANNOTATION_ORIGINAL], "", "remembered as unset");

    let retarget = json!({"spec": {"kedaTarget": "scaledjobs.keda.sh", "kedaTargetRef": {"name": "b", "namespace": NS}}});
    c.scalers().patch("mover", &PatchParams::default(), &Patch::Merge(retarget)).await.expect("retarget");
    let b = c.wait_max(KedaTarget::ScaledJobs, "b", Some(20)).await;
    assert_eq!(b.annotations()[ANNOTATION_ORIGINAL], "50");
    let a = c.wait_max(SO, "a", None).await;
    assert!(!a.labels().contains_key(LABEL_CAPPER_UID) && !a.annotations().contains_key(ANNOTATION_ORIGINAL));
    c.wait_event("mover", "MaxReplicaCountRestored").await;
    let cr = c.wait_ready("mover", "CapApplied").await;
    assert_eq!(cr.status.and_then(|s| s.observed_generation), Some(2));
}

#[tokio::test]
async fn a_cap_left_by_a_vanished_cr_is_adopted_with_its_original() {
    let c = cluster(Some(hourly(t0(), t0(), &[67.0]))).await;
    // As a CR whose finalizer was removed by hand would have left it: capped at 10, original 100.
    let left = json!({ANNOTATION_ORIGINAL: "100", "gridshift.io/capped-by": "default/gone"});
    c.create_target(SO, "orphan", json!({"maxReplicaCount": 10}), left).await;
    let label = json!({"metadata": {"labels": {LABEL_CAPPER_UID: "0000-gone"}}});
    c.targets(SO).patch("orphan", &PatchParams::default(), &Patch::Merge(label)).await.expect("label");

    c.create_scaler("heir", spec(SO, "orphan")).await;
    let so = c.wait_max(SO, "orphan", Some(20)).await;
    assert_eq!(so.annotations()[ANNOTATION_ORIGINAL], "100", "the true original, not the old cap");
    c.scalers().delete("heir", &DeleteParams::default()).await.expect("delete");
    let so = c.wait_max(SO, "orphan", Some(100)).await;
    assert!(!so.labels().contains_key(LABEL_CAPPER_UID));
}

#[tokio::test]
async fn a_second_cr_on_the_same_target_waits_its_turn() {
    let c = cluster(Some(hourly(t0(), t0(), &[67.0]))).await;
    c.create_target(SO, "shared", json!({"maxReplicaCount": 100}), json!({})).await;
    c.create_scaler("first", spec(SO, "shared")).await;
    c.wait_max(SO, "shared", Some(20)).await;
    let mut other = spec(SO, "shared");
    other.max_replicas_by_carbon_intensity[1].max_replicas = 25; // 90 → 25
    c.create_scaler("second", other).await;
    let cr = c.wait_ready("second", "TargetClaimed").await;
    assert!(ready(&cr).expect("ready").2.contains("default/first"));
    assert_eq!(max_of(&c.targets(SO).get("shared").await.expect("get")), Some(20), "first's cap stands");

    // When the first lets go, the second takes over from the true original.
    c.scalers().delete("first", &DeleteParams::default()).await.expect("delete");
    let so = c.wait_max(SO, "shared", Some(25)).await;
    assert_eq!(so.annotations()[ANNOTATION_ORIGINAL], "100");
}
