//! The agent's side of the forecast stream: connect, negotiate, apply snapshot
//! then deltas, acknowledge, and reconnect with backoff, resuming when the hub
//! still has the agent's epoch.

mod client;
mod state;

pub use client::{ClientConfig, StreamClient};
pub use state::{ApplyError, ForecastState};
