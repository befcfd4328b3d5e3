//! End-to-end throughput of the KEDA capper against gridshift-sim in the same process:
//! N ScaledObjects and N CarbonAwareKedaScalers (default 300, `GRIDSHIFT_BENCH_N`; 10 when
//! run as a test by `cargo test --all-targets`).
//! Reports how long until every new CR's cap is on its target, and how long a forecast
//! boundary (a ManualClock advance) takes to re-cap all N. Every reconcile goes through
//! the HTTP API (get target, merge patch, status patch, event), as in a cluster.
//!
//! Run: `cargo bench -p gridshift-agent --bench keda`
use gridshift_agent::keda::target::api_resource;
use gridshift_agent::testing::keda::{NS, SO, cluster, spec};
use gridshift_agent::testing::{hourly, t0};
use gridshift_api::keda::CarbonAwareKedaScaler;
use gridshift_core::testing::bench::loadavg;
use jiff::SignedDuration;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use serde_json::json;
use std::time::{Duration, Instant};

/// Polls the list until `n` targets carry `cap` (a benchmark measures; it does not wait on events).
async fn until_all(api: &Api<DynamicObject>, cap: i64, n: usize) {
    loop {
        let items = api.list(&ListParams::default()).await.expect("list").items;
        if items.iter().filter(|o| o.data["spec"]["maxReplicaCount"] == cap).count() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::main]
async fn main() {
    // Quiet: the shared setup logs at info otherwise.
    let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::new("warn")).try_init();
    // `cargo test --all-targets` runs this too (without `--bench`): a small smoke run then.
    let benching = std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("GRIDSHIFT_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benching { 300 } else { 10 });
    let c = cluster(Some(hourly(t0(), t0(), &[30.0, 67.0]))).await;
    let targets: Api<DynamicObject> = Api::namespaced_with(c.client.clone(), NS, &api_resource(SO));
    for i in 0..n {
        let so: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
            "metadata": {"name": format!("so{i}"), "namespace": NS},
            "spec": {"scaleTargetRef": {"name": "w"}, "maxReplicaCount": 100,
                     "triggers": [{"type": "cpu", "metadata": {"value": "50"}}]},
        }))
        .expect("so");
        targets.create(&PostParams::default(), &so).await.expect("create");
    }
    let scalers: Api<CarbonAwareKedaScaler> = Api::namespaced(c.client.clone(), NS);
    let started = Instant::now();
    for i in 0..n {
        let cr = CarbonAwareKedaScaler::new(&format!("cr{i}"), spec(SO, &format!("so{i}")));
        scalers.create(&PostParams::default(), &cr).await.expect("create");
    }
    let created = started.elapsed();
    until_all(&targets, 80, n).await;
    let capped = started.elapsed();
    let boundary = Instant::now();
    c.clock.advance(SignedDuration::from_hours(1));
    until_all(&targets, 20, n).await;
    let recapped = boundary.elapsed();
    c.stop.trigger();
    c.capper.await.expect("the capper stops");
    println!(
        "keda capper, {n} CRs: created in {created:.2?}, all capped {capped:.2?} after the first create"
    );
    println!(
        "forecast boundary: all {n} re-capped in {recapped:.2?} ({:.0} CRs/s)",
        n as f64 / recapped.as_secs_f64()
    );
    println!("load average: {}", loadavg());
}
