use super::*;
use crate::forecasts::Forecasts;
use crate::testing::scheduling::hourly;
use crate::testing::{forecast_from_trace, trace, ts};
use crate::trace::Trace;

fn h(n: i64) -> SignedDuration {
    SignedDuration::from_hours(n)
}

/// The staleness bound these cases assume.
const BOUND: SignedDuration = SignedDuration::from_hours(2);

/// The plan with `series` as the forecasts of the pod's zones, under [`BOUND`].
fn plan(
    spec: &DeferralSpec,
    created: Timestamp,
    now: Timestamp,
    series: &[&Series],
    cfg: &PlannerConfig,
) -> Plan {
    let forecasts = Forecasts::from_series(series.iter().map(|s| (*s).clone()), BOUND);
    let zones: Vec<&str> = series.iter().map(|s| s.zone.as_str()).collect();
    super::plan(spec, created, now, &forecasts, &zones, cfg)
}

fn spec(
    max_delay: Option<SignedDuration>,
    deadline: Option<Timestamp>,
    runtime: SignedDuration,
) -> DeferralSpec {
    DeferralSpec { max_delay, deadline, expected_runtime: runtime }
}

fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The trace's value for the hour starting at `t` (what a 1-hour run from `t` averages).
fn value_at(trace: &Trace, t: Timestamp) -> Option<f64> {
    trace.value_at(t)
}

#[test]
fn annotations_parse_durations_deadlines_and_reject_nonsense() {
    let d = parse_annotations(&annotations(&[
        (ANNOTATION_MAX_DELAY, "6h"),
        (ANNOTATION_EXPECTED_RUNTIME, "1h30m"),
    ]));
    assert_eq!(d, DeferralRequest::Defer(spec(Some(h(6)), None, SignedDuration::from_mins(90))));
    let d = parse_annotations(&annotations(&[(ANNOTATION_DEADLINE, "2022-01-12T06:00:00Z")]));
    assert_eq!(
        d,
        DeferralRequest::Defer(spec(None, Some(ts("2022-01-12T06:00:00Z")), DEFAULT_EXPECTED_RUNTIME))
    );
    let d = parse_annotations(&annotations(&[
        (ANNOTATION_MAX_DELAY, "PT2H"),
        (ANNOTATION_EXPECTED_RUNTIME, "90m"),
    ]));
    assert_eq!(d, DeferralRequest::Defer(spec(Some(h(2)), None, SignedDuration::from_mins(90))));
    assert_eq!(parse_annotations(&annotations(&[("other", "x")])), DeferralRequest::None);
    for bad in [
        annotations(&[(ANNOTATION_MAX_DELAY, "soon")]),
        annotations(&[(ANNOTATION_MAX_DELAY, "-2h")]),
        annotations(&[(ANNOTATION_MAX_DELAY, "0s")]),
        annotations(&[(ANNOTATION_DEADLINE, "tomorrow")]),
        annotations(&[(ANNOTATION_MAX_DELAY, "6h"), (ANNOTATION_EXPECTED_RUNTIME, "forever")]),
        annotations(&[(ANNOTATION_EXPECTED_RUNTIME, "1h")]),
    ] {
        let DeferralRequest::Invalid(msg) = parse_annotations(&bad) else {
            panic!("{bad:?} should be invalid")
        };
        assert!(msg.contains("gridshift.io/"), "{msg}");
    }
}

#[test]
fn latest_start_is_the_earlier_of_delay_and_deadline_minus_runtime() {
    let created = ts("2022-01-11T17:00:00Z");
    assert_eq!(spec(Some(h(6)), None, h(1)).latest_start(created), ts("2022-01-11T23:00:00Z"));
    let s = spec(Some(h(6)), Some(ts("2022-01-11T21:00:00Z")), h(2));
    assert_eq!(s.latest_start(created), ts("2022-01-11T19:00:00Z"));
}

#[test]
fn gb_winter_evening_peak_waits_for_the_night_trough() {
    let gb = trace("GB");
    let created = ts("2022-01-11T17:00:00Z");
    let s = spec(Some(h(12)), None, h(1));
    let forecast = forecast_from_trace("GB", &gb, created, 24);
    let Plan::Wait(w) = plan(&s, created, created, &[&forecast], &PlannerConfig::default()) else {
        panic!("a 1 h job at the GB evening peak with 12 h slack should wait");
    };
    // Oracle: every whole-hour start in the slack, straight from the trace.
    let (best_t, best_v) = (0..=12)
        .map(|k| created + h(k))
        .map(|t| (t, value_at(&gb, t).unwrap()))
        .fold(None, |acc: Option<(Timestamp, f64)>, c| match acc {
            Some(a) if a.1 <= c.1 => Some(a),
            _ => Some(c),
        })
        .unwrap();
    assert_eq!((w.start, w.planned_mean), (best_t, best_v));
    assert_eq!(w.now_mean, value_at(&gb, created).unwrap());
    let hour = w.start.to_zoned(jiff::tz::TimeZone::UTC).hour();
    assert!((0..=6).contains(&hour), "night trough, got {}", w.start);
    assert!(w.planned_mean < 0.85 * w.now_mean, "{} vs {}", w.planned_mean, w.now_mean);
    assert_eq!(w.latest_start, created + h(12));
    // Re-planned when the forecast behind the plan goes stale (first instant past the bound)…
    let stale = created + BOUND + SignedDuration::from_nanos(1);
    assert_eq!(w.recheck_by, stale, "re-planned on fresh data");
    // …where, without a newer forecast, it starts at once rather than waiting on old data.
    let Plan::RunNow { why, .. } = plan(&s, created, w.recheck_by, &[&forecast], &PlannerConfig::default())
    else {
        panic!("a plan on stale data must not be renewed");
    };
    assert_eq!(why, RunNowWhy::NoFreshData);
    assert!(w.message.contains("planned start") && w.message.contains("GB"), "{}", w.message);
}

#[test]
fn gb_summer_evening_waits_for_the_midday_solar_trough() {
    let gb = trace("GB");
    let created = ts("2022-06-14T20:00:00Z");
    let s = spec(Some(h(18)), None, h(1));
    let forecast = forecast_from_trace("GB", &gb, created, 24);
    let Plan::Wait(w) = plan(&s, created, created, &[&forecast], &PlannerConfig::default()) else {
        panic!("should wait for the midday trough");
    };
    let hour = w.start.to_zoned(jiff::tz::TimeZone::UTC).hour();
    assert!((9..=14).contains(&hour), "midday trough, got {}", w.start);
    let min_in_slack = (0..=18).filter_map(|k| value_at(&gb, created + h(k))).fold(f64::INFINITY, f64::min);
    assert_eq!(w.planned_mean, min_in_slack);
}

#[test]
fn the_best_zone_and_window_across_the_pods_zones_is_chosen() {
    // CAISO's solar trough vs PJM's flatter, dirtier profile, on a real day.
    let (ciso, pjm) = (trace("US-CAL-CISO"), trace("US-MIDA-PJM"));
    let created = ts("2022-06-14T03:00:00Z");
    let s = spec(Some(h(20)), None, h(2));
    let f1 = forecast_from_trace("US-CAL-CISO", &ciso, created, 30);
    let f2 = forecast_from_trace("US-MIDA-PJM", &pjm, created, 30);
    let Plan::Wait(w) = plan(&s, created, created, &[&f2, &f1], &PlannerConfig::default()) else { panic!() };
    assert_eq!(w.zone, "US-CAL-CISO");
    let oracle = (0..=20)
        .map(|k| created + h(k))
        .filter_map(|t| [&f1, &f2].iter().filter_map(|f| f.mean_over(t, t + h(2))).reduce(f64::min))
        .fold(f64::INFINITY, f64::min);
    assert_eq!(w.planned_mean, oracle);
}

#[test]
fn missing_or_stale_data_runs_now() {
    let created = ts("2022-01-11T17:00:00Z");
    let s = spec(Some(h(12)), None, h(1));
    let cfg = PlannerConfig::default();
    let p = plan(&s, created, created, &[], &cfg);
    assert!(matches!(p, Plan::RunNow { why: RunNowWhy::NoFreshData, .. }), "{p:?}");
    // Cleaner hours ahead, but the forecast is older than the staleness bound.
    let mut values = vec![300.0];
    values.extend([50.0; 30]);
    let old = hourly("GB", ts("2022-01-11T12:00:00Z"), &values, ts("2022-01-11T12:00:00Z"));
    let p = plan(&s, created, created, &[&old], &cfg);
    assert!(matches!(p, Plan::RunNow { why: RunNowWhy::NoFreshData, .. }), "{p:?}");
    // A forecast that ends before a whole run from now could end.
    let short = hourly("GB", created, &[300.0], created);
    let p = plan(&spec(Some(h(12)), None, h(2)), created, created, &[&short], &cfg);
    assert!(matches!(p, Plan::RunNow { why: RunNowWhy::ForecastTooShort, .. }), "{p:?}");
}

#[test]
fn latest_start_releases_the_pod_whatever_the_data() {
    let created = ts("2022-01-11T17:00:00Z");
    let s = spec(Some(h(3)), None, h(1));
    let mut values = vec![500.0; 4];
    values.extend([10.0; 20]); // far cleaner, but after the latest start
    let now = created + h(3);
    let f = hourly("GB", created, &values, created);
    let p = plan(&s, created, now, &[&f], &PlannerConfig::default());
    assert!(matches!(p, Plan::RunNow { why: RunNowWhy::LatestStartReached, .. }), "{p:?}");
    // Before then, the cleaner hours after the latest start are not candidates.
    let p = plan(&s, created, created, &[&f], &PlannerConfig::default());
    assert!(matches!(p, Plan::RunNow { why: RunNowWhy::NowIsBest, .. }), "{p:?}");
    // The cap applies even to a pod that asks for a month.
    let cfg = PlannerConfig { max_delay_cap: h(2), ..Default::default() };
    let p = plan(&spec(Some(h(24 * 30)), None, h(1)), created, created + h(2), &[&f], &cfg);
    assert!(matches!(p, Plan::RunNow { why: RunNowWhy::LatestStartReached, .. }), "{p:?}");
}

#[test]
fn a_negligible_gain_is_not_worth_waiting_for() {
    let created = ts("2022-01-11T17:00:00Z");
    let f = hourly("GB", created, &[200.0, 198.0, 199.0, 197.0, 200.0], created);
    let p = plan(&spec(Some(h(3)), None, h(1)), created, created, &[&f], &PlannerConfig::default());
    assert!(matches!(p, Plan::RunNow { why: RunNowWhy::NowIsBest, .. }), "{p:?}");
    let eager = PlannerConfig { min_improvement: 0.0, ..Default::default() };
    let Plan::Wait(w) = plan(&spec(Some(h(3)), None, h(1)), created, created, &[&f], &eager) else {
        panic!()
    };
    assert_eq!(w.start, created + h(3));
}

/// Replays a year of real data for every shipped zone: jobs with varied slack and run
/// times, re-planned on each fresh forecast as the controller does. Every job starts
/// by its latest start and finishes by its deadline, and never runs dirtier than it
/// would have by starting at once.
#[test]
fn deadlines_are_always_met_over_a_year_of_real_traces() {
    let cfg = PlannerConfig::default();
    let zones =
        ["GB", "US-CAL-CISO", "US-MIDA-PJM", "US-MIDW-MISO", "US-NW-BPAT", "US-NY-NYIS", "US-SE-SOCO"];
    let (mut jobs, mut waited, mut saved, mut agnostic) = (0usize, 0usize, 0.0, 0.0);
    for (zi, zone) in zones.iter().enumerate() {
        let tr = trace(zone);
        let first = tr.first();
        for k in 0..220i64 {
            // Creation times walk the year at odd minutes; slack 1–24 h, runs 30–270 min.
            let created = first + SignedDuration::from_mins(k * 2371 + 7 * zi as i64);
            let slack = h(1 + (k * 7 + zi as i64) % 24);
            let runtime = SignedDuration::from_mins(30 + 60 * ((k + zi as i64) % 5));
            let by_deadline = k % 2 == 0;
            let s = if by_deadline {
                spec(None, Some(created + slack + runtime), runtime)
            } else {
                spec(Some(slack), None, runtime)
            };
            let mut now = created;
            let start = loop {
                let f = forecast_from_trace(zone, &tr, now, 48);
                match plan(&s, created, now, &[&f], &cfg) {
                    Plan::RunNow { .. } => break now,
                    Plan::Wait(w) => {
                        assert!(w.start > now && w.start <= w.latest_start && w.recheck_by > now, "{w:?}");
                        now = w.recheck_by;
                    }
                }
            };
            assert!(start <= s.latest_start(created), "{zone} job {k} started late");
            if let Some(deadline) = s.deadline {
                assert!(start + runtime <= deadline, "{zone} job {k} missed its deadline");
            }
            let truth = forecast_from_trace(zone, &tr, created, 72);
            let (Some(at_once), Some(actual)) =
                (truth.mean_over(created, created + runtime), truth.mean_over(start, start + runtime))
            else {
                continue; // a gap in the trace
            };
            assert!(actual <= at_once + 1e-9, "{zone} job {k}: {actual} > {at_once}");
            jobs += 1;
            waited += usize::from(start > created);
            saved += at_once - actual;
            agnostic += at_once;
        }
    }
    assert!(jobs > 1000 && waited > jobs / 4, "{jobs} jobs, {waited} waited");
    let pct = 100.0 * saved / agnostic;
    println!("{jobs} jobs, {waited} deferred, {pct:.1}% less carbon than starting at once");
    assert!(pct > 2.0, "temporal shifting should save something on real data: {pct:.2}%");
}
