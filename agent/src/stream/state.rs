//! The agent's copy of the hub's forecast state, and how updates apply to it.
//! Pure: no I/O, no clock.
use gridshift_core::{Forecasts, Series, Zone};
use gridshift_proto::{WireError, v1};
use jiff::SignedDuration;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ApplyError {
    #[error("delta for epoch {got} while holding epoch {held}")]
    EpochMismatch { held: u64, got: u64 },
    #[error("delta arrived during an incomplete snapshot")]
    DeltaDuringSnapshot,
    #[error("malformed zone forecast: {0}")]
    Malformed(String),
}

impl From<WireError> for ApplyError {
    fn from(e: WireError) -> Self {
        ApplyError::Malformed(e.to_string())
    }
}

/// A snapshot being received in chunks.
#[derive(Debug)]
struct Staging {
    epoch: u64,
    revision: u64,
    zones: Forecasts,
}

#[derive(Debug, Default)]
pub struct ForecastState {
    epoch: u64,
    revision: u64,
    zones: Forecasts,
    staging: Option<Staging>,
}

impl ForecastState {
    /// State remembered from elsewhere (e.g. the ConfigMap after a restart):
    /// served until the hub says otherwise, but never resumed from (epoch 0).
    pub fn seeded(zones: impl IntoIterator<Item = Series>, staleness_bound: SignedDuration) -> Self {
        Self { zones: Forecasts::from_series(zones, staleness_bound), ..Self::default() }
    }

    /// The bound the hub announced: every zone is judged by it.
    pub fn set_staleness_bound(&mut self, bound: SignedDuration) {
        self.zones = std::mem::take(&mut self.zones).with_staleness_bound(bound);
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn revision(&self) -> u64 {
        self.revision
    }

    pub fn zones(&self) -> &Forecasts {
        &self.zones
    }

    /// Where to resume from after a reconnect, if anywhere.
    pub fn resume_token(&self) -> Option<v1::ResumeToken> {
        (self.epoch != 0).then(|| v1::ResumeToken {
            epoch: self.epoch,
            revision: self.revision,
            held_zones: self.zones.zones().map(Zone::to_string).collect(),
        })
    }

    /// Applies a snapshot chunk. Zones the agent no longer receives are dropped
    /// only when the chunk marked `complete` arrives; until then the old state
    /// keeps being served. Returns whether the served state changed.
    pub fn apply_snapshot(&mut self, snap: &v1::Snapshot) -> Result<bool, ApplyError> {
        let zones = convert(&snap.zones)?;
        let bound = self.zones.staleness_bound();
        let staging = match &mut self.staging {
            Some(s) if s.epoch == snap.epoch && s.revision == snap.revision => s,
            slot => slot.insert(Staging {
                epoch: snap.epoch,
                revision: snap.revision,
                zones: Forecasts::new(bound),
            }),
        };
        staging.zones.extend(zones);
        if !snap.complete {
            return Ok(false);
        }
        let staging = self.staging.take().expect("staging present");
        let changed = staging.zones != self.zones;
        self.epoch = staging.epoch;
        self.revision = staging.revision;
        self.zones = staging.zones;
        Ok(changed)
    }

    /// Applies a delta atomically (all of it or, on error, none of it).
    /// Returns whether the served state changed.
    pub fn apply_delta(&mut self, delta: &v1::Delta) -> Result<bool, ApplyError> {
        if self.staging.is_some() {
            return Err(ApplyError::DeltaDuringSnapshot);
        }
        if delta.epoch != self.epoch {
            return Err(ApplyError::EpochMismatch { held: self.epoch, got: delta.epoch });
        }
        let upserts = convert(&delta.upserts)?;
        let mut changed = false;
        for zone in &delta.removed_zones {
            changed |= self.zones.remove(zone);
        }
        for series in upserts {
            if self.zones.get(&series.zone) != Some(&series) {
                self.zones.insert(series);
                changed = true;
            }
        }
        self.revision = self.revision.max(delta.revision);
        Ok(changed)
    }
}

fn convert(zones: &[v1::ZoneForecast]) -> Result<Vec<Series>, ApplyError> {
    zones.iter().map(|z| Series::try_from(z).map_err(ApplyError::from)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(name: &str, value: f64) -> v1::ZoneForecast {
        v1::ZoneForecast {
            zone: name.into(),
            generated_at_unix_ms: 1_640_995_200_000,
            points: vec![v1::ForecastPoint {
                start_unix_seconds: 1_640_995_200,
                duration_seconds: 3600,
                gco2_per_kwh: value,
                provider: "t".into(),
                is_estimated: false,
            }],
            ..Default::default()
        }
    }

    fn snap(epoch: u64, revision: u64, zones: Vec<v1::ZoneForecast>, complete: bool) -> v1::Snapshot {
        v1::Snapshot { epoch, revision, zones, complete, cluster_zone: None }
    }

    fn names(state: &ForecastState) -> Vec<&str> {
        state.zones().zones().map(Zone::as_str).collect()
    }

    #[test]
    fn zones_are_dropped_only_when_the_snapshot_is_complete() {
        let mut state = ForecastState::default();
        state.apply_snapshot(&snap(1, 5, vec![zone("DE", 1.0), zone("FR", 2.0)], true)).unwrap();
        assert_eq!(names(&state), ["DE", "FR"]);

        // A new epoch's snapshot in two chunks no longer has DE.
        assert!(!state.apply_snapshot(&snap(2, 1, vec![zone("FR", 3.0)], false)).unwrap());
        assert_eq!(names(&state), ["DE", "FR"], "old state served until complete");
        assert_eq!(state.zones()["FR"].points[0].value, 2.0);
        assert!(state.apply_snapshot(&snap(2, 1, vec![zone("ES", 4.0)], true)).unwrap());
        assert_eq!(names(&state), ["ES", "FR"]);
        assert_eq!((state.epoch(), state.revision()), (2, 1));
    }

    #[test]
    fn an_interrupted_snapshot_is_discarded_by_the_next_one() {
        let mut state = ForecastState::default();
        state.apply_snapshot(&snap(1, 1, vec![zone("DE", 1.0)], false)).unwrap();
        state.apply_snapshot(&snap(1, 2, vec![zone("FR", 1.0)], true)).unwrap();
        assert_eq!(names(&state), ["FR"]);
    }

    #[test]
    fn deltas_upsert_and_remove() {
        let mut state = ForecastState::default();
        state.apply_snapshot(&snap(1, 1, vec![zone("DE", 1.0), zone("FR", 2.0)], true)).unwrap();
        let delta = v1::Delta {
            epoch: 1,
            revision: 2,
            upserts: vec![zone("DE", 9.0)],
            removed_zones: vec!["FR".into()],
            cluster_zone: None,
        };
        assert!(state.apply_delta(&delta).unwrap());
        assert_eq!(names(&state), ["DE"]);
        assert_eq!(state.zones()["DE"].points[0].value, 9.0);
        assert_eq!(state.revision(), 2);
        let token = state.resume_token().unwrap();
        assert_eq!((token.epoch, token.revision, token.held_zones), (1, 2, vec!["DE".to_string()]));
    }

    #[test]
    fn bad_deltas_change_nothing() {
        let mut state = ForecastState::default();
        state.apply_snapshot(&snap(1, 1, vec![zone("DE", 1.0)], true)).unwrap();
        let wrong_epoch = v1::Delta {
            epoch: 2,
            revision: 3,
            upserts: vec![zone("DE", 5.0)],
            removed_zones: vec![],
            cluster_zone: None,
        };
        assert_eq!(state.apply_delta(&wrong_epoch), Err(ApplyError::EpochMismatch { held: 1, got: 2 }));
        let mut bad = zone("FR", 1.0);
        bad.points[0].duration_seconds = 0;
        let malformed = v1::Delta {
            epoch: 1,
            revision: 3,
            upserts: vec![zone("DE", 5.0), bad],
            removed_zones: vec![],
            cluster_zone: None,
        };
        assert!(matches!(state.apply_delta(&malformed), Err(ApplyError::Malformed(_))));
        assert_eq!(state.zones()["DE"].points[0].value, 1.0);
        assert_eq!(state.revision(), 1);
    }

    #[test]
    fn seeded_state_is_served_but_never_resumed_from() {
        let seed = Series::try_from(&zone("GB", 100.0)).unwrap();
        let state = ForecastState::seeded([seed], gridshift_core::DEFAULT_STALENESS_BOUND);
        assert_eq!(names(&state), ["GB"]);
        assert!(state.resume_token().is_none());
    }
}
