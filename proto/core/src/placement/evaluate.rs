//! One placement step: what the policy asks + what the controller remembers + the
//! forecasts + what it observed → the plan, the next state and when to look again.
//! The controller only fetches inputs and writes outputs; the CR status that explains a
//! step is rendered from an [`Evaluation`] by `gridshift-api`.
use super::Candidate;
use super::rank::{self, RankBy, Ranking};
use super::switching::{self, Pending, PlacementPlan, Settings};
use crate::forecasts::Forecasts;
use crate::series::Signal;
use jiff::Timestamp;
use std::collections::BTreeSet;

/// What a CarbonAwareKarmadaPolicy asks for, as the decisions read it.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// Candidate clusters with their zones (located).
    pub clusters: Vec<Candidate>,
    pub rank_by: RankBy,
    /// The kind of intensity compared; zones reporting another are not ranked.
    pub signal: Signal,
    pub settings: Settings,
    /// Decide and report, write nothing.
    pub dry_run: bool,
}

/// What the controller remembers between steps (the CR status holds it).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct State {
    /// A make-before-break switch in progress.
    pub pending: Option<Pending>,
    pub last_switch: Option<Timestamp>,
    /// Mean intensity left minus mean intensity chosen at the last completed switch.
    pub carbon_avoided: Option<f64>,
    /// Since when no cluster has had usable data.
    pub no_data_since: Option<Timestamp>,
    /// Placed on the fallback clusters for lack of data (until a move away completes).
    pub on_fallback: bool,
}

/// What became of the target policy this round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target<'a> {
    /// Found; the cluster names it currently places on.
    Found(&'a [String]),
    /// Not found, or its kind is unknown; the message says which.
    Missing(&'a str),
}

/// What the controller observed this round.
#[derive(Clone, Copy, Debug)]
pub struct Observation<'a> {
    pub target: Target<'a>,
    /// Incoming clusters whose ResourceBinding reports them applied and healthy.
    pub ready: &'a BTreeSet<String>,
    pub now: Timestamp,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Every candidate cluster, cleanest first.
    pub ranking: Ranking,
    /// `None` when nothing can be decided (target missing); write nothing then.
    pub plan: Option<PlacementPlan>,
    /// The state after this step (a dry run records no switch).
    pub state: State,
    /// What Gridshift places on, in rank order; in a dry run, where a switch would end.
    /// `None` when nothing was decided (the last known value stands).
    pub active_clusters: Option<Vec<String>>,
    /// The placement serves the policy: clusters placed, chosen on data (or the
    /// declared fallback).
    pub ready: bool,
    /// The earliest instant at which the outcome may change with no other input: a
    /// make-before-break deadline, the end of a dwell or hold, the end of a current data
    /// point or the instant data turns stale.
    pub next_change: Option<Timestamp>,
}

impl Evaluation {
    /// Names of the clusters without usable data.
    pub fn invalid_clusters(&self) -> Vec<&str> {
        self.ranking.clusters.iter().filter(|c| !c.is_valid()).map(|c| c.name.as_str()).collect()
    }

    /// No cluster has usable data.
    pub fn all_invalid(&self) -> bool {
        self.ranking.valid().next().is_none()
    }
}

pub fn evaluate(
    policy: &Policy,
    previous: &State,
    forecasts: &Forecasts,
    obs: Observation<'_>,
) -> Evaluation {
    let now = obs.now;
    let ranking = rank::rank(&policy.clusters, forecasts, policy.rank_by, policy.signal, now);
    let current = match obs.target {
        Target::Found(current) => current,
        Target::Missing(_) => {
            return Evaluation {
                ranking,
                plan: None,
                state: previous.clone(),
                active_clusters: None,
                ready: false,
                next_change: None,
            };
        }
    };
    let s = &policy.settings;
    let plan = switching::decide(switching::Input {
        ranking: &ranking,
        current,
        settings: s,
        last_switch: previous.last_switch,
        pending: previous.pending.as_ref(),
        ready: obs.ready,
        no_data_since: previous.no_data_since,
        on_fallback: previous.on_fallback,
        now,
    });
    let all_invalid = ranking.valid().next().is_none();
    let placed = !plan.placement.is_empty();
    // Serving the policy: placed on data, or settled on the declared fallback.
    let ready = placed && (!all_invalid || (plan.on_fallback && plan.pending.is_none()));

    // A dry run never gets past the first step of a switch (nothing is written), so it
    // shows where the switch would end instead.
    let mut placement: BTreeSet<&String> = plan.placement.iter().collect();
    if let (true, Some(p)) = (policy.dry_run, &plan.pending) {
        placement.retain(|c| !p.outgoing.contains(*c));
    }
    let active = ranking
        .clusters
        .iter()
        .filter(|c| placement.contains(&c.name))
        .map(|c| c.name.clone())
        .chain(plan.placement.iter().filter(|n| ranking.clusters.iter().all(|c| &c.name != *n)).cloned())
        .collect();
    // In a dry run nothing moves, so no switch or pending state is recorded.
    let mut state = previous.clone();
    state.no_data_since = all_invalid.then(|| previous.no_data_since.unwrap_or(now));
    if !policy.dry_run {
        state.on_fallback = plan.on_fallback;
        state.pending = plan.pending.clone();
        if let Some(at) = plan.switched_at {
            state.last_switch = Some(at);
        }
        if plan.carbon_avoided.is_some() {
            state.carbon_avoided = plan.carbon_avoided;
        }
    }
    let held_until = plan.held.and_then(|(_, until)| until);
    let next_change =
        next_change(policy, &state, &ranking, forecasts, now).into_iter().chain(held_until).min();
    Evaluation { ranking, plan: Some(plan), state, active_clusters: Some(active), ready, next_change }
}

fn next_change(
    policy: &Policy,
    state: &State,
    ranking: &Ranking,
    forecasts: &Forecasts,
    now: Timestamp,
) -> Option<Timestamp> {
    let s = &policy.settings;
    let deadline = state.pending.as_ref().map(|p| p.since + s.make_before_break_timeout);
    let dwell_end = state.last_switch.map(|t| t + s.min_dwell);
    // A forecast mean moves with its window, not at point boundaries: the caller's resync covers it.
    let point_end = match policy.rank_by {
        RankBy::Current => ranking.valid().filter_map(|c| c.valid_to).min(),
        RankBy::ForecastMean(_) => None,
    };
    let turns_stale = ranking.valid().filter_map(|c| forecasts.stale_from(c.zone.as_deref()?)).min();
    [deadline, dwell_end, point_end, turns_stale].into_iter().flatten().filter(|t| *t > now).min()
}
