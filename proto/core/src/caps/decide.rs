//! The pure replica-cap decision for one CarbonAwareKedaScaler at instant `now`.
//!
//! Mirrors the original operator's rules (bucket rule, ecoModeOff precedence) with its
//! failure modes fixed: bad input is an `InvalidSpec` (the controller reports a condition
//! and writes nothing) instead of a panic, and the cap never goes below `minReplicaCount`.
use super::{CapRules, CarbonIntensityConfig, CarbonIntensityDuration, EcoModeOff};
use crate::forecasts::{Forecasts, ZoneData};
use crate::series::Series;
use jiff::{SignedDuration, Timestamp};
use std::fmt;
use std::str::FromStr;

/// The cap to write to the KEDA target, with everything status needs to explain it.
#[derive(Debug, Clone, PartialEq)]
pub struct CapDecision {
    /// The `maxReplicaCount` to apply (already clamped to `minReplicaCount`).
    pub max_replicas: i32,
    /// Index of the intensity bucket in ascending-threshold order, when intensity is known.
    pub bucket: Option<usize>,
    /// Intensity at `now`: the point covering it, or the last value carried forward.
    pub intensity: Option<f64>,
    /// Why the carbon-aware cap is not in force, if it is not.
    pub eco_mode_off: Option<EcoModeOffReason>,
    /// True when the computed cap was raised to the target's `minReplicaCount`.
    pub clamped_to_min: bool,
    /// One human-readable sentence for status and events.
    pub reason: String,
    /// When this decision may next change (forecast point boundary, schedule edge, the
    /// forecast turning stale, or the next minute while minute-granular rules are
    /// configured); the controller requeues then.
    pub next_review: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EcoModeOffReason {
    CustomSchedule {
        start: Timestamp,
        end: Timestamp,
    },
    RecurringSchedule {
        cron: String,
    },
    CarbonIntensityDuration {
        threshold: i32,
        minutes: i32,
    },
    /// No usable value for `now` (missing data fails open, invariant 4).
    NoForecast,
    /// The forecast is older than the staleness bound (stale data fails open, invariant 4).
    StaleForecast {
        age: SignedDuration,
        /// When the data was obtained; the message names this rather than the age, which
        /// would change (and rewrite status) on every reconcile.
        generated_at: Timestamp,
    },
}

impl fmt::Display for EcoModeOffReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CustomSchedule { start, end } => write!(f, "custom schedule from {start} to {end}"),
            Self::RecurringSchedule { cron } => write!(f, "recurring schedule \"{cron}\""),
            Self::CarbonIntensityDuration { threshold, minutes } => {
                write!(f, "carbon intensity >= {threshold} for the last {minutes} minutes")
            }
            Self::NoForecast => f.write_str("no forecast data for the current time"),
            Self::StaleForecast { generated_at, .. } => {
                write!(f, "forecast from {generated_at} is older than the staleness bound")
            }
        }
    }
}

/// A spec that cannot be acted on; nothing is written while it stands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSpec {
    #[error("maxReplicasByCarbonIntensity is empty")]
    NoThresholds,
    #[error("ecoModeOff.customSchedule[{index}].{field} {value:?} is not an RFC3339 timestamp: {error}")]
    Timestamp { index: usize, field: &'static str, value: String, error: String },
    #[error(
        "ecoModeOff.recurringSchedule[{index}] {value:?} is not a valid 5-field cron expression: {error}"
    )]
    Cron { index: usize, value: String, error: String },
}

/// Why no bucket applies; the original returns this as an error and falls back to
/// `ecoModeOff.maxReplicas`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BucketError {
    #[error("no forecast data")]
    NoForecast,
    #[error("no thresholds configured")]
    NoThresholds,
}

/// The bucket rule of the original: thresholds sorted ascending, `v` falls in the first
/// bucket with `previous < v <= threshold` (previous of the first is 0); anything else
/// (above the top threshold, or `v <= 0`) gets the last bucket. Returns (index, maxReplicas).
pub fn bucket_for(
    intensity: Option<f64>,
    configs: &[CarbonIntensityConfig],
) -> Result<(usize, i32), BucketError> {
    let v = intensity.ok_or(BucketError::NoForecast)?;
    let mut sorted = configs.to_vec();
    // Stable, so equal thresholds resolve deterministically (Go's sort.Slice is unstable):
    // the first listed wins.
    sorted.sort_by_key(|c| c.carbon_intensity_threshold);
    let last = sorted.len().checked_sub(1).ok_or(BucketError::NoThresholds)?;
    let mut lower = 0.0;
    for (i, c) in sorted.iter().enumerate() {
        let upper = f64::from(c.carbon_intensity_threshold);
        if v > lower && v <= upper {
            return Ok((i, c.max_replicas));
        }
        lower = upper;
    }
    Ok((last, sorted[last].max_replicas))
}

/// Decides the cap for `spec` at `now` from the forecast of `zone`; a forecast older than
/// the staleness bound counts as none. `min_replica_count` is the target's
/// `minReplicaCount` (KEDA's default is 0).
pub fn decide(
    spec: &CapRules,
    forecasts: &Forecasts,
    zone: &str,
    min_replica_count: Option<i32>,
    now: Timestamp,
) -> Result<CapDecision, InvalidSpec> {
    if spec.max_replicas_by_carbon_intensity.is_empty() {
        return Err(InvalidSpec::NoThresholds);
    }
    let eco = &spec.eco_mode_off;
    // Validate every schedule up front: the original only parsed entries it reached, so a
    // bad entry surfaced (as a panic) only at some later time.
    let windows = parse_custom_schedule(eco)?;
    let crons = parse_recurring_schedule(eco)?;

    let (forecast, reading, stale) = match forecasts.data(zone, now) {
        ZoneData::Usable(r) => (Some(r.series), Some(r), None),
        // Before the first point: nothing yet, but review when it starts.
        ZoneData::Uncovered(s) => (Some(s), None, None),
        ZoneData::Stale(s) => (None, None, Some((s.age(now), s.generated_at))),
        ZoneData::Future(_) | ZoneData::Missing => (None, None, None),
    };
    let intensity = reading.map(|r| r.value());
    let carried = reading.filter(|r| r.carried_forward).map(|r| r.valid_from());
    let bucket = bucket_for(intensity, &spec.max_replicas_by_carbon_intensity);

    let minute_granular = !crons.is_empty() || eco.carbon_intensity_duration.is_some();
    // The instant usable data turns stale changes the decision too (it fails open then).
    let stale_from = forecast.and(forecasts.stale_from(zone)).filter(|&t| t > now);
    let next_review =
        next_review(&windows, minute_granular, forecast, now).into_iter().chain(stale_from).min();
    let off = windows
        .iter()
        .copied()
        .find(|&(start, end)| start < now && now < end)
        .map(|(start, end)| EcoModeOffReason::CustomSchedule { start, end })
        .or_else(|| {
            let minute = minute_start(now)?;
            crons
                .iter()
                .find(|(_, cron)| cron.is_time_matching(&minute).unwrap_or(false))
                .map(|(text, _)| EcoModeOffReason::RecurringSchedule { cron: text.clone() })
        })
        .or_else(|| {
            let d = eco.carbon_intensity_duration.filter(|d| d.override_eco_after_duration_in_mins > 0)?;
            duration_exceeded(forecast?, d, now).then_some(EcoModeOffReason::CarbonIntensityDuration {
                threshold: d.carbon_intensity_threshold,
                minutes: d.override_eco_after_duration_in_mins,
            })
        })
        .or_else(|| {
            bucket.is_err().then_some(match stale {
                Some((age, generated_at)) => EcoModeOffReason::StaleForecast { age, generated_at },
                None => EcoModeOffReason::NoForecast,
            })
        });

    let (cap, mut reason) = match (&off, bucket) {
        (Some(why), _) => (eco.max_replicas, format!("eco mode off ({why}): ecoModeOff.maxReplicas")),
        (None, Ok((i, cap))) => {
            let v = intensity.unwrap_or_default();
            let since = carried.map(|t| format!(" (carried forward from {t})")).unwrap_or_default();
            (cap, format!("carbon intensity {v} gCO2eq/kWh{since} is in bucket {i}"))
        }
        // Unreachable by construction (a bucket error sets `off`), but fail open regardless.
        (None, Err(e)) => (eco.max_replicas, format!("{e}: ecoModeOff.maxReplicas")),
    };
    let min = min_replica_count.unwrap_or(0);
    let clamped_to_min = cap < min;
    let max_replicas = cap.max(min);
    reason = if clamped_to_min {
        format!("{reason} = {cap}, raised to minReplicaCount {min}")
    } else {
        format!("{reason} = {max_replicas}")
    };
    Ok(CapDecision {
        max_replicas,
        bucket: bucket.ok().map(|(i, _)| i),
        intensity,
        eco_mode_off: off,
        clamped_to_min,
        reason,
        next_review,
    })
}

/// The earliest instant after `now` at which an input to the decision changes.
fn next_review(
    windows: &[(Timestamp, Timestamp)],
    minute_granular: bool,
    forecast: Option<&Series>,
    now: Timestamp,
) -> Option<Timestamp> {
    let point_edge = forecast.and_then(|s| {
        let after = s.points.partition_point(|p| p.start <= now);
        // The current point's end, or (in a gap / before the data) the next point's start.
        s.point_at(now).map(|p| p.end()).or_else(|| s.points.get(after).map(|p| p.start))
    });
    let schedule_edge = windows.iter().flat_map(|&(a, b)| [a, b]).filter(|&t| t > now).min();
    let next_minute = minute_granular
        .then(|| minute_start(now))
        .flatten()
        .and_then(|m| Timestamp::from_second(m.timestamp() + 60).ok());
    [point_edge, schedule_edge, next_minute].into_iter().flatten().min()
}

fn parse_custom_schedule(eco: &EcoModeOff) -> Result<Vec<(Timestamp, Timestamp)>, InvalidSpec> {
    let parse = |index: usize, field: &'static str, value: &str| {
        Timestamp::from_str(value).map_err(|e| InvalidSpec::Timestamp {
            index,
            field,
            value: value.to_owned(),
            error: e.to_string(),
        })
    };
    eco.custom_schedule
        .iter()
        .enumerate()
        .map(|(i, s)| Ok((parse(i, "startTime", &s.start_time)?, parse(i, "endTime", &s.end_time)?)))
        .collect()
}

fn parse_recurring_schedule(eco: &EcoModeOff) -> Result<Vec<(String, croner::Cron)>, InvalidSpec> {
    // Plain five-field cron (minute..weekday), as users of the original write it; seconds
    // and years would be read differently by different parsers, so they are rejected.
    let parser = croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Disallowed)
        .year(croner::parser::Year::Disallowed)
        .build();
    eco.recurring_schedule
        .iter()
        .enumerate()
        .map(|(index, text)| {
            parser.parse(text).map(|c| (text.clone(), c)).map_err(|e| InvalidSpec::Cron {
                index,
                value: text.clone(),
                error: e.to_string(),
            })
        })
        .collect()
}

/// `now` truncated to its UTC minute: a cron entry turns eco mode off for the whole
/// minute it names. None only for instants chrono cannot represent.
fn minute_start(now: Timestamp) -> Option<chrono::DateTime<chrono::Utc>> {
    let secs = now.as_second();
    chrono::DateTime::from_timestamp(secs - secs.rem_euclid(60), 0)
}

/// The original's duration rule: sample every whole minute back from `now` (now, now-1m,
/// …, now-(n-1)m); eco mode turns off when every sample has a value >= threshold. A
/// sample takes the value of the last point started by then (carried forward past its
/// end, as everywhere). Walks points rather than minutes, so a huge duration costs no
/// more than the series.
fn duration_exceeded(series: &Series, d: CarbonIntensityDuration, now: Timestamp) -> bool {
    let threshold = f64::from(d.carbon_intensity_threshold);
    let minute = SignedDuration::from_mins(1);
    let mut k = i64::from(d.override_eco_after_duration_in_mins) - 1; // oldest sample first
    while k >= 0 {
        // k < 2^31 minutes, far inside SignedDuration's range.
        let Some(t) = now.checked_sub(SignedDuration::from_mins(k)).ok() else {
            return false;
        };
        let Some((p, _)) = series.latest_at(t) else { return false };
        if p.value < threshold {
            return false;
        }
        // `p` holds until the next point starts.
        let next = series.points.partition_point(|q| q.start <= t);
        let Some(until) = series.points.get(next).map(|q| q.start).filter(|&s| s <= now) else {
            return true; // `p` gives every remaining sample
        };
        // The next sample to check is the oldest at or after `until`: index
        // floor((now - until)/1m), always < k.
        let gap = now.duration_since(until).as_nanos();
        k = i64::try_from(gap / minute.as_nanos()).unwrap_or(i64::MAX).min(k - 1);
    }
    true
}
