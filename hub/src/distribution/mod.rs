//! The distribution core: the latest forecast per zone, with revisions and an
//! epoch, and the agents subscribed to them. It knows nothing of gRPC; the
//! stream service (`crate::grpc`) adapts it. The forecast store feeds it (it is the
//! store's `ForecastSink`): it holds the store's series themselves, shared, plus their
//! wire encoding, never a copy of its own.
//!
//! Forecasts are state, not events. Each subscriber remembers only the revision
//! it was last sent and the zones it holds; an update is computed from the
//! current state when the subscriber is ready for one. So a slow subscriber gets
//! one coalesced update, never a queue, and a reconnecting agent can resume from
//! any revision of the current epoch (the "delta window" is the whole epoch,
//! since removals are derived from the zones the agent says it holds).

mod subscription;

pub use subscription::{AgentHandle, Subscription, Update};

use gridshift_core::{Forecasts, Series, Zone};
use gridshift_proto::v1;
use parking_lot::RwLock;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::watch;

/// What a connecting agent asks for.
#[derive(Debug, Clone, Default)]
pub struct SubscribeRequest {
    pub cluster: String,
    /// The zones its nodes are in.
    pub node_zones: Vec<Zone>,
    pub resume: Option<Resume>,
}

/// Where an agent's earlier stream left off.
#[derive(Debug, Clone, Default)]
pub struct Resume {
    pub epoch: u64,
    pub revision: u64,
    pub held_zones: Vec<String>,
}

/// A connected agent, for status pages and metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentInfo {
    pub subscriber: u64,
    pub cluster: String,
    pub zones: BTreeSet<Zone>,
    pub acked_revision: u64,
    /// The agent's latest status report.
    pub status: Option<v1::AgentStatus>,
}

#[derive(Clone)]
pub struct Distributor {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) state: RwLock<State>,
    /// Carries the current revision; every subscriber watches it.
    pub(crate) revision_tx: watch::Sender<u64>,
    /// Bumped on every recorded ack, for whoever waits on agents to catch up.
    pub(crate) acks_tx: watch::Sender<u64>,
    /// Bumped when the set of zones agents need may have changed.
    pub(crate) wanted_tx: watch::Sender<u64>,
    next_subscriber: AtomicU64,
}

pub(crate) struct State {
    pub(crate) epoch: u64,
    pub(crate) revision: u64,
    pub(crate) zones: HashMap<Zone, ZoneEntry>,
    /// Extra zones the hub assigns per cluster (e.g. zones its policies rank).
    assignments: HashMap<String, BTreeSet<Zone>>,
    /// Zones the hub itself needs, per owner (e.g. each placement policy), sent to no agent.
    hub_wanted: HashMap<String, BTreeSet<Zone>>,
    /// Per owner (each placement policy): the zone it locates each cluster in. A
    /// cluster's zone is the first owner's (by name) that locates it.
    located: BTreeMap<String, BTreeMap<String, Zone>>,
    pub(crate) subscribers: HashMap<u64, SubscriberEntry>,
}

pub(crate) struct ZoneEntry {
    pub(crate) revision: u64,
    /// The series (the store's own, shared).
    series: Arc<Series>,
    /// Its wire form: encoded once per change, cloned per send.
    pub(crate) forecast: Arc<v1::ZoneForecast>,
}

pub(crate) struct SubscriberEntry {
    pub(crate) cluster: String,
    node_zones: BTreeSet<Zone>,
    pub(crate) zones: BTreeSet<Zone>,
    pub(crate) acked_revision: u64,
    pub(crate) status: Option<v1::AgentStatus>,
    /// Bumped when this subscriber's zone set changes.
    pub(crate) zones_changed: watch::Sender<u64>,
}

impl State {
    fn zones_for(&self, cluster: &str, node_zones: &BTreeSet<Zone>) -> BTreeSet<Zone> {
        let mut zones = node_zones.clone();
        if let Some(extra) = self.assignments.get(cluster) {
            zones.extend(extra.iter().cloned());
        }
        zones.extend(self.cluster_zone(cluster));
        zones
    }

    pub(crate) fn cluster_zone(&self, cluster: &str) -> Option<Zone> {
        self.located.values().find_map(|m| m.get(cluster)).cloned()
    }

    /// Recomputes every subscriber's zones of `clusters`, telling those whose set changed.
    fn refresh_subscribers(&mut self, clusters: &BTreeSet<String>) {
        let updates: Vec<(u64, BTreeSet<Zone>)> = self
            .subscribers
            .iter()
            .filter(|(_, s)| clusters.contains(&s.cluster))
            .map(|(id, s)| (*id, self.zones_for(&s.cluster, &s.node_zones)))
            .collect();
        for (id, zones) in updates {
            let Some(sub) = self.subscribers.get_mut(&id) else { continue };
            // The cluster zone may change without the set changing (it was a node zone
            // too): the subscription compares what it sent, so wake it either way.
            sub.zones = zones;
            sub.zones_changed.send_modify(|g| *g += 1);
        }
    }
}

impl Distributor {
    /// A distributor starting at revision 0 of `epoch`. Pick a fresh epoch per
    /// process start (see [`random_epoch`]) so agents never resume across restarts.
    pub fn new(epoch: u64) -> Self {
        let state = State {
            epoch,
            revision: 0,
            zones: HashMap::new(),
            assignments: HashMap::new(),
            hub_wanted: HashMap::new(),
            located: BTreeMap::new(),
            subscribers: HashMap::new(),
        };
        Self {
            inner: Arc::new(Inner {
                state: RwLock::new(state),
                revision_tx: watch::Sender::new(0),
                acks_tx: watch::Sender::new(0),
                wanted_tx: watch::Sender::new(0),
                next_subscriber: AtomicU64::new(1),
            }),
        }
    }

    pub fn epoch(&self) -> u64 {
        self.inner.state.read().epoch
    }

    pub fn revision(&self) -> u64 {
        self.inner.state.read().revision
    }

    /// Publishes the latest series of one zone. Returns the new revision, or the
    /// current one when nothing changed.
    pub fn publish(&self, series: &Series) -> u64 {
        self.publish_all(std::slice::from_ref(series))
    }

    /// Publishes several zones under one revision, so agents see them in one update.
    /// Zones whose data is unchanged keep their revision.
    pub fn publish_all(&self, series: &[Series]) -> u64 {
        self.upsert(series.iter().map(|s| Arc::new(s.clone())), &[])
    }

    /// Mirrors `forecasts` (the store's): its new series are published under one
    /// revision, zones it no longer has are removed.
    pub fn sync(&self, forecasts: &Forecasts) -> u64 {
        let gone: Vec<Zone> = {
            let state = self.inner.state.read();
            state.zones.keys().filter(|z| !forecasts.contains(z)).cloned().collect()
        };
        self.upsert(forecasts.iter_shared().cloned(), &gone)
    }

    /// Upserts `series` and removes `gone` under one revision (when anything changed).
    fn upsert(&self, series: impl IntoIterator<Item = Arc<Series>>, gone: &[Zone]) -> u64 {
        let mut state = self.inner.state.write();
        let next = state.revision + 1;
        let mut changed = false;
        for s in series {
            if let Some(entry) = state.zones.get_mut(&s.zone) {
                if Arc::ptr_eq(&entry.series, &s) {
                    continue;
                }
                if *entry.series == *s {
                    entry.series = s; // same data: keep its revision and encoding
                    continue;
                }
            }
            let mut wire = v1::ZoneForecast::from(&*s);
            wire.revision = next;
            state
                .zones
                .insert(s.zone.clone(), ZoneEntry { revision: next, series: s, forecast: Arc::new(wire) });
            changed = true;
        }
        for z in gone {
            changed |= state.zones.remove(z).is_some();
        }
        if changed {
            state.revision = next;
            self.inner.revision_tx.send_replace(next);
        }
        state.revision
    }

    /// Forgets a zone; agents holding it are told to drop it.
    pub fn remove_zone(&self, zone: &str) -> u64 {
        let known = self.inner.state.read().zones.get_key_value(zone).map(|(z, _)| z.clone());
        match known {
            Some(z) => self.upsert(std::iter::empty(), &[z]),
            None => self.revision(),
        }
    }

    /// Starts a new epoch, as a restarted hub would: every agent re-syncs from a snapshot.
    pub fn start_new_epoch(&self, epoch: u64) {
        let mut state = self.inner.state.write();
        state.epoch = epoch;
        state.revision += 1;
        self.inner.revision_tx.send_replace(state.revision);
    }

    /// Sets the extra zones a cluster's agents receive besides their own.
    pub fn assign_zones(&self, cluster: &str, zones: BTreeSet<Zone>) {
        let mut state = self.inner.state.write();
        if state.assignments.get(cluster) == Some(&zones) {
            return;
        }
        state.assignments.insert(cluster.to_string(), zones);
        state.refresh_subscribers(&[cluster.to_string()].into());
        self.inner.wanted_tx.send_modify(|n| *n += 1);
    }

    /// Sets where `owner` (a placement policy) locates clusters; an empty map forgets the
    /// owner. Agents of a located cluster receive its zone's forecast and learn the zone
    /// (`Welcome.cluster_zone`, then in updates when it changes).
    pub fn locate_clusters(&self, owner: &str, clusters: BTreeMap<String, Zone>) {
        let mut state = self.inner.state.write();
        let before: BTreeMap<String, Option<Zone>> = state
            .located
            .get(owner)
            .into_iter()
            .flatten()
            .chain(clusters.iter())
            .map(|(c, _)| (c.clone(), state.cluster_zone(c)))
            .collect();
        let unchanged = match state.located.get(owner) {
            Some(m) => *m == clusters,
            None => clusters.is_empty(),
        };
        if unchanged {
            return;
        }
        if clusters.is_empty() {
            state.located.remove(owner);
        } else {
            state.located.insert(owner.to_string(), clusters);
        }
        let changed: BTreeSet<String> =
            before.into_iter().filter(|(c, z)| state.cluster_zone(c) != *z).map(|(c, _)| c).collect();
        if !changed.is_empty() {
            state.refresh_subscribers(&changed);
            self.inner.wanted_tx.send_modify(|n| *n += 1);
        }
    }

    /// The zone the hub locates `cluster` in, if any policy does.
    pub fn cluster_zone(&self, cluster: &str) -> Option<Zone> {
        self.inner.state.read().cluster_zone(cluster)
    }

    /// Sets the zones `owner` (e.g. a placement policy) needs fetched; an empty set forgets
    /// the owner. They count towards [`Distributor::wanted_zones`] but go to no agent.
    pub fn want_zones(&self, owner: &str, zones: BTreeSet<Zone>) {
        let mut state = self.inner.state.write();
        let changed = if zones.is_empty() {
            state.hub_wanted.remove(owner).is_some()
        } else {
            state.hub_wanted.insert(owner.to_string(), zones.clone()).as_ref() != Some(&zones)
        };
        if changed {
            self.inner.wanted_tx.send_modify(|n| *n += 1);
        }
    }

    /// Every zone some connected agent, assignment or hub owner needs: what the hub must fetch.
    pub fn wanted_zones(&self) -> BTreeSet<Zone> {
        let state = self.inner.state.read();
        let mut zones: BTreeSet<Zone> = state
            .assignments
            .values()
            .chain(state.hub_wanted.values())
            .flat_map(|z| z.iter().cloned())
            .collect();
        for sub in state.subscribers.values() {
            zones.extend(sub.zones.iter().cloned());
        }
        zones
    }

    /// The zones an agent of `cluster` has reported its nodes in (any connection).
    pub fn reported_zones(&self, cluster: &str) -> Option<Vec<Zone>> {
        let state = self.inner.state.read();
        state
            .subscribers
            .values()
            .find(|s| s.cluster == cluster)
            .map(|s| s.node_zones.iter().cloned().collect())
    }

    /// The current revision, as it changes.
    pub fn watch_revision(&self) -> watch::Receiver<u64> {
        self.inner.revision_tx.subscribe()
    }

    /// Changes when agents connect, disconnect or are assigned zones: the zones
    /// to fetch may have changed.
    pub fn watch_wanted(&self) -> watch::Receiver<u64> {
        self.inner.wanted_tx.subscribe()
    }

    /// Changes whenever an agent acknowledges a revision or reports its status.
    pub fn watch_acks(&self) -> watch::Receiver<u64> {
        self.inner.acks_tx.subscribe()
    }

    pub fn agents(&self) -> Vec<AgentInfo> {
        let state = self.inner.state.read();
        let mut agents: Vec<AgentInfo> = state
            .subscribers
            .iter()
            .map(|(id, s)| AgentInfo {
                subscriber: *id,
                cluster: s.cluster.clone(),
                zones: s.zones.clone(),
                acked_revision: s.acked_revision,
                status: s.status.clone(),
            })
            .collect();
        agents.sort_by_key(|a| a.subscriber);
        agents
    }

    /// The current state of `zones` (all when empty), as one complete snapshot.
    pub fn snapshot(&self, zones: &[Zone]) -> v1::Snapshot {
        let state = self.inner.state.read();
        let mut out: Vec<v1::ZoneForecast> = if zones.is_empty() {
            state.zones.values().map(|e| (*e.forecast).clone()).collect()
        } else {
            zones.iter().filter_map(|z| state.zones.get(z)).map(|e| (*e.forecast).clone()).collect()
        };
        out.sort_by(|a, b| a.zone.cmp(&b.zone));
        v1::Snapshot {
            epoch: state.epoch,
            revision: state.revision,
            zones: out,
            complete: true,
            cluster_zone: None,
        }
    }

    /// An empty, complete snapshot of the current revision (asked for zones that do not exist).
    pub fn snapshot_of_nothing(&self) -> v1::Snapshot {
        let state = self.inner.state.read();
        v1::Snapshot {
            epoch: state.epoch,
            revision: state.revision,
            zones: vec![],
            complete: true,
            cluster_zone: None,
        }
    }

    /// Registers an agent. The subscription yields a snapshot first, or, when
    /// `resume` names this epoch and a revision it has reached, only what changed.
    /// Returns whether the stream resumed. Dropping the subscription unregisters it.
    pub fn subscribe(&self, req: SubscribeRequest) -> (Subscription, bool) {
        let id = self.inner.next_subscriber.fetch_add(1, Ordering::Relaxed);
        let mut state = self.inner.state.write();
        let node_zones: BTreeSet<Zone> = req.node_zones.into_iter().collect();
        let zones = state.zones_for(&req.cluster, &node_zones);
        let (zones_changed, zones_rx) = watch::channel(0);
        let resume = req.resume.filter(|r| r.epoch == state.epoch && r.revision <= state.revision);
        let resumed = resume.is_some();
        state.subscribers.insert(
            id,
            SubscriberEntry {
                cluster: req.cluster.clone(),
                node_zones,
                zones,
                acked_revision: resume.as_ref().map_or(0, |r| r.revision),
                status: None,
                zones_changed,
            },
        );
        self.inner.wanted_tx.send_modify(|n| *n += 1);
        let sub = Subscription::new(
            self.inner.clone(),
            id,
            req.cluster,
            state.epoch,
            resume,
            self.inner.revision_tx.subscribe(),
            zones_rx,
        );
        (sub, resumed)
    }
}

/// A fresh, practically unique epoch for a process start.
pub fn random_epoch() -> u64 {
    // Never 0: agents without state send epoch 0.
    rand::random::<u64>().max(1)
}

#[cfg(test)]
mod tests;
