//! The placement decision: when to move, and how to move without a gap (§3 invariants 1, 2).
//! Pure: readiness of incoming clusters arrives as plain data from the controller (which
//! reads it from the ResourceBinding).
use super::rank::Ranking;
use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeSet;

#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub desired_clusters: usize,
    pub min_improvement_percent: f64,
    pub min_dwell: SignedDuration,
    pub make_before_break_timeout: SignedDuration,
    /// Used when no cluster has valid data; empty means keep the current placement.
    pub fallback_clusters: Vec<String>,
}

/// A make-before-break switch in progress: `incoming` are placed alongside `outgoing`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub incoming: BTreeSet<String>,
    pub outgoing: BTreeSet<String>,
    pub since: Timestamp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to write.
    Keep,
    /// First placement of an unmanaged policy.
    Initial,
    /// Incoming clusters added next to the current ones; outgoing stay until incoming are ready.
    AddIncoming,
    /// Still waiting for incoming clusters to become ready.
    AwaitIncoming,
    /// Incoming are ready (or nothing was incoming): outgoing removed.
    CompleteSwitch,
    /// Incoming did not become ready in time: they are removed, the old placement stays.
    AbortSwitch,
    /// No valid data anywhere: moving to the declared fallback clusters (make-before-break
    /// applies: `pending` is set when some are new).
    Fallback,
}

impl Decision {
    /// The decision's name, as conditions, events and metrics show it.
    pub const fn name(self) -> &'static str {
        match self {
            Decision::Keep => "Keep",
            Decision::Initial => "Initial",
            Decision::AddIncoming => "AddIncoming",
            Decision::AwaitIncoming => "AwaitIncoming",
            Decision::CompleteSwitch => "CompleteSwitch",
            Decision::AbortSwitch => "AbortSwitch",
            Decision::Fallback => "Fallback",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct PlacementPlan {
    pub decision: Decision,
    /// The cluster names to place on, sorted by name (so equal sets never cause a write).
    /// Never empty unless the current placement was empty and nothing could be chosen, in
    /// which case `writes()` is false.
    pub placement: Vec<String>,
    pub pending: Option<Pending>,
    /// Set when this decision counts as a switch for the dwell timer.
    pub switched_at: Option<Timestamp>,
    /// Mean intensity left minus mean intensity chosen, for a completed switch.
    pub carbon_avoided: Option<f64>,
    /// Why; for events and conditions.
    pub reason: String,
}

impl PlacementPlan {
    /// Whether the controller should write `placement` (it never writes an empty one).
    pub fn writes(&self, current: &[String]) -> bool {
        !self.placement.is_empty() && sorted(current.iter().cloned()) != self.placement
    }
}

/// Everything the decision depends on.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    pub ranking: &'a Ranking,
    /// Cluster names currently in the target policy's placement.
    pub current: &'a [String],
    pub settings: &'a Settings,
    pub last_switch: Option<Timestamp>,
    pub pending: Option<&'a Pending>,
    /// Incoming clusters reported applied and healthy.
    pub ready: &'a BTreeSet<String>,
    pub now: Timestamp,
}

fn sorted(names: impl IntoIterator<Item = String>) -> Vec<String> {
    names.into_iter().collect::<BTreeSet<_>>().into_iter().collect()
}

fn list(names: &BTreeSet<String>) -> String {
    names.iter().cloned().collect::<Vec<_>>().join(", ")
}

fn plan(decision: Decision, placement: impl IntoIterator<Item = String>, reason: String) -> PlacementPlan {
    PlacementPlan {
        decision,
        placement: sorted(placement),
        pending: None,
        switched_at: None,
        carbon_avoided: None,
        reason,
    }
}

pub fn decide(input: Input<'_>) -> PlacementPlan {
    if let Some(pending) = input.pending {
        return continue_pending(&input, pending);
    }
    let current: BTreeSet<String> = input.current.iter().cloned().collect();
    let s = input.settings;
    if input.ranking.valid().next().is_none() {
        return no_valid_data(&input, &current);
    }
    // The CRD requires at least one; a zero here must still not empty the placement.
    let desired = s.desired_clusters.max(1);
    let mut target: BTreeSet<String> = input.ranking.desired(desired).into_iter().collect();
    // Fail open (§3.4): a placed cluster whose data went missing keeps its place while fewer
    // valid clusters than desired exist, rather than being dropped for lack of data.
    let room = desired.saturating_sub(target.len());
    let kept: Vec<String> = current.iter().filter(|c| !target.contains(*c)).take(room).cloned().collect();
    target.extend(kept.iter().cloned());
    if current.is_empty() {
        // An empty clusterNames means "all clusters" to Karmada, so narrowing it is the
        // policy taking effect, not a switch away from a serving set.
        let mut p =
            plan(Decision::Initial, target.clone(), format!("initial placement on {}", list(&target)));
        p.switched_at = Some(input.now);
        return p;
    }
    if target == current {
        let reason = if kept.is_empty() {
            "already placed on the cleanest clusters".to_string()
        } else {
            format!("keeping {} without fresh data: fewer valid clusters than desired", kept.join(", "))
        };
        return plan(Decision::Keep, current, reason);
    }
    let resize = current.len() != target.len();
    if !resize {
        if let Some(since) = input.last_switch {
            let dwell_end = since + s.min_dwell;
            if input.now < dwell_end {
                return plan(
                    Decision::Keep,
                    current,
                    format!("{} is cleaner but the minimum dwell lasts until {dwell_end}", list(&target)),
                );
            }
        }
        let (cur_mean, new_mean) = (input.ranking.mean_of(&current), input.ranking.mean_of(&target));
        // Clusters with no data count as unknown; if none of the current ones has data any
        // valid target is an improvement, so a dead provider cannot pin the placement.
        if let (Some(cur), Some(new)) = (cur_mean, new_mean) {
            let improvement = if cur > 0.0 { (cur - new) / cur * 100.0 } else { 0.0 };
            if improvement < s.min_improvement_percent {
                return plan(
                    Decision::Keep,
                    current,
                    format!(
                        "moving to {} would improve the mean by {improvement:.1}% (< {}% required)",
                        list(&target),
                        s.min_improvement_percent
                    ),
                );
            }
        }
    }
    move_to(&input, &current, target)
}

/// Starts (or, when nothing is incoming, completes) a move from `current` to `target`.
fn move_to(input: &Input<'_>, current: &BTreeSet<String>, target: BTreeSet<String>) -> PlacementPlan {
    let incoming: BTreeSet<String> = target.difference(current).cloned().collect();
    let outgoing: BTreeSet<String> = current.difference(&target).cloned().collect();
    let avoided = input.ranking.mean_of(current).zip(input.ranking.mean_of(&target)).map(|(c, t)| c - t);
    if incoming.is_empty() {
        // Only removals: the remaining clusters are already serving.
        let mut p = plan(Decision::CompleteSwitch, target, format!("removing {}", list(&outgoing)));
        p.switched_at = Some(input.now);
        p.carbon_avoided = avoided;
        return p;
    }
    let reason = format!("adding {} before removing {}", list(&incoming), list(&outgoing));
    let mut p = plan(Decision::AddIncoming, current.union(&incoming).cloned(), reason);
    p.pending = Some(Pending { incoming, outgoing, since: input.now });
    p
}

fn continue_pending(input: &Input<'_>, pending: &Pending) -> PlacementPlan {
    let current: BTreeSet<String> = input.current.iter().cloned().collect();
    let with_incoming: BTreeSet<String> = current.union(&pending.incoming).cloned().collect();
    let not_ready: BTreeSet<String> = pending.incoming.difference(input.ready).cloned().collect();
    if not_ready.is_empty() {
        let target: BTreeSet<String> = with_incoming.difference(&pending.outgoing).cloned().collect();
        let avoided = input
            .ranking
            .mean_of(&with_incoming.difference(&pending.incoming).cloned().collect::<Vec<_>>())
            .zip(input.ranking.mean_of(&target))
            .map(|(c, t)| c - t);
        let reason = if pending.outgoing.is_empty() {
            format!("{} ready", list(&pending.incoming))
        } else {
            format!("{} ready; removing {}", list(&pending.incoming), list(&pending.outgoing))
        };
        let mut p = plan(Decision::CompleteSwitch, target, reason);
        p.switched_at = Some(input.now);
        p.carbon_avoided = avoided;
        return p;
    }
    let deadline = pending.since + input.settings.make_before_break_timeout;
    if input.now >= deadline {
        // Roll back to the serving set. Counting the abort as a switch restarts the dwell, so
        // an unhealthy cluster is not retried on every reconcile.
        let kept: BTreeSet<String> = with_incoming.difference(&pending.incoming).cloned().collect();
        let mut p = plan(
            Decision::AbortSwitch,
            kept,
            format!("{} not ready by {deadline}; keeping {}", list(&not_ready), list(&pending.outgoing)),
        );
        p.switched_at = Some(input.now);
        return p;
    }
    let mut p = plan(
        Decision::AwaitIncoming,
        with_incoming,
        format!("waiting for {} to become ready (until {deadline})", list(&not_ready)),
    );
    p.pending = Some(pending.clone());
    p
}

fn no_valid_data(input: &Input<'_>, current: &BTreeSet<String>) -> PlacementPlan {
    const WHY: &str = "no cluster has fresh carbon-intensity data";
    let fb: BTreeSet<String> = input.settings.fallback_clusters.iter().cloned().collect();
    if fb.is_empty() || &fb == current {
        let what = if fb.is_empty() { "keeping the current placement" } else { "on the fallback clusters" };
        return plan(Decision::Keep, current.clone(), format!("{WHY}; {what}"));
    }
    // The fallback is reached through make-before-break like any other move.
    let mut p = move_to(input, current, fb);
    p.decision = Decision::Fallback;
    p.reason = format!("{WHY}; moving to the fallback clusters: {}", p.reason);
    p
}

#[cfg(test)]
mod tests;
