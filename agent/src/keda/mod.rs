//! KEDA replica caps driven by carbon intensity (CarbonAwareKedaScaler, DESIGN §2).
//!
//! `crd` is the schema (kept field-compatible with Azure's carbon-aware-keda-operator so
//! existing CRs migrate by changing `apiVersion`); `decide` is the pure cap decision the
//! controller applies. Nothing here talks to the API server.
pub mod crd;
pub mod decide;

#[cfg(test)]
mod crd_file_test;
#[cfg(test)]
mod decide_tests;
