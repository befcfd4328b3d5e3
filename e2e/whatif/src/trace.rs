//! The recorded intensities as a dense hourly grid: one row per zone over a common span.
//!
//! Parsing is the replay provider's (`gridshift_core::trace::parse_csv`), so the
//! simulator reads exactly what the hub replays. The open traces have a few missing
//! hours (SOURCES.md §4); the simulator needs a value for every hour it charges emissions
//! to, so gaps inside the span are filled by linear interpolation between the neighbouring
//! recorded hours, and the number of filled hours per zone is reported.
use gridshift_core::Zone;
use gridshift_core::trace::{Trace, TraceError, parse_csv};
use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub const HOUR: SignedDuration = SignedDuration::from_hours(1);
const HOUR_SECS: f64 = 3600.0;

#[derive(Debug, thiserror::Error)]
pub enum GridError {
    #[error(transparent)]
    Trace(#[from] TraceError),
    #[error("{0}: cannot read: {1}")]
    Io(String, std::io::Error),
    #[error("no trace files found in {0}")]
    NoFiles(String),
    #[error("zone {0} has no trace")]
    UnknownZone(String),
    #[error("the traces share no common hour in the requested span")]
    NoCommonSpan,
}

/// Every zone's hourly intensity over `[start, start + hours)`, gaps filled.
#[derive(Debug, Clone)]
pub struct Grid {
    pub start: Timestamp,
    pub hours: usize,
    pub zones: Vec<Zone>,
    values: Vec<Vec<f64>>,
    /// `cum[z][i]` = sum of the first `i` hourly values (gCO2eq/kWh × h).
    cum: Vec<Vec<f64>>,
    filled: Vec<usize>,
}

/// Reads every CSV named (files, or every `*.csv` in a directory).
pub fn load_traces(paths: &[PathBuf]) -> Result<BTreeMap<Zone, Trace>, GridError> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let rd = std::fs::read_dir(p).map_err(|e| GridError::Io(p.display().to_string(), e))?;
            let mut found: Vec<PathBuf> = rd
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|f| f.extension().is_some_and(|x| x == "csv"))
                .collect();
            if found.is_empty() {
                return Err(GridError::NoFiles(p.display().to_string()));
            }
            found.sort();
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    let mut traces = BTreeMap::new();
    for f in &files {
        let name = f.display().to_string();
        let text = std::fs::read_to_string(f).map_err(|e| GridError::Io(name.clone(), e))?;
        traces.extend(parse_csv(&name, &text)?);
    }
    Ok(traces)
}

impl Grid {
    /// The span every selected zone covers (clipped to `from`/`to` when given), hour-aligned.
    /// `zones` empty means every trace.
    pub fn from_traces(
        traces: &BTreeMap<Zone, Trace>,
        zones: &[String],
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Result<Self, GridError> {
        let picked: Vec<(&Zone, &Trace)> = if zones.is_empty() {
            traces.iter().collect()
        } else {
            zones
                .iter()
                .map(|z| traces.get_key_value(z.as_str()).ok_or_else(|| GridError::UnknownZone(z.clone())))
                .collect::<Result<_, _>>()?
        };
        let names: Vec<Zone> = picked.iter().map(|(z, _)| (*z).clone()).collect();
        let picked: Vec<&Trace> = picked.into_iter().map(|(_, t)| t).collect();
        let mut start = picked.iter().map(|t| t.first()).max().ok_or(GridError::NoCommonSpan)?;
        let mut end = picked.iter().map(|t| t.end()).min().ok_or(GridError::NoCommonSpan)?;
        if let Some(f) = from {
            start = start.max(ceil_hour(f));
        }
        if let Some(t) = to {
            end = end.min(t);
        }
        if end <= start {
            return Err(GridError::NoCommonSpan);
        }
        let hours = (end.duration_since(start).as_secs() / 3600) as usize;
        let mut values = Vec::new();
        let mut filled = Vec::new();
        for t in &picked {
            let raw: Vec<Option<f64>> =
                (0..hours).map(|h| t.value_at(start + SignedDuration::from_hours(h as i64))).collect();
            let (row, n) = fill_gaps(&raw);
            values.push(row);
            filled.push(n);
        }
        Ok(Self::from_rows(start, names, values, filled))
    }

    /// A grid from complete hourly rows (synthetic traces in tests and benches). Panics
    /// on a name that is not a zone (a bug in the test).
    pub fn from_values(start: Timestamp, rows: Vec<(String, Vec<f64>)>) -> Self {
        let hours = rows.iter().map(|(_, v)| v.len()).min().unwrap_or(0);
        let (zones, values): (Vec<Zone>, Vec<Vec<f64>>) = rows
            .into_iter()
            .map(|(z, mut v)| {
                (Zone::new(&z).unwrap_or_else(|e| panic!("{e}")), {
                    v.truncate(hours);
                    v
                })
            })
            .unzip();
        let filled = vec![0; zones.len()];
        Self::from_rows(start, zones, values, filled)
    }

    fn from_rows(start: Timestamp, zones: Vec<Zone>, values: Vec<Vec<f64>>, filled: Vec<usize>) -> Self {
        let hours = values.first().map_or(0, Vec::len);
        let cum = values
            .iter()
            .map(|row| {
                let mut c = Vec::with_capacity(row.len() + 1);
                c.push(0.0);
                for v in row {
                    c.push(c[c.len() - 1] + v);
                }
                c
            })
            .collect();
        Self { start, hours, zones, values, cum, filled }
    }

    pub fn end(&self) -> Timestamp {
        self.at(self.hours)
    }

    /// The instant hour `h` starts.
    pub fn at(&self, h: usize) -> Timestamp {
        self.start + SignedDuration::from_hours(h as i64)
    }

    /// The hour containing `t` (may be out of range).
    pub fn hour_of(&self, t: Timestamp) -> i64 {
        t.duration_since(self.start).as_secs().div_euclid(3600)
    }

    pub fn zone_index(&self, zone: &str) -> Option<usize> {
        self.zones.iter().position(|z| z == zone)
    }

    pub fn values(&self, z: usize) -> &[f64] {
        &self.values[z]
    }

    pub fn value(&self, z: usize, h: usize) -> f64 {
        self.values[z][h]
    }

    pub fn filled_hours(&self, z: usize) -> usize {
        self.filled[z]
    }

    /// ∫ intensity dt over `[from, to)` in (gCO2eq/kWh)·h; times are clamped to the grid.
    /// Multiplied by a power in kW this is grams of CO2eq.
    pub fn integral(&self, z: usize, from: Timestamp, to: Timestamp) -> f64 {
        self.cumulative(z, to) - self.cumulative(z, from)
    }

    fn cumulative(&self, z: usize, t: Timestamp) -> f64 {
        let secs = t.duration_since(self.start).as_secs_f64().clamp(0.0, self.hours as f64 * HOUR_SECS);
        let h = ((secs / HOUR_SECS).floor() as usize).min(self.hours);
        let frac = secs / HOUR_SECS - h as f64;
        let partial = if h < self.hours { self.values[z][h] * frac } else { 0.0 };
        self.cum[z][h] + partial
    }
}

/// Linear interpolation inside, nearest value at the edges; returns the count filled.
fn fill_gaps(raw: &[Option<f64>]) -> (Vec<f64>, usize) {
    let known: Vec<(usize, f64)> = raw.iter().enumerate().filter_map(|(i, v)| v.map(|v| (i, v))).collect();
    let mut out = Vec::with_capacity(raw.len());
    let mut filled = 0;
    let mut k = 0; // index into `known` of the first known hour >= i
    for (i, v) in raw.iter().enumerate() {
        while k < known.len() && known[k].0 < i {
            k += 1;
        }
        if let Some(v) = v {
            out.push(*v);
            continue;
        }
        filled += 1;
        let before = k.checked_sub(1).map(|j| known[j]);
        let after = known.get(k).copied();
        out.push(match (before, after) {
            (Some((a, va)), Some((b, vb))) => va + (vb - va) * (i - a) as f64 / (b - a) as f64,
            (Some((_, v)), None) | (None, Some((_, v))) => v,
            (None, None) => 0.0,
        });
    }
    (out, filled)
}

fn ceil_hour(t: Timestamp) -> Timestamp {
    let s = t.as_second();
    let up = s.div_euclid(3600) * 3600 + if s.rem_euclid(3600) == 0 { 0 } else { 3600 };
    Timestamp::from_second(up).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> Timestamp {
        "2022-01-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn gaps_are_interpolated_and_counted() {
        let (v, n) = fill_gaps(&[None, Some(10.0), None, None, Some(40.0), None]);
        assert_eq!(v, vec![10.0, 10.0, 20.0, 30.0, 40.0, 40.0]);
        assert_eq!(n, 4);
    }

    #[test]
    fn integral_handles_partial_hours() {
        let g = Grid::from_values(t0(), vec![("A".into(), vec![100.0, 200.0, 400.0])]);
        let t = |m: i64| t0() + SignedDuration::from_mins(m);
        assert_eq!(g.integral(0, t(0), t(180)), 700.0);
        assert_eq!(g.integral(0, t(30), t(90)), 150.0);
        assert_eq!(g.integral(0, t(150), t(240)), 200.0, "clamped at the end");
    }

    #[test]
    fn common_span_of_parsed_csv() {
        let text = "timestamp_utc,zone,gco2_per_kwh\n2022-01-01T00:00:00Z,A,1\n2022-01-01T01:00:00Z,A,2\n\
                    2022-01-01T03:00:00Z,A,4\n2022-01-01T01:00:00Z,B,5\n2022-01-01T02:00:00Z,B,6\n\
                    2022-01-01T03:00:00Z,B,7\n2022-01-01T04:00:00Z,B,8\n";
        let traces = parse_csv("t.csv", text).unwrap();
        let g = Grid::from_traces(&traces, &[], None, None).unwrap();
        assert_eq!(g.start, t0() + HOUR);
        assert_eq!(g.hours, 3);
        assert_eq!(g.values(0), &[2.0, 3.0, 4.0]);
        assert_eq!(g.filled_hours(0), 1);
        assert!(Grid::from_traces(&traces, &["C".into()], None, None).is_err());
    }
}
