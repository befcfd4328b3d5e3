//! Status conditions: their types and reasons as constants (what users filter and alert
//! on must never change by accident), and the one way a condition is set.
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// Both CRDs: whether Gridshift's decision is in force; the reason says why not.
pub const READY: &str = "Ready";

/// CarbonAwareKarmadaPolicy condition types.
pub mod policy {
    /// True when some candidate cluster has no usable data.
    pub const DATA_STALE: &str = "DataStale";
    /// True when the target Karmada policy is missing or of an unknown kind.
    pub const TARGET_NOT_FOUND: &str = "TargetNotFound";
    /// True while a make-before-break switch is in progress.
    pub const SWITCHING: &str = "Switching";
    /// True when some clusters' zones report another signal (average/marginal) than the
    /// policy's `signal`: those clusters are not ranked.
    pub const MIXED_SIGNALS: &str = "MixedSignals";
    /// True when a cluster's agent serves another zone than the policy locates it in.
    pub const ZONE_CONFLICT: &str = "ZoneConflict";

    /// Reasons.
    pub const NO_VALID_DATA: &str = "NoValidData";
    pub const SOME_CLUSTERS_INVALID: &str = "SomeClustersInvalid";
    pub const TARGET_FOUND: &str = "TargetFound";
    /// The target policy cannot take the placement (e.g. no `spec.placement`).
    pub const PLACEMENT_REJECTED: &str = "PlacementRejected";
    /// Ready is False: the hub has not fetched the policy's zones since it started (or
    /// became the leader); nothing is evaluated until it has.
    pub const WAITING_FOR_DATA: &str = "WaitingForData";
    /// MixedSignals / ZoneConflict False.
    pub const SIGNALS_MATCH: &str = "SignalsMatch";
    pub const SIGNAL_MISMATCH: &str = "SignalMismatch";
    pub const ZONES_AGREE: &str = "ZonesAgree";
    pub const AGENT_ZONE_DIFFERS: &str = "AgentZoneDiffers";
    // Ready and Switching otherwise carry the placement decision's name
    // (`gridshift_core::placement::Decision::name`): Keep, Initial, AddIncoming, …
}

/// CarbonAwareKedaScaler condition types and reasons.
pub mod keda {
    /// Whether the configured forecast source has data.
    pub const FORECAST_AVAILABLE: &str = "ForecastAvailable";

    /// Ready reasons.
    pub const CAP_APPLIED: &str = "CapApplied";
    pub const ECO_MODE_OFF: &str = "EcoModeOff";
    pub const TARGET_PAUSED: &str = "TargetPaused";
    pub const INVALID_SPEC: &str = "InvalidSpec";
    pub const TARGET_NOT_FOUND: &str = "TargetNotFound";
    pub const TARGET_CLAIMED: &str = "TargetClaimed";
    /// ForecastAvailable reasons.
    pub const NO_FORECAST: &str = "NoForecast";
}

/// The condition of `type_`, if set.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Sets a condition, keeping `lastTransitionTime` while its status does not change.
/// Times are whole seconds, as the API server stores them, so a status read back
/// compares equal to the one written.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    on: bool,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
    now: Timestamp,
) {
    let status = if on { "True" } else { "False" };
    let since =
        find(conditions, type_).filter(|c| c.status == status).map(|c| c.last_transition_time.clone());
    let c = Condition {
        last_transition_time: since.unwrap_or_else(|| Time(whole_seconds(now))),
        message: message.into(),
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

/// `t` without its fraction of a second (what a `metav1.Time` keeps).
pub fn whole_seconds(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_with_the_status() {
        let t0: Timestamp = "2026-03-02T12:00:00.750Z".parse().unwrap();
        let t1: Timestamp = "2026-03-02T13:00:00Z".parse().unwrap();
        let mut c = Vec::new();
        set_condition(&mut c, READY, true, "A", "first", Some(1), t0);
        set_condition(&mut c, READY, true, "B", "second", Some(2), t1);
        assert_eq!(c.len(), 1);
        let ready = find(&c, READY).unwrap();
        assert_eq!(ready.last_transition_time.0, whole_seconds(t0));
        assert_eq!(
            (ready.reason.as_str(), ready.message.as_str(), ready.observed_generation),
            ("B", "second", Some(2))
        );
        set_condition(&mut c, READY, false, "C", "third", Some(2), t1);
        assert_eq!(find(&c, READY).unwrap().last_transition_time.0, t1);
    }
}
