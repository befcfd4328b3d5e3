//! The carbon-intensity ConfigMap (DESIGN §2): the format Azure's
//! kubernetes-carbon-intensity-exporter writes and the KEDA operator reads.
//!
//! | module | what |
//! |---|---|
//! | [`format`] | pure: encoding and decoding the exporter's format |
//! | [`message`] | pure: the `message` key, explaining where the data comes from and how old it is |
//! | [`controller`] | I/O: keeps the ConfigMap from the primary zone's forecast, reads it back on start |
pub mod controller;
pub mod format;
pub mod message;

pub use controller::{ConfigMapWriter, LoadError, WriterConfig, WriterMetrics, Written, load_last_forecast};
