//! The stream's Prometheus metrics.
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClusterLabel {
    pub cluster: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

#[derive(Clone, Default)]
pub struct StreamMetrics {
    pub connected_agents: Gauge,
    pub acked_revision: Family<ClusterLabel, Gauge>,
    pub lag: Family<ClusterLabel, Gauge>,
    pub revision: Gauge,
    pub messages_sent: Family<KindLabel, Counter>,
    pub disconnects: Family<ReasonLabel, Counter>,
    pub refused: Family<ReasonLabel, Counter>,
    pub nacks: Family<ClusterLabel, Counter>,
    /// What each connected agent last reported (its `AgentStatus`).
    pub agent_caps_applied: Family<ClusterLabel, Gauge>,
    pub agent_pods_bound: Family<ClusterLabel, Gauge>,
    pub agent_pods_deferred: Family<ClusterLabel, Gauge>,
}

impl StreamMetrics {
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("gridshift_hub");
        r.register("connected_agents", "Agents with an open forecast stream", self.connected_agents.clone());
        r.register(
            "agent_acked_revision",
            "Latest revision each agent acknowledged",
            self.acked_revision.clone(),
        );
        r.register("agent_lag_revisions", "Revisions each agent has not acknowledged", self.lag.clone());
        r.register("forecast_revision", "Current revision of the forecast state", self.revision.clone());
        r.register("stream_messages_sent", "Messages sent to agents, by kind", self.messages_sent.clone());
        r.register("stream_disconnects", "Agent streams ended, by reason", self.disconnects.clone());
        r.register("stream_refused", "Agent streams refused, by reason", self.refused.clone());
        r.register("stream_nacks", "Updates agents could not apply", self.nacks.clone());
        r.register(
            "agent_caps_applied",
            "KEDA caps each agent reports in effect (CarbonAwareKedaScalers holding a cap)",
            self.agent_caps_applied.clone(),
        );
        r.register(
            "agent_pods_bound",
            "Pods each agent's carbon-aware scheduler reports bound since it started",
            self.agent_pods_bound.clone(),
        );
        r.register(
            "agent_pods_deferred",
            "Pods each agent reports waiting for cleaner energy",
            self.agent_pods_deferred.clone(),
        );
    }

    pub(crate) fn agent_status(&self, cluster: &str, status: &gridshift_proto::v1::AgentStatus) {
        let label = ClusterLabel { cluster: cluster.to_string() };
        self.agent_caps_applied.get_or_create(&label).set(i64::from(status.caps_applied));
        self.agent_pods_bound.get_or_create(&label).set(status.pods_bound.try_into().unwrap_or(i64::MAX));
        self.agent_pods_deferred
            .get_or_create(&label)
            .set(status.pods_deferred.try_into().unwrap_or(i64::MAX));
    }

    pub(crate) fn forget_agent(&self, cluster: &str) {
        let label = ClusterLabel { cluster: cluster.to_string() };
        self.acked_revision.remove(&label);
        self.lag.remove(&label);
        self.agent_caps_applied.remove(&label);
        self.agent_pods_bound.remove(&label);
        self.agent_pods_deferred.remove(&label);
    }
}
