//! Reconciles at instants of the injectable clock (forecast point boundaries, schedule
//! edges, data turning stale), not after real-time delays: with a ManualClock or a
//! ScaledClock a day's boundaries pass in seconds and still each trigger a reconcile.
//!
//! Each CR registers its next review; when the earliest is due, every CR is reconciled.
//! Boundaries are mostly shared (CRs on the same zone see the same forecast points), and
//! a reconcile that changes nothing writes nothing.
use futures::Stream;
use gridshift_proto::SharedClock;
use jiff::Timestamp;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::Notify;

#[derive(Debug, Default)]
pub struct Wakeups {
    due: Mutex<BTreeMap<String, Timestamp>>,
    changed: Notify,
}

impl Wakeups {
    /// Sets (or with `None` clears) the next review of `key`.
    pub fn set(&self, key: String, at: Option<Timestamp>) {
        let mut due = self.due.lock();
        match at {
            Some(t) => due.insert(key, t),
            None => due.remove(&key),
        };
        drop(due);
        self.changed.notify_one();
    }

    fn earliest(&self) -> Option<Timestamp> {
        self.due.lock().values().min().copied()
    }

    /// Yields once whenever a registered review falls due (the due entries are cleared:
    /// the reconciles they trigger register the next ones).
    pub fn stream(self: Arc<Self>, clock: SharedClock) -> impl Stream<Item = ()> + Send + 'static {
        futures::stream::unfold((self, clock), |(this, clock)| async move {
            loop {
                match this.earliest() {
                    Some(t) if t <= clock.now() => {
                        let now = clock.now();
                        this.due.lock().retain(|_, at| *at > now);
                        return Some(((), (this, clock)));
                    }
                    Some(t) => tokio::select! {
                        _ = clock.sleep_until(t) => {}
                        _ = this.changed.notified() => {}
                    },
                    None => this.changed.notified().await,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use gridshift_proto::ManualClock;
    use jiff::SignedDuration;
    use std::time::Duration;

    #[tokio::test]
    async fn fires_when_the_clock_reaches_the_earliest_review() {
        let t0: Timestamp = "2022-06-01T00:00:00Z".parse().expect("ts");
        let clock = ManualClock::new(t0);
        let wakeups = Arc::new(Wakeups::default());
        let mut stream = Box::pin(wakeups.clone().stream(Arc::new(clock.clone())));
        wakeups.set("a".into(), Some(t0 + SignedDuration::from_mins(30)));
        wakeups.set("b".into(), Some(t0 + SignedDuration::from_mins(10)));
        let pending = tokio::time::timeout(Duration::from_millis(50), stream.next()).await;
        assert!(pending.is_err(), "nothing due before the clock moves");
        clock.advance(SignedDuration::from_mins(10));
        tokio::time::timeout(Duration::from_secs(5), stream.next()).await.expect("fires").expect("item");
        clock.advance(SignedDuration::from_mins(20));
        tokio::time::timeout(Duration::from_secs(5), stream.next()).await.expect("fires").expect("item");
        assert_eq!(wakeups.earliest(), None);
    }
}
