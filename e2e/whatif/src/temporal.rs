//! Temporal shifting of deferrable jobs in one zone, four ways:
//!
//! - carbon-agnostic: every job starts when it arrives;
//! - gridshift: the scheduler's deferral planner (`deferral::plan`), called when a job
//!   arrives, at the re-check time it asks for, and whenever a new forecast arrives (each
//!   hour), exactly as the scheduler controller drives it;
//! - peers: the jobs queue behind a KEDA ScaledJob whose `maxReplicaCount` the original
//!   carbon-aware-keda-operator's threshold rule caps (`gridshift_core::caps::decide`); running
//!   jobs are never stopped, queued ones start as the cap allows;
//! - oracle: each job starts at the instant within its slack with the lowest recorded
//!   mean intensity over its run (earliest among equals).
use crate::forecast::Forecaster;
use crate::jobs::Jobs;
use crate::result::{Decisions, Kind, ScenarioResult, Strategy};
use gridshift_api::keda::CarbonAwareKedaScalerSpec;
use gridshift_core::Forecasts;
use gridshift_core::caps::{InvalidSpec, decide};
use gridshift_core::scheduling::deferral::{Plan, PlannerConfig, plan};
use jiff::{SignedDuration, Timestamp};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// The peers' threshold-cap rule for this job group.
pub struct Caps<'a> {
    pub name: &'a str,
    pub spec: &'a CarbonAwareKedaScalerSpec,
    pub min_replica_count: i32,
    pub staleness_bound: SignedDuration,
}

pub fn run(
    name: &str,
    f: &Forecaster<'_>,
    jobs: &Jobs,
    planner: &PlannerConfig,
    staleness_bound: SignedDuration,
    caps: Option<Caps<'_>>,
) -> Result<ScenarioResult, InvalidSpec> {
    let grid = f.grid();
    let mut strategies = Vec::new();
    let mut starts_by = Vec::new();
    let mut add = |s: Strategy, rule: String, starts: Vec<Option<Timestamp>>| {
        let (r, started) = jobs.charge(grid, s, rule, &starts);
        strategies.push(r);
        starts_by.push((s, started));
    };
    add(
        Strategy::CarbonAgnostic,
        "start on arrival".into(),
        jobs.list.iter().map(|j| Some(j.arrival)).collect(),
    );
    add(
        Strategy::Gridshift,
        format!(
            "deferral planner (minImprovement {}%, stalenessBound {:#})",
            planner.min_improvement * 100.0,
            staleness_bound
        ),
        gridshift_starts(f, jobs, planner, staleness_bound),
    );
    if let Some(c) = caps {
        let starts = peer_starts(f, jobs, &c)?;
        add(Strategy::Peers, format!("threshold caps of CarbonAwareKedaScaler {}", c.name), starts);
    }
    add(Strategy::Oracle, "best start within the slack, perfect knowledge".into(), oracle_starts(f, jobs));
    Ok(ScenarioResult {
        name: name.to_string(),
        kind: Kind::Temporal,
        zones: vec![grid.zones[jobs.zone].to_string()],
        workload: jobs.describe(),
        strategies,
        decisions: Decisions { zones: vec![jobs.zone], placements: Vec::new(), starts: starts_by },
    }
    .finish())
}

/// Start times chosen by the deferral planner with the forecasts known at each decision.
pub fn gridshift_starts(
    f: &Forecaster<'_>,
    jobs: &Jobs,
    cfg: &PlannerConfig,
    staleness_bound: SignedDuration,
) -> Vec<Option<Timestamp>> {
    let grid = f.grid();
    let list = &jobs.list;
    let mut starts = vec![None; list.len()];
    let mut waiting: Vec<usize> = Vec::new();
    let mut next = 0;
    for h in 0..grid.hours {
        let hour_end = grid.at(h + 1);
        if waiting.is_empty() && list.get(next).is_none_or(|j| j.arrival >= hour_end) {
            if next >= list.len() {
                break;
            }
            continue;
        }
        // A new forecast arrives at the top of the hour: every waiting job is re-planned.
        let forecasts = Forecasts::from_series([f.series_with_lookback(jobs.zone, h, 0)], staleness_bound);
        let zones = [grid.zones[jobs.zone].as_str()];
        let mut events: BinaryHeap<Reverse<(Timestamp, usize)>> =
            waiting.drain(..).map(|j| Reverse((grid.at(h), j))).collect();
        while let Some(j) = list.get(next).filter(|j| j.arrival < hour_end) {
            events.push(Reverse((j.arrival, next)));
            next += 1;
        }
        while let Some(Reverse((now, j))) = events.pop() {
            match plan(&list[j].spec, list[j].arrival, now, &forecasts, &zones, cfg) {
                Plan::RunNow { .. } => starts[j] = Some(now),
                Plan::Wait(w) => {
                    // The planner never asks to be re-checked in the past; a second at least
                    // guarantees progress regardless.
                    let again = w.recheck_by.max(now + SignedDuration::from_secs(1));
                    if again < hour_end {
                        events.push(Reverse((again, j)));
                    } else {
                        waiting.push(j);
                    }
                }
            }
        }
    }
    starts
}

/// Start times of the jobs queued behind a ScaledJob capped by threshold buckets.
pub fn peer_starts(
    f: &Forecaster<'_>,
    jobs: &Jobs,
    caps: &Caps<'_>,
) -> Result<Vec<Option<Timestamp>>, InvalidSpec> {
    let grid = f.grid();
    let list = &jobs.list;
    let mut starts = vec![None; list.len()];
    let mut queue: VecDeque<usize> = VecDeque::new();
    let mut running: BinaryHeap<Reverse<Timestamp>> = BinaryHeap::new();
    let mut next = 0;
    for h in 0..grid.hours {
        let hour_end = grid.at(h + 1);
        if queue.is_empty() && list.get(next).is_none_or(|j| j.arrival >= hour_end) {
            if next >= list.len() {
                break;
            }
            continue;
        }
        let forecasts = Forecasts::from_series([f.series(jobs.zone, h)], caps.staleness_bound);
        let (zone, rules) = (grid.zones[jobs.zone].as_str(), caps.spec.cap_rules());
        let mut now = grid.at(h);
        loop {
            while running.peek().is_some_and(|Reverse(end)| *end <= now) {
                running.pop();
            }
            while list.get(next).is_some_and(|j| j.arrival <= now) {
                queue.push_back(next);
                next += 1;
            }
            let d = decide(&rules, &forecasts, zone, Some(caps.min_replica_count), now)?;
            let cap = usize::try_from(d.max_replicas).unwrap_or(0);
            while running.len() < cap {
                let Some(j) = queue.pop_front() else { break };
                starts[j] = Some(now);
                running.push(Reverse(now + list[j].runtime()));
            }
            // The next instant anything can change: an arrival, or, with work queued, a
            // finishing job or a change of the cap decision.
            let mut wake = hour_end;
            if let Some(j) = list.get(next) {
                wake = wake.min(j.arrival);
            }
            if !queue.is_empty() {
                if let Some(Reverse(end)) = running.peek() {
                    wake = wake.min(*end);
                }
                if let Some(r) = d.next_review {
                    wake = wake.min(r);
                }
            }
            if wake >= hour_end {
                break;
            }
            now = wake.max(now + SignedDuration::from_secs(1));
        }
    }
    Ok(starts)
}

/// Each job's best start with perfect knowledge of the recorded intensities.
pub fn oracle_starts(f: &Forecaster<'_>, jobs: &Jobs) -> Vec<Option<Timestamp>> {
    let grid = f.grid();
    jobs.list
        .iter()
        .map(|job| {
            let (from, to, run) = (job.arrival, job.latest_start(), job.runtime());
            // The run's mean is piecewise linear in its start, so the minimum lies where the
            // start or the end of the run meets an hour boundary, or at either end.
            let mut candidates = vec![from, to];
            let (first, last) = (grid.hour_of(from).max(0), grid.hour_of(to + run) + 1);
            for h in first..=last {
                let b = grid.at(h as usize);
                candidates.extend([b, b - run]);
            }
            candidates.retain(|t| (from..=to).contains(t));
            candidates.sort();
            let mut best: Option<(Timestamp, f64)> = None;
            for t in candidates {
                let cost = grid.integral(jobs.zone, t, t + run);
                if best.is_none_or(|(_, c)| cost < c - 1e-9) {
                    best = Some((t, cost));
                }
            }
            best.map(|(t, _)| t)
        })
        .collect()
}
