//! The agent's current forecast, as the rest of the agent sees it: a watch-style
//! handle that the ConfigMap writer, the KEDA capper and the scheduler read.
use gridshift_core::{Forecasts, Series, Zone};
use jiff::{SignedDuration, Timestamp};
use std::sync::Arc;
use tokio::sync::watch;

/// What the agent knows, and how it knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastView {
    /// Every zone the hub sent (or the ConfigMap remembered), under the staleness bound
    /// the hub announced.
    pub forecasts: Forecasts,
    /// The cluster's own grid zone (the first of its node zones).
    pub primary_zone: Option<Zone>,
    pub hub_connected: bool,
    /// When (clock time) the hub was last heard from, if ever.
    pub last_hub_contact: Option<Timestamp>,
    /// When (clock time) the forecast last changed.
    pub updated_at: Option<Timestamp>,
    pub epoch: u64,
    pub revision: u64,
}

impl ForecastView {
    pub fn empty(primary_zone: Option<Zone>, staleness_bound: SignedDuration) -> Self {
        Self {
            forecasts: Forecasts::new(staleness_bound),
            primary_zone,
            hub_connected: false,
            last_hub_contact: None,
            updated_at: None,
            epoch: 0,
            revision: 0,
        }
    }

    /// Data older than this (from its generation time) is not acted upon.
    pub fn staleness_bound(&self) -> SignedDuration {
        self.forecasts.staleness_bound()
    }

    /// A zone's series, whatever its age.
    pub fn series(&self, zone: &str) -> Option<&Series> {
        self.forecasts.get(zone)
    }

    /// A zone's series if it may be acted upon at `now`; `None` means fail open.
    pub fn fresh(&self, zone: &str, now: Timestamp) -> Option<&Series> {
        self.forecasts.usable(zone, now)
    }

    pub fn primary(&self) -> Option<&Series> {
        self.primary_zone.as_deref().and_then(|z| self.series(z))
    }

    /// How old the primary zone's data is at `now`.
    pub fn age(&self, now: Timestamp) -> Option<SignedDuration> {
        self.primary().map(|s| s.age(now))
    }
}

/// Read side of the agent's forecast. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ForecastHandle {
    rx: watch::Receiver<Arc<ForecastView>>,
}

impl ForecastHandle {
    pub fn new(rx: watch::Receiver<Arc<ForecastView>>) -> Self {
        Self { rx }
    }

    /// The latest view.
    pub fn current(&self) -> Arc<ForecastView> {
        self.rx.borrow().clone()
    }

    /// Waits for the next change; `Err` once the stream client is gone.
    pub async fn changed(&mut self) -> Result<Arc<ForecastView>, watch::error::RecvError> {
        self.rx.changed().await?;
        Ok(self.rx.borrow_and_update().clone())
    }

    /// Waits until the view satisfies `f`.
    pub async fn wait_for(
        &mut self,
        mut f: impl FnMut(&ForecastView) -> bool,
    ) -> Result<Arc<ForecastView>, watch::error::RecvError> {
        let view = self.rx.wait_for(|v| f(v)).await?;
        Ok(view.clone())
    }
}
