//! Work at instants of the injected clock. kube-runtime's requeue counts real time;
//! dwell ends, make-before-break deadlines, forecast boundaries and schedule edges are
//! in the clock's time, which a test or demo runs faster (or moves by hand), so
//! controllers schedule them here instead.
//!
//! One pending instant per key; setting it again replaces it. A controller consumes
//! due keys one by one ([`ClockTimers::due_keys`], for `Controller::reconcile_on`) or
//! as "something is due" ([`ClockTimers::due_any`], for `reconcile_all_on`).
use futures::{Stream, StreamExt};
use gridshift_core::SharedClock;
use jiff::Timestamp;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;
use tokio::sync::Notify;

pub struct ClockTimers<K> {
    clock: SharedClock,
    due: Mutex<HashMap<K, Timestamp>>,
    changed: Notify,
}

impl<K: Eq + Hash + Clone + Send + Sync + 'static> ClockTimers<K> {
    pub fn new(clock: SharedClock) -> Arc<Self> {
        Arc::new(Self { clock, due: Mutex::default(), changed: Notify::new() })
    }

    /// Sets (or with `None` clears) the instant of `key`.
    pub fn set(&self, key: K, at: Option<Timestamp>) {
        {
            let mut due = self.due.lock();
            match at {
                Some(t) => due.insert(key, t),
                None => due.remove(&key),
            };
        }
        self.changed.notify_one();
    }

    pub fn schedule(&self, key: K, at: Timestamp) {
        self.set(key, Some(at));
    }

    pub fn cancel(&self, key: &K) {
        self.due.lock().remove(key);
    }

    /// How many keys have an instant pending.
    pub fn pending(&self) -> usize {
        self.due.lock().len()
    }

    /// The keys whose instant has passed (removed: whoever handles them schedules the
    /// next), and the earliest instant still pending.
    fn take_due(&self) -> (Vec<K>, Option<Timestamp>) {
        let now = self.clock.now();
        let mut due = self.due.lock();
        let fired: Vec<K> = due.iter().filter(|(_, at)| **at <= now).map(|(k, _)| k.clone()).collect();
        for k in &fired {
            due.remove(k);
        }
        (fired, due.values().min().copied())
    }

    /// Every key whose instant passed since the last batch, one batch per wake-up.
    pub fn due_batches(self: Arc<Self>) -> impl Stream<Item = Vec<K>> + Send + 'static {
        futures::stream::unfold(self, |timers| async move {
            loop {
                let (fired, earliest) = timers.take_due();
                if !fired.is_empty() {
                    return Some((fired, timers));
                }
                match earliest {
                    Some(at) => {
                        tokio::select! {
                            _ = timers.clock.sleep_until(at) => {}
                            _ = timers.changed.notified() => {}
                        }
                    }
                    None => timers.changed.notified().await,
                }
            }
        })
    }

    /// Keys one by one as their instants pass.
    pub fn due_keys(self: Arc<Self>) -> impl Stream<Item = K> + Send + 'static {
        self.due_batches().flat_map(futures::stream::iter)
    }

    /// One item whenever any key falls due.
    pub fn due_any(self: Arc<Self>) -> impl Stream<Item = ()> + Send + 'static {
        self.due_batches().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;
    use gridshift_core::ManualClock;
    use jiff::SignedDuration;
    use std::time::Duration;

    fn t0() -> Timestamp {
        "2022-06-01T00:00:00Z".parse().unwrap()
    }

    #[tokio::test]
    async fn keys_fire_when_the_clock_passes_and_rescheduling_replaces() {
        let clock = ManualClock::new(t0());
        let timers = ClockTimers::new(Arc::new(clock.clone()));
        let (a, b) = ("ns/a".to_string(), "ns/b".to_string());
        let mut fired = timers.clone().due_keys().boxed();
        timers.schedule(a.clone(), t0() + SignedDuration::from_mins(10));
        timers.schedule(b.clone(), t0() + SignedDuration::from_mins(5));
        timers.schedule(b.clone(), t0() + SignedDuration::from_mins(20));
        assert!(fired.next().now_or_never().is_none(), "nothing is due before the clock moves");
        clock.advance(SignedDuration::from_mins(10));
        assert_eq!(fired.next().await, Some(a.clone()));
        timers.schedule(a.clone(), t0() + SignedDuration::from_mins(30));
        timers.cancel(&a);
        clock.advance(SignedDuration::from_mins(30));
        assert_eq!(fired.next().await, Some(b), "b at its replaced time; a was cancelled");
        assert_eq!(timers.pending(), 0);
    }

    #[tokio::test]
    async fn any_fires_when_the_clock_reaches_the_earliest() {
        let clock = ManualClock::new(t0());
        let timers = ClockTimers::new(Arc::new(clock.clone()));
        let mut stream = Box::pin(timers.clone().due_any());
        timers.set("a".to_string(), Some(t0() + SignedDuration::from_mins(30)));
        timers.set("b".to_string(), Some(t0() + SignedDuration::from_mins(10)));
        let pending = tokio::time::timeout(Duration::from_millis(50), stream.next()).await;
        assert!(pending.is_err(), "nothing due before the clock moves");
        clock.advance(SignedDuration::from_mins(10));
        tokio::time::timeout(Duration::from_secs(5), stream.next()).await.expect("fires").expect("item");
        clock.advance(SignedDuration::from_mins(20));
        tokio::time::timeout(Duration::from_secs(5), stream.next()).await.expect("fires").expect("item");
        assert_eq!(timers.pending(), 0);
    }
}
