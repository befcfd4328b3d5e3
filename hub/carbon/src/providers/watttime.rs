//! WattTime API v3: Basic-auth `GET /login` returns a bearer token valid for
//! 30 minutes; data calls send `Authorization: Bearer`. We renew the token
//! before it expires and once more on a 401/403 (tokens can be revoked early).
//! `co2_moer` is a marginal signal in lbs CO2/MWh; ×0.45359237 gives g/kWh.
use super::Provider;
use super::http::{HttpClient, Reply, check_value, join, parse_time};
use crate::error::ProviderError;
use crate::metrics::Metrics;
use crate::secret::Secret;
use futures::future::BoxFuture;
use gridshift_core::{ForecastPoint, Series, SharedClock, Signal, Zone};
use jiff::{SignedDuration, Timestamp};
use parking_lot::Mutex;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub const NAME: &str = "watttime";
pub const DEFAULT_BASE_URL: &str = "https://api.watttime.org";
/// 1 lb = 0.45359237 kg, so lbs/MWh × 0.45359237 = kg/MWh = g/kWh.
pub const LBS_PER_MWH_TO_G_PER_KWH: f64 = 0.45359237;
/// WattTime's documented token lifetime.
pub const TOKEN_LIFETIME: SignedDuration = SignedDuration::from_mins(30);
/// Renew this long before expiry so a slow request never carries a dead token.
pub const TOKEN_RENEW_MARGIN: SignedDuration = SignedDuration::from_mins(5);

#[derive(Debug, Clone)]
pub struct WattTimeConfig {
    /// API root; `/login` sits here and data under `/v3`.
    pub base_url: String,
    pub username: String,
    pub password: Secret,
    pub horizon_hours: u32,
    pub signal_type: String,
    /// Zone key -> WattTime region, over the built-in table in
    /// `gridshift_core::zone_map::WATTTIME_REGIONS`.
    pub regions: BTreeMap<String, String>,
}

impl WattTimeConfig {
    pub fn new(username: impl Into<String>, password: Secret) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.into(),
            username: username.into(),
            password,
            horizon_hours: 24,
            signal_type: "co2_moer".into(),
            regions: BTreeMap::new(),
        }
    }
}

#[derive(Clone)]
struct Token {
    value: Secret,
    obtained: Timestamp,
}

/// Whether a token obtained at `obtained` should still be used at `now` (pure).
pub fn token_usable(obtained: Timestamp, now: Timestamp) -> bool {
    now >= obtained && now.duration_since(obtained) < TOKEN_LIFETIME - TOKEN_RENEW_MARGIN
}

pub struct WattTime {
    http: HttpClient,
    cfg: WattTimeConfig,
    clock: SharedClock,
    token: Mutex<Option<Token>>,
    /// Serialises logins so concurrent zones do not each log in.
    login_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for WattTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WattTime")
            .field("base_url", &self.cfg.base_url)
            .field("user", &self.cfg.username)
            .finish()
    }
}

#[derive(Debug, Deserialize)]
struct LoginResponse {
    token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct DataPoint {
    point_time: String,
    value: Option<f64>,
    #[serde(default)]
    imputed_data_used: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct Meta {
    #[serde(default)]
    data_point_period_seconds: Option<i64>,
    units: String,
}

#[derive(Debug, Deserialize)]
struct DataResponse {
    data: Vec<DataPoint>,
    meta: Meta,
}

#[derive(Debug, Deserialize)]
pub struct RegionFromLoc {
    pub region: String,
    #[serde(default)]
    pub region_full_name: Option<String>,
}

/// The factor from `units` to g/kWh, or an error for units we cannot convert
/// (a percentile index is not an intensity).
pub fn unit_factor(units: &str) -> Result<f64, ProviderError> {
    match units {
        "lbs_co2_per_mwh" => Ok(LBS_PER_MWH_TO_G_PER_KWH),
        "g_co2_per_kwh" | "kg_co2_per_mwh" => Ok(1.0),
        other => Err(ProviderError::invalid(NAME, format!("unsupported units {other:?}"))),
    }
}

impl WattTime {
    pub fn new(
        cfg: WattTimeConfig,
        clock: SharedClock,
        timeout: Duration,
        metrics: Metrics,
    ) -> Result<Self, ProviderError> {
        if cfg.username.is_empty() || cfg.password.is_empty() {
            return Err(ProviderError::Config {
                provider: NAME.into(),
                detail: "username and password are required (--watttime-username, --watttime-password-file)"
                    .into(),
            });
        }
        join(NAME, &cfg.base_url, "")?;
        let http = HttpClient::new(NAME, timeout, metrics)?.redacting(&cfg.password);
        Ok(Self { http, cfg, clock, token: Mutex::new(None), login_lock: tokio::sync::Mutex::new(()) })
    }

    /// The WattTime region for a zone key: configured, built-in, or the key
    /// itself (so policies may name WattTime regions directly).
    pub fn region_for(&self, zone: &str) -> String {
        self.cfg
            .regions
            .get(zone)
            .cloned()
            .or_else(|| gridshift_core::zone_map::watttime_region(zone).map(str::to_string))
            .unwrap_or_else(|| zone.to_string())
    }

    async fn login(&self) -> Result<Secret, ProviderError> {
        let url = join(NAME, &self.cfg.base_url, "login")?;
        let req = self.http.get(url).basic_auth(&self.cfg.username, Some(self.cfg.password.expose()));
        let reply = self.http.send(req).await?;
        self.http.check(&reply, "login", self.clock.now()).map_err(|e| match e {
            ProviderError::Unauthorized { status, .. } => ProviderError::Unauthorized {
                provider: NAME.into(),
                status,
                detail: "login refused: check the WattTime username and password".into(),
            },
            other => other,
        })?;
        let login: LoginResponse = self.http.decode(&reply.body)?;
        match login.token {
            Some(t) if !t.trim().is_empty() => Ok(Secret::new(t)),
            _ => Err(ProviderError::invalid(NAME, "login response has no token")),
        }
    }

    fn cached_token(&self) -> Option<Secret> {
        let now = self.clock.now();
        self.token.lock().as_ref().filter(|t| token_usable(t.obtained, now)).map(|t| t.value.clone())
    }

    /// A usable token. `rejected` is a token the API just refused: it is
    /// replaced by a fresh login unless another task already did that.
    async fn token(&self, rejected: Option<&Secret>) -> Result<Secret, ProviderError> {
        if rejected.is_none()
            && let Some(t) = self.cached_token()
        {
            return Ok(t);
        }
        // One login at a time, so many zones refreshing together log in once.
        let _guard = self.login_lock.lock().await;
        if let Some(t) = self.cached_token()
            && Some(&t) != rejected
        {
            return Ok(t);
        }
        let obtained = self.clock.now();
        let value = self.login().await?;
        *self.token.lock() = Some(Token { value: value.clone(), obtained });
        Ok(value)
    }

    async fn authed(&self, url: reqwest::Url, what: &str) -> Result<Reply, ProviderError> {
        let token = self.token(None).await?;
        let reply = self.http.send(self.http.get(url.clone()).bearer_auth(token.expose())).await?;
        let reply = if matches!(reply.status, 401 | 403) {
            // The token was revoked or expired early: log in again, once.
            let token = self.token(Some(&token)).await?;
            self.http.send(self.http.get(url).bearer_auth(token.expose())).await?
        } else {
            reply
        };
        self.http.check(&reply, what, self.clock.now())?;
        Ok(reply)
    }

    fn data_url(&self, path: &str, params: &[(&str, String)]) -> Result<reqwest::Url, ProviderError> {
        let mut url = join(NAME, &self.cfg.base_url, path)?;
        url.query_pairs_mut().extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
        Ok(url)
    }

    /// `GET /v3/forecast` for `zone`'s region.
    pub async fn forecast(&self, zone: &str) -> Result<Vec<ForecastPoint>, ProviderError> {
        let region = self.region_for(zone);
        let url = self.data_url(
            "v3/forecast",
            &[
                ("region", region.clone()),
                ("signal_type", self.cfg.signal_type.clone()),
                ("horizon_hours", self.cfg.horizon_hours.to_string()),
            ],
        )?;
        let reply = self.authed(url, &format!("forecast of region {region}")).await?;
        let resp: DataResponse = self.http.decode(&reply.body)?;
        to_points(resp, true, &region)
    }

    /// `GET /v3/historical` over `[start, end]` (at most 32 days per call).
    pub async fn historical(
        &self,
        zone: &str,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<ForecastPoint>, ProviderError> {
        let region = self.region_for(zone);
        let url = self.data_url(
            "v3/historical",
            &[
                ("region", region.clone()),
                ("start", start.to_string()),
                ("end", end.to_string()),
                ("signal_type", self.cfg.signal_type.clone()),
            ],
        )?;
        let reply = self.authed(url, &format!("history of region {region}")).await?;
        let resp: DataResponse = self.http.decode(&reply.body)?;
        to_points(resp, false, &region)
    }

    /// `GET /v3/region-from-loc`: the region at a coordinate.
    pub async fn region_from_loc(
        &self,
        latitude: f64,
        longitude: f64,
    ) -> Result<RegionFromLoc, ProviderError> {
        let url = self.data_url(
            "v3/region-from-loc",
            &[
                ("latitude", latitude.to_string()),
                ("longitude", longitude.to_string()),
                ("signal_type", self.cfg.signal_type.clone()),
            ],
        )?;
        let reply = self.authed(url, "region lookup").await?;
        self.http.decode(&reply.body)
    }

    async fn fetch_series(&self, zone: &Zone) -> Result<Series, ProviderError> {
        let points = self.forecast(zone).await?;
        Ok(Series::new(zone.clone(), self.clock.now(), Signal::Marginal, points))
    }
}

fn to_points(resp: DataResponse, forecast: bool, region: &str) -> Result<Vec<ForecastPoint>, ProviderError> {
    let factor = unit_factor(&resp.meta.units)?;
    let period = resp.meta.data_point_period_seconds.unwrap_or(300);
    if period <= 0 {
        return Err(ProviderError::invalid(NAME, format!("data_point_period_seconds {period}")));
    }
    let provider: Arc<str> = Arc::from(NAME);
    let mut out = Vec::with_capacity(resp.data.len());
    for p in resp.data {
        let Some(raw) = p.value else { continue };
        // Check the converted value: the plausibility bound is in g/kWh.
        let value = check_value(NAME, raw * factor, &p.point_time)?;
        out.push(ForecastPoint {
            start: parse_time(NAME, &p.point_time)?,
            duration: SignedDuration::from_secs(period),
            value,
            provider: provider.clone(),
            is_estimated: forecast || p.imputed_data_used.unwrap_or(false),
        });
    }
    if out.is_empty() {
        return Err(ProviderError::invalid(
            NAME,
            format!("no values for region {region} (empty or all null)"),
        ));
    }
    Ok(out)
}

impl Provider for WattTime {
    fn name(&self) -> &str {
        NAME
    }

    fn signal(&self) -> Signal {
        Signal::Marginal
    }

    fn resolution(&self) -> SignedDuration {
        SignedDuration::from_mins(5)
    }

    fn fetch<'a>(&'a self, zone: &'a Zone) -> BoxFuture<'a, Result<Series, ProviderError>> {
        Box::pin(self.fetch_series(zone))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_renewed_before_expiry() {
        let t0: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        assert!(token_usable(t0, t0));
        assert!(token_usable(t0, t0 + SignedDuration::from_mins(24)));
        assert!(!token_usable(t0, t0 + SignedDuration::from_mins(25)));
        assert!(!token_usable(t0, t0 - SignedDuration::from_mins(1)), "clock went backwards");
    }

    #[test]
    fn converts_lbs_per_mwh() {
        assert!((unit_factor("lbs_co2_per_mwh").unwrap() * 1000.0 - 453.59237).abs() < 1e-9);
        assert!(unit_factor("percentile").is_err());
    }
}
