//! Charts as hand-written SVG: two chart types with lines, rectangles and text need no
//! plotting library, produce small deterministic files, and pull in no font handling.
//!
//! - intensity per zone over a window, with each strategy's decisions as bands below it
//!   (spatial: the zone serving each hour in its colour; temporal / scaled: work started
//!   per hour);
//! - cumulative emissions per strategy over the whole run.
use crate::result::{ScenarioResult, Strategy};
use crate::trace::Grid;
use std::fmt::Write;

const PALETTE: [&str; 10] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
    "#7f7f7f",
];
const W: f64 = 1000.0;
const LEFT: f64 = 110.0;
const RIGHT: f64 = 190.0;
const TOP: f64 = 40.0;
const PLOT_H: f64 = 280.0;
const BAND_H: f64 = 18.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn strategy_colour(s: Strategy) -> &'static str {
    match s {
        Strategy::CarbonAgnostic => "#7f7f7f",
        Strategy::Gridshift => "#2ca02c",
        Strategy::Peers => "#ff7f0e",
        Strategy::Oracle => "#1f77b4",
    }
}

/// A tidy upper bound for an axis.
fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|m| *m >= v).unwrap_or(10.0 * mag)
}

fn header(out: &mut String, h: f64, title: &str) {
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{h}\" viewBox=\"0 0 {W} {h}\" \
         font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{LEFT}\" y=\"22\" font-size=\"14\">{}</text>\n",
        esc(title)
    );
}

/// Y axis with five ticks and a label.
fn y_axis(out: &mut String, max: f64, label: &str) {
    for i in 0..=5 {
        let v = max * i as f64 / 5.0;
        let y = TOP + PLOT_H - PLOT_H * i as f64 / 5.0;
        let _ = writeln!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            if max >= 10.0 { format!("{v:.0}") } else { format!("{v:.2}") }
        );
    }
    let _ = writeln!(
        out,
        "<text transform=\"translate(16 {:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
        TOP + PLOT_H / 2.0,
        esc(label)
    );
}

/// Day (or month) ticks along the bottom of the plot for hours `from..from + n`.
fn x_axis(out: &mut String, grid: &Grid, from: usize, n: usize, bottom: f64) {
    let x = |h: usize| LEFT + (W - LEFT - RIGHT) * (h - from) as f64 / n.max(1) as f64;
    let days = n / 24;
    let every_days = if days <= 20 { 1 } else { 7 };
    for h in from..=from + n {
        let t = grid.at(h);
        let hour = t.as_second().div_euclid(3600);
        let tick = if days > 70 {
            // Month starts on long spans.
            hour % 24 == 0 && t.strftime("%d").to_string() == "01"
        } else {
            hour % 24 == 0 && (hour / 24) % every_days == 0
        };
        if !tick {
            continue;
        }
        let _ = writeln!(
            out,
            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{TOP}\" y2=\"{bottom}\" stroke=\"#eee\"/>\
             <text x=\"{0:.1}\" y=\"{1:.1}\" text-anchor=\"middle\">{2}</text>",
            x(h),
            bottom + 14.0,
            t.strftime("%m-%d")
        );
    }
}

fn legend(out: &mut String, items: &[(String, &str, bool)]) {
    for (i, (label, colour, dashed)) in items.iter().enumerate() {
        let y = TOP + 10.0 + 16.0 * i as f64;
        let x = W - RIGHT + 12.0;
        let dash = if *dashed { " stroke-dasharray=\"5 3\"" } else { "" };
        let _ = writeln!(
            out,
            "<line x1=\"{x}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"{colour}\" stroke-width=\"2\"{dash}/>\
             <text x=\"{}\" y=\"{}\">{}</text>",
            x + 18.0,
            x + 24.0,
            y + 4.0,
            esc(label)
        );
    }
}

/// Intensity of the scenario's zones over hours `from..from + n`, decisions underneath.
pub fn intensity(grid: &Grid, sc: &ScenarioResult, from: usize, n: usize) -> String {
    let from = from.min(grid.hours.saturating_sub(1));
    let n = n.min(grid.hours - from).max(1);
    let zones = &sc.decisions.zones;
    let rows: Vec<(Strategy, Row<'_>)> = sc
        .decisions
        .placements
        .iter()
        .map(|(s, p)| (*s, Row::Zones(p)))
        .chain(sc.decisions.starts.iter().map(|(s, v)| (*s, Row::Starts(v))))
        .collect();
    let bands_top = TOP + PLOT_H + 30.0;
    let height = bands_top + BAND_H * rows.len() as f64 + 20.0;
    let mut out = String::new();
    header(&mut out, height, &format!("{}: carbon intensity and decisions", sc.name));
    let max = nice_max(
        zones.iter().flat_map(|z| grid.values(*z)[from..from + n].iter().copied()).fold(0.0, f64::max),
    );
    y_axis(&mut out, max, "gCO2eq/kWh");
    x_axis(&mut out, grid, from, n, TOP + PLOT_H);
    let plot_w = W - LEFT - RIGHT;
    let x = |h: f64| LEFT + plot_w * (h - from as f64) / n as f64;
    let colour = |z: usize| PALETTE[zones.iter().position(|q| *q == z).unwrap_or(0) % PALETTE.len()];
    for &z in zones {
        let pts: Vec<String> = (from..from + n)
            .map(|h| format!("{:.1},{:.1}", x(h as f64 + 0.5), TOP + PLOT_H * (1.0 - grid.value(z, h) / max)))
            .collect();
        let _ = writeln!(
            out,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.2\" points=\"{}\"/>",
            colour(z),
            pts.join(" ")
        );
    }
    let items: Vec<(String, &str, bool)> =
        zones.iter().map(|z| (grid.zones[*z].to_string(), colour(*z), false)).collect();
    legend(&mut out, &items);
    for (i, (s, row)) in rows.iter().enumerate() {
        let y = bands_top + BAND_H * i as f64;
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LEFT - 6.0,
            y + 13.0,
            s.label()
        );
        match row {
            Row::Zones(p) => {
                // Merge runs of hours with the same serving zones into one rectangle each.
                let mut h = from;
                while h < from + n {
                    let mut end = h + 1;
                    while end < from + n && p.get(end) == p.get(h) {
                        end += 1;
                    }
                    let serving = p.get(h).cloned().unwrap_or_default();
                    let part = (BAND_H - 4.0) / serving.len().max(1) as f64;
                    for (k, z) in serving.iter().enumerate() {
                        let _ = writeln!(
                            out,
                            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{part:.1}\" fill=\"{}\"/>",
                            x(h as f64),
                            y + 2.0 + part * k as f64,
                            x(end as f64) - x(h as f64),
                            colour(*z)
                        );
                    }
                    h = end;
                }
            }
            Row::Starts(v) => {
                let top = v[from..from + n].iter().copied().fold(0.0, f64::max).max(1e-9);
                for h in from..from + n {
                    if v[h] > 0.0 {
                        let bh = (BAND_H - 4.0) * v[h] / top;
                        let _ = writeln!(
                            out,
                            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.2}\" height=\"{bh:.1}\" fill=\"{}\"/>",
                            x(h as f64),
                            y + BAND_H - 2.0 - bh,
                            (x(h as f64 + 1.0) - x(h as f64)).max(0.5),
                            strategy_colour(*s)
                        );
                    }
                }
            }
        }
    }
    out.push_str("</svg>\n");
    out
}

enum Row<'a> {
    Zones(&'a [Vec<usize>]),
    Starts(&'a [f64]),
}

/// Cumulative emissions per strategy over the whole run, in tCO2eq.
pub fn cumulative(grid: &Grid, sc: &ScenarioResult) -> String {
    let mut out = String::new();
    let height = TOP + PLOT_H + 40.0;
    header(&mut out, height, &format!("{}: cumulative emissions", sc.name));
    let series: Vec<(Strategy, Vec<f64>)> = sc
        .strategies
        .iter()
        .map(|r| {
            let mut acc = 0.0;
            (
                r.strategy,
                r.hourly_g
                    .iter()
                    .map(|g| {
                        acc += g / 1e6;
                        acc
                    })
                    .collect(),
            )
        })
        .collect();
    let max = nice_max(series.iter().filter_map(|(_, v)| v.last().copied()).fold(0.0, f64::max));
    y_axis(&mut out, max, "tCO2eq");
    x_axis(&mut out, grid, 0, grid.hours, TOP + PLOT_H);
    let plot_w = W - LEFT - RIGHT;
    let step = (grid.hours / 500).max(1);
    for (s, v) in &series {
        let pts: Vec<String> = (0..v.len())
            .step_by(step)
            .chain(std::iter::once(v.len().saturating_sub(1)))
            .map(|h| {
                format!(
                    "{:.1},{:.1}",
                    LEFT + plot_w * (h + 1) as f64 / grid.hours as f64,
                    TOP + PLOT_H * (1.0 - v[h] / max)
                )
            })
            .collect();
        let dash = if *s == Strategy::Oracle { " stroke-dasharray=\"5 3\"" } else { "" };
        let _ = writeln!(
            out,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.6\"{dash} points=\"{}\"/>",
            strategy_colour(*s),
            pts.join(" ")
        );
    }
    let items: Vec<(String, &str, bool)> = sc
        .strategies
        .iter()
        .map(|r| {
            (r.strategy.label().to_string(), strategy_colour(r.strategy), r.strategy == Strategy::Oracle)
        })
        .collect();
    legend(&mut out, &items);
    out.push_str("</svg>\n");
    out
}

/// A file-name-safe form of a scenario name.
pub fn slug(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c.to_ascii_lowercase() } else { '-' })
        .collect()
}
