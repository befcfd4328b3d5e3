//! The carbon-intensity ConfigMap against gridshift-sim: present and well-formed across
//! hub outages and agent restarts, updated in place, last good data kept, API faults
//! retried until the write lands.
mod common;

use common::{BOUND, FakeHub, LIMIT, ZONE, hourly, sim, t0, wait_for};
use futures::StreamExt;
use gridshift_agent::configmap::{ConfigMapWriter, WriterConfig, WriterMetrics, load_last_forecast};
use gridshift_agent::metrics::StreamMetrics;
use gridshift_agent::stream::{ClientConfig, StreamClient};
use gridshift_core::{Clock, ManualClock, Series, Zone};
use gridshift_ops::runtime::Shutdown;
use gridshift_proto::v1;
use gridshift_sim::{FaultRule, Verb};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::watcher;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

const NS: &str = "kube-system";
const NAME: &str = "carbon-intensity";

fn config() -> WriterConfig {
    WriterConfig {
        retry_initial: Duration::from_millis(10),
        retry_max: Duration::from_millis(100),
        ..WriterConfig::new(NS, NAME)
    }
}

fn data(cm: &ConfigMap, key: &str) -> String {
    cm.data.as_ref().and_then(|d| d.get(key)).cloned().unwrap_or_default()
}

/// Checks every field of the exporter format and its type against `want`; returns the
/// decoded records so callers can compare data across writes.
fn assert_well_formed(cm: &ConfigMap, want: &Series) -> Vec<Value> {
    let records: Vec<Value> = {
        let raw = &cm.binary_data.as_ref().expect("binaryData")["data"].0;
        serde_json::from_slice(raw).expect("binaryData.data is JSON")
    };
    assert_eq!(records.len(), want.points.len());
    for (r, p) in records.iter().zip(&want.points) {
        let o = r.as_object().expect("record is an object");
        let mut keys: Vec<&str> = o.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["duration", "location", "timestamp", "value"]);
        assert_eq!(o["location"].as_str(), Some(ZONE));
        let ts: Timestamp = o["timestamp"].as_str().expect("timestamp string").parse().expect("RFC3339");
        assert_eq!(ts, p.start);
        assert_eq!(o["duration"].as_i64(), Some(p.duration.as_mins()), "duration in whole minutes");
        assert!(o["duration"].is_i64());
        assert_eq!(o["value"].as_f64(), Some(p.value));
    }
    let heartbeat: Timestamp = data(cm, "lastHeartbeatTime").parse().expect("heartbeat is RFC3339");
    assert!(heartbeat >= want.generated_at);
    assert_eq!(data(cm, "numOfRecords").parse::<usize>().expect("integer"), records.len());
    let start: Timestamp = data(cm, "forecastDateTime").parse().expect("forecastDateTime RFC3339");
    assert_eq!(start, want.points[0].start);
    let values = want.points.iter().map(|p| p.value);
    let (min, max) = (values.clone().fold(f64::MAX, f64::min), values.fold(f64::MIN, f64::max));
    assert_eq!(data(cm, "minForecast"), format!("{min:.6}"));
    assert_eq!(data(cm, "maxForecast"), format!("{max:.6}"));
    assert!(!data(cm, "message").is_empty(), "message always explains");
    records
}

fn start_writer(
    client: kube::Client,
    clock: &ManualClock,
    forecast: gridshift_agent::forecast::ForecastHandle,
) -> (Shutdown, tokio::task::JoinHandle<()>) {
    let stop = Shutdown::new();
    let writer =
        ConfigMapWriter::new(client, config(), Arc::new(clock.clone()), forecast, WriterMetrics::default());
    (stop.clone(), tokio::spawn(writer.run(stop)))
}

fn message_contains(text: &'static str) -> impl FnMut(Option<&ConfigMap>) -> bool {
    move |cm| cm.is_some_and(|cm| data(cm, "message").contains(text))
}

#[tokio::test]
async fn present_and_well_formed_across_hub_outage_and_restart() {
    let sim = sim().await;
    let client = sim.client().expect("client");
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), NS);
    // Every change the ConfigMap goes through, to prove it is never deleted or recreated.
    let (history, observed) = observe(api.clone()).await;

    let clock = ManualClock::new(t0() + SignedDuration::from_mins(30));
    let series = hourly(t0(), t0(), &[212.0, 198.5, 187.0, 240.0, 260.0, 255.0, 230.0, 201.0]);
    let (hub, forecast) = FakeHub::new(Some(series.clone()), clock.now());
    let (stop, writer) = start_writer(client.clone(), &clock, forecast);

    let cm =
        wait_for(&api, NAME, "the first write", message_contains("forecast from the hub")).await.expect("cm");
    let first = assert_well_formed(&cm, &series);
    assert_eq!(data(&cm, "lastHeartbeatTime"), clock.now().to_string());

    // Someone else's key survives our writes (updated in place, never replaced).
    api.patch(NAME, &PatchParams::default(), &Patch::Merge(json!({"data": {"owner": "ops"}})))
        .await
        .expect("patch");

    // The hub goes away: same data, the message says so.
    hub.disconnect();
    let cm = wait_for(&api, NAME, "hub loss in message", message_contains("hub unreachable since"))
        .await
        .expect("cm");
    assert_eq!(assert_well_formed(&cm, &series), first);
    // The heartbeat moves with the (simulated) clock.
    clock.advance(SignedDuration::from_mins(1));
    let beat = clock.now().to_string();
    let cm = wait_for(&api, NAME, "next heartbeat", |cm| {
        cm.is_some_and(|cm| data(cm, "lastHeartbeatTime") == beat)
    })
    .await
    .expect("cm");
    assert_eq!(data(&cm, "owner"), "ops");

    // Agent restart, hub still away: the last forecast comes back from the ConfigMap.
    stop.trigger();
    writer.await.expect("writer stops");
    clock.advance(SignedDuration::from_hours(1));
    let seed = load_last_forecast(client.clone(), NS, NAME).await.expect("reload").expect("a forecast");
    assert_eq!(seed.zone, ZONE);
    assert_eq!(seed.generated_at, series.generated_at, "the true age survives the restart");
    let points = |s: &Series| s.points.iter().map(|p| (p.start, p.duration, p.value)).collect::<Vec<_>>();
    assert_eq!(points(&seed), points(&series));

    let unreachable = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", l.local_addr().expect("addr"))
    };
    let (_zones_tx, zones) = watch::channel(vec![Zone::known(ZONE)]);
    let (_status_tx, status) = watch::channel(v1::AgentStatus::default());
    let shared_clock: gridshift_core::SharedClock = Arc::new(clock.clone());
    let client_config = ClientConfig::new(unreachable, "member-gb", None);
    let (stream, forecast) =
        StreamClient::new(client_config, shared_clock, zones, status, vec![seed], StreamMetrics::default());
    let stop_stream = Shutdown::new();
    let stream = tokio::spawn(stream.run(stop_stream.clone()));
    let view = forecast.current();
    assert!(view.fresh(ZONE, clock.now()).is_some(), "served within the staleness bound after a restart");

    let (stop, writer) = start_writer(client.clone(), &clock, forecast.clone());
    let cm =
        wait_for(&api, NAME, "restarted writer", message_contains("hub not reached since the agent started"))
            .await
            .expect("cm");
    assert_eq!(assert_well_formed(&cm, &series), first, "the restarted agent kept the data");

    // Past the staleness bound the data stays, and the message tells consumers to ignore it.
    clock.advance(BOUND);
    let cm = wait_for(&api, NAME, "stale message", message_contains("STALE")).await.expect("cm");
    assert_eq!(assert_well_formed(&cm, &series), first);
    assert!(forecast.current().fresh(ZONE, clock.now()).is_none(), "the agent itself fails open");

    stop.trigger();
    writer.await.expect("writer stops");
    stop_stream.trigger();
    stream.await.expect("stream client stops");

    history.send_replace(true);
    let (uids, deletes, changes) = observed.await.expect("observer");
    assert_eq!(deletes, 0, "the ConfigMap was never deleted");
    assert_eq!(uids.len(), 1, "one object throughout: never recreated");
    assert!(changes >= 5, "updated in place {changes} times");
}

/// Watches the ConfigMap until told to stop; returns (uids seen, deletions, updates).
async fn observe(
    api: Api<ConfigMap>,
) -> (watch::Sender<bool>, tokio::task::JoinHandle<(BTreeSet<String>, usize, usize)>) {
    let (stop, mut stopped) = watch::channel(false);
    let (ready_tx, ready) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let mut events =
            watcher(api, watcher::Config::default().fields("metadata.name=carbon-intensity")).boxed();
        let (mut uids, mut deletes, mut changes, mut ready_tx) = (BTreeSet::new(), 0, 0, Some(ready_tx));
        loop {
            tokio::select! {
                _ = stopped.wait_for(|s| *s) => return (uids, deletes, changes),
                event = events.next() => match event.expect("watch stream") {
                    Ok(watcher::Event::InitDone) => {
                        if let Some(tx) = ready_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(watcher::Event::Apply(cm) | watcher::Event::InitApply(cm)) => {
                        uids.insert(cm.metadata.uid.unwrap_or_default());
                        changes += 1;
                    }
                    Ok(watcher::Event::Delete(_)) => deletes += 1,
                    _ => {}
                },
            }
        }
    });
    tokio::time::timeout(LIMIT, ready).await.expect("watch started").expect("ready");
    (stop, task)
}

#[tokio::test]
async fn created_empty_then_filled_and_api_faults_are_retried() {
    let sim = sim().await;
    let client = sim.client().expect("client");
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), NS);
    let faults = sim.faults();
    let create_500 = faults.add(FaultRule::error(500).verb(Verb::Create).resource("configmaps").times(2));
    let clock = ManualClock::new(t0());
    let (hub, forecast) = FakeHub::new(None, clock.now());
    let (stop, writer) = start_writer(client.clone(), &clock, forecast);

    // No forecast yet: an empty but well-formed ConfigMap, saying why.
    let cm = wait_for(&api, NAME, "empty ConfigMap", message_contains("no forecast for zone GB yet"))
        .await
        .expect("cm");
    assert_eq!(faults.fired(create_500), 2);
    assert_eq!(data(&cm, "numOfRecords"), "0");
    assert_eq!(&cm.binary_data.as_ref().expect("binaryData")["data"].0, b"[]");
    assert_eq!(load_last_forecast(client.clone(), NS, NAME).await.expect("reload"), None);

    // Conflicts and server errors on the update: retried with backoff until it lands.
    let conflict = faults.add(FaultRule::error(409).verb(Verb::Patch).resource("configmaps").times(2));
    let broken = faults.add(FaultRule::error(500).verb(Verb::Patch).resource("configmaps").times(2));
    let series = hourly(t0(), t0(), &[150.0, 160.0]);
    hub.publish(series.clone());
    let cm = wait_for(&api, NAME, "the forecast", |cm| cm.is_some_and(|cm| data(cm, "numOfRecords") == "2"))
        .await
        .expect("cm");
    assert_well_formed(&cm, &series);
    assert_eq!((faults.fired(conflict), faults.fired(broken)), (2, 2));

    // A forecast that cannot be encoded keeps the last good data and says why.
    let mut odd = hourly(t0(), t0(), &[1.0]);
    odd.points[0].duration = SignedDuration::from_secs(90);
    hub.publish(odd);
    let cm = wait_for(&api, NAME, "encode failure", message_contains("cannot encode the forecast"))
        .await
        .expect("cm");
    assert_well_formed(&cm, &series);
    stop.trigger();
    tokio::time::timeout(LIMIT, writer).await.expect("stops").expect("joins");
}
