//! Which zones the policies need and which zone each member cluster is in, kept by every
//! hub replica (leading or not) from the CarbonAwareKarmadaPolicies and Karmada Clusters
//! it watches. So at start, before any policy is evaluated, every policy's zones are
//! wanted (and fetched by whichever replica fetches), and an agent connected to any
//! replica learns its cluster's zone (`Welcome.cluster_zone`).
//!
//! The leader's reconcile registers the same thing at each evaluation (the same pure
//! `locate`), so a CR created a moment ago does not wait for this watch.
use crate::distribution::Distributor;
use futures::StreamExt;
use gridshift_api::policy::CarbonAwareKarmadaPolicy as Cr;
use gridshift_core::Zone;
use gridshift_core::placement::locate::{self, ClusterFacts, Located, Source};
use gridshift_core::zone_map::ZoneMap;
use kube::ResourceExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use std::collections::{BTreeMap, BTreeSet};
use tokio_stream::wrappers::WatchStream;

fn owner(key: &str) -> String {
    format!("policy {key}")
}

/// Records what the CR `key` (`namespace/name`) located: its zones are wanted, and the
/// clusters located from the policy or their Karmada Cluster are assigned their zone
/// (a zone learned from the agent itself is not sent back to it).
pub fn register(distributor: &Distributor, key: &str, located: &[Located]) {
    let zones: BTreeSet<Zone> = located.iter().filter_map(|l| l.zone.clone()).collect();
    let clusters: BTreeMap<String, Zone> = located
        .iter()
        .filter(|l| l.source != Some(Source::Agent))
        .filter_map(|l| Some((l.name.clone(), l.zone.clone()?)))
        .collect();
    distributor.want_zones(&owner(key), zones);
    distributor.locate_clusters(&owner(key), clusters);
}

/// Forgets the CR `key`: its zones are no longer wanted on its behalf.
pub fn unregister(distributor: &Distributor, key: &str) {
    distributor.want_zones(&owner(key), BTreeSet::new());
    distributor.locate_clusters(&owner(key), BTreeMap::new());
}

/// Keeps the distributor's view of every CR up to date until `stop`.
pub async fn run(
    client: kube::Client,
    zone_map: ZoneMap,
    distributor: Distributor,
    stop: impl std::future::Future<Output = ()>,
) {
    let wc = watcher::Config::default();
    let (crs, cr_writer) = reflector::store::<Cr>();
    let cluster_resource = super::controller::karmada_clusters();
    let cluster_writer = reflector::store::Writer::<DynamicObject>::new(cluster_resource.clone());
    let clusters = cluster_writer.as_reader();
    let cr_events = reflector(cr_writer, watcher(Api::<Cr>::all(client.clone()), wc.clone()))
        .default_backoff()
        .touched_objects()
        .map(|_| ());
    let cluster_api = Api::<DynamicObject>::all_with(client, &cluster_resource);
    let cluster_events =
        reflector(cluster_writer, watcher(cluster_api, wc)).default_backoff().touched_objects().map(|_| ());
    let agent_events = WatchStream::from_changes(distributor.watch_wanted()).map(|_| ());
    let mut changes = std::pin::pin!(futures::stream::select(
        futures::stream::select(cr_events, cluster_events),
        agent_events
    ));
    let mut known: BTreeSet<String> = BTreeSet::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            next = changes.next() => if next.is_none() { break },
        }
        let facts: Vec<ClusterFacts> = clusters
            .state()
            .iter()
            .filter_map(|c| ClusterFacts::from_object(&serde_json::to_value(c.as_ref()).unwrap_or_default()))
            .collect();
        let mut seen = BTreeSet::new();
        for cr in crs.state() {
            if cr.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let key = format!("{}/{}", cr.namespace().unwrap_or_default(), cr.name_any());
            let located = locate::locate(&cr.spec.cluster_locations, &facts, &zone_map, |c| {
                distributor.reported_zones(c)
            });
            register(&distributor, &key, &located);
            seen.insert(key);
        }
        for gone in known.difference(&seen) {
            unregister(&distributor, gone);
        }
        known = seen;
    }
}
