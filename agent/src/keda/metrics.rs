//! Prometheus metrics of the KEDA capper. Names are the original operator's
//! (`carbon_aware_keda_scaler_*`, label `app` = the CR's name) under a `gridshift_` prefix,
//! so existing dashboards need only the prefix; `namespace` is added because our CRs are
//! namespaced. One deliberate difference: `eco_mode_off` is a gauge (1 while eco mode is
//! off), because the original's counter bumped once per reconcile says nothing useful and
//! OpenMetrics counters must end in `_total`, which would have changed the name anyway.
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScalerLabels {
    pub app: String,
    pub namespace: String,
}

impl ScalerLabels {
    pub fn new(namespace: &str, name: &str) -> Self {
        Self { app: name.to_owned(), namespace: namespace.to_owned() }
    }
}

#[derive(Clone, Debug, Default)]
pub struct KedaMetrics {
    pub reconciles: Family<ScalerLabels, Counter>,
    pub reconcile_errors: Family<ScalerLabels, Counter>,
    pub carbon_intensity: Family<ScalerLabels, Gauge<f64, AtomicU64>>,
    pub default_max_replicas: Family<ScalerLabels, Gauge>,
    pub max_replicas: Family<ScalerLabels, Gauge>,
    pub eco_mode_off: Family<ScalerLabels, Gauge>,
}

impl KedaMetrics {
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("gridshift_carbon_aware_keda_scaler");
        r.register("reconciles", "Reconciles of each CarbonAwareKedaScaler", self.reconciles.clone());
        r.register(
            "reconcile_errors",
            "Reconciles that failed and were retried",
            self.reconcile_errors.clone(),
        );
        r.register(
            "carbon_intensity",
            "Carbon intensity of the current forecast point, gCO2eq/kWh (absent without data)",
            self.carbon_intensity.clone(),
        );
        r.register(
            "default_max_replicas",
            "ecoModeOff.maxReplicas: the cap without data or while eco mode is off",
            self.default_max_replicas.clone(),
        );
        r.register(
            "max_replicas",
            "maxReplicaCount last applied to the KEDA target",
            self.max_replicas.clone(),
        );
        r.register("eco_mode_off", "1 while eco mode is off for the CR", self.eco_mode_off.clone());
    }

    /// Drops a deleted CR's series.
    pub fn forget(&self, labels: &ScalerLabels) {
        self.reconciles.remove(labels);
        self.reconcile_errors.remove(labels);
        self.carbon_intensity.remove(labels);
        self.default_max_replicas.remove(labels);
        self.max_replicas.remove(labels);
        self.eco_mode_off.remove(labels);
    }
}
