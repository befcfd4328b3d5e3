//! What-if simulator (issue #10): what a Gridshift policy would have saved on recorded
//! carbon-intensity traces, against carbon-agnostic operation, the peers' rules and the
//! oracle with perfect knowledge.
//!
//! Every decision is made by the controllers' own pure functions (DESIGN §1): placement by
//! `gridshift_api::policy::evaluate` (over `gridshift_core::placement`), KEDA caps by
//! `gridshift_core::caps::decide`, job deferral by `gridshift_core::scheduling::deferral::plan`.
//! This crate depends on gridshift-core and gridshift-api only. It only feeds them
//! what was known at each decision time ([`forecast`]) and charges the outcome to the
//! recorded intensities ([`trace`]).
#![forbid(unsafe_code)]

pub mod charts;
pub mod forecast;
pub mod inputs;
pub mod jobs;
pub mod output;
pub mod result;
pub mod scaled;
pub mod spatial;
pub mod suggest;
pub mod temporal;
pub mod trace;

use forecast::{ForecastSettings, Forecaster};
use inputs::{InputError, Inputs};
use jiff::{SignedDuration, Timestamp};
use result::{Kind, ScenarioResult, Strategy, StrategyResult};
use serde::Serialize;
use trace::Grid;

#[derive(Debug, Clone)]
pub struct RunOptions {
    /// One full run per value; 0 = perfect forecasts.
    pub forecast_maes: Vec<f64>,
    pub seed: u64,
    pub horizon_hours: usize,
    /// The hub's staleness bound, as the controllers apply it.
    pub staleness_bound: SignedDuration,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            forecast_maes: vec![0.0],
            seed: 1,
            horizon_hours: 48,
            staleness_bound: gridshift_core::DEFAULT_STALENESS_BOUND,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub traces: TraceSummary,
    pub runs: Vec<Run>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TraceSummary {
    pub start: Timestamp,
    pub end: Timestamp,
    pub hours: usize,
    pub zones: Vec<ZoneSummary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ZoneSummary {
    pub zone: String,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    /// Missing hours filled by interpolation.
    pub filled_hours: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub forecast: ForecastInfo,
    pub scenarios: Vec<ScenarioResult>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ForecastInfo {
    pub mae_target: f64,
    /// Mean absolute error of every forecast point actually generated.
    pub mae_measured: f64,
    pub seed: u64,
    pub horizon_hours: usize,
}

/// The zones a workload refers to (so an unrelated trace does not narrow the span).
pub fn zones_used(inputs: &Inputs) -> Vec<String> {
    let w = &inputs.workload;
    let mut zones: Vec<String> = w.jobs.iter().map(|j| j.zone.clone()).collect();
    zones.extend(w.scaled.iter().map(|s| s.zone.clone()));
    for p in &w.placements {
        if let Some(spec) = inputs.karmada.get(&p.policy) {
            zones.extend(spec.cluster_locations.iter().map(|c| c.location.clone()));
        }
    }
    zones.sort();
    zones.dedup();
    zones
}

pub fn summarize(grid: &Grid) -> TraceSummary {
    let zones = grid
        .zones
        .iter()
        .enumerate()
        .map(|(z, zone)| {
            let v = grid.values(z);
            ZoneSummary {
                zone: zone.to_string(),
                mean: v.iter().sum::<f64>() / v.len().max(1) as f64,
                min: v.iter().copied().fold(f64::INFINITY, f64::min),
                max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                filled_hours: grid.filled_hours(z),
            }
        })
        .collect();
    TraceSummary { start: grid.start, end: grid.end(), hours: grid.hours, zones }
}

/// Runs every scenario of the workload once per forecast-error setting.
pub fn simulate(grid: &Grid, inputs: &Inputs, opts: &RunOptions) -> Result<Report, InputError> {
    inputs.validate()?;
    // KEDA's carbonIntensityDuration rule looks back; give it the recorded hours it needs.
    let lookback = inputs
        .keda
        .values()
        .filter_map(|s| s.eco_mode_off.carbon_intensity_duration)
        .map(|d| (i64::from(d.override_eco_after_duration_in_mins.max(0)) / 60 + 1) as usize)
        .max()
        .unwrap_or(1);
    let job_sets = inputs
        .workload
        .jobs
        .iter()
        .map(|g| jobs::Jobs::from_group(g, grid))
        .collect::<Result<Vec<_>, _>>()?;
    let mut runs = Vec::new();
    for &mae in &opts.forecast_maes {
        let settings = ForecastSettings {
            mae,
            seed: opts.seed,
            horizon_hours: opts.horizon_hours,
            lookback_hours: lookback,
        };
        let f = Forecaster::new(grid, settings);
        let mut scenarios = Vec::new();
        for (g, set) in inputs.workload.jobs.iter().zip(&job_sets) {
            let caps = match &g.scaler {
                Some(name) => Some(temporal::Caps {
                    name,
                    spec: inputs.keda_spec(name, &g.name)?,
                    min_replica_count: g.min_replica_count,
                    staleness_bound: opts.staleness_bound,
                }),
                None => None,
            };
            let planner = inputs.planner_for(g)?;
            let bound = planner.staleness_bound.unwrap_or(opts.staleness_bound);
            let r = temporal::run(&g.name, &f, set, &planner.config, bound, caps)
                .map_err(|e| InputError::Invalid(format!("jobs {}: CarbonAwareKedaScaler: {e}", g.name)))?;
            scenarios.push(r);
        }
        if scenarios.len() > 1 {
            let all = total(grid, "all job groups", &scenarios);
            scenarios.push(all);
        }
        for p in &inputs.workload.placements {
            let spec = &inputs.karmada[&p.policy];
            scenarios.push(spatial::run(&p.name, &f, spec, p, opts.staleness_bound)?);
        }
        for s in &inputs.workload.scaled {
            let spec = inputs.keda_spec(&s.scaler, &s.name)?;
            scenarios.push(scaled::run(&f, s, spec, opts.staleness_bound)?);
        }
        let mae_measured = if mae > 0.0 { f.measured_mae() } else { 0.0 };
        runs.push(Run {
            forecast: ForecastInfo {
                mae_target: mae,
                mae_measured,
                seed: opts.seed,
                horizon_hours: opts.horizon_hours,
            },
            scenarios,
        });
    }
    Ok(Report { traces: summarize(grid), runs })
}

/// The temporal scenarios summed per strategy (strategies every scenario has).
fn total(grid: &Grid, name: &str, scenarios: &[ScenarioResult]) -> ScenarioResult {
    let temporal: Vec<&ScenarioResult> = scenarios.iter().filter(|s| s.kind == Kind::Temporal).collect();
    let strategies = [Strategy::CarbonAgnostic, Strategy::Gridshift, Strategy::Peers, Strategy::Oracle]
        .into_iter()
        .filter(|s| temporal.iter().all(|sc| sc.get(*s).is_some()))
        .map(|s| {
            let rows: Vec<&StrategyResult> = temporal.iter().filter_map(|sc| sc.get(s)).collect();
            let mut hourly = vec![0.0; grid.hours];
            for r in &rows {
                for (acc, v) in hourly.iter_mut().zip(&r.hourly_g) {
                    *acc += v;
                }
            }
            let mut t = StrategyResult::new(s, "sum over the job groups", hourly);
            t.deadline_misses = rows.iter().map(|r| r.deadline_misses).sum();
            t.work_delayed_hours = rows.iter().map(|r| r.work_delayed_hours).sum();
            t.unfinished = rows.iter().map(|r| r.unfinished).sum();
            t.work_units = rows.iter().map(|r| r.work_units).sum();
            t.mean_delay_hours = if t.work_units > 0.0 { t.work_delayed_hours / t.work_units } else { 0.0 };
            t
        })
        .collect();
    let mut zones: Vec<String> = temporal.iter().flat_map(|s| s.zones.clone()).collect();
    zones.dedup();
    ScenarioResult {
        name: name.into(),
        kind: Kind::Temporal,
        zones,
        workload: format!("{} job groups", temporal.len()),
        strategies,
        decisions: Default::default(),
    }
    .finish()
}
