//! What a reconcile tells the user (invariant 7): the CR's status and conditions, and the
//! events worth emitting for a change. Pure: built from the outcome and the previous
//! status, so a reconcile that changes nothing writes nothing and emits nothing.
use super::crd::CarbonAwareKedaScalerStatus as Status;
use super::decide::{CapDecision, InvalidSpec};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use serde_json::{Map, Value};

/// Whether the CR's cap is in force; reason says why not.
pub const READY: &str = "Ready";
/// Whether the configured forecast source has data.
pub const FORECAST_AVAILABLE: &str = "ForecastAvailable";

/// What a reconcile found and did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The decision's cap is on the target; `written` when this reconcile changed it.
    Applied {
        decision: CapDecision,
        written: bool,
    },
    /// The target is paused: nothing written.
    Paused {
        decision: CapDecision,
        why: String,
    },
    /// The spec cannot be acted on: nothing written.
    Invalid(InvalidSpec),
    TargetNotFound,
    /// Another CarbonAwareKedaScaler already caps the target: nothing written.
    Claimed {
        by: String,
    },
}

/// A Kubernetes event to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub warning: bool,
    pub reason: &'static str,
    pub message: String,
}

/// The status after `outcome`, with conditions stamped `generation` and `now`.
pub fn next_status(
    prev: &Status,
    outcome: &Outcome,
    target: &str,
    forecast_problem: Option<&str>,
    generation: Option<i64>,
    now: Timestamp,
) -> Status {
    let mut s = prev.clone();
    s.observed_generation = generation;
    let mut report = |d: &CapDecision| {
        s.carbon_intensity = d.intensity;
        s.bucket = d.bucket.and_then(|b| u32::try_from(b).ok());
        s.eco_mode_off = Some(d.eco_mode_off.is_some());
        s.eco_mode_off_reason = d.eco_mode_off.as_ref().map(ToString::to_string);
    };
    let (ready, reason, message) = match outcome {
        Outcome::Applied { decision, .. } => {
            report(decision);
            s.applied_max_replicas = Some(decision.max_replicas);
            let reason = if decision.eco_mode_off.is_some() { "EcoModeOff" } else { "CapApplied" };
            (true, reason, format!("{target}: {}", decision.reason))
        }
        Outcome::Paused { decision, why } => {
            report(decision);
            (false, "TargetPaused", format!("{target} is paused ({why}); its maxReplicaCount is left alone"))
        }
        Outcome::Invalid(e) => (false, "InvalidSpec", format!("{e}; nothing is written until it is fixed")),
        Outcome::TargetNotFound => (false, "TargetNotFound", format!("{target} not found")),
        Outcome::Claimed { by } => {
            (false, "TargetClaimed", format!("{target} is already capped by CarbonAwareKedaScaler {by}"))
        }
    };
    set_condition(&mut s.conditions, READY, ready, reason, &message, generation, now);
    let (ok, reason, message) = match forecast_problem {
        None => (true, "ForecastAvailable", "forecast data available".to_owned()),
        Some(p) => (false, "NoForecast", format!("{p}; ecoModeOff.maxReplicas applies")),
    };
    set_condition(&mut s.conditions, FORECAST_AVAILABLE, ok, reason, &message, generation, now);
    s
}

/// Events for the change from `prev` to `next`.
pub fn notes(prev: &Status, next: &Status, outcome: &Outcome) -> Vec<Note> {
    let mut out = Vec::new();
    let ready = |s: &Status| find(&s.conditions, READY).map(|c| (c.reason.clone(), c.message.clone()));
    let (before, after) = (ready(prev), ready(next));
    match outcome {
        Outcome::Applied { written: true, .. } => {
            let (_, message) = after.clone().unwrap_or_default();
            out.push(Note { warning: false, reason: "MaxReplicaCountReconciled", message });
        }
        Outcome::Applied { .. } => {}
        _ if before != after => {
            let (reason, message) = after.clone().unwrap_or_default();
            let reason = match reason.as_str() {
                "TargetPaused" => "TargetPaused",
                "InvalidSpec" => "InvalidSpec",
                "TargetClaimed" => "TargetClaimed",
                _ => "TargetNotFound",
            };
            out.push(Note { warning: reason != "TargetPaused", reason, message });
        }
        _ => {}
    }
    match (prev.eco_mode_off, next.eco_mode_off) {
        (Some(true), Some(false)) => out.push(Note {
            warning: false,
            reason: "EcoModeEnabled",
            message: "eco mode is on again: the carbon-aware cap applies".into(),
        }),
        (None | Some(false), Some(true)) => out.push(Note {
            warning: true,
            reason: "EcoModeDisabled",
            message: format!(
                "eco mode disabled: {}",
                next.eco_mode_off_reason.as_deref().unwrap_or("unknown")
            ),
        }),
        _ => {}
    }
    out
}

fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Sets a condition, keeping `lastTransitionTime` while its status does not change.
fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    ok: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) {
    let status = if ok { "True" } else { "False" };
    let since =
        find(conditions, type_).filter(|c| c.status == status).map(|c| c.last_transition_time.clone());
    let c = Condition {
        last_transition_time: since.unwrap_or(Time(Timestamp::from_second(now.as_second()).unwrap_or(now))),
        message: message.to_owned(),
        observed_generation: generation,
        reason: reason.to_owned(),
        status: status.to_owned(),
        type_: type_.to_owned(),
    };
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(slot) => *slot = c,
        None => conditions.push(c),
    }
}

/// A JSON merge patch turning `prev` into `next` at the top level: fields `next` drops
/// are sent as null (a plain serialization would skip them and leave the old value).
pub fn merge_patch(prev: &Status, next: &Status) -> Value {
    let as_map = |s: &Status| match serde_json::to_value(s) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let (old, mut new) = (as_map(prev), as_map(next));
    for key in old.keys() {
        new.entry(key.clone()).or_insert(Value::Null);
    }
    serde_json::json!({ "status": new })
}
