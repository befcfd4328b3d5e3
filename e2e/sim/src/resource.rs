//! Resource definitions (what discovery advertises and handlers serve) and
//! the registry of served resources: built-ins plus whatever CRDs add.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::schema::Schema;

/// One served resource at one group/version.
#[derive(Debug, Clone)]
pub struct ResourceDef {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub status_subresource: bool,
    /// Only pods: `pods/binding`.
    pub binding_subresource: bool,
    /// Field paths usable in fieldSelector besides metadata.name/metadata.namespace.
    pub field_labels: Vec<String>,
    /// Validation schema (custom resources only).
    pub schema: Option<Arc<Schema>>,
    /// Custom resources differ in a few rules: generation, no strategic merge,
    /// resourceVersion required on update.
    pub custom: bool,
}

impl ResourceDef {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }

    /// Storage key shared by all versions of a resource: `plural.group` ("pods" for core).
    pub fn storage_key(&self) -> String {
        storage_key(&self.group, &self.plural)
    }

    /// The name the API server uses in messages and Status details ("pods", "scaledobjects.keda.sh").
    pub fn qualified(&self) -> String {
        self.storage_key()
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }
}

pub fn storage_key(group: &str, plural: &str) -> String {
    if group.is_empty() { plural.to_string() } else { format!("{plural}.{group}") }
}

fn builtin(
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    namespaced: bool,
    short: &[&str],
    fields: &[&str],
) -> ResourceDef {
    ResourceDef {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        namespaced,
        short_names: short.iter().map(|s| s.to_string()).collect(),
        categories: Vec::new(),
        status_subresource: false,
        binding_subresource: false,
        field_labels: fields.iter().map(|s| s.to_string()).collect(),
        schema: None,
        custom: false,
    }
}

/// The built-in resources Gridshift needs.
pub fn builtins() -> Vec<ResourceDef> {
    let mut namespaces = builtin("", "v1", "Namespace", "namespaces", false, &["ns"], &["status.phase"]);
    namespaces.status_subresource = true;
    let mut nodes = builtin("", "v1", "Node", "nodes", false, &["no"], &["spec.unschedulable"]);
    nodes.status_subresource = true;
    let mut pods = builtin(
        "",
        "v1",
        "Pod",
        "pods",
        true,
        &["po"],
        &[
            "spec.nodeName",
            "spec.schedulerName",
            "spec.restartPolicy",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
    );
    pods.status_subresource = true;
    pods.binding_subresource = true;
    pods.categories = vec!["all".into()];
    let event_fields = [
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ];
    let new_event_fields = [
        "regarding.kind",
        "regarding.namespace",
        "regarding.name",
        "regarding.uid",
        "reason",
        "reportingController",
        "type",
    ];
    let mut crds = builtin(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        false,
        &["crd", "crds"],
        &[],
    );
    crds.status_subresource = true;
    // Volumes, for the carbon-aware scheduler's volume checks (claims, their
    // volumes' node affinity, the class's binding mode).
    let mut pvcs = builtin("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", true, &["pvc"], &[]);
    pvcs.status_subresource = true;
    let mut pvs = builtin("", "v1", "PersistentVolume", "persistentvolumes", false, &["pv"], &[]);
    pvs.status_subresource = true;
    let classes = builtin("storage.k8s.io", "v1", "StorageClass", "storageclasses", false, &["sc"], &[]);
    let mut out = vec![
        namespaces,
        builtin("", "v1", "ConfigMap", "configmaps", true, &["cm"], &[]),
        builtin("", "v1", "Secret", "secrets", true, &[], &["type"]),
        nodes,
        pods,
        builtin("", "v1", "Event", "events", true, &["ev"], &event_fields),
        builtin("", "v1", "ServiceAccount", "serviceaccounts", true, &["sa"], &[]),
        builtin("events.k8s.io", "v1", "Event", "events", true, &["ev"], &new_event_fields),
        builtin("coordination.k8s.io", "v1", "Lease", "leases", true, &[], &[]),
        crds,
        pvcs,
        pvs,
        classes,
    ];
    out.extend(workload_builtins());
    out
}

/// What a Helm chart installs (workloads, Services, RBAC, disruption budgets)
/// and the examples apply (Jobs).
/// Stored and served only: no controller acts on them (a Deployment never
/// creates pods, a Service gets no clusterIP, RBAC is not enforced).
fn workload_builtins() -> Vec<ResourceDef> {
    let with_status = |mut d: ResourceDef| {
        d.status_subresource = true;
        d
    };
    let all = |mut d: ResourceDef| {
        d.categories = vec!["all".into()];
        d
    };
    let rbac = "rbac.authorization.k8s.io";
    vec![
        all(with_status(builtin("apps", "v1", "Deployment", "deployments", true, &["deploy"], &[]))),
        all(with_status(builtin("apps", "v1", "StatefulSet", "statefulsets", true, &["sts"], &[]))),
        all(with_status(builtin("apps", "v1", "DaemonSet", "daemonsets", true, &["ds"], &[]))),
        all(with_status(builtin("", "v1", "Service", "services", true, &["svc"], &[]))),
        all(with_status(builtin("batch", "v1", "Job", "jobs", true, &[], &[]))),
        with_status(builtin(
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            true,
            &["pdb"],
            &[],
        )),
        builtin(rbac, "v1", "ClusterRole", "clusterroles", false, &[], &[]),
        builtin(rbac, "v1", "ClusterRoleBinding", "clusterrolebindings", false, &[], &[]),
        builtin(rbac, "v1", "Role", "roles", true, &[], &[]),
        builtin(rbac, "v1", "RoleBinding", "rolebindings", true, &[], &[]),
    ]
}

/// (group, version, plural) -> definition. A BTreeMap so discovery output is stable.
#[derive(Default)]
pub struct Registry {
    defs: RwLock<BTreeMap<(String, String, String), Arc<ResourceDef>>>,
}

impl Registry {
    pub fn with_builtins() -> Self {
        let reg = Self::default();
        for def in builtins() {
            reg.insert(def);
        }
        reg
    }

    pub fn insert(&self, def: ResourceDef) {
        let key = (def.group.clone(), def.version.clone(), def.plural.clone());
        self.defs.write().insert(key, Arc::new(def));
    }

    /// Removes every version of `plural.group`.
    pub fn remove(&self, group: &str, plural: &str) {
        self.defs.write().retain(|(g, _, p), _| !(g == group && p == plural));
    }

    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceDef>> {
        self.defs.read().get(&(group.to_string(), version.to_string(), plural.to_string())).cloned()
    }

    pub fn all(&self) -> Vec<Arc<ResourceDef>> {
        self.defs.read().values().cloned().collect()
    }

    /// Served group/versions, core first, with each group's versions in registration
    /// order of preference (the CRD's storage version is registered as preferred).
    pub fn group_versions(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for def in self.defs.read().values() {
            let versions = out.entry(def.group.clone()).or_default();
            if !versions.contains(&def.version) {
                versions.push(def.version.clone());
            }
        }
        // Kubernetes version priority, enough for v1 > v1beta1 > v1alpha1.
        for versions in out.values_mut() {
            versions.sort_by_key(|v| version_priority(v));
        }
        out
    }
}

/// Sort key: GA before beta before alpha, higher numbers first.
fn version_priority(v: &str) -> (u8, i64, i64) {
    let rest = v.strip_prefix('v').unwrap_or(v);
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let major: i64 = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    let (stage, minor) = if tail.is_empty() {
        (0, 0)
    } else if let Some(n) = tail.strip_prefix("beta") {
        (1, n.parse().unwrap_or(0))
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (2, n.parse().unwrap_or(0))
    } else {
        (3, 0)
    };
    (stage, -major, -minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_priority_orders_like_kubernetes() {
        let mut v = vec!["v1alpha1", "v2beta1", "v1", "v1beta2", "v2"];
        v.sort_by_key(|v| version_priority(v));
        assert_eq!(v, vec!["v2", "v1", "v2beta1", "v1beta2", "v1alpha1"]);
    }
}
