//! The carbon-aware scheduler's controller: the kube I/O around the pure decision
//! core ([`crate::scheduler::schedule_one`]).
//!
//! - watches nodes, every non-terminal pod, and volume objects ([`informers`]) into
//!   the core's [`Snapshot`](crate::scheduler::Snapshot) ([`cluster`]);
//! - keeps pending pods with `spec.schedulerName == --scheduler-name` in a
//!   [`queue`] with backoff, retry on cluster changes, and clock-driven deferral;
//! - decides one pod at a time with the core, assumes the pod onto its node so the
//!   next decision sees it, then binds through `pods/binding` with the pod UID as
//!   precondition ([`api`]); a 409 forgets the assumption and requeues the pod, or
//!   drops it when it is gone;
//! - reports like kube-scheduler: PodScheduled=False conditions and
//!   `FailedScheduling` events "0/N nodes are available: …", `Scheduled` events;
//!   waiting pods get PodScheduled=False reason `WaitingForCleanerEnergy` saying
//!   until when and why, and an event ([`events`]);
//! - annotates bound pods with their carbon accounting and exports it ([`metrics`]);
//! - only the holder of the Lease binds ([`leader`]).
//!
//! Entry point: [`run`]. Flags: [`SchedulerArgs`].
pub mod api;
pub mod args;
pub mod cluster;
mod driver;
pub mod events;
pub mod informers;
pub mod leader;
pub mod metrics;
pub mod queue;
mod report;

use std::time::Duration;

use gridshift_proto::SharedClock;
use gridshift_proto::zones::ZoneMap;
use tokio::sync::watch;

pub use args::SchedulerArgs;
pub use leader::LeaderConfig;
pub use metrics::SchedulerMetrics;
pub use queue::QueueConfig;

use super::SchedulerConfig;
use super::adapter::ZoneConfig;
use crate::forecast::ForecastHandle;

#[derive(Debug, Clone)]
pub struct ControllerConfig {
    pub scheduler_name: String,
    pub zones: ZoneConfig,
    pub zone_map: ZoneMap,
    /// Score weights and the deferral planner's settings. The planner's staleness
    /// bound is replaced by the hub's, as announced on the forecast stream.
    pub decisions: SchedulerConfig,
    pub queue: QueueConfig,
    pub leader: LeaderConfig,
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
            leader: LeaderConfig::new("gridshift-system", "gridshift-scheduler", identity),
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
    pub node_zones: Option<watch::Sender<Vec<String>>>,
    /// Where bound and deferred pods are reported to the hub.
    pub status: Option<crate::status::StatusReporter>,
}

#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error("the scheduler's watches ended")]
    WatchesEnded,
}

/// Runs the scheduler until `shutdown` turns true. Watches start at once; decisions
/// start when every watch has listed and this replica holds the lease.
pub async fn run(
    cfg: ControllerConfig,
    deps: Deps,
    shutdown: watch::Receiver<bool>,
) -> Result<(), ControllerError> {
    tracing::info!(
        scheduler = cfg.scheduler_name,
        identity = cfg.leader.identity,
        leader_election = cfg.leader.enabled,
        "carbon-aware scheduler starting"
    );
    let (leading, election) = leader::spawn(deps.client.clone(), cfg.leader.clone(), shutdown.clone());
    let result = driver::Driver::new(cfg, deps, leading).run(shutdown).await;
    if result.is_ok() {
        // The election task sees the same shutdown and releases the lease.
        let _ = election.await;
    } else {
        election.abort();
    }
    result
}
