//! The pure core of the CarbonAwareKarmadaPolicy controller (issue #5): the CRD, ranking
//! clusters by carbon intensity, the anti-flapping / make-before-break switching decision,
//! and the Karmada placement patch. Nothing here talks to an API server, so every rule is
//! testable without one; the kube-runtime controller wires these together.

pub mod bindings;
pub mod controller;
pub mod crd;
pub mod evaluate;
pub mod locate;
pub mod placement;
pub mod rank;
pub mod switching;
