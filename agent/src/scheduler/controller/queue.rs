//! The scheduling queue: which pending pod to try next, and when to try again.
//!
//! Like kube-scheduler's, a pod is in one place at a time:
//! - **active**: try now (first in, first out);
//! - **backoff**: failed recently; try again after an exponential backoff (real time,
//!   it protects the API server: 1 s doubling to 10 s by default);
//! - **unschedulable**: no node fits; try again when the cluster changes (a node
//!   appears or changes, a pod frees its resources, a volume changes), and at the
//!   latest after `unschedulable_flush` (5 min);
//! - **waiting**: deferred for cleaner electricity; try again at the planned time on
//!   the agent's clock (simulated or real), or as soon as the forecast changes;
//! - **in flight**: a decision's API writes are under way.
//!
//! A change that happens while a pod is in flight is not lost: the pod remembers the
//! cluster and forecast "epochs" it was taken at, and goes back to active if they moved.
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use jiff::Timestamp;
use tokio::time::Instant;

pub type Uid = String;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueConfig {
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// An unschedulable pod is retried at least this often even if nothing changes
    /// (kube-scheduler's podMaxInUnschedulablePodsDuration).
    pub unschedulable_flush: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            unschedulable_flush: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Place {
    Active,
    Backoff(Instant),
    /// Since when, and until when its backoff runs.
    Unschedulable {
        since: Instant,
        backoff_until: Instant,
    },
    Waiting(Timestamp),
    /// `dirty`: the pod itself changed meanwhile.
    InFlight {
        cluster_epoch: u64,
        forecast_epoch: u64,
        dirty: bool,
    },
}

#[derive(Debug, Clone)]
struct Entry {
    place: Place,
    /// Failed attempts in a row (drives the backoff).
    failures: u32,
}

/// How many pods are where, for the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounts {
    pub active: usize,
    pub backoff: usize,
    pub unschedulable: usize,
    pub waiting: usize,
    pub in_flight: usize,
}

#[derive(Debug, Default)]
pub struct SchedulingQueue {
    cfg: QueueConfig,
    entries: HashMap<Uid, Entry>,
    /// May hold uids that have since moved; `pop` skips them.
    active: VecDeque<Uid>,
    /// Entries whose place is `Active` (the deque may hold stale uids).
    active_count: usize,
    backoff: BTreeSet<(Instant, Uid)>,
    unschedulable: BTreeSet<(Instant, Uid)>,
    waiting: BTreeSet<(Timestamp, Uid)>,
    cluster_epoch: u64,
    forecast_epoch: u64,
}

impl SchedulingQueue {
    pub fn new(cfg: QueueConfig) -> Self {
        Self { cfg, ..Default::default() }
    }

    pub fn contains(&self, uid: &str) -> bool {
        self.entries.contains_key(uid)
    }

    pub fn is_waiting(&self, uid: &str) -> bool {
        matches!(self.entries.get(uid), Some(Entry { place: Place::Waiting(_), .. }))
    }

    /// A new pending pod: try it now.
    pub fn add(&mut self, uid: &str) {
        if !self.entries.contains_key(uid) {
            self.entries.insert(uid.to_string(), Entry { place: Place::Active, failures: 0 });
            self.active.push_back(uid.to_string());
            self.active_count += 1;
        }
    }

    /// The pod changed in a way that may change the decision (gates, requests,
    /// tolerations, annotations…): reconsider it, respecting its backoff.
    pub fn pod_updated(&mut self, uid: &str, now: Instant) {
        match self.entries.get(uid).map(|e| e.place) {
            Some(Place::Unschedulable { backoff_until, .. }) => self.release(uid, backoff_until, now),
            Some(Place::Waiting(_)) => self.move_to(uid, Place::Active),
            Some(Place::InFlight { cluster_epoch, forecast_epoch, .. }) => {
                let dirty = Place::InFlight { cluster_epoch, forecast_epoch, dirty: true };
                if let Some(e) = self.entries.get_mut(uid) {
                    e.place = dirty;
                }
            }
            _ => {}
        }
    }

    /// The pod is gone, bound, or no longer ours.
    pub fn remove(&mut self, uid: &str) {
        if let Some(e) = self.entries.remove(uid) {
            self.unindex(uid, e.place);
        }
    }

    /// Nodes, placed pods or volumes changed: unschedulable pods may fit now.
    pub fn cluster_changed(&mut self, now: Instant) {
        self.cluster_epoch += 1;
        let stuck: Vec<(Uid, Instant)> = self
            .entries
            .iter()
            .filter_map(|(u, e)| match e.place {
                Place::Unschedulable { backoff_until, .. } => Some((u.clone(), backoff_until)),
                _ => None,
            })
            .collect();
        for (uid, until) in stuck {
            self.release(&uid, until, now);
        }
    }

    /// A new forecast: every waiting pod is re-planned.
    pub fn forecast_changed(&mut self) {
        self.forecast_epoch += 1;
        let waiting: Vec<Uid> = self.waiting.iter().map(|(_, u)| u.clone()).collect();
        for uid in waiting {
            self.move_to(&uid, Place::Active);
        }
    }

    /// Takes the next pod to try, marking it in flight.
    pub fn pop(&mut self, now: Instant) -> Option<Uid> {
        self.expire(now);
        while let Some(uid) = self.active.pop_front() {
            if let Some(e) = self.entries.get_mut(&uid)
                && e.place == Place::Active
            {
                e.place = Place::InFlight {
                    cluster_epoch: self.cluster_epoch,
                    forecast_epoch: self.forecast_epoch,
                    dirty: false,
                };
                self.active_count -= 1;
                return Some(uid);
            }
        }
        None
    }

    pub fn has_active(&mut self, now: Instant) -> bool {
        self.expire(now);
        self.active_count > 0
    }

    /// No node fits. Retried on a cluster change (after its backoff) or the flush.
    pub fn unschedulable(&mut self, uid: &str, now: Instant) {
        let Some(e) = self.entries.get_mut(uid) else { return };
        e.failures += 1;
        let until = now + backoff(&self.cfg, e.failures);
        let changed = matches!(e.place, Place::InFlight { cluster_epoch, dirty, .. }
            if dirty || cluster_epoch != self.cluster_epoch);
        if changed {
            self.move_to(uid, Place::Backoff(until));
        } else {
            self.move_to(uid, Place::Unschedulable { since: now, backoff_until: until });
        }
    }

    /// An API error or a lost race: try again after the backoff.
    pub fn retry_later(&mut self, uid: &str, now: Instant) {
        let Some(e) = self.entries.get_mut(uid) else { return };
        e.failures += 1;
        let until = now + backoff(&self.cfg, e.failures);
        self.move_to(uid, Place::Backoff(until));
    }

    /// Try again at once (e.g. leadership was lost before the binding was sent).
    pub fn retry_now(&mut self, uid: &str) {
        if self.entries.contains_key(uid) {
            self.move_to(uid, Place::Active);
        }
    }

    /// Deferred: reconsider at `wake` on the agent's clock (or on a new forecast).
    pub fn wait_until(&mut self, uid: &str, wake: Timestamp) {
        let Some(e) = self.entries.get_mut(uid) else { return };
        e.failures = 0;
        let changed = matches!(e.place, Place::InFlight { forecast_epoch, dirty, .. }
            if dirty || forecast_epoch != self.forecast_epoch);
        self.move_to(uid, if changed { Place::Active } else { Place::Waiting(wake) });
    }

    /// Moves waiting pods whose time has come (on the agent's clock) to active.
    pub fn wake(&mut self, clock_now: Timestamp) {
        while let Some((t, uid)) = self.waiting.first().cloned() {
            if t > clock_now {
                break;
            }
            self.move_to(&uid, Place::Active);
        }
    }

    /// When the next backoff or unschedulable flush is due (real time).
    pub fn next_real_deadline(&self) -> Option<Instant> {
        let backoff = self.backoff.first().map(|(t, _)| *t);
        let flush = self.unschedulable.first().map(|(t, _)| *t + self.cfg.unschedulable_flush);
        backoff.into_iter().chain(flush).min()
    }

    /// When the next waiting pod is due (agent clock).
    pub fn next_clock_deadline(&self) -> Option<Timestamp> {
        self.waiting.first().map(|(t, _)| *t)
    }

    pub fn counts(&self) -> QueueCounts {
        let mut c = QueueCounts::default();
        for e in self.entries.values() {
            match e.place {
                Place::Active => c.active += 1,
                Place::Backoff(_) => c.backoff += 1,
                Place::Unschedulable { .. } => c.unschedulable += 1,
                Place::Waiting(_) => c.waiting += 1,
                Place::InFlight { .. } => c.in_flight += 1,
            }
        }
        c
    }

    /// Backoffs that ran out go to active; unschedulable pods past the flush too.
    fn expire(&mut self, now: Instant) {
        while let Some((t, uid)) = self.backoff.first().cloned() {
            if t > now {
                break;
            }
            self.move_to(&uid, Place::Active);
        }
        while let Some((since, uid)) = self.unschedulable.first().cloned() {
            if since + self.cfg.unschedulable_flush > now {
                break;
            }
            self.move_to(&uid, Place::Active);
        }
    }

    fn release(&mut self, uid: &str, backoff_until: Instant, now: Instant) {
        self.move_to(uid, if backoff_until > now { Place::Backoff(backoff_until) } else { Place::Active });
    }

    fn move_to(&mut self, uid: &str, place: Place) {
        let Some(e) = self.entries.get_mut(uid) else { return };
        let old = std::mem::replace(&mut e.place, place);
        self.unindex(uid, old);
        match place {
            Place::Active => {
                self.active.push_back(uid.to_string());
                self.active_count += 1;
            }
            Place::Backoff(t) => {
                self.backoff.insert((t, uid.to_string()));
            }
            Place::Unschedulable { since, .. } => {
                self.unschedulable.insert((since, uid.to_string()));
            }
            Place::Waiting(t) => {
                self.waiting.insert((t, uid.to_string()));
            }
            Place::InFlight { .. } => {}
        }
    }

    fn unindex(&mut self, uid: &str, place: Place) {
        // Stale uids in the active deque are skipped by `pop`; the sets are exact.
        match place {
            Place::Active => self.active_count -= 1,
            Place::Backoff(t) => {
                self.backoff.remove(&(t, uid.to_string()));
            }
            Place::Unschedulable { since, .. } => {
                self.unschedulable.remove(&(since, uid.to_string()));
            }
            Place::Waiting(t) => {
                self.waiting.remove(&(t, uid.to_string()));
            }
            Place::InFlight { .. } => {}
        }
    }
}

/// `initial × 2^(failures−1)`, capped at `max`; no jitter, as kube-scheduler's
/// pod backoff (retries are per pod, already spread by when each failed).
fn backoff(cfg: &QueueConfig, failures: u32) -> Duration {
    gridshift_core::backoff::delay(cfg.initial_backoff, cfg.max_backoff, failures, 1.0)
}

#[cfg(test)]
mod tests;
