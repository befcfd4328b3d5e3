//! KEDA replica caps by carbon intensity (what a CarbonAwareKedaScaler decides): the
//! rules as the CRD writes them and the pure [`decide`] that turns them, a forecast and
//! an instant into a `maxReplicaCount`.
//!
//! The rule types keep the field names of Azure's carbon-aware-keda-operator; the CRD
//! (`gridshift-api`) embeds them as they are, with their JSON schemas (feature `schema`).
pub mod decide;

pub use decide::{BucketError, CapDecision, EcoModeOffReason, InvalidSpec, bucket_for, decide};

use serde::{Deserialize, Serialize};

/// What caps a KEDA object: intensity buckets and when eco mode is off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapRules {
    pub max_replicas_by_carbon_intensity: Vec<CarbonIntensityConfig>,
    pub eco_mode_off: EcoModeOff,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct CarbonIntensityConfig {
    /// Upper bound (inclusive) of this bucket, gCO2eq/kWh.
    pub carbon_intensity_threshold: i32,
    pub max_replicas: i32,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct EcoModeOff {
    /// The cap while eco mode is off, and whenever data is missing or stale (invariant 4).
    pub max_replicas: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carbon_intensity_duration: Option<CarbonIntensityDuration>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_schedule: Vec<Schedule>,
    /// Five-field cron expressions, evaluated in UTC.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recurring_schedule: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct CarbonIntensityDuration {
    pub carbon_intensity_threshold: i32,
    /// Eco mode turns off once intensity has been >= the threshold this long; 0 disables.
    pub override_eco_after_duration_in_mins: i32,
}

/// A UTC window, RFC3339 strings as in the original (validated at decision time).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    pub start_time: String,
    pub end_time: String,
}

#[cfg(test)]
mod decide_tests;
