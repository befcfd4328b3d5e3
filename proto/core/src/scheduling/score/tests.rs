use super::*;
use crate::forecasts::Forecasts;
use crate::scheduling::{Decision, SchedulerConfig, schedule_one};
use crate::testing::scheduling::{GIB, hourly, node, pod, snapshot};
use crate::testing::ts;

fn intensities(zones: &[(&str, f64)]) -> Forecasts {
    let mut i = Forecasts::default();
    for (z, v) in zones {
        i.insert(hourly(z, ts("2022-01-11T17:00:00Z"), &[*v; 6], ts("2022-01-11T17:00:00Z")));
    }
    i
}

fn bound_node(d: &Decision) -> &str {
    match d {
        Decision::Bind(b) => &b.node,
        other => panic!("expected a binding, got {other:?}"),
    }
}

const NOW: &str = "2022-01-11T17:30:00Z";

#[test]
fn cleanest_zone_wins_and_the_baseline_is_the_feasible_mean() {
    let snap = snapshot([
        node("a-dirty", "US-MIDW-MISO", 4000, 8 * GIB),
        node("b-clean", "US-NW-BPAT", 4000, 8 * GIB),
        node("c-mid", "GB", 4000, 8 * GIB),
    ]);
    let i = intensities(&[("US-MIDW-MISO", 450.0), ("US-NW-BPAT", 60.0), ("GB", 240.0)]);
    let d = schedule_one(&SchedulerConfig::default(), &snap, &pod("p", 500, GIB), &i, ts(NOW));
    let Decision::Bind(b) = d else { panic!("{d:?}") };
    assert_eq!(b.node, "b-clean");
    assert_eq!(b.intensity, Some(60.0));
    assert_eq!(b.zone.as_deref(), Some("US-NW-BPAT"));
    assert_eq!(b.baseline, Some((450.0 + 60.0 + 240.0) / 3.0));
    assert_eq!(b.score.carbon, Some(100.0));
    assert_eq!(b.feasible_nodes, 3);
}

#[test]
fn the_cleanest_node_is_skipped_when_infeasible() {
    let mut clean = node("b-clean", "US-NW-BPAT", 4000, 8 * GIB);
    clean.taints.push(crate::scheduling::model::Taint::new(
        "dedicated",
        "ml",
        crate::scheduling::model::TaintEffect::NoSchedule,
    ));
    let snap =
        snapshot([node("a-dirty", "US-MIDW-MISO", 4000, 8 * GIB), clean, node("c-mid", "GB", 4000, 8 * GIB)]);
    let i = intensities(&[("US-MIDW-MISO", 450.0), ("US-NW-BPAT", 60.0), ("GB", 240.0)]);
    let d = schedule_one(&SchedulerConfig::default(), &snap, &pod("p", 500, GIB), &i, ts(NOW));
    assert_eq!(bound_node(&d), "c-mid");
}

#[test]
fn resource_balance_decides_within_a_zone_and_weights_trade_carbon_for_room() {
    // Same zone: the emptier node wins on LeastAllocated.
    let mut busy = snapshot([node("busy", "GB", 4000, 8 * GIB), node("idle", "GB", 4000, 8 * GIB)]);
    let mut hog = pod("hog", 3000, 6 * GIB);
    hog.node_name = Some("busy".into());
    busy.observe_pod(&hog);
    let i = intensities(&[("GB", 240.0), ("DE", 250.0)]);
    let cfg = SchedulerConfig::default();
    assert_eq!(bound_node(&schedule_one(&cfg, &busy, &pod("p", 500, GIB), &i, ts(NOW))), "idle");

    // Across zones with the default weights, a busy clean node still beats an idle,
    // slightly dirtier one; with resource-heavy weights it does not.
    busy.upsert_node(node("idle", "DE", 4000, 8 * GIB));
    assert_eq!(bound_node(&schedule_one(&cfg, &busy, &pod("p", 500, GIB), &i, ts(NOW))), "busy");
    let room_first = SchedulerConfig {
        weights: ScoreWeights { carbon: 0.1, least_allocated: 0.45, balanced_allocation: 0.45 },
        ..Default::default()
    };
    assert_eq!(bound_node(&schedule_one(&room_first, &busy, &pod("p", 500, GIB), &i, ts(NOW))), "idle");
}

#[test]
fn balanced_allocation_prefers_even_use_of_cpu_and_memory() {
    let snap = snapshot([node("n", "GB", 4000, 4 * GIB)]);
    let n = &snap.nodes()[0];
    let even = balanced_allocation(&pod("even", 2000, 2 * GIB), n);
    let skewed = balanced_allocation(&pod("skewed", 3000, GIB / 2), n);
    assert_eq!(even, 100.0);
    assert!(skewed < even);
    assert_eq!(least_allocated(&pod("half", 2000, 2 * GIB), n), 50.0);
    assert_eq!(least_allocated(&pod("over", 8000, 8 * GIB), n), 0.0);
}

#[test]
fn equal_scores_tie_break_by_node_name_whatever_the_order() {
    let names = ["node-c", "node-a", "node-b"];
    for rotation in 0..names.len() {
        let order: Vec<&str> = names.iter().cycle().skip(rotation).take(3).copied().collect();
        let snap = snapshot(order.iter().map(|n| node(n, "GB", 4000, 8 * GIB)));
        let i = intensities(&[("GB", 200.0)]);
        let d = schedule_one(&SchedulerConfig::default(), &snap, &pod("p", 100, GIB), &i, ts(NOW));
        assert_eq!(bound_node(&d), "node-a", "order {order:?}");
    }
}

#[test]
fn missing_or_stale_data_fails_open_to_a_carbon_agnostic_choice() {
    let mut busy =
        snapshot([node("busy-clean", "US-NW-BPAT", 4000, 8 * GIB), node("idle", "GB", 4000, 8 * GIB)]);
    let mut hog = pod("hog", 3000, 6 * GIB);
    hog.node_name = Some("busy-clean".into());
    busy.observe_pod(&hog);
    let cfg = SchedulerConfig::default();
    // No data at all: resources decide, no carbon part, no intensities reported.
    let d = schedule_one(&cfg, &busy, &pod("p", 500, GIB), &Forecasts::default(), ts(NOW));
    let Decision::Bind(b) = d else { panic!("{d:?}") };
    assert_eq!((b.node.as_str(), b.score.carbon, b.intensity, b.baseline), ("idle", None, None, None));
    // Stale data counts as none.
    let mut stale = Forecasts::default();
    stale.insert(hourly("US-NW-BPAT", ts("2022-01-11T00:00:00Z"), &[50.0; 24], ts("2022-01-11T00:00:00Z")));
    let d = schedule_one(&cfg, &busy, &pod("p", 500, GIB), &stale, ts(NOW));
    assert_eq!(bound_node(&d), "idle");
    // A node without data is scored as the feasible mean: neither best nor worst.
    let snap = snapshot([
        node("clean", "US-NW-BPAT", 4000, 8 * GIB),
        node("unknown", "XX", 4000, 8 * GIB),
        node("dirty", "US-MIDW-MISO", 4000, 8 * GIB),
    ]);
    let i = intensities(&[("US-MIDW-MISO", 400.0), ("US-NW-BPAT", 100.0)]);
    let range = CarbonRange::of([400.0, 100.0]).unwrap();
    assert_eq!(range.normalise(None), 50.0);
    assert_eq!(bound_node(&schedule_one(&cfg, &snap, &pod("p", 1, 1), &i, ts(NOW))), "clean");
}
