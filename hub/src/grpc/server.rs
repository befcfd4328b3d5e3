//! The hub's gRPC server: the forecast stream, gRPC health and server reflection,
//! behind TLS (mutual by default) with HTTP/2 keepalives and message size limits.
use super::service::ForecastServiceImpl;
use gridshift_proto::v1::forecast_service_server::ForecastServiceServer;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Server, ServerTlsConfig};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("binding {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("TLS configuration: {0}")]
    Tls(#[source] tonic::transport::Error),
    #[error("reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// `None` serves plaintext (only with `--insecure`).
    pub tls: Option<ServerTlsConfig>,
    /// HTTP/2 PING interval towards agents, to notice dead connections.
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
    pub max_message_bytes: usize,
}

impl ServerConfig {
    pub fn new(listen: SocketAddr, tls: Option<ServerTlsConfig>) -> Self {
        Self {
            listen,
            tls,
            keepalive_interval: Duration::from_secs(60),
            keepalive_timeout: Duration::from_secs(20),
            max_message_bytes: 4 * 1024 * 1024,
        }
    }
}

/// A running gRPC server.
pub struct HubServer {
    local_addr: SocketAddr,
    service: ForecastServiceImpl,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl HubServer {
    pub async fn start(config: ServerConfig, service: ForecastServiceImpl) -> Result<Self, ServerError> {
        let incoming = TcpIncoming::bind(config.listen)
            .map_err(|source| ServerError::Bind { addr: config.listen, source })?
            .with_nodelay(Some(true));
        let local_addr =
            incoming.local_addr().map_err(|source| ServerError::Bind { addr: config.listen, source })?;

        let (health_reporter, health) = tonic_health::server::health_reporter();
        health_reporter.set_serving::<ForecastServiceServer<ForecastServiceImpl>>().await;
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(gridshift_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        let reflection_alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(gridshift_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()?;
        let forecast = ForecastServiceServer::new(service.clone())
            .max_decoding_message_size(config.max_message_bytes)
            .max_encoding_message_size(config.max_message_bytes);

        // hyper's HTTP/2 server does not police how often clients ping, so agent
        // keepalives never earn a GOAWAY(too_many_pings) from the hub itself.
        let mut builder = Server::builder()
            .http2_keepalive_interval(Some(config.keepalive_interval))
            .http2_keepalive_timeout(Some(config.keepalive_timeout))
            .tcp_keepalive(Some(Duration::from_secs(60)));
        if let Some(tls) = config.tls {
            builder = builder.tls_config(tls).map_err(ServerError::Tls)?;
        }
        let router = builder
            .add_service(health)
            .add_service(reflection)
            .add_service(reflection_alpha)
            .add_service(forecast);
        let mut revision = service.distributor.watch_revision();
        let gauge = service.metrics.revision.clone();
        tokio::spawn(async move {
            loop {
                gauge.set(*revision.borrow_and_update() as i64);
                if revision.changed().await.is_err() {
                    return;
                }
            }
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(router.serve_with_incoming_shutdown(incoming, async {
            let _ = stopped.await;
        }));
        tracing::info!(%local_addr, "forecast stream listening");
        Ok(Self { local_addr, service, stop: Some(stop), task })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Ends every stream with UNAVAILABLE (agents reconnect), stops accepting and
    /// waits up to `grace` for connections to close.
    pub async fn shutdown(mut self, grace: Duration) {
        self.service.begin_shutdown();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match tokio::time::timeout(grace, &mut self.task).await {
            Ok(Ok(Ok(()))) => tracing::info!("forecast stream stopped"),
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "forecast stream server ended with an error"),
            Ok(Err(e)) => tracing::warn!(error = %e, "forecast stream server task failed"),
            Err(_) => {
                tracing::warn!(?grace, "connections still open after the grace period; closing them");
                self.task.abort();
            }
        }
    }
}
