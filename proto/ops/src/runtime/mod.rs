//! What every long-running Gridshift component shares (after kube-rs/controller-rs'
//! `Context` and linkerd's kubert `Runtime`): one shutdown signal, the API client, this
//! replica's identity, leader election, clock-driven timers, retry backoff, events, and
//! the shape of a component, so each binary's `main` is a short list of components.
//!
//! | item | what |
//! |---|---|
//! | [`Shutdown`] | SIGTERM / Ctrl-C (or a test) stops every component |
//! | [`Component`], [`Runtime`] | `register_metrics` + `run(shutdown)`; the runtime serves `/metrics`, `/healthz`, `/readyz` and runs them |
//! | [`kube_client`], [`replica_identity`] | the API client from a kubeconfig or the pod; a name unique per replica |
//! | [`LeaderGate`] | Lease-based leader election |
//! | [`ClockTimers`] | work at instants of the injected clock |
//! | [`Retries`] | per-object backoff for failed reconciles |
mod component;
mod leader;
mod retries;
mod shutdown;
mod timers;

pub use component::{Component, ComponentError, ReadinessHandle, Runtime};
pub use leader::{LeaderElection, LeaderGate};
pub use retries::Retries;
pub use shutdown::Shutdown;
pub use timers::ClockTimers;

use std::path::Path;

/// This replica's name in leases and events: `POD_NAME` (the downward API), else the
/// host name, else `<component>-<random>`; never a name two replicas could share.
pub fn replica_identity(component: &str) -> String {
    let from_env = |k: &str| std::env::var(k).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    from_env("POD_NAME")
        .or_else(|| from_env("HOSTNAME"))
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|h| h.trim().to_string()))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("{component}-{:08x}", rand::random::<u32>()))
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("kubeconfig {path}: {reason}")]
    Kubeconfig { path: String, reason: String },
    #[error("no kubeconfig given and not running in a cluster: {0}")]
    Infer(String),
    #[error("building the API client: {0}")]
    Client(#[from] kube::Error),
}

/// An API client from `kubeconfig`, else `KUBECONFIG` / `~/.kube/config`, else the
/// pod's service account.
pub async fn kube_client(kubeconfig: Option<&Path>) -> Result<kube::Client, ClientError> {
    let config = match kubeconfig {
        Some(path) => {
            let err = |e: &dyn std::fmt::Display| ClientError::Kubeconfig {
                path: path.display().to_string(),
                reason: e.to_string(),
            };
            let file = kube::config::Kubeconfig::read_from(path).map_err(|e| err(&e))?;
            kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| err(&e))?
        }
        None => kube::Config::infer().await.map_err(|e| ClientError::Infer(e.to_string()))?,
    };
    Ok(kube::Client::try_from(config)?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_identity_is_never_empty() {
        assert!(!super::replica_identity("gridshift-agent").is_empty());
    }
}
