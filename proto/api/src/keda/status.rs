//! What a reconcile tells the user (invariant 7): the CR's status and conditions, and the
//! events worth emitting for a change. Pure: built from the outcome and the previous
//! status, so a reconcile that changes nothing writes nothing and emits nothing.
use super::CarbonAwareKedaScalerStatus as Status;
use crate::conditions::keda::{
    CAP_APPLIED, ECO_MODE_OFF, FORECAST_AVAILABLE, INVALID_SPEC, NO_FORECAST, TARGET_CLAIMED,
    TARGET_NOT_FOUND, TARGET_PAUSED,
};
use crate::conditions::{READY, find, set_condition};
use gridshift_core::caps::{CapDecision, InvalidSpec};
use jiff::Timestamp;
use serde_json::{Map, Value};

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
            let reason = if decision.eco_mode_off.is_some() { ECO_MODE_OFF } else { CAP_APPLIED };
            (true, reason, format!("{target}: {}", decision.reason))
        }
        Outcome::Paused { decision, why } => {
            report(decision);
            (false, TARGET_PAUSED, format!("{target} is paused ({why}); its maxReplicaCount is left alone"))
        }
        Outcome::Invalid(e) => (false, INVALID_SPEC, format!("{e}; nothing is written until it is fixed")),
        Outcome::TargetNotFound => (false, TARGET_NOT_FOUND, format!("{target} not found")),
        Outcome::Claimed { by } => {
            (false, TARGET_CLAIMED, format!("{target} is already capped by CarbonAwareKedaScaler {by}"))
        }
    };
    set_condition(&mut s.conditions, READY, ready, reason, message, generation, now);
    let (ok, reason, message) = match forecast_problem {
        None => (true, FORECAST_AVAILABLE, "forecast data available".to_owned()),
        Some(p) => (false, NO_FORECAST, format!("{p}; ecoModeOff.maxReplicas applies")),
    };
    set_condition(&mut s.conditions, FORECAST_AVAILABLE, ok, reason, message, generation, now);
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
                TARGET_PAUSED => TARGET_PAUSED,
                INVALID_SPEC => INVALID_SPEC,
                TARGET_CLAIMED => TARGET_CLAIMED,
                _ => TARGET_NOT_FOUND,
            };
            out.push(Note { warning: reason != TARGET_PAUSED, reason, message });
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

#[cfg(test)]
mod tests {
    use super::*;
    use gridshift_core::caps::EcoModeOffReason;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("ts")
    }

    fn decision(max: i32, intensity: Option<f64>, off: Option<EcoModeOffReason>) -> CapDecision {
        CapDecision {
            max_replicas: max,
            bucket: intensity.map(|_| 1),
            intensity,
            eco_mode_off: off,
            clamped_to_min: false,
            reason: format!("cap {max}"),
            next_review: None,
        }
    }

    #[test]
    fn conditions_keep_their_transition_time_while_unchanged() {
        let applied = Outcome::Applied { decision: decision(20, Some(67.0), None), written: true };
        let s1 = next_status(
            &Status::default(),
            &applied,
            "ScaledObject d/so",
            None,
            Some(1),
            ts("2026-03-02T12:00:00Z"),
        );
        let again = Outcome::Applied { decision: decision(10, Some(101.0), None), written: true };
        let s2 = next_status(&s1, &again, "ScaledObject d/so", None, Some(2), ts("2026-03-02T13:00:00Z"));
        let ready = find(&s2.conditions, READY).expect("Ready");
        assert_eq!((ready.status.as_str(), ready.observed_generation), ("True", Some(2)));
        assert_eq!(ready.last_transition_time.0, ts("2026-03-02T12:00:00Z"), "still True since the first");
        assert_eq!(ready.message, "ScaledObject d/so: cap 10");
        let paused = Outcome::Paused { decision: decision(10, Some(101.0), None), why: "p".into() };
        let s3 = next_status(&s2, &paused, "ScaledObject d/so", None, Some(2), ts("2026-03-02T14:00:00Z"));
        let ready = find(&s3.conditions, READY).expect("Ready");
        assert_eq!((ready.status.as_str(), ready.reason.as_str()), ("False", "TargetPaused"));
        assert_eq!(ready.last_transition_time.0, ts("2026-03-02T14:00:00Z"));
        assert_eq!(s3.applied_max_replicas, Some(10), "what is on the target, not what would be");
    }

    #[test]
    fn events_only_for_changes() {
        let now = ts("2026-03-02T12:00:00Z");
        let off = Outcome::Applied {
            decision: decision(55, None, Some(EcoModeOffReason::NoForecast)),
            written: true,
        };
        let s1 = next_status(&Status::default(), &off, "t", Some("no data"), Some(1), now);
        let reasons = |n: Vec<Note>| n.into_iter().map(|n| n.reason).collect::<Vec<_>>();
        assert_eq!(
            reasons(notes(&Status::default(), &s1, &off)),
            ["MaxReplicaCountReconciled", "EcoModeDisabled"]
        );
        let same = Outcome::Applied {
            decision: decision(55, None, Some(EcoModeOffReason::NoForecast)),
            written: false,
        };
        let s2 = next_status(&s1, &same, "t", Some("no data"), Some(1), now);
        assert_eq!(s2, s1, "nothing to write");
        assert!(notes(&s1, &s2, &same).is_empty(), "nothing to say");
        let invalid = Outcome::Invalid(InvalidSpec::NoThresholds);
        let s3 = next_status(&s2, &invalid, "t", None, Some(2), now);
        let n = notes(&s2, &s3, &invalid);
        assert_eq!((n.len(), n[0].reason, n[0].warning), (1, "InvalidSpec", true));
        assert!(notes(&s3, &next_status(&s3, &invalid, "t", None, Some(2), now), &invalid).is_empty());
    }

    #[test]
    fn merge_patch_clears_dropped_fields() {
        let prev = Status { carbon_intensity: Some(67.0), bucket: Some(1), ..Status::default() };
        let next = Status { bucket: Some(2), ..Status::default() };
        let patch = merge_patch(&prev, &next);
        assert!(patch["status"]["carbonIntensity"].is_null());
        assert!(patch["status"].as_object().expect("object").contains_key("carbonIntensity"));
        assert_eq!(patch["status"]["bucket"], 2);
    }
}
