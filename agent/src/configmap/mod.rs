//! The carbon-intensity ConfigMap (DESIGN §2): the format Azure's
//! kubernetes-carbon-intensity-exporter writes and the KEDA operator reads.
//! `format` is the pure encoding; the writer/reader that talks to the API server comes later.
pub mod format;

#[cfg(test)]
mod format_tests;
