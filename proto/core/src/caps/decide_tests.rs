//! The original operator's own vectors plus the fixes listed in issue #6.
use super::decide::{BucketError, CapDecision, EcoModeOffReason, InvalidSpec, bucket_for};
use super::{CapRules, CarbonIntensityConfig, CarbonIntensityDuration, EcoModeOff, Schedule};
use crate::forecasts::Forecasts;
use crate::series::{ForecastPoint, Series, Signal};
use crate::testing::{Rng, series as build, zone};
use jiff::{SignedDuration, Timestamp};

const ECO_OFF_MAX: i32 = 55;
/// Staleness bound; test series are generated at `now()`, so they are fresh unless a test ages them.
const BOUND: SignedDuration = SignedDuration::from_hours(1);

fn now() -> Timestamp {
    // A Monday, 12:00:30 UTC: mid-minute, so minute truncation is exercised.
    "2026-03-02T12:00:30Z".parse().expect("ts")
}

/// The original's unsorted thresholds.
fn thresholds() -> Vec<CarbonIntensityConfig> {
    [(100, 10), (90, 20), (40, 80)]
        .into_iter()
        .map(|(t, m)| CarbonIntensityConfig { carbon_intensity_threshold: t, max_replicas: m })
        .collect()
}

fn spec() -> CapRules {
    CapRules {
        max_replicas_by_carbon_intensity: thresholds(),
        eco_mode_off: EcoModeOff {
            max_replicas: ECO_OFF_MAX,
            carbon_intensity_duration: None,
            custom_schedule: vec![],
            recurring_schedule: vec![],
        },
    }
}

/// Points of `step_mins` each, the first starting `first_offset_mins` from `now()`.
fn series(first_offset_mins: i64, step_mins: i64, values: &[f64]) -> Series {
    let start = now() + SignedDuration::from_mins(first_offset_mins);
    build("DE", start)
        .step(SignedDuration::from_mins(step_mins))
        .generated_at(now())
        .estimated()
        .values(values)
}

/// The decision for zone DE with `forecast` (or none) under staleness bound `bound`.
fn decide(
    spec: &CapRules,
    forecast: Option<&Series>,
    min_replica_count: Option<i32>,
    bound: SignedDuration,
    now: Timestamp,
) -> Result<CapDecision, InvalidSpec> {
    let forecasts = Forecasts::from_series(forecast.cloned(), bound);
    super::decide(spec, &forecasts, "DE", min_replica_count, now)
}

#[test]
fn original_bucket_vectors() {
    let cases = [(100.0, 10), (30.0, 80), (101.0, 10), (101_010.0, 10), (67.0, 20)];
    for (v, want) in cases {
        let (_, got) = bucket_for(Some(v), &thresholds()).expect("bucket");
        assert_eq!(got, want, "v={v}");
    }
}

#[test]
fn bucket_bounds_and_non_positive_values() {
    // Ascending order is [40→80, 90→20, 100→10]: lower bounds exclusive, upper inclusive.
    assert_eq!(bucket_for(Some(40.0), &thresholds()), Ok((0, 80)));
    assert_eq!(bucket_for(Some(40.5), &thresholds()), Ok((1, 20)));
    assert_eq!(bucket_for(Some(90.0), &thresholds()), Ok((1, 20)));
    // v <= 0 matches no bucket and, as in the original, takes the last one.
    assert_eq!(bucket_for(Some(0.0), &thresholds()), Ok((2, 10)));
    assert_eq!(bucket_for(Some(-5.0), &thresholds()), Ok((2, 10)));
    assert_eq!(bucket_for(Some(1.0), &[]), Err(BucketError::NoThresholds));
}

#[test]
fn no_forecast_is_an_error_and_eco_mode_off_max_applies() {
    assert_eq!(bucket_for(None, &thresholds()), Err(BucketError::NoForecast));
    for forecast in [None, Some(series(60, 5, &[500.0]))] {
        let d = decide(&spec(), forecast.as_ref(), None, BOUND, now()).expect("valid spec");
        assert_eq!(d.max_replicas, ECO_OFF_MAX);
        assert_eq!(d.eco_mode_off, Some(EcoModeOffReason::NoForecast));
        assert_eq!((d.intensity, d.bucket), (None, None));
    }
}

#[test]
fn current_point_is_start_inclusive_end_exclusive() {
    // Points at now-30s (value 67) and now+4m30s (value 100).
    let s = {
        let start = now() - SignedDuration::from_secs(30);
        let p = |off: i64, value| ForecastPoint {
            start: start + SignedDuration::from_mins(off),
            duration: SignedDuration::from_mins(5),
            value,
            provider: "test".into(),
            is_estimated: false,
        };
        Series::new(zone("DE"), now(), Signal::Average, vec![p(0, 67.0), p(5, 100.0)])
    };
    let at = |t: Timestamp| decide(&spec(), Some(&s), None, BOUND, t).expect("valid");
    let boundary = now() + SignedDuration::from_secs(270);
    assert_eq!(at(now() - SignedDuration::from_secs(30)).max_replicas, 20);
    assert_eq!(at(boundary - SignedDuration::from_nanos(1)).max_replicas, 20);
    let d = at(boundary);
    assert_eq!((d.max_replicas, d.bucket, d.intensity), (10, Some(2), Some(100.0)));
    assert!(d.eco_mode_off.is_none());
}

fn with_duration(threshold: i32, mins: i32) -> CapRules {
    let mut s = spec();
    s.eco_mode_off.carbon_intensity_duration = Some(CarbonIntensityDuration {
        carbon_intensity_threshold: threshold,
        override_eco_after_duration_in_mins: mins,
    });
    s
}

#[test]
fn original_duration_vectors() {
    // Points every 5 minutes at now-20m..now with values 90, 60, 70, 80, 90.
    let s = series(-20, 5, &[90.0, 60.0, 70.0, 80.0, 90.0]);
    let d = decide(&with_duration(50, 20), Some(&s), None, BOUND, now()).expect("valid");
    assert_eq!(
        d.eco_mode_off,
        Some(EcoModeOffReason::CarbonIntensityDuration { threshold: 50, minutes: 20 })
    );
    assert_eq!(d.max_replicas, ECO_OFF_MAX);
    assert_eq!(d.intensity, Some(90.0), "status still reports the current intensity");

    let d = decide(&with_duration(80, 10), Some(&s), None, BOUND, now()).expect("valid");
    assert_eq!(d.eco_mode_off, None);
    assert_eq!(d.max_replicas, 20, "90 is in the 40<v<=90 bucket");
}

#[test]
fn duration_needs_data_for_every_minute() {
    // Nothing is known before now-10m: a 20-minute rule cannot be satisfied.
    let s = series(-10, 5, &[500.0, 500.0, 500.0]);
    assert_eq!(
        decide(&with_duration(50, 20), Some(&s), None, BOUND, now()).expect("valid").eco_mode_off,
        None
    );
    assert!(
        decide(&with_duration(50, 10), Some(&s), None, BOUND, now()).expect("valid").eco_mode_off.is_some()
    );
    // A zero duration disables the rule, and a huge one is cheap and not satisfied.
    assert_eq!(
        decide(&with_duration(50, 0), Some(&s), None, BOUND, now()).expect("valid").eco_mode_off,
        None
    );
    assert_eq!(
        decide(&with_duration(50, i32::MAX), Some(&s), None, BOUND, now()).expect("valid").eco_mode_off,
        None
    );
}

fn window(start: Timestamp, end: Timestamp) -> Schedule {
    Schedule { start_time: start.to_string(), end_time: end.to_string() }
}

#[test]
fn custom_schedule_bounds_are_strict() {
    let s = series(-5, 10, &[30.0]);
    let hour = SignedDuration::from_hours(1);
    let cases = [
        (now() - hour, now() + hour, true),
        (now(), now() + hour, false), // now == start
        (now() - hour, now(), false), // now == end
        (now() + SignedDuration::from_secs(1), now() + hour, false),
    ];
    for (start, end, off) in cases {
        let mut sp = spec();
        sp.eco_mode_off.custom_schedule = vec![window(start, end)];
        let d = decide(&sp, Some(&s), None, BOUND, now()).expect("valid");
        assert_eq!(d.eco_mode_off.is_some(), off, "{start}..{end}");
        assert_eq!(d.max_replicas, if off { ECO_OFF_MAX } else { 80 });
    }
}

#[test]
fn precedence_custom_then_cron_then_duration() {
    let s = series(-30, 5, &[500.0; 7]);
    let mut sp = with_duration(50, 20);
    // 12:00 UTC on any day; now is 12:00:30.
    sp.eco_mode_off.recurring_schedule = vec!["0 3 * * *".into(), "0 12 * * *".into()];
    let d = decide(&sp, Some(&s), None, BOUND, now()).expect("valid");
    assert_eq!(d.eco_mode_off, Some(EcoModeOffReason::RecurringSchedule { cron: "0 12 * * *".into() }));

    sp.eco_mode_off.custom_schedule =
        vec![window(now() - SignedDuration::from_mins(1), now() + SignedDuration::from_mins(1))];
    let d = decide(&sp, Some(&s), None, BOUND, now()).expect("valid");
    assert!(matches!(d.eco_mode_off, Some(EcoModeOffReason::CustomSchedule { .. })));

    // A cron that does not match this minute falls through to the duration rule.
    sp.eco_mode_off.custom_schedule.clear();
    sp.eco_mode_off.recurring_schedule = vec!["1 12 * * *".into()];
    let d = decide(&sp, Some(&s), None, BOUND, now()).expect("valid");
    assert!(matches!(d.eco_mode_off, Some(EcoModeOffReason::CarbonIntensityDuration { .. })));
}

#[test]
fn cron_is_evaluated_in_utc_weekdays() {
    let s = series(-5, 10, &[30.0]);
    let mut sp = spec();
    // now is a Monday (1); the original's sample "* 23 * * 1-3" style ranges.
    sp.eco_mode_off.recurring_schedule = vec!["* 12 * * 2-5".into()];
    assert_eq!(decide(&sp, Some(&s), None, BOUND, now()).expect("valid").eco_mode_off, None);
    sp.eco_mode_off.recurring_schedule = vec!["* 12 * * 1".into()];
    assert!(decide(&sp, Some(&s), None, BOUND, now()).expect("valid").eco_mode_off.is_some());
}

#[test]
fn invalid_cron_or_timestamp_is_an_error_value() {
    let s = series(-5, 10, &[30.0]);
    for bad in ["not a cron", "61 * * * *", "0 0 12 * * *", ""] {
        let mut sp = spec();
        sp.eco_mode_off.recurring_schedule = vec!["0 0 * * *".into(), bad.into()];
        let err = decide(&sp, Some(&s), None, BOUND, now()).expect_err(bad);
        assert!(matches!(&err, InvalidSpec::Cron { index: 1, value, .. } if value == bad), "{err}");
    }
    let mut sp = spec();
    sp.eco_mode_off.custom_schedule =
        vec![Schedule { start_time: "2026-03-02T11:00:00Z".into(), end_time: "tomorrow".into() }];
    let err = decide(&sp, Some(&s), None, BOUND, now()).expect_err("bad timestamp");
    assert!(matches!(err, InvalidSpec::Timestamp { index: 0, field: "endTime", .. }), "{err}");

    let mut sp = spec();
    sp.max_replicas_by_carbon_intensity.clear();
    assert_eq!(decide(&sp, Some(&s), None, BOUND, now()), Err(InvalidSpec::NoThresholds));
}

#[test]
fn cap_never_below_min_replica_count() {
    let s = series(-5, 10, &[101.0]); // bucket cap 10
    let d = decide(&spec(), Some(&s), Some(12), BOUND, now()).expect("valid");
    assert_eq!((d.max_replicas, d.clamped_to_min), (12, true));
    assert!(d.reason.contains("minReplicaCount 12"), "{}", d.reason);
    let d = decide(&spec(), Some(&s), Some(10), BOUND, now()).expect("valid");
    assert_eq!((d.max_replicas, d.clamped_to_min), (10, false));
    // The fail-open cap is clamped too.
    let d = decide(&spec(), None, Some(60), BOUND, now()).expect("valid");
    assert_eq!((d.max_replicas, d.clamped_to_min), (60, true));
}

#[test]
fn duration_walk_matches_minute_by_minute_reference() {
    // The implementation skips over points; check it against the original's literal
    // minute loop on many irregular series (odd offsets, gaps, mixed durations).
    let mut rng = Rng::new(0x5eed);
    let mut next = |m: u64| rng.below(m);
    let mut offs = 0;
    for case in 0..300 {
        let mut t = now() - SignedDuration::from_secs(i64::try_from(next(3600)).expect("small"));
        let mut points = Vec::new();
        for _ in 0..next(12) {
            let duration = SignedDuration::from_secs(i64::try_from(30 + next(900)).expect("small"));
            points.push(ForecastPoint {
                start: t,
                duration,
                value: f64::from(u32::try_from(next(100)).expect("small")),
                provider: "test".into(),
                is_estimated: true,
            });
            // Usually contiguous, sometimes a gap.
            t = t + duration + SignedDuration::from_secs(if next(5) == 0 { 20 } else { 0 });
        }
        let s = Series::new(zone("DE"), now(), Signal::Average, points);
        let threshold = i32::try_from(next(60)).expect("small");
        let mins = i32::try_from(1 + next(70)).expect("small");
        let reference = (0..mins).all(|i| {
            s.latest_at(now() - SignedDuration::from_mins(i.into()))
                .is_some_and(|(p, _)| p.value >= threshold.into())
        });
        let got = decide(&with_duration(threshold, mins), Some(&s), None, BOUND, now())
            .expect("valid")
            .eco_mode_off;
        let got_off = matches!(got, Some(EcoModeOffReason::CarbonIntensityDuration { .. }));
        assert_eq!(got_off, reference, "case {case}: threshold {threshold}, {mins} min, {s:?}");
        offs += usize::from(reference);
    }
    assert!((20..280).contains(&offs), "both outcomes exercised: {offs} of 300 off");
}

#[test]
fn stale_forecast_fails_open() {
    let mut s = series(-5, 10, &[30.0]);
    s.generated_at = now() - BOUND - SignedDuration::from_secs(1);
    let d = decide(&spec(), Some(&s), None, BOUND, now()).expect("valid");
    assert_eq!(d.max_replicas, ECO_OFF_MAX);
    assert_eq!(d.intensity, None, "stale data is not reported as current");
    assert!(matches!(d.eco_mode_off, Some(EcoModeOffReason::StaleForecast { age, .. }) if age > BOUND));
    // Exactly at the bound it is still usable.
    s.generated_at = now() - BOUND;
    assert_eq!(decide(&spec(), Some(&s), None, BOUND, now()).expect("valid").max_replicas, 80);
}

#[test]
fn next_review_is_the_earliest_input_change() {
    let s = series(-5, 10, &[30.0]); // current point ends at now+5m
    let d = decide(&spec(), Some(&s), None, BOUND, now()).expect("valid");
    assert_eq!(d.next_review, Some(now() + SignedDuration::from_mins(5)));

    let mut sp = spec();
    let soon = now() + SignedDuration::from_mins(2);
    sp.eco_mode_off.custom_schedule = vec![window(soon, soon + SignedDuration::from_hours(1))];
    assert_eq!(decide(&sp, Some(&s), None, BOUND, now()).expect("valid").next_review, Some(soon));

    // Cron rules can change at every minute: review at the next whole minute (12:01:00).
    sp.eco_mode_off.recurring_schedule = vec!["0 0 * * *".into()];
    let d = decide(&sp, Some(&s), None, BOUND, now()).expect("valid");
    assert_eq!(d.next_review, Some(ts_str("2026-03-02T12:01:00Z")));

    // Before the data starts, the review is when it starts.
    let later = series(30, 5, &[30.0]);
    let d = decide(&spec(), Some(&later), None, BOUND, now()).expect("valid");
    assert_eq!(d.next_review, Some(now() + SignedDuration::from_mins(30)));
    assert_eq!(decide(&spec(), None, None, BOUND, now()).expect("valid").next_review, None);

    // Data that turns stale before its point ends: review just after it does.
    let mut long = series(-5, 120, &[30.0]);
    long.generated_at = now() - SignedDuration::from_mins(50);
    let d = decide(&spec(), Some(&long), None, BOUND, now()).expect("valid");
    let stale_at = now() + SignedDuration::from_mins(10) + SignedDuration::from_nanos(1);
    assert_eq!(d.next_review, Some(stale_at));
    assert!(matches!(
        decide(&spec(), Some(&long), None, BOUND, stale_at).expect("valid").eco_mode_off,
        Some(EcoModeOffReason::StaleForecast { .. })
    ));
}

fn ts_str(s: &str) -> Timestamp {
    s.parse().expect("ts")
}

#[test]
fn a_latest_only_value_holds_past_its_hour() {
    // Electricity Maps' free tier: one hourly point for the hour the value was read in,
    // obtained 10 minutes into it. 55 minutes later the hour has ended.
    let mut s = series(-10, 60, &[30.0]);
    s.generated_at = now() - SignedDuration::from_mins(10);
    let bound = SignedDuration::from_hours(2);
    let later = now() + SignedDuration::from_mins(55);
    let d = decide(&spec(), Some(&s), None, bound, later).expect("valid");
    assert_eq!((d.max_replicas, d.intensity, d.eco_mode_off), (80, Some(30.0), None));
    assert!(d.reason.contains("carried forward from"), "{}", d.reason);
    // Reviewed when the value turns stale, not at the hour boundary it already passed.
    assert_eq!(d.next_review, Some(s.generated_at + bound + SignedDuration::from_nanos(1)));
    // And the duration rule reads the carried value too.
    let d = decide(&with_duration(20, 30), Some(&s), None, bound, later).expect("valid");
    assert!(matches!(d.eco_mode_off, Some(EcoModeOffReason::CarbonIntensityDuration { .. })));
}
