//! A year of hourly data for 10 zones and 10,000 jobs, with forecast error, through every
//! strategy: the deferral planner, KEDA threshold caps and the oracle for the jobs (1,000
//! per zone at random instants, 1 h runs, 24 h slack), plus a placement across all 10 zones
//! by the policy controller's reconcile step. Target: seconds.
//!
//! The 10 zones are the 8 shipped open traces plus GB and CISO shifted by 12 hours (so
//! they differ from the originals and make the ranking cross).
//!
//! Run: `cargo bench -p gridshift-whatif --bench year`
use gridshift_whatif::inputs::Inputs;
use gridshift_whatif::trace::{Grid, load_traces};
use gridshift_whatif::{RunOptions, simulate};
use std::fmt::Write;
use std::path::PathBuf;
use std::time::Instant;

const JOBS_PER_ZONE: usize = 1_000;

fn main() {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../data/carbon-intensity-open"));
    let traces = load_traces(&[dir]).expect("open traces");
    let real = Grid::from_traces(&traces, &[], None, None).expect("grid");
    let mut rows: Vec<(String, Vec<f64>)> =
        real.zones.iter().enumerate().map(|(z, name)| (name.to_string(), real.values(z).to_vec())).collect();
    for src in ["GB", "US-CAL-CISO"] {
        let z = real.zone_index(src).unwrap();
        let mut v = real.values(z).to_vec();
        v.rotate_left(12);
        rows.push((format!("{src}-SHIFTED"), v));
    }
    let grid = Grid::from_values(real.start, rows);
    assert_eq!(grid.zones.len(), 10);

    let mut yaml = String::from(
        "kind: CarbonAwareKarmadaPolicy\nmetadata: {name: all}\nspec:\n  desiredClusters: 2\n  \
         karmadaTarget: propagationpolicies.policy.karmada.io\n  karmadaTargetRef: {name: web, namespace: default}\n  \
         ranking: {signal: forecastMean, windowSeconds: 21600}\n  minDwellSeconds: 21600\n  clusterLocations:\n",
    );
    for (i, z) in grid.zones.iter().enumerate() {
        let _ = writeln!(yaml, "    - {{name: m{i}, location: {z}}}");
    }
    for i in 0..grid.zones.len() {
        // Quartile buckets of the zone's own distribution, as suggest-thresholds gives them.
        let mut v = grid.values(i).to_vec();
        v.sort_by(f64::total_cmp);
        let q = |p: f64| v[((v.len() - 1) as f64 * p) as usize] as i32;
        let _ = write!(
            yaml,
            "---\nkind: CarbonAwareKedaScaler\nmetadata: {{name: caps{i}}}\nspec:\n  kedaTarget: scaledjobs.keda.sh\n  \
             kedaTargetRef: {{name: j{i}, namespace: default}}\n  maxReplicasByCarbonIntensity:\n    \
             - {{carbonIntensityThreshold: {}, maxReplicas: 4}}\n    - {{carbonIntensityThreshold: {}, maxReplicas: 2}}\n    \
             - {{carbonIntensityThreshold: {}, maxReplicas: 1}}\n    - {{carbonIntensityThreshold: {}, maxReplicas: 0}}\n  \
             ecoModeOff: {{maxReplicas: 4}}\n",
            q(0.25),
            q(0.5) + 1,
            q(0.75) + 2,
            q(1.0) + 3
        );
    }
    yaml.push_str("---\nkind: Workload\nspec:\n  placements:\n    - {name: web, policy: all, replicas: {constant: 10}}\n  jobs:\n");
    for (i, z) in grid.zones.iter().enumerate() {
        let _ = writeln!(
            yaml,
            "    - {{name: j{i}, zone: {z}, arrivals: {{count: {JOBS_PER_ZONE}, seed: {i}}}, runtime: 1h, maxDelay: 24h, scaler: caps{i}}}"
        );
    }
    let mut inputs = Inputs::default();
    inputs.add_yaml("bench", &yaml).expect("bench inputs");

    let opts = RunOptions { forecast_maes: vec![25.0], ..Default::default() };
    let started = Instant::now();
    let report = simulate(&grid, &inputs, &opts).expect("simulate");
    let elapsed = started.elapsed();

    let jobs: f64 = report.runs[0]
        .scenarios
        .iter()
        .filter(|s| s.name.starts_with('j'))
        .map(|s| s.strategies[0].work_units)
        .sum();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "what-if year bench: {} zones × {} hours, {jobs} jobs, 1 placement, forecast MAE 25",
        grid.zones.len(),
        grid.hours
    );
    println!(
        "  simulated in {:.2} s ({:.0} jobs/s through planner + threshold caps + oracle); forecast MAE measured {:.1}",
        elapsed.as_secs_f64(),
        jobs / elapsed.as_secs_f64(),
        report.runs[0].forecast.mae_measured
    );
    println!(
        "  machine: {cpus} CPUs, load average {}",
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
}
