//! Carbon-aware placement of a workload across member clusters (a
//! CarbonAwareKarmadaPolicy's decisions): where each cluster draws power from, how the
//! clusters rank, and when and how to move without a gap or flapping.
//!
//! | module | what |
//! |---|---|
//! | [`locate`] | each cluster's grid zone, from the policy, the Karmada Cluster or its agent |
//! | [`rank`] | clusters cleanest first, by current value or forecast mean |
//! | [`switching`] | the decision: keep, initial placement, make-before-break switch, fallback |
//! | [`evaluate`] | one step: policy + previous state + forecasts + observations → plan, next state |
pub mod evaluate;
pub mod locate;
pub mod rank;
pub mod switching;

pub use evaluate::{Evaluation, Observation, Policy, State, Target, evaluate};
pub use rank::{RankBy, RankedCluster, Ranking};
pub use switching::{Decision, Pending, PlacementPlan, Settings};

use crate::zone::Zone;

/// A member cluster a policy may place on, and the grid zone it draws power from
/// (`None`: no source knows; the cluster ranks without data and is never chosen).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub name: String,
    pub zone: Option<Zone>,
}

/// A member cluster and the grid zone it draws power from. An empty `location` is looked
/// up: the Karmada Cluster's zone label or region, else what its agent reports.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ClusterLocation {
    pub name: String,
    pub location: String,
}
