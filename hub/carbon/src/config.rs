//! Command-line flags (with environment fallbacks) for the carbon data layer.
//! The hub binary flattens [`CarbonArgs`] into its own command line:
//!
//! ```
//! use clap::Parser;
//! #[derive(clap::Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     carbon: gridshift_carbon::CarbonArgs,
//! }
//! let cli = Cli::parse_from(["hub", "--carbon-providers", "uk,replay"]);
//! assert_eq!(cli.carbon.providers.len(), 2);
//! ```
//!
//! API keys come from files (a mounted Kubernetes Secret) or the environment.
//! They are held as [`Secret`], whose `Debug` redacts, and no error message
//! repeats them.
use crate::backoff::BackoffPolicy;
use crate::chain::{ChainError, ProviderChain};
use crate::error::ProviderError;
use crate::metrics::Metrics;
use crate::providers::{
    ElectricityMaps, ElectricityMapsConfig, Provider, ReplayProvider, UkCarbonIntensity, UkConfig, WattTime,
    WattTimeConfig, electricity_maps, uk, watttime,
};
use crate::secret::{Secret, SecretFileError};
use crate::store::{FileBackend, ForecastSink, ForecastStore, RefreshTiming, StoreConfig, StoreOptions};
use gridshift_core::SharedClock;
use gridshift_core::Zone;
use gridshift_core::trace::TraceError;
use gridshift_core::zone_map::{InvalidOverride, ZoneMap, parse_override};
use jiff::SignedDuration;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProviderKind {
    /// Electricity Maps v3 (needs an API key).
    #[value(name = "electricitymaps")]
    ElectricityMaps,
    /// WattTime v3 (needs a username and password).
    #[value(name = "watttime")]
    WattTime,
    /// GB Carbon Intensity API (no key; GB and its regions only).
    #[value(name = "uk")]
    Uk,
    /// CSV traces replayed relative to the clock.
    #[value(name = "replay")]
    Replay,
}

impl ProviderKind {
    /// The provider's name as used in metrics and `--carbon-zone-providers`.
    pub fn provider_name(self) -> &'static str {
        match self {
            ProviderKind::ElectricityMaps => electricity_maps::NAME,
            ProviderKind::WattTime => watttime::NAME,
            ProviderKind::Uk => uk::NAME,
            ProviderKind::Replay => crate::providers::replay::NAME,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    SecretFile(#[from] SecretFileError),
    #[error("{provider}: {what} is required ({hint})")]
    Missing { provider: &'static str, what: &'static str, hint: &'static str },
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    Trace(#[from] TraceError),
    #[error(transparent)]
    Mapping(#[from] InvalidOverride),
    #[error("invalid --carbon-zone-providers entry {0:?}: expected ZONE=provider[+provider…]")]
    ZoneProviders(String),
    #[error("{flag}: {reason}")]
    Invalid { flag: &'static str, reason: String },
}

fn parse_duration(s: &str) -> Result<SignedDuration, String> {
    let d: SignedDuration =
        s.trim().parse().map_err(|e| format!("{s:?} is not a duration (e.g. 30s, 5m, 1h): {e}"))?;
    if d.is_negative() {
        return Err(format!("{s:?} is negative"));
    }
    Ok(d)
}

/// Carbon-intensity providers, the forecast store and the zone map.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Carbon-intensity data")]
pub struct CarbonArgs {
    /// Providers in order of preference: the first is primary, the rest are fallbacks.
    #[arg(
        long = "carbon-providers",
        env = "GRIDSHIFT_CARBON_PROVIDERS",
        value_delimiter = ',',
        default_value = "replay"
    )]
    pub providers: Vec<ProviderKind>,

    /// Per-zone provider order, ZONE=provider[+provider…], e.g. GB=ukcarbonintensity+electricitymaps
    /// (repeatable; `;`-separated in the environment).
    #[arg(long = "carbon-zone-providers", env = "GRIDSHIFT_CARBON_ZONE_PROVIDERS", value_delimiter = ';')]
    pub zone_providers: Vec<String>,

    /// Zones always fetched, whether or not an agent or policy wants them yet.
    #[arg(long = "carbon-zones", env = "GRIDSHIFT_CARBON_ZONES", value_delimiter = ',')]
    pub zones: Vec<String>,

    /// Extra or replacement cloud-region mappings, REGION=ZONE (repeatable; `;`-separated in the environment).
    #[arg(long = "zone-map", env = "GRIDSHIFT_ZONE_MAP", value_delimiter = ';')]
    pub zone_map: Vec<String>,

    /// Electricity Maps API base URL, including /v3.
    #[arg(long = "em-base-url", env = "GRIDSHIFT_EM_BASE_URL", default_value = electricity_maps::DEFAULT_BASE_URL)]
    pub em_base_url: String,

    /// File holding the Electricity Maps API key (e.g. a mounted Secret).
    #[arg(long = "em-api-key-file", env = "GRIDSHIFT_EM_API_KEY_FILE")]
    pub em_api_key_file: Option<PathBuf>,

    /// Electricity Maps API key. Prefer --em-api-key-file; the value is never printed.
    #[arg(long = "em-api-key", env = "GRIDSHIFT_EM_API_KEY", hide_env_values = true, hide = true)]
    pub em_api_key: Option<Secret>,

    /// Also fetch the Electricity Maps forecast (needs a paid or trial key).
    #[arg(long = "em-forecast", env = "GRIDSHIFT_EM_FORECAST")]
    pub em_forecast: bool,

    /// Electricity Maps emission factors: lifecycle (API default) or direct.
    #[arg(long = "em-emission-factor", env = "GRIDSHIFT_EM_EMISSION_FACTOR")]
    pub em_emission_factor: Option<String>,

    /// Ask Electricity Maps not to return estimated values.
    #[arg(long = "em-disable-estimations", env = "GRIDSHIFT_EM_DISABLE_ESTIMATIONS")]
    pub em_disable_estimations: bool,

    /// WattTime API root (login lives here, data under /v3).
    #[arg(long = "watttime-base-url", env = "GRIDSHIFT_WATTTIME_BASE_URL", default_value = watttime::DEFAULT_BASE_URL)]
    pub watttime_base_url: String,

    /// WattTime username.
    #[arg(long = "watttime-username", env = "GRIDSHIFT_WATTTIME_USERNAME")]
    pub watttime_username: Option<String>,

    /// File holding the WattTime password.
    #[arg(long = "watttime-password-file", env = "GRIDSHIFT_WATTTIME_PASSWORD_FILE")]
    pub watttime_password_file: Option<PathBuf>,

    /// WattTime password. Prefer --watttime-password-file; the value is never printed.
    #[arg(
        long = "watttime-password",
        env = "GRIDSHIFT_WATTTIME_PASSWORD",
        hide_env_values = true,
        hide = true
    )]
    pub watttime_password: Option<Secret>,

    /// WattTime forecast horizon in hours.
    #[arg(long = "watttime-horizon-hours", env = "GRIDSHIFT_WATTTIME_HORIZON_HOURS", default_value_t = 24)]
    pub watttime_horizon_hours: u32,

    /// Zone -> WattTime region, ZONE=REGION, over the built-in table (repeatable).
    #[arg(long = "watttime-region", env = "GRIDSHIFT_WATTTIME_REGIONS", value_delimiter = ';')]
    pub watttime_regions: Vec<String>,

    /// UK Carbon Intensity API base URL.
    #[arg(long = "uk-base-url", env = "GRIDSHIFT_UK_BASE_URL", default_value = uk::DEFAULT_BASE_URL)]
    pub uk_base_url: String,

    /// Directory of replay traces (*.csv with timestamp_utc,zone,gco2_per_kwh).
    #[arg(long = "replay-dir", env = "GRIDSHIFT_REPLAY_DIR")]
    pub replay_dir: Option<PathBuf>,

    /// How far ahead the replayed forecast reaches.
    #[arg(long = "replay-horizon", env = "GRIDSHIFT_REPLAY_HORIZON", default_value = "48h", value_parser = parse_duration)]
    pub replay_horizon: SignedDuration,

    /// Timeout of one upstream HTTP request.
    #[arg(long = "carbon-request-timeout", env = "GRIDSHIFT_CARBON_REQUEST_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub request_timeout: SignedDuration,

    /// Zones fetched at once.
    #[arg(long = "carbon-max-concurrency", env = "GRIDSHIFT_CARBON_MAX_CONCURRENCY", default_value_t = 4)]
    pub max_concurrency: usize,

    /// Last good data older than this is dropped (consumers then fail open).
    #[arg(long = "carbon-staleness-bound", env = "GRIDSHIFT_CARBON_STALENESS_BOUND", default_value = "6h", value_parser = parse_duration)]
    pub staleness_bound: SignedDuration,

    /// First retry delay after a failure (doubles per failure, with jitter).
    #[arg(long = "carbon-backoff-base", env = "GRIDSHIFT_CARBON_BACKOFF_BASE", default_value = "30s", value_parser = parse_duration)]
    pub backoff_base: SignedDuration,

    /// Longest retry delay (also used for rejected credentials).
    #[arg(long = "carbon-backoff-max", env = "GRIDSHIFT_CARBON_BACKOFF_MAX", default_value = "30m", value_parser = parse_duration)]
    pub backoff_max: SignedDuration,

    /// Never refresh one zone more often than this.
    #[arg(long = "carbon-min-refresh-interval", env = "GRIDSHIFT_CARBON_MIN_REFRESH_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    pub min_refresh_interval: SignedDuration,

    /// Refresh this long after each data slot starts (upstreams publish late).
    #[arg(long = "carbon-refresh-offset", env = "GRIDSHIFT_CARBON_REFRESH_OFFSET", default_value = "2m", value_parser = parse_duration)]
    pub refresh_offset: SignedDuration,

    /// Random extra delay of up to this much per refresh.
    #[arg(long = "carbon-refresh-jitter", env = "GRIDSHIFT_CARBON_REFRESH_JITTER", default_value = "2m", value_parser = parse_duration)]
    pub refresh_jitter: SignedDuration,

    /// How often newly wanted zones are noticed without a wake-up.
    #[arg(long = "carbon-poll-interval", env = "GRIDSHIFT_CARBON_POLL_INTERVAL", default_value = "15s", value_parser = parse_duration)]
    pub poll_interval: SignedDuration,

    /// File where the store persists its last good data across restarts.
    #[arg(long = "carbon-state-file", env = "GRIDSHIFT_CARBON_STATE_FILE")]
    pub state_file: Option<PathBuf>,
}

fn secret_from(file: &Option<PathBuf>, inline: &Option<Secret>) -> Result<Option<Secret>, ConfigError> {
    if let Some(path) = file {
        return Ok(Some(Secret::from_file(path)?));
    }
    Ok(inline.clone().filter(|s| !s.is_empty()))
}

impl CarbonArgs {
    pub fn store_config(&self) -> Result<StoreConfig, ConfigError> {
        let static_zones = self
            .zones
            .iter()
            .map(|z| z.trim())
            .filter(|z| !z.is_empty())
            .map(|z| {
                Zone::new(z)
                    .map_err(|e| ConfigError::Invalid { flag: "--carbon-zones", reason: e.to_string() })
            })
            .collect::<Result<_, _>>()?;
        Ok(StoreConfig {
            timing: RefreshTiming {
                min_interval: self.min_refresh_interval,
                offset: self.refresh_offset,
                jitter: self.refresh_jitter,
            },
            backoff: BackoffPolicy {
                base: self.backoff_base,
                max: self.backoff_max.max(self.backoff_base),
                ..BackoffPolicy::default()
            },
            staleness_bound: self.staleness_bound,
            max_concurrency: self.max_concurrency.max(1),
            poll_interval: self.poll_interval.max(SignedDuration::from_secs(1)),
            static_zones,
        })
    }

    /// The built-in zone map with `--zone-map` overrides.
    pub fn zone_map(&self) -> Result<ZoneMap, ConfigError> {
        Ok(ZoneMap::builtin().with_overrides(&self.zone_map)?)
    }

    fn timeout(&self) -> Result<Duration, ConfigError> {
        Duration::try_from(self.request_timeout).ok().filter(|d| !d.is_zero()).ok_or(ConfigError::Invalid {
            flag: "--carbon-request-timeout",
            reason: "must be positive".into(),
        })
    }

    fn build_provider(
        &self,
        kind: ProviderKind,
        clock: &SharedClock,
        metrics: &Metrics,
    ) -> Result<Arc<dyn Provider>, ConfigError> {
        let timeout = self.timeout()?;
        Ok(match kind {
            ProviderKind::ElectricityMaps => {
                let key =
                    secret_from(&self.em_api_key_file, &self.em_api_key)?.ok_or(ConfigError::Missing {
                        provider: electricity_maps::NAME,
                        what: "an API key",
                        hint: "--em-api-key-file or GRIDSHIFT_EM_API_KEY",
                    })?;
                let cfg = ElectricityMapsConfig {
                    base_url: self.em_base_url.clone(),
                    api_key: key,
                    forecast: self.em_forecast,
                    emission_factor_type: self.em_emission_factor.clone(),
                    disable_estimations: self.em_disable_estimations,
                };
                Arc::new(ElectricityMaps::new(cfg, clock.clone(), timeout, metrics.clone())?)
            }
            ProviderKind::WattTime => {
                let username =
                    self.watttime_username.clone().filter(|u| !u.is_empty()).ok_or(ConfigError::Missing {
                        provider: watttime::NAME,
                        what: "a username",
                        hint: "--watttime-username or GRIDSHIFT_WATTTIME_USERNAME",
                    })?;
                let password = secret_from(&self.watttime_password_file, &self.watttime_password)?.ok_or(
                    ConfigError::Missing {
                        provider: watttime::NAME,
                        what: "a password",
                        hint: "--watttime-password-file or GRIDSHIFT_WATTTIME_PASSWORD",
                    },
                )?;
                let mut cfg = WattTimeConfig::new(username, password);
                cfg.base_url = self.watttime_base_url.clone();
                cfg.horizon_hours = self.watttime_horizon_hours;
                for m in &self.watttime_regions {
                    let (zone, region) = parse_override(m)?;
                    cfg.regions.insert(zone.to_string(), region.to_string());
                }
                Arc::new(WattTime::new(cfg, clock.clone(), timeout, metrics.clone())?)
            }
            ProviderKind::Uk => Arc::new(UkCarbonIntensity::new(
                UkConfig { base_url: self.uk_base_url.clone() },
                clock.clone(),
                timeout,
                metrics.clone(),
            )?),
            ProviderKind::Replay => {
                let dir = self.replay_dir.as_ref().ok_or(ConfigError::Missing {
                    provider: crate::providers::replay::NAME,
                    what: "a trace directory",
                    hint: "--replay-dir or GRIDSHIFT_REPLAY_DIR",
                })?;
                Arc::new(ReplayProvider::from_dir(dir, self.replay_horizon, clock.clone())?)
            }
        })
    }

    /// The configured providers, in order, with per-zone orders applied.
    pub fn provider_chain(
        &self,
        clock: &SharedClock,
        metrics: &Metrics,
    ) -> Result<ProviderChain, ConfigError> {
        let mut kinds: Vec<ProviderKind> = Vec::new();
        for k in &self.providers {
            if !kinds.contains(k) {
                kinds.push(*k);
            }
        }
        let providers =
            kinds.iter().map(|k| self.build_provider(*k, clock, metrics)).collect::<Result<Vec<_>, _>>()?;
        let mut chain = ProviderChain::new(providers)?;
        for entry in &self.zone_providers {
            let (zone, names) =
                parse_override(entry).map_err(|_| ConfigError::ZoneProviders(entry.clone()))?;
            let names: Vec<&str> = names.split('+').map(str::trim).filter(|n| !n.is_empty()).collect();
            if names.is_empty() {
                return Err(ConfigError::ZoneProviders(entry.clone()));
            }
            chain = chain.with_zone_order(zone, &names)?;
        }
        Ok(chain)
    }

    /// Builds the whole store: providers, persistence (if `--carbon-state-file`)
    /// and metrics. `wanted` supplies the zones agents and policies need.
    /// The store these flags describe. `opts` brings what the caller owns (metrics,
    /// wanted zones, a shared persistence backend, the fetching role); `--carbon-state-file`
    /// is the backend when `opts` has none.
    pub fn build_store(
        &self,
        clock: SharedClock,
        sink: Arc<dyn ForecastSink>,
        mut opts: StoreOptions,
    ) -> Result<ForecastStore, ConfigError> {
        let chain = self.provider_chain(&clock, &opts.metrics)?;
        match (&self.state_file, &opts.persist) {
            (Some(path), None) => opts = opts.persist(Arc::new(FileBackend::new(path.clone()))),
            (Some(path), Some(_)) => tracing::warn!(
                file = %path.display(),
                "--carbon-state-file is not used: replicas share their state in the Karmada API server"
            ),
            (None, _) => {}
        }
        Ok(ForecastStore::with_options(self.store_config()?, chain, clock, sink, opts))
    }
}
