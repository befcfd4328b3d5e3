//! Watches and kube-runtime against the simulator: resourceVersion replay,
//! 410 Gone and relist, selector transitions, bookmarks, streaming lists, a
//! Controller patching status, fault injection and several clusters.

mod common;

use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use gridshift_sim::{FaultRule, SimConfig, SimFleet, SimServer, Verb};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::api::events::v1::Event as EventV1;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::wait::{await_condition, conditions};
use kube::runtime::watcher;
use kube::{CustomResource, CustomResourceExt, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::time::timeout;

/// Guard against hangs only; every wait below ends on an event.
const LIMIT: Duration = Duration::from_secs(20);

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "v"}})).unwrap()
}

#[tokio::test]
async fn watch_replays_from_resource_version_and_expires_after_compaction() {
    let sim = common::sim().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client().unwrap(), "default");
    let rv = api.list(&ListParams::default()).await.unwrap().metadata.resource_version.unwrap();
    api.create(&PostParams::default(), &cm("one")).await.unwrap();
    api.create(&PostParams::default(), &cm("two")).await.unwrap();
    api.delete("one", &Default::default()).await.unwrap();
    let mut stream = api.watch(&WatchParams::default(), &rv).await.unwrap().boxed();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        match timeout(LIMIT, stream.try_next()).await.unwrap().unwrap().unwrap() {
            WatchEvent::Added(o) => seen.push(format!("ADDED {}", o.name_any())),
            WatchEvent::Deleted(o) => seen.push(format!("DELETED {}", o.name_any())),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, ["ADDED one", "ADDED two", "DELETED one"]);

    sim.faults().compact();
    let mut stream = api.watch(&WatchParams::default(), &rv).await.unwrap().boxed();
    match timeout(LIMIT, stream.try_next()).await.unwrap().unwrap().unwrap() {
        WatchEvent::Error(e) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("expected 410, got {other:?}"),
    }
}

#[tokio::test]
async fn watcher_relists_after_410_gone() {
    let sim = common::sim().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client().unwrap(), "default");
    api.create(&PostParams::default(), &cm("a")).await.unwrap();
    let mut events = watcher(api.clone(), watcher::Config::default()).boxed();
    let mut next = async || timeout(LIMIT, events.next()).await.unwrap().unwrap();
    assert!(matches!(next().await.unwrap(), watcher::Event::Init));
    assert!(matches!(next().await.unwrap(), watcher::Event::InitApply(o) if o.name_any() == "a"));
    assert!(matches!(next().await.unwrap(), watcher::Event::InitDone));
    api.create(&PostParams::default(), &cm("b")).await.unwrap();
    assert!(matches!(next().await.unwrap(), watcher::Event::Apply(o) if o.name_any() == "b"));

    // Compaction ends the watch; resuming from b's RV is too old: 410, relist.
    sim.faults().compact();
    api.create(&PostParams::default(), &cm("c")).await.unwrap();
    let mut saw_gone = false;
    loop {
        match next().await {
            Err(watcher::Error::WatchError(e)) => {
                assert_eq!(e.code, 410);
                saw_gone = true;
            }
            Err(other) => panic!("unexpected watcher error {other:?}"),
            Ok(watcher::Event::Init) => break,
            Ok(other) => panic!("expected a relist, got {other:?}"),
        }
    }
    assert!(saw_gone, "the watcher saw 410 Gone before relisting");
    let mut relisted = Vec::new();
    loop {
        match next().await.unwrap() {
            watcher::Event::InitApply(o) => relisted.push(o.name_any()),
            watcher::Event::InitDone => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(relisted, ["a", "b", "c"]);
}

#[tokio::test]
async fn streaming_list_and_bookmarks() {
    let config = SimConfig { bookmark_interval: Duration::from_millis(50), ..SimConfig::default() };
    let sim = SimServer::start(config).await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(sim.client().unwrap(), "default");
    api.create(&PostParams::default(), &cm("s")).await.unwrap();
    let mut events = watcher(api.clone(), watcher::Config::default().streaming_lists()).boxed();
    let mut kinds = Vec::new();
    while kinds.last() != Some(&"InitDone") {
        let ev = timeout(LIMIT, events.next()).await.unwrap().unwrap().unwrap();
        kinds.push(match ev {
            watcher::Event::Init => "Init",
            watcher::Event::InitApply(_) => "InitApply",
            watcher::Event::InitDone => "InitDone",
            _ => "other",
        });
    }
    assert_eq!(kinds, ["Init", "InitApply", "InitDone"]);

    let rv = sim.resource_version().to_string();
    let mut raw = api.watch(&WatchParams::default(), &rv).await.unwrap().boxed();
    match timeout(LIMIT, raw.try_next()).await.unwrap().unwrap().unwrap() {
        WatchEvent::Bookmark(b) => assert_eq!(b.metadata.resource_version, rv),
        other => panic!("expected a bookmark, got {other:?}"),
    }
}

fn pod(name: &str) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": name},
        "spec": {"schedulerName": "carbon-aware-scheduler", "containers": [{"name": "c", "image": "x"}]}}))
    .unwrap()
}

#[tokio::test]
async fn field_selector_watch_sees_bound_pods_leave() {
    let sim = common::sim().await;
    let client = sim.client().unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let wp = WatchParams::default().fields("spec.schedulerName=carbon-aware-scheduler,spec.nodeName=");
    let mut stream = pods.watch(&wp, "0").await.unwrap().boxed();
    let created = pods.create(&PostParams::default(), &pod("p")).await.unwrap();
    assert!(matches!(
        timeout(LIMIT, stream.try_next()).await.unwrap().unwrap().unwrap(),
        WatchEvent::Added(_)
    ));
    let body = json!({"metadata": {"name": "p", "uid": created.metadata.uid}, "target": {"name": "n1"}});
    let req = http::Request::post("/api/v1/namespaces/default/pods/p/binding")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body).unwrap())
        .unwrap();
    client.request::<serde_json::Value>(req).await.unwrap();
    match timeout(LIMIT, stream.try_next()).await.unwrap().unwrap().unwrap() {
        WatchEvent::Deleted(p) => assert_eq!(p.spec.unwrap().node_name.as_deref(), Some("n1")),
        other => panic!("a pod leaving the selector is DELETED for this watch, got {other:?}"),
    }
}

#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, JsonSchema)]
#[kube(group = "test.gridshift.io", version = "v1", kind = "Widget", namespaced, status = "WidgetStatus")]
pub struct WidgetSpec {
    size: i32,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WidgetStatus {
    doubled: i32,
    observed_generation: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct ReconcileError(#[from] kube::Error);

async fn reconcile(w: Arc<Widget>, api: Arc<Api<Widget>>) -> Result<Action, ReconcileError> {
    let status = json!({"status": {"doubled": w.spec.size * 2, "observedGeneration": w.metadata.generation}});
    api.patch_status(&w.name_any(), &PatchParams::default(), &Patch::Merge(status)).await?;
    Ok(Action::await_change())
}

#[tokio::test]
async fn controller_reconciles_and_patches_status() {
    let sim = common::sim().await;
    let client = sim.client().unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &Widget::crd()).await.unwrap();
    let established = await_condition(crds, "widgets.test.gridshift.io", conditions::is_crd_established());
    timeout(LIMIT, established).await.unwrap().unwrap();

    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    let ctx = Arc::new(widgets.clone());
    let controller = Controller::new(widgets.clone(), watcher::Config::default())
        .run(reconcile, |_, _, _| Action::requeue(Duration::from_millis(100)), ctx)
        .for_each(|_| async {});
    let handle = tokio::spawn(controller);

    widgets.create(&PostParams::default(), &Widget::new("w", WidgetSpec { size: 2 })).await.unwrap();
    let doubled = |n: i32, generation: i64| {
        move |w: Option<&Widget>| {
            w.and_then(|w| w.status.as_ref())
                .is_some_and(|s| s.doubled == n && s.observed_generation == Some(generation))
        }
    };
    timeout(LIMIT, await_condition(widgets.clone(), "w", doubled(4, 1))).await.unwrap().unwrap();
    widgets.patch("w", &PatchParams::default(), &Patch::Merge(json!({"spec": {"size": 5}}))).await.unwrap();
    timeout(LIMIT, await_condition(widgets.clone(), "w", doubled(10, 2))).await.unwrap().unwrap();
    handle.abort();
}

#[tokio::test]
async fn faults_inject_errors_latency_and_closed_watches() {
    let sim = common::sim().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client().unwrap(), "default");
    api.create(&PostParams::default(), &cm("f")).await.unwrap();
    let faults = sim.faults();
    let id = faults.add(FaultRule::error(500).verb(Verb::Patch).resource("configmaps").times(1));
    let patch = Patch::Merge(json!({"data": {"x": "1"}}));
    match api.patch("f", &PatchParams::default(), &patch).await.unwrap_err() {
        kube::Error::Api(s) => assert_eq!((s.code, s.reason.as_str()), (500, "InternalError")),
        other => panic!("{other:?}"),
    }
    api.patch("f", &PatchParams::default(), &patch).await.unwrap();
    assert_eq!(faults.fired(id), 1);

    let slow = faults.add(FaultRule::latency(Duration::from_millis(200)).verb(Verb::Get));
    let started = std::time::Instant::now();
    api.get("f").await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(200));
    faults.remove(slow);

    faults.add(FaultRule::close_watch_after(Duration::from_millis(100)).resource("configmaps"));
    let rv = sim.resource_version().to_string();
    let mut stream = api.watch(&WatchParams::default(), &rv).await.unwrap().boxed();
    assert!(timeout(LIMIT, stream.try_next()).await.unwrap().unwrap().is_none(), "watch ended early");

    faults.clear();
    let mut stream = api.watch(&WatchParams::default(), &rv).await.unwrap().boxed();
    faults.close_watches();
    assert!(
        timeout(LIMIT, stream.try_next()).await.unwrap().unwrap().is_none(),
        "close_watches ends open watches"
    );
}

#[tokio::test]
async fn fleet_clusters_are_independent_and_share_a_kubeconfig() {
    let fleet = SimFleet::start(&["karmada", "member-a"], SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    fleet.write_kubeconfig(&path).unwrap();
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).unwrap();
    let options = kube::config::KubeConfigOptions { context: Some("member-a".into()), ..Default::default() };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options).await.unwrap();
    let member = kube::Client::try_from(config).unwrap();
    Api::<ConfigMap>::namespaced(member, "kube-system")
        .create(&PostParams::default(), &cm("carbon-intensity"))
        .await
        .unwrap();
    assert_eq!(fleet.get("member-a").unwrap().count("", "configmaps"), 1);
    assert_eq!(fleet.get("karmada").unwrap().count("", "configmaps"), 0);

    // Leases and events.k8s.io events, as the hub and agent write them.
    let host = fleet.get("karmada").unwrap().client().unwrap();
    let leases: Api<Lease> = Api::namespaced(host.clone(), "kube-system");
    let lease: Lease = serde_json::from_value(json!({"metadata": {"name": "gridshift-hub"},
        "spec": {"holderIdentity": "hub-0", "leaseDurationSeconds": 15}}))
    .unwrap();
    let created = leases.create(&PostParams::default(), &lease).await.unwrap();
    let mut stale = created.clone();
    let mut renewed = created.clone();
    renewed.spec.as_mut().unwrap().lease_duration_seconds = Some(30);
    leases.replace("gridshift-hub", &PostParams::default(), &renewed).await.unwrap();
    stale.spec.as_mut().unwrap().holder_identity = Some("hub-1".into());
    assert!(
        leases.replace("gridshift-hub", &PostParams::default(), &stale).await.is_err(),
        "lease takeover races conflict"
    );
    let events: Api<EventV1> = Api::namespaced(host, "default");
    let ev: EventV1 = serde_json::from_value(json!({"metadata": {"generateName": "w."},
        "eventTime": "2025-01-01T00:00:00.000000Z", "reason": "FailedScheduling", "type": "Warning", "action": "Scheduling",
        "reportingController": "carbon-aware-scheduler", "reportingInstance": "x",
        "regarding": {"kind": "Pod", "name": "p", "namespace": "default"}, "note": "0/3 nodes are available"})).unwrap();
    events.create(&PostParams::default(), &ev).await.unwrap();
    let found =
        events.list(&ListParams::default().fields("regarding.name=p,reason=FailedScheduling")).await.unwrap();
    assert_eq!(found.items.len(), 1);
}
