//! The sample workloads the demo and the end-to-end tests apply: Karmada
//! policies on the host, KEDA ScaledObjects with their scalers on every member.
use crate::fleet::Fleet;
use serde_json::{Value, json};

pub const NAMESPACE: &str = "demo";
/// A PropagationPolicy steered by a `clusterNames` policy (desiredClusters 1).
pub const BATCH_POLICY: &str = "batch-analytics";
/// A ClusterPropagationPolicy steered on the forecast mean (desiredClusters 2).
pub const WEB_POLICY: &str = "web-frontend";
pub const SCALED_OBJECT: &str = "video-transcoder";

/// KEDA caps per intensity bucket: (threshold gCO2/kWh, max replicas).
pub const CAPS: [(i64, i64); 3] = [(200, 40), (300, 20), (400, 10)];
pub const ECO_OFF_MAX: i64 = 40;

pub fn propagation_policy(name: &str, initial: &[&str]) -> Value {
    json!({
        "apiVersion": "policy.karmada.io/v1alpha1",
        "kind": "PropagationPolicy",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name}],
            "placement": {
                "clusterAffinity": {"clusterNames": initial},
                "replicaScheduling": {"replicaSchedulingType": "Duplicated"}
            }
        }
    })
}

pub fn cluster_propagation_policy(name: &str, initial: &[&str]) -> Value {
    let mut pp = propagation_policy(name, initial);
    pp["kind"] = json!("ClusterPropagationPolicy");
    pp["metadata"] = json!({"name": name});
    pp["spec"]["resourceSelectors"][0]["namespace"] = json!(NAMESPACE);
    pp
}

/// `clusterLocations` given explicitly (the original operator's form).
pub fn batch_carbon_policy(fleet: &Fleet) -> Value {
    let locations: Vec<Value> =
        fleet.members.iter().map(|m| json!({"name": m.name(), "location": m.primary_zone()})).collect();
    json!({
        "apiVersion": "gridshift.io/v1alpha1",
        "kind": "CarbonAwareKarmadaPolicy",
        "metadata": {"name": BATCH_POLICY, "namespace": NAMESPACE},
        "spec": {
            "clusterLocations": locations,
            "desiredClusters": 1,
            "karmadaTarget": "propagationpolicies.policy.karmada.io",
            "karmadaTargetRef": {"name": BATCH_POLICY, "namespace": NAMESPACE},
            "minImprovementPercent": 10.0,
            "minDwellSeconds": 3 * 3600,
            "makeBeforeBreakTimeoutSeconds": 600
        }
    })
}

/// No `clusterLocations`: the hub finds each cluster's zone from its Karmada
/// Cluster region; ranked on the mean of the next four hours.
pub fn web_carbon_policy() -> Value {
    json!({
        "apiVersion": "gridshift.io/v1alpha1",
        "kind": "CarbonAwareKarmadaPolicy",
        "metadata": {"name": WEB_POLICY, "namespace": NAMESPACE},
        "spec": {
            "clusterLocations": [],
            "desiredClusters": 2,
            "karmadaTarget": "clusterpropagationpolicies.policy.karmada.io",
            "karmadaTargetRef": {"name": WEB_POLICY},
            "ranking": {"signal": "forecastMean", "windowSeconds": 4 * 3600},
            "minImprovementPercent": 10.0,
            "minDwellSeconds": 6 * 3600
        }
    })
}

pub fn scaled_object() -> Value {
    json!({
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": SCALED_OBJECT, "namespace": NAMESPACE},
        "spec": {
            "scaleTargetRef": {"name": SCALED_OBJECT},
            "minReplicaCount": 2,
            "maxReplicaCount": 60,
            "triggers": [{"type": "rabbitmq", "metadata": {"queueName": "videos", "mode": "QueueLength", "value": "5"}}]
        }
    })
}

pub fn keda_scaler() -> Value {
    let buckets: Vec<Value> =
        CAPS.iter().map(|(t, m)| json!({"carbonIntensityThreshold": t, "maxReplicas": m})).collect();
    json!({
        "apiVersion": "gridshift.io/v1alpha1",
        "kind": "CarbonAwareKedaScaler",
        "metadata": {"name": SCALED_OBJECT, "namespace": NAMESPACE},
        "spec": {
            "kedaTarget": "scaledobjects.keda.sh",
            "kedaTargetRef": {"name": SCALED_OBJECT, "namespace": NAMESPACE},
            "carbonIntensityForecastDataSource": {},
            "maxReplicasByCarbonIntensity": buckets,
            "ecoModeOff": {"maxReplicas": ECO_OFF_MAX}
        }
    })
}

/// Applies the whole scenario to the fleet's clusters.
pub fn apply(fleet: &Fleet) -> anyhow::Result<()> {
    let first = fleet.members[0].name().to_string();
    let two: Vec<&str> = fleet.members.iter().take(2).map(|m| m.name()).collect();
    fleet.host.upsert(crate::objects::namespace(NAMESPACE))?;
    fleet.host.upsert(propagation_policy(BATCH_POLICY, &[&first]))?;
    fleet.host.upsert(cluster_propagation_policy(WEB_POLICY, &two))?;
    fleet.host.upsert(batch_carbon_policy(fleet))?;
    fleet.host.upsert(web_carbon_policy())?;
    for member in &fleet.members {
        member.sim.upsert(crate::objects::namespace(NAMESPACE))?;
        member.sim.upsert(scaled_object())?;
        member.sim.upsert(keda_scaler())?;
    }
    Ok(())
}
