//! Test fixtures: a PKI, a hub on loopback, and agents connected to it.
#![allow(dead_code)]

use gridshift_agent::forecast::ForecastView;
use gridshift_agent::stream::ClientConfig;
use gridshift_core::Series;
use gridshift_hub::distribution::Distributor;
use gridshift_hub::grpc::{ClientAuth, ForecastServiceImpl, HubServer, ServerConfig, StreamConfig};
use gridshift_hub::metrics::StreamMetrics;
use gridshift_ops::mint::{CertificateAuthority, Issued};
use gridshift_ops::runtime::Shutdown;
use gridshift_ops::tls::{self, Pem};
use jiff::Timestamp;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};

pub const TRUST_DOMAIN: &str = "gridshift.test";

pub struct Pki {
    pub ca: CertificateAuthority,
    pub hub: Issued,
}

impl Pki {
    pub fn new() -> Self {
        gridshift_ops::install_crypto_provider();
        let ca = CertificateAuthority::generate("test ca").unwrap();
        let hub = ca.issue_server(&["localhost".into(), "127.0.0.1".into()]).unwrap();
        Self { ca, hub }
    }

    pub fn ca_pem(&self) -> Pem {
        Pem(self.ca.certificate().cert_pem.clone().into_bytes())
    }

    pub fn server_tls(&self) -> tonic::transport::ServerTlsConfig {
        let ca = self.ca_pem();
        tls::server_config(
            &Pem(self.hub.cert_pem.clone().into_bytes()),
            &Pem(self.hub.key_pem.clone().into_bytes()),
            Some(&ca),
        )
    }

    /// Client TLS with the certificate of `cluster`, or none.
    pub fn client_tls(&self, cluster: Option<&str>) -> tonic::transport::ClientTlsConfig {
        let ca = self.ca_pem();
        match cluster {
            Some(name) => {
                let agent = self.ca.issue_agent(TRUST_DOMAIN, name).unwrap();
                let (cert, key) = (Pem(agent.cert_pem.into_bytes()), Pem(agent.key_pem.into_bytes()));
                tls::client_config(&ca, Some((&cert, &key)), "localhost")
            }
            None => tls::client_config(&ca, None, "localhost"),
        }
    }
}

pub fn stream_config() -> StreamConfig {
    StreamConfig {
        heartbeat_interval: Duration::from_millis(200),
        agent_silence_timeout: Duration::from_secs(5),
        ..StreamConfig::default()
    }
}

pub async fn start_hub(pki: &Pki, distributor: &Distributor, listen: SocketAddr) -> HubServer {
    start_hub_with_metrics(pki, distributor, listen, StreamMetrics::default()).await
}

pub async fn start_hub_with_metrics(
    pki: &Pki,
    distributor: &Distributor,
    listen: SocketAddr,
    metrics: StreamMetrics,
) -> HubServer {
    let auth = ClientAuth::MutualTls { trust_domain: TRUST_DOMAIN.into() };
    let service = ForecastServiceImpl::new(distributor.clone(), stream_config(), auth, metrics);
    HubServer::start(ServerConfig::new(listen, Some(pki.server_tls())), service).await.unwrap()
}

pub fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

pub use gridshift_agent::testing::TestAgent as Agent;

pub fn start_agent(pki: &Pki, addr: SocketAddr, cluster: &str, zones: &[&str]) -> Agent {
    let mut config = ClientConfig::new(
        format!("https://localhost:{}", addr.port()),
        cluster,
        Some(pki.client_tls(Some(cluster))),
    );
    config.backoff_initial = Duration::from_millis(50);
    config.backoff_max = Duration::from_millis(500);
    Agent::start(config, zones, Shutdown::new())
}

/// Waits (bounded) until the agent's view satisfies `f`.
pub async fn wait_view(
    agent: &mut Agent,
    what: &str,
    f: impl FnMut(&ForecastView) -> bool,
) -> Arc<ForecastView> {
    tokio::time::timeout(Duration::from_secs(20), agent.handle.wait_for(f))
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for: {what}; view: {:?}", agent.handle.current()))
        .unwrap()
}

pub fn series(zone: &str, value: f64) -> Series {
    let t0: Timestamp = "2022-06-01T00:00:00Z".parse().unwrap();
    let values: Vec<f64> = (0..24).map(|h| value + h as f64).collect();
    gridshift_core::testing::hourly_from(zone, t0, &values)
}

pub fn value_of(view: &ForecastView, zone: &str) -> Option<f64> {
    view.series(zone).map(|s| s.points[0].value)
}

pub async fn channel(
    pki: &Pki,
    addr: SocketAddr,
    cluster: Option<&str>,
) -> Result<Channel, tonic::transport::Error> {
    Endpoint::from_shared(format!("https://localhost:{}", addr.port()))
        .unwrap()
        .tls_config(pki.client_tls(cluster))
        .unwrap()
        .connect()
        .await
}
