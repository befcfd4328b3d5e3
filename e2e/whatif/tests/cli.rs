//! The binary end to end on the shipped examples over one week of the open traces.
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

fn repo(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn whatif(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_gridshift-whatif")).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out
}

#[test]
fn run_writes_json_and_charts() {
    let svg = tempfile::tempdir().unwrap();
    let (policies, workload, traces) = (
        repo("examples/policies.yaml"),
        repo("examples/workload.yaml"),
        repo("../data/carbon-intensity-open"),
    );
    let out = whatif(&[
        "run",
        "--policy",
        policies.to_str().unwrap(),
        "--workload",
        workload.to_str().unwrap(),
        "--traces",
        traces.to_str().unwrap(),
        "--from",
        "2022-03-01T00:00:00Z",
        "--to",
        "2022-03-08T00:00:00Z",
        "--forecast-mae",
        "0,25",
        "--format",
        "json",
        "--svg-dir",
        svg.path().to_str().unwrap(),
    ]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["traces"]["hours"], 168);
    assert_eq!(report["traces"]["zones"].as_array().unwrap().len(), 8);
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["forecast"]["mae_target"], 0.0);
    let mae = runs[1]["forecast"]["mae_measured"].as_f64().unwrap();
    assert!((mae - 25.0).abs() < 5.0, "measured MAE {mae}");

    for (i, run) in runs.iter().enumerate() {
        let scenarios = run["scenarios"].as_array().unwrap();
        // 8 job groups + their total, 2 placements, 1 scaled worker.
        assert_eq!(scenarios.len(), 12);
        for sc in scenarios {
            let name = sc["name"].as_str().unwrap();
            let rows = sc["strategies"].as_array().unwrap();
            let get =
                |s: &str| rows.iter().find(|r| r["strategy"] == s).unwrap_or_else(|| panic!("{name}: {s}"));
            let g = |s: &str| get(s)["emissions_g"].as_f64().unwrap();
            assert_eq!(get("carbon-agnostic")["saved_vs_agnostic_pct"], 0.0);
            assert!(g("carbon-agnostic") > 0.0);
            // The oracle is a lower bound for every strategy.
            for r in rows {
                assert!(r["emissions_g"].as_f64().unwrap() >= g("oracle") - 1e-6, "{name}: {r}");
            }
            if sc["kind"] == "temporal" && !name.starts_with("all ") {
                assert!(get("peers")["rule"].as_str().unwrap().contains("threshold caps"));
                assert_eq!(get("gridshift")["deadline_misses"], 0.0, "{name}");
                if i == 0 {
                    // Perfect forecasts: the planner never waits for something worse.
                    assert!(g("gridshift") <= g("carbon-agnostic") + 1e-6, "{name}");
                }
            }
            if sc["kind"] == "spatial" {
                assert!(get("gridshift")["switches_per_day"].as_f64().is_some());
                assert!(get("peers")["rule"].as_str().unwrap().contains("no hysteresis"));
            }
        }
    }

    let files: Vec<String> = std::fs::read_dir(svg.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    for f in [
        "web-no-hydro-perfect-intensity.svg",
        "web-no-hydro-mae25-cumulative.svg",
        "jobs-gb-mae25-intensity.svg",
    ] {
        assert!(files.contains(&f.to_string()), "{f} not in {files:?}");
        let text = std::fs::read_to_string(svg.path().join(f)).unwrap();
        assert!(text.starts_with("<svg") && text.trim_end().ends_with("</svg>"));
        assert!(text.contains("<polyline"));
    }
}

#[test]
fn suggest_thresholds_prints_a_usable_block() {
    let traces = repo("../data/carbon-intensity-open");
    let out = whatif(&[
        "suggest-thresholds",
        "--traces",
        traces.to_str().unwrap(),
        "--zone",
        "GB",
        "--caps",
        "6,3,1",
        "--shares",
        "50,30,20",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    let v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let buckets: Vec<gridshift_api::keda::CarbonIntensityConfig> =
        serde_yaml::from_value(v["maxReplicasByCarbonIntensity"].clone()).unwrap();
    let caps: Vec<i32> = buckets.iter().map(|b| b.max_replicas).collect();
    assert_eq!(caps, [6, 3, 1]);
    assert!(buckets.windows(2).all(|w| w[0].carbon_intensity_threshold < w[1].carbon_intensity_threshold));
}

#[test]
fn a_broken_reference_is_reported_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w.yaml");
    std::fs::write(&w, "kind: Workload\nspec:\n  placements: [{name: web, policy: missing}]\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gridshift-whatif"))
        .args(["run", "--workload", w.to_str().unwrap(), "--traces"])
        .arg(repo("../data/carbon-intensity-open"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no CarbonAwareKarmadaPolicy \"missing\""), "{err}");
}
