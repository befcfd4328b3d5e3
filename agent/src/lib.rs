//! The Gridshift agent: one per member cluster.
#![forbid(unsafe_code)]

pub mod configmap;
pub mod forecast;
pub mod keda;
pub mod metrics;
pub mod scheduler;
pub mod status;
pub mod stream;
#[cfg(feature = "test-util")]
pub mod testing;
