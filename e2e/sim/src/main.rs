//! `gridshift-sim`: serve one or more simulated clusters and write a kubeconfig.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Parser;
use gridshift_sim::{SimConfig, SimServer, kubeconfig_yaml};

/// An in-memory Kubernetes-compatible API server (plain HTTP, no auth).
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Address to serve a cluster on; repeat for several independent clusters.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: Vec<SocketAddr>,
    /// Cluster (context) names, one per --listen; default sim, sim-1, sim-2...
    #[arg(long)]
    name: Vec<String>,
    /// Where to write a kubeconfig with one context per cluster (first is current).
    #[arg(long)]
    kubeconfig_out: Option<PathBuf>,
    /// Directories of CRD (or any) manifests to apply to every cluster at start.
    #[arg(long)]
    crds: Vec<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        // stdout carries the "name url" lines scripts wait for.
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if !args.name.is_empty() && args.name.len() != args.listen.len() {
        bail!("give one --name per --listen ({} names, {} addresses)", args.name.len(), args.listen.len());
    }
    let mut servers = Vec::new();
    for (i, listen) in args.listen.iter().enumerate() {
        let name = args
            .name
            .get(i)
            .cloned()
            .unwrap_or_else(|| if i == 0 { "sim".into() } else { format!("sim-{i}") });
        let sim = SimServer::start(SimConfig { listen: *listen, name: name.clone(), ..SimConfig::default() })
            .await
            .with_context(|| format!("starting cluster {name}"))?;
        for dir in &args.crds {
            sim.apply_dir(dir).with_context(|| format!("applying {} to {name}", dir.display()))?;
        }
        servers.push(sim);
    }
    if let Some(path) = &args.kubeconfig_out {
        let entries: Vec<_> = servers.iter().map(|s| (s.name().to_string(), s.url())).collect();
        std::fs::write(path, kubeconfig_yaml(&entries))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    // Printed once clusters, CRDs and the kubeconfig are all ready.
    for sim in &servers {
        println!("{} {}", sim.name(), sim.url());
    }
    tokio::signal::ctrl_c().await.context("waiting for ctrl-c")?;
    for s in servers {
        s.shutdown().await;
    }
    Ok(())
}
