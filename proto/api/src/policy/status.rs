//! A placement step as the user sees it: [`evaluate`] runs the decision of
//! `gridshift_core::placement` for a CarbonAwareKarmadaPolicy and renders its status
//! (cluster ranking, active clusters, conditions, the switch in progress).
use super::{
    CarbonAwareKarmadaPolicySpec as Spec, CarbonAwareKarmadaPolicyStatus as Status, CarbonIntensity,
    ClusterStatus, IntensitySignal, PendingStatus,
};
use crate::conditions::policy::{
    AGENT_ZONE_DIFFERS, DATA_STALE, MIXED_SIGNALS, NO_VALID_DATA, SIGNAL_MISMATCH, SIGNALS_MATCH,
    SOME_CLUSTERS_INVALID, SWITCHING, TARGET_FOUND, TARGET_NOT_FOUND, WAITING_FOR_DATA, ZONE_CONFLICT,
    ZONES_AGREE,
};
use crate::conditions::{READY, set_condition, whole_seconds};
use gridshift_core::placement::{self, Pending, PlacementPlan, Policy, Ranking, State, Target};
use gridshift_core::{Forecasts, Signal};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::collections::BTreeSet;

/// What the controller observed this round.
#[derive(Clone, Copy, Debug)]
pub struct Observation<'a> {
    pub generation: Option<i64>,
    pub target: Target<'a>,
    /// Incoming clusters whose ResourceBinding reports them applied and healthy.
    pub ready: &'a BTreeSet<String>,
    /// Clusters whose agent serves another zone than the policy locates them in, each as
    /// one sentence (`ZoneConflict`).
    pub zone_conflicts: &'a [String],
    pub now: Timestamp,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// `None` when nothing can be decided (target missing); write nothing then.
    pub plan: Option<PlacementPlan>,
    pub status: Status,
    /// Every candidate cluster, cleanest first (what `status.clusters` shows).
    pub ranking: Ranking,
    /// The earliest instant at which the outcome may change with no other input: a
    /// make-before-break deadline, the end of a dwell, or the end of a current data point.
    pub next_change: Option<Timestamp>,
}

/// `status.clusters[].carbonIntensity.units`, as the original operator writes it.
pub const UNITS: &str = "gCO2e per kWh";

/// `status.clusters`, in rank order.
pub fn cluster_statuses(ranking: &Ranking) -> Vec<ClusterStatus> {
    ranking
        .clusters
        .iter()
        .map(|c| ClusterStatus {
            name: c.name.clone(),
            location: c.zone.as_ref().map(ToString::to_string).unwrap_or_default(),
            is_valid: c.is_valid(),
            carbon_intensity: c.intensity.map(|v| CarbonIntensity {
                units: UNITS.into(),
                valid_from: c.valid_from.map(|t| Time(whole_seconds(t))),
                valid_to: c.valid_to.map(|t| Time(whole_seconds(t))),
                value: format!("{v:.2}"),
            }),
            carried_forward: c.carried_forward(),
            signal: c.mismatched_signal.map(|s| match s {
                Signal::Average => IntensitySignal::Average,
                Signal::Marginal => IntensitySignal::Marginal,
            }),
        })
        .collect()
}

fn signal_name(s: Signal) -> &'static str {
    match s {
        Signal::Average => "average",
        Signal::Marginal => "marginal",
    }
}

/// The status of a CR the hub does not evaluate yet: it has not fetched the CR's zones
/// since it started or became the leader. Everything else stays as it was.
pub fn waiting_for_data(previous: &Status, message: &str, generation: Option<i64>, now: Timestamp) -> Status {
    let mut status = previous.clone();
    set_condition(&mut status.conditions, READY, false, WAITING_FOR_DATA, message, generation, now);
    status
}

/// What the status remembers of the decision's state.
pub fn state_of(status: &Status) -> State {
    State {
        pending: status.pending.as_ref().map(|p| Pending {
            incoming: p.incoming.iter().cloned().collect(),
            outgoing: p.outgoing.iter().cloned().collect(),
            since: p.since.0,
            to_fallback: p.to_fallback,
        }),
        last_switch: status.last_switch_time.as_ref().map(|t| t.0),
        carbon_avoided: status.estimated_carbon_avoided,
        no_data_since: status.no_data_since.as_ref().map(|t| t.0),
        on_fallback: status.on_fallback,
    }
}

/// One step for a CR whose clusters are located as its spec declares them.
pub fn evaluate(spec: &Spec, previous: &Status, forecasts: &Forecasts, obs: Observation<'_>) -> Evaluation {
    evaluate_policy(&spec.policy(), previous, forecasts, obs)
}

/// One step for `policy` (the CR's spec with its clusters located), rendered onto the
/// CR's previous status.
pub fn evaluate_policy(
    policy: &Policy,
    previous: &Status,
    forecasts: &Forecasts,
    obs: Observation<'_>,
) -> Evaluation {
    let (g, now) = (obs.generation, obs.now);
    let step = placement::evaluate(
        policy,
        &state_of(previous),
        forecasts,
        placement::Observation { target: obs.target, ready: obs.ready, now },
    );
    let mut status = previous.clone();
    status.clusters = cluster_statuses(&step.ranking);
    status.observed_generation = g;
    let conds = &mut status.conditions;

    let invalid = step.invalid_clusters();
    let stale_msg = if invalid.is_empty() {
        "every cluster has fresh data".to_string()
    } else {
        format!("no fresh carbon-intensity data for {}", invalid.join(", "))
    };
    let stale_reason = if step.all_invalid() { NO_VALID_DATA } else { SOME_CLUSTERS_INVALID };
    set_condition(conds, DATA_STALE, !invalid.is_empty(), stale_reason, stale_msg, g, now);

    let mismatched: Vec<String> = step
        .ranking
        .mismatched()
        .map(|c| format!("{} ({})", c.name, signal_name(c.mismatched_signal.unwrap_or_default())))
        .collect();
    let (on, reason, msg) = if mismatched.is_empty() {
        (false, SIGNALS_MATCH, format!("every ranked zone reports the {} signal", signal_name(policy.signal)))
    } else {
        let msg = format!(
            "not ranked, their zones report another signal than the policy's {}: {}",
            signal_name(policy.signal),
            mismatched.join(", ")
        );
        (true, SIGNAL_MISMATCH, msg)
    };
    set_condition(conds, MIXED_SIGNALS, on, reason, msg, g, now);
    let (on, reason, msg) = match obs.zone_conflicts {
        [] => (
            false,
            ZONES_AGREE,
            "every connected agent serves the zone its cluster is located in".to_string(),
        ),
        some => (true, AGENT_ZONE_DIFFERS, some.join("; ")),
    };
    set_condition(conds, ZONE_CONFLICT, on, reason, msg, g, now);

    let Some(plan) = step.plan else {
        let why = match obs.target {
            Target::Missing(why) => why,
            Target::Found(_) => "target policy not found",
        };
        set_condition(conds, TARGET_NOT_FOUND, true, TARGET_NOT_FOUND, why, g, now);
        set_condition(conds, READY, false, TARGET_NOT_FOUND, why, g, now);
        set_condition(conds, SWITCHING, false, TARGET_NOT_FOUND, "nothing written", g, now);
        return Evaluation { plan: None, status, ranking: step.ranking, next_change: None };
    };
    set_condition(conds, TARGET_NOT_FOUND, false, TARGET_FOUND, "target policy found", g, now);

    let reason = plan.decision.name();
    let message = if policy.dry_run {
        format!("dry run, nothing written: {}", plan.reason)
    } else {
        plan.reason.clone()
    };
    set_condition(conds, SWITCHING, plan.pending.is_some(), reason, message.clone(), g, now);
    set_condition(conds, READY, step.ready, reason, message, g, now);

    if let Some(active) = step.active_clusters {
        status.active_clusters = active;
    }
    status.pending = step.state.pending.as_ref().map(|p| PendingStatus {
        incoming: p.incoming.iter().cloned().collect(),
        outgoing: p.outgoing.iter().cloned().collect(),
        since: Time(p.since),
        to_fallback: p.to_fallback,
    });
    status.last_switch_time = step.state.last_switch.map(Time);
    status.estimated_carbon_avoided = step.state.carbon_avoided;
    status.no_data_since = step.state.no_data_since.map(|t| Time(whole_seconds(t)));
    status.on_fallback = step.state.on_fallback;
    Evaluation { plan: Some(plan), status, ranking: step.ranking, next_change: step.next_change }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conditions::find;
    use gridshift_core::series::Series;
    use gridshift_core::testing::hourly_from;
    use jiff::SignedDuration;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
    use std::collections::HashMap;

    fn t0() -> Timestamp {
        "2026-03-01T00:00:00Z".parse().unwrap()
    }

    fn hourly(zone: &str, values: &[f64]) -> Series {
        hourly_from(zone, t0(), values)
    }

    fn spec(desired: u32) -> Spec {
        serde_json::from_value(serde_json::json!({
            "clusterLocations": [
                {"name": "de", "location": "DE"}, {"name": "fr", "location": "FR"}, {"name": "es", "location": "ES"}
            ],
            "desiredClusters": desired,
            "karmadaTarget": "propagationpolicies.policy.karmada.io",
            "karmadaTargetRef": {"name": "nginx", "namespace": "default"}
        }))
        .unwrap()
    }

    fn zones(entries: &[(&str, f64)]) -> HashMap<String, Series> {
        entries.iter().map(|(z, v)| (z.to_string(), hourly(z, &[*v, *v]))).collect()
    }

    fn run(
        spec: &Spec,
        prev: &Status,
        z: &HashMap<String, Series>,
        current: Option<&[String]>,
        ready: &BTreeSet<String>,
        now: Timestamp,
    ) -> Evaluation {
        let target = match current {
            Some(c) => Target::Found(c),
            None => Target::Missing("target policy nginx not found"),
        };
        let obs = Observation { generation: Some(3), target, ready, zone_conflicts: &[], now };
        let forecasts = Forecasts::from_series(z.values().cloned(), SignedDuration::from_hours(6));
        evaluate(spec, prev, &forecasts, obs)
    }

    fn cond<'a>(s: &'a Status, t: &str) -> &'a Condition {
        find(&s.conditions, t).unwrap()
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn de_fr_es_desired_two() {
        let z = zones(&[("DE", 300.0), ("FR", 50.0), ("ES", 120.0)]);
        let e = run(&spec(2), &Status::default(), &z, Some(&[]), &BTreeSet::new(), t0());
        assert_eq!(e.status.active_clusters, ["fr", "es"]);
        let order: Vec<&str> = e.status.clusters.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(order, ["fr", "es", "de"]);
        let fr = e.status.clusters[0].carbon_intensity.as_ref().unwrap();
        assert_eq!(
            (fr.value.as_str(), fr.units.as_str()),
            ("50.00", "gCO2e per kWh"),
            "as the original writes it"
        );
        assert!(!e.status.clusters[0].carried_forward);
        assert_eq!(cond(&e.status, "MixedSignals").status, "False");
        assert_eq!(e.plan.unwrap().placement, ["es", "fr"]);
        assert_eq!(cond(&e.status, "Ready").status, "True");
        assert_eq!(cond(&e.status, "DataStale").status, "False");
        assert_eq!(e.status.observed_generation, Some(3));
    }

    #[test]
    fn failed_provider_zone_never_active() {
        let z = zones(&[("DE", 300.0), ("ES", 120.0)]); // FR's provider failed
        let e = run(&spec(2), &Status::default(), &z, Some(&[]), &BTreeSet::new(), t0());
        assert_eq!(e.status.active_clusters, ["es", "de"]);
        let fr = e.status.clusters.iter().find(|c| c.name == "fr").unwrap();
        assert!(!fr.is_valid && fr.carbon_intensity.is_none());
        let stale = cond(&e.status, "DataStale");
        assert_eq!(
            (stale.status.as_str(), stale.message.as_str()),
            ("True", "no fresh carbon-intensity data for fr")
        );
    }

    #[test]
    fn all_invalid_keeps_placement_and_says_why() {
        let current = names(&["de"]);
        let e = run(&spec(2), &Status::default(), &HashMap::new(), Some(&current), &BTreeSet::new(), t0());
        let plan = e.plan.unwrap();
        assert!(!plan.writes(&current));
        assert_eq!(e.status.active_clusters, ["de"]);
        let ready = cond(&e.status, "Ready");
        assert_eq!(ready.status, "False");
        assert!(ready.message.contains("no cluster has usable carbon-intensity data"), "{}", ready.message);
        assert_eq!(cond(&e.status, "DataStale").reason, "NoValidData");
    }

    #[test]
    fn mixed_signals_rank_only_the_policys() {
        let mut z = zones(&[("DE", 300.0), ("FR", 50.0), ("ES", 120.0)]);
        z.get_mut("FR").unwrap().signal = Signal::Marginal; // e.g. WattTime
        let e = run(&spec(2), &Status::default(), &z, Some(&[]), &BTreeSet::new(), t0());
        assert_eq!(e.status.active_clusters, ["es", "de"], "the marginal FR is not compared");
        let mixed = cond(&e.status, "MixedSignals");
        assert_eq!((mixed.status.as_str(), mixed.reason.as_str()), ("True", "SignalMismatch"));
        assert!(mixed.message.contains("fr (marginal)"), "{}", mixed.message);
        let fr = e.status.clusters.iter().find(|c| c.name == "fr").unwrap();
        assert_eq!((fr.is_valid, fr.signal), (false, Some(IntensitySignal::Marginal)));
    }

    #[test]
    fn a_carried_forward_value_is_marked_and_valid_until_stale() {
        let z = zones(&[("DE", 300.0), ("FR", 50.0)]);
        // Both points ended an hour ago; the data is 3 h old (bound 6 h).
        let later = t0() + SignedDuration::from_hours(3);
        let e = run(&spec(1), &Status::default(), &z, Some(&[]), &BTreeSet::new(), later);
        let fr = &e.status.clusters[0];
        assert!(fr.is_valid && fr.carried_forward, "{fr:?}");
        let valid_to = fr.carbon_intensity.as_ref().unwrap().valid_to.as_ref().unwrap().0;
        assert_eq!(valid_to, t0() + SignedDuration::from_hours(6));
        assert_eq!(cond(&e.status, "Ready").status, "True");
    }

    #[test]
    fn zone_conflicts_are_a_condition() {
        let z = zones(&[("DE", 300.0), ("FR", 50.0)]);
        let forecasts = Forecasts::from_series(z.values().cloned(), SignedDuration::from_hours(6));
        let conflicts = ["fr is located in FR but its agent serves DE".to_string()];
        let none = BTreeSet::new();
        let obs = Observation {
            generation: Some(1),
            target: Target::Found(&[]),
            ready: &none,
            zone_conflicts: &conflicts,
            now: t0(),
        };
        let e = evaluate(&spec(1), &Status::default(), &forecasts, obs);
        let c = cond(&e.status, "ZoneConflict");
        assert_eq!(
            (c.status.as_str(), c.reason.as_str(), c.message.as_str()),
            ("True", "AgentZoneDiffers", conflicts[0].as_str())
        );
    }

    #[test]
    fn target_not_found_writes_nothing() {
        let z = zones(&[("FR", 50.0)]);
        let e = run(&spec(1), &Status::default(), &z, None, &BTreeSet::new(), t0());
        assert!(e.plan.is_none() && e.next_change.is_none());
        assert_eq!(cond(&e.status, "TargetNotFound").status, "True");
        assert_eq!(cond(&e.status, "TargetNotFound").message, "target policy nginx not found");
        assert_eq!(cond(&e.status, "Ready").status, "False");
    }

    #[test]
    fn make_before_break_round_trips_through_status() {
        let z = zones(&[("DE", 300.0), ("FR", 50.0), ("ES", 120.0)]);
        let s = spec(1);
        let none = BTreeSet::new();
        let current = names(&["de"]);
        let e1 = run(&s, &Status::default(), &z, Some(&current), &none, t0());
        let p1 = e1.plan.clone().unwrap();
        assert_eq!(p1.placement, ["de", "fr"]);
        assert_eq!(cond(&e1.status, "Switching").status, "True");
        let pending = e1.status.pending.clone().unwrap();
        assert_eq!((pending.incoming, pending.outgoing), (names(&["fr"]), names(&["de"])));
        // The make-before-break deadline (10 min) comes before the hourly data point ends.
        assert_eq!(e1.next_change, Some(t0() + SignedDuration::from_mins(10)));

        let later = t0() + SignedDuration::from_mins(2);
        let e2 = run(&s, &e1.status, &z, Some(&p1.placement), &names(&["fr"]).into_iter().collect(), later);
        assert_eq!(e2.plan.unwrap().placement, ["fr"]);
        assert!(e2.status.pending.is_none());
        assert_eq!(e2.status.last_switch_time, Some(Time(later)));
        assert_eq!(e2.status.estimated_carbon_avoided, Some(250.0));
        let sw = cond(&e2.status, "Switching");
        assert_eq!((sw.status.as_str(), sw.last_transition_time.clone()), ("False", Time(later)));
        assert_eq!(
            cond(&e2.status, "Ready").last_transition_time,
            Time(t0()),
            "unchanged status keeps its time"
        );
    }

    #[test]
    fn dry_run_records_no_switch() {
        let z = zones(&[("DE", 300.0), ("FR", 50.0)]);
        let mut s = spec(1);
        s.dry_run = true;
        let current = names(&["de"]);
        let e = run(&s, &Status::default(), &z, Some(&current), &BTreeSet::new(), t0());
        assert!(e.status.pending.is_none() && e.status.last_switch_time.is_none());
        assert_eq!(e.status.active_clusters, ["fr"], "where the switch would end, not its first step");
        assert!(cond(&e.status, "Switching").message.starts_with("dry run"));
    }
}
