//! Shared setup for the agent's tests against gridshift-sim: the fixtures of
//! `gridshift_agent::testing` (a simulated member cluster with KEDA's CRDs and ours, a
//! forecast the test controls) and waiting on watch events.
#![allow(dead_code, unused_imports)]

pub use gridshift_agent::testing::keda as cluster;
pub use gridshift_agent::testing::{BOUND, ZONE, hourly, t0};
pub use gridshift_sim::testing::{LIMIT, wait_for};

use gridshift_agent::forecast::ForecastHandle;
use gridshift_core::Series;
use gridshift_sim::SimServer;
use jiff::Timestamp;

pub async fn sim() -> SimServer {
    // Logs show in a failing test's output (RUST_LOG to choose, e.g. gridshift_agent=debug).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("gridshift_agent=info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    gridshift_sim::testing::cluster(&[]).await
}

/// A forecast the test drives, standing in for the stream client's output.
pub struct FakeHub;

impl FakeHub {
    /// Connected since `now`, the cluster in zone GB, bound 6 h.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(
        series: Option<Series>,
        now: Timestamp,
    ) -> (gridshift_agent::testing::FakeHub, ForecastHandle) {
        gridshift_agent::testing::fake_hub(series, now)
    }
}
