//! The entry point `gridshift-hub serve` uses: connect to the Karmada API server and run
//! the placement controller while this replica holds the lease (every replica serves the
//! agents' stream; only the leader writes to Karmada).
use super::{ControllerConfig, Error, PolicyController, PolicyMetrics};
use crate::distribution::Distributor;
use futures::future::BoxFuture;
use gridshift_core::Forecasts;
use gridshift_ops::runtime::{Component, ComponentError, LeaderElection, LeaderGate, Shutdown, kube_client};
use prometheus_client::registry::Registry;
use std::path::PathBuf;
use tokio::sync::watch;

pub struct RunOptions {
    /// Kubeconfig of the Karmada API server.
    pub karmada_kubeconfig: PathBuf,
    /// `enabled: false`: this replica always writes (a single replica, `--leader-elect=false`).
    pub leader_election: LeaderElection,
    pub config: ControllerConfig,
    /// Mirrors "this replica leads" for the rest of the hub (the forecast store fetches
    /// only on the leader).
    pub leading: Option<watch::Sender<bool>>,
}

/// Runs `controller` whenever this replica holds the lease, until `shutdown`; then
/// releases the lease so another replica takes over at once.
pub async fn run_with_leader_election(
    controller: &PolicyController,
    client: kube::Client,
    election: LeaderElection,
    shutdown: Shutdown,
) -> Result<(), Error> {
    let gate = LeaderGate::spawn(client, election.clone(), shutdown.clone());
    let metrics = controller.metrics().clone();
    let identity = election.identity.as_str();
    gate.run_while_leading(
        &shutdown,
        |leading| {
            metrics.leader.set(i64::from(leading));
            controller.ctx.leading.send_replace(leading);
            match leading {
                true => tracing::info!(identity, "holding the lease: writing placements to Karmada"),
                false if !shutdown.is_triggered() => {
                    tracing::warn!(identity, "lost the lease: no longer writing to Karmada")
                }
                false => {}
            }
        },
        |lost| controller.run(lost),
    )
    .await;
    Ok(())
}

/// Runs until `shutdown`. A Karmada API server that is unreachable at start (or a lease
/// that cannot be created) is retried, not fatal: the stream keeps serving meanwhile.
pub async fn run(
    opts: RunOptions,
    forecasts: watch::Receiver<Forecasts>,
    distributor: Distributor,
    metrics: PolicyMetrics,
    shutdown: Shutdown,
) -> Result<(), Error> {
    let client = kube_client(Some(&opts.karmada_kubeconfig)).await?;
    let controller = PolicyController::new(client.clone(), opts.config, forecasts, distributor, metrics);
    if let Some(tx) = opts.leading {
        let mut leading = controller.leading();
        tokio::spawn(async move {
            loop {
                tx.send_replace(*leading.borrow_and_update());
                if leading.changed().await.is_err() {
                    break;
                }
            }
        });
    }
    run_with_leader_election(&controller, client, opts.leader_election, shutdown).await
}

/// The placement controller as a component of `gridshift-hub serve`.
pub struct PlacementComponent {
    pub options: RunOptions,
    pub forecasts: watch::Receiver<Forecasts>,
    pub distributor: Distributor,
    pub metrics: PolicyMetrics,
}

impl Component for PlacementComponent {
    fn name(&self) -> &'static str {
        "placement controller"
    }

    fn register_metrics(&self, registry: &mut Registry) {
        self.metrics.register(registry);
    }

    fn run(self: Box<Self>, shutdown: Shutdown) -> BoxFuture<'static, Result<(), ComponentError>> {
        Box::pin(async move {
            let this = *self;
            run(this.options, this.forecasts, this.distributor, this.metrics, shutdown).await?;
            Ok(())
        })
    }
}
