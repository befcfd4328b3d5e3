//! The whole mission with the real `gridshift-hub` and `gridshift-agent`
//! binaries as separate processes against simulated Karmada and member
//! clusters, replaying real 2022 data on an accelerated clock.
use gridshift_e2e::observe::{self, FleetView};
use gridshift_e2e::scenario::{self, BATCH_POLICY, CAPS, ECO_OFF_MAX, NAMESPACE};
use gridshift_e2e::trace::Traces;
use gridshift_e2e::wait;
use gridshift_e2e::workload::{Kubelet, PodSource};
use gridshift_e2e::{Fleet, FleetConfig, repo_path};
use gridshift_sim::FaultRule;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use kube::Api;
use kube::api::ListParams;
use std::collections::BTreeMap;
use std::time::Duration;

/// 2022-03-15: California's solar dip makes it cleaner than Great Britain in
/// the Pacific afternoon and dirtier at night; PJM stays dirtiest throughout.
const START: &str = "2022-03-15T00:00:00Z";
/// Simulated seconds per real second: a simulated day in 48 s.
const SPEED: f64 = 1800.0;

fn cap_for(intensity: f64) -> i64 {
    // The original operator's rule: first bucket with previous < v <= threshold;
    // above the top (or v <= 0) the last bucket.
    if intensity <= 0.0 {
        return CAPS[CAPS.len() - 1].1;
    }
    CAPS.iter().find(|(t, _)| intensity <= *t as f64).map_or(CAPS[CAPS.len() - 1].1, |(_, m)| *m)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_fleet_follows_clean_energy_and_survives_failures() {
    gridshift_ops::install_crypto_provider();
    let traces = Traces::load(&repo_path("e2e/data/carbon-intensity-open")).unwrap();
    let start: Timestamp = START.parse().unwrap();
    let mut fleet = Fleet::start(FleetConfig::three_members(start, SPEED)).await.unwrap();
    scenario::apply(&fleet).unwrap();

    let mut placement = PlacementLog::default();
    let mut pods = Workloads::new(&fleet);
    let mut keda = KedaCheck::default();

    // Phase 1: twelve simulated hours of normal operation.
    run_until(&mut fleet, start + SignedDuration::from_hours(12), &mut placement, &mut pods, &mut keda).await;

    // Phase 2: the hub crashes for three simulated hours. Agents keep their
    // last forecast: ConfigMaps stay present and current, caps stay applied.
    fleet.hub.kill().await;
    let outage_end = fleet.clock.now() + SignedDuration::from_hours(3);
    run_until(&mut fleet, outage_end, &mut placement, &mut pods, &mut keda).await;
    for member in &fleet.members {
        assert_configmap_matches_zone(member, &traces, fleet.clock.now()).await;
    }
    fleet.hub.start().unwrap();
    fleet.wait_connected(Duration::from_secs(30)).await.unwrap();

    // Phase 3: member-us-east's API server fails every request for two
    // simulated hours; the others carry on, and it converges afterwards.
    let east = fleet.member("member-us-east");
    let fault = east.sim.faults().add(FaultRule::error(500));
    let others_before = heartbeats(&fleet).await;
    let fault_end = fleet.clock.now() + SignedDuration::from_hours(2);
    run_until(&mut fleet, fault_end, &mut placement, &mut pods, &mut keda).await;
    let others_after = heartbeats(&fleet).await;
    for name in ["member-us-west", "member-gb"] {
        assert!(
            others_after[name] > others_before[name],
            "{name}'s ConfigMap stopped while member-us-east failed"
        );
    }
    fleet.member("member-us-east").sim.faults().remove(fault);
    let recovered = fleet.member("member-us-east");
    let converged = wait::until(Duration::from_secs(30), Duration::from_millis(200), || async {
        let now = fleet.clock.now();
        configmap_intensity(recovered, now)
            .await
            .filter(|v| Some(*v) == traces.at(recovered.primary_zone(), now))
    })
    .await;
    assert!(converged.is_some(), "member-us-east did not converge after its API recovered");

    // Phase 4: the rest of the day.
    run_until(&mut fleet, start + SignedDuration::from_hours(24), &mut placement, &mut pods, &mut keda).await;
    fleet.stop().await;

    // The policy moved with the grid: at least one switch (California's solar
    // dip against Britain's night), bounded by the three-hour dwell time, and
    // every switch went to a cluster that was cleaner at the time.
    let switches = placement.switches();
    assert!(!switches.is_empty(), "batch-analytics never moved: {placement:?}");
    assert!(switches.len() <= 24 / 3 + 1, "too many switches for a 3 h dwell: {switches:?}");
    for (at, from, to) in &switches {
        let zone = |c: &str| fleet.member(c).primary_zone().to_string();
        let (v_from, v_to) = (traces.at(&zone(from), *at), traces.at(&zone(to), *at));
        // The hub ranks on what it knew when it decided; allow the hour edge.
        let earlier = |c: &str| traces.at(&zone(c), *at - SignedDuration::from_hours(1));
        assert!(
            v_to < v_from || earlier(to) < earlier(from),
            "switch at {at} from {from} ({v_from:?}) to {to} ({v_to:?}) was not to a cleaner cluster"
        );
    }
    assert!(keda.agreed >= 30, "KEDA caps agreed with the buckets only {} times", keda.agreed);
    pods.assert_outcomes(&fleet).await;
}

#[derive(Debug, Default)]
struct PlacementLog {
    /// (simulated time, active clusters) each time the set changed.
    changes: Vec<(Timestamp, Vec<String>)>,
}

impl PlacementLog {
    fn record(&mut self, now: Timestamp, clusters: Vec<String>) {
        assert!(!clusters.is_empty(), "the PropagationPolicy's clusterNames became empty at {now}");
        if self.changes.last().map(|(_, c)| c) != Some(&clusters) {
            self.changes.push((now, clusters));
        }
    }

    /// Completed moves from one single cluster to another (make-before-break
    /// passes through a two-cluster state in between).
    fn switches(&self) -> Vec<(Timestamp, String, String)> {
        let singles: Vec<&(Timestamp, Vec<String>)> =
            self.changes.iter().filter(|(_, c)| c.len() == 1).collect();
        singles
            .windows(2)
            .filter(|w| w[0].1 != w[1].1)
            .map(|w| (w[1].0, w[0].1[0].clone(), w[1].1[0].clone()))
            .collect()
    }
}

struct Workloads {
    sources: Vec<PodSource>,
    kubelets: Vec<Kubelet>,
}

impl Workloads {
    fn new(fleet: &Fleet) -> Self {
        Self {
            sources: fleet
                .members
                .iter()
                .map(|_| PodSource::new(SignedDuration::from_mins(90), SignedDuration::from_hours(8)))
                .collect(),
            kubelets: fleet.members.iter().map(|_| Kubelet::default()).collect(),
        }
    }

    async fn drive(&mut self, fleet: &Fleet, now: Timestamp) {
        for ((member, source), kubelet) in fleet.members.iter().zip(&mut self.sources).zip(&mut self.kubelets)
        {
            let Ok(client) = member.sim.client() else { continue };
            let pods: Api<Pod> = Api::namespaced(client, NAMESPACE);
            // A member whose API fails simply gets its pods later.
            if gridshift_e2e::workload::create(&pods, source.due(now)).await.is_ok() {
                let _ = kubelet.tick(&pods, now).await;
            }
        }
    }

    /// Pods that must start now were bound to the member's cleanest node
    /// region; deferrable pods are bound by now or still within their slack.
    async fn assert_outcomes(&self, fleet: &Fleet) {
        let now = fleet.clock.now();
        let west = fleet.member("member-us-west");
        let client = west.sim.client().unwrap();
        let nodes: BTreeMap<String, String> = Api::<Node>::all(client.clone())
            .list(&ListParams::default())
            .await
            .unwrap()
            .into_iter()
            .map(|n| {
                let region = n.metadata.labels.unwrap_or_default()["topology.kubernetes.io/region"].clone();
                (n.metadata.name.unwrap_or_default(), region)
            })
            .collect();
        let pods = Api::<Pod>::namespaced(client, NAMESPACE).list(&ListParams::default()).await.unwrap();
        let (mut immediate, mut deferred_bound) = (0, 0);
        for pod in &pods {
            let deferrable = pod.metadata.labels.as_ref().unwrap()["gridshift.io/demo-deferrable"] == "true";
            let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
            let created: Timestamp = pod
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("gridshift.io/deadline"))
                .map_or(now, |d| d.parse().unwrap());
            match (deferrable, node) {
                (false, Some(node)) => {
                    // US-NW-BPAT (hydro) is far cleaner than California all day.
                    assert_eq!(
                        nodes[&node],
                        "kind-us-northwest",
                        "{} went to {node}",
                        pod.metadata.name.as_deref().unwrap()
                    );
                    immediate += 1;
                }
                (false, None) => panic!("pod {:?} that must start now was never bound", pod.metadata.name),
                (true, Some(_)) => deferred_bound += 1,
                (true, None) => assert!(
                    created > now,
                    "deferrable pod {:?} is past its deadline and unbound",
                    pod.metadata.name
                ),
            }
        }
        assert!(immediate >= 5, "only {immediate} immediate pods in member-us-west");
        assert!(deferred_bound >= 3, "only {deferred_bound} deferrable pods were ever bound");
    }
}

async fn run_until(
    fleet: &mut Fleet,
    until: Timestamp,
    placement: &mut PlacementLog,
    pods: &mut Workloads,
    keda: &mut KedaCheck,
) {
    let host = fleet.host.client().unwrap();
    let pps = observe::api(
        &host,
        "policy.karmada.io",
        "v1alpha1",
        "PropagationPolicy",
        "propagationpolicies",
        Some(NAMESPACE),
    );
    while fleet.clock.now() < until {
        let now = fleet.clock.now();
        let pp = pps.get(BATCH_POLICY).await.unwrap();
        let names = pp.data["spec"]["placement"]["clusterAffinity"]["clusterNames"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        placement.record(now, names);
        pods.drive(fleet, now).await;
        if let Ok(view) = FleetView::read(fleet).await {
            keda.observe(&view);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The ScaledObject's cap is the bucket of the member's current intensity (or
/// the eco-mode-off maximum). Right after an hour boundary the cap may lag by
/// one reconcile, so only a mismatch lasting 30 simulated minutes fails.
#[derive(Default)]
struct KedaCheck {
    mismatch_since: BTreeMap<String, Timestamp>,
    agreed: u32,
}

impl KedaCheck {
    fn observe(&mut self, view: &FleetView) {
        let now = view.now.expect("a view has a time");
        for m in &view.members {
            let (Some(intensity), Some(cap)) = (m.configmap_intensity, m.keda_cap) else { continue };
            let expected = if m.eco_mode_off == Some(true) { ECO_OFF_MAX } else { cap_for(intensity) };
            if cap == expected {
                self.mismatch_since.remove(&m.name);
                self.agreed += 1;
                continue;
            }
            let since = *self.mismatch_since.entry(m.name.clone()).or_insert(now);
            assert!(
                now.duration_since(since) < SignedDuration::from_mins(30),
                "{}: cap {cap} but intensity {intensity} means {expected}, since {since}",
                m.name
            );
        }
    }
}

async fn configmap_intensity(member: &gridshift_e2e::Member, now: Timestamp) -> Option<f64> {
    let cms: Api<ConfigMap> = Api::namespaced(member.sim.client().ok()?, "kube-system");
    let cm = cms.get_opt("carbon-intensity").await.ok()??;
    let records: Vec<serde_json::Value> = serde_json::from_slice(&cm.binary_data?.get("data")?.0).ok()?;
    observe::current_record(&records, now)
}

async fn assert_configmap_matches_zone(member: &gridshift_e2e::Member, traces: &Traces, now: Timestamp) {
    let cms: Api<ConfigMap> = Api::namespaced(member.sim.client().unwrap(), "kube-system");
    let cm = cms.get("carbon-intensity").await.unwrap();
    let data = cm.data.clone().unwrap_or_default();
    for key in
        ["lastHeartbeatTime", "message", "numOfRecords", "forecastDateTime", "minForecast", "maxForecast"]
    {
        assert!(data.contains_key(key), "{}: ConfigMap lacks {key}: {data:?}", member.name());
    }
    data["lastHeartbeatTime"].parse::<Timestamp>().expect("RFC 3339 heartbeat");
    let records: Vec<serde_json::Value> = serde_json::from_slice(&cm.binary_data.unwrap()["data"].0).unwrap();
    assert_eq!(data["numOfRecords"], records.len().to_string());
    for r in &records {
        assert_eq!(r["location"], member.primary_zone(), "{}: {r}", member.name());
        r["timestamp"].as_str().unwrap().parse::<Timestamp>().unwrap();
        assert!(r["duration"].is_u64() && r["value"].is_number(), "{r}");
    }
    let current = observe::current_record(&records, now);
    assert_eq!(current, traces.at(member.primary_zone(), now), "{} at {now}", member.name());
}

async fn heartbeats(fleet: &Fleet) -> BTreeMap<String, Timestamp> {
    let mut out = BTreeMap::new();
    for m in &fleet.members {
        let cms: Api<ConfigMap> = Api::namespaced(m.sim.client().unwrap(), "kube-system");
        if let Ok(Some(cm)) = cms.get_opt("carbon-intensity").await {
            let hb = cm.data.unwrap_or_default().get("lastHeartbeatTime").and_then(|t| t.parse().ok());
            out.insert(m.name().to_string(), hb.unwrap_or(Timestamp::UNIX_EPOCH));
        }
    }
    out
}
