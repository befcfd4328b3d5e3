//! The report as a terminal/Markdown table, JSON or CSV.
use crate::Report;
use crate::result::{ScenarioResult, StrategyResult};
use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A Markdown table per forecast setting (readable on a terminal as it is).
    Table,
    Json,
    Csv,
}

pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Table => table(report),
        Format::Json => serde_json::to_string_pretty(report).unwrap_or_default() + "\n",
        Format::Csv => csv(report),
    }
}

fn forecast_title(r: &crate::Run) -> String {
    let f = &r.forecast;
    if f.mae_target == 0.0 {
        format!("Perfect forecasts (horizon {} h)", f.horizon_hours)
    } else {
        format!(
            "Forecast error: MAE {:.1} gCO2eq/kWh measured (target {}), seed {}, horizon {} h",
            f.mae_measured, f.mae_target, f.seed, f.horizon_hours
        )
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.1}%"))
}

pub fn table(report: &Report) -> String {
    let t = &report.traces;
    let mut out = format!("Traces: {} .. {} ({} hours)", t.start, t.end, t.hours);
    let filled: Vec<String> = t
        .zones
        .iter()
        .filter(|z| z.filled_hours > 0)
        .map(|z| format!("{} {}", z.zone, z.filled_hours))
        .collect();
    if !filled.is_empty() {
        let _ = write!(out, "; hours filled by interpolation: {}", filled.join(", "));
    }
    out.push_str("\n\n");
    for run in &report.runs {
        let _ = writeln!(out, "### {}\n", forecast_title(run));
        out.push_str(
            "| scenario | strategy | tCO2eq | saved vs agnostic | share of oracle savings | switches/day | deadline misses | mean delay (h) |\n",
        );
        out.push_str("|---|---|---:|---:|---:|---:|---:|---:|\n");
        for sc in &run.scenarios {
            for r in &sc.strategies {
                let _ = writeln!(
                    out,
                    "| {} | {} | {:.3} | {:.1}% | {} | {} | {} | {:.2} |",
                    sc.name,
                    r.strategy.label(),
                    r.emissions_g / 1e6,
                    r.saved_vs_agnostic_pct,
                    pct(r.share_of_oracle_pct),
                    r.switches_per_day.map_or_else(|| "–".into(), |v| format!("{v:.2}")),
                    misses(r),
                    r.mean_delay_hours,
                );
            }
        }
        out.push('\n');
        for sc in &run.scenarios {
            let _ = writeln!(out, "- {} ({}, {}): {}", sc.name, kind(sc), sc.zones.join(", "), sc.workload);
        }
        out.push('\n');
    }
    out
}

fn kind(sc: &ScenarioResult) -> &'static str {
    match sc.kind {
        crate::result::Kind::Temporal => "temporal",
        crate::result::Kind::Spatial => "spatial",
        crate::result::Kind::Scaled => "scaled",
    }
}

fn amount(v: f64) -> String {
    if v.fract().abs() < 1e-9 { format!("{v:.0}") } else { format!("{v:.1}") }
}

fn misses(r: &StrategyResult) -> String {
    let mut s = amount(r.deadline_misses);
    if r.unfinished > 0.0 {
        let _ = write!(s, " ({} unfinished)", amount(r.unfinished));
    }
    s
}

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

pub fn csv(report: &Report) -> String {
    let mut out = String::from(
        "mae_target,mae_measured,scenario,kind,zones,workload,strategy,rule,emissions_g,saved_vs_agnostic_pct,\
         share_of_oracle_pct,switches,switches_per_day,deadline_misses,work_units,work_delayed_hours,\
         mean_delay_hours,unfinished\n",
    );
    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    for run in &report.runs {
        for sc in &run.scenarios {
            for r in &sc.strategies {
                let cols = [
                    run.forecast.mae_target.to_string(),
                    run.forecast.mae_measured.to_string(),
                    field(&sc.name),
                    kind(sc).into(),
                    field(&sc.zones.join(" ")),
                    field(&sc.workload),
                    r.strategy.label().into(),
                    field(&r.rule),
                    r.emissions_g.to_string(),
                    r.saved_vs_agnostic_pct.to_string(),
                    opt(r.share_of_oracle_pct),
                    r.switches.map(|s| s.to_string()).unwrap_or_default(),
                    opt(r.switches_per_day),
                    r.deadline_misses.to_string(),
                    r.work_units.to_string(),
                    r.work_delayed_hours.to_string(),
                    r.mean_delay_hours.to_string(),
                    r.unfinished.to_string(),
                ];
                out.push_str(&cols.join(","));
                out.push('\n');
            }
        }
    }
    out
}
