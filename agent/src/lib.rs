//! The Gridshift agent: one per member cluster.
#![forbid(unsafe_code)]

pub mod scheduler;
