//! Replays recorded hourly traces (`timestamp_utc,zone,gco2_per_kwh`) as if
//! they were live: the hour containing "now" is the current value and the
//! following hours are the forecast, all relative to the injectable clock, so
//! the demo, tests and simulator can run history at any speed.
//!
//! When the clock is outside the trace, time is mapped into it modulo a whole
//! number of weeks (364 days for a year-long trace), so time of day and day of
//! week still line up with the recording. Replayed forecasts are perfect
//! (they are the recorded values); missing hours in a trace stay gaps.
use super::Provider;
use crate::error::ProviderError;
use futures::future::BoxFuture;
use gridshift_core::trace::{Trace, TraceError, floor_to, load_dir};
use gridshift_core::{ForecastPoint, Series, SharedClock, Signal, Zone};
use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

pub const NAME: &str = "replay";
const HOUR: SignedDuration = SignedDuration::from_hours(1);

pub struct ReplayProvider {
    traces: BTreeMap<Zone, Trace>,
    horizon: SignedDuration,
    clock: SharedClock,
}

impl std::fmt::Debug for ReplayProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayProvider")
            .field("zones", &self.traces.keys().collect::<Vec<_>>())
            .field("horizon", &self.horizon)
            .finish()
    }
}

impl ReplayProvider {
    /// `horizon`: how far ahead the replayed forecast reaches.
    pub fn new(traces: BTreeMap<Zone, Trace>, horizon: SignedDuration, clock: SharedClock) -> Self {
        Self { traces, horizon, clock }
    }

    /// Loads every `*.csv` in `dir`.
    pub fn from_dir(dir: &Path, horizon: SignedDuration, clock: SharedClock) -> Result<Self, TraceError> {
        Ok(Self::new(load_dir(dir)?, horizon, clock))
    }

    pub fn zones(&self) -> impl Iterator<Item = &str> {
        self.traces.keys().map(Zone::as_str)
    }

    pub fn trace(&self, zone: &str) -> Option<&Trace> {
        self.traces.get(zone)
    }

    /// The series played at `now` (pure given the traces).
    pub fn series_at(&self, zone: &Zone, now: Timestamp) -> Result<Series, ProviderError> {
        let trace = self.traces.get(zone).ok_or_else(|| ProviderError::UnsupportedZone {
            provider: NAME.into(),
            zone: zone.to_string(),
        })?;
        let provider: Arc<str> = Arc::from(NAME);
        let start = floor_to(now, HOUR);
        let hours = self.horizon.as_secs().div_euclid(HOUR.as_secs()).max(0);
        let points: Vec<ForecastPoint> = (0..=hours)
            .filter_map(|k| {
                let slot = start + SignedDuration::from_hours(k);
                trace.value_at(trace.map_time(slot)).map(|value| ForecastPoint {
                    start: slot,
                    duration: HOUR,
                    value,
                    provider: provider.clone(),
                    is_estimated: k > 0,
                })
            })
            .collect();
        if points.is_empty() {
            return Err(ProviderError::invalid(NAME, format!("trace for {zone} has no data around {now}")));
        }
        Ok(Series::new(zone.clone(), now, Signal::Average, points))
    }
}

impl Provider for ReplayProvider {
    fn name(&self) -> &str {
        NAME
    }

    fn signal(&self) -> Signal {
        Signal::Average
    }

    fn resolution(&self) -> SignedDuration {
        HOUR
    }

    fn supports(&self, zone: &str) -> bool {
        self.traces.contains_key(zone)
    }

    fn fetch<'a>(&'a self, zone: &'a Zone) -> BoxFuture<'a, Result<Series, ProviderError>> {
        let result = self.series_at(zone, self.clock.now());
        Box::pin(async move { result })
    }
}
