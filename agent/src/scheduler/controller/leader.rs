//! Leader election over a coordination.k8s.io Lease (kube-lease-manager): of several
//! scheduler replicas only the lease holder decides and binds; the others keep their
//! caches warm and take over when the lease is free or expires.
use std::time::Duration;

use kube_lease_manager::{LeaseManagerBuilder, LeaseParams};
use tokio::sync::watch;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderConfig {
    /// Without election the replica always leads (a single replica).
    pub enabled: bool,
    pub namespace: String,
    pub lease_name: String,
    pub identity: String,
    /// A lease not renewed for this long may be taken over.
    pub lease_duration: Duration,
    /// The holder renews this long before expiry (tolerated clock skew).
    pub renew_grace: Duration,
}

impl LeaderConfig {
    pub fn new(namespace: &str, lease_name: &str, identity: &str) -> Self {
        Self {
            enabled: true,
            namespace: namespace.into(),
            lease_name: lease_name.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_grace: Duration::from_secs(5),
        }
    }
}

/// Runs the election until `shutdown`, publishing "this replica leads" on the returned
/// channel. On shutdown a held lease is released, so a standby takes over at once.
pub fn spawn(
    client: kube::Client,
    cfg: LeaderConfig,
    mut shutdown: watch::Receiver<bool>,
) -> (watch::Receiver<bool>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = watch::channel(!cfg.enabled);
    if !cfg.enabled {
        // Keep the sender alive so receivers never see a closed channel.
        let task = tokio::spawn(async move {
            let _tx = tx;
            let _ = shutdown.wait_for(|s| *s).await;
        });
        return (rx, task);
    }
    let task = tokio::spawn(async move {
        let mut delay = Duration::from_secs(1);
        // The Lease is read or created first; the API may not be reachable yet.
        let manager = loop {
            // kube-lease-manager counts whole seconds and needs 0 < grace < duration.
            let duration = cfg.lease_duration.as_secs().max(2);
            let grace = cfg.renew_grace.as_secs().clamp(1, duration - 1);
            let params = LeaseParams::new(cfg.identity.clone(), duration, grace);
            let built = LeaseManagerBuilder::new(client.clone(), cfg.lease_name.clone())
                .with_namespace(cfg.namespace.clone())
                .with_parameters(params)
                .build()
                .await;
            match built {
                Ok(m) => break m,
                Err(e) => {
                    tracing::warn!(error = %e, lease = cfg.lease_name, namespace = cfg.namespace,
                        "cannot set up the scheduler lease; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.wait_for(|s| *s) => return,
                    }
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
            }
        };
        let (mut leading, handle) = manager.watch().await;
        loop {
            tokio::select! {
                changed = leading.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let now = *leading.borrow_and_update();
                    tracing::info!(identity = cfg.identity, leader = now, "scheduler leadership changed");
                    tx.send_replace(now);
                }
                _ = shutdown.wait_for(|s| *s) => break,
            }
        }
        tx.send_replace(false);
        // Dropping the receiver makes the manager release the lease and stop.
        drop(leading);
        match tokio::time::timeout(Duration::from_secs(5), handle).await {
            Ok(Ok(Ok(_))) => tracing::info!(identity = cfg.identity, "scheduler lease released"),
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "releasing the scheduler lease failed"),
            Ok(Err(e)) => tracing::warn!(error = %e, "lease task failed"),
            Err(_) => tracing::warn!("releasing the scheduler lease timed out"),
        }
    });
    (rx, task)
}
