//! What a decision at hour `h` may know: recorded actuals up to and including the current
//! hour, and a forecast of every later hour = actual + error.
//!
//! The open traces hold actuals only, so forecast error is synthesised. Real forecast
//! errors are not white noise: a forecast that is too high at 14:00 is likely too high at
//! 15:00 as well (weather systems move slowly), and successive forecasts of the same hour
//! agree with each other more than with the outcome. The error of the forecast issued at
//! hour `h` for target hour `T > h` is therefore
//!
//! `e(h, T) = σ · (√½ · s(T) + √½ · y_h(T − h))`
//!
//! where `s` is a unit-variance AR(1) process over target hours (shared by every forecast
//! of that hour, ρ = 0.9 per hour) and `y_h` is a unit-variance AR(1) process over lead
//! time, fresh for each issue (ρ = 0.9 per hour). Both are stationary, so every lead time
//! has the same Gaussian error distribution with standard deviation σ, and
//! σ = MAE · √(π/2) makes its mean absolute error the requested MAE. Forecast values are
//! floored at 1 gCO2eq/kWh (an intensity is never negative); the report states the MAE
//! actually measured. Noise comes from splitmix64 keyed by (seed, zone name, issue hour),
//! so a run is reproducible and independent of which scenarios ran or in what order.
use crate::trace::{Grid, HOUR};
use gridshift_core::splitmix::SplitMix;
use gridshift_core::{ForecastPoint, Series, Signal};
use std::sync::Arc;

const RHO: f64 = 0.9;
const MIN_FORECAST: f64 = 1.0;

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ForecastSettings {
    /// Target mean absolute error of forecast points, gCO2eq/kWh (0 = perfect forecasts).
    pub mae: f64,
    pub seed: u64,
    /// How many hours after the current one a forecast covers.
    pub horizon_hours: usize,
    /// How many recorded hours before the current one a series carries (KEDA's
    /// `carbonIntensityDuration` rule looks back).
    pub lookback_hours: usize,
}

impl Default for ForecastSettings {
    fn default() -> Self {
        Self { mae: 0.0, seed: 1, horizon_hours: 48, lookback_hours: 24 }
    }
}

pub struct Forecaster<'g> {
    grid: &'g Grid,
    pub settings: ForecastSettings,
    sigma: f64,
    /// Per zone, per target hour: the shared unit-variance component `s(T)`.
    shared: Vec<Vec<f64>>,
    provider: Arc<str>,
}

impl<'g> Forecaster<'g> {
    pub fn new(grid: &'g Grid, settings: ForecastSettings) -> Self {
        let sigma = settings.mae * (std::f64::consts::PI / 2.0).sqrt();
        let shared = if sigma > 0.0 {
            grid.zones
                .iter()
                .map(|z| {
                    let mut rng = SplitMix::new(key(settings.seed, z, u64::MAX));
                    ar1(&mut rng, grid.hours)
                })
                .collect()
        } else {
            Vec::new()
        };
        Self { grid, settings, sigma, shared, provider: Arc::from("whatif") }
    }

    pub fn grid(&self) -> &'g Grid {
        self.grid
    }

    /// The forecast issued at the start of hour `issue` for hours `issue+1 ..= issue+horizon`
    /// (clipped to the grid), as `(target hour, value)`.
    pub fn forecast(&self, z: usize, issue: usize) -> Vec<(usize, f64)> {
        let last = (issue + self.settings.horizon_hours).min(self.grid.hours.saturating_sub(1));
        let targets = issue + 1..=last;
        if self.sigma == 0.0 {
            return targets.map(|t| (t, self.grid.value(z, t))).collect();
        }
        let mut rng = SplitMix::new(key(self.settings.seed, &self.grid.zones[z], issue as u64));
        let lead = ar1(&mut rng, last.saturating_sub(issue));
        let half = std::f64::consts::FRAC_1_SQRT_2;
        targets
            .zip(lead)
            .map(|(t, y)| {
                let e = self.sigma * (half * self.shared[z][t] + half * y);
                (t, (self.grid.value(z, t) + e).max(MIN_FORECAST))
            })
            .collect()
    }

    /// The series a controller would hold for zone `z` during hour `issue`.
    pub fn series(&self, z: usize, issue: usize) -> Series {
        self.series_with_lookback(z, issue, self.settings.lookback_hours)
    }

    /// As [`Self::series`] with `lookback` recorded hours before the current one (the
    /// ranking and the deferral planner read nothing before now, so they need none).
    pub fn series_with_lookback(&self, z: usize, issue: usize, lookback: usize) -> Series {
        let from = issue.saturating_sub(lookback);
        let point = |h: usize, value: f64, is_estimated: bool| ForecastPoint {
            start: self.grid.at(h),
            duration: HOUR,
            value,
            provider: self.provider.clone(),
            is_estimated,
        };
        let mut points: Vec<ForecastPoint> =
            (from..=issue).map(|h| point(h, self.grid.value(z, h), false)).collect();
        points.extend(self.forecast(z, issue).into_iter().map(|(h, v)| point(h, v, true)));
        Series {
            zone: self.grid.zones[z].clone(),
            generated_at: self.grid.at(issue),
            signal: Signal::Average,
            points,
        }
    }

    /// Mean absolute error over every forecast point of every issue hour and zone.
    pub fn measured_mae(&self) -> f64 {
        let (mut sum, mut n) = (0.0, 0usize);
        for z in 0..self.grid.zones.len() {
            for issue in 0..self.grid.hours {
                for (t, v) in self.forecast(z, issue) {
                    sum += (v - self.grid.value(z, t)).abs();
                    n += 1;
                }
            }
        }
        if n == 0 { 0.0 } else { sum / n as f64 }
    }
}

/// A stationary unit-variance AR(1) sample path of length `n`.
fn ar1(rng: &mut SplitMix, n: usize) -> Vec<f64> {
    let innovation = (1.0 - RHO * RHO).sqrt();
    let mut x = rng.normal();
    (0..n)
        .map(|_| {
            let v = x;
            x = RHO * x + innovation * rng.normal();
            v
        })
        .collect()
}

fn key(seed: u64, zone: &str, issue: u64) -> u64 {
    // FNV-1a over the zone name, mixed with the seed and issue hour.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in zone.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ issue.wrapping_mul(0xD1B5_4A32_D192_ED03)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(hours: usize) -> Grid {
        let t0 = "2022-01-01T00:00:00Z".parse().unwrap();
        let row: Vec<f64> = (0..hours).map(|h| 300.0 + 100.0 * ((h % 24) as f64 / 4.0).sin()).collect();
        Grid::from_values(t0, vec![("A".into(), row.clone()), ("B".into(), row)])
    }

    #[test]
    fn perfect_forecast_is_the_recording_and_knows_only_the_past_as_actuals() {
        let g = grid(100);
        let f = Forecaster::new(
            &g,
            ForecastSettings { horizon_hours: 10, lookback_hours: 3, ..Default::default() },
        );
        let s = f.series(0, 50);
        assert_eq!(s.points.len(), 3 + 1 + 10);
        assert_eq!(s.generated_at, g.at(50));
        assert!(s.points.iter().all(|p| p.value == g.value(0, g.hour_of(p.start) as usize)));
        assert_eq!(s.points.iter().filter(|p| !p.is_estimated).count(), 4);
        assert_eq!(f.series(0, 95).points.len(), 3 + 1 + 4, "clipped at the end of the grid");
    }

    #[test]
    fn error_has_the_requested_mae_is_reproducible_and_correlated() {
        let g = grid(2000);
        let settings = ForecastSettings { mae: 25.0, seed: 7, ..Default::default() };
        let f = Forecaster::new(&g, settings);
        let mae = f.measured_mae();
        assert!((mae - 25.0).abs() < 2.0, "measured MAE {mae}");
        assert_eq!(f.forecast(1, 10), Forecaster::new(&g, settings).forecast(1, 10));
        assert_ne!(f.forecast(0, 10), f.forecast(1, 10), "zones get different errors");
        // Neighbouring lead times err in the same direction far more often than not.
        let (mut same, mut n) = (0, 0);
        for issue in 0..1500 {
            let e: Vec<f64> = f.forecast(0, issue).iter().map(|(t, v)| v - g.value(0, *t)).collect();
            for w in e.windows(2) {
                same += usize::from(w[0].signum() == w[1].signum());
                n += 1;
            }
        }
        assert!(same as f64 / n as f64 > 0.75, "{same}/{n}");
    }
}
