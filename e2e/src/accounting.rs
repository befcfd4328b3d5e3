//! Reading the scheduler's carbon accounting off a bound pod.
use k8s_openapi::api::core::v1::Pod;

/// Intensity of the node the pod was placed on, gCO2/kWh.
pub const ANNOTATION_PLACED: &str = "gridshift.io/bound-intensity";
/// Intensity a carbon-agnostic placement would have had.
pub const ANNOTATION_BASELINE: &str = "gridshift.io/baseline-intensity";

/// baseline - placed, when the scheduler annotated both.
pub fn intensity_saved(pod: &Pod) -> Option<f64> {
    let annotations = pod.metadata.annotations.as_ref()?;
    let read = |key: &str| annotations.get(key)?.parse::<f64>().ok();
    Some(read(ANNOTATION_BASELINE)? - read(ANNOTATION_PLACED)?)
}
