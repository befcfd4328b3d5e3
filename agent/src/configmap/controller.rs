//! Keeps `kube-system/carbon-intensity` (configurable) in the exporter format from the
//! primary zone's forecast, and reads it back on start: the ConfigMap is the agent's
//! memory across restarts (DESIGN §4).
//!
//! Always updated in place with a JSON merge patch (created only when missing), never
//! deleted: consumers never see a gap. Every write carries a fresh RFC3339 heartbeat and a
//! `message`; when there is nothing new to publish only those two keys change, so the last
//! good data stays. API errors are retried with backoff and jitter.
use super::format::{self, BINARY_DATA_KEY, Encoded, FormatError, decode, encode};
use super::message::status_message;
use crate::forecast::{ForecastHandle, ForecastView};
use gridshift_api::meta::AGENT_MANAGER;
use gridshift_core::backoff::Backoff;
use gridshift_core::{Series, SharedClock, Signal, Zone};
use gridshift_ops::runtime::{Component, ComponentError, Shutdown};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use serde_json::json;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct WriterConfig {
    pub namespace: String,
    pub name: String,
    /// Clock time between writes when nothing changes (the heartbeat).
    pub heartbeat_interval: SignedDuration,
    /// Real-time retry backoff after an API error.
    pub retry_initial: Duration,
    pub retry_max: Duration,
}

impl WriterConfig {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
            heartbeat_interval: SignedDuration::from_mins(1),
            retry_initial: Duration::from_millis(500),
            retry_max: Duration::from_secs(30),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Default)]
pub struct WriterMetrics {
    writes: Family<ResultLabel, Counter>,
}

impl WriterMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.sub_registry_with_prefix("gridshift_agent").register(
            "configmap_writes",
            "Writes of the carbon-intensity ConfigMap by result (ok, error)",
            self.writes.clone(),
        );
    }

    fn count(&self, ok: bool) {
        self.writes.get_or_create(&ResultLabel { result: if ok { "ok" } else { "error" } }).inc();
    }
}

/// What one write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The forecast was (re)published.
    Forecast,
    /// Only heartbeat and message changed; the data already there was kept.
    HeartbeatOnly,
}

pub struct ConfigMapWriter {
    api: Api<ConfigMap>,
    config: WriterConfig,
    clock: SharedClock,
    forecast: ForecastHandle,
    metrics: WriterMetrics,
}

impl ConfigMapWriter {
    pub fn new(
        client: Client,
        config: WriterConfig,
        clock: SharedClock,
        forecast: ForecastHandle,
        metrics: WriterMetrics,
    ) -> Self {
        let api = Api::namespaced(client, &config.namespace);
        Self { api, config, clock, forecast, metrics }
    }

    /// Writes now, then on every relevant forecast change and every heartbeat interval,
    /// until `shutdown`.
    pub async fn run(mut self, shutdown: Shutdown) {
        let mut backoff = Backoff::new(self.config.retry_initial, self.config.retry_max);
        let mut forecast_open = true;
        loop {
            let now = self.clock.now();
            let view = self.forecast.current();
            match self.write_once(&view, now).await {
                Ok(_) => {
                    self.metrics.count(true);
                    backoff.reset();
                }
                Err(e) => {
                    self.metrics.count(false);
                    let delay = backoff.next_delay(rand::random());
                    tracing::warn!(error = %e, retry_in = ?delay, configmap = self.config.name, "ConfigMap write failed; the last written data stays");
                    tokio::select! {
                        _ = shutdown.wait() => return,
                        _ = tokio::time::sleep(delay) => continue,
                    }
                }
            }
            let heartbeat = self.clock.sleep_until(now + self.config.heartbeat_interval);
            tokio::pin!(heartbeat);
            loop {
                tokio::select! {
                    _ = shutdown.wait() => return,
                    _ = &mut heartbeat => break,
                    next = self.forecast.changed(), if forecast_open => match next {
                        Ok(next) if publishes_differently(&view, &next) => break,
                        Ok(_) => {}
                        Err(_) => forecast_open = false,
                    },
                }
            }
        }
    }

    /// One write of what `view` holds at `now`.
    pub async fn write_once(&self, view: &ForecastView, now: Timestamp) -> Result<Written, kube::Error> {
        let mut message = status_message(view, now);
        let encoded = match view.primary().map(|s| encode(s, now, &message)) {
            Some(Ok(encoded)) => Some(encoded),
            Some(Err(e)) => {
                message = format!("{message}; cannot encode the forecast ({e}), keeping the last data");
                None
            }
            None => None,
        };
        let (patch, written) = match &encoded {
            Some(e) => (json!({"data": e.data, "binaryData": e.binary_data}), Written::Forecast),
            None => (
                json!({"data": {
                    format::KEY_LAST_HEARTBEAT_TIME: now.to_string(),
                    format::KEY_MESSAGE: message,
                }}),
                Written::HeartbeatOnly,
            ),
        };
        let params = PatchParams { field_manager: Some(AGENT_MANAGER.into()), ..PatchParams::default() };
        match self.api.patch(&self.config.name, &params, &Patch::Merge(&patch)).await {
            Ok(_) => Ok(written),
            Err(kube::Error::Api(s)) if s.code == 404 => {
                // Missing: create it whole, with an empty but well-formed forecast if there is none
                // (no records, so the zone appears nowhere).
                let zone = view.primary_zone.clone().unwrap_or_else(|| Zone::known("none"));
                let encoded = match encoded {
                    Some(e) => e,
                    None => encode(&Series::new(zone, now, Signal::Average, vec![]), now, &message)
                        .expect("an empty series always encodes"),
                };
                self.create(encoded).await?;
                Ok(written)
            }
            Err(e) => Err(e),
        }
    }

    async fn create(&self, encoded: Encoded) -> Result<(), kube::Error> {
        let mut cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some(self.config.name.clone()),
                namespace: Some(self.config.namespace.clone()),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        };
        encoded.apply_to(&mut cm);
        let params = PostParams { field_manager: Some(AGENT_MANAGER.into()), ..PostParams::default() };
        self.api.create(&params, &cm).await.map(|_| ())
    }
}

impl Component for ConfigMapWriter {
    fn name(&self) -> &'static str {
        "carbon-intensity ConfigMap writer"
    }

    fn register_metrics(&self, registry: &mut Registry) {
        self.metrics.register(registry);
    }

    fn run(
        self: Box<Self>,
        shutdown: Shutdown,
    ) -> futures::future::BoxFuture<'static, Result<(), ComponentError>> {
        Box::pin(async move {
            (*self).run(shutdown).await;
            Ok(())
        })
    }
}

/// Whether `next` would be written differently from `last` (not counting the heartbeat):
/// the stream client touches the view on every hub heartbeat, which is no reason to write.
fn publishes_differently(last: &ForecastView, next: &ForecastView) -> bool {
    last.hub_connected != next.hub_connected
        || last.primary_zone != next.primary_zone
        || last.staleness_bound() != next.staleness_bound()
        || last.primary() != next.primary()
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("reading ConfigMap {namespace}/{name}: {source}")]
    Api { namespace: String, name: String, source: kube::Error },
    #[error("ConfigMap {namespace}/{name} is not in the exporter format: {source}")]
    Format { namespace: String, name: String, source: FormatError },
}

/// The forecast the agent last wrote, to seed the stream client after a restart. `None`
/// when there is no ConfigMap or it holds no points.
pub async fn load_last_forecast(
    client: Client,
    namespace: &str,
    name: &str,
) -> Result<Option<Series>, LoadError> {
    let api: Api<ConfigMap> = Api::namespaced(client, namespace);
    let (namespace, name) = (namespace.to_owned(), name.to_owned());
    let Some(cm) = api.get_opt(&name).await.map_err(|source| LoadError::Api {
        namespace: namespace.clone(),
        name: name.clone(),
        source,
    })?
    else {
        return Ok(None);
    };
    let decoded =
        decode(&cm, BINARY_DATA_KEY).map_err(|source| LoadError::Format { namespace, name, source })?;
    let series = decoded.series;
    Ok((!series.points.is_empty() && decoded.zone.is_some()).then_some(series))
}
