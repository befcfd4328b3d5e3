//! What the simulated Karmada decides, as pure functions: the ResourceBindings a policy
//! implies and the clusters they are scheduled to. The subset of Karmada's behaviour
//! Gridshift depends on (DESIGN §2):
//!
//! - `clusterAffinity.clusterNames` lists the clusters; empty or absent means every
//!   registered Cluster; `exclude` removes some; names that are not registered Clusters are
//!   ignored. `labelSelector`/`fieldSelector` are kept but not evaluated here.
//! - With `clusterAffinities` the first group is used and reported as
//!   `status.schedulerObservedAffinityName` (Karmada falls through groups only when one
//!   cannot be scheduled, which never happens here).
//! - One binding per resource selector, named `<resource name>-<kind>` like Karmada's
//!   (the policy's name stands in for a selector without a name), labelled with the policy's
//!   permanent id and annotated with its name (and namespace).
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

pub const PP_PERMANENT_ID: &str = "propagationpolicy.karmada.io/permanent-id";
pub const CPP_PERMANENT_ID: &str = "clusterpropagationpolicy.karmada.io/permanent-id";
pub const PP_NAME: &str = "propagationpolicy.karmada.io/name";
pub const PP_NAMESPACE: &str = "propagationpolicy.karmada.io/namespace";
pub const CPP_NAME: &str = "clusterpropagationpolicy.karmada.io/name";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PolicyKind {
    Propagation,
    ClusterPropagation,
}

impl PolicyKind {
    pub fn permanent_id_label(self) -> &'static str {
        match self {
            Self::Propagation => PP_PERMANENT_ID,
            Self::ClusterPropagation => CPP_PERMANENT_ID,
        }
    }
}

/// A ResourceBinding as Karmada would keep it for one selected resource.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredBinding {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub resource: Value,
    /// Scheduled clusters, sorted.
    pub clusters: Vec<String>,
    pub affinity_name: Option<String>,
}

impl DesiredBinding {
    /// The object to create (status is written separately, as Karmada does).
    pub fn to_object(&self) -> Value {
        json!({
            "apiVersion": "work.karmada.io/v1alpha2",
            "kind": "ResourceBinding",
            "metadata": {
                "name": self.name, "namespace": self.namespace,
                "labels": self.labels, "annotations": self.annotations,
            },
            "spec": { "resource": self.resource, "clusters": self.clusters_value() },
        })
    }

    pub fn clusters_value(&self) -> Value {
        Value::Array(self.clusters.iter().map(|c| json!({ "name": c })).collect())
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// The clusters a placement schedules to, and the affinity group used (if any).
pub fn scheduled_clusters(placement: &Value, registered: &BTreeSet<String>) -> (Vec<String>, Option<String>) {
    let groups = placement.get("clusterAffinities").and_then(Value::as_array).filter(|g| !g.is_empty());
    let (affinity, name) = match groups {
        Some(groups) => {
            (Some(&groups[0]), groups[0].get("affinityName").and_then(Value::as_str).map(str::to_string))
        }
        None => (placement.get("clusterAffinity"), None),
    };
    let names = strings(affinity.and_then(|a| a.get("clusterNames")));
    let exclude: BTreeSet<String> = strings(affinity.and_then(|a| a.get("exclude"))).into_iter().collect();
    let chosen: BTreeSet<&String> = if names.is_empty() {
        registered.iter().collect()
    } else {
        names.iter().filter(|n| registered.contains(*n)).collect()
    };
    (chosen.into_iter().filter(|c| !exclude.contains(*c)).cloned().collect(), name)
}

/// The bindings `policy` implies. `permanent_id` is the policy's id label value.
pub fn desired_bindings(
    kind: PolicyKind,
    policy: &Value,
    permanent_id: &str,
    registered: &BTreeSet<String>,
) -> Vec<DesiredBinding> {
    let text = |p: &str| policy.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
    let (policy_name, policy_ns) = (text("/metadata/name"), text("/metadata/namespace"));
    let placement = policy.pointer("/spec/placement").cloned().unwrap_or(Value::Null);
    let (clusters, affinity_name) = scheduled_clusters(&placement, registered);
    let mut labels = BTreeMap::new();
    labels.insert(kind.permanent_id_label().to_string(), permanent_id.to_string());
    let mut annotations = BTreeMap::new();
    match kind {
        PolicyKind::Propagation => {
            annotations.insert(PP_NAME.to_string(), policy_name.clone());
            annotations.insert(PP_NAMESPACE.to_string(), policy_ns.clone());
        }
        PolicyKind::ClusterPropagation => {
            annotations.insert(CPP_NAME.to_string(), policy_name.clone());
        }
    }
    let selectors =
        policy.pointer("/spec/resourceSelectors").and_then(Value::as_array).cloned().unwrap_or_default();
    selectors
        .iter()
        .map(|sel| {
            let field = |k: &str| sel.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
            let kind_name = field("kind").unwrap_or("Resource");
            let resource_name = field("name").unwrap_or(&policy_name).to_string();
            let namespace = match kind {
                PolicyKind::Propagation => policy_ns.clone(),
                PolicyKind::ClusterPropagation => field("namespace").unwrap_or("default").to_string(),
            };
            DesiredBinding {
                name: format!("{resource_name}-{}", kind_name.to_ascii_lowercase()),
                resource: json!({
                    "apiVersion": field("apiVersion").unwrap_or("v1"),
                    "kind": kind_name,
                    "name": resource_name,
                    "namespace": namespace,
                }),
                namespace,
                labels: labels.clone(),
                annotations: annotations.clone(),
                clusters: clusters.clone(),
                affinity_name: affinity_name.clone(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered() -> BTreeSet<String> {
        ["de", "es", "fr", "pl"].map(String::from).into()
    }

    #[test]
    fn cluster_names_exclude_and_all() {
        let r = registered();
        let p = json!({"clusterAffinity": {"clusterNames": ["fr", "de", "mars"], "exclude": ["de"]}});
        assert_eq!(scheduled_clusters(&p, &r), (vec!["fr".to_string()], None));
        let all = json!({"clusterAffinity": {"clusterNames": [], "exclude": ["pl"]}});
        assert_eq!(scheduled_clusters(&all, &r).0, ["de", "es", "fr"]);
        assert_eq!(scheduled_clusters(&Value::Null, &r).0, ["de", "es", "fr", "pl"]);
        let groups = json!({"clusterAffinities": [
            {"affinityName": "primary", "clusterNames": ["es"]}, {"affinityName": "backup", "clusterNames": ["pl"]}
        ]});
        assert_eq!(scheduled_clusters(&groups, &r), (vec!["es".to_string()], Some("primary".to_string())));
    }

    #[test]
    fn one_binding_per_selector_labelled_like_karmada() {
        let pp = json!({
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {
                "resourceSelectors": [
                    {"apiVersion": "apps/v1", "kind": "Deployment", "name": "nginx"},
                    {"apiVersion": "v1", "kind": "Service"}
                ],
                "placement": {"clusterAffinity": {"clusterNames": ["fr"]}}
            }
        });
        let b = desired_bindings(PolicyKind::Propagation, &pp, "id-1", &registered());
        let names: Vec<_> = b.iter().map(|b| (b.namespace.as_str(), b.name.as_str())).collect();
        assert_eq!(names, [("shop", "nginx-deployment"), ("shop", "web-service")]);
        assert_eq!(b[0].labels[PP_PERMANENT_ID], "id-1");
        assert_eq!(
            (b[0].annotations[PP_NAME].as_str(), b[0].annotations[PP_NAMESPACE].as_str()),
            ("web", "shop")
        );
        assert_eq!(b[0].to_object()["spec"]["clusters"], json!([{"name": "fr"}]));

        let cpp = json!({
            "metadata": {"name": "global"},
            "spec": {"resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "api", "namespace": "team"}]}
        });
        let b = desired_bindings(PolicyKind::ClusterPropagation, &cpp, "id-2", &registered());
        assert_eq!((b[0].namespace.as_str(), b[0].name.as_str()), ("team", "api-deployment"));
        assert_eq!(b[0].labels[CPP_PERMANENT_ID], "id-2");
        assert_eq!(b[0].annotations[CPP_NAME], "global");
        assert_eq!(b[0].clusters, ["de", "es", "fr", "pl"], "no placement: every cluster");
    }
}
