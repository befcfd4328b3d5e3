//! Synthetic traces where every number is worked out by hand in the comments.
use gridshift_whatif::inputs::Inputs;
use gridshift_whatif::result::{ScenarioResult, Strategy};
use gridshift_whatif::trace::Grid;
use gridshift_whatif::{Report, RunOptions, simulate};

fn t0() -> jiff::Timestamp {
    "2022-01-01T00:00:00Z".parse().unwrap()
}

fn inputs(yaml: &str) -> Inputs {
    let mut i = Inputs::default();
    i.add_yaml("test.yaml", yaml).unwrap();
    i
}

fn run(grid: &Grid, yaml: &str, maes: &[f64]) -> Report {
    let opts = RunOptions { forecast_maes: maes.to_vec(), ..Default::default() };
    simulate(grid, &inputs(yaml), &opts).unwrap()
}

fn scenario<'a>(r: &'a Report, name: &str) -> &'a ScenarioResult {
    r.runs[0].scenarios.iter().find(|s| s.name == name).unwrap()
}

fn grams(sc: &ScenarioResult, s: Strategy) -> f64 {
    sc.get(s).unwrap().emissions_g
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

const TEMPORAL: &str = r#"
apiVersion: gridshift.io/v1alpha1
kind: CarbonAwareKedaScaler
metadata: {name: caps}
spec:
  kedaTarget: scaledjobs.keda.sh
  kedaTargetRef: {name: batch, namespace: default}
  maxReplicasByCarbonIntensity:
    - {carbonIntensityThreshold: 320, maxReplicas: 1}
    - {carbonIntensityThreshold: 600, maxReplicas: 0}
  ecoModeOff: {maxReplicas: 1}
---
kind: SchedulerSettings
spec: {minImprovement: 0.05}
---
kind: Workload
spec:
  jobs:
    - name: batch
      zone: Z
      arrivals: {at: ["2022-01-01T00:00:00Z", "2022-01-01T01:00:00Z", "2022-01-01T04:00:00Z", "2022-01-01T07:00:00Z"]}
      runtime: 1h
      maxDelay: 6h
      powerKw: 2
      scaler: caps
"#;

#[test]
fn temporal_oracle_planner_and_threshold_caps_by_hand() {
    //            h: 0    1    2    3    4    5    6    7 ..
    let mut v = vec![400.0, 300.0, 500.0, 100.0, 350.0, 450.0, 250.0];
    v.resize(24, 400.0);
    let grid = Grid::from_values(t0(), vec![("Z".into(), v)]);
    let r = run(&grid, TEMPORAL, &[0.0]);
    let sc = scenario(&r, "batch");
    // Four 1-hour jobs at 2 kW. Agnostic: h0 400 + h1 300 + h4 350 + h7 400 = 1450 → 2900 g.
    assert!(close(grams(sc, Strategy::CarbonAgnostic), 2900.0));
    // Oracle, within each 6 h slack: h0→h3 (100), h1→h3 (100), h4→h6 (250), h7 stays (400 everywhere):
    // 850 → 1700 g; it saves 1200 g = 41.38%.
    let oracle = sc.get(Strategy::Oracle).unwrap();
    assert!(close(oracle.emissions_g, 1700.0));
    assert!((oracle.saved_vs_agnostic_pct - 1200.0 / 2900.0 * 100.0).abs() < 1e-9);
    assert_eq!(oracle.mean_delay_hours, (3.0 + 2.0 + 2.0 + 0.0) / 4.0);
    // The deferral planner with perfect forecasts finds the same hours: 100% of the oracle.
    let g = sc.get(Strategy::Gridshift).unwrap();
    assert!(close(g.emissions_g, 1700.0));
    assert!((g.share_of_oracle_pct.unwrap() - 100.0).abs() < 1e-9);
    assert_eq!(g.deadline_misses, 0.0);
    // Threshold caps (cap 1 at <= 320, else 0), FIFO: job 0 starts h1 (300), job 1 h3 (100),
    // job 2 h6 (250); job 3 arrives at h7 (400, cap 0) and never gets a slot: unfinished,
    // charged at its latest start h13 (400) and a deadline miss.
    // 300 + 100 + 250 + 400 = 1050 → 2100 g; saves 800 of the oracle's 1200 g = 66.7%.
    let p = sc.get(Strategy::Peers).unwrap();
    assert!(close(p.emissions_g, 2100.0));
    assert!((p.share_of_oracle_pct.unwrap() - 800.0 / 1200.0 * 100.0).abs() < 1e-9);
    assert_eq!((p.deadline_misses, p.unfinished), (1.0, 1.0));
    assert_eq!(p.work_delayed_hours, 1.0 + 2.0 + 2.0 + 6.0);
}

#[test]
fn min_improvement_keeps_a_job_from_waiting_for_a_small_gain() {
    // Now 400, best in the slack 390: 2.5% < 5%, so the planner starts now; the oracle waits.
    let mut v = vec![400.0; 24];
    v[3] = 390.0;
    let grid = Grid::from_values(t0(), vec![("Z".into(), v)]);
    let yaml = TEMPORAL.replace("scaler: caps", "").replace(
        r#"{at: ["2022-01-01T00:00:00Z", "2022-01-01T01:00:00Z", "2022-01-01T04:00:00Z", "2022-01-01T07:00:00Z"]}"#,
        r#"{at: ["2022-01-01T00:00:00Z"]}"#,
    );
    let r = run(&grid, &yaml, &[0.0]);
    let sc = scenario(&r, "batch");
    assert!(close(grams(sc, Strategy::Gridshift), 800.0));
    assert!(close(grams(sc, Strategy::Oracle), 780.0));
    assert_eq!(sc.get(Strategy::Gridshift).unwrap().share_of_oracle_pct, Some(0.0));
    assert!(sc.get(Strategy::Peers).is_none(), "no scaler, no peers row");
}

const SPATIAL: &str = r#"
apiVersion: gridshift.io/v1alpha1
kind: CarbonAwareKarmadaPolicy
metadata: {name: pol}
spec:
  clusterLocations: [{name: a, location: X}, {name: b, location: Y}]
  desiredClusters: 1
  karmadaTarget: propagationpolicies.policy.karmada.io
  karmadaTargetRef: {name: web, namespace: default}
  minImprovementPercent: 10
  minDwellSeconds: DWELL
---
kind: Workload
spec:
  placements:
    - {name: web, policy: pol, replicas: {constant: 1}, powerKwPerReplica: 1, readyAfter: 30m}
"#;

fn spatial_grid() -> Grid {
    Grid::from_values(
        t0(),
        vec![("X".into(), vec![100.0, 100.0, 300.0, 300.0, 100.0, 100.0]), ("Y".into(), vec![200.0; 6])],
    )
}

#[test]
fn spatial_oracle_peers_and_hysteresis_by_hand() {
    let grid = spatial_grid();
    let r = run(&grid, &SPATIAL.replace("DWELL", "0"), &[0.0]);
    let sc = scenario(&r, "web");
    // Agnostic: half on each, (1000 + 1200) / 2 = 1100 g at 1 kW.
    assert!(close(grams(sc, Strategy::CarbonAgnostic), 1100.0));
    // Oracle: 100 100 200 200 100 100 = 800 g, switching to b at h2 and back at h4.
    let o = sc.get(Strategy::Oracle).unwrap();
    assert!(close(o.emissions_g, 800.0));
    assert_eq!(o.switches, Some(2));
    // Peers (no hysteresis, the new placement serving at once) match the oracle here.
    let p = sc.get(Strategy::Peers).unwrap();
    assert!(close(p.emissions_g, 800.0));
    assert_eq!(p.switches, Some(2));
    assert!((p.switches_per_day.unwrap() - 2.0 / 0.25).abs() < 1e-9, "2 switches in a quarter day");
    // Gridshift, make-before-break with incoming ready after 30 min. h2: a serves 30 min at
    // 300 (150) while b warms up with its full share at 200 (100), then b alone (100): 350.
    // h3: 200. h4: b 30 min at 200 (100) + a warming at 100 (50) + a 30 min (50): 200.
    // Total 100 + 100 + 350 + 200 + 200 + 100 = 1050 g: (1100 − 1050) / 300 = 16.7% of the oracle.
    let g = sc.get(Strategy::Gridshift).unwrap();
    assert!(close(g.emissions_g, 1050.0), "{}", g.emissions_g);
    assert_eq!(g.switches, Some(2));
    assert!((g.share_of_oracle_pct.unwrap() - 50.0 / 300.0 * 100.0).abs() < 1e-9);
}

#[test]
fn minimum_dwell_holds_the_placement() {
    // The initial placement (a, at h0) starts the dwell; 6 h outlasts the trace, so a stays:
    // 100 100 300 300 100 100 = 1000 g, 1/3 of the oracle's 300 g savings.
    let grid = spatial_grid();
    let r = run(&grid, &SPATIAL.replace("DWELL", "21600"), &[0.0]);
    let g = scenario(&r, "web").get(Strategy::Gridshift).unwrap();
    assert!(close(g.emissions_g, 1000.0));
    assert_eq!(g.switches, Some(0));
    assert!((g.share_of_oracle_pct.unwrap() - 100.0 / 3.0).abs() < 1e-9);
}

#[test]
fn scaled_queue_under_caps_by_hand() {
    let yaml = r#"
kind: CarbonAwareKedaScaler
metadata: {name: caps}
spec:
  kedaTarget: scaledobjects.keda.sh
  kedaTargetRef: {name: worker, namespace: default}
  maxReplicasByCarbonIntensity:
    - {carbonIntensityThreshold: 200, maxReplicas: 4}
    - {carbonIntensityThreshold: 500, maxReplicas: 0}
  ecoModeOff: {maxReplicas: 4}
---
kind: Workload
spec:
  scaled:
    - name: worker
      scaler: caps
      zone: Z
      demand: {hourly: [2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]}
      maxDelay: 2h
      powerKwPerReplica: 1
"#;
    let grid = Grid::from_values(t0(), vec![("Z".into(), vec![400.0, 100.0, 400.0, 400.0, 100.0, 400.0])]);
    let r = run(&grid, yaml, &[0.0]);
    let sc = scenario(&r, "worker");
    // Agnostic: 2 × (400 + 100 + 400 + 400) = 2600 g.
    assert!(close(grams(sc, Strategy::CarbonAgnostic), 2600.0));
    // Caps: 0 at 400, 4 at 100. h1 serves h0's and h1's work, h4 serves h2's and h3's:
    // 8 replica-hours at 100 = 800 g, the oracle's hours exactly.
    assert!(close(grams(sc, Strategy::Oracle), 800.0));
    let c = sc.get(Strategy::Gridshift).unwrap();
    assert!(close(c.emissions_g, 800.0));
    assert_eq!(c.share_of_oracle_pct, Some(100.0));
    // Delays: 2×1 (h0→h1) + 0 + 2×2 (h2→h4) + 2×1 (h3→h4) = 8 over 8 replica-hours.
    assert_eq!((c.work_delayed_hours, c.mean_delay_hours, c.deadline_misses), (8.0, 1.0, 0.0));
}

#[test]
fn planner_with_perfect_forecasts_and_no_threshold_equals_the_oracle() {
    // An irregular trace: the planner (re-planned every hour as forecasts arrive) must pick
    // exactly the oracle's start for every job, including off-the-hour arrivals.
    let mut rng = gridshift_core::splitmix::SplitMix::new(0x1234_5678);
    let mut next = || rng.unit();
    let v: Vec<f64> =
        (0..500).map(|h| 200.0 + 100.0 * ((h % 24) as f64 / 3.8).sin() + 80.0 * next()).collect();
    let grid = Grid::from_values(t0(), vec![("Z".into(), v)]);
    let yaml = r#"
kind: SchedulerSettings
spec: {minImprovement: 0}
---
kind: Workload
spec:
  jobs:
    - {name: even, zone: Z, arrivals: {every: 1h}, runtime: 1h, maxDelay: 24h}
    - {name: odd, zone: Z, arrivals: {every: 97m, offset: 13m}, runtime: 150m, deadlineAfter: 20h}
"#;
    let r = run(&grid, yaml, &[0.0]);
    for name in ["even", "odd"] {
        let sc = scenario(&r, name);
        let (g, o) = (grams(sc, Strategy::Gridshift), grams(sc, Strategy::Oracle));
        assert!((g - o).abs() < 1e-6 * o, "{name}: gridshift {g} vs oracle {o}");
        assert_eq!(sc.get(Strategy::Gridshift).unwrap().deadline_misses, 0.0);
    }
}

#[test]
fn forecast_error_costs_savings_but_never_deadlines() {
    let v: Vec<f64> =
        (0..24 * 60).map(|h| 250.0 + 90.0 * ((h % 24) as f64 / 24.0 * std::f64::consts::TAU).sin()).collect();
    let grid = Grid::from_values(t0(), vec![("Z".into(), v)]);
    let yaml = r#"
kind: Workload
spec:
  jobs: [{name: j, zone: Z, arrivals: {every: 1h}, runtime: 1h, maxDelay: 24h}]
"#;
    let r = run(&grid, yaml, &[0.0, 25.0]);
    let share = |run: usize| {
        let sc = r.runs[run].scenarios.iter().find(|s| s.name == "j").unwrap();
        let g = sc.get(Strategy::Gridshift).unwrap();
        assert_eq!(g.deadline_misses, 0.0);
        g.share_of_oracle_pct.unwrap()
    };
    let (perfect, noisy) = (share(0), share(1));
    // The default 5% minimum improvement leaves the last few percent to the oracle.
    assert!(perfect > 95.0, "{perfect}");
    assert!(noisy < perfect && noisy > 50.0, "{noisy}");
    let mae = r.runs[1].forecast.mae_measured;
    assert!((mae - 25.0).abs() < 2.5, "{mae}");
}
