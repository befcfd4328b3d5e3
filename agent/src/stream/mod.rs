//! The agent's side of the forecast stream: connect, negotiate, apply snapshot then
//! deltas, acknowledge, and reconnect with backoff, resuming when the hub still has the
//! agent's epoch.
//!
//! | module | what |
//! |---|---|
//! | `state` | pure: the agent's copy of the hub's forecasts and how updates apply to it |
//! | `controller` | I/O: the reconnecting client ([`StreamClient`]) that publishes the agent's [`crate::forecast::ForecastView`] |
mod controller;
mod state;

pub use controller::{ClientConfig, StreamClient};
pub use state::{ApplyError, ForecastState};
