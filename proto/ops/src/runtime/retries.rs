//! Retrying failed reconciles: per object, the one backoff schedule
//! (`gridshift_core::backoff`), forgotten on success. Real time: API errors heal in
//! real time, whatever the injected clock says.
use gridshift_core::backoff::delay;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

pub struct Retries<K> {
    base: Duration,
    max: Duration,
    failures: Mutex<HashMap<K, u32>>,
}

impl<K: Eq + Hash + Clone> Retries<K> {
    pub fn new(base: Duration, max: Duration) -> Self {
        Self { base, max, failures: Mutex::default() }
    }

    /// Counts a failure of `key`; the delay before its retry (jittered, at least 1 ms).
    pub fn failed(&self, key: &K) -> Duration {
        let failures = {
            let mut f = self.failures.lock();
            let n = f.entry(key.clone()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        };
        delay(self.base, self.max, failures, rand::random()).max(Duration::from_millis(1))
    }

    /// `key` succeeded (or is gone): its next failure starts from the base again.
    pub fn forget(&self, key: &K) {
        self.failures.lock().remove(key);
    }

    /// Failures of `key` since its last success.
    pub fn failures(&self, key: &K) -> u32 {
        self.failures.lock().get(key).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_per_key_and_resets_on_success() {
        let r = Retries::new(Duration::from_millis(100), Duration::from_secs(1));
        let a = "a".to_string();
        let first = r.failed(&a);
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100), "{first:?}");
        for _ in 0..10 {
            r.failed(&a);
        }
        assert!(r.failed(&a) <= Duration::from_secs(1));
        assert!(r.failed(&a) >= Duration::from_millis(500));
        assert_eq!(r.failures(&"b".to_string()), 0, "per key");
        r.forget(&a);
        assert_eq!(r.failures(&a), 0);
    }
}
