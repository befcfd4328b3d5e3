//! KEDA replica caps driven by carbon intensity (CarbonAwareKedaScaler, DESIGN §2).
//!
//! `crd` is the schema (kept field-compatible with Azure's carbon-aware-keda-operator so
//! existing CRs migrate by changing `apiVersion`); `decide` is the pure cap decision the
//! controller applies; `target` and `status` are the pure halves of what the controller
//! reads and writes; `source` finds a CR's forecast; `controller` is the I/O.
pub mod controller;
pub mod crd;
pub mod decide;
pub mod metrics;
pub mod source;
pub mod status;
pub mod target;
mod wakeups;

pub use controller::{FINALIZER, KedaConfig, run};
pub use metrics::KedaMetrics;

#[cfg(test)]
mod crd_file_test;
#[cfg(test)]
mod decide_tests;
