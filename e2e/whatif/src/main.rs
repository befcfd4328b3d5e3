//! `gridshift-whatif`: what would a Gridshift policy have saved on recorded traces?
use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use gridshift_whatif::inputs::Inputs;
use gridshift_whatif::output::{Format, render};
use gridshift_whatif::trace::{Grid, load_traces};
use gridshift_whatif::{RunOptions, charts, simulate, suggest, zones_used};
use jiff::{SignedDuration, Timestamp};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "gridshift-whatif", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay policies and a workload over intensity traces and compare strategies.
    Run(RunArgs),
    /// Suggest CarbonAwareKedaScaler buckets for a zone from its recorded distribution.
    SuggestThresholds(SuggestArgs),
}

#[derive(Args)]
struct TraceArgs {
    /// Trace CSV files or directories of them (`timestamp_utc,zone,gco2_per_kwh`).
    #[arg(long = "traces", env = "GRIDSHIFT_WHATIF_TRACES", value_delimiter = ',', required = true)]
    traces: Vec<PathBuf>,
    /// Start of the simulated span (default: the first hour every used zone has).
    #[arg(long, env = "GRIDSHIFT_WHATIF_FROM")]
    from: Option<Timestamp>,
    /// End of the simulated span (exclusive; default: the traces' common end).
    #[arg(long, env = "GRIDSHIFT_WHATIF_TO")]
    to: Option<Timestamp>,
}

#[derive(Args)]
struct RunArgs {
    /// YAML with CarbonAwareKarmadaPolicy / CarbonAwareKedaScaler / SchedulerSettings documents.
    #[arg(long = "policy", env = "GRIDSHIFT_WHATIF_POLICY", value_delimiter = ',')]
    policies: Vec<PathBuf>,
    /// YAML with the Workload (may also hold policies).
    #[arg(long, env = "GRIDSHIFT_WHATIF_WORKLOAD")]
    workload: PathBuf,
    #[command(flatten)]
    traces: TraceArgs,
    /// Forecast mean absolute error in gCO2eq/kWh; a list runs each (0 = perfect forecasts).
    #[arg(long, env = "GRIDSHIFT_WHATIF_FORECAST_MAE", value_delimiter = ',', default_value = "0")]
    forecast_mae: Vec<f64>,
    /// Seed of the forecast error.
    #[arg(long, env = "GRIDSHIFT_WHATIF_SEED", default_value_t = 1)]
    seed: u64,
    /// How far ahead forecasts reach.
    #[arg(long, env = "GRIDSHIFT_WHATIF_HORIZON", default_value = "48h")]
    horizon: SignedDuration,
    /// The hub's staleness bound, as the Karmada and KEDA controllers apply it.
    #[arg(long, env = "GRIDSHIFT_WHATIF_STALENESS_BOUND", default_value = "2h")]
    staleness_bound: SignedDuration,
    #[arg(long, env = "GRIDSHIFT_WHATIF_FORMAT", value_enum, default_value = "table")]
    format: Format,
    /// Write the report here instead of standard output.
    #[arg(long, env = "GRIDSHIFT_WHATIF_OUTPUT")]
    output: Option<PathBuf>,
    /// Write SVG charts for every scenario into this directory.
    #[arg(long, env = "GRIDSHIFT_WHATIF_SVG_DIR")]
    svg_dir: Option<PathBuf>,
    /// First instant of the intensity charts' window (default: the start of the span).
    #[arg(long, env = "GRIDSHIFT_WHATIF_CHART_FROM")]
    chart_from: Option<Timestamp>,
    /// Length of the intensity charts' window, days.
    #[arg(long, env = "GRIDSHIFT_WHATIF_CHART_DAYS", default_value_t = 14)]
    chart_days: usize,
}

#[derive(Args)]
struct SuggestArgs {
    #[command(flatten)]
    traces: TraceArgs,
    /// The grid zone (as in the trace's `zone` column).
    #[arg(long, env = "GRIDSHIFT_WHATIF_ZONE")]
    zone: String,
    /// maxReplicas per bucket, cleanest bucket first, e.g. `10,6,3,1`.
    #[arg(long, env = "GRIDSHIFT_WHATIF_CAPS", value_delimiter = ',', required = true)]
    caps: Vec<i32>,
    /// Share of the hours each bucket should cover, e.g. `40,30,20,10` (default equal).
    #[arg(long, env = "GRIDSHIFT_WHATIF_SHARES", value_delimiter = ',')]
    shares: Vec<f64>,
    /// Print JSON instead of the YAML block.
    #[arg(long)]
    json: bool,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Run(a) => run(a),
        Command::SuggestThresholds(a) => suggest_thresholds(a),
    }
}

fn read_inputs(a: &RunArgs) -> Result<Inputs> {
    let mut inputs = Inputs::default();
    for p in a.policies.iter().chain([&a.workload]) {
        let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        inputs.add_yaml(&p.display().to_string(), &text)?;
    }
    Ok(inputs)
}

fn run(a: RunArgs) -> Result<()> {
    let inputs = read_inputs(&a)?;
    inputs.validate()?;
    let traces = load_traces(&a.traces.traces)?;
    let grid = Grid::from_traces(&traces, &zones_used(&inputs), a.traces.from, a.traces.to)?;
    if !a.forecast_mae.iter().all(|m| m.is_finite() && *m >= 0.0) {
        bail!("--forecast-mae must be >= 0");
    }
    let opts = RunOptions {
        forecast_maes: a.forecast_mae.clone(),
        seed: a.seed,
        horizon_hours: usize::try_from(a.horizon.as_secs() / 3600).unwrap_or(0).max(1),
        staleness_bound: a.staleness_bound,
    };
    let report = simulate(&grid, &inputs, &opts)?;
    let text = render(&report, a.format);
    match &a.output {
        Some(p) => std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?,
        None => print!("{text}"),
    }
    if let Some(dir) = &a.svg_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let from = a.chart_from.map_or(0, |t| grid.hour_of(t).max(0) as usize);
        for run in &report.runs {
            let tag = if run.forecast.mae_target == 0.0 {
                "perfect".to_string()
            } else {
                format!("mae{}", run.forecast.mae_target)
            };
            for sc in &run.scenarios {
                let base = format!("{}-{tag}", charts::slug(&sc.name));
                if !sc.decisions.zones.is_empty() {
                    let svg = charts::intensity(&grid, sc, from, a.chart_days * 24);
                    std::fs::write(dir.join(format!("{base}-intensity.svg")), svg)?;
                }
                std::fs::write(dir.join(format!("{base}-cumulative.svg")), charts::cumulative(&grid, sc))?;
            }
        }
    }
    Ok(())
}

fn suggest_thresholds(a: SuggestArgs) -> Result<()> {
    let traces = load_traces(&a.traces.traces)?;
    let grid = Grid::from_traces(&traces, std::slice::from_ref(&a.zone), a.traces.from, a.traces.to)?;
    let shares = (!a.shares.is_empty()).then_some(a.shares.as_slice());
    let s = suggest::suggest(&grid, &a.zone, &a.caps, shares)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        print!("{}", s.yaml(&grid));
    }
    Ok(())
}
