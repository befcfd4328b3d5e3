//! The placement controller's Prometheus metrics, under `gridshift_hub_policy_*`.
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use gridshift_core::placement::Ranking;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClusterLabels {
    /// `namespace/name` of the CarbonAwareKarmadaPolicy.
    pub policy: String,
    pub cluster: String,
    pub zone: String,
    /// "true" while the value is the zone's last one carried forward past its point.
    pub carried_forward: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SwitchLabels {
    pub policy: String,
    /// The decision that wrote the placement: Initial, AddIncoming, CompleteSwitch, …
    pub decision: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub policy: String,
    /// `api` (the Karmada API failed) or `serialization`.
    pub kind: String,
}

/// Cheap to clone; clones share the families. `default()` works unregistered (tests).
#[derive(Clone, Default)]
pub struct PolicyMetrics {
    pub cluster_intensity: Family<ClusterLabels, Gauge<f64, AtomicU64>>,
    pub cluster_active: Family<ClusterLabels, Gauge>,
    pub placement_writes: Family<SwitchLabels, Counter>,
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    pub leader: Gauge,
    /// The cluster label sets last exported per policy, to drop the ones that went away.
    exported: Arc<parking_lot::Mutex<HashMap<String, Vec<ClusterLabels>>>>,
}

impl PolicyMetrics {
    pub fn register(&self, registry: &mut Registry) {
        let m = self;
        let r = registry.sub_registry_with_prefix("gridshift_hub_policy");
        r.register(
            "cluster_intensity_gco2_per_kwh",
            "Carbon intensity each policy ranks each cluster by (valid clusters only)",
            m.cluster_intensity.clone(),
        );
        r.register("cluster_active", "1 when the policy places on the cluster", m.cluster_active.clone());
        r.register(
            "placement_writes",
            "Placement changes written to Karmada, by decision (CompleteSwitch counts finished switches)",
            m.placement_writes.clone(),
        );
        r.register("reconcile_errors", "Failed reconciles, by kind", m.reconcile_errors.clone());
        r.register("leader", "1 while this replica holds the lease and writes to Karmada", m.leader.clone());
    }

    /// Exports a policy's clusters from its ranking (the values it decided on, exactly);
    /// series whose labels no longer apply are removed.
    pub fn observe(&self, policy: &str, ranking: &Ranking, active: &[String]) {
        let mut now = Vec::new();
        for c in &ranking.clusters {
            let labels = ClusterLabels {
                policy: policy.into(),
                cluster: c.name.clone(),
                zone: c.zone.as_ref().map(ToString::to_string).unwrap_or_default(),
                carried_forward: c.carried_forward().to_string(),
            };
            match c.intensity {
                Some(v) => {
                    self.cluster_intensity.get_or_create(&labels).set(v);
                }
                None => {
                    self.cluster_intensity.remove(&labels);
                }
            }
            self.cluster_active.get_or_create(&labels).set(i64::from(active.contains(&c.name)));
            now.push(labels);
        }
        let before = self.exported.lock().insert(policy.to_string(), now.clone()).unwrap_or_default();
        for gone in before.iter().filter(|l| !now.contains(l)) {
            self.cluster_intensity.remove(gone);
            self.cluster_active.remove(gone);
        }
    }

    /// Drops every per-cluster series of a deleted policy.
    pub fn forget(&self, policy: &str) {
        for gone in self.exported.lock().remove(policy).unwrap_or_default() {
            self.cluster_intensity.remove(&gone);
            self.cluster_active.remove(&gone);
        }
    }

    pub(crate) fn wrote(&self, policy: &str, decision: &str) {
        self.placement_writes
            .get_or_create(&SwitchLabels { policy: policy.into(), decision: decision.into() })
            .inc();
    }

    pub(crate) fn failed(&self, policy: &str, kind: &str) {
        self.reconcile_errors.get_or_create(&ErrorLabels { policy: policy.into(), kind: kind.into() }).inc();
    }
}
