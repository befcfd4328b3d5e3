//! Conversions between the wire types and the domain types.
use crate::v1;
use gridshift_core::{ForecastPoint, Series, Signal, Zone};
use jiff::{SignedDuration, Timestamp};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("zone forecast has an empty zone name")]
    EmptyZone,
    #[error(transparent)]
    InvalidZone(#[from] gridshift_core::InvalidZone),
    #[error("zone {zone}: timestamp {value} is out of range")]
    Timestamp { zone: String, value: i64 },
    #[error("zone {zone}: point at {start} has a zero duration")]
    ZeroDuration { zone: String, start: i64 },
}

impl From<Signal> for v1::Signal {
    fn from(s: Signal) -> Self {
        match s {
            Signal::Average => v1::Signal::Average,
            Signal::Marginal => v1::Signal::Marginal,
        }
    }
}

impl From<&Series> for v1::ZoneForecast {
    fn from(s: &Series) -> Self {
        v1::ZoneForecast {
            zone: s.zone.to_string(),
            revision: 0,
            generated_at_unix_ms: s.generated_at.as_millisecond(),
            signal: v1::Signal::from(s.signal) as i32,
            points: s
                .points
                .iter()
                .map(|p| v1::ForecastPoint {
                    start_unix_seconds: p.start.as_second(),
                    duration_seconds: p.duration.as_secs().clamp(0, u32::MAX as i64) as u32,
                    gco2_per_kwh: p.value,
                    provider: p.provider.to_string(),
                    is_estimated: p.is_estimated,
                })
                .collect(),
        }
    }
}

impl TryFrom<&v1::ZoneForecast> for Series {
    type Error = WireError;

    fn try_from(z: &v1::ZoneForecast) -> Result<Self, WireError> {
        if z.zone.is_empty() {
            return Err(WireError::EmptyZone);
        }
        let zone = Zone::new(&z.zone)?;
        let ts_err = |value| WireError::Timestamp { zone: z.zone.clone(), value };
        let generated_at = Timestamp::from_millisecond(z.generated_at_unix_ms)
            .map_err(|_| ts_err(z.generated_at_unix_ms))?;
        let signal = match v1::Signal::try_from(z.signal) {
            Ok(v1::Signal::Marginal) => Signal::Marginal,
            _ => Signal::Average,
        };
        // Provider names repeat on every point; share one allocation per name.
        let mut last_provider: Option<Arc<str>> = None;
        let mut points = Vec::with_capacity(z.points.len());
        for p in &z.points {
            if p.duration_seconds == 0 {
                return Err(WireError::ZeroDuration { zone: z.zone.clone(), start: p.start_unix_seconds });
            }
            let start =
                Timestamp::from_second(p.start_unix_seconds).map_err(|_| ts_err(p.start_unix_seconds))?;
            let provider = match &last_provider {
                Some(name) if **name == *p.provider => name.clone(),
                _ => {
                    let name: Arc<str> = p.provider.as_str().into();
                    last_provider = Some(name.clone());
                    name
                }
            };
            points.push(ForecastPoint {
                start,
                duration: SignedDuration::from_secs(p.duration_seconds as i64),
                value: p.gco2_per_kwh,
                provider,
                is_estimated: p.is_estimated,
            });
        }
        Ok(Series::new(zone, generated_at, signal, points))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_wire() {
        let t0: Timestamp = "2022-03-01T00:00:00Z".parse().unwrap();
        let series = Series::new(
            Zone::known("US-CAL-CISO"),
            t0,
            Signal::Marginal,
            vec![ForecastPoint {
                start: t0,
                duration: SignedDuration::from_mins(30),
                value: 212.5,
                provider: "watttime".into(),
                is_estimated: true,
            }],
        );
        let wire = v1::ZoneForecast::from(&series);
        assert_eq!(Series::try_from(&wire).unwrap(), series);
    }

    #[test]
    fn rejects_malformed_zone_forecasts() {
        let mut wire = v1::ZoneForecast { zone: "GB".into(), ..Default::default() };
        wire.points.push(v1::ForecastPoint { duration_seconds: 0, ..Default::default() });
        assert!(matches!(Series::try_from(&wire), Err(WireError::ZeroDuration { .. })));
        wire.zone.clear();
        assert!(matches!(Series::try_from(&wire), Err(WireError::EmptyZone)));
        wire.zone = "G B".into();
        assert!(matches!(Series::try_from(&wire), Err(WireError::InvalidZone(_))));
    }
}
