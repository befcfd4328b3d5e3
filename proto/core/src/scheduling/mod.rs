//! The carbon-aware scheduler's decisions: one pod over a [`Snapshot`] of nodes and
//! placed pods, the zones' [`Forecasts`] and `now` ([`schedule_one`]): bind to the
//! cleanest feasible node, wait for a cleaner window (pods that opted in), or report why
//! no node fits in kube-scheduler's words. No I/O, no clock: the agent's scheduler
//! controller, the what-if simulator and the benchmarks all drive this same function.
//!
//! | module | what |
//! |---|---|
//! | [`model`] | plain data: `NodeInfo`, `PodInfo`, `Resources`, `PodRequests` (kube's request aggregation), taints, tolerations, selectors, host ports, volume claims |
//! | [`quantity`] | exact Kubernetes quantity parsing (`100m`, `1.5Gi`, `1e3`), rounded up like `MilliValue()` / `Value()` |
//! | [`filters`] | feasibility, kube-scheduler semantics and reason strings |
//! | [`diagnosis`] | `0/N nodes are available: …` exactly as kube's `FitError.Error()` |
//! | [`score`] | carbon score blended with LeastAllocated / BalancedAllocation; tie-break by name |
//! | [`deferral`] | annotations and the temporal-shifting planner |
//! | [`snapshot`] | `Snapshot`: nodes + placed pods, with assume / forget / confirm |
pub mod deferral;
pub mod diagnosis;
pub mod filters;
pub mod model;
pub mod quantity;
pub mod score;
pub mod snapshot;

use crate::forecasts::Forecasts;
use crate::series::Series;
use jiff::Timestamp;

pub use deferral::{DeferralRequest, DeferralSpec, Plan, PlannerConfig, RunNowWhy, WaitPlan};
pub use model::{NodeInfo, PodInfo};
pub use score::{NodeScore, ScoreWeights};
pub use snapshot::{CacheError, NodeState, Snapshot};

/// The default `spec.schedulerName` this scheduler serves.
pub const SCHEDULER_NAME: &str = "carbon-aware-scheduler";
/// PodScheduled=False reasons, as kube-scheduler writes them, plus ours for waiting.
pub const REASON_UNSCHEDULABLE: &str = "Unschedulable";
pub const REASON_SCHEDULING_GATED: &str = "SchedulingGated";
pub use deferral::WAIT_REASON as REASON_WAITING;
/// kube-scheduler's PodScheduled message for a gated pod.
pub const GATED_MESSAGE: &str = "Scheduling is blocked due to non-empty scheduling gates";

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SchedulerConfig {
    pub weights: ScoreWeights,
    pub planner: PlannerConfig,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum Decision {
    /// Bind the pod to `node` (after [`Snapshot::assume`]).
    Bind(Binding),
    /// Leave the pod pending; reconsider at `plan.recheck_by` (or sooner on new data).
    Wait(Deferred),
    /// No node fits: PodScheduled=False reason Unschedulable, event FailedScheduling.
    Unschedulable { message: String },
    /// The pod has scheduling gates: PodScheduled=False reason SchedulingGated.
    Gated { message: String },
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Binding {
    pub node: String,
    pub score: NodeScore,
    pub zone: Option<crate::zone::Zone>,
    /// The node's zone intensity now (gCO2eq/kWh); `None` without fresh data.
    pub intensity: Option<f64>,
    /// What a carbon-agnostic placement would have had: the mean over the feasible
    /// nodes of their intensity when the pod was created (now, if the forecast no
    /// longer reaches back that far).
    pub baseline: Option<f64>,
    pub feasible_nodes: usize,
    /// For pods that asked to be deferred: why they start now (for the event).
    pub deferral_note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Deferred {
    pub plan: WaitPlan,
    /// The carbon-agnostic baseline as of this decision; the controller may keep the
    /// first one it saw for the pod's accounting.
    pub baseline: Option<f64>,
}

/// Decides for one pod. The controller calls it for each pending pod with the cache's
/// snapshot; on `Bind` it calls `snapshot.assume(pod, node)` before posting the
/// binding, then `confirm` or `forget` on the outcome.
pub fn schedule_one(
    cfg: &SchedulerConfig,
    snapshot: &Snapshot,
    pod: &PodInfo,
    forecasts: &Forecasts,
    now: Timestamp,
) -> Decision {
    if !pod.scheduling_gates.is_empty() {
        return Decision::Gated { message: GATED_MESSAGE.to_string() };
    }
    let nodes = snapshot.nodes();
    if let Some(msg) = filters::pre_filter(pod) {
        return Decision::Unschedulable {
            message: diagnosis::fit_error_message(nodes.len(), Some(&msg), []),
        };
    }
    let mut feasible = Vec::new();
    let mut reasons = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        if filters::filter_node(pod, node, &mut reasons) {
            feasible.push(i);
        }
    }
    if feasible.is_empty() {
        return Decision::Unschedulable { message: diagnosis::fit_error_message(nodes.len(), None, reasons) };
    }

    // Each zone is looked up once per decision, not once per node.
    let zone_series: Vec<Option<&Series>> =
        snapshot.zones().iter().map(|z| forecasts.usable(z, now)).collect();
    let zone_now: Vec<Option<f64>> = zone_series.iter().map(|s| s.and_then(|s| s.value_at(now))).collect();
    let baseline = baseline(nodes, &feasible, &zone_series, pod.created, &zone_now);

    let deferral_note = match &pod.deferral {
        DeferralRequest::None => None,
        DeferralRequest::Invalid(msg) => Some(msg.clone()),
        DeferralRequest::Defer(spec) => {
            let mut used = vec![false; zone_series.len()];
            for &i in &feasible {
                if let Some(z) = nodes[i].zone {
                    used[z] = true;
                }
            }
            let candidates: Vec<&str> =
                snapshot.zones().iter().zip(&used).filter(|(_, u)| **u).map(|(z, _)| z.as_str()).collect();
            match deferral::plan(spec, pod.created, now, forecasts, &candidates, &cfg.planner) {
                Plan::Wait(plan) => return Decision::Wait(Deferred { plan, baseline }),
                Plan::RunNow { message, .. } => Some(message),
            }
        }
    };

    let Some((best, score)) = score::select_best(pod, nodes, &feasible, &zone_now, &cfg.weights) else {
        // Not reached: `feasible` is not empty. Stated rather than panicking.
        return Decision::Unschedulable { message: diagnosis::fit_error_message(nodes.len(), None, reasons) };
    };
    let node = &nodes[best];
    Decision::Bind(Binding {
        node: node.info.name.clone(),
        score,
        zone: node.info.grid_zone.clone(),
        intensity: node.zone.and_then(|z| zone_now[z]),
        baseline,
        feasible_nodes: feasible.len(),
        deferral_note,
    })
}

/// Mean over feasible nodes (a carbon-agnostic scheduler picks any of them) of their
/// zone's intensity at the pod's creation, falling back to now per zone.
fn baseline(
    nodes: &[NodeState],
    feasible: &[usize],
    zone_series: &[Option<&Series>],
    created: Timestamp,
    zone_now: &[Option<f64>],
) -> Option<f64> {
    let at_creation: Vec<Option<f64>> = zone_series
        .iter()
        .zip(zone_now)
        .map(|(s, now)| s.and_then(|s| s.value_at(created)).or(*now))
        .collect();
    let (mut sum, mut n) = (0.0, 0usize);
    for &i in feasible {
        if let Some(v) = nodes[i].zone.and_then(|z| at_creation[z]) {
            sum += v;
            n += 1;
        }
    }
    (n > 0).then(|| sum / n as f64)
}

#[cfg(test)]
mod tests;
