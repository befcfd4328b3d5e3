//! KEDA replica caps driven by carbon intensity (CarbonAwareKedaScaler, DESIGN §2).
//!
//! The CRD is `gridshift_api::keda` (field-compatible with Azure's
//! carbon-aware-keda-operator, so existing CRs migrate by changing `apiVersion`), the cap
//! decision `gridshift_core::caps::decide`, the status it renders
//! `gridshift_api::keda::status`. This module is the KEDA side of them.
//!
//! | module | what |
//! |---|---|
//! | [`target`] | pure: what the capper reads from a ScaledObject/ScaledJob and the merge patches it sends |
//! | [`controller`] | I/O: the kube-runtime controller, and where a CR's forecast comes from (`controller::source`: the hub stream, `localConfigMap` or `mockCarbonForecast`) |
//! | [`metrics`] | `gridshift_carbon_aware_keda_scaler_*` |
pub mod controller;
pub mod metrics;
pub mod target;

pub use controller::{KedaComponent, KedaConfig, run};
pub use metrics::KedaMetrics;
