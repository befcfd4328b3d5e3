//! Fixtures for tests and benchmarks of every crate (feature `test-util`): series
//! builders, the shipped traces, fixed forecasts, clock helpers and a seeded RNG.
//! One copy here instead of one per test file.
use crate::clock::{ManualClock, SharedClock};
use crate::forecasts::Forecasts;
use crate::series::{ForecastPoint, Series, Signal};
use crate::trace::{Trace, parse_csv};
use crate::zone::Zone;
use jiff::{SignedDuration, Timestamp};
use std::path::PathBuf;
use std::sync::Arc;

pub use crate::splitmix::SplitMix as Rng;

pub mod bench;
pub mod scheduling;

/// An instant written in RFC 3339.
pub fn ts(s: &str) -> Timestamp {
    s.parse().unwrap_or_else(|e| panic!("timestamp {s:?}: {e}"))
}

/// A zone by name (panics on an invalid name: a bug in the test).
pub fn zone(name: &str) -> Zone {
    Zone::new(name).unwrap_or_else(|e| panic!("{e}"))
}

/// A series point by point. Defaults: hourly steps, obtained at the first point's start,
/// provider `test`, every point a measurement (not an estimate), average signal.
#[derive(Debug, Clone)]
pub struct SeriesBuilder {
    zone: Zone,
    start: Timestamp,
    step: SignedDuration,
    generated_at: Option<Timestamp>,
    provider: Arc<str>,
    estimated: Estimated,
    signal: Signal,
}

#[derive(Debug, Clone, Copy)]
enum Estimated {
    None,
    All,
    AfterFirst,
}

/// Starts a series of `zone` whose first point begins at `start`.
pub fn series(zone_name: &str, start: Timestamp) -> SeriesBuilder {
    SeriesBuilder {
        zone: zone(zone_name),
        start,
        step: SignedDuration::from_hours(1),
        generated_at: None,
        provider: Arc::from("test"),
        estimated: Estimated::None,
        signal: Signal::Average,
    }
}

impl SeriesBuilder {
    pub fn step(mut self, step: SignedDuration) -> Self {
        self.step = step;
        self
    }

    pub fn generated_at(mut self, at: Timestamp) -> Self {
        self.generated_at = Some(at);
        self
    }

    pub fn provider(mut self, name: &str) -> Self {
        self.provider = Arc::from(name);
        self
    }

    /// Every point is a forecast.
    pub fn estimated(mut self) -> Self {
        self.estimated = Estimated::All;
        self
    }

    /// The first point is measured, the rest are forecasts (a provider's usual shape).
    pub fn forecast_after_first(mut self) -> Self {
        self.estimated = Estimated::AfterFirst;
        self
    }

    pub fn signal(mut self, signal: Signal) -> Self {
        self.signal = signal;
        self
    }

    /// One point per value, `step` apart.
    pub fn values(self, values: &[f64]) -> Series {
        let points = values
            .iter()
            .enumerate()
            .map(|(i, &value)| ForecastPoint {
                start: self.start + self.step * i32::try_from(i).expect("a test-sized series"),
                duration: self.step,
                value,
                provider: self.provider.clone(),
                is_estimated: match self.estimated {
                    Estimated::None => false,
                    Estimated::All => true,
                    Estimated::AfterFirst => i > 0,
                },
            })
            .collect();
        Series::new(self.zone, self.generated_at.unwrap_or(self.start), self.signal, points)
    }
}

/// Hourly values from `start`, obtained at `start`, the first measured and the rest forecast.
pub fn hourly_from(zone_name: &str, start: Timestamp, values: &[f64]) -> Series {
    series(zone_name, start).forecast_after_first().values(values)
}

/// Every zone at one constant value for two days from the hour containing `now`,
/// obtained at `now`, under the default staleness bound.
pub fn fixed(values: &[(&str, f64)], now: Timestamp) -> Forecasts {
    let hour = crate::trace::floor_to(now, SignedDuration::from_hours(1));
    values.iter().map(|(z, v)| series(z, hour).generated_at(now).estimated().values(&[*v; 48])).collect()
}

/// The zones of the shipped open traces.
pub const TRACE_ZONES: [&str; 8] = [
    "GB",
    "US-CAL-CISO",
    "US-MIDA-PJM",
    "US-MIDW-MISO",
    "US-NW-BPAT",
    "US-NY-NYIS",
    "US-SE-SOCO",
    "US-TEX-ERCO",
];

/// Where the shipped open traces live (`e2e/data/carbon-intensity-open`).
pub fn traces_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../e2e/data/carbon-intensity-open")
}

/// A zone's real 2022 hourly trace shipped in the repository.
pub fn trace(zone_name: &str) -> Trace {
    let path = traces_dir().join(format!("{zone_name}.csv"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut zones = parse_csv(&path.display().to_string(), &text).unwrap_or_else(|e| panic!("{e}"));
    zones.remove(zone_name).unwrap_or_else(|| panic!("{} has no rows for {zone_name}", path.display()))
}

/// What a perfect forecast issued at `now` would say: the trace's points from the hour
/// containing `now` for `horizon_h` hours (gaps in the trace stay gaps), all estimated.
pub fn forecast_from_trace(zone_name: &str, trace: &Trace, now: Timestamp, horizon_h: i64) -> Series {
    let points = trace.points();
    let from = points.partition_point(|(t, _)| *t <= now).saturating_sub(1);
    let until = now + SignedDuration::from_hours(horizon_h);
    let provider: Arc<str> = Arc::from("trace");
    let points = points[from..]
        .iter()
        .take_while(|(t, _)| *t < until)
        .map(|(t, v)| ForecastPoint {
            start: *t,
            duration: SignedDuration::from_hours(1),
            value: *v,
            provider: provider.clone(),
            is_estimated: true,
        })
        .collect();
    Series::new(zone(zone_name), now, Signal::Average, points)
}

/// A clock standing at `start` until the test moves it, and the same clock shared.
pub fn manual_clock(start: Timestamp) -> (ManualClock, SharedClock) {
    let clock = ManualClock::new(start);
    (clock.clone(), Arc::new(clock))
}
