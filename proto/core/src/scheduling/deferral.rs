//! Temporal shifting: the pure planner that decides whether a pod that opted in
//! should start now or wait for a cleaner window before its deadline.
//!
//! A pod opts in with annotations (see the module README):
//! - `gridshift.io/max-delay: 6h` — may start up to 6 h after it was created, and/or
//! - `gridshift.io/deadline: 2022-01-12T06:00:00Z` — must have *finished* by then;
//! - `gridshift.io/expected-runtime: 1h` — how long it runs (default 1 h).
//!
//! Its latest start is the earlier of `created + max-delay` and `deadline − runtime`.
//! The planner picks the start in `[now, latest start]` with the lowest mean forecast
//! intensity over the run, in the best zone the pod could run in. It runs the pod now
//! when: now is (nearly) the best; the latest start has come, whatever the data; or
//! there is no fresh data (fail-open, invariant 4). It is called again whenever the
//! pod is reconsidered, so a revised forecast revises the plan, never past the latest start.
use std::collections::BTreeMap;

use crate::forecasts::Forecasts;
use crate::series::Series;
use jiff::{SignedDuration, Timestamp};

pub const ANNOTATION_MAX_DELAY: &str = "gridshift.io/max-delay";
pub const ANNOTATION_DEADLINE: &str = "gridshift.io/deadline";
pub const ANNOTATION_EXPECTED_RUNTIME: &str = "gridshift.io/expected-runtime";
pub const DEFAULT_EXPECTED_RUNTIME: SignedDuration = SignedDuration::from_hours(1);

/// The PodScheduled=False condition reason for a pod waiting for a cleaner window.
pub const WAIT_REASON: &str = "WaitingForCleanerEnergy";

/// What the pod's annotations ask for.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum DeferralRequest {
    /// No deferral annotations: schedule now (spatial shifting only).
    #[default]
    None,
    Defer(DeferralSpec),
    /// Annotations present but unusable: scheduled now, and the message says why.
    Invalid(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeferralSpec {
    pub max_delay: Option<SignedDuration>,
    pub deadline: Option<Timestamp>,
    pub expected_runtime: SignedDuration,
}

impl DeferralSpec {
    /// The last instant the pod may start and still keep its promises.
    pub fn latest_start(&self, created: Timestamp) -> Timestamp {
        let by_delay = self.max_delay.map(|d| created.saturating_add(d).unwrap_or(Timestamp::MAX));
        let by_deadline =
            self.deadline.map(|d| d.saturating_sub(self.expected_runtime).unwrap_or(Timestamp::MIN));
        match (by_delay, by_deadline) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => created,
        }
    }
}

/// Reads the deferral annotations. Durations accept Go/kubectl style (`6h`, `1h30m`,
/// `90m`) and ISO 8601 (`PT6H`); the deadline is RFC 3339.
pub fn parse_annotations(annotations: &BTreeMap<String, String>) -> DeferralRequest {
    let get = |k: &str| annotations.get(k).map(|v| v.trim());
    let (delay, deadline, runtime) =
        (get(ANNOTATION_MAX_DELAY), get(ANNOTATION_DEADLINE), get(ANNOTATION_EXPECTED_RUNTIME));
    if delay.is_none() && deadline.is_none() {
        return match runtime {
            Some(_) => DeferralRequest::Invalid(format!(
                "{ANNOTATION_EXPECTED_RUNTIME} without {ANNOTATION_MAX_DELAY} or {ANNOTATION_DEADLINE}: not deferred"
            )),
            None => DeferralRequest::None,
        };
    }
    let positive = |key: &str, v: &str| -> Result<SignedDuration, String> {
        match parse_duration(v) {
            Some(d) if d > SignedDuration::ZERO => Ok(d),
            _ => Err(format!("{key}: {v:?} is not a positive duration (e.g. 6h, 90m, 1h30m): not deferred")),
        }
    };
    let parsed = (|| {
        let max_delay = delay.map(|v| positive(ANNOTATION_MAX_DELAY, v)).transpose()?;
        let deadline = deadline
            .map(|v| {
                v.parse::<Timestamp>().map_err(|_| {
                    format!("{ANNOTATION_DEADLINE}: {v:?} is not an RFC 3339 time (e.g. 2025-01-31T06:00:00Z): not deferred")
                })
            })
            .transpose()?;
        let expected_runtime = runtime
            .map(|v| positive(ANNOTATION_EXPECTED_RUNTIME, v))
            .transpose()?
            .unwrap_or(DEFAULT_EXPECTED_RUNTIME);
        Ok::<_, String>(DeferralSpec { max_delay, deadline, expected_runtime })
    })();
    match parsed {
        Ok(spec) => DeferralRequest::Defer(spec),
        Err(msg) => DeferralRequest::Invalid(msg),
    }
}

/// `6h`, `1h30m`, `90m`, `45s`, `1.5h`, `PT6H`, `6 hours`.
pub fn parse_duration(s: &str) -> Option<SignedDuration> {
    s.parse::<SignedDuration>().ok()
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PlannerConfig {
    /// Wait only for at least this relative cut in mean intensity (0.05 = 5%): waiting
    /// costs latency and risks a wrong forecast, so a negligible gain is not worth it.
    pub min_improvement: f64,
    /// However the annotations read, never hold a pod longer than this after creation.
    pub max_delay_cap: SignedDuration,
}

impl Default for PlannerConfig {
    fn default() -> Self {
        Self { min_improvement: 0.05, max_delay_cap: SignedDuration::from_hours(7 * 24) }
    }
}

/// Why a deferrable pod runs now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum RunNowWhy {
    /// The latest start has come: released whatever the data.
    LatestStartReached,
    /// No fresh forecast for any zone it could run in (fail-open).
    NoFreshData,
    /// The forecast does not cover a whole run starting now.
    ForecastTooShort,
    /// No later window is clean enough to be worth waiting for.
    NowIsBest,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum Plan {
    RunNow { why: RunNowWhy, message: String },
    Wait(WaitPlan),
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WaitPlan {
    /// The planned start.
    pub start: Timestamp,
    pub latest_start: Timestamp,
    /// Reconsider no later than this even if nothing changes: the planned start, or
    /// earlier when the forecast it rests on goes stale first (then it runs at once).
    pub recheck_by: Timestamp,
    /// The zone whose forecast gave the best window.
    pub zone: String,
    /// Mean intensity (gCO2eq/kWh) over the run if started now / at `start`.
    pub now_mean: f64,
    pub planned_mean: f64,
    /// For PodScheduled=False and the event.
    pub message: String,
}

/// Decides run-now or wait for one deferrable pod. `zones` are the zones of the nodes it
/// could run on; only their usable forecasts count.
pub fn plan(
    spec: &DeferralSpec,
    created: Timestamp,
    now: Timestamp,
    forecasts: &Forecasts,
    zones: &[&str],
    cfg: &PlannerConfig,
) -> Plan {
    let cap = created.saturating_add(cfg.max_delay_cap).unwrap_or(Timestamp::MAX);
    let latest_start = spec.latest_start(created).min(cap);
    if now >= latest_start {
        return run_now(
            RunNowWhy::LatestStartReached,
            format!("latest start {latest_start} reached; starting now"),
        );
    }
    let fresh: Vec<&Series> = zones.iter().filter_map(|z| forecasts.usable(z, now)).collect();
    if fresh.is_empty() {
        return run_now(
            RunNowWhy::NoFreshData,
            "no fresh carbon-intensity forecast for this pod's zones; starting now (fail-open)".into(),
        );
    }
    let runtime = spec.expected_runtime;
    // The best zone's mean over [t, t + runtime).
    let cost = |t: Timestamp| -> Option<(f64, &str)> {
        let end = t.saturating_add(runtime).ok()?;
        fresh
            .iter()
            .filter_map(|s| s.mean_over(t, end).map(|m| (m, s.zone.as_str())))
            .min_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1)))
    };
    let Some((now_mean, _)) = cost(now) else {
        return run_now(
            RunNowWhy::ForecastTooShort,
            format!("the forecast does not cover a {} run starting now; starting now", fmt_duration(runtime)),
        );
    };
    // The window mean is piecewise linear in the start time, so its minimum lies where
    // the window's start or end crosses a slot boundary (or at the interval's ends).
    // Only starts in [now, latest start] count; keeping just those keeps the sort small.
    let mut candidates = vec![now, latest_start];
    let mut consider = |t: Timestamp| {
        if t >= now && t <= latest_start {
            candidates.push(t);
        }
    };
    for s in &fresh {
        for p in &s.points {
            for b in [p.start, p.end()] {
                consider(b);
                if let Ok(t) = b.checked_sub(runtime) {
                    consider(t);
                }
            }
        }
    }
    candidates.sort_unstable();
    candidates.dedup();
    let mut best: Option<(Timestamp, f64, &str)> = None;
    for t in candidates {
        if let Some((m, zone)) = cost(t) {
            // Strictly better only: among equals the earliest start wins.
            if best.is_none_or(|(_, bm, _)| m < bm) {
                best = Some((t, m, zone));
            }
        }
    }
    let Some((start, planned_mean, zone)) = best else {
        return run_now(
            RunNowWhy::NowIsBest,
            "no cleaner window before the latest start; starting now".into(),
        );
    };
    if start == now || now_mean - planned_mean <= cfg.min_improvement * now_mean {
        return run_now(
            RunNowWhy::NowIsBest,
            format!(
                "now ({now_mean:.0} gCO2eq/kWh) is within {:.0}% of the cleanest start before {latest_start}; starting now",
                cfg.min_improvement * 100.0
            ),
        );
    }
    // The first instant the data behind the plan is stale (`is_fresh` still accepts an
    // age equal to the bound): re-planning any earlier would find the same plan.
    let stale_at = fresh.iter().filter_map(|s| forecasts.stale_from(&s.zone)).min().unwrap_or(start);
    let message = format!(
        "waiting for cleaner electricity: planned start {start} in {zone} ({planned_mean:.0} vs {now_mean:.0} gCO2eq/kWh \
         now over a {} run, {:.0}% less); starts by {latest_start} at the latest",
        fmt_duration(runtime),
        (now_mean - planned_mean) / now_mean * 100.0
    );
    Plan::Wait(WaitPlan {
        start,
        latest_start,
        recheck_by: start.min(stale_at.max(now)),
        zone: zone.to_string(),
        now_mean,
        planned_mean,
        message,
    })
}

fn run_now(why: RunNowWhy, message: String) -> Plan {
    Plan::RunNow { why, message }
}

fn fmt_duration(d: SignedDuration) -> String {
    format!("{d:#}")
}

#[cfg(test)]
mod tests;
