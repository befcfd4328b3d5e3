//! JSON merge patches (RFC 7386) for a Karmada PropagationPolicy / ClusterPropagationPolicy.
//! We own only the cluster names (and, in the weighted form, the static weights); every
//! other placement field is the user's and must survive, so patches name nothing else.
use gridshift_api::policy::{CarbonAwareKarmadaPolicySpec, KarmadaTarget};
use serde_json::{Map, Value, json};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// Invariant 1: an empty clusterNames means ALL clusters to Karmada.
    #[error("refusing to write an empty placement")]
    EmptyPlacement,
    #[error("the target policy has no spec.placement object")]
    NoPlacement,
    #[error("weighted placement needs replicaScheduling Divided without dynamicWeight")]
    NotStaticWeighted,
}

/// Where the target policy lives. A ClusterPropagationPolicy is cluster-scoped and looked
/// up by name only, whatever namespace the CR names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRef {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub namespace: Option<String>,
    pub name: String,
}

/// A `karmadaTarget` that is neither Karmada policy kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown karmadaTarget {0:?}: expected propagationpolicies.policy.karmada.io or clusterpropagationpolicies.policy.karmada.io"
)]
pub struct UnknownTargetKind(pub String);

pub fn target_ref(
    spec: &CarbonAwareKarmadaPolicySpec,
    cr_namespace: &str,
) -> Result<TargetRef, UnknownTargetKind> {
    let r = &spec.karmada_target_ref;
    let (kind, namespace) = match &spec.karmada_target {
        KarmadaTarget::PropagationPolicy => {
            ("PropagationPolicy", Some(r.namespace.clone().unwrap_or_else(|| cr_namespace.to_string())))
        }
        KarmadaTarget::ClusterPropagationPolicy => ("ClusterPropagationPolicy", None),
        KarmadaTarget::Unknown(other) => return Err(UnknownTargetKind(other.clone())),
    };
    Ok(TargetRef { api_version: "policy.karmada.io/v1alpha1", kind, namespace, name: r.name.clone() })
}

fn placement(policy: &Value) -> Result<&Map<String, Value>, PlacementError> {
    policy.pointer("/spec/placement").and_then(Value::as_object).ok_or(PlacementError::NoPlacement)
}

/// The index of the affinity group to edit when the policy uses `clusterAffinities`: the
/// one the scheduler observed (ResourceBinding `status.schedulerObservedAffinityName`),
/// else the first. `None` when the policy uses the single `clusterAffinity`.
fn affinity_group<'a>(
    placement: &'a Map<String, Value>,
    observed: Option<&str>,
) -> Option<(usize, &'a Vec<Value>)> {
    let groups = placement.get("clusterAffinities")?.as_array().filter(|g| !g.is_empty())?;
    let idx = observed
        .and_then(|name| {
            groups.iter().position(|g| g.get("affinityName").and_then(Value::as_str) == Some(name))
        })
        .unwrap_or(0);
    Some((idx, groups))
}

fn names_of(affinity: Option<&Value>) -> Vec<String> {
    affinity
        .and_then(|a| a.get("clusterNames"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// The cluster names currently placed on (from the group we would edit).
pub fn current_cluster_names(policy: &Value, observed_affinity: Option<&str>) -> Vec<String> {
    let Ok(p) = placement(policy) else { return vec![] };
    match affinity_group(p, observed_affinity) {
        Some((idx, groups)) => names_of(groups.get(idx)),
        None => names_of(p.get("clusterAffinity")),
    }
}

/// The `spec.placement` part of the patch that sets the cluster names.
fn names_patch(
    policy: &Value,
    clusters: &[String],
    observed_affinity: Option<&str>,
) -> Result<Map<String, Value>, PlacementError> {
    if clusters.is_empty() {
        return Err(PlacementError::EmptyPlacement);
    }
    let p = placement(policy)?;
    let mut out = Map::new();
    match affinity_group(p, observed_affinity) {
        Some((idx, groups)) => {
            // A merge patch replaces arrays wholesale: resend every group, edit only ours.
            let mut groups = groups.clone();
            if let Some(obj) = groups[idx].as_object_mut() {
                obj.insert("clusterNames".into(), json!(clusters));
            }
            out.insert("clusterAffinities".into(), Value::Array(groups));
        }
        None => {
            out.insert("clusterAffinity".into(), json!({ "clusterNames": clusters }));
        }
    }
    Ok(out)
}

fn wrap(policy: &Value, placement: Map<String, Value>) -> Value {
    let mut patch = json!({ "spec": { "placement": placement } });
    // Resending the whole clusterAffinities array could undo a concurrent edit; pinning the
    // resourceVersion turns that race into a 409 the controller retries.
    if placement.contains_key("clusterAffinities")
        && let Some(rv) = policy.pointer("/metadata/resourceVersion")
    {
        patch["metadata"] = json!({ "resourceVersion": rv });
    }
    patch
}

/// Merge patch setting the placement to exactly `clusters`.
pub fn cluster_names_patch(
    policy: &Value,
    clusters: &[String],
    observed_affinity: Option<&str>,
) -> Result<Value, PlacementError> {
    Ok(wrap(policy, names_patch(policy, clusters, observed_affinity)?))
}

/// Merge patch setting the cluster names and `replicaScheduling.weightPreference.staticWeightList`.
pub fn weighted_patch(
    policy: &Value,
    weights: &[(String, i64)],
    observed_affinity: Option<&str>,
) -> Result<Value, PlacementError> {
    let p = placement(policy)?;
    let rs = p.get("replicaScheduling");
    let divided = rs.and_then(|r| r.get("replicaSchedulingType")).and_then(Value::as_str) == Some("Divided");
    let dynamic = rs.and_then(|r| r.pointer("/weightPreference/dynamicWeight")).is_some_and(|d| !d.is_null());
    if !divided || dynamic {
        return Err(PlacementError::NotStaticWeighted);
    }
    let names: Vec<String> = weights.iter().map(|(n, _)| n.clone()).collect();
    let mut out = names_patch(policy, &names, observed_affinity)?;
    let list: Vec<Value> = weights
        .iter()
        .map(|(n, w)| json!({ "targetCluster": { "clusterNames": [n] }, "weight": w }))
        .collect();
    out.insert("replicaScheduling".into(), json!({ "weightPreference": { "staticWeightList": list } }));
    Ok(wrap(policy, out))
}

/// Static weights inversely proportional to intensity: the cleanest cluster gets 100, a
/// cluster twice as dirty 50; never below 1, since Karmada drops weight-0 entries.
pub fn weights_from_intensity(clusters: &[(String, f64)]) -> Vec<(String, i64)> {
    let min = clusters.iter().map(|(_, v)| *v).fold(f64::INFINITY, f64::min);
    clusters
        .iter()
        .map(|(n, v)| {
            let w = if *v <= 0.0 { 100.0 } else { 100.0 * min.max(0.0) / v };
            (n.clone(), (w.round() as i64).clamp(1, 100))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7386, as the API server applies it.
    fn merge(target: &mut Value, patch: &Value) {
        let Value::Object(p) = patch else {
            *target = patch.clone();
            return;
        };
        if !target.is_object() {
            *target = json!({});
        }
        let t = target.as_object_mut().unwrap();
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn preserves_selectors_and_exclude() {
        let policy = json!({"spec": {"placement": {
            "clusterAffinity": {
                "clusterNames": ["de"],
                "labelSelector": {"matchLabels": {"tier": "prod"}},
                "fieldSelector": {"matchExpressions": [{"key": "provider", "operator": "In", "values": ["aws"]}]},
                "exclude": ["legacy"]
            },
            "spreadConstraints": [{"spreadByField": "cluster", "maxGroups": 2}]
        }, "resourceSelectors": [{"kind": "Deployment", "name": "nginx"}]}});
        let patch = cluster_names_patch(&policy, &names(&["es", "fr"]), None).unwrap();
        assert_eq!(
            patch,
            json!({"spec": {"placement": {"clusterAffinity": {"clusterNames": ["es", "fr"]}}}})
        );
        let mut after = policy.clone();
        merge(&mut after, &patch);
        let mut expected = policy.clone();
        expected["spec"]["placement"]["clusterAffinity"]["clusterNames"] = json!(["es", "fr"]);
        assert_eq!(after, expected);
        assert_eq!(current_cluster_names(&after, None), ["es", "fr"]);
    }

    #[test]
    fn cluster_affinities_edited_in_observed_group() {
        let policy = json!({"metadata": {"resourceVersion": "42"}, "spec": {"placement": {"clusterAffinities": [
            {"affinityName": "primary", "clusterNames": ["de"], "labelSelector": {"matchLabels": {"a": "b"}}},
            {"affinityName": "backup", "clusterNames": ["pl"], "exclude": ["x"]}
        ]}}});
        let patch = cluster_names_patch(&policy, &names(&["fr"]), Some("backup")).unwrap();
        assert!(patch.pointer("/spec/placement/clusterAffinity").is_none(), "never a second affinity field");
        assert_eq!(patch.pointer("/metadata/resourceVersion"), Some(&json!("42")));
        let mut after = policy.clone();
        merge(&mut after, &patch);
        let groups = after.pointer("/spec/placement/clusterAffinities").unwrap();
        assert_eq!(groups[0], policy["spec"]["placement"]["clusterAffinities"][0], "other group untouched");
        assert_eq!(groups[1], json!({"affinityName": "backup", "clusterNames": ["fr"], "exclude": ["x"]}));
        assert_eq!(current_cluster_names(&after, Some("backup")), ["fr"]);

        // Unknown or absent observed name: the first group.
        let first = cluster_names_patch(&policy, &names(&["es"]), Some("gone")).unwrap();
        assert_eq!(first.pointer("/spec/placement/clusterAffinities/0/clusterNames"), Some(&json!(["es"])));
        assert_eq!(first.pointer("/spec/placement/clusterAffinities/1/clusterNames"), Some(&json!(["pl"])));
    }

    #[test]
    fn refuses_empty_or_missing_placement() {
        let policy = json!({"spec": {"placement": {"clusterAffinity": {"clusterNames": ["de"]}}}});
        assert_eq!(cluster_names_patch(&policy, &[], None), Err(PlacementError::EmptyPlacement));
        assert_eq!(
            cluster_names_patch(&json!({"spec": {}}), &names(&["de"]), None),
            Err(PlacementError::NoPlacement)
        );
        assert!(current_cluster_names(&json!({}), None).is_empty());
    }

    #[test]
    fn weighted_form_writes_static_weights_only() {
        let policy = json!({"spec": {"placement": {
            "clusterAffinity": {"clusterNames": ["de"], "labelSelector": {"matchLabels": {"a": "b"}}},
            "replicaScheduling": {"replicaSchedulingType": "Divided", "replicaDivisionPreference": "Weighted",
                "weightPreference": {"staticWeightList": []}}
        }}});
        let w = weights_from_intensity(&[("fr".into(), 50.0), ("es".into(), 125.0), ("de".into(), 10_000.0)]);
        assert_eq!(w, [("fr".into(), 100), ("es".into(), 40), ("de".into(), 1)]);
        let patch = weighted_patch(&policy, &w[..2], None).unwrap();
        let mut after = policy.clone();
        merge(&mut after, &patch);
        let rs = &after["spec"]["placement"]["replicaScheduling"];
        assert_eq!(rs["replicaDivisionPreference"], "Weighted");
        assert_eq!(
            rs["weightPreference"]["staticWeightList"][1],
            json!({"targetCluster": {"clusterNames": ["es"]}, "weight": 40})
        );
        assert_eq!(current_cluster_names(&after, None), ["fr", "es"]);
        assert_eq!(
            after["spec"]["placement"]["clusterAffinity"]["labelSelector"],
            json!({"matchLabels": {"a": "b"}})
        );

        let duplicated = json!({"spec": {"placement": {"clusterAffinity": {}}}});
        assert_eq!(weighted_patch(&duplicated, &w, None), Err(PlacementError::NotStaticWeighted));
    }

    #[test]
    fn cluster_propagation_policy_by_name_only() {
        let mut spec: CarbonAwareKarmadaPolicySpec = serde_json::from_value(json!({
            "clusterLocations": [], "desiredClusters": 1,
            "karmadaTarget": "clusterpropagationpolicies.policy.karmada.io",
            "karmadaTargetRef": {"name": "global", "namespace": "ignored"}
        }))
        .unwrap();
        let t = target_ref(&spec, "team-a").unwrap();
        assert_eq!((t.kind, t.namespace, t.name.as_str()), ("ClusterPropagationPolicy", None, "global"));
        spec.karmada_target = KarmadaTarget::PropagationPolicy;
        spec.karmada_target_ref.namespace = None;
        assert_eq!(target_ref(&spec, "team-a").unwrap().namespace.as_deref(), Some("team-a"));
    }

    #[test]
    fn unknown_target_kind_is_an_error_not_a_guess() {
        let spec: CarbonAwareKarmadaPolicySpec = serde_json::from_value(json!({
            "clusterLocations": [], "desiredClusters": 1,
            "karmadaTarget": "deployments.apps",
            "karmadaTargetRef": {"name": "web"}
        }))
        .unwrap();
        assert_eq!(spec.karmada_target, KarmadaTarget::Unknown("deployments.apps".into()));
        let err = target_ref(&spec, "default").unwrap_err();
        assert!(err.to_string().contains("\"deployments.apps\""), "{err}");
        // It round-trips as written.
        assert_eq!(serde_json::to_value(&spec.karmada_target).unwrap(), json!("deployments.apps"));
    }
}
