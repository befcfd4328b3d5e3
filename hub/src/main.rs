//! `gridshift-hub`: runs on the Karmada host. Fetches carbon intensity for every
//! grid zone the fleet needs and streams forecasts to the agents.
use anyhow::Context;
use clap::{Parser, Subcommand};
use gridshift_carbon::store::StoreOptions;
use gridshift_carbon::{CarbonArgs, ForecastStore};
use gridshift_core::SharedClock;
use gridshift_hub::components::{DirectoryComponent, ReplicaComponent, StoreComponent, StreamComponent};
use gridshift_hub::distribution::{Distributor, random_epoch};
use gridshift_hub::grpc::{ClientAuth, ForecastServiceImpl, HubServer, ServerConfig, StreamConfig};
use gridshift_hub::metrics::StreamMetrics;
use gridshift_hub::placement::controller::{ControllerConfig, PlacementComponent, PolicyMetrics, RunOptions};
use gridshift_hub::replicas::{SharedState, WantedExchange};
use gridshift_ops::clock::ClockArgs;
use gridshift_ops::logging::LogArgs;
use gridshift_ops::mint::{CertificateAuthority, read_file};
use gridshift_ops::runtime::{LeaderElection, Runtime, kube_client, replica_identity};
use gridshift_ops::tls;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

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
    placement: PlacementArgs,
    #[command(flatten)]
    clock: ClockArgs,
    #[command(flatten)]
    log: LogArgs,
}

/// The CarbonAwareKarmadaPolicy controller.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Karmada placement")]
struct PlacementArgs {
    /// Kubeconfig of the Karmada API server. Without it the placement controller is off
    /// (the forecast stream still serves).
    #[arg(long, env = "GRIDSHIFT_KARMADA_KUBECONFIG")]
    karmada_kubeconfig: Option<PathBuf>,
    /// Write to Karmada only while holding a Lease there (run several replicas safely).
    #[arg(long, env = "GRIDSHIFT_LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    leader_elect: bool,
    /// Namespace of the Lease, in the Karmada API server.
    #[arg(long, env = "GRIDSHIFT_LEADER_ELECTION_NAMESPACE", default_value = "karmada-system")]
    leader_election_namespace: String,
    #[arg(long, env = "GRIDSHIFT_LEADER_ELECTION_LEASE_NAME", default_value = "gridshift-hub")]
    leader_election_lease_name: String,
    /// Re-evaluate every policy at least this often (in simulated time when the clock is simulated).
    #[arg(long, env = "GRIDSHIFT_POLICY_RESYNC", default_value = "5m")]
    policy_resync: jiff::SignedDuration,
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
    // Not ready until the store has restored its state and tried every zone once.
    let mut runtime = Runtime::new(Err("restoring forecasts and fetching every zone once".into()));

    let distributor = Distributor::new(random_epoch());
    let identity = replica_identity("gridshift-hub");
    let karmada = match &args.placement.karmada_kubeconfig {
        Some(path) => Some(kube_client(Some(path)).await.context("--karmada-kubeconfig")?),
        None => None,
    };
    // With leader election, replicas share one store: only the leader fetches.
    let sharing = match (&karmada, args.placement.leader_elect) {
        (Some(client), true) => {
            let ns = &args.placement.leader_election_namespace;
            let base = &args.placement.leader_election_lease_name;
            let shared = SharedState::new(client.clone(), ns, &format!("{base}-forecasts"));
            let wanted = WantedExchange::new(
                client.clone(),
                ns,
                &format!("{base}-wanted-zones"),
                &identity,
                clock.clone(),
            );
            Some((shared, wanted))
        }
        _ => None,
    };
    let (leading_tx, leading_rx) = tokio::sync::watch::channel(sharing.is_none());
    // The store adds --carbon-zones itself and restores its state when it runs.
    let carbon_metrics = gridshift_carbon::Metrics::default();
    let (wanted_from, peers) = (distributor.clone(), sharing.as_ref().map(|(_, w)| w.peers()));
    let mut opts = StoreOptions::default().metrics(carbon_metrics.clone()).wanted_zones(move || {
        let mut zones = wanted_from.wanted_zones();
        zones.extend(peers.iter().flat_map(|p| p.get()));
        zones
    });
    if let Some((shared, _)) = &sharing {
        opts = opts.persist(Arc::new(shared.clone())).fetching(leading_rx);
    }
    let store = args
        .carbon
        .build_store(clock.clone(), Arc::new(distributor.clone()), opts)
        .context("carbon-intensity configuration")?;
    let store = Arc::new(store);

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
    let placement = match &karmada {
        Some(_) => Some(placement_controller(&args, &clock, &store, &distributor, &identity, leading_tx)?),
        None => {
            tracing::warn!(
                "no --karmada-kubeconfig: the placement controller is off; the forecast stream still serves"
            );
            None
        }
    };
    let stream_metrics = StreamMetrics::default();
    let service = ForecastServiceImpl::new(distributor.clone(), config, auth, stream_metrics.clone());
    let mut server_config = ServerConfig::new(args.listen, tls);
    server_config.max_message_bytes = args.max_message_bytes;
    let server = HubServer::start(server_config, service).await?;
    let stream = server.local_addr();

    let readiness = runtime.readiness();
    if let Some((shared, wanted)) = sharing {
        let distributor = distributor.clone();
        runtime.add(ReplicaComponent { store: store.clone(), shared, wanted, distributor });
    }
    if let Some(client) = karmada {
        let zone_map = args.carbon.zone_map().context("--zone-map")?;
        runtime.add(DirectoryComponent { client, zone_map, distributor: distributor.clone() });
    }
    runtime.add(StoreComponent { store, metrics: carbon_metrics, distributor, readiness });
    runtime.add(StreamComponent { server, metrics: stream_metrics });
    if let Some(placement) = placement {
        runtime.add(placement);
    }
    runtime
        .run(args.ops_listen, |ops| tracing::info!(%stream, %ops, "hub started"))
        .await
        .map_err(|e| anyhow::anyhow!(e))
}

/// The CarbonAwareKarmadaPolicy controller (with --karmada-kubeconfig).
fn placement_controller(
    args: &ServeArgs,
    clock: &SharedClock,
    store: &Arc<ForecastStore>,
    distributor: &Distributor,
    identity: &str,
    leading: tokio::sync::watch::Sender<bool>,
) -> anyhow::Result<PlacementComponent> {
    let p = &args.placement;
    let kubeconfig = p.karmada_kubeconfig.clone().context("--karmada-kubeconfig")?;
    let mut config = ControllerConfig::new(clock.clone());
    config.resync = p.policy_resync;
    config.zone_map = args.carbon.zone_map().context("--zone-map")?;
    config.instance = identity.to_string();
    // A zone's refresh is due from its slot boundary + offset + jitter; allow a margin.
    let c = &args.carbon;
    config.refresh_settle = (c.refresh_offset + c.refresh_jitter + jiff::SignedDuration::from_mins(5))
        .max(gridshift_core::placement::Settings::DEFAULT_REFRESH_SETTLE);
    let settled = store.clone();
    config.zones_settled = Some(Arc::new(move |zone| settled.attempted(zone)));
    let leader_election = LeaderElection {
        enabled: p.leader_elect,
        ..LeaderElection::new(&p.leader_election_namespace, &p.leader_election_lease_name, identity)
    };
    let options =
        RunOptions { karmada_kubeconfig: kubeconfig, leader_election, config, leading: Some(leading) };
    Ok(PlacementComponent {
        options,
        forecasts: store.watch(),
        distributor: distributor.clone(),
        metrics: PolicyMetrics::default(),
    })
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

    fn placement(extra: &[&str]) -> PlacementArgs {
        let mut argv = vec!["gridshift-hub", "serve", "--insecure"];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Serve(args) => args.placement,
            Command::Certs(_) => unreachable!(),
        }
    }

    #[test]
    fn placement_flags_follow_the_contract() {
        let d = placement(&[]);
        assert!(d.karmada_kubeconfig.is_none(), "no kubeconfig: the controller is off");
        assert!(d.leader_elect);
        assert_eq!(d.leader_election_namespace, "karmada-system");
        assert_eq!(d.leader_election_lease_name, "gridshift-hub");
        assert!(!placement(&["--leader-elect=false"]).leader_elect);
        assert!(placement(&["--leader-elect"]).leader_elect);
        let p = placement(&[
            "--karmada-kubeconfig",
            "/k",
            "--leader-election-namespace",
            "ns",
            "--leader-election-lease-name",
            "l",
        ]);
        assert_eq!(p.karmada_kubeconfig.as_deref(), Some(std::path::Path::new("/k")));
        assert_eq!(
            (p.leader_election_namespace.as_str(), p.leader_election_lease_name.as_str()),
            ("ns", "l")
        );
    }
}
