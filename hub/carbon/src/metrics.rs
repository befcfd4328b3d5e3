//! Prometheus metrics of the carbon data layer. `Metrics::default()` gives
//! unregistered (but working) metrics, so tests and tools need no registry.
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct IntensityLabels {
    pub zone: String,
    pub provider: String,
    /// "true" when the current value is a forecast or provider estimate.
    pub estimated: String,
    /// "true" when the value's point has ended and it stands as the best estimate
    /// until newer data arrives (latest-only providers, a late refresh).
    pub carried_forward: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ZoneLabels {
    pub zone: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct CallLabels {
    pub provider: String,
    /// HTTP status code, or `timeout` / `transport` when there was none.
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ProviderLabels {
    pub provider: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ErrorLabels {
    pub provider: String,
    /// [`crate::ErrorKind::as_str`].
    pub kind: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.0, 12))
}

/// Cheap to clone: every family is shared.
#[derive(Debug, Clone)]
pub struct Metrics {
    pub intensity: Family<IntensityLabels, Gauge<f64, AtomicU64>>,
    pub data_age_seconds: Family<ZoneLabels, Gauge<f64, AtomicU64>>,
    pub upstream_calls: Family<CallLabels, Counter>,
    pub upstream_latency_seconds: Family<ProviderLabels, Histogram, fn() -> Histogram>,
    pub upstream_errors: Family<ErrorLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            intensity: Family::default(),
            data_age_seconds: Family::default(),
            upstream_calls: Family::default(),
            upstream_latency_seconds: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            upstream_errors: Family::default(),
        }
    }
}

impl Metrics {
    /// Creates the metrics and registers them under `gridshift_carbon_*`.
    pub fn new(registry: &mut Registry) -> Self {
        let m = Self::default();
        m.register(registry);
        m
    }

    /// Registers the metrics under `gridshift_carbon_*`.
    pub fn register(&self, registry: &mut Registry) {
        let m = self;
        let r = registry.sub_registry_with_prefix("gridshift_carbon");
        r.register(
            "intensity_gco2_per_kwh",
            "Current carbon intensity per grid zone (gCO2eq/kWh) from the last good data",
            m.intensity.clone(),
        );
        r.register("data_age_seconds", "Age of the last good data per grid zone", m.data_age_seconds.clone());
        r.register(
            "upstream_calls",
            "HTTP calls to carbon-intensity providers by status",
            m.upstream_calls.clone(),
        );
        r.register(
            "upstream_latency_seconds",
            "Latency of HTTP calls to carbon-intensity providers",
            m.upstream_latency_seconds.clone(),
        );
        r.register(
            "upstream_errors",
            "Failed provider fetches by provider and error kind",
            m.upstream_errors.clone(),
        );
    }

    pub(crate) fn observe_call(&self, provider: &str, status: &str, secs: f64) {
        self.upstream_calls
            .get_or_create(&CallLabels { provider: provider.to_string(), status: status.to_string() })
            .inc();
        self.upstream_latency_seconds
            .get_or_create(&ProviderLabels { provider: provider.to_string() })
            .observe(secs);
    }

    pub(crate) fn observe_error(&self, provider: &str, kind: &str) {
        self.upstream_errors
            .get_or_create(&ErrorLabels { provider: provider.to_string(), kind: kind.to_string() })
            .inc();
    }

    /// Sets the current value of `zone`, removing the series of the previous
    /// provider/estimated labels so a zone never shows two current values.
    /// Exports `current` (labels, value) for a zone, first removing the series of the
    /// labels exported before if they differ.
    pub(crate) fn set_intensity(
        &self,
        current: Option<(&IntensityLabels, f64)>,
        previous: Option<&IntensityLabels>,
    ) {
        if let Some(old) = previous
            && current.is_none_or(|(labels, _)| labels != old)
        {
            self.intensity.remove(old);
        }
        if let Some((labels, value)) = current {
            self.intensity.get_or_create(labels).set(value);
        }
    }

    pub(crate) fn set_age(&self, zone: &str, age_secs: Option<f64>) {
        let labels = ZoneLabels { zone: zone.to_string() };
        match age_secs {
            Some(a) => {
                self.data_age_seconds.get_or_create(&labels).set(a);
            }
            None => {
                self.data_age_seconds.remove(&labels);
            }
        }
    }
}
