//! Polling for a condition with a deadline: how tests and the demo wait for
//! asynchronous convergence without sleeping a fixed time.
use std::future::Future;
use std::time::Duration;

/// Calls `probe` every `interval` until it yields `Some`, or `timeout` passes.
pub async fn until<T, F, Fut>(timeout: Duration, interval: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = probe().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(interval).await;
    }
}
