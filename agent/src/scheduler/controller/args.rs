//! The scheduler's command-line flags (flattened into `gridshift-agent`'s).
use std::time::Duration;

use gridshift_core::Zone;
use gridshift_core::scheduling::{SCHEDULER_NAME, SchedulerConfig};
use gridshift_core::zone_map::{InvalidOverride, ZoneMap};
use gridshift_ops::runtime::LeaderElection;

use super::{ControllerConfig, queue::QueueConfig};
use crate::scheduler::adapter::{CARBON_ZONE_LABEL, ZoneConfig};

/// Region label every node may carry; the fallback after `--zone-label`.
pub const REGION_LABEL: &str = "topology.kubernetes.io/region";

#[derive(Debug, Clone, clap::Args)]
pub struct SchedulerArgs {
    /// Pods with this `spec.schedulerName` are placed by the agent.
    #[arg(long, env = "GRIDSHIFT_SCHEDULER_NAME", default_value = SCHEDULER_NAME)]
    pub scheduler_name: String,
    /// Node label whose value (a cloud zone or region) names the node's location,
    /// mapped to a grid zone; `topology.kubernetes.io/region` is tried next. A
    /// `carbon-zone` label naming the grid zone directly wins over both.
    #[arg(long, env = "GRIDSHIFT_ZONE_LABEL", default_value = "topology.kubernetes.io/zone")]
    pub zone_label: String,
    /// Grid zone of nodes no label resolves (as the earlier carbon-aware scheduler's
    /// default zone setting).
    #[arg(long, env = "GRIDSHIFT_DEFAULT_ZONE")]
    pub default_zone: Option<Zone>,
    /// Extra cloud region → grid zone mappings, `region=ZONE`, comma separated.
    #[arg(long = "zone-override", env = "GRIDSHIFT_ZONE_OVERRIDES", value_delimiter = ',')]
    pub zone_overrides: Vec<String>,
    /// Namespace of the scheduler's leader-election Lease.
    #[arg(long, env = "GRIDSHIFT_LEADER_ELECTION_NAMESPACE", default_value = "gridshift-system")]
    pub leader_election_namespace: String,
    /// Name of that Lease: of several agent replicas only its holder schedules.
    #[arg(long, env = "GRIDSHIFT_LEADER_ELECTION_LEASE_NAME", default_value = "gridshift-scheduler")]
    pub leader_election_lease_name: String,
    /// How long deferrable pods are held for lack of data right after start, so a
    /// restart does not release every waiting pod before the first forecast arrives.
    /// After it, missing data releases them (fail-open). `0s` to disable.
    #[arg(long, env = "GRIDSHIFT_SCHEDULER_DATA_GRACE", default_value = "30s", value_parser = parse_duration)]
    pub scheduler_data_grace: Duration,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d: jiff::SignedDuration = s.parse().map_err(|e| format!("{s:?}: {e}"))?;
    Duration::try_from(d).map_err(|_| format!("{s:?} is negative"))
}

impl SchedulerArgs {
    pub fn zone_config(&self) -> ZoneConfig {
        let mut topology_labels = vec![self.zone_label.clone()];
        if self.zone_label != REGION_LABEL {
            topology_labels.push(REGION_LABEL.into());
        }
        ZoneConfig {
            carbon_zone_label: CARBON_ZONE_LABEL.into(),
            topology_labels,
            default_zone: self.default_zone.clone(),
        }
    }

    pub fn zone_map(&self) -> Result<ZoneMap, InvalidOverride> {
        ZoneMap::builtin().with_overrides(self.zone_overrides.iter().filter(|s| !s.is_empty()))
    }

    /// The controller's settings; `identity` names this replica in the Lease and events.
    pub fn config(&self, identity: &str) -> Result<ControllerConfig, InvalidOverride> {
        Ok(ControllerConfig {
            scheduler_name: self.scheduler_name.clone(),
            zones: self.zone_config(),
            zone_map: self.zone_map()?,
            decisions: SchedulerConfig::default(),
            queue: QueueConfig::default(),
            leader: LeaderElection::new(
                &self.leader_election_namespace,
                &self.leader_election_lease_name,
                identity,
            ),
            data_grace: self.scheduler_data_grace,
            bind_concurrency: 16,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        s: SchedulerArgs,
    }

    #[test]
    fn defaults_follow_the_command_line_contract() {
        let cli = Cli::try_parse_from(["agent"]).unwrap();
        assert_eq!(cli.s.scheduler_name, "carbon-aware-scheduler");
        assert_eq!(cli.s.leader_election_namespace, "gridshift-system");
        assert_eq!(cli.s.leader_election_lease_name, "gridshift-scheduler");
        assert_eq!(
            cli.s.zone_config().topology_labels,
            ["topology.kubernetes.io/zone", "topology.kubernetes.io/region"]
        );
        assert_eq!(cli.s.scheduler_data_grace, Duration::from_secs(30));
        let cli = Cli::try_parse_from([
            "agent",
            "--zone-label",
            "topology.kubernetes.io/region",
            "--default-zone",
            "GB",
            "--zone-override",
            "my-dc=US-CAL-CISO",
            "--scheduler-data-grace",
            "0s",
        ])
        .unwrap();
        let zones = cli.s.zone_config();
        assert_eq!(zones.topology_labels, ["topology.kubernetes.io/region"]);
        assert_eq!(zones.default_zone.as_deref(), Some("GB"));
        assert_eq!(cli.s.zone_map().unwrap().zone_for("my-dc").unwrap(), "US-CAL-CISO");
        assert_eq!(cli.s.scheduler_data_grace, Duration::ZERO);
    }
}
