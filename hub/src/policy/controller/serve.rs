//! The entry point `gridshift-hub serve` uses: connect to the Karmada API server and run
//! the placement controller, behind leader election unless that is turned off.
use super::{ControllerConfig, Error, Forecasts, LeaderElection, PolicyController, PolicyMetrics};
use crate::distribution::Distributor;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub struct RunOptions {
    /// Kubeconfig of the Karmada API server.
    pub karmada_kubeconfig: PathBuf,
    /// `None`: this replica always writes (a single replica, or `--leader-elect=false`).
    pub leader_election: Option<LeaderElection>,
    pub config: ControllerConfig,
}

/// This replica's name for leases and events: `POD_NAME`, else the host name.
pub fn identity() -> String {
    let from_env = |k: &str| std::env::var(k).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    from_env("POD_NAME")
        .or_else(|| from_env("HOSTNAME"))
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|h| h.trim().to_string()))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("gridshift-hub-{:x}", rand::random::<u32>()))
}

pub async fn karmada_client(path: &PathBuf) -> Result<kube::Client, Error> {
    let kubeconfig = kube::config::Kubeconfig::read_from(path)
        .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
    Ok(kube::Client::try_from(config)?)
}

/// Runs until `shutdown` turns true. A Karmada API server that is unreachable at start (or
/// a lease that cannot be created) is retried, not fatal: the stream keeps serving meanwhile.
pub async fn run(
    opts: RunOptions,
    forecasts: Arc<dyn Forecasts>,
    distributor: Distributor,
    metrics: PolicyMetrics,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    let client = karmada_client(&opts.karmada_kubeconfig).await?;
    let controller = PolicyController::new(client.clone(), opts.config, forecasts, distributor, metrics);
    let Some(election) = opts.leader_election else {
        tracing::info!("leader election off: this replica writes placements to Karmada");
        controller.metrics().leader.set(1);
        let mut stop = shutdown.clone();
        controller
            .run(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await;
        return Ok(());
    };
    let mut delay = Duration::from_secs(1);
    loop {
        match super::run_with_leader_election(&controller, client.clone(), election.clone(), shutdown.clone())
            .await
        {
            Ok(()) => return Ok(()),
            Err(e) => tracing::error!(error = %e, retry_in = ?delay, "leader election failed"),
        }
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return Ok(()),
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(60));
    }
}
