//! A KEDA-scaled queue worker whose `maxReplicaCount` a CarbonAwareKedaScaler caps.
//! Work arrives as replica-hours per hour (the workload's demand); what the cap holds back
//! waits in the queue, oldest first. The cap is decided at the top of each hour (when a new
//! forecast point starts) by `gridshift_core::caps::decide`, the capper's own decision.
//!
//! - carbon-agnostic: all work is served in the hour it arrives;
//! - gridshift: the KEDA capper. Its bucket rule is the original carbon-aware-keda-operator's
//!   (plus the minReplicaCount floor), so there is no separate peers row here;
//! - oracle: each hour's work is served in the cleanest hour of its window (arrival hour to
//!   arrival + maxDelay), with no capacity limit: a lower bound.
use crate::forecast::Forecaster;
use crate::inputs::{InputError, Scaled, duration};
use crate::result::{Decisions, Kind, ScenarioResult, Strategy, StrategyResult};
use gridshift_api::keda::CarbonAwareKedaScalerSpec;
use gridshift_core::Forecasts;
use gridshift_core::caps::decide;
use jiff::SignedDuration;
use std::collections::VecDeque;

pub fn run(
    f: &Forecaster<'_>,
    s: &Scaled,
    scaler: &CarbonAwareKedaScalerSpec,
    staleness_bound: SignedDuration,
) -> Result<ScenarioResult, InputError> {
    let grid = f.grid();
    let z = grid
        .zone_index(&s.zone)
        .ok_or_else(|| InputError::Invalid(format!("scaled {}: no trace for zone {:?}", s.name, s.zone)))?;
    let window = (duration(&format!("scaled {}: maxDelay", s.name), &s.max_delay)?.as_secs() / 3600) as usize;
    let p = s.power_kw_per_replica;
    let demand: Vec<f64> = (0..grid.hours).map(|h| s.demand.at(grid.at(h))).collect();
    let total: f64 = demand.iter().sum();
    let charge = |h: usize, amount: f64| amount * p * grid.value(z, h);

    let agnostic_g: Vec<f64> = demand.iter().enumerate().map(|(h, d)| charge(h, *d)).collect();

    let mut capped_g = vec![0.0; grid.hours];
    let mut capped_started = vec![0.0; grid.hours];
    let (mut late, mut delayed, mut unfinished) = (0.0, 0.0, 0.0);
    let mut queue: VecDeque<(usize, f64)> = VecDeque::new();
    let rules = scaler.cap_rules();
    for h in 0..grid.hours {
        if demand[h] > 0.0 {
            queue.push_back((h, demand[h]));
        }
        if queue.is_empty() {
            continue;
        }
        let forecasts = Forecasts::from_series([f.series(z, h)], staleness_bound);
        let d = decide(&rules, &forecasts, &grid.zones[z], Some(s.min_replica_count), grid.at(h)).map_err(
            |e| InputError::Invalid(format!("scaled {}: CarbonAwareKedaScaler {}: {e}", s.name, s.scaler)),
        )?;
        let mut capacity = f64::from(d.max_replicas.max(0));
        while capacity > 0.0 {
            let Some((arrived, amount)) = queue.front_mut() else { break };
            let served = amount.min(capacity);
            capacity -= served;
            *amount -= served;
            capped_g[h] += charge(h, served);
            capped_started[h] += served;
            delayed += served * (h - *arrived) as f64;
            if h > *arrived + window {
                late += served;
            }
            if *amount <= 1e-12 {
                queue.pop_front();
            }
        }
    }
    for (arrived, amount) in queue {
        let h = (arrived + window).min(grid.hours - 1);
        capped_g[h] += charge(h, amount);
        unfinished += amount;
        late += amount;
    }

    let mut oracle_g = vec![0.0; grid.hours];
    let mut oracle_started = vec![0.0; grid.hours];
    let mut oracle_delay = 0.0;
    for (a, d) in demand.iter().enumerate().filter(|(_, d)| **d > 0.0) {
        let last = (a + window).min(grid.hours - 1);
        let best = (a..=last).min_by(|x, y| grid.value(z, *x).total_cmp(&grid.value(z, *y))).unwrap_or(a);
        oracle_g[best] += charge(best, *d);
        oracle_started[best] += d;
        oracle_delay += d * (best - a) as f64;
    }

    let mut capped = StrategyResult::new(
        Strategy::Gridshift,
        format!("threshold caps of CarbonAwareKedaScaler {} (same rule as the original operator)", s.scaler),
        capped_g,
    );
    capped.deadline_misses = late;
    capped.work_units = total;
    capped.work_delayed_hours = delayed;
    capped.mean_delay_hours = if total > 0.0 { delayed / total } else { 0.0 };
    capped.unfinished = unfinished;
    Ok(ScenarioResult {
        name: s.name.clone(),
        kind: Kind::Scaled,
        zones: vec![s.zone.clone()],
        workload: format!("{total:.0} replica-hours of queued work, maxDelay {}", s.max_delay),
        strategies: vec![
            StrategyResult {
                work_units: total,
                ..StrategyResult::new(Strategy::CarbonAgnostic, "served on arrival", agnostic_g)
            },
            capped,
            StrategyResult {
                work_units: total,
                work_delayed_hours: oracle_delay,
                mean_delay_hours: if total > 0.0 { oracle_delay / total } else { 0.0 },
                ..StrategyResult::new(
                    Strategy::Oracle,
                    "cleanest hour within maxDelay, no capacity limit",
                    oracle_g,
                )
            },
        ],
        decisions: Decisions {
            zones: vec![z],
            placements: Vec::new(),
            starts: vec![
                (Strategy::CarbonAgnostic, demand),
                (Strategy::Gridshift, capped_started),
                (Strategy::Oracle, oracle_started),
            ],
        },
    }
    .finish())
}
