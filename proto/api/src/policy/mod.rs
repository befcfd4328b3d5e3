//! `CarbonAwareKarmadaPolicy` (gridshift.io/v1alpha1). The original
//! carbon-aware-karmada-operator field names are kept verbatim so an existing CR migrates by
//! changing only its apiVersion; everything we add is optional with a default.
//!
//! [`CarbonAwareKarmadaPolicySpec::policy`] is what the placement decisions read;
//! [`status`] turns a decision into the status users see.
pub mod status;

pub use gridshift_core::placement::ClusterLocation;
pub use status::{Evaluation, Observation, evaluate, evaluate_policy};

use gridshift_core::placement::{Candidate, Policy, RankBy, Settings};
use gridshift_core::{Signal, Zone};
use jiff::SignedDuration;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    crates(kube_core = "::kube_core"),
    group = "gridshift.io",
    version = "v1alpha1",
    kind = "CarbonAwareKarmadaPolicy",
    plural = "carbonawarekarmadapolicies",
    shortname = "cakp",
    namespaced,
    status = "CarbonAwareKarmadaPolicyStatus",
    printcolumn = r#"{"name":"Target","type":"string","jsonPath":".spec.karmadaTargetRef.name"}"#,
    printcolumn = r#"{"name":"Desired","type":"integer","jsonPath":".spec.desiredClusters"}"#,
    printcolumn = r#"{"name":"Active","type":"string","jsonPath":".status.activeClusters"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct CarbonAwareKarmadaPolicySpec {
    /// Member clusters and the grid zone each one draws power from.
    pub cluster_locations: Vec<ClusterLocation>,
    /// How many of the cleanest clusters the workload should run in.
    #[schemars(range(min = 1))]
    pub desired_clusters: u32,
    pub karmada_target: KarmadaTarget,
    pub karmada_target_ref: KarmadaTargetRef,

    // --- Gridshift extensions (all optional) ---
    #[serde(default)]
    pub ranking: RankingSpec,
    /// Relative improvement of the mean intensity (percent) a switch must bring.
    #[serde(default = "default_min_improvement_percent")]
    pub min_improvement_percent: f64,
    /// Minimum time between two switches, in seconds.
    #[serde(default = "default_min_dwell_seconds")]
    pub min_dwell_seconds: u64,
    /// How long an incoming cluster may take to become ready before the switch is abandoned.
    #[serde(default = "default_make_before_break_timeout_seconds")]
    pub make_before_break_timeout_seconds: u64,
    /// Used when no cluster has valid data; empty means "keep the current placement".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallback_clusters: Vec<String>,
    /// How long no cluster must have usable data before the move to `fallbackClusters`,
    /// in seconds.
    #[serde(default = "default_fallback_dwell_seconds")]
    pub fallback_dwell_seconds: u64,
    /// Which intensity the clusters are compared by: `average` (what the grid emits per
    /// kWh: Electricity Maps, UK Carbon Intensity) or `marginal` (what one more kWh emits:
    /// WattTime). Clusters whose zone reports the other kind are not ranked.
    #[serde(default)]
    pub signal: IntensitySignal,
    /// What happens to the target's placement when this policy is deleted: `Keep` it as
    /// it is, or `Restore` the placement it had before Gridshift first changed it.
    #[serde(default)]
    pub on_delete: OnDelete,
    #[serde(default)]
    pub placement_form: PlacementForm,
    /// Compute and report the decision, write nothing to Karmada.
    #[serde(default)]
    pub dry_run: bool,
}

fn default_min_improvement_percent() -> f64 {
    10.0
}
fn default_min_dwell_seconds() -> u64 {
    30 * 60
}
fn default_make_before_break_timeout_seconds() -> u64 {
    10 * 60
}
fn default_fallback_dwell_seconds() -> u64 {
    Settings::DEFAULT_FALLBACK_DWELL.as_secs().unsigned_abs()
}

/// The kind of carbon intensity a policy compares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum IntensitySignal {
    #[default]
    Average,
    Marginal,
}

impl From<IntensitySignal> for Signal {
    fn from(s: IntensitySignal) -> Self {
        match s {
            IntensitySignal::Average => Signal::Average,
            IntensitySignal::Marginal => Signal::Marginal,
        }
    }
}

/// What deleting a CarbonAwareKarmadaPolicy does to its target's placement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum OnDelete {
    /// Leave the placement as Gridshift last wrote it.
    #[default]
    Keep,
    /// Put back the placement recorded when Gridshift first changed the target.
    Restore,
}

/// The kind of Karmada policy a CR steers. Any other value is kept as written (so one odd CR
/// cannot break listing every CR) and reported through the TargetNotFound condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KarmadaTarget {
    PropagationPolicy,
    ClusterPropagationPolicy,
    Unknown(String),
}

impl KarmadaTarget {
    pub const PROPAGATION_POLICIES: &'static str = "propagationpolicies.policy.karmada.io";
    pub const CLUSTER_PROPAGATION_POLICIES: &'static str = "clusterpropagationpolicies.policy.karmada.io";

    pub fn as_str(&self) -> &str {
        match self {
            Self::PropagationPolicy => Self::PROPAGATION_POLICIES,
            Self::ClusterPropagationPolicy => Self::CLUSTER_PROPAGATION_POLICIES,
            Self::Unknown(other) => other,
        }
    }
}

impl From<&str> for KarmadaTarget {
    fn from(s: &str) -> Self {
        match s {
            Self::PROPAGATION_POLICIES => Self::PropagationPolicy,
            Self::CLUSTER_PROPAGATION_POLICIES => Self::ClusterPropagationPolicy,
            other => Self::Unknown(other.to_string()),
        }
    }
}

impl Serialize for KarmadaTarget {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for KarmadaTarget {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(String::deserialize(d)?.as_str().into())
    }
}

impl JsonSchema for KarmadaTarget {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "KarmadaTarget".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        // A plain string rather than an enum: an unknown kind is reported in the CR's status
        // (TargetNotFound) instead of being rejected at admission.
        schemars::json_schema!({
            "type": "string",
            "description": "propagationpolicies.policy.karmada.io or clusterpropagationpolicies.policy.karmada.io"
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KarmadaTargetRef {
    pub name: String,
    /// Ignored for a ClusterPropagationPolicy, which is looked up by name only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum RankingSignal {
    /// The intensity right now (the original operator's behaviour).
    #[default]
    Current,
    /// The forecast mean over `windowSeconds` from now (the workload's expected run time).
    ForecastMean,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RankingSpec {
    #[serde(default)]
    pub signal: RankingSignal,
    #[serde(default = "default_window_seconds")]
    pub window_seconds: u64,
}

impl Default for RankingSpec {
    fn default() -> Self {
        Self { signal: RankingSignal::default(), window_seconds: default_window_seconds() }
    }
}

fn default_window_seconds() -> u64 {
    3600
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum PlacementForm {
    /// Write `placement.clusterAffinity.clusterNames`.
    #[default]
    ClusterNames,
    /// Also write `replicaScheduling.weightPreference.staticWeightList`, weights from intensity
    /// (for Divided scheduling).
    Weighted,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CarbonAwareKarmadaPolicyStatus {
    #[serde(default)]
    pub active_clusters: Vec<String>,
    /// Every cluster, cleanest first; invalid ones last.
    #[serde(default)]
    pub clusters: Vec<ClusterStatus>,

    // --- Gridshift extensions ---
    /// Ready, DataStale, TargetNotFound, Switching.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_switch_time: Option<Time>,
    /// A make-before-break switch in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingStatus>,
    /// Mean intensity of the placement we left minus the one we chose (gCO2eq/kWh) at the last switch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_carbon_avoided: Option<f64>,
    /// Since when no cluster has had usable data (the fallback dwell counts from here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_data_since: Option<Time>,
    /// Placed on `fallbackClusters` for lack of data, until a move away completes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub on_fallback: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    pub name: String,
    pub location: String,
    pub is_valid: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carbon_intensity: Option<CarbonIntensity>,
    /// The zone reports only its latest value and its point has ended (or its refresh is
    /// late): the value is carried forward until newer data arrives or it turns stale
    /// (`validTo`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub carried_forward: bool,
    /// Set when the zone reports another signal than the policy's `signal` (why the
    /// cluster is not ranked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<IntensitySignal>,
}

/// As in the original operator: `value` a decimal string with two decimals ("50.00"),
/// `units` "gCO2e per kWh".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CarbonIntensity {
    pub units: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<Time>,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingStatus {
    /// Added and awaiting readiness.
    pub incoming: Vec<String>,
    /// Removed once every incoming cluster is ready.
    pub outgoing: Vec<String>,
    pub since: Time,
    /// The switch goes to `fallbackClusters` for lack of data.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub to_fallback: bool,
}

impl CarbonAwareKarmadaPolicySpec {
    /// What the placement decisions read, with each cluster's zone as declared (an empty
    /// or malformed `location` names no zone; the controller locates such clusters).
    pub fn policy(&self) -> Policy {
        Policy {
            clusters: self
                .cluster_locations
                .iter()
                .map(|c| Candidate { name: c.name.clone(), zone: Zone::new(c.location.trim()).ok() })
                .collect(),
            rank_by: self.rank_by(),
            signal: self.signal.into(),
            settings: self.settings(),
            dry_run: self.dry_run,
        }
    }

    pub fn settings(&self) -> Settings {
        let secs = |s: u64| SignedDuration::from_secs(i64::try_from(s).unwrap_or(i64::MAX));
        Settings {
            desired_clusters: self.desired_clusters as usize,
            min_improvement_percent: self.min_improvement_percent,
            min_dwell: secs(self.min_dwell_seconds),
            make_before_break_timeout: secs(self.make_before_break_timeout_seconds),
            fallback_clusters: self.fallback_clusters.clone(),
            fallback_dwell: secs(self.fallback_dwell_seconds),
            refresh_settle: Settings::DEFAULT_REFRESH_SETTLE,
        }
    }

    pub fn rank_by(&self) -> RankBy {
        match self.ranking.signal {
            RankingSignal::Current => RankBy::Current,
            RankingSignal::ForecastMean => RankBy::ForecastMean(SignedDuration::from_secs(
                i64::try_from(self.ranking.window_seconds).unwrap_or(i64::MAX),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube_core::CustomResourceExt;

    #[test]
    fn original_operator_cr_parses_with_defaults() {
        // A CR written for carbon-aware-karmada-operator, apiVersion aside.
        let spec: CarbonAwareKarmadaPolicySpec = serde_json::from_value(serde_json::json!({
            "clusterLocations": [{"name": "member1", "location": "DE"}],
            "desiredClusters": 1,
            "karmadaTarget": "propagationpolicies.policy.karmada.io",
            "karmadaTargetRef": {"name": "nginx", "namespace": "default"}
        }))
        .unwrap();
        assert_eq!(spec.karmada_target, KarmadaTarget::PropagationPolicy);
        assert_eq!(spec.ranking, RankingSpec::default());
        assert_eq!(spec.placement_form, PlacementForm::ClusterNames);
        assert!(!spec.dry_run && spec.fallback_clusters.is_empty());
        assert_eq!((spec.signal, spec.on_delete), (IntensitySignal::Average, OnDelete::Keep));
        assert_eq!(spec.fallback_dwell_seconds, 900);
        assert_eq!(spec.min_dwell_seconds, default_min_dwell_seconds());
    }

    #[test]
    fn crd_identity() {
        let crd = CarbonAwareKarmadaPolicy::crd();
        assert_eq!(crd.metadata.name.as_deref(), Some("carbonawarekarmadapolicies.gridshift.io"));
        assert_eq!(crd.spec.scope, "Namespaced");
        let v = &crd.spec.versions[0];
        assert_eq!(v.name, "v1alpha1");
        assert!(v.subresources.as_ref().and_then(|s| s.status.as_ref()).is_some());
        assert!(v.additional_printer_columns.as_ref().is_some_and(|c| c.len() == 5));
    }
}
