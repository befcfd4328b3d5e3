//! The gRPC adapter over the distribution core: the `ForecastService` stream,
//! health and reflection, TLS and the agent identity check.

mod auth;
mod outbound;
mod server;
mod service;

pub use auth::ClientAuth;
pub use server::{HubServer, ServerConfig, ServerError};
pub use service::{ForecastServiceImpl, StreamConfig};
