//! Carbon-intensity data for the hub: providers, the forecast store, the zone map.
//!
//! - [`providers`]: Electricity Maps v3, WattTime v3, UK Carbon Intensity and a
//!   CSV replay, behind [`Provider`];
//! - [`chain`]: per-zone provider order with fallbacks;
//! - [`store`]: the [`ForecastStore`] (one fetch per zone per refresh, backoff,
//!   last-good, persistence) publishing through a [`ForecastSink`];
//! - [`config`]: the `clap` flags the hub flattens into its command line;
//! - [`metrics`]: Prometheus metrics;
//! - the zone map lives in `gridshift_core::zone_map` (the agent needs it too).
#![forbid(unsafe_code)]

pub mod backoff;
pub mod chain;
pub mod config;
pub mod error;
pub mod metrics;
pub mod providers;
pub mod secret;
pub mod store;

pub use chain::{ChainError, ProviderChain};
pub use config::{CarbonArgs, ConfigError};
pub use error::{ErrorKind, ProviderError};
pub use gridshift_core::zone_map::{UnknownRegion, ZoneMap};
pub use metrics::Metrics;
pub use providers::Provider;
pub use secret::Secret;
pub use store::{
    FileBackend, ForecastSink, ForecastStore, PersistBackend, RefreshReport, StoreConfig, StoreOptions,
    ZoneStatus,
};
