//! What the agent reports to the hub on its stream (`AgentStatus`, DESIGN §4): the
//! KEDA caps in effect and the pods its scheduler bound or holds for cleaner energy.
//! The controllers feed it; the stream client sends each change (coalesced).
use gridshift_proto::v1::AgentStatus;
use parking_lot::Mutex;
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::sync::watch;

/// Cheap to clone; clones feed one report.
#[derive(Clone, Debug)]
pub struct StatusReporter {
    tx: watch::Sender<AgentStatus>,
    /// `namespace/name` of the CarbonAwareKedaScalers whose cap is in effect.
    capping: Arc<Mutex<BTreeSet<String>>>,
}

impl StatusReporter {
    /// The reporter and the receiver the stream client sends from.
    pub fn new() -> (Self, watch::Receiver<AgentStatus>) {
        let (tx, rx) = watch::channel(AgentStatus::default());
        (Self { tx, capping: Arc::default() }, rx)
    }

    /// Whether the CR `key` holds a cap on its target now.
    pub fn set_capping(&self, key: &str, capping: bool) {
        let mut set = self.capping.lock();
        let changed = if capping { set.insert(key.to_string()) } else { set.remove(key) };
        if changed {
            let n = u32::try_from(set.len()).unwrap_or(u32::MAX);
            self.tx.send_modify(|s| s.caps_applied = n);
        }
    }

    /// A pod was bound by the carbon-aware scheduler.
    pub fn pod_bound(&self) {
        self.tx.send_modify(|s| s.pods_bound += 1);
    }

    /// Pods waiting for a cleaner hour right now.
    pub fn set_pods_deferred(&self, n: usize) {
        let n = n as u64;
        self.tx.send_if_modified(|s| std::mem::replace(&mut s.pods_deferred, n) != n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_distinct_scalers_and_unchanged_values_do_not_wake_the_stream() {
        let (r, mut rx) = StatusReporter::new();
        r.set_capping("a/x", true);
        r.set_capping("a/x", true);
        r.set_capping("b/y", true);
        assert_eq!(rx.borrow_and_update().caps_applied, 2);
        r.set_capping("a/x", false);
        r.pod_bound();
        r.pod_bound();
        r.set_pods_deferred(3);
        let s = rx.borrow_and_update().clone();
        assert_eq!((s.caps_applied, s.pods_bound, s.pods_deferred), (1, 2, 3));
        r.set_pods_deferred(3);
        r.set_capping("zz/never-capped", false);
        assert!(!rx.has_changed().unwrap(), "no change, no message");
    }
}
