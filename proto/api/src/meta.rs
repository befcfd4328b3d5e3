//! Every name Gridshift writes into or reads from other people's objects: field
//! managers, finalizers, annotation and label keys. One home, so a key is spelled once
//! and a reviewer sees the whole footprint.

/// Field manager and events' `reportingController` of the hub (in the Karmada API server).
pub const HUB_MANAGER: &str = "gridshift-hub";
/// Field manager and events' `reportingController` of the agent (in each member cluster).
pub const AGENT_MANAGER: &str = "gridshift-agent";

/// Held on every CarbonAwareKedaScaler until the caps it placed are released.
pub const KEDA_FINALIZER: &str = "gridshift.io/keda-cap";

/// Held on every CarbonAwareKarmadaPolicy until its deletion is handled (`spec.onDelete`,
/// the zones and metric series only it used released).
pub const POLICY_FINALIZER: &str = "gridshift.io/placement";
/// On a Karmada (Cluster)PropagationPolicy Gridshift steers: its `spec.placement` (JSON)
/// as it was when Gridshift first wrote to it, and `<namespace>/<name>` of the CR that
/// adopted it; what `spec.onDelete: Restore` puts back.
pub const ANNOTATION_ORIGINAL_PLACEMENT: &str = "gridshift.io/original-placement";
pub const ANNOTATION_ADOPTED_BY: &str = "gridshift.io/adopted-by";

/// On a capped ScaledObject/ScaledJob: `maxReplicaCount` before the first cap (empty when
/// it was unset, i.e. KEDA's default), restored when the cap is released.
pub const ANNOTATION_ORIGINAL: &str = "gridshift.io/original-max-replica-count";
/// On a capped ScaledObject/ScaledJob: `<namespace>/<name>` of the capping CR, for people.
pub const ANNOTATION_CAPPED_BY: &str = "gridshift.io/capped-by";
/// On a capped ScaledObject/ScaledJob: the capping CR's uid, to list what a CR capped.
pub const LABEL_CAPPER_UID: &str = "gridshift.io/keda-capper-uid";

/// On a pod the carbon-aware scheduler bound: the intensity of its node's zone then.
pub const ANNOTATION_BOUND_INTENSITY: &str = "gridshift.io/bound-intensity";
/// On a pod the carbon-aware scheduler bound: what a carbon-agnostic placement would have had.
pub const ANNOTATION_BASELINE_INTENSITY: &str = "gridshift.io/baseline-intensity";
/// On a pod the carbon-aware scheduler bound: its node's grid zone.
pub const ANNOTATION_GRID_ZONE: &str = "gridshift.io/grid-zone";
/// On a pod the carbon-aware scheduler bound: when.
pub const ANNOTATION_BOUND_AT: &str = "gridshift.io/bound-at";

/// A Karmada Cluster label naming its grid zone directly.
pub use gridshift_core::placement::locate::GRID_ZONE_LABEL;
/// Pod annotations asking for temporal shifting (read by the scheduler's planner).
pub use gridshift_core::scheduling::deferral::{
    ANNOTATION_DEADLINE, ANNOTATION_EXPECTED_RUNTIME, ANNOTATION_MAX_DELAY,
};
