//! Deferrable jobs: turning a `JobGroup` into concrete jobs, and charging a set of start
//! times to the recorded intensities.
use crate::inputs::{InputError, JobGroup, duration};
use crate::result::{Strategy, StrategyResult};
use crate::trace::Grid;
use gridshift_core::scheduling::DeferralSpec;
use gridshift_core::splitmix::SplitMix;
use jiff::{SignedDuration, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Job {
    pub arrival: Timestamp,
    pub spec: DeferralSpec,
}

impl Job {
    pub fn latest_start(&self) -> Timestamp {
        self.spec.latest_start(self.arrival)
    }

    pub fn runtime(&self) -> SignedDuration {
        self.spec.expected_runtime
    }
}

/// The jobs of one group, sorted by arrival, all fitting inside the grid.
#[derive(Debug, Clone)]
pub struct Jobs {
    pub zone: usize,
    pub power_kw: f64,
    pub runtime: SignedDuration,
    /// Latest start − arrival (the same for every job of a group).
    pub slack: SignedDuration,
    pub list: Vec<Job>,
}

impl Jobs {
    pub fn from_group(g: &JobGroup, grid: &Grid) -> Result<Self, InputError> {
        let what = |f: &str| format!("jobs {}: {f}", g.name);
        let zone = grid
            .zone_index(&g.zone)
            .ok_or_else(|| InputError::Invalid(what(&format!("no trace for zone {:?}", g.zone))))?;
        let runtime = duration(&what("runtime"), &g.runtime)?;
        if runtime <= SignedDuration::ZERO {
            return Err(InputError::Invalid(what("runtime must be positive")));
        }
        let max_delay = g.max_delay.as_deref().map(|d| duration(&what("maxDelay"), d)).transpose()?;
        let deadline_after =
            g.deadline_after.as_deref().map(|d| duration(&what("deadlineAfter"), d)).transpose()?;
        let spec_at = |arrival: Timestamp| DeferralSpec {
            max_delay,
            deadline: deadline_after.map(|d| arrival + d),
            expected_runtime: runtime,
        };
        let slack = spec_at(grid.start).latest_start(grid.start).duration_since(grid.start);
        if slack < SignedDuration::ZERO {
            return Err(InputError::Invalid(what("deadlineAfter is shorter than the runtime")));
        }
        // The last arrival whose slack and run fit inside the traces.
        let last = grid.end() - slack - runtime;
        if last < grid.start {
            return Err(InputError::Invalid(what("slack and runtime do not fit inside the traces")));
        }
        let a = &g.arrivals;
        let mut arrivals: Vec<Timestamp> = match (&a.every, a.count, a.at.is_empty()) {
            (Some(every), None, true) => {
                let every = duration(&what("arrivals.every"), every)?;
                if every <= SignedDuration::ZERO {
                    return Err(InputError::Invalid(what("arrivals.every must be positive")));
                }
                let offset =
                    a.offset.as_deref().map(|o| duration(&what("arrivals.offset"), o)).transpose()?;
                let mut t = grid.start + offset.unwrap_or_default();
                let mut out = Vec::new();
                while t <= last {
                    out.push(t);
                    t += every;
                }
                out
            }
            (None, Some(n), true) => {
                let mut rng = SplitMix::new(a.seed ^ 0x5EED);
                let span = last.duration_since(grid.start).as_secs_f64();
                (0..n)
                    .map(|_| grid.start + SignedDuration::from_secs((rng.unit() * span).floor() as i64))
                    .collect()
            }
            (None, None, false) => {
                if let Some(t) = a.at.iter().find(|t| **t < grid.start || **t > last) {
                    return Err(InputError::Invalid(what(&format!(
                        "arrival {t} is outside {} .. {last} (slack and runtime must fit inside the traces)",
                        grid.start
                    ))));
                }
                a.at.clone()
            }
            _ => return Err(InputError::Invalid(what("arrivals: give exactly one of every, count or at"))),
        };
        arrivals.sort();
        let list = arrivals.into_iter().map(|arrival| Job { arrival, spec: spec_at(arrival) }).collect();
        Ok(Self { zone, power_kw: g.power_kw, runtime, slack, list })
    }

    pub fn describe(&self) -> String {
        format!("{} jobs of {:#}, slack {:#}", self.list.len(), self.runtime, self.slack)
    }

    /// Charges `starts` (one per job; `None` = never started inside the traces: charged at
    /// its latest start, counted unfinished and as a deadline miss) to the recorded
    /// intensities.
    pub fn charge(
        &self,
        grid: &Grid,
        strategy: Strategy,
        rule: impl Into<String>,
        starts: &[Option<Timestamp>],
    ) -> (StrategyResult, Vec<f64>) {
        let mut hourly = vec![0.0; grid.hours];
        let mut started = vec![0.0; grid.hours];
        let (mut misses, mut delayed, mut unfinished) = (0.0, 0.0, 0.0);
        for (job, start) in self.list.iter().zip(starts) {
            let s = start.unwrap_or_else(|| {
                unfinished += 1.0;
                misses += 1.0;
                job.latest_start()
            });
            if start.is_some_and(|s| s > job.latest_start()) {
                misses += 1.0;
            }
            delayed += s.duration_since(job.arrival).as_secs_f64() / 3600.0;
            let end = s + job.runtime();
            let first = grid.hour_of(s).max(0) as usize;
            if let Some(b) = started.get_mut(first) {
                *b += 1.0;
            }
            let mut h = first;
            while h < grid.hours && grid.at(h) < end {
                let (a, b) = (s.max(grid.at(h)), end.min(grid.at(h + 1)));
                hourly[h] += self.power_kw * grid.integral(self.zone, a, b);
                h += 1;
            }
        }
        let mut r = StrategyResult::new(strategy, rule, hourly);
        r.deadline_misses = misses;
        r.work_units = self.list.len() as f64;
        r.work_delayed_hours = delayed;
        r.mean_delay_hours = if self.list.is_empty() { 0.0 } else { delayed / self.list.len() as f64 };
        r.unfinished = unfinished;
        (r, started)
    }
}
