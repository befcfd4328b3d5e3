//! The GB Carbon Intensity API (NESO; no key; CC BY 4.0). Half-hour slots of
//! average gCO2/kWh. Nationally a slot has `forecast` and `actual` (null until
//! measured, so we fall back to `forecast` and mark it estimated); regional
//! slots have `forecast` only.
//!
//! Zones: `GB` is the national series; `GB-UKCI-<regionid>` (1–17, as the API
//! numbers them: 1 North Scotland … 14 South East England, 15 England,
//! 16 Scotland, 17 Wales) picks one region.
use super::http::{HttpClient, check_value, join, parse_time};
use super::{Provider, floor_to};
use crate::error::ProviderError;
use crate::metrics::Metrics;
use futures::future::BoxFuture;
use gridshift_core::{ForecastPoint, Series, SharedClock, Signal, Zone};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

pub const NAME: &str = "ukcarbonintensity";
pub const DEFAULT_BASE_URL: &str = "https://api.carbonintensity.org.uk";
pub const REGION_PREFIX: &str = "GB-UKCI-";
const SLOT: SignedDuration = SignedDuration::from_mins(30);

#[derive(Debug, Clone)]
pub struct UkConfig {
    pub base_url: String,
}

impl Default for UkConfig {
    fn default() -> Self {
        Self { base_url: DEFAULT_BASE_URL.into() }
    }
}

pub struct UkCarbonIntensity {
    http: HttpClient,
    cfg: UkConfig,
    clock: SharedClock,
}

impl std::fmt::Debug for UkCarbonIntensity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UkCarbonIntensity").field("base_url", &self.cfg.base_url).finish()
    }
}

#[derive(Debug, Deserialize)]
struct Intensity {
    forecast: Option<f64>,
    #[serde(default)]
    actual: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct Slot {
    from: String,
    to: String,
    intensity: Intensity,
}

#[derive(Debug, Deserialize)]
struct National {
    data: Vec<Slot>,
}

#[derive(Debug, Deserialize)]
struct Region {
    regionid: u32,
    intensity: Intensity,
}

#[derive(Debug, Deserialize)]
struct RegionalSlot {
    from: String,
    to: String,
    regions: Vec<Region>,
}

#[derive(Debug, Deserialize)]
struct Regional {
    data: Vec<RegionalSlot>,
}

/// Which series a zone key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UkZone {
    National,
    Region(u32),
}

pub fn parse_zone(zone: &str) -> Option<UkZone> {
    if zone.eq_ignore_ascii_case("GB") {
        return Some(UkZone::National);
    }
    let id = zone.strip_prefix(REGION_PREFIX)?.parse::<u32>().ok()?;
    (1..=18).contains(&id).then_some(UkZone::Region(id))
}

impl UkCarbonIntensity {
    pub fn new(
        cfg: UkConfig,
        clock: SharedClock,
        timeout: Duration,
        metrics: Metrics,
    ) -> Result<Self, ProviderError> {
        join(NAME, &cfg.base_url, "")?;
        Ok(Self { http: HttpClient::new(NAME, timeout, metrics)?, cfg, clock })
    }

    fn window_start(&self) -> String {
        floor_to(self.clock.now(), SLOT).strftime("%Y-%m-%dT%H:%MZ").to_string()
    }

    async fn get(&self, path: String, what: &str) -> Result<Vec<u8>, ProviderError> {
        let url = join(NAME, &self.cfg.base_url, &path)?;
        let reply = self.http.send(self.http.get(url)).await?;
        self.http.check(&reply, what, self.clock.now())?;
        Ok(reply.body)
    }

    /// National slots from the current half-hour, 48 hours ahead.
    pub async fn national(&self) -> Result<Vec<ForecastPoint>, ProviderError> {
        let body = self.get(format!("intensity/{}/fw48h", self.window_start()), "national forecast").await?;
        let n: National = self.http.decode(&body)?;
        let slots = n.data.into_iter().map(|s| (s.from, s.to, s.intensity)).collect();
        to_points(slots, "GB")
    }

    /// One region's slots from the current half-hour, 48 hours ahead.
    pub async fn regional(&self, regionid: u32) -> Result<Vec<ForecastPoint>, ProviderError> {
        let body = self
            .get(format!("regional/intensity/{}/fw48h", self.window_start()), "regional forecast")
            .await?;
        let r: Regional = self.http.decode(&body)?;
        let slots = r
            .data
            .into_iter()
            .filter_map(|s| {
                let region = s.regions.into_iter().find(|r| r.regionid == regionid)?;
                Some((s.from, s.to, region.intensity))
            })
            .collect();
        to_points(slots, &format!("{REGION_PREFIX}{regionid}"))
    }

    async fn fetch_series(&self, zone: &Zone) -> Result<Series, ProviderError> {
        let points = match parse_zone(zone) {
            Some(UkZone::National) => self.national().await?,
            Some(UkZone::Region(id)) => self.regional(id).await?,
            None => {
                return Err(ProviderError::UnsupportedZone { provider: NAME.into(), zone: zone.to_string() });
            }
        };
        Ok(Series::new(zone.clone(), self.clock.now(), Signal::Average, points))
    }
}

fn to_points(
    slots: Vec<(String, String, Intensity)>,
    zone: &str,
) -> Result<Vec<ForecastPoint>, ProviderError> {
    let provider: Arc<str> = Arc::from(NAME);
    let mut out = Vec::with_capacity(slots.len());
    for (from, to, intensity) in slots {
        let (raw, estimated) = match (intensity.actual, intensity.forecast) {
            (Some(a), _) => (a, false),
            (None, Some(f)) => (f, true),
            (None, None) => continue, // a gap, not an error
        };
        let value = check_value(NAME, raw, &from)?;
        let start: Timestamp = parse_time(NAME, &from)?;
        let end: Timestamp = parse_time(NAME, &to)?;
        if end <= start {
            return Err(ProviderError::invalid(NAME, format!("slot {from}..{to} ends before it starts")));
        }
        out.push(ForecastPoint {
            start,
            duration: end.duration_since(start),
            value,
            provider: provider.clone(),
            is_estimated: estimated,
        });
    }
    if out.is_empty() {
        return Err(ProviderError::invalid(NAME, format!("no values for {zone} (empty or all null)")));
    }
    Ok(out)
}

impl Provider for UkCarbonIntensity {
    fn name(&self) -> &str {
        NAME
    }

    fn signal(&self) -> Signal {
        Signal::Average
    }

    fn resolution(&self) -> SignedDuration {
        SLOT
    }

    fn supports(&self, zone: &str) -> bool {
        parse_zone(zone).is_some()
    }

    fn fetch<'a>(&'a self, zone: &'a Zone) -> BoxFuture<'a, Result<Series, ProviderError>> {
        Box::pin(self.fetch_series(zone))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_keys() {
        assert_eq!(parse_zone("GB"), Some(UkZone::National));
        assert_eq!(parse_zone("GB-UKCI-13"), Some(UkZone::Region(13)));
        assert_eq!(parse_zone("GB-UKCI-99"), None);
        assert_eq!(parse_zone("DE"), None);
    }
}
