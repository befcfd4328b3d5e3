//! The CRD as users of the original operator write it.
use super::*;

#[test]
fn original_operator_cr_deserializes() {
    // A CR as written for Azure's operator, with only the apiVersion changed.
    let cr: CarbonAwareKedaScaler = serde_yaml::from_str(
        r#"
apiVersion: gridshift.io/v1alpha1
kind: CarbonAwareKedaScaler
metadata: {name: word-processor, namespace: default}
spec:
  kedaTarget: scaledobjects.keda.sh
  kedaTargetRef: {name: word-processor-scaler, namespace: default}
  carbonIntensityForecastDataSource:
    mockCarbonForecast: false
    localConfigMap: {name: carbon-intensity, namespace: kube-system, key: data}
  maxReplicasByCarbonIntensity:
    - {carbonIntensityThreshold: 437, maxReplicas: 110}
    - {carbonIntensityThreshold: 504, maxReplicas: 60}
  ecoModeOff:
    maxReplicas: 100
    carbonIntensityDuration: {carbonIntensityThreshold: 555, overrideEcoAfterDurationInMins: 45}
    customSchedule: [{startTime: "2023-04-28T16:45:00Z", endTime: "2023-04-28T17:00:59Z"}]
    recurringSchedule: ["* 23 * * 1-3"]
"#,
    )
    .expect("original CR parses");
    let spec = &cr.spec;
    assert_eq!(spec.keda_target, KedaTarget::ScaledObjects);
    assert_eq!(spec.max_replicas_by_carbon_intensity[1].max_replicas, 60);
    let lcm = spec.carbon_intensity_forecast_data_source.local_config_map.as_ref().expect("lcm");
    assert_eq!(lcm.key, "data");
    let eco = &spec.eco_mode_off;
    assert_eq!(eco.carbon_intensity_duration.map(|d| d.override_eco_after_duration_in_mins), Some(45));
    assert_eq!(eco.custom_schedule[0].end_time, "2023-04-28T17:00:59Z");
    assert_eq!(eco.recurring_schedule, vec!["* 23 * * 1-3".to_string()]);
    // Round trip keeps the original's camelCase names.
    let back = serde_json::to_value(&cr.spec).expect("serialize");
    assert!(back["ecoModeOff"]["carbonIntensityDuration"]["overrideEcoAfterDurationInMins"].is_number());
    assert_eq!(back["kedaTarget"], "scaledobjects.keda.sh");
}
