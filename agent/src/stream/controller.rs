//! The reconnecting stream client.
use super::state::ForecastState;
use crate::forecast::{ForecastHandle, ForecastView};
use crate::metrics::{ForecastAgeCollector, StreamMetrics};
use gridshift_core::backoff::Backoff;
use gridshift_core::{DEFAULT_STALENESS_BOUND, Series, SharedClock, Zone};
use gridshift_ops::runtime::{Component, ComponentError, Shutdown};
use gridshift_proto::v1::forecast_service_client::ForecastServiceClient;
use gridshift_proto::v1::{self, agent_message, hub_message};
use gridshift_proto::{MIN_PROTOCOL_VERSION, PROTOCOL_VERSION};
use jiff::SignedDuration;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{ClientTlsConfig, Endpoint};
use tonic::{Code, Status};

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `https://host:port` (or `http://` with `--insecure`).
    pub hub_url: String,
    /// `None` for plaintext.
    pub tls: Option<ClientTlsConfig>,
    pub cluster: String,
    pub connect_timeout: Duration,
    /// HTTP/2 PING interval. The hub never answers pings with GOAWAY, but keep
    /// this at 10 s or more when a proxy that polices pings sits in between.
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    pub max_message_bytes: usize,
    /// Used until a hub announces its own.
    pub default_staleness_bound: SignedDuration,
}

impl ClientConfig {
    pub fn new(hub_url: impl Into<String>, cluster: impl Into<String>, tls: Option<ClientTlsConfig>) -> Self {
        Self {
            hub_url: hub_url.into(),
            tls,
            cluster: cluster.into(),
            connect_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(10),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            max_message_bytes: 4 * 1024 * 1024,
            default_staleness_bound: DEFAULT_STALENESS_BOUND,
        }
    }
}

/// Why a session ended.
enum SessionEnd {
    Connect(String),
    Refused(Status),
    Lost(String),
    HubClosed,
    ZonesChanged,
    Shutdown,
}

impl std::fmt::Display for SessionEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionEnd::Connect(e) => write!(f, "cannot connect: {e}"),
            SessionEnd::Refused(s) => write!(f, "refused: {:?}: {}", s.code(), s.message()),
            SessionEnd::Lost(e) => write!(f, "stream lost: {e}"),
            SessionEnd::HubClosed => f.write_str("the hub closed the stream"),
            SessionEnd::ZonesChanged => f.write_str("node zones changed"),
            SessionEnd::Shutdown => f.write_str("shutting down"),
        }
    }
}

pub struct StreamClient {
    config: ClientConfig,
    clock: SharedClock,
    node_zones: watch::Receiver<Vec<Zone>>,
    status: watch::Receiver<v1::AgentStatus>,
    view_tx: watch::Sender<Arc<ForecastView>>,
    state: ForecastState,
    metrics: StreamMetrics,
    /// The zone the hub locates this cluster in (`Welcome.cluster_zone` and updates).
    hub_zone: Option<Zone>,
    /// The zone of the forecast remembered from before a restart.
    seed_zone: Option<Zone>,
}

impl StreamClient {
    /// `seed` is the forecast remembered from before a restart (the ConfigMap):
    /// served until the hub is reached, never resumed from.
    pub fn new(
        config: ClientConfig,
        clock: SharedClock,
        node_zones: watch::Receiver<Vec<Zone>>,
        status: watch::Receiver<v1::AgentStatus>,
        seed: Vec<Series>,
        metrics: StreamMetrics,
    ) -> (Self, ForecastHandle) {
        // Until the hub says otherwise, the zone of the remembered forecast (which the
        // hub may have assigned before the restart) stands in for one of our own.
        let seed_zone = seed.first().map(|s| s.zone.clone());
        let primary = node_zones.borrow().first().cloned().or_else(|| seed_zone.clone());
        let mut view = ForecastView::empty(primary, config.default_staleness_bound);
        let state = ForecastState::seeded(seed, config.default_staleness_bound);
        view.forecasts = state.zones().clone();
        let (view_tx, view_rx) = watch::channel(Arc::new(view));
        let client =
            Self { config, clock, node_zones, status, view_tx, state, metrics, hub_zone: None, seed_zone };
        (client, ForecastHandle::new(view_rx))
    }

    /// The cluster's zone: its own (flags, node labels) wins over the hub's.
    fn primary_zone(&self) -> Option<Zone> {
        let own = self.node_zones.borrow().first().cloned();
        own.or_else(|| self.hub_zone.clone()).or_else(|| self.seed_zone.clone())
    }

    /// Records the zone the hub locates this cluster in ("" = unknown).
    fn hub_zone_is(&mut self, zone: &str) {
        let zone = Zone::new(zone).ok();
        if zone == self.hub_zone {
            return;
        }
        let own = self.node_zones.borrow().clone();
        match (&zone, own.first()) {
            (Some(hub), Some(mine)) if !own.contains(hub) => tracing::warn!(
                hub_zone = %hub, own_zone = %mine,
                "the hub locates this cluster in another zone than its own; serving its own (flags and node labels win)"
            ),
            (Some(hub), None) => {
                tracing::info!(zone = %hub, "serving the zone the hub locates this cluster in")
            }
            _ => {}
        }
        self.hub_zone = zone;
        let primary = self.primary_zone();
        self.view_tx.send_if_modified(|v| {
            let changed = v.primary_zone != primary;
            Arc::make_mut(v).primary_zone = primary.clone();
            changed
        });
    }

    /// A receiver of the view, e.g. for the metrics collector.
    pub fn view_receiver(&self) -> watch::Receiver<Arc<ForecastView>> {
        self.view_tx.subscribe()
    }

    /// Runs until `shutdown`.
    pub async fn run(mut self, shutdown: Shutdown) {
        let mut backoff = Backoff::new(self.config.backoff_initial, self.config.backoff_max);
        let mut first = true;
        loop {
            if !first {
                self.metrics.reconnects.inc();
            }
            first = false;
            let (end, welcomed) = self.session(&shutdown).await;
            self.set_disconnected();
            if welcomed {
                backoff.reset();
            }
            let delay = match &end {
                SessionEnd::Shutdown => return,
                SessionEnd::ZonesChanged => Duration::ZERO,
                SessionEnd::Refused(status) => {
                    tracing::error!(code = ?status.code(), message = status.message(), "the hub refused this agent");
                    backoff.next_delay(rand::random())
                }
                other => {
                    tracing::warn!(reason = %other, "forecast stream down; serving the last forecast");
                    backoff.next_delay(rand::random())
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.wait() => return,
            }
        }
    }

    /// One connection. Returns why it ended and whether a Welcome was received.
    async fn session(&mut self, shutdown: &Shutdown) -> (SessionEnd, bool) {
        let channel = match self.endpoint() {
            Ok(endpoint) => match endpoint.connect().await {
                Ok(channel) => channel,
                Err(e) => return (SessionEnd::Connect(error_chain(&e)), false),
            },
            Err(e) => return (SessionEnd::Connect(e), false),
        };
        let mut client = ForecastServiceClient::new(channel)
            .max_decoding_message_size(self.config.max_message_bytes)
            .max_encoding_message_size(self.config.max_message_bytes);

        let node_zones = self.node_zones.borrow_and_update().iter().map(Zone::to_string).collect();
        let hello = v1::Hello {
            cluster_name: self.config.cluster.clone(),
            protocol_version: PROTOCOL_VERSION,
            min_protocol_version: MIN_PROTOCOL_VERSION,
            capabilities: vec![],
            resume: self.state.resume_token(),
            node_zones,
            agent_version: env!("CARGO_PKG_VERSION").to_string(),
        };
        let (tx, rx) = mpsc::channel(32);
        let _ = tx.try_send(msg(agent_message::Kind::Hello(hello)));
        let mut inbound = match client.connect(ReceiverStream::new(rx)).await {
            Ok(response) => response.into_inner(),
            Err(status) => return (refusal_or_loss(status), false),
        };

        let welcome = match tokio::time::timeout(self.config.connect_timeout, inbound.message()).await {
            Ok(Ok(Some(v1::HubMessage { kind: Some(hub_message::Kind::Welcome(w)) }))) => w,
            Ok(Ok(Some(_))) => {
                return (SessionEnd::Lost("the hub did not start with a Welcome".into()), false);
            }
            Ok(Ok(None)) => return (SessionEnd::HubClosed, false),
            Ok(Err(status)) => return (refusal_or_loss(status), false),
            Err(_) => return (SessionEnd::Lost("no Welcome in time".into()), false),
        };
        tracing::info!(
            epoch = welcome.hub_epoch,
            resumed = welcome.resumed,
            zones = ?welcome.assigned_zones,
            cluster_zone = welcome.cluster_zone,
            "connected to the hub"
        );
        // Node zones may have changed since the last session.
        let primary = self.primary_zone();
        self.view_tx.send_if_modified(|v| {
            let changed = v.primary_zone != primary;
            Arc::make_mut(v).primary_zone = primary.clone();
            changed
        });
        self.hub_zone_is(&welcome.cluster_zone);
        self.metrics.hub_connected.set(1);
        let heartbeat_every = Duration::from_millis(welcome.heartbeat_interval_ms.max(100) as u64);
        let silence_limit = heartbeat_every * 4;
        let staleness = SignedDuration::from_secs(welcome.staleness_bound_seconds as i64);
        if !staleness.is_zero() {
            self.state.set_staleness_bound(staleness);
        }
        self.view_tx.send_modify(|v| {
            let v = Arc::make_mut(v);
            v.hub_connected = true;
            v.last_hub_contact = Some(self.clock.now());
            v.forecasts = self.state.zones().clone();
        });

        // A hub we (re)connect to learns the current status at once, not at its next change.
        self.status.mark_changed();
        let mut heartbeat = tokio::time::interval(heartbeat_every);
        heartbeat.reset();
        // A dropped sender means "never changes again", not "changed".
        let (mut zones_open, mut status_open) = (true, true);
        let end = loop {
            tokio::select! {
                _ = shutdown.wait() => break SessionEnd::Shutdown,
                changed = self.node_zones.changed(), if zones_open => {
                    if changed.is_ok() {
                        break SessionEnd::ZonesChanged;
                    }
                    zones_open = false;
                }
                changed = self.status.changed(), if status_open => {
                    if changed.is_err() {
                        status_open = false;
                        continue;
                    }
                    let report = self.status.borrow_and_update().clone();
                    let _ = tx.try_send(msg(agent_message::Kind::Status(report)));
                }
                _ = heartbeat.tick() => {
                    let beat = v1::Heartbeat { sent_at_unix_ms: self.clock.now().as_millisecond(), revision: self.state.revision() };
                    let _ = tx.try_send(msg(agent_message::Kind::Heartbeat(beat)));
                }
                next = tokio::time::timeout(silence_limit, inbound.message()) => match next {
                    Err(_) => break SessionEnd::Lost(format!("no message from the hub for {silence_limit:?}")),
                    Ok(Ok(None)) => break SessionEnd::HubClosed,
                    Ok(Err(status)) => break refusal_or_loss(status),
                    Ok(Ok(Some(message))) => {
                        if let Err(end) = self.handle(message, &tx) {
                            break end;
                        }
                    }
                }
            }
        };
        (end, true)
    }

    fn endpoint(&self) -> Result<Endpoint, String> {
        let mut endpoint = Endpoint::from_shared(self.config.hub_url.clone())
            .map_err(|e| format!("invalid hub URL {:?}: {e}", self.config.hub_url))?
            .connect_timeout(self.config.connect_timeout)
            .http2_keep_alive_interval(self.config.keepalive_interval)
            .keep_alive_timeout(self.config.keepalive_timeout)
            .keep_alive_while_idle(true)
            .tcp_nodelay(true);
        if let Some(tls) = &self.config.tls {
            endpoint = endpoint
                .tls_config(tls.clone())
                .map_err(|e| format!("TLS configuration: {}", error_chain(&e)))?;
        }
        Ok(endpoint)
    }

    /// Applies one hub message. An `Err` ends the session.
    fn handle(
        &mut self,
        message: v1::HubMessage,
        tx: &mpsc::Sender<v1::AgentMessage>,
    ) -> Result<(), SessionEnd> {
        let now = self.clock.now();
        let (result, epoch, revision, complete) = match message.kind {
            Some(hub_message::Kind::Snapshot(snap)) => {
                let applied = self.state.apply_snapshot(&snap);
                if let (true, Ok(_), Some(zone)) = (snap.complete, &applied, &snap.cluster_zone) {
                    self.hub_zone_is(zone);
                }
                (applied, snap.epoch, snap.revision, snap.complete)
            }
            Some(hub_message::Kind::Delta(delta)) => {
                let applied = self.state.apply_delta(&delta);
                if let (Ok(_), Some(zone)) = (&applied, &delta.cluster_zone) {
                    self.hub_zone_is(zone);
                }
                (applied, delta.epoch, delta.revision, true)
            }
            Some(hub_message::Kind::Heartbeat(_)) => {
                self.touch(now, false);
                return Ok(());
            }
            Some(hub_message::Kind::Welcome(_)) | None => {
                return Err(SessionEnd::Lost("unexpected message from the hub".into()));
            }
        };
        match result {
            Ok(changed) => {
                if complete {
                    self.metrics.updates_applied.inc();
                    let _ = tx.try_send(msg(agent_message::Kind::Ack(v1::Ack { epoch, revision })));
                }
                self.touch(now, changed);
                Ok(())
            }
            Err(super::ApplyError::Malformed(reason)) => {
                self.metrics.updates_rejected.inc();
                tracing::warn!(epoch, revision, reason, "refusing a malformed update");
                let _ = tx.try_send(msg(agent_message::Kind::Nack(v1::Nack { epoch, revision, reason })));
                self.touch(now, false);
                Ok(())
            }
            Err(e) => Err(SessionEnd::Lost(format!("protocol error: {e}"))),
        }
    }

    fn touch(&self, now: jiff::Timestamp, changed: bool) {
        self.view_tx.send_modify(|v| {
            let v = Arc::make_mut(v);
            v.last_hub_contact = Some(now);
            v.epoch = self.state.epoch();
            v.revision = self.state.revision();
            if changed {
                v.forecasts = self.state.zones().clone();
                v.updated_at = Some(now);
            }
        });
    }

    fn set_disconnected(&self) {
        self.metrics.hub_connected.set(0);
        self.view_tx.send_if_modified(|v| {
            let was = v.hub_connected;
            Arc::make_mut(v).hub_connected = false;
            was
        });
    }
}

impl Component for StreamClient {
    fn name(&self) -> &'static str {
        "forecast stream client"
    }

    fn register_metrics(&self, registry: &mut Registry) {
        self.metrics.register(registry);
        registry.register_collector(Box::new(ForecastAgeCollector::new(
            self.view_receiver(),
            self.clock.clone(),
        )));
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

fn msg(kind: agent_message::Kind) -> v1::AgentMessage {
    v1::AgentMessage { kind: Some(kind) }
}

fn refusal_or_loss(status: Status) -> SessionEnd {
    match status.code() {
        Code::PermissionDenied | Code::Unauthenticated | Code::InvalidArgument | Code::FailedPrecondition => {
            SessionEnd::Refused(status)
        }
        _ => SessionEnd::Lost(format!("{:?}: {}", status.code(), status.message())),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
