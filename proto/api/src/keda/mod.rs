//! The `CarbonAwareKedaScaler` custom resource (group `gridshift.io`, `v1alpha1`).
//!
//! Field names match Azure's carbon-aware-keda-operator exactly; our additions live in
//! `status` only, so a CR written for the original works here unchanged. The cap rules
//! are `gridshift_core::caps` types, embedded as they are; [`status`] renders a reconcile.
pub mod status;

pub use gridshift_core::caps::{
    CapRules, CarbonIntensityConfig, CarbonIntensityDuration, EcoModeOff, Schedule,
};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    crates(kube_core = "::kube_core"),
    group = "gridshift.io",
    version = "v1alpha1",
    kind = "CarbonAwareKedaScaler",
    namespaced,
    status = "CarbonAwareKedaScalerStatus",
    shortname = "caks",
    printcolumn(name = "Target", type_ = "string", json_path = ".spec.kedaTargetRef.name"),
    printcolumn(name = "Intensity", type_ = "number", json_path = ".status.carbonIntensity"),
    printcolumn(name = "MaxReplicas", type_ = "integer", json_path = ".status.appliedMaxReplicas"),
    printcolumn(name = "EcoModeOff", type_ = "boolean", json_path = ".status.ecoModeOff"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct CarbonAwareKedaScalerSpec {
    /// Kind of KEDA object to cap.
    pub keda_target: KedaTarget,
    pub keda_target_ref: KedaTargetRef,
    /// Where the forecast comes from; empty means the hub stream (Gridshift's default).
    #[serde(default)]
    pub carbon_intensity_forecast_data_source: CarbonIntensityForecastDataSource,
    /// Upper bounds of intensity buckets, any order (sorted ascending before use).
    #[schemars(length(min = 1))]
    pub max_replicas_by_carbon_intensity: Vec<CarbonIntensityConfig>,
    pub eco_mode_off: EcoModeOff,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum KedaTarget {
    #[serde(rename = "scaledobjects.keda.sh")]
    ScaledObjects,
    #[serde(rename = "scaledjobs.keda.sh")]
    ScaledJobs,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct KedaTargetRef {
    pub name: String,
    pub namespace: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CarbonIntensityForecastDataSource {
    /// Synthetic data, for demos (as in the original).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mock_carbon_forecast: bool,
    /// Any ConfigMap in the exporter format, so the agent also works without a hub.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_config_map: Option<LocalConfigMap>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct LocalConfigMap {
    pub name: String,
    pub namespace: String,
    /// `binaryData` key holding the JSON forecast (the exporter uses `data`).
    pub key: String,
}

/// What the controller last decided and why (invariant 7). Absent fields mean "not yet known".
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CarbonAwareKedaScalerStatus {
    /// Intensity of the current forecast point, gCO2eq/kWh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carbon_intensity: Option<f64>,
    /// Index of the bucket in ascending-threshold order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<u32>,
    /// The `maxReplicaCount` last written to the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_max_replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eco_mode_off: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eco_mode_off_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

impl CarbonAwareKedaScalerSpec {
    /// What the cap decision reads.
    pub fn cap_rules(&self) -> CapRules {
        CapRules {
            max_replicas_by_carbon_intensity: self.max_replicas_by_carbon_intensity.clone(),
            eco_mode_off: self.eco_mode_off.clone(),
        }
    }
}

#[cfg(test)]
mod tests;
