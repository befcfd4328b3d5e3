//! Nodes, pods and snapshots for the scheduling decisions' tests and benchmarks.
use super::{series, ts, zone};
use crate::scheduling::model::{NodeInfo, PodInfo, Resources};
use crate::scheduling::snapshot::Snapshot;
use crate::series::Series;
use jiff::Timestamp;

pub const GIB: i64 = 1 << 30;

/// A Ready node with `cpu` millicores, `mem` bytes, 110 pods, in `zone_name`.
pub fn node(name: &str, zone_name: &str, cpu: i64, mem: i64) -> NodeInfo {
    NodeInfo {
        name: name.into(),
        allocatable: Resources { ephemeral_storage: 100 * GIB, ..Resources::new(cpu, mem) },
        allowed_pods: 110,
        grid_zone: Some(zone(zone_name)),
        ..Default::default()
    }
}

/// A pod in `default` created at 2022-01-11T17:00Z requesting `cpu` millicores and `mem` bytes.
pub fn pod(name: &str, cpu: i64, mem: i64) -> PodInfo {
    PodInfo::new("default", name, ts("2022-01-11T17:00:00Z"), Resources::new(cpu, mem))
}

pub fn snapshot(nodes: impl IntoIterator<Item = NodeInfo>) -> Snapshot {
    let mut s = Snapshot::new();
    for n in nodes {
        s.upsert_node(n);
    }
    s
}

/// Hourly forecast points from `start`, obtained at `generated_at`.
pub fn hourly(zone_name: &str, start: Timestamp, values: &[f64], generated_at: Timestamp) -> Series {
    series(zone_name, start).generated_at(generated_at).estimated().values(values)
}
