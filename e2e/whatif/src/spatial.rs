//! Spatial placement of one workload by a CarbonAwareKarmadaPolicy, four ways:
//!
//! - carbon-agnostic: replicas spread evenly over `agnosticClusters` (default: every
//!   cluster of the policy, which is what Karmada does with no cluster names);
//! - gridshift: the policy controller's reconcile step (`gridshift_api::policy::evaluate`, so
//!   ranking, minimum improvement, minimum dwell and make-before-break are the real ones),
//!   run at every new forecast (each hour) and when an incoming cluster becomes ready
//!   (`readyAfter` later). While a switch is pending the incoming clusters run their
//!   share next to the outgoing ones, so make-before-break costs what it costs;
//! - peers: the same reconcile step with the original carbon-aware-karmada-operator's
//!   behaviour: rank by the current value, no minimum improvement, no dwell, and the new
//!   placement taking over at once;
//! - oracle: the `desiredClusters` cleanest clusters by recorded intensity every hour,
//!   switching for free.
use crate::forecast::Forecaster;
use crate::inputs::{InputError, Placement, duration};
use crate::result::{Decisions, Kind, ScenarioResult, Strategy, StrategyResult};
use gridshift_api::policy::{
    CarbonAwareKarmadaPolicySpec as Spec, CarbonAwareKarmadaPolicyStatus as Status, RankingSignal,
};
use gridshift_api::policy::{Observation, evaluate_policy};
use gridshift_core::Forecasts;
use gridshift_core::placement::{Decision, Target};
use jiff::SignedDuration;
use std::collections::BTreeSet;

struct Cluster {
    name: String,
    zone: usize,
}

/// What one simulated policy did.
struct Sim {
    hourly_g: Vec<f64>,
    switches: usize,
    serving: Vec<Vec<usize>>,
}

pub fn run(
    name: &str,
    f: &Forecaster<'_>,
    spec: &Spec,
    placement: &Placement,
    staleness_bound: SignedDuration,
) -> Result<ScenarioResult, InputError> {
    let grid = f.grid();
    let clusters: Vec<Cluster> = spec
        .cluster_locations
        .iter()
        .map(|c| {
            grid.zone_index(&c.location).map(|zone| Cluster { name: c.name.clone(), zone }).ok_or_else(|| {
                InputError::Invalid(format!(
                    "placement {name}: no trace for zone {:?} of {}",
                    c.location, c.name
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    if clusters.is_empty() {
        return Err(InputError::Invalid(format!("placement {name}: the policy lists no clusters")));
    }
    let ready_after = duration(&format!("placement {name}: readyAfter"), &placement.ready_after)?;
    let power = |h: usize| placement.replicas.at(grid.at(h)) * placement.power_kw_per_replica;
    let days = grid.hours as f64 / 24.0;

    let agnostic: Vec<usize> = if placement.agnostic_clusters.is_empty() {
        clusters.iter().map(|c| c.zone).collect()
    } else {
        clusters.iter().filter(|c| placement.agnostic_clusters.contains(&c.name)).map(|c| c.zone).collect()
    };
    let even = |zones: &[usize], h: usize| {
        zones.iter().map(|z| power(h) * grid.value(*z, h)).sum::<f64>() / zones.len() as f64
    };
    let agnostic_g: Vec<f64> = (0..grid.hours).map(|h| even(&agnostic, h)).collect();

    let gridshift = simulate(f, spec, &clusters, ready_after, staleness_bound, &power);
    let mut peer_spec = spec.clone();
    peer_spec.min_improvement_percent = 0.0;
    peer_spec.min_dwell_seconds = 0;
    peer_spec.ranking.signal = RankingSignal::Current;
    let peers = simulate(f, &peer_spec, &clusters, SignedDuration::ZERO, staleness_bound, &power);

    // Oracle: the cleanest `desired` clusters of each hour (ties by name, as the ranking).
    let desired = (spec.desired_clusters as usize).clamp(1, clusters.len());
    let mut order: Vec<usize> = (0..clusters.len()).collect();
    let (mut oracle_g, mut oracle_serving, mut oracle_switches) = (Vec::new(), Vec::new(), 0);
    let mut previous: Option<Vec<usize>> = None;
    for h in 0..grid.hours {
        order.sort_by(|&a, &b| {
            grid.value(clusters[a].zone, h)
                .total_cmp(&grid.value(clusters[b].zone, h))
                .then_with(|| clusters[a].name.cmp(&clusters[b].name))
        });
        let mut chosen = order[..desired].to_vec();
        chosen.sort_unstable();
        if previous.as_ref().is_some_and(|p| *p != chosen) {
            oracle_switches += 1;
        }
        let zones: Vec<usize> = chosen.iter().map(|&i| clusters[i].zone).collect();
        oracle_g.push(even(&zones, h));
        oracle_serving.push(zones);
        previous = Some(chosen);
    }

    let with_switches = |mut r: StrategyResult, n: usize| {
        r.switches = Some(n);
        r.switches_per_day = Some(n as f64 / days);
        r
    };
    let agnostic_names = if placement.agnostic_clusters.is_empty() {
        "every cluster of the policy".to_string()
    } else {
        placement.agnostic_clusters.join(", ")
    };
    let strategies = vec![
        with_switches(
            StrategyResult::new(
                Strategy::CarbonAgnostic,
                format!("spread over {agnostic_names}"),
                agnostic_g,
            ),
            0,
        ),
        with_switches(
            StrategyResult::new(
                Strategy::Gridshift,
                format!(
                    "policy {} (signal {:?}, minImprovement {}%, minDwell {}s)",
                    placement.policy,
                    spec.ranking.signal,
                    spec.min_improvement_percent,
                    spec.min_dwell_seconds
                ),
                gridshift.hourly_g,
            ),
            gridshift.switches,
        ),
        with_switches(
            StrategyResult::new(Strategy::Peers, "instantaneous ranking, no hysteresis", peers.hourly_g),
            peers.switches,
        ),
        with_switches(
            StrategyResult::new(
                Strategy::Oracle,
                "cleanest clusters every hour, perfect knowledge",
                oracle_g,
            ),
            oracle_switches,
        ),
    ];
    let mut zones: Vec<usize> = clusters.iter().map(|c| c.zone).collect();
    zones.sort_unstable();
    zones.dedup();
    Ok(ScenarioResult {
        name: name.to_string(),
        kind: Kind::Spatial,
        zones: zones.iter().map(|z| grid.zones[*z].to_string()).collect(),
        workload: format!(
            "{} of {} clusters, {} kW per replica",
            spec.desired_clusters,
            clusters.len(),
            placement.power_kw_per_replica
        ),
        strategies,
        decisions: Decisions {
            zones,
            placements: vec![
                (Strategy::Gridshift, gridshift.serving),
                (Strategy::Peers, peers.serving),
                (Strategy::Oracle, oracle_serving),
            ],
            starts: Vec::new(),
        },
    }
    .finish())
}

/// Replays the policy controller hour by hour.
fn simulate(
    f: &Forecaster<'_>,
    spec: &Spec,
    clusters: &[Cluster],
    ready_after: SignedDuration,
    staleness_bound: SignedDuration,
    power: &dyn Fn(usize) -> f64,
) -> Sim {
    let grid = f.grid();
    let zone_of = |name: &str| clusters.iter().find(|c| c.name == name).map(|c| c.zone);
    let mut zones: Vec<usize> = clusters.iter().map(|c| c.zone).collect();
    zones.sort_unstable();
    zones.dedup();
    // What the decisions read of the spec, converted once.
    let policy = spec.policy();
    let mut status = Status::default();
    let mut current: Vec<String> = Vec::new();
    let mut sim =
        Sim { hourly_g: vec![0.0; grid.hours], switches: 0, serving: Vec::with_capacity(grid.hours) };
    for h in 0..grid.hours {
        let forecasts =
            Forecasts::from_series(zones.iter().map(|&z| f.series_with_lookback(z, h, 0)), staleness_bound);
        let (mut now, hour_end) = (grid.at(h), grid.at(h + 1));
        let mut recorded = false;
        for _ in 0..1000 {
            let ready_at = status.pending.as_ref().map(|p| p.since.0 + ready_after);
            let ready: BTreeSet<String> = match (&status.pending, ready_at) {
                (Some(p), Some(at)) if at <= now => p.incoming.iter().cloned().collect(),
                _ => BTreeSet::new(),
            };
            let obs = Observation {
                generation: Some(1),
                target: Target::Found(&current),
                ready: &ready,
                zone_conflicts: &[],
                now,
            };
            let e = evaluate_policy(&policy, &status, &forecasts, obs);
            if let Some(plan) = e.plan {
                if plan.decision == Decision::CompleteSwitch {
                    sim.switches += 1;
                }
                if plan.writes(&current) {
                    current = plan.placement;
                }
            }
            status = e.status;
            let weights = serving_weights(&status, &current, clusters, &zone_of);
            if !recorded {
                sim.serving.push(weights.iter().map(|(z, _)| *z).collect());
                recorded = true;
            }
            let ready_at = status.pending.as_ref().map(|p| p.since.0 + ready_after);
            let until = match ready_at {
                Some(at) if at < hour_end => at.max(now),
                _ => hour_end,
            };
            sim.hourly_g[h] +=
                weights.iter().map(|(z, w)| power(h) * w * grid.integral(*z, now, until)).sum::<f64>();
            if until >= hour_end {
                break;
            }
            now = until;
        }
    }
    sim
}

/// Each zone's share of the workload: the serving clusters split it evenly, and incoming
/// clusters of a pending switch already run the share they will take over.
fn serving_weights(
    status: &Status,
    current: &[String],
    clusters: &[Cluster],
    zone_of: &dyn Fn(&str) -> Option<usize>,
) -> Vec<(usize, f64)> {
    let split = |names: &[&String]| -> Vec<(usize, f64)> {
        let w = 1.0 / names.len().max(1) as f64;
        names.iter().filter_map(|n| zone_of(n)).map(|z| (z, w)).collect()
    };
    if current.is_empty() {
        // Karmada reads an empty clusterNames as every cluster.
        let w = 1.0 / clusters.len() as f64;
        return clusters.iter().map(|c| (c.zone, w)).collect();
    }
    let Some(p) = &status.pending else {
        return split(&current.iter().collect::<Vec<_>>());
    };
    let serving: Vec<&String> = current.iter().filter(|c| !p.incoming.contains(c)).collect();
    let target: Vec<&String> = current.iter().filter(|c| !p.outgoing.contains(c)).collect();
    let share = 1.0 / target.len().max(1) as f64;
    let mut out = split(&serving);
    out.extend(p.incoming.iter().filter_map(|n| zone_of(n)).map(|z| (z, share)));
    out
}
