//! The agent's side of the forecast stream: connect, negotiate, apply snapshot
//! then deltas, acknowledge, and reconnect with backoff, resuming when the hub
//! still has the agent's epoch.

mod backoff;
mod client;
mod state;

pub use backoff::Backoff;
pub use client::{ClientConfig, StreamClient};
pub use state::{ApplyError, ForecastState};
