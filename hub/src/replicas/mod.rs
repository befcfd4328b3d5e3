//! Several hub replicas, one set of provider calls. Every replica serves the agents'
//! stream; only the leader (the placement controller's Lease holder) fetches carbon
//! intensity. It persists its store to a ConfigMap in the Karmada API server
//! ([`SharedState`]), which the other replicas follow ([`follow`]): their stores stay as
//! warm as the leader's, and a failover neither re-fetches what was just fetched nor
//! starts cold. Each replica publishes the zones its own agents need
//! ([`WantedExchange`]), so the leader fetches for every replica's agents.
//!
//! Why follow the leader rather than fetch on every replica: provider calls (and API
//! quota, and rate limits) would grow N-fold with N replicas; a follower is at most one
//! ConfigMap watch event behind the leader.
mod state;
mod wanted;

pub use state::{SharedState, follow};
pub use wanted::{WantedExchange, WantedZones};
