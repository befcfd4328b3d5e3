//! The carbon-aware scheduler's controller: the kube I/O around the pure decision
//! core (`gridshift_core::scheduling::schedule_one`).
//!
//! - watches nodes, every non-terminal pod, and volume objects ([`informers`]) into
//!   the core's `Snapshot` ([`cluster`]);
//! - keeps pending pods with `spec.schedulerName == --scheduler-name` in a
//!   [`queue`] with backoff, retry on cluster changes, and clock-driven deferral;
//! - decides one pod at a time with the core, assumes the pod onto its node so the
//!   next decision sees it, then binds through `pods/binding` with the pod UID as
//!   precondition ([`api`]); a 409 forgets the assumption and requeues the pod, or
//!   drops it when it is gone;
//! - reports like kube-scheduler: PodScheduled=False conditions and
//!   `FailedScheduling` events "0/N nodes are available: …", `Scheduled` events;
//!   waiting pods get PodScheduled=False reason `WaitingForCleanerEnergy` saying
//!   until when and why, and an event;
//! - annotates bound pods with their carbon accounting and exports it ([`metrics`]);
//! - only the holder of the Lease binds (`gridshift_ops::runtime::LeaderGate`).
//!
//! Entry point: [`run`] (or [`SchedulerComponent`]). Flags: [`SchedulerArgs`].
mod api;
pub mod args;
mod cluster;
mod driver;
mod informers;
pub mod metrics;
pub mod queue;
mod report;

use std::time::Duration;

use futures::future::BoxFuture;
use gridshift_core::scheduling::SchedulerConfig;
use gridshift_core::zone_map::ZoneMap;
use gridshift_core::{SharedClock, Zone};
use gridshift_ops::runtime::{Component, ComponentError, LeaderElection, LeaderGate, Shutdown};
use prometheus_client::registry::Registry;
use tokio::sync::watch;

pub use args::SchedulerArgs;
pub use metrics::SchedulerMetrics;
pub use queue::QueueConfig;
pub use report::{REASON_FAILED, REASON_INVALID_DEFERRAL, REASON_SCHEDULED, REASON_STARTING_NOW};

use super::adapter::ZoneConfig;
use crate::forecast::ForecastHandle;

#[derive(Debug, Clone)]
pub struct ControllerConfig {
    pub scheduler_name: String,
    pub zones: ZoneConfig,
    pub zone_map: ZoneMap,
    /// Score weights and the deferral planner's settings (the staleness bound is the
    /// forecasts', as the hub announces it).
    pub decisions: SchedulerConfig,
    pub queue: QueueConfig,
    pub leader: LeaderElection,
    /// Deferrable pods are not released for lack of data during this long after
    /// start, unless a forecast arrives earlier (see [`SchedulerArgs`]).
    pub data_grace: Duration,
    /// Bindings (and their events) in flight at once.
    pub bind_concurrency: usize,
}

impl ControllerConfig {
    /// Defaults for one replica named `identity` (tests, benchmarks).
    pub fn new(scheduler_name: &str, identity: &str) -> Self {
        Self {
            scheduler_name: scheduler_name.to_string(),
            zones: ZoneConfig::default(),
            zone_map: ZoneMap::builtin(),
            decisions: SchedulerConfig::default(),
            queue: QueueConfig::default(),
            leader: LeaderElection::new("gridshift-system", "gridshift-scheduler", identity),
            data_grace: Duration::from_secs(30),
            bind_concurrency: 16,
        }
    }
}

/// What the controller works with.
#[derive(Clone)]
pub struct Deps {
    pub client: kube::Client,
    pub clock: SharedClock,
    pub forecast: ForecastHandle,
    pub metrics: SchedulerMetrics,
    /// The zones the agent asks the hub for (its `Hello`). When given, the grid zones
    /// of the cluster's nodes are added to the configured ones, so the hub streams
    /// the forecasts the scheduler needs.
    pub node_zones: Option<watch::Sender<Vec<Zone>>>,
    /// Where bound and deferred pods are reported to the hub.
    pub status: Option<crate::status::StatusReporter>,
}

#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error("the scheduler's watches ended")]
    WatchesEnded,
}

/// Runs the scheduler until `shutdown`. Watches start at once; decisions start when
/// every watch has listed and this replica holds the lease.
pub async fn run(cfg: ControllerConfig, deps: Deps, shutdown: Shutdown) -> Result<(), ControllerError> {
    tracing::info!(
        scheduler = cfg.scheduler_name,
        identity = cfg.leader.identity,
        leader_election = cfg.leader.enabled,
        "carbon-aware scheduler starting"
    );
    let gate = LeaderGate::spawn(deps.client.clone(), cfg.leader.clone(), shutdown.clone());
    let result = driver::Driver::new(cfg, deps, gate.leading()).run(shutdown).await;
    match result {
        // The election task sees the same shutdown and releases the lease.
        Ok(()) => gate.stopped().await,
        // Decisions stopped: stop renewing, so the lease expires and a standby takes over.
        Err(_) => gate.abort(),
    }
    result
}

/// The scheduler as a component of the agent.
pub struct SchedulerComponent {
    pub config: ControllerConfig,
    pub deps: Deps,
}

impl Component for SchedulerComponent {
    fn name(&self) -> &'static str {
        "carbon-aware scheduler"
    }

    fn register_metrics(&self, registry: &mut Registry) {
        self.deps.metrics.register(registry);
    }

    fn run(self: Box<Self>, shutdown: Shutdown) -> BoxFuture<'static, Result<(), ComponentError>> {
        Box::pin(async move {
            let this = *self;
            run(this.config, this.deps, shutdown).await?;
            Ok(())
        })
    }
}
