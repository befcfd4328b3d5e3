//! Operational plumbing shared by the hub and agent binaries: logging, the
//! `/metrics` `/healthz` `/readyz` endpoint, TLS material and cluster identities.
#![forbid(unsafe_code)]

pub mod clock;
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

/// Completes on SIGTERM (Kubernetes stopping the pod) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("interrupted; shutting down"),
        _ = term => tracing::info!("SIGTERM; shutting down"),
    }
}
