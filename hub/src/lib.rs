//! The Gridshift hub: carbon-intensity data for every grid zone, cluster ranking
//! for Karmada placement, and the forecast stream to agents.
#![forbid(unsafe_code)]

pub mod components;
pub mod distribution;
pub mod grpc;
pub mod metrics;
pub mod placement;
pub mod replicas;
mod sink;
