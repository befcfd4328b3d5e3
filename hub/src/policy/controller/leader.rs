//! Leader election over a Lease in the Karmada API server (kube-lease-manager): only the
//! replica holding the lease runs the placement controller, so one writer edits Karmada
//! policies at a time. Every replica keeps serving the agents' forecast stream; that is not
//! gated here. Losing the lease stops the controller at once (in-flight writes are cancelled,
//! which the write order makes safe); shutting down releases the lease so a peer takes over
//! without waiting for it to expire.
use super::{Error, PolicyController};
use kube_lease_manager::LeaseManagerBuilder;
use tokio::sync::watch;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderElection {
    pub namespace: String,
    pub lease_name: String,
    /// Unique per replica: the pod name.
    pub identity: String,
    /// Seconds a lease stays valid after its last renewal.
    pub lease_duration_secs: u64,
    /// Seconds before expiry at which the holder renews.
    pub renew_grace_secs: u64,
}

impl LeaderElection {
    pub fn new(
        namespace: impl Into<String>,
        lease_name: impl Into<String>,
        identity: impl Into<String>,
    ) -> Self {
        Self {
            namespace: namespace.into(),
            lease_name: lease_name.into(),
            identity: identity.into(),
            lease_duration_secs: 15,
            renew_grace_secs: 5,
        }
    }
}

/// Runs `controller` whenever this replica holds the lease, until `shutdown` turns true.
pub async fn run_with_leader_election(
    controller: &PolicyController,
    client: kube::Client,
    election: LeaderElection,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    let manager = LeaseManagerBuilder::new(client, &election.lease_name)
        .with_namespace(&election.namespace)
        .with_identity(&election.identity)
        .with_duration(election.lease_duration_secs)
        .with_grace(election.renew_grace_secs)
        .build()
        .await?;
    let (mut leading, task) = manager.watch().await;
    let metrics = controller.metrics().clone();
    let identity = election.identity.as_str();
    tracing::info!(identity, lease = %election.lease_name, namespace = %election.namespace, "waiting for the lease");
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => break,
            held = leading.wait_for(|l| *l) => if held.is_err() { break },
        }
        metrics.leader.set(1);
        tracing::info!(identity, "holding the lease: writing placements to Karmada");
        let (mut lost, mut stopping) = (leading.clone(), shutdown.clone());
        controller
            .run(async move {
                tokio::select! {
                    _ = lost.wait_for(|l| !*l) => {}
                    _ = stopping.wait_for(|s| *s) => {}
                }
            })
            .await;
        metrics.leader.set(0);
        if *shutdown.borrow() {
            break;
        }
        tracing::warn!(identity, "lost the lease: no longer writing to Karmada");
    }
    // Closing the channel makes the manager release the lease and end.
    drop(leading);
    match task.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.into()),
        Err(join) => {
            tracing::error!(error = %join, "the lease manager task failed");
            Ok(())
        }
    }
}
