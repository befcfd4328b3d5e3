//! The carbon-aware scheduler controller against gridshift-sim: placement on the
//! cleanest feasible node, kube-scheduler's failure reports, deferral on the agent's
//! clock, deletion while waiting, binding conflicts, fail-open without data, and
//! leader election. Forecasts come from the repository's real 2022 traces.
mod support;

use std::sync::Arc;
use std::time::Duration;

use gridshift_api::meta::{
    ANNOTATION_BASELINE_INTENSITY, ANNOTATION_BOUND_AT, ANNOTATION_BOUND_INTENSITY, ANNOTATION_GRID_ZONE,
};
use gridshift_core::{ManualClock, ScaledClock, SharedClock, Zone};
use gridshift_sim::{FaultRule, Verb};
use jiff::SignedDuration;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams};
use serde_json::json;
use support::*;

const DAY: SignedDuration = SignedDuration::from_hours(24);

#[tokio::test]
async fn pods_land_on_the_cleanest_feasible_node_with_their_carbon_accounting() {
    let sim = sim().await;
    let client = sim.client().unwrap();
    let t = ts("2022-06-14T12:00:00Z");
    let zones = ["US-NW-BPAT", "GB", "US-CAL-CISO", "US-SE-SOCO"];
    for z in zones {
        let name = format!("node-{}", z.to_lowercase());
        // The cleanest zone's node is small; only the dirtiest has a GPU-ish label.
        let cpu = if z == "US-NW-BPAT" { "1" } else { "8" };
        let labels = if z == "US-SE-SOCO" { json!({"accel": "yes"}) } else { json!({}) };
        sim.upsert(node(&name, z, cpu, labels)).unwrap();
    }
    let clock: SharedClock = Arc::new(ManualClock::new(t));
    let series = zones.iter().map(|z| forecast(z, t, 24)).collect();
    // The agent was told its primary zone; the scheduler adds its nodes' zones.
    let (zones_tx, mut hello_zones) = tokio::sync::watch::channel(vec![Zone::known("GB")]);
    let replica = Replica::start_with_zones(
        client.clone(),
        clock,
        view(series, t, DAY),
        config("replica-a"),
        Some(zones_tx),
    );
    let published =
        tokio::time::timeout(LIMIT, hello_zones.wait_for(|z| z.len() == 4)).await.unwrap().unwrap().clone();
    assert_eq!(published, ["GB", "US-CAL-CISO", "US-NW-BPAT", "US-SE-SOCO"]);

    // Oracle: the cleanest zone among the nodes each pod can use, from the trace.
    let cleanest = |candidates: &[&'static str]| -> &'static str {
        candidates.iter().copied().min_by(|a, b| value_at(a, t).total_cmp(&value_at(b, t))).unwrap()
    };
    let mean = |candidates: &[&str]| {
        candidates.iter().map(|z| value_at(z, t)).sum::<f64>() / candidates.len() as f64
    };

    create(&client, &pod("small", "500m")).await;
    let small = bound(&client, "small").await;
    let expected = cleanest(&zones);
    assert_eq!(node_of(&small), format!("node-{}", expected.to_lowercase()));
    assert_eq!(annotation(&small, ANNOTATION_GRID_ZONE), Some(expected));
    let bound_i: f64 = annotation(&small, ANNOTATION_BOUND_INTENSITY).unwrap().parse().unwrap();
    assert!((bound_i - value_at(expected, t)).abs() < 0.05, "{bound_i}");
    let baseline: f64 = annotation(&small, ANNOTATION_BASELINE_INTENSITY).unwrap().parse().unwrap();
    assert!((baseline - mean(&zones)).abs() < 0.05, "baseline {baseline} vs feasible mean {}", mean(&zones));
    assert_eq!(annotation(&small, ANNOTATION_BOUND_AT), Some(t.to_string().as_str()));
    let scheduled = event(&client, "small", "Scheduled").await;
    assert_eq!(scheduled.reporting_controller.as_deref(), Some("carbon-aware-scheduler"));
    assert!(
        scheduled
            .note
            .unwrap()
            .starts_with(&format!("Successfully assigned default/small to node-{}", expected.to_lowercase()))
    );

    // Too big for the cleanest node (1 CPU, half used): the next cleanest that fits.
    create(&client, &pod("big", "2")).await;
    let big = bound(&client, "big").await;
    let fits: Vec<&'static str> = zones.iter().copied().filter(|z| *z != "US-NW-BPAT").collect();
    assert_eq!(node_of(&big), format!("node-{}", cleanest(&fits).to_lowercase()));
    let baseline: f64 = annotation(&big, ANNOTATION_BASELINE_INTENSITY).unwrap().parse().unwrap();
    assert!((baseline - mean(&fits)).abs() < 0.05, "the baseline is over feasible nodes only");

    // A selector leaves only the dirtiest node: it is used, and nothing is saved.
    let mut picky = pod("picky", "1");
    picky.spec.as_mut().unwrap().node_selector = Some([("accel".to_string(), "yes".to_string())].into());
    create(&client, &picky).await;
    assert_eq!(node_of(&bound(&client, "picky").await), "node-us-se-soco");

    // Accounting metrics: baseline minus bound, summed over the three pods.
    let expected_avoided =
        (mean(&zones) - value_at(expected, t)) + (mean(&fits) - value_at(cleanest(&fits), t));
    let m = &replica.metrics;
    replica.until("three pods accounted", |m| m.accounted_pods.get() == 3).await;
    assert!((m.intensity_avoided_sum.get() - expected_avoided).abs() < 1e-6);
    replica.stop().await;
}

#[tokio::test]
async fn infeasible_pods_get_kube_schedulers_failure_report_and_retry_when_a_node_appears() {
    let sim = sim().await;
    let client = sim.client().unwrap();
    let t = ts("2022-06-14T12:00:00Z");
    sim.upsert(node("small-1", "GB", "1", json!({}))).unwrap();
    sim.upsert(node("small-2", "GB", "1", json!({}))).unwrap();
    let mut tainted = node("tainted", "GB", "16", json!({}));
    tainted["spec"] = json!({"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]});
    sim.upsert(tainted).unwrap();
    let clock: SharedClock = Arc::new(ManualClock::new(t));
    let replica =
        Replica::start(client.clone(), clock, view(vec![forecast("GB", t, 24)], t, DAY), config("a"));

    create(&client, &pod("huge", "4")).await;
    let expected =
        "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu.";
    assert_eq!(unscheduled(&client, "huge", "Unschedulable").await, expected);
    let failed = event(&client, "huge", "FailedScheduling").await;
    assert_eq!(failed.note.as_deref(), Some(expected));
    assert_eq!(failed.type_.as_deref(), Some("Warning"));

    // A node that fits appears: the pod is retried and bound there.
    sim.upsert(node("roomy", "GB", "8", json!({}))).unwrap();
    assert_eq!(node_of(&bound(&client, "huge").await), "roomy");
    assert!(replica.metrics.attempts_with("unschedulable") >= 1);
    replica.stop().await;
}

#[tokio::test]
async fn a_deferrable_pod_waits_then_binds_exactly_at_its_planned_start() {
    let sim = sim().await;
    let client = sim.client().unwrap();
    // A GB winter evening peak; the night is cleaner.
    let t = ts("2022-01-11T17:00:00Z");
    sim.upsert(node("gb-1", "GB", "8", json!({}))).unwrap();
    let clock = ManualClock::new(t);
    let shared: SharedClock = Arc::new(clock.clone());
    let replica =
        Replica::start(client.clone(), shared, view(vec![forecast("GB", t, 24)], t, DAY), config("a"));

    let p = with_annotations(
        pod("batch", "1"),
        &[("gridshift.io/max-delay", "12h"), ("gridshift.io/expected-runtime", "1h")],
    );
    create(&client, &p).await;
    let message = unscheduled(&client, "batch", "WaitingForCleanerEnergy").await;
    // Oracle: the cleanest whole hour to start in within the 12 h slack.
    let (best, best_v) = (0..=12)
        .map(|h| t + SignedDuration::from_hours(h))
        .map(|s| (s, value_at("GB", s)))
        .fold(None, |acc: Option<(jiff::Timestamp, f64)>, c| match acc {
            Some(a) if a.1 <= c.1 => Some(a),
            _ => Some(c),
        })
        .unwrap();
    assert!(message.contains(&format!("planned start {best}")), "{message}");
    assert!(
        message.contains(&format!("starts by {} at the latest", t + SignedDuration::from_hours(12))),
        "{message}"
    );
    let waiting = event(&client, "batch", "WaitingForCleanerEnergy").await;
    assert_eq!(waiting.note.as_deref(), Some(message.as_str()));
    assert_eq!(replica.metrics.pods_deferred.get(), 1);
    replica.status_reaches("one pod deferred", |s| s.pods_deferred == 1 && s.pods_bound == 0).await;

    // Time passes on the agent's clock; the pod binds when it reaches the plan.
    clock.set(best);
    let bound_pod = bound(&client, "batch").await;
    replica
        .status_reaches("the pod bound, none waiting", |s| s.pods_bound == 1 && s.pods_deferred == 0)
        .await;
    assert_eq!(annotation(&bound_pod, ANNOTATION_BOUND_AT), Some(best.to_string().as_str()));
    let intensity: f64 = annotation(&bound_pod, ANNOTATION_BOUND_INTENSITY).unwrap().parse().unwrap();
    assert!((intensity - best_v).abs() < 0.05);
    // The baseline is what it would have had at creation.
    let baseline: f64 = annotation(&bound_pod, ANNOTATION_BASELINE_INTENSITY).unwrap().parse().unwrap();
    assert!((baseline - value_at("GB", t)).abs() < 0.05);
    replica.stop().await;
}

#[tokio::test]
async fn a_day_replays_in_seconds_and_the_pod_never_starts_early() {
    let sim = sim().await;
    let client = sim.client().unwrap();
    let t = ts("2022-01-11T21:00:00Z");
    sim.upsert(node("gb-1", "GB", "8", json!({}))).unwrap();
    // One simulated hour per real second.
    let clock = Arc::new(ScaledClock::new(t, 3600.0));
    let shared: SharedClock = clock.clone();
    let view = view(vec![forecast("GB", t, 24)], t, DAY);
    let replica = Replica::start(client.clone(), shared, view, config("a"));

    let p = with_annotations(pod("nightly", "1"), &[("gridshift.io/max-delay", "8h")]);
    create(&client, &p).await;
    let message = unscheduled(&client, "nightly", "WaitingForCleanerEnergy").await;
    let planned: jiff::Timestamp =
        message.split("planned start ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    let bound_pod = bound(&client, "nightly").await;
    let at: jiff::Timestamp = annotation(&bound_pod, ANNOTATION_BOUND_AT).unwrap().parse().unwrap();
    assert!(at >= planned, "bound at {at}, before its planned start {planned}");
    // Timer and API latency, in simulated time (1 real second = 1 simulated hour).
    assert!(at.duration_since(planned) < SignedDuration::from_mins(30), "bound at {at}, planned {planned}");
    replica.stop().await;
}

#[tokio::test]
async fn a_pod_deleted_while_waiting_is_dropped() {
    let sim = sim().await;
    let client = sim.client().unwrap();
    let t = ts("2022-01-11T17:00:00Z");
    sim.upsert(node("gb-1", "GB", "8", json!({}))).unwrap();
    let clock = ManualClock::new(t);
    let shared: SharedClock = Arc::new(clock.clone());
    let replica =
        Replica::start(client.clone(), shared, view(vec![forecast("GB", t, 24)], t, DAY), config("a"));

    create(&client, &with_annotations(pod("doomed", "1"), &[("gridshift.io/max-delay", "12h")])).await;
    unscheduled(&client, "doomed", "WaitingForCleanerEnergy").await;
    replica.until("the pod waiting", |m| m.pending.get_or_create(&queue("waiting")).get() == 1).await;
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    api.delete("doomed", &DeleteParams::default()).await.unwrap();
    replica.until("the pod dropped", |m| m.pending.get_or_create(&queue("waiting")).get() == 0).await;

    // Past any plan and latest start: nothing is left to bind. A new pod proves the
    // loop is alive and has moved on.
    clock.advance(DAY);
    create(&client, &pod("next", "1")).await;
    bound(&client, "next").await;
    assert_eq!(replica.metrics.attempts_with("bind"), 1, "only the new pod was bound");
    assert!(events(&client, "doomed", "Scheduled").await.is_empty());
    replica.stop().await;
}

fn queue(q: &'static str) -> gridshift_agent::scheduler::controller::metrics::QueueLabel {
    gridshift_agent::scheduler::controller::metrics::QueueLabel { queue: q }
}

#[tokio::test]
async fn a_409_on_bind_requeues_a_pod_that_still_needs_a_node() {
    let sim = sim().await;
    let client = sim.client().unwrap();
    let t = ts("2022-06-14T12:00:00Z");
    sim.upsert(node("gb-1", "GB", "8", json!({}))).unwrap();
    let clock: SharedClock = Arc::new(ManualClock::new(t));
    let conflict =
        sim.faults().add(FaultRule::error(409).verb(Verb::Create).resource("pods/binding").times(1));
    let replica =
        Replica::start(client.clone(), clock, view(vec![forecast("GB", t, 24)], t, DAY), config("a"));

    create(&client, &pod("retried", "1")).await;
    assert_eq!(node_of(&bound(&client, "retried").await), "gb-1");
    assert_eq!(sim.faults().fired(conflict), 1);
    assert_eq!(replica.metrics.bind_conflicts.get(), 1);
    assert_eq!(replica.metrics.attempts_with("bind"), 2, "decided again after the conflict");
    replica.stop().await;
}

#[tokio::test]
async fn a_409_for_a_pod_being_deleted_drops_it_and_frees_its_assumed_room() {
    let sim = sim().await;
    let client = sim.client().unwrap();
    let t = ts("2022-06-14T12:00:00Z");
    sim.upsert(node("gb-1", "GB", "1", json!({}))).unwrap();
    let clock: SharedClock = Arc::new(ManualClock::new(t));
    // The first binding takes 2 s to reach the store: time to delete its pod.
    sim.faults().add(FaultRule::latency(Duration::from_secs(2)).resource("pods/binding").times(1));
    let replica =
        Replica::start(client.clone(), clock, view(vec![forecast("GB", t, 24)], t, DAY), config("a"));

    // A finalizer keeps the deleted pod around, so the binding meets it and gets 409.
    let mut first = pod("first", "1");
    first.metadata.finalizers = Some(vec!["test.gridshift.io/hold".into()]);
    create(&client, &first).await;
    replica.until("the first binding in flight", |m| m.attempts_with("bind") == 1).await;
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    api.delete("first", &DeleteParams::default()).await.unwrap();
    // Meanwhile the node looks full (the first pod is assumed onto it).
    create(&client, &pod("second", "1")).await;
    replica.until("the conflict", |m| m.bind_conflicts.get() == 1).await;
    // The assumption is forgotten: the second pod gets the node.
    assert_eq!(node_of(&bound(&client, "second").await), "gb-1");
    let first = api.get("first").await.unwrap();
    assert!(first.spec.unwrap().node_name.is_none(), "a pod being deleted is never bound");
    assert_eq!(replica.metrics.attempts_with("bind"), 2, "the deleted pod was not retried");
    replica.stop().await;
}

#[tokio::test]
async fn without_data_pods_are_scheduled_at_once() {
    let sim = sim().await;
    let client = sim.client().unwrap();
    let t = ts("2022-01-11T17:00:00Z");
    sim.upsert(node("gb-1", "GB", "8", json!({}))).unwrap();
    sim.upsert(node("soco-1", "US-SE-SOCO", "8", json!({}))).unwrap();
    let clock: SharedClock = Arc::new(ManualClock::new(t));
    // The hub answered but has nothing for these zones.
    let replica = Replica::start(client.clone(), clock, view(vec![], t, DAY), config("a"));

    create(&client, &with_annotations(pod("deferrable", "1"), &[("gridshift.io/max-delay", "12h")])).await;
    let p = bound(&client, "deferrable").await;
    assert_eq!(annotation(&p, ANNOTATION_BOUND_AT), Some(t.to_string().as_str()), "at once");
    assert_eq!(annotation(&p, ANNOTATION_BOUND_INTENSITY), None);
    let note = event(&client, "deferrable", "StartingNow").await.note.unwrap();
    assert!(note.contains("fail-open"), "{note}");

    // Stale data is no data: a forecast obtained 3 h ago with a 2 h bound.
    let old = t - SignedDuration::from_hours(3);
    replica.forecast.send_replace(Arc::new(view(
        vec![forecast("GB", old, 24)],
        old,
        SignedDuration::from_hours(2),
    )));
    create(&client, &with_annotations(pod("stale", "1"), &[("gridshift.io/max-delay", "12h")])).await;
    let p = bound(&client, "stale").await;
    assert_eq!(annotation(&p, ANNOTATION_BOUND_AT), Some(t.to_string().as_str()));
    assert_eq!(replica.metrics.pods_deferred.get(), 0);
    replica.stop().await;
}

#[tokio::test]
async fn a_waiting_pod_is_released_when_its_data_goes_away() {
    let sim = sim().await;
    let client = sim.client().unwrap();
    let t = ts("2022-01-11T17:00:00Z");
    sim.upsert(node("gb-1", "GB", "8", json!({}))).unwrap();
    let clock: SharedClock = Arc::new(ManualClock::new(t));
    let replica =
        Replica::start(client.clone(), clock, view(vec![forecast("GB", t, 24)], t, DAY), config("a"));
    create(&client, &with_annotations(pod("patient", "1"), &[("gridshift.io/max-delay", "12h")])).await;
    unscheduled(&client, "patient", "WaitingForCleanerEnergy").await;
    // The hub drops the zone: the next forecast has nothing for it. Fail open.
    replica.forecast.send_replace(Arc::new(view(vec![], t, DAY)));
    let p = bound(&client, "patient").await;
    assert_eq!(annotation(&p, ANNOTATION_BOUND_AT), Some(t.to_string().as_str()));
    replica.stop().await;
}

#[tokio::test]
async fn topology_bound_volumes_are_refused_with_a_clear_event() {
    let sim = sim().await;
    let client = sim.client().unwrap();
    let t = ts("2022-06-14T12:00:00Z");
    sim.upsert(node("gb-1", "GB", "8", json!({}))).unwrap();
    sim.upsert(json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "local"}, "provisioner": "x", "volumeBindingMode": "WaitForFirstConsumer"}))
        .unwrap();
    sim.upsert(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": "default"}, "spec": {"storageClassName": "local"}}))
        .unwrap();
    let clock: SharedClock = Arc::new(ManualClock::new(t));
    let _replica =
        Replica::start(client.clone(), clock, view(vec![forecast("GB", t, 24)], t, DAY), config("a"));
    let mut p = pod("stateful", "1");
    p.spec.as_mut().unwrap().volumes = Some(vec![
        serde_json::from_value(json!({"name": "data", "persistentVolumeClaim": {"claimName": "data"}}))
            .unwrap(),
    ]);
    create(&client, &p).await;
    let message = unscheduled(&client, "stateful", "Unschedulable").await;
    assert!(message.starts_with("0/1 nodes are available: pod has unbound PersistentVolumeClaims with volumeBindingMode WaitForFirstConsumer"), "{message}");
    assert!(message.contains("carbon-aware-scheduler does not bind such volumes"), "{message}");
    let failed = event(&client, "stateful", "FailedScheduling").await;
    assert_eq!(failed.note.as_deref(), Some(message.as_str()));
}

#[tokio::test]
async fn a_second_replica_without_the_lease_never_binds() {
    let sim = sim().await;
    let client = sim.client().unwrap();
    let t = ts("2022-06-14T12:00:00Z");
    sim.upsert(node("gb-1", "GB", "64", json!({}))).unwrap();
    let elected = |id: &str| {
        let mut cfg = config(id);
        cfg.leader.enabled = true;
        cfg.leader.lease_duration = Duration::from_secs(4);
        cfg.leader.renew_grace = Duration::from_secs(2);
        cfg
    };
    let data = || view(vec![forecast("GB", t, 24)], t, DAY);
    let clock: SharedClock = Arc::new(ManualClock::new(t));
    let a = Replica::start(client.clone(), clock.clone(), data(), elected("replica-a"));
    a.until("replica-a leading", |m| m.leader.get() == 1).await;
    let b = Replica::start(client.clone(), clock.clone(), data(), elected("replica-b"));

    for i in 0..5 {
        create(&client, &pod(&format!("p{i}"), "1")).await;
    }
    for i in 0..5 {
        let name = format!("p{i}");
        bound(&client, &name).await;
        let e = event(&client, &name, "Scheduled").await;
        assert_eq!(e.reporting_instance.as_deref(), Some("replica-a"));
    }
    assert_eq!(b.metrics.leader.get(), 0);
    for result in ["bind", "unschedulable", "waiting", "gated"] {
        assert_eq!(b.metrics.attempts_with(result), 0, "the standby decided nothing ({result})");
    }
    assert_eq!(a.metrics.attempts_with("bind"), 5);

    // The leader stops and releases the lease; the standby takes over.
    a.stop().await;
    b.until("replica-b leading", |m| m.leader.get() == 1).await;
    create(&client, &pod("after", "1")).await;
    bound(&client, "after").await;
    let e = event(&client, "after", "Scheduled").await;
    assert_eq!(e.reporting_instance.as_deref(), Some("replica-b"));
    b.stop().await;
}
