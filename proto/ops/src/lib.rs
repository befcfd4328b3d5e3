//! What the hub and agent binaries share to run: the component [`runtime`] (shutdown,
//! leader election, clock timers, retries, the API client), [`events`], logging, the
//! `/metrics` `/healthz` `/readyz` endpoint, clock flags, TLS material and cluster
//! identities in certificates.
#![forbid(unsafe_code)]

pub mod clock;
pub mod events;
pub mod http;
pub mod identity;
pub mod logging;
pub mod mint;
pub mod runtime;
pub mod tls;

/// Installs rustls' ring provider as the process default. Call first thing in `main`
/// (and in tests that build TLS configs); later calls are no-ops.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
