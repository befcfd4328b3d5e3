//! Recorded hourly intensity traces (`timestamp_utc,zone,gco2_per_kwh` CSV): what the
//! replay provider plays as if live, and what the what-if simulator and the tests
//! replay through the decisions.
use crate::series::check_intensity;
use crate::zone::Zone;
use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;
use std::path::Path;

pub const HOUR: SignedDuration = SignedDuration::from_hours(1);
const WEEK: SignedDuration = SignedDuration::from_hours(24 * 7);
/// The CSV header every trace file starts with.
pub const HEADER: &str = "timestamp_utc,zone,gco2_per_kwh";

/// One zone's recorded hourly values.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// Sorted by time, one value per hour at most.
    points: Vec<(Timestamp, f64)>,
}

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("{file}: cannot read: {reason}")]
    Io { file: String, reason: String },
    #[error("{file}:{line}: {reason}")]
    Parse { file: String, line: usize, reason: String },
    #[error("{0}: no data rows")]
    Empty(String),
}

impl Trace {
    pub fn first(&self) -> Timestamp {
        self.points[0].0
    }

    /// The end of the last recorded hour.
    pub fn end(&self) -> Timestamp {
        self.points[self.points.len() - 1].0 + HOUR
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Every recorded (hour start, value), in time order.
    pub fn points(&self) -> &[(Timestamp, f64)] {
        &self.points
    }

    /// The recorded value for the hour starting at `t` (exact), if any.
    pub fn value_at(&self, t: Timestamp) -> Option<f64> {
        self.points.binary_search_by_key(&t, |(ts, _)| *ts).ok().map(|i| self.points[i].1)
    }

    /// The whole-weeks period used to wrap time into the trace.
    pub fn period(&self) -> SignedDuration {
        let span = self.end().duration_since(self.first());
        let weeks = span.as_secs() / WEEK.as_secs();
        if weeks >= 1 { SignedDuration::from_secs(weeks * WEEK.as_secs()) } else { span }
    }

    /// The trace instant that plays at wall instant `t` (pure).
    pub fn map_time(&self, t: Timestamp) -> Timestamp {
        map_into(t, self.first(), self.end(), self.period())
    }
}

/// `t` itself when it lies in `[first, end)`, else `first + (t - first) mod period`.
pub fn map_into(t: Timestamp, first: Timestamp, end: Timestamp, period: SignedDuration) -> Timestamp {
    if (first..end).contains(&t) || period <= SignedDuration::ZERO {
        return t;
    }
    let offset = t.duration_since(first).as_secs().rem_euclid(period.as_secs());
    first + SignedDuration::from_secs(offset)
}

/// `t` rounded down to a whole multiple of `step` since the epoch.
pub fn floor_to(t: Timestamp, step: SignedDuration) -> Timestamp {
    let step = step.as_secs().max(1);
    let secs = t.as_second().div_euclid(step) * step;
    Timestamp::from_second(secs).unwrap_or(t)
}

/// Parses one CSV text into per-zone traces. Rows with an empty value are
/// gaps; malformed rows are errors with their line number.
pub fn parse_csv(file: &str, text: &str) -> Result<BTreeMap<Zone, Trace>, TraceError> {
    let mut zones: BTreeMap<Zone, Vec<(Timestamp, f64)>> = BTreeMap::new();
    let mut lines = text.lines().enumerate();
    let header = lines.next().map(|(_, h)| h.trim().to_ascii_lowercase()).unwrap_or_default();
    if header != HEADER {
        return Err(TraceError::Parse {
            file: file.into(),
            line: 1,
            reason: format!("expected header {HEADER}, got {header:?}"),
        });
    }
    for (idx, line) in lines {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let bad = |reason: String| TraceError::Parse { file: file.into(), line: idx + 1, reason };
        let mut cols = line.split(',');
        let (Some(ts), Some(zone), Some(value), None) = (cols.next(), cols.next(), cols.next(), cols.next())
        else {
            return Err(bad("expected 3 columns".into()));
        };
        if value.trim().is_empty() {
            continue;
        }
        let ts: Timestamp = ts.trim().parse().map_err(|e| bad(format!("bad timestamp: {e}")))?;
        let value: f64 = value.trim().parse().map_err(|e| bad(format!("bad value: {e}")))?;
        let value = check_intensity(value, &ts.to_string()).map_err(bad)?;
        let zone = Zone::new(zone.trim()).map_err(|e| bad(e.to_string()))?;
        zones.entry(zone).or_default().push((floor_to(ts, HOUR), value));
    }
    if zones.is_empty() {
        return Err(TraceError::Empty(file.into()));
    }
    Ok(zones
        .into_iter()
        .map(|(zone, mut points)| {
            points.sort_by_key(|(t, _)| *t);
            points.dedup_by_key(|(t, _)| *t);
            (zone, Trace { points })
        })
        .collect())
}

/// Parses every `*.csv` in `dir` (in name order; a later file's zone replaces an earlier one's).
pub fn load_dir(dir: &Path) -> Result<BTreeMap<Zone, Trace>, TraceError> {
    let io = |e: std::io::Error| TraceError::Io { file: dir.display().to_string(), reason: e.to_string() };
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .collect();
    files.sort();
    let mut traces = BTreeMap::new();
    for f in &files {
        let name = f.display().to_string();
        let text = std::fs::read_to_string(f)
            .map_err(|e| TraceError::Io { file: name.clone(), reason: e.to_string() })?;
        traces.extend(parse_csv(&name, &text)?);
    }
    if traces.is_empty() {
        return Err(TraceError::Empty(format!("{} (no *.csv files)", dir.display())));
    }
    Ok(traces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_parsing_gaps_and_errors() {
        let text = "timestamp_utc,zone,gco2_per_kwh\n2022-01-01T01:00:00Z,GB,70\n2022-01-01T00:00:00Z,GB,72\n\
                    2022-01-01T02:00:00Z,GB,\n2022-01-01T00:00:00Z,DE,400\n";
        let t = parse_csv("t.csv", text).unwrap();
        assert_eq!(t["GB"].len(), 2);
        assert_eq!(t["GB"].value_at("2022-01-01T00:00:00Z".parse().unwrap()), Some(72.0));
        assert_eq!(t["DE"].len(), 1);
        let e =
            parse_csv("t.csv", "timestamp_utc,zone,gco2_per_kwh\n2022-01-01T00:00:00Z,GB,-5\n").unwrap_err();
        assert!(e.to_string().starts_with("t.csv:2:"), "{e}");
        assert!(parse_csv("t.csv", "a,b\n").is_err());
        assert!(matches!(parse_csv("t.csv", "timestamp_utc,zone,gco2_per_kwh\n"), Err(TraceError::Empty(_))));
    }

    #[test]
    fn wraps_by_whole_weeks() {
        let first: Timestamp = "2022-01-01T00:00:00Z".parse().unwrap();
        let end = first + SignedDuration::from_hours(24 * 365);
        let period = SignedDuration::from_hours(24 * 364);
        let inside: Timestamp = "2022-06-01T10:00:00Z".parse().unwrap();
        assert_eq!(map_into(inside, first, end, period), inside);
        let later: Timestamp = "2024-06-01T10:00:00Z".parse().unwrap();
        let mapped = map_into(later, first, end, period);
        assert!((first..end).contains(&mapped));
        assert_eq!(mapped.strftime("%a %H:%M").to_string(), later.strftime("%a %H:%M").to_string());
        let before: Timestamp = "2021-12-31T23:00:00Z".parse().unwrap();
        assert!((first..end).contains(&map_into(before, first, end, period)));
    }
}
