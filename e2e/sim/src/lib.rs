//! gridshift-sim: an in-memory, Kubernetes-compatible API server for tests
//! and demos. kube-rs and kubectl talk to it unchanged over plain HTTP on
//! loopback. See README.md for what is faithful and what is simplified.
//!
//! ```no_run
//! # async fn demo() -> Result<(), gridshift_sim::SimError> {
//! use gridshift_sim::{SimConfig, SimServer, FaultRule, Verb};
//! let sim = SimServer::start(SimConfig::default()).await?;
//! sim.apply_dir(std::path::Path::new("e2e/crds"))?;
//! let client = sim.client()?;
//! sim.faults().add(FaultRule::error(500).verb(Verb::Patch).resource("scaledobjects").times(1));
//! # let _ = client; Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod admission;
mod crd;
mod discovery;
mod error;
mod faults;
mod handlers;
pub mod karmada;
mod meta;
mod objects;
pub mod patch;
mod resource;
mod router;
pub mod schema;
pub mod selectors;
mod server;
mod store;
#[cfg(feature = "test-util")]
pub mod testing;
mod watch;

pub use error::{ApiError, SimError};
pub use faults::{FaultAction, FaultId, FaultRule, Faults, Verb};
pub use karmada::{SimKarmada, SimKarmadaConfig, SimKarmadaError};
pub use resource::ResourceDef;
pub use server::{SimConfig, SimFleet, SimServer, kubeconfig_yaml};
