//! One pure reconcile step: spec + previous status + observations → the placement plan and
//! the next status. The controller only fetches inputs and writes outputs.
use super::crd::{
    CarbonAwareKarmadaPolicySpec as Spec, CarbonAwareKarmadaPolicyStatus as Status, CarbonIntensity,
    ClusterStatus, PendingStatus, RankingSignal,
};
use super::rank::{self, Ranking};
use super::switching::{self, Decision, Pending, PlacementPlan, Settings};
use gridshift_proto::Series;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use std::borrow::Borrow;
use std::collections::BTreeSet;

/// What became of the target policy this round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target<'a> {
    /// Found; the cluster names it currently places on.
    Found(&'a [String]),
    /// Not found, or its kind is unknown; the message says which.
    Missing(&'a str),
}

/// What the controller observed this round.
#[derive(Clone, Copy, Debug)]
pub struct Observation<'a> {
    pub generation: Option<i64>,
    pub target: Target<'a>,
    /// Incoming clusters whose ResourceBinding reports them applied and healthy.
    pub ready: &'a BTreeSet<String>,
    pub now: Timestamp,
    pub staleness_bound: SignedDuration,
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

pub fn settings(spec: &Spec) -> Settings {
    let secs = |s: u64| SignedDuration::from_secs(i64::try_from(s).unwrap_or(i64::MAX));
    Settings {
        desired_clusters: spec.desired_clusters as usize,
        min_improvement_percent: spec.min_improvement_percent,
        min_dwell: secs(spec.min_dwell_seconds),
        make_before_break_timeout: secs(spec.make_before_break_timeout_seconds),
        fallback_clusters: spec.fallback_clusters.clone(),
    }
}

pub fn signal(spec: &Spec) -> rank::Signal {
    match spec.ranking.signal {
        RankingSignal::Current => rank::Signal::Current,
        RankingSignal::ForecastMean => rank::Signal::ForecastMean(SignedDuration::from_secs(
            i64::try_from(spec.ranking.window_seconds).unwrap_or(i64::MAX),
        )),
    }
}

/// `status.clusters`, in rank order.
pub fn cluster_statuses(ranking: &Ranking) -> Vec<ClusterStatus> {
    ranking
        .clusters
        .iter()
        .map(|c| ClusterStatus {
            name: c.name.clone(),
            location: c.zone.clone(),
            is_valid: c.is_valid(),
            carbon_intensity: c.intensity.map(|v| CarbonIntensity {
                units: "gCO2eq/kWh".into(),
                valid_from: c.valid_from.map(Time),
                valid_to: c.valid_to.map(Time),
                value: format!("{v}"),
            }),
        })
        .collect()
}

fn pending_from(status: &Status) -> Option<Pending> {
    status.pending.as_ref().map(|p| Pending {
        incoming: p.incoming.iter().cloned().collect(),
        outgoing: p.outgoing.iter().cloned().collect(),
        since: p.since.0,
    })
}

/// Sets a condition, keeping its transition time when the status did not change.
pub fn set_condition(
    conds: &mut Vec<Condition>,
    type_: &str,
    on: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: Timestamp,
) {
    let status = if on { "True" } else { "False" }.to_string();
    let prev = conds.iter().position(|c| c.type_ == type_);
    let transition = match prev.map(|i| &conds[i]) {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => Time(now),
    };
    let cond = Condition {
        type_: type_.into(),
        status,
        reason: reason.into(),
        message,
        observed_generation: generation,
        last_transition_time: transition,
    };
    match prev {
        Some(i) => conds[i] = cond,
        None => conds.push(cond),
    }
}

pub fn evaluate<S: Borrow<Series>>(
    spec: &Spec,
    previous: &Status,
    lookup: impl Fn(&str) -> Option<S>,
    obs: Observation<'_>,
) -> Evaluation {
    let ranking = rank::rank(&spec.cluster_locations, lookup, signal(spec), obs.now, obs.staleness_bound);
    let mut status = previous.clone();
    status.clusters = cluster_statuses(&ranking);
    status.observed_generation = obs.generation;
    let (g, now) = (obs.generation, obs.now);
    let conds = &mut status.conditions;

    let invalid: Vec<&str> =
        ranking.clusters.iter().filter(|c| !c.is_valid()).map(|c| c.name.as_str()).collect();
    let stale_msg = if invalid.is_empty() {
        "every cluster has fresh data".to_string()
    } else {
        format!("no fresh carbon-intensity data for {}", invalid.join(", "))
    };
    let all_invalid = ranking.valid().next().is_none();
    let stale_reason = if all_invalid { "NoValidData" } else { "SomeClustersInvalid" };
    set_condition(conds, "DataStale", !invalid.is_empty(), stale_reason, stale_msg, g, now);

    let current = match obs.target {
        Target::Found(current) => current,
        Target::Missing(why) => {
            set_condition(conds, "TargetNotFound", true, "TargetNotFound", why.to_string(), g, now);
            set_condition(conds, "Ready", false, "TargetNotFound", why.to_string(), g, now);
            set_condition(conds, "Switching", false, "TargetNotFound", "nothing written".into(), g, now);
            return Evaluation { plan: None, status, ranking, next_change: None };
        }
    };
    set_condition(conds, "TargetNotFound", false, "TargetFound", "target policy found".into(), g, now);

    let s = settings(spec);
    let pending = pending_from(previous);
    let plan = switching::decide(switching::Input {
        ranking: &ranking,
        current,
        settings: &s,
        last_switch: previous.last_switch_time.as_ref().map(|t| t.0),
        pending: pending.as_ref(),
        ready: obs.ready,
        now,
    });

    let reason = format!("{:?}", plan.decision);
    let message =
        if spec.dry_run { format!("dry run, nothing written: {}", plan.reason) } else { plan.reason.clone() };
    let switching_now = plan.pending.is_some();
    set_condition(conds, "Switching", switching_now, &reason, message.clone(), g, now);
    let placed = !plan.placement.is_empty();
    let ready = placed && !(all_invalid && plan.decision == Decision::Keep && s.fallback_clusters.is_empty());
    set_condition(conds, "Ready", ready, &reason, message, g, now);

    // What Gridshift places on, in rank order. A dry run never gets past the first step of a
    // switch (nothing is written), so it shows where the switch would end instead.
    let mut placement: BTreeSet<&String> = plan.placement.iter().collect();
    if let (true, Some(p)) = (spec.dry_run, &plan.pending) {
        placement.retain(|c| !p.outgoing.contains(*c));
    }
    status.active_clusters = ranking
        .clusters
        .iter()
        .filter(|c| placement.contains(&c.name))
        .map(|c| c.name.clone())
        .chain(plan.placement.iter().filter(|n| ranking.clusters.iter().all(|c| &c.name != *n)).cloned())
        .collect();
    // In dry run nothing moves, so no switch or pending state is recorded.
    if !spec.dry_run {
        status.pending = plan.pending.as_ref().map(|p| PendingStatus {
            incoming: p.incoming.iter().cloned().collect(),
            outgoing: p.outgoing.iter().cloned().collect(),
            since: Time(p.since),
        });
        if let Some(at) = plan.switched_at {
            status.last_switch_time = Some(Time(at));
        }
        if plan.carbon_avoided.is_some() {
            status.estimated_carbon_avoided = plan.carbon_avoided;
        }
    }
    let next_change = next_change(spec, &s, &status, &ranking, now);
    Evaluation { plan: Some(plan), status, ranking, next_change }
}

fn next_change(
    spec: &Spec,
    s: &Settings,
    status: &Status,
    ranking: &Ranking,
    now: Timestamp,
) -> Option<Timestamp> {
    let deadline = status.pending.as_ref().map(|p| p.since.0 + s.make_before_break_timeout);
    let dwell_end = status.last_switch_time.as_ref().map(|t| t.0 + s.min_dwell);
    // A forecast mean moves with its window, not at point boundaries: the caller's resync covers it.
    let point_end = match spec.ranking.signal {
        RankingSignal::Current => ranking.valid().filter_map(|c| c.valid_to).min(),
        RankingSignal::ForecastMean => None,
    };
    [deadline, dwell_end, point_end].into_iter().flatten().filter(|t| *t > now).min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::rank::tests::{hourly, t0};
    use std::collections::HashMap;

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
        let obs = Observation {
            generation: Some(3),
            target,
            ready,
            now,
            staleness_bound: SignedDuration::from_hours(6),
        };
        evaluate(spec, prev, |zone| z.get(zone), obs)
    }

    fn cond<'a>(s: &'a Status, t: &str) -> &'a Condition {
        s.conditions.iter().find(|c| c.type_ == t).unwrap()
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
        assert_eq!(e.status.clusters[0].carbon_intensity.as_ref().unwrap().value, "50");
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
        assert!(ready.message.contains("no cluster has fresh carbon-intensity data"), "{}", ready.message);
        assert_eq!(cond(&e.status, "DataStale").reason, "NoValidData");
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
