//! `ForecastService`: the Hello handshake, then the two halves of the stream.
use super::auth::{ClientAuth, authorize};
use super::outbound::{Outbound, into_stream};
use crate::distribution::{AgentHandle, Distributor, Resume, SubscribeRequest};
use crate::metrics::{ClusterLabel, ReasonLabel, StreamMetrics};
use futures::Stream;
use gridshift_core::Zone;
use gridshift_proto::v1::forecast_service_server::ForecastService;
use gridshift_proto::v1::{self, agent_message};
use gridshift_proto::{MIN_PROTOCOL_VERSION, PROTOCOL_VERSION};
use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tonic::{Request, Response, Status, Streaming};

/// Most zones one agent may report its nodes in; a sanity bound.
const MAX_NODE_ZONES: usize = 64;

#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// How often either side sends a heartbeat when idle.
    pub heartbeat_interval: Duration,
    /// An agent silent for this long is disconnected (a multiple of the heartbeat).
    pub agent_silence_timeout: Duration,
    /// How long a connecting agent has to send its Hello.
    pub hello_timeout: Duration,
    /// Announced to agents: data older than this must not be acted upon.
    pub staleness_bound: Duration,
    pub max_message_bytes: usize,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_secs(15),
            agent_silence_timeout: Duration::from_secs(60),
            hello_timeout: Duration::from_secs(10),
            staleness_bound: Duration::from_secs(6 * 3600),
            max_message_bytes: 4 * 1024 * 1024,
        }
    }
}

#[derive(Clone)]
pub struct ForecastServiceImpl {
    pub(super) distributor: Distributor,
    pub(super) config: StreamConfig,
    pub(super) auth: ClientAuth,
    pub(super) metrics: StreamMetrics,
    /// Set when the hub shuts down: every stream ends with UNAVAILABLE so agents
    /// reconnect elsewhere (or to the restarted hub) at once.
    draining: watch::Sender<bool>,
}

impl ForecastServiceImpl {
    pub fn new(
        distributor: Distributor,
        config: StreamConfig,
        auth: ClientAuth,
        metrics: StreamMetrics,
    ) -> Self {
        Self { distributor, config, auth, metrics, draining: watch::Sender::new(false) }
    }

    /// Ends every open stream and refuses new ones.
    pub fn begin_shutdown(&self) {
        self.draining.send_replace(true);
    }

    fn refuse(&self, reason: &'static str, status: Status) -> Status {
        self.metrics.refused.get_or_create(&ReasonLabel { reason }).inc();
        tracing::warn!(reason, code = ?status.code(), message = status.message(), "agent stream refused");
        status
    }
}

type HubStream = Pin<Box<dyn Stream<Item = Result<v1::HubMessage, Status>> + Send>>;

#[tonic::async_trait]
impl ForecastService for ForecastServiceImpl {
    type ConnectStream = HubStream;

    async fn connect(
        &self,
        request: Request<Streaming<v1::AgentMessage>>,
    ) -> Result<Response<HubStream>, Status> {
        if *self.draining.borrow() {
            return Err(Status::unavailable("the hub is shutting down"));
        }
        let identity = self.auth.identity(&request).map_err(|s| self.refuse("identity", s))?;
        let mut inbound = request.into_inner();
        let hello =
            read_hello(&mut inbound, self.config.hello_timeout).await.map_err(|s| self.refuse("hello", s))?;
        authorize(&hello.cluster_name, identity.as_deref()).map_err(|s| self.refuse("identity", s))?;
        let version = negotiate(&hello).map_err(|s| self.refuse("version", s))?;
        let node_zones = validate_zones(&hello.node_zones).map_err(|s| self.refuse("hello", s))?;

        let resume = hello.resume.as_ref().map(|r| Resume {
            epoch: r.epoch,
            revision: r.revision,
            held_zones: r.held_zones.clone(),
        });
        let cluster = hello.cluster_name.clone();
        let (mut sub, resumed) =
            self.distributor.subscribe(SubscribeRequest { cluster: cluster.clone(), node_zones, resume });
        let assigned_zones: Vec<String> = sub.zones().iter().map(Zone::to_string).collect();
        let cluster_zone = sub.take_cluster_zone();
        tracing::info!(
            cluster,
            agent_version = hello.agent_version,
            protocol = version,
            resumed,
            zones = ?assigned_zones,
            cluster_zone,
            "agent connected"
        );
        self.metrics.connected_agents.inc();

        let welcome = v1::Welcome {
            protocol_version: version,
            hub_epoch: self.distributor.epoch(),
            heartbeat_interval_ms: self.config.heartbeat_interval.as_millis() as u32,
            staleness_bound_seconds: self.config.staleness_bound.as_secs() as u32,
            resumed,
            capabilities: vec![],
            assigned_zones,
            cluster_zone,
        };
        let (closed_tx, closed) = oneshot::channel();
        let reader = InboundReader {
            handle: sub.handle(),
            cluster,
            metrics: self.metrics.clone(),
            silence_timeout: self.config.agent_silence_timeout,
        };
        tokio::spawn(reader.run(inbound, closed_tx));

        let out = Outbound {
            sub,
            queue: VecDeque::from([v1::HubMessage { kind: Some(v1::hub_message::Kind::Welcome(welcome)) }]),
            heartbeat_every: self.config.heartbeat_interval,
            closed,
            draining: self.draining.subscribe(),
            max_message_bytes: self.config.max_message_bytes,
            metrics: self.metrics.clone(),
        };
        Ok(Response::new(Box::pin(into_stream(out))))
    }

    async fn get_snapshot(
        &self,
        request: Request<v1::GetSnapshotRequest>,
    ) -> Result<Response<v1::Snapshot>, Status> {
        self.auth.identity(&request)?;
        // A name that is not a zone names nothing the hub has.
        let zones: Vec<Zone> = request.get_ref().zones.iter().filter_map(|z| Zone::new(z).ok()).collect();
        if zones.is_empty() && !request.get_ref().zones.is_empty() {
            return Ok(Response::new(self.distributor.snapshot_of_nothing()));
        }
        Ok(Response::new(self.distributor.snapshot(&zones)))
    }
}

async fn read_hello(
    inbound: &mut Streaming<v1::AgentMessage>,
    within: Duration,
) -> Result<v1::Hello, Status> {
    match tokio::time::timeout(within, inbound.message()).await {
        Err(_) => Err(Status::deadline_exceeded(format!("no Hello within {within:?}"))),
        Ok(Err(status)) => Err(Status::invalid_argument(format!("reading the Hello: {}", status.message()))),
        Ok(Ok(None)) => Err(Status::invalid_argument("the stream ended before a Hello")),
        Ok(Ok(Some(v1::AgentMessage { kind: Some(agent_message::Kind::Hello(hello)) }))) => Ok(hello),
        Ok(Ok(Some(_))) => Err(Status::invalid_argument("the first message must be a Hello")),
    }
}

/// The highest version both sides speak.
fn negotiate(hello: &v1::Hello) -> Result<u32, Status> {
    if hello.protocol_version == 0 {
        return Err(Status::invalid_argument("hello: protocol_version is required"));
    }
    let version = hello.protocol_version.min(PROTOCOL_VERSION);
    let floor = hello.min_protocol_version.max(MIN_PROTOCOL_VERSION);
    if version < floor {
        return Err(Status::failed_precondition(format!(
            "no common protocol version: agent speaks {}..={}, hub {}..={}",
            hello.min_protocol_version, hello.protocol_version, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION
        )));
    }
    Ok(version)
}

fn validate_zones(zones: &[String]) -> Result<Vec<Zone>, Status> {
    if zones.len() > MAX_NODE_ZONES {
        return Err(Status::invalid_argument(format!(
            "hello: {} node zones, at most {MAX_NODE_ZONES}",
            zones.len()
        )));
    }
    zones
        .iter()
        .map(|z| {
            Zone::new(z).map_err(|_| Status::invalid_argument(format!("hello: invalid zone name {z:?}")))
        })
        .collect()
}

/// Reads what an agent sends after its Hello; ends the stream when the agent
/// goes silent, closes, or breaks the protocol.
struct InboundReader {
    handle: AgentHandle,
    cluster: String,
    metrics: StreamMetrics,
    silence_timeout: Duration,
}

impl InboundReader {
    async fn run(self, mut inbound: Streaming<v1::AgentMessage>, closed: oneshot::Sender<Option<Status>>) {
        let label = ClusterLabel { cluster: self.cluster.clone() };
        let (reason, status) = loop {
            let msg = match tokio::time::timeout(self.silence_timeout, inbound.message()).await {
                Err(_) => {
                    let status = Status::deadline_exceeded(format!(
                        "no message from the agent for {:?}; heartbeats are due every interval",
                        self.silence_timeout
                    ));
                    break ("agent_silent", Some(status));
                }
                Ok(Ok(None)) => break ("agent_closed", None),
                Ok(Err(status)) => {
                    let (reason, status) = classify_read_error(status);
                    break (reason, Some(status));
                }
                Ok(Ok(Some(msg))) => msg,
            };
            match msg.kind {
                Some(agent_message::Kind::Ack(ack)) => {
                    if let Some(lag) = self.handle.ack(ack.epoch, ack.revision) {
                        self.metrics.lag.get_or_create(&label).set(lag as i64);
                        self.metrics.acked_revision.get_or_create(&label).set(ack.revision as i64);
                    }
                }
                Some(agent_message::Kind::Nack(nack)) => {
                    self.metrics.nacks.get_or_create(&label).inc();
                    tracing::warn!(
                        cluster = self.cluster,
                        revision = nack.revision,
                        reason = nack.reason,
                        "agent could not apply an update"
                    );
                }
                Some(agent_message::Kind::Status(status)) => {
                    self.metrics.agent_status(&self.cluster, &status);
                    tracing::debug!(cluster = self.cluster, ?status, "agent status");
                    self.handle.report_status(status);
                }
                Some(agent_message::Kind::Heartbeat(_)) => {}
                Some(agent_message::Kind::Hello(_)) | None => {
                    break (
                        "protocol_error",
                        Some(Status::invalid_argument("unexpected message after the Hello")),
                    );
                }
            }
        };
        self.metrics.disconnects.get_or_create(&ReasonLabel { reason }).inc();
        self.metrics.connected_agents.dec();
        self.metrics.forget_agent(&self.cluster);
        tracing::info!(cluster = self.cluster, reason, "agent disconnected");
        let _ = closed.send(status);
    }
}

fn classify_read_error(status: Status) -> (&'static str, Status) {
    use tonic::Code;
    match status.code() {
        Code::OutOfRange | Code::ResourceExhausted => (
            "message_too_large",
            Status::resource_exhausted(format!("agent message refused: {}", status.message())),
        ),
        Code::Internal if status.message().contains("decode") => (
            "malformed_message",
            Status::invalid_argument(format!("malformed agent message: {}", status.message())),
        ),
        Code::Cancelled => ("cancelled", status),
        _ => ("transport_error", status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(min: u32, max: u32) -> v1::Hello {
        v1::Hello { protocol_version: max, min_protocol_version: min, ..Default::default() }
    }

    #[test]
    fn negotiates_the_highest_common_version() {
        assert_eq!(negotiate(&hello(1, 1)).unwrap(), 1);
        assert_eq!(negotiate(&hello(1, 9)).unwrap(), PROTOCOL_VERSION);
        assert_eq!(
            negotiate(&hello(PROTOCOL_VERSION + 1, 9)).unwrap_err().code(),
            tonic::Code::FailedPrecondition
        );
        assert_eq!(negotiate(&hello(0, 0)).unwrap_err().code(), tonic::Code::InvalidArgument);
    }

    #[test]
    fn rejects_bad_zone_names() {
        assert!(validate_zones(&["US-CAL-CISO".into(), "GB".into()]).is_ok());
        assert!(validate_zones(&["".into()]).is_err());
        assert!(validate_zones(&["a b".into()]).is_err());
        assert!(validate_zones(&vec!["Z".to_string(); 65]).is_err());
    }
}
