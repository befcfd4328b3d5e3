//! `gridshift-agent`: one per member cluster. Receives the hub's forecast stream
//! and serves it to the agent's controllers.
use anyhow::Context;
use clap::Parser;
use gridshift_agent::configmap::{ConfigMapWriter, WriterConfig, WriterMetrics, load_last_forecast};
use gridshift_agent::keda;
use gridshift_agent::metrics::StreamMetrics;
use gridshift_agent::scheduler::controller::{
    self as scheduler, SchedulerArgs, SchedulerComponent, SchedulerMetrics,
};
use gridshift_agent::status::StatusReporter;
use gridshift_agent::stream::{ClientConfig, StreamClient};
use gridshift_core::{Series, Zone};
use gridshift_ops::clock::ClockArgs;
use gridshift_ops::logging::LogArgs;
use gridshift_ops::runtime::{Runtime, kube_client, replica_identity};
use gridshift_ops::tls;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::watch;

#[derive(Debug, Parser)]
#[command(
    name = "gridshift-agent",
    version,
    about = "Gridshift agent: carbon-aware operation of one member cluster"
)]
struct Args {
    /// This member cluster's name, as Karmada knows it. Must match the identity
    /// in the client certificate.
    #[arg(long, env = "GRIDSHIFT_CLUSTER_NAME")]
    cluster_name: String,
    /// The hub's stream address, e.g. https://gridshift-hub.karmada-system:7443.
    #[arg(long, env = "GRIDSHIFT_HUB_URL")]
    hub_url: String,
    /// Name to verify in the hub's certificate (default: the URL's host).
    #[arg(long, env = "GRIDSHIFT_HUB_SERVER_NAME")]
    hub_server_name: Option<String>,
    /// CA bundle that signed the hub's certificate.
    #[arg(long, env = "GRIDSHIFT_TLS_CA", required_unless_present = "insecure")]
    tls_ca: Option<PathBuf>,
    /// This agent's client certificate (URI SAN spiffe://<trust-domain>/cluster/<name>).
    #[arg(long, env = "GRIDSHIFT_TLS_CERT", required_unless_present = "insecure")]
    tls_cert: Option<PathBuf>,
    #[arg(long, env = "GRIDSHIFT_TLS_KEY", required_unless_present = "insecure")]
    tls_key: Option<PathBuf>,
    /// Connect without TLS. For local experiments only: the stream is then
    /// neither encrypted nor authenticated.
    #[arg(long, env = "GRIDSHIFT_INSECURE", conflicts_with_all = ["tls_ca", "tls_cert", "tls_key"])]
    insecure: bool,
    /// Grid zones this cluster's nodes are in; the first is its primary zone.
    #[arg(long = "node-zone", env = "GRIDSHIFT_NODE_ZONES", value_delimiter = ',')]
    node_zones: Vec<Zone>,
    /// Address of the /metrics, /healthz and /readyz endpoint.
    #[arg(long, env = "GRIDSHIFT_OPS_LISTEN", default_value = "0.0.0.0:8081")]
    ops_listen: SocketAddr,
    /// Kubeconfig of this member cluster (default: KUBECONFIG, else in-cluster).
    #[arg(long, env = "GRIDSHIFT_KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Controllers to run.
    #[arg(
        long,
        env = "GRIDSHIFT_FEATURES",
        value_delimiter = ',',
        default_value = "configmap,keda,scheduler"
    )]
    features: Vec<Feature>,
    /// Namespace of the carbon-intensity ConfigMap the agent keeps (and reloads on start).
    #[arg(long, env = "GRIDSHIFT_CONFIGMAP_NAMESPACE", default_value = "kube-system")]
    configmap_namespace: String,
    #[arg(long, env = "GRIDSHIFT_CONFIGMAP_NAME", default_value = "carbon-intensity")]
    configmap_name: String,
    #[command(flatten)]
    scheduler: SchedulerArgs,
    #[command(flatten)]
    clock: ClockArgs,
    #[command(flatten)]
    log: LogArgs,
}

/// The agent's controllers, switched on with `--features`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Feature {
    /// Keep the carbon-intensity ConfigMap (and reload the last forecast from it on start).
    Configmap,
    /// Cap KEDA ScaledObjects/ScaledJobs per CarbonAwareKedaScaler.
    Keda,
    /// Bind pods that ask for the carbon-aware scheduler.
    Scheduler,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    gridshift_ops::install_crypto_provider();
    let args = Args::parse();
    gridshift_ops::logging::init(&args.log)?;
    gridshift_ops::identity::validate_cluster_name(&args.cluster_name).context("--cluster-name")?;
    let clock = args.clock.clock()?;

    let tls = if args.insecure {
        tracing::warn!("--insecure: the forecast stream is neither encrypted nor authenticated");
        None
    } else {
        let server_name = match &args.hub_server_name {
            Some(name) => name.clone(),
            None => host_of(&args.hub_url).context("--hub-url")?,
        };
        let (ca, cert, key) = (args.tls_ca.as_ref(), args.tls_cert.as_ref(), args.tls_key.as_ref());
        let (ca, cert, key) = (ca.expect("required"), cert.expect("required"), key.expect("required"));
        let ca = tls::read_certs("hub CA", ca)?;
        let cert = tls::read_certs("agent certificate", cert)?;
        let key = tls::read_key("agent key", key)?;
        Some(tls::client_config(&ca, Some((&cert, &key)), &server_name))
    };

    let mut runtime = Runtime::new(Ok(()));
    let identity = replica_identity("gridshift-agent");
    let config = ClientConfig::new(args.hub_url.clone(), args.cluster_name.clone(), tls);
    let (zones_tx, zones) = watch::channel(args.node_zones.clone());
    // Caps in effect and pods bound or deferred, as the hub sees them.
    let (status_reporter, status) = StatusReporter::new();
    let has = |f: Feature| args.features.contains(&f);
    let kube = match args.features.is_empty() {
        true => None,
        false => Some(kube_client(args.kubeconfig.as_deref()).await?),
    };
    let seed = match (&kube, has(Feature::Configmap)) {
        (Some(kube), true) => {
            last_forecast(kube.clone(), &args.configmap_namespace, &args.configmap_name).await
        }
        _ => vec![],
    };
    let (client, forecast) =
        StreamClient::new(config, clock.clone(), zones, status, seed, StreamMetrics::default());
    if let (Some(kube), true) = (&kube, has(Feature::Configmap)) {
        let config = WriterConfig::new(&args.configmap_namespace, &args.configmap_name);
        let metrics = WriterMetrics::default();
        runtime.add(ConfigMapWriter::new(kube.clone(), config, clock.clone(), forecast.clone(), metrics));
    }
    if let (Some(kube), true) = (&kube, has(Feature::Keda)) {
        let config = keda::KedaConfig {
            instance: identity.clone(),
            report: Some(status_reporter.clone()),
            ..Default::default()
        };
        runtime.add(keda::KedaComponent {
            client: kube.clone(),
            clock: clock.clone(),
            forecast: forecast.clone(),
            metrics: keda::KedaMetrics::default(),
            config,
        });
    }
    if let (Some(kube), true) = (&kube, has(Feature::Scheduler)) {
        let config = args.scheduler.config(&identity).context("--zone-override")?;
        let deps = scheduler::Deps {
            client: kube.clone(),
            clock: clock.clone(),
            forecast: forecast.clone(),
            metrics: SchedulerMetrics::default(),
            status: Some(status_reporter.clone()),
            // The scheduler tells the hub which grid zones its nodes are in.
            node_zones: Some(zones_tx.clone()),
        };
        runtime.add(SchedulerComponent { config, deps });
    }
    runtime.add(client);
    let (cluster, hub) = (args.cluster_name.clone(), args.hub_url.clone());
    runtime
        .run(args.ops_listen, |ops| tracing::info!(cluster, hub, %ops, "agent starting"))
        .await
        .map_err(|e| anyhow::anyhow!(e))
}

/// The forecast the agent wrote before it (re)started, so it serves it until the hub is
/// reached. Never fatal: without it the agent starts empty and fails open.
async fn last_forecast(kube: kube::Client, namespace: &str, name: &str) -> Vec<Series> {
    let load = load_last_forecast(kube, namespace, name);
    match tokio::time::timeout(Duration::from_secs(10), load).await {
        Ok(Ok(Some(series))) => {
            tracing::info!(zone = %series.zone, generated_at = %series.generated_at, points = series.points.len(), "reloaded the last forecast from the ConfigMap");
            vec![series]
        }
        Ok(Ok(None)) => vec![],
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot reload the last forecast; starting without one");
            vec![]
        }
        Err(_) => {
            tracing::warn!("the API server did not answer in 10 s; starting without the last forecast");
            vec![]
        }
    }
}

fn host_of(url: &str) -> anyhow::Result<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    anyhow::ensure!(!host.is_empty(), "no host in {url:?}");
    Ok(host.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }

    #[test]
    fn features_default_to_all_and_parse_a_comma_list() {
        let base = ["gridshift-agent", "--cluster-name", "m", "--hub-url", "http://h:1", "--insecure"];
        let args = Args::try_parse_from(base).expect("parses");
        assert_eq!(args.features, [Feature::Configmap, Feature::Keda, Feature::Scheduler]);
        assert_eq!(
            (args.configmap_namespace.as_str(), args.configmap_name.as_str()),
            ("kube-system", "carbon-intensity")
        );
        let args = Args::try_parse_from(base.iter().copied().chain(["--features", "configmap,keda"]))
            .expect("parses");
        assert_eq!(args.features, [Feature::Configmap, Feature::Keda]);
        assert!(Args::try_parse_from(base.iter().copied().chain(["--features", "keda,nope"])).is_err());
    }

    #[test]
    fn the_server_name_defaults_to_the_url_host() {
        assert_eq!(host_of("https://hub.example:7443").unwrap(), "hub.example");
        assert_eq!(host_of("https://[::1]:7443/x").unwrap(), "::1");
        assert_eq!(host_of("hub").unwrap(), "hub");
        assert!(host_of("https://:7443").is_err());
    }
}
