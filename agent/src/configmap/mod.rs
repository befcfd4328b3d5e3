//! The carbon-intensity ConfigMap (DESIGN §2): the format Azure's
//! kubernetes-carbon-intensity-exporter writes and the KEDA operator reads.
//! `format` is the pure encoding, `message` the pure explanation of the data's state,
//! `writer` the I/O that keeps the ConfigMap and reads it back on start.
pub mod format;
pub mod message;
pub mod writer;

pub use writer::{ConfigMapWriter, LoadError, WriterConfig, WriterMetrics, Written, load_last_forecast};

#[cfg(test)]
mod format_tests;
