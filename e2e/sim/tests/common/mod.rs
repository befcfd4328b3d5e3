//! Shared test setup: a simulated cluster with the repository's foreign CRDs.
#![allow(dead_code)]

use std::path::PathBuf;

use gridshift_sim::{SimConfig, SimServer};

pub fn crds_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crds")
}

pub async fn sim() -> SimServer {
    SimServer::start(SimConfig::default()).await.expect("start sim")
}

pub async fn sim_with_crds() -> SimServer {
    let sim = sim().await;
    sim.apply_dir(&crds_dir()).expect("apply CRDs");
    sim
}
