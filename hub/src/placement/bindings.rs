//! Karmada ResourceBindings, read as plain JSON: which policy a binding belongs to, how to
//! find a policy's bindings, and which clusters they report serving. Pure.
//!
//! Karmada (v1.7+) links a binding to its policy with the policy's permanent-id label (set
//! by Karmada's webhook when the policy is created) and name/namespace annotations. Older
//! releases used name/namespace labels instead; both are understood.
use serde_json::Value;
use std::collections::BTreeSet;

pub const PP_PERMANENT_ID: &str = "propagationpolicy.karmada.io/permanent-id";
pub const CPP_PERMANENT_ID: &str = "clusterpropagationpolicy.karmada.io/permanent-id";
pub const PP_NAME: &str = "propagationpolicy.karmada.io/name";
pub const PP_NAMESPACE: &str = "propagationpolicy.karmada.io/namespace";
pub const CPP_NAME: &str = "clusterpropagationpolicy.karmada.io/name";

/// A Karmada policy, as bindings name it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PolicyKey {
    Propagation { namespace: String, name: String },
    ClusterPropagation { name: String },
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// `metadata.labels[key]` or `metadata.annotations[key]` (keys contain '/', so no pointer).
fn meta<'a>(v: &'a Value, field: &str, key: &str) -> Option<&'a str> {
    v.get("metadata")?.get(field)?.get(key)?.as_str().filter(|s| !s.is_empty())
}

fn label_or_annotation<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    meta(v, "annotations", key).or_else(|| meta(v, "labels", key))
}

/// The label selector that finds `policy`'s bindings: its permanent id when it has one,
/// else the name/namespace labels of older Karmada releases.
pub fn binding_selector(key: &PolicyKey, policy: &Value) -> String {
    match key {
        PolicyKey::Propagation { namespace, name } => match meta(policy, "labels", PP_PERMANENT_ID) {
            Some(id) => format!("{PP_PERMANENT_ID}={id}"),
            None => format!("{PP_NAMESPACE}={namespace},{PP_NAME}={name}"),
        },
        PolicyKey::ClusterPropagation { name } => match meta(policy, "labels", CPP_PERMANENT_ID) {
            Some(id) => format!("{CPP_PERMANENT_ID}={id}"),
            None => format!("{CPP_NAME}={name}"),
        },
    }
}

/// The policy a binding was made for.
pub fn binding_owner(binding: &Value) -> Option<PolicyKey> {
    if let (Some(namespace), Some(name)) =
        (label_or_annotation(binding, PP_NAMESPACE), label_or_annotation(binding, PP_NAME))
    {
        return Some(PolicyKey::Propagation { namespace: namespace.into(), name: name.into() });
    }
    label_or_annotation(binding, CPP_NAME).map(|name| PolicyKey::ClusterPropagation { name: name.into() })
}

/// The affinity group Karmada's scheduler settled on, for policies with `clusterAffinities`.
pub fn observed_affinity(bindings: &[Value]) -> Option<String> {
    bindings.iter().find_map(|b| str_at(b, "/status/schedulerObservedAffinityName")).map(str::to_string)
}

fn serves(binding: &Value, cluster: &str) -> bool {
    let scheduled = binding
        .pointer("/spec/clusters")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c.get("name").and_then(Value::as_str) == Some(cluster)));
    let healthy = binding.pointer("/status/aggregatedStatus").and_then(Value::as_array).is_some_and(|st| {
        st.iter().any(|s| {
            s.get("clusterName").and_then(Value::as_str) == Some(cluster)
                && s.get("applied").and_then(Value::as_bool) == Some(true)
                && s.get("health").and_then(Value::as_str) == Some("Healthy")
        })
    });
    // Scheduled too, so a status entry left over from an earlier placement does not count.
    scheduled && healthy
}

/// Those of `clusters` that every binding has scheduled and reports applied and healthy.
/// With no bindings (nothing selected yet) nothing can be interrupted, so all are ready.
pub fn ready_clusters<'a>(
    bindings: &[Value],
    clusters: impl IntoIterator<Item = &'a String>,
) -> BTreeSet<String> {
    clusters.into_iter().filter(|c| bindings.iter().all(|b| serves(b, c))).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn binding(clusters: &[&str], status: Value) -> Value {
        let clusters: Vec<Value> = clusters.iter().map(|c| json!({"name": c})).collect();
        json!({
            "metadata": {
                "name": "web-deployment", "namespace": "shop",
                "labels": {PP_PERMANENT_ID: "1234"},
                "annotations": {PP_NAME: "web", PP_NAMESPACE: "shop"}
            },
            "spec": {"clusters": clusters},
            "status": {"aggregatedStatus": status}
        })
    }

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ready_means_scheduled_applied_and_healthy_in_every_binding() {
        let a = binding(
            &["fr", "es", "de"],
            json!([
                {"clusterName": "fr", "applied": true, "health": "Healthy"},
                {"clusterName": "es", "applied": true, "health": "Unhealthy"},
                {"clusterName": "pl", "applied": true, "health": "Healthy"}
            ]),
        );
        let b = binding(&["fr"], json!([{"clusterName": "fr", "applied": true, "health": "Healthy"}]));
        let asked = set(&["fr", "es", "de", "pl"]);
        assert_eq!(
            ready_clusters(std::slice::from_ref(&a), &asked),
            set(&["fr"]),
            "pl is stale: not scheduled"
        );
        assert_eq!(ready_clusters(&[a, b.clone()], &asked), set(&["fr"]));
        let not_applied =
            binding(&["fr"], json!([{"clusterName": "fr", "applied": false, "health": "Healthy"}]));
        assert!(ready_clusters(&[b, not_applied], &asked).is_empty(), "every binding must serve it");
        assert_eq!(ready_clusters(&[], &asked), asked, "no bindings: nothing to interrupt");
    }

    #[test]
    fn selectors_and_owners_old_and_new_style() {
        let pp = PolicyKey::Propagation { namespace: "shop".into(), name: "web".into() };
        let with_id = json!({"metadata": {"labels": {PP_PERMANENT_ID: "1234"}}});
        assert_eq!(binding_selector(&pp, &with_id), format!("{PP_PERMANENT_ID}=1234"));
        assert_eq!(binding_selector(&pp, &json!({})), format!("{PP_NAMESPACE}=shop,{PP_NAME}=web"));
        let cpp = PolicyKey::ClusterPropagation { name: "global".into() };
        assert_eq!(binding_selector(&cpp, &json!({})), format!("{CPP_NAME}=global"));

        assert_eq!(binding_owner(&binding(&[], json!([]))), Some(pp.clone()));
        let old = json!({"metadata": {"labels": {PP_NAME: "web", PP_NAMESPACE: "shop"}}});
        assert_eq!(binding_owner(&old), Some(pp));
        let by_cpp = json!({"metadata": {"annotations": {CPP_NAME: "global"}}});
        assert_eq!(binding_owner(&by_cpp), Some(cpp));
        assert_eq!(binding_owner(&json!({"metadata": {}})), None);
    }

    #[test]
    fn observed_affinity_name() {
        let mut b = binding(&[], json!([]));
        assert_eq!(observed_affinity(std::slice::from_ref(&b)), None);
        b["status"]["schedulerObservedAffinityName"] = json!("backup");
        assert_eq!(observed_affinity(&[b]).as_deref(), Some("backup"));
    }
}
