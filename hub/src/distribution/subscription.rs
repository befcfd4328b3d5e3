//! One agent's view of the distributor: what it was last sent, and how to compute
//! the next update from the current state.
use super::{Inner, Resume};
use gridshift_core::Zone;
use gridshift_proto::v1;
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::sync::watch;

/// What to send an agent next.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// The full state of the agent's zones; the agent drops any zone not in it.
    Snapshot(v1::Snapshot),
    Delta(v1::Delta),
}

impl Update {
    pub fn revision(&self) -> u64 {
        match self {
            Update::Snapshot(s) => s.revision,
            Update::Delta(d) => d.revision,
        }
    }
}

/// A registered agent. Unregisters itself on drop.
pub struct Subscription {
    inner: Arc<Inner>,
    id: u64,
    cluster: String,
    epoch: u64,
    sent_revision: u64,
    /// The zones the agent holds, as far as this subscription has told it.
    held: BTreeSet<String>,
    needs_snapshot: bool,
    /// The cluster zone this subscription last told the agent (`None`: not yet).
    sent_cluster_zone: Option<String>,
    revision_rx: watch::Receiver<u64>,
    zones_rx: watch::Receiver<u64>,
}

impl Subscription {
    pub(super) fn new(
        inner: Arc<Inner>,
        id: u64,
        cluster: String,
        epoch: u64,
        resume: Option<Resume>,
        revision_rx: watch::Receiver<u64>,
        zones_rx: watch::Receiver<u64>,
    ) -> Self {
        let (needs_snapshot, sent_revision, held) = match resume {
            Some(r) => (false, r.revision, r.held_zones.into_iter().collect()),
            None => (true, 0, BTreeSet::new()),
        };
        Self {
            inner,
            id,
            cluster,
            epoch,
            sent_revision,
            held,
            needs_snapshot,
            sent_cluster_zone: None,
            revision_rx,
            zones_rx,
        }
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// The zones this agent receives (its own plus assigned ones).
    pub fn zones(&self) -> BTreeSet<Zone> {
        let state = self.inner.state.read();
        state.subscribers.get(&self.id).map(|s| s.zones.clone()).unwrap_or_default()
    }

    /// The zone the hub locates this agent's cluster in ("" when unknown), recorded as
    /// told (the Welcome carries it).
    pub fn take_cluster_zone(&mut self) -> String {
        let zone =
            self.inner.state.read().cluster_zone(&self.cluster).map(|z| z.to_string()).unwrap_or_default();
        self.sent_cluster_zone = Some(zone.clone());
        zone
    }

    /// A handle for the inbound half of a stream (acks), independent of this value.
    pub fn handle(&self) -> AgentHandle {
        AgentHandle { inner: self.inner.clone(), id: self.id }
    }

    /// Waits for the next update. `None` only if the distributor is gone.
    pub async fn next(&mut self) -> Option<Update> {
        loop {
            // Mark both signals seen before reading state, so no change is missed.
            self.revision_rx.borrow_and_update();
            self.zones_rx.borrow_and_update();
            if let Some(update) = self.try_next() {
                return Some(update);
            }
            tokio::select! {
                r = self.revision_rx.changed() => r.ok()?,
                r = self.zones_rx.changed() => r.ok()?,
            }
        }
    }

    /// The update due now, if any, computed from the latest state (latest wins:
    /// however many revisions passed, this is one update).
    pub fn try_next(&mut self) -> Option<Update> {
        let state = self.inner.state.read();
        let wanted = &state.subscribers.get(&self.id)?.zones;
        if state.epoch != self.epoch {
            self.epoch = state.epoch;
            self.needs_snapshot = true;
        }
        let cluster_zone = state.cluster_zone(&self.cluster).map(|z| z.to_string()).unwrap_or_default();
        let zone_news =
            (self.sent_cluster_zone.as_ref() != Some(&cluster_zone)).then(|| cluster_zone.clone());
        if self.needs_snapshot {
            let zones: Vec<v1::ZoneForecast> =
                wanted.iter().filter_map(|z| state.zones.get(z)).map(|e| (*e.forecast).clone()).collect();
            self.held = zones.iter().map(|z| z.zone.clone()).collect();
            self.sent_revision = state.revision;
            self.needs_snapshot = false;
            self.sent_cluster_zone = Some(cluster_zone.clone());
            return Some(Update::Snapshot(v1::Snapshot {
                epoch: state.epoch,
                revision: state.revision,
                zones,
                complete: true,
                cluster_zone: Some(cluster_zone),
            }));
        }
        let removed_zones: Vec<String> = self
            .held
            .iter()
            .filter(|z| !wanted.contains(z.as_str()) || !state.zones.contains_key(z.as_str()))
            .cloned()
            .collect();
        let upserts: Vec<v1::ZoneForecast> = wanted
            .iter()
            .filter_map(|z| state.zones.get(z))
            .filter(|e| e.revision > self.sent_revision || !self.held.contains(&e.forecast.zone))
            .map(|e| (*e.forecast).clone())
            .collect();
        self.sent_revision = state.revision;
        if removed_zones.is_empty() && upserts.is_empty() && zone_news.is_none() {
            return None;
        }
        if zone_news.is_some() {
            self.sent_cluster_zone = Some(cluster_zone);
        }
        for z in &removed_zones {
            self.held.remove(z);
        }
        self.held.extend(upserts.iter().map(|z| z.zone.clone()));
        Some(Update::Delta(v1::Delta {
            epoch: state.epoch,
            revision: state.revision,
            upserts,
            removed_zones,
            cluster_zone: zone_news,
        }))
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.inner.state.write().subscribers.remove(&self.id);
        self.inner.wanted_tx.send_modify(|n| *n += 1);
    }
}

/// Records what an agent acknowledged.
#[derive(Clone)]
pub struct AgentHandle {
    inner: Arc<Inner>,
    id: u64,
}

impl AgentHandle {
    /// Records an ack; acks for another epoch or a revision not yet reached are ignored.
    /// Returns the agent's lag in revisions after the ack.
    pub fn ack(&self, epoch: u64, revision: u64) -> Option<u64> {
        let mut state = self.inner.state.write();
        let (current_epoch, current) = (state.epoch, state.revision);
        let sub = state.subscribers.get_mut(&self.id)?;
        if epoch == current_epoch && revision <= current && revision > sub.acked_revision {
            sub.acked_revision = revision;
            self.inner.acks_tx.send_modify(|n| *n += 1);
        }
        Some(current - sub.acked_revision)
    }

    /// Keeps the agent's latest status report.
    pub fn report_status(&self, status: v1::AgentStatus) {
        if let Some(sub) = self.inner.state.write().subscribers.get_mut(&self.id) {
            sub.status = Some(status);
            self.inner.acks_tx.send_modify(|n| *n += 1);
        }
    }

    /// How many revisions the agent has not acknowledged.
    pub fn lag(&self) -> Option<u64> {
        let state = self.inner.state.read();
        state.subscribers.get(&self.id).map(|s| state.revision - s.acked_revision)
    }
}
