//! Exponential reconnect backoff with jitter, so agents that lost the hub at the
//! same moment do not all come back at the same moment.
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self { initial, max: max.max(initial), attempt: 0 }
    }

    /// The next delay: uniformly random in [cap/2, cap], where cap doubles per
    /// attempt up to `max` ([`gridshift_proto::backoff::delay`]). `unit` is a
    /// uniform sample from [0, 1).
    pub fn next_delay(&mut self, unit: f64) -> Duration {
        self.attempt = self.attempt.saturating_add(1);
        gridshift_proto::backoff::delay(self.initial, self.max, self.attempt, unit)
    }

    /// After a successful handshake: start again from `initial`.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_with_jitter_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(b.next_delay(1.0), Duration::from_millis(100));
        assert_eq!(b.next_delay(0.0), Duration::from_millis(100));
        assert_eq!(b.next_delay(1.0), Duration::from_millis(400));
        for _ in 0..10 {
            b.next_delay(0.5);
        }
        assert_eq!(b.next_delay(1.0), Duration::from_secs(1));
        assert_eq!(b.next_delay(0.0), Duration::from_millis(500));
        b.reset();
        assert_eq!(b.next_delay(1.0), Duration::from_millis(100));
    }
}
