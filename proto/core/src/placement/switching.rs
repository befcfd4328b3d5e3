//! The placement decision: when to move, and how to move without a gap (§3 invariants 1, 2).
//! Pure: readiness of incoming clusters arrives as plain data from the controller (which
//! reads it from the ResourceBinding).
//!
//! Only data moves a placement, never its absence or the order data arrives in:
//! - a placed cluster without usable data keeps its place (it cannot be compared);
//! - while a zone's value is carried forward because its refresh is due (the first
//!   `refresh_settle` after its point ended), no move is decided: zones refresh one by one,
//!   and comparing one zone's new hour with another's old one would let the refresh order
//!   choose;
//! - the minimum improvement and the minimum dwell apply to every move; the move to the
//!   fallback clusters happens only when no cluster has usable data, and only once that has
//!   lasted `fallback_dwell`; the way back is an ordinary move once data returns.
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
    /// How long no cluster must have usable data before the move to the fallback clusters.
    pub fallback_dwell: SignedDuration,
    /// How long after a zone's point ends its refresh is awaited before a move is decided
    /// on its carried-forward value (the providers' refresh offset + jitter + margin).
    pub refresh_settle: SignedDuration,
}

impl Settings {
    /// The hub's defaults for what a CR does not set.
    pub const DEFAULT_FALLBACK_DWELL: SignedDuration = SignedDuration::from_mins(15);
    pub const DEFAULT_REFRESH_SETTLE: SignedDuration = SignedDuration::from_mins(10);
}

/// A make-before-break switch in progress: `incoming` are placed alongside `outgoing`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub incoming: BTreeSet<String>,
    pub outgoing: BTreeSet<String>,
    pub since: Timestamp,
    /// The move goes to the fallback clusters for lack of data.
    pub to_fallback: bool,
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

/// Why a step that could move did not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    /// The cleaner placement is not enough cleaner.
    Improvement,
    /// The minimum dwell since the last switch has not passed.
    Dwell,
    /// A zone's refresh is due; deciding now would let the refresh order choose.
    Refresh,
    /// No usable data anywhere, not yet for `fallback_dwell`.
    FallbackDwell,
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
    /// Set when a move was possible but held back, and until when (if known).
    pub held: Option<(Hold, Option<Timestamp>)>,
    /// The placement is (moving to) the fallback clusters for lack of data.
    pub on_fallback: bool,
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
    /// Since when no cluster has had usable data (consecutive steps).
    pub no_data_since: Option<Timestamp>,
    /// The placement went to the fallback clusters for lack of data and has not left.
    pub on_fallback: bool,
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
        held: None,
        on_fallback: false,
    }
}

fn hold(current: &BTreeSet<String>, why: Hold, until: Option<Timestamp>, reason: String) -> PlacementPlan {
    let mut p = plan(Decision::Keep, current.iter().cloned(), reason);
    p.held = Some((why, until));
    p
}

pub fn decide(input: Input<'_>) -> PlacementPlan {
    let mut p = decide_move(&input);
    // On the fallback placement from the decision to go there until a move away completes
    // (an abandoned move leaves it where it was).
    p.on_fallback = match p.decision {
        Decision::Fallback => true,
        Decision::Initial => false,
        Decision::CompleteSwitch => input.pending.is_some_and(|p| p.to_fallback),
        Decision::Keep | Decision::AddIncoming | Decision::AwaitIncoming | Decision::AbortSwitch => {
            input.on_fallback || p.on_fallback
        }
    };
    p
}

fn decide_move(input: &Input<'_>) -> PlacementPlan {
    if let Some(pending) = input.pending {
        return continue_pending(input, pending);
    }
    let current: BTreeSet<String> = input.current.iter().cloned().collect();
    let s = input.settings;
    if input.ranking.valid().next().is_none() {
        return no_valid_data(input, &current);
    }
    // The CRD requires at least one; a zero here must still not empty the placement.
    let desired = s.desired_clusters.max(1);
    // A placed candidate without usable data cannot be compared: it keeps its place
    // (fail open, §3.4) rather than losing it to whichever zone still has data. On the
    // fallback placement nothing is pinned: returning to data-driven placement is the point.
    let pinned: Vec<String> = if input.on_fallback {
        vec![]
    } else {
        input
            .ranking
            .clusters
            .iter()
            .filter(|c| !c.is_valid() && current.contains(&c.name))
            .take(desired)
            .map(|c| c.name.clone())
            .collect()
    };
    let mut target: BTreeSet<String> = pinned.iter().cloned().collect();
    target.extend(input.ranking.desired(desired - pinned.len()));
    // Fewer valid clusters than desired: placed ones fill the room rather than dropping.
    let room = desired.saturating_sub(target.len());
    let filled: Vec<String> = current.iter().filter(|c| !target.contains(*c)).take(room).cloned().collect();
    target.extend(filled.iter().cloned());
    let kept: Vec<&String> = pinned.iter().chain(&filled).collect();
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
            let kept: Vec<&str> = kept.iter().map(|s| s.as_str()).collect();
            format!("keeping {}: no usable data to compare them by", kept.join(", "))
        };
        return plan(Decision::Keep, current, reason);
    }
    let resize = current.len() != target.len();
    if !resize {
        if let Some(held) = check_dwell(input, &current, &target).or_else(|| check_refresh(input, &current)) {
            return held;
        }
        let (cur_mean, new_mean) = (input.ranking.mean_of(&current), input.ranking.mean_of(&target));
        // Clusters without data count as unknown; on the fallback placement (no data)
        // any valid target is an improvement.
        if let (Some(cur), Some(new)) = (cur_mean, new_mean) {
            let improvement = if cur > 0.0 { (cur - new) / cur * 100.0 } else { 0.0 };
            if improvement < s.min_improvement_percent {
                let reason = format!(
                    "moving to {} would improve the mean by {improvement:.1}% (< {}% required)",
                    list(&target),
                    s.min_improvement_percent
                );
                return hold(&current, Hold::Improvement, None, reason);
            }
        }
    }
    move_to(input, &current, target)
}

fn check_dwell(
    input: &Input<'_>,
    current: &BTreeSet<String>,
    target: &BTreeSet<String>,
) -> Option<PlacementPlan> {
    let dwell_end = input.last_switch? + input.settings.min_dwell;
    (input.now < dwell_end).then(|| {
        let reason = format!("{} is cleaner but the minimum dwell lasts until {dwell_end}", list(target));
        hold(current, Hold::Dwell, Some(dwell_end), reason)
    })
}

/// Holds a move while a valid zone's value is carried forward within `refresh_settle` of
/// its point's end: its refresh is due, and its new value may change the answer.
fn check_refresh(input: &Input<'_>, current: &BTreeSet<String>) -> Option<PlacementPlan> {
    let settle = input.settings.refresh_settle;
    let awaited: Vec<(&str, Timestamp)> = input
        .ranking
        .valid()
        .filter_map(|c| Some((c.name.as_str(), c.carried_since? + settle)))
        .filter(|(_, until)| input.now < *until)
        .collect();
    let until = awaited.iter().map(|(_, t)| *t).min()?;
    let names: Vec<&str> = awaited.iter().map(|(n, _)| *n).collect();
    let reason = format!(
        "waiting for the data of {} to refresh before deciding a move (until {until} at the latest)",
        names.join(", ")
    );
    Some(hold(current, Hold::Refresh, Some(until), reason))
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
    p.pending = Some(Pending { incoming, outgoing, since: input.now, to_fallback: false });
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
    const WHY: &str = "no cluster has usable carbon-intensity data";
    let s = input.settings;
    let fb: BTreeSet<String> = s.fallback_clusters.iter().cloned().collect();
    if fb.is_empty() {
        return plan(Decision::Keep, current.clone(), format!("{WHY}; keeping the current placement"));
    }
    if &fb == current {
        // Placed where the fallback would go: from here, returning data moves it like a
        // recovery from the fallback.
        let mut p = plan(Decision::Keep, current.clone(), format!("{WHY}; on the fallback clusters"));
        p.on_fallback = true;
        return p;
    }
    let since = input.no_data_since.unwrap_or(input.now);
    let due = since + s.fallback_dwell;
    if input.now < due {
        let reason =
            format!("{WHY} since {since}; moving to the fallback clusters at {due} unless data returns");
        return hold(current, Hold::FallbackDwell, Some(due), reason);
    }
    if let Some(held) = check_dwell(input, current, &fb) {
        return PlacementPlan { reason: format!("{WHY}; {}", held.reason), ..held };
    }
    // The fallback is reached through make-before-break like any other move.
    let mut p = move_to(input, current, fb);
    p.decision = Decision::Fallback;
    p.reason = format!("{WHY} since {since}; moving to the fallback clusters: {}", p.reason);
    if let Some(pending) = &mut p.pending {
        pending.to_fallback = true;
    }
    p
}

#[cfg(test)]
mod tests;
