//! Ranking feasible nodes: the carbon intensity of the node's grid zone, normalised
//! across the feasible nodes (cleanest 100, dirtiest 0), blended with kube's
//! NodeResourcesLeastAllocated and NodeResourcesBalancedAllocation scores (0–100).
//! Ties go to the lexicographically smallest node name, so equal intensities never
//! produce an unstable choice.
use std::cmp::Ordering;

use super::model::PodInfo;
use super::snapshot::NodeState;

/// Relative weights of the score parts; they need not sum to 1.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScoreWeights {
    pub carbon: f64,
    pub least_allocated: f64,
    pub balanced_allocation: f64,
}

impl Default for ScoreWeights {
    /// Carbon dominates: resources can move a node by at most 20 points, so a node in
    /// another zone wins on resources only if its zone is within a quarter of the
    /// feasible nodes' intensity spread of the cleanest.
    fn default() -> Self {
        Self { carbon: 0.8, least_allocated: 0.1, balanced_allocation: 0.1 }
    }
}

/// One node's score and its parts (0–100 each), kept for the explanation.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct NodeScore {
    /// `None` when no feasible node has intensity data: the choice is carbon-agnostic.
    pub carbon: Option<f64>,
    pub least_allocated: f64,
    pub balanced_allocation: f64,
    pub total: f64,
}

/// The spread of intensities over the feasible nodes that have data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CarbonRange {
    pub min: f64,
    pub max: f64,
    /// Stands in for nodes without data: neither rewarded nor punished (fail-open).
    pub mean: f64,
}

impl CarbonRange {
    pub fn of(intensities: impl IntoIterator<Item = f64>) -> Option<Self> {
        let (mut min, mut max, mut sum, mut n) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0usize);
        for v in intensities {
            min = min.min(v);
            max = max.max(v);
            sum += v;
            n += 1;
        }
        (n > 0).then(|| Self { min, max, mean: sum / n as f64 })
    }

    /// 100 for the cleanest, 0 for the dirtiest, linear in between.
    pub fn normalise(&self, intensity: Option<f64>) -> f64 {
        let v = intensity.unwrap_or(self.mean);
        if self.max - self.min <= f64::EPSILON {
            100.0
        } else {
            100.0 * (self.max - v) / (self.max - self.min)
        }
    }
}

/// kube's LeastAllocated over CPU and memory (equal weights), with the pod added.
pub fn least_allocated(pod: &PodInfo, node: &NodeState) -> f64 {
    let part = |requested: i64, alloc: i64| {
        if alloc <= 0 || requested > alloc { 0.0 } else { (alloc - requested) as f64 * 100.0 / alloc as f64 }
    };
    let (cpu, mem) = requested_after(pod, node);
    (part(cpu, node.info.allocatable.milli_cpu) + part(mem, node.info.allocatable.memory)) / 2.0
}

/// kube's BalancedAllocation over CPU and memory: 100 × (1 − std-dev of the fractions).
pub fn balanced_allocation(pod: &PodInfo, node: &NodeState) -> f64 {
    let frac = |requested: i64, alloc: i64| {
        if alloc <= 0 { 1.0 } else { (requested as f64 / alloc as f64).min(1.0) }
    };
    let (cpu, mem) = requested_after(pod, node);
    let (c, m) = (frac(cpu, node.info.allocatable.milli_cpu), frac(mem, node.info.allocatable.memory));
    // The population std-dev of two values is half their distance.
    (1.0 - (c - m).abs() / 2.0) * 100.0
}

fn requested_after(pod: &PodInfo, node: &NodeState) -> (i64, i64) {
    (
        node.non_zero_milli_cpu + pod.requests.non_zero_milli_cpu,
        node.non_zero_memory + pod.requests.non_zero_memory,
    )
}

/// Scores one feasible node. `range` is `None` when no feasible node has data.
pub fn score_node(
    pod: &PodInfo,
    node: &NodeState,
    intensity: Option<f64>,
    range: Option<&CarbonRange>,
    w: &ScoreWeights,
) -> NodeScore {
    let carbon = range.map(|r| r.normalise(intensity));
    let least = least_allocated(pod, node);
    let balanced = balanced_allocation(pod, node);
    let carbon_w = if carbon.is_some() { w.carbon } else { 0.0 };
    let sum_w = carbon_w + w.least_allocated + w.balanced_allocation;
    let total = if sum_w > 0.0 {
        (carbon_w * carbon.unwrap_or(0.0) + w.least_allocated * least + w.balanced_allocation * balanced)
            / sum_w
    } else {
        0.0
    };
    NodeScore { carbon, least_allocated: least, balanced_allocation: balanced, total }
}

/// Higher total first; equal totals go to the smaller node name.
pub fn better(a: (&NodeScore, &str), b: (&NodeScore, &str)) -> bool {
    match a.0.total.total_cmp(&b.0.total) {
        Ordering::Greater => true,
        Ordering::Less => false,
        Ordering::Equal => a.1 < b.1,
    }
}

/// Picks the best of `feasible` (indices into `nodes`); `zone_intensity[z]` is the
/// current intensity of zone `z`, `None` without fresh data.
pub fn select_best(
    pod: &PodInfo,
    nodes: &[NodeState],
    feasible: &[usize],
    zone_intensity: &[Option<f64>],
    w: &ScoreWeights,
) -> Option<(usize, NodeScore)> {
    let intensity = |n: &NodeState| n.zone.and_then(|z| zone_intensity.get(z).copied().flatten());
    let range = CarbonRange::of(feasible.iter().filter_map(|&i| intensity(&nodes[i])));
    let mut best: Option<(usize, NodeScore)> = None;
    for &i in feasible {
        let node = &nodes[i];
        let s = score_node(pod, node, intensity(node), range.as_ref(), w);
        let replace = match &best {
            None => true,
            Some((b, bs)) => better((&s, &node.info.name), (bs, &nodes[*b].info.name)),
        };
        if replace {
            best = Some((i, s));
        }
    }
    best
}

#[cfg(test)]
mod tests;
