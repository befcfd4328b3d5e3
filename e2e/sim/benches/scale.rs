//! Scale benchmark (not a timed test): 5,000 nodes and 50,000 pods in memory,
//! list all pods, fan out 10,000 watch events to 10 watchers.
//!
//!     cargo bench -p gridshift-sim --bench scale
//!
//! Targets: listing 50,000 pods under 1 s, resident memory under 1 GiB.

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use gridshift_sim::{SimConfig, SimServer};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use serde_json::{Value, json};

const NODES: usize = 5_000;
const PODS: usize = 50_000;
const EVENTS: usize = 10_000;
const WATCHERS: usize = 10;

/// (VmRSS, VmHWM) in MiB.
fn memory_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn node(i: usize) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": format!("node-{i:05}"),
        "labels": {"kubernetes.io/hostname": format!("node-{i:05}"), "topology.kubernetes.io/region": format!("region-{}", i % 10),
            "carbon-zone": format!("zone-{}", i % 7)}},
        "spec": {"podCIDR": format!("10.{}.{}.0/24", i / 256, i % 256)},
        "status": {"capacity": {"cpu": "32", "memory": "128Gi", "pods": "110"},
            "allocatable": {"cpu": "31", "memory": "120Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}})
}

fn pod(i: usize, generation: usize) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": format!("pod-{i:06}"), "namespace": "default",
        "labels": {"app": format!("app-{}", i % 100), "tier": "batch"},
        "annotations": {"bench/generation": generation.to_string()}},
        "spec": {"schedulerName": "carbon-aware-scheduler", "nodeName": format!("node-{:05}", i % NODES),
            "containers": [{"name": "main", "image": "registry.example/app:1.2.3",
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
                "env": [{"name": "MODE", "value": "batch"}]}]}})
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sim = SimServer::start(SimConfig::default()).await?;
    let (rss0, _) = memory_mib();
    let started = Instant::now();
    for i in 0..NODES {
        sim.upsert(node(i))?;
    }
    for i in 0..PODS {
        sim.upsert(pod(i, 0))?;
    }
    let (rss_loaded, _) = memory_mib();
    println!(
        "load {NODES} nodes + {PODS} pods: {}  (RSS {rss0:.0} -> {rss_loaded:.0} MiB)",
        secs(started.elapsed())
    );

    let client = sim.client()?;
    let started = Instant::now();
    let req = http::Request::get("/api/v1/pods").body(Vec::new())?;
    let body = client.request_text(req).await?;
    let raw = started.elapsed();
    println!("list all pods, raw JSON over HTTP: {} ({:.1} MiB)", secs(raw), body.len() as f64 / 1048576.0);
    drop(body);
    let pods: Api<Pod> = Api::all(client.clone());
    let started = Instant::now();
    let list = pods.list(&ListParams::default()).await?;
    println!(
        "list all pods, kube-rs typed Api<Pod>: {} ({} items)",
        secs(started.elapsed()),
        list.items.len()
    );
    assert_eq!(list.items.len(), PODS);
    drop(list);
    let started = Instant::now();
    let bound = pods.list(&ListParams::default().fields("spec.nodeName=node-00042")).await?;
    println!(
        "list pods with fieldSelector spec.nodeName: {} ({} items)",
        secs(started.elapsed()),
        bound.items.len()
    );

    let rv = sim.resource_version().to_string();
    let mut watchers = Vec::new();
    for _ in 0..WATCHERS {
        let stream = pods.watch(&WatchParams::default().disable_bookmarks(), &rv).await?;
        watchers.push(tokio::spawn(async move {
            let mut stream = stream.boxed();
            let mut seen = 0usize;
            while seen < EVENTS {
                match stream.try_next().await {
                    Ok(Some(WatchEvent::Modified(_))) => seen += 1,
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
            (seen, Instant::now())
        }));
    }
    let started = Instant::now();
    for i in 0..EVENTS {
        sim.upsert(pod(i, 1))?;
    }
    let produced = started.elapsed();
    let mut last = started;
    for w in watchers {
        let (seen, done) = w.await?;
        assert_eq!(seen, EVENTS, "every watcher sees every event");
        last = last.max(done);
    }
    println!(
        "fan-out {EVENTS} events to {WATCHERS} kube-rs watchers: writes {}, all delivered {} ({:.0} events/s delivered)",
        secs(produced),
        secs(last - started),
        (EVENTS * WATCHERS) as f64 / (last - started).as_secs_f64()
    );
    let (rss, hwm) = memory_mib();
    println!("memory: RSS {rss:.0} MiB, peak {hwm:.0} MiB");
    sim.shutdown().await;
    Ok(())
}
