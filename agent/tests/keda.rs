//! The KEDA capper against gridshift-sim with KEDA's CRDs: caps applied at each forecast
//! boundary of a ManualClock and restored on delete, clamped at
//! minReplicaCount, paused targets untouched, invalid CRs reported and never written,
//! other sources (localConfigMap, mock), and convergence through injected API faults.
mod common;

use common::cluster::{ECO_OFF_MAX, NS, SO, cluster, max_of, ready, spec};
use common::{hourly, t0, wait_for};
use gridshift_agent::configmap::format::encode;
use gridshift_agent::keda::target::PAUSED;
use gridshift_agent::testing::BOUND;
use gridshift_api::keda::LocalConfigMap;
use gridshift_api::meta::{ANNOTATION_ORIGINAL, KEDA_FINALIZER as FINALIZER, LABEL_CAPPER_UID};
use gridshift_core::Clock;
use gridshift_sim::{FaultRule, Verb};
use jiff::SignedDuration;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

#[tokio::test]
async fn caps_follow_forecast_boundaries_and_are_restored_on_delete() {
    // Hourly values from t0: the clock starts in the first hour.
    let c = cluster(Some(hourly(t0(), t0(), &[30.0, 67.0, 101.0, 101_010.0]))).await;
    c.create_target(SO, "web", json!({"minReplicaCount": 1, "maxReplicaCount": 100}), json!({})).await;
    c.create_scaler("web-carbon", spec(SO, "web")).await;

    let so = c.wait_max(SO, "web", Some(80)).await;
    assert_eq!(so.annotations()[ANNOTATION_ORIGINAL], "100");
    assert!(so.labels().contains_key(LABEL_CAPPER_UID));
    let cr = c.wait_ready("web-carbon", "CapApplied").await;
    assert!(cr.finalizers().contains(&FINALIZER.to_owned()));
    let status = cr.status.expect("status");
    assert_eq!(
        (status.carbon_intensity, status.bucket, status.applied_max_replicas),
        (Some(30.0), Some(0), Some(80))
    );
    assert_eq!((status.eco_mode_off, status.observed_generation), (Some(false), Some(1)));
    assert!(status.conditions.iter().all(|c| c.observed_generation == Some(1)));
    c.wait_event("web-carbon", "MaxReplicaCountReconciled").await;
    c.status_reaches("one cap in effect", |s| s.caps_applied == 1).await;

    // Each forecast boundary on the injected clock brings the next bucket: 67→20, 101→10,
    // 101010→10 (above the top threshold: the last bucket).
    for (value, cap) in [(67.0, 20), (101.0, 10), (101_010.0, 10)] {
        c.clock.advance(SignedDuration::from_hours(1));
        c.wait_max(SO, "web", Some(cap)).await;
        wait_for(&c.scalers(), "web-carbon", "intensity in status", |cr| {
            cr.and_then(|cr| cr.status.as_ref()).is_some_and(|s| s.carbon_intensity == Some(value))
        })
        .await;
    }
    let text = c.metrics_text();
    // Create, finalizer, status and three boundaries: a handful of reconciles. A status
    // write that retriggered itself would spin far past this within the test.
    let reconciles: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix(r#"gridshift_carbon_aware_keda_scaler_reconciles_total{app="web-carbon",namespace="default"} "#))
        .expect("reconciles counter")
        .parse()
        .expect("number");
    assert!((4.0..30.0).contains(&reconciles), "{reconciles} reconciles");
    for line in [
        r#"gridshift_carbon_aware_keda_scaler_max_replicas{app="web-carbon",namespace="default"} 10"#,
        r#"gridshift_carbon_aware_keda_scaler_default_max_replicas{app="web-carbon",namespace="default"} 55"#,
        r#"gridshift_carbon_aware_keda_scaler_carbon_intensity{app="web-carbon",namespace="default"} 101010.0"#,
        r#"gridshift_carbon_aware_keda_scaler_eco_mode_off{app="web-carbon",namespace="default"} 0"#,
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }

    // Past the end of the data the last value is carried forward: the cap holds, and
    // the status says where the value comes from.
    c.clock.advance(SignedDuration::from_hours(1));
    wait_for(&c.scalers(), "web-carbon", "a carried-forward value", |cr| {
        cr.and_then(|cr| cr.status.as_ref())
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
            .is_some_and(|c| c.message.contains("carried forward from"))
    })
    .await;
    c.wait_max(SO, "web", Some(10)).await;
    // Until the data is older than the staleness bound: then eco mode is off.
    c.clock.set(t0() + BOUND + SignedDuration::from_secs(1));
    c.wait_max(SO, "web", Some(i64::from(ECO_OFF_MAX))).await;
    let cr = c.wait_ready("web-carbon", "EcoModeOff").await;
    let reason = cr.status.as_ref().and_then(|s| s.eco_mode_off_reason.clone()).unwrap_or_default();
    assert!(reason.contains("older than the staleness bound"), "{reason}");
    c.wait_event("web-carbon", "EcoModeDisabled").await;

    // Deleting the CR gives the original back and lets the CR go.
    c.scalers().delete("web-carbon", &DeleteParams::default()).await.expect("delete");
    wait_for(&c.scalers(), "web-carbon", "CR gone", |cr| cr.is_none()).await;
    let so = c.wait_max(SO, "web", Some(100)).await;
    assert!(!so.annotations().contains_key(ANNOTATION_ORIGINAL));
    assert!(!so.labels().contains_key(LABEL_CAPPER_UID));
    assert_eq!(so.data["spec"]["minReplicaCount"], 1, "nothing else touched");
    c.status_reaches("no cap in effect", |s| s.caps_applied == 0).await;
}

#[tokio::test]
async fn a_cap_below_min_replica_count_is_raised_to_it() {
    let c = cluster(Some(hourly(t0(), t0(), &[101.0]))).await; // bucket cap 10
    c.create_target(SO, "floor", json!({"minReplicaCount": 15, "maxReplicaCount": 100}), json!({})).await;
    c.create_scaler("floor-carbon", spec(SO, "floor")).await;
    c.wait_max(SO, "floor", Some(15)).await;
    let cr = c.wait_ready("floor-carbon", "CapApplied").await;
    let (_, _, message) = ready(&cr).expect("ready");
    assert!(message.contains("raised to minReplicaCount 15"), "{message}");
}

#[tokio::test]
async fn a_paused_object_is_left_alone_until_unpaused() {
    let c = cluster(Some(hourly(t0(), t0(), &[30.0]))).await;
    c.create_target(SO, "held", json!({"maxReplicaCount": 100}), json!({PAUSED: "true"})).await;
    c.create_scaler("held-carbon", spec(SO, "held")).await;
    let cr = c.wait_ready("held-carbon", "TargetPaused").await;
    let (status, _, message) = ready(&cr).expect("ready");
    assert_eq!(status, "False");
    assert!(message.contains("autoscaling.keda.sh/paused"), "{message}");
    // The condition is written after the decision not to touch it: the object is as created.
    let so = c.targets(SO).get("held").await.expect("get");
    assert_eq!(max_of(&so), Some(100));
    assert!(!so.labels().contains_key(LABEL_CAPPER_UID));

    let unpause = json!({"metadata": {"annotations": {PAUSED: null}}});
    c.targets(SO).patch("held", &PatchParams::default(), &Patch::Merge(unpause)).await.expect("unpause");
    c.wait_max(SO, "held", Some(80)).await;
}

#[tokio::test]
async fn an_invalid_cr_gets_a_condition_and_an_event_and_nothing_is_written() {
    let c = cluster(Some(hourly(t0(), t0(), &[30.0]))).await;
    c.create_target(SO, "svc", json!({"maxReplicaCount": 100}), json!({})).await;
    let mut bad = spec(SO, "svc");
    bad.eco_mode_off.recurring_schedule = vec!["0 0 * * *".into(), "every tuesday".into()];
    c.create_scaler("bad", bad).await;
    let cr = c.wait_ready("bad", "InvalidSpec").await;
    let (_, _, message) = ready(&cr).expect("ready");
    assert!(message.contains("recurringSchedule[1]"), "{message}");
    let event = c.wait_event("bad", "InvalidSpec").await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    let so = c.targets(SO).get("svc").await.expect("get");
    assert_eq!(max_of(&so), Some(100));
    assert!(so.annotations().get(ANNOTATION_ORIGINAL).is_none());

    // Fixed: applied, and status says which generation it describes.
    let fix = json!({"spec": {"ecoModeOff": {"recurringSchedule": ["0 0 * * *"]}}});
    c.scalers().patch("bad", &PatchParams::default(), &Patch::Merge(fix)).await.expect("fix");
    c.wait_max(SO, "svc", Some(80)).await;
    let cr = c.wait_ready("bad", "CapApplied").await;
    assert_eq!(cr.status.and_then(|s| s.observed_generation), Some(2));
}

#[tokio::test]
async fn local_config_map_and_mock_sources() {
    let c = cluster(None).await; // no hub data at all
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("my-forecast".into());
    let series = hourly(t0(), c.clock.now(), &[95.0]);
    encode(&series, c.clock.now(), "").expect("encode").apply_to(&mut cm);
    let cms: Api<ConfigMap> = Api::namespaced(c.client.clone(), NS);
    cms.create(&PostParams::default(), &cm).await.expect("ConfigMap");

    c.create_target(SO, "local", json!({"maxReplicaCount": 100}), json!({})).await;
    let mut local = spec(SO, "local");
    local.carbon_intensity_forecast_data_source.local_config_map =
        Some(LocalConfigMap { name: "my-forecast".into(), namespace: NS.into(), key: "data".into() });
    c.create_scaler("local-carbon", local).await;
    c.wait_max(SO, "local", Some(10)).await; // 95 is in (90, 100]

    // Mock data lies in [529, 580): above every threshold, so the last bucket.
    c.create_target(SO, "mocked", json!({"maxReplicaCount": 100}), json!({})).await;
    let mut mock = spec(SO, "mocked");
    mock.carbon_intensity_forecast_data_source.mock_carbon_forecast = true;
    c.create_scaler("mock-carbon", mock).await;
    c.wait_max(SO, "mocked", Some(10)).await;

    // The hub source without data fails open, and says why.
    c.create_target(SO, "hubless", json!({"maxReplicaCount": 100}), json!({})).await;
    c.create_scaler("hub-carbon", spec(SO, "hubless")).await;
    c.wait_max(SO, "hubless", Some(i64::from(ECO_OFF_MAX))).await;
    let cr = wait_for(&c.scalers(), "hub-carbon", "ForecastAvailable=False", |cr| {
        cr.and_then(|cr| cr.status.as_ref()).is_some_and(|s| {
            s.conditions.iter().any(|c| c.type_ == "ForecastAvailable" && c.status == "False")
        })
    })
    .await
    .expect("cr");
    let text = serde_json::to_string(&cr.status).expect("json");
    assert!(text.contains("the hub has sent no forecast for zone GB yet"), "{text}");

    // Data arriving from the hub is picked up at once.
    c.hub.publish(hourly(t0(), c.clock.now(), &[30.0]));
    c.wait_max(SO, "hubless", Some(80)).await;
}

#[tokio::test]
async fn converges_through_conflicts_and_server_errors() {
    let c = cluster(Some(hourly(t0(), t0(), &[30.0, 67.0]))).await;
    let faults = c.sim.faults();
    let rules = [
        faults.add(FaultRule::error(409).verb(Verb::Patch).resource("scaledobjects").times(3)),
        faults.add(FaultRule::error(500).verb(Verb::Patch).resource("scaledobjects").times(2)),
        faults
            .add(FaultRule::error(500).verb(Verb::Patch).resource("carbonawarekedascalers/status").times(2)),
        faults.add(FaultRule::error(500).verb(Verb::Get).resource("scaledobjects").times(2)),
    ];
    c.create_target(SO, "flaky", json!({"maxReplicaCount": 100}), json!({})).await;
    c.create_scaler("flaky-carbon", spec(SO, "flaky")).await;
    c.wait_max(SO, "flaky", Some(80)).await;
    c.wait_ready("flaky-carbon", "CapApplied").await;
    for rule in rules {
        assert!(faults.fired(rule) > 0, "every fault was hit");
    }
    let text = c.metrics_text();
    assert!(text.contains("gridshift_carbon_aware_keda_scaler_reconcile_errors_total{"), "{text}");

    // Half of all writes fail from now on; the next boundary still lands.
    faults.add(FaultRule::error(500).verb(Verb::Patch).probability(0.5));
    c.clock.advance(SignedDuration::from_hours(1));
    c.wait_max(SO, "flaky", Some(20)).await;
    let so = c.targets(SO).get("flaky").await.expect("get");
    assert_eq!(so.annotations()[ANNOTATION_ORIGINAL], "100", "the original survived the retries");
}
