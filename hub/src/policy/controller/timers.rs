//! Re-evaluation at instants of the injected clock. kube-runtime's requeue counts real time;
//! dwell ends, make-before-break deadlines and data boundaries are in the clock's time, which
//! a test or demo runs faster (or by hand), so they are scheduled here instead.
use futures::Stream;
use gridshift_proto::SharedClock;
use jiff::Timestamp;
use kube::runtime::reflector::ObjectRef;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::Notify;

use crate::policy::crd::CarbonAwareKarmadaPolicy as Cr;

/// One pending instant per object; scheduling again replaces it.
pub struct ClockTimers {
    clock: SharedClock,
    due: Mutex<HashMap<ObjectRef<Cr>, Timestamp>>,
    changed: Notify,
}

impl ClockTimers {
    pub fn new(clock: SharedClock) -> Arc<Self> {
        Arc::new(Self { clock, due: Mutex::default(), changed: Notify::new() })
    }

    pub fn schedule(&self, obj: ObjectRef<Cr>, at: Timestamp) {
        self.due.lock().insert(obj, at);
        self.changed.notify_one();
    }

    pub fn cancel(&self, obj: &ObjectRef<Cr>) {
        self.due.lock().remove(obj);
    }

    fn take_due(&self) -> (Vec<ObjectRef<Cr>>, Option<Timestamp>) {
        let now = self.clock.now();
        let mut due = self.due.lock();
        let fired: Vec<ObjectRef<Cr>> =
            due.iter().filter(|(_, at)| **at <= now).map(|(o, _)| o.clone()).collect();
        for o in &fired {
            due.remove(o);
        }
        (fired, due.values().min().copied())
    }

    /// Objects as their instants pass, for `Controller::reconcile_on`.
    pub fn stream(self: Arc<Self>) -> impl Stream<Item = ObjectRef<Cr>> + Send {
        futures::stream::unfold((self, VecDeque::new()), |(timers, mut ready)| async move {
            loop {
                if let Some(next) = ready.pop_front() {
                    return Some((next, (timers, ready)));
                }
                let (fired, earliest) = timers.take_due();
                if !fired.is_empty() {
                    ready.extend(fired);
                    continue;
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::{FutureExt, StreamExt};
    use gridshift_proto::ManualClock;
    use jiff::SignedDuration;

    #[tokio::test]
    async fn fires_when_the_clock_passes_and_rescheduling_replaces() {
        let t0: Timestamp = "2022-06-01T00:00:00Z".parse().unwrap();
        let clock = ManualClock::new(t0);
        let timers = ClockTimers::new(Arc::new(clock.clone()));
        let (a, b) = (ObjectRef::<Cr>::new("a").within("ns"), ObjectRef::<Cr>::new("b").within("ns"));
        let mut fired = timers.clone().stream().boxed();
        timers.schedule(a.clone(), t0 + SignedDuration::from_mins(10));
        timers.schedule(b.clone(), t0 + SignedDuration::from_mins(5));
        timers.schedule(b.clone(), t0 + SignedDuration::from_mins(20));
        assert!(fired.next().now_or_never().is_none(), "nothing is due before the clock moves");
        clock.advance(SignedDuration::from_mins(10));
        assert_eq!(fired.next().await, Some(a.clone()));
        timers.schedule(a.clone(), t0 + SignedDuration::from_mins(30));
        timers.cancel(&a);
        clock.advance(SignedDuration::from_mins(30));
        assert_eq!(fired.next().await, Some(b), "b at its replaced time; a was cancelled");
        assert!(timers.due.lock().is_empty());
    }
}
