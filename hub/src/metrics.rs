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
    }

    pub(crate) fn forget_agent(&self, cluster: &str) {
        let label = ClusterLabel { cluster: cluster.to_string() };
        self.acked_revision.remove(&label);
        self.lag.remove(&label);
    }
}
