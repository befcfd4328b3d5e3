//! Electricity Maps API v3: `auth-token` header; `latest` and `history` on
//! every plan, `forecast` and `past-range` on paid/trial keys. Values are
//! average, consumption-based gCO2eq/kWh, hourly.
use super::http::{HttpClient, Reply, check_value, join, parse_time};
use super::{Provider, floor_to};
use crate::error::ProviderError;
use crate::metrics::Metrics;
use crate::secret::Secret;
use futures::future::BoxFuture;
use gridshift_core::{ForecastPoint, Series, SharedClock, Signal, Zone};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

pub const NAME: &str = "electricitymaps";
pub const DEFAULT_BASE_URL: &str = "https://api.electricitymaps.com/v3";

#[derive(Debug, Clone)]
pub struct ElectricityMapsConfig {
    /// Includes the `/v3` prefix; free-tier and commercial endpoints differ
    /// only in host, so this is all that changes between them.
    pub base_url: String,
    pub api_key: Secret,
    /// Also call `/carbon-intensity/forecast` (needs a paid or trial key).
    pub forecast: bool,
    /// `lifecycle` (the API default) or `direct`.
    pub emission_factor_type: Option<String>,
    pub disable_estimations: bool,
}

impl ElectricityMapsConfig {
    pub fn new(api_key: Secret) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.into(),
            api_key,
            forecast: false,
            emission_factor_type: None,
            disable_estimations: false,
        }
    }
}

pub struct ElectricityMaps {
    http: HttpClient,
    cfg: ElectricityMapsConfig,
    clock: SharedClock,
}

impl std::fmt::Debug for ElectricityMaps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ElectricityMaps")
            .field("base_url", &self.cfg.base_url)
            .field("forecast", &self.cfg.forecast)
            .finish()
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    carbon_intensity: Option<f64>,
    datetime: String,
    #[serde(default)]
    is_estimated: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct History {
    history: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
struct Forecast {
    forecast: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
struct Range {
    data: Vec<Entry>,
}

/// Electricity Maps answers an exhausted quota with 401 rather than 429, with a
/// body that says so; a bad key gets a 401 too. Only the body tells them apart,
/// and confusing them either hammers a rate-limited API or hides a bad key.
pub fn is_rate_limit_401(body: &str) -> bool {
    let b = body.to_ascii_lowercase();
    ["rate limit", "ratelimit", "rate-limit", "too many requests", "quota", "limit exceeded", "limit reached"]
        .iter()
        .any(|needle| b.contains(needle))
}

impl ElectricityMaps {
    pub fn new(
        cfg: ElectricityMapsConfig,
        clock: SharedClock,
        timeout: Duration,
        metrics: Metrics,
    ) -> Result<Self, ProviderError> {
        if cfg.api_key.is_empty() {
            return Err(ProviderError::Config {
                provider: NAME.into(),
                detail: "no API key (set --em-api-key-file or GRIDSHIFT_EM_API_KEY)".into(),
            });
        }
        join(NAME, &cfg.base_url, "")?;
        let http = HttpClient::new(NAME, timeout, metrics)?.redacting(&cfg.api_key);
        Ok(Self { http, cfg, clock })
    }

    fn url(&self, path: &str, zone: &str, extra: &[(&str, String)]) -> Result<reqwest::Url, ProviderError> {
        let mut url = join(NAME, &self.cfg.base_url, path)?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("zone", zone);
            if let Some(f) = &self.cfg.emission_factor_type {
                q.append_pair("emissionFactorType", f);
            }
            if self.cfg.disable_estimations {
                q.append_pair("disableEstimations", "true");
            }
            for (k, v) in extra {
                q.append_pair(k, v);
            }
        }
        Ok(url)
    }

    async fn call(&self, url: reqwest::Url, what: &str) -> Result<Reply, ProviderError> {
        let req = self.http.get(url).header("auth-token", self.cfg.api_key.expose());
        let reply = self.http.send(req).await?;
        if reply.status == 401 && is_rate_limit_401(&String::from_utf8_lossy(&reply.body)) {
            let now = self.clock.now();
            return Err(ProviderError::RateLimited {
                provider: NAME.into(),
                retry_after: reply
                    .retry_after
                    .as_deref()
                    .and_then(|v| crate::backoff::parse_retry_after(v, now)),
            });
        }
        self.http.check(&reply, what, self.clock.now())?;
        Ok(reply)
    }

    /// `GET /carbon-intensity/latest`: the current hour.
    pub async fn latest(&self, zone: &str) -> Result<Vec<ForecastPoint>, ProviderError> {
        let url = self.url("carbon-intensity/latest", zone, &[])?;
        let reply = self.call(url, &format!("latest intensity of {zone}")).await?;
        let entry: Entry = self.http.decode(&reply.body)?;
        let points = to_points(vec![entry], false)?;
        non_empty(points, "latest", zone)
    }

    /// `GET /carbon-intensity/history`: the last 24 hours.
    pub async fn history(&self, zone: &str) -> Result<Vec<ForecastPoint>, ProviderError> {
        let url = self.url("carbon-intensity/history", zone, &[])?;
        let reply = self.call(url, &format!("history of {zone}")).await?;
        let h: History = self.http.decode(&reply.body)?;
        non_empty(to_points(h.history, false)?, "history", zone)
    }

    /// `GET /carbon-intensity/forecast`: the coming hours (paid keys).
    pub async fn forecast(&self, zone: &str) -> Result<Vec<ForecastPoint>, ProviderError> {
        let url = self.url("carbon-intensity/forecast", zone, &[])?;
        let reply = self.call(url, &format!("forecast of {zone}")).await?;
        let f: Forecast = self.http.decode(&reply.body)?;
        non_empty(to_points(f.forecast, true)?, "forecast", zone)
    }

    /// `GET /carbon-intensity/past-range`: `[start, end)` in the past.
    pub async fn past_range(
        &self,
        zone: &str,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<ForecastPoint>, ProviderError> {
        let extra = [("start", start.to_string()), ("end", end.to_string())];
        let url = self.url("carbon-intensity/past-range", zone, &extra)?;
        let reply = self.call(url, &format!("past range of {zone}")).await?;
        let r: Range = self.http.decode(&reply.body)?;
        non_empty(to_points(r.data, false)?, "past range", zone)
    }

    async fn fetch_series(&self, zone: &Zone) -> Result<Series, ProviderError> {
        // Latest first: `Series::new` keeps the first of overlapping points, so
        // the measured hour wins over a forecast for the same hour.
        let mut points = self.latest(zone).await?;
        if self.cfg.forecast {
            points.extend(self.forecast(zone).await?);
        }
        Ok(Series::new(zone.clone(), self.clock.now(), Signal::Average, points))
    }
}

fn provider_name() -> Arc<str> {
    Arc::from(NAME)
}

/// Nulls are gaps (the API documents null intensities); anything else is
/// validated and a single bad value rejects the response.
fn to_points(entries: Vec<Entry>, forecast: bool) -> Result<Vec<ForecastPoint>, ProviderError> {
    let provider = provider_name();
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let Some(v) = e.carbon_intensity else { continue };
        let value = check_value(NAME, v, &e.datetime)?;
        let start = floor_to(parse_time(NAME, &e.datetime)?, SignedDuration::from_hours(1));
        out.push(ForecastPoint {
            start,
            duration: SignedDuration::from_hours(1),
            value,
            provider: provider.clone(),
            is_estimated: forecast || e.is_estimated.unwrap_or(false),
        });
    }
    Ok(out)
}

fn non_empty(
    points: Vec<ForecastPoint>,
    what: &str,
    zone: &str,
) -> Result<Vec<ForecastPoint>, ProviderError> {
    if points.is_empty() {
        Err(ProviderError::invalid(NAME, format!("{what} of {zone} has no values (empty or all null)")))
    } else {
        Ok(points)
    }
}

impl Provider for ElectricityMaps {
    fn name(&self) -> &str {
        NAME
    }

    fn signal(&self) -> Signal {
        Signal::Average
    }

    fn resolution(&self) -> SignedDuration {
        SignedDuration::from_hours(1)
    }

    fn fetch<'a>(&'a self, zone: &'a Zone) -> BoxFuture<'a, Result<Series, ProviderError>> {
        Box::pin(self.fetch_series(zone))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_rate_limit_401_from_bad_key() {
        assert!(is_rate_limit_401(r#"{"status":"error","message":"Rate limit exceeded"}"#));
        assert!(is_rate_limit_401("You have reached your monthly quota"));
        assert!(!is_rate_limit_401(r#"{"message":"Invalid authentication token"}"#));
        assert!(!is_rate_limit_401(""));
    }
}
