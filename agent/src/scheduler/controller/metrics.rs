//! The scheduler's Prometheus metrics (prefix `gridshift_agent_scheduler_`).
//!
//! Carbon accounting: for each pod bound with data, the intensity of its node's zone
//! at bind time and the carbon-agnostic baseline (the mean over the feasible nodes
//! when the pod was created) are added up. `intensity_avoided_sum` is their
//! difference (baseline − bound): the gCO2eq/kWh saved, summed over pods. It can go
//! down (a pod released at its latest start into dirtier hours), so it is a gauge;
//! the two sums are counters, so rates over time work too.
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::queue::QueueCounts;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ZoneLabel {
    pub zone: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabel {
    pub queue: &'static str,
}

#[derive(Clone, Debug)]
pub struct SchedulerMetrics {
    /// Decisions by outcome: bind, unschedulable, waiting, gated.
    pub attempts: Family<ResultLabel, Counter>,
    /// Pods bound, by the grid zone of their node ("" when unknown).
    pub pods_bound: Family<ZoneLabel, Counter>,
    /// Pods that entered a deferral (counted once per pod).
    pub pods_deferred: Counter,
    /// Bindings refused with 409 (pod deleted, already bound, or gated meanwhile).
    pub bind_conflicts: Counter,
    /// Other failed API writes (bindings, conditions, events).
    pub api_errors: Counter,
    pub pending: Family<QueueLabel, Gauge>,
    /// 1 while this replica holds the lease (only the leader binds).
    pub leader: Gauge,
    /// One `schedule_one` call, without API cost.
    pub decision_seconds: Histogram,
    /// From first sight of a pod (agent clock) to its binding, deferral included.
    pub pending_to_bound_seconds: Histogram,
    pub bound_intensity_sum: Counter<f64, AtomicU64>,
    pub baseline_intensity_sum: Counter<f64, AtomicU64>,
    pub accounted_pods: Counter,
    pub intensity_avoided_sum: Gauge<f64, AtomicU64>,
}

impl Default for SchedulerMetrics {
    fn default() -> Self {
        Self {
            attempts: Family::default(),
            pods_bound: Family::default(),
            pods_deferred: Counter::default(),
            bind_conflicts: Counter::default(),
            api_errors: Counter::default(),
            pending: Family::default(),
            leader: Gauge::default(),
            decision_seconds: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            pending_to_bound_seconds: Histogram::new(exponential_buckets(0.01, 4.0, 12)),
            bound_intensity_sum: Counter::default(),
            baseline_intensity_sum: Counter::default(),
            accounted_pods: Counter::default(),
            intensity_avoided_sum: Gauge::default(),
        }
    }
}

impl SchedulerMetrics {
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("gridshift_agent_scheduler");
        r.register("attempts", "Scheduling decisions by result", self.attempts.clone());
        r.register("pods_bound", "Pods bound, by grid zone of the node", self.pods_bound.clone());
        r.register("pods_deferred", "Pods that waited for cleaner electricity", self.pods_deferred.clone());
        r.register("bind_conflicts", "Bindings refused with 409 Conflict", self.bind_conflicts.clone());
        r.register("api_errors", "Failed API writes (bindings, conditions, events)", self.api_errors.clone());
        r.register("pending_pods", "Pending pods by queue", self.pending.clone());
        r.register("leader", "1 while this replica holds the scheduler lease", self.leader.clone());
        r.register(
            "decision_duration_seconds",
            "Time of one scheduling decision, without API calls",
            self.decision_seconds.clone(),
        );
        r.register(
            "pending_to_bound_seconds",
            "Agent-clock time from first sight of a pod to its binding, deferral included",
            self.pending_to_bound_seconds.clone(),
        );
        r.register(
            "bound_intensity_gco2_per_kwh",
            "Sum over bound pods of their node zone's carbon intensity at bind time",
            self.bound_intensity_sum.clone(),
        );
        r.register(
            "baseline_intensity_gco2_per_kwh",
            "Sum over bound pods of the carbon-agnostic baseline (mean over feasible nodes at creation)",
            self.baseline_intensity_sum.clone(),
        );
        r.register(
            "accounted_pods",
            "Bound pods with both an intensity and a baseline (the sums' count)",
            self.accounted_pods.clone(),
        );
        r.register(
            "intensity_avoided_gco2_per_kwh_sum",
            "Baseline minus bound intensity, summed over bound pods",
            self.intensity_avoided_sum.clone(),
        );
    }

    pub fn attempt(&self, result: &'static str) {
        self.attempts.get_or_create(&ResultLabel { result }).inc();
    }

    /// Decisions with this result so far.
    pub fn attempts_with(&self, result: &'static str) -> u64 {
        self.attempts.get_or_create(&ResultLabel { result }).get()
    }

    pub fn set_queue(&self, c: QueueCounts) {
        for (queue, n) in [
            ("active", c.active),
            ("backoff", c.backoff),
            ("unschedulable", c.unschedulable),
            ("waiting", c.waiting),
            ("in_flight", c.in_flight),
        ] {
            self.pending.get_or_create(&QueueLabel { queue }).set(n as i64);
        }
    }

    /// Records a bound pod's carbon accounting.
    pub fn account(&self, zone: Option<&str>, intensity: Option<f64>, baseline: Option<f64>) {
        self.pods_bound.get_or_create(&ZoneLabel { zone: zone.unwrap_or_default().to_string() }).inc();
        if let (Some(i), Some(b)) = (intensity, baseline) {
            self.bound_intensity_sum.inc_by(i);
            self.baseline_intensity_sum.inc_by(b);
            self.accounted_pods.inc();
            self.intensity_avoided_sum.inc_by(b - i);
        }
    }
}
