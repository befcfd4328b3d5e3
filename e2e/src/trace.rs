//! The replayed traces as the tests see them: the ground truth the hub's
//! replay provider serves, read independently of the product's parser.
use anyhow::Context;
use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Default)]
pub struct Traces {
    zones: BTreeMap<String, BTreeMap<Timestamp, f64>>,
}

impl Traces {
    /// Reads every `<ZONE>.csv` (`timestamp_utc,zone,gco2_per_kwh`) in `dir`.
    pub fn load(dir: &Path) -> anyhow::Result<Traces> {
        let mut traces = Traces::default();
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            if path.extension().is_none_or(|e| e != "csv") {
                continue;
            }
            let text = std::fs::read_to_string(&path)?;
            for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
                let mut cols = line.split(',');
                let (Some(ts), Some(zone), Some(value)) = (cols.next(), cols.next(), cols.next()) else {
                    continue;
                };
                let (Ok(ts), Ok(value)) = (ts.parse::<Timestamp>(), value.trim().parse::<f64>()) else {
                    continue;
                };
                traces.zones.entry(zone.to_string()).or_default().insert(ts, value);
            }
        }
        Ok(traces)
    }

    /// The hourly value whose hour contains `t`.
    pub fn at(&self, zone: &str, t: Timestamp) -> Option<f64> {
        let series = self.zones.get(zone)?;
        let (start, value) = series.range(..=t).next_back()?;
        (t < *start + SignedDuration::from_hours(1)).then_some(*value)
    }
}
