//! `gridshift-demo`: the whole fleet on one machine with no network and no
//! credentials. A simulated Karmada host and three member clusters, the real
//! hub and agents over mutual TLS on loopback, replaying real 2022 grid data
//! at accelerated time; a live view, then a summary table.
use anyhow::Context;
use clap::Parser;
use gridshift_core::zone_map::ZoneMap;
use gridshift_e2e::observe::FleetView;
use gridshift_e2e::summary::Summary;
use gridshift_e2e::workload::{Kubelet, PodSource};
use gridshift_e2e::{Fleet, FleetConfig, MemberSpec, NodeGroup, render, scenario, workload};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use std::io::IsTerminal;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(name = "gridshift-demo", version, about)]
struct Args {
    /// Simulated start of the replay (the shipped traces cover 2022).
    #[arg(long, default_value = "2022-03-15T00:00:00Z")]
    start: Timestamp,
    /// How much simulated time to replay before the summary.
    #[arg(long, default_value = "48h")]
    period: SignedDuration,
    /// Simulated seconds per real second (2880: a day in 30 s).
    #[arg(long, default_value_t = 2880.0)]
    speed: f64,
    /// One member cluster per grid zone (default: US West with Pacific
    /// Northwest nodes, US East with New York nodes, Great Britain).
    #[arg(long, value_delimiter = ',')]
    zones: Vec<String>,
    /// Keep running (and the view live) after the period, until Ctrl-C.
    #[arg(long)]
    keep_running: bool,
    /// Print frames one after another instead of redrawing the screen
    /// (the default when stdout is not a terminal).
    #[arg(long)]
    plain: bool,
    /// Real seconds between frames.
    #[arg(long, default_value_t = 1.0)]
    refresh: f64,
    /// Keep certificates, kubeconfigs and the hub's and agents' logs.
    #[arg(long)]
    keep_work_dir: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    gridshift_ops::install_crypto_provider();
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    anyhow::ensure!(args.speed.is_finite() && args.speed > 0.0, "--speed must be positive");
    anyhow::ensure!(args.period.is_positive(), "--period must be positive");

    let mut config = FleetConfig::three_members(args.start, args.speed);
    if !args.zones.is_empty() {
        config.members = members_for_zones(&args.zones)?;
    }
    config.keep_work_dir = args.keep_work_dir;
    println!(
        "Starting a simulated Karmada host, {} member clusters, the hub and agents…",
        config.members.len()
    );
    let mut fleet = Fleet::start(config).await?;
    println!("Logs and certificates: {}", fleet.work_dir.display());
    scenario::apply(&fleet)?;

    let end = args.start + args.period;
    let plain = args.plain || !std::io::stdout().is_terminal();
    let mut summary = Summary::default();
    let mut sources: Vec<PodSource> = fleet
        .members
        .iter()
        .map(|_| PodSource::new(SignedDuration::from_mins(40), SignedDuration::from_hours(12)))
        .collect();
    let mut kubelets: Vec<Kubelet> = fleet.members.iter().map(|_| Kubelet::default()).collect();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(args.refresh.max(0.1)));
    let result = loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = tokio::signal::ctrl_c() => break Ok(()),
        }
        let now = fleet.clock.now();
        if let Err(e) = drive_workloads(&fleet, &mut sources, &mut kubelets, now).await {
            tracing::warn!(error = %e, "driving the sample workloads");
        }
        let view = match FleetView::read(&fleet).await {
            Ok(v) => v,
            Err(e) => break Err(e).context("reading the fleet's state"),
        };
        summary.observe(&view);
        let now = fleet.clock.now();
        let header = format!(
            "Gridshift offline demo — {} UTC (×{:.0}) — {:.0}% of {}",
            now.strftime("%Y-%m-%d %H:%M"),
            args.speed,
            (100.0 * now.duration_since(args.start).as_secs_f64() / args.period.as_secs_f64())
                .clamp(0.0, 100.0),
            args.period
        );
        let text = render::frame(&view, &header);
        if plain {
            println!("{text}")
        } else {
            print!("\x1b[2J\x1b[H{text}")
        }
        if now >= end && !args.keep_running {
            break Ok(());
        }
    };
    fleet.stop().await;
    println!("\n=== Summary: {} to {} ===", args.start, fleet.clock.now().min(end).max(args.start));
    println!("{}", summary.render());
    println!("Carbon-agnostic = every candidate cluster equally; reduction is per unit of work placed.");
    result
}

async fn drive_workloads(
    fleet: &Fleet,
    sources: &mut [PodSource],
    kubelets: &mut [Kubelet],
    now: Timestamp,
) -> anyhow::Result<()> {
    for ((member, source), kubelet) in fleet.members.iter().zip(sources).zip(kubelets) {
        let pods: Api<Pod> = Api::namespaced(member.sim.client()?, scenario::NAMESPACE);
        workload::create(&pods, source.due(now)).await?;
        kubelet.tick(&pods, now).await?;
    }
    Ok(())
}

/// One member per zone, named after it, three nodes in the zone's demo region.
fn members_for_zones(zones: &[String]) -> anyhow::Result<Vec<MemberSpec>> {
    let map = ZoneMap::builtin();
    zones
        .iter()
        .map(|zone| {
            let region = map
                .iter()
                .find(|(region, entry)| region.starts_with("kind-") && entry.zone == *zone)
                .map(|(region, _)| region.to_string())
                .with_context(|| {
                    format!(
                        "no demo region for zone {zone}; shipped traces: see e2e/data/carbon-intensity-open"
                    )
                })?;
            Ok(MemberSpec {
                name: format!("member-{}", zone.to_lowercase()),
                node_groups: vec![NodeGroup { region, count: 3, cpu: "8".into(), memory: "32Gi".into() }],
            })
        })
        .collect()
}
