//! Waiting on the status an agent reports to the hub (shared by `common` and
//! the scheduler tests' `support`).
use gridshift_proto::v1::AgentStatus;
use std::time::Duration;
use tokio::sync::watch;

/// Waits (10 s at most) until the reported status satisfies `f`.
pub async fn status_reaches(
    status: &watch::Receiver<AgentStatus>,
    what: &str,
    f: impl Fn(&AgentStatus) -> bool,
) {
    let mut rx = status.clone();
    tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|s| f(s)))
        .await
        .unwrap_or_else(|_| panic!("status never {what}: {:?}", *status.borrow()))
        .expect("reporter alive");
}
