//! The Karmada objects the controller reads and the one it patches, as dynamic objects:
//! we depend on a handful of fields, not on Karmada's whole API.
use crate::placement::bindings::{PolicyKey, binding_selector};
use crate::placement::patch::TargetRef;
use gridshift_api::meta::HUB_MANAGER;
use gridshift_core::placement::locate::ClusterFacts;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams};
use serde_json::Value;

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

pub fn propagation_policies() -> ApiResource {
    resource("policy.karmada.io", "v1alpha1", "PropagationPolicy", "propagationpolicies")
}

pub fn cluster_propagation_policies() -> ApiResource {
    resource("policy.karmada.io", "v1alpha1", "ClusterPropagationPolicy", "clusterpropagationpolicies")
}

pub fn resource_bindings() -> ApiResource {
    resource("work.karmada.io", "v1alpha2", "ResourceBinding", "resourcebindings")
}

pub fn clusters() -> ApiResource {
    resource("cluster.karmada.io", "v1alpha1", "Cluster", "clusters")
}

pub fn policy_key(t: &TargetRef) -> PolicyKey {
    match &t.namespace {
        Some(namespace) => PolicyKey::Propagation { namespace: namespace.clone(), name: t.name.clone() },
        None => PolicyKey::ClusterPropagation { name: t.name.clone() },
    }
}

/// The key of a watched PropagationPolicy or ClusterPropagationPolicy.
pub fn key_of_policy(policy: &DynamicObject) -> Option<PolicyKey> {
    let name = policy.metadata.name.clone()?;
    Some(match &policy.metadata.namespace {
        Some(namespace) => PolicyKey::Propagation { namespace: namespace.clone(), name },
        None => PolicyKey::ClusterPropagation { name },
    })
}

pub fn to_value(o: &DynamicObject) -> Value {
    serde_json::to_value(o).unwrap_or(Value::Null)
}

#[derive(Clone)]
pub struct Karmada {
    client: kube::Client,
}

impl Karmada {
    pub fn new(client: kube::Client) -> Self {
        Self { client }
    }

    fn policy_api(&self, t: &TargetRef) -> Api<DynamicObject> {
        match &t.namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &propagation_policies()),
            None => Api::all_with(self.client.clone(), &cluster_propagation_policies()),
        }
    }

    /// The target policy, `None` when it does not exist.
    pub async fn policy(&self, t: &TargetRef) -> Result<Option<Value>, kube::Error> {
        Ok(self.policy_api(t).get_opt(&t.name).await?.as_ref().map(to_value))
    }

    /// The policy's ResourceBindings (in its namespace; anywhere for a ClusterPropagationPolicy).
    pub async fn bindings(&self, key: &PolicyKey, policy: &Value) -> Result<Vec<Value>, kube::Error> {
        let api: Api<DynamicObject> = match key {
            PolicyKey::Propagation { namespace, .. } => {
                Api::namespaced_with(self.client.clone(), namespace, &resource_bindings())
            }
            PolicyKey::ClusterPropagation { .. } => Api::all_with(self.client.clone(), &resource_bindings()),
        };
        let lp = ListParams::default().labels(&binding_selector(key, policy));
        Ok(api.list(&lp).await?.items.iter().map(to_value).collect())
    }

    pub async fn clusters(&self) -> Result<Vec<ClusterFacts>, kube::Error> {
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &clusters());
        Ok(api
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .filter_map(|c| ClusterFacts::from_object(&to_value(c)))
            .collect())
    }

    /// A JSON merge patch under our field manager (it names only the fields we own).
    pub async fn patch_policy(&self, t: &TargetRef, patch: &Value) -> Result<(), kube::Error> {
        let params = PatchParams { field_manager: Some(HUB_MANAGER.into()), ..PatchParams::default() };
        self.policy_api(t).patch(&t.name, &params, &Patch::Merge(patch)).await.map(|_| ())
    }

    /// A JSON patch (RFC 6902): ops that must apply together, guarded by `test` ops.
    pub async fn json_patch_policy(&self, t: &TargetRef, ops: &Value) -> Result<(), kube::Error> {
        let params = PatchParams { field_manager: Some(HUB_MANAGER.into()), ..PatchParams::default() };
        let patch: json_patch::Patch =
            serde_json::from_value(ops.clone()).map_err(kube::Error::SerdeError)?;
        self.policy_api(t).patch(&t.name, &params, &Patch::<()>::Json(patch)).await.map(|_| ())
    }
}
