//! The agent's Prometheus metrics for the forecast stream.
use crate::forecast::ForecastView;
use gridshift_core::SharedClock;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use tokio::sync::watch;

#[derive(Clone, Default)]
pub struct StreamMetrics {
    /// 1 while a stream to the hub is established (after the Welcome).
    pub hub_connected: Gauge,
    pub reconnects: Counter,
    pub updates_applied: Counter,
    pub updates_rejected: Counter,
}

impl StreamMetrics {
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("gridshift_agent");
        r.register(
            "hub_connected",
            "1 while the forecast stream to the hub is up",
            self.hub_connected.clone(),
        );
        r.register("hub_reconnects", "Connection attempts after the first", self.reconnects.clone());
        r.register("forecast_updates_applied", "Snapshots and deltas applied", self.updates_applied.clone());
        r.register(
            "forecast_updates_rejected",
            "Updates refused as malformed (nacked)",
            self.updates_rejected.clone(),
        );
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ZoneLabel {
    zone: String,
}

/// Forecast ages, computed at scrape time from the current view and the clock.
pub struct ForecastAgeCollector {
    view: watch::Receiver<Arc<ForecastView>>,
    clock: SharedClock,
}

impl ForecastAgeCollector {
    pub fn new(view: watch::Receiver<Arc<ForecastView>>, clock: SharedClock) -> Self {
        Self { view, clock }
    }
}

impl std::fmt::Debug for ForecastAgeCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ForecastAgeCollector")
    }
}

impl Collector for ForecastAgeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let view = self.view.borrow().clone();
        let now = self.clock.now();
        let age = ConstGauge::new(0.0f64);
        let mut family = encoder.encode_descriptor(
            "gridshift_agent_forecast_age_seconds",
            "Age of each zone's forecast data, from when the hub obtained it",
            None,
            age.metric_type(),
        )?;
        for (zone, series) in view.forecasts.iter() {
            let label = ZoneLabel { zone: zone.to_string() };
            ConstGauge::new(series.age(now).as_secs_f64()).encode(family.encode_family(&label)?)?;
        }
        if let Some(contact) = view.last_hub_contact {
            let since = ConstGauge::new(now.duration_since(contact).as_secs_f64());
            let metric = encoder.encode_descriptor(
                "gridshift_agent_hub_last_contact_age_seconds",
                "Time since the hub was last heard from",
                None,
                since.metric_type(),
            )?;
            since.encode(metric)?;
        }
        Ok(())
    }
}
