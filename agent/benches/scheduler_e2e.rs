//! End-to-end benchmark of the carbon-aware scheduler controller against
//! gridshift-sim, in the style of kube-scheduler's scheduler_perf
//! (SchedulingBasic at 5,000 nodes): the real controller (watches, queue, decisions,
//! bindings through `pods/binding`, events) and an in-process API server.
//!
//! 5,000 nodes in 8 grid zones (varied shapes, some tainted or cordoned) and 5,000
//! running pods are loaded first; then 10,000 pods are created through the API by
//! 16 concurrent clients while a watch records when each is bound. Reports pods/s
//! end to end (first creation → last bound), creation → bound latency percentiles,
//! the in-situ decision figure (decisions/s without API cost, from the controller's
//! own decision-time histogram), and the machine's load average.
//!
//! Run: `cargo bench -p gridshift-agent --bench scheduler_e2e`
//! (`GRIDSHIFT_BENCH_PODS` / `GRIDSHIFT_BENCH_NODES` change the sizes; under
//! `cargo test --all-targets` it runs at 200 nodes / 500 pods as a smoke test).
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use gridshift_agent::forecast::{ForecastHandle, ForecastView};
use gridshift_agent::scheduler::controller::{self, ControllerConfig, Deps, SchedulerMetrics};
use gridshift_core::testing::bench::{loadavg, percentile};
use gridshift_core::testing::{Rng, series};
use gridshift_core::{Forecasts, ManualClock, Series, SharedClock};
use gridshift_ops::runtime::Shutdown;
use gridshift_sim::{SimConfig, SimServer};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use kube::runtime::watcher;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::sync::watch;

const ZONES: [&str; 8] = gridshift_core::testing::TRACE_ZONES;
const CREATORS: usize = 16;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn node(rng: &mut Rng, i: usize) -> Value {
    let zone = ZONES[i % ZONES.len()];
    let (cores, mem) = [(4, 16), (8, 32), (16, 64), (32, 128), (64, 256)][rng.below(5) as usize];
    let name = format!("node-{i:05}");
    let mut n = json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"carbon-zone": zone, "kubernetes.io/hostname": name,
            "disk": if rng.below(3) == 0 { "ssd" } else { "hdd" }}},
        "spec": {},
        "status": {"allocatable": {"cpu": format!("{}m", cores * 1000 - 80), "memory": format!("{mem}Gi"),
            "pods": "110"}, "conditions": [{"type": "Ready", "status": "True"}]}});
    match rng.below(100) {
        0..5 => n["spec"]["taints"] = json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
        5..7 => n["spec"]["unschedulable"] = json!(true),
        _ => {}
    }
    n
}

fn running_pod(rng: &mut Rng, i: usize, nodes: usize) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("running-{i:05}"), "namespace": "default"},
        "spec": {"nodeName": format!("node-{:05}", rng.below(nodes as u64)),
            "containers": [{"name": "c", "image": "x", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}]},
        "status": {"phase": "Running"}})
}

fn pending_pod(rng: &mut Rng, i: usize) -> Pod {
    let cpu = ["100m", "250m", "500m", "1", "2"][rng.below(5) as usize];
    let mem = ["128Mi", "512Mi", "1Gi", "2Gi"][rng.below(4) as usize];
    let mut p = json!({"metadata": {"name": format!("pending-{i:05}")},
        "spec": {"schedulerName": "carbon-aware-scheduler",
            "containers": [{"name": "c", "image": "x", "resources": {"requests": {"cpu": cpu, "memory": mem}}}]}});
    match rng.below(100) {
        0..10 => p["spec"]["nodeSelector"] = json!({"disk": "ssd"}),
        10..15 => {
            p["spec"]["tolerations"] = json!([{"key": "dedicated", "operator": "Equal", "value": "gpu"}]);
        }
        _ => {}
    }
    serde_json::from_value(p).expect("pod")
}

/// 24 hourly forecast points from `now`, random but seeded.
fn forecast(zone: &str, now: Timestamp, rng: &mut Rng) -> Series {
    let values: Vec<f64> = (0..24).map(|_| 50.0 + rng.below(400) as f64).collect();
    series(zone, now).provider("bench").estimated().values(&values)
}

fn main() {
    gridshift_ops::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    // `cargo bench` passes --bench; `cargo test --all-targets` (CI) does not, and then a
    // small run only checks that the benchmark works.
    let full = std::env::args().any(|a| a == "--bench");
    let nodes = env_usize("GRIDSHIFT_BENCH_NODES", if full { 5_000 } else { 200 });
    let pods = env_usize("GRIDSHIFT_BENCH_PODS", if full { 10_000 } else { 500 });
    let running = nodes;
    println!(
        "scheduler e2e: {nodes} nodes, {running} running pods, {pods} pods to schedule, {CREATORS} creators"
    );
    println!(
        "machine: {} cpus, load average before: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    );
    let sim = SimServer::start(SimConfig {
        history_limit: 200_000,
        watch_channel_capacity: 65_536,
        ..SimConfig::default()
    })
    .await
    .expect("sim");
    let mut rng = Rng::new(7);
    let t0 = Instant::now();
    for i in 0..nodes {
        sim.upsert(node(&mut rng, i)).expect("node");
    }
    for i in 0..running {
        sim.upsert(running_pod(&mut rng, i, nodes)).expect("running pod");
    }
    println!("loaded {nodes} nodes + {running} running pods in {:.2} s", t0.elapsed().as_secs_f64());

    let now: Timestamp = "2022-06-14T12:00:00Z".parse().unwrap();
    let clock: SharedClock = Arc::new(ManualClock::new(now));
    let mut view = ForecastView::empty(None, SignedDuration::from_hours(2));
    view.forecasts =
        Forecasts::from_series(ZONES.iter().map(|z| forecast(z, now, &mut rng)), view.staleness_bound());
    view.updated_at = Some(now);
    let (_forecast_tx, forecast_rx) = watch::channel(Arc::new(view));
    let metrics = SchedulerMetrics::default();
    let client = sim.client().expect("client");
    let mut cfg = ControllerConfig::new("carbon-aware-scheduler", "bench");
    cfg.leader.enabled = false;
    let deps = Deps {
        client: client.clone(),
        clock,
        forecast: ForecastHandle::new(forecast_rx),
        metrics: metrics.clone(),
        node_zones: None,
        status: None,
    };
    let stop = Shutdown::new();
    let controller = tokio::spawn(controller::run(cfg, deps, stop.clone()));

    // Bound times, from one watch over the scheduler's pods.
    let bound_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let (all_bound_tx, mut all_bound) = watch::channel(0usize);
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let watch_cfg = watcher::Config::default().fields("spec.schedulerName=carbon-aware-scheduler");
    let recorder = {
        let bound_at = bound_at.clone();
        let mut events = Box::pin(watcher(api.clone(), watch_cfg));
        tokio::spawn(async move {
            while let Some(ev) = events.next().await {
                let (watcher::Event::Apply(p) | watcher::Event::InitApply(p)) = ev.expect("watch") else {
                    continue;
                };
                if p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some() {
                    let mut map = bound_at.lock();
                    map.entry(p.metadata.name.clone().unwrap_or_default()).or_insert_with(Instant::now);
                    all_bound_tx.send_replace(map.len());
                }
            }
        })
    };

    // Warm-up: one pod through the whole path once the controller has listed.
    let warm = Instant::now();
    api.create(&PostParams::default(), &pending_pod(&mut Rng::new(1), 99_999)).await.expect("warm-up pod");
    all_bound.wait_for(|n| *n >= 1).await.expect("warm-up bound");
    println!("controller synced and first pod bound after {:.2} s", warm.elapsed().as_secs_f64());
    let decisions_before = (metrics.decision_seconds.count(), metrics.decision_seconds.sum());

    let specs: Vec<Pod> = (0..pods).map(|i| pending_pod(&mut rng, i)).collect();
    let created_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let start = Instant::now();
    let chunks: Vec<Vec<Pod>> = specs.chunks(pods.div_ceil(CREATORS)).map(|c| c.to_vec()).collect();
    let creators: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            let (api, created_at) = (api.clone(), created_at.clone());
            tokio::spawn(async move {
                for p in chunk {
                    let name = p.metadata.name.clone().unwrap_or_default();
                    created_at.lock().insert(name, Instant::now());
                    api.create(&PostParams::default(), &p).await.expect("create pod");
                }
            })
        })
        .collect();
    for c in creators {
        c.await.expect("creator");
    }
    let created = start.elapsed();
    let load_during = loadavg();
    tokio::time::timeout(Duration::from_secs(600), all_bound.wait_for(|n| *n > pods))
        .await
        .expect("all pods bound within 10 minutes")
        .expect("watch");
    let all = start.elapsed();

    let mut latencies: Vec<Duration> = {
        let (bound, created_at) = (bound_at.lock(), created_at.lock());
        created_at.iter().map(|(name, c)| bound[name].saturating_duration_since(*c)).collect()
    };
    latencies.sort();
    let decisions = metrics.decision_seconds.count() - decisions_before.0;
    let decision_time = metrics.decision_seconds.sum() - decisions_before.1;
    println!(
        "created {pods} pods in {:.2} s ({:.0} creates/s)",
        created.as_secs_f64(),
        pods as f64 / created.as_secs_f64()
    );
    println!(
        "end to end: {pods} pods bound in {:.2} s = {:.0} pods/s (creation of the first -> binding of the last)",
        all.as_secs_f64(),
        pods as f64 / all.as_secs_f64()
    );
    println!(
        "creation -> bound latency: p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.90).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
    );
    println!(
        "decisions in the controller (no API cost): {decisions} in {:.2} s = {:.0} decisions/s, mean {:.2} ms",
        decision_time,
        decisions as f64 / decision_time,
        decision_time / decisions as f64 * 1e3
    );
    println!(
        "bind conflicts {}, API errors {}, unschedulable attempts {}",
        metrics.bind_conflicts.get(),
        metrics.api_errors.get(),
        metrics.attempts_with("unschedulable")
    );
    println!("load average during: {load_during}; after: {}", loadavg());
    stop.trigger();
    let _ = controller.await;
    recorder.abort();
}
