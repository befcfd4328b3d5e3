//! Carbon-aware placement on Karmada (CarbonAwareKarmadaPolicy). The decisions are
//! `gridshift_core::placement` and the status `gridshift_api::policy`; this module is
//! the Karmada side of them.
//!
//! | module | what |
//! |---|---|
//! | [`bindings`] | pure: ResourceBindings as plain JSON: which policy they belong to, which clusters they serve |
//! | [`patch`] | pure: the merge patches that set a PropagationPolicy's cluster names or static weights |
//! | [`controller`] | I/O: the kube-runtime controller against the Karmada API server |
//! | [`directory`] | I/O, every replica: the zones policies need and each cluster's zone, for the store and the agents |
pub mod bindings;
pub mod controller;
pub mod directory;
pub mod patch;
