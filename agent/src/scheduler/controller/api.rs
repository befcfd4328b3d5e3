//! The scheduler's writes to the API server: the binding, the PodScheduled condition.
use std::collections::BTreeMap;

// The carbon accounting is written as annotations through the binding (the API server
// copies a Binding's annotations onto the pod in the same write).
use gridshift_api::meta::{
    ANNOTATION_BASELINE_INTENSITY, ANNOTATION_BOUND_AT, ANNOTATION_BOUND_INTENSITY, ANNOTATION_GRID_ZONE,
};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Binding, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams, PostParams};

/// How a binding attempt ended, as far as the scheduler needs to know.
#[derive(Debug)]
pub enum BindError {
    /// 409: the pod was deleted and recreated, is already bound, or got gated.
    Conflict(String),
    /// 404: the pod is gone.
    Gone,
    Other(kube::Error),
}

/// `POST pods/{name}/binding` with the pod's UID as precondition, so a pod deleted
/// and recreated under the same name is never bound by a decision about the old one.
pub async fn bind(
    client: &kube::Client,
    pod: &Pod,
    node: &str,
    annotations: BTreeMap<String, String>,
) -> Result<(), BindError> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let binding = Binding {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            uid: pod.metadata.uid.clone(),
            annotations: (!annotations.is_empty()).then_some(annotations),
            ..Default::default()
        },
        target: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Node".into()),
            name: Some(node.to_string()),
            ..Default::default()
        },
    };
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let pp = PostParams::default();
    match api.create_subresource::<_, serde_json::Value>("binding", name, &pp, &binding).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Err(BindError::Conflict(s.message)),
        Err(kube::Error::Api(s)) if s.code == 404 => Err(BindError::Gone),
        Err(e) => Err(BindError::Other(e)),
    }
}

/// Whether a pod this scheduler may still bind exists under this UID (after a 409).
pub async fn still_pending(
    client: &kube::Client,
    pod: &Pod,
    scheduler_name: &str,
) -> Result<bool, kube::Error> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    Ok(api.get_opt(name).await?.is_some_and(|now| {
        now.metadata.uid == pod.metadata.uid && super::super::adapter::is_ours(&now, scheduler_name)
    }))
}

/// The PodScheduled condition as kube-scheduler writes it on failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub reason: String,
    pub message: String,
}

/// The pod's current PodScheduled=False condition, if any.
pub fn current_condition(pod: &Pod) -> Option<Condition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")
        .map(|c| Condition {
            reason: c.reason.clone().unwrap_or_default(),
            message: c.message.clone().unwrap_or_default(),
        })
}

/// Sets PodScheduled=False (strategic merge on `conditions`, keyed by type).
pub async fn set_unscheduled(
    client: &kube::Client,
    pod: &Pod,
    cond: &Condition,
    now: Timestamp,
) -> Result<(), kube::Error> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let patch = serde_json::json!({
        "status": {"conditions": [{
            "type": "PodScheduled",
            "status": "False",
            "reason": cond.reason,
            "message": cond.message,
            "lastProbeTime": null,
            "lastTransitionTime": now.to_string(),
        }]}
    });
    match api.patch_status(name, &PatchParams::default(), &Patch::Strategic(&patch)).await {
        Ok(_) => Ok(()),
        // Deleted meanwhile: nothing to report on.
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// What events about the pod refer to.
pub fn pod_ref(pod: &Pod) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: pod.metadata.name.clone(),
        namespace: pod.metadata.namespace.clone(),
        uid: pod.metadata.uid.clone(),
        resource_version: pod.metadata.resource_version.clone(),
        ..Default::default()
    }
}

/// Binding annotations: the carbon accounting, readable with `kubectl get pod -o yaml`.
pub fn accounting_annotations(
    zone: Option<&str>,
    intensity: Option<f64>,
    baseline: Option<f64>,
    bound_at: Timestamp,
) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    if let Some(z) = zone {
        a.insert(ANNOTATION_GRID_ZONE.into(), z.to_string());
    }
    if let Some(i) = intensity {
        a.insert(ANNOTATION_BOUND_INTENSITY.into(), format!("{i:.1}"));
    }
    if let Some(b) = baseline {
        a.insert(ANNOTATION_BASELINE_INTENSITY.into(), format!("{b:.1}"));
    }
    a.insert(ANNOTATION_BOUND_AT.into(), bound_at.to_string());
    a
}
