//! "Now" as an input. Hub and agent read time only through a [`Clock`], so tests
//! and the demo can replay a day in seconds and every time-based rule is
//! testable without sleeping.
use jiff::{SignedDuration, Timestamp};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::watch;

pub type SleepFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
    /// Completes once `now() >= deadline`.
    fn sleep_until(&self, deadline: Timestamp) -> SleepFuture;
}

pub type SharedClock = Arc<dyn Clock>;

/// Wall-clock time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn sleep_until(&self, deadline: Timestamp) -> SleepFuture {
        let wait = deadline.duration_since(Timestamp::now());
        Box::pin(tokio::time::sleep(wait.try_into().unwrap_or_default()))
    }
}

/// Simulated time running `speed` times faster than real time from `start`.
#[derive(Debug, Clone)]
pub struct ScaledClock {
    real_anchor: Instant,
    sim_anchor: Timestamp,
    speed: f64,
}

impl ScaledClock {
    pub fn new(start: Timestamp, speed: f64) -> Self {
        assert!(speed.is_finite() && speed > 0.0, "clock speed must be positive");
        Self { real_anchor: Instant::now(), sim_anchor: start, speed }
    }

    /// Simulated time that equals `start` at the wall-clock instant `wall_anchor`
    /// (which may be in the past). Processes given the same three values agree
    /// on "now" however far apart they started: the demo's hub and agents run as
    /// separate processes on one simulated timeline.
    pub fn anchored(start: Timestamp, speed: f64, wall_anchor: Timestamp) -> Self {
        let mut clock = Self::new(start, speed);
        let behind = Timestamp::now().duration_since(wall_anchor);
        let behind_real = std::time::Duration::try_from(behind.abs()).unwrap_or_default();
        if behind.is_negative() {
            // The anchor is ahead of us: move the simulated start back instead of
            // the monotonic instant (which cannot point into the future portably).
            clock.sim_anchor = start - SignedDuration::from_secs_f64(behind_real.as_secs_f64() * speed);
        } else if let Some(real) = clock.real_anchor.checked_sub(behind_real) {
            clock.real_anchor = real;
        } else {
            clock.sim_anchor = start + SignedDuration::from_secs_f64(behind_real.as_secs_f64() * speed);
        }
        clock
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> Timestamp {
        let real = self.real_anchor.elapsed().as_secs_f64();
        self.sim_anchor + SignedDuration::from_secs_f64(real * self.speed)
    }

    fn sleep_until(&self, deadline: Timestamp) -> SleepFuture {
        let sim_wait = deadline.duration_since(self.now()).as_secs_f64();
        let real_wait = (sim_wait / self.speed).max(0.0);
        Box::pin(tokio::time::sleep(std::time::Duration::from_secs_f64(real_wait)))
    }
}

/// Time that moves only when a test says so.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<Timestamp>>,
    tick: watch::Sender<Timestamp>,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self { now: Arc::new(Mutex::new(start)), tick: watch::Sender::new(start) }
    }

    pub fn set(&self, t: Timestamp) {
        let mut now = self.now.lock().expect("clock lock");
        *now = t;
        self.tick.send_replace(t);
    }

    pub fn advance(&self, by: SignedDuration) {
        let t = self.now() + by;
        self.set(t);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().expect("clock lock")
    }

    fn sleep_until(&self, deadline: Timestamp) -> SleepFuture {
        let mut rx = self.tick.subscribe();
        Box::pin(async move {
            // The sender lives as long as any clone of the clock; if all are gone
            // time can never reach the deadline, so stay pending.
            if rx.wait_for(|now| *now >= deadline).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_clock_wakes_sleepers_when_advanced() {
        let t0: Timestamp = "2022-06-01T00:00:00Z".parse().unwrap();
        let clock = ManualClock::new(t0);
        let sleeper = tokio::spawn(clock.sleep_until(t0 + SignedDuration::from_hours(1)));
        clock.advance(SignedDuration::from_mins(30));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        clock.advance(SignedDuration::from_mins(30));
        sleeper.await.unwrap();
        assert_eq!(clock.now(), t0 + SignedDuration::from_hours(1));
    }

    #[test]
    fn scaled_clock_runs_faster_than_real_time() {
        let t0: Timestamp = "2022-06-01T00:00:00Z".parse().unwrap();
        let clock = ScaledClock::new(t0, 3600.0);
        let before = Instant::now();
        while before.elapsed() < std::time::Duration::from_millis(20) {}
        assert!(clock.now() >= t0 + SignedDuration::from_secs(60));
    }

    #[test]
    fn anchored_clocks_started_apart_agree() {
        let t0: Timestamp = "2022-06-01T00:00:00Z".parse().unwrap();
        let speed = 3600.0;
        // An anchor ten real seconds ago: ten simulated hours have passed.
        let past = ScaledClock::anchored(t0, speed, Timestamp::now() - SignedDuration::from_secs(10));
        let elapsed = past.now().duration_since(t0);
        assert!(elapsed >= SignedDuration::from_hours(10), "{elapsed:?}");
        assert!(elapsed < SignedDuration::from_hours(11), "{elapsed:?}");
        // An anchor in the future: simulated time has not reached the start yet.
        let future = ScaledClock::anchored(t0, speed, Timestamp::now() + SignedDuration::from_secs(10));
        assert!(future.now() < t0 - SignedDuration::from_hours(9));
        // Two clocks on one anchor read the same time (to scheduling noise).
        let anchor = Timestamp::now();
        let (a, b) = (ScaledClock::anchored(t0, speed, anchor), ScaledClock::anchored(t0, speed, anchor));
        let gap = a.now().duration_since(b.now()).abs();
        assert!(gap < SignedDuration::from_secs(60), "{gap:?}");
    }
}
