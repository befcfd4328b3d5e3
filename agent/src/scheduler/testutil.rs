//! Builders shared by the scheduler's unit tests.
use std::sync::Arc;

use gridshift_proto::{ForecastPoint, Series, Signal};
use jiff::{SignedDuration, Timestamp};

use super::cache::Snapshot;
use super::model::{NodeInfo, PodInfo, Resources};

pub const GIB: i64 = 1 << 30;

pub fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// A Ready node with `cpu` millicores, `mem` bytes, 110 pods, in `zone`.
pub fn node(name: &str, zone: &str, cpu: i64, mem: i64) -> NodeInfo {
    NodeInfo {
        name: name.into(),
        allocatable: Resources { ephemeral_storage: 100 * GIB, ..Resources::new(cpu, mem) },
        allowed_pods: 110,
        grid_zone: Some(zone.into()),
        ..Default::default()
    }
}

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

/// Hourly points from `start`, obtained at `generated_at`.
pub fn hourly(zone: &str, start: Timestamp, values: &[f64], generated_at: Timestamp) -> Series {
    let points = values
        .iter()
        .enumerate()
        .map(|(i, v)| ForecastPoint {
            start: start + SignedDuration::from_hours(i as i64),
            duration: SignedDuration::from_hours(1),
            value: *v,
            provider: Arc::from("test"),
            is_estimated: true,
        })
        .collect();
    Series::new(zone, generated_at, Signal::Average, points)
}

/// A zone's real 2022 hourly trace shipped in the repository (`e2e/data`).
pub fn trace(zone: &str) -> Vec<(Timestamp, f64)> {
    let path = format!("{}/../e2e/data/carbon-intensity-open/{zone}.csv", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .skip(1)
        .map(|l| {
            let mut f = l.split(',');
            let t = ts(f.next().unwrap());
            let _zone = f.next();
            (t, f.next().unwrap().parse().unwrap())
        })
        .collect()
}

/// What a perfect forecast issued at `now` would say: the trace's points from the
/// hour containing `now` for `horizon_h` hours (gaps in the trace stay gaps).
pub fn forecast_from_trace(zone: &str, trace: &[(Timestamp, f64)], now: Timestamp, horizon_h: i64) -> Series {
    let from = trace.partition_point(|(t, _)| *t <= now).saturating_sub(1);
    let until = now + SignedDuration::from_hours(horizon_h);
    let points = trace[from..]
        .iter()
        .take_while(|(t, _)| *t < until)
        .map(|(t, v)| ForecastPoint {
            start: *t,
            duration: SignedDuration::from_hours(1),
            value: *v,
            provider: Arc::from("trace"),
            is_estimated: true,
        })
        .collect();
    Series::new(zone, now, Signal::Average, points)
}
