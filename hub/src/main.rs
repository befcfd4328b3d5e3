//! `gridshift-hub`: runs on the Karmada host. Fetches carbon intensity for every
//! grid zone the fleet needs and streams forecasts to the agents.
use anyhow::Context;
use clap::{Parser, Subcommand};
use gridshift_carbon::CarbonArgs;
use gridshift_hub::distribution::{Distributor, random_epoch};
use gridshift_hub::grpc::{ClientAuth, ForecastServiceImpl, HubServer, ServerConfig, StreamConfig};
use gridshift_hub::metrics::StreamMetrics;
use gridshift_ops::clock::ClockArgs;
use gridshift_ops::logging::LogArgs;
use gridshift_ops::mint::{CertificateAuthority, read_file};
use gridshift_ops::tls;
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

#[derive(Debug, Parser)]
#[command(
    name = "gridshift-hub",
    version,
    about = "Gridshift hub: carbon-aware placement for a Karmada fleet"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the forecast stream (and fetch carbon intensity for it).
    Serve(Box<ServeArgs>),
    /// Mint TLS material: a CA, the hub's certificate, agent certificates.
    #[command(subcommand)]
    Certs(CertsCommand),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address of the agents' forecast stream (gRPC).
    #[arg(long, env = "GRIDSHIFT_LISTEN", default_value = "0.0.0.0:7443")]
    listen: SocketAddr,
    /// Address of the /metrics, /healthz and /readyz endpoint.
    #[arg(long, env = "GRIDSHIFT_OPS_LISTEN", default_value = "0.0.0.0:8080")]
    ops_listen: SocketAddr,
    /// The hub's certificate (PEM chain).
    #[arg(long, env = "GRIDSHIFT_TLS_CERT", required_unless_present = "insecure")]
    tls_cert: Option<PathBuf>,
    #[arg(long, env = "GRIDSHIFT_TLS_KEY", required_unless_present = "insecure")]
    tls_key: Option<PathBuf>,
    /// CA that signs agent certificates; agents without one are refused.
    #[arg(long, env = "GRIDSHIFT_TLS_CLIENT_CA", required_unless_present = "insecure")]
    tls_client_ca: Option<PathBuf>,
    /// Agents' SPIFFE IDs are spiffe://<trust-domain>/cluster/<name>.
    #[arg(long, env = "GRIDSHIFT_TRUST_DOMAIN", default_value = "gridshift.local")]
    trust_domain: String,
    /// Serve plaintext and take each agent's cluster name at its word. For local
    /// experiments only.
    #[arg(long, env = "GRIDSHIFT_INSECURE", conflicts_with_all = ["tls_cert", "tls_key", "tls_client_ca"])]
    insecure: bool,
    /// How often either side of a stream sends a heartbeat when idle.
    #[arg(long, env = "GRIDSHIFT_HEARTBEAT_INTERVAL", default_value = "15s")]
    heartbeat_interval: jiff::SignedDuration,
    /// Largest gRPC message either side accepts.
    #[arg(long, env = "GRIDSHIFT_MAX_MESSAGE_BYTES", default_value_t = 4 * 1024 * 1024)]
    max_message_bytes: usize,
    #[command(flatten)]
    carbon: CarbonArgs,
    #[command(flatten)]
    clock: ClockArgs,
    #[command(flatten)]
    log: LogArgs,
}

#[derive(Debug, Subcommand)]
enum CertsCommand {
    /// A new CA, the hub's server certificate and one certificate per cluster.
    Init {
        /// Output directory (created); writes ca.*, hub.*, <cluster>.*.
        #[arg(long)]
        out: PathBuf,
        /// DNS names or IPs the hub is reached at (repeatable).
        #[arg(long = "hub-host", default_values = ["localhost", "127.0.0.1"])]
        hub_hosts: Vec<String>,
        /// Member clusters to issue agent certificates for (repeatable).
        #[arg(long = "cluster")]
        clusters: Vec<String>,
        #[arg(long, default_value = "gridshift.local")]
        trust_domain: String,
    },
    /// An agent certificate from an existing CA (ca.crt and ca.key in --ca-dir).
    Agent {
        #[arg(long)]
        ca_dir: PathBuf,
        #[arg(long)]
        cluster: String,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "gridshift.local")]
        trust_domain: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    gridshift_ops::install_crypto_provider();
    match Cli::parse().command {
        Command::Serve(args) => serve(*args).await,
        Command::Certs(cmd) => certs(cmd),
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    gridshift_ops::logging::init(&args.log)?;
    let clock = args.clock.clock()?;
    let (tls, auth) = if args.insecure {
        tracing::warn!("--insecure: the forecast stream is plaintext and agents are not authenticated");
        (None, ClientAuth::Insecure)
    } else {
        let path = |p: &Option<PathBuf>| p.clone().expect("required unless --insecure");
        let cert = tls::read_certs("hub certificate", &path(&args.tls_cert))?;
        let key = tls::read_key("hub key", &path(&args.tls_key))?;
        let ca = tls::read_certs("client CA", &path(&args.tls_client_ca))?;
        (
            Some(tls::server_config(&cert, &key, Some(&ca))),
            ClientAuth::MutualTls { trust_domain: args.trust_domain.clone() },
        )
    };

    let mut registry = Registry::default();
    let stream_metrics = StreamMetrics::default();
    stream_metrics.register(&mut registry);
    let carbon_metrics = gridshift_carbon::Metrics::new(&mut registry);

    let distributor = Distributor::new(random_epoch());
    // The store adds --carbon-zones itself and restores its state file in run().
    let wanted_from = distributor.clone();
    let store = args
        .carbon
        .build_store(clock.clone(), Arc::new(distributor.clone()), carbon_metrics, move || {
            wanted_from.wanted_zones()
        })
        .context("carbon-intensity configuration")?;
    let store = Arc::new(store);

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let store_task = {
        let store = store.clone();
        let mut stop = shutdown_rx.clone();
        tokio::spawn(async move {
            store
                .run(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await
        })
    };
    // Fetch a new agent's zone now rather than at the next scheduled refresh.
    let mut wanted = distributor.watch_wanted();
    let waker = store.clone();
    tokio::spawn(async move {
        while wanted.changed().await.is_ok() {
            waker.wake();
        }
    });

    let config = StreamConfig {
        heartbeat_interval: args.heartbeat_interval.try_into().context("--heartbeat-interval")?,
        agent_silence_timeout: Duration::try_from(args.heartbeat_interval).context("--heartbeat-interval")?
            * 4,
        // One bound for both: the store withdraws data older than it, and agents
        // are told not to act on data older than it.
        staleness_bound: args.carbon.staleness_bound.try_into().context("--carbon-staleness-bound")?,
        max_message_bytes: args.max_message_bytes,
        ..StreamConfig::default()
    };
    let service = ForecastServiceImpl::new(distributor, config, auth, stream_metrics);
    let mut server_config = ServerConfig::new(args.listen, tls);
    server_config.max_message_bytes = args.max_message_bytes;
    let server = HubServer::start(server_config, service).await?;

    let (_ready_tx, ready) = watch::channel(Ok(()));
    let ops = gridshift_ops::http::serve(args.ops_listen, Arc::new(registry), ready).await?;
    tracing::info!(stream = %server.local_addr(), %ops, "hub started");

    gridshift_ops::shutdown_signal().await;
    shutdown_tx.send_replace(true);
    server.shutdown(Duration::from_secs(10)).await;
    let _ = store_task.await;
    Ok(())
}

fn certs(cmd: CertsCommand) -> anyhow::Result<()> {
    match cmd {
        CertsCommand::Init { out, hub_hosts, clusters, trust_domain } => {
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let ca = CertificateAuthority::generate("Gridshift CA")?;
            ca.certificate().write(&out, "ca")?;
            ca.issue_server(&hub_hosts)?.write(&out, "hub")?;
            for cluster in &clusters {
                ca.issue_agent(&trust_domain, cluster)?.write(&out, cluster)?;
            }
            println!(
                "wrote ca, hub ({}) and {} agent certificate(s) to {}",
                hub_hosts.join(", "),
                clusters.len(),
                out.display()
            );
        }
        CertsCommand::Agent { ca_dir, cluster, out, trust_domain } => {
            let ca = CertificateAuthority::load(
                &read_file(&ca_dir.join("ca.crt"))?,
                &read_file(&ca_dir.join("ca.key"))?,
            )?;
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            ca.issue_agent(&trust_domain, &cluster)?.write(&out, &cluster)?;
            println!("wrote {cluster}.crt and {cluster}.key to {}", out.display());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
