//! Leader election over a coordination.k8s.io Lease (kube-lease-manager): of several
//! replicas only the lease holder writes; the others keep their caches warm and take
//! over when the lease is released or expires. Losing the lease stops the holder's work
//! at once; shutting down releases a held lease, so a standby takes over without
//! waiting for it to expire.
use super::Shutdown;
use gridshift_core::backoff::Backoff;
use kube_lease_manager::{LeaseManagerBuilder, LeaseParams};
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderElection {
    /// Without election this replica always leads (a single replica).
    pub enabled: bool,
    pub namespace: String,
    pub lease_name: String,
    /// Unique per replica: see [`super::replica_identity`].
    pub identity: String,
    /// A lease not renewed for this long may be taken over (whole seconds, at least 2).
    pub lease_duration: Duration,
    /// The holder renews this long before expiry (tolerated clock skew).
    pub renew_grace: Duration,
}

impl LeaderElection {
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

    /// This replica always leads.
    pub fn disabled(identity: &str) -> Self {
        Self { enabled: false, ..Self::new("", "", identity) }
    }
}

/// Whether this replica leads, kept up to date by a background election task.
pub struct LeaderGate {
    leading: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl LeaderGate {
    /// Starts the election (retrying while the API server or the Lease cannot be
    /// reached) and runs it until `shutdown`, when a held lease is released.
    pub fn spawn(client: kube::Client, cfg: LeaderElection, shutdown: Shutdown) -> Self {
        let (tx, leading) = watch::channel(!cfg.enabled);
        let task = if cfg.enabled {
            tokio::spawn(elect(client, cfg, tx, shutdown))
        } else {
            tracing::info!(identity = cfg.identity, "leader election off: this replica leads");
            // Keep the sender alive so receivers never see a closed channel.
            tokio::spawn(async move {
                let _tx = tx;
                shutdown.wait().await;
            })
        };
        Self { leading, task }
    }

    /// "This replica leads", as it changes.
    pub fn leading(&self) -> watch::Receiver<bool> {
        self.leading.clone()
    }

    pub fn is_leading(&self) -> bool {
        *self.leading.borrow()
    }

    /// Runs `work(lost)` each time this replica comes to lead, where `lost` completes
    /// when the lease is lost or `shutdown` triggers; returns after `shutdown`, once a
    /// held lease is released. `on_change(true/false)` hears every start and stop.
    pub async fn run_while_leading<W, F>(
        self,
        shutdown: &Shutdown,
        mut on_change: impl FnMut(bool),
        mut work: W,
    ) where
        W: FnMut(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) -> F,
        F: Future<Output = ()>,
    {
        let mut leading = self.leading.clone();
        loop {
            tokio::select! {
                _ = shutdown.wait() => break,
                held = leading.wait_for(|l| *l) => if held.is_err() { break },
            }
            on_change(true);
            let (mut lost, stopping) = (leading.clone(), shutdown.clone());
            work(Box::pin(async move {
                tokio::select! {
                    _ = lost.wait_for(|l| !*l) => {}
                    _ = stopping.wait() => {}
                }
            }))
            .await;
            on_change(false);
            if shutdown.is_triggered() {
                break;
            }
        }
        self.stopped().await;
    }

    /// Stops taking part at once, without releasing a held lease (it expires).
    pub fn abort(self) {
        self.task.abort();
    }

    /// Waits for the election task, which releases a held lease once `shutdown` triggered.
    pub async fn stopped(self) {
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the leader election task failed");
        }
    }
}

async fn elect(client: kube::Client, cfg: LeaderElection, tx: watch::Sender<bool>, shutdown: Shutdown) {
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
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
                let delay = backoff.next_delay(rand::random());
                tracing::warn!(error = %e, lease = cfg.lease_name, namespace = cfg.namespace, retry_in = ?delay,
                    "cannot set up the leader-election lease; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.wait() => return,
                }
            }
        }
    };
    tracing::info!(
        identity = cfg.identity,
        lease = cfg.lease_name,
        namespace = cfg.namespace,
        "waiting for the lease"
    );
    let (mut leading, handle) = manager.watch().await;
    loop {
        tokio::select! {
            changed = leading.changed() => {
                if changed.is_err() {
                    break;
                }
                let now = *leading.borrow_and_update();
                tracing::info!(identity = cfg.identity, lease = cfg.lease_name, leader = now, "leadership changed");
                tx.send_replace(now);
            }
            _ = shutdown.wait() => break,
        }
    }
    tx.send_replace(false);
    // Dropping the receiver makes the manager release the lease and stop.
    drop(leading);
    match tokio::time::timeout(Duration::from_secs(5), handle).await {
        Ok(Ok(Ok(_))) => tracing::info!(identity = cfg.identity, lease = cfg.lease_name, "lease released"),
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "releasing the lease failed"),
        Ok(Err(e)) => tracing::warn!(error = %e, "the lease task failed"),
        Err(_) => tracing::warn!("releasing the lease timed out"),
    }
}
