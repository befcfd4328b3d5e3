//! `suggest-thresholds`: intensity buckets for a CarbonAwareKedaScaler from a zone's
//! recorded distribution. The admin says which caps they want and for what share of the
//! hours (cleanest first); the thresholds are the matching quantiles. The resulting share of
//! hours per bucket is then measured with the capper's own bucket rule
//! (`gridshift_core::caps::bucket_for`), so what is printed is what the capper will do.
use crate::trace::Grid;
use gridshift_api::keda::CarbonIntensityConfig;
use gridshift_core::caps::bucket_for;
use serde::Serialize;
use std::fmt::Write;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SuggestError {
    #[error("give at least one cap")]
    NoCaps,
    #[error("{caps} caps but {shares} shares")]
    ShareCount { caps: usize, shares: usize },
    #[error("shares must be positive")]
    BadShare,
    #[error("zone {0} has no trace")]
    UnknownZone(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct Bucket {
    /// Inclusive upper bound, gCO2eq/kWh (the top bucket also takes anything above).
    pub threshold: i32,
    pub max_replicas: i32,
    /// Share of the trace's hours the bucket rule puts here, percent.
    pub share_pct: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Suggestion {
    pub zone: String,
    pub hours: usize,
    pub buckets: Vec<Bucket>,
}

/// `caps` from the cleanest bucket to the dirtiest; `shares` (any positive weights, default
/// equal) the part of the hours each should cover.
pub fn suggest(
    grid: &Grid,
    zone: &str,
    caps: &[i32],
    shares: Option<&[f64]>,
) -> Result<Suggestion, SuggestError> {
    if caps.is_empty() {
        return Err(SuggestError::NoCaps);
    }
    let z = grid.zone_index(zone).ok_or_else(|| SuggestError::UnknownZone(zone.into()))?;
    let equal = vec![1.0; caps.len()];
    let shares = shares.unwrap_or(&equal);
    if shares.len() != caps.len() {
        return Err(SuggestError::ShareCount { caps: caps.len(), shares: shares.len() });
    }
    if !shares.iter().all(|s| s.is_finite() && *s > 0.0) {
        return Err(SuggestError::BadShare);
    }
    let mut sorted: Vec<f64> = grid.values(z).to_vec();
    sorted.sort_by(f64::total_cmp);
    let total: f64 = shares.iter().sum();
    let mut thresholds = Vec::with_capacity(caps.len());
    let mut acc = 0.0;
    for (i, share) in shares.iter().enumerate() {
        acc += share;
        let t = if i + 1 == caps.len() {
            sorted[sorted.len() - 1].ceil()
        } else {
            // The value below which `acc / total` of the hours lie.
            let k = ((acc / total * sorted.len() as f64).round() as usize).clamp(1, sorted.len());
            sorted[k - 1].floor()
        };
        // Strictly increasing thresholds, or buckets would be empty by construction.
        let t = thresholds.last().map_or(t, |prev: &i32| t.max(f64::from(*prev + 1)));
        thresholds.push(t as i32);
    }
    let configs: Vec<CarbonIntensityConfig> = thresholds
        .iter()
        .zip(caps)
        .map(|(t, c)| CarbonIntensityConfig { carbon_intensity_threshold: *t, max_replicas: *c })
        .collect();
    let mut counts = vec![0usize; configs.len()];
    for v in grid.values(z) {
        if let Ok((i, _)) = bucket_for(Some(*v), &configs) {
            counts[i] += 1;
        }
    }
    let buckets = configs
        .iter()
        .zip(counts)
        .map(|(c, n)| Bucket {
            threshold: c.carbon_intensity_threshold,
            max_replicas: c.max_replicas,
            share_pct: n as f64 / grid.hours as f64 * 100.0,
        })
        .collect();
    Ok(Suggestion { zone: zone.into(), hours: grid.hours, buckets })
}

impl Suggestion {
    /// The `maxReplicasByCarbonIntensity` block to paste into a CarbonAwareKedaScaler.
    pub fn yaml(&self, grid: &Grid) -> String {
        let mut out = format!(
            "# {} over {} .. {} ({} hours): share of hours per bucket as the capper's bucket rule reads them\n\
             maxReplicasByCarbonIntensity:\n",
            self.zone,
            grid.start,
            grid.end(),
            self.hours
        );
        let mut lower = 0;
        for b in &self.buckets {
            let _ = writeln!(
                out,
                "  - carbonIntensityThreshold: {}   # {lower}..{}: {:.1}% of hours\n    maxReplicas: {}",
                b.threshold, b.threshold, b.share_pct, b.max_replicas
            );
            lower = b.threshold;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_buckets_split_the_hours_as_asked() {
        let t0 = "2022-01-01T00:00:00Z".parse().unwrap();
        // 100 hours with values 1..=100.
        let grid = Grid::from_values(t0, vec![("Z".into(), (1..=100).map(f64::from).collect())]);
        let s = suggest(&grid, "Z", &[10, 5, 0], Some(&[50.0, 30.0, 20.0])).unwrap();
        let got: Vec<(i32, i32, f64)> =
            s.buckets.iter().map(|b| (b.threshold, b.max_replicas, b.share_pct)).collect();
        assert_eq!(got, vec![(50, 10, 50.0), (80, 5, 30.0), (100, 0, 20.0)]);
        assert!(s.yaml(&grid).contains("carbonIntensityThreshold: 80"));
        assert_eq!(
            suggest(&grid, "Z", &[1, 2], Some(&[1.0])).unwrap_err(),
            SuggestError::ShareCount { caps: 2, shares: 1 }
        );
        let flat = Grid::from_values(t0, vec![("F".into(), vec![100.0; 10])]);
        let s = suggest(&flat, "F", &[3, 2, 1], None).unwrap();
        let th: Vec<i32> = s.buckets.iter().map(|b| b.threshold).collect();
        assert_eq!(th, vec![100, 101, 102], "strictly increasing even on a flat trace");
        assert_eq!(s.buckets[0].share_pct, 100.0);
    }
}
