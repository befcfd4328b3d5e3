use super::*;
use crate::forecasts::Forecasts;
use crate::testing::scheduling::{GIB, node, pod, snapshot};
use crate::testing::{forecast_from_trace, trace, ts};
use jiff::SignedDuration;

fn gb_and_bpat(now: Timestamp) -> Forecasts {
    let mut i = Forecasts::default();
    i.insert(forecast_from_trace("GB", &trace("GB"), now, 36));
    i.insert(forecast_from_trace("US-NW-BPAT", &trace("US-NW-BPAT"), now, 36));
    i
}

fn deferrable(name: &str, max_delay_h: i64) -> PodInfo {
    let mut p = pod(name, 500, GIB);
    p.deferral = DeferralRequest::Defer(DeferralSpec {
        max_delay: Some(SignedDuration::from_hours(max_delay_h)),
        deadline: None,
        expected_runtime: SignedDuration::from_hours(1),
    });
    p
}

#[test]
fn a_deferrable_pod_waits_then_binds_at_its_planned_start() {
    let snap = snapshot([node("gb-1", "GB", 4000, 8 * GIB)]);
    let cfg = SchedulerConfig::default();
    let p = deferrable("batch", 12);
    let created = p.created;
    let Decision::Wait(w) = schedule_one(&cfg, &snap, &p, &gb_and_bpat(created), created) else {
        panic!("should wait for the night");
    };
    assert!(w.plan.start > created);
    assert_eq!(w.baseline, forecast_from_trace("GB", &trace("GB"), created, 1).value_at(created));
    // The controller comes back at the planned start with a fresh forecast.
    let at = w.plan.start;
    let Decision::Bind(b) = schedule_one(&cfg, &snap, &p, &gb_and_bpat(at), at) else { panic!() };
    assert_eq!(b.node, "gb-1");
    assert_eq!(b.intensity, Some(w.plan.planned_mean));
    assert!(b.deferral_note.as_deref().unwrap().contains("starting now"));
}

#[test]
fn a_deferrable_pod_binds_at_once_without_data_and_at_its_latest_start() {
    let snap = snapshot([node("gb-1", "GB", 4000, 8 * GIB)]);
    let cfg = SchedulerConfig::default();
    let p = deferrable("batch", 12);
    let Decision::Bind(b) = schedule_one(&cfg, &snap, &p, &Forecasts::default(), p.created) else { panic!() };
    assert!(b.deferral_note.unwrap().contains("fail-open"));
    let latest = p.created + SignedDuration::from_hours(12);
    assert!(matches!(schedule_one(&cfg, &snap, &p, &gb_and_bpat(latest), latest), Decision::Bind(_)));
}

#[test]
fn a_deferrable_pod_that_fits_nowhere_is_unschedulable_not_waiting() {
    let snap = snapshot([node("gb-1", "GB", 100, 8 * GIB)]);
    let p = deferrable("batch", 12);
    let d = schedule_one(&SchedulerConfig::default(), &snap, &p, &gb_and_bpat(p.created), p.created);
    assert_eq!(d, Decision::Unschedulable { message: "0/1 nodes are available: 1 Insufficient cpu.".into() });
}

#[test]
fn invalid_annotations_bind_now_and_say_why() {
    let snap = snapshot([node("gb-1", "GB", 4000, 8 * GIB)]);
    let mut p = pod("p", 100, GIB);
    p.deferral =
        DeferralRequest::Invalid("gridshift.io/max-delay: \"soon\" is not a positive duration".into());
    let Decision::Bind(b) =
        schedule_one(&SchedulerConfig::default(), &snap, &p, &Forecasts::default(), p.created)
    else {
        panic!()
    };
    assert!(b.deferral_note.unwrap().contains("max-delay"));
}

#[test]
fn assumed_pods_prevent_double_booking_back_to_back() {
    // The clean node has room for one pod; the second goes to the dirtier node, the
    // third fits nowhere — without any informer update in between.
    let mut snap = snapshot([node("clean", "US-NW-BPAT", 1000, 8 * GIB), node("dirty", "GB", 1000, 8 * GIB)]);
    let cfg = SchedulerConfig::default();
    let now = ts("2022-01-11T17:00:00Z");
    let i = gb_and_bpat(now);
    let mut placed = Vec::new();
    for k in 0..3 {
        let p = pod(&format!("p{k}"), 800, GIB);
        match schedule_one(&cfg, &snap, &p, &i, now) {
            Decision::Bind(b) => {
                snap.assume(&p, &b.node).unwrap();
                placed.push(b.node);
            }
            Decision::Unschedulable { message } => {
                assert_eq!(message, "0/2 nodes are available: 2 Insufficient cpu.");
                placed.push("-".into());
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(placed, ["clean", "dirty", "-"]);
    // A failed binding is forgotten and the room comes back.
    snap.forget("default/p0");
    let d = schedule_one(&cfg, &snap, &pod("p3", 800, GIB), &i, now);
    assert!(matches!(d, Decision::Bind(b) if b.node == "clean"));
}
