//! Operational plumbing shared by the hub and agent binaries: logging, the
//! `/metrics` `/healthz` `/readyz` endpoint, TLS material and cluster identities.
#![forbid(unsafe_code)]

pub mod http;
pub mod identity;
pub mod logging;
pub mod mint;
pub mod tls;

/// Installs rustls' ring provider as the process default. Call first thing in `main`
/// (and in tests that build TLS configs); later calls are no-ops.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
